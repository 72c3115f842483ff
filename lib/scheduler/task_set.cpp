// Task sets: the members of a task group or an as_completed(), their failures and their waiters.

#include "scheduler/task_set.hpp"
#include "scheduler/worker.hpp"

#include <spindle/errors.hpp>
#include <spindle/task_group.hpp>

#include <string>
#include <vector>

namespace spindle::detail {
namespace {

using time_point = std::chrono::steady_clock::time_point;

// failed_with() tells whether a finished task failed: it ended with an exception other than
// cancelled.
bool failed_with(const task_record* task) noexcept {
    if (!task->exception) return false;
    try {
        std::rethrow_exception(task->exception);
    } catch (const cancelled&) {
        return false;
    } catch (...) {
        return true;
    }
}

// cancel_body() cancels the scope a group's body runs in, and the body's wait right away if it
// waits inside that scope (and no shield stands between).
void cancel_body(task_set* set) noexcept {
    cancel_scope_state* scope = set->body_scope;
    if (!scope) return;
    scope->deadline = time_point::min();
    task_record* body = scope->task;
    if (!body || body->status != task_status::waiting || !body->interruptible || unwinding(body))
        return;
    for (cancel_scope_state* s = body->scope; s; s = s->parent) {
        if (s == scope) {
            body->timer_for_scope = true;
            body->scheduler->local_worker().wake_task(body, wake_outcome::timed_out);
            return;
        }
        if (s->shield) return;
    }
}

// cancel_running() cancels every member that has not finished. Cancelling one that has not
// started finishes it at once, which moves it to the finished list: the next one is read first.
void cancel_running(task_set* set) {
    for (task_record* task = set->running.head; task;) {
        task_record* next = task->set_next;
        cancel_task(task);
        task = next;
    }
}

// wait_for_change() waits until a member finishes (interruptible: it throws cancelled).
void wait_for_change(task_set* set, const char* what) {
    waiter w;
    begin_wait(set->waiters, w, what);
    end_wait(w);
}

// wait_all_shielded() waits until every member has finished, whatever cancels the calling task.
void wait_all_shielded(task_set* set) {
    cancel_scope_state shield;
    shield.shield = true;
    scope_entry entry(shield);
    while (set->unfinished > 0) wait_for_change(set, "task group (its tasks are cancelled)");
}

// let_go() takes a member out of the set and drops the set's hold on its record.
void let_go(task_set* set, task_record* task) noexcept {
    if (task->status == task_status::done)
        set->finished.remove(task);
    else
        set->running.remove(task);
    task->set = nullptr;
    release_task(task);
}

// take_failures() is the exception to throw for the failures not thrown yet, or null: the body's
// exception alone as it is, else an exception_group of the body's and the members' (in the order
// they failed). The failures taken are marked thrown.
std::exception_ptr take_failures(task_set* set) {
    std::vector<std::exception_ptr> errors;
    std::string message;
    std::size_t members = 0;
    if (set->body_exception) errors.push_back(set->body_exception);
    for (task_record* task = set->finished.head; task; task = task->set_next) {
        if (task->result_taken || !failed_with(task)) continue;
        ++members;
        errors.push_back(task->exception);
        message += "\n  " + describe_task(*task) + ": ";
        try {
            std::rethrow_exception(task->exception);
        } catch (const std::exception& e) {
            message += e.what();
        } catch (...) {
            message += "an exception not derived from std::exception";
        }
    }
    if (members == 0) {
        std::exception_ptr body = std::exchange(set->body_exception, nullptr);
        return body;
    }
    for (task_record* task = set->finished.head; task; task = task->set_next)
        if (failed_with(task)) task->result_taken = true;
    std::string head = "spindle: " + std::to_string(members) +
                       (members == 1 ? " task" : " tasks") + " of a task group failed";
    if (set->body_exception) head += ", after its body threw";
    set->body_exception = nullptr;
    return std::make_exception_ptr(exception_group(std::move(errors), head + ":" + message));
}

}  // namespace

task_set* create_task_set(scheduler_core* scheduler, bool cancel_on_failure) {
    if (!scheduler) scheduler = calling_task_scheduler();
    auto* set = new task_set;
    set->scheduler = scheduler;
    set->cancel_on_failure = cancel_on_failure;
    return set;
}

// Every entry below holds the core lock with several workers (members finish on any worker);
// a wait inside keeps it across its switch (link_wait_slow()).

void destroy_task_set(task_set* set) noexcept {
    core_hold hold(*set->scheduler);
    SPINDLE_ASSERT(set->waiters.empty(), "a task set destroyed while a task waits on it");
    while (task_record* task = set->finished.head) let_go(set, task);
    while (task_record* task = set->running.head) {
        --set->unfinished;
        let_go(set, task);
    }
    delete set;
}

scheduler_core* scheduler_for_spawn(const task_set* set) noexcept { return set->scheduler; }

void add_to_task_set(task_set* set, task_record* task) {
    if (!task) throw fiber_error("spindle: an empty task handle given to a task set");
    if (task->set) throw fiber_error("spindle: a task given to two task sets");
    if (task->result_taken) throw fiber_error("spindle: a joined task given to a task set");
    if (task->joiner) throw fiber_error("spindle: a task given to a task set while a task joins it");
    if (task->scheduler != set->scheduler)
        throw fiber_error("spindle: a task of another scheduler given to a task set");
    core_hold hold(*set->scheduler);
    task->set = set;
    if (task->status == task_status::done) {
        // A task that ended before it was added (with several workers, any task another
        // worker ran): its failure still cancels a group.
        settle_member(set, task);
        return;
    }
    set->running.push_back(task);
    ++set->unfinished;
    // A group cancelling its tasks after a failure cancels a newcomer too (as a Trio nursery
    // does): it never runs, and its cancellation is not a failure.
    if (set->failed) cancel_task(task);
}

void schedule_member(task_set* set, task_record* task) {
    // Queued and added under one hold of the core lock: no other worker can start it, or run
    // it to its end, before the set knows it (nor before a cancelling group has cancelled it).
    // The task is new, so add_to_task_set()'s checks pass.
    core_hold hold(*set->scheduler);
    schedule_task(task);
    add_to_task_set(set, task);
}

void member_finished(task_record* task) noexcept {
    task_set* set = task->set;
    SPINDLE_ASSERT(set->unfinished > 0, "a task set's member finished twice");
    set->running.remove(task);
    --set->unfinished;
    settle_member(set, task);
}

void settle_member(task_set* set, task_record* task) noexcept {
    set->finished.push_back(task);
    if (set->cancel_on_failure && !set->failed && failed_with(task)) {
        set->failed = true;
        cancel_body(set);
        try {
            cancel_running(set);
        } catch (...) {
            stop_process("a task group could not cancel its tasks");
        }
    }
    wake_all(set->waiters, wake_outcome::completed);
}

void wait_task_set(task_set* set, bool throw_failures) {
    core_hold hold(*set->scheduler);
    try {
        while (set->unfinished > 0) wait_for_change(set, "task group");
    } catch (const cancelled&) {
        // Cancelled while it waits: the group's tasks go too, and end before the cancellation
        // leaves (they may use the waiting frame).
        cancel_running(set);
        wait_all_shielded(set);
        throw;
    }
    if (!throw_failures) return;
    set->failed = false;  // all have ended: the group may be used again
    if (std::exception_ptr error = take_failures(set)) std::rethrow_exception(error);
}

std::exception_ptr finish_task_set(task_set* set, bool unwinding) noexcept {
    core_hold hold(*set->scheduler);
    std::exception_ptr error;
    try {
        if (unwinding) {
            cancel_running(set);
        } else {
            try {
                wait_task_set(set, true);
            } catch (...) {
                error = std::current_exception();
            }
        }
        wait_all_shielded(set);
    } catch (...) {
        stop_process("a task group could not wait for its tasks");
    }
    return error;
}

task_record* take_finished(task_set* set) {
    core_hold hold(*set->scheduler);
    while (!set->finished.head) {
        if (set->unfinished == 0) return nullptr;
        wait_for_change(set, "as_completed");
    }
    task_record* task = set->finished.head;
    set->finished.remove(task);
    task->set = nullptr;
    return task;
}

void cancel_task_set(task_set* set) {
    core_hold hold(*set->scheduler);
    cancel_running(set);
}

std::size_t task_set_unfinished(const task_set* set) noexcept {
    core_hold hold(*set->scheduler);
    return set->unfinished;
}

void watch_body(task_set* set, cancel_scope_state* scope) noexcept {
    core_hold hold(*set->scheduler);
    set->body_scope = scope;
    if (scope && set->failed) cancel_body(set);
}

void body_failed(task_set* set, std::exception_ptr error) noexcept {
    core_hold hold(*set->scheduler);
    if (!set->body_exception) set->body_exception = std::move(error);
    try {
        cancel_running(set);
    } catch (...) {
        stop_process("a task group could not cancel its tasks");
    }
}

}  // namespace spindle::detail
