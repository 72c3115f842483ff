// Work from other threads: queueing a submitted job, waking the worker, holding a scheduler open.

#include "scheduler/remote_inbox.hpp"
#include "scheduler/worker.hpp"

#include <spindle/errors.hpp>
#include <spindle/scheduler.hpp>

namespace spindle {
namespace detail {

void remote_inbox::bring_news() noexcept {
    news = true;
    // Several workers: every idle one looks (news is rare: a job, a handle made or let go).
    if (!idle_workers.empty()) return wake_idle(true);
    if (idle_poller)
        idle_poller->wake();
    else
        idle.notify_one();
}

remote_job* remote_inbox::take_jobs() noexcept {
    remote_job* jobs = first;
    first = last = nullptr;
    return jobs;
}

void remote_inbox::wake_idle(bool all) noexcept {
    do {
        if (idle_workers.empty()) return;
        worker* const w = idle_workers.back();
        idle_workers.pop_back();
        idle_count.store(idle_workers.size(), std::memory_order_relaxed);
        w->wake_from_idle();
    } while (all);
}

task_record* remote_inbox::take_woken() noexcept {
    task_record* woken = woken_first;
    woken_first = woken_last = nullptr;
    return woken;
}

namespace {

// post() appends `item` to the inbox list from `first` to `last` (linked through Next), under
// the inbox's lock, and tells the worker: the busy worker's test before the idle one's wake, so
// that a worker between the two finds the item either way (it takes the lists under this lock).
template <class T, T* T::*Next>
void post(scheduler_core* core, T* remote_inbox::*first, T* remote_inbox::*last, T* item) noexcept {
    remote_inbox& inbox = core->inbox;
    std::lock_guard<std::mutex> hold(inbox.lock);
    item->*Next = nullptr;
    if (inbox.*last)
        (inbox.*last)->*Next = item;
    else
        inbox.*first = item;
    inbox.*last = item;
    core->main_worker.signal_remote_work();
    if (core->multi) core->inbox_pending.store(true, std::memory_order_relaxed);
    inbox.bring_news();
}

}  // namespace

void post_woken(scheduler_core* core, task_record* task) noexcept {
    post<task_record, &task_record::woken_next>(core, &remote_inbox::woken_first,
                                                &remote_inbox::woken_last, task);
}

void submit_job(scheduler_core* core, remote_job* job) noexcept {
    post<remote_job, &remote_job::next>(core, &remote_inbox::first, &remote_inbox::last, job);
}

void submit_through(handle_link* link, remote_job* job) {
    if (!link) throw fiber_error("spindle: submit() through an empty scheduler_handle");
    std::lock_guard<std::mutex> hold(link->lock);
    if (!link->core)
        throw fiber_error("spindle: submit() through a scheduler_handle whose scheduler was destroyed");
    submit_job(link->core, job);
}

void handle_link::drop_reference() noexcept {
    if (references.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

handle_link* make_handle_link(scheduler_core* core) {
    auto* link = new handle_link;
    link->core = core;
    return link;
}

void detach_handles(scheduler_core* core) noexcept {
    handle_link* link = core->link;
    {
        std::lock_guard<std::mutex> hold(link->lock);
        link->core = nullptr;
    }
    link->drop_reference();
    core->link = nullptr;
}

void discard_jobs(scheduler_core* core) noexcept {
    remote_job* jobs;
    {
        std::lock_guard<std::mutex> hold(core->inbox.lock);
        jobs = core->inbox.take_jobs();
    }
    while (remote_job* job = jobs) {
        jobs = job->next;
        job->discard(job);
    }
}

}  // namespace detail

scheduler_handle scheduler::keep_open() {
    detail::handle_link* link = core_->link;
    detail::remote_inbox& inbox = core_->inbox;
    std::unique_lock<std::mutex> hold(inbox.lock);
    link->references.fetch_add(1, std::memory_order_relaxed);
    inbox.open_handles.fetch_add(1, std::memory_order_relaxed);
    scheduler_handle handle(link);
    // A handle lets other threads use the objects the tasks wait on: from now on the worker
    // takes their locks. The worker starts doing so between two of its tasks' operations, so a
    // thread other than the running worker's asks it to and waits until it has (or run() has
    // returned: nothing runs that could skip a lock then).
    if (!core_->shared.load(std::memory_order_relaxed)) {
        if (!detail::on_other_thread(core_)) {
            core_->become_shared();
        } else {
            inbox.share_requested = true;
            core_->main_worker.signal_remote_work();
            inbox.bring_news();
            inbox.shared_changed.wait(hold, [this] {
                return core_->shared.load(std::memory_order_relaxed) ||
                       !core_->running.load(std::memory_order_acquire);
            });
            if (!core_->shared.load(std::memory_order_relaxed)) core_->become_shared();
        }
    }
    return handle;
}

void scheduler_handle::release() noexcept {
    detail::handle_link* link = std::exchange(link_, nullptr);
    if (!link) return;
    {
        std::lock_guard<std::mutex> hold(link->lock);
        if (detail::scheduler_core* core = link->core) {
            std::lock_guard<std::mutex> hold_inbox(core->inbox.lock);
            core->inbox.open_handles.fetch_sub(1, std::memory_order_relaxed);
            core->inbox.bring_news();
        }
    }
    link->drop_reference();
}

}  // namespace spindle
