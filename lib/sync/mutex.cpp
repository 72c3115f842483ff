// mutex on a wait queue: handed over on unlock to the task that waited longest.

#include "scheduler/worker.hpp"
#include "sync/wait.hpp"

#include <spindle/sync.hpp>

#include <string>

namespace spindle {

using detail::running_task;
using detail::running_task_key;
using detail::wake_outcome;

namespace {

// describe_holder() says who holds a mutex, for the message of an unlock by someone else.
std::string describe_holder(detail::task_key owner) {
    if (owner.scheduler == 0)
        return "a thread outside any task (thread " + std::to_string(owner.task) + ") holds it";
    const detail::task_record* self = running_task();
    if (!self || self->scheduler->serial != owner.scheduler)
        return "a task of another scheduler (task " + std::to_string(owner.task) + ") holds it";
    for (const detail::task_record* task = self->scheduler->live.head; task; task = task->live_next)
        if (task->id == owner.task) return detail::describe_task(*task) + " holds it";
    return "task " + std::to_string(owner.task) +
           " holds it, and has ended: a mutex stays locked when its holder ends without unlocking";
}

}  // namespace

mutex::~mutex() {
    detail::object_guard guard(lock_);
    // (Waiters whose wait a timeout or cancel has ended may still be linked, for their tasks to
    // unlink: first_waiting() lets go of them.)
    if (detail::first_waiting(waiters_))
        detail::stop_process("a mutex was destroyed while tasks waited for it");
}

bool mutex::held_by_caller() const noexcept {
    detail::object_guard guard(lock_);
    return locked_ && owner_ == running_task_key();
}

void mutex::lock() { lock_with(nullptr); }

bool mutex::try_lock_until(std::chrono::steady_clock::time_point deadline) {
    return lock_with(&deadline);
}

bool mutex::lock_with(const std::chrono::steady_clock::time_point* deadline) {
    detail::task_key self = running_task_key();
    detail::object_guard guard(lock_);
    if (!locked_) {
        locked_ = true;
        owner_ = self;
        return true;
    }
    if (owner_ == self)
        throw fiber_error(
            "spindle: mutex::lock() by the task (or thread) that holds it already "
            "(spindle::mutex is not recursive)");
    // true: unlock() made the caller the owner before waking it (from the key in the waiter's
    // slot).
    const bool taken = detail::wait_in(waiters_, lock_, guard, name_, "mutex lock", deadline,
                                       "spindle: a mutex was destroyed while a task waited for it",
                                       &self);
    SPINDLE_ASSERT(!taken || owner_ == self, "a mutex handed to another task");
    return taken;
}

void mutex::lock_uninterruptible() {
    detail::task_key self = running_task_key();
    detail::object_guard guard(lock_);
    if (!locked_) {
        locked_ = true;
        owner_ = self;
        return;
    }
    detail::waiter w;
    w.object = name_.c_str();
    w.lock = &lock_;
    w.slot = &self;
    constexpr const char* what = "mutex lock (to return from a condition_variable wait)";
    // A thread's wait is not interrupted anyway.
    if (guard.held() && !detail::in_task()) {
        (void)detail::wait_here(waiters_, w, guard, what,
                                std::chrono::steady_clock::time_point::max());
        return;
    }
    detail::begin_wait(waiters_, w, what, /*interruptible=*/false);
    detail::end_wait(w, guard);
}

bool mutex::try_lock() noexcept {
    const detail::task_key self = running_task_key();
    detail::object_guard guard(lock_);
    if (locked_) return false;
    locked_ = true;
    owner_ = self;
    return true;
}

void mutex::unlock() {
    const detail::task_key self = running_task_key();
    detail::object_guard guard(lock_);
    if (!locked_) throw fiber_error("spindle: mutex::unlock() of a mutex that is not locked");
    if (owner_ != self)
        throw fiber_error("spindle: mutex::unlock() by a task that does not hold the mutex; " +
                          describe_holder(owner_));
    if (detail::waiter* next = detail::claim_first(waiters_)) {
        // Handed over, not released: the longest waiter owns it before anyone else can run.
        owner_ = *static_cast<const detail::task_key*>(next->slot);
        detail::wake(*next, wake_outcome::completed);
    } else {
        locked_ = false;
        owner_ = {};
    }
}

}  // namespace spindle
