#pragma once
// worker: one thread's share of a scheduler. Its ready queue, its timer heap, its run loop.
//
// Tasks switch straight to one another: a task that suspends picks the next ready task itself
// and switches into it, one context switch per hand-over. The run loop (on the stack of the
// thread that called run()) is entered only when a task finishes (its stack must be given back
// from another stack) or when nothing is ready; there it sleeps until the next deadline. That
// idle path is the one place the thread blocks: in the poller's epoll wait once the scheduler
// has one (something did I/O), which a ready descriptor, the next timer deadline or another
// thread's wake ends; else in a plain sleep until the next deadline.
//
// With threads == 1 a scheduler has exactly one worker and every structure here is touched by
// one thread, with no lock. With threads > 1 (multi()) each worker has its own ready queue, all
// share the main worker's timer heap, and every structure of the scheduler (queues, heap, task
// records, the lists of live tasks) is under the scheduler's core lock, which a worker holds
// whenever it runs scheduler code and hands, like a parked task's object locks, across the
// switch to the task that runs next (docs/threads.md, "Several workers").

#include "scheduler/poller.hpp"
#include "scheduler/ready_queue.hpp"
#include "scheduler/remote_inbox.hpp"
#include "scheduler/task_record.hpp"
#include "scheduler/timer_heap.hpp"
#include "scheduler/trace_recorder.hpp"

#include <spindle/detail/wait_lock.hpp>

#include <spindle/scheduler.hpp>
#include <spindle/timeout.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <pthread.h>
#include <semaphore>
#include <string>
#include <vector>

namespace spindle::detail {

struct scheduler_core;

// fairness_interval is how many tasks a worker of several takes from its next turn at most
// before it serves its queue's front, and how often it looks for a stalled worker's queue.
inline constexpr unsigned fairness_interval = 61;

class worker {
public:
    // worker() makes the worker numbered `index` (0: the main worker, on the thread that calls
    // run()).
    explicit worker(scheduler_core& core, std::size_t index = 0) noexcept;

    // core() is the scheduler the worker belongs to; index() its number there.
    scheduler_core& core() const noexcept { return core_; }
    std::size_t index() const noexcept { return index_; }
    // multi() tells whether the scheduler has several workers. Its state is then under the core
    // lock, which holds_core() says this worker's thread holds (through a switch, the thread
    // keeps holding it: the task or loop that arrives releases it). lock_core()/unlock_core()
    // take and release it for this worker's thread.
    bool multi() const noexcept { return multi_; }
    bool holds_core() const noexcept { return holds_core_; }
    inline void lock_core() noexcept;
    inline void unlock_core() noexcept;
    // run_loop_shared() is run_loop() for one of several workers: it runs tasks until the
    // scheduler stops (every task finished, the task run() waits for finished, or a deadlock,
    // which it records in scheduler_core::failure). Called and left with the core lock held.
    void run_loop_shared() noexcept;
    // run_thread() is a helper worker's thread: it binds itself, runs run_loop_shared() and
    // unbinds.
    void run_thread() noexcept;

    // run_loop() runs tasks until none is left; throws deadlock_error when tasks remain that
    // nothing can wake.
    void run_loop();

    // start_task_fp() gives a task that starts, with task_fp = own, the state of the thread
    // that called run(): from inside the task, because a task may start on the fiber of one
    // that just finished, with no switch in between (and with Boost.Context, a switch would put
    // back the state fcontext saved).
    [[gnu::always_inline]] void start_task_fp() noexcept {
        if (tasks_own_fp_) [[unlikely]] start_task_fp_slow();
    }
    void start_task_fp_slow() noexcept;

    // running() is the task on the thread right now, or nullptr (in the run loop).
    task_record* running() const noexcept { return running_; }

    // park() suspends the running task, whose status and wait the caller has set, and runs the
    // next ready one. It returns once the task has been made ready and has run again.
    void park() noexcept {
        SPINDLE_ASSERT(running_ && running_->status != task_status::running,
                       "a task parked without saying what it waits for");
        task_record* const self = running_;
        task_record* next = next_ready();
        // A wait already due when the task parks (sleep_for(0), a deadline in the past, a
        // zero timeout) has made the task itself ready; when nothing was ahead of it, it is the
        // next one and just carries on. A switch to itself would save and load the same
        // context, which only the hand-written switch survives.
        if (next == self) [[unlikely]] {
            set_status(next, task_status::running);
            return;
        }
        suspend_to(self, next);
    }
    // park_handing() is park() for a task that holds the locks `handed` of the objects it waits
    // on: the side that runs next releases them once the task's context is saved
    // (after_switch()), so that no waker on another thread can resume it before. next_ready()
    // takes no object lock, so it may run while they are held.
    void park_handing(const held_locks* handed) noexcept {
        SPINDLE_ASSERT(running_ && running_->status != task_status::running,
                       "a task parked without saying what it waits for");
        task_record* const self = running_;
        task_record* next = next_ready();
        if (next == self) [[unlikely]] {
            handed->release();
            set_status(next, task_status::running);
            return;
        }
        handed_locks_ = handed;
        after_switch_duty_ = true;
        suspend_to(self, next);
    }
    // yield_running() puts the running task behind the other ready ones, if there are any.
    // yield_shared() is yield_running() under the core lock (several workers).
    [[gnu::always_inline]] inline void yield_running() noexcept;
    void yield_shared() noexcept;
    // run_child_now() makes `joiner` wait for `child`, a task that has not started, and runs the
    // child at once on the joiner's turn; the joiner goes next when the child finishes. Returns
    // false, without waiting, when the child could not start (it is then done with the error).
    bool run_child_now(task_record* joiner, task_record* child) noexcept;

