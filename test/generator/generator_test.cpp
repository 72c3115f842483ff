// generator: Python's protocol (PEP 255, 342) — lazy start, next, send, raise, close, result —
// and the misuse checks.

#include "child_process.hpp"

#include <spindle/generator.hpp>

#include <doctest/doctest.h>

#include <cfenv>
#include <stdexcept>

#include <csignal>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using spindle::fiber;
using spindle::fiber_error;
using spindle::generator;
using spindle::yielder;
using spindle_test::run_in_child;

namespace {

// set_on_destruction sets its flag when destroyed: proof that a frame was unwound.
struct set_on_destruction {
    bool& flag;
    ~set_on_destruction() { flag = true; }
};

}  // namespace

TEST_CASE("generator: nothing runs until the first next(), then it runs to each yield") {
    std::vector<std::string> trace;
    generator<int> g([&](yielder<int>& yield) {
        trace.push_back("start");
        yield(1);
        trace.push_back("after 1");
        yield(2);
        trace.push_back("end");
    });
    CHECK(trace.empty());
    CHECK(!g.done());
    CHECK(g.next() == 1);
    CHECK(trace == std::vector<std::string>{"start"});
    CHECK(g.next() == 2);
    CHECK(trace == std::vector<std::string>{"start", "after 1"});
    CHECK(g.next() == std::nullopt);
    CHECK(trace == std::vector<std::string>{"start", "after 1", "end"});
    CHECK(g.done());
    CHECK(g.next() == std::nullopt);  // exhausted stays exhausted, as StopIteration does
}

TEST_CASE("generator: send() passes a value to the suspended yield; next() passes nullopt") {
    std::vector<std::optional<int>> received;
    generator<int, int> running_total([&](yielder<int, int>& yield) {
        int total = 0;
        for (;;) {
            std::optional<int> sent = yield(total);
            received.push_back(sent);
            total += sent.value_or(0);
        }
    });
    CHECK(running_total.next() == 0);  // primes it: runs to the first yield
    CHECK(running_total.send(5) == 5);
    CHECK(running_total.send(10) == 15);
    CHECK(running_total.next() == 15);
    CHECK(running_total.send(1) == 16);
    CHECK(received == std::vector<std::optional<int>>{5, 10, std::nullopt, 1});
}

TEST_CASE("generator: send() before the first next() throws fiber_error and runs nothing") {
    bool ran = false;
    generator<int, int> g([&](yielder<int, int>& yield) {
        ran = true;
        yield(1);
    });
    CHECK_THROWS_WITH_AS(g.send(3), doctest::Contains("has not started"), fiber_error);
    CHECK(!ran);
    CHECK(!g.done());
    CHECK(g.next() == 1);  // still usable: Python's TypeError leaves the generator fresh too
    CHECK(ran);
}

TEST_CASE("generator: send() to a finished generator returns nullopt") {
    generator<int, int> g([](yielder<int, int>& yield) { yield(1); });
    CHECK(g.next() == 1);
    CHECK(g.next() == std::nullopt);
    CHECK(g.send(2) == std::nullopt);
}

TEST_CASE("generator: send() moves a move-only value into the body") {
    std::unique_ptr<int> got;
    generator<int, std::unique_ptr<int>> g([&](auto& yield) {
        std::optional<std::unique_ptr<int>> sent = yield(0);
        got = std::move(*sent);
    });
    g.next();
    CHECK(g.send(std::make_unique<int>(42)) == std::nullopt);
    REQUIRE(got);
    CHECK(*got == 42);
}

TEST_CASE("generator: raise() throws at the yield; a body that catches it yields again") {
    std::string caught;
    generator<int> g([&](yielder<int>& yield) {
        try {
            yield(1);
        } catch (const std::runtime_error& e) {
            caught = e.what();
            yield(99);
        }
        yield(2);
    });
    CHECK(g.next() == 1);
    CHECK(g.raise(std::runtime_error("boom")) == 99);
    CHECK(caught == "boom");
    CHECK(g.next() == 2);
    CHECK(g.next() == std::nullopt);
}

