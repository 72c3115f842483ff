// worker: switching between tasks, the run loop, timers and the idle path.

#include "scheduler/worker.hpp"
#include "stack/stack_mapping.hpp"

#include <spindle/errors.hpp>

#include <cstring>
#include <exception>
#include <new>
#include <thread>
#include <utility>

namespace spindle::detail {

constinit thread_local worker* this_worker = nullptr;

namespace {

// task_entry is the body of every task's fiber: it runs the payload and then reports the end.
// It runs one task after another while the worker keeps the fiber for the next (see
// worker::finish_running()); `task` is the one it runs, nullptr once it is to end.
struct task_entry {
    task_record* task;

    void operator()() {
        task_record* t = task;
        do {
            // Arrived by a switch (or none, on the fiber of a task that just finished): the
            // arriving side's duties, as after any switch (a parked task's locks to release).
            worker::arrived();
            t->scheduler->main_worker.start_task_fp();
            try {
                t->operations->run(t->payload);
            } catch (...) {
                t->exception = std::current_exception();
            }
            // The function (and what it captured) goes now, on the task's own stack, not when
            // the handle does.
            t->operations->destroy_function(t->payload);
            // The end of the task is scheduler work: with several workers, under the core lock
            // (the next task, or the loop, or arrived() above, releases it).
            worker* here = &t->scheduler->main_worker;
            if (here->multi()) [[unlikely]] {
                here = this_worker_slot();
                here->lock_core();
            }
            t = here->finish_running(t, task);
        } while (t);
    }
};

// task_label names a task's fiber in the fiber layer's messages (a stack overflow) as deadlock
// reports and task::id() do: "task N 'name'", the fiber's id replaced by the task's.
constexpr fiber_label task_label{"task", true,
                                 "use this_fiber::yield() to let other tasks run"};

}  // namespace

worker::worker(scheduler_core& core, std::size_t index) noexcept
    : core_(core),
      index_(index),
      multi_(core.options.threads > 1),
      tasks_own_fp_(core.options.task_fp == fp_control::own) {
    if (tasks_own_fp_) countdown_start_ = countdown_ = 1;
    // With several workers every turn takes next_ready_slow() (next_ready_shared()): the flag
    // it tests for rare work stays set. The timer heap is the main worker's.
    if (multi_) {
        remote_work_.store(1, std::memory_order_relaxed);
        if (index_ != 0) shared_timers_ = &core.main_worker.timers_;
    }
}

void worker::enter() noexcept {
    this_worker_slot() = this;
    locks_objects_ = core_.shared.load(std::memory_order_relaxed);
    detail::locks_objects_slot() = locks_objects_;
    loop_control_ = current_control();
    // The state every task with its own starts from, and the run loop's own.
    if (tasks_own_fp_) save_fp_control(loop_);
    // The trace names the thread that called run() (with several workers, every event goes
    // under that one thread's name).
    if (trace_ && index_ == 0) trace_->bind_thread();
}

void worker::leave() noexcept {
    this_worker_slot() = nullptr;
    detail::locks_objects_slot() = true;  // a thread outside any scheduler takes every wait_lock
}

void worker::become_shared() noexcept {
    SPINDLE_ASSERT(this_worker_slot() == this, "a worker made shared from another thread");
    locks_objects_ = true;
    detail::locks_objects_slot() = true;
}

void worker::run_loop() {
    using time_point = std::chrono::steady_clock::time_point;
    // However the loop ends (a deadlock throws), no fiber stays idle past run().
    struct drop_idle_on_exit {
        worker& w;
        ~drop_idle_on_exit() { w.drop_idle_fibers(); }
    } drop_idle{*this};
    if (multi_) return core_.run_workers();
    for (;;) {
        if (core_.stop_task && core_.stop_task->status == task_status::done) return;
        if (task_record* next = next_ready()) {
            switch_to(nullptr, next);
            set_current_control(loop_control_);
            continue;
        }
        // Jobs submitted since the queue was last looked at are started before run() may end.
        if (remote_work_.load(std::memory_order_relaxed) != 0) {
            start_remote_work();
            continue;
        }
        const bool open = held_open();
        if (core_.live_count == 0 && !open) return;
        // A deadline of time_point::max() (a saturated sleep_for(duration::max())) never
        // passes: tasks that only such a timer could wake are deadlocked, unless something
        // outside the scheduler (a descriptor, a helper thread, a thread with a
        // scheduler_handle) may still wake one of them.
        const time_point deadline = timers_.empty() ? time_point::max() : timers_.earliest();
        if (deadline != time_point::max() || outside_waits_ > 0 || open) {
            idle_until(deadline);
            continue;
        }
        throw deadlock_error(core_.describe_deadlock());
    }
}

void worker::idle_until(std::chrono::steady_clock::time_point deadline) {
    // Nothing is ready. Once the scheduler has a poller, one epoll wait covers the descriptors,
    // the deadline (its timeout) and other threads' wakes; without one only a timer or another
    // thread's news (a job submitted, a scheduler_handle let go) can change anything, and the
    // thread waits on the inbox's condition variable until the deadline. The inbox's lock makes
    // the news and the going to sleep one or the other: news brought before finds `news` set,
    // news brought after finds where the worker waits and wakes it there.
    remote_inbox& inbox = core_.inbox;
    std::unique_lock<std::mutex> hold(inbox.lock);
    if (std::exchange(inbox.news, false)) return;
    if (poller* p = core_.poller_if_any()) {
        inbox.idle_poller = p;
        hold.unlock();
        dispatches_since_poll_ = 0;
        p->wait_until(*this, deadline);
        hold.lock();
        inbox.idle_poller = nullptr;
        inbox.news = false;  // the loop looks at everything next anyway
        return;
    }
    SPINDLE_ASSERT(outside_waits_ == 0, "a task waits outside the scheduler with no poller");
    const auto has_news = [&inbox] { return inbox.news; };
    if (deadline == std::chrono::steady_clock::time_point::max())
        inbox.idle.wait(hold, has_news);
    else
        inbox.idle.wait_until(hold, deadline, has_news);
    inbox.news = false;
}

void worker::start_remote_work() noexcept {
    remote_job* jobs;
    task_record* woken;
    {
        remote_inbox& inbox = core_.inbox;
        std::lock_guard<std::mutex> hold(inbox.lock);
        jobs = inbox.take_jobs();
        woken = inbox.take_woken();
        if (multi_)
            core_.inbox_pending.store(false, std::memory_order_relaxed);
        else
            remote_work_.store(0, std::memory_order_relaxed);
        // Between two operations of its tasks (none holds an object's lock here but a parking
        // one, whose hand-over knows whether it took it): the worker starts taking wait_locks.
        if (inbox.share_requested) {
            inbox.share_requested = false;
            core_.become_shared();
            inbox.shared_changed.notify_all();
        }
    }
    while (task_record* task = woken) {
        woken = task->woken_next;
        task->woken_next = nullptr;
        finish_remote_wake(task);
    }
    while (remote_job* job = jobs) {
        jobs = job->next;
        job->start(job, &core_);
    }
}

bool worker::held_open() const noexcept {
    return core_.inbox.open_handles.load(std::memory_order_relaxed) > 0;
}

void worker::poll_while_busy() noexcept {
    dispatches_since_poll_ = 0;
    if (poller* p = core_.poller_if_any()) p->poll_now(*this);
}

task_record* worker::next_ready_slow() noexcept {
    if (multi_) return next_ready_shared();
    if (remote_work_.load(std::memory_order_relaxed) != 0) start_remote_work();
    if (outside_waits_ > 0 && ++dispatches_since_poll_ >= busy_poll_interval) [[unlikely]]
        poll_while_busy();
    if (!timers_.empty()) expire_timers(std::chrono::steady_clock::now());
    task_record* task = ready_.pop_front();
    return task && !task->started ? start_next(task) : task;
}

task_record* worker::start_next(task_record* task) noexcept {
    for (; task; task = multi_ ? take_ready() : ready_.pop_front())
        if (task->started || prepare(task)) return task;
    return nullptr;
}

void worker::expire_timers(std::chrono::steady_clock::time_point now) noexcept {
    // Only deadlines that have passed: a task never wakes before its deadline. The heap yields
    // equal deadlines in the order they were set, and they are queued in that order.
    timer_heap& heap = timers();
    while (!heap.empty() && heap.earliest() <= now)
        wake_task(heap.pop_earliest(), wake_outcome::timed_out);
}

bool worker::prepare(task_record* task) noexcept {
    // A task's stack is taken from the pool when it first runs, not when it is spawned: a
    // spawned task waiting for its turn costs only its record. An idle fiber, if any, is
    // cheaper still: its stack is at hand and its body waits for a task.
    if (idle_count_ > 0) {
        fiber_control* const control = idle_fibers_[--idle_count_];
        static_cast<task_entry*>(body_storage(control))->task = task;
        rehost(control, task);
        return true;
    }
    try {
        fiber_control* control =
            create_fiber(core_.options.stack, sizeof(task_entry), alignof(task_entry),
                         body_operations_for<task_entry>);
        ::new (body_storage(control)) task_entry{task};
        // Its body's end goes to the loop unless finish_running() picks a parked task.
        start_hosted_fiber(control, {.label = &task_label,
                                     .number = task->id,
                                     .name = task->name,
                                     .resumer = &loop_,
                                     .parent = loop_control_,
                                     .origin_file = task->spawned_at.file,
                                     .origin_line = task->spawned_at.line});
        task->control = control;
        return true;
    } catch (...) {
        // No stack could be had: the task ends with that error without running.
        task->operations->destroy_function(task->payload);
        task->exception = std::current_exception();
        complete_task(task);
        return false;
    }
}

bool worker::run_child_now(task_record* joiner, task_record* child) noexcept {
    unqueue(child);
    if (!prepare(child)) return false;
    child->joiner = joiner;
    child->joiner_first = true;
    joiner->joining = child;
    set_status(joiner, task_status::waiting);
    joiner->outcome = wake_outcome::waiting;
    switch_to(joiner, child);
    return true;
}

void worker::wake_task_slow(task_record* task, wake_outcome outcome, bool first) noexcept {
    core_hold hold(core_);
    if (locks_objects_ && task->wait) {
        // A timeout or a cancel, racing the objects' notifiers (maybe on other threads) for the
        // wait: the loser does nothing. The winner leaves the waiters linked (their objects'
        // locks may be held right now, by a task parking on one of them), for the task.
        if (task->claimed.exchange(true, std::memory_order_acq_rel)) return;
        if (task->timer_slot != no_timer_slot) timers().remove(task);
        task->outcome = with_waiters_left(outcome);
        ready_woken(task, first);
        return;
    }
    end_any_wait(task);
    task->outcome = outcome;
    ready_woken(task, first);
}

void worker::end_any_wait(task_record* task) noexcept {
    if (waiter* w = task->wait) {
        task->wait = nullptr;
        w->queue->remove(w);
        w->queue = nullptr;
        // A select waits in several queues: every one lets go of the task.
        if (w->sibling) [[unlikely]] unlink_siblings(w->sibling);
    }
    if (task_record* child = task->joining) {
        child->joiner = nullptr;
        child->joiner_first = false;
        task->joining = nullptr;
    }
    if (task->timer_slot != no_timer_slot) timers().remove(task);
}

void worker::wake_claimed(waiter& w, wake_outcome outcome) noexcept {
    // With several workers, the task's state is under the core lock (taken after the object's,
    // which the caller holds: the order every path keeps).
    core_hold hold(core_);
    task_record* const task = w.task;
    SPINDLE_ASSERT(task->status == task_status::waiting && w.queue,
                   "a claimed waiter woken while not waiting");
    w.queue->remove(&w);
    w.queue = nullptr;
    w.fired = true;
    task->outcome = with_waiters_left(outcome);
    if (task->timer_slot != no_timer_slot) timers().remove(task);
    ready_woken(task);
}

void worker::finish_remote_wake(task_record* task) noexcept {
    SPINDLE_ASSERT(task->status == task_status::waiting && task->claimed.load(),
                   "a task another thread woke is not in a claimed wait");
    if (task->timer_slot != no_timer_slot) timers().remove(task);
    ready_woken(task);
}

void worker::release_waiters(task_record* task) noexcept {
    for (waiter* w = std::exchange(task->wait, nullptr); w; w = w->sibling) {
        // Let go of by a waker already (let_go()): its object may be gone, so not touched.
        if (!std::atomic_ref<wait_queue*>(w->queue).load(std::memory_order_acquire)) continue;
        // An object with no lock of its own (a task set's waiters, a descriptor's) is the
        // scheduler's: with several workers, under its core lock.
        core_hold hold_core(*task->scheduler, !w->lock);
        if (w->lock) w->lock->lock();
        if (w->queue) {
            w->queue->remove(w);
            w->queue = nullptr;
        }
        if (w->lock) w->lock->unlock();
    }
    // Nothing can find the task's waiters any more, so nothing can claim this wait: the next
    // wait begins unclaimed.
    task->claimed.store(false, std::memory_order_relaxed);
}

void worker::after_switch() noexcept {
    after_switch_duty_ = false;
    if (const held_locks* handed = std::exchange(handed_locks_, nullptr)) handed->release();
    if (finished_) reap();
}

void worker::unlink_siblings(waiter* w) noexcept {
    for (; w; w = w->sibling) {
        w->queue->remove(w);
        w->queue = nullptr;
    }
}

void worker::add_timer(task_record* task, std::chrono::steady_clock::time_point deadline) {
    task->deadline = deadline;
    timers().push(task, deadline);
}

void worker::arm_timer_for(task_record* task, std::chrono::steady_clock::time_point deadline) {
    using time_point = std::chrono::steady_clock::time_point;
    // A timeout scope's deadline ends only waits that may throw cancelled: interruptible ones,
    // and not while an exception unwinds the task.
    const time_point scope_end =
        task->scope && task->interruptible && std::uncaught_exceptions() == 0
            ? scope_deadline(task)
            : time_point::max();
    if (scope_end < deadline) {
        add_timer(task, scope_end);
        task->timer_for_scope = true;
    } else if (deadline != time_point::max()) {
        add_timer(task, deadline);
        task->timer_for_scope = false;
    }
}

task_record* worker::finish_running(task_record* task, task_record*& body_task) noexcept {
    SPINDLE_ASSERT(task == running_ && !finished_, "a task finished while not the running one");
    // The next task. When a join ran this task at once, its joiner: made ready as wake_task()
    // would, but handed the thread directly instead of through the front of the queue. Else the
    // first in the queue. The task run_until_complete() waits for ends in the loop, which then
    // returns (its joiner, if any, queued first by complete_task()).
    task_record* next = nullptr;
    bool queued = false;
    // (Migrating, the joiner goes through the queues like any woken task: elsewhere.)
    if (task->joiner_first && task != core_.stop_task && !core_.migrate) {
        next = std::exchange(task->joiner, nullptr);
        task->joiner_first = false;
        SPINDLE_ASSERT(next->joining == task, "a joiner that does not join its child");
        next->joining = nullptr;
        if (next->wait || next->timer_slot != no_timer_slot) end_any_wait(next);
        next->outcome = wake_outcome::completed;
        set_status(next, task_status::ready);
    }
    complete_task(task);
    fiber_control* const control = task->control;
    if (!next && task != core_.stop_task) {
        if (multi_) {
            // Taken (out of whichever queue) already; none while the scheduler stops.
            next = core_.stopping ? nullptr : take_ready();
        } else {
            next = ready_.front();
            queued = true;
        }
    }
    if (idle_count_ == max_idle_fibers || !stack_canary_intact(control->stack)) [[unlikely]] {
        // The fiber ends. fiber_main's last switch goes to control->resumer: when the next task
        // is a parked one, straight there (one switch instead of two via the loop); a task that
        // has not started needs its fiber's entry, so the loop starts it. (A stack whose canary
        // is gone is reported when its fiber is freed.)
        finished_ = task;
        after_switch_duty_ = true;
        if (next && next->started) {
            if (queued) ready_.pop_front();
            hand_over(task, next);
            running_ = next;
            set_status(next, task_status::running);
            // fiber_main makes control->parent current before its last switch.
            control->resumer = &next->park;
            control->parent = next->park_control;
        } else {
            // A task taken that has not started goes back for the loop to start.
            if (next && multi_ && !queued) ready_.push_front(next);
            hand_over_to_loop(task);
            running_ = nullptr;
            control->resumer = &loop_;
            control->parent = loop_control_;
        }
        return nullptr;
    }
    // The fiber outlives its task and runs another: the record lets go of it now.
    if (next && !next->started) {
        // The next task has not started: it runs on this fiber, at once, with no switch.
        SPINDLE_ASSERT(queued || multi_, "a joiner that has not started");
        if (queued) ready_.pop_front();
        hand_over(task, next);
        task->control = nullptr;
        if (!held(task)) destroy_record(task);
        rehost(control, next);
        running_ = next;
        set_status(next, task_status::running);
        next->started = true;
        body_task = next;
        return next;
    }
    if (next) {
        if (queued) ready_.pop_front();
        hand_over(task, next);
        running_ = next;
        set_status(next, task_status::running);
    } else {
        hand_over_to_loop(task);
        running_ = nullptr;
    }
    task->control = nullptr;
    if (!held(task)) destroy_record(task);
    idle_fibers_[idle_count_++] = control;
    body_task = nullptr;
    set_current_control(next ? next->park_control : loop_control_);
    switch_context(control->self, next ? next->park : loop_, nullptr);
    // Back here, idle no more: prepare() gave this fiber a task (switch_to() made it current and
    // running), or drop_idle_fibers() none. Nothing from before the switch is used.
    return body_task;
}

void worker::rehost(fiber_control* control, task_record* task) noexcept {
    // What start_hosted_fiber() set from the task: messages about the fiber name its task.
    control->id = task->id;
    copy_name(control->name, task->name);
    control->origin_file = task->spawned_at.file;
    control->origin_line = task->spawned_at.line;
    task->control = control;
}

void worker::drop_idle_fibers() noexcept {
    SPINDLE_ASSERT(!running_, "idle fibers dropped while a task runs");
    while (idle_count_ > 0) {
        fiber_control* const control = idle_fibers_[--idle_count_];
        // With no task, its body returns and fiber_main ends it, switching back here.
        static_cast<task_entry*>(body_storage(control))->task = nullptr;
        control->resumer = &loop_;
        set_current_control(control);
        switch_context(loop_, control->self, nullptr);
        set_current_control(loop_control_);
        abandon_fiber(control);
    }
}

void worker::set_trace(trace_recorder* recorder) noexcept {
    switches_counted_ += countdown_start_ - countdown_;
    trace_ = recorder;
    countdown_start_ = countdown_ = recorder || tasks_own_fp_ ? 1 : no_trace_countdown;
}

void worker::count_and_trace(task_record* from, task_record* to) noexcept {
    switches_counted_ += countdown_start_;
    countdown_start_ = countdown_ = trace_ || tasks_own_fp_ ? 1 : no_trace_countdown;
    if (trace_) trace_->hand_over(from, to);
    if (tasks_own_fp_) hand_over_fp(from, to);
}

void worker::hand_over_to_loop_slow(task_record* from) noexcept {
    if (trace_) trace_->hand_over(from, nullptr);
    if (tasks_own_fp_) hand_over_fp(from, nullptr);
}

void worker::hand_over_fp(task_record* from, task_record* to) noexcept {
#if SPINDLE_CONTEXT_FCONTEXT
    // jump_fcontext saves and loads the state itself, each context its own.
    (void)from;
    (void)to;
#else
    if (from) save_fp_control(from->park);
    if (!to)
        load_fp_control(loop_);
    else if (to->started)
        load_fp_control(to->park);
    // A task that has not started loads its first state itself (start_task_fp()).
#endif
}

void worker::start_task_fp_slow() noexcept { load_fp_control(loop_); }

void worker::reap() noexcept {
    task_record* task = std::exchange(finished_, nullptr);
    SPINDLE_ASSERT(task->status == task_status::done && task != running_,
                   "a task's stack given back while it may still run");
    // The fiber layer's abandon_fiber() gives a fiber's stack back to the pool; the task's
    // body has already been destroyed by fiber_main.
    abandon_fiber(std::exchange(task->control, nullptr));
    if (!held(task)) destroy_record(task);
}

}  // namespace spindle::detail
