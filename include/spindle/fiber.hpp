#pragma once
// fiber: a stackful coroutine, resumed explicitly.
//
// A fiber runs its body on a stack of its own. resume() runs it until the body calls
// fiber::suspend() or returns; suspend() may be called from any depth of ordinary calls. The body
// object lives at the top of the fiber's stack, so creating a fiber costs one pooled stack and no
// heap allocation.

#include <spindle/detail/config.hpp>
#include <spindle/detail/fiber_control.hpp>
#include <spindle/errors.hpp>
#include <spindle/stack.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

// The switch is inlined into resume() and suspend() when the library uses the hand-written
// switch, is not built with a sanitizer, and the including translation unit is not compiled with
// AddressSanitizer or ThreadSanitizer. A sanitizer must see every switch: the library's annotated
// path tells it, from an ordinary library build too (the library calls the sanitizer's hooks when
// the program has its runtime; lib/context/sanitizers.hpp). So a program built with
// -fsanitize=address or -fsanitize=thread works against the installed, unsanitized library,
// provided every translation unit that includes spindle is compiled with the same flag: the
// inline functions that differ (resume(), suspend() and the generator's switches) must have one
// body in the program, and the library itself defines none of them (scripts/test checks).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SPINDLE_SANITIZED_TRANSLATION_UNIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SPINDLE_SANITIZED_TRANSLATION_UNIT 1
#endif
#endif
#ifndef SPINDLE_SANITIZED_TRANSLATION_UNIT
#define SPINDLE_SANITIZED_TRANSLATION_UNIT 0
#endif

#if SPINDLE_CONTEXT_INLINE && !SPINDLE_BUILT_WITH_SANITIZERS && !SPINDLE_SANITIZED_TRANSLATION_UNIT
#define SPINDLE_INLINE_FIBER_SWITCH 1
#else
#define SPINDLE_INLINE_FIBER_SWITCH 0
#endif

SPINDLE_EXPORTS_BEGIN

namespace spindle {

class fiber;

/// fp_control says whose the floating-point control state is inside a fiber, generator or task:
/// the rounding mode, the exception masks and flush-to-zero (x86-64 MXCSR control bits and x87
/// control word, AArch64 FPCR).
enum class fp_control : unsigned char {
    /// thread (the default): the state is the thread's, as across a C++20 coroutine's resume();
    /// a switch leaves it alone. Code that changes it inside a fiber restores it before it
    /// suspends, as a function restores it before it returns. Costs nothing.
    thread,
    /// own: the fiber keeps a state of its own, starting as its creator's: each resume saves the
    /// resumer's and loads the fiber's, and the fiber's suspension saves its own and gives the
    /// resumer back its state. Costs about 5 ns per resume and suspend on x86-64.
    own,
};

namespace detail {

/// forced_unwind is what a suspended fiber sees thrown from its suspension point when it is
/// destroyed, reassigned or closed. A `catch (...)` that sees it must rethrow it.
struct forced_unwind {};

template <class Body>
inline constexpr body_operations body_operations_for{
    [](void* body) { (*static_cast<Body*>(body))(); },
    [](void* body) noexcept { static_cast<Body*>(body)->~Body(); },
};

/// create_fiber() takes a stack and lays out the control block and room for the body at its top;
/// abandon_fiber() gives back one whose body could not be constructed.
fiber_control* create_fiber(const stack_options& options, std::size_t body_size,
                            std::size_t body_alignment, const body_operations& operations,
                            fp_control fp = fp_control::thread);
void abandon_fiber(fiber_control* control) noexcept;
inline void* body_storage(fiber_control* control) noexcept { return control->body; }

/// create_fiber_with() makes a fiber whose body object, of type Body, is constructed from `args`
/// in the room at the top of its stack, and gives the stack back if that construction throws.
template <class Body, class... Args>
fiber_control* create_fiber_with(const stack_options& options, fp_control fp,
                                 const body_operations& operations, Args&&... args) {
    fiber_control* control = create_fiber(options, sizeof(Body), alignof(Body), operations, fp);
    try {
        ::new (body_storage(control)) Body(std::forward<Args>(args)...);
    } catch (...) {
        abandon_fiber(control);
        throw;
    }
    return control;
}
inline void set_owner(fiber_control* control, fiber* owner) noexcept { control->owner = owner; }

// The out-of-line ends of resume() and suspend(): misuse, rethrowing, and the annotated switch.
// resume_slow() takes what resume_gate() sends off the inline path: it throws fiber_error for a
// fiber that cannot be resumed, and resumes out of line one with its own FP control state or
// with saved exception state (resume_flags).
void resume_slow(fiber_control* control);
[[noreturn]] void rethrow_escaped(fiber_control* control);
[[noreturn]] void refuse_suspend(const fiber_control* control);
void resume_annotated(fiber_control* control) noexcept;
void suspend_annotated(fiber_control* control) noexcept;

/// unwind_outcome says how a suspended fiber took an unwind request.
enum class unwind_outcome {
    unwound,          // it finished (or had never started)
    ignored_return,   // the body swallowed forced_unwind and returned normally
    ignored_suspend,  // the body swallowed forced_unwind and suspended again
};

/// fiber_access is the door for layers above fiber (generator, scheduler) to reach what users
/// should not: unwinding with a report instead of a stop.
struct fiber_access {
    /// unwind() unwinds a suspended fiber from its suspension point. An exception other than
    /// forced_unwind that escapes the body while unwinding is rethrown.
    static unwind_outcome unwind(fiber& f);
    static fiber_control* control(const fiber& f) noexcept;
    /// adopt() makes the empty handle `f` own a fiber made with create_fiber(), whose body the
    /// layer above constructed itself.
    static void adopt(fiber& f, fiber_control* control) noexcept;
};

}  // namespace detail

/// fiber is a move-only handle to a stackful coroutine.
class fiber {
public:
    /// fiber() makes an empty fiber: it holds no body and is done().
    fiber() noexcept = default;

