// Work from other threads: scheduler::submit() and scheduler_handle. A thread that is not the
// scheduler's hands it functions and waits for their results through std::future; a handle holds
// the scheduler open (no return, no deadlock report) until it is let go.

#include "allocation_failure.hpp"
#include "child_process.hpp"
#include "workers.hpp"

#include <spindle/scheduler.hpp>
#include <spindle/trace.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace spindle;
using namespace std::chrono_literals;

TEST_CASE("submit: another thread hands a running scheduler work and waits for its result") {
    scheduler s;
    scheduler_handle handle = s.keep_open();
    int answer = 0;
    std::thread::id ran_on, outside_id;
    std::thread outside([&] {
        outside_id = std::this_thread::get_id();
        std::future<int> result = handle.submit([&ran_on] {
            ran_on = std::this_thread::get_id();
            // A task like any other: this_scheduler_statistics() would throw outside one.
            CHECK(spindle::this_scheduler_statistics().tasks_running >= 1);
            this_fiber::yield();
            return 42;
        });
        answer = result.get();
        handle.release();  // run() may return now
    });
    s.run();
    outside.join();
    CHECK(answer == 42);
    CHECK(ran_on != outside_id);
    // With one worker the scheduler runs on the thread that called run(); with several, the
    // function may run on any of them.
    if (spindle_test::test_threads() == 1) CHECK(ran_on == std::this_thread::get_id());
    CHECK_FALSE(handle);
}

TEST_CASE("submit: work submitted before run() runs in it; an exception comes out of get()") {
    scheduler s;
    std::future<int> seven = s.submit([] { return 7; });
    std::future<int> failing = s.submit([]() -> int { throw std::runtime_error("boom"); });
    std::future<void> nothing = s.submit([] {});
    CHECK(seven.wait_for(0s) == std::future_status::timeout);
    s.run();
    CHECK(seven.get() == 7);
    CHECK_THROWS_WITH_AS(failing.get(), "boom", std::runtime_error);
    CHECK_NOTHROW(nothing.get());
}

TEST_CASE("submit: a busy scheduler starts submitted work at its next turn") {
    // The task yields until the submitted function tells it to stop: only a scheduler that looks
    // at its inbox while busy gets there. (Atomic: with several workers they may run on two.)
    std::atomic<bool> stop{false};
    scheduler s;
    auto spinner = s.spawn([&stop] {
        while (!stop) this_fiber::yield();
    });
    std::thread outside([&] { s.submit([&stop] { stop = true; }).get(); });
    s.run();
    outside.join();
    CHECK(stop);
}

TEST_CASE("submit: many threads at once, every function run exactly once") {
    constexpr int threads = 4;
    constexpr int per_thread = 250;
    scheduler s;
    scheduler_handle handle = s.keep_open();
    std::atomic<int> runs{0};  // the scheduler's workers touch it
    std::atomic<long> total{0};
    std::thread coordinator([&] {
        std::vector<std::thread> submitters;
        for (int t = 0; t < threads; ++t)
            submitters.emplace_back([&, t] {
                std::vector<std::future<int>> results;
                for (int i = 0; i < per_thread; ++i)
                    results.push_back(handle.submit([&runs, value = t * per_thread + i] {
                        ++runs;
                        return value;
                    }));
                for (auto& r : results) total += r.get();
            });
        for (auto& submitter : submitters) submitter.join();
        handle.release();
    });
    s.run();
    coordinator.join();
    constexpr long n = threads * per_thread;
    CHECK(runs.load() == n);
    CHECK(total.load() == n * (n - 1) / 2);
}

TEST_CASE("scheduler_handle: while held, waiting tasks are no deadlock; let go, they are") {
    scheduler s;
    auto sleeper = s.spawn("sleeper", [] { this_fiber::sleep_for(std::chrono::nanoseconds::max()); });
    scheduler_handle handle = s.keep_open();
    std::thread outside([&] {
        // The scheduler idles (its one task sleeps forever) until this job cancels the sleeper.
        handle.submit([&sleeper] { sleeper.cancel(); }).get();
        handle.release();
    });
    s.run();
    outside.join();
    CHECK(sleeper.done());
    CHECK_THROWS_AS(sleeper.join(), cancelled);

    // Without a handle the same wait is a deadlock, reported at once.
    auto forever = s.spawn("forever", [] { this_fiber::sleep_for(std::chrono::nanoseconds::max()); });
    CHECK_THROWS_WITH_AS(s.run(), doctest::Contains("'forever'"), deadlock_error);
}

