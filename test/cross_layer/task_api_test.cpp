// The task API around spawn and join: this_task, spawn(fn, args...), wait_for/join_for, detach,
// run_until_complete, and run() cancelling what is left when main ends.

#include "workers.hpp"

#include <spindle/channel.hpp>
#include <spindle/generator.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace spindle;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST_CASE("this_task: id and name inside a task, inside a generator in it, and outside") {
    CHECK(this_task::id() == 0);
    CHECK(this_task::name().empty());
    run([&] {
        CHECK(this_task::name() == "main");
        auto t = spawn("worker", [] {
            generator<std::string> g([](yielder<std::string>& yield) {
                yield(std::string(this_task::name()) + "#" + std::to_string(this_task::id()));
            });
            return *g.next();
        });
        const std::uint64_t id = t.id();
        CHECK(t.join() == "worker#" + std::to_string(id));
        auto unnamed = spawn([] { return std::string(this_task::name()); });
        CHECK(unnamed.join().empty());
    });
}

TEST_CASE("spawn(fn, args...): copies made at spawn, passed as rvalues, std::ref for references") {
    run([&] {
        std::string text = "abc";
        auto copied = spawn([](std::string s, int n) { return s + std::to_string(n); }, text, 4);
        text = "changed";
        CHECK(copied.join() == "abc4");

        auto owned = spawn([](std::unique_ptr<int> p) { return *p * 2; },
                           std::make_unique<int>(21));
        CHECK(owned.join() == 42);

        int counter = 0;
        auto referenced = spawn([](int& c, int by) { c += by; }, std::ref(counter), 5);
        referenced.join();
        CHECK(counter == 5);
    });
    scheduler s;
    int out = 0;
    auto t = s.spawn([&out](int a, int b) { out = a + b; }, 2, 3);
    s.run();
    t.join();
    CHECK(out == 5);
}

TEST_CASE("task: wait_for and join_for time out without taking the result, join takes it later") {
    run([&] {
        channel<int> go(0);
        auto t = spawn([&] { return *go.receive() + 1; });
        CHECK(!t.wait_for(2ms));
        CHECK(t.join_for(1ms) == std::nullopt);
        go.send(9);
        CHECK(t.wait_for(1h));
        CHECK(t.join_for(1h) == std::optional<int>(10));
        CHECK_THROWS_AS(t.join(), fiber_error);  // taken already

        auto v = spawn([] { this_fiber::sleep_for(1h); });
        CHECK(!v.join_for(1ms));
        v.cancel();
        CHECK_THROWS_AS(v.join_for(1h), cancelled);
    });
}

// (Another worker may have started it by then.)
TEST_CASE("task: wait_for a task not started yet runs it on the spot" *
          spindle_test::single_worker()) {
    run([&] {
        bool ran = false;
        auto t = spawn([&] { ran = true; });
        CHECK(t.wait_for(0s));
        CHECK(ran);
        t.join();
    });
}

TEST_CASE("task: detach() empties the handle and the task runs on") {
    scheduler s;
    bool ran = false;
    auto t = s.spawn([&] { ran = true; });
    t.detach();
    CHECK(t.done());
    CHECK(t.id() == 0);
    s.run();
    CHECK(ran);
}

TEST_CASE("run: tasks still pending when main returns are cancelled and unwound") {
    int beats = 0;
    bool unwound = false;
    const int result = run([&] {
        spawn("heartbeat", [&] {
            struct on_exit {
                bool& flag;
                ~on_exit() { flag = true; }
            } guard{unwound};
            for (;;) {
                ++beats;
                this_fiber::sleep_for(1ms);
            }
        }).detach();
        this_fiber::sleep_for(3ms);
        return 42;
    });
    CHECK(result == 42);
    CHECK(beats >= 1);
    CHECK(unwound);
}

TEST_CASE("run: main's exception comes back although a heartbeat never ends") {
    bool unwound = false;
    CHECK_THROWS_WITH_AS(run([&] {
                             spawn([&] {
                                 struct on_exit {
                                     bool& flag;
                                     ~on_exit() { flag = true; }
                                 } guard{unwound};
                                 for (;;) this_fiber::sleep_for(1ms);
                             }).detach();
                             this_fiber::yield();
                             throw std::runtime_error("main failed");
                         }),
                         "main failed", std::runtime_error);
    CHECK(unwound);
}

TEST_CASE("scheduler: run_until_complete stops at the task; the rest go on in run()") {
    scheduler s;
    std::vector<int> order;
    auto slow = s.spawn([&] {
        this_fiber::sleep_for(5ms);
        order.push_back(2);
    });
    auto fast = s.spawn([&] { order.push_back(1); });
    s.run_until_complete(fast);
    CHECK(order == std::vector<int>{1});
    CHECK(!slow.done());
    s.run();
    CHECK(order == std::vector<int>{1, 2});
    fast.join();
    slow.join();

    task<void> empty;
    CHECK_THROWS_AS(s.run_until_complete(empty), fiber_error);
    scheduler other;
    auto foreign = other.spawn([] {});
    CHECK_THROWS_AS(s.run_until_complete(foreign), fiber_error);
    other.run();
}

TEST_CASE("scheduler: cancel_pending from inside a task is fiber_error") {
    scheduler s;
    s.spawn([&] { CHECK_THROWS_AS(s.cancel_pending(), fiber_error); }).detach();
    s.run();
}
