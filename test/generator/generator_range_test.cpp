// generator: iteration as a C++20 input range, std::views, and yielding without copies.

#include <spindle/generator.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <vector>

using spindle::generator;
using spindle::yielder;

namespace {

// counted counts its copies and moves, to prove that yielding makes none.
struct counted {
    static inline int copies = 0;
    static inline int moves = 0;
    static void reset() { copies = moves = 0; }

    int value = 0;
    explicit counted(int v) : value(v) {}
    counted(const counted& other) : value(other.value) { ++copies; }
    counted(counted&& other) noexcept : value(other.value) { ++moves; }
    counted& operator=(const counted&) = delete;
    counted& operator=(counted&&) = delete;
};

generator<int> iota_to(int n) {
    return generator<int>([n](yielder<int>& yield) {
        for (int i = 0; i < n; ++i) yield(i);
    });
}

}  // namespace

static_assert(std::ranges::input_range<generator<int>>);
static_assert(!std::ranges::forward_range<generator<int>>);
static_assert(std::ranges::input_range<generator<const std::string&>>);
static_assert(std::ranges::input_range<generator<std::unique_ptr<int>>>);
static_assert(std::ranges::viewable_range<generator<int>&>);
static_assert(std::ranges::viewable_range<generator<int>>);
static_assert(!std::ranges::view<generator<int>>);
static_assert(std::same_as<std::ranges::range_reference_t<generator<int>>, int&>);
static_assert(std::same_as<std::ranges::range_value_t<generator<int>>, int>);
static_assert(std::same_as<std::ranges::range_reference_t<generator<const std::string&>>,
                           const std::string&>);
static_assert(std::sentinel_for<std::default_sentinel_t, generator<int>::iterator>);

TEST_CASE("generator range: range-for visits each yielded value once") {
    std::vector<int> seen;
    for (int v : iota_to(5)) seen.push_back(v);
    CHECK(seen == std::vector<int>{0, 1, 2, 3, 4});

    auto empty = iota_to(0);
    CHECK(empty.begin() == empty.end());
}

TEST_CASE("generator range: begin() and next() share the generator, so each element is seen once") {
    auto g = iota_to(5);
    CHECK(g.next() == 0);
    std::vector<int> rest;
    for (int v : g) {
        rest.push_back(v);
        if (v == 2) break;
    }
    CHECK(rest == std::vector<int>{1, 2});
    CHECK(g.next() == 3);
}

TEST_CASE("generator range: *it is the very object the body yielded, with no copy or move") {
    counted::reset();
    std::vector<const counted*> yielded_at;
    generator<counted> g([&](yielder<counted>& yield) {
        for (int i = 0; i < 3; ++i) {
            counted local(i);
            yielded_at.push_back(&local);
            yield(std::move(local));  // an rvalue: passed by reference
        }
        yield(counted(3));  // a prvalue: materialized once, in the body's frame
    });
    int i = 0;
    for (auto it = g.begin(); it != g.end(); ++it, ++i) {
        CHECK(it->value == i);
        if (i < 3) CHECK(&*it == yielded_at[static_cast<std::size_t>(i)]);
    }
    CHECK(i == 4);
    CHECK(counted::copies == 0);
    CHECK(counted::moves == 0);
}

TEST_CASE("generator range: a reference Y yields an lvalue itself") {
    counted::reset();
    counted kept(7);
    generator<const counted&> g([&](yielder<const counted&>& yield) { yield(kept); });
    auto it = g.begin();
    CHECK(&*it == &kept);
    CHECK(counted::copies == 0);
    CHECK(counted::moves == 0);

    std::vector<int> numbers{1, 2, 3};
    generator<int&> mutate([&](yielder<int&>& yield) {
        for (int& n : numbers) yield(n);
    });
    for (int& n : mutate) n *= 10;  // writes through to the body's objects
    CHECK(numbers == std::vector<int>{10, 20, 30});
}

TEST_CASE("generator range: next() moves the yielded object out once; an lvalue is copied once") {
    counted::reset();
    generator<counted> g([](yielder<counted>& yield) {
        yield(counted(1));
        counted lvalue(2);
        yield(lvalue);  // a value Y cannot give an lvalue away: one copy
    });
    std::optional<counted> first = g.next();
    CHECK(first->value == 1);
    CHECK(counted::copies == 0);
    CHECK(counted::moves == 1);
    counted::reset();
    std::optional<counted> second = g.next();
    CHECK(second->value == 2);
    CHECK(counted::copies == 1);
    CHECK(counted::moves == 1);
}

TEST_CASE("generator range: yield from a sub-generator of the same type copies nothing") {
    counted::reset();
    const counted* sub_object = nullptr;
    generator<counted> g([&](yielder<counted>& yield) {
        yield.from(generator<counted>([&](yielder<counted>& sub_yield) {
            counted local(5);
            sub_object = &local;
            sub_yield(std::move(local));
        }));
    });
    auto it = g.begin();
    CHECK(&*it == sub_object);
    CHECK(it->value == 5);
    CHECK(counted::copies == 0);
    CHECK(counted::moves == 0);
}

