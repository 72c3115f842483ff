// condition_variable on a wait queue: the wait releases the mutex and takes it back.

#include "scheduler/worker.hpp"

#include <spindle/sync.hpp>

namespace spindle {

using detail::wake_outcome;

condition_variable::~condition_variable() {
    detail::object_guard guard(lock_);
    detail::wake_all(waiters_, wake_outcome::closed);
}

void condition_variable::notify_one() noexcept {
    detail::object_guard guard(lock_);
    if (detail::waiter* w = detail::claim_first(waiters_)) detail::wake(*w, wake_outcome::completed);
}

void condition_variable::notify_all() noexcept {
    detail::object_guard guard(lock_);
    detail::wake_all(waiters_, wake_outcome::completed);
}

void condition_variable::wait(std::unique_lock<mutex>& lock) { wait_with(lock, nullptr); }

std::cv_status condition_variable::wait_until(std::unique_lock<mutex>& lock,
                                              std::chrono::steady_clock::time_point deadline) {
    return wait_with(lock, &deadline);
}

std::cv_status condition_variable::wait_with(
    std::unique_lock<mutex>& lock, const std::chrono::steady_clock::time_point* deadline) {
    mutex* m = lock.mutex();
    if (!m || !lock.owns_lock() || !m->held_by_caller())
        throw fiber_error(
            "spindle: condition_variable::wait() needs a lock that holds its mutex, taken by the "
            "calling task (or thread)");
    // The condition variable's own lock (when taken: other threads may notify) is held from
    // before the mutex is released until the task has switched away, so no notification between
    // the release and the wait can be missed.
    detail::waiter w;
    w.object = name_.c_str();
    w.lock = &lock_;
    detail::object_guard guard(lock_);
    // take_back() re-takes the mutex. Only a scheduler's teardown interrupts that (when the
    // mutex will never come back); the wait then throws cancelled with `lock` released, so that
    // its destructor does not unlock a mutex this task does not hold.
    auto take_back = [&] {
        try {
            m->lock_uninterruptible();
        } catch (...) {
            lock.release();
            throw;
        }
    };
    constexpr const char* what = "condition_variable notify";
    if (guard.held() && !detail::in_task()) {
        // A thread outside any task: linked, then the mutex goes (after_link), then it blocks.
        const wake_outcome outcome = detail::wait_here(
            waiters_, w, guard, what,
            deadline ? *deadline : std::chrono::steady_clock::time_point::max(),
            [](void* held) noexcept { static_cast<mutex*>(held)->unlock(); }, m);
        take_back();
        return outcome == wake_outcome::timed_out ? std::cv_status::timeout
                                                  : std::cv_status::no_timeout;
    }
    // The mutex goes before the waiter is linked, under this condition variable's lock, which no
    // notifier can take until the task has switched away: nothing is missed in between. (After
    // the link the task would hold the scheduler's core lock, when it has several workers, and
    // the mutex's lock must not be taken after that one.)
    m->unlock();
    try {
        if (deadline)
            detail::begin_wait_until(waiters_, w, what, *deadline);
        else
            detail::begin_wait(waiters_, w, what);
    } catch (...) {
        // Not waiting after all (a pending cancellation, no memory for the timer): the lock
        // comes back, without this one held while it may wait for it.
        if (detail::wait_lock* held = guard.hand_over()) held->unlock();
        take_back();
        throw;
    }
    wake_outcome outcome;
    try {
        outcome = detail::end_wait(w, guard);
    } catch (...) {
        // Even when cancelled, the caller gets its lock back, as std::condition_variable promises.
        take_back();
        throw;
    }
    take_back();
    return outcome == wake_outcome::timed_out ? std::cv_status::timeout
                                              : std::cv_status::no_timeout;
}

}  // namespace spindle
