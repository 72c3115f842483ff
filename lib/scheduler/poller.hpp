#pragma once
// poller: the one place a worker blocks. An epoll instance that waits, in one call, for the
// descriptors the io layer registered, for the next timer deadline (its timeout) and for wakes
// from other threads (an eventfd in the same epoll set).
//
// The scheduler layer owns the poller but knows nothing of descriptors: the io layer installs a
// poller_client that is handed every descriptor event. A scheduler makes its poller the first
// time something needs it (an io call, to_thread()) and drops it when run() returns, with every
// registration in it, so a program that never does I/O never opens an epoll descriptor.
//
// Designed for N workers (the threads issue): the poller belongs to the scheduler, not to a
// worker; one idle worker at a time sits in epoll_wait, and others that go idle sleep until it
// (or the eventfd) wakes them. Completions posted from other threads (post_completion) are
// taken under a mutex; everything else is touched by the worker that polls.

#include "scheduler/task_record.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

namespace spindle::detail {

class worker;

// poller_client is the layer above that registers descriptors with the poller.
class poller_client {
public:
    virtual ~poller_client() = default;
    // on_event() handles one epoll event: `data` is what the client registered the descriptor
    // with, `events` the EPOLL* bits. It runs on the polling worker and may wake tasks.
    virtual void on_event(std::uint64_t data, std::uint32_t events) noexcept = 0;
};

// poller_statistics counts what a poller did, for tests and benchmarks.
struct poller_statistics {
    std::uint64_t waits = 0;           // epoll waits that could block
    std::uint64_t busy_polls = 0;      // epoll waits without blocking, made while tasks were ready
    std::uint64_t events = 0;          // descriptor events handed to the client
    std::uint64_t remote_wakes = 0;    // eventfd wakes taken
    std::uint64_t completions = 0;     // tasks resumed by post_completion()
};

class poller {
public:
    // poller() opens the epoll and eventfd descriptors; throws std::system_error when the
    // system refuses them (EMFILE, ENOMEM).
    poller();
    ~poller();
    poller(const poller&) = delete;
    poller& operator=(const poller&) = delete;

    // epoll_fd() is the epoll descriptor, for the client's epoll_ctl calls.
    int epoll_fd() const noexcept { return epoll_fd_; }

    // client() is the installed client, or nullptr; set_client() installs one (the poller owns
    // it from then on).
    poller_client* client() const noexcept { return client_.get(); }
    void set_client(std::unique_ptr<poller_client> client) noexcept { client_ = std::move(client); }

    // wait_until() waits for descriptor events, remote wakes and completions until `deadline`
    // (time_point::max(): without a time limit), and hands them out: events to the client,
    // completed tasks to `w`. The timeout is rounded up: it never ends before the deadline
    // because of rounding. Returns early on a signal (EINTR); the caller loops.
    void wait_until(worker& w, std::chrono::steady_clock::time_point deadline);
    // poll_now() is wait_until() without blocking: what the worker does at a bounded interval
    // while tasks are ready, so that I/O does not starve behind a busy ready queue.
    void poll_now(worker& w);

    // post_completion() makes `task`, which waits for work done on another thread, ready again
    // on its worker. Safe from any thread; it wakes the poller when it blocks.
    void post_completion(task_record* task) noexcept;
    // wake() ends a wait_until() in progress, from any thread.
    void wake() noexcept;

    const poller_statistics& statistics() const noexcept { return statistics_; }

private:
    // wait() takes the worker's core lock after the epoll wait when `relock` (it waited
    // without it).
    void wait(worker& w, int timeout_kind, const struct timespec* timeout, bool relock);
    void take_completions(worker& w) noexcept;

    int epoll_fd_ = -1;
    int wake_fd_ = -1;  // eventfd: other threads write it to end a wait
    std::unique_ptr<poller_client> client_;
    std::mutex completions_lock_;
    task_record* completions_ = nullptr;  // tasks to resume, linked through remote_next
    poller_statistics statistics_;
};

}  // namespace spindle::detail
