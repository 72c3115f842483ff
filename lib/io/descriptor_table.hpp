#pragma once
// descriptor_table: what a scheduler knows of each descriptor its tasks did I/O on.
//
// One entry per descriptor number: the tasks waiting to read and to write, whether the
// descriptor is registered with the scheduler's epoll, and a generation that tells a stale event
// (for a descriptor since closed and its number reused) from a current one. A descriptor is
// registered once, on first use, for both directions, edge-triggered: then a wait costs no
// system call of its own, only the epoll wait that the idle worker makes anyway.
//
// Edge-triggered events come once per change, so none may be lost: each direction counts the
// events seen (`edges`), and a task that found the descriptor not ready parks only if no event
// came between its attempt and its parking (with one thread nothing can come in between; with
// several workers an event can, and the count catches it).

#include "scheduler/poller.hpp"

#include <spindle/detail/wait_queue.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace spindle::detail {

// descriptor_state says how a descriptor is waited for.
enum class descriptor_state : std::uint8_t {
    unknown,       // no io call has seen it since it was opened (or forgotten)
    polled,        // non-blocking and registered with the epoll
    always_ready,  // epoll refuses it (a regular file, a directory): it never blocks
};

// io_direction is the side of a descriptor a task waits on.
enum class io_direction : std::uint8_t { read, write };

// descriptor is one entry of the table.
struct descriptor {
    wait_queue readers;
    wait_queue writers;
    std::uint32_t generation = 0;  // counts the times the number was forgotten
    descriptor_state state = descriptor_state::unknown;
    bool socket = false;            // write() and writev() then send with MSG_NOSIGNAL
    std::uint32_t read_edges = 0;   // readable (or hung up / in error) events seen
    std::uint32_t write_edges = 0;  // writable (or hung up / in error) events seen

    wait_queue& waiters(io_direction d) noexcept { return d == io_direction::read ? readers : writers; }
    std::uint32_t edges(io_direction d) const noexcept {
        return d == io_direction::read ? read_edges : write_edges;
    }
};

// descriptor_statistics counts what the table did, for tests and the benchmark.
struct descriptor_statistics {
    std::uint64_t registrations = 0;  // epoll_ctl(EPOLL_CTL_ADD) calls
    std::uint64_t stale_events = 0;   // events for a forgotten generation, dropped
};

class descriptor_table final : public poller_client {
public:
    explicit descriptor_table(int epoll_fd) noexcept : epoll_fd_(epoll_fd) {}
    ~descriptor_table() override;

    // attach() is fd's entry, the descriptor made non-blocking and registered the first time;
    // nullptr with errno set when the system refuses (EBADF for a descriptor that is not open,
    // ENOSPC past fs.epoll.max_user_watches). Throws std::bad_alloc when the table cannot grow.
    descriptor* attach(int fd);
    // find() is fd's entry if the table has one.
    descriptor* find(int fd) noexcept;
    // forget() drops the registration of fd and wakes its waiters with wake_outcome::closed; the
    // entry starts over at the next attach().
    void forget(int fd) noexcept;
    // forget_if_known() forgets a descriptor number the kernel has just handed out again (by
    // accept): an entry that is not `unknown` then belongs to a descriptor closed behind
    // spindle's back.
    void forget_if_known(int fd) noexcept;

    void on_event(std::uint64_t data, std::uint32_t events) noexcept override;

    const descriptor_statistics& statistics() const noexcept { return statistics_; }

private:
    static constexpr int chunk_size = 256;
    // Entries live in chunks that never move, so a waiting task's entry stays where it is
    // while the table grows for other descriptors.
    std::vector<std::unique_ptr<descriptor[]>> chunks_;
    int epoll_fd_;
    descriptor_statistics statistics_;
};

class worker;
// table_of() is the descriptor table of the running task's scheduler, with its poller made on
// first use (std::system_error when the system refuses the poller's descriptors).
descriptor_table& table_of(worker& w);

}  // namespace spindle::detail