    /// fiber(body, options, fp) makes a fiber that will run body() on a stack of its own when
    /// first resumed. Nothing runs yet. `fp` says whether the fiber keeps floating-point control
    /// state of its own (see fp_control).
    template <class F>
        requires(!std::same_as<std::remove_cvref_t<F>, fiber> &&
                 std::invocable<std::decay_t<F>&>)
    explicit fiber(F&& body, stack_options options = {}, fp_control fp = fp_control::thread) {
        using Body = std::decay_t<F>;
        control_ = detail::create_fiber_with<Body>(options, fp, detail::body_operations_for<Body>,
                                                   std::forward<F>(body));
        detail::set_owner(control_, this);
    }

    /// fiber(other) takes other's fiber, leaving other empty.
    fiber(fiber&& other) noexcept;
    /// operator=() unwinds the fiber this one held, if it was suspended, before taking other's.
    fiber& operator=(fiber&& other) noexcept;
    /// ~fiber() unwinds a suspended fiber first: destructors on its stack run.
    ~fiber();

    /// resume() runs the fiber until its body suspends or returns. An exception that escapes the
    /// body is rethrown here, and the fiber is then done. Throws fiber_error on an empty or
    /// finished fiber, and on one that is running (itself, or one of those that resumed it).
    void resume();

    /// done() tells whether the body has returned or thrown (an empty fiber is done).
    bool done() const noexcept;
    /// operator bool() is !done(): whether the fiber can still be resumed.
    explicit operator bool() const noexcept { return !done(); }

    /// id() is a number unique to this fiber within the process (0 for an empty fiber).
    std::uint64_t id() const noexcept;
    /// set_name() names the fiber in error messages (such as a stack overflow, which reads
    /// "fiber N 'name'" with N its id(), and names the fibers or task it runs inside); up to 31
    /// bytes are kept.
    void set_name(std::string_view name);
    /// name() is the name set_name() gave, or empty.
    std::string_view name() const noexcept;

    /// suspend() returns from inside a fiber to whoever called resume(). Throws fiber_error
    /// outside any fiber, and where the innermost running fiber has no fiber handle because the
    /// layer that made it runs it itself (a scheduled task, which gives up the thread with
    /// this_fiber::yield()).
    static void suspend();

    /// current() is the innermost running fiber, or nullptr (also inside a scheduled task that
    /// runs no fiber of its own).
    static fiber* current() noexcept;

private:
    friend struct detail::fiber_access;
    void release() noexcept;

    detail::fiber_control* control_ = nullptr;
};

namespace detail {

/// resume_checked_fiber() is resume() after its misuse checks, for layers that made them (the
/// control is a created or suspended fiber whose resume_gate() passed).
inline void resume_checked_fiber(fiber_control* control) {
#if SPINDLE_INLINE_FIBER_SWITCH
    enter_fiber(control);
#else
    resume_annotated(control);
#endif
    if (control->exception) [[unlikely]]
        rethrow_escaped(control);
}

/// suspend_checked_fiber() is suspend() after its misuse checks (the control is the running
/// fiber, not a task).
inline void suspend_checked_fiber(fiber_control* control,
                                  [[maybe_unused]] thread_switch_state& thread) {
#if SPINDLE_INLINE_FIBER_SWITCH
    leave_fiber(control, thread);
#else
    suspend_annotated(control);
#endif
    if (control->requests & unwind_request) [[unlikely]]
        throw forced_unwind{};
}

inline fiber_control* fiber_access::control(const fiber& f) noexcept { return f.control_; }
inline void fiber_access::adopt(fiber& f, fiber_control* control) noexcept {
    SPINDLE_ASSERT(!f.control_ && control->state == fiber_state::created,
                   "a fiber adopted by a handle that holds one, or not fresh");
    f.control_ = control;
    set_owner(control, &f);
}

}  // namespace detail

inline void fiber::resume() {
    detail::fiber_control* control = control_;
    if (!control || detail::resume_gate(control) > detail::inline_resumable) [[unlikely]]
        return detail::resume_slow(control);
    detail::resume_checked_fiber(control);
}

inline void fiber::suspend() {
    detail::thread_switch_state& thread = detail::switch_state();
    detail::fiber_control* control = thread.innermost;
    if (!control || !control->owner) [[unlikely]]
        detail::refuse_suspend(control);
    detail::suspend_checked_fiber(control, thread);
}

inline bool fiber::done() const noexcept {
    return !control_ || control_->state == detail::fiber_state::done;
}

inline fiber* fiber::current() noexcept {
    detail::fiber_control* control = detail::current_control();
    return control ? control->owner : nullptr;
}

}  // namespace spindle

SPINDLE_EXPORTS_END
