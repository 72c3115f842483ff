#pragma once
// trace_recorder: a scheduler's buffer of task events while a trace is on (spindle/trace.hpp),
// and its writing as Chrome trace-event JSON.

#include "scheduler/task_record.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace spindle::detail {

// trace_event_kind is what happened to a task. start/resume open a slice (the task has the
// thread), suspend/yield/end close it.
enum class trace_event_kind : std::uint8_t { spawn, start, resume, suspend, yield, end };

struct trace_event {
    std::int64_t nanoseconds;  // since the trace started
    std::uint64_t task_id;
    const char* reason;        // a suspend's wait reason (static text), else nullptr
    int thread;
    trace_event_kind kind;
    char name[32];
};

class trace_recorder {
public:
    explicit trace_recorder(std::size_t max_events) noexcept;

    // hand_over() records the running task `from` leaving the thread (either may be nullptr, the
    // run loop) and `to` taking it.
    void hand_over(const task_record* from, const task_record* to) noexcept;
    // spawned() records a task's spawn.
    void spawned(const task_record* task) noexcept;
    // bind_thread() takes the calling thread's id for the events that follow.
    void bind_thread() noexcept;

    // write() writes the events as JSON to `path`; false when the file cannot be written.
    bool write(const char* path, std::uint64_t scheduler_serial) const;

    bool recording = true;
    std::size_t size() const noexcept { return events_.size(); }
    std::uint64_t dropped() const noexcept { return dropped_; }

private:
    void record(trace_event_kind kind, const task_record* task,
                std::chrono::steady_clock::time_point now) noexcept;

    std::vector<trace_event> events_;
    std::size_t max_events_;
    std::uint64_t dropped_ = 0;
    int thread_ = 0;
    std::chrono::steady_clock::time_point origin_;
};

}  // namespace spindle::detail
