// poller: epoll + eventfd, the idle wait of a worker.

#include "scheduler/poller.hpp"

#include "scheduler/worker.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <system_error>

namespace spindle::detail {
namespace {

// wake_token is the epoll data of the eventfd; a client's data never has all bits set (it
// carries a descriptor number below 2^31 in its low half).
constexpr std::uint64_t wake_token = ~std::uint64_t{0};
// events_per_wait bounds one epoll wait's batch; more ready descriptors come in the next one.
constexpr int events_per_wait = 128;

enum : int { without_limit, with_limit, without_blocking };

// epoll_pwait2() takes the timeout in nanoseconds (Linux 5.11); older kernels have only
// epoll_wait(), in milliseconds, which then must round up.
bool have_pwait2 = true;

int wait_for_events(int epoll_fd, epoll_event* events, int kind, const timespec* timeout) {
    if (kind == without_limit) return ::epoll_wait(epoll_fd, events, events_per_wait, -1);
    if (kind == without_blocking) return ::epoll_wait(epoll_fd, events, events_per_wait, 0);
    if (have_pwait2) {
        int n = ::epoll_pwait2(epoll_fd, events, events_per_wait, timeout, nullptr);
        if (n >= 0 || errno != ENOSYS) return n;
        have_pwait2 = false;
    }
    // Milliseconds, rounded up: a wait that ended a fraction of a millisecond early would only
    // make the worker come back and wait again, but rounding down to 0 would make it spin.
    const long long ms = timeout->tv_sec * 1000LL + (timeout->tv_nsec + 999'999) / 1'000'000;
    return ::epoll_wait(epoll_fd, events, events_per_wait, ms > 0x7fffffff ? 0x7fffffff : int(ms));
}

}  // namespace

poller::poller() {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0)
        throw std::system_error(errno, std::generic_category(), "spindle: epoll_create1");
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
        const int error = errno;
        ::close(epoll_fd_);
        throw std::system_error(error, std::generic_category(), "spindle: eventfd");
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = wake_token;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event) != 0) {
        const int error = errno;
        ::close(wake_fd_);
        ::close(epoll_fd_);
        throw std::system_error(error, std::generic_category(), "spindle: epoll_ctl");
    }
}

poller::~poller() {
    // A thread still inside post_completion() holds the lock until it has written the eventfd.
    std::lock_guard<std::mutex> hold(completions_lock_);
    SPINDLE_ASSERT(!completions_, "a poller was dropped with completions not taken");
    client_.reset();
    ::close(wake_fd_);
    ::close(epoll_fd_);
}

void poller::wait_until(worker& w, std::chrono::steady_clock::time_point deadline) {
    using namespace std::chrono;
    // With several workers the idle worker waits without the core lock and takes it again to
    // hand out what it found.
    const bool relock = w.multi();
    if (deadline == steady_clock::time_point::max()) {
        wait(w, without_limit, nullptr, relock);
        return;
    }
    const auto now = steady_clock::now();
    if (deadline <= now) {
        wait(w, without_blocking, nullptr, relock);
        return;
    }
    // Rounded up to the timeout's nanoseconds: the wait never ends before the deadline.
    const auto left = ceil<nanoseconds>(deadline - now);
    timespec timeout{};
    timeout.tv_sec = static_cast<time_t>(duration_cast<seconds>(left).count());
    timeout.tv_nsec = static_cast<long>((left - seconds(timeout.tv_sec)).count());
    wait(w, with_limit, &timeout, relock);
}

void poller::poll_now(worker& w) {
    ++statistics_.busy_polls;
    wait(w, without_blocking, nullptr, false);
}

void poller::wait(worker& w, int kind, const timespec* timeout, bool relock) {
    epoll_event events[events_per_wait];
    const int count = wait_for_events(epoll_fd_, events, kind, timeout);
    if (relock) w.lock_core();
    if (kind != without_blocking) ++statistics_.waits;
    // count < 0 is EINTR (a signal): the caller looks at its queues and waits again.
    for (int i = 0; i < count; ++i) {
        if (events[i].data.u64 == wake_token) {
            // Only a wait that could block takes the wake: a busy worker's poll that took it
            // would leave an idle worker asleep in its epoll_wait (several workers) with the
            // wake meant for it gone. Level-triggered, it stays readable until taken.
            if (kind == without_blocking) continue;
            std::uint64_t value;
            while (::read(wake_fd_, &value, sizeof value) > 0) {}
            ++statistics_.remote_wakes;
            continue;
        }
        ++statistics_.events;
        SPINDLE_ASSERT(client_, "a descriptor event with no io client installed");
        client_->on_event(events[i].data.u64, events[i].events);
    }
    take_completions(w);
}

void poller::take_completions(worker& w) noexcept {
    task_record* list;
    {
        std::lock_guard<std::mutex> hold(completions_lock_);
        list = completions_;
        completions_ = nullptr;
    }
    // The list is last-posted first; resume in the order they were posted.
    task_record* ordered = nullptr;
    while (list) {
        task_record* next = list->remote_next;
        list->remote_next = ordered;
        ordered = list;
        list = next;
    }
    while (ordered) {
        task_record* task = ordered;
        ordered = task->remote_next;
        task->remote_next = nullptr;
        ++statistics_.completions;
        w.end_outside_wait();
        w.wake_task(task, wake_outcome::completed);
    }
}

void poller::post_completion(task_record* task) noexcept {
    std::lock_guard<std::mutex> hold(completions_lock_);
    task->remote_next = completions_;
    completions_ = task;
    const std::uint64_t one = 1;
    // The eventfd counter saturates only after 2^64 - 2 writes nobody read; EAGAIN there still
    // leaves it readable, which is all that is needed.
    [[maybe_unused]] ssize_t written = ::write(wake_fd_, &one, sizeof one);
}

void poller::wake() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t written = ::write(wake_fd_, &one, sizeof one);
}

}  // namespace spindle::detail
