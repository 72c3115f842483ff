// The poller on its own: timeouts never end early, other threads' wakes and completions end a
// wait, and the scheduler keeps no poller when nothing needs one.

#include "scheduler/poller.hpp"
#include "scheduler/worker.hpp"
#include "workers.hpp"

#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

using namespace spindle;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST_CASE("poller: a wait with a deadline never ends before it") {
    detail::scheduler_core core(scheduler_options{});
    detail::poller& p = core.the_poller();
    for (std::chrono::microseconds timeout : {1us, 700us, 1000us, 3000us}) {
        const auto deadline = clock_type::now() + timeout;
        // Only a signal ends the wait early; none comes here, but EINTR is allowed: loop.
        while (clock_type::now() < deadline) p.wait_until(core.main_worker, deadline);
        CHECK(clock_type::now() >= deadline);
    }
    CHECK(p.statistics().waits >= 1);
}

TEST_CASE("poller: another thread's wake ends a wait without a time limit") {
    detail::scheduler_core core(scheduler_options{});
    detail::poller& p = core.the_poller();
    std::thread waker([&] {
        std::this_thread::sleep_for(5ms);
        p.wake();
    });
    const auto before = p.statistics().remote_wakes;
    while (p.statistics().remote_wakes == before)
        p.wait_until(core.main_worker, clock_type::time_point::max());
    waker.join();
    CHECK(p.statistics().remote_wakes == before + 1);
}

TEST_CASE("poller: a scheduler that does no I/O opens no poller, and drops one when run ends") {
    scheduler s;
    s.spawn([] { this_fiber::sleep_for(1ms); }).detach();
    s.run();
    bool had_poller = true;
    {
        // Through the task: the running scheduler's core.
        scheduler t;
        t.spawn([&] { had_poller = detail::running_task()->scheduler->poller_if_any() != nullptr; }).detach();
        t.run();
    }
    CHECK_FALSE(had_poller);
}

// (One worker: the tasks park by hand through the worker's one-worker path, without the core
// lock, and the case checks the order the resumed tasks run in, which several workers do not
// keep.)
TEST_CASE("poller: completions posted from other threads resume their tasks in order"
          * spindle_test::single_worker()) {
    std::vector<int> order;
    run([&] {
        detail::scheduler_core* core = detail::running_task()->scheduler;
        detail::poller& p = core->the_poller();
        std::vector<task<void>> waiting;
        std::vector<detail::task_record*> records;
        for (int i = 0; i < 3; ++i)
            waiting.push_back(spawn([&, i] {
                detail::worker* w = detail::task_worker();
                detail::task_record* self = w->running();
                records.push_back(self);
                detail::set_status(self, detail::task_status::waiting);
                self->outcome = detail::wake_outcome::waiting;
                self->wait_reason = "a test's completion";
                w->begin_outside_wait();
                w->park();
                order.push_back(i);
            }));
        this_fiber::yield();
        REQUIRE(records.size() == 3);
        std::thread poster([&] {
            for (auto* r : records) p.post_completion(r);
        });
        for (auto& t : waiting) t.join();
        poster.join();
        CHECK(p.statistics().completions == 3);
    });
    CHECK(order == std::vector<int>{0, 1, 2});
}