    // reserve_queue_slot() makes sure a new task can be queued without allocating, whenever it
    // is (std::bad_alloc otherwise); release_queue_slot() when it has finished or was discarded.
    // With several workers a woken task may be queued on any of them: every queue has room for
    // it, and neither call needs the core lock.
    void reserve_queue_slot() {
        if (multi_) [[unlikely]] return reserve_slot_everywhere();
        ready_.reserve_slot();
    }
    void release_queue_slot() noexcept {
        if (multi_) [[unlikely]] return release_slot_everywhere();
        ready_.release_slot();
    }

    // make_ready() queues a task: at the back, or next when `first`. ready_woken() is
    // make_ready() for the rare paths, which with several workers also decides where the task
    // goes (the waker's next turn, or the back of its queue) and wakes an idle worker to take it.
    void ready_woken(task_record* task, bool first = false) noexcept;
    // ready_spawned() queues a task just spawned (several workers): the next turn when the
    // spawner runs here and that is free, else the back of the queue (tasks spawned one after
    // another start in that order on one worker), waking an idle worker for it.
    void ready_spawned(task_record* task) noexcept;
    // make_sure_one_watches() wakes an idle worker, if any, when none is the stall watcher: a
    // task was just put in this worker's next turn (or a yielding one in its queue), where no
    // idle worker is woken for it.
    void make_sure_one_watches() noexcept;
    void make_ready(task_record* task, bool first = false) noexcept {
        set_status(task, task_status::ready);
        if (first)
            ready_.push_front(task);
        else
            ready_.push_back(task);
    }
    // wake_task() ends whatever wait a task is in (wait queue, timer, join) and queues it; its
    // wait then returns `outcome`. Inline, the common case (one waiter in one queue, no timer,
    // no join) unlinks the waiter and queues the task; the rest is end_any_wait().
    // Where other threads may touch the objects tasks wait on (locks_objects_), the wait is
    // claimed first, and ends only if the claim is won (wake_task_slow()).
    [[gnu::always_inline]] void wake_task(task_record* task, wake_outcome outcome,
                                          bool first = false) noexcept {
        if (locks_objects_) [[unlikely]] {
            wake_task_slow(task, outcome, first);
            return;
        }
        wake_task_unlinking(task, outcome, first);
    }
    // wake_task_unlinking() is wake_task() where no other thread can touch the wait: the waker
    // unlinks every waiter of the task at once.
    [[gnu::always_inline]] void wake_task_unlinking(task_record* task, wake_outcome outcome,
                                                    bool first = false) noexcept {
        SPINDLE_ASSERT(task->status == task_status::waiting, "a task woken while not waiting");
        waiter* w = task->wait;
        if (!w || w->sibling || task->joining || task->timer_slot != no_timer_slot) [[unlikely]] {
            // A tail call: the inline path then keeps nothing across a call.
            wake_task_slow(task, outcome, first);
            return;
        }
        task->wait = nullptr;
        w->queue->remove(w);
        w->queue = nullptr;
        task->outcome = outcome;
        make_ready(task, first);
    }
    // wake_task_slow() is wake_task() for any wait.
    void wake_task_slow(task_record* task, wake_outcome outcome, bool first) noexcept;
    // wake_claimed() ends the wait of `w`'s task, whose claim the caller (a notifier holding the
    // object's lock) has won: it unlinks `w` and queues the task, which unlinks its other
    // waiters (a select's) itself when it resumes (release_waiters()).
    void wake_claimed(waiter& w, wake_outcome outcome) noexcept;
    // release_waiters() unlinks, one object lock at a time, the waiters a woken task left linked.
    static void release_waiters(task_record* task) noexcept;
    // locks_objects() tells whether this worker takes wait_locks (its scheduler is shared);
    // become_shared() makes it start, on its own thread or before run().
    bool locks_objects() const noexcept { return locks_objects_; }
    void become_shared() noexcept;
    // sleep_until() puts the running task in the timer heap (it must then park()).
    void add_timer(task_record* task, std::chrono::steady_clock::time_point deadline);
    // arm_wait_timer() gives `task`, about to wait, a timer for the earlier of `deadline` (its
    // wait's own) and its timeout scope's deadline, if either is not time_point::max(); the task's
    // wait then ends with timed_out (and throw_if_interrupted() tells whose deadline it was).
    // std::bad_alloc when the timer heap cannot grow; nothing has changed then.
    void arm_wait_timer(task_record* task, std::chrono::steady_clock::time_point deadline) {
        // Most waits have neither: one test each, inline, on the way to parking.
        if (!task->scope && deadline == std::chrono::steady_clock::time_point::max()) return;
        arm_timer_for(task, deadline);
    }
    // cancel_timer() takes a task's timer out of the heap (its wait did not begin after all).
    void cancel_timer(task_record* task) noexcept { timers().remove(task); }
    // unqueue() takes a task that has not started out of the ready queue (whichever worker's).
    void unqueue(task_record* task) noexcept {
        if (multi_) [[unlikely]] return unqueue_anywhere(task);
        ready_.remove(task);
    }
    // timers() is the timer heap this worker's tasks use: its own, or with several workers the
    // main worker's, which they share.
    timer_heap& timers() noexcept { return *shared_timers_; }

