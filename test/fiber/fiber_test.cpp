// fiber: resume/suspend, nesting, unwinding, moves and misuse.

#include "child_process.hpp"

#include <spindle/fiber.hpp>

#include <doctest/doctest.h>

#include <cfenv>
#include <csignal>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using spindle::fiber;
using spindle::fp_control;
using spindle::fiber_error;
using spindle_test::run_in_child;

TEST_CASE("fiber: nothing runs until the first resume, then it runs to each suspend") {
    std::vector<int> trace;
    fiber f([&] {
        trace.push_back(1);
        fiber::suspend();
        trace.push_back(2);
        fiber::suspend();
        trace.push_back(3);
    });
    CHECK(trace.empty());
    CHECK(!f.done());
    CHECK(static_cast<bool>(f));
    f.resume();
    CHECK(trace == std::vector<int>{1});
    f.resume();
    CHECK(trace == std::vector<int>{1, 2});
    f.resume();
    CHECK(trace == std::vector<int>{1, 2, 3});
    CHECK(f.done());
    CHECK(!f);
}

TEST_CASE("fiber: suspend works from deep inside ordinary calls") {
    int depth_reached = 0;
    std::function<void(int)> recurse = [&](int depth) {
        if (depth == 1000) {
            depth_reached = depth;
            fiber::suspend();
            return;
        }
        recurse(depth + 1);
    };
    // 1 MiB: debug builds under AddressSanitizer use large frames.
    fiber f([&] { recurse(0); }, {.size = 1 << 20});
    f.resume();
    CHECK(depth_reached == 1000);
    CHECK(!f.done());
    f.resume();
    CHECK(f.done());
}

TEST_CASE("fiber: fibers nest and suspend() returns from the innermost resume()") {
    std::vector<std::string> trace;
    fiber outer([&] {
        fiber inner([&] {
            trace.push_back("inner 1");
            CHECK(fiber::current() != nullptr);
            fiber::suspend();
            trace.push_back("inner 2");
        });
        fiber* outer_self = fiber::current();
        inner.resume();
        CHECK(fiber::current() == outer_self);
        trace.push_back("outer 1");
        fiber::suspend();
        inner.resume();
        trace.push_back("outer 2");
    });
    outer.resume();
    CHECK(trace == std::vector<std::string>{"inner 1", "outer 1"});
    outer.resume();
    CHECK(trace == std::vector<std::string>{"inner 1", "outer 1", "inner 2", "outer 2"});
    CHECK(outer.done());
}

TEST_CASE("fiber: current() is the innermost fiber, and nullptr outside") {
    CHECK(fiber::current() == nullptr);
    fiber* seen = nullptr;
    fiber f([&] { seen = fiber::current(); });
    f.resume();
    CHECK(seen == &f);
    CHECK(fiber::current() == nullptr);
}

TEST_CASE("fiber: current() follows the handle when it is moved") {
    fiber* seen = nullptr;
    fiber a([&] {
        fiber::suspend();
        seen = fiber::current();
    });
    a.resume();
    fiber b = std::move(a);
    b.resume();
    CHECK(seen == &b);
    CHECK(a.done());
}

TEST_CASE("fiber: an exception escaping the body is rethrown by resume(), once") {
    fiber f([] {
        fiber::suspend();
        throw std::runtime_error("boom");
    });
    f.resume();
    CHECK_THROWS_WITH_AS(f.resume(), "boom", std::runtime_error);
    CHECK(f.done());
    CHECK_THROWS_AS(f.resume(), fiber_error);
}

TEST_CASE("fiber: misuse throws fiber_error with a clear message") {
    SUBCASE("resume an empty fiber") {
        fiber empty;
        CHECK(empty.done());
        CHECK_THROWS_WITH_AS(empty.resume(), doctest::Contains("empty fiber"), fiber_error);
    }
    SUBCASE("resume a finished fiber") {
        fiber f([] {});
        f.resume();
        CHECK_THROWS_WITH_AS(f.resume(), doctest::Contains("finished fiber"), fiber_error);
    }
    SUBCASE("a fiber resumes itself") {
        fiber f;
        f = fiber([&] { f.resume(); });
        CHECK_THROWS_WITH_AS(f.resume(), doctest::Contains("running fiber"), fiber_error);
    }
    SUBCASE("a fiber resumes the fiber that resumed it") {
        fiber outer;
        outer = fiber([&] {
            fiber inner([&] { outer.resume(); });
            inner.resume();
        });
        CHECK_THROWS_WITH_AS(outer.resume(), doctest::Contains("running fiber"), fiber_error);
    }
    SUBCASE("suspend outside any fiber") {
        CHECK_THROWS_WITH_AS(fiber::suspend(), doctest::Contains("outside any fiber"),
                             fiber_error);
    }
}

