// Tasks: records, join, gather, cancel, and the end of a task's life.

#include "scheduler/task_set.hpp"
#include "scheduler/worker.hpp"
#include "stack/size_class_cache.hpp"

#include <spindle/errors.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <utility>

namespace spindle::detail {
namespace {

// record_cache keeps this thread's freed task records for reuse, by size in steps of a cache
// line, so that spawning costs no malloc once warm and each record starts on a cache line (its
// hot fields then share one). Like the stack pool, it is per thread and needs no lock.
class record_cache {
public:
    static constexpr std::size_t line = 64;

    ~record_cache() {
        free_records_.drain(
            [](free_block* block) { ::operator delete(block, std::align_val_t{line}); });
    }

    static std::size_t rounded(std::size_t bytes) noexcept {
        return (bytes + line - 1) & ~(line - 1);
    }

    void* allocate(std::size_t bytes) {
        if (free_block* block = free_records_.pop(bytes)) return block;
        return ::operator new(bytes, std::align_val_t{line});
    }

    void deallocate(void* memory, std::size_t bytes) noexcept {
        if (!free_records_.push(bytes, ::new (memory) free_block{nullptr}, kept_per_class))
            ::operator delete(memory, std::align_val_t{line});
    }

private:
    struct free_block {
        free_block* next;
    };
    // A program spawns a handful of distinct task types in its hot loops; a thousand records
    // of each (a few hundred KiB) covers bursts without hoarding.
    static constexpr std::size_t class_count = 8;
    static constexpr std::size_t kept_per_class = 1024;

