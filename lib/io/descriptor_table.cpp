// descriptor_table: registration, events, forgetting.

#include "io/descriptor_table.hpp"

#include "scheduler/worker.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include <cerrno>

namespace spindle::detail {
namespace {

// event_data packs a descriptor and its generation into the epoll event's data.
std::uint64_t event_data(int fd, std::uint32_t generation) noexcept {
    return static_cast<std::uint32_t>(fd) | std::uint64_t{generation} << 32;
}

constexpr std::uint32_t readable_events = EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLHUP | EPOLLERR;
constexpr std::uint32_t writable_events = EPOLLOUT | EPOLLHUP | EPOLLERR;

}  // namespace

descriptor_table::~descriptor_table() {
    for (const auto& chunk : chunks_)
        for (int i = 0; chunk && i < chunk_size; ++i)
            SPINDLE_ASSERT(!chunk[i].readers.head && !chunk[i].writers.head,
                           "a descriptor table was dropped while tasks waited on it");
}

descriptor* descriptor_table::find(int fd) noexcept {
    if (fd < 0) return nullptr;
    const auto chunk = static_cast<std::size_t>(fd) / chunk_size;
    if (chunk >= chunks_.size() || !chunks_[chunk]) return nullptr;
    return &chunks_[chunk][fd % chunk_size];
}

descriptor* descriptor_table::attach(int fd) {
    if (fd < 0) {
        errno = EBADF;
        return nullptr;
    }
    descriptor* d = find(fd);
    if (d && d->state != descriptor_state::unknown) [[likely]]
        return d;
    if (!d) {
        const auto chunk = static_cast<std::size_t>(fd) / chunk_size;
        if (chunk >= chunks_.size()) chunks_.resize(chunk + 1);
        chunks_[chunk] = std::make_unique<descriptor[]>(chunk_size);
        d = &chunks_[chunk][fd % chunk_size];
    }
    // A descriptor in blocking mode would block the whole thread: spindle makes it
    // non-blocking, once, as Go's net package does.
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) return nullptr;
    if (!(flags & O_NONBLOCK) && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return nullptr;
    struct stat status;
    if (::fstat(fd, &status) != 0) return nullptr;
    d->socket = S_ISSOCK(status.st_mode);
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
    event.data.u64 = event_data(fd, d->generation);
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) == 0) {
        ++statistics_.registrations;
        d->state = descriptor_state::polled;
    } else if (errno == EPERM) {
        // Regular files and directories: always ready, a read never says EAGAIN.
        d->state = descriptor_state::always_ready;
    } else if (errno == EEXIST) {
        // Registered under an older generation (a number spindle forgot while the kernel
        // kept the registration, through a dup()): bring it up to date.
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event) != 0) return nullptr;
        d->state = descriptor_state::polled;
    } else {
        return nullptr;
    }
    return d;
}

void descriptor_table::forget(int fd) noexcept {
    descriptor* d = find(fd);
    if (!d) return;
    if (d->state == descriptor_state::polled) {
        // Fails harmlessly when the descriptor is closed already (the kernel dropped it then).
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    }
    d->state = descriptor_state::unknown;
    ++d->generation;
    ++d->read_edges;
    ++d->write_edges;
    wake_all(d->readers, wake_outcome::closed);
    wake_all(d->writers, wake_outcome::closed);
}

void descriptor_table::forget_if_known(int fd) noexcept {
    descriptor* d = find(fd);
    if (d && d->state != descriptor_state::unknown) forget(fd);
}

void descriptor_table::on_event(std::uint64_t data, std::uint32_t events) noexcept {
    const int fd = static_cast<int>(data & 0xffffffffu);
    descriptor* d = find(fd);
    if (!d || d->generation != static_cast<std::uint32_t>(data >> 32) ||
        d->state != descriptor_state::polled) {
        // An event fetched in the same batch as the io::close() of its descriptor.
        ++statistics_.stale_events;
        return;
    }
    // A hang-up or an error ends both directions' waits: each retries its call and gets the
    // end of file or the error. Edge-triggered, such a descriptor reports once, so it does not
    // make the loop spin.
    if (events & readable_events) {
        ++d->read_edges;
        wake_all(d->readers, wake_outcome::completed);
    }
    if (events & writable_events) {
        ++d->write_edges;
        wake_all(d->writers, wake_outcome::completed);
    }
}

descriptor_table& table_of(worker& w) {
    task_record* self = w.running();
    poller& p = self->scheduler->the_poller();
    if (auto* table = static_cast<descriptor_table*>(p.client())) return *table;
    auto table = std::make_unique<descriptor_table>(p.epoll_fd());
    descriptor_table& result = *table;
    p.set_client(std::move(table));
    return result;
}

}  // namespace spindle::detail
