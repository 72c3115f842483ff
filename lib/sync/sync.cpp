// mutex and condition_variable on wait queues.

#include "scheduler/worker.hpp"

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
    if (!waiters_.empty())
        detail::stop_process("a mutex was destroyed while tasks waited for it");
}

bool mutex::held_by_caller() const noexcept { return locked_ && owner_ == running_task_key(); }

void mutex::lock() {
    const detail::task_key self = running_task_key();
    if (!locked_) {
        locked_ = true;
        owner_ = self;
        return;
    }
    if (self != detail::task_key{} && owner_ == self)
        throw fiber_error(
            "spindle: mutex::lock() by the task that holds it already (spindle::mutex is not "
            "recursive)");
    detail::waiter w;
    detail::begin_wait(waiters_, w, "mutex lock");
    detail::end_wait(w);  // completed: unlock() made this task the owner
}

void mutex::lock_uninterruptible() {
    if (!locked_) {
        locked_ = true;
        owner_ = running_task_key();
        return;
    }
    detail::waiter w;
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
    if (detail::waiter* next = waiters_.front()) {
        // Handed over, not released: the longest waiter owns it before anyone else can run.
        owner_ = {next->task->scheduler->serial, next->task->id};
        detail::wake(*next, wake_outcome::completed);
    } else {
        locked_ = false;
        owner_ = {};
    }
}

condition_variable::~condition_variable() { detail::wake_all(waiters_, wake_outcome::closed); }

void condition_variable::notify_one() noexcept {
    if (detail::waiter* w = waiters_.front()) detail::wake(*w, wake_outcome::completed);
}

void condition_variable::notify_all() noexcept {
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
            "calling task");
    // Queue first, then release the mutex: no notification between the two can be missed.
    detail::waiter w;
    if (deadline)
        detail::begin_wait_until(waiters_, w, "condition_variable notify", *deadline);
    else
        detail::begin_wait(waiters_, w, "condition_variable notify");
    m->unlock();
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
    wake_outcome outcome;
    try {
        outcome = detail::end_wait(w);
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
