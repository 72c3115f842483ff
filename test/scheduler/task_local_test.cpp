// task_local: a value per task, made on first use, destroyed when the task ends; a value per
// thread outside tasks.

#include "allocation_failure.hpp"
#include "child_process.hpp"
#include "parked.hpp"
#include "workers.hpp"

#include <spindle/errors.hpp>
#include <spindle/fiber.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/task_local.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace spindle;
using namespace std::chrono_literals;

namespace {

// events is what the values' constructors and destructors did, in order; each test clears it.
// Tasks on several workers may add to it at once: they do under events_lock.
std::vector<std::string> events;
std::mutex events_lock;

void log_event(std::string event) {
    std::lock_guard<std::mutex> hold(events_lock);
    events.push_back(std::move(event));
}

// logged says when it is made and destroyed.
struct logged {
    std::string name;
    explicit logged(std::string n) : name(std::move(n)) { log_event("+" + name); }
    logged(const logged&) = delete;
    logged& operator=(const logged&) = delete;
    ~logged() { log_event("-" + name); }
};

// counted counts the live values of the tests that check none is leaked.
struct counted {
    static inline int live = 0;
    int value = 7;
    counted() { ++live; }
    counted(const counted& other) : value(other.value) { ++live; }
    ~counted() { --live; }
};

// ping_pong is two task_locals whose values' destructors each make the other's value.
namespace ping_pong {
int made = 0, destroyed = 0, refused = 0;
struct ping {
    ping() { ++made; }
    ~ping();
};
struct pong {
    pong() { ++made; }
    ~pong();
};
task_local<ping> pings;
task_local<pong> pongs;
template <class T>
void make_other(const task_local<T>& other) {
    ++destroyed;
    try {
        (void)other.get();
    } catch (const fiber_error&) {
        ++refused;
    }
}
ping::~ping() { make_other(pongs); }
pong::~pong() { make_other(pings); }
}  // namespace ping_pong

}  // namespace

TEST_CASE("task_local: each task has its own value, through yields and sleeps") {
    static task_local<int> mine;
    constexpr int tasks = 24;
    std::vector<int> finals(tasks, -1);
    std::vector<char> same_object(tasks, false);  // not vector<bool>: tasks on several workers
    run([&] {
        mine.get() = -100;  // main's own, which no other task sees
        std::vector<task<void>> all;
        for (int i = 0; i < tasks; ++i) {
            all.push_back(spawn([&, i] {
                CHECK(mine.get() == 0);  // value-initialised on first use
                int* const first = &mine.get();
                mine.get() = i * 1000;
                for (int round = 0; round < 10; ++round) {
                    // Interleave: yields and sleeps of different lengths reorder the tasks.
                    if ((round + i) % 3 == 0)
                        this_fiber::sleep_for(std::chrono::microseconds((i * 7 + round) % 5));
                    else
                        this_fiber::yield();
                    CHECK(*mine == i * 1000 + round);
                    ++*mine;
                }
                same_object[i] = &mine.get() == first;
                finals[i] = mine.get();
            }));
        }
        gather(std::move(all));
        CHECK(mine.get() == -100);
    });
    for (int i = 0; i < tasks; ++i) {
        CHECK(finals[i] == i * 1000 + 10);
        CHECK(same_object[i]);
    }
}

TEST_CASE("task_local: the initialiser makes each task's value on its first use") {
    static std::atomic<int> calls{0};
    static task_local<std::string> greeting([] {
        ++calls;
        return std::string("fresh");
    });
    calls = 0;
    run([] {
        auto a = spawn([] {
            CHECK(*greeting == "fresh");
            greeting->append(" a");
            this_fiber::yield();
            CHECK(*greeting == "fresh a");
        });
        auto b = spawn([] {
            this_fiber::yield();
            CHECK(greeting.get() == "fresh");
            greeting->append(" b");
        });
        auto idle = spawn([] { this_fiber::yield(); });  // never asks: no call for it
        a.join();
        b.join();
        idle.join();
    });
    CHECK(calls.load() == 2);
}

