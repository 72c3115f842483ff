#pragma once
// mutex and condition_variable for tasks: waiting suspends the calling task, never the thread.
//
// Both work with std::lock_guard and std::unique_lock. A mutex is handed to its longest waiter on
// unlock, so a task that unlocks and locks again in a loop cannot starve the others.

#include <spindle/detail/config.hpp>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/wait_queue.hpp>
#include <spindle/errors.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>

SPINDLE_EXPORTS_BEGIN

namespace spindle {

class condition_variable;

/// mutex is a non-recursive lock whose waiters are suspended tasks.
class mutex {
public:
    /// mutex() makes an unlocked mutex.
    mutex() noexcept = default;
    /// ~mutex() stops the process with a message if tasks still wait for it.
    ~mutex();
    mutex(const mutex&) = delete;
    mutex& operator=(const mutex&) = delete;

    /// lock() takes the mutex, suspending the calling task while another holds it. Throws
    /// fiber_error when the caller holds it already, or when it would wait outside any task;
    /// cancelled when the task is cancelled while waiting.
    void lock();
    /// try_lock() takes the mutex if it is free.
    bool try_lock() noexcept;
    /// unlock() releases the mutex, handing it to the task that has waited longest. Throws
    /// fiber_error when the caller does not hold it, naming the holder.
    ///
    /// A task that ends holding the mutex leaves it locked, as Go does: its waiters wait on (and
    /// run() reports the deadlock when nothing else can run), and no other task may unlock it.
    /// Ownership is by task, not by record, so a new task never inherits a dead task's lock.
    void unlock();

private:
    friend class condition_variable;
    void lock_uninterruptible();
    bool held_by_caller() const noexcept;

    detail::wait_queue waiters_;
    /// owner_ is the holder; a key, not the record, which is recycled once the task ends.
    detail::task_key owner_;
    bool locked_ = false;
};

/// condition_variable lets tasks wait, holding a spindle::mutex, until another task notifies.
class condition_variable {
public:
    /// condition_variable() makes a condition variable nobody waits on.
    condition_variable() noexcept = default;
    /// ~condition_variable() wakes any task still waiting (it sees a spurious wake-up).
    ~condition_variable();
    condition_variable(const condition_variable&) = delete;
    condition_variable& operator=(const condition_variable&) = delete;

    /// notify_one() wakes the task that has waited longest.
    void notify_one() noexcept;
    /// notify_all() wakes every waiting task.
    void notify_all() noexcept;

    /// wait() releases the lock, suspends the calling task until notified, and takes the lock
    /// back before returning (also when it throws cancelled). fiber_error outside any task or
    /// when `lock` does not hold its mutex. One exception: when the scheduler is destroyed while
    /// the task waits to take the lock back from a holder that never unlocks, wait() throws
    /// cancelled with `lock` released (lock.owns_lock() is false), so that the task can unwind.
    void wait(std::unique_lock<mutex>& lock);
    /// wait(lock, pred) waits until pred() is true.
    template <class Predicate>
    void wait(std::unique_lock<mutex>& lock, Predicate pred) {
        while (!pred()) wait(lock);
    }
    /// wait_until() waits until notified or until `deadline` has passed.
    std::cv_status wait_until(std::unique_lock<mutex>& lock,
                              std::chrono::steady_clock::time_point deadline);
    /// wait_until(lock, deadline, pred) waits until pred() is true or the deadline has passed,
    /// and returns pred().
    template <class Predicate>
    bool wait_until(std::unique_lock<mutex>& lock, std::chrono::steady_clock::time_point deadline,
                    Predicate pred) {
        while (!pred())
            if (wait_until(lock, deadline) == std::cv_status::timeout) return pred();
        return true;
    }
    /// wait_for() waits until notified or until `duration` has passed. Like every timed wait,
    /// it saturates: a duration too long to add to now (nanoseconds::max()) never times out,
    /// and a zero or negative one times out at once (after letting the others run).
    template <class Rep, class Period>
    std::cv_status wait_for(std::unique_lock<mutex>& lock,
                            const std::chrono::duration<Rep, Period>& duration) {
        return wait_until(lock, detail::deadline_after(duration));
    }
    /// wait_for(lock, duration, pred) waits until pred() is true or `duration` has passed, and
    /// returns pred().
    template <class Rep, class Period, class Predicate>
    bool wait_for(std::unique_lock<mutex>& lock, const std::chrono::duration<Rep, Period>& duration,
                  Predicate pred) {
        return wait_until(lock, detail::deadline_after(duration), std::move(pred));
    }

private:
    std::cv_status wait_with(std::unique_lock<mutex>& lock,
                             const std::chrono::steady_clock::time_point* deadline);

    detail::wait_queue waiters_;
};

}  // namespace spindle

SPINDLE_EXPORTS_END
