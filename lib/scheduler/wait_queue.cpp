// Wait queues: linking a waiting task, suspending it, and waking it.

#include "scheduler/worker.hpp"

#include <spindle/errors.hpp>

#include <string>

namespace spindle::detail {

task_key running_task_key() noexcept {
    const task_record* self = running_task();
    return self ? task_key{self->scheduler->serial, self->id} : task_key{};
}

void begin_wait(wait_queue& queue, waiter& w, const char* what, bool interruptible) {
    task_record* self = running_task();
    if (!self) throw fiber_error(std::string("spindle: ") + what + " would wait outside any task");
    if (interruptible) take_pending_cancel(self);
    w.previous = w.next = nullptr;
    queue.push_back(&w);
    w.queue = &queue;
    w.task = self;
    self->wait = &w;
    self->wait_reason = what;
    self->interruptible = interruptible;
    set_status(self, task_status::waiting);
    self->outcome = wake_outcome::waiting;
}

void begin_wait_until(wait_queue& queue, waiter& w, const char* what,
                      std::chrono::steady_clock::time_point deadline) {
    begin_wait(queue, w, what);
    try {
        w.task->scheduler->main_worker.add_timer(w.task, deadline);
    } catch (...) {
        // Out of memory for the timer: leave the queue again as if nothing happened.
        task_record* self = w.task;
        self->scheduler->main_worker.wake_task(self, wake_outcome::waiting);
        self->scheduler->main_worker.unqueue(self);
        set_status(self, task_status::running);
        throw;
    }
}

wake_outcome end_wait(waiter& w) {
    task_record* self = w.task;
    self->scheduler->main_worker.park();
    const bool interruptible = self->interruptible;
    self->interruptible = true;
    if (interruptible) {
        throw_if_interrupted(self);
    } else if (self->outcome == wake_outcome::cancelled) [[unlikely]] {
        // Only a scheduler's teardown ends an uninterruptible wait (end_wait_for_teardown()).
        self->cancel_requested = false;
        throw cancelled{};
    }
    return self->outcome;
}

void wake(waiter& w, wake_outcome outcome) noexcept {
    SPINDLE_ASSERT(w.queue && w.task->wait == &w && w.task->status == task_status::waiting,
                   "a waiter woken while not waiting");
    w.task->scheduler->main_worker.wake_task(w.task, outcome);
}

void wake_all(wait_queue& queue, wake_outcome outcome) noexcept {
    while (waiter* w = queue.head) wake(*w, outcome);
}

}  // namespace spindle::detail
