// A task, or a generator or fiber inside one, that runs past its stack is named in the overflow
// message by the numbering task::id() and deadlock reports use.

#include "overflow_child.hpp"

#include <spindle/fiber.hpp>
#include <spindle/generator.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <string>

using spindle::fiber;
using spindle::generator;
using spindle::scheduler;
using spindle::scheduler_options;
using spindle::yielder;
using spindle_test::announce;
using spindle_test::recurse_deeply;
using spindle_test::reported_overflow_of;
using spindle_test::run_in_child;

namespace {
// small_stacks gives the tasks stacks that overflow quickly.
const scheduler_options small_stacks{.stack = {.size = 64 * 1024}};

// running_generator() describes the generator whose body is running, as messages do.
std::string running_generator() {
    return "generator (fiber " + std::to_string(fiber::current()->id()) + ")";
}
}  // namespace

TEST_CASE("task overflow: an unnamed task is named by its task::id()") {
    auto result = run_in_child([] {
        scheduler s(small_stacks);
        auto first = s.spawn([] {});
        auto deep = s.spawn([] { recurse_deeply(0); });
        announce("task " + std::to_string(deep.id()));
        s.run();
    });
    INFO(result.err);
    CHECK(result.signal == SIGSEGV);
    CHECK(reported_overflow_of(result));
    CHECK(result.err.find("stack overflow in task 2:") != std::string::npos);
}

TEST_CASE("task overflow: a named task is named as deadlock reports name it") {
    auto result = run_in_child([] {
        scheduler s(small_stacks);
        auto deep = s.spawn("fetch", [] { recurse_deeply(0); });
        announce("task " + std::to_string(deep.id()) + " 'fetch'");
        s.run();
    });
    INFO(result.err);
    CHECK(reported_overflow_of(result));
}

TEST_CASE("task overflow: a generator inside a named task names both") {
    auto result = run_in_child([] {
        scheduler s(small_stacks);
        spindle::task<void>* self = nullptr;
        auto fetch = s.spawn("fetch", [&] {
            generator<int> g(
                [&](yielder<int>&) {
                    announce(running_generator() + " inside task " +
                             std::to_string(self->id()) + " 'fetch'");
                    recurse_deeply(0);
                },
                {.size = 64 * 1024});
            g.next();
        });
        self = &fetch;
        s.run();
    });
    INFO(result.err);
    CHECK(result.signal == SIGSEGV);
    CHECK(reported_overflow_of(result));
}

TEST_CASE("task overflow: a fiber inside a generator inside a task names all three") {
    auto result = run_in_child([] {
        scheduler s(small_stacks);
        auto first = s.spawn([] {});
        auto second = s.spawn([] {
            generator<int> g([](yielder<int>& yield) {
                const std::string outer = running_generator();
                fiber f(
                    [&] {
                        announce("fiber " + std::to_string(fiber::current()->id()) +
                                 " inside " + outer + " inside task 2");
                        recurse_deeply(0);
                    },
                    {.size = 64 * 1024});
                f.resume();
                yield(1);
            });
            g.next();
        });
        s.run();
    });
    INFO(result.err);
    CHECK(reported_overflow_of(result));
}
