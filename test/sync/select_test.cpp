// select: one case completed out of several, ready at once or after a wait; try_select,
// select_for; fairness; close; cancellation and timeout scopes; exceptions from T's move.

#include "parked.hpp"

#include <spindle/channel.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/select.hpp>
#include <spindle/timeout.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace spindle;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST_CASE("select: a case ready now completes without waiting") {
    channel<int> a;
    channel<int> b;
    b.send(2);
    std::optional<int> from_a = 99, from_b;
    CHECK(select(on_receive(a, from_a), on_receive(b, from_b)) == 1);
    CHECK(from_b == 2);
    CHECK_FALSE(from_a);  // select empties every receive case's optional first
    int value = 5;
    channel<int> full(0);
    CHECK(select(on_send(full, value), on_send(a, value)) == 1);
    CHECK(a.receive() == 5);
}

TEST_CASE("select: waits, then is woken by a sender, a receiver or a close") {
    SUBCASE("a sender") {
        run([] {
            channel<int> a(0), b(0);
            auto sender = spawn([&] { b.send(7); });
            std::optional<int> x, y;
            CHECK(select(on_receive(a, x), on_receive(b, y)) == 1);
            CHECK(y == 7);
            CHECK_FALSE(x);
            sender.join();
        });
    }
    SUBCASE("a receiver (unbuffered hand-off from the select)") {
        run([] {
            channel<std::unique_ptr<int>> a(0), b(0);
            auto receiver = spawn([&] { return **a.receive(); });
            auto one = std::make_unique<int>(1), two = std::make_unique<int>(2);
            CHECK(select(on_send(a, one), on_send(b, two)) == 0);
            CHECK_FALSE(one);
            REQUIRE(two);  // the case that did not complete kept its value
            CHECK(receiver.join() == 1);
        });
    }
    SUBCASE("a receiver making room in a buffered channel") {
        run([] {
            channel<std::string> full(1), other(0);
            full.send("first");
            auto receiver = spawn([&] { return *full.receive(); });
            std::string value = "second";
            std::optional<std::string> unused;
            CHECK(select(on_receive(other, unused), on_send(full, value)) == 1);
            CHECK(receiver.join() == "first");
            CHECK(full.receive() == "second");
        });
    }
    SUBCASE("a close: the receive case completes with nothing") {
        run([] {
            channel<int> a, b;
            auto closer = spawn([&] { b.close(); });
            std::optional<int> x, y = 3;
            CHECK(select(on_receive(a, x), on_receive(b, y)) == 1);
            CHECK_FALSE(y);
            closer.join();
        });
    }
    SUBCASE("a close: a send case throws channel_closed, keeping every value") {
        run([] {
            channel<std::unique_ptr<int>> a(0), b(0);
            auto closer = spawn([&] { b.close(); });
            auto one = std::make_unique<int>(1), two = std::make_unique<int>(2);
            CHECK_THROWS_AS(select(on_send(a, one), on_send(b, two)), channel_closed);
            CHECK(one);
            CHECK(two);
            closer.join();
            CHECK_THROWS_AS(select(on_send(b, two)), channel_closed);  // closed before: at once
        });
    }
}

TEST_CASE("select: an unbuffered select hands over to a plain receive and from a plain send") {
    run([] {
        channel<int> requests(0), replies(0);
        auto peer = spawn([&] {
            int sum = 0;
            for (int i = 0; i < 100; ++i) {
                replies.send(i);
                sum += *requests.receive();
            }
            return sum;
        });
        int total = 0;
        for (int round = 0; round < 100; ++round) {
            std::optional<int> got;
            int reply = round;
            bool sent = false, received = false;
            while (!sent || !received) {
                std::size_t done = received ? select(on_send(requests, reply))
                                 : sent     ? select(on_receive(replies, got)) + 1
                                            : select(on_send(requests, reply),
                                                     on_receive(replies, got));
                if (done == 0) sent = true;
                if (done == 1) {
                    received = true;
                    total += *got;
                }
            }
        }
        CHECK(total == 99 * 100 / 2);
        CHECK(peer.join() == 99 * 100 / 2);
    });
}