TEST_CASE("generator range: move-only values iterate by reference") {
    generator<std::unique_ptr<int>> g([](auto& yield) {
        for (int i = 0; i < 3; ++i) yield(std::make_unique<int>(i));
    });
    std::vector<std::unique_ptr<int>> taken;
    for (std::unique_ptr<int>& p : g) taken.push_back(std::move(p));
    REQUIRE(taken.size() == 3);
    CHECK(*taken[2] == 2);
}

TEST_CASE("generator range: an exception escaping the body propagates out of ++it") {
    generator<int> g([](yielder<int>& yield) {
        yield(1);
        throw std::runtime_error("mid-iteration");
    });
    auto it = g.begin();
    CHECK(*it == 1);
    CHECK_THROWS_WITH_AS(++it, "mid-iteration", std::runtime_error);
    CHECK(it == g.end());
}

TEST_CASE("generator range: dereferencing an iterator that equals end() throws fiber_error") {
    // The last object lived on the body's stack, which is gone (or recycled) once it finished.
    generator<std::string> g([](yielder<std::string>& yield) { yield(std::string("only")); });
    auto it = g.begin();
    CHECK(*it == "only");
    CHECK(it->size() == 4);
    ++it;
    REQUIRE(it == g.end());
    CHECK_THROWS_WITH_AS(*it, doctest::Contains("equals end()"), spindle::fiber_error);
    CHECK_THROWS_WITH_AS(it->size(), doctest::Contains("equals end()"), spindle::fiber_error);

    // Ended by an exception, by close(), before the first element, and default-constructed.
    generator<int> failing([](yielder<int>& yield) {
        yield(1);
        throw std::runtime_error("x");
    });
    auto f = failing.begin();
    CHECK_THROWS_AS(++f, std::runtime_error);
    CHECK_THROWS_AS(*f, spindle::fiber_error);

    auto closed = iota_to(3);
    auto c = closed.begin();
    closed.close();
    REQUIRE(c == closed.end());
    CHECK_THROWS_AS(*c, spindle::fiber_error);

    auto empty = iota_to(0);
    auto e = empty.begin();
    REQUIRE(e == empty.end());
    CHECK_THROWS_AS(*e, spindle::fiber_error);

    generator<int>::iterator unattached;
    CHECK(unattached == std::default_sentinel);
    CHECK_THROWS_AS(*unattached, spindle::fiber_error);

    generator<const std::string&> by_reference([](yielder<const std::string&>& yield) {
        const std::string local = "local";
        yield(local);
    });
    auto r = by_reference.begin();
    CHECK(*r == "local");
    ++r;
    CHECK_THROWS_AS(*r, spindle::fiber_error);
}

TEST_CASE("generator range: works with std::ranges algorithms that take input ranges") {
    auto g = iota_to(10);
    auto found = std::ranges::find(g, 6);
    REQUIRE(found != g.end());
    CHECK(*found == 6);
    CHECK(g.next() == 7);  // the rest is still there
    std::vector<int> rest;
    std::ranges::copy(g, std::back_inserter(rest));
    CHECK(rest == std::vector<int>{8, 9});
}

#if SPINDLE_TEST_VIEWS
namespace {

generator<int> naturals() {
    return generator<int>([](yielder<int>& yield) {
        for (int i = 0;; ++i) yield(i);
    });
}

}  // namespace

TEST_CASE("generator range: an lvalue generator pipes into std::views") {
    auto g = iota_to(10);
    std::vector<int> evens_squared;
    for (int v : g | std::views::filter([](int n) { return n % 2 == 0; }) |
                     std::views::transform([](int n) { return n * n; }))
        evens_squared.push_back(v);
    CHECK(evens_squared == std::vector<int>{0, 4, 16, 36, 64});
    CHECK(g.done());
}

TEST_CASE("generator range: an rvalue generator pipes into std::views, taking ownership") {
    std::vector<int> first;
    for (int v : naturals() | std::views::take(4)) first.push_back(v);
    CHECK(first == std::vector<int>{0, 1, 2, 3});

    auto pipeline = naturals() | std::views::drop(2) | std::views::take(3);
    std::vector<int> middle;
    for (int v : pipeline) middle.push_back(v);
    CHECK(middle == std::vector<int>{2, 3, 4});
}

TEST_CASE("generator range: std::views see the yielded object, not a copy") {
    counted::reset();
    generator<counted> g([](yielder<counted>& yield) {
        for (int i = 0; i < 4; ++i) yield(counted(i));
    });
    int sum = 0;
    for (const counted& c : g | std::views::filter([](const counted& c) { return c.value > 0; }))
        sum += c.value;
    CHECK(sum == 6);
    CHECK(counted::copies == 0);
    CHECK(counted::moves == 0);
}
#endif
