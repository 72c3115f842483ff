#pragma once
// The synchronisation primitives for tasks: mutex, condition_variable, semaphore, latch,
// wait_group and event. Waiting suspends the calling task, never the thread; a thread outside any
// task that waits blocks, as with std::mutex and std::latch.
//
// mutex and condition_variable work with std::lock_guard and std::unique_lock. A mutex (and a
// semaphore's permit) is handed to its longest waiter on release, so a task that releases and
// takes again in a loop cannot starve the others.
//
// Every primitive may be used from any thread, one other than the scheduler's holding a
// scheduler_handle meanwhile (docs/threads.md); a mutex is held by a task or by a thread. Every
// waiting call throws cancelled when task::cancel() interrupts it; an interrupted or timed-out
// wait has taken nothing. Each object can be given a name (set_name()) that deadlock reports and
// task dumps print beside the wait.

#include <spindle/detail/config.hpp>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/wait_queue.hpp>
#include <spindle/errors.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string_view>

SPINDLE_EXPORTS_BEGIN

namespace spindle {
namespace detail {

// name_view() is an object's name as a string_view, empty when it has none.
inline std::string_view name_view(const object_name& name) noexcept {
    const char* text = name.c_str();
    return text ? std::string_view(text) : std::string_view();
}

}  // namespace detail

class condition_variable;

/// mutex is a non-recursive lock whose waiters are suspended tasks, or blocked threads: a thread
/// outside any task may take it too (holding a scheduler_handle meanwhile if the scheduler whose
/// tasks share it runs on another thread; docs/threads.md). Its owner is a task, or a thread.
class mutex {
public:
    /// mutex() makes an unlocked mutex.
    mutex() noexcept = default;
    /// ~mutex() stops the process with a message if tasks still wait for it.
    ~mutex();
    mutex(const mutex&) = delete;
    mutex& operator=(const mutex&) = delete;

    /// lock() takes the mutex, suspending the calling task (blocking a thread outside any task)
    /// while another holds it. Throws fiber_error when the caller holds it already; cancelled
    /// when the task is cancelled while waiting.
    void lock();
    /// try_lock() takes the mutex if it is free.
    bool try_lock() noexcept;
    /// try_lock_until() is lock() that gives up at `deadline`: false then, with the mutex not
    /// taken. Like every timed wait, a deadline that has passed still lets the others run once.
    bool try_lock_until(std::chrono::steady_clock::time_point deadline);
    /// try_lock_for() is try_lock_until(now + duration), saturated as deadline_after() says.
    template <class Rep, class Period>
    bool try_lock_for(const std::chrono::duration<Rep, Period>& duration) {
        return try_lock_until(detail::deadline_after(duration));
    }
    /// unlock() releases the mutex, handing it to the task that has waited longest. Throws
    /// fiber_error when the caller does not hold it, naming the holder.
    ///
    /// A task that ends holding the mutex leaves it locked, as Go does: its waiters wait on (and
    /// run() reports the deadlock when nothing else can run), and no other task may unlock it.
    /// Ownership is by task, not by record, so a new task never inherits a dead task's lock.
    void unlock();

    /// set_name() names the mutex for deadlock reports and task dumps (up to 31 bytes are kept).
    void set_name(std::string_view name) noexcept { name_.assign(name); }
    /// name() is the name given by set_name(), or empty.
    std::string_view name() const noexcept { return detail::name_view(name_); }

private:
    friend class condition_variable;
    bool lock_with(const std::chrono::steady_clock::time_point* deadline);
    void lock_uninterruptible();
    bool held_by_caller() const noexcept;

    mutable detail::wait_lock lock_;  ///< other threads may use it (detail/wait_lock.hpp)
    detail::wait_queue waiters_;
    detail::object_name name_;
    /// owner_ is the holder; a key, not the record, which is recycled once the task ends.
    detail::task_key owner_;
    bool locked_ = false;
};

/// condition_variable lets tasks (and threads) wait, holding a spindle::mutex, until notified.
/// Any thread may notify or wait (a thread other than the scheduler's holds a scheduler_handle
/// meanwhile, docs/threads.md).
class condition_variable {
public:
    /// condition_variable() makes a condition variable nobody waits on.
    condition_variable() noexcept = default;
    /// ~condition_variable() wakes any task still waiting (it sees a spurious wake-up).
    ~condition_variable();
    condition_variable(const condition_variable&) = delete;
    condition_variable& operator=(const condition_variable&) = delete;

    /// notify_one() wakes the task that has waited longest; from a task or any thread.
    void notify_one() noexcept;
    /// notify_all() wakes every waiting task.
    void notify_all() noexcept;

    /// wait() releases the lock, suspends the calling task (blocks a thread outside any task)
    /// until notified, and takes the lock back before returning (also when it throws
    /// cancelled). fiber_error when `lock` does not hold its mutex. One exception: when the scheduler is destroyed while
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

