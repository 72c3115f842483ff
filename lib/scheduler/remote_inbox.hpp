#pragma once
// remote_inbox: work other threads hand a scheduler (scheduler::submit(), scheduler_handle), and
// the handles that hold it open. The one place in a scheduler touched by threads other than its
// own, so everything here is under `lock` (the flag the worker tests without it excepted).

#include <spindle/detail/remote_job.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

namespace spindle::detail {

class poller;
class worker;
struct scheduler_core;
struct task_record;

struct remote_inbox {
    std::mutex lock;
    remote_job* first = nullptr;  // jobs in submission order
    remote_job* last = nullptr;
    // Tasks other threads woke (a send to a channel a task waits on), in the order woken, linked
    // through task_record::woken_next: their waits are claimed and their waiters unlinked; the
    // worker queues them.
    task_record* woken_first = nullptr;
    task_record* woken_last = nullptr;
    // share_requested asks the running worker to start taking wait_locks (keep_open() from
    // another thread); `shared_changed` tells the asker it has, or that run() returned.
    bool share_requested = false;
    std::condition_variable shared_changed;
    // news says something happened the idle worker must look at: a job queued, a handle let go.
    bool news = false;
    // While the worker idles it waits either in its poller (idle_poller, woken by poller::wake())
    // or on `idle`; whoever brings news wakes the one it waits in.
    poller* idle_poller = nullptr;
    std::condition_variable idle;
    // idle_workers are the workers of a scheduler with several asleep in worker::idle_shared();
    // idle_count is its size, read without the lock by a worker that has queued a task (a
    // worker goes idle only under the core lock, which that worker holds: none is missed).
    // Room for every worker is reserved when the scheduler is made.
    std::vector<worker*> idle_workers;
    std::atomic<std::size_t> idle_count{0};
    // wake_idle() (under `lock`) wakes one idle worker, or with `all` every one, taking each
    // off the list.
    void wake_idle(bool all) noexcept;

    // open_handles counts the scheduler_handles holding the scheduler open. Written under `lock`,
    // read by the worker without it to decide between idling and returning; the news that
    // follows every change makes it look again.
    std::atomic<std::size_t> open_handles{0};

    // bring_news() (under `lock`) marks news and wakes the worker where it idles.
    void bring_news() noexcept;
    // take_jobs() (under `lock`) empties the queue and returns its first job.
    remote_job* take_jobs() noexcept;
    // take_woken() (under `lock`) empties the list of woken tasks and returns its first.
    task_record* take_woken() noexcept;
};

// handle_link is what scheduler_handles point to: one per scheduler, counted, so that a handle
// may outlive the scheduler (`core` is null from the scheduler's destruction on).
struct handle_link {
    std::mutex lock;
    scheduler_core* core = nullptr;
    std::atomic<std::size_t> references{1};  // the scheduler's, plus one per handle

    // drop_reference() frees the link with its last reference.
    void drop_reference() noexcept;
};

// make_handle_link() makes the link of a new scheduler (std::bad_alloc).
handle_link* make_handle_link(scheduler_core* core);
// detach_handles() tells the handles that their scheduler is being destroyed (their submit()
// throws from then on) and drops the scheduler's reference to the link.
void detach_handles(scheduler_core* core) noexcept;
// discard_jobs() frees the jobs that never started (their futures report broken promises).
void discard_jobs(scheduler_core* core) noexcept;

}  // namespace spindle::detail