namespace {
struct records_destruction {
    std::vector<std::string>* log;
    std::string name;
    ~records_destruction() { log->push_back(name); }
};
}  // namespace

TEST_CASE("fiber: destroying a suspended fiber unwinds its stack") {
    std::vector<std::string> log;
    {
        fiber f([&] {
            records_destruction outer{&log, "outer"};
            [&] {
                records_destruction inner{&log, "inner"};
                fiber::suspend();
                log.push_back("never");
            }();
        });
        f.resume();
        CHECK(log.empty());
    }
    CHECK(log == std::vector<std::string>{"inner", "outer"});
}

TEST_CASE("fiber: assigning over a suspended fiber unwinds it first") {
    std::vector<std::string> log;
    fiber f([&] {
        records_destruction guard{&log, "first"};
        fiber::suspend();
    });
    f.resume();
    f = fiber([&] { log.push_back("second ran"); });
    CHECK(log == std::vector<std::string>{"first"});
    f.resume();
    CHECK(log == std::vector<std::string>{"first", "second ran"});
}

TEST_CASE("fiber: catch (...) sees the unwinding and must rethrow it") {
    bool saw_unwinding = false;
    {
        fiber f([&] {
            try {
                fiber::suspend();
            } catch (...) {
                saw_unwinding = true;
                throw;
            }
        });
        f.resume();
    }
    CHECK(saw_unwinding);
}

TEST_CASE("fiber: a fiber that never started is destroyed without running its body") {
    bool ran = false;
    auto token = std::make_shared<int>(1);
    std::weak_ptr<int> watch = token;
    {
        fiber f([&ran, token = std::move(token)] { ran = true; });
    }
    CHECK(!ran);
    CHECK(watch.expired());  // the body (and its captures) were destroyed
}

TEST_CASE("fiber: the body is destroyed when it finishes") {
    auto token = std::make_shared<int>(1);
    std::weak_ptr<int> watch = token;
    fiber f([token = std::move(token)] {});
    f.resume();
    CHECK(watch.expired());
}

TEST_CASE("fiber: move-only bodies and the constructor does not hijack copies") {
    auto owned = std::make_unique<int>(7);
    int seen = 0;
    fiber f([&seen, owned = std::move(owned)] { seen = *owned; });
    fiber g(std::move(f));
    g.resume();
    CHECK(seen == 7);
    static_assert(!std::is_copy_constructible_v<fiber>);
    static_assert(std::is_nothrow_move_constructible_v<fiber>);
    static_assert(!std::is_constructible_v<fiber, int>);
}

TEST_CASE("fiber: names and ids") {
    fiber a([] {});
    fiber b([] {});
    CHECK(a.id() != 0);
    CHECK(a.id() != b.id());
    a.set_name("worker-1");
    CHECK(a.name() == "worker-1");
    a.set_name(std::string(100, 'x'));
    CHECK(a.name().size() == 31);
    CHECK(fiber().id() == 0);
}

TEST_CASE("fiber: a body that swallows its unwinding stops the process with a message") {
    SUBCASE("and suspends again") {
        auto result = run_in_child([] {
            fiber f([] {
                try {
                    fiber::suspend();
                } catch (...) {
                }
                fiber::suspend();
            });
            f.set_name("stubborn");
            f.resume();
        });
        CHECK(result.signalled);
        CHECK(result.signal == SIGABRT);
        CHECK(result.err.find("'stubborn' swallowed its unwinding") != std::string::npos);
        CHECK(result.err.find("swallowed its unwinding") != std::string::npos);
        CHECK(result.err.find("suspended again") != std::string::npos);
    }
    SUBCASE("and returns normally") {
        auto result = run_in_child([] {
            fiber f([] {
                try {
                    fiber::suspend();
                } catch (...) {
                }
            });
            f.resume();
        });
        CHECK(result.signalled);
        CHECK(result.err.find("returned normally") != std::string::npos);
    }
}

