// spindle::to_thread(): results, exceptions, other tasks running meanwhile, cancellation.

#include "parked.hpp"

#include <spindle/io.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace spindle;
using namespace std::chrono_literals;

TEST_CASE("to_thread: the value comes back, from another thread") {
    const auto caller = std::this_thread::get_id();
    const int value = run([&] {
        return to_thread([&] {
            CHECK(std::this_thread::get_id() != caller);
            return 42;
        });
    });
    CHECK(value == 42);
    // A move-only result, and a function returning nothing.
    auto pointer = run([] { return to_thread([] { return std::make_unique<int>(7); }); });
    CHECK(*pointer == 7);
    bool ran = false;
    run([&] { to_thread([&] { ran = true; }); });
    CHECK(ran);
}

TEST_CASE("to_thread: an exception is rethrown in the task") {
    run([] {
        CHECK_THROWS_WITH_AS(to_thread([]() -> int { throw std::runtime_error("disk on fire"); }),
                             "disk on fire", std::runtime_error);
    });
}

TEST_CASE("to_thread: only the calling task waits; the others run meanwhile") {
    std::promise<void> released;
    std::shared_future<void> release = released.get_future().share();
    std::vector<std::string> order;
    run([&] {
        auto blocked = spawn([&] {
            to_thread([&] { release.wait(); });  // blocks its helper until the other task says
            order.push_back("helper returned");
        });
        auto other = spawn([&] {
            this_fiber::yield();
            order.push_back("other ran");
            released.set_value();
        });
        blocked.join();
        other.join();
    });
    CHECK(order == std::vector<std::string>{"other ran", "helper returned"});
}

TEST_CASE("to_thread: many at once all complete") {
    std::atomic<int> calls{0};
    const int total = run([&] {
        std::vector<task<int>> tasks;
        for (int i = 0; i < 40; ++i)
            tasks.push_back(spawn([&, i] {
                return to_thread([&, i] {
                    ++calls;
                    std::this_thread::sleep_for(1ms);
                    return i;
                });
            }));
        int sum = 0;
        for (auto& t : tasks) sum += t.join();
        return sum;
    });
    CHECK(calls == 40);
    CHECK(total == 40 * 39 / 2);
}

TEST_CASE("to_thread: a cancelled task sees its cancellation once the function has returned") {
    std::promise<void> released;
    std::shared_future<void> release = released.get_future().share();
    std::atomic<bool> function_finished{false};
    run([&] {
        auto worker = spawn([&] {
            to_thread([&] {
                release.wait();
                function_finished = true;
            });
            FAIL("to_thread returned normally in a cancelled task");
        });
        REQUIRE(spindle_test::until_waiting(1));  // it waits for its function
        worker.cancel();
        CHECK_FALSE(worker.done());  // it still waits for its function
        released.set_value();
        CHECK_THROWS_AS(worker.join(), cancelled);
        CHECK(function_finished);
    });
}

TEST_CASE("to_thread: outside any task the function runs on the calling thread") {
    const auto caller = std::this_thread::get_id();
    CHECK(to_thread([&] { return std::this_thread::get_id(); }) == caller);
}

TEST_CASE("to_thread: a task waiting for a helper is not deadlocked") {
    // Only the helper can end the wait: the scheduler must wait for it, not report a deadlock.
    const int value = run([] {
        return to_thread([] {
            std::this_thread::sleep_for(20ms);
            return 5;
        });
    });
    CHECK(value == 5);
}

TEST_CASE("submit: work from another thread wakes a scheduler idling in its poller") {
    // The only task waits to read a pipe (so the idle scheduler waits in epoll); the submitted
    // function, run on the scheduler's thread, writes the byte it waits for.
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    scheduler s;
    char got = 0;
    auto reader = s.spawn([&] { CHECK(io::read(fds[0], &got, 1) == 1); });
    std::thread outside([&] {
        std::this_thread::sleep_for(10ms);  // most often after the reader waits; either order works
        s.submit([&] {
             const char byte = 'x';
             return io::write(fds[1], &byte, 1);
         }).get();
    });
    s.run();
    outside.join();
    CHECK(got == 'x');
    ::close(fds[0]);
    ::close(fds[1]);
}
