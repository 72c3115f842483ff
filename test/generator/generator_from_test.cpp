// generator: yielder::from, Python's `yield from` (PEP 380), for generators and plain ranges.

#include <spindle/generator.hpp>

#include <doctest/doctest.h>

#include <list>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

using spindle::fiber_error;
using spindle::generator;
using spindle::yielder;

namespace {

struct set_on_destruction {
    bool& flag;
    ~set_on_destruction() { flag = true; }
};

generator<int, void, std::string> count_to(int n) {
    return generator<int, void, std::string>([n](yielder<int>& yield) {
        for (int i = 1; i <= n; ++i) yield(i);
        return "counted to " + std::to_string(n);
    });
}

template <class Y, class S, class R>
std::vector<Y> drain(generator<Y, S, R>& g) {
    std::vector<Y> values;
    while (std::optional<Y> v = g.next()) values.push_back(*v);
    return values;
}

}  // namespace

TEST_CASE("generator from: yields every element of a sub-generator and returns its result") {
    std::string sub_result;
    generator<int> g([&](yielder<int>& yield) {
        yield(0);
        sub_result = yield.from(count_to(3));
        yield(4);
    });
    CHECK(drain(g) == std::vector<int>{0, 1, 2, 3, 4});
    CHECK(sub_result == "counted to 3");
}

TEST_CASE("generator from: an lvalue sub-generator goes on from where it is, keeping its result") {
    auto sub = count_to(4);
    CHECK(sub.next() == 1);
    generator<int> g([&](yielder<int>& yield) {
        std::string r = yield.from(sub);
        CHECK(r == "counted to 4");
    });
    CHECK(drain(g) == std::vector<int>{2, 3, 4});
    CHECK(sub.done());
    CHECK(sub.result() == "counted to 4");  // copied, not taken, from an lvalue
}

TEST_CASE("generator from: a finished sub-generator yields nothing and gives its result") {
    auto sub = count_to(1);
    sub.next();
    sub.next();
    REQUIRE(sub.done());
    generator<int, void, std::string> g([&](yielder<int>& yield) { return yield.from(sub); });
    CHECK(g.next() == std::nullopt);
    CHECK(g.result() == "counted to 1");
}

TEST_CASE("generator from: a finished sub-generator without a result throws fiber_error") {
    // CPython evaluates `yield from` of a finished generator to None; spindle's results are
    // typed, so from() gives the result it has, and refuses when there is none.
    auto closed = count_to(3);
    closed.next();
    closed.close();
    auto failed = generator<int, void, std::string>([](yielder<int>& yield) -> std::string {
        yield(1);
        throw std::runtime_error("sub failed");
    });
    failed.next();
    CHECK_THROWS_AS(failed.next(), std::runtime_error);
    for (auto* sub : {&closed, &failed}) {
        REQUIRE(sub->done());
        bool reached_end = false;
        generator<int, void, std::string> g([&](yielder<int>& yield) {
            std::string r = yield.from(*sub);
            reached_end = true;
            return r;
        });
        CHECK_THROWS_WITH_AS(g.next(), doctest::Contains("has not returned"), fiber_error);
        CHECK(!reached_end);
        CHECK(g.done());
    }
}

TEST_CASE("generator from: a finished sub-generator closed after it returned gives that result") {
    auto sub = generator<int, void, int>([](yielder<int>& yield) {
        try {
            yield(1);
        } catch (...) {
            return 7;  // swallows close() and returns: the result Python 3.13's close() returns
        }
        return 0;
    });
    sub.next();
    sub.close();
    generator<int, void, int> g([&](yielder<int>& yield) { return yield.from(sub); });
    CHECK(g.next() == std::nullopt);
    CHECK(g.result() == 7);
}

TEST_CASE("generator from: a finished sub-generator with R = void gives nothing, however it ended") {
    generator<int> returned([](yielder<int>& yield) { yield(1); });
    drain(returned);
    generator<int> closed([](yielder<int>& yield) { yield(1); });
    closed.next();
    closed.close();
    generator<int> failed([](yielder<int>& yield) {
        yield(1);
        throw std::runtime_error("sub failed");
    });
    failed.next();
    CHECK_THROWS_AS(failed.next(), std::runtime_error);
    for (auto* sub : {&returned, &closed, &failed}) {
        REQUIRE(sub->done());
        generator<int> g([&](yielder<int>& yield) {
            yield(0);
            yield.from(*sub);  // yields nothing, returns at once
            yield(2);
        });
        CHECK(drain(g) == std::vector<int>{0, 2});
    }
}

TEST_CASE("generator from: results pass up a chain of delegations") {
    auto level = [](auto inner) {
        return generator<int, void, int>([inner = std::move(inner)](yielder<int>& yield) mutable {
            return yield.from(inner) + 1;
        });
    };
    generator<int, void, int> bottom([](yielder<int>& yield) {
        yield(7);
        return 0;
    });
    auto top = level(level(level(std::move(bottom))));
    CHECK(top.next() == 7);
    CHECK(top.next() == std::nullopt);
    CHECK(top.result() == 3);
}

TEST_CASE("generator from: send() reaches the sub-generator's yield") {
    std::vector<std::optional<int>> sub_received;
    generator<int, int, int> sub([&](yielder<int, int>& yield) {
        int total = 0;
        while (std::optional<int> sent = yield(total)) {
            sub_received.push_back(sent);
            total += *sent;
        }
        return total;
    });
    int sub_total = -1;
    generator<int, int> outer([&](yielder<int, int>& yield) {
        sub_total = yield.from(sub);
        yield(-1);
    });
    CHECK(outer.next() == 0);
    CHECK(outer.send(2) == 2);
    CHECK(outer.send(3) == 5);
    CHECK(outer.next() == -1);  // next() sends nothing: the sub-generator returns
    CHECK(sub_total == 5);
    CHECK(sub_received == std::vector<std::optional<int>>{2, 3});
}

