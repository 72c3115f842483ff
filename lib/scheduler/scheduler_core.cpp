// scheduler: construction, run(), teardown, deadlock reports, and this_fiber.

#include "scheduler/scheduler_registry.hpp"
#include "scheduler/worker.hpp"

#include <spindle/detail/deadline.hpp>
#include <spindle/errors.hpp>
#include <spindle/fiber.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

namespace spindle {
namespace detail {
namespace {

// How many times teardown cancels the tasks left before it gives up on one that keeps
// swallowing its cancellation and waiting again.
constexpr int teardown_rounds = 16;

// max_threads bounds scheduler_options::threads: a typo (threads = -1) is an error, not a
// million threads.
constexpr unsigned max_threads = 1024;

}  // namespace

scheduler_core::scheduler_core(const scheduler_options& opts)
    : options(opts), multi(opts.threads > 1), serial(next_serial()) {
    if (!multi) return;
    workers.reserve(options.threads);
    workers.push_back(&main_worker);
    helpers.reserve(options.threads - 1);
    for (unsigned i = 1; i < options.threads; ++i) {
        helpers.push_back(std::make_unique<worker>(*this, i));
        workers.push_back(helpers.back().get());
    }
    inbox.idle_workers.reserve(options.threads);
    // Tasks on other workers touch the objects tasks wait on: their locks are taken from the
    // start, as in a scheduler another thread holds open.
    shared.store(true, std::memory_order_relaxed);
}

void scheduler_core::add_live(task_record* task) noexcept {
    live.push_back(task);
    ++live_count;
}

void scheduler_core::remove_live(task_record* task) noexcept {
    live.remove(task);
    --live_count;
}

poller& scheduler_core::the_poller() {
    core_hold hold(*this);
    if (!poller_) poller_ = std::make_unique<poller>();
    return *poller_;
}

void scheduler_core::run(task_record* until) {
    if (this_worker_slot())
        throw fiber_error(
            "spindle: scheduler::run() called inside a task (or while another scheduler runs on "
            "this thread); spawn a task instead");
    {
        // Under the inbox's lock, as keep_open() looks at `running` and `shared`: a handle made
        // on another thread as run() begins is either seen by enter() or asks the running worker.
        std::lock_guard<std::mutex> hold(inbox.lock);
        if (running.exchange(true, std::memory_order_acq_rel))
            throw fiber_error(
                "spindle: scheduler::run() called while it runs on another thread; hand that "
                "thread work with submit() or a scheduler_handle instead");
        main_worker.enter();
    }
    runner = ::pthread_self();
    // When run() ends no task waits any more: the poller goes, with its registrations, so that
    // descriptors closed since then cannot leave stale ones behind for the next run().
    struct leave_on_exit {
        scheduler_core& core;
        ~leave_on_exit() {
            if (core.main_worker.outside_waits() == 0) core.drop_poller();
            core.main_worker.leave();
            // Under the inbox's lock: a keep_open() waiting for the worker to share learns that
            // no worker runs any more.
            std::lock_guard<std::mutex> hold(core.inbox.lock);
            core.running.store(false, std::memory_order_release);
            core.inbox.shared_changed.notify_all();
        }
    } guard{*this};
    stop_task = until;
    struct forget_stop_task {
        scheduler_core& core;
        ~forget_stop_task() { core.stop_task = nullptr; }
    } forget{*this};
    main_worker.run_loop();
}

void scheduler_core::become_shared() noexcept {
    shared.store(true, std::memory_order_relaxed);
    // The worker's own flags are its thread's to write: now if that is this thread, else at
    // its enter() (which reads `shared` under the inbox's lock).
    if (this_worker_slot() == &main_worker) main_worker.become_shared();
}

std::string scheduler_core::describe_deadlock() const {
    std::string message = "spindle: deadlock: " + std::to_string(live_count) +
                          (live_count == 1 ? " task waits" : " tasks wait") +
                          " and nothing can wake them:";
    for (const task_record* task = live.head; task; task = task->live_next) {
        message += "\n  " + describe_task(*task) + " waits on ";
        if (task->joining)
            message += "join of " + describe_task(*task->joining);
        else if (task->wait_reason)
            message += task->wait_reason;
        else
            message += "something unknown";
        // The names of the objects waited on (several for a select).
        for (const waiter* w = task->wait; w; w = w->sibling)
            if (w->object) message += std::string(" '") + w->object + "'";
    }
    return message;
}

void scheduler_core::teardown() noexcept {
    if (live_count == 0) return;
    if (worker* w = this_worker_slot(); w && &w->core() == this)
        stop_process("a scheduler was destroyed by one of its own tasks");
    for (int round = 0; live_count > 0; ++round) {
        if (round == teardown_rounds) stop_process(describe_stuck_teardown().c_str());
        for (task_record* task = live.head; task;) {
            task_record* next = task->live_next;  // cancelling may finish and unlink it
            try {
                cancel_task(task);
            } catch (...) {
                stop_process("cancelling a task failed while its scheduler was destroyed");
            }
            task = next;
        }
        if (live_count == 0) break;
        try {
            run();
        } catch (const deadlock_error&) {
            // What cancel() leaves alone and nothing else will end: a task re-taking its mutex
            // after a condition_variable wait while the holder never unlocks (it ended holding
            // the mutex, or waits forever itself). Its wait now throws cancelled, without the
            // lock. The next round cancels whatever caught its cancellation and waits again.
            for (task_record* task = live.head; task; task = task->live_next)
                end_wait_for_teardown(task);
        } catch (const std::exception& e) {
            const std::string why = "a scheduler could not unwind its tasks: ";
            stop_process((why + e.what()).c_str());
        }
    }
}

std::string scheduler_core::describe_stuck_teardown() const {
    std::string text = "a scheduler was destroyed and these tasks could not be unwound:";
    for (const task_record* task = live.head; task; task = task->live_next) {
        text += "\n  " + describe_task(*task);
        if (unwinding(task))
            text += " waits on " + std::string(task->wait_reason ? task->wait_reason : "a join") +
                    " in a destructor, while it unwinds (where cancel() cannot interrupt it), "
                    "for something that never comes";
        else
            text += " keeps catching its cancellation and waiting again";
    }
    return text;
}

}  // namespace detail

scheduler::scheduler(scheduler_options options) {
    if (options.threads == 0)
        throw fiber_error("spindle: scheduler_options::threads must be at least 1");
    // SPINDLE_THREADS=N (a test aid) gives N workers to every scheduler made with threads = 1,
    // so that a suite written for one runs on several.
    static const unsigned test_threads = [] {
        const char* value = std::getenv("SPINDLE_THREADS");
        const long n = value ? std::strtol(value, nullptr, 10) : 0;
        return n > 1 && n <= 1024 ? static_cast<unsigned>(n) : 0u;
    }();
    if (options.threads == 1 && test_threads > 1) options.threads = test_threads;
    if (options.threads > detail::max_threads)
        throw fiber_error("spindle: scheduler_options::threads must be at most " +
                          std::to_string(detail::max_threads));
    auto core = std::make_unique<detail::scheduler_core>(options);
    core->link = detail::make_handle_link(core.get());
    // SPINDLE_SHARE_SCHEDULERS=1 (a test aid) makes every scheduler shared from the start, as
    // a scheduler_handle would: its worker takes the objects' locks and ends waits through the
    // claim, so that a test suite written for one thread runs the paths other threads need.
    static const bool share_all = [] {
        const char* value = std::getenv("SPINDLE_SHARE_SCHEDULERS");
        return value && value[0] == '1';
    }();
    if (share_all) core->become_shared();
    // SPINDLE_MIGRATE=1 (a debug aid, with several workers) resumes every task on another
    // worker than the one it last ran on.
    static const bool migrate_all = [] {
        const char* value = std::getenv("SPINDLE_MIGRATE");
        return value && value[0] == '1';
    }();
    core->migrate = core->multi && migrate_all;
    core_ = core.release();
    detail::register_scheduler(core_);
}

scheduler::~scheduler() {
    detail::worker* const here = detail::this_worker_slot();
    if (core_->running.load(std::memory_order_acquire) && (!here || &here->core() != core_))
        detail::stop_process("a scheduler was destroyed while its run() runs on another thread");
    // Handles see the scheduler gone before anything else goes; submitted work that started
    // is cancelled with the other tasks, work that never started breaks its promise.
    detail::detach_handles(core_);
    core_->teardown();
    detail::discard_jobs(core_);
    detail::unregister_scheduler(core_);
    delete core_;
}

void scheduler::run() { core_->run(); }

void scheduler::run_until_complete_record(detail::task_record* task) {
    if (!task) throw fiber_error("spindle: run_until_complete() of an empty task handle");
    if (task->scheduler != core_)
        throw fiber_error("spindle: run_until_complete() of a task of another scheduler");
    core_->run(task);
}

void scheduler::cancel_pending() {
    if (core_->running.load(std::memory_order_acquire))
        throw fiber_error("spindle: scheduler::cancel_pending() called while the scheduler runs");
    core_->teardown();
}

namespace this_task {

std::uint64_t id() noexcept {
    const detail::task_record* self = detail::running_task();
    return self ? self->id : 0;
}

std::string_view name() noexcept {
    const detail::task_record* self = detail::running_task();
    return self ? std::string_view(self->name) : std::string_view();
}

}  // namespace this_task

namespace this_fiber {

void yield() {
    detail::worker* w = detail::task_worker();
    if (!w) {
        std::this_thread::yield();
        return;
    }
    detail::task_record* self = w->running();
    detail::take_pending_cancel(self);
    if (w->multi()) [[unlikely]]
        w->yield_shared();
    else
        w->yield_running();
    detail::take_pending_cancel(self);
}

void sleep_until(std::chrono::steady_clock::time_point deadline) {
    detail::worker* w = detail::task_worker();
    if (!w) {
        std::this_thread::sleep_until(deadline);
        return;
    }
    detail::task_record* self = w->running();
    // With several workers, under the core lock from the check for a pending cancel to the
    // park: a cancel() between the two would find the task running and leave it asleep.
    detail::core_hold hold(w->core());
    detail::take_pending_cancel(self);
    w->arm_wait_timer(self, deadline);
    // A sleep until time_point::max() still sits in the timer heap: the deadlock report names it.
    if (self->timer_slot == detail::no_timer_slot) w->add_timer(self, deadline);
    detail::set_status(self, detail::task_status::waiting);
    self->outcome = detail::wake_outcome::waiting;
    self->wait_reason =
        deadline == std::chrono::steady_clock::time_point::max() ? "sleep forever" : "sleep";
    w->park();
    detail::throw_if_interrupted(self);
}

void sleep_for(std::chrono::steady_clock::duration duration) {
    sleep_until(detail::deadline_after(duration));
}

void set_name(std::string_view name) {
    if (detail::task_record* self = detail::running_task()) {
        detail::copy_name(self->name, name);
        if (self->control) detail::copy_name(self->control->name, name);
        return;
    }
    if (fiber* f = fiber::current()) {
        f->set_name(name);
        return;
    }
    throw fiber_error("spindle: this_fiber::set_name() called outside any task or fiber");
}

}  // namespace this_fiber
}  // namespace spindle
