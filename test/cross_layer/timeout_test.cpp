// Timeout scopes and shields: with_timeout, with_deadline, move_on_after, cancel_shield.

#include <spindle/channel.hpp>
#include <spindle/generator.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/sync.hpp>
#include <spindle/timeout.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>

using namespace spindle;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST_CASE("timeout: with_timeout ends a sleep that outlasts it with timeout_error") {
    bool slept_through = false;
    run([&] {
        const auto start = clock_type::now();
        CHECK_THROWS_AS(with_timeout(5ms,
                                     [&] {
                                         this_fiber::sleep_for(1h);
                                         slept_through = true;
                                     }),
                        timeout_error);
        CHECK(clock_type::now() - start >= 5ms);
    });
    CHECK(!slept_through);
}

TEST_CASE("timeout: a function that finishes in time gives its result") {
    run([&] {
        CHECK(with_timeout(1h, [] {
                  this_fiber::sleep_for(1ms);
                  return 7;
              }) == 7);
        CHECK(move_on_after(1h, [] { return 8; }) == std::optional<int>(8));
        CHECK(move_on_after(1h, [] {}));
    });
}

TEST_CASE("timeout: move_on_after gives an empty result at the deadline") {
    run([&] {
        CHECK(move_on_after(2ms, [] {
                  this_fiber::sleep_for(1h);
                  return 1;
              }) == std::nullopt);
        CHECK(!move_on_at(clock_type::now() + 2ms, [] { this_fiber::sleep_for(1h); }));
    });
}

TEST_CASE("timeout: ends a channel receive, a join, a mutex lock and a condition wait") {
    run([&] {
        channel<int> ch;
        CHECK_THROWS_AS(with_timeout(2ms, [&] { return ch.receive(); }), timeout_error);
        auto forever = spawn([] { this_fiber::sleep_for(clock_type::duration::max()); });
        CHECK_THROWS_AS(with_timeout(2ms, [&] { forever.join(); }), timeout_error);
        CHECK(!forever.done());
        forever.cancel();
        CHECK_THROWS_AS(forever.join(), cancelled);

        mutex m;
        std::atomic<bool> holding{false};
        auto holder = spawn([&] {
            std::lock_guard hold(m);
            holding = true;
            this_fiber::sleep_for(1h);  // holds the mutex until cancelled
        });
        while (!holding) this_fiber::yield();  // (with several workers it may start elsewhere)
        CHECK_THROWS_AS(with_timeout(2ms, [&] { std::lock_guard lock(m); }), timeout_error);
        holder.cancel();
        CHECK_THROWS_AS(holder.join(), cancelled);

        condition_variable cv;
        std::unique_lock lock(m);
        CHECK_THROWS_AS(with_timeout(2ms, [&] { cv.wait(lock); }), timeout_error);
        CHECK(lock.owns_lock());  // the wait took the lock back before the timeout left it
    });
}

TEST_CASE("timeout: reaches a wait inside a generator running in the task") {
    run([&] {
        generator<int> slow([](yielder<int>& yield) {
            yield(1);
            this_fiber::sleep_for(1h);
            yield(2);
        });
        int seen = 0;
        CHECK_THROWS_AS(with_timeout(2ms,
                                     [&] {
                                         for (int v : slow) seen = v;
                                     }),
                        timeout_error);
        CHECK(seen == 1);
    });
}

TEST_CASE("timeout: a cancel() from elsewhere leaves the scope as cancelled, not as a timeout") {
    run([&] {
        bool timed_out = false;
        auto t = spawn([&] {
            try {
                with_timeout(1h, [] { this_fiber::sleep_for(1h); });
            } catch (const timeout_error&) {
                timed_out = true;
            }
        });
        this_fiber::yield();
        t.cancel();
        CHECK_THROWS_AS(t.join(), cancelled);
        CHECK(!timed_out);
    });
}

