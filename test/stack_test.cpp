// The stack layer: sizes, guard pages, reuse without system calls.

#include "stack.hpp"

#include <spindle/errors.hpp>
#include <spindle/fiber.hpp>

#include <doctest/doctest.h>

#include <sys/mman.h>

#include <vector>

using namespace spindle;
using namespace spindle::detail;

TEST_CASE("stack: usable size is rounded up to whole pages and the guard page sits below it") {
    stack_memory stack = acquire_stack({.size = 10000, .guard = true});
    CHECK(stack.usable % page_size() == 0);
    CHECK(stack.usable >= 10000);
    CHECK(stack.guarded);
    CHECK(stack.mapped == stack.usable + page_size());
    // The guard page is inaccessible: mincore works on it, and mprotect would report it; the
    // overflow test proves it faults. Here: the usable part is writable end to end.
    stack.usable_bottom()[0] = std::byte{1};
    stack.top()[-1] = std::byte{1};
    release_stack(stack);
}

TEST_CASE("stack: a stack without guard page carries a canary") {
    stack_memory stack = acquire_stack({.size = 16384, .guard = false});
    CHECK(!stack.guarded);
    CHECK(stack.mapped == stack.usable);
    CHECK(stack_canary_intact(stack));
    stack.usable_bottom()[0] = std::byte{0x42};
    CHECK(!stack_canary_intact(stack));
    stack.usable_bottom()[0] = std::byte{0};
    // Put the canary back the way map_stack planted it before reuse, by unmapping instead.
    munmap(stack.base, stack.mapped);
}

TEST_CASE("stack: too small a size is refused with a message") {
    CHECK_THROWS_WITH_AS(acquire_stack({.size = 100}),
                         doctest::Contains("too small"), fiber_error);
}

TEST_CASE("stack: creating and destroying fibers in a loop reuses stacks once warm") {
    {
        fiber warm([] {});
        warm.resume();
    }
    const stack_pool_statistics before = stack_pool_stats();
    for (int i = 0; i < 1000; ++i) {
        fiber f([] { fiber::suspend(); });
        f.resume();
    }
    const stack_pool_statistics after = stack_pool_stats();
    CHECK(after.mapped == before.mapped);
    CHECK(after.unmapped == before.unmapped);
    CHECK(after.reused >= before.reused + 1000);
}

TEST_CASE("stack: many fibers alive at once each get a distinct stack, then all are pooled") {
    std::vector<fiber> fibers;
    std::vector<void*> addresses(200);
    for (int i = 0; i < 200; ++i)
        fibers.emplace_back(
            [&addresses, i] {
                int local = 0;
                addresses[i] = &local;
                fiber::suspend();
            },
            stack_options{.size = 16384});
    for (auto& f : fibers) f.resume();
    std::sort(addresses.begin(), addresses.end());
    CHECK(std::adjacent_find(addresses.begin(), addresses.end()) == addresses.end());
    fibers.clear();
    CHECK(stack_pool_stats().cached >= 200);
}
