// event: set() wakes every waiter, clear(), timed and cancelled waits.

#include "parked.hpp"
#include "workers.hpp"

#include <spindle/scheduler.hpp>
#include <spindle/sync.hpp>
#include <spindle/timeout.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <memory>
#include <string>
#include <vector>

using namespace spindle;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST_CASE("event: set() wakes every waiter; waits after it return at once") {
    run([] {
        event ready;
        CHECK(!ready.is_set());
        std::atomic<int> woken{0};
        std::vector<task<void>> waiters;
        for (int i = 0; i < 3; ++i)
            waiters.push_back(spawn([&] {
                ready.wait();
                ++woken;
            }));
        REQUIRE(spindle_test::until_waiting(3));
        CHECK(woken == 0);
        ready.set();
        CHECK(ready.is_set());
        gather(std::move(waiters));
        CHECK(woken == 3);
        ready.wait();
        CHECK(ready.wait_for(0ms));
    });
}

TEST_CASE("event: a waiter woken by set() returns even when clear() follows at once") {
    run([] {
        event e;
        auto waiter = spawn([&] { e.wait(); });
        REQUIRE(spindle_test::until_waiting(1));
        e.set();
        e.clear();
        CHECK(!e.is_set());
        waiter.join();
        auto timed = spawn([&] { return e.wait_for(1h); });
        REQUIRE(spindle_test::until_waiting(1));
        e.set();
        CHECK(timed.join());
    });
}

TEST_CASE("event: wait_until returns false at the deadline") {
    run([] {
        event e;
        const auto deadline = clock_type::now() + 2ms;
        CHECK(!e.wait_until(deadline));
        CHECK(clock_type::now() >= deadline);
        CHECK(!e.wait_for(-1s));
        CHECK(!e.is_set());
    });
}

TEST_CASE("event: cancellation and with_timeout end a wait; outside a task it cannot wait") {
    run([] {
        event e;
        auto waiter = spawn([&] { e.wait(); });
        this_fiber::yield();
        waiter.cancel();
        CHECK_THROWS_AS(waiter.join(), cancelled);
        CHECK_THROWS_AS(with_timeout(1ms, [&] { e.wait(); }), timeout_error);
        CHECK(!e.is_set());
    });
    // Outside any task a wait blocks the thread, until its deadline or another thread's set().
    event e;
    CHECK_FALSE(e.wait_for(1ms));
    std::thread setter([&] { e.set(); });
    e.wait();
    setter.join();
    e.wait();  // set: no wait needed
}

TEST_CASE("event: destroyed while tasks wait, their waits throw fiber_error") {
    run([] {
        auto e = std::make_unique<event>();
        auto plain = spawn([&] { e->wait(); });
        auto timed = spawn([&] { return e->wait_for(1h); });
        REQUIRE(spindle_test::until_waiting(2));
        e.reset();
        CHECK_THROWS_WITH_AS(plain.join(), doctest::Contains("event was destroyed"), fiber_error);
        CHECK_THROWS_AS(timed.join(), fiber_error);
    });
}

TEST_CASE("event: a deadlock report names it") {
    event e;  // outlives the scheduler, which unwinds the stuck task when destroyed
    e.set_name("shutdown");
    CHECK(e.name() == "shutdown");
    try {
        run([&] { e.wait(); });
        FAIL("no deadlock_error");
    } catch (const deadlock_error& e) {
        CHECK(std::string(e.what()).find("waits on event wait 'shutdown'") != std::string::npos);
    }
}
