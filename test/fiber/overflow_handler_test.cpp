// A fiber that runs past its stack stops the process with a message naming it, and the fibers
// it runs inside, on whichever thread it runs.

#include "overflow_child.hpp"

#include <spindle/fiber.hpp>

#include <doctest/doctest.h>

#include <sys/mman.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using spindle::fiber;
using spindle_test::announce;
using spindle_test::recurse_deeply;
using spindle_test::reported_overflow_of;
using spindle_test::run_in_child;

namespace {
std::string fiber_number(const fiber& f) { return "fiber " + std::to_string(f.id()); }

// nest_and_overflow() runs fibers `levels` deep inside the running one, each adding itself to
// `chain`; the innermost announces the message's chain and overflows. Ten fibers in all: the
// message names the innermost, the six around it, then "..." and the outermost.
void nest_and_overflow(int levels, std::vector<std::string>& chain) {
    fiber f(
        [levels, &chain] {
            chain.push_back(fiber_number(*fiber::current()));
            if (levels > 1) return nest_and_overflow(levels - 1, chain);
            std::string expected = chain.at(9);
            for (int i = 8; i >= 3; --i) expected += " inside " + chain.at(i);
            announce(expected + " inside ... inside " + chain.at(0));
            recurse_deeply(0);
        },
        {.size = 32 * 1024});
    f.resume();
}
// touch_far_end() has a frame of 64 KiB and writes its lowest byte first: compiled without
// -fstack-clash-protection (as here), nothing touches the pages in between. The empty asm
// takes the array's address, so the compiler must lay out all of it (clang otherwise keeps
// only the two bytes used, in the red zone).
__attribute__((noinline)) void touch_far_end() {
    volatile char frame[64 * 1024];
    asm volatile("" : : "r"(frame) : "memory");
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
    CHECK(result.err.find("stack overflow in fiber ") != std::string::npos);
    CHECK(result.err.find(" 'big-frame'") != std::string::npos);
}

TEST_CASE("stack overflow: a guard-page hit names the fiber and its stack size") {
    auto result = run_in_child([] {
        fiber f([] { recurse_deeply(0); }, {.size = 64 * 1024});
        f.set_name("deep-diver");
        announce(fiber_number(f) + " 'deep-diver'");
        f.resume();
    });
    INFO(result.err);
    CHECK(result.signal == SIGSEGV);
    CHECK(reported_overflow_of(result));
    CHECK(result.err.find("65536 bytes") != std::string::npos);
}

TEST_CASE("stack overflow: an unnamed fiber is named by its id") {
    auto result = run_in_child([] {
        fiber f([] { recurse_deeply(0); }, {.size = 32 * 1024});
        announce(fiber_number(f));
        f.resume();
    });
    INFO(result.err);
    CHECK(reported_overflow_of(result));
}

TEST_CASE("stack overflow: the message names the fibers the overflowing one runs inside") {
    SUBCASE("one level") {
        auto result = run_in_child([] {
            fiber outer([] {
                fiber inner([] { recurse_deeply(0); }, {.size = 32 * 1024});
                announce(fiber_number(inner) + " inside " + fiber_number(*fiber::current()) +
                         " 'outer'");
                inner.resume();
            });
            outer.set_name("outer");
            outer.resume();
        });
        INFO(result.err);
        CHECK(reported_overflow_of(result));
    }
    SUBCASE("a long chain is cut short but ends at the outermost fiber") {
        auto result = run_in_child([] {
            std::vector<std::string> chain;  // outermost first
            fiber outermost([&] {
                chain.push_back(fiber_number(*fiber::current()) + " 'outermost'");
                nest_and_overflow(9, chain);
            });
            outermost.set_name("outermost");
            outermost.resume();
        });
        INFO(result.err);
        CHECK(reported_overflow_of(result));
    }
}

TEST_CASE("stack overflow: a fiber resumed on a thread other than its creator's is reported") {
    SUBCASE("first resumed on the other thread") {
        auto result = run_in_child([] {
            fiber f;
            std::thread([&] {
                f = fiber([] { recurse_deeply(0); }, {.size = 64 * 1024});
                f.set_name("migrant");
            }).join();
            std::thread([&] {
                announce(fiber_number(f) + " 'migrant'");
                f.resume();
            }).join();
        });
        INFO(result.err);
        CHECK(result.signal == SIGSEGV);
        CHECK(reported_overflow_of(result));
    }
    SUBCASE("started on its creator's thread, then resumed on another") {
        auto result = run_in_child([] {
            fiber f;
            std::thread([&] {
                f = fiber(
                    [] {
                        fiber::suspend();
                        recurse_deeply(0);
                    },
                    {.size = 64 * 1024});
                f.resume();
            }).join();
            std::thread([&] {
                announce(fiber_number(f));
                f.resume();
            }).join();
        });
        INFO(result.err);
        CHECK(result.signal == SIGSEGV);
        CHECK(reported_overflow_of(result));
    }
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
