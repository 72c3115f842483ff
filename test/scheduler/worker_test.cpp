// worker: a task parks wherever it waits, also inside a fiber nested in it, and is resumed (or
// unwound) there.

#include "child_process.hpp"
#include "parked.hpp"
#include "scheduler/timer_heap.hpp"
#include "workers.hpp"

#include <spindle/fiber.hpp>
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

TEST_CASE("nesting: a wait inside a fiber nested in a task suspends the whole task") {
    std::vector<std::string> out;
    run([&] {
        // The task sleeps (from inside the nested fiber) until main has run meanwhile: the main
        // task waits until the scheduler counts the task in a wait, and the sleeps go on until
        // main's flag says it ran; the flag and the wait order every push.
        std::atomic<bool> main_ran{false};
        auto sleeper = spawn([&] {
            fiber inner([&] {
                out.push_back("inner sleeps");
                while (!main_ran) this_fiber::sleep_for(1ms);  // parks the whole task
                out.push_back("inner woke");
                fiber::suspend();            // an ordinary suspend back to the task still works
                this_fiber::yield();
                out.push_back("inner resumed");
            });
            inner.resume();
            out.push_back("task after first resume");
            CHECK(fiber::current() == nullptr);
            inner.resume();
            CHECK(inner.done());
            out.push_back("task done");
        });
        REQUIRE(spindle_test::until_waiting(1));
        out.push_back("main runs while the task sleeps");
        main_ran = true;
        sleeper.join();
    });
    CHECK(out == std::vector<std::string>{"inner sleeps", "main runs while the task sleeps",
                                          "inner woke", "task after first resume",
                                          "inner resumed", "task done"});
}

TEST_CASE("nesting: cancelling a task parked inside a nested fiber unwinds through it") {
    std::vector<std::string> out;
    run([&] {
        auto t = spawn([&] {
            fiber inner([&] {
                struct note {
                    std::vector<std::string>& out;
                    ~note() { out.push_back("inner unwound"); }
                } n{out};
                this_fiber::sleep_for(1h);
            });
            inner.resume();
        });
        REQUIRE(spindle_test::until_waiting(1));  // parked in the sleep, inside the fiber
        t.cancel();
        CHECK_THROWS_AS(t.join(), cancelled);
    });
    CHECK(out == std::vector<std::string>{"inner unwound"});
}
