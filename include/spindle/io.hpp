#pragma once
// io: non-blocking I/O for tasks (Linux, epoll).
//
// Each call behaves like the POSIX call of the same name, except that where the descriptor is
// not ready ("would block") only the calling task is suspended, from any depth (inside a
// generator or fiber running within the task), while the thread runs other tasks; the task is
// resumed when the descriptor becomes ready and the call is retried.
//
// Errors: every call that transfers data returns what the POSIX call returns: -1 with `errno`
// set exactly as the call set it (and as it stands when the call returns). Never EAGAIN or
// EWOULDBLOCK: those suspend instead. EINTR is retried. Extra errno values:
//   ETIMEDOUT  the deadline of a deadline overload passed before the descriptor was ready;
//   EBADF      the descriptor was closed with io::close() while the task waited (or was never
//              open).
// wait_readable()/wait_writable() report those two as their return value and as
// std::system_error respectively (see there). A cancelled task's call throws
// spindle::cancelled, and its interest in the descriptor is gone when the exception leaves.
//
// Descriptors: the first io call on a descriptor puts it in non-blocking mode (O_NONBLOCK, as
// Go's net package does), so a descriptor opened in blocking mode is handled correctly and
// never blocks the thread; spindle registers it with the scheduler's epoll once and keeps the
// registration until io::close(). Close such descriptors with io::close(): it wakes every task
// waiting on the descriptor (their calls fail with EBADF), drops the registration and then
// closes, so that a later descriptor with the same number starts clean. A descriptor closed
// with plain ::close() while spindle knows it must first be handed to io::forget().
//
// Regular files are always "ready" to epoll: a read from a slow disk blocks the thread. Run
// such work with spindle::to_thread() (below), which runs it on a helper thread.
//
// Outside any task (on an ordinary thread, or before scheduler::run()) the calls block the
// thread in poll(2) instead, with the same results.

#include <spindle/detail/config.hpp>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/task.hpp>
#include <spindle/errors.hpp>

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

SPINDLE_EXPORTS_BEGIN

namespace spindle::io {

/// clock is the clock of every io deadline: the scheduler's timers run on it.
using clock = std::chrono::steady_clock;

/// wait_readable() suspends the calling task until `fd` is readable (or at end of file, hung up,
/// or in error: whatever a read would then report without blocking). Throws std::system_error
/// with EBADF when the descriptor is closed with io::close() while it waits.
void wait_readable(int fd);
/// wait_writable() suspends the calling task until `fd` is writable (or hung up, or in error).
void wait_writable(int fd);
/// wait_readable(fd, deadline) is wait_readable(fd) that gives up at `deadline`: true when the
/// descriptor is ready, false when the deadline passed first.
bool wait_readable(int fd, clock::time_point deadline);
/// wait_writable(fd, deadline) is wait_writable(fd) that gives up at `deadline`.
bool wait_writable(int fd, clock::time_point deadline);
/// wait_readable(fd, timeout) waits at most `timeout` (rounded up, never shorter).
template <class Rep, class Period>
bool wait_readable(int fd, std::chrono::duration<Rep, Period> timeout) {
    return wait_readable(fd, detail::deadline_after(timeout));
}
/// wait_writable(fd, timeout) waits at most `timeout` (rounded up, never shorter).
template <class Rep, class Period>
bool wait_writable(int fd, std::chrono::duration<Rep, Period> timeout) {
    return wait_writable(fd, detail::deadline_after(timeout));
}

/// read() is read(2).
ssize_t read(int fd, void* buffer, std::size_t size);
/// write() is write(2): it returns after the first successful write, which may be partial. In a
/// task, on a socket, it sends with MSG_NOSIGNAL: a closed peer gives EPIPE, never SIGPIPE
/// (outside any task it is plain write(2)).
ssize_t write(int fd, const void* buffer, std::size_t size);
/// readv() is readv(2).
ssize_t readv(int fd, const iovec* vectors, int count);
/// writev() is writev(2) (sendmsg(2) with MSG_NOSIGNAL on a socket in a task, as write()).
ssize_t writev(int fd, const iovec* vectors, int count);
/// recv() is recv(2).
ssize_t recv(int fd, void* buffer, std::size_t size, int flags = 0);
/// send() is send(2) with MSG_NOSIGNAL added: a closed peer gives EPIPE, never SIGPIPE.
ssize_t send(int fd, const void* buffer, std::size_t size, int flags = 0);
/// recvfrom() is recvfrom(2).
ssize_t recvfrom(int fd, void* buffer, std::size_t size, int flags, sockaddr* from,
                 socklen_t* from_length);
/// sendto() is sendto(2) with MSG_NOSIGNAL added.
ssize_t sendto(int fd, const void* buffer, std::size_t size, int flags, const sockaddr* to,
               socklen_t to_length);
/// accept() is accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC: the new descriptor is ready for
/// the other io calls.
int accept(int listen_fd, sockaddr* address, socklen_t* address_length);
/// connect() is connect(2) carried to its end: on a non-blocking socket it waits until the
/// connection is made or has failed, and returns 0, or -1 with errno from SO_ERROR
/// (ECONNREFUSED, ETIMEDOUT, ...). Called again on a socket whose connect timed out (a deadline
/// overload), it waits for that connection attempt to end.
int connect(int fd, const sockaddr* address, socklen_t address_length);

/// @{
/// The deadline overloads: the same calls, failing with ETIMEDOUT once `deadline` passes while
/// they wait. A deadline already passed still makes one attempt, so ready data is never refused.
ssize_t read(int fd, void* buffer, std::size_t size, clock::time_point deadline);
ssize_t write(int fd, const void* buffer, std::size_t size, clock::time_point deadline);
ssize_t readv(int fd, const iovec* vectors, int count, clock::time_point deadline);
ssize_t writev(int fd, const iovec* vectors, int count, clock::time_point deadline);
ssize_t recv(int fd, void* buffer, std::size_t size, int flags, clock::time_point deadline);
ssize_t send(int fd, const void* buffer, std::size_t size, int flags, clock::time_point deadline);
ssize_t recvfrom(int fd, void* buffer, std::size_t size, int flags, sockaddr* from,
                 socklen_t* from_length, clock::time_point deadline);
ssize_t sendto(int fd, const void* buffer, std::size_t size, int flags, const sockaddr* to,
               socklen_t to_length, clock::time_point deadline);
int accept(int listen_fd, sockaddr* address, socklen_t* address_length,
           clock::time_point deadline);
int connect(int fd, const sockaddr* address, socklen_t address_length,
            clock::time_point deadline);
/// @}

/// close() wakes every task waiting on `fd` (their calls fail with EBADF), forgets the
/// descriptor and closes it; it returns what close(2) returns.
int close(int fd);
/// forget() drops what spindle knows of `fd` (its registration, its waiters, which fail with
/// EBADF), without closing it: for a descriptor that is about to be closed some other way, or
/// handed to code that wants it in blocking mode.
void forget(int fd);

}  // namespace spindle::io

