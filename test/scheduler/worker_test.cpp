// Waiting tasks: timers, cancellation in every waiting state, deadlock reports, and waits made
// from inside a fiber or generator nested in a task.

#include "child_process.hpp"
#include "scheduler/timer_heap.hpp"

#include <spindle/channel.hpp>
#include <spindle/fiber.hpp>
#include <spindle/generator.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/sync.hpp>

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

TEST_CASE("nesting: a wait inside a fiber nested in a task suspends the whole task") {
    std::vector<std::string> out;
    run([&] {
        channel<int> ch;
        auto consumer = spawn([&] {
            fiber inner([&] {
                out.push_back("inner waits");
                int v = *ch.receive();  // parks the task from inside the nested fiber
                out.push_back("inner got " + std::to_string(v));
                fiber::suspend();       // an ordinary suspend back to the task still works
                this_fiber::sleep_for(1ms);
                out.push_back("inner woke");
            });
            inner.resume();
            out.push_back("task after first resume");
            CHECK(fiber::current() == nullptr);
            inner.resume();
            CHECK(inner.done());
            out.push_back("task done");
        });
        this_fiber::yield();
        out.push_back("main sends");
        ch.send(7);
        consumer.join();
    });
    CHECK(out == std::vector<std::string>{"inner waits", "main sends", "inner got 7",
                                          "task after first resume", "inner woke", "task done"});
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
        this_fiber::yield();
        t.cancel();
        CHECK_THROWS_AS(t.join(), cancelled);
    });
    CHECK(out == std::vector<std::string>{"inner unwound"});
}
