// A generator whose body runs past its stack is named as a generator in the overflow message,
// with the fibers it runs inside, on whichever thread it runs.

#include "overflow_child.hpp"

#include <spindle/fiber.hpp>
#include <spindle/generator.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <optional>
#include <string>
#include <thread>

using spindle::fiber;
using spindle::generator;
using spindle::yielder;
using spindle_test::announce;
using spindle_test::recurse_deeply;
using spindle_test::reported_overflow_of;
using spindle_test::run_in_child;

namespace {
// running_generator() describes the generator whose body is running, as messages do.
std::string running_generator() {
    return "generator (fiber " + std::to_string(fiber::current()->id()) + ")";
}
}  // namespace

TEST_CASE("generator overflow: the message says it is a generator") {
    auto result = run_in_child([] {
        generator<int> g(
            [](yielder<int>&) {
                announce(running_generator());
                recurse_deeply(0);
            },
            {.size = 64 * 1024});
        g.next();
    });
    INFO(result.err);
    CHECK(result.signal == SIGSEGV);
    CHECK(reported_overflow_of(result));
}

TEST_CASE("generator overflow: a generator inside a generator names both") {
    auto result = run_in_child([] {
        generator<int> outer([](yielder<int>& yield) {
            const std::string outer_name = running_generator();
            generator<int> inner(
                [&](yielder<int>&) {
                    announce(running_generator() + " inside " + outer_name);
                    recurse_deeply(0);
                },
                {.size = 64 * 1024});
            yield(*inner.next());
        });
        outer.next();
    });
    INFO(result.err);
    CHECK(reported_overflow_of(result));
}

TEST_CASE("generator overflow: a generator resumed on a thread other than its creator's") {
    auto result = run_in_child([] {
        std::optional<generator<int>> g;
        std::thread([&] {
            g.emplace(
                [](yielder<int>& yield) {
                    yield(1);
                    fiber::current()->set_name("wanderer");
                    announce("generator 'wanderer' (fiber " +
                             std::to_string(fiber::current()->id()) + ")");
                    recurse_deeply(0);
                },
                spindle::stack_options{.size = 64 * 1024});
            g->next();
        }).join();
        std::thread([&] { g->next(); }).join();
    });
    INFO(result.err);
    CHECK(result.signal == SIGSEGV);
    CHECK(reported_overflow_of(result));
}
