// Timers: tasks wake no earlier than their deadlines, in deadline order, and the heap keeps that
// order through removals anywhere.

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

TEST_CASE("timers: a task never wakes before its deadline") {
    run([] {
        std::vector<task<void>> sleepers;
        for (int i = 0; i < 20; ++i)
            sleepers.push_back(spawn([i] {
                const auto deadline = clock_type::now() + std::chrono::microseconds(137 * i);
                this_fiber::sleep_until(deadline);
                CHECK(clock_type::now() >= deadline);
            }));
        gather(std::move(sleepers));
        const auto before = clock_type::now();
        this_fiber::sleep_for(2ms);
        CHECK(clock_type::now() - before >= 2ms);
    });
}

// (One worker, this case and the 10,000 below: the timers fire in deadline order on any number
// of workers, but only one runs the woken tasks in that order.)
TEST_CASE("timers: tasks wake in deadline order, equal deadlines in the order they slept"
          * spindle_test::single_worker()) {
    std::vector<int> woke;
    bool all_asleep_in_time = false;
    run([&] {
        // Every task must be asleep before the first deadline passes, or an expired timer is
        // (rightly) woken before a later task sleeps. Starting a task takes ~20 ms under
        // ThreadSanitizer, so the deadlines are far away; whether they were is checked below.
        const auto base = clock_type::now() + 500ms;
        std::vector<task<void>> sleepers;
        // Deadlines: 2, 1, 0, 2, 1, 0, ... (in units of 10 ms), spawned in order 0..8.
        for (int i = 0; i < 9; ++i)
            sleepers.push_back(spawn([&woke, base, i] {
                this_fiber::sleep_until(base + std::chrono::milliseconds(10 * (2 - i % 3)));
                woke.push_back(i);
            }));
        this_fiber::yield();  // every sleeper runs up to its sleep
        all_asleep_in_time = clock_type::now() < base;
        gather(std::move(sleepers));
    });
    REQUIRE(woke.size() == 9);
    if (!all_asleep_in_time) {
        WARN("the machine was too slow to put 9 tasks to sleep in 500ms; order unchecked");
        return;
    }
    CHECK(woke == std::vector<int>{2, 5, 8, 1, 4, 7, 0, 3, 6});
}

// (One worker: "behind the ready tasks" is one worker's order; with several, `other` may run
// on another at the same time.)
TEST_CASE("timers: a deadline in the past still suspends, behind the ready tasks"
          * spindle_test::single_worker()) {
    std::vector<std::string> out;
    run([&] {
        spawn([&] { out.push_back("other"); }).detach();
        this_fiber::sleep_until(clock_type::now() - 1s);
        out.push_back("main");
    });
    CHECK(out == std::vector<std::string>{"other", "main"});
}

TEST_CASE("timers: a wait already due with nothing else ready carries on, in every backend") {
    // The task itself is then the next ready one; it must not switch to itself (which the
    // Boost.Context backend cannot do: it crashed here).
    int steps = 0;
    run([&] {
        this_fiber::sleep_for(0ns);
        this_fiber::sleep_for(1ns);
        this_fiber::sleep_for(-5ms);
        this_fiber::sleep_for(clock_type::duration::min());
        this_fiber::sleep_until(clock_type::time_point::min());
        this_fiber::sleep_until(clock_type::now());
        ++steps;
        // The same with another task asleep (timers pending) but none ready.
        auto sleeper = spawn([] { this_fiber::sleep_for(20ms); });
        this_fiber::yield();
        this_fiber::sleep_for(0ns);
        this_fiber::sleep_until(clock_type::time_point::min());
        ++steps;
        sleeper.join();
        // Nested in a fiber inside the task.
        fiber f([&] {
            this_fiber::sleep_for(0ns);
            ++steps;
        });
        f.resume();
    });
    CHECK(steps == 3);
}

