// event on a wait queue: set() wakes every waiter.

#include "sync/wait.hpp"

#include <spindle/detail/assert.hpp>
#include <spindle/sync.hpp>

namespace spindle {

using detail::wake_outcome;

event::~event() {
    detail::object_guard guard(lock_);
    detail::wake_all(waiters_, wake_outcome::closed);
}

void event::set() noexcept {
    detail::object_guard guard(lock_);
    set_ = true;
    detail::wake_all(waiters_, wake_outcome::completed);
    SPINDLE_ASSERT(waiters_.empty(), "a set event with waiters");
}

void event::clear() noexcept {
    detail::object_guard guard(lock_);
    set_ = false;
}

bool event::is_set() const noexcept {
    detail::object_guard guard(lock_);
    return set_;
}

void event::wait() { wait_with(nullptr); }

bool event::wait_until(std::chrono::steady_clock::time_point deadline) {
    return wait_with(&deadline);
}

bool event::wait_with(const std::chrono::steady_clock::time_point* deadline) {
    detail::object_guard guard(lock_);
    if (set_) return true;
    // Woken `completed` only by set(); a clear() after it does not undo this wait.
    return detail::wait_in(waiters_, lock_, guard, name_, "event wait", deadline,
                           "spindle: an event was destroyed while a task waited for it");
}

}  // namespace spindle
