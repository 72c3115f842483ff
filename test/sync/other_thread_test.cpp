// Channels and the other primitives from a thread that is not the scheduler's: until they take
// locks (worker threads, issue 13), such a thread hands the scheduler a function that uses them
// (submit()); using them directly while the scheduler runs elsewhere is refused with a message,
// not left to corrupt the queues.

#include "child_process.hpp"

#include <spindle/channel.hpp>
#include <spindle/errors.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <thread>

using namespace spindle;

TEST_CASE("other threads: a send submitted to the scheduler reaches the task waiting for it") {
    scheduler s;
    channel<int> values(0);
    std::optional<int> got;
    auto receiver = s.spawn([&] { got = values.receive(); });
    scheduler_handle handle = s.keep_open();  // the receiver's wait is no deadlock meanwhile
    std::thread outside([&] {
        handle.submit([&values] { values.send(7); }).get();
        handle.release();
    });
    s.run();
    outside.join();
    CHECK(got == std::optional<int>(7));
}

TEST_CASE("other threads: a send from a thread that would wake a task of a scheduler running "
          "elsewhere stops the process, naming the task") {
    const auto result = spindle_test::run_in_child([] {
        scheduler s;
        channel<int> values(0);
        auto receiver = s.spawn("receiver", [&values] { (void)values.receive(); });
        scheduler_handle handle = s.keep_open();
        std::thread runner([&s] { s.run(); });
        s.submit([] {}).get();  // run() runs on `runner`, the receiver waits
        values.send(1);         // from this thread: refused
        runner.join();
    });
    CHECK(result.signalled);
    CHECK(result.err.find("'receiver' was woken") != std::string::npos);
    CHECK(result.err.find("submit()") != std::string::npos);
}

TEST_CASE("other threads: a receive that would wait on a thread outside any task is refused") {
    channel<int> values(1);
    std::string message;
    std::thread outside([&] {
        try {
            (void)values.receive();
        } catch (const fiber_error& e) {
            message = e.what();
        }
    });
    outside.join();
    CHECK(message.find("outside any task") != std::string::npos);
}
