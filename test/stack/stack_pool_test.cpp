// The stack pool: a released stack is served again without a system call, per size and guard;
// sizes out of range are refused before anything is mapped.

#include "stack/stack_pool.hpp"

#include <spindle/errors.hpp>

#include <doctest/doctest.h>

#include <cstdint>

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
