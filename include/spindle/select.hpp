#pragma once
// select: Go's select for tasks. One call waits on several channel operations at once and
// completes exactly one of them: the first that can, or, when several can at once, one picked at
// random, so that a channel that is always ready cannot starve the others.
//
//     std::optional<job> j;
//     switch (spindle::select(spindle::on_receive(jobs, j), spindle::on_send(results, r))) {
//         case 0: ...  // received: *j, or j empty when `jobs` is closed and drained
//         case 1: ...  // r was sent (and moved from)
//     }
//
// The waiting task is linked into the queue of every channel at once, one waiter per case, each
// offering its value or its place exactly as a plain send or receive does: the task on the other
// side completes the case with its ordinary send() or receive() and never knows it met a select.
// Whichever waiter is woken first wins (the one claim of the wait, detail/wait_queue.hpp), so no
// second case can complete; the others are unlinked. A case that did not complete leaves its
// value where it was. Where other threads may touch the channels, select() holds all their locks
// (taken in address order, so that two selects cannot each hold one the other wants) from
// looking at them to parking.

#include <spindle/detail/config.hpp>
#include <spindle/channel.hpp>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/wait_queue.hpp>
#include <spindle/errors.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

SPINDLE_EXPORTS_BEGIN

namespace spindle {
namespace detail {

// channel_access is what the select cases use of a channel's insides, under its lock (when
// taken).
struct channel_access {
    template <class T>
    static bool can_receive_now(channel<T>& ch) noexcept {
        return ch.can_receive_now();
    }
    template <class T>
    static bool can_send_now(channel<T>& ch) noexcept {
        return ch.can_send_now();
    }
    // receive_now() takes the next value into the empty `out`; `out` stays empty when the
    // channel is closed and drained. The channel's exception guarantees hold. False when it
    // could not after all (the sender that can_receive_now() saw was claimed meanwhile by its
    // own timeout or cancel).
    template <class T>
    static bool receive_now(channel<T>& ch, std::optional<T>& out) {
        const bool taken = locks_objects() ? ch.template take_into<true>(out)
                                           : ch.template take_into<false>(out);
        return taken || ch.closed_;
    }
    // send_now() sends `value`, or throws channel_closed once closed; false when it could not
    // after all (as receive_now()).
    template <class T>
    static bool send_now(channel<T>& ch, T& value) {
        if (ch.closed_) throw channel_closed("spindle: send on a closed channel");
        return locks_objects() ? ch.template deliver<true>(value)
                               : ch.template deliver<false>(value);
    }
    template <class T>
    static wait_lock* lock(channel<T>& ch) noexcept {
        return &ch.lock_;
    }
    template <class T>
    static wait_queue& receivers(channel<T>& ch) noexcept {
        return ch.receivers_;
    }
    template <class T>
    static wait_queue& senders(channel<T>& ch) noexcept {
        return ch.senders_;
    }
    template <class T>
    static const char* object(const channel<T>& ch) noexcept {
        return ch.name_.c_str();
    }
    template <class T>
    static bool boxes_waiting_sends(const channel<T>& ch) noexcept {
        return ch.boxes_waiting_sends();
    }
};

struct selector;

// random_below() is a number in [0, n) from a per-thread xorshift generator: cheap, and enough to
// make every ready case as likely as the others. Out of line: inlined into a select() that waits
// and tries again, the generator's address could be kept from before the wait (another thread's,
// by then; spindle/detail/thread_locals.hpp).
[[gnu::noinline]] inline std::size_t random_below(std::size_t n) noexcept {
    thread_local std::uint64_t state = 0x9e3779b97f4a7c15u;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<std::size_t>((state >> 32) % n);
}

}  // namespace detail

/// receive_case is a select() case that receives from a channel into an optional; make it with
/// on_receive().
template <class T>
class receive_case {
public:
    /// receive_case(ch, out) receives from `ch` into `out` when its select() picks it.
    receive_case(channel<T>& ch, std::optional<T>& out) noexcept : channel_(ch), out_(out) {}

private:
    friend struct detail::selector;

    // prepare() empties `out`, which receives the value straight from a sender.
    void prepare() { out_.reset(); }
    detail::wait_lock* lock() noexcept { return detail::channel_access::lock(channel_); }
    bool ready() noexcept { return detail::channel_access::can_receive_now(channel_); }
    bool complete() { return detail::channel_access::receive_now(channel_, out_); }
    void offer() noexcept {}
    void withdraw() noexcept {}
    void link(detail::waiter& w) noexcept {
        w.slot = &out_;
        w.object = detail::channel_access::object(channel_);
        w.lock = detail::channel_access::lock(channel_);
    }
    detail::wait_queue& queue() noexcept { return detail::channel_access::receivers(channel_); }
    // woken() ends the case its wait completed, or, closed, found the channel closed and drained
    // (`out` stays empty, as Go's `v, ok := <-ch` gives ok == false).
    void woken(detail::wake_outcome) noexcept {}

