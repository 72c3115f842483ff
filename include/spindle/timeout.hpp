#pragma once
// Timeouts and cancellation shields for tasks: asyncio's timeout(), Trio's fail_after /
// move_on_after and CancelScope(shield=True).
//
// A timeout scope runs a function in the calling task with a deadline. Every wait the task makes
// inside it (a channel, a lock, a join, a sleep, I/O, a wait inside a nested generator) ends once
// the deadline has passed: the wait throws spindle::cancelled, which unwinds the function like any
// cancellation, and the scope turns it into its own result — timeout_error from with_timeout(),
// an empty result from move_on_after(). A cancellation that came from elsewhere (task::cancel(),
// an outer scope whose deadline passed first) is not the scope's: it leaves the scope as
// cancelled. Scopes nest; an inner scope never extends an outer one's deadline.
//
// After the deadline, every further wait inside the scope throws again at once (as in Trio), so
// cleanup code that must wait runs inside a cancel_shield.

#include <spindle/detail/config.hpp>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/task.hpp>
#include <spindle/errors.hpp>

#include <chrono>
#include <concepts>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

SPINDLE_EXPORTS_BEGIN

namespace spindle {
namespace detail {

// cancel_scope_state is one timeout scope or shield of a task, in the frame that opened it. The
// task keeps a chain of them, innermost first.
struct cancel_scope_state {
    cancel_scope_state* parent = nullptr;
    task_record* task = nullptr;
    // deadline is this scope's own. What applies inside is the earliest deadline of the scopes
    // from the innermost out to the first shield (which leaves out those around it). A scope
    // cancelled outright (a task group whose member failed) has time_point::min().
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    bool shield = false;         // task::cancel() and outer deadlines wait until it closes
    bool blocks_cancel = false;  // this scope or one around it is a shield
    bool fired = false;          // its deadline passed while the task waited inside it
};

// enter_cancel_scope() makes `scope` the calling task's innermost scope; fiber_error outside any
// task. leave_cancel_scope() closes it again (it must be the innermost).
void enter_cancel_scope(cancel_scope_state& scope);
void leave_cancel_scope(cancel_scope_state& scope) noexcept;
// cancelled_by_scope() tells, inside a `catch (const cancelled&)`, whether the cancellation in
// flight was thrown because `scope`'s deadline passed (rather than by task::cancel(), or for an
// outer scope).
bool cancelled_by_scope(const cancel_scope_state& scope) noexcept;

// scope_entry opens a scope for the life of a block.
class scope_entry {
public:
    explicit scope_entry(cancel_scope_state& scope) : scope_(scope) { enter_cancel_scope(scope); }
    ~scope_entry() { leave_cancel_scope(scope_); }
    scope_entry(const scope_entry&) = delete;
    scope_entry& operator=(const scope_entry&) = delete;

private:
    cancel_scope_state& scope_;
};

// scoped_result_t is what a timeout scope's function returns.
template <class F>
using scoped_result_t = std::invoke_result_t<F>;

// run_in_scope() calls fn inside a scope with `deadline`; `on_timeout` makes the result when the
// scope's own deadline cancelled it.
template <class F, class OnTimeout>
auto run_in_scope(std::chrono::steady_clock::time_point deadline, F&& fn, OnTimeout on_timeout)
    -> decltype(on_timeout()) {
    cancel_scope_state scope;
    scope.deadline = deadline;
    scope_entry entry(scope);
    using Result = decltype(on_timeout());
    try {
        if constexpr (std::is_void_v<Result>) {
            std::invoke(std::forward<F>(fn));
            return;
        } else if constexpr (std::is_void_v<scoped_result_t<F>>) {
            std::invoke(std::forward<F>(fn));
            return Result(true);
        } else {
            return std::invoke(std::forward<F>(fn));
        }
    } catch (const cancelled&) {
        if (!cancelled_by_scope(scope)) throw;
    }
    return on_timeout();
}

}  // namespace detail

/// with_deadline() calls fn() in the calling task and returns what it returns; once `deadline`
/// has passed, the wait fn is in (or its next one) throws cancelled, and with_deadline() throws
/// timeout_error when that cancellation reaches it. fiber_error outside any task.
template <class F>
    requires std::invocable<F>
auto with_deadline(std::chrono::steady_clock::time_point deadline, F&& fn)
    -> detail::scoped_result_t<F> {
    using R = detail::scoped_result_t<F>;
    return detail::run_in_scope(deadline, std::forward<F>(fn), []() -> R {
        throw timeout_error("spindle: the deadline passed before the function finished");
    });
}

/// with_timeout() is with_deadline(now + duration): asyncio.timeout(), Trio's fail_after.
template <class Rep, class Period, class F>
    requires std::invocable<F>
auto with_timeout(const std::chrono::duration<Rep, Period>& duration, F&& fn)
    -> detail::scoped_result_t<F> {
    return with_deadline(detail::deadline_after(duration), std::forward<F>(fn));
}

/// move_on_at() is Trio's move_on_at: like with_deadline(), but a timeout is not an error. It
/// returns std::optional<R> (empty when the deadline cancelled fn), or, for a function returning
/// void, true when fn finished and false when the deadline cancelled it.
template <class F>
    requires std::invocable<F> && (!std::is_reference_v<detail::scoped_result_t<F>>)
auto move_on_at(std::chrono::steady_clock::time_point deadline, F&& fn) {
    using R = detail::scoped_result_t<F>;
    if constexpr (std::is_void_v<R>) {
        return detail::run_in_scope(deadline, std::forward<F>(fn), [] { return false; });
    } else {
        return detail::run_in_scope(deadline, [&]() -> std::optional<R> {
            return std::invoke(std::forward<F>(fn));
        }, [] { return std::optional<R>(); });
    }
}

/// move_on_after() is move_on_at(now + duration).
template <class Rep, class Period, class F>
    requires std::invocable<F> && (!std::is_reference_v<detail::scoped_result_t<F>>)
auto move_on_after(const std::chrono::duration<Rep, Period>& duration, F&& fn) {
    return move_on_at(detail::deadline_after(duration), std::forward<F>(fn));
}

/// cancel_shield protects cleanup code: while one is alive in a task, task::cancel() and the
/// deadlines of timeout scopes around it do not interrupt the task's waits (a cancellation stays
/// pending and is delivered at the task's first wait after the shield closes). Timeout scopes
/// opened inside the shield still apply. fiber_error outside any task.
class cancel_shield {
public:
    /// cancel_shield() shields the calling task until the object is destroyed.
    cancel_shield() : entry_(init(state_)) {}
    cancel_shield(const cancel_shield&) = delete;
    cancel_shield& operator=(const cancel_shield&) = delete;

private:
    static detail::cancel_scope_state& init(detail::cancel_scope_state& state) noexcept {
        state.shield = true;
        return state;
    }
    detail::cancel_scope_state state_;
    detail::scope_entry entry_;
};

}  // namespace spindle

SPINDLE_EXPORTS_END
