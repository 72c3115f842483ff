// wait_lock's contended path and the thread-local that says whether a thread takes wait_locks.

#include <spindle/detail/wait_lock.hpp>

#include <sched.h>

namespace spindle::detail {

// Every thread takes wait_locks until it becomes the worker of a scheduler no other thread may
// touch (worker::enter()), and again once it leaves (worker::leave()).
constinit thread_local bool thread_locks_objects = true;

void wait_lock::lock_contended() noexcept {
    // A holder lets go within a few hundred cycles unless its thread lost its core: spin that
    // long (reading, so the line stays shared), then give the core away between attempts.
    for (int spins = 0;; ++spins) {
        while (held_.load(std::memory_order_relaxed)) {
            if (spins < 64) {
#if defined(__x86_64__)
                __builtin_ia32_pause();
#elif defined(__aarch64__)
                __asm__ volatile("yield");
#endif
                ++spins;
            } else {
                ::sched_yield();
            }
        }
        if (!held_.exchange(true, std::memory_order_acquire)) return;
    }
}

}  // namespace spindle::detail
