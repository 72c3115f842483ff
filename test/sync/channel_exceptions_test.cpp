// channel exception safety: values whose copy, move or destructor throw, and allocation failure.
// Whatever throws, every value whose send returned is received exactly once, or destroyed exactly
// once with the channel, and a value whose receive threw is still first in line.

#include "allocation_failure.hpp"
#include "parked.hpp"

#include <spindle/channel.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <vector>

using namespace spindle;

namespace {

// probe_error is what a probe throws when its countdown runs out.
struct probe_error : std::runtime_error {
    probe_error() : std::runtime_error("probe: this operation was told to throw") {}
};

// probes counts the probes alive and what they did, and arms the operation that throws.
// Atomic: with several workers a sender's probes are made and destroyed on another thread than
// the receiver's. (Only one task moves probes while an operation is armed.)
struct probe_counters {
    std::atomic<int> live{0};         // probes constructed and not yet destroyed
    std::atomic<long> moves{0};       // copies and moves of values (not of moved-from probes)
    std::atomic<long> throw_in{0};    // the nth counted copy or move from now throws; 0: none
    std::atomic<long> destructor_throw_in{0};  // the same for destructors (throwing_destructor)
    std::array<std::atomic<int>, 256> destroyed_holding{};  // per id: destroyed still holding it

    void reset() noexcept {
        live = 0;
        moves = 0;
        throw_in = 0;
        destructor_throw_in = 0;
        for (auto& count : destroyed_holding) count = 0;
    }
};
probe_counters probes;

// armed_throw makes the nth copy or move from now throw, for as long as it lives.
struct armed_throw {
    explicit armed_throw(long nth) noexcept { probes.throw_in = nth; }
    ~armed_throw() { probes.throw_in = 0; }
    // fired() tells whether the armed operation came (and threw).
    bool fired() const noexcept { return probes.throw_in < 0; }
};

void count_operation() {
    ++probes.moves;
    if (probes.throw_in > 0 && --probes.throw_in == 0) {
        probes.throw_in = -1;  // fired: nothing else throws until rearmed
        throw probe_error();
    }
}

// probe_base carries an id (-1 once moved from) and keeps the counts; the probe types below
// differ in what may throw. Each throws before it changes anything, as a strong move does.
struct probe_base {
    int id;
    explicit probe_base(int i) noexcept : id(i) { ++probes.live; }
    probe_base(const probe_base& other) noexcept : id(other.id) { ++probes.live; }
    probe_base& operator=(const probe_base&) = default;
    ~probe_base() {
        --probes.live;
        if (id >= 0) ++probes.destroyed_holding[static_cast<std::size_t>(id)];
    }
};

const probe_base& counted(const probe_base& p) {
    count_operation();
    return p;
}

// throwing_move: copyable and movable, both of which may throw.
struct throwing_move : probe_base {
    explicit throwing_move(int i) : probe_base(i) {}
    throwing_move(const throwing_move& other) : probe_base(counted(other)) {}
    throwing_move(throwing_move&& other) : probe_base(counted(other)) { other.id = -1; }
    throwing_move& operator=(const throwing_move& other) {
        id = counted(other).id;
        return *this;
    }
    throwing_move& operator=(throwing_move&& other) {
        id = counted(other).id;
        other.id = -1;
        return *this;
    }
};

// throwing_move_only: movable only, and the move may throw (move_if_noexcept cannot help).
struct throwing_move_only : probe_base {
    explicit throwing_move_only(int i) : probe_base(i) {}
    throwing_move_only(throwing_move_only&& other) : probe_base(counted(other)) { other.id = -1; }
    throwing_move_only& operator=(throwing_move_only&& other) {
        id = counted(other).id;
        other.id = -1;
        return *this;
    }
};

// copy_only: a copy constructor and no move constructor, so every "move" copies, and may throw.
struct copy_only : probe_base {
    explicit copy_only(int i) : probe_base(i) {}
    copy_only(const copy_only& other) : probe_base(counted(other)) {}
    copy_only& operator=(const copy_only& other) {
        id = counted(other).id;
        return *this;
    }
};

// nothrow_move: moves never throw (the ring buffer's case); copies may.
struct nothrow_move : probe_base {
    explicit nothrow_move(int i) : probe_base(i) {}
    nothrow_move(const nothrow_move& other) : probe_base(counted(other)) {}
    nothrow_move(nothrow_move&& other) noexcept : probe_base(other) {
        ++probes.moves;
        other.id = -1;
    }
    nothrow_move& operator=(nothrow_move&& other) noexcept {
        id = other.id;
        other.id = -1;
        return *this;
    }
};

// throwing_destructor: moves never throw, the destructor may (noexcept(false)).
struct throwing_destructor : probe_base {
    explicit throwing_destructor(int i) : probe_base(i) {}
    throwing_destructor(throwing_destructor&& other) noexcept : probe_base(other) {
        ++probes.moves;
        other.id = -1;
    }
    throwing_destructor& operator=(throwing_destructor&& other) noexcept {
        id = other.id;
        other.id = -1;
        return *this;
    }
    ~throwing_destructor() noexcept(false) {
        if (probes.destructor_throw_in > 0 && --probes.destructor_throw_in == 0) {
            probes.destructor_throw_in = -1;
            // The base is still destroyed (and counted) as the exception leaves.
            throw probe_error();
        }
    }
};

// fresh_probes resets the counts at the start of a test; no probe may be alive then.
void fresh_probes() {
    REQUIRE(probes.live == 0);
    probes.reset();
}

std::vector<int> iota_ids(int from, int to) {
    std::vector<int> ids;
    for (int i = from; i < to; ++i) ids.push_back(i);
    return ids;
}

// make_channel makes a channel of `capacity`, or an unbounded one.
template <class T>
std::unique_ptr<channel<T>> make_channel(bool bounded, std::size_t capacity) {
    return bounded ? std::make_unique<channel<T>>(capacity) : std::make_unique<channel<T>>();
}

// drain receives everything a closed or idle channel holds, without waiting.
template <class T>
std::vector<int> drain(channel<T>& ch) {
    std::vector<int> ids;
    while (std::optional<T> v = ch.try_receive()) ids.push_back(v->id);
    return ids;
}

}  // namespace

