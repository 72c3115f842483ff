// io calls: try the system call; on "would block" park the task on the descriptor and retry.

#include "io/descriptor_table.hpp"

#include "io/thread_errno.hpp"
#include "scheduler/worker.hpp"

#include <spindle/io.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <system_error>

namespace spindle::io {
namespace {

using detail::descriptor;
using detail::io_direction;
using detail::wake_outcome;

constexpr clock::time_point no_deadline = clock::time_point::max();

bool would_block(int error) noexcept { return error == EAGAIN || error == EWOULDBLOCK; }

// park_on() suspends the running task until d is ready in direction `dir`, d is forgotten, or
// the deadline passes. A cancellation throws, with the task's waiter unlinked.
wake_outcome park_on(descriptor& d, io_direction dir, clock::time_point deadline,
                     const char* what) {
    detail::waiter w;
    if (deadline == no_deadline)
        detail::begin_wait(d.waiters(dir), w, what);
    else
        detail::begin_wait_until(d.waiters(dir), w, what, deadline);
    detail::task_worker()->begin_outside_wait();
    // The waiting side counts itself out, whichever way the wait ends; the worker is read again
    // after the switch (the task may have moved to another).
    struct outside_wait_scope {
        ~outside_wait_scope() { detail::this_worker_slot()->end_outside_wait(); }
    } counted;
    return detail::end_wait(w);
}

// poll_milliseconds() is the time until `deadline` for poll(2), rounded up; -1 without one.
int poll_milliseconds(clock::time_point deadline) {
    if (deadline == no_deadline) return -1;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) return 0;
    return left.count() > 0x7fffffff ? 0x7fffffff : static_cast<int>(left.count());
}

// block_until_ready() waits in poll(2), blocking the thread: what the calls do outside any
// task. True when ready (or hung up, in error), false (errno ETIMEDOUT) at the deadline, or on
// poll's own failure.
bool block_until_ready(int fd, io_direction dir, clock::time_point deadline) {
    if (fd < 0) {
        detail::thread_errno() = EBADF;  // poll(2) would skip it and wait for nothing
        return false;
    }
    for (;;) {
        pollfd p{fd, static_cast<short>(dir == io_direction::read ? POLLIN : POLLOUT), 0};
        const int timeout = poll_milliseconds(deadline);
        const int n = ::poll(&p, 1, timeout);
        if (n > 0) {
            if (p.revents & POLLNVAL) {
                detail::thread_errno() = EBADF;
                return false;
            }
            return true;
        }
        if (n == 0) {
            if (poll_milliseconds(deadline) > 0) continue;  // poll's own rounding: not yet due
            detail::thread_errno() = ETIMEDOUT;
            return false;
        }
        if (detail::thread_errno() != EINTR) return false;
    }
}

// outside_core() makes `call` without the core lock that `hold` took, takes it again after,
// and leaves errno as the call left it.
template <class Call>
auto outside_core(detail::core_hold& hold, detail::scheduler_core& core, Call call) {
    hold.release();
    const auto result = call();
    const int error = detail::thread_errno();
    hold.retake(core);
    detail::thread_errno() = error;
    return result;
}

// perform() makes a system call in the manner of a blocking call: retried after EINTR, and
// after EAGAIN once the descriptor is ready. `attempt` returns what the call returned; it is
// called with whether the descriptor is a socket the table knows (false outside any task).
// `requested` is the byte count of a read that empties a TCP socket when it comes back short
// (0: not such a read).
template <class Attempt>
auto perform(int fd, io_direction dir, clock::time_point deadline, const char* what,
             Attempt attempt, std::size_t requested = 0) -> decltype(attempt(false)) {
    detail::worker* w = detail::task_worker();
    if (!w) {
        for (;;) {
            const auto result = attempt(false);
            if (result >= 0) return result;
            if (detail::thread_errno() == EINTR) continue;
            if (!would_block(detail::thread_errno())) return result;
            if (!block_until_ready(fd, dir, deadline)) return -1;
        }
    }
    // With several workers the descriptor table is the scheduler's, under its core lock; the
    // system call itself runs without it, so that workers make theirs at the same time. The
    // entry stays where it is meanwhile (its chunk never moves), and an event that comes during
    // the call counts in `edges`, which the task compares under the lock before it parks.
    detail::scheduler_core& core = w->core();
    detail::core_hold hold(core);
    descriptor* d = detail::table_of(*w).attach(fd);
    if (!d) return -1;
    const bool tracks_drain = requested > 0 && d->tcp;
    const bool socket = d->socket;
    for (;;) {
        const std::uint32_t edges = d->edges(dir);
        // A read that emptied the socket, and no readable event since: the call would say
        // EAGAIN (that call is a third of a request's system calls in an echo server). A
        // deadline call still makes its one attempt.
        const bool known_empty = tracks_drain && d->read_drained && d->drained_edges == edges &&
                                 !d->hung_up && deadline == no_deadline;
        if (!known_empty) {
            const auto result = outside_core(hold, core, [&] { return attempt(socket); });
            if (result >= 0) {
                if (tracks_drain) {
                    d->read_drained = result > 0 && static_cast<std::size_t>(result) < requested;
                    d->drained_edges = edges;
                }
                return result;
            }
            if (detail::thread_errno() == EINTR) continue;
            if (!would_block(detail::thread_errno()) || d->state != detail::descriptor_state::polled) return result;
            if (d->edges(dir) != edges) continue;  // it became ready meanwhile: no event will come
        }
        switch (park_on(*d, dir, deadline, what)) {
        case wake_outcome::timed_out: detail::thread_errno() = ETIMEDOUT; return -1;
        case wake_outcome::closed: detail::thread_errno() = EBADF; return -1;
        default: break;
        }
    }
}

// total_length() is the bytes a readv() asks for.
std::size_t total_length(const iovec* vectors, int count) noexcept {
    std::size_t total = 0;
    for (int i = 0; i < count; ++i) total += vectors[i].iov_len;
    return total;
}

// wait_ready() is wait_readable()/wait_writable(): 1 when ready, 0 at the deadline, -1 with
// errno EBADF when the descriptor was closed (or is not open).
int wait_ready(int fd, io_direction dir, clock::time_point deadline, const char* what) {
    detail::worker* w = detail::task_worker();
    if (!w) {
        if (block_until_ready(fd, dir, deadline)) return 1;
        return detail::thread_errno() == ETIMEDOUT ? 0 : -1;
    }
    detail::scheduler_core& core = w->core();
    detail::core_hold hold(core);
    descriptor* d = detail::table_of(*w).attach(fd);
    if (!d) return -1;
    const short wanted = dir == io_direction::read ? POLLIN : POLLOUT;
    for (;;) {
        const std::uint32_t edges = d->edges(dir);
        // Edge-triggered events report changes only: a descriptor ready since before it was
        // registered (or since its last event) sends none, so look first (without the core
        // lock, as perform() makes its calls).
        pollfd p{fd, wanted, 0};
        const int n = outside_core(hold, core, [&] { return ::poll(&p, 1, 0); });
        if (n > 0) {
            if (p.revents & POLLNVAL) {
                detail::thread_errno() = EBADF;
                return -1;
            }
            return 1;
        }
        if (n < 0 && detail::thread_errno() != EINTR) return -1;
        if (d->state != detail::descriptor_state::polled) return 1;
        if (d->edges(dir) != edges) continue;
        switch (park_on(*d, dir, deadline, what)) {
        case wake_outcome::timed_out: return 0;
        case wake_outcome::closed: detail::thread_errno() = EBADF; return -1;
        default: break;
        }
    }
}

void wait_or_throw(int fd, io_direction dir, const char* what) {
    if (wait_ready(fd, dir, no_deadline, what) < 0)
        throw std::system_error(detail::thread_errno(), std::generic_category(),
                                std::string("spindle::") + what + " on descriptor " +
                                    std::to_string(fd));
}

bool wait_or_throw(int fd, io_direction dir, clock::time_point deadline, const char* what) {
    const int ready = wait_ready(fd, dir, deadline, what);
    if (ready < 0)
        throw std::system_error(detail::thread_errno(), std::generic_category(),
                                std::string("spindle::") + what + " on descriptor " +
                                    std::to_string(fd));
    return ready == 1;
}

int connect_until(int fd, const sockaddr* address, socklen_t length, clock::time_point deadline) {
    detail::worker* w = detail::task_worker();
    descriptor* d = nullptr;
    std::optional<detail::core_hold> hold;
    if (w) {
        hold.emplace(w->core());
        // Non-blocking before the first connect(2): a blocking one would hold the thread for
        // the whole handshake.
        d = detail::table_of(*w).attach(fd);
        if (!d) return -1;
        hold.reset();  // the calls below run without the core lock; wait_ready() takes it
    }
    if (::connect(fd, address, length) == 0) return 0;
    // EINTR: the connection goes on in the background, as after EINPROGRESS; EALREADY: an
    // earlier connect (one that timed out) is still going on. Either way, wait for its end.
    if (detail::thread_errno() != EINPROGRESS && detail::thread_errno() != EINTR && detail::thread_errno() != EALREADY) return -1;
    for (;;) {
        const int ready = wait_ready(fd, io_direction::write, deadline, "io::connect");
        if (ready == 0) {
            detail::thread_errno() = ETIMEDOUT;
            return -1;
        }
        if (ready < 0) return -1;
        int error = 0;
        socklen_t size = sizeof error;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) return -1;
        if (error == 0) {
            // Writable and no error: connected, unless the handshake is still going on (a
            // wake-up for an earlier event); getpeername() tells.
            sockaddr_storage peer;
            socklen_t peer_length = sizeof peer;
            if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) == 0) return 0;
            if (detail::thread_errno() != ENOTCONN) return -1;
            continue;
        }
        detail::thread_errno() = error;
        return -1;
    }
}

}  // namespace