TEST_CASE("scheduler_handle: letting go wakes an idle run() with no task left, which returns") {
    scheduler s;
    scheduler_handle handle = s.keep_open();
    std::thread outside([&] {
        handle.submit([] {}).get();  // run() is running, then idles with nothing to do
        handle.release();
    });
    s.run();
    outside.join();
}

TEST_CASE("scheduler_handle: it may outlive its scheduler; submit() then throws") {
    scheduler_handle handle;
    CHECK_FALSE(handle);
    CHECK_THROWS_WITH_AS((void)handle.submit([] {}), doctest::Contains("empty"), fiber_error);
    {
        scheduler s;
        handle = s.keep_open();
        scheduler_handle second = s.keep_open();
        CHECK(handle);
        scheduler_handle moved = std::move(second);
        CHECK(moved);
        CHECK_FALSE(second);
    }
    CHECK(handle);
    CHECK_THROWS_WITH_AS((void)handle.submit([] {}), doctest::Contains("destroyed"), fiber_error);
    handle.release();
    CHECK_FALSE(handle);
}

TEST_CASE("submit: work that never ran leaves a broken promise when the scheduler goes") {
    std::future<int> never;
    {
        scheduler s;
        never = s.submit([] { return 1; });
    }
    try {
        (void)never.get();
        FAIL("get() returned");
    } catch (const std::future_error& e) {
        CHECK(e.code() == std::future_errc::broken_promise);
    }
}

TEST_CASE("submit: out of memory, submit() throws std::bad_alloc and queues nothing") {
    SKIP_UNLESS_ALLOCATION_FAILURE_AVAILABLE();
    scheduler s;
    bool ran = false;
    for (long nth = 1; nth <= 2; ++nth) {
        CAPTURE(nth);
        fail_allocation failure(nth);
        CHECK_THROWS_AS((void)s.submit([&ran] { ran = true; }), std::bad_alloc);
        CHECK(failure.failed());
    }
    s.run();
    CHECK_FALSE(ran);
}

TEST_CASE("misuse: run() while it runs on another thread is refused with a message") {
    scheduler s;
    scheduler_handle handle = s.keep_open();
    std::thread runner([&s] { s.run(); });
    s.submit([] {}).get();  // run() is running on `runner` now
    CHECK_THROWS_WITH_AS(s.run(), doctest::Contains("runs on another thread"), fiber_error);
    handle.release();
    runner.join();
}

TEST_CASE("misuse: a scheduler destroyed while its run() runs on another thread stops the "
          "process with a message") {
    const auto result = spindle_test::run_in_child([] {
        auto* s = new scheduler;
        scheduler_handle handle = s->keep_open();
        std::thread runner([s] { s->run(); });
        s->submit([] {}).get();
        delete s;  // run() is still running on `runner`
        runner.join();
    });
    CHECK(result.signalled);
    CHECK(result.err.find("destroyed while its run() runs on another thread") !=
          std::string::npos);
}

TEST_CASE("misuse: spawn, join and cancel from another thread while the scheduler runs are "
          "refused with a message") {
    scheduler s;
    auto sleeper = s.spawn([] { this_fiber::sleep_for(std::chrono::nanoseconds::max()); });
    scheduler_handle handle = s.keep_open();
    std::thread runner([&s] { s.run(); });
    s.submit([] {}).get();  // run() is running on `runner` now
    CHECK_THROWS_WITH_AS((void)s.spawn([] {}), doctest::Contains("spawn() from a thread other"),
                         fiber_error);
    CHECK_THROWS_WITH_AS(sleeper.join(), doctest::Contains("from a thread other"), fiber_error);
    CHECK_THROWS_WITH_AS(sleeper.cancel(), doctest::Contains("task::cancel() from a thread"),
                         fiber_error);
    // The way in: a function submitted to the scheduler does it on its own thread.
    s.submit([&sleeper] { sleeper.cancel(); }).get();
    handle.release();
    runner.join();
    CHECK_THROWS_AS(sleeper.join(), cancelled);
}
