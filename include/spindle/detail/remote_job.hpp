#pragma once
// Work handed to a scheduler from another thread (scheduler::submit(), scheduler_handle): the
// template half, which knows the function's type. lib/scheduler/remote_inbox.cpp queues the
// jobs and the scheduler's worker starts each as a task.

#include <spindle/detail/config.hpp>
#include <spindle/fiber.hpp>

#include <exception>
#include <future>
#include <memory>
#include <type_traits>
#include <utility>

namespace spindle::detail {
struct scheduler_core;
struct handle_link;
}  // namespace spindle::detail

SPINDLE_EXPORTS_BEGIN

namespace spindle::detail {

// remote_job is one submitted function waiting in a scheduler's inbox.
struct remote_job {
    remote_job* next = nullptr;
    // start() spawns the job's task on `core` (or, when that fails, gives its future the
    // exception) and frees the job; it runs on the scheduler's worker.
    void (*start)(remote_job* job, scheduler_core* core) noexcept = nullptr;
    // discard() frees a job that will never run: its future then reports a broken promise.
    void (*discard)(remote_job* job) noexcept = nullptr;
};

// submit_job() queues `job` in the inbox of `core` and wakes its worker; from any thread.
void submit_job(scheduler_core* core, remote_job* job) noexcept;
// submit_through() is submit_job() for a scheduler_handle: fiber_error (the job not taken) for
// an empty handle or once the scheduler is destroyed.
void submit_through(handle_link* link, remote_job* job);
// spawn_detached() spawns `function` as a task of `core` and drops its handle (scheduler.hpp).
// Throws std::bad_alloc as spawn() does.
template <class F>
void spawn_detached(scheduler_core* core, F&& function);

// submitted_job holds a submitted function and the promise of its result.
template <class F, class R>
struct submitted_job final : remote_job {
    F function;
    std::promise<R> promise;

    explicit submitted_job(F&& f) : function(std::move(f)) {
        start = &start_job;
        discard = &discard_job;
    }
    template <class G>
    explicit submitted_job(const G& f) : function(f) {
        start = &start_job;
        discard = &discard_job;
    }

    // run_and_fulfil() is the task's body: the function's result or exception becomes the
    // future's.
    struct run_and_fulfil {
        F function;
        std::promise<R> promise;
        void operator()() {
            try {
                if constexpr (std::is_void_v<R>) {
                    function();
                    promise.set_value();
                } else {
                    promise.set_value(function());
                }
            } catch (const forced_unwind&) {
                throw;  // the fiber is being unwound, not failing: the promise breaks
            } catch (...) {
                promise.set_exception(std::current_exception());
            }
        }
    };

    static void start_job(remote_job* job, scheduler_core* core) noexcept {
        auto* self = static_cast<submitted_job*>(job);
        std::promise<R> promise = std::move(self->promise);
        try {
            run_and_fulfil body{std::move(self->function), std::move(promise)};
            try {
                spawn_detached(core, std::move(body));
            } catch (...) {
                // spawn() changes nothing when it throws: the body still holds the promise.
                body.promise.set_exception(std::current_exception());
            }
        } catch (...) {
            // Moving the function threw: the promise was not moved into the body.
            try {
                promise.set_exception(std::current_exception());
            } catch (...) {
            }
        }
        delete self;
    }
    static void discard_job(remote_job* job) noexcept { delete static_cast<submitted_job*>(job); }
};

// queue_submitted() makes the job for `fn` and hands it to `queue` (which throws fiber_error
// when it cannot take it: the job is freed then, its function never run), and returns the
// job's future.
template <class F, class Queue>
auto queue_submitted(F&& fn, Queue queue) {
    using Function = std::decay_t<F>;
    using Result = std::invoke_result_t<Function&>;
    using Job = submitted_job<Function, Result>;
    auto job = std::make_unique<Job>(std::forward<F>(fn));
    std::future<Result> future = job->promise.get_future();
    queue(job.get());
    job.release();
    return future;
}

}  // namespace spindle::detail

SPINDLE_EXPORTS_END
