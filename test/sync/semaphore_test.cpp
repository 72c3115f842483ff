// semaphore: permits, FIFO hand-off, timed and cancelled waits, misuse.

#include "child_process.hpp"
#include "parked.hpp"
#include "workers.hpp"

#include <spindle/scheduler.hpp>
#include <spindle/sync.hpp>
#include <spindle/timeout.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <csignal>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace spindle;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// until_counted() is until_waiting(count) with `may_end` counted as waiting once it has ended:
// a waiter with a short deadline can leave its wait before the count is seen. done() is read
// before the count, so the task is never counted twice.
bool until_counted(std::uint64_t count, const task<bool>& may_end) {
    const auto give_up = clock_type::now() + std::chrono::seconds(30);
    for (;;) {
        const std::uint64_t ended = may_end.done() ? 1 : 0;
        if (this_scheduler_statistics().tasks_waiting + ended >= count) return true;
        if (clock_type::now() > give_up) return false;
        this_fiber::yield();
    }
}

}  // namespace

TEST_CASE("semaphore: permits are taken and given back; at most `initial` holders at once") {
    run([] {
        semaphore s(2);
        CHECK(s.available() == 2);
        std::atomic<int> inside{0};
        std::atomic<int> max_inside{0};
        std::vector<task<void>> tasks;
        for (int t = 0; t < 6; ++t)
            tasks.push_back(spawn([&] {
                s.acquire();
                const int now = ++inside;
                int seen = max_inside.load();
                while (seen < now && !max_inside.compare_exchange_weak(seen, now)) {
                }
                this_fiber::yield();
                --inside;
                s.release();
            }));
        gather(std::move(tasks));
        CHECK(max_inside <= 2);
        // One worker runs the second holder while the first yields inside: both are in at once.
        if (spindle_test::test_threads() == 1) CHECK(max_inside == 2);
        CHECK(s.available() == 2);
    });
}

TEST_CASE("semaphore: a release goes to the longest waiter, with no barging") {
    run([&] {
        semaphore s(0);
        auto a = spawn([&] { s.acquire(); });
        REQUIRE(spindle_test::until_waiting(1));  // a waits first
        auto b = spawn([&] { s.acquire(); });
        REQUIRE(spindle_test::until_waiting(2));
        s.release();
        CHECK(s.available() == 0);  // handed to a, not counted
        CHECK(!s.try_acquire());    // so nobody can take it before a runs
        a.join();                   // a has it (had b, a would wait for ever: a deadlock)
        CHECK(!b.done());
        s.release(2);               // one for b, one left over
        CHECK(s.available() == 1);
        b.join();
        CHECK(s.try_acquire());
        CHECK(!s.try_acquire());
    });
}

TEST_CASE("semaphore: try_acquire_for succeeds, or returns false at the deadline taking nothing") {
    run([] {
        semaphore s(1);
        CHECK(s.try_acquire_for(1h));
        const auto deadline = clock_type::now() + 2ms;
        CHECK(!s.try_acquire_until(deadline));
        CHECK(clock_type::now() >= deadline);
        CHECK(!s.try_acquire_for(-1s));
        CHECK(s.available() == 0);
        auto waiter = spawn([&] { return s.try_acquire_for(1h); });
        this_fiber::yield();
        s.release();
        CHECK(waiter.join());
        CHECK(s.available() == 0);
    });
}

TEST_CASE("semaphore: a cancelled or timed-out waiter takes nothing, and the next one gets it") {
    run([] {
        semaphore s(0);
        // They queue in this order: the cancelled one and the timed-out one ahead of patient.
        auto cancelled_one = spawn([&] { s.acquire(); });
        REQUIRE(spindle_test::until_waiting(1));
        auto timed_out = spawn([&] { return s.try_acquire_for(1ms); });
        REQUIRE(until_counted(2, timed_out));
        auto patient = spawn([&] { s.acquire(); });
        REQUIRE(until_counted(3, timed_out));
        cancelled_one.cancel();
        CHECK_THROWS_AS(cancelled_one.join(), cancelled);
        CHECK(!timed_out.join());
        CHECK(s.available() == 0);
        s.release();
        patient.join();
        CHECK(s.available() == 0);
    });
}

TEST_CASE("semaphore: an acquire inside with_timeout ends with timeout_error") {
    run([] {
        semaphore s(0);
        CHECK_THROWS_AS(with_timeout(2ms, [&] { s.acquire(); }), timeout_error);
        CHECK(s.available() == 0);
        s.release();
        CHECK(s.available() == 1);
    });
}

TEST_CASE("semaphore: misuse, and waiting outside a task") {
    CHECK_THROWS_WITH_AS(semaphore(-1), doctest::Contains("negative"), std::invalid_argument);
    semaphore s(1);
    CHECK_THROWS_WITH_AS(s.release(0), doctest::Contains("n <= 0"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(s.release(-3), doctest::Contains("n <= 0"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(s.release(PTRDIFF_MAX), doctest::Contains("overflow"),
                         std::overflow_error);
    CHECK(s.available() == 1);
    s.acquire();  // a free permit needs no task
    // Outside any task a wait blocks the thread: until its deadline, or another thread's release.
    CHECK_FALSE(s.try_acquire_for(1ms));
    CHECK(s.available() == 0);
    std::thread releaser([&] { s.release(); });
    s.acquire();
    releaser.join();
    CHECK(s.available() == 0);
}

TEST_CASE("semaphore: a deadlock report names it") {
    semaphore s(0);  // outlives the scheduler, which unwinds the stuck task when destroyed
    try {
        run([&] {
            s.set_name("connection slots");
            CHECK(s.name() == "connection slots");
            s.acquire();
        });
        FAIL("no deadlock_error");
    } catch (const deadlock_error& e) {
        CHECK(std::string(e.what()).find("waits on semaphore acquire 'connection slots'") !=
              std::string::npos);
    }
}

TEST_CASE("semaphore: destroyed while a task waits for it, the process stops with a message") {
    const auto result = spindle_test::run_in_child([] {
        run([] {
            auto s = std::make_unique<semaphore>(0);
            spawn([&] { s->acquire(); }).detach();
            (void)spindle_test::until_waiting(1);
            s.reset();
        });
    });
    CHECK(result.signalled);
    CHECK(result.signal == SIGABRT);
    CHECK(result.err.find("a semaphore was destroyed while tasks waited for it") !=
          std::string::npos);
}
