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
// Whichever waiter is woken first wins; waking it unlinks all the others, so no second case can
// complete. A case that did not complete leaves its value where it was.

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

SPINDLE_EXPORTS_BEGIN

namespace spindle {
namespace detail {

// channel_access is what the select cases use of a channel's insides.
struct channel_access {
    template <class T>
    static bool can_receive_now(const channel<T>& ch) noexcept {
        return ch.can_receive_now();
    }
    template <class T>
    static bool can_send_now(const channel<T>& ch) noexcept {
        return ch.can_send_now();
    }
    // receive_now() takes the next value into the empty `out`; `out` stays empty when the
    // channel is closed and drained. The channel's exception guarantees hold.
    template <class T>
    static void receive_now(channel<T>& ch, std::optional<T>& out) {
        ch.take_into(out);
    }
    // send_now() sends `value` to a channel that can_send_now(); channel_closed once closed.
    template <class T>
    static void send_now(channel<T>& ch, T& value) {
        if (!ch.try_send(value)) throw channel_closed("spindle: send on a closed channel");
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
    bool ready() const noexcept { return detail::channel_access::can_receive_now(channel_); }
    void complete() { detail::channel_access::receive_now(channel_, out_); }
    void offer() noexcept {}
    void withdraw() noexcept {}
    void link(detail::waiter& w) noexcept {
        w.slot = &out_;
        w.object = detail::channel_access::object(channel_);
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
    bool ready() const noexcept { return detail::channel_access::can_send_now(channel_); }
    void complete() { detail::channel_access::send_now(channel_, value_); }
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
            const std::array<bool, n> ready{cases.ready()...};
            std::size_t count = 0;
            for (bool r : ready) count += r;
            if (count > 0) {
                std::size_t pick = random_below(count);
                std::size_t index = 0;
                while (!ready[index] || pick-- > 0) ++index;
                on_case(index, [](auto& c) { c.complete(); }, cases...);
                return index;
            }
            if (!wait) return std::nullopt;
            const std::optional<std::size_t> done = wait_for_one(deadline, cases...);
            if (done || deadline != time_point::max()) return done;
            // Woken with nothing done and no deadline of its own (a wait the scheduler ended
            // while the task unwinds): look again.
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

    // wait_for_one() waits in every case's queue at once until one case completes, `deadline`
    // passes (std::nullopt) or the wait throws (cancelled, a timeout scope).
    template <class... Cases>
    static std::optional<std::size_t> wait_for_one(time_point deadline, Cases&... cases) {
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
            outcome = end_wait(waiters[0]);
        } catch (...) {
            withdraw_all(cases...);
            throw;
        }
        std::size_t fired = n;
        for (std::size_t i = 0; i < n; ++i)
            if (waiters[i].fired) fired = i;
        std::size_t i = 0;
        auto settle = [&](auto& c) {
            if (i++ != fired) c.withdraw();
        };
        (settle(cases), ...);
        if (fired == n) return std::nullopt;
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
