// channel: buffered, unbuffered and unbounded; closing; iteration; try_ operations.

#include "allocation_failure.hpp"
#include "parked.hpp"
#include "workers.hpp"

#include <spindle/channel.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

using namespace spindle;

TEST_CASE("channel: a buffered channel keeps order and makes senders wait only when full") {
    run([] {
        channel<int> ch(2);
        std::atomic<int> sent{0};
        auto producer = spawn([&] {
            for (int i = 0; i < 4; ++i) {
                ch.send(i);
                ++sent;
            }
        });
        // The producer fills the buffer without waiting, and waits on the third send.
        REQUIRE(spindle_test::until_waiting(1));
        CHECK(sent == 2);
        CHECK(ch.size() == 2);
        CHECK(ch.receive() == 0);
        // The room it made went to the waiting send; the producer then waits on the fourth.
        REQUIRE(spindle_test::until_waiting(1));
        CHECK(sent == 3);
        CHECK(ch.size() == 2);
        CHECK(ch.receive() == 1);
        producer.join();  // the fourth went into the room the second receive made
        CHECK(sent == 4);
        CHECK(ch.receive() == 2);
        CHECK(ch.receive() == 3);
        CHECK(ch.size() == 0);
    });
}

TEST_CASE("channel: an unbuffered send waits until a receiver takes the value") {
    run([] {
        channel<int> ch(0);
        std::atomic<bool> sent{false};
        auto sender = spawn([&] {
            ch.send(1);
            sent = true;
        });
        REQUIRE(spindle_test::until_waiting(1));  // in its send: nobody receives yet
        CHECK_FALSE(sent);
        CHECK(ch.receive() == 1);
        sender.join();
        CHECK(sent);
    });
}

// (One worker: "without waiting" is seen as the sender going on before the receiver runs,
// which several workers do not order. Keeping the other workers busy with tasks that spin until
// the send returns would order it, but a task queued behind a spinner then need not be taken by
// an idle worker: at 8 workers the sender was left behind one, and the case hung.)
TEST_CASE("channel: a send to a waiting receiver hands over without waiting"
          * spindle_test::single_worker()) {
    std::vector<std::string> out;
    run([&] {
        channel<int> ch(0);
        auto receiver = spawn([&] {
            out.push_back("receiving");
            out.push_back("got " + std::to_string(*ch.receive()));
        });
        this_fiber::yield();
        ch.send(9);
        out.push_back("sent");
        receiver.join();
    });
    CHECK(out == std::vector<std::string>{"receiving", "sent", "got 9"});
}

TEST_CASE("channel: an unbounded channel never makes a sender wait") {
    run([] {
        channel<int> ch;
        for (int i = 0; i < 100000; ++i) ch.send(i);
        CHECK(ch.size() == 100000);
        long sum = 0;
        for (int i = 0; i < 100000; ++i) sum += *ch.receive();
        CHECK(sum == 100000L * 99999 / 2);
    });
}

TEST_CASE("channel: close lets receivers drain, then gives nullopt; sends throw") {
    run([] {
        channel<int> ch(4);
        ch.send(1);
        ch.send(2);
        ch.close();
        ch.close();  // idempotent
        CHECK(ch.closed());
        CHECK_THROWS_AS(ch.send(3), channel_closed);
        int value = 4;
        CHECK_FALSE(ch.try_send(value));  // closed: false rather than channel_closed
        CHECK(ch.receive() == 1);
        CHECK(ch.try_receive() == 2);
        CHECK(ch.receive() == std::nullopt);
        CHECK(ch.try_receive() == std::nullopt);
    });
}

TEST_CASE("channel: close wakes every waiter") {
    run([] {
        channel<int> ch(0);
        std::vector<task<std::optional<int>>> receivers;
        for (int i = 0; i < 3; ++i) receivers.push_back(spawn([&] { return ch.receive(); }));
        channel<int> full(1);
        full.send(0);
        auto sender = spawn([&] { full.send(1); });
        this_fiber::yield();
        ch.close();
        full.close();
        for (auto& r : receivers) CHECK(r.join() == std::nullopt);
        CHECK_THROWS_AS(sender.join(), channel_closed);
        CHECK(full.receive() == 0);  // what was buffered before the close is still there
        CHECK(full.receive() == std::nullopt);
    });
}

TEST_CASE("channel: range-for receives until closed and drained") {
    run([] {
        channel<std::string> ch(3);
        auto producer = spawn([&] {
            for (int i = 0; i < 5; ++i) ch.send("item " + std::to_string(i));
            ch.close();
        });
        std::vector<std::string> got;
        for (std::string s : ch) got.push_back(s);
        CHECK(got == std::vector<std::string>{"item 0", "item 1", "item 2", "item 3", "item 4"});
        producer.join();
    });
}

