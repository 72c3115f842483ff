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
#include <cstddef>
#include <cstdint>
#include <string_view>

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

// object_name is the name a user gives a channel, mutex or other object tasks wait on, which
// deadlock reports and task dumps print beside the wait. Up to 31 bytes are kept; it is a fixed
// buffer so that naming allocates nothing and cannot fail.
class object_name {
public:
    object_name() noexcept { text_[0] = '\0'; }
    explicit object_name(std::string_view name) noexcept { assign(name); }
    void assign(std::string_view name) noexcept {
        const std::size_t n = name.size() < sizeof text_ ? name.size() : sizeof text_ - 1;
        for (std::size_t i = 0; i < n; ++i) text_[i] = name[i];
        text_[n] = '\0';
    }
    // c_str() is the name, or nullptr when the object has none (as waiter::object wants it).
    const char* c_str() const noexcept { return text_[0] ? text_ : nullptr; }

private:
    char text_[32];
};

// waiter is one task waiting in one wait_queue. `slot` is for the waker: where to put or take
// what is handed over. `object` is the name of what it waits on (object_name::c_str()), or null.
// A task may wait in several queues at once (select): begin_wait() links the first waiter and
// also_wait() each further one; whichever is woken first is marked `fired` and all are unlinked.
struct waiter {
    waiter* previous = nullptr;
    waiter* next = nullptr;
    wait_queue* queue = nullptr;
    task_record* task = nullptr;
    void* slot = nullptr;
    const char* object = nullptr;
    waiter* sibling = nullptr;  // the next waiter of the same task's wait, if several
    bool fired = false;         // this waiter, of the task's several, is the one woken
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
// also_wait() links one more waiter of the calling task, which begin_wait() has already put in a
// wait, into `queue`: the task now waits for whichever comes first (select). Cannot fail.
void also_wait(wait_queue& queue, waiter& first, waiter& w) noexcept;
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