TEST_CASE("select: the same channel in two cases") {
    run([] {
        channel<int> ch(0);
        std::optional<int> first, second;
        auto sender = spawn([&] { ch.send(8); });
        const std::size_t done = select(on_receive(ch, first), on_receive(ch, second));
        CHECK((done == 0 ? first : second) == 8);
        CHECK_FALSE((done == 0 ? second : first).has_value());
        sender.join();
        // Both sides of one channel: only another task can complete either.
        int value = 1;
        std::optional<int> got;
        auto receiver = spawn([&] { return *ch.receive(); });
        CHECK(select(on_receive(ch, got), on_send(ch, value)) == 1);
        CHECK(receiver.join() == 1);
    });
}

TEST_CASE("select: try_select is select's default") {
    channel<int> a(0), b(1);
    std::optional<int> x;
    int value = 3;
    CHECK_FALSE(try_select(on_receive(a, x), on_send(a, value)));
    CHECK(value == 3);
    CHECK(try_select(on_receive(a, x), on_send(b, value)) == 1);
    CHECK_FALSE(try_select(on_send(b, value)));  // full now
    CHECK(try_select(on_receive(b, x)) == 0);
    CHECK(x == 3);
}

TEST_CASE("select: select_for and select_until give std::nullopt at the deadline") {
    run([] {
        channel<std::unique_ptr<int>> a(0), b(0);
        std::optional<std::unique_ptr<int>> got;
        auto value = std::make_unique<int>(4);
        const auto start = clock_type::now();
        CHECK_FALSE(select_for(5ms, on_receive(a, got), on_send(b, value)));
        CHECK(clock_type::now() - start >= 5ms);
        CHECK(value);
        CHECK_FALSE(got);
        // Nothing of the select is left in the queues: a later sender meets a live receiver.
        auto sender = spawn([&] { a.send(std::make_unique<int>(5)); });
        CHECK(select_until(clock_type::now() + 1h, on_receive(a, got), on_send(b, value)) == 0);
        CHECK(**got == 5);
        sender.join();
    });
}

TEST_CASE("select: fair among cases that are always ready") {
    channel<int> a, b;
    for (int i = 0; i < 1000; ++i) {
        a.send(i);
        b.send(i);
    }
    int wins[2] = {0, 0};
    std::optional<int> x, y;
    for (int i = 0; i < 1000; ++i) ++wins[select(on_receive(a, x), on_receive(b, y))];
    CHECK(wins[0] >= 300);
    CHECK(wins[1] >= 300);
    int three[3] = {0, 0, 0};
    int value = 0;
    channel<int> sink;
    std::optional<int> z;
    for (int i = 0; i < 900; ++i)
        ++three[select(on_receive(a, x), on_send(sink, value), on_receive(b, z))];
    for (int count : three) CHECK(count >= 180);
}

TEST_CASE("select: cancelled while waiting completes no case and leaves the queues clean") {
    run([] {
        channel<int> a(0), b(0);
        auto value = std::make_shared<int>(0);
        auto selecting = spawn([&] {
            std::optional<int> got;
            int out = 1;
            select(on_receive(a, got), on_send(b, out));
        });
        REQUIRE(spindle_test::until_waiting(1));
        selecting.cancel();
        CHECK_THROWS_AS(selecting.join(), cancelled);
        // A later send goes to a live receiver, not to the cancelled select; and a receiver
        // finds no sender left behind by it.
        CHECK_FALSE(a.try_send(1));
        CHECK_FALSE(b.try_receive());
        auto receiver = spawn([&] { return *a.receive(); });
        REQUIRE(spindle_test::until_waiting(1));
        CHECK(a.try_send(2));
        CHECK(receiver.join() == 2);
    });
}

TEST_CASE("select: inside with_timeout the scope's deadline ends the wait with timeout_error") {
    run([] {
        channel<int> a(0);
        channel<std::string> b(1);
        b.send("full");
        std::string value = "kept";
        std::optional<int> got;
        CHECK_THROWS_AS(with_timeout(5ms, [&] { return select(on_receive(a, got),
                                                              on_send(b, value)); }),
                        timeout_error);
        CHECK(value == "kept");
        CHECK(b.size() == 1);
        CHECK_FALSE(a.try_send(1));
    });
}

