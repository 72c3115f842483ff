#pragma once
// The fiber layer's internals for the library's own layers (fiber, generator, scheduler):
// the annotated switch and the out-of-line paths. The state itself is in
// include/spindle/detail/fiber_control.hpp, because the hot path is inline.

#include "context/context.hpp"
#include "sanitizers.hpp"
#include "stack.hpp"

#include <spindle/detail/fiber_control.hpp>
#include <spindle/fiber.hpp>

namespace spindle::detail {

// switch_context() leaves the running context (saved into `from`) for `to` and returns the
// argument of the switch that eventually comes back; it tells the sanitizers when they are in
// the build. `leaving_for_good` marks a final switch (a finished fiber).
inline void* switch_context(context_record& from, context_record& to, void* arg,
                            bool leaving_for_good = false) noexcept {
    before_switch(from.sanitizer, to.sanitizer, leaving_for_good);
    void* result = switch_context_unannotated(from, to, arg, thread_exception_state());
    after_switch(from.sanitizer);
    return result;
}

// append_text() and append_decimal() extend the NUL-terminated text in buffer (of `size`
// bytes) without allocating, so the overflow handler may call them.
void append_text(char* buffer, std::size_t size, const char* text) noexcept;
void append_decimal(char* buffer, std::size_t size, std::uint64_t value) noexcept;

// describe_fiber() writes "fiber N 'name'" (or "fiber N" when unnamed) into buffer, for
// messages that must be built without allocating (the overflow handler's). A fiber the layer
// above labelled reads "task N 'name'" when the label has its own numbering, else
// "generator 'name' (fiber N)".
void describe_fiber(const fiber_control& control, char* buffer, std::size_t size) noexcept;

// install_overflow_handler() makes sure this thread reports a guard-page hit by name: called
// when a guarded fiber is created and at the first switch on each thread (a fiber may be
// resumed on a thread other than the one that created it).
void install_overflow_handler_for_thread() noexcept;
inline thread_local bool thread_reports_overflow = false;
inline void install_overflow_handler() noexcept {
    if (!thread_reports_overflow) [[unlikely]] install_overflow_handler_for_thread();
}

}  // namespace spindle::detail
