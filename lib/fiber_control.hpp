#pragma once
// The fiber layer's internals, shared with the layers above it (generator, scheduler).
//
// A fiber_control lives at the top of its fiber's stack. Every switch between contexts, whether
// a fiber's resume/suspend or the scheduler parking a task, goes through switch_context(), which
// keeps per-context exception state and tells the sanitizers.

#include "context/context.hpp"
#include "sanitizers.hpp"
#include "stack.hpp"

#include <spindle/fiber.hpp>

#include <cstdint>
#include <cstring>
#include <exception>

namespace spindle::detail {

// exception_state mirrors the C++ runtime's per-thread __cxa_eh_globals (the caught-exception
// stack and the uncaught count, libsupc++ and libc++abi alike on these targets). Swapping it on
// every switch keeps std::current_exception() and std::uncaught_exceptions() right per fiber.
struct exception_state {
    void* caught_exceptions = nullptr;
    unsigned int uncaught_exceptions = 0;
};

exception_state* fetch_thread_exception_state() noexcept;
constinit inline thread_local exception_state* cached_thread_exception_state = nullptr;

inline exception_state* thread_exception_state() noexcept {
    exception_state* state = cached_thread_exception_state;
    if (!state) [[unlikely]] state = fetch_thread_exception_state();
    return state;
}

// context_record is one suspended execution context: where its stack pointer went, and what it
// keeps apart from the thread while it is not running.
struct context_record {
    void* sp = nullptr;
    exception_state exceptions;
    sanitizer_context sanitizer;
};

// switch_context() leaves the running context (saved into `from`) for `to`, and returns the
// argument of the switch that eventually comes back. `leaving_for_good` marks a final switch.
inline void* switch_context(context_record& from, context_record& to, void* arg,
                            bool leaving_for_good = false) noexcept {
    exception_state* thread_state = thread_exception_state();
    from.exceptions = *thread_state;
    *thread_state = to.exceptions;
    before_switch(from.sanitizer, to.sanitizer, leaving_for_good);
    void* result = spindle_context_switch(&from.sp, to.sp, arg);
    after_switch(from.sanitizer);
    return result;
}

enum class fiber_state : std::uint8_t { created, suspended, running, done };

// fiber_control is a fiber's state. `entry` must stay first: the context layer's start
// convention finds the entry function at the start argument.
struct fiber_control {
    context_entry entry;
    context_record self;              // this fiber while suspended
    context_record* resumer = nullptr;  // where suspend() returns to (on the resumer's stack)
    fiber_control* parent = nullptr;  // the innermost fiber when this one was resumed
    fiber* owner = nullptr;           // the handle, for fiber::current()
    fiber_state state = fiber_state::created;
    bool unwind_requested = false;
    bool ignored_unwind = false;      // the body swallowed forced_unwind and returned
    bool is_task = false;             // a scheduler task: fiber::suspend() is refused inside
    std::exception_ptr exception;     // escaped the body; rethrown by resume()
    body_operations operations;
    void* body = nullptr;
    stack_memory stack;
    std::uint64_t id = 0;
    char name[32] = {};
};

// current_control() is the innermost running fiber or task on this thread; set_current_control()
// changes it (the scheduler does, when it parks and resumes tasks).
constinit inline thread_local fiber_control* innermost_control = nullptr;
inline fiber_control* current_control() noexcept { return innermost_control; }
inline void set_current_control(fiber_control* control) noexcept { innermost_control = control; }

// resume_control() runs a created or suspended fiber until it suspends or finishes, without
// rethrowing what escaped its body (that stays in control->exception).
void resume_control(fiber_control* control) noexcept;

// describe_fiber() writes "fiber 'name' (id N)" or "fiber id N" into buffer, for messages that
// must be built without allocating (the overflow handler's).
void describe_fiber(const fiber_control& control, char* buffer, std::size_t size) noexcept;

// install_overflow_handler() makes sure this thread reports a guard-page hit by name.
void install_overflow_handler() noexcept;

}  // namespace spindle::detail
