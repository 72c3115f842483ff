// Tasks: cancellation of a task that has not started, sleeps, runs, catches it, or gathers.

#include "child_process.hpp"
#include "scheduler/timer_heap.hpp"
#include "parked.hpp"
#include "workers.hpp"

#include <spindle/fiber.hpp>
#include <spindle/generator.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace spindle;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST_CASE("cancel: a task that has not started never runs; join throws cancelled") {
    // Cancelled before run(): with several workers a task spawned inside run() may be started
    // by another worker before the spawner's next line; one spawned before cannot.
    std::atomic<bool> ran{false};
    scheduler s;
    auto t = s.spawn([&] { ran = true; });
    t.cancel();
    CHECK(t.done());
    s.spawn([&] { CHECK_THROWS_AS(t.join(), cancelled); }).detach();
    s.run();
    CHECK(!ran);
}

TEST_CASE("cancel: a sleeping task unwinds from its sleep") {
    std::vector<std::string> out;
    run([&] {
        auto sleeper = spawn([&] {
            struct on_unwind {
                std::vector<std::string>& out;
                ~on_unwind() { out.push_back("destructor ran"); }
            } guard{out};
            this_fiber::sleep_for(1h);
            out.push_back("not reached");
        });
        REQUIRE(spindle_test::until_waiting(1));  // it starts and sleeps
        sleeper.cancel();
        CHECK_THROWS_AS(sleeper.join(), cancelled);
    });
    CHECK(out == std::vector<std::string>{"destructor ran"});
}

TEST_CASE("cancel: cancelled is not caught by catch (const std::exception&)") {
    run([] {
        auto t = spawn([] {
            try {
                this_fiber::sleep_for(1h);
            } catch (const std::exception&) {
                FAIL("cancelled must not be a std::exception");
            }
        });
        REQUIRE(spindle_test::until_waiting(1));
        t.cancel();
        CHECK_THROWS_AS(t.join(), cancelled);
    });
}

TEST_CASE("cancel: a ready task throws at the suspension it is resumed from") {
    run([] {
        std::vector<std::string> out;
        std::atomic<bool> started{false}, cancel_made{false};
        auto yielder = spawn([&] {
            out.push_back("before");
            started = true;
            // Yields until the cancel comes: on one worker it is ready in the queue then; on
            // several it may also be running, and throws at its next yield. A yield begun after
            // cancel() returned must throw, so one that returns is a failure, not a hang.
            for (;;) {
                const bool after_cancel = cancel_made;
                this_fiber::yield();
                if (after_cancel) break;
            }
            out.push_back("not reached");
        });
        while (!started) this_fiber::yield();
        yielder.cancel();
        cancel_made = true;
        CHECK_THROWS_AS(yielder.join(), cancelled);
        CHECK(out == std::vector<std::string>{"before"});
    });
}

TEST_CASE("cancel: a running task cancelling itself throws at its next suspension") {
    // Spawned before run(): the task cannot start before its handle is assigned (with several
    // workers it would start at once, on another).
    scheduler s;
    task<void> self;
    self = s.spawn([&self] {
        self.cancel();
        CHECK_THROWS_AS(this_fiber::yield(), cancelled);
        this_fiber::yield();  // one cancel, one throw
    });
    s.run();
    self.join();
}

TEST_CASE("cancel: a task may catch cancelled once and carry on") {
    run([] {
        auto t = spawn([] {
            try {
                this_fiber::sleep_for(1h);
            } catch (const cancelled&) {
                return 1;
            }
            return 0;
        });
        this_fiber::yield();
        t.cancel();
        CHECK(t.join() == 1);
    });
}

TEST_CASE("cancel: a finished task is left alone") {
    run([] {
        auto t = spawn([] { return 3; });
        CHECK(t.join() == 3);
        t.cancel();
        auto u = spawn([] { return 4; });
        while (!u.done()) this_fiber::yield();  // finished, not joined
        u.cancel();
        CHECK(u.join() == 4);
    });
}

TEST_CASE("cancel: cancelling the gathering task cancels what it gathers") {
    run([] {
        std::atomic<int> finished{0};
        auto gatherer = spawn([&] {
            gather(spawn([&] {
                       this_fiber::sleep_for(1h);
                       ++finished;
                   }),
                   spawn([&] {
                       this_fiber::sleep_for(1h);
                       ++finished;
                   }));
        });
        REQUIRE(spindle_test::until_waiting(3));  // the gatherer and both sleepers
        gatherer.cancel();
        CHECK_THROWS_AS(gatherer.join(), cancelled);
        this_fiber::yield();
        CHECK(finished == 0);
    });
}

TEST_CASE("gather_settled: every task's value or exception, in argument order") {
    run([&] {
        auto [a, b, c] = gather_settled(spawn([] { return 1; }),
                                        spawn([]() -> int { throw std::runtime_error("b"); }),
                                        spawn([] { throw std::logic_error("c"); }));
        CHECK(a.ok());
        CHECK(a.value() == 1);
        CHECK(!b.ok());
        CHECK_THROWS_WITH_AS(b.value(), "b", std::runtime_error);
        CHECK(!c.ok());
        CHECK_THROWS_WITH_AS(std::rethrow_exception(c.error()), "c", std::logic_error);

        std::vector<task<int>> tasks;
        for (int i = 0; i < 4; ++i)
            tasks.push_back(spawn([i]() -> int {
                if (i % 2) throw std::runtime_error(std::to_string(i));
                return i;
            }));
        auto outcomes = gather_settled(std::move(tasks));
        REQUIRE(outcomes.size() == 4);
        CHECK(outcomes[0].value() == 0);
        CHECK_THROWS_WITH_AS(outcomes[1].value(), "1", std::runtime_error);
        CHECK(outcomes[2].value() == 2);
        CHECK_THROWS_WITH_AS(outcomes[3].value(), "3", std::runtime_error);
    });
}

TEST_CASE("gather: the failures after the first are reported on stderr, not dropped") {
    const auto result = spindle_test::run_in_child([] {
        run([] {
            try {
                gather(spawn([] { throw std::runtime_error("first failure"); }),
                       spawn([] { throw std::runtime_error("second failure"); }));
            } catch (const std::runtime_error&) {
            }
        });
    });
    INFO(result.err);
    CHECK(result.exited);
    CHECK(result.exit_code == 0);
    CHECK(result.err.find("second failure") != std::string::npos);
    CHECK(result.err.find("first failure") == std::string::npos);
}
