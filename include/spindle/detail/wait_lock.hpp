#pragma once
// wait_lock: the lock of an object tasks wait on (a channel, a condition variable), taken only
// while another thread may touch the object at the same time.
//
// A scheduler that no other thread may touch (one worker, no scheduler_handle ever made) runs
// its tasks without taking these locks: its worker thread says so in a thread-local flag, one
// predictable branch per operation. Every other thread (a thread outside any scheduler, the
// worker of a scheduler that has been shared) takes them. The lock of an object a task waits on
// is held from linking the waiter until the task has switched away: the task that runs next (or
// the run loop) releases it, so that no waker can resume a task whose context is not saved yet
// (docs/threads.md, "The wait protocol").

#include <spindle/detail/config.hpp>
#include <spindle/detail/thread_locals.hpp>

#include <atomic>
#include <cstddef>
#include <utility>

SPINDLE_EXPORTS_BEGIN

namespace spindle::detail {

// wait_lock is a spin lock: what it guards is a few pointers and at most one value's move, so a
// holder lets go within nanoseconds unless its thread is preempted; a waiter spins briefly, then
// yields its thread (lock_contended(), out of line) instead of burning the holder's core.
class wait_lock {
public:
    wait_lock() noexcept = default;
    wait_lock(const wait_lock&) = delete;
    wait_lock& operator=(const wait_lock&) = delete;

    void lock() noexcept {
        if (held_.exchange(true, std::memory_order_acquire)) [[unlikely]] lock_contended();
    }
    void unlock() noexcept { held_.store(false, std::memory_order_release); }

private:
    void lock_contended() noexcept;
    std::atomic<bool> held_{false};
};

// thread_locks_objects tells whether this thread takes wait_locks: true except on the worker of
// a scheduler no other thread may touch. Defined in lib/scheduler/wait_lock.cpp, reached only
// through locks_objects() (code after a switch may run on another thread).
extern thread_local bool thread_locks_objects SPINDLE_THREAD_LOCAL_SYMBOL("spindle_thread_locks_objects");

// locks_objects() is this thread's thread_locks_objects, read afresh; locks_objects_slot() is
// the variable, for the worker that sets it.
inline bool locks_objects() noexcept {
    return SPINDLE_THREAD_LOCAL_FLAG("spindle_thread_locks_objects");
}
inline bool& locks_objects_slot() noexcept {
    return *SPINDLE_THREAD_LOCAL_ADDRESS(bool, "spindle_thread_locks_objects");
}

// object_guard holds an object's wait_lock for a scope, when this thread takes them. A wait
// hands the lock to end_wait() (hand_over()), which has it released after the switch.
class object_guard {
public:
    explicit object_guard(wait_lock& lock) noexcept : object_guard(lock, locks_objects()) {}
    // object_guard(lock, take) takes the lock when `take` (the caller has asked locks_objects()
    // once for several uses; a constant false folds the guard away).
    object_guard(wait_lock& lock, bool take) noexcept : held_(take ? &lock : nullptr) {
        if (held_) held_->lock();
    }
    ~object_guard() {
        if (held_) held_->unlock();
    }
    object_guard(const object_guard&) = delete;
    object_guard& operator=(const object_guard&) = delete;

    // hand_over() gives up the guard's hold without releasing the lock: the caller releases it
    // (or has the switch release it). nullptr when the lock was not taken.
    wait_lock* hand_over() noexcept { return std::exchange(held_, nullptr); }
    // held() is the lock held, or nullptr.
    wait_lock* held() const noexcept { return held_; }

private:
    wait_lock* held_;
};

// held_locks is what a parking task hands the switch to release once its context is saved: the
// locks of the objects it waits on (several for a select), none when it took none.
struct held_locks {
    wait_lock* const* locks = nullptr;
    std::size_t count = 0;

    void release() const noexcept {
        for (std::size_t i = 0; i < count; ++i)
            if (locks[i]) locks[i]->unlock();
    }
};

}  // namespace spindle::detail

SPINDLE_EXPORTS_END
