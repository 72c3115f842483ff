#pragma once
// A fiber's state and the switch between contexts: internal to spindle, in a public header only
// because fiber::resume() and fiber::suspend() are inline (the hot path of every generator).

#include <spindle/detail/config.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>

#if SPINDLE_CONTEXT_INLINE
#if defined(__x86_64__)
#include <spindle/detail/context_x86_64_sysv.hpp>
#elif defined(__aarch64__)
#include <spindle/detail/context_arm64_aapcs.hpp>
#else
#error "spindle was built with the assembly switch, which this target does not have"
#endif
#endif

namespace spindle {
class fiber;
namespace detail {
struct context_record;
}
}  // namespace spindle

// The out-of-line switch of either backend (lib/context/): saves the running context into
// *from, continues *to, and returns the argument of the switch that comes back.
extern "C" void* spindle_context_switch(spindle::detail::context_record* from,
                                        spindle::detail::context_record* to,
                                        void* arg) noexcept;

namespace spindle::detail {

// context_entry is what a fresh context runs, given the argument of the first switch into it.
// That argument must point at an object whose first member is the context_entry itself.
using context_entry = void (*)(void* start);

// body_operations erases a fiber body's type: how to run it and how to destroy it.
struct body_operations {
    void (*run)(void* body);
    void (*destroy)(void* body) noexcept;
};

// exception_state mirrors the C++ runtime's per-thread __cxa_eh_globals (the caught-exception
// stack and the uncaught count; the same layout in libsupc++ and libc++abi on these targets).
// Swapping it on every switch keeps std::current_exception() and std::uncaught_exceptions()
// right per fiber. 16 bytes, so a swap is two vector moves each way.
struct exception_state {
    void* caught_exceptions = nullptr;
    unsigned int uncaught_exceptions = 0;
    unsigned int padding = 0;
};
static_assert(sizeof(exception_state) == 16);

// fetch_thread_exception_state() finds this thread's runtime state (once per thread).
exception_state* fetch_thread_exception_state() noexcept;
constinit inline thread_local exception_state* cached_thread_exception_state = nullptr;

inline exception_state* thread_exception_state() noexcept {
    exception_state* state = cached_thread_exception_state;
    if (!state) [[unlikely]] state = fetch_thread_exception_state();
    return state;
}

// known_thread_exception_state() skips the check: a context that is leaving was entered by a
// switch on this thread, which fetched the state already.
inline exception_state* known_thread_exception_state() noexcept {
    return cached_thread_exception_state;
}

// sanitizer_context is what AddressSanitizer, ThreadSanitizer and Valgrind need to know of a
// context; unused unless the library is built with them (the layout never changes).
struct sanitizer_context {
    const void* stack_bottom = nullptr;
    std::size_t stack_size = 0;
    void* fake_stack = nullptr;
    void* tsan_fiber = nullptr;
    unsigned valgrind_stack_id = 0;
};

// context_record is one suspended execution context. With the hand-written switch, the record
// is the whole saved frame: the switch writes the stack pointer, the continuation address, the
// frame pointer and the floating-point control state here and pushes nothing on the stack (the
// offsets below are shared with the assembly). With Boost.Context only `sp` is used.
struct context_record {
    void* sp = nullptr;                 //  0
    void* continuation = nullptr;       //  8: where the context goes on when resumed
    void* frame_pointer = nullptr;      // 16: rbp / x29, which cannot be declared clobbered
    std::uint32_t control_status = 0;   // 24: x86-64 MXCSR
    std::uint32_t control_word = 0;     // 28: x86-64 x87 control word (low 16 bits)
    exception_state exceptions;         // 32
    sanitizer_context sanitizer;
};
static_assert(offsetof(context_record, continuation) == 8);
static_assert(offsetof(context_record, frame_pointer) == 16);
static_assert(offsetof(context_record, control_status) == 24);
static_assert(offsetof(context_record, control_word) == 28);

// jump() saves the running context into `from` and continues `to`; it returns the `arg` of the
// jump that eventually comes back.
inline void* jump(context_record& from, context_record& to, void* arg) noexcept {
#if SPINDLE_CONTEXT_INLINE
    return jump_context(&from, &to, arg);
#else
    return spindle_context_switch(&from, &to, arg);
#endif
}

// switch_context_unannotated() leaves the running context (saved into `from`) for `to`, with
// the exception state following each context. The library's switch_context() adds the
// sanitizer annotations around it when built with them.
inline void* switch_context_unannotated(context_record& from, context_record& to, void* arg,
                                        exception_state* thread_state) noexcept {
    __builtin_memcpy(&from.exceptions, thread_state, sizeof(exception_state));
    __builtin_memcpy(thread_state, &to.exceptions, sizeof(exception_state));
    return jump(from, to, arg);
}

// fiber_state orders the states so that "resumable" is one comparison.
enum class fiber_state : std::uint8_t { created, suspended, running, done };

// stack_guard_region is the size of a guarded stack's guard region (see stack_guard): 64 KiB, a
// whole number of pages at every page size Linux has (4, 16, 64 KiB).
inline constexpr std::size_t stack_guard_region = 64 * 1024;

// stack_memory is one mapped stack: from base up, the guard region (when guarded), then the
// writable part up to top(). The fiber's control block and body sit at the top; below them the
// body's frames have at least `usable` bytes before the guard.
struct stack_memory {
    std::byte* base = nullptr;  // lowest mapped address, guard region included
    std::size_t mapped = 0;     // bytes mapped, guard region included
    std::size_t usable = 0;     // bytes of stack the body is guaranteed (stack_options::size)
    bool guarded = false;

