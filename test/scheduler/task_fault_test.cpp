// A fault inside a task names the task and where it was spawned (the fiber layer's fault report,
// with the label and spawn site the scheduler gives a task's fiber).

#include "fault_child.hpp"

#include <spindle/fiber.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <string>

using spindle_test::fault_with;
using spindle_test::run_in_child;
using spindle_test::sanitizer_owns_fault_signals;

TEST_CASE("fault report: a fault in a task names it and its spawn site") {
    if (sanitizer_owns_fault_signals) {
        MESSAGE("skipped: the sanitizer's runtime owns the fault signals in this build");
        return;
    }
    for (const int signal : {SIGSEGV, SIGABRT}) {
        CAPTURE(signal);
        const auto result = run_in_child([signal] {
            spindle::scheduler s;
            s.spawn([] {}).detach();
            const int line = __LINE__; auto t = s.spawn("fetch", [signal] { fault_with(signal); });
            const std::string expected = "expected: task 2 'fetch' (spawned at " +
                                         std::string(__FILE__) + ":" + std::to_string(line) +
                                         ")\n";
            (void)!::write(STDERR_FILENO, expected.data(), expected.size());
            s.run();
        });
        INFO(result.err);
        CHECK(result.signal == signal);
        const std::size_t at = result.err.find("expected: ");
        REQUIRE(at != std::string::npos);
        const std::string expected =
            result.err.substr(at + 10, result.err.find('\n', at) - at - 10);
        const std::string name = signal == SIGSEGV ? "SIGSEGV" : "SIGABRT";
        CHECK(result.err.find("spindle: " + name + " in " + expected + "\n") != std::string::npos);
    }
}

TEST_CASE("fault report: a fault in a fiber inside a task names both, and the task's spawn site") {
    if (sanitizer_owns_fault_signals) {
        MESSAGE("skipped: the sanitizer's runtime owns the fault signals in this build");
        return;
    }
    const auto result = run_in_child([] {
        spindle::run([] {
            spindle::fiber f([] { fault_with(SIGFPE); });
            f.set_name("helper");
            f.resume();
        });
    });
    INFO(result.err);
    CHECK(result.signal == SIGFPE);
    CHECK(result.err.find("' inside task 1 'main' (spawned at " + std::string(__FILE__) + ":") !=
          std::string::npos);
    CHECK(result.err.find("spindle: SIGFPE in fiber ") != std::string::npos);
}

TEST_CASE("spawn site: every overload of spawn() takes the caller's site by default") {
    // The site itself is checked by the fault reports above; here, that the default argument
    // leaves each overload callable as before, with and without a name, on both spawns.
    spindle::scheduler s;
    auto a = s.spawn([] { return 1; });
    auto b = s.spawn("named", [] { return 2; });
    auto c = s.spawn([] {
        auto inner = spindle::spawn([] { return 3; });
        auto named = spindle::spawn("inner", [] { return 4; });
        return inner.join() + named.join();
    });
    s.run();
    CHECK(a.join() + b.join() + c.join() == 10);
}
