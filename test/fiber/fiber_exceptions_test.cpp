// Exception state is kept per fiber: std::current_exception() and std::uncaught_exceptions()
// must not leak between fibers that switch inside catch blocks or during unwinding.

#include "exception_message.hpp"

#include <spindle/fiber.hpp>

#include <doctest/doctest.h>

#include <exception>
#include <stdexcept>
#include <string>

using spindle::fiber;

using spindle_test::current_message;

TEST_CASE("fiber exceptions: switching away inside a catch block keeps each side's exception") {
    std::string inside_before, inside_after;
    fiber f([&] {
        try {
            throw std::runtime_error("fiber's");
        } catch (...) {
            inside_before = current_message();
            fiber::suspend();
            inside_after = current_message();
        }
    });
    f.resume();
    CHECK(inside_before == "fiber's");
    // Out here no exception is being handled, although the fiber sits in its catch block.
    CHECK(std::current_exception() == nullptr);
    try {
        throw std::logic_error("main's");
    } catch (...) {
        f.resume();  // the fiber sees its own exception, not ours
        CHECK(current_message() == "main's");
    }
    CHECK(inside_after == "fiber's");
    CHECK(std::current_exception() == nullptr);
}

namespace {
struct suspends_while_unwinding {
    int* uncaught_inside;
    ~suspends_while_unwinding() {
        *uncaught_inside = std::uncaught_exceptions();
    }
};

struct measures_in_destructor {
    fiber* other;
    int* uncaught_here;
    int* uncaught_after_switch;
    ~measures_in_destructor() {
        *uncaught_here = std::uncaught_exceptions();
        other->resume();  // switch to a fiber with no exception in flight
        *uncaught_after_switch = std::uncaught_exceptions();
    }
};
}  // namespace

TEST_CASE("fiber exceptions: an exception in flight in one fiber is invisible in another") {
    int in_other = -1;
    fiber other([&] {
        in_other = std::uncaught_exceptions();
        fiber::suspend();
    });
    int here = -1, after_switch = -1;
    try {
        measures_in_destructor m{&other, &here, &after_switch};
        throw std::runtime_error("unwinding");
    } catch (const std::runtime_error&) {
    }
    CHECK(here == 1);
    CHECK(in_other == 0);
    CHECK(after_switch == 1);
    CHECK(std::uncaught_exceptions() == 0);
}

TEST_CASE("fiber exceptions: a rethrow inside a fiber after a switch still works") {
    fiber f([] {
        try {
            throw std::runtime_error("kept");
        } catch (...) {
            fiber::suspend();
            throw;  // needs the fiber's own caught-exception stack
        }
    });
    f.resume();
    CHECK_THROWS_WITH_AS(f.resume(), "kept", std::runtime_error);
}

TEST_CASE("fiber exceptions: states come and go on both sides, across nested fibers") {
    // The switch moves exception state only when one side has some in flight; this walks every
    // combination (none/none, fiber only, resumer only, both) in turn, with a fiber nested inside,
    // and checks each side sees exactly its own each time.
    std::string seen_outer;
    fiber inner([&] {
        for (int round = 0;; ++round) {
            if (round % 2 == 0) {
                CHECK(current_message() == "");
                fiber::suspend();
            } else {
                try {
                    throw std::runtime_error("inner " + std::to_string(round));
                } catch (...) {
                    fiber::suspend();
                    CHECK(current_message() == "inner " + std::to_string(round));
                }
            }
        }
    });
    fiber outer([&] {
        for (int round = 0;; ++round) {
            if (round % 3 == 0) {
                inner.resume();
                seen_outer = current_message();
                fiber::suspend();
            } else {
                try {
                    throw std::runtime_error("outer " + std::to_string(round));
                } catch (...) {
                    inner.resume();
                    seen_outer = current_message();
                    fiber::suspend();
                    CHECK(current_message() == "outer " + std::to_string(round));
                }
            }
        }
    });
    for (int round = 0; round < 12; ++round) {
        if (round % 4 < 2) {
            outer.resume();
            CHECK(std::current_exception() == nullptr);
        } else {
            try {
                throw std::logic_error("main " + std::to_string(round));
            } catch (...) {
                outer.resume();
                CHECK(current_message() == "main " + std::to_string(round));
            }
        }
        CHECK(seen_outer == (round % 3 == 0 ? "" : "outer " + std::to_string(round)));
        CHECK(std::uncaught_exceptions() == 0);
    }
    CHECK(std::current_exception() == nullptr);
}