#define THROWING_MOVES throwing_move, throwing_move_only, copy_only

TEST_CASE_TEMPLATE("channel exceptions: a receive whose move throws leaves the value first in line",
                   T, THROWING_MOVES) {
    // Each nth move from now is made to throw in turn, so every move a receive makes is hit.
    for (bool bounded : {true, false}) {
        for (long nth = 1; nth <= 4; ++nth) {
            fresh_probes();
            {
                auto ch = make_channel<T>(bounded, 4);
                for (int i = 0; i < 3; ++i) ch->send(T(i));
                std::vector<int> got;
                bool threw = false;
                {
                    armed_throw arm(nth);
                    try {
                        got.push_back(ch->try_receive()->id);
                    } catch (const probe_error&) {
                        threw = true;
                    }
                }
                CHECK(ch->size() == (threw ? 3u : 2u));
                for (int id : drain(*ch)) got.push_back(id);
                CAPTURE(nth);
                CHECK(got == iota_ids(0, 3));
            }
            CHECK(probes.live == 0);
        }
    }
}

// One move, straight into the optional returned: a second one could throw after the value left.
TEST_CASE_TEMPLATE("channel exceptions: receive and try_receive move a buffered value once", T,
                   THROWING_MOVES) {
    fresh_probes();
    run([] {
        channel<T> ch(2);
        ch.send(T(0));
        ch.send(T(1));
        long before = probes.moves;
        std::optional<T> a = ch.receive();
        CHECK(probes.moves - before == 1);
        before = probes.moves;
        std::optional<T> b = ch.try_receive();
        CHECK(probes.moves - before == 1);
        CHECK(a->id == 0);
        CHECK(b->id == 1);
    });
    CHECK(probes.live == 0);
}

