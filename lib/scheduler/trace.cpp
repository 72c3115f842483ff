// trace: the public side of statistics and tracing (spindle/trace.hpp).

#include "scheduler/worker.hpp"
#include "stack/stack_pool.hpp"

#include <spindle/errors.hpp>
#include <spindle/trace.hpp>

#include <atomic>
#include <cerrno>
#include <system_error>

namespace spindle {
namespace detail {

struct scheduler_access {
    static scheduler_core* core(const scheduler& s) noexcept { return s.core_; }
};

namespace {

// set_trace_everywhere() attaches `recorder` (or none) to every worker: with several, switches
// happen under the core lock, so one recorder serves them all.
void set_trace_everywhere(scheduler_core& core, trace_recorder* recorder) noexcept {
    core_hold hold(core);
    if (!core.multi) return core.main_worker.set_trace(recorder);
    for (worker* w : core.workers) w->set_trace(recorder);
}

scheduler_statistics statistics_of(scheduler_core& core) {
    core_hold hold(core);
    scheduler_statistics result;
    result.tasks_alive = core.live_count;
    result.tasks_spawned =
        std::atomic_ref<std::uint64_t>(core.next_task_id).load(std::memory_order_relaxed) - 1;
    if (core.multi)
        for (const worker* w : core.workers) result.switches += w->switches();
    else
        result.switches = core.main_worker.switches();
    // Walking the live tasks here keeps the switches free of counters for each state.
    for (const task_record* task = core.live.head; task; task = task->live_next) {
        if (task->status == task_status::ready) ++result.tasks_ready;
        if (task->status == task_status::waiting) ++result.tasks_waiting;
        if (task->status == task_status::running) ++result.tasks_running;
        if (task->control) ++result.stacks_in_use;
    }
    const stack_pool_statistics pool = stack_pool_stats();
    result.stacks_cached = pool.cached;
    result.stacks_mapped = pool.mapped;
    result.stacks_reused = pool.reused;
    if (core.trace) {
        result.trace_events = core.trace->size();
        result.trace_dropped = core.trace->dropped();
    }
    return result;
}

}  // namespace
}  // namespace detail

scheduler_statistics statistics(const scheduler& s) {
    return detail::statistics_of(*detail::scheduler_access::core(s));
}

scheduler_statistics this_scheduler_statistics() {
    detail::task_record* self = detail::running_task();
    if (!self)
        throw fiber_error("spindle::this_scheduler_statistics() called outside any task");
    return detail::statistics_of(*self->scheduler);
}

void start_trace(scheduler& s, std::size_t max_events) {
    detail::scheduler_core& core = *detail::scheduler_access::core(s);
    detail::set_trace_everywhere(core, nullptr);
    core.trace = std::make_unique<detail::trace_recorder>(max_events);
    detail::set_trace_everywhere(core, core.trace.get());
}

void stop_trace(scheduler& s) noexcept {
    detail::scheduler_core& core = *detail::scheduler_access::core(s);
    detail::set_trace_everywhere(core, nullptr);
    if (core.trace) core.trace->recording = false;
}

void write_trace(const scheduler& s, const char* path) {
    const detail::scheduler_core& core = *detail::scheduler_access::core(s);
    if (!core.trace) throw fiber_error("spindle::write_trace(): no trace was started");
    if (!core.trace->write(path, core.serial))
        throw std::system_error(errno, std::generic_category(),
                                std::string("spindle::write_trace(): cannot write ") + path);
}

}  // namespace spindle