TEST_CASE("generator from: raise() is thrown at the sub-generator's yield") {
    std::string sub_caught;
    generator<int> sub([&](yielder<int>& yield) {
        try {
            yield(1);
        } catch (const std::runtime_error& e) {
            sub_caught = e.what();
            yield(2);
        }
        yield(3);
    });
    generator<int> outer([&](yielder<int>& yield) { yield.from(sub); });
    CHECK(outer.next() == 1);
    CHECK(outer.raise(std::runtime_error("into sub")) == 2);
    CHECK(sub_caught == "into sub");
    CHECK(outer.next() == 3);
    CHECK(outer.next() == std::nullopt);
}

TEST_CASE("generator from: an exception the sub-generator does not catch reaches the delegator") {
    bool sub_unwound = false;
    std::string outer_caught;
    generator<int> outer([&](yielder<int>& yield) {
        try {
            yield.from(generator<int>([&](yielder<int>& sub_yield) {
                set_on_destruction guard{sub_unwound};
                sub_yield(1);
            }));
        } catch (const std::logic_error& e) {
            outer_caught = e.what();
        }
        yield(2);
    });
    CHECK(outer.next() == 1);
    CHECK(outer.raise(std::logic_error("passed through")) == 2);
    CHECK(sub_unwound);
    CHECK(outer_caught == "passed through");
}

TEST_CASE("generator from: close() closes the sub-generator first, then the delegator") {
    std::vector<std::string> unwound;
    struct record_on_destruction {
        std::vector<std::string>& log;
        std::string name;
        ~record_on_destruction() { log.push_back(name); }
    };
    generator<int> sub([&](yielder<int>& yield) {
        record_on_destruction guard{unwound, "sub"};
        yield(1);
        yield(2);
    });
    generator<int> outer([&](yielder<int>& yield) {
        record_on_destruction guard{unwound, "outer"};
        yield.from(sub);
    });
    CHECK(outer.next() == 1);
    outer.close();
    CHECK(sub.done());  // closed though the delegator does not own it
    CHECK(outer.done());
    CHECK(unwound == std::vector<std::string>{"sub", "outer"});
}

TEST_CASE("generator from: a sub-generator that ignores close() makes the delegator's close() throw") {
    generator<int> sub([](yielder<int>& yield) {
        try {
            yield(1);
        } catch (...) {
            yield(2);
        }
    });
    generator<int> outer([&](yielder<int>& yield) { yield.from(sub); });
    CHECK(outer.next() == 1);
    CHECK_THROWS_WITH_AS(outer.close(), doctest::Contains("ignored close()"), fiber_error);
    CHECK(outer.done());  // the error ended the delegator, as Python's RuntimeError does
}

TEST_CASE("generator from: converts what the sub-generator yields to the delegator's type") {
    generator<long> g([](yielder<long>& yield) {
        yield.from(generator<int>([](yielder<int>& sub_yield) {
            sub_yield(1);
            sub_yield(2);
        }));
    });
    CHECK(drain(g) == std::vector<long>{1, 2});
}

TEST_CASE("generator from: void generators delegate to void generators") {
    int steps = 0;
    generator<void> g([&](yielder<void>& yield) {
        yield();
        yield.from(generator<void>([&](yielder<void>& sub_yield) {
            ++steps;
            sub_yield();
            ++steps;
            sub_yield();
        }));
    });
    int suspensions = 0;
    while (g.next()) ++suspensions;
    CHECK(suspensions == 3);
    CHECK(steps == 2);
}

TEST_CASE("generator from: delegating to itself throws fiber_error") {
    generator<int>* self = nullptr;
    generator<int> g([&](yielder<int>& yield) { yield.from(*self); });
    self = &g;
    CHECK_THROWS_WITH_AS(g.next(), doctest::Contains("inside itself"), fiber_error);
}

TEST_CASE("generator from: yields every element of a plain range") {
    const std::vector<int> numbers{1, 2, 3};
    const int more[] = {4, 5};
    generator<int> g([&](yielder<int>& yield) {
        yield.from(numbers);
        yield.from(std::span<const int>(more));
        yield.from(std::vector<int>{6});
    });
    CHECK(drain(g) == std::vector<int>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("generator from: a range of lvalues yields references to its elements with reference Y") {
    std::list<std::string> words{"a", "b"};
    generator<const std::string&> g(
        [&](yielder<const std::string&>& yield) { yield.from(words); });
    auto it = g.begin();
    CHECK(&*it == &words.front());
    ++it;
    CHECK(&*it == &words.back());
    ++it;
    CHECK(it == std::default_sentinel);
}

TEST_CASE("generator from: a value sent while yielding from a range throws in the body") {
    generator<int, int> g([](yielder<int, int>& yield) { yield.from(std::vector<int>{1, 2}); });
    CHECK(g.next() == 1);
    CHECK(g.next() == 2);
    CHECK_THROWS_WITH_AS(g.send(3), doctest::Contains("from a range"), fiber_error);
    CHECK(g.done());
}

TEST_CASE("generator from: raise() while yielding from a range throws in the body") {
    std::string caught;
    generator<int> g([&](yielder<int>& yield) {
        try {
            yield.from(std::vector<int>{1, 2});
        } catch (const std::runtime_error& e) {
            caught = e.what();
        }
    });
    CHECK(g.next() == 1);
    CHECK(g.raise(std::runtime_error("stop")) == std::nullopt);
    CHECK(caught == "stop");
}
