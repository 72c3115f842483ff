#pragma once
// task_record: everything the scheduler keeps about one task.
//
// The record is a small heap block (its payload, the function and result slot, sits right
// behind it); the task gets a stack (an idle fiber's, or a new fiber's from the pool) only when it
// first runs and lets go of it the moment it finishes. So a spawned task that has not started,
// or has finished but is still held by a handle, costs a few hundred bytes and no stack.

#include "fiber/fiber_internals.hpp"

#include <spindle/detail/assert.hpp>

#include <spindle/detail/task.hpp>
#include <spindle/detail/wait_queue.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>

namespace spindle::detail {

struct scheduler_core;
struct cancel_scope_state;
struct task_set;

// task_status is where a task is in its life.
enum class task_status : std::uint8_t {
    created,  // its record is made; spawn() queues it next
    ready,    // in the ready queue (started or not)
    running,  // on the thread right now
    waiting,  // in a wait queue, the timer heap, or joining another task
    done,     // finished: its function returned or threw, or it was cancelled before it started
};

// task_may_move() tells whether a task's life allows a move from one status to another: it is
// queued (ready) when spawned, runs, yields (ready), waits, is woken (ready), and ends (done),
// also straight from ready when it is cancelled before it starts or cannot get a stack.
constexpr bool task_may_move(task_status from, task_status to) noexcept {
    switch (from) {
    case task_status::created: return to == task_status::ready;
    case task_status::ready: return to == task_status::running || to == task_status::done;
    case task_status::running:
        return to == task_status::ready || to == task_status::waiting || to == task_status::done;
    case task_status::waiting: return to == task_status::ready;
    case task_status::done: return false;
    }
    return false;
}

inline constexpr std::size_t no_timer_slot = static_cast<std::size_t>(-1);

struct task_record {
    // The hot fields come first, so that a switch into or out of the task touches one cache line
    // of the record besides its stack: the flags a switch reads or writes, the queue position,
    // the innermost fiber and the start of `park` (through its exception state: 64 bytes).
    task_status status = task_status::created;
    wake_outcome outcome = wake_outcome::waiting;
    bool started = false;
    // What a checkpoint (every wait, and yield()) must look into besides switching, as one byte
    // so that the common case, nothing, is one test: duty_cancel while a cancellation is pending
    // (cancel_requested()), duty_scope while the task is in a timeout scope or shield (scope).
    std::uint8_t duties = 0;
    // Where it sits in the ready queue's ring: the low 32 bits of its position are enough, since
    // the ring's mask (its capacity less one) fits in them.
    std::uint32_t queue_position = 0;
    // The innermost fiber on the parked stack (the task's own, or one nested in it): whoever
    // resumes the task makes it current before the switch.
    fiber_control* park_control = nullptr;
    context_record park;               // the parked context, whichever stack it is on

    bool interruptible = true;   // cancel() may end the current wait
    bool handle_alive = true;
    bool result_taken = false;
    bool joiner_first = false;   // the join ran this task at once: its joiner goes next
    // wait_took_core (several workers) says that the task's current wait took the core lock
    // (link_wait_slow()), so that end_wait() releases it after the switch; false when the
    // caller held it already (a task group's wait) and releases it itself.
    bool wait_took_core = false;

    // Links in the scheduler's list of unfinished tasks (for deadlock reports and teardown).
    task_record* live_previous = nullptr;
    task_record* live_next = nullptr;

    scheduler_core* scheduler = nullptr;
    fiber_control* control = nullptr;    // the task's fiber: null before it starts and once done

    const task_payload_operations* operations = nullptr;
    void* payload = nullptr;
    void* result = nullptr;  // the payload's result slot
    std::exception_ptr exception;

    // The innermost timeout scope or shield the task is in (spindle/timeout.hpp), and the scope
    // whose deadline threw the last cancelled (null when task::cancel() threw it).
    cancel_scope_state* scope = nullptr;
    const cancel_scope_state* cancel_origin = nullptr;
    bool timer_for_scope = false;  // its timer is a scope's deadline, not the wait's own

    // The task set (a task group, as_completed) the task belongs to, and its links there.
    task_set* set = nullptr;
    task_record* set_previous = nullptr;
    task_record* set_next = nullptr;

    task_record* remote_next = nullptr;  // the poller's list of tasks completed by other threads
    task_record* woken_next = nullptr;   // the inbox's list of tasks other threads woke
    // claimed is the one claim notify, timeout and cancel race for on a wait in a wait queue,
    // where other threads may touch it (wait_queue.hpp): reset when a wait begins, set by
    // whoever ends it. Untouched where no other thread can, where the waker unlinks at once.
    std::atomic<bool> claimed{false};
    task_record* joiner = nullptr;   // the task waiting in join() for this one
    task_record* joining = nullptr;  // the task this one waits for in join()
    waiter* wait = nullptr;          // this task's waiter while it is in a wait queue
    const char* wait_reason = nullptr;