TEST_CASE("task_local: a value that is neither copyable nor movable is made in place") {
    static task_local<logged> value([] { return logged("in place"); });
    events.clear();
    run([] { CHECK(value->name == "in place"); });
    CHECK(events == std::vector<std::string>{"+in place", "-in place"});
}

TEST_CASE("task_local: get_if() makes nothing; reset() destroys, and get() makes anew") {
    static int made = 0;
    static task_local<logged> value([] {
        std::string name = "v";
        name += std::to_string(++made);
        return logged(name);
    });
    made = 0;
    events.clear();
    run([] {
        CHECK(value.get_if() == nullptr);
        value.reset();  // nothing to reset
        CHECK(made == 0);
        logged* const first = &value.get();
        CHECK(value.get_if() == first);
        CHECK(first->name == "v1");
        value.reset();
        CHECK(events == std::vector<std::string>{"+v1", "-v1"});
        CHECK(value.get_if() == nullptr);
        CHECK(value->name == "v2");
        CHECK(value.get_if() != nullptr);
    });
    CHECK(events == std::vector<std::string>{"+v1", "-v1", "+v2", "-v2"});
}

TEST_CASE("task_local: a task's values are destroyed last made first, before join() returns") {
    static task_local<logged> first([] { return logged("first"); });
    static task_local<logged> second([] { return logged("second"); });
    events.clear();
    run([] {
        struct capture {
            capture() = default;
            capture(const capture&) = default;
            // The function goes before the values: what it captured may still use them.
            ~capture() {
                if (armed) log_event("function (first is " + first->name + ")");
            }
            bool armed = false;
        };
        capture c;
        // The task keeps its values until this task has looked at them (flags, not a yield:
        // with several workers the two run at once).
        std::atomic<bool> made{false}, looked{false};
        auto t = spawn([c, &made, &looked]() mutable {
            c.armed = true;
            (void)second.get();
            (void)first.get();
            made = true;
            while (!looked) this_fiber::yield();
        });
        while (!made) this_fiber::yield();
        CHECK(!t.done());
        CHECK(events == std::vector<std::string>{"+second", "+first"});
        looked = true;
        t.join();
        CHECK(events == std::vector<std::string>{"+second", "+first", "function (first is first)",
                                                 "-first", "-second"});
    });
}

TEST_CASE("task_local: values are destroyed when the task throws") {
    static task_local<logged> value([] { return logged("thrower's"); });
    events.clear();
    run([] {
        auto t = spawn([] {
            (void)value.get();
            this_fiber::yield();
            throw std::runtime_error("failed");
        });
        CHECK_THROWS_WITH_AS(t.join(), "failed", std::runtime_error);
        CHECK(events == std::vector<std::string>{"+thrower's", "-thrower's"});
    });
}

TEST_CASE("task_local: values are destroyed when the task is cancelled") {
    static task_local<logged> value([] { return logged("sleeper's"); });
    events.clear();
    run([] {
        auto t = spawn([] {
            (void)value.get();
            this_fiber::sleep_for(1h);
        });
        REQUIRE(spindle_test::until_waiting(1));  // it made its value and sleeps
        CHECK(events == std::vector<std::string>{"+sleeper's"});
        t.cancel();
        CHECK_THROWS_AS(t.join(), cancelled);
        CHECK(events == std::vector<std::string>{"+sleeper's", "-sleeper's"});
    });
}

TEST_CASE("task_local: a task cancelled before it started never made a value") {
    // Cancelled before run(): with several workers a task spawned inside run() may be started
    // by another worker before the spawner's next line; one spawned before cannot.
    static std::atomic<int> calls{0};
    static task_local<int> value([] { return ++calls; });
    calls = 0;
    scheduler s;
    auto t = s.spawn([] { (void)value.get(); });
    t.cancel();
    s.spawn([&t] { CHECK_THROWS_AS(t.join(), cancelled); }).detach();
    s.run();
    CHECK(calls.load() == 0);
}

