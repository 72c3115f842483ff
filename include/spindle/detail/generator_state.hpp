#pragma once
// The state a generator shares with its body's yielder, and the generator protocol's checks.
//
// The state lives on the heap, apart from the movable generator handle, so the fiber it holds
// and the pointers the body keeps to it stay put when the handle moves. Nothing is copied through
// it: the body publishes a pointer to the object it yields, the consumer publishes a pointer to
// the value it sends, and each side reads through the other's pointer while the other is
// suspended.

#include <spindle/detail/config.hpp>
#include <spindle/errors.hpp>
#include <spindle/fiber.hpp>

#include <exception>
#include <optional>
#include <type_traits>

SPINDLE_EXPORTS_BEGIN

namespace spindle::detail {

// generator_misuse names each misuse of a generator that throws fiber_error.
enum class generator_misuse {
    reentered,               // next/send/raise/close from inside the generator's own body
    running_elsewhere,       // next/send/raise/close while another task or thread runs it
    send_before_start,       // send() before the first next()
    result_unavailable,      // result() before the body returned
    ignored_close,           // the body caught close()'s unwinding and yielded again
    yield_outside_body,      // a yielder called from a fiber other than its generator's
    suspended_without_yield, // the body called fiber::suspend() itself
    sent_to_range,           // send() while the body delegated to a plain range
    raise_without_exception, // raise() with an empty exception_ptr
    dereferenced_end,        // *it or it-> on an iterator that equals end()
};

// throw_generator_error() throws the fiber_error that explains `what`.
[[noreturn]] void throw_generator_error(generator_misuse what);

// generator_core is the part of a generator's state that does not depend on its types.
struct generator_core {
    fiber body;                        // runs the generator's body; never moves
    std::exception_ptr pending_raise;  // raise() leaves it (with a raise_request) for the yield
    bool finished = false;             // the body returned, threw, or was closed
};

// generator_started() tells whether the body has been resumed at least once: its fiber has left
// the created state (a generator closed before it started is finished, not started).
inline bool generator_started(const generator_core& core) noexcept {
    return fiber_access::control(core.body)->state != fiber_state::created;
}

// generator_body_label names a generator's body fiber in the fiber layer's messages (a stack
// overflow): "generator (fiber N)", and the task or fiber it ran in after it.
inline constexpr fiber_label generator_body_label{"generator", false};

// label_generator_body() marks the body's fiber as a generator's, once it is made.
inline void label_generator_body(generator_core& core) noexcept {
    fiber_access::control(core.body)->label = &generator_body_label;
}

// generator_running() tells whether a resume or close of this generator is under way: its
// body's fiber is running exactly then (a close unwinds it by resuming it).
inline bool generator_running(const generator_core& core) noexcept {
    const fiber_control* control = fiber_access::control(core.body);
    return control && control->state == fiber_state::running;
}

// close_generator() is Python's close(): it unwinds a suspended body from its yield, and marks
// a generator that never started, or has finished, as finished. An exception other than the
// unwinding that escapes the body propagates.
void close_generator(generator_core& core);

// close_on_destruction() closes a generator whose handle is going away. As in Python, an
// exception raised while closing is reported on stderr and otherwise ignored; a body that
// yields again cannot be ignored (its frames are still live) and stops the process.
void close_on_destruction(generator_core& core) noexcept;

// not_a_parameter stands in for a parameter type a generator's template arguments rule out
// (a void yield or send type), so that the constrained-away member can still be declared.
template <int>
struct not_a_parameter {};

// yielded_object is the type of the object a yield refers to: Y itself without cv for a value
// type, the referenced type for a reference, nothing for void.
template <class Y>
using yielded_object =
    std::conditional_t<std::is_void_v<Y>, not_a_parameter<0>,
                       std::conditional_t<std::is_reference_v<Y>, std::remove_reference_t<Y>,
                                          std::remove_cv_t<Y>>>;

// yielded_reference is how the consumer takes the yielded object: a value type is moved from
// (the body gave it away), a reference type is passed on as it is.
template <class Y>
using yielded_reference =
    std::conditional_t<std::is_reference_v<Y>, Y, std::add_rvalue_reference_t<yielded_object<Y>>>;

// sent_value is the type send() takes, or a stand-in when S is void.
template <class S>
using sent_value = std::conditional_t<std::is_void_v<S>, not_a_parameter<1>, S>;

// yield_result is what a yield returns: the sent value, if any, or nothing when S is void.
template <class S>
using yield_result = std::conditional_t<std::is_void_v<S>, void, std::optional<sent_value<S>>>;

// generator_channel is the state a yielder<Y, S> reaches: where the yielded object and the sent
// value are.
template <class Y, class S>
struct generator_channel : generator_core {
    yielded_object<Y>* yielded = nullptr;
    sent_value<S>* sent = nullptr;
};

// finish_marker marks the generator finished however its body leaves: by returning, throwing,
// or being unwound. It clears the yielded pointer too, so that an iterator dereferenced at
// end() finds no object rather than a dead one.
template <class Y, class S>
struct finish_marker {
    generator_channel<Y, S>& channel;
    ~finish_marker() {
        channel.finished = true;
        channel.yielded = nullptr;
    }
};

// no_object is what a yield of nothing (Y = void) points at: a yield always leaves a non-null
// pointer, so that the pointer alone says whether the body stopped at a yield.
inline constinit not_a_parameter<0> no_object;

// refuse_running_generator() throws the fiber_error for resuming or closing a generator that
// is running: `reentered` when it runs on the caller's own chain of resumes (the caller is
// inside it), `running_elsewhere` when another task, parked inside its body, or another thread
// runs it.
[[noreturn]] void refuse_running_generator(const generator_core& core);

// resume_generator_slow() takes what resume_gate() sends off the inline path: it leaves a
// finished generator alone, refuses a running one, and resumes out of line one whose body keeps
// its own FP control state or saved exception state (rethrowing what escapes the body).
void resume_generator_slow(generator_core& core);

// generator_stopped() is the end of a resume after which the body did not stop at a yield: it
// rethrows the exception that escaped the body, returns if the body finished, and otherwise
// refuses a body that suspended without yielding (fiber::suspend() called in it).
void generator_stopped(generator_core& core);

// resume_generator() runs the body from where it stopped to its next yield or its end. An
// exception that escapes the body propagates; the generator is then finished. The yielded
// pointer is cleared first and set by the yield, so one test afterwards tells the common case
// (the body stopped at a yield) from every other (it finished, it threw, it misused suspend());
// and it is the same test the iterator makes before it dereferences it and at the loop's end,
// which lets the compiler drop those.
template <class Y, class S>
inline void resume_generator(generator_channel<Y, S>& channel) {
    fiber_control* control = fiber_access::control(channel.body);
    channel.yielded = nullptr;
    if (resume_gate(control) > inline_resumable) [[unlikely]] {
        resume_generator_slow(channel);
    } else {
#if SPINDLE_INLINE_FIBER_SWITCH
        enter_fiber(control);
#else
        resume_annotated(control);
#endif
    }
    if (!channel.yielded) [[unlikely]]
        generator_stopped(channel);
}

// honour_generator_requests() is the end of a yield whose consumer asked for more than going
// on: close() (forced_unwind) or raise() (the pending exception), thrown from the yield.
[[noreturn]] void honour_generator_requests(generator_core& core, fiber_control* control);

// result_slot keeps the body's return value once it has returned.
template <class R>
struct result_slot {
    std::optional<R> value;
};
template <>
struct result_slot<void> {};

// generator_state is all of a generator's state. It lives in its body fiber's stack, at the top
// (generator_frame), so its `body` handle sits in the memory it owns: the generator moves the
// handle out before it destroys the state (release_generator_state()).
template <class Y, class S, class R>
struct generator_state : generator_channel<Y, S> {
    [[no_unique_address]] result_slot<R> result;

