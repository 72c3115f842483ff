// Fibers on the stack layer: sizes refused or honoured, stacks reused without system calls.

#include "child_process.hpp"
#include "stack/stack_pool.hpp"

#include <spindle/errors.hpp>
#include <spindle/fiber.hpp>

#include <doctest/doctest.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

using namespace spindle;
using namespace spindle::detail;

TEST_CASE("stack: too small a size is refused with a message") {
    CHECK_THROWS_WITH_AS(acquire_stack({.size = 100}), doctest::Contains("too small"),
                         fiber_error);
    CHECK_THROWS_WITH_AS(acquire_stack({.size = minimum_stack_size - 1}),
                         doctest::Contains("minimum_stack_size"), fiber_error);
    CHECK_THROWS_WITH_AS(fiber([] {}, {.size = 0}), doctest::Contains("too small"), fiber_error);
}

TEST_CASE("stack: absurd sizes are refused with a message, not a crash") {
    const std::size_t page = page_size();
    const std::size_t sizes[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - page + 1, SIZE_MAX - page,
                                 SIZE_MAX / 2, maximum_stack_size + 1};
    for (std::size_t size : sizes) {
        CAPTURE(size);
        CHECK_THROWS_WITH_AS(fiber([] {}, {.size = size}), doctest::Contains("larger than any"),
                             fiber_error);
    }
    // The library is still usable.
    fiber f([] {});
    f.resume();
    CHECK(f.done());
}

namespace {
// stack_room() is how far the running fiber's stack reaches below this frame.
__attribute__((noinline)) std::size_t stack_room() {
    volatile char here = 0;
    const auto* bottom = fiber_access::control(*fiber::current())->stack.usable_bottom();
    return static_cast<std::size_t>(reinterpret_cast<const volatile std::byte*>(&here) - bottom);
}

// use_stack() touches a frame of `bytes` at its far end.
template <std::size_t bytes>
__attribute__((noinline)) void use_stack() {
    volatile char frame[bytes];
    frame[0] = 1;
    frame[bytes - 1] = frame[0];
}
}  // namespace

TEST_CASE("stack: the body gets the whole size it asked for, whatever its stagger and body") {
    for (std::size_t size : {std::size_t{16384}, std::size_t{65536}, std::size_t{100000}}) {
        for (int i = 0; i < 16; ++i) {  // every stagger slot
            CAPTURE(size);
            std::size_t room = 0;
            char big_capture[3000] = {};
            fiber f([&room, big_capture] { room = stack_room() + (big_capture[0] & 0); },
                    {.size = size});
            f.resume();
            CHECK(room >= size);
            CHECK(room < size + page_size() + 4096);
        }
    }
    // And uses it: a 60 KiB frame on a 64 KiB stack (a forked child, in case it overflows).
    auto result = spindle_test::run_in_child([] {
        fiber f([] { use_stack<60 * 1024>(); }, {.size = 64 * 1024});
        f.resume();
        std::fprintf(stderr, "ran\n");
    });
    CHECK(result.exited);
    CHECK(result.err.find("ran") != std::string::npos);
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

TEST_CASE("stack: successive fibers put their control blocks and stacks at different page offsets") {
    // 16 fibers alive at once: each has its own stack, page-aligned at the top, so only the
    // stagger can set their control blocks (and the frames below) apart within a page.
    constexpr int count = 16;
    std::vector<fiber> fibers;
    std::vector<std::uintptr_t> control_offsets;
    std::vector<std::uintptr_t> frame_offsets(count);
    for (int i = 0; i < count; ++i) {
        fibers.emplace_back([&frame_offsets, i] {
            int local = 0;
            frame_offsets[i] = reinterpret_cast<std::uintptr_t>(&local) % 4096;
            fiber::suspend();
        });
        control_offsets.push_back(
            reinterpret_cast<std::uintptr_t>(fiber_access::control(fibers.back())) % 4096);
    }
    for (auto& f : fibers) f.resume();
    std::sort(control_offsets.begin(), control_offsets.end());
    std::sort(frame_offsets.begin(), frame_offsets.end());
    CHECK(std::adjacent_find(control_offsets.begin(), control_offsets.end()) ==
          control_offsets.end());
    CHECK(std::adjacent_find(frame_offsets.begin(), frame_offsets.end()) == frame_offsets.end());
}
