// Turning a guard-page hit into a message that names the fiber, instead of a bare SIGSEGV.
//
// The handler runs on an alternate signal stack (the fiber's own stack is exhausted by then),
// looks at the innermost running fiber on this thread, and if the faulting address lies in or
// just below that fiber's guard page, writes the message and lets the fault kill the process as
// it would have. Faults that are not ours go to whatever handler was installed before.

#include "fiber_control.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

namespace spindle::detail {
namespace {

// How far below the guard page a fault still counts as an overflow: a frame larger than a page
// can jump the guard page and land in unmapped memory below it.
constexpr std::size_t overflow_reach = 1 << 20;
constexpr std::size_t alternate_stack_size = 64 * 1024;

struct sigaction previous_action;

void write_all(const char* text) noexcept {
    std::size_t left = std::strlen(text);
    while (left > 0) {
        const ssize_t n = ::write(STDERR_FILENO, text, left);
        if (n <= 0) return;
        text += n;
        left -= static_cast<std::size_t>(n);
    }
}

bool is_overflow(const fiber_control* control, const void* address) noexcept {
    if (!control || !control->stack.guarded) return false;
    const auto* fault = static_cast<const std::byte*>(address);
    const std::byte* guard_end = control->stack.usable_bottom();
    const std::byte* reach_begin = control->stack.base - overflow_reach;
    return fault < guard_end && fault >= reach_begin;
}

void on_segmentation_fault(int signal, siginfo_t* info, void* context) {
    const fiber_control* control = current_control();
    if (is_overflow(control, info->si_addr)) {
        char message[256] = "spindle: stack overflow in ";
        char description[96];
        describe_fiber(*control, description, sizeof description);
        append_text(message, sizeof message, description);
        append_text(message, sizeof message, ": it ran past its stack of ");
        append_decimal(message, sizeof message, control->stack.usable);
        append_text(message, sizeof message, " bytes into the guard page\n");
        write_all(message);
        ::signal(signal, SIG_DFL);  // returning re-runs the faulting access, which now kills us
        return;
    }
    if ((previous_action.sa_flags & SA_SIGINFO) && previous_action.sa_sigaction) {
        previous_action.sa_sigaction(signal, info, context);
    } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
        previous_action.sa_handler(signal);
    } else {
        ::signal(signal, SIG_DFL);
    }
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

}  // namespace

void install_overflow_handler_for_thread() noexcept {
    thread_reports_overflow = true;
    static thread_local alternate_stack signal_stack;
    signal_stack.install();
    static std::once_flag process_handler;
    std::call_once(process_handler, [] {
        struct sigaction action {};
        action.sa_sigaction = &on_segmentation_fault;
        action.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&action.sa_mask);
        ::sigaction(SIGSEGV, &action, &previous_action);
    });
}

}  // namespace spindle::detail