TEST_CASE("generator: raise() the body does not catch unwinds it and propagates out of raise()") {
    bool unwound = false;
    bool after = false;
    generator<int> g([&](yielder<int>& yield) {
        set_on_destruction guard{unwound};
        yield(1);
        after = true;
    });
    g.next();
    CHECK_THROWS_WITH_AS(g.raise(std::out_of_range("raised")), "raised", std::out_of_range);
    CHECK(unwound);
    CHECK(!after);
    CHECK(g.done());
    CHECK(g.next() == std::nullopt);
}

TEST_CASE("generator: raise() before the first next() never runs the body") {
    bool ran = false;
    auto captured = std::make_shared<int>(0);
    generator<int> g([&ran, captured](yielder<int>& yield) {
        ran = true;
        yield(1);
    });
    CHECK(captured.use_count() == 2);
    CHECK_THROWS_AS(g.raise(std::logic_error("early")), std::logic_error);
    CHECK(!ran);
    CHECK(g.done());
    CHECK(captured.use_count() == 1);  // the body was destroyed, as Python drops the frame
    CHECK(g.next() == std::nullopt);
}

TEST_CASE("generator: raise() on a finished generator throws the exception from raise()") {
    generator<int> g([](yielder<int>&) {});
    CHECK(g.next() == std::nullopt);
    CHECK_THROWS_AS(g.raise(std::runtime_error("late")), std::runtime_error);
}

TEST_CASE("generator: raise() takes an exception_ptr, and refuses an empty one") {
    generator<int> g([](yielder<int>& yield) {
        try {
            yield(1);
        } catch (int code) {
            yield(code);
        }
    });
    g.next();
    CHECK_THROWS_AS(g.raise(std::exception_ptr()), fiber_error);
    CHECK(g.raise(std::make_exception_ptr(7)) == 7);
}

TEST_CASE("generator: close() unwinds the body from its yield and is idempotent") {
    bool unwound = false;
    bool after = false;
    generator<int> g([&](yielder<int>& yield) {
        set_on_destruction guard{unwound};
        yield(1);
        after = true;
        yield(2);
    });
    CHECK(g.next() == 1);
    g.close();
    CHECK(unwound);
    CHECK(!after);
    CHECK(g.done());
    g.close();
    CHECK(g.next() == std::nullopt);
}

TEST_CASE("generator: close() before the first next() marks it done and frees the body") {
    bool ran = false;
    auto captured = std::make_shared<int>(0);
    generator<int> g([&ran, captured](yielder<int>& yield) {
        ran = true;
        yield(1);
    });
    g.close();
    CHECK(g.done());
    CHECK(!ran);
    CHECK(captured.use_count() == 1);
    CHECK(g.next() == std::nullopt);
}

TEST_CASE("generator: close() throws fiber_error when the body ignores it and yields again") {
    int swallowed = 0;
    {
        generator<int> g([&](yielder<int>& yield) {
            try {
                yield(1);
            } catch (...) {
                ++swallowed;
                yield(2);  // Python: "generator ignored GeneratorExit"
            }
        });
        CHECK(g.next() == 1);
        CHECK_THROWS_WITH_AS(g.close(), doctest::Contains("ignored close()"), fiber_error);
        CHECK(swallowed == 1);
        CHECK(!g.done());
    }  // the second unwinding, from the destructor, is not swallowed
    CHECK(swallowed == 1);
}