    size_class_cache<std::size_t, free_block, class_count> free_records_;
};

thread_local record_cache records;

// free_record() gives a record's memory back; its payload is gone already (or never was).
void free_record(task_record* task) noexcept {
    const std::size_t size = task->allocation_size;
    const std::size_t alignment = task->allocation_alignment;
    task->~task_record();
    if (alignment > record_cache::line)
        ::operator delete(task, std::align_val_t{alignment});
    else
        records.deallocate(task, size);
}

// not_finished_outside_task is join()'s complaint when nothing could wait.
constexpr const char* not_finished_outside_task =
    "spindle: join() of an unfinished task outside any task; join from a task, or after "
    "scheduler::run() has returned";

void report_unjoined_exception(const task_record& task) noexcept {
    // asyncio's "Task exception was never retrieved": a detached task's failure is not lost
    // silently. A cancellation is not a failure worth reporting.
    try {
        try {
            std::rethrow_exception(task.exception);
        } catch (const cancelled&) {
        } catch (const std::exception& e) {
            std::fprintf(stderr, "spindle: %s ended with an exception nobody joined: %s\n",
                         describe_task(task).c_str(), e.what());
        } catch (...) {
            std::fprintf(stderr, "spindle: %s ended with an exception nobody joined\n",
                         describe_task(task).c_str());
        }
    } catch (...) {
        // No memory for the message (describe_task() builds a string): the report is lost, the
        // program is not.
    }
}

// park_joiner() parks a joining task, out of line: the switch clobbers every callee-saved
// register, so a join that inlined it would save them all also on its common path, where the
// child has not started and runs at once.
[[gnu::noinline]] void park_joiner(worker* w) noexcept { w->park(); }

// await_task() waits until `task` is done or `deadline` has passed, without taking its result;
// false at the deadline. Throws cancelled only when the calling task is cancelled (or its timeout
// scope's deadline passes).
// await_task_body() is await_task() under the core lock, when the scheduler has several workers.
[[gnu::always_inline]] inline bool await_task_body(task_record* task,
                                                   std::chrono::steady_clock::time_point deadline) {
    worker* w = task_worker();
    if (w != &task->scheduler->main_worker) [[unlikely]]
        refuse_other_threads(task->scheduler, "join(), wait_for() or gather() of a task");
    if (task->status == task_status::done) return true;
    if (!w) throw fiber_error(not_finished_outside_task);
    task_record* self = w->running();
    if (self == task) throw fiber_error("spindle: a task cannot join itself");
    if (task->scheduler != self->scheduler)
        throw fiber_error("spindle: join() of a task that belongs to another scheduler");
    if (task->joiner) throw fiber_error("spindle: two tasks cannot join the same task");
    take_pending_cancel(self);
    w->arm_wait_timer(self, deadline);
    self->outcome = wake_outcome::completed;
    if (!task->started) {
        // Not started yet: run it now, on this turn, as work-stealing runtimes do when a join
        // finds its child still queued. The joiner then continues right after it, so a tree of
        // spawns and joins runs depth first and only one path of it holds stacks.
        if (!w->run_child_now(self, task) && self->timer_slot != no_timer_slot)
            w->cancel_timer(self);
    } else {
        task->joiner = self;
        self->joining = task;
        set_status(self, task_status::waiting);
        self->outcome = wake_outcome::waiting;
        self->wait_reason = nullptr;
        park_joiner(w);
    }
    throw_if_interrupted(self);
    return self->outcome != wake_outcome::timed_out;
}

// await_task_shared() is await_task() with several workers. Out of line, as the other *_shared
// functions here: one worker (the common case) then pays one test and a branch, no frame.
[[gnu::noinline]] bool await_task_shared(task_record* task,
                                         std::chrono::steady_clock::time_point deadline) {
    // A task that has finished (a child another worker ran) is joined without the core lock.
    if (status_of(task) == task_status::done && !on_other_thread(task->scheduler)) return true;
    core_hold hold(*task->scheduler);
    return await_task_body(task, deadline);
}

[[gnu::always_inline]] inline bool await_task(task_record* task,
                                              std::chrono::steady_clock::time_point deadline) {
    if (task->scheduler->multi) [[unlikely]] return await_task_shared(task, deadline);
    return await_task_body(task, deadline);
}

}  // namespace

std::string describe_task(const task_record& task) {
    std::string text = "task " + std::to_string(task.id);
    if (task.name[0]) {
        text += " '";
        text += task.name;
        text += "'";
    }
    return text;
}

bool unwinding(const task_record* task) noexcept {
    // The fiber layer keeps each context's C++ exception state: a parked task's is in `park`,
    // the running task's is the thread's.
    if (task->status == task_status::running) return std::uncaught_exceptions() > 0;
    return task->park.exceptions.uncaught_exceptions > 0;
}

void take_pending_cancel_slow(task_record* task) {
    // With several workers every task comes here (duty_shared). With nothing else to do it
    // returns without the core lock, which every wait and yield would otherwise take once more
    // (a quarter of a yield's time at two workers): a cancel that sets its duty just after this
    // test is taken at the next checkpoint, as one that comes just after the lock would be.
    if ((duties_of(task) & ~duty_shared) == 0) return;
    // Another task may cancel this one or end its scope meanwhile.
    core_hold hold(*task->scheduler);
    // While an exception unwinds the task (a destructor waits), the cancellation stays pending:
    // throwing there would be std::terminate. A shield keeps it pending too.
    if (cancel_requested(task) && std::uncaught_exceptions() == 0 && !shielded(task)) {
        set_cancel_requested(task, false);
        task->cancel_origin = nullptr;
        throw cancelled{};
    }
    // Every wait, and yield(), is a checkpoint for an expired timeout scope (as in Trio).
    if (task->scope) [[unlikely]] {
        const auto deadline = scope_deadline(task);
        if (deadline != std::chrono::steady_clock::time_point::max() &&
            std::uncaught_exceptions() == 0 && deadline <= std::chrono::steady_clock::now())
            throw_for_scope(task);
    }
}

void throw_if_interrupted_slow(task_record* task) {
    core_hold hold(*task->scheduler);
    // A wait that completed (a value handed over, a lock passed on) is not undone: the
    // cancellation then waits for the next suspension, so nothing handed over is lost.
    if (task->outcome == wake_outcome::completed || std::uncaught_exceptions() != 0) return;
    if (cancel_requested(task) && !shielded(task)) {
        set_cancel_requested(task, false);
        task->cancel_origin = nullptr;
        throw cancelled{};
    }
    if (task->outcome == wake_outcome::timed_out && task->timer_for_scope) {
        task->timer_for_scope = false;
        throw_for_scope(task);
    }
}

namespace {

// make_task() is create_task(). It touches only what a spawn may touch without the core lock:
// the record cache is the thread's, the id and the queue slot are taken atomically with several
// workers.
[[gnu::always_inline]] inline task_record* make_task(
    scheduler_core* scheduler, std::size_t payload_size, std::size_t payload_alignment,
    const task_payload_operations& operations, std::string_view name, spawn_site where) {
    const std::size_t alignment = std::max(record_cache::line, payload_alignment);
    const std::size_t header =
        (sizeof(task_record) + payload_alignment - 1) & ~(payload_alignment - 1);
    const std::size_t size = record_cache::rounded(header + payload_size);
    // The task's place in the ready queue is taken now, where running out of memory can still
    // be std::bad_alloc from spawn(): every later wake-up then queues without allocating.
    scheduler->main_worker.reserve_queue_slot();
    void* memory;
    try {
        memory = alignment > record_cache::line ? ::operator new(size, std::align_val_t{alignment})
                                                : records.allocate(size);
    } catch (...) {
        scheduler->main_worker.release_queue_slot();
        throw;
    }
    auto* task = ::new (memory) task_record{};
    task->scheduler = scheduler;
    task->operations = &operations;
    task->payload = static_cast<std::byte*>(memory) + header;
    task->allocation_size = size;
    task->allocation_alignment = alignment;
    task->id = scheduler->multi ? std::atomic_ref<std::uint64_t>(scheduler->next_task_id)
                                      .fetch_add(1, std::memory_order_relaxed)
                                : scheduler->next_task_id++;
    task->spawned_at = where;
    copy_name(task->name, name);
    return task;
}

[[gnu::noinline]] task_record* create_task_shared(
    scheduler_core* scheduler, std::size_t payload_size, std::size_t payload_alignment,
    const task_payload_operations& operations, std::string_view name, spawn_site where) {
    task_record* task =
        make_task(scheduler, payload_size, payload_alignment, operations, name, where);
    // Every wait of the task then takes the slow paths, which take the core lock.
    set_duty(task, duty_shared, true);
    return task;
}

[[gnu::noinline]] void schedule_task_shared(task_record* task) noexcept {
    scheduler_core* const core = task->scheduler;
    core_hold hold(*core);
    core->add_live(task);
    worker& here = core->local_worker();
    if (trace_recorder* trace = here.trace()) [[unlikely]]
        trace->spawned(task);
    // Spawned by a running task, it takes the spawner's next turn if free (Go's `go` statement
    // takes it always): a child joined at once runs where its parent waits. Later children go
    // to the queue, for an idle worker to take.
    here.ready_spawned(task);
}

}  // namespace

task_record* create_task(scheduler_core* scheduler, std::size_t payload_size,
                         std::size_t payload_alignment, const task_payload_operations& operations,
                         std::string_view name, spawn_site where) {
    refuse_other_threads(scheduler, "spawn()");
    if (scheduler->multi) [[unlikely]]
        return create_task_shared(scheduler, payload_size, payload_alignment, operations, name,
                                  where);
    return make_task(scheduler, payload_size, payload_alignment, operations, name, where);
}

void* task_payload_of(task_record* task) noexcept { return task->payload; }

void set_task_result(task_record* task, void* result_slot) noexcept { task->result = result_slot; }

bool wait_task_until(task_record* task, std::chrono::steady_clock::time_point deadline) {
    if (!task) throw fiber_error("spindle: wait_for() on an empty task handle");
    return await_task(task, deadline);
}

void* task_result(task_record* task) noexcept { return task->result; }

void discard_task(task_record* task) noexcept {
    task->scheduler->main_worker.release_queue_slot();
    free_record(task);
}

void destroy_record(task_record* task) noexcept {
    if (task->exception && !task->result_taken) report_unjoined_exception(*task);
    task->operations->destroy_payload(task->payload);
    free_record(task);
}

void schedule_task(task_record* task) noexcept {
    scheduler_core* const core = task->scheduler;
    if (core->multi) [[unlikely]] return schedule_task_shared(task);
    core->add_live(task);
    if (trace_recorder* trace = core->main_worker.trace()) [[unlikely]]
        trace->spawned(task);
    core->main_worker.make_ready(task);
}

void complete_task(task_record* task) noexcept {
    set_status(task, task_status::done);
    task->scheduler->remove_live(task);
    if (task->set) member_finished(task);
    task->scheduler->main_worker.release_queue_slot();
    if (task_record* joiner = task->joiner) {
        task->joiner = nullptr;
        joiner->joining = nullptr;
        task->scheduler->local_worker().wake_task(joiner, wake_outcome::completed,
                                                  task->joiner_first);
    }
    if (!task->control && !held(task)) destroy_record(task);
}

void throw_other_thread(const char* what) {
    throw fiber_error(std::string("spindle: ") + what +
                      " from a thread other than the one running the scheduler; hand that "
                      "thread's work to the scheduler with submit() or a scheduler_handle");
}

scheduler_core* calling_task_scheduler() {
    task_record* self = running_task();
    if (!self)
        throw fiber_error(
            "spindle::spawn() called outside any task; use scheduler::spawn() to add a task "
            "before run()");
    return self->scheduler;
}

void join_task(task_record* task) {
    if (!task) throw fiber_error("spindle: join() on an empty task handle");
    if (task->result_taken) throw fiber_error("spindle: join() on a task that was joined already");
    await_task(task, std::chrono::steady_clock::time_point::max());
    task->result_taken = true;
    if (task->exception) std::rethrow_exception(task->exception);
}

void settle_tasks(task_record* const* tasks, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
        if (!tasks[i]) throw fiber_error("spindle: gather() of an empty task handle");
        if (tasks[i]->result_taken)
            throw fiber_error("spindle: gather() of a task that was joined already");
    }
    for (std::size_t i = 0; i < count; ++i) {
        try {
            await_task(tasks[i], std::chrono::steady_clock::time_point::max());
        } catch (const cancelled&) {
            // asyncio.gather: cancelling the gathering task cancels what it gathers.
            for (std::size_t j = i; j < count; ++j) cancel_task(tasks[j]);
            throw;
        }
    }
}

