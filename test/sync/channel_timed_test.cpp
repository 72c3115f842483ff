// channel: names in deadlock reports, try_send of temporaries and on a closed channel, and the
// timed operations (send_until/for, receive_until/for). Timed tests check results and that the
// deadline passed, never how late the wake-up came.

#include <spindle/channel.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace spindle;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST_CASE("channel names: set_name() and name(), kept up to 31 bytes") {
    channel<int> ch;
    CHECK(ch.name().empty());
    ch.set_name("jobs");
    CHECK(ch.name() == "jobs");
    ch.set_name(std::string(40, 'x'));
    CHECK(ch.name() == std::string(31, 'x'));
}

TEST_CASE("channel names: a deadlock report names the channel a task waits on") {
    SUBCASE("receive") {
        CHECK_THROWS_WITH_AS(run([] {
                                 channel<int> ch;
                                 ch.set_name("inbox");
                                 ch.receive();
                             }),
                             doctest::Contains("waits on channel receive (channel empty) 'inbox'"),
                             deadlock_error);
    }
    SUBCASE("send") {
        CHECK_THROWS_WITH_AS(run([] {
                                 channel<int> ch(0);
                                 ch.set_name("handoff");
                                 ch.send(1);
                             }),
                             doctest::Contains("waits on channel send (no receiver) 'handoff'"),
                             deadlock_error);
    }
    SUBCASE("an unnamed channel adds nothing") {
        try {
            run([] {
                channel<int> ch;
                ch.receive();
            });
            FAIL("no deadlock_error");
        } catch (const deadlock_error& e) {
            const std::string message = e.what();
            CHECK(message.find("channel receive (channel empty) '") == std::string::npos);
        }
    }
}

TEST_CASE("channel try_send: temporaries, and false on a closed channel") {
    channel<std::unique_ptr<int>> ch(1);
    CHECK(ch.try_send(std::make_unique<int>(1)));
    auto kept = std::make_unique<int>(2);
    CHECK_FALSE(ch.try_send(std::move(kept)));  // full: not moved from
    REQUIRE(kept);
    CHECK(*kept == 2);
    ch.close();
    CHECK(ch.closed());
    CHECK_FALSE(ch.try_send(std::move(kept)));  // closed: false, not moved from, no exception
    REQUIRE(kept);
    CHECK(**ch.try_receive() == 1);
}

TEST_CASE("channel send_for / send_until") {
    SUBCASE("sends at once when there is room") {
        channel<int> ch(1);
        CHECK(ch.send_for(1, 1h));
        CHECK(ch.size() == 1);
    }
    SUBCASE("times out on a full channel, keeping the value") {
        for (std::size_t capacity : {0u, 1u}) {
            run([&] {
                channel<std::unique_ptr<int>> ch(capacity);
                if (capacity > 0) ch.send(std::make_unique<int>(0));
                auto value = std::make_unique<int>(7);
                const auto start = clock_type::now();
                CHECK_FALSE(ch.send_for(value, 5ms));
                CHECK(clock_type::now() - start >= 5ms);
                REQUIRE(value);
                CHECK(*value == 7);
                CHECK(ch.size() == capacity);
                const auto deadline = clock_type::now() + 1ms;
                CHECK_FALSE(ch.send_until(std::move(value), deadline));
                CHECK(clock_type::now() >= deadline);
                REQUIRE(value);
                CHECK(*value == 7);
            });
        }
    }
    SUBCASE("sends when a receiver comes before the deadline") {
        for (std::size_t capacity : {0u, 1u}) {
            run([&] {
                channel<std::unique_ptr<int>> ch(capacity);
                if (capacity > 0) ch.send(std::make_unique<int>(0));
                auto receiver = spawn([&] {
                    std::vector<int> got;
                    for (int i = 0; i < (capacity > 0 ? 2 : 1); ++i) got.push_back(**ch.receive());
                    return got;
                });
                auto value = std::make_unique<int>(7);
                CHECK(ch.send_for(value, 1h));
                CHECK_FALSE(value);
                const std::vector<int> got = receiver.join();
                CHECK(got.back() == 7);
            });
        }
    }
    SUBCASE("a closed channel throws channel_closed, also while waiting, keeping the value") {
        run([] {
            channel<std::unique_ptr<int>> ch(0);
            auto closer = spawn([&] { ch.close(); });
            auto value = std::make_unique<int>(3);
            CHECK_THROWS_AS((void)ch.send_for(value, 1h), channel_closed);
            REQUIRE(value);
            CHECK_THROWS_AS((void)ch.send_for(value, 1h), channel_closed);
            REQUIRE(value);
            closer.join();
        });
    }
    SUBCASE("a copyable value that waited on a buffered channel of a throwing-move type") {
        // Such a channel boxes a waiting sender's value; giving up must hand back the original.
        struct copyable {
            std::string text;
            copyable(std::string t) : text(std::move(t)) {}
            copyable(const copyable&) = default;
            copyable(copyable&& other) noexcept(false) : text(std::move(other.text)) {}
            copyable& operator=(const copyable&) = default;
        };
        run([] {
            channel<copyable> ch(1);
            ch.send(copyable("first"));
            copyable value("second");
            CHECK_FALSE(ch.send_for(value, 1ms));
            CHECK(value.text == "second");
            CHECK(ch.size() == 1);
            auto receiver = spawn([&] {
                this_fiber::yield();
                return ch.receive()->text;
            });
            CHECK(ch.send_for(value, 1h));
            CHECK(receiver.join() == "first");
            CHECK(ch.receive()->text == "second");
        });
    }
}

