// Wait queues: linking a waiting task, suspending it, and waking it.

#include "scheduler/worker.hpp"

#include <spindle/errors.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>

namespace spindle::detail {
namespace {

using time_point = std::chrono::steady_clock::time_point;

}  // namespace

// thread_waiter is a thread's side of a wait outside any task (wait_here()): the waker sets
// `done` under `lock` and notifies.
struct thread_waiter {
    std::mutex lock;
    std::condition_variable woken;
    bool done = false;
    wake_outcome outcome = wake_outcome::waiting;
    std::atomic<bool> claimed{false};
};

namespace {

// link_waiter() links `w`, for the task `self`, at the back of `queue` and marks the task waiting.
inline void link_waiter(wait_queue& queue, waiter& w, const char* what, task_record* self) noexcept {
    SPINDLE_ASSERT(!w.sibling && !w.fired, "a waiter used for a second wait");
    w.previous = w.next = nullptr;
    queue.push_back(&w);
    w.queue = &queue;
    w.task = self;
    self->wait = &w;
    self->wait_reason = what;
    set_status(self, task_status::waiting);
    self->outcome = wake_outcome::waiting;
    // (`claimed` is clear: only a locking waker sets it, and then the task clears it again in
    // release_waiters(), once nothing can find its waiters.)
    SPINDLE_ASSERT(!self->claimed.load(std::memory_order_relaxed), "a wait begun claimed");
}

// link_wait_slow() is link_wait() when the task has duties (a cancellation pending, a timeout
// scope), the wait a deadline, or there is no task.
[[gnu::noinline]] void link_wait_slow(wait_queue& queue, waiter& w, const char* what,
                                      bool interruptible, time_point deadline) {
    worker* wk = task_worker();
    if (!wk) throw fiber_error(std::string("spindle: ") + what + " would wait outside any task");
    // With several workers the wait is linked and parked under the core lock (after the
    // object's): end_wait() has it released after the switch.
    core_hold hold(wk->core());
    task_record* self = wk->running();
    if (interruptible) take_pending_cancel(self);
    self->interruptible = interruptible;
    try {
        wk->arm_wait_timer(self, deadline);
    } catch (...) {
        self->interruptible = true;
        throw;
    }
    link_waiter(queue, w, what, self);
    self->wait_took_core = hold.keep();
}

// link_wait() puts the calling task in a wait on `queue`, with a timer for `deadline` (or for its
// timeout scope's, if earlier). Nothing is linked before the timer is set, so running out of
// memory for it leaves everything as it was. Most waits have no deadline, in a task with no
// duties: that path makes no call (link_wait_slow() is a tail call), so it saves no registers.
// link_wait_as() is link_wait() for the running task `self` its caller found (nullptr outside
// any task); it tells whether the wait took that common path.
inline bool link_wait_as(task_record* self, wait_queue& queue, waiter& w, const char* what,
                         bool interruptible, time_point deadline) {
    if (!self || duties_of(self) != 0 || deadline != time_point::max()) [[unlikely]] {
        link_wait_slow(queue, w, what, interruptible, deadline);
        return false;
    }
    self->interruptible = interruptible;
    link_waiter(queue, w, what, self);
    return true;
}
inline void link_wait(wait_queue& queue, waiter& w, const char* what, bool interruptible,
                      time_point deadline) {
    worker* wk = task_worker();
    (void)link_wait_as(wk ? wk->running() : nullptr, queue, w, what, interruptible, deadline);
}

// thread_wait_marker() is the task a thread's waiter names (waiter::task, beside
// waiter::thread): a task of a scheduler that never runs, so that a waker's common path, which
// compares the waiter's worker with its own, sends a thread's waiter to the rare path
// (wake_from_elsewhere()) with no test of its own.
task_record& thread_wait_marker() noexcept {
    static scheduler_core never_running{scheduler_options{}};
    static task_record marker;
    static const bool made = [] {
        marker.scheduler = &never_running;
        marker.status = task_status::waiting;  // as the waiters that name it
        return true;
    }();
    (void)made;
    return marker;
}

// claim_of() is the claim a waiter's wait is ended through: its task's, or its thread's.
inline std::atomic<bool>& claim_of(waiter& w) noexcept {
    return w.thread ? w.thread->claimed : w.task->claimed;
}

// try_claim() claims the wait `w` belongs to: true for the one waker that ends it.
inline bool try_claim(waiter& w) noexcept {
    return !claim_of(w).exchange(true, std::memory_order_acq_rel);
}

// unlink() takes `w` out of its queue (the caller holds the object's lock, if it has one).
inline void unlink(waiter& w) noexcept {
    w.queue->remove(&w);
    w.queue = nullptr;
}

// let_go() unlinks a waiter whose wait another waker has claimed (its task or thread unlinks it
// otherwise): its owner reads `queue` before touching the object again (release_waiters()),
// since the object may be gone by then.
inline void let_go(waiter& w) noexcept {
    w.queue->remove(&w);
    std::atomic_ref<wait_queue*>(w.queue).store(nullptr, std::memory_order_release);
}

// describe_sharing_rule() is the end of the messages about a thread touching the objects of a
// running scheduler that no scheduler_handle lets other threads touch.
constexpr const char* sharing_rule =
    "; a thread other than the one running a scheduler may use the channels and condition "
    "variables its tasks wait on only while it holds a scheduler_handle (scheduler::keep_open()), "
    "which makes the scheduler's worker take their locks";

// stop_unshared() stops the process: a waker touched a wait of a running scheduler that other
// threads may not touch, or a worker that takes no locks met a thread's wait. `describe` says
// what happened (it may throw std::bad_alloc: the message is then a shorter one).
template <class Describe>
[[noreturn, gnu::cold]] void stop_unshared(Describe describe) noexcept {
    try {
        stop_process((describe() + sharing_rule).c_str());
    } catch (...) {
        stop_process("a wait was touched by two threads without a scheduler_handle");
    }
}

// wake_thread() ends the wait of a thread outside any task: claimed, under the object's lock.
[[gnu::cold, gnu::noinline]] void wake_thread(waiter& w, wake_outcome outcome) noexcept {
    if (!locks_objects()) {
        stop_unshared([] {
            const task_record* waker = running_task();
            return (waker ? describe_task(*waker) : std::string("a task")) +
                   " woke a thread that waits outside any task, on a worker that takes no "
                   "object locks";
        });
    }
    unlink(w);
    w.fired = true;
    thread_waiter& thread = *w.thread;
    // Notified under the thread's lock: once it sees `done` it may return and free the state.
    std::lock_guard<std::mutex> hold(thread.lock);
    thread.outcome = outcome;
    thread.done = true;
    thread.woken.notify_one();
}

// wake_from_elsewhere() is wake() from outside the task's scheduler: from a thread outside any
// task, or from another scheduler's task. While the scheduler does not run, nothing else touches
// it and the task is queued at once. While it runs, on another thread, the task goes through the
// scheduler's inbox, which the worker empties between its tasks; that is allowed only once the
// scheduler is shared (a scheduler_handle exists), so that its worker takes the object's lock
// the caller holds.
[[gnu::cold, gnu::noinline]] void wake_from_elsewhere(waiter& w, wake_outcome outcome) noexcept {
    // A thread's waiter comes this way too (thread_wait_marker()).
    if (w.thread) return wake_thread(w, outcome);
    task_record& task = *w.task;
    scheduler_core* core = task.scheduler;
    // Several workers: another worker of the same scheduler wakes it as its owner would.
    if (core->multi) {
        worker* const here = this_worker_slot();
        if (here && &here->core() == core) {
            here->wake_claimed(w, outcome);
            return;
        }
    }
    if (!core->running.load(std::memory_order_acquire)) {
        core->main_worker.wake_claimed(w, outcome);
        return;
    }
    if (!core->shared.load(std::memory_order_acquire) || !locks_objects()) {
        stop_unshared([&task] {
            return describe_task(task) +
                   " was woken (a channel, mutex, condition variable or other object it waits "
                   "on was used) from a thread other than the one running its scheduler";
        });
    }
    unlink(w);
    w.fired = true;
    task.outcome = with_waiters_left(outcome);
    post_woken(core, &task);
}

}  // namespace

namespace {

// thread_key_number is the n of this thread's task_key {0, n}, 0 until first asked for. Read in
// running_task_key() only, which does not switch.
thread_local std::uint64_t thread_key_number = 0;

}  // namespace

task_key running_task_key() noexcept {
    const task_record* self = running_task();
    if (self) return task_key{self->scheduler->serial, self->id};
    if (thread_key_number == 0) {
        static std::atomic<std::uint64_t> threads_numbered{0};
        thread_key_number = threads_numbered.fetch_add(1, std::memory_order_relaxed) + 1;
    }
    return task_key{0, thread_key_number};
}

void begin_wait(wait_queue& queue, waiter& w, const char* what, bool interruptible) {
    link_wait(queue, w, what, interruptible, time_point::max());
}

void begin_wait_until(wait_queue& queue, waiter& w, const char* what, time_point deadline) {
    link_wait(queue, w, what, true, deadline);
}

void also_wait(wait_queue& queue, waiter& first, waiter& w) noexcept {
    SPINDLE_ASSERT(first.queue && first.task->wait == &first &&
                       first.task->status == task_status::waiting,
                   "also_wait() without a wait begun");
    w.previous = w.next = nullptr;
    w.fired = false;
    queue.push_back(&w);
    w.queue = &queue;
    w.task = first.task;
    w.sibling = first.sibling;
    first.sibling = &w;
}

namespace {

// finish_wait() is end_wait() once the task has been resumed.
inline wake_outcome finish_wait(task_record* self) {
    // The common case first: what it waited for happened (throw_if_interrupted() and the
    // teardown's uninterruptible end both let a completed wait return). A waker that left
    // waiters linked marked the outcome (with_waiters_left()), so this one test covers that too.
    if (self->outcome == wake_outcome::completed) [[likely]] {
        self->interruptible = true;
        return wake_outcome::completed;
    }
    // Woken where other threads may touch the objects: the waiters the waker left linked (a
    // select's others, or all of them after a timeout or cancel) go now, one lock at a time.
    if (waiters_left(self->outcome)) {
        self->outcome = without_waiters_left(self->outcome);
        worker::release_waiters(self);
        if (self->outcome == wake_outcome::completed) {
            self->interruptible = true;
            return wake_outcome::completed;
        }
    }
    SPINDLE_ASSERT(!self->wait, "a task resumed with its waiters linked, unmarked");
    const bool interruptible = self->interruptible;
    self->interruptible = true;
    if (interruptible) {
        throw_if_interrupted(self);
    } else if (self->outcome == wake_outcome::cancelled) [[unlikely]] {
        // Only a scheduler's teardown ends an uninterruptible wait (end_wait_for_teardown()).
        set_cancel_requested(self, false);
        throw cancelled{};
    }
    return self->outcome;
}

}  // namespace

namespace {

// end_wait_shared() is end_wait() with several workers: the task parks on the worker it runs on
// (not the main one) and lets go, after the switch, of the core lock its wait took.
[[gnu::noinline]] wake_outcome end_wait_shared(task_record* self, const held_locks* handed) {
    worker* const here = this_worker_slot();
    if (handed)
        here->park_handing(handed);
    else
        here->park();
    if (std::exchange(self->wait_took_core, false)) this_worker_slot()->unlock_core();
    return finish_wait(self);
}

}  // namespace

wake_outcome end_wait(waiter& w) {
    task_record* self = w.task;
    if ((duties_of(self) & duty_shared) != 0) [[unlikely]] return end_wait_shared(self, nullptr);
    self->scheduler->main_worker.park();
    return finish_wait(self);
}

wake_outcome end_wait(waiter& w, held_locks handed) {
    task_record* self = w.task;
    if ((duties_of(self) & duty_shared) != 0) [[unlikely]] return end_wait_shared(self, &handed);
    self->scheduler->main_worker.park_handing(&handed);
    return finish_wait(self);
}

wake_outcome wait_in(wait_queue& queue, waiter& w, const char* what) {
    worker* const wk = task_worker();
    task_record* const self = wk ? wk->running() : nullptr;
    if (!link_wait_as(self, queue, w, what, true, time_point::max())) [[unlikely]]
        return end_wait(w);
    // Without duties the task is on a scheduler of one worker (several set duty_shared), so
    // `wk` is its main worker, which end_wait() would reach through the task.
    wk->park();
    return finish_wait(self);
}

waiter* claim_first_shared(wait_queue& queue) noexcept {
    while (waiter* w = queue.head) {
        if (try_claim(*w)) return w;
        // Another waker ended that wait (its timeout, a cancel, another object's notify to a
        // select): its owner would unlink it; it goes now, so that it is not found again.
        let_go(*w);
    }
    return nullptr;
}

waiter* first_waiting_shared(wait_queue& queue) noexcept {
    while (waiter* w = queue.head) {
        if (!claim_of(*w).load(std::memory_order_acquire)) return w;
        let_go(*w);
    }
    return nullptr;
}

void wake_unshared(waiter& w, wake_outcome outcome) noexcept {
    task_record* const task = w.task;
    SPINDLE_ASSERT(w.queue && task->status == task_status::waiting,
                   "a waiter woken while not waiting");
    worker& owner = task->scheduler->main_worker;
    // Another scheduler's task, or a thread outside any task (on a worker that takes no locks,
    // that is a misuse wake_thread() reports): a tail call, as the others.
    if (this_worker_slot() != &owner) [[unlikely]] return wake_from_elsewhere(w, outcome);
    w.fired = true;
    owner.wake_task_unlinking(task, outcome);
}

void wake_shared(waiter& w, wake_outcome outcome) noexcept {
    task_record* const task = w.task;
    SPINDLE_ASSERT(w.queue && task->status == task_status::waiting,
                   "a waiter woken while not waiting");
    worker& owner = task->scheduler->main_worker;
    if (this_worker_slot() != &owner) return wake_from_elsewhere(w, outcome);
    // The caller took the locks, on the owner's thread: that worker takes them too (a worker's
    // thread flag is set with its own).
    SPINDLE_ASSERT(owner.locks_objects(), "a locked wake on a worker that takes no locks");
    owner.wake_claimed(w, outcome);
}

void wake_all(wait_queue& queue, wake_outcome outcome) noexcept {
    if (locks_objects()) {
        while (waiter* w = claim_first_as<true>(queue)) wake_shared(*w, outcome);
    } else {
        while (waiter* w = claim_first_as<false>(queue)) wake_unshared(*w, outcome);
    }
}

bool in_task() noexcept { return running_task() != nullptr; }

wake_outcome wait_here(wait_queue& queue, waiter& w, object_guard& guard, const char* what,
                       time_point deadline, void (*after_link)(void*) noexcept, void* context) {
    wait_lock* const lock = guard.held();
    if (!lock)
        throw fiber_error(std::string("spindle: ") + what +
                          " would wait outside any task, on the thread of a scheduler whose "
                          "tasks alone could end the wait");
    SPINDLE_ASSERT(!w.thread && !w.sibling && !w.fired, "a thread's waiter used twice");
    thread_waiter self;
    w.thread = &self;
    w.task = &thread_wait_marker();
    w.previous = w.next = nullptr;
    queue.push_back(&w);
    w.queue = &queue;
    if (after_link) after_link(context);
    // The waiter is linked under the object's lock; wakers set `done` under the thread's own,
    // so the object's may go before the thread blocks.
    guard.hand_over()->unlock();
    std::unique_lock<std::mutex> hold(self.lock);
    const auto done = [&self] { return self.done; };
    if (deadline == time_point::max()) {
        self.woken.wait(hold, done);
        return self.outcome;
    }
    if (self.woken.wait_until(hold, deadline, done)) return self.outcome;
    hold.unlock();
    // The deadline passed: the thread races its wakers for the claim, under the object's lock.
    lock->lock();
    if (try_claim(w)) {
        if (w.queue) unlink(w);
        lock->unlock();
        return wake_outcome::timed_out;
    }
    lock->unlock();
    // A waker won: it has unlinked the waiter and is about to say how the wait ended.
    hold.lock();
    self.woken.wait(hold, done);
    return self.outcome;
}

}  // namespace spindle::detail
