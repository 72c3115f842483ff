#pragma once
// Wait queues: what channel, mutex and condition_variable build on.
//
// A waiting task (or thread, see below) is represented by a waiter that lives in the waiting
// frame (so waiting allocates nothing) and is linked into the queue of what it waits on. Whoever
// satisfies the wait claims the waiter (claim_first()), unlinks it and makes its task ready with
// wake(). An object that other threads may use has a wait_lock (wait_lock.hpp): its queue is
// touched only under it, and a task that waits hands it to end_wait(), which releases it once the
// task has switched away. Notify, timeout and cancel race for a waiting task through one atomic
// claim, so that each wait is ended exactly once; the woken task unlinks its other waiters (a
// select's) itself, one lock at a time, after it resumes.
//
// A thread outside any task waits too (a channel's send or receive from a std::thread): its
// waiter points to a thread_waiter, which blocks the thread until a waker ends the wait.

#include <spindle/detail/config.hpp>
#include <spindle/detail/intrusive_list.hpp>
#include <spindle/detail/task.hpp>
#include <spindle/detail/wait_lock.hpp>

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
    retry,      // the waker claimed it but could not complete the hand-over (a value's move
                // threw): nothing happened, wait again
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

// waiter is one task (or thread) waiting in one wait_queue. `slot` is for the waker: where to
// put or take what is handed over. `object` is the name of what it waits on
// (object_name::c_str()), or null; `lock` is the object's wait_lock, if it has one. A task may
// wait in several queues at once (select): begin_wait() links the first waiter and also_wait()
// each further one; whichever is woken first is marked `fired`, and none other can be.
struct waiter {
    waiter* previous = nullptr;
    waiter* next = nullptr;
    wait_queue* queue = nullptr;  // null once unlinked
    task_record* task = nullptr;
    // thread: a thread outside any task waits (`task` is then a marker whose scheduler never
    // runs, which sends the wakers to their rare path).
    thread_waiter* thread = nullptr;
    void* slot = nullptr;
    const char* object = nullptr;
    wait_lock* lock = nullptr;
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
// uninterruptible one that a scheduler's teardown ended. Every waiter of the wait is unlinked by
// then.
wake_outcome end_wait(waiter& w);
// end_wait(w, handed) is end_wait() by a task that holds the locks `handed` of the objects it
// waits on: they are released once it has switched away.
wake_outcome end_wait(waiter& w, held_locks handed);
// wait_in() is begin_wait() and end_wait() in one call, for an interruptible wait with no
// deadline and no lock to hand over: a channel's wait on a scheduler no other thread touches,
// the most common wait, takes the task and its worker from the thread once, not twice.
wake_outcome wait_in(wait_queue& queue, waiter& w, const char* what);
// end_wait(w, guard) is end_wait() handing over the one lock `guard` holds, if any.
inline wake_outcome end_wait(waiter& w, object_guard& guard) {
    wait_lock* const lock = guard.hand_over();
    if (!lock) return end_wait(w);
    return end_wait(w, held_locks{&lock, 1});
}

// Wakers. Each comes in two forms: `Locked` (or _shared) for a caller that takes the objects'
// locks (locks_objects(): a thread outside any scheduler, the worker of a shared one), and
// unlocked for the worker of a scheduler no other thread may touch, whose code needs neither
// claims nor locks; the plain names ask locks_objects() and pick one.

// claim_first() claims the longest waiting waiter of `queue` that no other waker (a timeout, a
// cancel, another object's notify) has claimed, and returns it, or nullptr. The caller then
// completes the hand-over and wakes it (with `retry` if the hand-over threw), holding the
// object's lock throughout. Unlocked, the first waiter is unclaimed by construction.
waiter* claim_first_shared(wait_queue& queue) noexcept;
template <bool Locked>
inline waiter* claim_first_as(wait_queue& queue) noexcept {
    waiter* w = queue.front();
    if constexpr (Locked) {
        if (w) return claim_first_shared(queue);
    }
    return w;
}
inline waiter* claim_first(wait_queue& queue) noexcept {
    return locks_objects() ? claim_first_as<true>(queue) : claim_first_as<false>(queue);
}
// first_waiting() is the longest waiting waiter of `queue` that no waker has claimed, without
// claiming it (a select asks whether a case could complete); nullptr when none.
waiter* first_waiting_shared(wait_queue& queue) noexcept;
inline waiter* first_waiting(wait_queue& queue) noexcept {
    waiter* w = queue.front();
    if (w && locks_objects()) [[unlikely]] return first_waiting_shared(queue);
    return w;
}
// wake() ends the wait of the waiter claim_first() returned: unlinks it and makes its task
// ready (or lets its thread go on); the wait returns `outcome`.
void wake_shared(waiter& w, wake_outcome outcome) noexcept;
void wake_unshared(waiter& w, wake_outcome outcome) noexcept;
template <bool Locked>
inline void wake_as(waiter& w, wake_outcome outcome) noexcept {
    if constexpr (Locked)
        wake_shared(w, outcome);
    else
        wake_unshared(w, outcome);
}
inline void wake(waiter& w, wake_outcome outcome) noexcept {
    if (locks_objects())
        wake_shared(w, outcome);
    else
        wake_unshared(w, outcome);
}
// give_up_claim() is for a waker whose hand-over to the waiter claim_first() returned threw:
// unlocked, nothing was claimed and the waiter stays as it was; else its wait ends with `retry`
// (it waits again).
template <bool Locked>
inline void give_up_claim(waiter& w) noexcept {
    if constexpr (Locked) wake_shared(w, wake_outcome::retry);
}
// wake_all() wakes every waiter in the queue, in order.
void wake_all(wait_queue& queue, wake_outcome outcome) noexcept;

// wait_here() is a wait of code outside any task: it links `w` (which names its object) into
// `queue` for the calling thread, releases `guard`, and blocks the thread until a waker ends the
// wait or `deadline` passes (timed_out). Without a lock to release (a guard that holds none, on
// a worker whose scheduler no other thread may touch) it throws fiber_error: the waker could only
// be a task of the thread it would block.
// `after_link`, if given, runs (with `context`) once the waiter is linked, before the lock goes:
// a condition variable releases its mutex there, so that no notify can fall between the two.
wake_outcome wait_here(wait_queue& queue, waiter& w, object_guard& guard, const char* what,
                       std::chrono::steady_clock::time_point deadline,
                       void (*after_link)(void*) noexcept = nullptr, void* context = nullptr);
// in_task() tells whether the calling code runs in a task (its waits suspend the task) or not
// (they block the thread, wait_here()).
bool in_task() noexcept;

// task_key names a task for the life of the process, which a record's address does not
// (records are recycled) and a task id alone does not (ids count per scheduler). Code outside any
// task is {0, n}: n numbers its thread, from 1 in the order threads first ask.
struct task_key {
    std::uint64_t scheduler = 0;  // the scheduler's serial number, counted over the process
    std::uint64_t task = 0;       // the task's id in that scheduler
    friend bool operator==(const task_key&, const task_key&) = default;
};
// running_task_key() is the key of the task running on this thread, or its thread's {0, n}.
task_key running_task_key() noexcept;

}  // namespace spindle::detail

SPINDLE_EXPORTS_END
