#pragma once
// Helpers for tests of the fault reports (lib/fiber/fault_report.cpp): raising each reported
// signal the way a program does (a real fault where the target has one), and knowing when a
// sanitizer, not spindle, owns those signals.

#include "child_process.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include "under_valgrind.hpp"

namespace spindle_test {

// sanitizer_owns_fault_signals is true under AddressSanitizer and ThreadSanitizer, whose
// runtimes install their own SIGSEGV, SIGBUS and SIGFPE handlers before spindle's: spindle then
// calls theirs (a previous handler) and writes nothing, and they end the process their way (a
// report and exit status 1, not the signal). The fault-report cases check nothing there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitizer_owns_fault_signals = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool sanitizer_owns_fault_signals = true;
#else
inline constexpr bool sanitizer_owns_fault_signals = false;
#endif
#else
inline constexpr bool sanitizer_owns_fault_signals = false;
#endif


inline int* volatile null_pointer = nullptr;
inline volatile int zero_divisor = 0;

// fault_with() makes the calling code fail with `signal`: a null write (SIGSEGV), a read past
// the end of a truncated file mapping (SIGBUS), an integer division by zero (SIGFPE, x86-64
// only; AArch64 divides by zero without a trap), an undefined instruction (SIGILL, x86-64's
// ud2; AArch64's trap is SIGTRAP), abort() (SIGABRT); otherwise raise(signal).
inline void fault_with(int signal) {
    switch (signal) {
    case SIGSEGV:
        *null_pointer = 1;
        break;
    case SIGBUS: {
        const int fd = ::memfd_create("spindle-test-sigbus", 0);
        if (fd >= 0 && ::ftruncate(fd, 2 * 4096) == 0) {
            void* mapping = ::mmap(nullptr, 2 * 4096, PROT_READ, MAP_SHARED, fd, 0);
            if (mapping != MAP_FAILED && ::ftruncate(fd, 0) == 0)
                (void)*static_cast<volatile char*>(mapping);
        }
        break;
    }
#if defined(__x86_64__)
    case SIGFPE:
        zero_divisor = 1 / zero_divisor;
        break;
    case SIGILL:
        __builtin_trap();
#endif
    case SIGABRT:
        std::abort();
    default:
        break;
    }
    std::raise(signal);
}

}  // namespace spindle_test
