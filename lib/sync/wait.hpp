#pragma once
// wait_in(): the one wait every primitive of the sync layer makes.

#include <spindle/detail/wait_queue.hpp>

#include <chrono>

namespace spindle::detail {

// wait_in() waits in `queue` of the object whose lock is `lock` (held by `guard`, if taken; the
// wait hands it over) until a waker wakes it, with `name` shown beside `what` in deadlock reports
// and task dumps: a task suspends, a thread outside any task blocks. It returns true when the
// wait completed (what was waited for happened, or was handed over), and false when `deadline`
// is given and has passed. Woken `closed` (the object was destroyed under the wait), it throws
// fiber_error with `destroyed`, a static string, without touching the object. cancelled when
// task::cancel() or a timeout scope interrupts the wait. Whenever it does not return true, the
// caller has taken nothing.
// `slot` is the waiter's (what a waker hands over, or reads of the waiter: a mutex's caller key).
bool wait_in(wait_queue& queue, wait_lock& lock, object_guard& guard, const object_name& name,
             const char* what, const std::chrono::steady_clock::time_point* deadline,
             const char* destroyed = "spindle: the object a task waited on was destroyed",
             void* slot = nullptr);

}  // namespace spindle::detail
