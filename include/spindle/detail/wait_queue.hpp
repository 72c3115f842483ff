#pragma once
// Wait queues: what channel, mutex and condition_variable build on.
//
// A waiting task is represented by a waiter that lives in the waiting frame (so waiting
// allocates nothing) and is linked into the queue of what it waits on. Whoever satisfies the
// wait unlinks the waiter and makes its task ready with wake(). A queue is per object; when the
// multi-threaded mode comes, each gets a lock and this interface stays.

#include <spindle/detail/config.hpp>
#include <spindle/detail/intrusive_list.hpp>
#include <spindle/detail/task.hpp>

#include <chrono>
#include <cstdint>

SPINDLE_EXPORTS_BEGIN

namespace spindle::detail {

struct wait_queue;

// wake_outcome says why a waiting task was made ready again.
enum class wake_outcome : std::uint8_t {
    waiting,    // not woken yet
    completed,  // what it waited for happened (a value was handed over, a lock passed on, ...)
    closed,     // the object it waited on was closed or destroyed
    timed_out,  // its deadline passed
    cancelled,  // task::cancel() interrupted it
};

// waiter is one task waiting in one wait_queue. `slot` is for the waker: where to put or take
// what is handed over.
struct waiter {
    waiter* previous = nullptr;
    waiter* next = nullptr;
    wait_queue* queue = nullptr;
    task_record* task = nullptr;
    void* slot = nullptr;
};

// wait_queue is a first-in first-out queue of waiters.
struct wait_queue : intrusive_list<waiter, &waiter::previous, &waiter::next> {
    waiter* front() const noexcept { return head; }
};

// begin_wait() links the calling task's waiter at the back of `queue`, without suspending yet,
// so that the caller can release what it holds (a mutex) first. `what` names the wait in
// deadlock messages. An uninterruptible wait is not ended by cancel() (the cancellation then
// applies at the next suspension); only a scheduler's teardown ends it, when nothing else will.
// Throws cancelled when the task was cancelled already, and fiber_error outside any task.
void begin_wait(wait_queue& queue, waiter& w, const char* what, bool interruptible = true);
// begin_wait_until() also ends the wait with timed_out once `deadline` has passed.
void begin_wait_until(wait_queue& queue, waiter& w, const char* what,
                      std::chrono::steady_clock::time_point deadline);
// end_wait() suspends the calling task until its waiter is woken, and says how. An interruptible
// wait that was cancelled (or woken other than `completed` while a cancel was pending) throws
// cancelled, unless the task is unwinding (then the cancellation stays pending); so does an
// uninterruptible one that a scheduler's teardown ended. The waiter is unlinked by then.
wake_outcome end_wait(waiter& w);
// wake() unlinks w and makes its task ready; the task's end_wait() returns `outcome`.
void wake(waiter& w, wake_outcome outcome) noexcept;
// wake_all() wakes every waiter in the queue, in order.
void wake_all(wait_queue& queue, wake_outcome outcome) noexcept;

// task_key names a task for the life of the process, which a record's address does not
// (records are recycled) and a task id alone does not (ids count per scheduler). {0, 0} stands
// for code outside any task.
struct task_key {
    std::uint64_t scheduler = 0;  // the scheduler's serial number, counted over the process
    std::uint64_t task = 0;       // the task's id in that scheduler
    friend bool operator==(const task_key&, const task_key&) = default;
};
// running_task_key() is the key of the task running on this thread, or {0, 0}.
task_key running_task_key() noexcept;

}  // namespace spindle::detail

SPINDLE_EXPORTS_END