    // finish_running() is the running task's last act on its own stack. The task's fiber then
    // either runs another task (returned; `body_task`, the fiber body's task, says which) or
    // ends (nullptr returned), and the loop or the next task gives its stack back once the
    // switch away from it is done. A fiber that runs another task goes straight on with the next
    // task in line when that one has not started; otherwise it waits, idle, until prepare()
    // hands it one (through `body_task`) or the run loop ends (nullptr).
    task_record* finish_running(task_record* task, task_record*& body_task) noexcept;

    // signal_remote_work() tells the worker that jobs wait in the inbox (under its lock, from
    // any thread): its next turn takes them.
    void signal_remote_work() noexcept { remote_work_.store(1, std::memory_order_relaxed); }

    // begin_outside_wait() counts a task that waits for the world outside the scheduler (a
    // descriptor, a helper thread); end_outside_wait() when that wait is over. While any is
    // counted, an idle worker waits in the poller instead of reporting a deadlock, and a busy
    // one polls at a bounded interval.
    // With several workers the count is the scheduler's (a wait may end on another worker).
    inline void begin_outside_wait() noexcept;
    inline void end_outside_wait() noexcept;
    inline std::size_t outside_waits() const noexcept;

    // enter()/leave() bind this worker to the calling thread for run().
    void enter() noexcept;
    void leave() noexcept;