    /// set_name() names the condition variable for deadlock reports and task dumps.
    void set_name(std::string_view name) noexcept { name_.assign(name); }
    /// name() is the name given by set_name(), or empty.
    std::string_view name() const noexcept { return detail::name_view(name_); }

private:
    std::cv_status wait_with(std::unique_lock<mutex>& lock,
                             const std::chrono::steady_clock::time_point* deadline);

    detail::wait_lock lock_;  ///< other threads may notify (detail/wait_lock.hpp)
    detail::wait_queue waiters_;
    detail::object_name name_;
};

/// semaphore is a counting semaphore of permits for tasks.
///
/// A release goes to the task that has waited longest, before anyone else can take it: a task
/// that releases and acquires again in a loop cannot starve the waiters (no barging).
class semaphore {
public:
    /// semaphore() starts with `initial` permits; std::invalid_argument when it is negative.
    explicit semaphore(std::ptrdiff_t initial);
    /// ~semaphore() stops the process with a message if tasks still wait for it: they could
    /// neither get a permit nor be told, and would wake into a destroyed object.
    ~semaphore();
    semaphore(const semaphore&) = delete;
    semaphore& operator=(const semaphore&) = delete;

    /// acquire() takes a permit, suspending the calling task (blocking a thread outside any task)
    /// while there is none; cancelled when the task is cancelled while waiting (it then has
    /// taken nothing).
    void acquire();
    /// try_acquire() takes a permit if one is free.
    bool try_acquire() noexcept;
    /// try_acquire_until() is acquire() that gives up at `deadline`: false then, nothing taken.
    bool try_acquire_until(std::chrono::steady_clock::time_point deadline);
    /// try_acquire_for() is try_acquire_until(now + duration).
    template <class Rep, class Period>
    bool try_acquire_for(const std::chrono::duration<Rep, Period>& duration) {
        return try_acquire_until(detail::deadline_after(duration));
    }
    /// release() gives back `n` permits, handing them to the longest waiters first.
    /// std::invalid_argument when n <= 0, std::overflow_error when the count would pass
    /// PTRDIFF_MAX (nothing is released then).
    void release(std::ptrdiff_t n = 1);
    /// available() is the number of free permits (0 while tasks wait).
    std::ptrdiff_t available() const noexcept {
        detail::object_guard guard(lock_);
        return count_;
    }

    /// set_name() names the semaphore for deadlock reports and task dumps.
    void set_name(std::string_view name) noexcept { name_.assign(name); }
    /// name() is the name given by set_name(), or empty.
    std::string_view name() const noexcept { return detail::name_view(name_); }

private:
    bool acquire_with(const std::chrono::steady_clock::time_point* deadline);
    bool take_free_permit() noexcept;

    mutable detail::wait_lock lock_;  ///< other threads may use it (detail/wait_lock.hpp)
    detail::wait_queue waiters_;
    std::ptrdiff_t count_;
    detail::object_name name_;
};

namespace detail {

// countdown is what latch and wait_group share: a count, and the tasks waiting for it to reach
// zero. Its destructor wakes those still waiting with `closed`: their wait throws fiber_error
// with `destroyed` (a static string the waiter reads without touching the object).
class countdown {
public:
    countdown(std::ptrdiff_t count, const char* what, const char* destroyed) noexcept
        : count_(count), what_(what), destroyed_(destroyed) {}
    ~countdown();
    countdown(const countdown&) = delete;
    countdown& operator=(const countdown&) = delete;

    // add() adds `delta` to the count and wakes every waiter when it reaches zero. When the count
    // would go below zero (or past PTRDIFF_MAX) it changes nothing and throws fiber_error with
    // `misuse`.
    void add(std::ptrdiff_t delta, const char* misuse);
    // wait() returns at once when the count is zero, else waits until it is: true then, false
    // at `*deadline` when one is given.
    bool wait(const std::chrono::steady_clock::time_point* deadline);
    std::ptrdiff_t count() const noexcept {
        object_guard guard(lock_);
        return count_;
    }

    object_name name;

private:
    mutable wait_lock lock_;
    wait_queue waiters_;
    std::ptrdiff_t count_;
    const char* what_;
    const char* destroyed_;
};

}  // namespace detail

/// latch is std::latch for tasks: a count set once that tasks count down, and that tasks wait
/// for to reach zero. It cannot be reset.
///
/// Destroying a latch while tasks wait on it wakes them: their wait throws fiber_error (the
/// latch is gone and the count will never reach zero).
class latch {
public:
    /// latch() starts the count at `count`; std::invalid_argument when it is negative.
    explicit latch(std::ptrdiff_t count);
    latch(const latch&) = delete;
    latch& operator=(const latch&) = delete;