TEST_CASE("generator: after an ignored close(), next/send/raise resume the body normally") {
    // CPython: after "RuntimeError: generator ignored GeneratorExit" the generator is suspended
    // at the yield inside the except clause, and resumes from there as from any yield.
    std::vector<std::string> trace;
    generator<int, int, int> g([&](yielder<int, int>& yield) {
        try {
            yield(1);
        } catch (...) {
            trace.push_back("ignored");
            std::optional<int> sent = yield(2);  // where close() left it
            trace.push_back(sent ? "sent " + std::to_string(*sent) : "next");
            sent = yield(3);
            trace.push_back(sent ? "sent " + std::to_string(*sent) : "next");
            try {
                yield(4);
            } catch (const std::runtime_error& e) {
                trace.push_back(std::string("caught ") + e.what());
            }
            yield(5);
            return 6;
        }
        return 0;
    });
    CHECK(g.next() == 1);
    CHECK_THROWS_WITH_AS(g.close(), doctest::Contains("ignored close()"), fiber_error);
    CHECK(!g.done());
    CHECK(g.send(10) == 3);
    CHECK(g.next() == 4);
    CHECK(g.raise(std::runtime_error("raised")) == 5);
    CHECK(g.next() == std::nullopt);
    CHECK(g.done());
    CHECK(g.result() == 6);
    CHECK(trace == std::vector<std::string>{"ignored", "sent 10", "next", "caught raised"});
}

TEST_CASE("generator: close() again after an ignored close() unwinds the body again") {
    int caught = 0;
    bool unwound = false;
    generator<int> g([&](yielder<int>& yield) {
        set_on_destruction guard{unwound};
        for (int i = 0;; ++i) {
            try {
                yield(i);
            } catch (...) {
                if (++caught == 2) throw;  // ignores the first close(), takes the second
            }
        }
    });
    CHECK(g.next() == 0);
    CHECK_THROWS_AS(g.close(), fiber_error);
    CHECK(caught == 1);
    CHECK(!unwound);
    CHECK(g.next() == 2);  // resumed after the yield of 1 that ignored close(); then yields 2
    g.close();
    CHECK(caught == 2);
    CHECK(unwound);
    CHECK(g.done());
}

TEST_CASE("generator: a body that swallows close() and returns is done, as Python allows") {
    generator<int, void, int> g([](yielder<int>& yield) {
        try {
            yield(1);
        } catch (...) {
            return -1;
        }
        return 0;
    });
    g.next();
    g.close();
    CHECK(g.done());
    CHECK(g.result() == -1);
}

TEST_CASE("generator: an exception the body throws while closing propagates out of close()") {
    generator<int> g([](yielder<int>& yield) {
        try {
            yield(1);
        } catch (...) {
            throw std::runtime_error("cleanup failed");
        }
    });
    g.next();
    CHECK_THROWS_WITH_AS(g.close(), "cleanup failed", std::runtime_error);
    CHECK(g.done());
}

TEST_CASE("generator: destroying or reassigning a suspended generator closes it") {
    bool first_unwound = false;
    bool second_unwound = false;
    {
        generator<int> g([&](yielder<int>& yield) {
            set_on_destruction guard{first_unwound};
            yield(1);
        });
        g.next();
        g = generator<int>([&](yielder<int>& yield) {
            set_on_destruction guard{second_unwound};
            yield(2);
            yield(3);
        });
        CHECK(first_unwound);
        CHECK(g.next() == 2);
        CHECK(!second_unwound);
    }
    CHECK(second_unwound);
}

TEST_CASE("generator: a moved generator goes on where it was; the moved-from one is done") {
    generator<int> a([](yielder<int>& yield) {
        for (int i = 0; i < 3; ++i) yield(i);
    });
    CHECK(a.next() == 0);
    generator<int> b(std::move(a));
    CHECK(a.done());  // NOLINT(bugprone-use-after-move): a moved-from generator is empty
    CHECK(a.next() == std::nullopt);
    CHECK(b.next() == 1);
    CHECK(b.next() == 2);
    CHECK(b.next() == std::nullopt);
}

