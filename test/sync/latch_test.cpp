// latch and wait_group: counting down to zero, waiting for it, misuse.

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
#include <stdexcept>
#include <string>
#include <vector>

using namespace spindle;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST_CASE("latch: waiters wake when the count reaches zero, not before") {
    run([] {
        latch done(3);
        std::atomic<int> counted{0};
        auto waiter = spawn([&] {
            done.wait();
            return counted.load();  // every count_down happened before it woke
        });
        REQUIRE(spindle_test::until_waiting(1));
        for (int i = 0; i < 3; ++i) {
            spawn([&] {
                ++counted;
                done.count_down();
            }).join();
            if (i < 2) {
                // A wake makes the waiter ready at once: one woken early is no longer counted.
                CHECK(!done.try_wait());
                CHECK(this_scheduler_statistics().tasks_waiting == 1);
            }
        }
        CHECK(done.try_wait());
        CHECK(waiter.join() == 3);
        done.wait();  // at once: reached zero, and stays there
    });
}

TEST_CASE("latch: arrive_and_wait, count_down by more than one") {
    run([] {
        latch meet(3);
        std::atomic<int> after{0};
        auto a = spawn([&] {
            meet.arrive_and_wait();
            ++after;
        });
        auto b = spawn([&] {
            meet.arrive_and_wait();
            ++after;
        });
        REQUIRE(spindle_test::until_waiting(2));
        CHECK(after == 0);
        CHECK(!meet.try_wait());
        meet.arrive_and_wait();
        gather(std::move(a), std::move(b));
        CHECK(after == 2);
        latch two(2);
        two.count_down(2);
        CHECK(two.try_wait());
        latch zero(0);
        CHECK(zero.try_wait());
        zero.count_down(0);
    });
}

TEST_CASE("latch: wait_for returns true when reached, false at the deadline") {
    run([] {
        latch l(1);
        const auto deadline = clock_type::now() + 2ms;
        CHECK(!l.wait_until(deadline));
        CHECK(clock_type::now() >= deadline);
        CHECK(!l.try_wait());
        auto counter = spawn([&] { l.count_down(); });
        CHECK(l.wait_for(1h));
        counter.join();
    });
}

TEST_CASE("latch: a cancelled wait changes nothing; with_timeout ends one with timeout_error") {
    run([] {
        latch l(2);
        auto waiter = spawn([&] { l.wait(); });
        this_fiber::yield();
        waiter.cancel();
        CHECK_THROWS_AS(waiter.join(), cancelled);
        CHECK_THROWS_AS(with_timeout(1ms, [&] { l.wait(); }), timeout_error);
        l.count_down();
        CHECK(!l.try_wait());  // the count is 1: neither wait counted down
        l.count_down();
        CHECK(l.try_wait());
    });
}

TEST_CASE("latch: misuse, and waiting on a thread outside any task") {
    CHECK_THROWS_WITH_AS(latch(-1), doctest::Contains("negative"), std::invalid_argument);
    latch l(1);
    CHECK_THROWS_WITH_AS(l.count_down(-1), doctest::Contains("negative"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(l.count_down(2), doctest::Contains("greater than the latch's count"),
                         fiber_error);
    CHECK(!l.try_wait());  // the failed count_down changed nothing
    // Outside any task a wait blocks the thread: until its deadline, or until another thread
    // counts down.
    CHECK_FALSE(l.wait_for(1ms));
    std::thread counter([&] { l.count_down(); });
    l.wait();
    counter.join();
    CHECK(l.try_wait());
}

TEST_CASE("latch: destroyed while a task waits, the wait throws fiber_error") {
    run([] {
        auto holder = std::make_unique<latch>(1);
        auto waiter = spawn([&] { holder->wait(); });
        REQUIRE(spindle_test::until_waiting(1));
        holder.reset();
        CHECK_THROWS_WITH_AS(waiter.join(), doctest::Contains("latch was destroyed"),
                             fiber_error);
    });
}

TEST_CASE("wait_group: wait for the work in flight; reusable once back at zero") {
    run([] {
        wait_group group;
        CHECK(group.count() == 0);
        group.wait();  // nothing in flight
        std::atomic<int> finished{0};
        for (int round = 0; round < 2; ++round) {
            latch go(1);  // holds the work back until the count is seen (other workers run it)
            for (int i = 0; i < 4; ++i) {
                group.add();
                spawn([&] {
                    go.wait();
                    this_fiber::yield();
                    ++finished;
                    group.done();
                }).detach();
            }
            CHECK(group.count() == 4);
            go.count_down();
            group.wait();
            CHECK(group.count() == 0);
            CHECK(finished == 4 * (round + 1));
        }
        group.add(3);
        group.add(-3);
        CHECK(group.count() == 0);
    });
}

TEST_CASE("wait_group: timed waits, cancellation, with_timeout") {
    run([] {
        wait_group group;
        group.add(1);
        const auto deadline = clock_type::now() + 2ms;
        CHECK(!group.wait_until(deadline));
        CHECK(clock_type::now() >= deadline);
        auto waiter = spawn([&] { group.wait(); });
        this_fiber::yield();
        waiter.cancel();
        CHECK_THROWS_AS(waiter.join(), cancelled);
        CHECK_THROWS_AS(with_timeout(1ms, [&] { group.wait(); }), timeout_error);
        CHECK(group.count() == 1);
        auto worker = spawn([&] { group.done(); });
        CHECK(group.wait_for(1h));
        worker.join();
    });
}

TEST_CASE("wait_group: a counter going negative is misuse; outside a task a wait blocks") {
    wait_group group;
    CHECK_THROWS_WITH_AS(group.done(), doctest::Contains("negative"), fiber_error);
    group.add(2);
    CHECK_THROWS_WITH_AS(group.add(-3), doctest::Contains("negative"), fiber_error);
    CHECK(group.count() == 2);
    CHECK_THROWS_WITH_AS(group.add(PTRDIFF_MAX), doctest::Contains("overflow"), fiber_error);
    CHECK_FALSE(group.wait_for(1ms));
    std::thread worker([&] { group.add(-2); });
    group.wait();
    worker.join();
    CHECK(group.count() == 0);
}

TEST_CASE("latch and wait_group: deadlock reports name them") {
    latch l(1);  // both outlive the scheduler, which unwinds the stuck tasks when destroyed
    wait_group group;
    try {
        run([&] {
            l.set_name("start line");
            group.set_name("workers");
            CHECK(l.name() == "start line");
            CHECK(group.name() == "workers");
            group.add();
            spawn([&] { l.wait(); }).detach();
            group.wait();
        });
        FAIL("no deadlock_error");
    } catch (const deadlock_error& e) {
        const std::string message = e.what();
        INFO(message);
        CHECK(message.find("waits on latch wait 'start line'") != std::string::npos);
        CHECK(message.find("waits on wait_group wait 'workers'") != std::string::npos);
    }
}