namespace spindle {
namespace detail {

/// helper_job is one call of to_thread(): `run` calls the function on a helper thread and keeps
/// its result or exception in the job.
struct helper_job {
    void (*run)(helper_job* job) noexcept = nullptr;
    helper_job* next = nullptr;    ///< the helper pool's queue
    task_record* task = nullptr;   ///< the task waiting for the job, if any
};

/// run_on_helper_thread() runs job.run(&job) on a helper thread and suspends the calling task
/// until it has returned (outside any task it runs the job on the calling thread). The wait is
/// not interrupted by cancel(): the function cannot be stopped, and it uses the task's frame;
/// a cancellation is delivered when it has returned.
void run_on_helper_thread(helper_job& job);

/// function_job is the helper_job of a function `F` returning `R`.
template <class F, class R>
struct function_job : helper_job {
    explicit function_job(F& f) : function(f) {
        run = [](helper_job* base) noexcept {
            auto* self = static_cast<function_job*>(base);
            try {
                if constexpr (std::is_void_v<R>)
                    std::invoke(self->function);
                else
                    self->result.emplace(std::invoke(self->function));
            } catch (...) {
                self->exception = std::current_exception();
            }
        };
    }
    F& function;
    /// result is unused (an empty byte) for a function returning void.
    std::optional<std::conditional_t<std::is_void_v<R>, unsigned char, R>> result;
    std::exception_ptr exception;
};

}  // namespace detail

/// to_thread() runs `fn` on a helper thread (a small pool that spindle starts when first needed)
/// and suspends only the calling task until it returns; then returns its value or rethrows its
/// exception (asyncio's to_thread). For blocking work that epoll cannot wait for: regular files,
/// getaddrinfo(), a library that blocks. `fn` runs on another thread: it must not call spindle's
/// task waits. cancel() does not interrupt it (a function cannot be stopped halfway); the task
/// sees its cancellation once `fn` has returned. Outside any task, `fn` runs on the calling
/// thread.
template <class F>
    requires std::invocable<F&> && (!std::is_reference_v<std::invoke_result_t<F&>>)
std::invoke_result_t<F&> to_thread(F&& fn) {
    using result_type = std::invoke_result_t<F&>;
    detail::function_job<std::remove_reference_t<F>, result_type> job(fn);
    detail::run_on_helper_thread(job);
    if (job.exception) std::rethrow_exception(job.exception);
    if constexpr (!std::is_void_v<result_type>) return std::move(*job.result);
}

}  // namespace spindle

SPINDLE_EXPORTS_END
