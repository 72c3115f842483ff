// Generators driven from scheduler tasks: a task can park inside a generator's body (waiting
// on a channel or a timer from there), and another task can reach the same generator meanwhile.

#include "parked.hpp"
#include "workers.hpp"

#include <spindle/channel.hpp>
#include <spindle/generator.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using spindle::channel;
using spindle::fiber_error;
using spindle::generator;
using spindle::run;
using spindle::spawn;
using spindle::yielder;
namespace this_fiber = spindle::this_fiber;
using namespace std::chrono_literals;

// (With several workers a generator's body may run on one thread while another task reads its
// state on another, and the refusal is then a best effort (threads.md, "What user code may
// assume"); here "other" touches the generator only once "main" is counted in its wait, parked
// inside the body, so the refusal is certain on any number of workers.)
TEST_CASE("generator tasks: a task parked inside a generator's body makes it running elsewhere") {
    // Task "main" parks inside the body (a channel receive); task "other" then resumes,
    // raises into and closes the same generator. Python: "generator already executing"; the
    // message must not claim the generator was resumed from inside itself.
    std::vector<std::string> messages;
    spindle::run([&] {
        spindle::channel<int> wake;
        generator<int> g([&](yielder<int>& yield) {
            yield(1);
            std::optional<int> v = wake.receive();  // parks the task that resumed the generator
            yield(*v);
        });
        CHECK(g.next() == 1);
        auto other = spindle::spawn("other", [&] {
            auto record = [&](auto&& attempt) {
                try {
                    attempt();
                    messages.push_back("no error");
                } catch (const fiber_error& e) {
                    messages.push_back(e.what());
                }
            };
            CHECK(spindle_test::until_waiting(1));  // main, parked inside the body
            record([&] { g.next(); });
            record([&] { g.raise(std::runtime_error("x")); });
            record([&] { g.close(); });
            wake.send(2);
        });
        CHECK(g.next() == 2);  // main parks inside the body until "other" sends
        other.join();
        CHECK(g.next() == std::nullopt);
    });
    REQUIRE(messages.size() == 3);
    for (const std::string& message : messages) {
        CHECK(message.find("already running in another task") != std::string::npos);
        CHECK(message.find("inside itself") == std::string::npos);
    }
}

// (With several workers the refusal is certain only while the body's task is parked (see
// above): the body sleeps until cancelled, and "other" tries once the sleeper is counted in its
// wait.)
TEST_CASE("generator tasks: a task parked in sleep_for inside a generator; another resumes it") {
    std::string message;
    spindle::run([&] {
        generator<int> g([&](yielder<int>& yield) {
            try {
                spindle::this_fiber::sleep_for(std::chrono::hours(1));
            } catch (const spindle::cancelled&) {
                // The sleep's end: the body goes on.
            }
            yield(1);
        });
        auto sleeper = spindle::spawn([&] { return g.next(); });
        REQUIRE(spindle_test::until_waiting(1));  // parked in the sleep, inside the body
        auto other = spindle::spawn([&] {
            try {
                g.next();
            } catch (const fiber_error& e) {
                message = e.what();
            }
        });
        other.join();
        sleeper.cancel();
        CHECK(sleeper.join() == std::optional<int>(1));
    });
    CHECK(message.find("already running in another task") != std::string::npos);
}

// (With several workers the nested scheduler's task may run on another thread, and is told that
// the generator runs elsewhere.)
TEST_CASE("generator tasks: a task resuming a generator it runs inside is told 'inside itself'" *
          spindle_test::single_worker()) {
    // The chain of resumes crosses a nested scheduler: the generator's body calls run(), and a
    // task of that scheduler resumes the generator.
    std::string message;
    generator<int>* self = nullptr;
    generator<int> g([&](yielder<int>& yield) {
        spindle::run([&] {
            try {
                self->next();
            } catch (const fiber_error& e) {
                message = e.what();
            }
        });
        yield(1);
    });
    self = &g;
    CHECK(g.next() == 1);
    CHECK(message.find("inside itself") != std::string::npos);
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
