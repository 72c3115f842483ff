// generator: the protocol's cold paths (closing, destruction, misuse messages), which do not
// depend on the generator's types.

#include "fiber/fiber_internals.hpp"

#include <spindle/detail/generator_state.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>

namespace spindle::detail {

void throw_generator_error(generator_misuse what) {
    switch (what) {
    case generator_misuse::reentered:
        throw fiber_error(
            "spindle: a generator was resumed or closed from inside itself (its body, or a "
            "generator its body is running, called next/send/raise/close on it); Python: "
            "\"generator already executing\"");
    case generator_misuse::running_elsewhere:
        throw fiber_error(
            "spindle: a generator was resumed or closed while it is already running in another "
            "task or thread (one that is suspended inside its body, or runs it right now); "
            "Python: \"generator already executing\"");
    case generator_misuse::send_before_start:
        throw fiber_error(
            "spindle: send() to a generator that has not started; call next() first to run it "
            "to its first yield");
    case generator_misuse::result_unavailable:
        throw fiber_error(
            "spindle: result() on a generator whose body has not returned (it is not finished, "
            "or it finished by an exception or by close())");
    case generator_misuse::ignored_close:
        throw fiber_error(
            "spindle: generator ignored close(): its body caught the unwinding (a catch (...) "
            "that did not rethrow) and yielded again; Python: \"generator ignored "
            "GeneratorExit\"");
    case generator_misuse::yield_outside_body:
        throw fiber_error(
            "spindle: a yielder was called outside its generator's body (from another fiber or "
            "generator, or after the body returned)");
    case generator_misuse::suspended_without_yield:
        throw fiber_error(
            "spindle: a generator's body suspended without yielding (it called "
            "fiber::suspend() itself); yield through its yielder instead");
    case generator_misuse::sent_to_range:
        throw fiber_error(
            "spindle: a value was sent to a generator while it was yielding from a range, "
            "which cannot receive it");
    case generator_misuse::raise_without_exception:
        throw fiber_error("spindle: raise() was given an empty exception_ptr");
    case generator_misuse::dereferenced_end:
        throw fiber_error(
            "spindle: a generator iterator that equals end() was dereferenced (the body has "
            "finished, so there is no yielded object; or the iterator was default-constructed)");
    }
    std::abort();
}

void refuse_running_generator(const generator_core& core) {
    // The caller is inside the generator when its body's fiber is on the caller's chain of
    // resumes: each fiber's parent is whoever resumed it, and a task's is whoever called run().
    // A task parked inside the body is on no other task's chain.
    const fiber_control* body = fiber_access::control(core.body);
    for (const fiber_control* f = current_control(); f; f = f->parent)
        if (f == body) throw_generator_error(generator_misuse::reentered);
    throw_generator_error(generator_misuse::running_elsewhere);
}

void resume_generator_slow(generator_core& core) {
    if (core.finished) return;  // next() at the end: nothing to run
    fiber_control* control = fiber_access::control(core.body);
    if (control->state == fiber_state::running) refuse_running_generator(core);
    resume_slow(control);  // its own FP state, or saved exception state
}

void generator_stopped(generator_core& core) {
    fiber_control* control = fiber_access::control(core.body);
    if (control->exception) rethrow_escaped(control);
    if (!core.finished) throw_generator_error(generator_misuse::suspended_without_yield);
}

void honour_generator_requests(generator_core& core, fiber_control* control) {
    if (control->requests & unwind_request) throw forced_unwind{};
    SPINDLE_ASSERT(control->requests == raise_request && core.pending_raise,
                   "a generator's body woken with a request nobody made");
    control->requests = 0;
    std::rethrow_exception(std::exchange(core.pending_raise, nullptr));
}

void close_generator(generator_core& core) {
    if (core.finished) return;
    if (generator_running(core)) refuse_running_generator(core);
    if (!generator_started(core)) {
        // The body never ran: unwinding only destroys it, as Python discards a fresh frame.
        fiber_access::unwind(core.body);
        core.finished = true;
        return;
    }
    // A body that returns after swallowing the unwinding is done, and Python accepts that.
    if (fiber_access::unwind(core.body) == unwind_outcome::ignored_suspend) {
        // As in Python after "generator ignored GeneratorExit", the generator stays suspended
        // at the yield that ignored the close, and a later next/send/raise resumes it there
        // normally: the unwind request is spent. (A later close() unwinds it again.)
        fiber_access::control(core.body)->requests &= ~unwind_request;
        throw_generator_error(generator_misuse::ignored_close);
    }
    core.finished = true;
}

void close_on_destruction(generator_core& core) noexcept {
    // A running generator cannot be closed; its fiber's destructor reports that and stops.
    if (core.finished || generator_running(core)) return;
    try {
        close_generator(core);
    } catch (...) {
        if (!core.body.done()) {
            stop_process_in(*fiber_access::control(core.body),
                            "ignored close() on destruction: its body caught "
                            "the unwinding and yielded again, so its frames cannot be freed");
        }
        // Python's "Exception ignored in: <generator ...>": report it, and go on.
        const char* what = "an exception not derived from std::exception";
        try {
            throw;
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        std::fprintf(stderr, "spindle: exception ignored while closing a destroyed generator: %s\n",
                     what);
    }
}

}  // namespace spindle::detail