TEST_CASE("channel send_for: a move-only type whose move may throw moves back when it gives up") {
    struct move_only {
        std::unique_ptr<int> p;
        explicit move_only(int v) : p(std::make_unique<int>(v)) {}
        move_only(move_only&& other) noexcept(false) : p(std::move(other.p)) {}
        move_only& operator=(move_only&& other) noexcept(false) {
            p = std::move(other.p);
            return *this;
        }
    };
    run([] {
        channel<move_only> ch(1);
        ch.send(move_only(1));
        move_only value(2);
        CHECK_FALSE(ch.send_for(value, 1ms));
        REQUIRE(value.p);
        CHECK(*value.p == 2);
        auto receiver = spawn([&] {
            this_fiber::yield();
            return *ch.receive()->p;
        });
        CHECK(ch.send_for(std::move(value), 1h));
        CHECK_FALSE(value.p);
        CHECK(receiver.join() == 1);
        CHECK(*ch.receive()->p == 2);
    });
}

TEST_CASE("channel receive_for / receive_until") {
    SUBCASE("a buffered value at once") {
        channel<int> ch;
        ch.send(4);
        CHECK(ch.receive_for(1h) == 4);
    }
    SUBCASE("std::nullopt at the deadline, the channel open") {
        run([] {
            channel<int> ch;
            const auto start = clock_type::now();
            CHECK_FALSE(ch.receive_for(5ms));
            CHECK(clock_type::now() - start >= 5ms);
            CHECK_FALSE(ch.closed());
            // A value sent after the receive gave up is not lost: it waits for the next receive.
            ch.send(5);
            CHECK(ch.receive_until(clock_type::now()) == 5);
        });
    }
    SUBCASE("a value from a sender before the deadline") {
        run([] {
            channel<int> ch(0);
            auto sender = spawn([&] { ch.send(6); });
            CHECK(ch.receive_for(1h) == 6);
            sender.join();
        });
    }
    SUBCASE("std::nullopt once closed and drained, closed() telling why") {
        run([] {
            channel<int> ch;
            ch.send(1);
            auto closer = spawn([&] { ch.close(); });
            CHECK(ch.receive_for(1h) == 1);
            CHECK_FALSE(ch.receive_for(1h));
            CHECK(ch.closed());
            closer.join();
        });
    }
    SUBCASE("a sender that timed out leaves nothing behind for a later receiver") {
        run([] {
            channel<int> ch(0);
            auto sender = spawn([&] { return ch.send_for(1, 1ms); });
            CHECK_FALSE(sender.join());
            CHECK_FALSE(ch.try_receive());
            auto late = spawn([&] { ch.send(2); });
            CHECK(ch.receive() == 2);
            late.join();
        });
    }
}
