// Waiting tasks: timers, cancellation in every waiting state, deadlock reports, and waits made
// from inside a fiber or generator nested in a task.

#include "child_process.hpp"
#include "timer_heap.hpp"

#include <spindle/channel.hpp>
#include <spindle/fiber.hpp>
#include <spindle/generator.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/sync.hpp>

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

TEST_CASE("timers: tasks wake in deadline order, equal deadlines in the order they slept") {
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

TEST_CASE("timers: a deadline in the past still suspends, behind the ready tasks") {
    std::vector<std::string> out;
    run([&] {
        spawn([&] { out.push_back("other"); });
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
    s.spawn("dreamer", [] { this_fiber::sleep_for(clock_type::duration::max()); });
    CHECK_THROWS_WITH_AS(s.run(), doctest::Contains("task 1 'dreamer' waits on sleep forever"),
                         deadlock_error);
}

TEST_CASE("timers: 10,000 sleeping tasks wake in deadline order") {
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

TEST_CASE("cancel: a task that has not started never runs; join throws cancelled") {
    bool ran = false;
    run([&] {
        auto t = spawn([&] { ran = true; });
        t.cancel();
        CHECK(t.done());
        CHECK_THROWS_AS(t.join(), cancelled);
    });
    CHECK(!ran);
}

TEST_CASE("cancel: a sleeping task unwinds from its sleep") {
    std::vector<std::string> out;
    run([&] {
        auto sleeper = spawn([&] {
            struct on_unwind {
                std::vector<std::string>& out;
                ~on_unwind() { out.push_back("destructor ran"); }
            } guard{out};
            this_fiber::sleep_for(1h);
            out.push_back("not reached");
        });
        this_fiber::yield();  // it starts and sleeps
        sleeper.cancel();
        CHECK_THROWS_AS(sleeper.join(), cancelled);
    });
    CHECK(out == std::vector<std::string>{"destructor ran"});
}

TEST_CASE("cancel: cancelled is not caught by catch (const std::exception&)") {
    run([] {
        auto t = spawn([] {
            try {
                this_fiber::sleep_for(1h);
            } catch (const std::exception&) {
                FAIL("cancelled must not be a std::exception");
            }
        });
        this_fiber::yield();
        t.cancel();
        CHECK_THROWS_AS(t.join(), cancelled);
    });
}

TEST_CASE("cancel: a ready task throws at the suspension it is resumed from") {
    run([] {
        std::vector<std::string> out;
        auto yielder = spawn([&] {
            out.push_back("before");
            this_fiber::yield();
            out.push_back("not reached");
        });
        this_fiber::yield();  // yielder runs and is back in the ready queue
        yielder.cancel();
        CHECK_THROWS_AS(yielder.join(), cancelled);
        CHECK(out == std::vector<std::string>{"before"});
    });
}

TEST_CASE("cancel: a running task cancelling itself throws at its next suspension") {
    run([] {
        task<void> self;
        self = spawn([&self] {
            self.cancel();
            CHECK_THROWS_AS(this_fiber::yield(), cancelled);
            this_fiber::yield();  // one cancel, one throw
        });
        self.join();
    });
}

TEST_CASE("cancel: a task may catch cancelled once and carry on") {
    run([] {
        auto t = spawn([] {
            try {
                this_fiber::sleep_for(1h);
            } catch (const cancelled&) {
                return 1;
            }
            return 0;
        });
        this_fiber::yield();
        t.cancel();
        CHECK(t.join() == 1);
    });
}

TEST_CASE("cancel: a task waiting in join, in a channel, in a mutex, in a condition_variable") {
    SUBCASE("join") {
        run([] {
            auto sleeper = spawn([] { this_fiber::sleep_for(5ms); });
            auto joiner = spawn([&] { sleeper.join(); });
            this_fiber::yield();
            joiner.cancel();
            CHECK_THROWS_AS(joiner.join(), cancelled);
            CHECK(!sleeper.done());
            sleeper.join();
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

TEST_CASE("cancel: a finished task is left alone") {
    run([] {
        auto t = spawn([] { return 3; });
        CHECK(t.join() == 3);
        t.cancel();
        auto u = spawn([] { return 4; });
        this_fiber::yield();
        CHECK(u.done());
        u.cancel();
        CHECK(u.join() == 4);
    });
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
    bool cleaning = false;
    std::optional<int> received;
    bool slept = false;
    run([&] {
        channel<int> ch(1);
        auto t = spawn([&] {
            struct async_cleanup {
                bool& cleaning;
                channel<int>& ch;
                std::optional<int>& received;
                bool& slept;
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
        this_fiber::yield();  // t sleeps
        t.cancel();           // t unwinds; its cleanup waits in receive()
        while (!cleaning) this_fiber::yield();
        t.cancel();  // while it waits in the destructor
        this_fiber::yield();
        CHECK_FALSE(t.done());
        ch.send(7);
        t.cancel();  // while it is ready to go on
        this_fiber::yield();
        t.cancel();  // while it sleeps in the destructor
        CHECK_THROWS_AS(t.join(), cancelled);
    });
    CHECK(received == 7);
    CHECK(slept);
}

TEST_CASE("cancel: a cancel that came while the task unwound is delivered at its next wait") {
    bool cleaning = false;
    bool first_caught = false;
    bool second_delivered = false;
    run([&] {
        auto t = spawn([&] {
            try {
                struct cleanup {
                    bool& cleaning;
                    ~cleanup() {
                        cleaning = true;
                        this_fiber::sleep_for(1ms);
                    }
                } c{cleaning};
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
        this_fiber::yield();
        t.cancel();
        while (!cleaning) this_fiber::yield();
        t.cancel();
        t.join();
    });
    CHECK(first_caught);
    CHECK(second_delivered);
}

TEST_CASE("cancel: cancelling the gathering task cancels what it gathers") {
    run([] {
        int finished = 0;
        auto gatherer = spawn([&] {
            gather(spawn([&] {
                       this_fiber::sleep_for(1h);
                       ++finished;
                   }),
                   spawn([&] {
                       this_fiber::sleep_for(1h);
                       ++finished;
                   }));
        });
        this_fiber::yield();
        gatherer.cancel();
        CHECK_THROWS_AS(gatherer.join(), cancelled);
        this_fiber::yield();
        CHECK(finished == 0);
    });
}

TEST_CASE("deadlock: run() throws, naming each stuck task and what it waits on") {
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
                spawn([&] { ch.send(1); });
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
    int unwound = 0;
    {
        scheduler s;
        channel<int> ch;
        for (int i = 0; i < 3; ++i)
            s.spawn([&] {
                struct counter {
                    int& n;
                    ~counter() { ++n; }
                } c{unwound};
                ch.receive();
            });
        s.spawn([&] { ++unwound; });  // cancelled before it runs? No: it runs first.
        CHECK_THROWS_AS(s.run(), deadlock_error);
        CHECK(unwound == 1);
        s.spawn([] {});  // never started: dropped
    }
    CHECK(unwound == 4);
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
            });
            s.spawn("notifier", [&] {
                m.lock();
                cv.notify_one();
            });  // ends holding m
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

TEST_CASE("nesting: a wait inside a fiber nested in a task suspends the whole task") {
    std::vector<std::string> out;
    run([&] {
        channel<int> ch;
        auto consumer = spawn([&] {
            fiber inner([&] {
                out.push_back("inner waits");
                int v = *ch.receive();  // parks the task from inside the nested fiber
                out.push_back("inner got " + std::to_string(v));
                fiber::suspend();       // an ordinary suspend back to the task still works
                this_fiber::sleep_for(1ms);
                out.push_back("inner woke");
            });
            inner.resume();
            out.push_back("task after first resume");
            CHECK(fiber::current() == nullptr);
            inner.resume();
            CHECK(inner.done());
            out.push_back("task done");
        });
        this_fiber::yield();
        out.push_back("main sends");
        ch.send(7);
        consumer.join();
    });
    CHECK(out == std::vector<std::string>{"inner waits", "main sends", "inner got 7",
                                          "task after first resume", "inner woke", "task done"});
}

TEST_CASE("nesting: a generator that sleeps and receives inside a task") {
    run([] {
        channel<int> ch;
        auto producer = spawn([&] {
            for (int i = 1; i <= 3; ++i) {
                this_fiber::sleep_for(1ms);
                ch.send(i * 10);
            }
            ch.close();
        });
        auto doubled = spawn([&] {
            generator<int> g([&](yielder<int>& yield) {
                // Each receive suspends the whole task from inside the generator's fiber.
                while (std::optional<int> v = ch.receive()) yield(*v * 2);
            });
            std::vector<int> out;
            for (int v : g) {
                this_fiber::yield();  // the task may also wait between elements
                out.push_back(v);
            }
            return out;
        });
        CHECK(doubled.join() == std::vector<int>{20, 40, 60});
        producer.join();
    });
}

TEST_CASE("nesting: cancelling a task parked inside a nested fiber unwinds through it") {
    std::vector<std::string> out;
    run([&] {
        auto t = spawn([&] {
            fiber inner([&] {
                struct note {
                    std::vector<std::string>& out;
                    ~note() { out.push_back("inner unwound"); }
                } n{out};
                this_fiber::sleep_for(1h);
            });
            inner.resume();
        });
        this_fiber::yield();
        t.cancel();
        CHECK_THROWS_AS(t.join(), cancelled);
    });
    CHECK(out == std::vector<std::string>{"inner unwound"});
}