    /// count_down() lowers the count by `n`, waking every waiter when it reaches zero.
    /// std::invalid_argument when n is negative; fiber_error when n is more than the count
    /// (nothing is counted then).
    void count_down(std::ptrdiff_t n = 1);
    /// try_wait() tells whether the count has reached zero.
    bool try_wait() const noexcept { return state_.count() == 0; }
    /// wait() suspends the calling task until the count reaches zero (at once if it has).
    /// A thread outside any task blocks; cancelled when the task is cancelled.
    void wait() { state_.wait(nullptr); }
    /// wait_until() is wait() that gives up at `deadline`, returning false.
    bool wait_until(std::chrono::steady_clock::time_point deadline) {
        return state_.wait(&deadline);
    }
    /// wait_for() is wait_until(now + duration).
    template <class Rep, class Period>
    bool wait_for(const std::chrono::duration<Rep, Period>& duration) {
        return wait_until(detail::deadline_after(duration));
    }
    /// arrive_and_wait() is count_down(n) then wait().
    void arrive_and_wait(std::ptrdiff_t n = 1) {
        count_down(n);
        wait();
    }

    /// set_name() names the latch for deadlock reports and task dumps.
    void set_name(std::string_view name) noexcept { state_.name.assign(name); }
    /// name() is the name given by set_name(), or empty.
    std::string_view name() const noexcept { return detail::name_view(state_.name); }

private:
    detail::countdown state_;
};

/// wait_group is Go's sync.WaitGroup: a count of work in flight that add() raises and done()
/// lowers, and that wait() waits for to reach zero. Unlike a latch it can be used again once it
/// is back to zero.
///
/// Destroying a wait_group while tasks wait on it wakes them: their wait throws fiber_error.
class wait_group {
public:
    /// wait_group() starts at zero.
    wait_group() noexcept;
    wait_group(const wait_group&) = delete;
    wait_group& operator=(const wait_group&) = delete;

    /// add() adds `n` (which may be negative) to the count, waking every waiter when it reaches
    /// zero. fiber_error when the count would go negative (nothing changes then).
    void add(std::ptrdiff_t n = 1);
    /// done() is add(-1).
    void done() { add(-1); }
    /// count() is the work in flight.
    std::ptrdiff_t count() const noexcept { return state_.count(); }
    /// wait() suspends the calling task until the count is zero (at once if it is). fiber_error
    /// (a thread outside any task blocks); cancelled when the task is cancelled.
    void wait() { state_.wait(nullptr); }
    /// wait_until() is wait() that gives up at `deadline`, returning false.
    bool wait_until(std::chrono::steady_clock::time_point deadline) {
        return state_.wait(&deadline);
    }
    /// wait_for() is wait_until(now + duration).
    template <class Rep, class Period>
    bool wait_for(const std::chrono::duration<Rep, Period>& duration) {
        return wait_until(detail::deadline_after(duration));
    }

    /// set_name() names the wait_group for deadlock reports and task dumps.
    void set_name(std::string_view name) noexcept { state_.name.assign(name); }
    /// name() is the name given by set_name(), or empty.
    std::string_view name() const noexcept { return detail::name_view(state_.name); }

private:
    detail::countdown state_;
};

/// event is asyncio.Event: a flag that tasks wait for to be set.
///
/// set() wakes every waiter; a waiter woken by set() returns even when clear() follows before
/// it runs. Destroying an event while tasks wait on it wakes them: their wait throws
/// fiber_error.
class event {
public:
    /// event() makes an event that is not set.
    event() noexcept = default;
    /// ~event() wakes the tasks still waiting; their wait throws fiber_error.
    ~event();
    event(const event&) = delete;
    event& operator=(const event&) = delete;

    /// set() sets the flag and wakes every waiting task.
    void set() noexcept;
    /// clear() lowers the flag: later waits wait again.
    void clear() noexcept;
    /// is_set() tells whether the flag is set.
    bool is_set() const noexcept;
    /// wait() suspends the calling task until the flag is set (at once if it is). fiber_error
    /// (a thread outside any task blocks); cancelled when the task is cancelled.
    void wait();
    /// wait_until() is wait() that gives up at `deadline`, returning false.
    bool wait_until(std::chrono::steady_clock::time_point deadline);
    /// wait_for() is wait_until(now + duration).
    template <class Rep, class Period>
    bool wait_for(const std::chrono::duration<Rep, Period>& duration) {
        return wait_until(detail::deadline_after(duration));
    }

    /// set_name() names the event for deadlock reports and task dumps.
    void set_name(std::string_view name) noexcept { name_.assign(name); }
    /// name() is the name given by set_name(), or empty.
    std::string_view name() const noexcept { return detail::name_view(name_); }

private:
    bool wait_with(const std::chrono::steady_clock::time_point* deadline);

    mutable detail::wait_lock lock_;  ///< other threads may use it (detail/wait_lock.hpp)
    detail::wait_queue waiters_;
    detail::object_name name_;
    bool set_ = false;
};

}  // namespace spindle

SPINDLE_EXPORTS_END
