// Cancelling tasks that wait on channels, mutexes and condition variables: the wait ends, the
// lock is given back, nothing handed over is lost, and cleanup may wait while unwinding.

#include "child_process.hpp"
#include "scheduler/timer_heap.hpp"
#include "parked.hpp"

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

TEST_CASE("cancel: a task waiting in join, in a channel, in a mutex, in a condition_variable") {
    SUBCASE("join") {
        run([] {
            // The sleeper outlives the test's checks whatever the machine's speed: it is
            // cancelled at the end.
            auto sleeper = spawn([] { this_fiber::sleep_for(1h); });
            auto joiner = spawn([&] { sleeper.join(); });
            this_fiber::yield();
            joiner.cancel();
            CHECK_THROWS_AS(joiner.join(), cancelled);
            CHECK(!sleeper.done());
            sleeper.cancel();
            CHECK_THROWS_AS(sleeper.join(), cancelled);
        });
    }
    SUBCASE("join of a child it started at once") {
        run([] {
            task<void> outer = spawn([] {
                auto child = spawn([] { this_fiber::sleep_for(5ms); });
                child.join();
            });
            this_fiber::yield();  // outer runs its child, which sleeps
            outer.cancel();
            CHECK_THROWS_AS(outer.join(), cancelled);
        });
    }
    SUBCASE("channel receive and send") {
        run([] {
            channel<int> empty;
            auto receiver = spawn([&] { return empty.receive(); });
            channel<int> full(0);
            auto sender = spawn([&] { full.send(1); });
            this_fiber::yield();
            receiver.cancel();
            sender.cancel();
            CHECK_THROWS_AS(receiver.join(), cancelled);
            CHECK_THROWS_AS(sender.join(), cancelled);
            CHECK(!full.try_receive());  // the cancelled send did not deliver
        });
    }
    SUBCASE("mutex") {
        run([] {
            spindle::mutex m;
            std::unique_lock lock(m);
            auto waiter = spawn([&] { std::lock_guard guard(m); });
            this_fiber::yield();
            waiter.cancel();
            CHECK_THROWS_AS(waiter.join(), cancelled);
            lock.unlock();
            CHECK(m.try_lock());
            m.unlock();
        });
    }
    SUBCASE("condition_variable, which gives the lock back before throwing") {
        run([] {
            spindle::mutex m;
            spindle::condition_variable cv;
            bool held_when_cancelled = false;
            auto waiter = spawn([&] {
                std::unique_lock lock(m);
                try {
                    cv.wait(lock);
                } catch (const cancelled&) {
                    held_when_cancelled = lock.owns_lock() && !m.try_lock();
                    throw;
                }
            });
            this_fiber::yield();
            waiter.cancel();
            CHECK_THROWS_AS(waiter.join(), cancelled);
            CHECK(held_when_cancelled);
            CHECK(m.try_lock());
            m.unlock();
        });
    }
}

TEST_CASE("cancel: a value handed over is not lost; the cancellation waits for the next wait") {
    run([] {
        channel<int> ch;
        std::vector<int> got;
        auto receiver = spawn([&] {
            got.push_back(*ch.receive());  // woken with a value, then cancelled before it runs
            ch.receive();                  // throws here
        });
        this_fiber::yield();
        ch.send(5);
        receiver.cancel();
        CHECK_THROWS_AS(receiver.join(), cancelled);
        CHECK(got == std::vector<int>{5});
    });
}

TEST_CASE("cancel: a second cancel does not interrupt a destructor's waits while unwinding") {
    // Asynchronous cleanup: a destructor that waits (a channel, a sleep) runs while `cancelled`
    // propagates. A second cancel() used to throw cancelled out of that destructor:
    // std::terminate. Now the waits complete and the task ends cancelled.
    std::atomic<bool> cleaning{false};
    std::optional<int> received;  // t's, read once run() has returned
    std::atomic<bool> slept{false};
    run([&] {
        channel<int> ch(1);
        auto t = spawn([&] {
            struct async_cleanup {
                std::atomic<bool>& cleaning;
                channel<int>& ch;
                std::optional<int>& received;
                std::atomic<bool>& slept;
                ~async_cleanup() {
                    cleaning = true;
                    received = ch.receive();
                    this_fiber::sleep_for(1ms);
                    this_fiber::yield();
                    slept = true;
                }
            } cleanup{cleaning, ch, received, slept};
            this_fiber::sleep_for(1h);
        });
        REQUIRE(spindle_test::until_waiting(1));  // t sleeps
        t.cancel();                               // t unwinds; its cleanup waits in receive()
        while (!cleaning) this_fiber::yield();
        REQUIRE(spindle_test::until_waiting(1));  // past its sleep, so in receive()
        t.cancel();  // while it waits in the destructor
        // A cancel that ended the wait would have made t ready: no longer counted in a wait.
        CHECK(this_scheduler_statistics().tasks_waiting == 1);
        CHECK_FALSE(t.done());
        ch.send(7);
        t.cancel();  // while it is ready to go on
        // One worker runs t into its sleep here, where the next cancel lands; several may
        // have it anywhere from its receive to its end (the sleep is too short to wait for).
        while (!t.done() && this_scheduler_statistics().tasks_waiting == 0) this_fiber::yield();
        t.cancel();  // while it sleeps in the destructor
        CHECK_THROWS_AS(t.join(), cancelled);
    });
    CHECK(received == 7);
    CHECK(slept);
}

TEST_CASE("cancel: a cancel that came while the task unwound is delivered at its next wait") {
    std::atomic<bool> cleaning{false};
    bool first_caught = false;  // t's, read once run() has returned
    bool second_delivered = false;
    run([&] {
        // The cleanup waits for `resume`, so the second cancel surely comes while t unwinds.
        channel<int> resume(1);
        auto t = spawn([&] {
            try {
                struct cleanup {
                    std::atomic<bool>& cleaning;
                    channel<int>& resume;
                    ~cleanup() {
                        cleaning = true;
                        (void)resume.receive();
                        this_fiber::sleep_for(1ms);
                    }
                } c{cleaning, resume};
                this_fiber::sleep_for(1h);
            } catch (const cancelled&) {
                first_caught = true;
            }
            try {
                this_fiber::sleep_for(1h);
            } catch (const cancelled&) {
                second_delivered = true;
            }
        });
        REQUIRE(spindle_test::until_waiting(1));  // t sleeps
        t.cancel();
        while (!cleaning) this_fiber::yield();
        REQUIRE(spindle_test::until_waiting(1));  // its cleanup waits for `resume`
        t.cancel();
        resume.send(1);
        t.join();
    });
    CHECK(first_caught);
    CHECK(second_delivered);
}