TEST_CASE("channel: move-only values, try_send moves only on success") {
    run([] {
        channel<std::unique_ptr<int>> ch(1);
        auto first = std::make_unique<int>(1);
        CHECK(ch.try_send(first));
        CHECK(first == nullptr);
        auto second = std::make_unique<int>(2);
        CHECK(!ch.try_send(second));
        CHECK(second != nullptr);  // not moved from: the channel was full
        CHECK(**ch.try_receive() == 1);
        CHECK(!ch.try_receive());
        ch.send(std::move(second));
        ch.close();
        for (auto& p : ch) CHECK(*p == 2);
    });
}

TEST_CASE("channel: try_ operations on an unbuffered channel need the other side waiting") {
    run([] {
        channel<int> ch(0);
        int value = 1;
        CHECK(!ch.try_send(value));
        CHECK(!ch.try_receive());
        auto receiver = spawn([&] { return ch.receive(); });
        REQUIRE(spindle_test::until_waiting(1));
        CHECK(ch.try_send(value));
        CHECK(receiver.join() == 1);
        auto sender = spawn([&] { ch.send(2); });
        REQUIRE(spindle_test::until_waiting(1));
        CHECK(ch.try_receive() == 2);
        sender.join();
    });
}

TEST_CASE("channel: a job queue drained by N workers") {
    run([] {
        channel<int> jobs(8);
        channel<int> results;
        std::vector<task<int>> workers;
        for (int w = 0; w < 4; ++w)
            workers.push_back(spawn([&] {
                int handled = 0;
                for (int job : jobs) {
                    this_fiber::yield();  // pretend to work
                    results.send(job * job);
                    ++handled;
                }
                return handled;
            }));
        for (int i = 1; i <= 100; ++i) jobs.send(i);
        jobs.close();
        std::vector<int> handled = gather(std::move(workers));
        CHECK(std::accumulate(handled.begin(), handled.end(), 0) == 100);
        // One worker gives each task its turn, so every one takes a share; several may let one
        // task take them all before the others start.
        if (spindle_test::test_threads() == 1)
            for (int h : handled) CHECK(h > 0);
        results.close();
        long sum = 0;
        for (int r : results) sum += r;
        CHECK(sum == 338350);  // 1² + ... + 100²
    });
}

TEST_CASE("channel: many producers and consumers on an unbuffered channel") {
    run([] {
        channel<int> ch(0);
        std::vector<task<void>> producers;
        for (int p = 0; p < 5; ++p)
            producers.push_back(spawn([&, p] {
                for (int i = 0; i < 100; ++i) ch.send(p * 1000 + i);
            }));
        std::vector<task<long>> consumers;
        for (int c = 0; c < 3; ++c)
            consumers.push_back(spawn([&] {
                long sum = 0;
                for (int v : ch) sum += v;
                return sum;
            }));
        gather(std::move(producers));
        ch.close();
        long total = 0;
        for (long s : gather(std::move(consumers))) total += s;
        CHECK(total == 5 * (99 * 100 / 2) + 100 * (0 + 1000 + 2000 + 3000 + 4000));
    });
}

TEST_CASE("channel: outside any task, what need not wait works on the thread") {
    // (What must wait blocks the thread: test/sync/other_thread_test.cpp.)
    channel<int> ch(1);
    ch.send(1);
    CHECK_FALSE(ch.try_send(2));
    CHECK(ch.receive() == 1);
    CHECK(ch.try_receive() == std::nullopt);
    CHECK(ch.receive_for(std::chrono::milliseconds(0)) == std::nullopt);
}

TEST_CASE("channel: a channel destroyed while tasks wait on it wakes them as closed") {
    run([] {
        auto ch = std::make_unique<channel<int>>();
        auto receiver = spawn([&] { return ch->receive(); });
        REQUIRE(spindle_test::until_waiting(1));
        ch.reset();
        CHECK(receiver.join() == std::nullopt);
    });
}

TEST_CASE("out of memory: waking a thousand waiters (channel::close) allocates nothing") {
    SKIP_UNLESS_ALLOCATION_FAILURE_AVAILABLE();
    // The waiters arrive one by one, so the ready queue never held them all; close() queues
    // them all at once, and used to grow the queue in noexcept code: std::terminate.
    std::atomic<int> woke{0};
    run([&] {
        channel<int> ch;
        std::vector<task<void>> receivers;
        receivers.reserve(1000);
        for (int i = 0; i < 1000; ++i) {
            receivers.push_back(spawn([&] {
                if (!ch.receive()) ++woke;
            }));
            // It waits before the next is spawned. (The failing allocations below are this
            // thread's only: other workers may run the woken receivers meanwhile.)
            REQUIRE(spindle_test::until_waiting(static_cast<std::uint64_t>(i) + 1));
        }
        {
            fail_every_allocation failing;
            ch.close();
        }
        gather(std::move(receivers));
    });
    CHECK(woke == 1000);
}