void gather_tasks(task_record* const* tasks, std::size_t count) {
    settle_tasks(tasks, count);
    for (std::size_t i = 0; i < count; ++i) {
        if (tasks[i]->exception) {
            // The first failure is rethrown. The others stay unjoined, so that when gather()'s
            // handles go they are reported on stderr, not lost (gather_settled() keeps them all).
            for (std::size_t j = 0; j < count; ++j)
                if (!tasks[j]->exception || j == i) tasks[j]->result_taken = true;
            std::rethrow_exception(tasks[i]->exception);
        }
    }
}

namespace {

// release_task_body() is release_task() once the caller may touch the scheduler.
inline void release_task_body(task_record* task) noexcept {
    task->handle_alive = false;
    if (task->status == task_status::done && !task->control && !held(task)) destroy_record(task);
}

[[gnu::noinline]] void release_task_shared(task_record* task) noexcept {
    core_hold hold(*task->scheduler);
    release_task_body(task);
}

[[gnu::noinline]] bool task_finished_shared(const task_record* task) noexcept {
    return status_of(task) == task_status::done;
}

}  // namespace

void release_task(task_record* task) noexcept {
    if (task->scheduler->multi) [[unlikely]] return release_task_shared(task);
    release_task_body(task);
}

bool task_finished(const task_record* task) noexcept {
    if (task->scheduler->multi) [[unlikely]] return task_finished_shared(task);
    return task->status == task_status::done;
}