    generator_state() = default;
    generator_state(const generator_state&) = delete;
    generator_state& operator=(const generator_state&) = delete;
};

// generator_frame is what a generator puts at the top of its body fiber's stack, where a plain
// fiber keeps its body object: the state, which lasts as long as the generator, and the body
// callable, which the fiber destroys when the body ends (generator::frame_operations). So making
// a generator takes one pooled stack and no heap allocation.
template <class Y, class S, class R, class F>
struct generator_frame {
    generator_state<Y, S, R> state;
    union {
        F run;  // constructed with the frame, destroyed by the fiber layer
    };

    template <class G>
    explicit generator_frame(G&& body) : run(std::forward<G>(body)) {}
    generator_frame(const generator_frame&) = delete;
    generator_frame& operator=(const generator_frame&) = delete;
    ~generator_frame() {}  // `run` is gone already; the state goes with its generator
};

// release_generator_state() ends a generator whose handle is going away: it closes the body (as
// close_on_destruction() does), takes the fiber handle out of the state, destroys the state, and
// only then lets the handle free the stack the state lived in.
template <class Y, class S, class R>
void release_generator_state(generator_state<Y, S, R>* state) noexcept {
    close_on_destruction(*state);
    fiber stack_owner = std::move(state->body);
    state->~generator_state();
}

}  // namespace spindle::detail

SPINDLE_EXPORTS_END
