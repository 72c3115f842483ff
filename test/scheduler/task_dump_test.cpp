// dump_tasks() and the dump signal list every task of every scheduler: id, name, state, wait,
// spawn site and a suspended task's stack.

#include "child_process.hpp"
#include "under_valgrind.hpp"
#include "workers.hpp"

#include <spindle/debug.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using spindle_test::run_in_child;

namespace {

// suspended_stack is how a parked task's stack starts in the dump: its first frame with the
// hand-written switch, which saves one; with Boost.Context's, which saves none, the dump says so.
const std::string suspended_stack = SPINDLE_CONTEXT_INLINE
                                        ? "      #0 0x"
                                        : "      (this context switch saves no frame";

// dumped() is what dump_tasks() writes, read back from a memory file.
std::string dumped() {
    const int fd = ::memfd_create("spindle-test-dump", 0);
    REQUIRE(fd >= 0);
    spindle::dump_tasks(fd);
    ::lseek(fd, 0, SEEK_SET);
    std::string text;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, n);
    ::close(fd);
    return text;
}

std::string site(int line) { return std::string("spawned at ") + __FILE__ + ":" + std::to_string(line); }

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// sleep_until_cancelled() is a wait that no timer ends while the test looks at it.
void sleep_until_cancelled() {
    try {
        spindle::this_fiber::sleep_for(24h);
    } catch (const spindle::cancelled&) {
    }
}

}  // namespace

// (One worker: a dump lists a scheduler with several workers' tasks only while it does not run,
// as the case below checks; these two dump a running one from inside.)
TEST_CASE("dump_tasks: every task with its state, wait, spawn site and stack"
          * spindle_test::single_worker()) {
    std::string text;
    int sleeper_line = 0, main_line = 0;
    spindle::scheduler idle;  // made, never run: its tasks are listed as not started
    auto queued = idle.spawn("queued", [] {});
    spindle::scheduler s;
    main_line = __LINE__; auto main = s.spawn("main", [&] {
        sleeper_line = __LINE__; auto sleeper = spindle::spawn("sleeper", sleep_until_cancelled);
        auto joiner = spindle::spawn("joiner", [&sleeper] { sleeper.join(); });
        spindle::this_fiber::yield();  // both start and wait
        auto later = spindle::spawn([] {});
        text = dumped();
        sleeper.cancel();
        joiner.join();
    });
    s.run();
    INFO(text);
    CHECK(has(text, "spindle: task dump of process " + std::to_string(::getpid()) + "\n"));
    CHECK(has(text, ": 4 tasks, running on this thread\n"));
    CHECK(has(text, "  task 1 'main': running (the caller of the dump); " + site(main_line) + "\n"));
    CHECK(has(text, "  task 2 'sleeper': waiting on sleep; " + site(sleeper_line) + "\n" +
                        suspended_stack));
    CHECK(has(text, "  task 3 'joiner': waiting on join of task 2; spawned at "));
    CHECK(has(text, "  task 4: ready, not started; spawned at "));
    CHECK(has(text, ": 1 task, not running\n  task 1 'queued': ready, not started; spawned at "));
}

TEST_CASE("dump_tasks: a scheduler running on another thread is listed without its tasks") {
    std::atomic<bool> started{false}, stop{false};
    std::thread other([&] {
        spindle::run([&] {
            started = true;
            while (!stop) spindle::this_fiber::sleep_for(1ms);
        });
    });
    while (!started) std::this_thread::yield();
    const std::string text = dumped();
    stop = true;
    other.join();
    INFO(text);
    // (With several workers the line says how many run it instead of "another thread".)
    CHECK((has(text, ": runs on another thread; its tasks are not shown") ||
           has(text, " workers; its tasks are not shown while it runs")));
    CHECK(!has(text, "task 1 'main'"));
}

TEST_CASE("dump signal: the signal writes the dump to stderr and the program goes on"
          * spindle_test::single_worker()) {
    const auto result = run_in_child([] {
        spindle::install_task_dump_signal(SIGQUIT);
        spindle::run([] {
            auto sleeper = spindle::spawn("sleeper", sleep_until_cancelled);
            spindle::this_fiber::yield();
            std::raise(SIGQUIT);
            sleeper.cancel();
        });
        ::_exit(7);
    });
    INFO(result.err);
    CHECK(result.exit_code == 7);
    CHECK(has(result.err, "spindle: task dump of process "));
    CHECK(has(result.err, "  task 1 'main': running (the caller of the dump); spawned at "));
    CHECK(has(result.err, "  task 2 'sleeper': waiting on sleep; spawned at "));
    CHECK(has(result.err, suspended_stack));
}

// (Not under Valgrind with --fair-sched=yes, as CI runs it: when the passed-on signal interrupts
// the scheduler thread's futex wait, memcheck reports the restarted call's own stack frame as an
// invalid write in about half the runs; the dump it writes is right.)
TEST_CASE("dump signal: a thread without a scheduler passes it on to the thread running one"
          * doctest::skip(spindle_test::test_threads() > 1 || spindle_test::under_valgrind())) {
    const auto result = run_in_child([] {
        spindle::install_task_dump_signal(SIGQUIT);
        spindle::run([] {
            std::atomic<bool> raised{false};
            std::thread helper([&] {
                std::raise(SIGQUIT);  // this thread's; it runs no scheduler
                raised = true;
            });
            while (!raised) spindle::this_fiber::sleep_for(1ms);
            helper.join();
            // The passed-on signal is pending on this thread by now, and arrives when a system
            // call returns: the next sleep's.
            spindle::this_fiber::sleep_for(1ms);
        });
        ::_exit(7);
    });
    INFO(result.err);
    CHECK(result.exit_code == 7);
    CHECK(has(result.err, ": runs on another thread, which writes its tasks\n"));
    CHECK(has(result.err, "spindle: task dump of process " ));
    CHECK(has(result.err, ", from a thread running a scheduler\n"));
    CHECK(has(result.err, "  task 1 'main': "));
}
