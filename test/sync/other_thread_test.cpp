// Channels, mutexes, condition variables, events, latches, wait_groups, semaphores and futures
// from threads that are not the scheduler's: a thread outside any task sends and receives, locks,
// sets, counts down, releases and waits (blocking itself where it waits) and notifies, while it
// holds a scheduler_handle of the scheduler whose tasks use the same objects; without one, a wake
// of a running scheduler's task is refused with a message, not left to corrupt the queues. The
// races between a thread's wake and a task's timeout or cancel end each wait exactly once.

#include "child_process.hpp"

#include "under_valgrind.hpp"
#include "workers.hpp"

#include <spindle/channel.hpp>
#include <spindle/errors.hpp>
#include <spindle/future.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/select.hpp>
#include <spindle/sync.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace spindle;
using namespace std::chrono_literals;

namespace {

// race_rounds is how many times a race test races: the 100,000, fewer under Valgrind,
// which runs one thread at a time and makes every hand-over between threads a slice switch.
int race_rounds() { return spindle_test::under_valgrind() ? 2'000 : 100'000; }

// race_attempts is how many offers the timeout race makes at most: a hundred per success it
// wants, but under the sanitizers, where an offer costs some 20 us and few of them meet a waiting
// receive, 200,000 (thousands of races won either way, in seconds rather than minutes).
long race_attempts(int rounds) {
    // Under Valgrind each offer yields the thread to let the worker in, which then runs a whole
    // slice (its busy task never blocks): some 20 ms an offer.
    if (spindle_test::under_valgrind()) return 200;
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    (void)rounds;
    return 200'000;
#else
    return 100L * rounds;
#endif
}

// scaled() is `count` for a test whose threads hand over to each other `count` times, a tenth
// of it under Valgrind (which runs one thread at a time: each hand-over waits for a slice).
int scaled(int count) { return spindle_test::under_valgrind() ? count / 10 : count; }

}  // namespace

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

