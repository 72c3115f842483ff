// mutex and condition_variable for tasks.

#include "parked.hpp"
#include "workers.hpp"

#include <spindle/scheduler.hpp>
#include <spindle/sync.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

using namespace spindle;
using namespace std::chrono_literals;

TEST_CASE("mutex: excludes across suspensions, with std::lock_guard") {
    run([] {
        spindle::mutex m;
        int inside = 0;
        int max_inside = 0;
        std::vector<task<void>> tasks;
        for (int t = 0; t < 5; ++t)
            tasks.push_back(spawn([&] {
                for (int i = 0; i < 10; ++i) {
                    std::lock_guard guard(m);
                    ++inside;
                    max_inside = std::max(max_inside, inside);
                    this_fiber::yield();  // others run, and must wait for the lock
                    --inside;
                }
            }));
        gather(std::move(tasks));
        CHECK(max_inside == 1);
    });
}

TEST_CASE("mutex: a waiting task is suspended while others run, and locks are handed in order") {
    // a and b write `out` only while they hold m, the free runner only while this task holds
    // it and both wait (its join orders that before the unlock): one writer at a time.
    std::vector<std::string> out;
    run([&] {
        spindle::mutex m;
        std::unique_lock lock(m);
        auto a = spawn([&] {
            std::lock_guard guard(m);
            out.push_back("a");
        });
        REQUIRE(spindle_test::until_waiting(1));  // a waits first
        auto b = spawn([&] {
            std::lock_guard guard(m);
            out.push_back("b");
        });
        REQUIRE(spindle_test::until_waiting(2));
        auto free_runner = spawn([&] { out.push_back("free"); });
        free_runner.join();  // it runs to its end while a and b wait
        CHECK(!a.done());
        CHECK(!b.done());
        out.push_back("unlock");
        lock.unlock();
        CHECK(!m.try_lock());  // handed to a already, not released
        gather(std::move(a), std::move(b));
    });
    CHECK(out == std::vector<std::string>{"free", "unlock", "a", "b"});
}

TEST_CASE("mutex: try_lock, and misuse") {
    run([] {
        spindle::mutex m;
        CHECK(m.try_lock());
        CHECK(!m.try_lock());
        CHECK_THROWS_WITH_AS(m.lock(), doctest::Contains("not recursive"), fiber_error);
        auto other = spawn([&] {
            CHECK_THROWS_WITH_AS(m.unlock(), doctest::Contains("does not hold"), fiber_error);
        });
        other.join();
        m.unlock();
        CHECK_THROWS_WITH_AS(m.unlock(), doctest::Contains("not locked"), fiber_error);
    });
}

// lock_it() and unlock_it() make tasks of the same type, so that the second one gets the
// first one's recycled record.
auto lock_it(spindle::mutex& m) {
    return [&m] { m.lock(); };
}

TEST_CASE("mutex: a task that ended holding it leaves it locked; a new task does not inherit it") {
    spindle::mutex m;
    SUBCASE("unlock by the next task is refused, naming the holder") {
        run([&] {
            spawn(lock_it(m)).join();  // ends holding m; its record is freed
            bool refused = false;
            spawn([&m, &refused] {
                try {
                    m.unlock();
                } catch (const fiber_error& e) {
                    refused = std::string(e.what()).find("task 2 holds it, and has ended") !=
                              std::string::npos;
                }
            }).join();
            CHECK(refused);
            CHECK_FALSE(m.try_lock());
        });
    }
    SUBCASE("lock by the next task waits (a deadlock here), not 'holds it already'") {
        scheduler s;
        s.spawn(lock_it(m)).detach();
        s.run();
        bool misreported = false;
        s.spawn([&m, &misreported] {
            try {
                m.lock();
            } catch (const fiber_error&) {
                misreported = true;
            }
        }).detach();
        CHECK_THROWS_WITH_AS(s.run(), doctest::Contains("task 2 waits on mutex lock"),
                             deadlock_error);
        CHECK_FALSE(misreported);
    }
    SUBCASE("the first task of the next scheduler (same id, same record) does not hold it") {
        run([&] { m.lock(); });
        run([&] {
            CHECK_THROWS_WITH_AS(m.unlock(), doctest::Contains("another scheduler"), fiber_error);
            CHECK_FALSE(m.try_lock());
        });
    }
}

