#pragma once
// wait_in(): the one wait every primitive of the sync layer makes.

#include <spindle/detail/wait_queue.hpp>

#include <chrono>

namespace spindle::detail {

// wait_in() suspends the calling task in `queue` until a waker wakes it, with `name` shown beside
// `what` in deadlock reports and task dumps. It returns true when the wait completed (what was
// waited for happened, or was handed over), and false when `deadline` is given and has passed.
// Woken `closed` (the object was destroyed under the wait), it throws fiber_error with
// `destroyed`, a static string, without touching the object. fiber_error outside any task;
// cancelled when task::cancel() or a timeout scope interrupts the wait. Whenever it does not
// return true, the caller has taken nothing.
bool wait_in(wait_queue& queue, const object_name& name, const char* what,
             const std::chrono::steady_clock::time_point* deadline,
             const char* destroyed = "spindle: the object a task waited on was destroyed");

}  // namespace spindle::detail
