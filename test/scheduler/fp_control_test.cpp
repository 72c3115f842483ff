// The floating-point control state of tasks: the thread's by default, each task's own with
// scheduler_options::task_fp = fp_control::own.

#include "workers.hpp"

#include <spindle/fiber.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <cfenv>
#include <chrono>
#include <vector>

using namespace spindle;
using namespace std::chrono_literals;

TEST_CASE("task fp: with task_fp = own each task keeps its rounding mode across switches") {
    // Each task records what it sees; the interleaving does not matter (a timer may fire
    // early or late under Valgrind or qemu), only that each sees its own state.
    REQUIRE(std::fegetround() == FE_TONEAREST);
    std::fesetround(FE_TOWARDZERO);  // the state every task starts from: run()'s caller's
    scheduler s({.task_fp = fp_control::own});
    std::vector<int> seen_a, seen_b, seen_c;
    auto a = s.spawn([&] {
        seen_a.push_back(std::fegetround());  // TOWARDZERO, from run()'s caller
        std::fesetround(FE_UPWARD);
        this_fiber::yield();                  // task to task: b runs and sets its own
        seen_a.push_back(std::fegetround());  // UPWARD again, whatever b did
        this_fiber::sleep_for(1ms);           // through the run loop (or another task) and back
        seen_a.push_back(std::fegetround());
    });
    auto b = s.spawn([&] {
        seen_b.push_back(std::fegetround());  // TOWARDZERO, not a's UPWARD
        std::fesetround(FE_DOWNWARD);
        this_fiber::yield();
        seen_b.push_back(std::fegetround());
        // c starts when b ends, on b's fiber with no switch between them (unless a timer made
        // a ready first): either way it starts with run()'s caller's state, not with b's.
        spawn([&] { seen_c.push_back(std::fegetround()); }).detach();
    });
    s.run();
    std::fesetround(FE_TONEAREST);
    CHECK(seen_a == std::vector<int>{FE_TOWARDZERO, FE_UPWARD, FE_UPWARD});
    CHECK(seen_b == std::vector<int>{FE_TOWARDZERO, FE_DOWNWARD});
    CHECK(seen_c == std::vector<int>{FE_TOWARDZERO});
}

TEST_CASE("task fp: with task_fp = own run() returns with its caller's state") {
    REQUIRE(std::fegetround() == FE_TONEAREST);
    scheduler s({.task_fp = fp_control::own});
    auto t = s.spawn([] {
        std::fesetround(FE_UPWARD);
        this_fiber::sleep_for(1ms);
    });
    s.run();
    CHECK(std::fegetround() == FE_TONEAREST);
    std::fesetround(FE_TONEAREST);
}

#if !SPINDLE_CONTEXT_FCONTEXT
// (One worker: the state is the thread's, and with several workers b may run on another thread
// than a; threads.md says a task must restore what it changed before it suspends there.)
TEST_CASE("task fp: by default tasks share the thread's floating-point control state"
          * spindle_test::single_worker()) {
    // As C++20 coroutines on one thread do. (With the Boost.Context backend every context
    // keeps its own, because jump_fcontext saves it.)
    REQUIRE(std::fegetround() == FE_TONEAREST);
    scheduler s;
    int seen_by_b = -1;
    auto a = s.spawn([] {
        std::fesetround(FE_UPWARD);
        this_fiber::yield();
    });
    auto b = s.spawn([&] {
        seen_by_b = std::fegetround();
        std::fesetround(FE_TONEAREST);
    });
    s.run();
    CHECK(seen_by_b == FE_UPWARD);
    std::fesetround(FE_TONEAREST);
}
#endif
