// countdown: the count and wait queue that latch and wait_group share, and those two classes.

#include "sync/wait.hpp"

#include <spindle/detail/assert.hpp>
#include <spindle/sync.hpp>

#include <cstdint>
#include <stdexcept>

namespace spindle {

using detail::wake_outcome;

namespace detail {

countdown::~countdown() {
    object_guard guard(lock_);
    wake_all(waiters_, wake_outcome::closed);
}

void countdown::add(std::ptrdiff_t delta, const char* misuse) {
    object_guard guard(lock_);
    const bool fits = delta < 0 ? count_ >= -delta : delta <= PTRDIFF_MAX - count_;
    if (!fits) throw fiber_error(misuse);
    count_ += delta;
    SPINDLE_ASSERT(count_ >= 0, "a countdown below zero");
    if (count_ == 0) wake_all(waiters_, wake_outcome::completed);
}

bool countdown::wait(const std::chrono::steady_clock::time_point* deadline) {
    object_guard guard(lock_);
    if (count_ == 0) return true;
    // Woken `completed` only by add() bringing the count to zero; it may have risen again since
    // (a wait_group reused), which does not undo this wait.
    return wait_in(waiters_, lock_, guard, name, what_, deadline, destroyed_);
}

}  // namespace detail

latch::latch(std::ptrdiff_t count)
    : state_(count, "latch wait",
             "spindle: a latch was destroyed while a task waited for it to reach zero") {
    if (count < 0) throw std::invalid_argument("spindle: latch(count) with a negative count");
}

void latch::count_down(std::ptrdiff_t n) {
    if (n < 0) throw std::invalid_argument("spindle: latch::count_down(n) with a negative n");
    state_.add(-n, "spindle: latch::count_down(n) with n greater than the latch's count");
}

wait_group::wait_group() noexcept
    : state_(0, "wait_group wait",
             "spindle: a wait_group was destroyed while a task waited for it to reach zero") {}

void wait_group::add(std::ptrdiff_t n) {
    state_.add(n, n < 0 ? "spindle: wait_group counter would go negative (more done() than add())"
                        : "spindle: wait_group counter would overflow");
}

}  // namespace spindle
