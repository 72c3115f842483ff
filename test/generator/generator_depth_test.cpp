// generator: yielding from any depth of ordinary calls — deep recursion, std::for_each, a
// visitor, a C library callback — nesting generators, and many alive at once.

#include "under_valgrind.hpp"

#include <spindle/generator.hpp>

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using spindle::generator;
using spindle::stack_options;
using spindle::yielder;

namespace {

// descend() yields its depth on the way down and its negated depth on the way back up, so the
// recursion cannot be turned into a loop.
void descend(yielder<int>& yield, int depth, int bottom) {
    yield(depth);
    if (depth < bottom) descend(yield, depth + 1, bottom);
    yield(-depth);
}

// An expression tree with a classic double-dispatch visitor that knows nothing of generators.
struct number;
struct sum;
struct expression_visitor {
    virtual void visit(const number&) = 0;
    virtual void visit(const sum&) = 0;

protected:
    ~expression_visitor() = default;
};
struct expression {
    virtual ~expression() = default;
    virtual void accept(expression_visitor& visitor) const = 0;
};
struct number final : expression {
    explicit number(int v) : value(v) {}
    void accept(expression_visitor& visitor) const override { visitor.visit(*this); }
    int value;
};
struct sum final : expression {
    sum(std::unique_ptr<expression> l, std::unique_ptr<expression> r)
        : left(std::move(l)), right(std::move(r)) {}
    void accept(expression_visitor& visitor) const override { visitor.visit(*this); }
    std::unique_ptr<expression> left, right;
};

// postfix_visitor yields the tree's tokens in postfix order from inside its visit methods.
struct postfix_visitor final : expression_visitor {
    explicit postfix_visitor(yielder<std::string>& y) : yield(y) {}
    void visit(const number& n) override { yield(std::to_string(n.value)); }
    void visit(const sum& s) override {
        s.left->accept(*this);
        s.right->accept(*this);
        yield("+");
    }
    yielder<std::string>& yield;
};

// The yielder a qsort comparator reaches (qsort's callback has no user-data parameter), and how
// many comparisons qsort has asked for.
thread_local yielder<std::pair<int, int>>* comparison_yielder = nullptr;
thread_local int comparisons_made = 0;

extern "C" int compare_and_yield(const void* a, const void* b) {
    const int x = *static_cast<const int*>(a);
    const int y = *static_cast<const int*>(b);
    ++comparisons_made;
    (*comparison_yielder)(std::pair<int, int>(x, y));
    return (x > y) - (x < y);
}

// resident_bytes() is this process's resident set size.
std::size_t resident_bytes() {
    std::size_t total_pages = 0;
    std::size_t resident_pages = 0;
    if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%zu %zu", &total_pages, &resident_pages) != 2) resident_pages = 0;
        std::fclose(f);
    }
    return resident_pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

TEST_CASE("generator depth: yields from 10,000 levels of ordinary recursion") {
    constexpr int bottom = 10000;
    generator<int> g([](yielder<int>& yield) { descend(yield, 1, bottom); },
                     stack_options{.size = 8 * 1024 * 1024});
    int expected_down = 1;
    int expected_up = -bottom;
    int count = 0;
    for (int v : g) {
        if (count < bottom) {
            CHECK(v == expected_down);
            ++expected_down;
        } else {
            CHECK(v == expected_up);
            ++expected_up;
        }
        ++count;
    }
    CHECK(count == 2 * bottom);
}

TEST_CASE("generator depth: yields from inside a lambda handed to std::for_each") {
    const std::vector<std::string> names{"ada", "grace", "barbara"};
    generator<const std::string&> g([&](yielder<const std::string&>& yield) {
        std::for_each(names.begin(), names.end(), [&](const std::string& name) { yield(name); });
    });
    std::vector<const std::string*> seen;
    for (const std::string& name : g) seen.push_back(&name);
    REQUIRE(seen.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) CHECK(seen[i] == &names[i]);
}

TEST_CASE("generator depth: yields from a visitor's virtual methods") {
    // (1 + 2) + (3 + 4)
    auto tree = std::make_unique<sum>(
        std::make_unique<sum>(std::make_unique<number>(1), std::make_unique<number>(2)),
        std::make_unique<sum>(std::make_unique<number>(3), std::make_unique<number>(4)));
    generator<std::string> postfix([&](yielder<std::string>& yield) {
        postfix_visitor visitor(yield);
        tree->accept(visitor);
    });
    std::string text;
    for (const std::string& token : postfix) text += token + " ";
    CHECK(text == "1 2 + 3 4 + + ");
}

TEST_CASE("generator depth: yields from a C library's callback (qsort's comparator)") {
    std::vector<int> numbers{5, 3, 9, 1, 7, 2, 8};
    comparisons_made = 0;
    generator<std::pair<int, int>> comparisons([&](yielder<std::pair<int, int>>& yield) {
        comparison_yielder = &yield;
        std::qsort(numbers.data(), numbers.size(), sizeof(int), compare_and_yield);
        comparison_yielder = nullptr;
    });
    int seen = 0;
    for (const auto& [a, b] : comparisons) {
        ++seen;
        // Lazy: qsort is suspended inside the comparison we are looking at.
        CHECK(comparisons_made == seen);
        CHECK(a != b);  // the elements are distinct
    }
    CHECK(seen >= 6);  // sorting 7 elements takes at least 6 comparisons
    CHECK(numbers == std::vector<int>{1, 2, 3, 5, 7, 8, 9});
}

TEST_CASE("generator depth: a generator's body consumes other generators (a prime sieve)") {
    // Each prime found stacks one more filtering generator over the previous ones, so the
    // consumer's next() runs through a chain of nested generators, one per prime so far.
    auto numbers_from = [](int start) {
        return generator<int>([start](yielder<int>& yield) {
            for (int n = start;; ++n) yield(n);
        });
    };
    std::function<generator<int>(generator<int>)> sieve = [&](generator<int> source) {
        return generator<int>([&sieve, source = std::move(source)](yielder<int>& yield) mutable {
            const int prime = *source.next();
            yield(prime);
            auto without_multiples = generator<int>(
                [prime, &source](yielder<int>& filter_yield) {
                    for (int n : source)
                        if (n % prime != 0) filter_yield(n);
                },
                stack_options{.size = 32 * 1024});
            yield.from(sieve(std::move(without_multiples)));
        }, stack_options{.size = 32 * 1024});
    };
    auto primes = sieve(numbers_from(2));
    std::vector<int> first;
    for (int i = 0; i < 25; ++i) first.push_back(*primes.next());
    CHECK(first == std::vector<int>{2,  3,  5,  7,  11, 13, 17, 19, 23, 29, 31, 37, 41,
                                    43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97});
}

TEST_CASE("generator depth: 100,000 suspended generators with small stacks in one process") {
    // Under Valgrind 5,000: it looks up the stack of every stack-pointer change among all the
    // stacks registered with it, so 100,000 live ones take it minutes (the scale is the other
    // configurations' to prove; what Valgrind checks, the memory use, is the same at 5,000).
    const int count = spindle_test::under_valgrind() ? 5'000 : 100'000;
    // Unguarded 16 KiB stacks: a guard region per stack would split every mapping in two and
    // exhaust vm.max_map_count long before 100,000.
    constexpr stack_options small{.size = 16 * 1024, .guard = false};
    const std::size_t resident_before = resident_bytes();
    std::vector<generator<int>> generators;
    generators.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        generators.emplace_back(
            [i](yielder<int>& yield) {
                yield(i);
                yield(i + 1);
            },
            small);
    }
    for (int i = 0; i < count; ++i) REQUIRE(generators[static_cast<std::size_t>(i)].next() == i);
    // Every generator is suspended now: its stack holds a live frame.
    const std::size_t resident_suspended = resident_bytes();
    const std::size_t grown =
        resident_suspended > resident_before ? resident_suspended - resident_before : 0;
    const std::size_t per_generator = grown / static_cast<std::size_t>(count);
    MESSAGE("resident bytes per suspended generator: " << per_generator);
    // Only the pages a suspended generator has touched cost memory, not its whole stack.
    CHECK(per_generator < small.size);
    long long total = 0;
    for (auto& g : generators) total += *g.next();
    CHECK(total == static_cast<long long>(count) * (count + 1) / 2);
    for (auto& g : generators) CHECK_FALSE(g.next());
    generators.clear();
}
