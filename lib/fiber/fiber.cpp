// fiber: creation on a pooled stack, resume/suspend, unwinding, and the misuse checks.

#include "fiber/fiber_internals.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace spindle {
namespace detail {

namespace {

std::atomic<std::uint64_t> next_fiber_id_block{0};

// Ids are handed out to each thread in blocks, so creating a fiber takes no atomic operation
// (a locked instruction costs more than the rest of the id logic together).
constexpr std::uint64_t fiber_id_block = 1024;
thread_local std::uint64_t next_thread_fiber_id = 0;
thread_local std::uint64_t thread_fiber_id_end = 0;

std::uint64_t take_fiber_id() noexcept {
    if (next_thread_fiber_id == thread_fiber_id_end) [[unlikely]] {
        next_thread_fiber_id =
            next_fiber_id_block.fetch_add(1, std::memory_order_relaxed) * fiber_id_block + 1;
        thread_fiber_id_end = next_thread_fiber_id + fiber_id_block;
    }
    return next_thread_fiber_id++;
}

// stagger_step and stagger_slots place successive fibers' control blocks, bodies and stacks at
// different offsets within a page, so that the hot lines of many fibers do not all fall into the
// same L1 cache sets (PhotonLibOS measured this for stacks; the control block, read and written
// at every switch, is as hot as the top frames). The whole top of the stack shifts down by the
// stagger, so one offset staggers all three.
constexpr std::size_t stagger_step = 64;
constexpr std::size_t stagger_slots = 16;
// What the switch may put at the top of a fresh context before the entry runs (Boost's
// make_fcontext keeps its start record there).
constexpr std::size_t context_start_room = 256;

// top_reserve() is what a fiber takes from the top of its stack before the body's frames: the
// control block, the body object, their alignment, the stagger and the switch's start record.
// It is mapped on top of stack_options::size, so the body gets the whole size.
std::size_t top_reserve(std::size_t body_size, std::size_t body_alignment) noexcept {
    // A body too large for any stack must not wrap the sum around: the stack layer refuses it.
    const std::size_t body_room =
        body_size > maximum_stack_size ? maximum_stack_size + 1 : body_size;
    return sizeof(fiber_control) + 63 + body_room + body_alignment - 1 +
           (stagger_slots - 1) * stagger_step + context_start_room;
}

[[noreturn]] void fiber_main(void* start) {
    auto* control = static_cast<fiber_control*>(start);
    after_switch(control->self.sanitizer);
    bool unwound = false;
    try {
        control->operations.run(control->body);
    } catch (const forced_unwind&) {
        unwound = true;
    } catch (...) {
        control->exception = std::current_exception();
    }
    SPINDLE_ASSERT(control->state == fiber_state::running, "a fiber body ended while not running");
    control->ignored_unwind =
        (control->requests & unwind_request) && !unwound && !control->exception;
    control->operations.destroy(control->body);
    control->state = fiber_state::done;
    set_current_control(control->parent);
    switch_context(control->self, *control->resumer, nullptr, /*leaving_for_good=*/true);
    __builtin_unreachable();
}

std::byte* align_down(std::byte* p, std::size_t alignment) noexcept {
    return reinterpret_cast<std::byte*>(reinterpret_cast<std::uintptr_t>(p) & ~(alignment - 1));
}

void free_fiber(fiber_control* control) noexcept {
    SPINDLE_ASSERT(control->state == fiber_state::done || control->state == fiber_state::created,
                   "a fiber's stack freed while its body may still run");
    if (!stack_canary_intact(control->stack))
        stop_process_in(*control, "ran past the end of its unguarded stack");
    const stack_memory stack = control->stack;
    on_stack_destroyed(control->self.sanitizer);
    control->~fiber_control();
    release_stack(stack);
}

}  // namespace

fiber_control* create_fiber(const stack_options& options, std::size_t body_size,
                            std::size_t body_alignment, const body_operations& operations,
                            fp_control fp) {
    if (options.guard) install_overflow_handler();
    if (body_alignment < 16) body_alignment = 16;
    const stack_memory stack = acquire_stack(options, top_reserve(body_size, body_alignment));
    const std::uint64_t id = take_fiber_id();
    std::byte* const staggered_top = stack.top() - (id % stagger_slots) * stagger_step;
    std::byte* control_at = align_down(staggered_top - sizeof(fiber_control), 64);
    std::byte* body_at = align_down(control_at - body_size, body_alignment);
    std::byte* context_top = body_at;
    // Default-initialised, not value-initialised: the members' own initializers are all that
    // matters, and zeroing the whole block (rep stos) was the largest cost of a creation.
    auto* control = ::new (control_at) fiber_control;
    control->name[0] = '\0';
    control->entry = &fiber_main;
    control->operations = operations;
    control->body = body_at;
    control->stack = stack;
    control->id = id;
    control->resumer = &control->caller;
    spindle_context_make(&control->self, context_top,
                         static_cast<std::size_t>(context_top - stack.usable_bottom()));
    if (fp == fp_control::own) {
        // It starts with its creator's state, as a new thread starts with its creator's.
        control->resume_flags = own_fp_flag;
        save_fp_control(control->self);
    }
    on_stack_created(control->self.sanitizer, stack.usable_bottom(), stack.writable());
    return control;
}

void abandon_fiber(fiber_control* control) noexcept { free_fiber(control); }

void stop_process(const char* what) noexcept {
    std::fprintf(stderr, "spindle: %s; stopping the process\n", what);
    std::abort();
}

void stop_process_in(const fiber_control& control, const char* what) noexcept {
    char message[192];
    describe_fiber(control, message, sizeof message);
    append_text(message, sizeof message, " ");
    append_text(message, sizeof message, what);
    stop_process(message);
}


void append_text(char* buffer, std::size_t size, const char* text) noexcept {
    std::size_t at = std::strlen(buffer);
    while (*text && at + 1 < size) buffer[at++] = *text++;
    buffer[at] = '\0';
}

void append_decimal(char* buffer, std::size_t size, std::uint64_t value) noexcept {
    char digits[24];
    std::size_t n = 0;
    do digits[n++] = static_cast<char>('0' + value % 10); while ((value /= 10) != 0);
    std::size_t at = std::strlen(buffer);
    while (n > 0 && at + 1 < size) buffer[at++] = digits[--n];
    buffer[at] = '\0';
}

void describe_fiber(const fiber_control& control, char* buffer, std::size_t size) noexcept {
    const fiber_label* label = control.label;
    const bool own_numbering = !label || label->own_numbering;
    buffer[0] = '\0';
    append_text(buffer, size, label ? label->kind : "fiber");
    if (own_numbering) {
        append_text(buffer, size, " ");
        append_decimal(buffer, size, control.id);
    }
    if (control.name[0]) {
        append_text(buffer, size, " '");
        append_text(buffer, size, control.name);
        append_text(buffer, size, "'");
    }
    if (!own_numbering) {
        append_text(buffer, size, " (fiber ");
        append_decimal(buffer, size, control.id);
        append_text(buffer, size, ")");
    }
}

unwind_outcome fiber_access::unwind(fiber& f) {
    fiber_control* control = f.control_;
    if (!control || control->state == fiber_state::done) return unwind_outcome::unwound;
    if (control->state == fiber_state::created) {
        SPINDLE_ASSERT(!(control->requests & unwind_request),
                       "a fresh fiber asked to unwind already");
        control->operations.destroy(control->body);
        control->state = fiber_state::done;
        return unwind_outcome::unwound;
    }
    if (control->state == fiber_state::running)
        throw fiber_error("spindle: cannot unwind a running fiber");
    control->requests |= unwind_request;
    resume_annotated(control);
    if (control->state != fiber_state::done) return unwind_outcome::ignored_suspend;
    if (control->exception) std::rethrow_exception(std::exchange(control->exception, nullptr));
    return control->ignored_unwind ? unwind_outcome::ignored_return : unwind_outcome::unwound;
}

void resume_slow(fiber_control* control) {
    if (!control) throw fiber_error("spindle: resume() on an empty fiber");
    if (control->state == fiber_state::done)
        throw fiber_error("spindle: resume() on a finished fiber");
    if (control->state == fiber_state::running)
        throw fiber_error(
            "spindle: resume() on a running fiber (the current fiber, or one that resumed it)");
    SPINDLE_ASSERT(control->resume_flags, "resume_gate() sent a plain resumable fiber here");
    resume_annotated(control);
    if (control->exception) rethrow_escaped(control);
}

void rethrow_escaped(fiber_control* control) {
    std::rethrow_exception(std::exchange(control->exception, nullptr));
}

void refuse_suspend(const fiber_control* control) {
    if (!control) throw fiber_error("spindle: fiber::suspend() called outside any fiber");
    // A fiber without a handle is run by the layer that made it, which says what to do instead.
    const fiber_label* label = control->label;
    char description[96];
    describe_fiber(*control, description, sizeof description);
    std::string message = std::string("spindle: fiber::suspend() called in ") + description +
                          ", which is not a fiber resumed through fiber::resume()";
    if (label && label->suspend_advice) message = message + "; " + label->suspend_advice;
    throw fiber_error(message);
}

void resume_annotated(fiber_control* control) noexcept {
    SPINDLE_ASSERT(control->state <= fiber_state::suspended, "a fiber resumed while not resumable");
    SPINDLE_ASSERT(control->resumer == &control->caller, "a hosted fiber resumed as a plain one");
    control->parent = current_control();
    control->state = fiber_state::running;
    set_current_control(control);
    // A fiber with its own FP control state: the resumer's is kept in the `caller` record and the
    // fiber's loaded; when the fiber suspends or ends, the thread holds the fiber's state, which
    // goes back into `self`, and the resumer gets its own back. The fiber's side does nothing,
    // so its suspend() stays the plain inline one.
    const bool own_fp = control->resume_flags & own_fp_flag;
    if (own_fp) {
        save_fp_control(control->caller);
        load_fp_control(control->self);
    }
    // The switch takes the fiber's saved exception state, if it has some, and keeps the
    // resumer's in `caller` (swap_exception_state()).
    control->resume_flags = 0;
    switch_context(control->caller, control->self, control);
    if (own_fp) {
        save_fp_control(control->self);
        load_fp_control(control->caller);
        control->resume_flags |= own_fp_flag;  // mark_suspended() cleared it
    }
    // A suspension with no exception state of its own left the resumer's in `caller`
    // (leave_fiber()): it is the thread's again.
    take_back_exception_state(control->caller, thread_exception_state());
}

void suspend_annotated(fiber_control* control) noexcept {
    SPINDLE_ASSERT(control->state == fiber_state::running && current_control() == control,
                   "a fiber suspended while not the running one");
    mark_suspended(control);
    set_current_control(control->parent);
    // The switch moves the fiber's exception state into `self`, if it has some (and gives the
    // thread the resumer's): the flag sends the next resume out of line to take it back, as
    // leave_fiber() does.
    if (thread_has_exception_state(thread_exception_state())) [[unlikely]]
        control->resume_flags = saved_exceptions_flag;
    switch_context(control->self, *control->resumer, nullptr);
}

}  // namespace detail

