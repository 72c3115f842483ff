#pragma once
// trace: statistics of a scheduler, and an opt-in record of what ran when, written as a Chrome
// trace-event JSON file that Perfetto (ui.perfetto.dev) opens. See docs/debugging.md.

#include <spindle/detail/config.hpp>
#include <spindle/scheduler.hpp>

#include <cstddef>
#include <cstdint>

SPINDLE_EXPORTS_BEGIN

namespace spindle {

/// scheduler_statistics is a snapshot of one scheduler's tasks and of its thread's stack pool.
struct scheduler_statistics {
    std::uint64_t tasks_alive = 0;    ///< spawned and not finished
    std::uint64_t tasks_ready = 0;    ///< queued for their turn
    std::uint64_t tasks_waiting = 0;  ///< in a wait (queue, timer, join, descriptor)
    std::uint64_t tasks_running = 0;  ///< on the thread right now (0 or 1)
    std::uint64_t tasks_spawned = 0;  ///< ever spawned on this scheduler
    std::uint64_t switches = 0;       ///< times the thread was handed to a task
    std::uint64_t stacks_in_use = 0;  ///< stacks held by started, unfinished tasks
    std::uint64_t stacks_cached = 0;  ///< stacks this thread's pool keeps for reuse
    std::uint64_t stacks_mapped = 0;  ///< stacks this thread ever obtained from the system
    std::uint64_t stacks_reused = 0;  ///< stacks this thread served from its pool
    std::uint64_t trace_events = 0;   ///< events in the trace buffer
    std::uint64_t trace_dropped = 0;  ///< events lost: the buffer was full or memory ran out
};

/// statistics() is a snapshot of `s`; call it on the thread that runs (or ran) it.
scheduler_statistics statistics(const scheduler& s);
/// this_scheduler_statistics() is statistics() of the scheduler running the calling task;
/// throws fiber_error outside any task.
scheduler_statistics this_scheduler_statistics();

/// default_trace_events is how many events a trace keeps unless told otherwise (about 64 MiB).
inline constexpr std::size_t default_trace_events = std::size_t{1} << 20;

/// start_trace() makes `s` record task events (spawn, start, suspend with its reason, yield,
/// resume, end) with their time and thread, from now on, into a buffer of at most
/// `max_events` events; once it is full (or memory runs out) later events are dropped and
/// counted in scheduler_statistics::trace_dropped. Starting again clears the buffer. When no
/// trace was started the scheduler pays one test of a null pointer per switch.
void start_trace(scheduler& s, std::size_t max_events = default_trace_events);
/// stop_trace() ends the recording; the events stay for write_trace().
void stop_trace(scheduler& s) noexcept;
/// write_trace() writes the recorded events to `path` as Chrome trace-event JSON (one slice per
/// turn a task ran, named after the task). Throws std::system_error when the file cannot be
/// written, fiber_error when no trace was started.
void write_trace(const scheduler& s, const char* path);

}  // namespace spindle

SPINDLE_EXPORTS_END
