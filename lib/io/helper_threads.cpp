// helper threads: the pool behind spindle::to_thread().
//
// A process-wide pool, started on first use, of at most `max_helpers` threads. A job is queued;
// an idle helper takes it, or a new helper is started while there are fewer than the maximum.
// When a job is done its task is handed back to its scheduler's poller (post_completion), which
// resumes it on its worker. Helpers idle for `helper_idle_time` end, so a program that used
// to_thread() once keeps no threads around. The pool itself is never destroyed (helpers may
// still be waiting in it at exit).

#include "scheduler/worker.hpp"

#include <spindle/io.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace spindle::detail {
namespace {

constexpr unsigned max_helpers = 16;
constexpr auto helper_idle_time = std::chrono::seconds(10);

class helper_pool {
public:
    // submit() queues a job; throws std::system_error when no helper runs and none can start.
    void submit(helper_job& job) {
        std::unique_lock<std::mutex> hold(lock_);
        job.next = nullptr;
        if (last_)
            last_->next = &job;
        else
            first_ = &job;
        last_ = &job;
        ++queued_;
        if (idle_ >= queued_) {
            work_.notify_one();
            return;
        }
        if (helpers_ < max_helpers) {
            try {
                std::thread(&helper_pool::serve, this).detach();
                ++helpers_;
                return;
            } catch (...) {
                if (helpers_ > 0) return;  // the running helpers will get to it
                take_back(job);
                throw;
            }
        }
    }

private:
    void take_back(helper_job& job) noexcept {
        // Only called right after queueing `job` when nothing could run it: it is the last.
        helper_job** link = &first_;
        helper_job* previous = nullptr;
        while (*link != &job) {
            previous = *link;
            link = &(*link)->next;
        }
        *link = job.next;
        if (last_ == &job) last_ = previous;
        --queued_;
    }

    void serve() {
        std::unique_lock<std::mutex> hold(lock_);
        for (;;) {
            while (!first_) {
                ++idle_;
                const bool woken = work_.wait_for(hold, helper_idle_time, [&] { return first_; });
                --idle_;
                if (!woken) {
                    --helpers_;
                    return;
                }
            }
            helper_job* job = first_;
            first_ = job->next;
            if (!first_) last_ = nullptr;
            --queued_;
            hold.unlock();
            job->run(job);
            finish(job);
            hold.lock();
        }
    }

    static void finish(helper_job* job) noexcept {
        // The task waits for this, uninterruptibly, and its scheduler keeps its poller while
        // the wait is counted: both are still there.
        task_record* task = job->task;
        task->scheduler->poller_if_any()->post_completion(task);
    }

    std::mutex lock_;
    std::condition_variable work_;
    helper_job* first_ = nullptr;
    helper_job* last_ = nullptr;
    unsigned queued_ = 0;
    unsigned idle_ = 0;
    unsigned helpers_ = 0;
};

helper_pool& pool() {
    static helper_pool* const the_pool = new helper_pool;
    return *the_pool;
}

}  // namespace

void run_on_helper_thread(helper_job& job) {
    worker* w = task_worker();
    if (!w) {
        job.run(&job);
        return;
    }
    task_record* self = w->running();
    take_pending_cancel(self);
    // With several workers the wait begins and parks under the core lock, released after the
    // switch at the end of the scope.
    core_hold hold(*self->scheduler);
    self->scheduler->the_poller();  // made now, where failing can still throw
    job.task = self;
    // The task is waiting before the job is queued: a helper may finish it at once, and its
    // completion must find a waiting task.
    set_status(self, task_status::waiting);
    self->outcome = wake_outcome::waiting;
    self->wait_reason = "spindle::to_thread";
    self->interruptible = false;
    w->begin_outside_wait();
    try {
        pool().submit(job);
    } catch (...) {
        w->end_outside_wait();
        self->interruptible = true;
        // Back out of the wait that never began: no one else has seen the task waiting.
        SPINDLE_ASSERT(self->status == task_status::waiting, "a to_thread wait undone twice");
        std::atomic_ref<task_status>(self->status).store(task_status::running,
                                                          std::memory_order_relaxed);
        throw;
    }
    w->park();
    self->interruptible = true;
    // A cancellation that came while the function ran is delivered now that it has returned.
    take_pending_cancel(self);
}

}  // namespace spindle::detail
