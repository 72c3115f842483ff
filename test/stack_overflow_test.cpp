// A fiber that runs past its stack stops the process with a message naming it.

#include "child_process.hpp"

#include <spindle/fiber.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <string>

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
}  // namespace

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
