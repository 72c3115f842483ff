#pragma once
// task_record: everything the scheduler keeps about one task.
//
// The record is a small heap block (its payload, the function and result slot, sits right
// behind it); the task's stack is taken from the pool only when the task first runs and goes
// back the moment it finishes. So a spawned task that has not started, or has finished but is
// still held by a handle, costs a few hundred bytes and no stack.

#include "fiber/fiber_internals.hpp"

#include <spindle/detail/task.hpp>
#include <spindle/detail/wait_queue.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>

namespace spindle::detail {

struct scheduler_core;

// task_status is where a task is in its life.
enum class task_status : std::uint8_t {
    ready,    // in the ready queue (started or not)
    running,  // on the thread right now
    waiting,  // in a wait queue, the timer heap, or joining another task
    done,     // finished: its function returned or threw, or it was cancelled before it started
};

inline constexpr std::size_t no_timer_slot = static_cast<std::size_t>(-1);

struct task_record {
    // The hot fields come first, so that a switch into or out of the task touches one cache line
    // of the record besides its stack: the flags, the queue position, the start of `park`.
    task_status status = task_status::ready;
    wake_outcome outcome = wake_outcome::waiting;
    bool started = false;
    bool cancel_requested = false;
    bool interruptible = true;   // cancel() may end the current wait
    bool handle_alive = true;
    bool result_taken = false;
    bool joiner_first = false;   // the join ran this task at once: its joiner goes next
    std::uint64_t queue_position = 0;  // where it sits in the ready queue's ring
    context_record park;               // the parked context, whichever stack it is on

    // Links in the scheduler's list of unfinished tasks (for deadlock reports and teardown).
    task_record* live_previous = nullptr;
    task_record* live_next = nullptr;

    scheduler_core* scheduler = nullptr;
    fiber_control* control = nullptr;    // the task's fiber: null before it starts and once done

    const task_payload_operations* operations = nullptr;
    void* payload = nullptr;
    void* result = nullptr;  // the payload's result slot
    std::exception_ptr exception;

    task_record* joiner = nullptr;   // the task waiting in join() for this one
    task_record* joining = nullptr;  // the task this one waits for in join()
    waiter* wait = nullptr;          // this task's waiter while it is in a wait queue
    const char* wait_reason = nullptr;

    std::chrono::steady_clock::time_point deadline{};
    std::size_t timer_slot = no_timer_slot;  // index in the timer heap, or no_timer_slot

    std::uint64_t id = 0;
    std::size_t allocation_size = 0;
    std::size_t allocation_alignment = 0;
    char name[32];  // set by create_task(); not zeroed here, zeroing it all costs a `rep stos`

    task_record() noexcept { name[0] = '\0'; }
};

}  // namespace spindle::detail