    // trace() is the scheduler's trace recorder while one is attached (spindle/trace.hpp), else
    // nullptr; set_trace() attaches or detaches one.
    trace_recorder* trace() const noexcept { return trace_; }
    void set_trace(trace_recorder* recorder) noexcept;
    // switches() counts the times the thread was handed to a task.
    std::uint64_t switches() const noexcept {
        return switches_counted_ + (countdown_start_ - countdown_);
    }

private:
    // next_ready() takes the next task to run (its fiber made, if it had not started), or
    // returns nullptr. Inline, the common case (no timers, no outside waits, a started task) is
    // one test for the rare work, the ring's pop and a test of `started`.
    [[gnu::always_inline]] task_record* next_ready() noexcept {
        if ((outside_waits_ | timers_.size() |
             remote_work_.load(std::memory_order_relaxed)) != 0) [[unlikely]]
            return next_ready_slow();
        task_record* task = ready_.pop_front();
        if (task && !task->started) [[unlikely]] return start_next(task);
        return task;
    }
    // next_ready_slow() polls, expires timers and starts submitted work first; start_next()
    // gives `task`, first in line, its fiber, or (when none can be had) goes on to the next one.
    task_record* next_ready_slow() noexcept;
    task_record* start_next(task_record* task) noexcept;
    // next_ready_shared() is next_ready_slow() with several workers (its next_ready() always
    // comes here): none while the scheduler stops; else the inbox, the poll, the timers, this
    // worker's next turn and queue, and then another worker's (take_ready()).
    task_record* next_ready_shared() noexcept;
    // take_ready() takes, without starting it, the task this worker runs next: its next turn,
    // its queue's front, or else one stolen from another worker. nullptr when none is ready.
    task_record* take_ready() noexcept;
    task_record* find_ready() noexcept;
    // steal_front() takes the front of `victim`'s queue, or nullptr (empty; migrating, a task
    // that last ran here). take_from_stalled_worker() steals from a worker that has run the same
    // task since this worker last looked.
    task_record* steal_front(worker& victim) noexcept;
    task_record* take_from_stalled_worker() noexcept;
    // others_running() tells whether another worker runs a task now (under the core lock): a
    // worker that goes idle then watches for it to stall (idle_shared()).
    bool others_running() const noexcept;
    // must_leave() tells whether the running task must go back to the loop (the scheduler stops)
    // instead of carrying on when nothing else is ready.
    inline bool must_leave() const noexcept;
    // idle_shared() sleeps (the core lock released) until `deadline`, another worker's wake or
    // news from another thread; in the poller when the scheduler has one and no other worker
    // waits in it.
    // While another worker runs a task, and no other idle worker watches, it wakes every
    // stall_watch_period to look for a worker stalled on one long task with another task
    // waiting in its next turn (nothing else wakes an idle worker for that).
    void idle_shared(std::chrono::steady_clock::time_point deadline) noexcept;
    // stop_watching() ends this worker's turn as the stall watcher, if it has it (under the core
    // lock); true if it had.
    bool stop_watching() noexcept;
    // queue_elsewhere() (migrating mode) queues `task` on the worker after the one it last ran
    // on and wakes an idle worker; any_ready() tells whether any worker has a task queued.
    void queue_elsewhere(task_record* task, bool first) noexcept;
    bool any_ready() noexcept;
    // reserve_slot_everywhere() and release_slot_everywhere() are reserve_queue_slot() and
    // release_queue_slot() with several workers: callable without the core lock.
    // grow_slot_room() gives every queue room for at least `wanted` tasks (takes the lock).
    void reserve_slot_everywhere();
    void release_slot_everywhere() noexcept;
    void grow_slot_room(std::size_t wanted);
    void unqueue_anywhere(task_record* task) noexcept;

public:
    // wake_from_idle() ends this worker's idle_shared() (under the inbox's lock, by whoever took
    // it off the list of idle workers).
    void wake_from_idle() noexcept;

private:
    bool prepare(task_record* task) noexcept;
    void arm_timer_for(task_record* task, std::chrono::steady_clock::time_point deadline);
    static void unlink_siblings(waiter* w) noexcept;
    // finish_remote_wake() queues a task another thread woke (its claim won, its waiter unlinked).
    void finish_remote_wake(task_record* task) noexcept;
    // after_switch() is the arriving side's rare duty: the stack of a task that finished, the
    // locks a parked task handed over.
    void after_switch() noexcept;
    // end_any_wait() takes a waiting task out of its wait queue(s), its join and the timer heap.
    void end_any_wait(task_record* task) noexcept;
    // switch_to() and suspend_to() are inline so that a parked task's frames on its stack are
    // few: resuming it then touches one or two cache lines of its stack, not one per frame.
    // switch_to() leaves `self` (parked in self->park; nullptr: the loop, in loop_) for `next`.
    [[gnu::always_inline]] inline void switch_to(task_record* self, task_record* next) noexcept;
    [[gnu::always_inline]] inline void suspend_to(task_record* self, task_record* next) noexcept;
    void expire_timers(std::chrono::steady_clock::time_point now) noexcept;
    // rehost() gives an idle fiber to a task that has not started; drop_idle_fibers() ends every
    // idle fiber (the run loop does, before it returns), on the loop's stack.
    void rehost(fiber_control* control, task_record* task) noexcept;
    void drop_idle_fibers() noexcept;
    void idle_until(std::chrono::steady_clock::time_point deadline);
    void poll_while_busy() noexcept;
    // start_remote_work() spawns the tasks of the jobs in the inbox.
    void start_remote_work() noexcept;
    // held_open() tells whether a scheduler_handle holds the scheduler open.
    bool held_open() const noexcept;
    void reap() noexcept;
    // reap_after_switch() is the arriving side's one duty after a switch: the thread's worker
    // (this_worker_slot(), read afresh) gives back the stack of a task that finished.
    [[gnu::always_inline]] static inline void reap_after_switch() noexcept;

public:
    // arrived() is reap_after_switch() for a task's fiber body, where a task starts: with
    // several workers it also releases the core lock the switch handed over, before the task's
    // own code runs.
    static inline void arrived() noexcept;

private:
    // hand_over() notes that the thread passes from task `from` to task `to` (nullptr: the run
    // loop). Counting the switch and testing for a trace are one decrement and its branch:
    // countdown_ reaches zero after 2^64 - 1 switches without a trace, after every one with.
    // With scheduler_options::task_fp = own, every switch takes that branch too (countdown_ is
    // always 1), and count_and_trace() also hands the FP control state over: a scheduler whose
    // tasks share the thread's state pays nothing for it.
    [[gnu::always_inline]] void hand_over(task_record* from, task_record* to) noexcept {
        if (--countdown_ == 0) [[unlikely]] count_and_trace(from, to);
    }
    void count_and_trace(task_record* from, task_record* to) noexcept;
    // hand_over_to_loop() notes that the thread passes from task `from` back to the run loop
    // (not counted as a switch): the trace, and the FP control state with task_fp = own.
    [[gnu::always_inline]] void hand_over_to_loop(task_record* from) noexcept {
        if (trace_ || tasks_own_fp_) [[unlikely]] hand_over_to_loop_slow(from);
    }
    void hand_over_to_loop_slow(task_record* from) noexcept;
    // hand_over_fp() saves the leaving task's FP control state in its `park` record and loads
    // the arriving one's, or the run loop's (saved by enter()) when the loop comes next.
    void hand_over_fp(task_record* from, task_record* to) noexcept;

