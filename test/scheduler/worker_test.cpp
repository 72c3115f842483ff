// worker: a task parks wherever it waits, also inside a fiber nested in it, and is resumed (or
// unwound) there.

#include "child_process.hpp"
#include "scheduler/timer_heap.hpp"
#include "workers.hpp"

#include <spindle/fiber.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace spindle;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST_CASE("nesting: a wait inside a fiber nested in a task suspends the whole task"
          * spindle_test::single_worker()) {
    std::vector<std::string> out;
    run([&] {
        auto sleeper = spawn([&] {
            fiber inner([&] {
                out.push_back("inner sleeps");
                this_fiber::sleep_for(1ms);  // parks the task from inside the nested fiber
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
        this_fiber::yield();
        out.push_back("main runs while the task sleeps");
        sleeper.join();
    });
    CHECK(out == std::vector<std::string>{"inner sleeps", "main runs while the task sleeps",
                                          "inner woke", "task after first resume",
                                          "inner resumed", "task done"});
}

TEST_CASE("nesting: cancelling a task parked inside a nested fiber unwinds through it"
          * spindle_test::single_worker()) {
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
        this_fiber::yield();
        t.cancel();
        CHECK_THROWS_AS(t.join(), cancelled);
    });
    CHECK(out == std::vector<std::string>{"inner unwound"});
}
