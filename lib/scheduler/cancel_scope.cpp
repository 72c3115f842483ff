// Timeout scopes and cancellation shields: the chain of scopes a task is in, and the throw when
// a scope's deadline passes.

#include "scheduler/worker.hpp"

#include <spindle/errors.hpp>
#include <spindle/timeout.hpp>

namespace spindle::detail {

void enter_cancel_scope(cancel_scope_state& scope) {
    task_record* self = running_task();
    if (!self)
        throw fiber_error(
            "spindle: a timeout scope or cancel_shield opened outside any task (they bound the "
            "waits of a task; run the code in one)");
    // With several workers, a task group's cancel reads the chain from another task.
    core_hold hold(*self->scheduler);
    cancel_scope_state* parent = self->scope;
    scope.parent = parent;
    scope.task = self;
    scope.fired = false;
    scope.blocks_cancel = scope.shield || (parent && parent->blocks_cancel);
    set_scope(self, &scope);
}

void leave_cancel_scope(cancel_scope_state& scope) noexcept {
    task_record* self = scope.task;
    SPINDLE_ASSERT(self, "a timeout scope closed twice");
    core_hold hold(*self->scheduler);
    // Scopes close innermost first when they live in frames; a task_group kept elsewhere may
    // close out of order, so the chain is mended wherever the scope sits in it.
    if (self->scope == &scope) {
        set_scope(self, scope.parent);
    } else {
        cancel_scope_state* inner = self->scope;
        while (inner && inner->parent != &scope) inner = inner->parent;
        SPINDLE_ASSERT(inner, "a timeout scope closed that its task is not in");
        if (inner) inner->parent = scope.parent;
    }
    scope.task = nullptr;
}

std::chrono::steady_clock::time_point scope_deadline(const task_record* task) noexcept {
    auto deadline = std::chrono::steady_clock::time_point::max();
    for (const cancel_scope_state* scope = task->scope; scope; scope = scope->parent) {
        if (scope->deadline < deadline) deadline = scope->deadline;
        if (scope->shield) break;
    }
    return deadline;
}

bool cancelled_by_scope(const cancel_scope_state& scope) noexcept {
    task_record* self = scope.task;
    if (!self || self->cancel_origin != &scope) return false;
    self->cancel_origin = nullptr;
    return true;
}

void throw_for_scope(task_record* task) {
    const auto now = std::chrono::steady_clock::now();
    cancel_scope_state* origin = nullptr;
    for (cancel_scope_state* scope = task->scope; scope; scope = scope->parent) {
        if (scope->deadline <= now) {
            scope->fired = true;
            origin = scope;
        }
        if (scope->shield) break;
    }
    SPINDLE_ASSERT(origin, "a timeout scope fired before its deadline");
    task->cancel_origin = origin;
    throw cancelled{};
}

}  // namespace spindle::detail