    channel<T>& channel_;
    std::optional<T>& out_;
};

/// send_case is a select() case that sends a value to a channel; make it with on_send().
template <class T>
class send_case {
public:
    /// send_case(ch, value) sends `value` to `ch`, moving from it, when its select() picks it.
    send_case(channel<T>& ch, T& value) noexcept : channel_(ch), value_(value) {}

private:
    friend struct detail::selector;

    void prepare() noexcept {}
    detail::wait_lock* lock() noexcept { return detail::channel_access::lock(channel_); }
    bool ready() noexcept { return detail::channel_access::can_send_now(channel_); }
    bool complete() { return detail::channel_access::send_now(channel_, value_); }
    // offer() makes what the waiter offers the receiver (a box, for some channels; see
    // detail::outgoing); withdraw() gives the value back when the case did not complete.
    void offer() {
        offer_.emplace(value_, detail::channel_access::boxes_waiting_sends(channel_));
    }
    void withdraw() {
        if (offer_) offer_->give_back();
    }
    void link(detail::waiter& w) noexcept {
        w.slot = offer_->slot();
        w.object = detail::channel_access::object(channel_);
        w.lock = detail::channel_access::lock(channel_);
    }
    detail::wait_queue& queue() noexcept { return detail::channel_access::senders(channel_); }
    void woken(detail::wake_outcome outcome) {
        if (outcome == detail::wake_outcome::closed) {
            withdraw();
            throw channel_closed("spindle: the channel was closed while a select sent to it");
        }
    }

    channel<T>& channel_;
    T& value_;
    std::optional<detail::outgoing<T>> offer_;
};

/// on_receive() is a select() case that receives from `ch` into `out`: the value, or `out` left
/// empty when the channel is closed and drained. select() empties `out` first.
template <class T>
receive_case<T> on_receive(channel<T>& ch, std::optional<T>& out) noexcept {
    return receive_case<T>(ch, out);
}

/// on_send() is a select() case that sends `value` to `ch`, moving from it only when this case
/// completes (a copyable value that waited on a buffered channel of a type whose move may throw
/// is sent as a copy, see channel.hpp, and left as it was). A send case on a closed channel makes
/// select() throw channel_closed.
template <class T>
send_case<T> on_send(channel<T>& ch, T& value) noexcept {
    return send_case<T>(ch, value);
}

namespace detail {

template <class C>
inline constexpr bool is_select_case = false;
template <class T>
inline constexpr bool is_select_case<receive_case<T>> = true;
template <class T>
inline constexpr bool is_select_case<send_case<T>> = true;

// select_case is what select() accepts: on_receive() and on_send() cases.
template <class C>
concept select_case = is_select_case<std::remove_cvref_t<C>>;

// select_locks holds the locks of a select's channels, when this thread takes them: each
// distinct one once, taken in address order.
template <std::size_t N>
class select_locks {
public:
    explicit select_locks(const std::array<wait_lock*, N>& locks) noexcept {
        if (!locks_objects()) return;
        for (wait_lock* lock : locks) {
            // Insertion in order, duplicates dropped (a select may name a channel twice).
            std::size_t at = 0;
            while (at < count_ && locks_[at] < lock) ++at;
            if (at < count_ && locks_[at] == lock) continue;
            for (std::size_t i = count_; i > at; --i) locks_[i] = locks_[i - 1];
            locks_[at] = lock;
            ++count_;
        }
        for (std::size_t i = 0; i < count_; ++i) locks_[i]->lock();
        held_ = true;
    }
    ~select_locks() {
        if (held_) held_locks{locks_.data(), count_}.release();
    }
    select_locks(const select_locks&) = delete;
    select_locks& operator=(const select_locks&) = delete;

    // hand_over() gives the locks to end_wait(), which has them released after the switch.
    held_locks hand_over() noexcept {
        const bool held = std::exchange(held_, false);
        return held_locks{locks_.data(), held ? count_ : 0};
    }

private:
    std::array<wait_lock*, N> locks_{};
    std::size_t count_ = 0;
    bool held_ = false;
};

// selector runs a select over its cases.
struct selector {
    using time_point = std::chrono::steady_clock::time_point;

