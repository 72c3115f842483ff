// A fiber that runs past its stack stops the process with a message naming it.

#include "child_process.hpp"

#include <spindle/fiber.hpp>

#include <doctest/doctest.h>

#include <sys/mman.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

using spindle::fiber;
using spindle_test::run_in_child;

namespace {
// The depth limit is never reached on a 64 KiB stack; it only keeps the compiler from calling
// the recursion infinite.
volatile int depth_limit = 1 << 30;

__attribute__((noinline)) int recurse_deeply(int depth) {
    volatile char frame[512];
    frame[0] = static_cast<char>(depth);
    if (depth >= depth_limit) return frame[0];
    return recurse_deeply(depth + 1) + frame[0];
}
// touch_far_end() has a frame of 64 KiB and writes its lowest byte first: compiled without
// -fstack-clash-protection (as here), nothing touches the pages in between.
__attribute__((noinline)) void touch_far_end() {
    volatile char frame[64 * 1024];
    frame[0] = 1;
    frame[sizeof frame - 1] = frame[0];
}

// descend_then_touch() recurses until 16 KiB of stack are left, then calls touch_far_end(), so
// its 64 KiB frame reaches 48 KiB past the end of the stack.
__attribute__((noinline)) int descend_then_touch(std::uintptr_t bottom) {
    volatile char frame[512];
    frame[0] = 1;
    if (reinterpret_cast<std::uintptr_t>(&frame) - bottom > 16 * 1024)
        return descend_then_touch(bottom) + frame[0];
    touch_far_end();
    return frame[0];
}
}  // namespace

TEST_CASE("stack overflow: a frame larger than a page lands in the guard, not in the stack below") {
    auto result = run_in_child([] {
        // Memory right below the stack's mapping, as another fiber's stack would be: an overflow
        // that jumped the guard would write into it silently. Stacks land wherever mmap finds
        // room; the first with free address space below gets the neighbour.
        std::vector<fiber> others;
        for (int attempt = 0; attempt < 100; ++attempt) {
            // A size of its own (1.5 MiB), so the stack is freshly mapped, not a cached one.
            fiber f(
                [] {
                    const auto& stack =
                        spindle::detail::fiber_access::control(*fiber::current())->stack;
                    descend_then_touch(reinterpret_cast<std::uintptr_t>(stack.usable_bottom()));
                },
                {.size = 1536 * 1024});
            f.set_name("big-frame");
            const auto& stack = spindle::detail::fiber_access::control(f)->stack;
            constexpr std::size_t neighbour_size = 256 * 1024;
            if (::mmap(stack.base - neighbour_size, neighbour_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != MAP_FAILED) {
                f.resume();
                std::fputs("the overflow went unnoticed\n", stderr);
                return;
            }
            others.push_back(std::move(f));
        }
        std::fputs("no stack had free address space below it\n", stderr);
    });
    INFO(result.err);
    CHECK(result.signalled);
    CHECK(result.err.find("stack overflow in fiber 'big-frame'") != std::string::npos);
}

TEST_CASE("stack overflow: a guard-page hit names the fiber and its stack size") {
    auto result = run_in_child([] {
        fiber f([] { recurse_deeply(0); }, {.size = 64 * 1024});
        f.set_name("deep-diver");
        f.resume();
    });
    CHECK(result.signalled);
    CHECK(result.signal == SIGSEGV);
    CHECK(result.err.find("stack overflow in fiber 'deep-diver'") != std::string::npos);
    CHECK(result.err.find("65536 bytes") != std::string::npos);
}

TEST_CASE("stack overflow: an unnamed fiber is named by its id") {
    auto result = run_in_child([] {
        fiber f([] { recurse_deeply(0); }, {.size = 32 * 1024});
        const std::string expected = "fiber id " + std::to_string(f.id());
        f.resume();
        (void)expected;
    });
    CHECK(result.signalled);
    CHECK(result.err.find("stack overflow in fiber id ") != std::string::npos);
}

TEST_CASE("stack overflow: other segmentation faults are not reported as overflows") {
    auto result = run_in_child([] {
        fiber f([] {}, {.size = 32 * 1024});  // installs the handler
        f.resume();
        volatile int* nowhere = nullptr;
        *nowhere = 1;
    });
    // The fault goes to the handler installed before spindle's: the default one kills the
    // child with SIGSEGV, AddressSanitizer's reports it and exits with status 1.
    const bool died = result.signalled ? result.signal == SIGSEGV : result.exit_code != 0;
    CHECK(died);
    CHECK(result.err.find("stack overflow") == std::string::npos);
}
