#pragma once
// The context layer's record and switch: internal to spindle, in a public header only because
// fiber::resume() and fiber::suspend() inline the switch (the hot path of every generator).

#include <spindle/detail/config.hpp>
#include <spindle/detail/thread_locals.hpp>

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

SPINDLE_EXPORTS_BEGIN

namespace spindle::detail {
struct context_record;
}

// The out-of-line switch of either backend (lib/context/): saves the running context into
// *from, continues *to, and returns the argument of the switch that comes back.
extern "C" void* spindle_context_switch(spindle::detail::context_record* from,
                                        spindle::detail::context_record* to,
                                        void* arg) noexcept;

namespace spindle::detail {

// context_entry is what a fresh context runs, given the argument of the first switch into it.
// That argument must point at an object whose first member is the context_entry itself.
using context_entry = void (*)(void* start);

// exception_state mirrors the C++ runtime's per-thread __cxa_eh_globals (the caught-exception
// stack and the uncaught count; the same layout in libsupc++ and libc++abi on these targets).
// Handing it over at every switch (swap_exception_state()) keeps std::current_exception() and
// std::uncaught_exceptions() right per fiber.
struct exception_state {
    void* caught_exceptions = nullptr;
    unsigned int uncaught_exceptions = 0;
    unsigned int padding = 0;
};
static_assert(sizeof(exception_state) == 16);

// fetch_thread_exception_state() finds this thread's runtime state (once per thread).
exception_state* fetch_thread_exception_state() noexcept;
struct fiber_control;  // the fiber layer's; this layer only keeps the pointer for it

// thread_switch_state is what the switch paths read of their thread. One thread-local, so that
// a switch finds it afresh (thread_locals.hpp) once, not once per field.
struct thread_switch_state {
    exception_state* exceptions = nullptr;  // this thread's runtime state, once fetched
    fiber_control* innermost = nullptr;     // the innermost running fiber (the fiber layer's)
};

// this_thread_switch_state is defined in lib/context/thread_locals.cpp and reached only through
// switch_state(): code after a switch may run on another thread than before it.
extern thread_local thread_switch_state this_thread_switch_state
    SPINDLE_THREAD_LOCAL_SYMBOL("spindle_this_thread_switch_state");

// switch_state() is this thread's thread_switch_state, its address found afresh.
inline thread_switch_state& switch_state() noexcept {
    return *SPINDLE_THREAD_LOCAL_ADDRESS(thread_switch_state, "spindle_this_thread_switch_state");
}

inline exception_state* thread_exception_state(thread_switch_state& thread) noexcept {
    exception_state* state = thread.exceptions;
    if (!state) [[unlikely]] state = fetch_thread_exception_state();
    return state;
}
inline exception_state* thread_exception_state() noexcept {
    return thread_exception_state(switch_state());
}

// known_thread_exception_state() skips the check: a context that is leaving was entered by a
// switch on this thread, which fetched the state already.
inline exception_state* known_thread_exception_state(thread_switch_state& thread) noexcept {
    return thread.exceptions;
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
// is the whole saved frame: the switch writes the stack pointer, the continuation address and the
// frame pointer here and pushes nothing on the stack (the offsets below are shared with the
// assembly). With Boost.Context only `sp` is used. The floating-point control state is not part
// of a switch (it is the thread's); its two fields are where the fiber layer keeps it for a fiber
// that has its own (save_fp_control() below).
struct context_record {
    void* sp = nullptr;                 //  0
    void* continuation = nullptr;       //  8: where the context goes on when resumed
    void* frame_pointer = nullptr;      // 16: rbp / x29, which cannot be declared clobbered
    std::uint32_t control_status = 0;   // 24: x86-64 MXCSR; AArch64 FPCR
    std::uint32_t control_word = 0;     // 28: x86-64 x87 control word (low 16 bits)
    exception_state exceptions;         // 32
    sanitizer_context sanitizer;
};
static_assert(offsetof(context_record, continuation) == 8);
static_assert(offsetof(context_record, frame_pointer) == 16);

// save_fp_control() stores the thread's floating-point control state (x86-64: MXCSR and the x87
// control word; AArch64: FPCR) in `record`; load_fp_control() makes the state saved there the
// thread's. The "memory" clobber keeps floating-point code that goes through memory on its side
// of the change.
inline void save_fp_control(context_record& record) noexcept {
#if defined(__x86_64__)
    asm volatile("stmxcsr %0\n\tfnstcw %1"
                 : "=m"(record.control_status), "=m"(record.control_word)
                 :
                 : "memory");
#elif defined(__aarch64__)
    std::uint64_t fpcr;
    asm volatile("mrs %0, fpcr" : "=r"(fpcr) : : "memory");
    record.control_status = static_cast<std::uint32_t>(fpcr);  // bits 63:32 are reserved
#endif
}

inline void load_fp_control(const context_record& record) noexcept {
#if defined(__x86_64__)
    asm volatile("ldmxcsr %0\n\tfldcw %1"
                 :
                 : "m"(record.control_status), "m"(record.control_word)
                 : "memory");
#elif defined(__aarch64__)
    asm volatile("msr fpcr, %0" : : "r"(static_cast<std::uint64_t>(record.control_status))
                 : "memory");
#endif
}

// jump() saves the running context into `from` and continues `to`; it returns the `arg` of the
// jump that eventually comes back.
inline void* jump(context_record& from, context_record& to, void* arg) noexcept {
#if SPINDLE_CONTEXT_INLINE
    return jump_context(&from, &to, arg);
#else
    return spindle_context_switch(&from, &to, arg);
#endif
}

// swap_exception_state() hands the thread's C++ exception state from the leaving context to the
// arriving one. A running context's own record holds zeros, a suspended one's holds its state:
// so when the leaving context has nothing in flight (the thread's state is zero) and the arriving
// one had nothing when it suspended (its record is zero), there is nothing to move, and nothing is
// written. Otherwise the thread's state goes into `from`, the arriving one's into the thread, and
// `to` is zeroed. Writing unconditionally was 4 stores per round trip chained through memory (each
// side's load waits for the other side's store), which cost 2 ns of a 5.5 ns fiber round trip;
// the test is 4 loads and a branch, none of which waits on a store (docs/context.md).
// move_exception_state() is the move itself; move_exception_state_rarely() is it out of line,
// for the test's rare side.
[[gnu::always_inline]] inline void move_exception_state(context_record& from, context_record& to,
                                                        exception_state* thread_state) noexcept {
    __builtin_memcpy(&from.exceptions, thread_state, sizeof(exception_state));
    __builtin_memcpy(thread_state, &to.exceptions, sizeof(exception_state));
    to.exceptions = exception_state{};
}

[[gnu::cold, gnu::noinline]] inline void move_exception_state_rarely(
    context_record& from, context_record& to, exception_state* thread_state) noexcept {
    move_exception_state(from, to, thread_state);
}

inline void swap_exception_state(context_record& from, context_record& to,
                                 exception_state* thread_state) noexcept {
#if SPINDLE_CONTEXT_FCONTEXT
    // Through Boost's jump_fcontext the test measured slower than the stores (a fiber round trip
    // 51.7 ns against 42.3, the same instruction count; the cause was not found), so that
    // backend keeps moving the state every time, by the same rule.
    move_exception_state(from, to, thread_state);
#else
    std::uint64_t leaving[2];
    std::uint64_t arriving[2];
    __builtin_memcpy(leaving, thread_state, sizeof leaving);
    __builtin_memcpy(arriving, &to.exceptions, sizeof arriving);
    if ((leaving[0] | leaving[1] | arriving[0] | arriving[1]) != 0) [[unlikely]]
        move_exception_state_rarely(from, to, thread_state);
#endif
}

// thread_has_exception_state() tells whether the thread's C++ exception state is other than
// empty: an exception caught and being handled, or one unwinding the stack.
inline bool thread_has_exception_state(const exception_state* thread_state) noexcept {
    std::uint64_t words[2];
    __builtin_memcpy(words, thread_state, sizeof words);
    return (words[0] | words[1]) != 0;
}

// take_back_exception_state() is the end of a switch whose other side left the exception state
// in `record` (a fiber's suspension that had none of its own to hand over, see
// fiber_control.hpp): the state saved there becomes the thread's again.
inline void take_back_exception_state(context_record& record,
                                      exception_state* thread_state) noexcept {
    std::uint64_t words[2];
    __builtin_memcpy(words, &record.exceptions, sizeof words);
    if ((words[0] | words[1]) != 0) [[unlikely]] {
        __builtin_memcpy(thread_state, words, sizeof words);
        record.exceptions = exception_state{};
    }
}

// switch_context_unannotated() leaves the running context (saved into `from`) for `to`, with
// the exception state following each context. The library's switch_context() adds the
// sanitizer annotations around it when built with them.
inline void* switch_context_unannotated(context_record& from, context_record& to, void* arg,
                                        exception_state* thread_state) noexcept {
    swap_exception_state(from, to, thread_state);
    return jump(from, to, arg);
}

// jump_without_argument() is jump() to a context that ignores the argument, whose answer the
// leaving side ignores too (a suspension): with the inline switch no register is set for it.
// The exception state is the caller's business.
inline void jump_without_argument(context_record& from, context_record& to) noexcept {
#if SPINDLE_CONTEXT_INLINE
    jump_context(&from, &to);
#else
    spindle_context_switch(&from, &to, nullptr);
#endif
}

}  // namespace spindle::detail

SPINDLE_EXPORTS_END