void wait_readable(int fd) { wait_or_throw(fd, io_direction::read, "io::wait_readable"); }
void wait_writable(int fd) { wait_or_throw(fd, io_direction::write, "io::wait_writable"); }
bool wait_readable(int fd, clock::time_point deadline) {
    return wait_or_throw(fd, io_direction::read, deadline, "io::wait_readable");
}
bool wait_writable(int fd, clock::time_point deadline) {
    return wait_or_throw(fd, io_direction::write, deadline, "io::wait_writable");
}

ssize_t read(int fd, void* buffer, std::size_t size, clock::time_point deadline) {
    return perform(
        fd, io_direction::read, deadline, "io::read",
        [&](bool) { return ::read(fd, buffer, size); }, size);
}
ssize_t write(int fd, const void* buffer, std::size_t size, clock::time_point deadline) {
    // On a socket, send() with MSG_NOSIGNAL: a closed peer gives EPIPE, not SIGPIPE.
    return perform(fd, io_direction::write, deadline, "io::write", [&](bool socket) {
        return socket ? ::send(fd, buffer, size, MSG_NOSIGNAL) : ::write(fd, buffer, size);
    });
}
ssize_t readv(int fd, const iovec* vectors, int count, clock::time_point deadline) {
    return perform(
        fd, io_direction::read, deadline, "io::readv",
        [&](bool) { return ::readv(fd, vectors, count); },
        count > 0 ? total_length(vectors, count) : 0);
}
ssize_t writev(int fd, const iovec* vectors, int count, clock::time_point deadline) {
    return perform(fd, io_direction::write, deadline, "io::writev", [&](bool socket) {
        if (!socket) return ::writev(fd, vectors, count);
        msghdr message{};
        message.msg_iov = const_cast<iovec*>(vectors);
        message.msg_iovlen = static_cast<std::size_t>(count);
        return ::sendmsg(fd, &message, MSG_NOSIGNAL);
    });
}
ssize_t recv(int fd, void* buffer, std::size_t size, int flags, clock::time_point deadline) {
    // MSG_PEEK leaves the data where it is, and MSG_WAITALL makes short reads rare and
    // meaningless: only a plain recv() tells that the socket is empty.
    return perform(
        fd, io_direction::read, deadline, "io::recv",
        [&](bool) { return ::recv(fd, buffer, size, flags); },
        flags == 0 ? size : 0);
}
ssize_t send(int fd, const void* buffer, std::size_t size, int flags,
             clock::time_point deadline) {
    return perform(fd, io_direction::write, deadline, "io::send",
                   [&](bool) { return ::send(fd, buffer, size, flags | MSG_NOSIGNAL); });
}
ssize_t recvfrom(int fd, void* buffer, std::size_t size, int flags, sockaddr* from,
                 socklen_t* from_length, clock::time_point deadline) {
    return perform(fd, io_direction::read, deadline, "io::recvfrom",
                   [&](bool) { return ::recvfrom(fd, buffer, size, flags, from, from_length); });
}
ssize_t sendto(int fd, const void* buffer, std::size_t size, int flags, const sockaddr* to,
               socklen_t to_length, clock::time_point deadline) {
    return perform(fd, io_direction::write, deadline, "io::sendto", [&](bool) {
        return ::sendto(fd, buffer, size, flags | MSG_NOSIGNAL, to, to_length);
    });
}
int accept(int listen_fd, sockaddr* address, socklen_t* address_length,
           clock::time_point deadline) {
    const int fd = perform(listen_fd, io_direction::read, deadline, "io::accept",
                           [&](bool) {
                               return ::accept4(listen_fd, address, address_length,
                                                SOCK_NONBLOCK | SOCK_CLOEXEC);
                           });
    if (fd < 0) return fd;
    // Registered now, knowing what it is: the first call on it then makes no set-up calls.
    // (The number may be one that was closed behind spindle's back: that entry goes.)
    if (detail::worker* w = detail::task_worker()) {
        detail::core_hold hold(w->core());
        detail::descriptor_table& table = detail::table_of(*w);
        if (const descriptor* listening = table.find(listen_fd))
            if (!table.attach_accepted(fd, *listening)) {
                const int error = detail::thread_errno();
                ::close(fd);
                detail::thread_errno() = error;
                return -1;
            }
    }
    return fd;
}
int connect(int fd, const sockaddr* address, socklen_t address_length,
            clock::time_point deadline) {
    return connect_until(fd, address, address_length, deadline);
}