TEST_CASE("condition_variable: notify_one wakes the longest waiter, notify_all the rest") {
    std::vector<std::string> out;  // written under m
    run([&] {
        spindle::mutex m;
        spindle::condition_variable cv;
        int permits = 0;
        std::vector<task<void>> waiters;
        for (int i = 0; i < 3; ++i) {
            waiters.push_back(spawn([&, i] {
                std::unique_lock lock(m);
                cv.wait(lock, [&] { return permits > 0; });
                --permits;
                out.push_back("woke " + std::to_string(i));
            }));
            // Nobody else holds m, so a waiter counted in a wait waits on cv: they queue in
            // order 0, 1, 2.
            REQUIRE(spindle_test::until_waiting(static_cast<std::uint64_t>(i) + 1));
        }
        {
            std::lock_guard guard(m);
            permits = 1;
        }
        cv.notify_one();
        // Had it woken 1 or 2, that one takes the permit and 0 waits on: a deadlock_error.
        waiters[0].join();
        {
            std::lock_guard guard(m);
            CHECK(out == std::vector<std::string>{"woke 0"});
            permits = 2;
        }
        cv.notify_all();
        waiters[1].join();
        waiters[2].join();
    });
    REQUIRE(out.size() == 3);
    CHECK(out[0] == "woke 0");
    // The two woken at once then race for m on several workers; one worker runs them in the
    // order they were woken.
    if (spindle_test::test_threads() == 1)
        CHECK(out == std::vector<std::string>{"woke 0", "woke 1", "woke 2"});
    else
        CHECK(((out[1] == "woke 1" && out[2] == "woke 2") ||
               (out[1] == "woke 2" && out[2] == "woke 1")));
}

TEST_CASE("condition_variable: wait_for times out, or returns early when notified") {
    run([] {
        spindle::mutex m;
        spindle::condition_variable cv;
        std::unique_lock lock(m);
        const auto before = std::chrono::steady_clock::now();
        CHECK(cv.wait_for(lock, 2ms) == std::cv_status::timeout);
        CHECK(std::chrono::steady_clock::now() - before >= 2ms);
        CHECK(lock.owns_lock());
        CHECK(!cv.wait_for(lock, 1ms, [] { return false; }));

        bool ready = false;
        auto notifier = spawn([&] {
            std::lock_guard guard(m);
            ready = true;
            cv.notify_one();
        });
        CHECK(cv.wait_for(lock, 1h, [&] { return ready; }));
        lock.unlock();
        notifier.join();
    });
}

TEST_CASE("condition_variable: a timeout already due with nothing else ready, in every backend") {
    run([] {
        spindle::mutex m;
        spindle::condition_variable cv;
        std::unique_lock lock(m);
        CHECK(cv.wait_for(lock, 0ms) == std::cv_status::timeout);
        CHECK(cv.wait_for(lock, -1ms) == std::cv_status::timeout);
        CHECK(cv.wait_until(lock, std::chrono::steady_clock::time_point::min()) ==
              std::cv_status::timeout);
        CHECK_FALSE(cv.wait_for(lock, 0ms, [] { return false; }));
        CHECK(lock.owns_lock());
    });
}

TEST_CASE("condition_variable: wait_for with the longest durations waits for the notify") {
    // now() + nanoseconds::max() overflowed into the past: the wait timed out at once.
    run([] {
        spindle::mutex m;
        spindle::condition_variable cv;
        int stage = 0;
        auto waiter = spawn([&] {
            std::unique_lock lock(m);
            const bool by_ns =
                cv.wait_for(lock, std::chrono::nanoseconds::max(), [&] { return stage >= 1; });
            const bool by_hours =
                cv.wait_for(lock, std::chrono::hours::max(), [&] { return stage >= 2; });
            return by_ns && by_hours;
        });
        for (int next = 1; next <= 2; ++next) {
            REQUIRE(spindle_test::until_waiting(1));  // it waits
            this_fiber::sleep_for(1ms);
            CHECK_FALSE(waiter.done());
            {
                std::lock_guard guard(m);
                stage = next;
            }
            cv.notify_one();
        }
        CHECK(waiter.join());
    });
}

TEST_CASE("condition_variable: a producer/consumer queue") {
    run([] {
        spindle::mutex m;
        spindle::condition_variable not_empty;
        std::vector<int> queue;
        bool finished = false;
        auto consumer = spawn([&] {
            long sum = 0;
            std::unique_lock lock(m);
            for (;;) {
                not_empty.wait(lock, [&] { return !queue.empty() || finished; });
                if (queue.empty()) return sum;
                sum += queue.back();
                queue.pop_back();
            }
        });
        for (int i = 1; i <= 100; ++i) {
            {
                std::lock_guard guard(m);
                queue.push_back(i);
            }
            not_empty.notify_one();
            if (i % 7 == 0) this_fiber::yield();
        }
        {
            std::lock_guard guard(m);
            finished = true;
        }
        not_empty.notify_all();
        CHECK(consumer.join() == 5050);
    });
}

TEST_CASE("condition_variable: wait needs the lock held by the calling task") {
    run([] {
        spindle::mutex m;
        spindle::condition_variable cv;
        std::unique_lock lock(m, std::defer_lock);
        CHECK_THROWS_AS(cv.wait(lock), fiber_error);
    });
    // Outside any task the lock is the thread's, and a wait blocks the thread (to its deadline
    // here; a notify from another thread: test/sync/other_thread_test.cpp).
    spindle::mutex m;
    spindle::condition_variable cv;
    std::unique_lock lock(m);
    CHECK(cv.wait_for(lock, std::chrono::milliseconds(1)) == std::cv_status::timeout);
    CHECK(lock.owns_lock());
    std::unique_lock unlocked(m, std::defer_lock);
    CHECK_THROWS_AS(cv.wait(unlocked), fiber_error);
}
