// A generator consumed from one thread after another: each yield finds the thread it runs on
// afresh (spindle/detail/thread_locals.hpp), so the misuse check that the yielder runs in its own
// body, and the consumer's state, hold on every thread.

#include "on_new_thread.hpp"

#include <spindle/generator.hpp>

#include <doctest/doctest.h>

#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using spindle::generator;
using spindle::yielder;

using spindle_test::on_new_thread;

TEST_CASE("generator migration: values come in order whichever thread asks for each") {
    constexpr int count = 8;
    generator<int> numbers([](yielder<int>& yield) {
        for (int i = 0; i < count; ++i) yield(i);
    });
    std::vector<int> got;
    for (int i = 0; i < count; ++i)
        on_new_thread([&] {
            if (std::optional<int> value = numbers.next()) got.push_back(*value);
        });
    CHECK_FALSE(numbers.next().has_value());
    CHECK(numbers.done());
    REQUIRE(got.size() == count);
    for (int i = 0; i < count; ++i) CHECK(got[i] == i);
}

TEST_CASE("generator migration: values sent and exceptions raised from different threads") {
    generator<int, int> total([](yielder<int, int>& yield) {
        int sum = 0;
        for (;;) {
            try {
                std::optional<int> sent = yield(sum);
                if (!sent) break;
                sum += *sent;
            } catch (const std::runtime_error&) {
                sum = -sum;
            }
        }
    });
    on_new_thread([&] { CHECK(total.next() == std::optional<int>(0)); });
    on_new_thread([&] { CHECK(total.send(5) == std::optional<int>(5)); });
    on_new_thread([&] {
        CHECK(total.raise(std::make_exception_ptr(std::runtime_error("flip"))) ==
              std::optional<int>(-5));
    });
    on_new_thread([&] { CHECK(total.send(2) == std::optional<int>(-3)); });
    CHECK_FALSE(total.next().has_value());
    CHECK(total.done());
}