    scheduler_core& core_;
    const std::size_t index_;
    const bool multi_;
    bool holds_core_ = false;
    // idle_in_poller_ says where the idle worker sleeps (under the inbox's lock): in the poller's
    // epoll wait, or on `wakeup_`.
    bool idle_in_poller_ = false;
    std::binary_semaphore wakeup_{0};
    // runnext_ (several workers) is the task a task of this worker woke last, or spawned first:
    // it runs at this worker's next switch, ahead of the queue, so that a pair that talks stays
    // on one worker (Go's runnext) and a child joined at once runs where its parent waits. Other
    // workers take it only when this worker has stalled on one task (take_from_stalled_worker()).
    task_record* runnext_ = nullptr;
    // watching_ says this idle worker is the scheduler's stall watcher (stall_watcher).
    bool watching_ = false;
    // picks_ counts find_ready()'s picks (several workers); picks_seen_ is the count another
    // worker saw at its last fairness look (both under the core lock).
    std::uint64_t picks_ = 0;
    std::uint64_t picks_seen_ = 0;
    // picks_to_fairness_ counts down to find_ready()'s next fairness pick (a countdown, not
    // picks_ modulo fairness_interval: the modulo by 61 took a dozen instructions a pick).
    unsigned picks_to_fairness_ = fairness_interval;
    // waking_for_loop_ is set while next_ready_shared() ends waits (timers, the poll, the
    // inbox): the tasks it wakes go to the queue, not to the next turn.
    bool waking_for_loop_ = false;
    ready_queue ready_;
    timer_heap timers_;
    timer_heap* shared_timers_ = &timers_;
    context_record loop_;                   // the run loop, while a task runs
    fiber_control* loop_control_ = nullptr;  // current_control() of whoever called run()
    task_record* running_ = nullptr;
    task_record* finished_ = nullptr;       // finished; its stack is still to be given back
    const held_locks* handed_locks_ = nullptr;  // to release once the parked task is switched out
    // after_switch_duty_ is set with finished_ or handed_locks_: the arriving side's one test.
    bool after_switch_duty_ = false;
    bool locks_objects_ = false;  // the scheduler is shared: wait_locks are taken (wait_lock.hpp)
    // Fibers whose task finished, kept for tasks that have not started: such a task then runs
    // on one, which saves making a fiber (a stack from the pool, its set-up) and ending one.
    // Few: a task that finishes usually hands over to a task that then starts another.
    static constexpr std::size_t max_idle_fibers = 8;
    fiber_control* idle_fibers_[max_idle_fibers] = {};
    std::size_t idle_count_ = 0;
    std::size_t outside_waits_ = 0;
    // remote_work_ is set to 1 (by any thread, under the inbox's lock) when jobs wait in the
    // inbox. A word, not a bool: next_ready()'s test ORs it in as loaded.
    std::atomic<std::size_t> remote_work_{0};
    unsigned dispatches_since_poll_ = 0;
    // switches() is switches_counted_ plus the switches since countdown_ was countdown_start_.
    std::uint64_t countdown_ = no_trace_countdown;
    std::uint64_t countdown_start_ = no_trace_countdown;
    // tasks_own_fp_ is scheduler_options::task_fp == fp_control::own.
    bool tasks_own_fp_ = false;
    std::uint64_t switches_counted_ = 0;
    trace_recorder* trace_ = nullptr;
    static constexpr std::uint64_t no_trace_countdown = ~std::uint64_t{0};
};

// busy_poll_interval is how many tasks a worker runs from its ready queue, while tasks wait for
// the outside world, between two polls that do not block: I/O completions reach a busy queue
// within that many turns, and the poll's system call is paid once per that many.
inline constexpr unsigned busy_poll_interval = 64;

// stall_watch_period is how often an idle worker looks for a worker stalled on one task while
// another waits in its next turn. Two looks find a stall, so such a task starts within twice
// this when every other worker sleeps: 1 ms, the bound the peers' notes ask of a sleeping worker
// and new work (hazard 14). Go's sysmon looks at running tasks every 20 us to 10 ms.
inline constexpr std::chrono::microseconds stall_watch_period{500};

// this_worker is the worker running on this thread, or nullptr outside scheduler::run().
// Defined in worker.cpp, read and written only through this_worker_slot(): code after a switch
// may run on another thread than before it (spindle/detail/thread_locals.hpp).
extern thread_local worker* this_worker SPINDLE_THREAD_LOCAL_SYMBOL("spindle_this_worker");
inline worker*& this_worker_slot() noexcept {
    return *SPINDLE_THREAD_LOCAL_ADDRESS(worker*, "spindle_this_worker");
}

// task_worker() is this thread's worker while it runs a task (w->running()), else nullptr: the
// one read of the thread-local for code that needs both the task and its worker.
inline worker* task_worker() noexcept {
    worker* w = this_worker_slot();
    return w && w->running() ? w : nullptr;
}

// running_task() is the task running on this thread, or nullptr (outside scheduler::run(), or
// in its run loop).
inline task_record* running_task() noexcept {
    worker* w = this_worker_slot();
    return w ? w->running() : nullptr;
}

// scheduler_core is a scheduler's state: its options, its worker(s), its unfinished tasks.
struct scheduler_core {
    // scheduler_core() makes the workers (std::bad_alloc); their threads start in run().
    explicit scheduler_core(const scheduler_options& opts);
    scheduler_core(const scheduler_core&) = delete;
    scheduler_core& operator=(const scheduler_core&) = delete;

