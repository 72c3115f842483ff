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
    if (owner == detail::task_key{}) return "code outside any task holds it";
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
    // (Waiters whose wait a timeout or cancel has ended may still be linked, for their tasks to
    // unlink: first_waiting() lets go of them.)
    if (detail::first_waiting(waiters_))
        detail::stop_process("a mutex was destroyed while tasks waited for it");
}

bool mutex::held_by_caller() const noexcept { return locked_ && owner_ == running_task_key(); }

void mutex::lock() { lock_with(nullptr); }

bool mutex::try_lock_until(std::chrono::steady_clock::time_point deadline) {
    return lock_with(&deadline);
}

bool mutex::lock_with(const std::chrono::steady_clock::time_point* deadline) {
    const detail::task_key self = running_task_key();
    if (!locked_) {
        locked_ = true;
        owner_ = self;
        return true;
    }
    if (self != detail::task_key{} && owner_ == self)
        throw fiber_error(
            "spindle: mutex::lock() by the task that holds it already (spindle::mutex is not "
            "recursive)");
    // true: unlock() made this task the owner before waking it.
    const bool taken = detail::wait_in(waiters_, name_, "mutex lock", deadline);
    SPINDLE_ASSERT(!taken || (locked_ && owner_ == self), "a mutex handed to another task");
    return taken;
}

void mutex::lock_uninterruptible() {
    if (!locked_) {
        locked_ = true;
        owner_ = running_task_key();
        return;
    }
    detail::waiter w;
    w.object = name_.c_str();
    detail::begin_wait(waiters_, w, "mutex lock (to return from a condition_variable wait)",
                       /*interruptible=*/false);
    detail::end_wait(w);
}

bool mutex::try_lock() noexcept {
    if (locked_) return false;
    locked_ = true;
    owner_ = running_task_key();
    return true;
}

void mutex::unlock() {
    if (!locked_) throw fiber_error("spindle: mutex::unlock() of a mutex that is not locked");
    if (owner_ != running_task_key())
        throw fiber_error("spindle: mutex::unlock() by a task that does not hold the mutex; " +
                          describe_holder(owner_));
    if (detail::waiter* next = detail::claim_first(waiters_)) {
        // Handed over, not released: the longest waiter owns it before anyone else can run.
        owner_ = {next->task->scheduler->serial, next->task->id};
        detail::wake(*next, wake_outcome::completed);
    } else {
        locked_ = false;
        owner_ = {};
    }
}

}  // namespace spindle