TEST_CASE_TEMPLATE("channel exceptions: unbuffered: a receiver whose move throws leaves the sender "
                   "waiting with its value",
                   T, THROWING_MOVES) {
    fresh_probes();
    run([] {
        channel<T> ch(0);
        auto sender = spawn([&] { ch.send(T(7)); });
        // The sender waits for a receiver, its value in its frame.
        REQUIRE(spindle_test::until_waiting(1));
        {
            armed_throw arm(1);
            CHECK_THROWS_AS(ch.receive(), probe_error);
        }
        // (Where other threads may touch the channel, several workers or
        // SPINDLE_SHARE_SCHEDULERS=1, the sender was claimed, so it woke to wait again: this
        // waits until it has. Else it still waits.)
        REQUIRE(spindle_test::until_waiting(1));
        {
            armed_throw arm(1);
            CHECK_THROWS_AS(ch.try_receive(), probe_error);
        }
        REQUIRE(spindle_test::until_waiting(1));
        CHECK(!sender.done());  // its send has not completed
        CHECK(ch.receive()->id == 7);
        sender.join();
    });
    CHECK(probes.live == 0);
}

TEST_CASE_TEMPLATE("channel exceptions: a full buffer and a waiting sender: a throwing receive "
                   "loses neither value",
                   T, THROWING_MOVES) {
    for (long nth = 1; nth <= 4; ++nth) {
        fresh_probes();
        run([nth] {
            channel<T> ch(1);
            ch.send(T(0));
            auto sender = spawn([&] { ch.send(T(1)); });
            REQUIRE(spindle_test::until_waiting(1));  // the sender waits: the buffer is full
            std::vector<int> got;
            {
                armed_throw arm(nth);
                try {
                    got.push_back(ch.receive()->id);
                } catch (const probe_error&) {
                    CHECK(ch.size() == 1);  // the value is still buffered
                }
            }
            while (got.size() < 2) got.push_back(ch.receive()->id);
            {
                // (A scope without waits: doctest keeps CAPTURE's context per thread, and a
                // task may go on on another worker after a wait.)
                CAPTURE(nth);
                CHECK(got == iota_ids(0, 2));
            }
            sender.join();
            CHECK(ch.size() == 0);
        });
        CHECK(probes.live == 0);
    }
}

TEST_CASE_TEMPLATE("channel exceptions: a send whose move into a waiting receiver throws has not "
                   "sent",
                   T, THROWING_MOVES) {
    fresh_probes();
    run([] {
        channel<T> ch(0);
        auto receiver = spawn([&] { return ch.receive()->id; });
        REQUIRE(spindle_test::until_waiting(1));  // the receiver waits
        {
            armed_throw arm(1);
            CHECK_THROWS_AS(ch.send(T(1)), probe_error);
        }
        REQUIRE(spindle_test::until_waiting(1));  // (as above: a claimed receiver waits again)
        {
            armed_throw arm(1);
            T value(2);
            CHECK_THROWS_AS(ch.try_send(value), probe_error);
            CHECK(value.id == 2);  // not taken
        }
        REQUIRE(spindle_test::until_waiting(1));
        CHECK(!receiver.done());  // still waiting: nothing was handed over
        ch.send(T(3));
        CHECK(receiver.join() == 3);
    });
    CHECK(probes.live == 0);
}

TEST_CASE_TEMPLATE("channel exceptions: range-for whose receive throws leaves the value in the "
                   "channel",
                   T, THROWING_MOVES) {
    for (long nth = 1; nth <= 4; ++nth) {
        fresh_probes();
        {
            channel<T> ch(4);
            for (int i = 0; i < 4; ++i) ch.send(T(i));
            ch.close();
            std::vector<int> got;
            {
                armed_throw arm(2 + nth);  // past the first value: the loop's ++ is hit
                try {
                    for (T& v : ch) got.push_back(v.id);
                } catch (const probe_error&) {
                }
            }
            for (T& v : ch) got.push_back(v.id);
            CAPTURE(nth);
            CHECK(got == iota_ids(0, 4));
        }
        CHECK(probes.live == 0);
    }
}

