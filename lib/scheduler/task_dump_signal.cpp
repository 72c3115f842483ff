// The opt-in dump signal: Go's SIGQUIT dump, for a program that looks stuck.

#include "scheduler/task_dump.hpp"

#include <spindle/debug.hpp>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace spindle {
namespace {

void on_dump_signal(int signal, siginfo_t* info, void*) {
    const int saved_errno = errno;
    const bool passed_on = info->si_code == SI_QUEUE && info->si_pid == ::getpid() &&
                           info->si_value.sival_ptr == &detail::pass_on_marker;
    detail::write_task_dump(STDERR_FILENO,
                            passed_on ? detail::dump_scope::signal_passed_on
                                      : detail::dump_scope::signal_received,
                            signal);
    errno = saved_errno;
}

}  // namespace

void install_task_dump_signal(int signal) {
    struct sigaction action {};
    action.sa_sigaction = &on_dump_signal;
    // SA_RESTART: a dump should not make the program's blocking calls fail with EINTR.
    action.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    if (::sigaction(signal, &action, nullptr) != 0)
        throw std::system_error(errno, std::generic_category(),
                                "spindle: install_task_dump_signal");
}

}  // namespace spindle