    // run() runs tasks until every one has finished, or, given `until`, until that one has.
    void run(task_record* until = nullptr);
    // run_workers() is run()'s loop with several workers: it starts the helpers' threads, runs
    // the main worker on the calling thread, joins them, and throws what stopped them (a
    // deadlock), if anything did.
    void run_workers();
    // stop() (under the core lock) makes every worker's loop end at its next turn, with
    // `why` (null: nothing went wrong) for run() to throw.
    void stop(std::exception_ptr why = nullptr) noexcept;
    // wake_idle_worker() wakes one idle worker, if any, to take a task just queued (under the
    // core lock); wake_all_idle() every one (the scheduler stops).
    void wake_idle_worker() noexcept {
        if (inbox.idle_count.load(std::memory_order_relaxed) != 0) wake_idle_worker_slow(false);
    }
    void wake_all_idle() noexcept { wake_idle_worker_slow(true); }
    void wake_idle_worker_slow(bool all) noexcept;
    // local_worker() is the worker of this scheduler on the calling thread, else the main one
    // (a thread outside run(): the scheduler does not run, or the caller is refused).
    worker& local_worker() noexcept;
    // held_here() tells whether the calling thread may touch the shared state of a scheduler
    // with several workers: it is one of its workers and holds the core lock, or the scheduler
    // does not run. For assertions.
    bool held_here() const noexcept;
    // teardown() cancels every unfinished task and runs them until they have unwound.
    void teardown() noexcept;
    std::string describe_deadlock() const;
    // describe_stuck_teardown() says why teardown gives up on the tasks left.
    std::string describe_stuck_teardown() const;

    void add_live(task_record* task) noexcept;
    void remove_live(task_record* task) noexcept;

    // the_poller() is the scheduler's poller, made the first time it is asked for (throws
    // std::system_error when the system refuses its descriptors, std::bad_alloc).
    poller& the_poller();
    // poller_if_any() is the poller, or nullptr when nothing has needed one since run() began.
    poller* poller_if_any() const noexcept { return poller_.get(); }
    // drop_poller() closes the poller and every registration in it; run() does it on return,
    // when no task can wait any more.
    void drop_poller() noexcept { poller_.reset(); }

    scheduler_options options;
    // inbox is the work other threads submit; link is what its scheduler_handles point to.
    remote_inbox inbox;
    handle_link* link = nullptr;
    // multi is options.threads > 1: the workers below share everything under core_lock.
    const bool multi;
    wait_lock core_lock;
    worker main_worker{*this};
    // helpers are the other threads - 1 workers; workers is every one, main first.
    std::vector<std::unique_ptr<worker>> helpers;
    std::vector<worker*> workers;
    // With several workers (under core_lock): stopping ends every worker's loop; failure is
    // what run() then throws; shared_outside_waits counts the tasks that wait for the world
    // outside (atomic: a wait is counted out after its switch, without the lock).
    bool stopping = false;
    std::exception_ptr failure;
    std::atomic<std::size_t> shared_outside_waits{0};
    // inbox_pending (several workers) says that jobs or woken tasks wait in the inbox; set under
    // its lock, read by the workers without it on every turn.
    std::atomic<bool> inbox_pending{false};
    // migrate (a debug mode, SPINDLE_MIGRATE=1 with several workers) resumes every task on
    // another worker than the one it last ran on: each wake and yield queues it elsewhere, and
    // no worker takes a task it ran last. Set before the first run().
    bool migrate = false;
    // stall_watcher (under core_lock) is the idle worker that wakes every stall_watch_period
    // while other workers run tasks, or nullptr.
    worker* stall_watcher = nullptr;
    // live is the unfinished tasks, in spawn order.
    intrusive_list<task_record, &task_record::live_previous, &task_record::live_next> live;
    std::size_t live_count = 0;
    // next_task_id is the id the next spawn takes; with several workers a spawn takes it without
    // the core lock (std::atomic_ref), one worker reads and writes it plainly.
    std::uint64_t next_task_id = 1;
    // slots_reserved (several workers) counts the queue slots reserved for tasks that may be
    // queued; slots_room is how many every worker's queue has room for (it grows, under the
    // core lock, and never shrinks). worker::reserve_slot_everywhere().
    std::atomic<std::size_t> slots_reserved{0};
    std::atomic<std::size_t> slots_room{0};
    task_record* stop_task = nullptr;  // run() returns once this task has finished
    const std::uint64_t serial;  // this scheduler's number in the process, for task_key

