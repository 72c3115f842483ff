// Resource exhaustion: fibers, generators and tasks made until the address space (RLIMIT_AS)
// or the guard budget (vm.max_map_count) runs out. Every failure must be an exception of the
// documented type from the call that allocates, and the process must go on: once the stacks are
// released, creating works again. Each case runs in a forked child, whose limits it lowers.

#include "child_process.hpp"
#include "context/sanitizers.hpp"
#include "stack/stack_pool.hpp"

#include <spindle/errors.hpp>
#include <spindle/fiber.hpp>
#include <spindle/generator.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

using namespace spindle;
using spindle::detail::stack_pool_stats;
using spindle_test::run_in_child;

namespace {

// The sanitizers reserve terabytes of shadow memory and Valgrind keeps its own address-space
// map, so RLIMIT_AS means nothing under them: those cases run in the plain builds only.
bool address_space_limit_works() {
#if SPINDLE_ASAN || SPINDLE_TSAN
    return false;
#elif SPINDLE_VALGRIND
    return !RUNNING_ON_VALGRIND;
#else
    return true;
#endif
}
const bool no_address_space_limit = !address_space_limit_works();

// fail() reports a broken expectation from a child on stderr, where the parent looks for it.
void fail(const char* what) { std::fprintf(stderr, "FAIL: %s\n", what); }

// limit_address_space() lets the child map only `headroom` more bytes than it has now.
void limit_address_space(std::size_t headroom) {
    std::size_t size_kib = 0;
    if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
        char line[256];
        while (std::fgets(line, sizeof line, f))
            if (std::strncmp(line, "VmSize:", 7) == 0)
                size_kib = std::strtoull(line + 7, nullptr, 10);
        std::fclose(f);
    }
    const rlimit limit{size_kib * 1024 + headroom, size_kib * 1024 + headroom};
    if (size_kib == 0 || ::setrlimit(RLIMIT_AS, &limit) != 0) fail("could not set RLIMIT_AS");
}

// check_child() asserts that a child ran to its end without a broken expectation.
void check_child(const spindle_test::child_result& result) {
    INFO(result.err);
    CHECK(result.exited);
    CHECK(result.exit_code == 0);
    CHECK(result.err.find("FAIL") == std::string::npos);
    CHECK(result.err.find("done") != std::string::npos);
}

// fill_until_refused() calls make() until it throws; it returns how many succeeded, and checks
// that the failure was a std::bad_alloc with a message.
template <class Make>
int fill_until_refused(Make make, int at_most) {
    for (int made = 0; made < at_most; ++made) {
        try {
            make();
        } catch (const std::bad_alloc& e) {
            if (std::strlen(e.what()) == 0) fail("the std::bad_alloc has no message");
            return made;
        } catch (...) {
            fail("the failure was not a std::bad_alloc");
            return made;
        }
    }
    fail("nothing ran out");
    return at_most;
}

}  // namespace

TEST_CASE("exhaustion: fibers until RLIMIT_AS refuses: std::bad_alloc, then creation works "
          "again" * doctest::skip(no_address_space_limit)) {
    check_child(run_in_child([] {
        std::vector<fiber> fibers;
        fibers.reserve(100000);
        limit_address_space(64 << 20);
        const int made = fill_until_refused(
            [&] {
                fibers.emplace_back([] { fiber::suspend(); });
                fibers.back().resume();
            },
            100000);
        if (made < 10) fail("too few fibers before the limit");
        fibers.erase(fibers.begin() + made / 2, fibers.end());
        for (int i = 0; i < 10; ++i) {
            fibers.emplace_back([] { fiber::suspend(); });
            fibers.back().resume();
        }
        for (auto& f : fibers) f.resume();
        std::fprintf(stderr, "done: %d fibers\n", made);
    }));
}

TEST_CASE("exhaustion: generators until RLIMIT_AS refuses: std::bad_alloc, then creation works "
          "again" * doctest::skip(no_address_space_limit)) {
    check_child(run_in_child([] {
        std::vector<generator<int>> generators;
        generators.reserve(100000);
        limit_address_space(64 << 20);
        const int made = fill_until_refused(
            [&] {
                generator<int> g([](yielder<int>& yield) { yield(1); });
                generators.push_back(std::move(g));
            },
            100000);
        if (made < 10) fail("too few generators before the limit");
        generators.clear();
        generator<int> again([](yielder<int>& yield) { yield(7); });
        if (again.next() != 7) fail("a generator made after the release does not run");
        std::fprintf(stderr, "done: %d generators\n", made);
    }));
}