TEST_CASE_TEMPLATE("channel exceptions: a send that grows the buffer and throws keeps every value",
                   T, THROWING_MOVES, nothrow_move) {
    // 8 values fill the first block of storage; the 9th send grows it. Each move it makes is
    // made to throw in turn.
    for (bool bounded : {true, false}) {
        for (long nth = 1; nth <= 10; ++nth) {
            fresh_probes();
            {
                auto ch = make_channel<T>(bounded, 100);
                for (int i = 0; i < 8; ++i) ch->send(T(i));
                bool sent = false;
                {
                    armed_throw arm(nth);
                    T value(8);
                    try {
                        sent = ch->try_send(value);
                    } catch (const probe_error&) {
                        CHECK(value.id == 8);  // not taken
                    }
                }
                CAPTURE(nth);
                CHECK(ch->size() == (sent ? 9u : 8u));
                CHECK(drain(*ch) == iota_ids(0, sent ? 9 : 8));
            }
            CHECK(probes.live == 0);
        }
    }
}

TEST_CASE_TEMPLATE("channel exceptions: out of memory: send throws std::bad_alloc and the channel "
                   "stays as it was",
                   T, throwing_move, nothrow_move) {
    if (!allocation_failure_available()) {
        MESSAGE("skipped: operator new is not this binary's (Valgrind?)");
        return;
    }
    for (bool bounded : {true, false}) {
        fresh_probes();
        {
            auto ch = make_channel<T>(bounded, 100);
            int sent = 0;
            // Each send fails once at each allocation it makes, then is made again.
            while (sent < 20) {
                for (long nth = 1;; ++nth) {
                    T value(sent);
                    bool took = false;
                    bool failed;
                    {
                        fail_allocation fail(nth);
                        try {
                            took = ch->try_send(value);
                        } catch (const std::bad_alloc&) {
                        }
                        failed = fail.failed();
                    }
                    CHECK(took == !failed);
                    CHECK(ch->size() == static_cast<std::size_t>(failed ? sent : sent + 1));
                    if (!failed) break;
                    CHECK(value.id == sent);  // not taken
                }
                ++sent;
            }
            CHECK(drain(*ch) == iota_ids(0, 20));
        }
        CHECK(probes.live == 0);
    }
}

TEST_CASE("channel exceptions: out of memory boxing a waiting sender's value: the send throws it") {
    if (!allocation_failure_available()) {
        MESSAGE("skipped: operator new is not this binary's (Valgrind?)");
        return;
    }
    fresh_probes();
    run([] {
        channel<throwing_move> ch(1);
        ch.send(throwing_move(0));
        auto sender = spawn([&] {
            fail_allocation fail(1);
            ch.send(throwing_move(1));
        });
        CHECK_THROWS_AS(sender.join(), std::bad_alloc);
        CHECK(ch.size() == 1);
        CHECK(ch.receive()->id == 0);
        CHECK(!ch.try_receive());
    });
    CHECK(probes.live == 0);
}

TEST_CASE_TEMPLATE("channel exceptions: close keeps the buffered values; destroying the channel "
                   "destroys each once",
                   T, THROWING_MOVES, nothrow_move, throwing_destructor) {
    fresh_probes();
    run([] {
        auto ch = std::make_unique<channel<T>>(4);
        for (int i = 0; i < 4; ++i) ch->send(T(i));
        ch->close();
        T late(9);
        CHECK_FALSE(ch->try_send(late));  // closed: false, and the value kept
        CHECK(late.id == 9);
        CHECK(ch->receive()->id == 0);
        CHECK(ch->try_receive()->id == 1);
        const int live_before = probes.live;
        ch.reset();  // 2 and 3 were still buffered
        CHECK(probes.live == live_before - 2);
        if constexpr (!std::is_same_v<T, copy_only>) {  // its copies leave the value behind too
            CHECK(probes.destroyed_holding[2] == 1);
            CHECK(probes.destroyed_holding[3] == 1);
        }
    });
    CHECK(probes.live == 0);
    if constexpr (!std::is_same_v<T, copy_only>)
        for (int id : {0, 1, 9}) CHECK(probes.destroyed_holding[id] == 1);
}

