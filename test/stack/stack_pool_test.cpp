// The stack pool: a released stack is served again without a system call, per size and guard;
// sizes out of range are refused before anything is mapped.

#include "stack/stack_pool.hpp"

#include <spindle/errors.hpp>

#include <doctest/doctest.h>

#include <cstdint>

#include <sys/mman.h>

using namespace spindle;
using namespace spindle::detail;

TEST_CASE("stack pool: a released stack is the next one served for its size and guard") {
    stack_memory first = acquire_stack({.size = 48 * 1024, .guard = true});
    std::byte* const base = first.base;
    release_stack(first);
    const stack_pool_statistics before = stack_pool_stats();
    stack_memory again = acquire_stack({.size = 48 * 1024, .guard = true});
    const stack_pool_statistics after = stack_pool_stats();
    CHECK(again.base == base);
    CHECK(after.reused == before.reused + 1);
    CHECK(after.mapped == before.mapped);
    // Another guard choice is another class: not the cached guarded stack.
    stack_memory unguarded = acquire_stack({.size = 48 * 1024, .guard = false});
    CHECK(unguarded.base != base);
    CHECK(!unguarded.guarded);
    release_stack(again);
    release_stack(unguarded);
}

TEST_CASE("stack pool: the usable size is the one asked for, whichever cached stack serves it") {
    stack_memory first = acquire_stack({.size = 40 * 1024}, 4096);
    const std::size_t writable = first.writable();
    release_stack(first);
    // A request a little smaller rounds up to the same writable size and reuses the stack.
    stack_memory second = acquire_stack({.size = 40 * 1024 - 100}, 4096);
    CHECK(second.writable() == writable);
    CHECK(second.usable == 40 * 1024 - 100);
    release_stack(second);
}

TEST_CASE("stack pool: sizes out of range are refused with fiber_error, nothing mapped") {
    const stack_pool_statistics before = stack_pool_stats();
    CHECK_THROWS_WITH_AS(acquire_stack({.size = 1024}), doctest::Contains("minimum_stack_size"),
                         fiber_error);
    CHECK_THROWS_WITH_AS(acquire_stack({.size = SIZE_MAX}),
                         doctest::Contains("maximum_stack_size"), fiber_error);
    CHECK_THROWS_WITH_AS(acquire_stack({.size = 64 * 1024}, SIZE_MAX - 100),
                         doctest::Contains("maximum_stack_size"), fiber_error);
    CHECK(stack_pool_stats().mapped == before.mapped);
}

namespace {

// resident() tells whether the page holding `address` is in memory (mincore).
bool resident(const std::byte* address) {
    const std::uintptr_t page = page_size();
    void* start = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(address) & ~(page - 1));
    unsigned char vector = 0;
    REQUIRE(::mincore(start, page, &vector) == 0);
    return (vector & 1) != 0;
}

}  // namespace

TEST_CASE("stack pool: past the warm limit, stacks are kept with their memory given back") {
    // 8 MiB stacks: the warm limit is the minimum, 16 stacks; the 4 released after them keep
    // their mapping (and guard) but not their pages below the top.
    constexpr int count = 20;
    const stack_options options{.size = 8u << 20, .guard = true};
    stack_memory stacks[count];
    for (auto& stack : stacks) {
        stack = acquire_stack(options);
        stack.usable_bottom()[4096] = std::byte{7};  // deep: a frame far below the top
        stack.top()[-64] = std::byte{9};             // where a fiber's control block goes
    }
    const stack_pool_statistics before = stack_pool_stats();
    for (const auto& stack : stacks) release_stack(stack);
    const stack_pool_statistics released = stack_pool_stats();
    CHECK(released.unmapped == before.unmapped);
    CHECK(released.cached == before.cached + count);
    CHECK(released.dropped == before.dropped + 4);
    // The last one released went cold: its deep page is gone, its top page stayed.
    const stack_memory cold = stacks[count - 1];
    CHECK_FALSE(resident(cold.usable_bottom() + 4096));
    CHECK(resident(cold.top() - 64));
    // The first one released stayed warm.
    CHECK(resident(stacks[0].usable_bottom() + 4096));

    // All of them are served again without a mapping (the cold one included: its contents are
    // the system's zeros now, which memcheck rightly calls undefined, so they are not read).
    bool served_cold = false;
    for (auto& stack : stacks) {
        stack = acquire_stack(options);
        CHECK(stack.guarded);
        if (stack.base == cold.base) served_cold = true;
    }
    CHECK(served_cold);
    CHECK(stack_pool_stats().mapped == released.mapped);
    CHECK(stack_pool_stats().reused == released.reused + count);
    for (const auto& stack : stacks) release_stack(stack);
}

TEST_CASE("stack pool: an unguarded stack kept cold keeps its canary") {
    constexpr int count = 20;
    const stack_options options{.size = 8u << 20, .guard = false};
    stack_memory stacks[count];
    for (auto& stack : stacks) stack = acquire_stack(options);
    for (const auto& stack : stacks) release_stack(stack);
    for (auto& stack : stacks) {
        stack = acquire_stack(options);
        CHECK_FALSE(stack.guarded);
        CHECK(stack_canary_intact(stack));
    }
    for (const auto& stack : stacks) release_stack(stack);
}
