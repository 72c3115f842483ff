// Wait queues: linking a waiting task, suspending it, and waking it.

#include "scheduler/worker.hpp"

#include <spindle/errors.hpp>

#include <string>

namespace spindle::detail {
namespace {

using time_point = std::chrono::steady_clock::time_point;

// link_waiter() links `w`, for the task `self`, at the back of `queue` and marks the task waiting.
inline void link_waiter(wait_queue& queue, waiter& w, const char* what, task_record* self) noexcept {
    SPINDLE_ASSERT(!w.sibling && !w.fired, "a waiter used for a second wait");
    w.previous = w.next = nullptr;
    queue.push_back(&w);
    w.queue = &queue;
    w.task = self;
    self->wait = &w;
    self->wait_reason = what;
    set_status(self, task_status::waiting);
    self->outcome = wake_outcome::waiting;
}

// link_wait_slow() is link_wait() when the task has duties (a cancellation pending, a timeout
// scope), the wait a deadline, or there is no task.
[[gnu::noinline]] void link_wait_slow(wait_queue& queue, waiter& w, const char* what,
                                      bool interruptible, time_point deadline) {
    worker* wk = task_worker();
    if (!wk) throw fiber_error(std::string("spindle: ") + what + " would wait outside any task");
    task_record* self = wk->running();
    if (interruptible) take_pending_cancel(self);
    self->interruptible = interruptible;
    try {
        wk->arm_wait_timer(self, deadline);
    } catch (...) {
        self->interruptible = true;
        throw;
    }
    link_waiter(queue, w, what, self);
}

// link_wait() puts the calling task in a wait on `queue`, with a timer for `deadline` (or for its
// timeout scope's, if earlier). Nothing is linked before the timer is set, so running out of
// memory for it leaves everything as it was. Most waits have no deadline, in a task with no
// duties: that path makes no call (link_wait_slow() is a tail call), so it saves no registers.
inline void link_wait(wait_queue& queue, waiter& w, const char* what, bool interruptible,
                      time_point deadline) {
    worker* wk = task_worker();
    task_record* self = wk ? wk->running() : nullptr;
    if (!self || self->duties != 0 || deadline != time_point::max()) [[unlikely]]
        return link_wait_slow(queue, w, what, interruptible, deadline);
    self->interruptible = interruptible;
    link_waiter(queue, w, what, self);
}

// wake_from_elsewhere() is wake() from outside the task's scheduler: from code outside any task
// or from another scheduler's, while the task's scheduler does not run (allowed: nothing else
// touches it), or from a thread other than the one running it, which stops the process. The
// primitives take no lock yet, so going on would corrupt the wait and ready queues silently.
[[gnu::cold, gnu::noinline]] void wake_from_elsewhere(waiter& w, wake_outcome outcome) noexcept {
    const task_record& task = *w.task;
    if (!on_other_thread(task.scheduler)) {
        w.fired = true;
        task.scheduler->main_worker.wake_task(w.task, outcome);
        return;
    }
    try {
        const std::string message =
            describe_task(task) +
            " was woken (a channel, mutex, condition variable or other object it waits on was "
            "used) from a thread other than the one running its scheduler; hand that thread's "
            "work to the scheduler with submit()";
        stop_process(message.c_str());
    } catch (...) {
        stop_process("a task was woken from a thread other than the one running its scheduler");
    }
}

}  // namespace

task_key running_task_key() noexcept {
    const task_record* self = running_task();
    return self ? task_key{self->scheduler->serial, self->id} : task_key{};
}

void begin_wait(wait_queue& queue, waiter& w, const char* what, bool interruptible) {
    link_wait(queue, w, what, interruptible, time_point::max());
}

void begin_wait_until(wait_queue& queue, waiter& w, const char* what, time_point deadline) {
    link_wait(queue, w, what, true, deadline);
}

void also_wait(wait_queue& queue, waiter& first, waiter& w) noexcept {
    SPINDLE_ASSERT(first.queue && first.task->wait == &first &&
                       first.task->status == task_status::waiting,
                   "also_wait() without a wait begun");
    w.previous = w.next = nullptr;
    w.fired = false;
    queue.push_back(&w);
    w.queue = &queue;
    w.task = first.task;
    w.sibling = first.sibling;
    first.sibling = &w;
}

wake_outcome end_wait(waiter& w) {
    task_record* self = w.task;
    self->scheduler->main_worker.park();
    // The common case first: what it waited for happened (throw_if_interrupted() and the
    // teardown's uninterruptible end both let a completed wait return).
    if (self->outcome == wake_outcome::completed) [[likely]] {
        self->interruptible = true;
        return wake_outcome::completed;
    }
    const bool interruptible = self->interruptible;
    self->interruptible = true;
    if (interruptible) {
        throw_if_interrupted(self);
    } else if (self->outcome == wake_outcome::cancelled) [[unlikely]] {
        // Only a scheduler's teardown ends an uninterruptible wait (end_wait_for_teardown()).
        set_cancel_requested(self, false);
        throw cancelled{};
    }
    return self->outcome;
}

void wake(waiter& w, wake_outcome outcome) noexcept {
    SPINDLE_ASSERT(w.queue && w.task->status == task_status::waiting,
                   "a waiter woken while not waiting");
    worker& owner = w.task->scheduler->main_worker;
    // A tail call: the common path then keeps nothing across a call.
    if (this_worker_slot() != &owner) [[unlikely]] return wake_from_elsewhere(w, outcome);
    w.fired = true;
    owner.wake_task(w.task, outcome);
}

void wake_all(wait_queue& queue, wake_outcome outcome) noexcept {
    while (waiter* w = queue.head) wake(*w, outcome);
}

}  // namespace spindle::detail