TEST_CASE("timers: sleep_for(duration::max()) sleeps until cancelled") {
    // now() + duration::max() overflowed into the past: the sleep returned at once.
    bool woke = false;
    run([&] {
        auto sleeper = spawn([&] {
            this_fiber::sleep_for(clock_type::duration::max());
            woke = true;
        });
        auto until_max = spawn([&] {
            this_fiber::sleep_until(clock_type::time_point::max());
            woke = true;
        });
        this_fiber::yield();  // both run up to their sleep
        this_fiber::yield();
        this_fiber::sleep_for(1ms);  // the clock moves on; still nothing to wake them
        CHECK_FALSE(sleeper.done());
        CHECK_FALSE(until_max.done());
        sleeper.cancel();
        until_max.cancel();
        CHECK_THROWS_AS(sleeper.join(), cancelled);
        CHECK_THROWS_AS(until_max.join(), cancelled);
    });
    CHECK_FALSE(woke);
}

TEST_CASE("timers: tasks that only a sleep without end could wake are deadlocked") {
    scheduler s;
    s.spawn("dreamer", [] { this_fiber::sleep_for(clock_type::duration::max()); }).detach();
    CHECK_THROWS_WITH_AS(s.run(), doctest::Contains("task 1 'dreamer' waits on sleep forever"),
                         deadlock_error);
}

TEST_CASE("timers: 10,000 sleeping tasks wake in deadline order" * spindle_test::single_worker()) {
    std::vector<int> woke;
    run([&] {
        std::mt19937 random(42);
        // The deadlines start far enough ahead that every task is asleep before the first one
        // passes (checked below): then the wake order is fully determined.
        const auto base = clock_type::now() + 200ms;
        std::vector<std::pair<int, int>> expected;  // (delay in microseconds, index)
        std::vector<task<void>> sleepers;
        for (int i = 0; i < 10000; ++i) {
            const int delay = static_cast<int>(random() % 3000);
            expected.emplace_back(delay, i);
            sleepers.push_back(spawn([&woke, base, delay, i] {
                this_fiber::sleep_until(base + std::chrono::microseconds(delay));
                woke.push_back(i);
            }));
        }
        this_fiber::yield();  // every sleeper runs up to its sleep
        const bool all_asleep_in_time = clock_type::now() < base;
        gather(std::move(sleepers));
        std::stable_sort(expected.begin(), expected.end(),
                         [](auto& a, auto& b) { return a.first < b.first; });
        REQUIRE(woke.size() == 10000);
        if (!all_asleep_in_time) {
            WARN("the machine was too slow to put 10,000 tasks to sleep in 200ms; order unchecked");
            return;
        }
        bool in_order = true;
        for (std::size_t k = 0; k < expected.size(); ++k)
            in_order = in_order && woke[k] == expected[k].second;
        CHECK(in_order);
    });
}

TEST_CASE("timer heap: 100,000 entries come out by deadline then insertion, removal anywhere") {
    using namespace spindle::detail;
    std::vector<task_record> records(100000);
    timer_heap heap;
    std::mt19937 random(7);
    const auto base = clock_type::now();
    for (std::size_t i = 0; i < records.size(); ++i) {
        records[i].id = i;
        heap.push(&records[i], base + std::chrono::milliseconds(random() % 1000));
        records[i].deadline = base;  // unused by the heap
    }
    // Remove every third one from wherever it sits.
    for (std::size_t i = 0; i < records.size(); i += 3) heap.remove(&records[i]);
    CHECK(heap.size() == records.size() - (records.size() + 2) / 3);
    auto previous_deadline = base - 1s;
    std::uint64_t previous_id = 0;
    std::size_t popped = 0;
    std::vector<clock_type::time_point> deadlines(records.size());
    // Re-derive each record's deadline by replaying the random sequence.
    std::mt19937 replay(7);
    for (std::size_t i = 0; i < records.size(); ++i)
        deadlines[i] = base + std::chrono::milliseconds(replay() % 1000);
    bool ordered = true;
    while (!heap.empty()) {
        task_record* r = heap.pop_earliest();
        CHECK(r->timer_slot == no_timer_slot);
        const auto d = deadlines[r->id];
        if (d < previous_deadline || (d == previous_deadline && r->id < previous_id))
            ordered = false;
        CHECK(r->id % 3 != 0);
        previous_deadline = d;
        previous_id = r->id;
        ++popped;
    }
    CHECK(ordered);
    CHECK(popped == records.size() - (records.size() + 2) / 3);
}
