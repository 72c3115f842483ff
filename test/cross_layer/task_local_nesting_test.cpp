// task_local inside generators: a generator running within a task is part of the task and sees
// its values; one driven outside any task sees the thread's.

#include <spindle/channel.hpp>
#include <spindle/generator.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/task_local.hpp>

#include <doctest/doctest.h>

#include <string_view>
#include <thread>
#include <vector>

using spindle::generator;
using spindle::task_local;
using spindle::yielder;

namespace {

// A string_view, not a std::string: g++ 12 warns (-Wrestrict, wrongly) on assigning a literal
// to a std::string reached through a reference it cannot see the origin of.
task_local<std::string_view> label([] { return std::string_view("unset"); });

// labels() yields the label of whoever drives it, twice, setting it in between.
generator<std::string_view> labels(std::string_view set_to) {
    return generator<std::string_view>([set_to](yielder<std::string_view>& yield) {
        yield(*label);
        *label = set_to;
        yield(*label);
    });
}

}  // namespace

TEST_CASE("task_local: a generator running inside a task sees that task's value") {
    std::vector<std::string_view> seen_a, seen_b;
    spindle::run([&] {
        spindle::channel<int> turn;  // makes the two tasks alternate inside their generators
        auto a = spindle::spawn([&] {
            *label = "a";
            for (std::string_view s : labels("a from generator")) {
                seen_a.push_back(s);
                turn.send(0);
            }
            seen_a.push_back(*label);
        });
        auto b = spindle::spawn([&] {
            *label = "b";
            auto g = labels("b from generator");
            while (auto s = g.next()) {
                seen_b.push_back(*s);
                (void)turn.receive();
            }
            seen_b.push_back(*label);
        });
        a.join();
        b.join();
        CHECK(*label == "unset");  // main's own
    });
    CHECK(seen_a == std::vector<std::string_view>{"a", "a from generator", "a from generator"});
    CHECK(seen_b == std::vector<std::string_view>{"b", "b from generator", "b from generator"});
}

TEST_CASE("task_local: a generator that waits inside a task keeps the task's value") {
    std::vector<std::string_view> seen;
    spindle::run([&] {
        *label = "waiter";
        generator<std::string_view> g([](yielder<std::string_view>& yield) {
            spindle::this_fiber::yield();  // suspends the whole task, from inside the generator
            yield(*label);
        });
        auto other = spindle::spawn([] { *label = "other"; });
        seen.push_back(*g.next());
        other.join();
    });
    CHECK(seen == std::vector<std::string_view>{"waiter"});
}

TEST_CASE("task_local: a generator driven outside any task sees the thread's value") {
    std::vector<std::string_view> seen;
    std::thread worker([&] {
        *label = "thread";
        for (std::string_view s : labels("thread from generator")) seen.push_back(s);
        seen.push_back(*label);
    });
    worker.join();
    CHECK(seen ==
          std::vector<std::string_view>{"thread", "thread from generator", "thread from generator"});
}