ssize_t read(int fd, void* buffer, std::size_t size) { return read(fd, buffer, size, no_deadline); }
ssize_t write(int fd, const void* buffer, std::size_t size) {
    return write(fd, buffer, size, no_deadline);
}
ssize_t readv(int fd, const iovec* vectors, int count) {
    return readv(fd, vectors, count, no_deadline);
}
ssize_t writev(int fd, const iovec* vectors, int count) {
    return writev(fd, vectors, count, no_deadline);
}
ssize_t recv(int fd, void* buffer, std::size_t size, int flags) {
    return recv(fd, buffer, size, flags, no_deadline);
}
ssize_t send(int fd, const void* buffer, std::size_t size, int flags) {
    return send(fd, buffer, size, flags, no_deadline);
}
ssize_t recvfrom(int fd, void* buffer, std::size_t size, int flags, sockaddr* from,
                 socklen_t* from_length) {
    return recvfrom(fd, buffer, size, flags, from, from_length, no_deadline);
}
ssize_t sendto(int fd, const void* buffer, std::size_t size, int flags, const sockaddr* to,
               socklen_t to_length) {
    return sendto(fd, buffer, size, flags, to, to_length, no_deadline);
}
int accept(int listen_fd, sockaddr* address, socklen_t* address_length) {
    return accept(listen_fd, address, address_length, no_deadline);
}
int connect(int fd, const sockaddr* address, socklen_t address_length) {
    return connect(fd, address, address_length, no_deadline);
}

void forget(int fd) {
    if (detail::worker* w = detail::task_worker()) {
        detail::core_hold hold(w->core());
        if (detail::poller* p = w->running()->scheduler->poller_if_any())
            if (auto* table = static_cast<detail::descriptor_table*>(p->client()))
                table->forget(fd);
    }
}

int close(int fd) {
    forget(fd);
    return ::close(fd);
}

}  // namespace spindle::io
