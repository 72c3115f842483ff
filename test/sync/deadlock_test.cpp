// Deadlocks: run() throws deadlock_error naming each stuck task and what it waits on, and a
// destroyed scheduler unwinds stuck tasks (a condition_variable re-lock included).

#include "child_process.hpp"
#include "scheduler/timer_heap.hpp"
#include "workers.hpp"

#include <spindle/channel.hpp>
#include <spindle/fiber.hpp>
#include <spindle/generator.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/sync.hpp>

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

// (One worker: after the deadlock the scheduler's destruction unwinds the main task, whose
// objects the others wait on, while they unwind too: with several workers that is the race the
// lifetime rule in docs/threads.md forbids.)
TEST_CASE("deadlock: run() throws, naming each stuck task and what it waits on"
          * spindle_test::single_worker()) {
    SUBCASE("a receive nobody sends to") {
        CHECK_THROWS_WITH_AS(run([] {
                                 channel<int> ch;
                                 ch.receive();
                             }),
                             doctest::Contains("task 1 'main' waits on channel receive"),
                             deadlock_error);
    }
    SUBCASE("named tasks, a full channel, a join") {
        try {
            run([] {
                channel<int> ch(1);
                auto producer = spawn("producer", [&] {
                    for (int i = 0;; ++i) ch.send(i);
                });
                auto other = spawn([] {
                    this_fiber::set_name("renamed");
                    spindle::mutex m;
                    m.lock();
                    auto inner = spawn([&] { m.lock(); });
                    inner.join();
                });
                producer.join();
            });
            FAIL("no deadlock_error");
        } catch (const deadlock_error& e) {
            const std::string message = e.what();
            INFO(message);
            CHECK(message.find("4 tasks") != std::string::npos);
            CHECK(message.find("task 1 'main' waits on join of task 2 'producer'") !=
                  std::string::npos);
            CHECK(message.find("task 2 'producer' waits on channel send (channel full)") !=
                  std::string::npos);
            CHECK(message.find("task 3 'renamed' waits on join of task 4") != std::string::npos);
            CHECK(message.find("task 4 waits on mutex lock") != std::string::npos);
        }
    }
    SUBCASE("an unbuffered send and a condition variable") {
        try {
            run([] {
                channel<int> ch(0);
                spindle::mutex m;
                spindle::condition_variable cv;
                spawn([&] { ch.send(1); }).detach();
                std::unique_lock lock(m);
                cv.wait(lock);
            });
            FAIL("no deadlock_error");
        } catch (const deadlock_error& e) {
            const std::string message = e.what();
            CHECK(message.find("waits on condition_variable notify") != std::string::npos);
            CHECK(message.find("waits on channel send (no receiver)") != std::string::npos);
        }
    }
    SUBCASE("a sleeping task is not stuck: the run goes on until it wakes") {
        CHECK(run([] {
                  auto t = spawn([] {
                      this_fiber::sleep_for(2ms);
                      return 1;
                  });
                  return t.join();
              }) == 1);
    }
}

TEST_CASE("deadlock: a scheduler destroyed with stuck tasks unwinds them") {
    std::atomic<int> unwound{0};  // the tasks may unwind on several workers at once
    {
        scheduler s;
        channel<int> ch;
        for (int i = 0; i < 3; ++i)
            s.spawn([&] {
                struct counter {
                    std::atomic<int>& n;
                    ~counter() { ++n; }
                } c{unwound};
                ch.receive();
            }).detach();
        s.spawn([&] { ++unwound; }).detach();  // cancelled before it runs? No: it runs first.
        CHECK_THROWS_AS(s.run(), deadlock_error);
        CHECK(unwound.load() == 1);
        s.spawn([] {}).detach();  // never started: dropped
    }
    CHECK(unwound.load() == 4);
}

TEST_CASE("deadlock: a task stuck re-taking its mutex after a condition_variable wait") {
    // The notifier ends holding the mutex, so the waiter can never return from wait(). run()
    // must throw deadlock_error to its caller, and destroying the scheduler must unwind the
    // waiter (its wait throws cancelled without the lock) instead of stopping the process.
    // In a child: the process used to abort in the scheduler's destructor.
    auto result = spindle_test::run_in_child([] {
        bool reported = false;
        bool unwound = false;
        bool lock_released = false;
        try {
            mutex m;
            condition_variable cv;
            scheduler s;
            s.spawn("waiter", [&] {
                struct witness {
                    bool& unwound;
                    ~witness() { unwound = true; }
                } w{unwound};
                std::unique_lock<mutex> lock(m);
                try {
                    cv.wait(lock);
                } catch (const cancelled&) {
                    lock_released = !lock.owns_lock();
                    throw;
                }
            }).detach();
            s.spawn("notifier", [&] {
                m.lock();
                cv.notify_one();
            }).detach();  // ends holding m
            try {
                s.run();
            } catch (const deadlock_error& e) {
                reported = std::string(e.what()).find("task 1 'waiter' waits on mutex lock") !=
                           std::string::npos;
                throw;
            }
        } catch (const deadlock_error&) {
            std::fprintf(stderr, "reported %d, unwound %d, lock released %d\n", reported, unwound,
                         lock_released);
            ::_exit(reported && unwound && lock_released ? 0 : 1);
        }
        ::_exit(2);
    });
    INFO(result.err);
    CHECK(result.exited);
    CHECK(result.exit_code == 0);
}

TEST_CASE("deadlock: after run() threw, closing the channel and running again finishes") {
    scheduler s;
    channel<int> ch;
    auto t = s.spawn([&] { return ch.receive().value_or(-1); });
    CHECK_THROWS_AS(s.run(), deadlock_error);
    ch.close();
    s.run();
    CHECK(t.join() == -1);
}
