// scheduler: run, spawn, join, gather, yield order, detaching, misuse.

#include "allocation_failure.hpp"
#include "parked.hpp"
#include "stack/stack_pool.hpp"
#include "workers.hpp"

#include <spindle/fiber.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

using namespace spindle;

TEST_CASE("scheduler: run() returns what the first task returns") {
    CHECK(run([] { return 42; }) == 42);
    CHECK(run([] { return std::string("hello"); }) == "hello");
    run([] {});
}

TEST_CASE("scheduler: run() rethrows what the first task throws") {
    CHECK_THROWS_WITH_AS(run([]() -> int { throw std::runtime_error("boom"); }), "boom",
                         std::runtime_error);
}

TEST_CASE("scheduler: tasks spawned before run() start in spawn order"
          * spindle_test::single_worker()) {
    std::vector<int> order;
    scheduler s;
    for (int i = 0; i < 5; ++i) s.spawn([&order, i] { order.push_back(i); }).detach();
    CHECK(order.empty());
    s.run();
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("scheduler: yield interleaves two tasks like two generators driven round-robin"
          * spindle_test::single_worker()) {
    // Python: def g(name): for i in range(3): out.append(f"{name}{i}"); yield
    // Driving [g("a"), g("b")] round-robin gives a0 b0 a1 b1 a2 b2.
    std::vector<std::string> out;
    run([&] {
        auto worker = [&out](std::string name) {
            for (int i = 0; i < 3; ++i) {
                out.push_back(name + std::to_string(i));
                this_fiber::yield();
            }
        };
        auto a = spawn([&] { worker("a"); });
        auto b = spawn([&] { worker("b"); });
        a.join();
        b.join();
    });
    CHECK(out == std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"});
}

TEST_CASE("scheduler: yield puts the caller behind every task that is ready"
          * spindle_test::single_worker()) {
    std::vector<std::string> out;
    scheduler s;
    s.spawn([&] {
        out.push_back("a1");
        this_fiber::yield();
        out.push_back("a2");
    }).detach();
    s.spawn([&] { out.push_back("b"); }).detach();
    s.spawn([&] { out.push_back("c"); }).detach();
    s.run();
    CHECK(out == std::vector<std::string>{"a1", "b", "c", "a2"});
}

TEST_CASE("scheduler: yield with nothing else ready carries on") {
    int n = run([] {
        int count = 0;
        for (int i = 0; i < 100; ++i) {
            this_fiber::yield();
            ++count;
        }
        return count;
    });
    CHECK(n == 100);
}

TEST_CASE("scheduler: join returns the result, rethrows the exception") {
    run([] {
        auto t = spawn([] { return 7; });
        CHECK(t.join() == 7);
        CHECK(t.done());
        auto failing = spawn([]() -> int { throw std::logic_error("bad"); });
        CHECK_THROWS_WITH_AS(failing.join(), "bad", std::logic_error);
    });
}

// (One worker: with several, another worker may start the child before the join, which then
// waits for it, and `other` may run at any time.)
TEST_CASE("scheduler: join of a task that has not started runs it at once"
          * spindle_test::single_worker()) {
    std::vector<std::string> out;
    run([&] {
        auto other = spawn([&] { out.push_back("other"); });
        auto child = spawn([&] {
            out.push_back("child");
            return 1;
        });
        // `other` is ahead in the queue, but the join runs `child` on this task's turn and comes
        // back here right after it.
        CHECK(child.join() == 1);
        out.push_back("joined");
        other.join();
    });
    CHECK(out == std::vector<std::string>{"child", "joined", "other"});
}

TEST_CASE("scheduler: join of a started task waits for it") {
    // The child ends only once the joiner is counted in a wait (its join), so the join finds it
    // started and unfinished on any number of workers. The flag and the wait order the pushes.
    std::vector<std::string> out;
    run([&] {
        std::atomic<bool> started{false};
        auto child = spawn([&] {
            out.push_back("child starts");
            started = true;
            CHECK(spindle_test::until_waiting(1));  // the joiner, in its join
            out.push_back("child ends");
            return 5;
        });
        while (!started) this_fiber::yield();
        out.push_back("joining");
        CHECK(child.join() == 5);
        out.push_back("joined");
    });
    CHECK(out == std::vector<std::string>{"child starts", "joining", "child ends", "joined"});
}

TEST_CASE("scheduler: results may be void, references or move-only") {
    run([] {
        int value = 3;
        auto r = spawn([&value]() -> int& { return value; });
        CHECK(&r.join() == &value);
        auto p = spawn([] { return std::make_unique<int>(9); });
        CHECK(*p.join() == 9);
        auto v = spawn([] {});
        v.join();
    });
}

TEST_CASE("scheduler: a detached task still runs to its end under scheduler::run()") {
    // Flags, not an order: with several workers the two tasks may end in either order.
    std::atomic<bool> spawner_ended{false}, detached_ended{false};
    scheduler s;
    s.spawn([&] {
        spawn([&] {
            this_fiber::yield();
            detached_ended = true;
        }).detach();
        spawner_ended = true;
    }).detach();
    s.run();
    CHECK(spawner_ended);
    CHECK(detached_ended);
}

TEST_CASE("scheduler: a dropped handle detaches the task as detach() does") {
    // Flags, not an order: with several workers the two tasks may end in either order.
    std::atomic<bool> spawner_ended{false}, dropped_ended{false};
    scheduler s;
    s.spawn([&] {
        {
            auto dropped = spawn([&] {
                this_fiber::yield();
                dropped_ended = true;
            });
        }
        spawner_ended = true;
    }).detach();
    s.run();
    CHECK(spawner_ended);
    CHECK(dropped_ended);
}

TEST_CASE("scheduler: a finished task can be joined after run()") {
    scheduler s;
    auto t = s.spawn([] { return 11; });
    CHECK(!t.done());
    s.run();
    CHECK(t.done());
    CHECK(t.join() == 11);
}

TEST_CASE("scheduler: spawn from a task, and run() again after it returned") {
    scheduler s;
    std::atomic<int> total{0};  // the tasks may run on several workers
    s.spawn([&] {
        for (int i = 1; i <= 3; ++i) spawn([&total, i] { total += i; }).detach();
    }).detach();
    s.run();
    CHECK(total.load() == 6);
    s.spawn([&] { total += 10; }).detach();
    s.run();
    CHECK(total.load() == 16);
}

TEST_CASE("scheduler: gather returns results in argument order") {
    run([] {
        auto [a, b, c] = gather(spawn([] {
                                    this_fiber::sleep_for(std::chrono::milliseconds(3));
                                    return 1;
                                }),
                                spawn([] { return std::string("two"); }),
                                spawn([] {}));
        CHECK(a == 1);
        CHECK(b == "two");
        CHECK(std::is_same_v<decltype(c), std::monostate>);

        std::vector<task<int>> tasks;
        for (int i = 0; i < 10; ++i)
            tasks.push_back(spawn([i] {
                this_fiber::sleep_for(std::chrono::microseconds(100 * (10 - i)));
                return i * i;
            }));
        std::vector<int> squares = gather(std::move(tasks));
        CHECK(squares == std::vector<int>{0, 1, 4, 9, 16, 25, 36, 49, 64, 81});
    });
}

TEST_CASE("scheduler: gather rethrows the first failure in argument order, after all finished") {
    std::atomic<int> finished{0};  // the tasks may end on several workers at once
    run([&] {
        auto slow_ok = spawn([&] {
            this_fiber::sleep_for(std::chrono::milliseconds(5));
            ++finished;
            return 0;
        });
        auto late_failure = spawn([&]() -> int {
            this_fiber::sleep_for(std::chrono::milliseconds(2));
            ++finished;
            throw std::runtime_error("second");
        });
        auto early_failure = spawn([&]() -> int {
            ++finished;
            throw std::runtime_error("third");
        });
        CHECK_THROWS_WITH_AS(
            gather(std::move(slow_ok), std::move(late_failure), std::move(early_failure)),
            "second", std::runtime_error);
        CHECK(finished.load() == 3);
    });
}

TEST_CASE("scheduler: gather of void tasks in a vector") {
    std::atomic<int> count{0};
    run([&] {
        std::vector<task<void>> tasks;
        for (int i = 0; i < 5; ++i) tasks.push_back(spawn([&] { ++count; }));
        gather(std::move(tasks));
    });
    CHECK(count.load() == 5);
}

TEST_CASE("scheduler: task names and ids") {
    run([] {
        auto t = spawn("worker", [] { return 1; });
        CHECK(t.id() > 0);
        t.join();
        CHECK(task<int>{}.id() == 0);
    });
}

TEST_CASE("scheduler: misuse is reported with fiber_error") {
    SUBCASE("threads outside 1 to 1024") {
        CHECK_THROWS_WITH_AS(scheduler(scheduler_options{.threads = 0}),
                             doctest::Contains("at least 1"), fiber_error);
        CHECK_THROWS_WITH_AS(scheduler(scheduler_options{.threads = 1025}),
                             doctest::Contains("at most 1024"), fiber_error);
        CHECK_THROWS_WITH_AS(scheduler(scheduler_options{.threads = ~0u}),
                             doctest::Contains("at most 1024"), fiber_error);
    }
    SUBCASE("spawn outside any task") {
        CHECK_THROWS_WITH_AS((void)spawn([] {}), doctest::Contains("outside any task"), fiber_error);
    }
    SUBCASE("run inside a task") {
        run([] {
            scheduler inner;
            CHECK_THROWS_WITH_AS(inner.run(), doctest::Contains("inside a task"), fiber_error);
            CHECK_THROWS_AS(run([] {}), fiber_error);
        });
    }
    SUBCASE("join outside any task of a task that has not finished") {
        scheduler s;
        auto t = s.spawn([] {});
        CHECK_THROWS_WITH_AS(t.join(), doctest::Contains("outside any task"), fiber_error);
        s.run();
        t.join();
    }
    SUBCASE("joining twice, an empty handle, or itself") {
        run([] {
            auto t = spawn([] { return 1; });
            t.join();
            CHECK_THROWS_WITH_AS(t.join(), doctest::Contains("joined already"), fiber_error);
            task<int> empty;
            CHECK_THROWS_WITH_AS(empty.join(), doctest::Contains("empty"), fiber_error);
            CHECK(empty.done());
        });
        {
            // Spawned before run(): the task cannot start before its handle is assigned (with
            // several workers it would start at once, on another).
            scheduler s;
            task<void> self;
            self = s.spawn([&self] {
                CHECK_THROWS_WITH_AS(self.join(), doctest::Contains("itself"), fiber_error);
            });
            s.run();
            self.join();
        }
    }
    SUBCASE("fiber::suspend() in a task") {
        run([] {
            CHECK_THROWS_WITH_AS(fiber::suspend(), doctest::Contains("this_fiber::yield"),
                                 fiber_error);
        });
    }
    SUBCASE("set_name outside any task or fiber") {
        CHECK_THROWS_AS(this_fiber::set_name("x"), fiber_error);
    }
}

TEST_CASE("scheduler: outside any task, yield and sleep act on the thread") {
    const auto before = std::chrono::steady_clock::now();
    this_fiber::yield();
    this_fiber::sleep_for(std::chrono::milliseconds(1));
    CHECK(std::chrono::steady_clock::now() - before >= std::chrono::milliseconds(1));
}

TEST_CASE("scheduler: each task keeps its own exception state across switches") {
    run([] {
        auto a = spawn([] {
            try {
                throw std::runtime_error("a's");
            } catch (const std::exception&) {
                this_fiber::yield();  // b throws and catches its own meanwhile
                CHECK(std::current_exception() != nullptr);
                try {
                    throw;
                } catch (const std::runtime_error& e) {
                    CHECK(std::string(e.what()) == "a's");
                }
            }
            CHECK(std::uncaught_exceptions() == 0);
        });
        auto b = spawn([] {
            CHECK(std::current_exception() == nullptr);
            try {
                throw std::logic_error("b's");
            } catch (const std::exception&) {
                this_fiber::yield();
            }
        });
        a.join();
        b.join();
    });
}

// (One worker: stack_pool_stats() counts the calling thread's pool only, and with several
// workers the tasks take and map stacks on the other workers' threads too.)
TEST_CASE("scheduler: a million short tasks reuse pooled stacks, no mmap per task"
          * spindle_test::single_worker()) {
    run([] {
        // Warm up: the pool gets the stacks a batch needs.
        auto batch = [] {
            std::vector<task<int>> tasks;
            tasks.reserve(1000);
            for (int i = 0; i < 1000; ++i) tasks.push_back(spawn([i] { return i; }));
            long sum = 0;
            for (int v : gather(std::move(tasks))) sum += v;
            return sum;
        };
        batch();
        const detail::stack_pool_statistics before = detail::stack_pool_stats();
        long total = 0;
        for (int round = 0; round < 1000; ++round) total += batch();
        const detail::stack_pool_statistics after = detail::stack_pool_stats();
        CHECK(total == 1000L * (999L * 1000 / 2));
        CHECK(after.mapped == before.mapped);
        CHECK(after.unmapped == before.unmapped);
        // Most tasks run on the fiber of one that finished (the worker keeps a few idle), the
        // others on a stack from the pool: either way, none maps one.
    });
}

// (One worker: stack_pool_stats() counts the calling thread's pool only, and the bound holds for
// a tree run depth first on one worker; several run branches at once, each on stacks of its own.)
TEST_CASE("scheduler: a deep tree of spawns and joins runs depth first on few stacks"
          * spindle_test::single_worker()) {
    // skynet: each task spawns ten children and sums what they return.
    std::function<long(long, long)> skynet = [&](long ordinal, long size) -> long {
        if (size == 1) return ordinal;
        std::vector<task<long>> children;
        children.reserve(10);
        const long child_size = size / 10;
        for (long i = 0; i < 10; ++i)
            children.push_back(spawn([&, ordinal, i, child_size] {
                return skynet(ordinal + i * child_size, child_size);
            }));
        long sum = 0;
        for (task<long>& child : children) sum += child.join();
        return sum;
    };
    const detail::stack_pool_statistics before = detail::stack_pool_stats();
    CHECK(run([&] { return skynet(0, 10000); }) == 10000L * 9999 / 2);
    const detail::stack_pool_statistics after = detail::stack_pool_stats();
    // One stack per level of the tree at most (5 levels), plus the first task's.
    CHECK(after.mapped - before.mapped <= 8);
}

// (One worker: the warm-up fills the record cache of the thread its tasks end on, which with
// several workers need not be this one; a spawn below would then fail for want of a record,
// not at the queue's growth this case is about.)
TEST_CASE("out of memory: spawn throws std::bad_alloc when the ready queue cannot grow"
          * spindle_test::single_worker()) {
    SKIP_UNLESS_ALLOCATION_FAILURE_AVAILABLE();
    // The queue used to grow when a task was queued, in noexcept code: std::terminate.
    int finished = 0;
    auto body = [&finished] { ++finished; };
    {
        scheduler warm;  // fills this thread's record cache, so spawning below costs no record
        for (int i = 0; i < 200; ++i) warm.spawn(body).detach();
        warm.run();
    }
    finished = 0;
    scheduler s;
    std::vector<task<void>> tasks;
    tasks.reserve(1000);
    for (int i = 0; i < 10; ++i) tasks.push_back(s.spawn(body));
    bool threw = false;
    {
        fail_every_allocation failing;
        try {
            for (int i = 0; i < 990; ++i) tasks.push_back(s.spawn(body));
        } catch (const std::bad_alloc&) {
            threw = true;
        }
    }
    CHECK(threw);
    CHECK(tasks.size() >= 10);
    CHECK(tasks.size() < 1000);
    s.run();
    CHECK(finished == static_cast<int>(tasks.size()));
    for (task<void>& t : tasks) CHECK(t.done());
}

TEST_CASE("out of memory: a failed spawn leaves the scheduler consistent") {
    SKIP_UNLESS_ALLOCATION_FAILURE_AVAILABLE();
    scheduler s;
    std::atomic<int> finished{0};  // the two tasks may run on two workers at once
    auto a = s.spawn([&] { ++finished; });
    {
        fail_every_allocation failing;
        // A task type of its own: its record is not in the cache.
        CHECK_THROWS_AS((void)s.spawn([&, big = std::array<char, 4096>{}] { finished += big[0] + 100; }),
                        std::bad_alloc);
    }
    auto b = s.spawn([&] { ++finished; });
    s.run();
    CHECK(finished.load() == 2);
}

// fragile is a value whose copy and move throw on demand, and which counts its live objects
// (atomically: tasks on several workers make and destroy them at once).
struct fragile {
    static inline std::atomic<int> alive{0};
    static inline bool copies_throw = false;
    static inline bool moves_throw = false;
    int value;

    explicit fragile(int v) : value(v) { ++alive; }
    fragile(const fragile& other) : value(other.value) {
        if (copies_throw) throw std::runtime_error("fragile copy");
        ++alive;
    }
    fragile(fragile&& other) : value(other.value) {
        if (moves_throw) throw std::runtime_error("fragile move");
        ++alive;
    }
    fragile& operator=(const fragile&) = delete;
    ~fragile() { --alive; }
};

// fragile_scope arms fragile's failures for a scope and checks nothing leaked after it.
struct fragile_scope {
    fragile_scope() noexcept { fragile::alive = 0; }
    ~fragile_scope() {
        fragile::copies_throw = fragile::moves_throw = false;
    }
};

TEST_CASE("exception safety: a task result whose move throws") {
    fragile_scope scope;
    run([] {
        SUBCASE("when the task stores it: the exception is the task's, join rethrows it") {
            auto t = spawn([] {
                fragile::moves_throw = true;
                return fragile(1);
            });
            CHECK_THROWS_WITH_AS(t.join(), "fragile move", std::runtime_error);
            fragile::moves_throw = false;
        }
        SUBCASE("when join takes it: the exception reaches the joiner, a second join is refused") {
            auto u = spawn([] { return fragile(3); });
            while (!u.done()) this_fiber::yield();
            fragile::moves_throw = true;
            CHECK_THROWS_WITH_AS(u.join(), "fragile move", std::runtime_error);
            fragile::moves_throw = false;
            CHECK_THROWS_AS(u.join(), fiber_error);
            // The scheduler goes on.
            CHECK(spawn([] { return fragile(4); }).join().value == 4);
        }
    });
    CHECK(fragile::alive.load() == 0);
}

TEST_CASE("exception safety: gather when moving a result throws") {
    fragile_scope scope;
    // Every task has finished (stored its result) before the moves are made to throw: what
    // throws is gather's or join's taking of the result.
    auto until_done = [](auto&... tasks) {
        while (!(tasks.done() && ...)) this_fiber::yield();
    };
    run([&] {
        SUBCASE("a tuple") {
            auto a = spawn([] { return fragile(1); });
            auto b = spawn([] { return fragile(2); });
            auto c = spawn([] { return 3; });
            until_done(a, b, c);
            fragile::moves_throw = true;
            CHECK_THROWS_WITH_AS(gather(std::move(a), std::move(b), std::move(c)), "fragile move",
                                 std::runtime_error);
        }
        SUBCASE("a vector") {
            std::vector<task<fragile>> tasks;
            for (int i = 0; i < 5; ++i) tasks.push_back(spawn([i] { return fragile(i); }));
            for (task<fragile>& t : tasks) until_done(t);
            fragile::moves_throw = true;
            CHECK_THROWS_WITH_AS(gather(std::move(tasks)), "fragile move", std::runtime_error);
        }
        SUBCASE("copies only (no move): copying throws") {
            struct copy_only : fragile {
                using fragile::fragile;
                copy_only(const copy_only&) = default;
            };
            auto a = spawn([] { return copy_only(5); });
            until_done(a);
            fragile::copies_throw = true;
            CHECK_THROWS_WITH_AS(a.join(), "fragile copy", std::runtime_error);
        }
        fragile::copies_throw = fragile::moves_throw = false;
        // The scheduler goes on.
        CHECK(spawn([] { return fragile(9); }).join().value == 9);
    });
    CHECK(fragile::alive.load() == 0);
}

TEST_CASE("exception safety: spawn of a function whose copy or move throws") {
    fragile_scope scope;
    {
        scheduler s;
        int ran = 0;
        auto body = [&ran, captured = fragile(7)] { ran += captured.value; };
        fragile::copies_throw = true;
        CHECK_THROWS_WITH_AS((void)s.spawn(body), "fragile copy", std::runtime_error);
        fragile::copies_throw = false;
        fragile::moves_throw = true;
        CHECK_THROWS_WITH_AS((void)s.spawn(std::move(body)), "fragile move", std::runtime_error);
        fragile::moves_throw = false;
        auto t = s.spawn(body);
        s.run();
        CHECK(ran == 7);
        CHECK(t.done());
    }
    CHECK(fragile::alive.load() == 0);
}

TEST_CASE("exception safety: spawn refuses a function or result whose destructor may throw") {
    struct throwing_destructor {
        ~throwing_destructor() noexcept(false) {}
    };
    auto returns_it = [] { return throwing_destructor{}; };
    auto holds_it = [held = throwing_destructor{}] {};
    static_assert(!detail::task_function<decltype(returns_it)>);
    static_assert(!detail::task_function<decltype(holds_it)>);
    auto fine = [] { return 1; };
    static_assert(detail::task_function<decltype(fine)>);
}
