// The shared state of promise and future: satisfying it, waiting for it, and its two owners.

#include "sync/wait.hpp"

#include <spindle/detail/assert.hpp>
#include <spindle/future.hpp>

#include <stdexcept>

namespace spindle::detail {

future_state_base::~future_state_base() {
    SPINDLE_ASSERT(waiters_.empty(), "a future's state freed while tasks wait on it");
}

void future_state_base::check_unsatisfied() const {
    if (ready_)
        throw fiber_error("spindle: a promise was given a value or an exception a second time");
}

void future_state_base::set_ready() noexcept {
    object_guard guard(lock_);
    SPINDLE_ASSERT(!ready_ && promise_alive_, "a promise satisfied twice");
    ready_ = true;
    wake_all(waiters_, wake_outcome::completed);
}

void future_state_base::set_exception(std::exception_ptr error) {
    check_unsatisfied();
    if (!error) throw std::invalid_argument("spindle: promise::set_exception() with a null exception");
    error_ = std::move(error);
    set_ready();
}

bool future_state_base::wait(const std::chrono::steady_clock::time_point* deadline) {
    object_guard guard(lock_);
    if (ready_) return true;
    // Woken `completed` only by set_ready() (a value, an exception, or a broken promise).
    return wait_in(waiters_, lock_, guard, name_, "future wait (promise not satisfied yet)",
                   deadline, "spindle: a future was destroyed while a task waited on it");
}

void future_state_base::rethrow_if_failed() const {
    SPINDLE_ASSERT(ready_, "a future's result taken before it was ready");
    if (broken_)
        throw broken_promise("spindle: the promise was destroyed before it was given a value");
    if (error_) std::rethrow_exception(error_);
}

void future_state_base::take_future() {
    object_guard guard(lock_);
    if (future_made_)
        throw fiber_error("spindle: promise::get_future() called a second time");
    SPINDLE_ASSERT(promise_alive_ && !future_alive_, "a future made without a promise");
    future_made_ = true;
    future_alive_ = true;
}

void future_state_base::drop_promise(future_state_base* state) noexcept {
    bool last;
    {
        // The promise's and the future's ends may come on two threads: one of them, under the
        // lock, sees the other gone and frees the state (once the lock is let go).
        object_guard guard(state->lock_);
        SPINDLE_ASSERT(state->promise_alive_, "a promise dropped twice");
        if (!state->ready_) {
            // Broken: the waiters wake to broken_promise instead of waiting for ever.
            state->broken_ = true;
            state->ready_ = true;
            wake_all(state->waiters_, wake_outcome::completed);
        }
        state->promise_alive_ = false;
        last = !state->future_alive_;
    }
    if (last) delete state;
}

void future_state_base::drop_future(future_state_base* state) noexcept {
    bool last;
    {
        object_guard guard(state->lock_);
        SPINDLE_ASSERT(state->future_alive_, "a future dropped twice");
        // Tasks still in this future's wait() or get() learn it is gone; they touch nothing of it.
        wake_all(state->waiters_, wake_outcome::closed);
        state->future_alive_ = false;
        last = !state->promise_alive_;
    }
    if (last) delete state;
}

}  // namespace spindle::detail