TEST_CASE("generator: an exception escaping the body propagates to the consumer; then done") {
    generator<int> g([](yielder<int>& yield) {
        yield(1);
        throw std::runtime_error("body failed");
    });
    CHECK(g.next() == 1);
    CHECK_THROWS_WITH_AS(g.next(), "body failed", std::runtime_error);
    CHECK(g.done());
    CHECK(g.next() == std::nullopt);

    generator<int> at_start([](yielder<int>&) { throw std::invalid_argument("no start"); });
    CHECK_THROWS_AS(at_start.begin(), std::invalid_argument);
    CHECK(at_start.done());
}

TEST_CASE("generator: result() is the body's return value, and fiber_error until it returned") {
    generator<int, void, std::string> g([](yielder<int>& yield) {
        yield(1);
        return std::string("finished");
    });
    CHECK_THROWS_WITH_AS(g.result(), doctest::Contains("has not returned"), fiber_error);
    g.next();
    CHECK_THROWS_AS(g.result(), fiber_error);
    CHECK(g.next() == std::nullopt);
    CHECK(g.result() == "finished");

    generator<int, void, int> failed([](yielder<int>&) -> int { throw std::runtime_error("x"); });
    CHECK_THROWS_AS(failed.next(), std::runtime_error);
    CHECK_THROWS_AS(failed.result(), fiber_error);

    generator<int, void, std::unique_ptr<int>> move_only(
        [](yielder<int>&) { return std::make_unique<int>(5); });
    move_only.next();
    std::unique_ptr<int> taken = std::move(move_only.result());
    CHECK(*taken == 5);
}

TEST_CASE("generator: resuming a generator from inside itself throws fiber_error") {
    generator<int>* self = nullptr;
    std::vector<std::string> messages;
    generator<int> g([&](yielder<int>& yield) {
        yield(1);
        try {
            self->next();
        } catch (const fiber_error& e) {
            messages.push_back(e.what());
        }
        try {
            self->close();
        } catch (const fiber_error& e) {
            messages.push_back(e.what());
        }
        try {
            self->raise(std::runtime_error("x"));
        } catch (const fiber_error& e) {
            messages.push_back(e.what());
        }
        yield(2);
        self->next();  // uncaught: propagates to the consumer
    });
    self = &g;
    CHECK(g.next() == 1);
    CHECK(g.next() == 2);
    REQUIRE(messages.size() == 3);
    for (const std::string& message : messages) CHECK(message.find("inside itself") != std::string::npos);
    CHECK_THROWS_WITH_AS(g.next(), doctest::Contains("inside itself"), fiber_error);
    CHECK(g.done());
}

TEST_CASE("generator: resuming a generator that is running further up the chain throws") {
    generator<int>* outer_self = nullptr;
    generator<int> outer([&](yielder<int>& yield) {
        generator<int> inner([&](yielder<int>& inner_yield) {
            inner_yield(10);
            outer_self->next();  // the outer generator is running: it resumed us
        });
        yield(*inner.next());
        inner.next();
    });
    outer_self = &outer;
    CHECK(outer.next() == 10);
    CHECK_THROWS_WITH_AS(outer.next(), doctest::Contains("inside itself"), fiber_error);
}

TEST_CASE("generator: a yielder called outside its own body throws fiber_error") {
    yielder<int>* leaked = nullptr;
    generator<int> outer([&](yielder<int>& yield) {
        leaked = &yield;
        yield(1);
        generator<int> inner([&](yielder<int>& inner_yield) {
            yield(2);  // the outer yielder, from the inner generator's fiber
            inner_yield(3);
        });
        inner.next();
    });
    CHECK(outer.next() == 1);
    REQUIRE(leaked);
    CHECK_THROWS_WITH_AS((*leaked)(5), doctest::Contains("outside its generator"), fiber_error);
    CHECK_THROWS_WITH_AS(outer.next(), doctest::Contains("outside its generator"), fiber_error);
}

TEST_CASE("generator: a body that calls fiber::suspend() itself is reported") {
    generator<int> g([](yielder<int>& yield) {
        yield(1);
        fiber::suspend();
    });
    CHECK(g.next() == 1);
    CHECK_THROWS_WITH_AS(g.next(), doctest::Contains("without yielding"), fiber_error);
}

