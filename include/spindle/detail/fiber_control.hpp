#pragma once
// A fiber's state and its inline resume and suspend: internal to spindle, in a public header
// only because fiber::resume() and fiber::suspend() are inline (the hot path of every generator).

#include <spindle/detail/config.hpp>
#include <spindle/detail/assert.hpp>
#include <spindle/detail/context.hpp>
#include <spindle/detail/stack_memory.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>

SPINDLE_EXPORTS_BEGIN

namespace spindle {
class fiber;
}

namespace spindle::detail {

// body_operations erases a fiber body's type: how to run it and how to destroy it.
struct body_operations {
    void (*run)(void* body);
    void (*destroy)(void* body) noexcept;
};

// fiber_state orders the states so that "resumable" is one comparison.
enum class fiber_state : std::uint8_t { created, suspended, running, done };

// resume_flag says why a fiber must be resumed out of line, a bit each in
// fiber_control::resume_flags: `own_fp_flag`, it keeps its own FP control state
// (fp_control::own); `saved_exceptions_flag`, it suspended with C++ exception state of its own
// (inside a catch block, or while unwinding), which its `self` record holds.
enum resume_flag : std::uint8_t { own_fp_flag = 1, saved_exceptions_flag = 2 };

// wake_request is what a fiber's resumer may ask of it besides going on, a bit each in
// fiber_control::requests, so that the suspended side tests them all with one comparison:
// `unwind_request` (the fiber layer's: throw forced_unwind from the suspension point) and
// `raise_request` (the layer above's: a generator's raise()).
enum wake_request : std::uint8_t { unwind_request = 1, raise_request = 2 };

// fiber_label is how the layer that made a fiber for its own use (a generator's body, a
// scheduler's task) names it in messages, so that the fiber layer need not know those layers.
// `kind` says what it is ("generator"); `own_numbering` says the layer replaced the fiber's id
// by its own number (a task's id), which messages then show as "kind N" instead of
// "kind (fiber N)". `suspend_advice`, for a fiber the layer runs itself (no fiber handle, so
// fiber::suspend() is refused inside it), tells the user what to call instead.
struct fiber_label {
    const char* kind;
    bool own_numbering;
    const char* suspend_advice = nullptr;
};

// fiber_control is a fiber's state, at the top of its stack. `entry` must stay first (the
// context layer's start convention).
struct fiber_control {
    context_entry entry = nullptr;
    context_record self;                // this fiber while suspended
    context_record caller;              // whoever resumed it through fiber::resume()
    context_record* resumer = nullptr;  // where suspend() goes back to: &caller, set once at
                                        // creation, unless a layer above hosts the fiber
    fiber_control* parent = nullptr;    // the innermost fiber when this one was resumed
    fiber* owner = nullptr;             // the handle, for fiber::current(); none when the
                                        // layer above runs the fiber itself (a task)
    const fiber_label* label = nullptr;  // set by the layer above; none for a plain fiber
    fiber_state state = fiber_state::created;
    std::uint8_t resume_flags = 0;      // resume_flag bits; must follow `state` (resume_gate)
    std::uint8_t requests = 0;          // wake_request bits, cleared by whoever honours them
    bool ignored_unwind = false;        // the body swallowed forced_unwind and returned
    std::exception_ptr exception;       // escaped the body; rethrown by resume()
    body_operations operations{};
    void* body = nullptr;
    stack_memory stack;
    std::uint64_t id = 0;
    const char* origin_file = nullptr;  // where the layer above made it (a task's spawn site),
    std::uint32_t origin_line = 0;      // for crash reports; none for a plain fiber
    char name[32];                      // set_name(); name[0] is zeroed on creation
};

static_assert(offsetof(fiber_control, resume_flags) == offsetof(fiber_control, state) + 1);
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "resume_gate() reads two bytes as one");

// resume_gate() reads a fiber's state and its resume_flags byte as one little-endian word. A
// fiber that can be resumed by the inline path reads at most fiber_state::suspended, so one
// comparison sends everything else (finished, running, keeping its own FP control state, or
// holding saved exception state) down the slow path: the common fiber pays no extra branch for
// those.
inline std::uint16_t resume_gate(const fiber_control* control) noexcept {
    std::uint16_t gate;
    __builtin_memcpy(&gate, &control->state, sizeof gate);
    return gate;
}
inline constexpr std::uint16_t inline_resumable = static_cast<std::uint16_t>(fiber_state::suspended);