    std::byte* top() const noexcept { return base + mapped; }
    // usable_bottom() is the lowest writable address, right above the guard region.
    std::byte* usable_bottom() const noexcept {
        return base + (guarded ? stack_guard_region : 0);
    }
    // writable() is the size of the writable part: the body's stack, its control block and body.
    std::size_t writable() const noexcept {
        return static_cast<std::size_t>(top() - usable_bottom());
    }
    explicit operator bool() const noexcept { return base != nullptr; }
};

// fiber_label is how the layer that made a fiber for its own use (a generator's body, a
// scheduler's task) names it in messages, so that the fiber layer need not know those layers.
// `kind` says what it is ("generator"); `own_numbering` says the layer replaced the fiber's id
// by its own number (a task's id), which messages then show as "kind N" instead of
// "kind (fiber N)".
struct fiber_label {
    const char* kind;
    bool own_numbering;
};

// fiber_control is a fiber's state, at the top of its stack. `entry` must stay first (the
// context layer's start convention).
struct fiber_control {
    context_entry entry = nullptr;
    context_record self;                // this fiber while suspended
    context_record caller;              // whoever resumed it through fiber::resume()
    context_record* resumer = nullptr;  // where suspend() goes back to
    fiber_control* parent = nullptr;    // the innermost fiber when this one was resumed
    fiber* owner = nullptr;             // the handle, for fiber::current()
    const fiber_label* label = nullptr;  // set by the layer above; none for a plain fiber
    fiber_state state = fiber_state::created;
    bool unwind_requested = false;
    bool ignored_unwind = false;        // the body swallowed forced_unwind and returned
    bool is_task = false;               // a scheduler task: fiber::suspend() is refused inside
    std::exception_ptr exception;       // escaped the body; rethrown by resume()
    body_operations operations{};
    void* body = nullptr;
    stack_memory stack;
    std::uint64_t id = 0;
    char name[32];                      // set_name(); name[0] is zeroed on creation
};

// innermost_control is the innermost running fiber or task on this thread.
constinit inline thread_local fiber_control* innermost_control = nullptr;

inline fiber_control* current_control() noexcept { return innermost_control; }
inline void set_current_control(fiber_control* control) noexcept { innermost_control = control; }

// enter_fiber() runs a created or suspended fiber until it suspends or finishes.
inline void enter_fiber(fiber_control* control) noexcept {
    control->parent = innermost_control;
    control->resumer = &control->caller;
    control->state = fiber_state::running;
    innermost_control = control;
    switch_context_unannotated(control->caller, control->self, control,
                               thread_exception_state());
}

// leave_fiber() suspends the running fiber back to whoever resumed it.
inline void leave_fiber(fiber_control* control) noexcept {
    control->state = fiber_state::suspended;
    innermost_control = control->parent;
    switch_context_unannotated(control->self, *control->resumer, nullptr,
                               known_thread_exception_state());
}

}  // namespace spindle::detail
