// mutex::try_lock_until/for and the names of mutexes and condition variables.

#include "parked.hpp"
#include "workers.hpp"

#include <spindle/scheduler.hpp>
#include <spindle/sync.hpp>
#include <spindle/timeout.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <mutex>
#include <string>

using namespace spindle;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST_CASE("mutex: try_lock_for takes a free mutex, and gives up at the deadline") {
    run([] {
        spindle::mutex m;
        CHECK(m.try_lock_for(1h));
        auto other = spawn([&] {
            const auto deadline = clock_type::now() + 2ms;
            CHECK(!m.try_lock_until(deadline));
            CHECK(clock_type::now() >= deadline);
            CHECK(!m.try_lock_for(0ms));
        });
        other.join();
        m.unlock();  // still this task's: the timed-out waits took nothing
        CHECK(m.try_lock());
        m.unlock();
    });
}

TEST_CASE("mutex: try_lock_for is handed the mutex on unlock, before anyone else") {
    run([] {
        spindle::mutex m;
        m.lock();
        bool got = false;
        auto waiter = spawn([&] {
            got = m.try_lock_for(1h);
            if (got) m.unlock();
        });
        REQUIRE(spindle_test::until_waiting(1));
        m.unlock();
        CHECK(!m.try_lock());  // handed over, not released
        waiter.join();
        CHECK(got);
        CHECK(m.try_lock());
        m.unlock();
    });
}

TEST_CASE("mutex: try_lock_until by its holder is misuse, task or thread; a thread waits") {
    spindle::mutex m;
    CHECK(m.try_lock_for(1ms));  // free: no wait needed
    // This thread holds it: a second lock is misuse, as in a task.
    CHECK_THROWS_WITH_AS(m.try_lock_for(1ms), doctest::Contains("not recursive"), fiber_error);
    // Another thread waits for it, blocking, until its deadline.
    bool other_took = true;
    std::thread other([&] { other_took = m.try_lock_for(1ms); });
    other.join();
    CHECK_FALSE(other_took);
    m.unlock();
    run([&] {
        m.lock();
        CHECK_THROWS_WITH_AS(m.try_lock_for(1ms), doctest::Contains("not recursive"),
                             fiber_error);
        m.unlock();
    });
}

TEST_CASE("mutex: a cancelled try_lock_for takes nothing") {
    run([] {
        spindle::mutex m;
        m.lock();
        auto waiter = spawn([&] { return m.try_lock_for(1h); });
        this_fiber::yield();
        waiter.cancel();
        CHECK_THROWS_AS(waiter.join(), cancelled);
        m.unlock();
        CHECK(m.try_lock());  // not handed to the cancelled task
        m.unlock();
    });
}

TEST_CASE("mutex and condition_variable: names, in deadlock reports") {
    spindle::mutex unnamed;
    CHECK(unnamed.name().empty());
    unnamed.set_name("a name longer than the thirty-one bytes kept");
    CHECK(unnamed.name() == "a name longer than the thirty-o");
    // Outliving the scheduler, which unwinds the stuck tasks when destroyed.
    spindle::mutex m;
    spindle::condition_variable cv;
    spindle::mutex other;
    try {
        run([&] {
            m.set_name("table lock");
            cv.set_name("table changed");
            CHECK(cv.name() == "table changed");
            m.lock();
            spawn([&] { m.lock(); }).detach();
            this_fiber::yield();
            std::unique_lock lock(other);
            cv.wait(lock);  // nobody notifies, and the task above waits for m for ever
        });
        FAIL("no deadlock_error");
    } catch (const deadlock_error& e) {
        const std::string message = e.what();
        INFO(message);
        CHECK(message.find("waits on mutex lock 'table lock'") != std::string::npos);
        CHECK(message.find("waits on condition_variable notify 'table changed'") !=
              std::string::npos);
    }
}

TEST_CASE("mutex: a lock inside with_timeout ends with timeout_error") {
    run([] {
        spindle::mutex m;
        m.lock();
        auto other = spawn([&] {
            CHECK_THROWS_AS(with_timeout(2ms, [&] { m.lock(); }), timeout_error);
        });
        other.join();
        m.unlock();
        CHECK(m.try_lock());
        m.unlock();
    });
}