using detail::fiber_control;
using detail::fiber_state;

fiber::fiber(fiber&& other) noexcept : control_(std::exchange(other.control_, nullptr)) {
    if (control_) detail::set_owner(control_, this);
}

fiber& fiber::operator=(fiber&& other) noexcept {
    if (this != &other) {
        release();
        control_ = std::exchange(other.control_, nullptr);
        if (control_) detail::set_owner(control_, this);
    }
    return *this;
}

fiber::~fiber() { release(); }

void fiber::release() noexcept {
    fiber_control* control = std::exchange(control_, nullptr);
    if (!control) return;
    // A fiber that ran to its end, the common case, has nothing to unwind: straight to freeing.
    if (control->state != fiber_state::done) {
        if (control->state == fiber_state::running)
            detail::stop_process_in(*control, "was destroyed while running");
        control_ = control;  // unwind() works on the handle
        detail::unwind_outcome outcome{};
        try {
            outcome = detail::fiber_access::unwind(*this);
        } catch (...) {
            detail::stop_process_in(*control,
                                    "threw an exception while being unwound on destruction");
        }
        control_ = nullptr;
        if (outcome == detail::unwind_outcome::ignored_suspend)
            detail::stop_process_in(*control,
                                 "swallowed its unwinding (a catch (...) that did not rethrow) and "
                                 "suspended again while being destroyed");
        if (outcome == detail::unwind_outcome::ignored_return)
            detail::stop_process_in(*control,
                                 "swallowed its unwinding (a catch (...) that did not rethrow) and "
                                 "returned normally while being destroyed");
    }
    detail::free_fiber(control);
}

std::uint64_t fiber::id() const noexcept { return control_ ? control_->id : 0; }

void fiber::set_name(std::string_view name) {
    if (!control_) throw fiber_error("spindle: set_name() on an empty fiber");
    detail::copy_name(control_->name, name);
}

std::string_view fiber::name() const noexcept { return control_ ? control_->name : ""; }

}  // namespace spindle