// mark_suspended() is the suspending side's state change. It writes the whole word resume_gate()
// reads, resume_flags cleared: the resumer's next test then loads what one store wrote, which
// the CPU forwards from its store buffer (a byte store under a two-byte load stalls the load until
// the store retires: measured, 1.4 ns per element of a generator). A fiber with its own FP state
// always suspends into its resumer's out-of-line path, which sets its flag again before anything
// else can look at it (resume_annotated()); a suspension with exception state sets its own flag.
inline void mark_suspended(fiber_control* control) noexcept {
    const std::uint16_t word = static_cast<std::uint16_t>(fiber_state::suspended);
    __builtin_memcpy(&control->state, &word, sizeof word);
}

// resume_annotated() is the out-of-line resume (fiber.cpp): FP control state, exception state,
// and the sanitizers' annotations when the library is built with them.
void resume_annotated(fiber_control* control) noexcept;

// current_control() is the innermost running fiber on this thread (a task's own included),
// kept in the thread's switch_state() (read afresh: code after a switch may be on another
// thread); set_current_control() changes it.
inline fiber_control* current_control() noexcept { return switch_state().innermost; }
inline void set_current_control(fiber_control* control) noexcept {
    switch_state().innermost = control;
}

// The exception state on the inline paths. The generic switch (switch_context) hands the C++
// exception state over by testing both sides (swap_exception_state()). Between a fiber and its
// resumer the inline paths test only the thread's, because the other side is known:
// - a fiber the gate lets through holds no saved state (saved_exceptions_flag is clear), so a
//   resume with none in flight on the thread (the common case) moves nothing; a resume with some
//   goes out of line (resume_annotated(), which moves it into the `caller` record and takes it
//   back after the fiber suspends);
// - a suspension with none of the fiber's own in flight moves nothing either: the `caller`
//   record is empty unless the resume went out of line, and then that path takes the resumer's
//   state back itself; a suspension with some moves it into `self`, gives the thread the
//   resumer's, and flags the fiber so that its next resume goes out of line and takes it back.
// Testing both sides' state at every switch cost 0.4–0.6 ns of a 4 ns round trip.

// enter_fiber() runs a created or suspended fiber until it suspends or finishes.
inline void enter_fiber(fiber_control* control) noexcept {
    SPINDLE_ASSERT(control->state <= fiber_state::suspended && !control->resume_flags,
                   "a fiber entered inline while not resumable there");
    SPINDLE_ASSERT(control->resumer == &control->caller, "a hosted fiber entered as a plain one");
    thread_switch_state& thread = switch_state();
    exception_state* const thread_state = thread_exception_state(thread);
    if (thread_has_exception_state(thread_state)) [[unlikely]]
        return resume_annotated(control);
    // Stored only when it changes (a consumer resumes the same generator from the same place
    // again and again): an unconditional store made the innermost-fiber pointer and `parent` one
    // chain through memory across each round trip, the suspension's load of `parent` waiting for
    // this store and this load of the innermost fiber for the suspension's store.
    fiber_control* const parent = thread.innermost;
    if (control->parent != parent) control->parent = parent;
    control->state = fiber_state::running;
    thread.innermost = control;
    jump(control->caller, control->self, control);
}

// leave_fiber() suspends the running fiber back to whoever resumed it; `thread` is the thread's
// switch_state(), which the caller found to check that the fiber is the running one.
inline void leave_fiber(fiber_control* control, thread_switch_state& thread) noexcept {
    SPINDLE_ASSERT(control->state == fiber_state::running && thread.innermost == control,
                   "a fiber suspended while not the running one");
    mark_suspended(control);
    thread.innermost = control->parent;
    exception_state* const thread_state = known_thread_exception_state(thread);
    if (thread_has_exception_state(thread_state)) [[unlikely]] {
        move_exception_state_rarely(control->self, *control->resumer, thread_state);
        control->resume_flags = saved_exceptions_flag;
    }
    jump_without_argument(control->self, *control->resumer);
}

}  // namespace spindle::detail

SPINDLE_EXPORTS_END
