// Naming the fiber or task a fault happened in, before the fault's default action ends the
// process as it would have without spindle.
//
// One handler covers SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT. A stack overflow gets its own
// message (report_overflow()). Otherwise, when the fault happened inside a fiber and the
// disposition that follows is the default action, the handler writes one line
//     spindle: SIGSEGV in task 5 'fetch' (spawned at src/fetch.cpp:42)
// puts the previous disposition back and lets the signal come again: a fault re-runs its
// instruction when the handler returns, a signal that was sent (abort(), kill) is raised again.
// So the exit status, the core dump and a debugger's view are those of the original fault.
// When the program had a handler of its own for the signal, that handler is called instead and
// nothing is written: it may be one that recovers (a garbage collector's, a JIT's), after which
// a message would be a false alarm.
//
// Everything here is async-signal-safe: write(2), sigaction(2), raise(3) and reading the
// fiber records; no allocation, no stdio.

#include "fiber/fiber_internals.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace spindle::detail {
namespace {

// reported_signals are the faults the handler names a fiber for, with the names it uses.
struct reported_signal {
    int number;
    const char* name;
};
constexpr reported_signal reported_signals[] = {
    {SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"}, {SIGFPE, "SIGFPE"},
    {SIGILL, "SIGILL"},   {SIGABRT, "SIGABRT"},
};
constexpr int reported_count = sizeof reported_signals / sizeof reported_signals[0];

// previous_actions are the dispositions the handler replaced, in reported_signals' order.
struct sigaction previous_actions[reported_count];

int index_of(int signal) noexcept {
    for (int i = 0; i < reported_count; ++i)
        if (reported_signals[i].number == signal) return i;
    return -1;
}

bool is_handler(const struct sigaction& action) noexcept {
    if (action.sa_flags & SA_SIGINFO) return action.sa_sigaction != nullptr;
    return action.sa_handler != SIG_DFL && action.sa_handler != SIG_IGN;
}

void call_handler(const struct sigaction& action, int signal, siginfo_t* info, void* context) {
    if (action.sa_flags & SA_SIGINFO)
        action.sa_sigaction(signal, info, context);
    else
        action.sa_handler(signal);
}

void describe_fault(const char* signal_name, const fiber_control& innermost, char* message,
                    std::size_t size) noexcept {
    message[0] = '\0';
    append_text(message, size, "spindle: ");
    append_text(message, size, signal_name);
    append_text(message, size, " in ");
    describe_fiber_chain(innermost, message, size, /*with_origin=*/true);
    append_text(message, size, "\n");
}

void on_fault(int signal, siginfo_t* info, void* context) {
    const int saved_errno = errno;
    if (signal == SIGSEGV && report_overflow(info->si_addr)) {
        ::signal(SIGSEGV, SIG_DFL);  // returning re-runs the faulting access, which now kills us
        errno = saved_errno;
        return;
    }
    const int index = index_of(signal);
    if (index < 0) return;  // not installed by us; cannot happen
    const struct sigaction& previous = previous_actions[index];
    if (is_handler(previous)) {
        call_handler(previous, signal, info, context);
        errno = saved_errno;
        return;
    }
    // A fault the kernel raised (si_code > 0) takes the default action even when ignored.
    const bool sent = info->si_code <= 0;
    const bool ends_process = previous.sa_handler == SIG_DFL || !sent || signal == SIGABRT;
    if (const fiber_control* innermost = current_control(); innermost && ends_process) {
        char message[512];
        describe_fault(reported_signals[index].name, *innermost, message, sizeof message);
        write_text(STDERR_FILENO, message);
    }
    ::sigaction(signal, &previous, nullptr);
    // Blocked while this handler runs, the signal raised again arrives as it returns.
    if (sent) ::raise(signal);
    errno = saved_errno;
}

}  // namespace

void install_fault_handlers() noexcept {
    struct sigaction action {};
    action.sa_sigaction = &on_fault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < reported_count; ++i) {
        // Installed again (a forked child's test): the handler must not chain to itself.
        struct sigaction current {};
        ::sigaction(reported_signals[i].number, nullptr, &current);
        if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == &on_fault) continue;
        ::sigaction(reported_signals[i].number, &action, &previous_actions[i]);
    }
}

void write_text(int fd, const char* text) noexcept {
    std::size_t left = std::strlen(text);
    while (left > 0) {
        const ssize_t n = ::write(fd, text, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        text += n;
        left -= static_cast<std::size_t>(n);
    }
}

void describe_fiber_chain(const fiber_control& innermost, char* buffer, std::size_t size,
                          bool with_origin) noexcept {
    constexpr int shown_links = 6;
    constexpr int longest_chain = 1 << 16;  // a bound, in case the links are damaged
    char description[96];
    bool origin_shown = !with_origin;
    auto append = [&](const fiber_control& control, const char* separator) {
        describe_fiber(control, description, sizeof description);
        append_text(buffer, size, separator);
        append_text(buffer, size, description);
        if (!origin_shown && control.origin_file) {
            append_text(buffer, size, " (spawned at ");
            append_text(buffer, size, control.origin_file);
            append_text(buffer, size, ":");
            append_decimal(buffer, size, control.origin_line);
            append_text(buffer, size, ")");
            origin_shown = true;
        }
    };
    append(innermost, "");
    const fiber_control* link = innermost.parent;
    for (int shown = 0; link && shown < shown_links; ++shown, link = link->parent)
        append(*link, " inside ");
    if (link) {
        const fiber_control* outermost = link;
        for (int n = 0; outermost->parent && n < longest_chain; ++n) outermost = outermost->parent;
        if (outermost != link) append_text(buffer, size, " inside ...");
        append(*outermost, " inside ");
    }
}

}  // namespace spindle::detail