    std::chrono::steady_clock::time_point deadline{};
    std::size_t timer_slot = no_timer_slot;  // index in the timer heap, or no_timer_slot

    // last_worker (several workers) is the index of the worker that last took the task to run
    // it; no_worker before the first. The migrating debug mode resumes it elsewhere.
    std::uint32_t last_worker = no_worker;
    static constexpr std::uint32_t no_worker = ~std::uint32_t{0};

    std::uint64_t id = 0;
    spawn_site spawned_at;  // the caller of spawn(), for crash reports and task dumps
    std::size_t allocation_size = 0;
    std::size_t allocation_alignment = 0;
    char name[32];  // set by create_task(); not zeroed here, zeroing it all costs a `rep stos`

    task_record() noexcept { name[0] = '\0'; }
};

// with_waiters_left() marks a wait's outcome to say that the waker left the task's waiters linked
// (where other threads may touch the objects: the task unlinks them itself when it resumes,
// worker::release_waiters()); waiters_left() tests the mark, without_waiters_left() drops it. In
// the outcome, so that the resumed task's one test for `completed` covers the mark as well.
inline constexpr std::uint8_t waiters_left_mark = 0x80;
inline constexpr wake_outcome with_waiters_left(wake_outcome outcome) noexcept {
    return static_cast<wake_outcome>(static_cast<std::uint8_t>(outcome) | waiters_left_mark);
}
inline constexpr bool waiters_left(wake_outcome outcome) noexcept {
    return (static_cast<std::uint8_t>(outcome) & waiters_left_mark) != 0;
}
inline constexpr wake_outcome without_waiters_left(wake_outcome outcome) noexcept {
    return static_cast<wake_outcome>(static_cast<std::uint8_t>(outcome) & ~waiters_left_mark);
}

inline constexpr std::uint8_t duty_cancel = 1;
inline constexpr std::uint8_t duty_scope = 2;
// duty_shared marks every task of a scheduler with several workers, for good: their waits and
// checkpoints take the slow paths, which take the core lock.
inline constexpr std::uint8_t duty_shared = 4;

// duties_of() reads a task's duties. Atomic (relaxed; a plain load on both architectures): with
// several workers another task's cancel() writes them under the core lock while the task itself
// tests them without it, then takes the lock to act (duty_shared sends it there).
inline std::uint8_t duties_of(const task_record* task) noexcept {
    return std::atomic_ref<const std::uint8_t>(task->duties).load(std::memory_order_relaxed);
}
// set_duty() sets or clears the `duty` bit (under the core lock with several workers: the only
// writers hold it, so a load and a store suffice).
inline void set_duty(task_record* task, std::uint8_t duty, bool on) noexcept {
    const std::uint8_t now = duties_of(task);
    std::atomic_ref<std::uint8_t>(task->duties)
        .store(static_cast<std::uint8_t>(on ? now | duty : now & ~duty), std::memory_order_relaxed);
}
// cancel_requested() tells whether a cancellation is pending for the task; set_cancel_requested()
// sets or clears that.
inline bool cancel_requested(const task_record* task) noexcept {
    return (duties_of(task) & duty_cancel) != 0;
}
inline void set_cancel_requested(task_record* task, bool requested) noexcept {
    set_duty(task, duty_cancel, requested);
}
// set_scope() makes `scope` the innermost timeout scope or shield of the task (nullptr: none).
inline void set_scope(task_record* task, cancel_scope_state* scope) noexcept {
    task->scope = scope;
    set_duty(task, duty_scope, scope != nullptr);
}

// held() tells whether something still refers to a finished task's record: its handle, or the
// task set it belongs to.
inline bool held(const task_record* task) noexcept { return task->handle_alive || task->set; }

// set_status() moves a task to `to`, checking that its life allows the move. The status is
// written atomically, and `done` with release order: with several workers a join or done() of a
// finished task reads it without the core lock (status_of()), and then the task's result.
inline void set_status(task_record* task, task_status to) noexcept {
    SPINDLE_ASSERT(task_may_move(task->status, to), "a task moved between states out of order");
    std::atomic_ref<task_status>(task->status)
        .store(to, to == task_status::done ? std::memory_order_release : std::memory_order_relaxed);
}
// status_of() reads a task's status without the core lock; a task seen `done` has its result
// and exception in place.
inline task_status status_of(const task_record* task) noexcept {
    return std::atomic_ref<const task_status>(task->status).load(std::memory_order_acquire);
}

}  // namespace spindle::detail