TEST_CASE("generator: Y = void yields no value; next/send/raise say whether it suspended") {
    std::vector<int> received;
    generator<void, int> g([&](yielder<void, int>& yield) {
        received.push_back(yield().value_or(-1));
        received.push_back(yield().value_or(-1));
        try {
            yield();
        } catch (int code) {
            received.push_back(code);
        }
    });
    CHECK(g.next() == true);
    CHECK(g.send(4) == true);
    CHECK(g.next() == true);
    CHECK(g.raise(9) == false);
    CHECK(received == std::vector<int>{4, -1, 9});
    CHECK(g.done());
}

TEST_CASE("generator: next() moves a move-only yielded object out") {
    generator<std::unique_ptr<int>> g([](auto& yield) {
        yield(std::make_unique<int>(1));
        auto kept = std::make_unique<int>(2);
        yield(std::move(kept));
        CHECK(kept == nullptr);  // the consumer took it
    });
    std::optional<std::unique_ptr<int>> first = g.next();
    REQUIRE(first);
    CHECK(**first == 1);
    std::optional<std::unique_ptr<int>> second = g.next();
    REQUIRE(second);
    CHECK(**second == 2);
    CHECK(g.next() == std::nullopt);
}

TEST_CASE("generator: with a reference Y, next() copies and the body's object is untouched") {
    std::string kept = "kept";
    generator<std::string&> g([&](yielder<std::string&>& yield) { yield(kept); });
    CHECK(g.next() == "kept");
    CHECK(kept == "kept");
}

template <class G>
concept can_send = requires(G& g) { g.send(1); };
template <class G>
concept has_result = requires(G& g) { g.result(); };
template <class G>
concept iterable = requires(G& g) { g.begin(); };
template <class Y>
concept yields_a_value = requires(Y& y) { y(1); };
template <class Y>
concept yields_nothing = requires(Y& y) { y(); };

TEST_CASE("generator: members are constrained away where the parameters rule them out") {
    static_assert(!can_send<generator<int>>);
    static_assert(can_send<generator<int, int>>);
    static_assert(!has_result<generator<int>>);
    static_assert(has_result<generator<int, void, int>>);
    static_assert(std::same_as<decltype(std::declval<generator<int, void, int>&>().result()), int&>);
    static_assert(!iterable<generator<void>>);
    static_assert(iterable<generator<int>>);
    static_assert(std::same_as<decltype(std::declval<generator<void>&>().next()), bool>);
    static_assert(std::same_as<decltype(std::declval<generator<int>&>().next()), std::optional<int>>);
    static_assert(!yields_a_value<yielder<void>>);
    static_assert(yields_nothing<yielder<void>>);
    static_assert(!yields_nothing<yielder<int>>);
    static_assert(yields_a_value<yielder<int>>);
    static_assert(std::same_as<decltype(std::declval<yielder<int, long>&>()(1)), std::optional<long>>);
    static_assert(std::same_as<decltype(std::declval<yielder<int>&>()(1)), void>);
    static_assert(!std::is_copy_constructible_v<generator<int>>);
    static_assert(std::is_nothrow_move_constructible_v<generator<int>>);
    static_assert(std::is_nothrow_move_assignable_v<generator<int>>);
    static_assert(!std::is_constructible_v<generator<int>, generator<int>&>);
}

TEST_CASE("generator: destroying a generator that ignores close() stops the process") {
    auto outcome = run_in_child([] {
        generator<int> g([](yielder<int>& yield) {
            for (;;) {
                try {
                    yield(1);
                } catch (...) {
                }
            }
        });
        g.next();
    });
    CHECK(outcome.signalled);
    CHECK(outcome.signal == SIGABRT);
    CHECK(outcome.err.find("ignored close()") != std::string::npos);
}

