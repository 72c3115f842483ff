// Turning a guard-region hit into a message that names the fiber, instead of a bare SIGSEGV.
//
// The fault handler (fault_report.cpp) runs on an alternate signal stack (the fiber's own stack
// is exhausted by then) and asks report_overflow() first: if the faulting address lies in or
// just below the innermost running fiber's guard region, it writes the overflow message and the
// fault kills the process as it would have. Every thread that switches to a fiber gets the
// alternate stack at its first switch, so a fiber resumed on a thread other than its creator's
// is reported too.

#include "fiber/fiber_internals.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mutex>

namespace spindle::detail {
namespace {

// How far below the guard region a fault still counts as an overflow: a frame larger than the region
// can jump the guard region and land in unmapped memory below it.
constexpr std::size_t overflow_reach = 1 << 20;
constexpr std::size_t alternate_stack_size = 64 * 1024;

bool is_overflow(const fiber_control* control, const void* address) noexcept {
    if (!control || !control->stack.guarded) return false;
    const auto* fault = static_cast<const std::byte*>(address);
    const std::byte* guard_end = control->stack.usable_bottom();
    const std::byte* reach_begin = control->stack.base - overflow_reach;
    return fault < guard_end && fault >= reach_begin;
}

// describe_overflow() writes the whole message: the overflowing fiber and the fibers it ran
// inside (describe_fiber_chain()), then the size of the stack it ran past.
void describe_overflow(const fiber_control& control, char* message, std::size_t size) noexcept {
    message[0] = '\0';
    append_text(message, size, "spindle: stack overflow in ");
    describe_fiber_chain(control, message, size, /*with_origin=*/false);
    append_text(message, size, ": it ran past its stack of ");
    append_decimal(message, size, control.stack.usable);
    append_text(message, size, " bytes into the guard region\n");
}

// alternate_stack gives each thread that runs guarded fibers a signal stack of its own, and
// takes it away again when the thread ends.
struct alternate_stack {
    void* memory = nullptr;

    void install() noexcept {
        stack_t current{};
        if (::sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE))
            return;  // the program set its own; it will do
        memory = ::mmap(nullptr, alternate_stack_size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (memory == MAP_FAILED) {
            memory = nullptr;
            return;
        }
        stack_t ours{};
        ours.ss_sp = memory;
        ours.ss_size = alternate_stack_size;
        ::sigaltstack(&ours, nullptr);
    }

    ~alternate_stack() {
        if (!memory) return;
        stack_t off{};
        off.ss_flags = SS_DISABLE;
        ::sigaltstack(&off, nullptr);
        ::munmap(memory, alternate_stack_size);
    }
};

// report_overflows_from_first_switch makes every thread's first switch install the handler
// (see set_first_switch_hook()), so that a fiber created on one thread and resumed on another
// is reported there too. Set at start-up, before any fiber exists.
const bool report_overflows_from_first_switch = [] {
    set_first_switch_hook(&install_overflow_handler);
    return true;
}();

}  // namespace

bool report_overflow(const void* address) noexcept {
    const fiber_control* control = current_control();
    if (!is_overflow(control, address)) return false;
    char message[1024];
    describe_overflow(*control, message, sizeof message);
    write_text(STDERR_FILENO, message);
    return true;
}

void install_overflow_handler_for_thread() noexcept {
    thread_reports_overflow = true;
    static thread_local alternate_stack signal_stack;
    signal_stack.install();
    static std::once_flag process_handlers;
    std::call_once(process_handlers, &install_fault_handlers);
}

}  // namespace spindle::detail