TEST_CASE("timeout: the outer scope's deadline passes through an inner scope") {
    run([&] {
        bool inner_saw_cancelled = false;
        CHECK_THROWS_AS(with_timeout(3ms,
                                     [&] {
                                         try {
                                             with_timeout(1h, [] { this_fiber::sleep_for(1h); });
                                         } catch (const cancelled&) {
                                             inner_saw_cancelled = true;
                                             throw;
                                         }
                                     }),
                        timeout_error);
        CHECK(inner_saw_cancelled);
    });
}

TEST_CASE("timeout: an inner scope's timeout is handled inside the outer one") {
    run([&] {
        const int r = with_timeout(1h, [] {
            try {
                with_timeout(2ms, [] { this_fiber::sleep_for(1h); });
            } catch (const timeout_error&) {
                return 1;
            }
            return 0;
        });
        CHECK(r == 1);
    });
}

TEST_CASE("timeout: once expired, every further wait in the scope throws at once") {
    run([&] {
        int thrown = 0;
        CHECK_THROWS_AS(with_timeout(2ms,
                                     [&] {
                                         try {
                                             this_fiber::sleep_for(1h);
                                         } catch (const cancelled&) {
                                             ++thrown;
                                         }
                                         this_fiber::yield();  // a checkpoint too
                                     }),
                        timeout_error);
        CHECK(thrown == 1);
    });
}

TEST_CASE("timeout: a cancel_shield lets cleanup wait after the deadline") {
    run([&] {
        bool cleaned = false;
        CHECK_THROWS_AS(with_timeout(2ms,
                                     [&] {
                                         try {
                                             this_fiber::sleep_for(1h);
                                         } catch (const cancelled&) {
                                             cancel_shield shield;
                                             this_fiber::sleep_for(3ms);  // not interrupted
                                             cleaned = true;
                                             throw;
                                         }
                                     }),
                        timeout_error);
        CHECK(cleaned);
    });
}

TEST_CASE("timeout: a shield holds task::cancel() until it closes") {
    run([&] {
        bool slept = false;
        bool cancelled_after = false;
        auto t = spawn([&] {
            {
                cancel_shield shield;
                this_fiber::sleep_for(5ms);
                slept = true;
            }
            try {
                this_fiber::yield();
            } catch (const cancelled&) {
                cancelled_after = true;
                throw;
            }
        });
        this_fiber::yield();
        t.cancel();
        CHECK_THROWS_AS(t.join(), cancelled);
        CHECK(slept);
        CHECK(cancelled_after);
    });
}

TEST_CASE("timeout: a timeout scope inside a shield still applies") {
    run([&] {
        cancel_shield shield;
        CHECK_THROWS_AS(with_timeout(2ms, [] { this_fiber::sleep_for(1h); }), timeout_error);
    });
}

TEST_CASE("timeout: a deadline already passed ends the first wait; no wait, no timeout") {
    run([&] {
        CHECK_THROWS_AS(with_deadline(clock_type::now() - 1s, [] { this_fiber::yield(); }),
                        timeout_error);
        CHECK(with_timeout(-1s, [] { return 3; }) == 3);
    });
}

TEST_CASE("timeout: a task waiting with a scope deadline is not a deadlock") {
    run([&] {
        channel<int> nobody_sends;
        CHECK(move_on_after(2ms, [&] { return nobody_sends.receive(); }) == std::nullopt);
    });
}

TEST_CASE("timeout: the function's own exceptions pass through unchanged") {
    run([&] {
        CHECK_THROWS_WITH_AS(with_timeout(1h, []() -> int { throw std::runtime_error("own"); }),
                             "own", std::runtime_error);
    });
}

TEST_CASE("timeout: scopes and shields outside any task are fiber_error") {
    CHECK_THROWS_AS(with_timeout(1s, [] {}), fiber_error);
    CHECK_THROWS_AS(cancel_shield(), fiber_error);
}
