// promise and future: one result between tasks, values, references, void, exceptions, misuse.

#include "allocation_failure.hpp"
#include "parked.hpp"
#include "workers.hpp"

#include <spindle/future.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/timeout.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <memory>
#include <stdexcept>
#include <string>

using namespace spindle;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST_CASE("future: get() waits for the value another task sets") {
    run([] {
        promise<std::string> p;
        future<std::string> f = p.get_future();
        CHECK(f.valid());
        CHECK(!f.ready());
        auto setter = spawn([&] {
            this_fiber::yield();
            p.set_value(3, 'x');
        });
        CHECK(f.get() == "xxx");
        CHECK(!f.valid());
        setter.join();
    });
}

TEST_CASE("future: move-only values, references and void") {
    run([] {
        promise<std::unique_ptr<int>> owned;
        auto owned_future = owned.get_future();
        owned.set_value(std::make_unique<int>(7));
        CHECK(owned_future.ready());
        CHECK(*owned_future.get() == 7);

        int target = 1;
        promise<int&> ref;
        auto ref_future = ref.get_future();
        auto setter = spawn([&] { ref.set_value(target); });
        int& got = ref_future.get();
        CHECK(&got == &target);
        setter.join();

        promise<void> done;
        auto done_future = done.get_future();
        auto waiter = spawn([&] { done_future.get(); });
        REQUIRE(spindle_test::until_waiting(1));
        CHECK(!waiter.done());  // it waits for the value
        done.set_value();
        waiter.join();
    });
}

TEST_CASE("future: set_exception is rethrown by get(); a broken promise throws broken_promise") {
    run([] {
        promise<int> p;
        auto f = p.get_future();
        auto waiter = spawn([&] { return f.get(); });
        this_fiber::yield();
        p.set_exception(std::make_exception_ptr(std::runtime_error("no answer")));
        CHECK_THROWS_WITH_AS(waiter.join(), "no answer", std::runtime_error);
        CHECK(!f.valid());

        auto broken = std::make_unique<promise<void>>();
        auto broken_future = broken->get_future();
        auto broken_waiter = spawn([&] { broken_future.get(); });
        this_fiber::yield();
        broken.reset();
        CHECK_THROWS_WITH_AS(broken_waiter.join(), doctest::Contains("destroyed before"),
                             broken_promise);

        future<int> orphan;
        {
            promise<int> gone;
            orphan = gone.get_future();
        }
        CHECK(orphan.ready());
        CHECK_THROWS_AS(orphan.get(), broken_promise);
    });
}

TEST_CASE("future: wait, wait_until and wait_for") {
    run([] {
        promise<int> p;
        auto f = p.get_future();
        const auto deadline = clock_type::now() + 2ms;
        CHECK(!f.wait_until(deadline));
        CHECK(clock_type::now() >= deadline);
        CHECK(!f.wait_for(0ms));
        auto setter = spawn([&] { p.set_value(5); });
        CHECK(f.wait_for(1h));
        f.wait();
        CHECK(f.ready());
        CHECK(f.valid());  // waiting takes nothing
        CHECK(f.get() == 5);
        setter.join();
    });
}

TEST_CASE("future: a cancelled get() leaves the future as it was; with_timeout ends one") {
    run([] {
        promise<int> p;
        auto f = p.get_future();
        auto waiter = spawn([&] { return f.get(); });
        this_fiber::yield();
        waiter.cancel();
        CHECK_THROWS_AS(waiter.join(), cancelled);
        CHECK(f.valid());
        CHECK_THROWS_AS(with_timeout(1ms, [&] { return f.get(); }), timeout_error);
        CHECK(f.valid());
        p.set_value(9);
        CHECK(f.get() == 9);
    });
}

TEST_CASE("future: misuse errors") {
    promise<int> p;
    auto f = p.get_future();
    CHECK_THROWS_WITH_AS(p.get_future(), doctest::Contains("second time"), fiber_error);
    CHECK_FALSE(f.wait_for(1ms));  // outside any task a wait blocks the thread, to its deadline
    CHECK_THROWS_WITH_AS(p.set_exception(nullptr), doctest::Contains("null"),
                         std::invalid_argument);
    p.set_value(1);
    CHECK_THROWS_WITH_AS(p.set_value(2), doctest::Contains("a second time"), fiber_error);
    CHECK_THROWS_WITH_AS(p.set_exception(std::make_exception_ptr(1)),
                         doctest::Contains("a second time"), fiber_error);
    CHECK(f.get() == 1);  // ready: no task needed
    CHECK_THROWS_WITH_AS(f.get(), doctest::Contains("without a state"), fiber_error);
    CHECK_THROWS_AS(f.wait(), fiber_error);
    future<int> empty;
    CHECK(!empty.valid());
    CHECK(!empty.ready());
    CHECK_THROWS_AS(empty.wait_for(1ms), fiber_error);
    promise<int> moved_to(std::move(p));
    CHECK_THROWS_WITH_AS(p.set_value(3), doctest::Contains("moved from"), fiber_error);
}

TEST_CASE("future: destroyed while a task waits on it, the wait throws fiber_error") {
    run([] {
        promise<int> p;
        auto f = std::make_unique<future<int>>(p.get_future());
        auto waiter = spawn([&] { f->wait(); });
        REQUIRE(spindle_test::until_waiting(1));
        f.reset();
        CHECK_THROWS_WITH_AS(waiter.join(), doctest::Contains("future was destroyed"),
                             fiber_error);
        p.set_value(1);  // nobody receives it; the state goes with the promise
    });
}

TEST_CASE("future: a deadlock report says what the task waits on") {
    promise<int> p;  // outlives the scheduler, which unwinds the stuck task when destroyed
    auto f = p.get_future();
    CHECK_THROWS_WITH_AS(run([&] { return f.get(); }),
                         doctest::Contains("waits on future wait (promise not satisfied yet)"),
                         deadlock_error);
}

TEST_CASE("future: a named promise's future is named in the deadlock report") {
    promise<int> p;
    p.set_name("config loaded");
    auto f = p.get_future();
    CHECK(f.name() == "config loaded");
    f.set_name("settings");
    CHECK(p.name() == "settings");
    CHECK_THROWS_WITH_AS(
        run([&] { return f.get(); }),
        doctest::Contains("waits on future wait (promise not satisfied yet) 'settings'"),
        deadlock_error);
    future<int> empty;
    CHECK_THROWS_AS(empty.set_name("x"), fiber_error);
    CHECK(empty.name().empty());
}

TEST_CASE("future: the promise's constructor allocates the state; failure is std::bad_alloc") {
    SKIP_UNLESS_ALLOCATION_FAILURE_AVAILABLE();
    {
        fail_allocation fail(1);
        CHECK_THROWS_AS(promise<std::string>(), std::bad_alloc);
        CHECK(fail.failed());
    }
    promise<std::string> p;  // nothing else allocates: making the future, setting, getting
    fail_every_allocation fail;
    auto f = p.get_future();
    p.set_value("short");
    CHECK(f.get() == "short");
}