TEST_CASE("task_local: a scheduler destroyed with suspended tasks destroys their values") {
    static task_local<logged> value([] { return logged("suspended"); });
    events.clear();
    {
        scheduler s;
        for (int i = 0; i < 3; ++i)
            s.spawn([] {
                (void)value.get();
                this_fiber::sleep_for(1h);
            }).detach();
        // It ends once the three sleep: then each made its value.
        auto first = s.spawn([] { CHECK(spindle_test::until_waiting(3)); });
        s.run_until_complete(first);
        first.join();
        CHECK(events == std::vector<std::string>(3, "+suspended"));
    }
    CHECK(events == std::vector<std::string>{"+suspended", "+suspended", "+suspended",
                                             "-suspended", "-suspended", "-suspended"});
}

TEST_CASE("task_local: a destructor that throws is reported naming the task; the others run") {
    const auto result = spindle_test::run_in_child([] {
        struct fragile {
            bool* destroyed;
            ~fragile() noexcept(false) {
                *destroyed = true;
                throw std::runtime_error("fragile broke");
            }
        };
        static bool before = false, broken = false, after = false;
        static task_local<logged> made_before([] { return logged("before"); });
        static task_local<fragile> breaks([] { return fragile{&broken}; });
        static task_local<logged> made_after([] { return logged("after"); });
        run([] {
            spawn("worker", [] {
                (void)made_before.get();
                (void)breaks.get();
                (void)made_after.get();
            }).join();
        });
        for (const std::string& e : events) {
            if (e == "-before") before = true;
            if (e == "-after") after = true;
        }
        std::_Exit(before && broken && after ? 0 : 1);
    });
    CHECK(result.exited);
    CHECK(result.exit_code == 0);
    CHECK(result.err.find("task_local value's destructor threw in task 2 'worker': fragile broke") !=
          std::string::npos);
}

TEST_CASE("task_local: a destructor may use the task's values; missing ones are made anew") {
    static task_local<logged> early([] { return logged("early"); });
    static task_local<logged> late([] { return logged("late"); });
    // watcher's destructor says which of early's and late's values it still finds, then asks
    // for one: second's finds early's (made before it), first's asks for late's (gone by then).
    struct watcher {
        std::string name;
        ~watcher() {
            events.push_back("~" + name + " sees early: " + (early.get_if() ? "yes" : "no") +
                             ", late: " + (late.get_if() ? "yes" : "no"));
            if (name == "second") (void)early.get();
            if (name == "first") events.push_back("late is " + late.get().name);
        }
    };
    static task_local<watcher> first([] { return watcher{"first"}; });
    static task_local<watcher> second([] { return watcher{"second"}; });
    events.clear();
    run([] {
        (void)early.get();
        (void)first.get();
        (void)late.get();
        (void)second.get();
    });
    // Made: early, first, late, second. Destroyed last first: second (early and late still
    // there), late, first (late gone: made anew), then the fresh late, then early.
    CHECK(events == std::vector<std::string>{
                        "+early", "+late", "~second sees early: yes, late: yes", "-late",
                        "~first sees early: yes, late: no", "+late", "late is late", "-late",
                        "-early"});
}

TEST_CASE("task_local: destructors that keep making values are refused after four rounds") {
    ping_pong::made = ping_pong::destroyed = ping_pong::refused = 0;
    run([] { (void)ping_pong::pings.get(); });
    // ping (round 0), then pong, ping, pong, ping made in rounds 1 to 4; the fifth is refused.
    CHECK(ping_pong::made == 5);
    CHECK(ping_pong::destroyed == 5);
    CHECK(ping_pong::refused == 1);
}