TEST_CASE("generator: an exception while closing a destroyed generator is reported, not thrown") {
    auto outcome = run_in_child([] {
        generator<int> g([](yielder<int>& yield) {
            try {
                yield(1);
            } catch (...) {
                throw std::runtime_error("cleanup failed");
            }
        });
        g.next();
    });
    CHECK(outcome.exited);
    CHECK(outcome.exit_code == 0);
    CHECK(outcome.err.find("exception ignored") != std::string::npos);
    CHECK(outcome.err.find("cleanup failed") != std::string::npos);
}

TEST_CASE("generator: absurd stack sizes are refused with fiber_error, not a crash") {
    for (std::size_t size : {std::size_t{0}, SIZE_MAX, SIZE_MAX / 2, spindle::maximum_stack_size + 1}) {
        CAPTURE(size);
        CHECK_THROWS_AS(generator<int>([](yielder<int>&) {}, {.size = size}), fiber_error);
    }
    generator<int> g([](yielder<int>& yield) { yield(1); });
    CHECK(g.next() == 1);
}

TEST_CASE("generator: fp_control::own gives the body its own rounding mode across yields") {
    REQUIRE(std::fegetround() == FE_TONEAREST);
    spindle::generator<int> modes(
        [](spindle::yielder<int>& yield) {
            std::fesetround(FE_UPWARD);
            yield(std::fegetround());
            yield(std::fegetround());  // still its own, whatever the consumer set meanwhile
            throw std::runtime_error("done");  // and the consumer's state comes back
        },
        {}, spindle::fp_control::own);
    CHECK(modes.next() == FE_UPWARD);
    CHECK(std::fegetround() == FE_TONEAREST);
    std::fesetround(FE_DOWNWARD);
    CHECK(modes.next() == FE_UPWARD);
    CHECK(std::fegetround() == FE_DOWNWARD);
    CHECK_THROWS_AS(modes.next(), std::runtime_error);
    CHECK(std::fegetround() == FE_DOWNWARD);
    std::fesetround(FE_TONEAREST);
}

TEST_CASE("generator: raise() and close() reach a body parked in a nested yield, once each") {
    // The yield tests one request word for both; each request is honoured once and cleared.
    int caught = 0;
    int unwound = 0;
    spindle::generator<int> g([&](spindle::yielder<int>& yield) {
        struct on_unwind {
            int& count;
            ~on_unwind() { ++count; }
        } guard{unwound};
        for (int i = 0;; ++i) {
            try {
                yield(i);
            } catch (const std::logic_error&) {
                ++caught;
            }
        }
    });
    CHECK(g.next() == 0);
    CHECK(g.raise(std::logic_error("once")) == 1);
    CHECK(g.next() == 2);  // the raise request was spent
    CHECK(caught == 1);
    g.close();
    CHECK(g.done());
    CHECK(unwound == 1);
}

TEST_CASE("generator: a yield inside a catch block keeps each side's exception") {
    // The inline resume and yield move exception state only when the thread has some: here the
    // body has some at every other yield and the consumer at every third resume.
    auto message = [] {
        try {
            if (auto e = std::current_exception()) std::rethrow_exception(e);
        } catch (const std::exception& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    spindle::generator<std::string> g([&](spindle::yielder<std::string>& yield) {
        for (int i = 0;; ++i) {
            if (i % 2 == 0) {
                yield(message());
            } else {
                try {
                    throw std::runtime_error("body " + std::to_string(i));
                } catch (...) {
                    yield(message());
                    CHECK(message() == "body " + std::to_string(i));
                }
            }
        }
    });
    for (int i = 0; i < 12; ++i) {
        const std::string expected = i % 2 == 0 ? "" : "body " + std::to_string(i);
        if (i % 3 == 0) {
            try {
                throw std::logic_error("consumer " + std::to_string(i));
            } catch (...) {
                CHECK(g.next() == expected);
                CHECK(message() == "consumer " + std::to_string(i));
            }
        } else {
            CHECK(g.next() == expected);
            CHECK(std::current_exception() == nullptr);
        }
    }
    CHECK(std::uncaught_exceptions() == 0);
}
