// Mapping a stack: whole pages, the guard region below, the canary of an unguarded stack.

#include "child_process.hpp"
#include "stack/stack_pool.hpp"

#include <spindle/errors.hpp>

#include <doctest/doctest.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

using namespace spindle;
using namespace spindle::detail;

// stack_guard tells the default from an explicit request: `guard = true` is a requirement.
static_assert(stack_options{}.guard == stack_guard::when_available);
static_assert(stack_options{.guard = true}.guard == stack_guard::required);
static_assert(stack_options{.guard = false}.guard == stack_guard::none);
static_assert(!stack_guard(stack_guard::none) && stack_guard(stack_guard::when_available));

TEST_CASE("stack: the writable part is whole pages and the guard region sits below it") {
    stack_memory stack = acquire_stack({.size = 20000, .guard = true}, 1000);
    CHECK(stack.usable == 20000);
    CHECK(stack.writable() % page_size() == 0);
    CHECK(stack.writable() >= 21000);
    CHECK(stack.guarded);
    CHECK(stack.mapped == stack.writable() + stack_guard_region);
    CHECK(stack.usable_bottom() == stack.base + stack_guard_region);
    // The guard region is inaccessible (the overflow tests prove it faults); the writable part
    // is writable end to end.
    stack.usable_bottom()[0] = std::byte{1};
    stack.top()[-1] = std::byte{1};
    release_stack(stack);
}

TEST_CASE("stack: a stack without guard carries a canary") {
    stack_memory stack = acquire_stack({.size = 16384, .guard = false});
    CHECK(!stack.guarded);
    CHECK(stack.mapped == stack.writable());
    CHECK(stack_canary_intact(stack));
    stack.usable_bottom()[0] = std::byte{0x42};
    CHECK(!stack_canary_intact(stack));
    stack.usable_bottom()[0] = std::byte{0};
    // Put the canary back the way map_stack planted it before reuse, by unmapping instead.
    munmap(stack.base, stack.mapped);
}