TEST_CASE("fiber: destroying a running fiber stops the process with a message") {
    auto result = run_in_child([] {
        auto* f = new fiber;
        *f = fiber([f] { delete f; });
        f->resume();
    });
    CHECK(result.signalled);
    CHECK(result.err.find("destroyed while running") != std::string::npos);
}

TEST_CASE("fiber: with fp_control::own each side keeps its floating-point rounding mode") {
    // The rounding mode lives in MXCSR and the x87 control word (FPCR on AArch64). A fiber that
    // asks for its own FP state gets it back at each resume, and its resumer gets its own back
    // at each suspension.
    REQUIRE(std::fegetround() == FE_TONEAREST);
    int seen_at_start = -1;
    int seen_in_fiber = -1;
    fiber f(
        [&] {
            seen_at_start = std::fegetround();
            std::fesetround(FE_UPWARD);
            fiber::suspend();
            seen_in_fiber = std::fegetround();
            std::fesetround(FE_TOWARDZERO);
            fiber::suspend();
            seen_in_fiber = std::fegetround();
        },
        {}, fp_control::own);
    std::fesetround(FE_DOWNWARD);  // after creation: the fiber starts with its creator's state
    f.resume();
    CHECK(seen_at_start == FE_TONEAREST);
    CHECK(std::fegetround() == FE_DOWNWARD);
    std::fesetround(FE_TONEAREST);
    f.resume();
    CHECK(seen_in_fiber == FE_UPWARD);
    CHECK(std::fegetround() == FE_TONEAREST);
    f.resume();
    CHECK(seen_in_fiber == FE_TOWARDZERO);
    CHECK(std::fegetround() == FE_TONEAREST);
    CHECK(f.done());
}

TEST_CASE("fiber: fp_control::own holds when the fiber throws, is unwound, or nests plain fibers") {
    REQUIRE(std::fegetround() == FE_TONEAREST);
    fiber thrower(
        [] {
            std::fesetround(FE_UPWARD);
            throw std::runtime_error("boom");
        },
        {}, fp_control::own);
    CHECK_THROWS_AS(thrower.resume(), std::runtime_error);
    CHECK(std::fegetround() == FE_TONEAREST);

    int seen_by_inner = -1;
    int seen_after_inner = -1;
    {
        fiber outer(
            [&] {
                std::fesetround(FE_DOWNWARD);
                // A plain fiber inside runs with whatever its resumer has: the outer's state.
                fiber inner([&] {
                    seen_by_inner = std::fegetround();
                    std::fesetround(FE_TOWARDZERO);
                });
                inner.resume();
                seen_after_inner = std::fegetround();  // the plain one changed it for good
                fiber::suspend();
                std::fesetround(FE_UPWARD);  // while being unwound
            },
            {}, fp_control::own);
        outer.resume();
        CHECK(std::fegetround() == FE_TONEAREST);
    }  // destroyed while suspended: unwinding resumes it once more
    CHECK(seen_by_inner == FE_DOWNWARD);
#if !SPINDLE_CONTEXT_FCONTEXT
    CHECK(seen_after_inner == FE_TOWARDZERO);  // (with Boost.Context the inner keeps its own)
#else
    CHECK(seen_after_inner == FE_DOWNWARD);
#endif
    CHECK(std::fegetround() == FE_TONEAREST);
}

#if !SPINDLE_CONTEXT_FCONTEXT
TEST_CASE("fiber: by default the floating-point control state is the thread's") {
    // As with a C++20 coroutine: a body that changes the rounding mode and suspends leaves it
    // changed for its resumer, and sees what its resumer set. (With the Boost.Context backend
    // every context keeps its own, because jump_fcontext saves it.)
    REQUIRE(std::fegetround() == FE_TONEAREST);
    int seen_in_fiber = -1;
    fiber f([&] {
        std::fesetround(FE_UPWARD);
        fiber::suspend();
        seen_in_fiber = std::fegetround();
    });
    f.resume();
    CHECK(std::fegetround() == FE_UPWARD);
    std::fesetround(FE_DOWNWARD);
    f.resume();
    CHECK(seen_in_fiber == FE_DOWNWARD);
    std::fesetround(FE_TONEAREST);
}
#endif