TEST_CASE("other threads: a thread sends to tasks and receives from them directly") {
    const int count = scaled(2'000);
    for (const std::size_t capacity : {std::size_t{0}, std::size_t{1}, std::size_t{64}}) {
        CAPTURE(capacity);
        scheduler s;
        channel<int> to_tasks(capacity);
        channel<int> from_tasks(capacity);
        // Two tasks pass every value on, doubled; the thread sends and takes the results.
        auto relay = [&] {
            while (std::optional<int> v = to_tasks.receive()) from_tasks.send(*v * 2);
        };
        auto first = s.spawn(relay);
        auto second = s.spawn(relay);
        // Each thread holds a handle while it uses the channels (else the relays' waits could
        // look like a deadlock between the two threads' last moves).
        scheduler_handle for_sender = s.keep_open();
        scheduler_handle for_receiver = s.keep_open();
        std::vector<int> results;
        std::thread sender([&, h = std::move(for_sender)]() mutable {
            for (int i = 0; i < count; ++i) to_tasks.send(i);
            to_tasks.close();
            h.release();
        });
        std::thread receiver([&, h = std::move(for_receiver)]() mutable {
            for (int i = 0; i < count; ++i) results.push_back(*from_tasks.receive());
            h.release();
        });
        s.run();
        sender.join();
        receiver.join();
        REQUIRE(results.size() == count);
        long long sum = 0;
        for (int r : results) sum += r;
        CHECK(sum == 2LL * (count - 1) * count / 2);
        // One relay at a time takes each value, so with one relay the order would hold; with
        // two, only the multiset: every value arrived once.
        std::vector<bool> seen(count, false);
        for (int r : results) {
            REQUIRE(r % 2 == 0);
            CHECK_FALSE(seen[static_cast<std::size_t>(r / 2)]);
            seen[static_cast<std::size_t>(r / 2)] = true;
        }
    }
}

TEST_CASE("other threads: a thread and a task ping-pong on unbuffered channels, in order") {
    const int trips = scaled(5'000);
    scheduler s;
    channel<int> ping(0);
    channel<int> pong(0);
    auto task = s.spawn([&] {
        while (std::optional<int> v = ping.receive()) pong.send(*v + 1);
    });
    scheduler_handle handle = s.keep_open();
    int last = -1;
    bool in_order = true;
    std::thread outside([&, h = std::move(handle)]() mutable {
        for (int i = 0; i < trips; ++i) {
            ping.send(i);
            const int answer = *pong.receive();
            if (answer != i + 1) in_order = false;
            last = answer;
        }
        ping.close();
        h.release();
    });
    s.run();
    outside.join();
    CHECK(in_order);
    CHECK(last == trips);
}

TEST_CASE("other threads: channels between plain threads, no scheduler at all") {
    channel<int> ch(0);
    std::vector<int> got;
    std::thread receiver([&] {
        while (std::optional<int> v = ch.receive()) got.push_back(*v);
    });
    for (int i = 0; i < 100; ++i) ch.send(i);
    ch.close();
    receiver.join();
    REQUIRE(got.size() == 100);
    for (int i = 0; i < 100; ++i) CHECK(got[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("other threads: a thread's timed send and receive give up at their deadline") {
    channel<int> ch(0);
    std::thread outside([&] {
        CHECK(ch.receive_for(1ms) == std::nullopt);
        int value = 5;
        CHECK_FALSE(ch.send_for(value, 1ms));
        CHECK(value == 5);  // a send that gives up keeps its value
        CHECK_FALSE(ch.closed());
    });
    outside.join();
    // The channel still works: the waiters that gave up are gone.
    std::thread receiver([&] { CHECK(ch.receive() == std::optional<int>(9)); });
    ch.send(9);
    receiver.join();
}

TEST_CASE("other threads: close() wakes a thread blocked in send and one blocked in receive") {
    channel<int> empty(0);
    channel<int> full(1);
    full.send(1);
    std::atomic<int> woken{0};
    std::thread receiver([&] {
        if (empty.receive() == std::nullopt) ++woken;
    });
    std::thread sender([&] {
        try {
            full.send(2);
        } catch (const channel_closed&) {
            ++woken;
        }
    });
    // Each thread may or may not wait yet when close() comes: both end the same way.
    empty.close();
    full.close();
    receiver.join();
    sender.join();
    CHECK(woken == 2);
}

TEST_CASE("other threads: a task's select takes each value a thread sends exactly once") {
    const int count = scaled(3'000);
    scheduler s;
    channel<long long> a(0);
    channel<long long> b(0);
    long long sum = 0;
    int taken = 0;
    auto task = s.spawn([&] {
        std::optional<long long> from_a;
        std::optional<long long> from_b;
        while (taken < 2 * count) {
            switch (select(on_receive(a, from_a), on_receive(b, from_b))) {
                case 0: sum += *from_a; break;
                case 1: sum += *from_b; break;
            }
            ++taken;
        }
    });
    scheduler_handle for_a = s.keep_open();
    scheduler_handle for_b = s.keep_open();
    std::thread to_a([&, h = std::move(for_a)]() mutable {
        for (int i = 1; i <= count; ++i) a.send(static_cast<long long>(i));
        h.release();
    });
    std::thread to_b([&, h = std::move(for_b)]() mutable {
        for (int i = 1; i <= count; ++i) b.send(1'000'000LL * i);
        h.release();
    });
    s.run();
    to_a.join();
    to_b.join();
    CHECK(taken == 2 * count);
    CHECK(sum == static_cast<long long>(count) * (count + 1) / 2 * 1'000'001);
}

TEST_CASE("other threads: a thread's send races a task's timeout: each value lands once") {
    // The task waits with deadlines a few microseconds away, over and over, while a second task
    // keeps the worker busy, so that timers expire at each switch rather than after an idle
    // sleep; the thread offers values with try_send(), which succeeds only into a waiting
    // receive, at intervals of the same order. So the thread's wakes and the receive's timer
    // race for the wait, and exactly one ends it: every value try_send() says it handed over
    // was received exactly once, in order, and the others were not.
    const int rounds = race_rounds();
    scheduler s;
    channel<int> ch(0);
    std::vector<int> received;
    std::atomic<bool> done{false};
    int timeouts = 0;
    auto receiver = s.spawn([&] {
        for (std::size_t i = 0;; ++i) {
            if (std::optional<int> v = ch.receive_for(std::chrono::microseconds(i % 4))) {
                received.push_back(*v);
            } else {
                ++timeouts;
                if (done.load()) break;
            }
        }
    });
    auto busy = s.spawn([&] {
        while (!done.load()) this_fiber::yield();
    });
    scheduler_handle handle = s.keep_open();
    std::vector<int> sent;
    std::thread outside([&, h = std::move(handle)]() mutable {
        int value = 0;
        const long attempts = race_attempts(rounds);
        // Past the attempts, offers go on until one succeeds (a loaded machine may let none
        // meet a waiting receive), for a minute at most.
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(1);
        for (long attempt = 0;
             value < rounds && (attempt < attempts ||
                                (value == 0 && std::chrono::steady_clock::now() < give_up));
             ++attempt) {
            int offered = value;
            if (ch.try_send(offered)) sent.push_back(value++);
            // A pause of 0 to 3 microseconds between offers.
            const auto until =
                std::chrono::steady_clock::now() + std::chrono::microseconds(attempt % 4);
            while (std::chrono::steady_clock::now() < until) {
            }
            // Valgrind runs one thread at a time and switches at system calls: let the worker in.
            if (spindle_test::under_valgrind()) std::this_thread::yield();
        }
        done = true;
        h.release();
    });
    s.run();
    outside.join();
    CHECK(received == sent);
    // (Under Valgrind the two threads take turns in slices, and a round may see no success.)
    if (!spindle_test::under_valgrind()) CHECK(sent.size() > 0);
    CHECK(timeouts > 0);
}

TEST_CASE("other threads: a thread's send races a cancel: the task ends its wait once") {
    const int rounds = race_rounds() / 10;
    scheduler s;
    channel<int> ch(0);
    int received = 0;
    int cancelled_count = 0;
    int sent = 0;
    scheduler_handle handle = s.keep_open();
    std::thread outside([&, h = std::move(handle)]() mutable {
        for (int i = 0; i < rounds; ++i) {
            int value = i;
            if (ch.send_for(value, 20us)) ++sent;
        }
        h.release();
    });
    auto main_task = s.spawn([&] {
        for (int i = 0; i < rounds; ++i) {
            auto receiver = spawn([&] {
                try {
                    if (ch.receive()) ++received;
                } catch (const cancelled&) {
                    ++cancelled_count;
                    throw;
                }
            });
            this_fiber::yield();  // it waits, or has taken a value already
            receiver.cancel();
            try {
                receiver.join();
            } catch (const cancelled&) {
            }
        }
    });
    s.run();
    outside.join();
    CHECK(received == sent);
    CHECK(received + cancelled_count <= rounds);
}

TEST_CASE("other threads: notify from a thread wakes a task waiting on a condition variable") {
    scheduler s;
    spindle::mutex m;
    condition_variable cv;
    std::atomic<bool> ready{false};
    std::atomic<bool> seen{false};
    auto waiter = s.spawn([&] {
        std::unique_lock<spindle::mutex> lock(m);
        cv.wait(lock, [&] { return ready.load(); });
        seen = true;
    });
    scheduler_handle handle = s.keep_open();
    bool gave_up = false;
    std::thread outside([&, h = std::move(handle)]() mutable {
        ready = true;
        // The task may not wait yet when a notify comes (the thread cannot take a spindle::mutex
        // that a task holds): notify until it has seen the flag, within a bound.
        for (int i = 0; !seen.load(); ++i) {
            if (i == 20'000) {
                gave_up = true;
                break;
            }
            cv.notify_all();
            std::this_thread::sleep_for(50us);
        }
        h.release();
    });
    s.run();
    outside.join();
    CHECK_FALSE(gave_up);
    CHECK(seen);
}

TEST_CASE("other threads: events, latches, wait_groups and semaphores between a thread and tasks") {
    scheduler s;
    event go;
    latch arrived(3);
    wait_group working;
    semaphore permits(0);
    std::atomic<int> acquired{0};
    working.add(3);
    std::vector<task<void>> tasks;
    for (int i = 0; i < 3; ++i) {
        tasks.push_back(s.spawn([&] {
            go.wait();            // set by the thread
            arrived.count_down();
            permits.acquire();    // released by the thread
            ++acquired;
            working.done();
        }));
    }
    scheduler_handle handle = s.keep_open();
    std::thread outside([&, h = std::move(handle)]() mutable {
        go.set();
        arrived.wait();  // blocks this thread until the three tasks have counted down
        permits.release(3);
        working.wait();
        h.release();
    });
    s.run();
    outside.join();
    CHECK(acquired == 3);
    CHECK(arrived.try_wait());
    CHECK(working.count() == 0);
}

TEST_CASE("other threads: a thread waits on a future a task's promise satisfies, and back") {
    scheduler s;
    promise<int> to_thread;
    future<int> thread_side = to_thread.get_future();
    promise<std::string> to_task;
    future<std::string> task_side = to_task.get_future();
    std::string task_got;
    auto task = s.spawn([&] {
        to_thread.set_value(42);
        task_got = task_side.get();  // the thread answers
    });
    scheduler_handle handle = s.keep_open();
    int thread_got = 0;
    std::thread outside([&, h = std::move(handle)]() mutable {
        thread_got = thread_side.get();  // blocks until the task sets it
        to_task.set_value("answer");
        h.release();
    });
    s.run();
    outside.join();
    CHECK(thread_got == 42);
    CHECK(task_got == "answer");
}

TEST_CASE("other threads: a promise and its future dropped on two threads at once free the state "
          "once") {
    // Each round's state is freed by whichever end goes last (ASan and Valgrind see a double
    // free or a leak, TSan a race, if the two ends disagree).
    for (int round = 0; round < scaled(2'000); ++round) {
        auto p = std::make_unique<promise<int>>();
        auto f = std::make_unique<future<int>>(p->get_future());
        std::thread other([&] { f.reset(); });
        p.reset();
        other.join();
    }
}

TEST_CASE("other threads: a spindle::mutex keeps threads and tasks apart") {
    const int rounds = scaled(5'000);
    scheduler s;
    spindle::mutex m;
    long counter = 0;  // a plain variable: the mutex alone guards it (TSan checks)
    std::vector<task<void>> tasks;
    for (int t = 0; t < 4; ++t) {
        tasks.push_back(s.spawn([&] {
            for (int i = 0; i < rounds; ++i) {
                std::lock_guard<spindle::mutex> hold(m);
                ++counter;
                if (i % 64 == 0) this_fiber::yield();  // held across a switch, now and then
            }
        }));
    }
    std::vector<std::thread> threads;
    std::vector<scheduler_handle> handles;
    for (int t = 0; t < 2; ++t) handles.push_back(s.keep_open());
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, h = std::move(handles[static_cast<std::size_t>(t)])]() mutable {
            for (int i = 0; i < rounds; ++i) {
                std::lock_guard<spindle::mutex> hold(m);
                ++counter;
            }
            h.release();
        });
    }
    s.run();
    for (auto& t : threads) t.join();
    CHECK(counter == 6L * rounds);
}

TEST_CASE("other threads: a bounded queue under a spindle::mutex and condition variables, "
          "threads and tasks on both sides") {
    const int per_producer = scaled(1'000);
    scheduler s;
    spindle::mutex m;
    condition_variable not_empty;
    condition_variable not_full;
    std::vector<int> queue;
    constexpr std::size_t capacity = 8;
    int producers_left = 2;
    long consumed_sum = 0;
    long consumed_count = 0;
    auto produce = [&](int base) {
        for (int i = 0; i < per_producer; ++i) {
            std::unique_lock<spindle::mutex> lock(m);
            not_full.wait(lock, [&] { return queue.size() < capacity; });
            queue.push_back(base + i);
            not_empty.notify_one();
        }
        std::unique_lock<spindle::mutex> lock(m);
        if (--producers_left == 0) not_empty.notify_all();
    };
    auto consume = [&] {
        for (;;) {
            std::unique_lock<spindle::mutex> lock(m);
            not_empty.wait(lock, [&] { return !queue.empty() || producers_left == 0; });
            if (queue.empty()) return;
            consumed_sum += queue.back();
            ++consumed_count;
            queue.pop_back();
            not_full.notify_one();
        }
    };
    // One producer and one consumer are tasks, the others threads.
    auto task_producer = s.spawn([&] { produce(0); });
    auto task_consumer = s.spawn(consume);
    scheduler_handle for_producer = s.keep_open();
    scheduler_handle for_consumer = s.keep_open();
    std::thread thread_producer([&, h = std::move(for_producer)]() mutable {
        produce(1'000'000);
        h.release();
    });
    std::thread thread_consumer([&, h = std::move(for_consumer)]() mutable {
        consume();
        h.release();
    });
    s.run();
    thread_producer.join();
    thread_consumer.join();
    CHECK(consumed_count == 2 * per_producer);
    const long expected = static_cast<long>(per_producer) * (per_producer - 1) +
                          1'000'000L * per_producer;
    CHECK(consumed_sum == expected);
}

TEST_CASE("other threads: a thread's misuse of a spindle::mutex gets fiber_error") {
    spindle::mutex m;
    m.lock();  // this thread holds it
    CHECK_THROWS_WITH_AS(m.lock(), doctest::Contains("not recursive"), fiber_error);
    std::string message;
    std::thread other([&] {
        try {
            m.unlock();
        } catch (const fiber_error& e) {
            message = e.what();
        }
    });
    other.join();
    CHECK(message.find("a thread outside any task") != std::string::npos);
    m.unlock();
    CHECK(m.try_lock());
    m.unlock();
}

TEST_CASE("other threads: keep_open() from another thread while the scheduler runs, then sends") {
    scheduler s;
    channel<int> ch(0);
    std::optional<int> got;
    std::atomic<bool> stop{false};
    auto receiver = s.spawn([&] { got = ch.receive(); });
    // No handle before run(): a sleeper keeps it running until the thread has made its own.
    auto sleeper = s.spawn([&] {
        while (!stop.load()) this_fiber::sleep_for(1ms);
    });
    std::thread outside([&] {
        scheduler_handle mine = s.keep_open();  // the worker starts taking locks, then this returns
        stop = true;
        ch.send(11);
        mine.release();
    });
    s.run();
    outside.join();
    CHECK(got == std::optional<int>(11));
}

TEST_CASE("other threads: without a scheduler_handle, a wake of a running scheduler's task stops "
          "the process, naming the task and the rule" * spindle_test::single_worker()) {
    // Under SPINDLE_SHARE_SCHEDULERS=1 every scheduler is shared, as if it had a handle; so is
    // one with several workers (single_worker()), whose objects take their locks anyway.
    if (const char* shared = std::getenv("SPINDLE_SHARE_SCHEDULERS"); shared && shared[0] == '1')
        return;
    const auto result = spindle_test::run_in_child([] {
        scheduler s;
        channel<int> values(0);
        auto receiver = s.spawn("receiver", [&values] { (void)values.receive(); });
        // No handle; a sleeper keeps run() going (the receiver's wait alone is a deadlock).
        auto sleeper = s.spawn([] { this_fiber::sleep_for(std::chrono::seconds(10)); });
        std::thread runner([&s] { s.run(); });
        // Mostly the receiver waits by now, and the send's wake is refused; else the send waits
        // and the receiver's wake of this thread is: the same rule, the same end.
        std::this_thread::sleep_for(20ms);
        values.send(1);
        runner.join();
    });
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer sees the race the rule is about (the thread reads the channel's queue the
    // worker wrote without its lock) before spindle can, and ends the child with its report.
    CHECK(result.err.find("ThreadSanitizer: data race") != std::string::npos);
#else
    CHECK(result.signalled);
    CHECK(result.err.find("'receiver'") != std::string::npos);
    CHECK(result.err.find("scheduler_handle") != std::string::npos);
#endif
}
