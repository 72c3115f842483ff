// semaphore on a wait queue: permits handed to the longest waiter first.

#include "fiber/fiber_internals.hpp"
#include "sync/wait.hpp"

#include <spindle/detail/assert.hpp>
#include <spindle/sync.hpp>

#include <cstdint>
#include <stdexcept>

namespace spindle {

using detail::wake_outcome;

semaphore::semaphore(std::ptrdiff_t initial) : count_(initial) {
    if (initial < 0)
        throw std::invalid_argument("spindle: semaphore(initial) with a negative initial count");
}

semaphore::~semaphore() {
    detail::object_guard guard(lock_);
    // (Waiters whose wait a timeout or cancel ended may still be linked: first_waiting() lets
    // go of them.)
    if (detail::first_waiting(waiters_))
        detail::stop_process("a semaphore was destroyed while tasks waited for it");
}

void semaphore::acquire() { acquire_with(nullptr); }

bool semaphore::try_acquire_until(std::chrono::steady_clock::time_point deadline) {
    return acquire_with(&deadline);
}

bool semaphore::try_acquire() noexcept {
    detail::object_guard guard(lock_);
    return take_free_permit();
}

bool semaphore::take_free_permit() noexcept {
    // Permits are free only while nobody waits (release() hands them over first), so taking one
    // here never jumps a queue.
    SPINDLE_ASSERT(count_ == 0 || !detail::first_waiting(waiters_),
                   "a semaphore with free permits and waiters");
    if (count_ == 0) return false;
    --count_;
    return true;
}

bool semaphore::acquire_with(const std::chrono::steady_clock::time_point* deadline) {
    detail::object_guard guard(lock_);
    if (take_free_permit()) return true;
    // true: release() handed this task its permit before waking it; the count never held it.
    return detail::wait_in(waiters_, lock_, guard, name_, "semaphore acquire", deadline);
}

void semaphore::release(std::ptrdiff_t n) {
    if (n <= 0) throw std::invalid_argument("spindle: semaphore::release(n) with n <= 0");
    detail::object_guard guard(lock_);
    if (n > PTRDIFF_MAX - count_)
        throw std::overflow_error("spindle: semaphore::release(n) would overflow the count");
    for (; n > 0; --n) {
        detail::waiter* next = detail::claim_first(waiters_);
        if (!next) break;
        detail::wake(*next, wake_outcome::completed);  // unlinks it
    }
    count_ += n;
    SPINDLE_ASSERT(count_ == 0 || !detail::first_waiting(waiters_),
                   "a semaphore with free permits and waiters");
}

}  // namespace spindle
