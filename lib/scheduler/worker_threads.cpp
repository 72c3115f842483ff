// Several workers: their threads, their loop, taking tasks from one another, sleeping when idle.
//
// Everything a worker touches here is under the scheduler's core lock (worker.hpp): the queues
// of every worker, the shared timer heap, the task records. A worker holds it while it runs
// scheduler code and lets go of it only to sleep, and a task holds it only inside the
// scheduler's calls, so the lock guards a few hundred instructions at a time.

#include "scheduler/worker.hpp"

#include <spindle/errors.hpp>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>
#include <vector>

namespace spindle::detail {

void worker::run_thread() noexcept {
    enter();
    lock_core();
    run_loop_shared();
    unlock_core();
    drop_idle_fibers();
    leave();
}

void worker::run_loop_shared() noexcept {
    using time_point = std::chrono::steady_clock::time_point;
    SPINDLE_ASSERT(holds_core_, "a worker's loop ran without the core lock");
    remote_inbox& inbox = core_.inbox;
    // The loop ends (under the core lock) no longer watching for stalls.
    struct watch_ender {
        worker& self;
        ~watch_ender() { self.stop_watching(); }
    } end_watch{*this};
    for (;;) {
        if (core_.stopping) return;
        if (core_.stop_task && core_.stop_task->status == task_status::done) {
            core_.stop();
            return;
        }
        if (task_record* next = next_ready()) {
            // The watcher takes a task: another idle worker takes over the watch. Those that
            // went idle while it watched sleep without a deadline, and would sleep on however
            // long a task then stalled its worker.
            if (stop_watching()) core_.wake_idle_worker();
            switch_to(nullptr, next);
            // Back with the core lock: whoever switched here held it.
            set_current_control(loop_control_);
            continue;
        }
        if (core_.stopping) return;
        const time_point deadline = timers().empty() ? time_point::max() : timers().earliest();
        {
            // The inbox's lock makes what other threads bring (a job, a handle made or let go)
            // and the idle workers' list one consistent picture.
            std::unique_lock<std::mutex> hold(inbox.lock);
            if (core_.inbox_pending.load(std::memory_order_relaxed)) continue;
            const bool open = inbox.open_handles.load(std::memory_order_relaxed) > 0;
            if (core_.live_count == 0 && !open) {
                hold.unlock();
                core_.stop();
                return;
            }
            // Nothing is ready on any worker, nothing can come from a timer, a descriptor, a
            // helper thread or another thread, and every other worker sleeps: the tasks left
            // wait for one another. (A worker that runs a task may still wake them, and one
            // woken for new work is off the idle list.)
            // (Migrating, a task may be queued that this worker must leave to another: it wakes
            // one before it sleeps.)
            if (core_.migrate && any_ready()) {
                inbox.wake_idle(false);
                hold.unlock();
                idle_shared(deadline);
                continue;
            }
            if (deadline == time_point::max() && outside_waits() == 0 && !open &&
                inbox.idle_workers.size() + 1 == core_.workers.size()) {
                hold.unlock();
                std::exception_ptr why;
                try {
                    why = std::make_exception_ptr(deadlock_error(core_.describe_deadlock()));
                } catch (...) {
                    why = std::current_exception();  // std::bad_alloc for the message
                }
                core_.stop(std::move(why));
                return;
            }
        }
        idle_shared(deadline);
    }
}

bool worker::others_running() const noexcept {
    for (const worker* w : core_.workers)
        if (w != this && w->running_) return true;
    return false;
}

void worker::idle_shared(std::chrono::steady_clock::time_point deadline) noexcept {
    remote_inbox& inbox = core_.inbox;
    poller* const p = core_.poller_if_any();
    // The watcher stays one while it looks between two sleeps: other workers see a watcher.
    if (others_running() && (watching_ || !core_.stall_watcher)) {
        watching_ = true;
        core_.stall_watcher = this;
        deadline = std::min(deadline, std::chrono::steady_clock::now() + stall_watch_period);
    } else {
        stop_watching();
    }
    {
        std::lock_guard<std::mutex> hold(inbox.lock);
        if (core_.inbox_pending.load(std::memory_order_relaxed)) return;
        // One idle worker waits in the poller (descriptors, completions, the next deadline);
        // the others on their own semaphore.
        idle_in_poller_ = p && !inbox.idle_poller;
        if (idle_in_poller_) inbox.idle_poller = p;
        inbox.idle_workers.push_back(this);  // room reserved: no allocation
        inbox.idle_count.store(inbox.idle_workers.size(), std::memory_order_relaxed);
    }
    unlock_core();
    if (idle_in_poller_) {
        dispatches_since_poll_ = 0;
        // It takes the core lock again before it hands out what it found.
        p->wait_until(*this, deadline);
    } else {
        if (deadline == std::chrono::steady_clock::time_point::max())
            wakeup_.acquire();
        else
            (void)wakeup_.try_acquire_until(deadline);
        lock_core();
    }
    std::lock_guard<std::mutex> hold(inbox.lock);
    // Woken by its deadline or the poller rather than taken off the list by a waker: off it now.
    // (A waker that took it off in between has released the semaphore once more than needed:
    // the next sleep ends at once and the loop looks again.)
    for (std::size_t i = 0; i < inbox.idle_workers.size(); ++i) {
        if (inbox.idle_workers[i] == this) {
            inbox.idle_workers[i] = inbox.idle_workers.back();
            inbox.idle_workers.pop_back();
            inbox.idle_count.store(inbox.idle_workers.size(), std::memory_order_relaxed);
            break;
        }
    }
    if (idle_in_poller_) {
        inbox.idle_poller = nullptr;
        idle_in_poller_ = false;
    }
}

bool worker::stop_watching() noexcept {
    SPINDLE_ASSERT(holds_core_, "a worker stopped watching for stalls without the core lock");
    if (!watching_) return false;
    SPINDLE_ASSERT(core_.stall_watcher == this, "a watching worker is not the stall watcher");
    watching_ = false;
    core_.stall_watcher = nullptr;
    return true;
}

void worker::wake_from_idle() noexcept {
    if (idle_in_poller_)
        core_.inbox.idle_poller->wake();
    else
        wakeup_.release();
}

void worker::yield_shared() noexcept {
    core_hold hold(core_);
    if (!core_.migrate) {
        // The task goes to this worker's queue, and no idle worker is woken for it: if the task
        // that runs next never yields, only the stall watcher comes for it.
        make_sure_one_watches();
        return yield_running();
    }
    // Migrating: the task goes to another worker's queue, and this one runs something else (or
    // goes back to its loop). The core lock, held across the switch, keeps the other worker from
    // resuming it before its context is saved.
    task_record* const self = running_;
    set_status(self, task_status::ready);
    queue_elsewhere(self, false);
    suspend_to(self, next_ready());
}

void worker::queue_elsewhere(task_record* task, bool first) noexcept {
    const std::size_t count = core_.workers.size();
    const std::size_t after =
        task->last_worker == task_record::no_worker ? index_ : task->last_worker;
    worker* const target = core_.workers[(after + 1) % count];
    if (first)
        target->ready_.push_front(task);
    else
        target->ready_.push_back(task);
    core_.wake_idle_worker();
}

bool worker::any_ready() noexcept {
    for (worker* w : core_.workers)
        if (w->runnext_ || w->ready_.front()) return true;
    return false;
}

task_record* worker::next_ready_shared() noexcept {
    SPINDLE_ASSERT(holds_core_, "a worker looked for work without the core lock");
    if (core_.stopping) return nullptr;
    // What wakes tasks here is not the running task: they go to the queue, for any worker.
    waking_for_loop_ = true;
    if (core_.inbox_pending.load(std::memory_order_relaxed)) start_remote_work();
    if (outside_waits() > 0 && ++dispatches_since_poll_ >= busy_poll_interval) [[unlikely]]
        poll_while_busy();
    if (!timers().empty()) expire_timers(std::chrono::steady_clock::now());
    waking_for_loop_ = false;
    task_record* task = take_ready();
    return task && !task->started ? start_next(task) : task;
}

task_record* worker::take_ready() noexcept {
    task_record* task = find_ready();
    if (task) task->last_worker = static_cast<std::uint32_t>(index_);
    return task;
}

task_record* worker::find_ready() noexcept {
    // Every fairness_interval-th pick looks past the next turn: a pair that wakes each other
    // would otherwise hold this worker for ever through it, and the queue (tasks woken by timers,
    // new tasks, the pairs it displaced) would never run. Go's runnext shares one time slice
    // for the same reason. The pick also takes work queued behind another worker's long task.
    ++picks_;
    const bool fairness_pick = --picks_to_fairness_ == 0;
    if (fairness_pick) [[unlikely]] {
        picks_to_fairness_ = fairness_interval;
        if (task_record* task = take_from_stalled_worker()) return task;
        if (task_record* task = ready_.pop_front()) return task;
    }
    if (task_record* task = std::exchange(runnext_, nullptr)) return task;
    // (Migrating, this queue holds no task that last ran here: queue_elsewhere() put it on
    // the next worker's.)
    if (task_record* task = ready_.pop_front()) return task;
    // Nothing here: the oldest ready task of another worker, the next worker first, so that
    // thieves spread over their victims. Their next turns only when no queue has any.
    const std::size_t count = core_.workers.size();
    for (std::size_t i = 1; i < count; ++i)
        if (task_record* task = steal_front(*core_.workers[(index_ + i) % count])) return task;
    // Another worker's next turn only when that worker has stalled: else it runs the task
    // there itself soon, next to the task that woke or spawned it, and taking it here would
    // make them meet across workers (a join, a reply) at far higher cost. (Not twice in one
    // pick: the first look marked every moving worker's count, so a second would find them all
    // "stalled".)
    return fairness_pick ? nullptr : take_from_stalled_worker();
}

task_record* worker::steal_front(worker& victim) noexcept {
    // Migrating, a task that last ran here is left for another worker.
    if (core_.migrate) {
        task_record* front = victim.ready_.front();
        if (!front || front->last_worker == index_) return nullptr;
    }
    return victim.ready_.pop_front();
}

task_record* worker::take_from_stalled_worker() noexcept {
    // A worker whose pick count has not moved between two looks runs one task all that time (a
    // computation that does not yield): what waits in its queue would wait for that task, while
    // this worker, busy with its own queue, would never come to steal: its queue's front, else
    // its next turn. Each look marks the count it saw.
    const std::size_t count = core_.workers.size();
    for (std::size_t i = 1; i < count; ++i) {
        worker& other = *core_.workers[(index_ + i) % count];
        if (other.picks_ != other.picks_seen_) {
            other.picks_seen_ = other.picks_;
            continue;
        }
        if (!other.running_) continue;  // idle, or in its loop: it takes its queue itself
        if (task_record* task = steal_front(other)) return task;
        if (other.runnext_ && !(core_.migrate && other.runnext_->last_worker == index_))
            return std::exchange(other.runnext_, nullptr);
    }
    return nullptr;
}

void worker::ready_woken(task_record* task, bool first) noexcept {
    if (!multi_) {
        make_ready(task, first);
        return;
    }
    SPINDLE_ASSERT(core_.held_here(), "a task was queued without the core lock");
    set_status(task, task_status::ready);
    if (core_.migrate) return queue_elsewhere(task, first);
    if (running_ && !first && !waking_for_loop_) {
        // Woken by a task running here: it runs at this worker's next switch. The task it
        // displaces goes to the queue, where an idle worker may take it.
        task = std::exchange(runnext_, task);
        if (!task) return make_sure_one_watches();
    }
    if (first)
        ready_.push_front(task);
    else
        ready_.push_back(task);
    core_.wake_idle_worker();
}

void worker::ready_spawned(task_record* task) noexcept {
    SPINDLE_ASSERT(multi_ && core_.held_here(), "a task spawned without the core lock");
    set_status(task, task_status::ready);
    if (core_.migrate) return queue_elsewhere(task, false);
    if (running_ && !waking_for_loop_ && !runnext_) {
        runnext_ = task;
        return make_sure_one_watches();
    }
    ready_.push_back(task);
    core_.wake_idle_worker();
}

void worker::make_sure_one_watches() noexcept {
    // Idle workers asleep since before this worker ran its task do not watch: one wakes, sees
    // this worker running and watches. (Rare: the queueing that made this worker busy woke one.)
    if (!core_.stall_watcher) core_.wake_idle_worker();
}

void worker::reserve_slot_everywhere() {
    // Every queue keeps room for slots_room tasks. Taking one of those is one atomic add, without
    // the core lock: a spawn then takes the lock once (to queue the task), not twice. Past the
    // room, the lock is taken and every queue grows by a chunk as large as the room so far.
    const std::size_t wanted = core_.slots_reserved.fetch_add(1, std::memory_order_relaxed) + 1;
    if (wanted <= core_.slots_room.load(std::memory_order_acquire)) [[likely]] return;
    try {
        grow_slot_room(wanted);
    } catch (...) {
        core_.slots_reserved.fetch_sub(1, std::memory_order_relaxed);
        throw;
    }
}

void worker::grow_slot_room(std::size_t wanted) {
    core_hold hold(core_);
    SPINDLE_ASSERT(core_.held_here(), "queue slots reserved without the core lock");
    const std::size_t room = core_.slots_room.load(std::memory_order_relaxed);
    if (wanted <= room) return;  // another spawn grew it meanwhile
    std::size_t chunk = std::max<std::size_t>(room, 32);
    while (room + chunk < wanted) chunk *= 2;
    std::size_t done = 0;
    try {
        for (; done < core_.workers.size(); ++done) core_.workers[done]->ready_.reserve_slots(chunk);
    } catch (...) {
        while (done > 0) core_.workers[--done]->ready_.release_slots(chunk);
        throw;
    }
    core_.slots_room.store(room + chunk, std::memory_order_release);
}

void worker::release_slot_everywhere() noexcept {
    // The room stays (queues never shrink): the next spawns take it back without the lock.
    [[maybe_unused]] const std::size_t before =
        core_.slots_reserved.fetch_sub(1, std::memory_order_relaxed);
    SPINDLE_ASSERT(before > 0, "a queue slot released that was never reserved");
}

void worker::unqueue_anywhere(task_record* task) noexcept {
    SPINDLE_ASSERT(core_.held_here(), "a task unqueued without the core lock");
    // Taken to run here at once (a join of a task that has not started), or dropped (a cancel).
    task->last_worker = static_cast<std::uint32_t>(index_);
    for (worker* w : core_.workers) {
        if (w->runnext_ == task) {
            w->runnext_ = nullptr;
            return;
        }
        if (w->ready_.holds(task)) {
            w->ready_.remove(task);
            return;
        }
    }
    SPINDLE_ASSERT(false, "a task taken out of the ready queues while in none");
}

bool scheduler_core::held_here() const noexcept {
    const worker* const w = this_worker_slot();
    if (w && &w->core() == this) return w->holds_core();
    return !running.load(std::memory_order_relaxed);  // nothing else runs
}

void scheduler_core::stop(std::exception_ptr why) noexcept {
    SPINDLE_ASSERT(held_here(), "a scheduler stopped without the core lock");
    stopping = true;
    if (why && !failure) failure = std::move(why);
    wake_all_idle();
}

void scheduler_core::wake_idle_worker_slow(bool all) noexcept {
    std::lock_guard<std::mutex> hold(inbox.lock);
    inbox.wake_idle(all);
}

void scheduler_core::run_workers() {
    stopping = false;
    failure = nullptr;
    std::vector<std::thread> threads;
    threads.reserve(helpers.size());
    try {
        for (auto& helper : helpers)
            threads.emplace_back([w = helper.get()] { w->run_thread(); });
    } catch (...) {
        // A thread the system would not start: the ones started stop, and run() reports it.
        main_worker.lock_core();
        stop();
        main_worker.unlock_core();
        for (std::thread& t : threads) t.join();
        throw;
    }
    main_worker.lock_core();
    main_worker.run_loop_shared();
    main_worker.unlock_core();
    for (std::thread& t : threads) t.join();
    if (failure) std::rethrow_exception(std::exchange(failure, nullptr));
}

}  // namespace spindle::detail
