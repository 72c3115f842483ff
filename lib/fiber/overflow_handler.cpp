// Turning a guard-region hit into a message that names the fiber, instead of a bare SIGSEGV.
//
// The handler runs on an alternate signal stack (the fiber's own stack is exhausted by then),
// looks at the innermost running fiber on this thread, and if the faulting address lies in or
// just below that fiber's guard region, writes the message and lets the fault kill the process as
// it would have. Faults that are not ours go to whatever handler was installed before. Every
// thread that switches to a fiber gets the alternate stack at its first switch, so a fiber
// resumed on a thread other than its creator's is reported too.

#include "fiber/fiber_internals.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

namespace spindle::detail {
namespace {

// How far below the guard region a fault still counts as an overflow: a frame larger than the region
// can jump the guard region and land in unmapped memory below it.
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

// describe_overflow() writes the whole message: the overflowing fiber, then each fiber that
// resumed the next (the chain the handler walks from the innermost one), so that a generator's
// overflow names the task it ran in. A chain longer than shown_links is cut short but still
// ends at its outermost fiber, usually the task.
void describe_overflow(const fiber_control& control, char* message, std::size_t size) noexcept {
    constexpr int shown_links = 6;
    constexpr int longest_chain = 1 << 16;  // a bound, in case the links are damaged
    char description[96];
    message[0] = '\0';
    append_text(message, size, "spindle: stack overflow in ");
    describe_fiber(control, description, sizeof description);
    append_text(message, size, description);
    const fiber_control* link = control.parent;
    for (int shown = 0; link && shown < shown_links; ++shown, link = link->parent) {
        describe_fiber(*link, description, sizeof description);
        append_text(message, size, " inside ");
        append_text(message, size, description);
    }
    if (link) {
        const fiber_control* outermost = link;
        for (int n = 0; outermost->parent && n < longest_chain; ++n) outermost = outermost->parent;
        if (outermost != link) append_text(message, size, " inside ...");
        describe_fiber(*outermost, description, sizeof description);
        append_text(message, size, " inside ");
        append_text(message, size, description);
    }
    append_text(message, size, ": it ran past its stack of ");
    append_decimal(message, size, control.stack.usable);
    append_text(message, size, " bytes into the guard region\n");
}

void on_segmentation_fault(int signal, siginfo_t* info, void* context) {
    const fiber_control* control = current_control();
    if (is_overflow(control, info->si_addr)) {
        char message[1024];
        describe_overflow(*control, message, sizeof message);
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

// report_overflows_from_first_switch makes every thread's first switch install the handler
// (see set_first_switch_hook()), so that a fiber created on one thread and resumed on another
// is reported there too. Set at start-up, before any fiber exists.
const bool report_overflows_from_first_switch = [] {
    set_first_switch_hook(&install_overflow_handler);
    return true;
}();

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