void cancel_task(task_record* task) {
    refuse_other_threads(task->scheduler, "task::cancel()");
    core_hold hold(*task->scheduler);
    if (task->status == task_status::done) return;
    if (!task->started) {
        // It never runs: its function is dropped and join() sees cancelled.
        task->scheduler->main_worker.unqueue(task);
        task->operations->destroy_function(task->payload);
        task->exception = std::make_exception_ptr(cancelled{});
        complete_task(task);
        return;
    }
    set_cancel_requested(task, true);
    // A task that waits while it unwinds (asynchronous cleanup in a destructor) is left to
    // finish that wait: the cancellation is delivered at its first wait after the unwinding, if
    // it catches the exception and carries on, and dropped if it ends.
    if (task->status == task_status::waiting && task->interruptible && !unwinding(task) &&
        !shielded(task))
        task->scheduler->local_worker().wake_task(task, wake_outcome::cancelled);
}

bool end_wait_for_teardown(task_record* task) noexcept {
    if (task->status != task_status::waiting || task->interruptible || unwinding(task))
        return false;
    set_cancel_requested(task, true);
    task->scheduler->local_worker().wake_task(task, wake_outcome::cancelled);
    return true;
}

std::uint64_t task_id(const task_record* task) noexcept { return task->id; }

scheduler_core* task_scheduler(const task_record* task) noexcept { return task->scheduler; }

}  // namespace spindle::detail
