#pragma once
// The fiber layer's internals for the library's own layers (fiber, generator, scheduler):
// messages that name fibers, the overflow handler, and starting a fiber that the layer above
// runs itself. The state itself is in include/spindle/detail/fiber_control.hpp, because the hot
// path is inline.

#include "context/context.hpp"
#include "stack/stack_annotations.hpp"
#include "stack/stack_pool.hpp"

#include <spindle/detail/fiber_control.hpp>
#include <spindle/fiber.hpp>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace spindle::detail {

// append_text() and append_decimal() extend the NUL-terminated text in buffer (of `size`
// bytes) without allocating, so the overflow handler may call them.
void append_text(char* buffer, std::size_t size, const char* text) noexcept;
void append_decimal(char* buffer, std::size_t size, std::uint64_t value) noexcept;

// describe_fiber() writes "fiber N 'name'" (or "fiber N" when unnamed) into buffer, for
// messages that must be built without allocating (the overflow handler's). A fiber the layer
// above labelled reads "task N 'name'" when the label has its own numbering, else
// "generator 'name' (fiber N)".
void describe_fiber(const fiber_control& control, char* buffer, std::size_t size) noexcept;

// describe_fiber_chain() appends the innermost fiber's description and each fiber it runs
// inside ("generator 'g' (fiber 7) inside task 2 'main'"), so that a fault in a generator names
// the task it ran in; a chain longer than a few links is cut short but still ends at its
// outermost fiber. With `with_origin`, the first fiber that knows where it was made (a task's
// spawn site) adds " (spawned at file:line)". Allocates nothing: the fault handlers call it.
void describe_fiber_chain(const fiber_control& innermost, char* buffer, std::size_t size,
                          bool with_origin) noexcept;

// write_text() writes all of a NUL-terminated text to a descriptor with write(2): safe in a
// signal handler. Errors are ignored: there is nowhere left to report them.
void write_text(int fd, const char* text) noexcept;

// stop_process() writes "spindle: <what>; stopping the process" to stderr and aborts: for
// faults that leave nothing to unwind to.
[[noreturn]] void stop_process(const char* what) noexcept;
// stop_process_in() is stop_process() for a fault of one fiber: "spindle: fiber N 'name' <what>".
[[noreturn]] void stop_process_in(const fiber_control& control, const char* what) noexcept;

// copy_name() keeps up to 31 bytes of `name`, NUL-terminated, in `destination`: the one rule
// for every name shown in messages (fibers and tasks).
inline void copy_name(char (&destination)[32], std::string_view name) noexcept {
    const std::size_t n = std::min(name.size(), sizeof destination - 1);
    if (n) std::memcpy(destination, name.data(), n);  // an empty view may hold a null pointer
    destination[n] = '\0';
}

// hosted_fiber is how a layer above that runs a fiber itself (switching straight into its
// context, as a scheduler does with a task's) describes it to start_hosted_fiber().
struct hosted_fiber {
    const fiber_label* label;  // how messages name it; its suspend_advice refuses suspend()
    std::uint64_t number;      // replaces the fiber's id (the label's own numbering)
    const char* name;          // NUL-terminated, at most 31 bytes kept
    context_record* resumer;   // where the fiber goes when its body ends
    fiber_control* parent;     // the fiber current again after it
    const char* origin_file = nullptr;  // where it was made (a task's spawn site), for crash
    std::uint32_t origin_line = 0;      // reports
};

// start_hosted_fiber() marks a created fiber as running under its host's control: it has no
// fiber handle (fiber::current() is null and fiber::suspend() refused inside it), and its host
// switches into control->self directly.
inline void start_hosted_fiber(fiber_control* control, const hosted_fiber& how) noexcept {
    SPINDLE_ASSERT(control->state == fiber_state::created && !control->owner,
                   "a hosted fiber started twice, or one with a handle");
    control->label = how.label;
    control->id = how.number;
    std::memcpy(control->name, how.name, sizeof control->name);
    control->name[sizeof control->name - 1] = '\0';
    control->resumer = how.resumer;
    control->parent = how.parent;
    control->origin_file = how.origin_file;
    control->origin_line = how.origin_line;
    control->state = fiber_state::running;
}

// install_overflow_handler() makes sure this thread reports a guard-page hit by name: called
// when a guarded fiber is created and at the first switch on each thread (a fiber may be
// resumed on a thread other than the one that created it).
void install_overflow_handler_for_thread() noexcept;
// install_fault_handlers() installs, once per process, the handler of SIGSEGV, SIGBUS, SIGFPE,
// SIGILL and SIGABRT that names the fiber or task a fault happened in (fault_report.cpp).
void install_fault_handlers() noexcept;
// report_overflow() writes the stack-overflow message and returns true when `address` (a
// SIGSEGV's) lies in or just below the innermost running fiber's guard region.
bool report_overflow(const void* address) noexcept;
inline thread_local bool thread_reports_overflow = false;
inline void install_overflow_handler() noexcept {
    if (!thread_reports_overflow) [[unlikely]] install_overflow_handler_for_thread();
}

}  // namespace spindle::detail