TEST_CASE("select: a deadlock report names the select and its channels") {
    try {
        run([] {
            channel<int> a(0), b(0);
            a.set_name("a");
            b.set_name("b");
            std::optional<int> x, y;
            select(on_receive(a, x), on_receive(b, y));
        });
        FAIL("no deadlock_error");
    } catch (const deadlock_error& e) {
        const std::string message = e.what();
        INFO(message);
        CHECK(message.find("waits on select 'a' 'b'") != std::string::npos);
    }
}

namespace {

// fragile throws from its move (and copy) when armed; the value stays where it was then.
// (Atomic: a task on another worker may move a fragile while this thread arms it.)
std::atomic<int> fragile_throw_in{0};  // the nth move or copy from now throws; 0: none
struct fragile {
    int id;
    explicit fragile(int i) noexcept : id(i) {}
    static void count() {
        if (fragile_throw_in > 0 && --fragile_throw_in == 0) throw std::runtime_error("fragile");
    }
    fragile(const fragile& other) : id(other.id) { count(); }
    fragile(fragile&& other) : id(other.id) {
        count();
        other.id = -1;
    }
    fragile& operator=(const fragile& other) {
        count();
        id = other.id;
        return *this;
    }
    fragile& operator=(fragile&& other) {
        count();
        id = other.id;
        other.id = -1;
        return *this;
    }
};

}  // namespace

TEST_CASE("select: exceptions from T's move leave every value where it was") {
    SUBCASE("a ready receive case") {
        for (std::size_t capacity : {0u, 2u}) {
            run([&] {
                channel<fragile> ch(capacity);
                auto sender = spawn([&] { ch.send(fragile(1)); });
                // Unbuffered, the sender waits with its value; buffered, it is in the buffer.
                if (capacity == 0)
                    REQUIRE(spindle_test::until_waiting(1));
                else
                    while (ch.size() == 0) this_fiber::yield();
                std::optional<fragile> got;
                fragile_throw_in = 1;
                CHECK_THROWS_AS(select(on_receive(ch, got)), std::runtime_error);
                fragile_throw_in = 0;
                CHECK(select(on_receive(ch, got)) == 0);
                CHECK(got->id == 1);
                sender.join();
            });
        }
    }
    SUBCASE("a ready send case") {
        channel<fragile> ch;
        fragile value(2);
        fragile_throw_in = 1;
        CHECK_THROWS_AS(select(on_send(ch, value)), std::runtime_error);
        fragile_throw_in = 0;
        CHECK(value.id == 2);
        CHECK(ch.size() == 0);
    }
    SUBCASE("a waiting receive case: the sender's move throws, the select waits on") {
        run([] {
            channel<fragile> ch(0);
            std::optional<fragile> got;
            auto selecting = spawn([&] { return select(on_receive(ch, got)); });
            REQUIRE(spindle_test::until_waiting(1));
            fragile value(3);
            fragile_throw_in = 1;
            CHECK_THROWS_AS(ch.send(std::move(value)), std::runtime_error);
            fragile_throw_in = 0;
            CHECK(value.id == 3);
            ch.send(std::move(value));
            CHECK(selecting.join() == 0);
            CHECK(got->id == 3);
        });
    }
    SUBCASE("a waiting unbuffered send case: the receiver's move throws, the select waits on") {
        run([] {
            channel<fragile> ch(0);
            fragile value(4);
            auto selecting = spawn([&] { return select(on_send(ch, value)); });
            REQUIRE(spindle_test::until_waiting(1));
            fragile_throw_in = 1;
            CHECK_THROWS_AS(ch.receive(), std::runtime_error);
            fragile_throw_in = 0;
            CHECK(value.id == 4);
            CHECK(ch.receive()->id == 4);
            CHECK(selecting.join() == 0);
        });
    }
    SUBCASE("a buffered send case that waited and gave up keeps its value") {
        run([] {
            channel<fragile> full(1), other(0);
            full.send(fragile(5));
            fragile value(6);
            std::optional<fragile> got;
            CHECK_FALSE(select_for(1ms, on_send(full, value), on_receive(other, got)));
            CHECK(value.id == 6);
            // And one that completed was sent: a receiver made room.
            auto receiver = spawn([&] { return full.receive()->id; });
            CHECK(select(on_send(full, value), on_receive(other, got)) == 0);
            CHECK(receiver.join() == 5);
            CHECK(full.receive()->id == 6);
        });
    }
    SUBCASE("a buffered send case cancelled while waiting keeps its value") {
        run([] {
            channel<fragile> full(1);
            full.send(fragile(9));
            fragile value(10);
            auto selecting = spawn([&] { return select(on_send(full, value)); });
            REQUIRE(spindle_test::until_waiting(1));
            selecting.cancel();
            CHECK_THROWS_AS(selecting.join(), cancelled);
            CHECK(value.id == 10);
            CHECK(full.try_receive()->id == 9);
            CHECK_FALSE(full.try_receive());  // nothing of the select's was admitted
        });
    }
    SUBCASE("boxing the value to wait throws: the select throws before waiting") {
        run([] {
            channel<fragile> full(1);
            full.send(fragile(7));
            fragile value(8);
            fragile_throw_in = 1;
            CHECK_THROWS_AS(select(on_send(full, value)), std::runtime_error);
            fragile_throw_in = 0;
            CHECK(value.id == 8);
            CHECK(full.size() == 1);
            CHECK(full.try_receive()->id == 7);
        });
    }
}