    // run() completes one ready case, else (when `wait`) waits for one until `deadline`;
    // std::nullopt when none completed.
    template <class... Cases>
    static std::optional<std::size_t> run(bool wait, time_point deadline, Cases&... cases) {
        constexpr std::size_t n = sizeof...(Cases);
        (cases.prepare(), ...);
        for (;;) {
            select_locks<n> locks(std::array<wait_lock*, n>{cases.lock()...});
            const std::array<bool, n> ready{cases.ready()...};
            std::size_t count = 0;
            for (bool r : ready) count += r;
            if (count > 0) {
                std::size_t pick = random_below(count);
                std::size_t index = 0;
                while (!ready[index] || pick-- > 0) ++index;
                bool completed = false;
                on_case(index, [&completed](auto& c) { completed = c.complete(); }, cases...);
                if (completed) return index;
                continue;  // the waiter it counted on was claimed meanwhile: look again
            }
            if (!wait) return std::nullopt;
            const std::size_t done = wait_for_one(deadline, locks, cases...);
            if (done < n) return done;
            if (done == n && deadline != time_point::max()) return std::nullopt;
            // Woken with nothing done: a hand-over that threw on the other side (retry), or a
            // wait the scheduler ended while the task unwinds, with no deadline of its own.
            // Look again.
        }
    }

private:
    // on_case() calls fn on the case at `index`.
    template <class F, class... Cases>
    static void on_case(std::size_t index, F&& fn, Cases&... cases) {
        std::size_t i = 0;
        ((i++ == index ? fn(cases) : void()), ...);
    }

    // withdraw_all() gives every send case's value back; the first exception from that leaves
    // once all are back.
    template <class... Cases>
    static void withdraw_all(Cases&... cases) {
        std::exception_ptr first;
        auto one = [&first](auto& c) {
            try {
                c.withdraw();
            } catch (...) {
                if (!first) first = std::current_exception();
            }
        };
        (one(cases), ...);
        if (first) std::rethrow_exception(first);
    }

    // wait_for_one() waits in every case's queue at once until one case completes (its index),
    // `deadline` passes (n) or the wait throws (cancelled, a timeout scope); n + 1 when the
    // wait ended with nothing done and is to be tried again (`retry`). `locks` go to end_wait().
    template <std::size_t N, class... Cases>
    static std::size_t wait_for_one(time_point deadline, select_locks<N>& locks,
                                    Cases&... cases) {
        constexpr std::size_t n = sizeof...(Cases);
        std::array<waiter, n> waiters;
        wake_outcome outcome;
        try {
            (cases.offer(), ...);
            std::size_t i = 0;
            auto link = [&](auto& c) {
                waiter& w = waiters[i];
                c.link(w);
                if (i++ == 0)
                    begin_wait_until(c.queue(), w, "select", deadline);
                else
                    also_wait(c.queue(), waiters[0], w);
            };
            (link(cases), ...);
            outcome = end_wait(waiters[0], locks.hand_over());
        } catch (...) {
            withdraw_all(cases...);
            throw;
        }
        std::size_t fired = n;
        if (outcome != wake_outcome::retry)
            for (std::size_t i = 0; i < n; ++i)
                if (waiters[i].fired) fired = i;
        std::size_t i = 0;
        auto settle = [&](auto& c) {
            if (i++ != fired) c.withdraw();
        };
        (settle(cases), ...);
        if (outcome == wake_outcome::retry) return n + 1;
        if (fired == n) return n;
        on_case(fired, [outcome](auto& c) { c.woken(outcome); }, cases...);
        return fired;
    }
};

}  // namespace detail

/// select() waits until one of its cases can complete, completes exactly that one, and returns
/// its index (0 for the first case). When several can complete at once it picks one at random, so
/// that none starves. The cases that did not complete changed nothing. Throws channel_closed for
/// a send case on a closed channel, cancelled when the task is cancelled while waiting (no case
/// completed then), fiber_error when it would wait outside any task, and what the picked case's
/// send or receive throws (T's move, std::bad_alloc: the value then where it was).
template <detail::select_case... Cases>
    requires(sizeof...(Cases) > 0)
std::size_t select(Cases&&... cases) {
    return *detail::selector::run(true, std::chrono::steady_clock::time_point::max(), cases...);
}

/// try_select() is select() without waiting (Go's `default:`): the index of the case it
/// completed, or std::nullopt when none could complete now.
template <detail::select_case... Cases>
    requires(sizeof...(Cases) > 0)
std::optional<std::size_t> try_select(Cases&&... cases) {
    return detail::selector::run(false, std::chrono::steady_clock::time_point::max(), cases...);
}

/// select_until() is select() with a deadline: std::nullopt once `deadline` has passed with no
/// case completed.
template <detail::select_case... Cases>
    requires(sizeof...(Cases) > 0)
std::optional<std::size_t> select_until(std::chrono::steady_clock::time_point deadline,
                                        Cases&&... cases) {
    return detail::selector::run(true, deadline, cases...);
}

/// select_for() is select_until() with a deadline `timeout` from now.
template <class Rep, class Period, detail::select_case... Cases>
    requires(sizeof...(Cases) > 0)
std::optional<std::size_t> select_for(const std::chrono::duration<Rep, Period>& timeout,
                                      Cases&&... cases) {
    return detail::selector::run(true, detail::deadline_after(timeout), cases...);
}

}  // namespace spindle

SPINDLE_EXPORTS_END