TEST_CASE("exhaustion: tasks until RLIMIT_AS refuses: those without a stack end with "
          "std::bad_alloc, the others finish, and the scheduler runs again" *
          doctest::skip(no_address_space_limit)) {
    check_child(run_in_child([] {
        int finished = 0;
        int refused = 0;
        constexpr int count = 400;  // 400 stacks of 256 KiB: more than 64 MiB of headroom
        limit_address_space(64 << 20);
        run([&] {
            std::vector<task<void>> tasks;
            tasks.reserve(count);
            for (int i = 0; i < count; ++i)
                tasks.push_back(
                    spawn([] { this_fiber::sleep_for(std::chrono::milliseconds(20)); }));
            for (auto& t : tasks) {
                try {
                    t.join();
                    ++finished;
                } catch (const std::bad_alloc&) {
                    ++refused;
                }
            }
        });
        if (refused == 0) fail("no task was refused a stack");
        if (finished == 0) fail("no task finished");
        int again = 0;
        run([&] {
            for (int i = 0; i < 10; ++i) spawn([&again] { ++again; }).join();
        });
        if (again != 10) fail("the scheduler did not run tasks after the exhaustion");
        std::fprintf(stderr, "done: %d finished, %d refused\n", finished, refused);
    }));
}

TEST_CASE("exhaustion: mmap refused while stacks of another size are cached: the pool gives "
          "them back and the mapping is retried" * doctest::skip(no_address_space_limit)) {
    check_child(run_in_child([] {
        {
            std::vector<fiber> idle;
            for (int i = 0; i < 48; ++i) idle.emplace_back([] {}, stack_options{.size = 1 << 20});
        }  // 48 MiB of idle cached stacks of 1 MiB
        if (stack_pool_stats().cached < 48) fail("the stacks were not cached");
        limit_address_space(8 << 20);
        const auto trimmed_before = stack_pool_stats().trimmed;
        try {
            fiber f([] {}, {.size = 16 << 20});
            f.resume();
        } catch (...) {
            fail("a 16 MiB stack was refused though 48 MiB of cached stacks could be released");
        }
        if (stack_pool_stats().trimmed != trimmed_before + 1) fail("the pool was not trimmed");
        try {
            fiber f([] {}, {.size = 256 << 20});
            fail("a 256 MiB stack was made beyond RLIMIT_AS");
        } catch (const stack_allocation_error& e) {
            if (!std::strstr(e.what(), "no memory")) fail("the message does not say what ran out");
        }
        fiber small([] {});
        small.resume();
        std::fprintf(stderr, "done\n");
    }));
}

TEST_CASE("exhaustion: a required guard past the guard budget is refused, and granted again "
          "once guarded stacks are released") {
    check_child(run_in_child([] {
        spindle::detail::set_max_map_count_for_testing(
            2 * (spindle::detail::guarded_stacks_mapped_now() + 200));
        std::vector<fiber> fibers;
        fibers.reserve(1000);
        const int made = fill_until_refused(
            [&] { fibers.emplace_back([] {}, stack_options{.size = 16384, .guard = true}); }, 1000);
        if (made < 100) fail("the budget refused too early");
        for (auto& f : fibers)
            if (!spindle::detail::fiber_access::control(f)->stack.guarded)
                fail("a stack that required a guard has none");
        try {
            fiber f([] {}, {.size = 16384, .guard = stack_guard::required});
            fail("a required guard past the budget was granted");
        } catch (const stack_allocation_error& e) {
            if (!std::strstr(e.what(), "vm.max_map_count")) fail("the message does not say why");
        }
        // Stacks that take a guard when available, or none, still come.
        fiber unguarded([] {}, {.size = 16384, .guard = false});
        fiber if_available([] {}, {.size = 16384});
        if (spindle::detail::fiber_access::control(if_available)->stack.guarded)
            fail("a guard past the budget");
        unguarded.resume();
        if_available.resume();
        fibers.resize(static_cast<std::size_t>(made) - 10);
        fiber again([] {}, {.size = 16384, .guard = true});
        again.resume();
        std::fprintf(stderr, "done: %d guarded stacks\n", made);
    }));
}

TEST_CASE("exhaustion: stacks that take a guard when available go without past the budget, "
          "with one notice") {
    const auto result = run_in_child([] {
        spindle::detail::set_max_map_count_for_testing(
            4 * (spindle::detail::guarded_stacks_mapped_now() + 50));
        std::vector<fiber> fibers;
        int guarded = 0;
        for (int i = 0; i < 200; ++i) {
            fibers.emplace_back([] {}, stack_options{.size = 16384});
            guarded += spindle::detail::fiber_access::control(fibers.back())->stack.guarded;
        }
        if (guarded < 40 || guarded > 60) fail("the budget was not what vm.max_map_count allows");
        std::fprintf(stderr, "done: %d of 200 guarded\n", guarded);
    });
    check_child(result);
    const auto first = result.err.find("get none");
    CHECK(first != std::string::npos);
    CHECK(result.err.find("get none", first + 1) == std::string::npos);
}

TEST_CASE("exhaustion: guarded fibers up to the real vm.max_map_count budget, then an error "
          "and the program goes on") {
    check_child(run_in_child([] {
        std::vector<fiber> fibers;
        fibers.reserve(1 << 20);
        const int made = fill_until_refused(
            [&] { fibers.emplace_back([] {}, stack_options{.size = 16384, .guard = true}); },
            1 << 20);
        if (made < 1000) fail("too few guarded stacks");
        fibers.clear();
        fiber again([] {}, {.size = 16384, .guard = true});
        again.resume();
        std::fprintf(stderr, "done: %d guarded stacks\n", made);
    }));
}