TEST_CASE("select: many tasks selecting over unbuffered, buffered and unbounded channels lose "
          "nothing") {
    constexpr int producers = 3, consumers = 3, per_producer = 300;
    std::vector<int> received(producers * per_producer, 0);
    run([&] {
        channel<int> c0(0), c1(2), c2;
        std::vector<task<void>> producing;
        for (int p = 0; p < producers; ++p) {
            producing.push_back(spawn([&, p] {
                for (int i = 0; i < per_producer; ++i) {
                    int value = p * per_producer + i;
                    if (i % 7 == 0) {
                        c1.send(value);
                    } else if (i % 5 == 0) {
                        while (!select_for(100us, on_send(c0, value), on_send(c1, value))) {}
                    } else {
                        select(on_send(c0, value), on_send(c1, value), on_send(c2, value));
                    }
                    if (i % 3 == 0) this_fiber::yield();
                }
            }));
        }
        std::vector<task<void>> consuming;
        for (int c = 0; c < consumers; ++c) {
            consuming.push_back(spawn([&, c] {
                bool open[3] = {true, true, true};
                std::optional<int> x[3];
                while (open[0] || open[1] || open[2]) {
                    std::size_t done;
                    if (c == 0 && open[0]) {
                        x[0] = c0.receive();
                        done = 0;
                    } else {
                        done = select(on_receive(c0, x[0]), on_receive(c1, x[1]),
                                      on_receive(c2, x[2]));
                    }
                    if (x[done])
                        ++received[static_cast<std::size_t>(*x[done])];
                    else
                        open[done] = false;
                }
            }));
        }
        for (auto& t : producing) t.join();
        c0.close();
        c1.close();
        c2.close();
        for (auto& t : consuming) t.join();
    });
    for (int count : received) CHECK(count == 1);
}

TEST_CASE("a select that would wait outside any task throws fiber_error, and timed channel "
          "operations there give up on the thread: both keep their values") {
    channel<std::unique_ptr<int>> ch(0);
    auto value = std::make_unique<int>(1);
    std::optional<std::unique_ptr<int>> got;
    CHECK_THROWS_AS(select(on_send(ch, value), on_receive(ch, got)), fiber_error);
    CHECK(value);
    CHECK_FALSE(try_select(on_send(ch, value)));
    // A thread outside any task waits as a thread does (blocking), until the deadline.
    CHECK_FALSE(ch.send_for(value, 1ms));
    CHECK(value);
    CHECK(ch.receive_for(1ms) == std::nullopt);
    channel<std::string> full(1);
    full.send("x");
    std::string text = "kept";
    CHECK_THROWS_AS((void)select_for(1ms, on_send(full, text)), fiber_error);
    CHECK(text == "kept");
}
