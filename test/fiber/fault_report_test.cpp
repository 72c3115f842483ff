// A fault inside a fiber (SIGSEGV, SIGBUS, SIGFPE, SIGILL, abort) writes one line naming the
// fiber, and the process still ends by the same signal.

#include "fault_child.hpp"
#include "fiber/fiber_internals.hpp"

#include <spindle/fiber.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <string>

using spindle::fiber;
using spindle_test::fault_with;
using spindle_test::run_in_child;
using spindle_test::sanitizer_owns_fault_signals;

namespace {

struct named_signal {
    int number;
    const char* name;
};
constexpr named_signal all_reported[] = {
    {SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"}, {SIGFPE, "SIGFPE"},
    {SIGILL, "SIGILL"},   {SIGABRT, "SIGABRT"},
};

// crash_in_fiber() runs, in a child, a fiber named "crasher" that fails with `signal`; the
// child writes "id: N" first, so the test knows the fiber's number.
spindle_test::child_result crash_in_fiber(int signal) {
    return run_in_child([signal] {
        fiber f([signal] { fault_with(signal); });
        f.set_name("crasher");
        const std::string id = "id: " + std::to_string(f.id()) + "\n";
        (void)!::write(STDERR_FILENO, id.data(), id.size());
        f.resume();
    });
}

std::string announced_id(const std::string& err) {
    const std::size_t at = err.find("id: ");
    return at == std::string::npos ? "" : err.substr(at + 4, err.find('\n', at) - at - 4);
}

}  // namespace

TEST_CASE("fault report: a fault in a fiber names it and ends the process by the same signal") {
    if (sanitizer_owns_fault_signals) {
        MESSAGE("skipped: the sanitizer's runtime owns the fault signals in this build");
        return;
    }
    for (const named_signal& s : all_reported) {
        CAPTURE(s.name);
        const auto result = crash_in_fiber(s.number);
        INFO(result.err);
        CHECK(result.signalled);
        CHECK(result.signal == s.number);
        const std::string expected =
            std::string("spindle: ") + s.name + " in fiber " + announced_id(result.err) +
            " 'crasher'\n";
        CHECK(result.err.find(expected) != std::string::npos);
    }
}

TEST_CASE("fault report: a fault in a fiber nested in another names both") {
    if (sanitizer_owns_fault_signals) {
        MESSAGE("skipped: the sanitizer's runtime owns the fault signals in this build");
        return;
    }
    const auto result = run_in_child([] {
        fiber outer([] {
            fiber inner([] { fault_with(SIGSEGV); });
            inner.set_name("inner");
            inner.resume();
        });
        outer.set_name("outer");
        outer.resume();
    });
    INFO(result.err);
    CHECK(result.signal == SIGSEGV);
    CHECK(result.err.find("' inside fiber ") != std::string::npos);
    CHECK(result.err.find("spindle: SIGSEGV in fiber ") != std::string::npos);
    CHECK(result.err.find(" 'inner' inside fiber ") != std::string::npos);
    CHECK(result.err.find(" 'outer'\n") != std::string::npos);
}

TEST_CASE("fault report: a fault outside any fiber is left alone") {
    const auto result = run_in_child([] {
        fiber f([] {});
        f.resume();  // the handler is installed by now
        fault_with(SIGSEGV);
    });
    INFO(result.err);
    CHECK(result.err.find("spindle:") == std::string::npos);
    if (!sanitizer_owns_fault_signals) CHECK(result.signal == SIGSEGV);
}

TEST_CASE("fault report: a handler the program installed before runs instead of the message") {
    if (sanitizer_owns_fault_signals) {
        MESSAGE("skipped: the sanitizer's runtime owns the fault signals in this build");
        return;
    }
    const auto result = run_in_child([] {
        struct sigaction action {};
        action.sa_handler = [](int) {
            (void)!::write(STDERR_FILENO, "program's handler\n", 18);
            ::_exit(42);
        };
        sigemptyset(&action.sa_mask);
        ::sigaction(SIGSEGV, &action, nullptr);
        // The child inherits the parent's installed handlers: install them again over the
        // program's, as a fresh process would at its first fiber.
        spindle::detail::install_fault_handlers();
        fiber f([] { fault_with(SIGSEGV); });
        f.resume();
    });
    INFO(result.err);
    CHECK(result.exited);
    if (!spindle_test::under_valgrind()) CHECK(result.exit_code == 42);
    CHECK(result.err.find("program's handler") != std::string::npos);
    CHECK(result.err.find("spindle:") == std::string::npos);
}