TEST_CASE("channel exceptions: a destructor that throws while the channel is destroyed") {
    for (long nth = 1; nth <= 3; ++nth) {
        fresh_probes();
        auto* ch = new channel<throwing_destructor>();
        for (int i = 0; i < 3; ++i) ch->send(throwing_destructor(i));
        probes.destructor_throw_in = nth;
        CHECK_THROWS_AS(delete ch, probe_error);  // after destroying every value
        CHECK(probes.live == 0);
        for (int id = 0; id < 3; ++id) CHECK(probes.destroyed_holding[id] == 1);
    }
}

TEST_CASE("channel exceptions: a destructor that throws as receive destroys the moved-from value") {
    fresh_probes();
    run([] {
        channel<throwing_destructor> ch(1);
        ch.send(throwing_destructor(0));
        auto sender = spawn([&] { ch.send(throwing_destructor(1)); });
        REQUIRE(spindle_test::until_waiting(1));  // the sender waits: the buffer is full
        probes.destructor_throw_in = 1;
        // The value was taken; the exception leaves receive() and the value with it.
        CHECK_THROWS_AS(ch.receive(), probe_error);
        CHECK(probes.destroyed_holding[0] == 1);
        // The place that came free went to the waiting sender all the same.
        CHECK(ch.size() == 1);
        sender.join();
        CHECK(ch.receive()->id == 1);
    });
    CHECK(probes.live == 0);
}

TEST_CASE_TEMPLATE("channel exceptions: random operations with random throws lose and repeat "
                   "nothing",
                   T, THROWING_MOVES, nothrow_move) {
    // A model queue of the ids whose send returned; every receive must give its front or throw
    // and leave it. Seeded: the same run every time.
    std::mt19937 random(20261201);
    for (int round = 0; round < 20; ++round) {
        fresh_probes();
        run([&] {
            const bool bounded = round % 2 == 0;
            auto ch = make_channel<T>(bounded, 12);
            std::vector<int> model;
            std::size_t front = 0;
            int next_id = 0;
            for (int step = 0; step < 200 && next_id < 200; ++step) {
                const unsigned operation = random() % 4;
                armed_throw arm(random() % 3 == 0 ? long(random() % 4 + 1) : 0);
                try {
                    if (operation < 2) {
                        T value(next_id);
                        const bool room = !bounded || model.size() - front < 12;
                        bool sent;
                        if (operation == 0 && room) {
                            ch->send(std::move(value));
                            sent = true;
                        } else {
                            sent = ch->try_send(value);
                        }
                        CHECK(sent == room);
                        if (sent) model.push_back(next_id);
                        ++next_id;
                    } else {
                        std::optional<T> got = operation == 2 && front < model.size()
                                                   ? ch->receive()
                                                   : ch->try_receive();
                        REQUIRE(got.has_value() == (front < model.size()));
                        if (got) CHECK(got->id == model[front++]);
                    }
                } catch (const probe_error&) {
                    CHECK(arm.fired());
                }
                REQUIRE(ch->size() == model.size() - front);
            }
            ch->close();
            std::vector<int> rest;
            for (T& v : *ch) rest.push_back(v.id);
            CHECK(rest == std::vector<int>(model.begin() + static_cast<std::ptrdiff_t>(front),
                                           model.end()));
        });
        CHECK(probes.live == 0);
    }
}

TEST_CASE("channel exceptions: a waiting sender's boxed value is destroyed once when it is "
          "cancelled or the channel closes") {
    fresh_probes();
    run([] {
        channel<throwing_move> ch(1);
        ch.send(throwing_move(0));
        auto cancelled_sender = spawn([&] { ch.send(throwing_move(1)); });
        auto closed_sender = spawn([&] { ch.send(throwing_move(2)); });
        REQUIRE(spindle_test::until_waiting(2));  // both wait: the buffer is full
        cancelled_sender.cancel();
        CHECK_THROWS_AS(cancelled_sender.join(), cancelled);
        CHECK(probes.destroyed_holding[1] == 1);
        ch.close();
        CHECK_THROWS_AS(closed_sender.join(), channel_closed);
        CHECK(probes.destroyed_holding[2] == 1);
        CHECK(ch.receive()->id == 0);
        CHECK(!ch.receive());
    });
    CHECK(probes.live == 0);
}
