// A fiber that runs past its stack stops the process with a message naming it, and the fibers
// it runs inside, on whichever thread it runs.

#include "overflow_child.hpp"

#include <spindle/fiber.hpp>

#include <doctest/doctest.h>

#include <csignal>
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
}  // namespace

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