    // Links in the process's list of schedulers (scheduler_registry.hpp), which task dumps and
    // the gdb extension walk.
    scheduler_core* registry_previous = nullptr;
    scheduler_core* registry_next = nullptr;
    // runner is the thread in run(), valid while `running` is true: a task dump reads only the
    // tasks of schedulers on its own thread or stopped, and asks a runner elsewhere to dump its
    // own (task_dump_signal.cpp).
    pthread_t runner{};
    // trace is the recorder start_trace() made (spindle/trace.hpp); main_worker.trace() points
    // to it while it records.
    std::unique_ptr<trace_recorder> trace;
    std::atomic<bool> running{false};
    // shared is set once a scheduler_handle has been made: other threads may then touch the
    // objects its tasks wait on, and its workers take their wait_locks. It stays set.
    std::atomic<bool> shared{false};
    // become_shared() sets `shared` (under the inbox's lock), and makes the worker take wait_locks
    // when it runs on the calling thread; a running worker elsewhere is asked (keep_open()).
    void become_shared() noexcept;

private:
    std::unique_ptr<poller> poller_;

    static std::uint64_t next_serial() noexcept {
        static std::atomic<std::uint64_t> count{0};
        return count.fetch_add(1, std::memory_order_relaxed) + 1;
    }
};

inline worker& scheduler_core::local_worker() noexcept {
    worker* const w = this_worker_slot();
    return w && &w->core() == this ? *w : main_worker;
}

void worker::lock_core() noexcept {
    SPINDLE_ASSERT(multi_ && !holds_core_, "a worker took the core lock it holds");
    core_.core_lock.lock();
    holds_core_ = true;
}

void worker::unlock_core() noexcept {
    SPINDLE_ASSERT(multi_ && holds_core_, "a worker released a core lock it does not hold");
    holds_core_ = false;
    core_.core_lock.unlock();
}

bool worker::must_leave() const noexcept { return multi_ && core_.stopping; }

void worker::begin_outside_wait() noexcept {
    if (multi_) [[unlikely]] {
        core_.shared_outside_waits.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    ++outside_waits_;
}

void worker::end_outside_wait() noexcept {
    if (multi_) [[unlikely]] {
        [[maybe_unused]] const std::size_t before =
            core_.shared_outside_waits.fetch_sub(1, std::memory_order_relaxed);
        SPINDLE_ASSERT(before > 0, "an outside wait ended that never began");
        return;
    }
    SPINDLE_ASSERT(outside_waits_ > 0, "an outside wait ended that never began");
    --outside_waits_;
}

std::size_t worker::outside_waits() const noexcept {
    return multi_ ? core_.shared_outside_waits.load(std::memory_order_relaxed) : outside_waits_;
}

// core_hold holds the core lock of a scheduler with several workers for a scope, when the
// calling thread is one of its workers and does not hold it already; otherwise it does nothing
// (one worker; or the scheduler does not run on this thread). Across a switch inside the scope
// the lock stays with the thread, and the scope's end releases it on whichever worker's thread
// the task then runs (read afresh).
class core_hold {
public:
    explicit core_hold(scheduler_core& core, bool wanted = true) noexcept {
        if (!core.multi || !wanted) [[likely]] return;
        worker* w = this_worker_slot();
        if (w && &w->core() == &core && !w->holds_core()) {
            w->lock_core();
            taken_ = true;
        }
    }
    ~core_hold() {
        if (taken_) this_worker_slot()->unlock_core();
    }
    core_hold(const core_hold&) = delete;
    core_hold& operator=(const core_hold&) = delete;

    // release() lets go of the lock before the scope ends (if this hold took it); keep() keeps
    // it past the scope, for a switch to hand on, and says whether this hold took it.
    void release() noexcept {
        if (std::exchange(taken_, false)) this_worker_slot()->unlock_core();
    }
    bool keep() noexcept { return std::exchange(taken_, false); }
    // retake() takes the lock again after release(), as the constructor does (a system call
    // made between the two runs without it).
    void retake(scheduler_core& core) noexcept {
        if (!core.multi) [[likely]] return;
        worker* w = this_worker_slot();
        if (!taken_ && w && &w->core() == &core && !w->holds_core()) {
            w->lock_core();
            taken_ = true;
        }
    }

private:
    bool taken_ = false;
};

void worker::arrived() noexcept {
    worker* const here = this_worker_slot();
    if (here->after_switch_duty_) [[unlikely]] here->after_switch();
    if (here->multi_) [[unlikely]] here->unlock_core();
}

void worker::reap_after_switch() noexcept {
    worker* const here = this_worker_slot();
    if (here->after_switch_duty_) [[unlikely]] here->after_switch();
}

void worker::switch_to(task_record* self, task_record* next) noexcept {
    // The leaving side makes the arriving one's innermost fiber current (after the switch the
    // arriving side uses nothing it had before it): its own fiber when it has not started, else
    // the one it parked in, maybe a fiber nested in it. The leaving task's own innermost fiber
    // waits on its parked stack for whoever resumes it.
    const bool fresh = !next->started;
    fiber_control* const arriving = fresh ? next->control : next->park_control;
    thread_switch_state& thread = switch_state();
    if (self) self->park_control = thread.innermost;
    thread.innermost = arriving;
    hand_over(self, next);
    running_ = next;
    set_status(next, task_status::running);
    context_record& from = self ? self->park : loop_;
    if (fresh) [[unlikely]] {
        next->started = true;
        switch_context_from(thread, from, next->control->self, next->control);
    } else {
        switch_context_from(thread, from, next->park, nullptr);
    }
    // Back here: whoever switched to `from` may have been a task that finished; its stack can
    // go now that nothing runs on it. Back maybe on another thread, whose worker that is: read
    // afresh, not `this` (the leaving side has done its bookkeeping before the switch).
    reap_after_switch();
}

void worker::suspend_to(task_record* self, task_record* next) noexcept {
    if (next) [[likely]] {
        switch_to(self, next);
    } else {
        hand_over_to_loop(self);
        running_ = nullptr;
        self->park_control = current_control();
        set_current_control(loop_control_);
        switch_context(self->park, loop_, nullptr);
        reap_after_switch();
    }
}

void worker::yield_running() noexcept {
    task_record* const self = running_;
    task_record* next = next_ready();
    if (!next) [[unlikely]] {
        // Nobody else is ready: carry on, unless the scheduler stops (several workers).
        if (!must_leave()) return;
        set_status(self, task_status::ready);
        ready_.push_back(self);
        suspend_to(self, nullptr);
        return;
    }
    set_status(self, task_status::ready);
    ready_.push_back(self);
    // When many tasks take turns, each switch misses the cache on the resumed task's record and
    // stack. The queue says who comes next, so fetch ahead: the stack top of the task after
    // `next` (its record was fetched one turn ago) and the record of the one after that.
    if (task_record* after = ready_.peek(0)) {
        __builtin_prefetch(after->park.sp);
        __builtin_prefetch(static_cast<char*>(after->park.sp) + 64);
    }
    if (task_record* later = ready_.peek(1)) __builtin_prefetch(later);
    suspend_to(self, next);
}

// on_other_thread() tells whether `core` runs on a thread other than the calling one: a running
// scheduler's tasks and structures are its thread's alone, and other threads come in through
// submit() and scheduler_handle.
inline bool on_other_thread(const scheduler_core* core) noexcept {
    // The scheduler's own thread (the common case) answers with the first test.
    worker* const w = this_worker_slot();
    return w != &core->main_worker && (!w || &w->core() != core) &&
           core->running.load(std::memory_order_acquire);
}
// refuse_other_threads() throws fiber_error, saying that `what` was called from another thread
// while the scheduler runs, when on_other_thread().
[[noreturn]] void throw_other_thread(const char* what);
inline void refuse_other_threads(const scheduler_core* core, const char* what) {
    if (on_other_thread(core)) [[unlikely]] throw_other_thread(what);
}

// post_woken() hands a task another thread woke to its scheduler's worker (the inbox).
void post_woken(scheduler_core* core, task_record* task) noexcept;

// complete_task() marks a task done, wakes its joiner, and frees the record when no handle
// holds it and it has no stack left.
void complete_task(task_record* task) noexcept;
// destroy_record() frees a finished task's record and payload.
void destroy_record(task_record* task) noexcept;
// describe_task() is "task 3 'name'" or "task 3".
std::string describe_task(const task_record& task);
// take_pending_cancel() throws cancelled, once, when the task has a cancellation pending and
// is not unwinding (nor shielded), and when the deadline of a timeout scope it is in has passed.
// Every wait and yield() calls it: the common case, neither, is one test of the task's duties.
void take_pending_cancel_slow(task_record* task);
inline void take_pending_cancel(task_record* task) {
    if (duties_of(task) != 0) [[unlikely]] take_pending_cancel_slow(task);
}
// throw_if_interrupted() throws cancelled after a wait that did not complete while a
// cancellation was pending (unless the task is unwinding or shielded), or that a timeout scope's
// deadline ended. Inline, the common case is a test or two.
void throw_if_interrupted_slow(task_record* task);
inline void throw_if_interrupted(task_record* task) {
    if (task->outcome != wake_outcome::completed &&
        (cancel_requested(task) || task->timer_for_scope)) [[unlikely]]
        throw_if_interrupted_slow(task);
}
// shielded() tells whether a cancel_shield is open in the task: task::cancel() then waits.
inline bool shielded(const task_record* task) noexcept {
    return task->scope && task->scope->blocks_cancel;
}
// scope_deadline() is the deadline that applies to the task's waits: the earliest of its timeout
// scopes' out to the first shield; time_point::max() when none has one.
std::chrono::steady_clock::time_point scope_deadline(const task_record* task) noexcept;
// throw_for_scope() marks the timeout scopes of the task whose deadline has passed as fired and
// throws cancelled on behalf of the outermost of them.
[[noreturn]] void throw_for_scope(task_record* task);
// unwinding() tells whether an exception is propagating through the task's stack (its waits
// then run in destructors, and cancel() does not interrupt them).
bool unwinding(const task_record* task) noexcept;
// end_wait_for_teardown() ends an uninterruptible wait that cancel() left alone (re-taking a
// mutex after a condition_variable wait) so that the task unwinds: the wait throws cancelled.
// False when the task is in no such wait, or unwinding.
bool end_wait_for_teardown(task_record* task) noexcept;

}  // namespace spindle::detail