TEST_CASE("task_local: a value first made by a destructor of the function's captures is freed") {
    static task_local<logged> value([] { return logged("late comer"); });
    events.clear();
    run([] {
        struct uses_value_when_destroyed {
            bool armed = false;
            ~uses_value_when_destroyed() {
                if (armed) events.push_back("capture sees " + value->name);
            }
        };
        {
            auto t = spawn([c = uses_value_when_destroyed{}]() mutable { c.armed = true; });
            t.join();
        }
        CHECK(events ==
              std::vector<std::string>{"+late comer", "capture sees late comer", "-late comer"});
    });
}

TEST_CASE("task_local: a fiber running inside a task sees the task's value") {
    static task_local<int> value;
    run([] {
        value.get() = 1;
        auto other = spawn([] {
            value.get() = 2;
            fiber f([] {
                CHECK(value.get() == 2);
                value.get() = 3;
                fiber::suspend();
                CHECK(value.get() == 3);
            });
            f.resume();
            this_fiber::yield();
            f.resume();
            CHECK(value.get() == 3);
        });
        this_fiber::yield();
        CHECK(value.get() == 1);
        other.join();
        CHECK(value.get() == 1);
    });
}

TEST_CASE("task_local: a task_local that is gone cannot find its values through a new one") {
    run([] {
        {
            task_local<int> old;
            old.get() = 5;
        }
        // Likely at the same address as the old one; its key is new.
        task_local<int> fresh;
        CHECK(fresh.get_if() == nullptr);
        CHECK(fresh.get() == 0);
    });
}

TEST_CASE("task_local: outside any task each thread has its own value, destroyed at its exit") {
    static task_local<logged> value([] { return logged("thread's"); });
    events.clear();
    std::string seen_in_task, seen_in_fiber;
    std::thread worker([&] {
        value->name = "worker thread's";
        run([&] { seen_in_task = value->name; });
        fiber f([&] { seen_in_fiber = value->name; });
        f.resume();
        CHECK(value->name == "worker thread's");
    });
    worker.join();
    CHECK(seen_in_task == "thread's");          // the task's own, made and destroyed in run()
    CHECK(seen_in_fiber == "worker thread's");  // a fiber outside tasks: the thread's
    CHECK(events == std::vector<std::string>{"+thread's", "+thread's", "-thread's",
                                             "-worker thread's"});
    std::thread other([] { CHECK(value->name == "thread's"); });
    other.join();
}

TEST_CASE("task_local: after a thread's values are destroyed at its exit, get() is an error") {
    static task_local<int> value;
    static bool refused = false;
    std::thread worker([] {
        // Made before the thread's task_local table, so destroyed after it.
        struct late_user {
            ~late_user() {
                try {
                    (void)value.get();
                } catch (const fiber_error&) {
                    refused = value.get_if() == nullptr;
                }
            }
        };
        static thread_local late_user user;
        (void)&user;
        value.get() = 1;
    });
    worker.join();
    CHECK(refused);
}

TEST_CASE("task_local: out of memory, get() throws std::bad_alloc and nothing changes") {
    SKIP_UNLESS_ALLOCATION_FAILURE_AVAILABLE();
    static task_local<counted> first;
    static task_local<counted> second;
    counted::live = 0;
    run([] {
        // The table, the value, the table's growth: each allocation of a first use fails once.
        for (long nth = 1; nth <= 3; ++nth) {
            auto t = spawn([nth] {
                // Nothing but the call under test allocates while the failure is armed.
                auto fails = [](const auto& local, long which) {
                    fail_allocation fail(which);
                    try {
                        (void)local.get();
                    } catch (const std::bad_alloc&) {
                        return fail.failed();
                    }
                    return false;
                };
                CHECK(fails(first, nth));
                CHECK(first.get_if() == nullptr);
                CHECK(counted::live == 0);
                CHECK(first->value == 7);
                // With one value there: the second's value, then the table's growth.
                CHECK(fails(second, nth == 1 ? 1 : 2));
                CHECK(second.get_if() == nullptr);
                CHECK(first.get_if() != nullptr);
                CHECK(counted::live == 1);
                CHECK(second->value == 7);
                CHECK(counted::live == 2);
            });
            t.join();
            CHECK(counted::live == 0);
        }
    });
}
