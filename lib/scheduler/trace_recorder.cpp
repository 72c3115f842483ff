// trace_recorder: recording task events and writing them as Chrome trace-event JSON.

#include "scheduler/trace_recorder.hpp"

#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace spindle::detail {
namespace {

// write_json_string() writes `text` quoted, with what JSON must escape escaped.
void write_json_string(std::FILE* out, const char* text) {
    std::fputc('"', out);
    for (const char* c = text; *c; ++c) {
        const auto byte = static_cast<unsigned char>(*c);
        if (byte == '"' || byte == '\\')
            std::fprintf(out, "\\%c", byte);
        else if (byte < 0x20)
            std::fprintf(out, "\\u%04x", byte);
        else
            std::fputc(byte, out);
    }
    std::fputc('"', out);
}

const char* kind_name(trace_event_kind kind) noexcept {
    switch (kind) {
    case trace_event_kind::spawn: return "spawn";
    case trace_event_kind::start: return "start";
    case trace_event_kind::resume: return "resume";
    case trace_event_kind::suspend: return "suspend";
    case trace_event_kind::yield: return "yield";
    case trace_event_kind::end: return "end";
    }
    return "?";
}

// phase() is the event's Chrome phase: an instant, the beginning or the end of a slice.
const char* phase(trace_event_kind kind) noexcept {
    switch (kind) {
    case trace_event_kind::spawn: return "i";
    case trace_event_kind::start:
    case trace_event_kind::resume: return "B";
    default: return "E";
    }
}

}  // namespace

trace_recorder::trace_recorder(std::size_t max_events) noexcept
    : max_events_(max_events), thread_(static_cast<int>(::gettid())),
      origin_(std::chrono::steady_clock::now()) {}

void trace_recorder::bind_thread() noexcept { thread_ = static_cast<int>(::gettid()); }

void trace_recorder::record(trace_event_kind kind, const task_record* task,
                            std::chrono::steady_clock::time_point now) noexcept {
    // Once one event is lost every later one is too, so that no slice is left with an end
    // but no beginning.
    if (dropped_ > 0 || events_.size() >= max_events_) {
        ++dropped_;
        return;
    }
    trace_event event{};
    event.nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(now - origin_).count();
    event.task_id = task->id;
    if (kind == trace_event_kind::suspend)
        event.reason = task->joining ? "join" : task->wait_reason;
    event.thread = thread_;
    event.kind = kind;
    std::memcpy(event.name, task->name, sizeof event.name);
    event.name[sizeof event.name - 1] = '\0';
    try {
        events_.push_back(event);
    } catch (...) {
        ++dropped_;
    }
}

void trace_recorder::hand_over(const task_record* from, const task_record* to) noexcept {
    if (!recording) return;
    const auto now = std::chrono::steady_clock::now();
    if (from) {
        trace_event_kind kind = trace_event_kind::suspend;
        if (from->status == task_status::done) kind = trace_event_kind::end;
        if (from->status == task_status::ready) kind = trace_event_kind::yield;
        record(kind, from, now);
    }
    if (to) record(to->started ? trace_event_kind::resume : trace_event_kind::start, to, now);
}

void trace_recorder::spawned(const task_record* task) noexcept {
    if (recording) record(trace_event_kind::spawn, task, std::chrono::steady_clock::now());
}

bool trace_recorder::write(const char* path, std::uint64_t scheduler_serial) const {
    std::FILE* out = std::fopen(path, "w");
    if (!out) return false;
    const int pid = static_cast<int>(::getpid());
    std::fprintf(out, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
    std::fprintf(out,
                 "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
                 "\"args\":{\"name\":\"spindle scheduler %llu\"}}",
                 pid, thread_, static_cast<unsigned long long>(scheduler_serial));
    for (const trace_event& event : events_) {
        std::fprintf(out, ",\n{\"name\":");
        if (event.name[0])
            write_json_string(out, event.name);
        else
            std::fprintf(out, "\"task %llu\"", static_cast<unsigned long long>(event.task_id));
        std::fprintf(out, ",\"cat\":\"task\",\"ph\":\"%s\",", phase(event.kind));
        if (event.kind == trace_event_kind::spawn) std::fprintf(out, "\"s\":\"t\",");
        std::fprintf(out,
                     "\"ts\":%lld.%03lld,\"pid\":%d,\"tid\":%d,"
                     "\"args\":{\"id\":%llu,\"event\":\"%s\"",
                     static_cast<long long>(event.nanoseconds / 1000),
                     static_cast<long long>(event.nanoseconds % 1000), pid, event.thread,
                     static_cast<unsigned long long>(event.task_id), kind_name(event.kind));
        if (event.reason) {
            std::fprintf(out, ",\"reason\":");
            write_json_string(out, event.reason);
        }
        std::fprintf(out, "}}");
    }
    std::fprintf(out, "\n]}\n");
    const bool written = !std::ferror(out);
    return std::fclose(out) == 0 && written;
}

}  // namespace spindle::detail
