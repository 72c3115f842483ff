#pragma once
// channel: Go's channels for tasks. Many producers, many consumers, waiting suspends only the
// calling task.
//
// A channel is unbounded (channel()), buffered (channel(n)) or unbuffered (channel(0): a send
// waits until a receiver takes the value). A value is handed straight from a sender to a waiting
// receiver (and from a waiting sender to a receiver), never through the buffer when one side
// already waits. close() wakes every waiter: receivers drain what is buffered and then get
// std::nullopt; senders get channel_closed.
//
// Exceptions from T (its move or copy, its destructor) and std::bad_alloc never lose a value: a
// send that throws has not sent (the receiver it was handing to keeps waiting), a receive that
// throws has not received (the value stays first in line: in the buffer, or with the sender that
// waits to hand it over, which stays parked). Every value whose send returned is received exactly
// once, or destroyed exactly once with the channel.
//
// Tasks and ordinary threads may use a channel alike: a thread outside any task that must wait
// blocks (a task waits by suspending only itself). A thread other than the one running a
// scheduler uses the channels that scheduler's tasks wait on while it holds a scheduler_handle
// (scheduler::keep_open()), which makes the scheduler lock them (detail/wait_lock.hpp).
//
// A channel may be named (set_name()): deadlock reports and task dumps print the name beside each
// wait on it. Timed operations (send_until/for, receive_until/for) give up at a deadline; select()
// (select.hpp) waits on several channels at once. A send that gives up keeps its value: on a
// buffered channel of a type stored in nodes, where a waiting sender offers its value boxed, a
// copyable value is boxed as a copy; a move-only one moves into the box and back, and a throw
// from that move back is the one exception that loses a value.

#include <spindle/detail/config.hpp>
#include <spindle/detail/channel_buffer.hpp>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/wait_queue.hpp>
#include <spindle/errors.hpp>

#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

SPINDLE_EXPORTS_BEGIN

namespace spindle {
namespace detail {
struct channel_access;  // what select() (select.hpp) uses of a channel
}  // namespace detail

/// channel carries values of type T from tasks that send to tasks that receive, in order.
template <class T>
class channel {
    static_assert(std::is_object_v<T> && !std::is_const_v<T>,
                  "channel<T> carries values: T must be a non-const object type");

public:
    /// channel() makes an unbounded channel: send() never waits.
    channel() noexcept = default;
    /// channel(capacity) makes a channel that buffers up to `capacity` values; 0 makes it
    /// unbuffered, so that each send() waits for a receiver.
    explicit channel(std::size_t capacity) noexcept : bounded_(true), capacity_(capacity) {}
    /// ~channel() closes the channel, waking any task still waiting on it, and destroys the values
    /// still buffered. If T's destructor throws, every value is destroyed all the same and the
    /// first exception leaves ~channel (which is noexcept when T's destructor is).
    ~channel() noexcept(std::is_nothrow_destructible_v<T>) { close(); }
    channel(const channel&) = delete;
    channel& operator=(const channel&) = delete;

    /// send() hands `value` to a waiting receiver, or buffers it, or waits while the channel is
    /// full or, unbuffered, until a receiver takes it: a task waits by suspending, a thread
    /// outside any task by blocking. Throws channel_closed once the channel is closed (also when
    /// it closes while the send waits), cancelled when the task is cancelled while waiting (the
    /// value is then not sent). When moving the value into the receiver or the buffer throws (T's
    /// move, std::bad_alloc), send() throws that and has not sent.
    void send(T value) {
        if (detail::locks_objects()) [[unlikely]]
            send_as<true>(value);
        else
            send_as<false>(value);
    }

    /// receive() takes the next value, waiting while the channel is empty (a task suspends, a
    /// thread outside any task blocks); std::nullopt once the channel is closed and drained.
    /// Throws cancelled when the task is cancelled while waiting. When moving the value out
    /// throws (T's move), receive() throws that and the value stays first in line for the next
    /// receive; a sender waiting to hand it over stays waiting, its send not done. When
    /// destroying the moved-from value left behind throws (T's destructor), that leaves
    /// receive() and the value received is destroyed with it.
    std::optional<T> receive() {
        if constexpr (detail::stores_inline<T>) {
            if (detail::locks_objects()) [[unlikely]] return receive_as<true>();
            return receive_as<false>();
        } else {
            return receive_in_place();
        }
    }

private:
    /// send_as() is send(), taking the channel's lock when `Locked` (one test of
    /// locks_objects() per operation; the unlocked form has no trace of the lock).
    template <bool Locked>
    void send_as(T& value) {
        for (;;) {
            detail::object_guard guard(lock_, Locked);
            if (closed_) throw channel_closed("spindle: send on a closed channel");
            if (deliver<Locked>(value)) return;
            if constexpr (!detail::stores_inline<T>) {
                if (capacity_ > 0) {
                    // Boxed before waiting, so that the receiver who makes room only links the
                    // node: nothing that could fail is left for it to do with this value (so
                    // its wait never ends in `retry`).
                    typename detail::node_queue<T>::parked boxed(std::move(value));
                    (void)wait_to_send<Locked>(&boxed, guard);
                    return;
                }
            }
            // `retry` (only where claims are taken): the receiver's move from `value` threw, on
            // its side; send it again.
            if (wait_to_send<Locked>(std::addressof(value), guard) != detail::wake_outcome::retry ||
                !Locked)
                return;
        }
    }

    /// receive_as() is receive() for a T whose move and destructor cannot throw, so the value
    /// may take the short way out, which keeps it in registers when nothing has to wait.
    template <bool Locked>
    std::optional<T> receive_as() {
        for (;;) {
            detail::object_guard guard(lock_, Locked);
            {
                std::optional<T> value;
                if (take_into<Locked>(value)) return value;
            }
            std::optional<T> result;
            if (closed_ ||
                wait_to_receive<Locked>(result, guard) != detail::wake_outcome::retry || !Locked)
                return result;
        }
    }

public:
    /// try_send() sends without waiting: true when the value was taken (and moved from), false
    /// when the channel is full or, unbuffered, no receiver waits, or is closed (closed() tells
    /// which: a poll loop wants an answer, not an exception). When moving the value in throws
    /// (T's move, std::bad_alloc), that, and `value` was not taken.
    bool try_send(T& value) {
        detail::object_guard guard(lock_);
        if (closed_) return false;
        return guard.held() ? deliver<true>(value) : deliver<false>(value);
    }
    /// try_send(T&&) is try_send() for a temporary or a std::move()d value, which it moves from
    /// only when it returns true.
    bool try_send(T&& value) { return try_send(value); }

    /// send_until() is send() with a deadline: true when sent, false once `deadline` has passed
    /// (the value then not sent and not moved from: a sender that gives up keeps its value).
    /// channel_closed, cancelled and T's exceptions as for send(), `value` then as it was.
    bool send_until(T& value, std::chrono::steady_clock::time_point deadline) {
        if (detail::locks_objects()) [[unlikely]] return send_until_as<true>(value, deadline);
        return send_until_as<false>(value, deadline);
    }

private:
    template <bool Locked>
    bool send_until_as(T& value, std::chrono::steady_clock::time_point deadline) {
        for (;;) {
            detail::object_guard guard(lock_, Locked);
            if (closed_) throw channel_closed("spindle: send on a closed channel");
            if (deliver<Locked>(value)) return true;
            detail::outgoing<T> offer(value, boxes_waiting_sends());
            detail::wake_outcome outcome;
            try {
                outcome = wait_to_send<Locked>(offer.slot(), guard, deadline);
            } catch (...) {
                offer.give_back();
                throw;
            }
            if (outcome == detail::wake_outcome::completed) return true;
            offer.give_back();
            if (outcome == detail::wake_outcome::timed_out) return false;
        }
    }

public:
    /// send_until(T&&, deadline) is send_until() for a temporary or a std::move()d value.
    bool send_until(T&& value, std::chrono::steady_clock::time_point deadline) {
        return send_until(value, deadline);
    }
    /// send_for() is send_until() with a deadline `timeout` from now.
    template <class Rep, class Period>
    bool send_for(T& value, const std::chrono::duration<Rep, Period>& timeout) {
        return send_until(value, detail::deadline_after(timeout));
    }
    /// send_for(T&&, timeout) is send_for() for a temporary or a std::move()d value.
    template <class Rep, class Period>
    bool send_for(T&& value, const std::chrono::duration<Rep, Period>& timeout) {
        return send_until(value, detail::deadline_after(timeout));
    }

    /// receive_until() is receive() with a deadline: std::nullopt once `deadline` has passed, or
    /// once the channel is closed and drained (closed() tells which). Exceptions as for receive().
    std::optional<T> receive_until(std::chrono::steady_clock::time_point deadline) {
        // One object returned on every path: constructed in place, so T moves once, into it.
        std::optional<T> result;
        if (detail::locks_objects()) [[unlikely]]
            receive_into_as<true>(result, deadline);
        else
            receive_into_as<false>(result, deadline);
        return result;
    }
    /// receive_for() is receive_until() with a deadline `timeout` from now.
    template <class Rep, class Period>
    std::optional<T> receive_for(const std::chrono::duration<Rep, Period>& timeout) {
        return receive_until(detail::deadline_after(timeout));
    }

    /// try_receive() takes a value without waiting, or returns std::nullopt. Exceptions as for
    /// receive(): when moving the value out throws, the value stays first in line.
    std::optional<T> try_receive() {
        std::optional<T> result;
        detail::object_guard guard(lock_);
        if (guard.held())
            take_into<true>(result);
        else
            take_into<false>(result);
        return result;
    }

    /// close() closes the channel and wakes every waiting task and thread; idempotent.
    void close() noexcept {
        detail::object_guard guard(lock_);
        closed_ = true;
        detail::wake_all(receivers_, detail::wake_outcome::closed);
        detail::wake_all(senders_, detail::wake_outcome::closed);
    }

    /// closed() tells whether close() was called.
    bool closed() const noexcept {
        detail::object_guard guard(lock_);
        return closed_;
    }
    /// set_name() names the channel for deadlock reports and task dumps, which print it beside
    /// each wait on it; up to 31 bytes are kept. Naming allocates nothing and cannot fail.
    void set_name(std::string_view name) noexcept { name_.assign(name); }
    /// name() is the channel's name, empty when it has none.
    std::string_view name() const noexcept {
        const char* text = name_.c_str();
        return text ? std::string_view(text) : std::string_view();
    }
    /// size() is the number of buffered values.
    std::size_t size() const noexcept {
        detail::object_guard guard(lock_);
        return buffer_.size();
    }

    /// iterator receives as it advances: `for (T v : ch)` runs until the channel is closed and
    /// drained. *it is the value just received, held by the iterator (move from it freely). When
    /// taking the next value out throws, the value stays in the channel and the exception leaves
    /// the loop. `for (T v : ch)` copies *it into v: where T's copy may throw, write
    /// `for (T& v : ch)`, or a throwing copy leaves the loop with the received value.
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;  ///< an input iterator: one pass
        using value_type = T;                               ///< the channel's value type
        using difference_type = std::ptrdiff_t;             ///< required of an iterator; unused
        using reference = T&;                               ///< what *it gives

        /// iterator() makes an iterator that equals end().
        iterator() = default;
        /// operator*() is the value received last, held by the iterator.
        T& operator*() const { return *current_; }
        /// operator++() receives the next value, waiting for it if need be.
        iterator& operator++() {
            current_.reset();
            channel_->receive_into(current_);  // straight into place: no move that could throw
            return *this;
        }
        /// operator++(int) is ++it (an input iterator keeps no copy of the old position).
        void operator++(int) { ++*this; }
        /// operator==(it, default_sentinel) tells whether the channel is closed and drained.
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
            return !it.current_;
        }

    private:
        friend class channel;
        explicit iterator(channel* ch) : channel_(ch) { ch->receive_into(current_); }

        channel* channel_ = nullptr;
        mutable std::optional<T> current_;
    };

    /// begin() receives the first value (waiting for it if need be).
    iterator begin() { return iterator(this); }
    /// end() is the sentinel an iterator equals once the channel is closed and drained.
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    friend struct detail::channel_access;
    using time_point = std::chrono::steady_clock::time_point;

    // The private members below run under the channel's lock (when taken: object_guard).

    /// deliver() hands the value to a waiting receiver or buffers it, if either is possible.
    template <bool Locked>
    bool deliver(T& value) {
        if (detail::waiter* receiver = detail::claim_first_as<Locked>(receivers_)) {
            // A throwing move leaves the value with the sender, and the receiver waiting (where
            // other threads may touch the channel, it was claimed: it wakes and waits again).
            try {
                static_cast<std::optional<T>*>(receiver->slot)->emplace(std::move(value));
            } catch (...) {
                detail::give_up_claim<Locked>(*receiver);
                throw;
            }
            detail::wake_as<Locked>(*receiver, detail::wake_outcome::completed);
            return true;
        }
        if (!bounded_ || buffer_.size() < capacity_) {
            buffer_.push_back(std::move(value));
            return true;
        }
        return false;
    }

    /// boxes_waiting_sends() tells whether a waiting sender offers its value in a parked box:
    /// on a buffered channel of a type stored in nodes (see admit_waiting_sender()).
    bool boxes_waiting_sends() const noexcept { return !detail::stores_inline<T> && capacity_ > 0; }

    /// send_wait_reason() names a send's wait in deadlock reports.
    const char* send_wait_reason() const noexcept {
        return bounded_ && capacity_ == 0 ? "channel send (no receiver)"
                                          : "channel send (channel full)";
    }

    /// wait() waits in `queue` with `w` (whose slot is set), handing `guard`'s lock over: a
    /// task suspends, a thread outside any task blocks (which only a locking thread can be).
    template <bool Locked>
    detail::wake_outcome wait(detail::wait_queue& queue, detail::waiter& w,
                              detail::object_guard& guard, const char* what, time_point deadline) {
        w.object = name_.c_str();
        w.lock = &lock_;
        if constexpr (Locked) {
            if (!detail::in_task()) return detail::wait_here(queue, w, guard, what, deadline);
        }
        // Without a deadline, the wait that has none (its test folds away inline).
        if (deadline == time_point::max()) {
            if constexpr (!Locked) return detail::wait_in(queue, w, what);
            detail::begin_wait(queue, w, what);
        } else {
            detail::begin_wait_until(queue, w, what, deadline);
        }
        if constexpr (Locked)
            return detail::end_wait(w, guard);
        else
            return detail::end_wait(w);
    }

    /// wait_to_send() waits until a receiver has taken the value at `slot` (a T, or a parked box
    /// for a buffered channel of a type stored in nodes): `completed` then, `timed_out` once
    /// `deadline` passed, `retry` when the receiver's move from the slot threw.
    template <bool Locked>
    detail::wake_outcome wait_to_send(void* slot, detail::object_guard& guard,
                                      time_point deadline = time_point::max()) {
        detail::waiter w;
        w.slot = slot;
        const detail::wake_outcome outcome =
            wait<Locked>(senders_, w, guard, send_wait_reason(), deadline);
        if (outcome == detail::wake_outcome::closed)
            throw channel_closed("spindle: the channel was closed while a send waited");
        return outcome;
    }

    /// receive_in_place() is receive() for a T whose move may throw. `result` is the only object
    /// it returns, so it is constructed in place (compilers do that when every return names the
    /// same object; a test counts the moves): the value moves once, into it, and leaves the
    /// channel only after that.
    std::optional<T> receive_in_place() {
        std::optional<T> result;
        receive_into(result);
        return result;
    }

    /// receive_into() takes the next value into the empty `out`, waiting while the channel is
    /// empty; `out` stays empty once the channel is closed and drained.
    void receive_into(std::optional<T>& out) {
        if (detail::locks_objects()) [[unlikely]]
            receive_into_as<true>(out);
        else
            receive_into_as<false>(out);
    }
    template <bool Locked>
    void receive_into_as(std::optional<T>& out, time_point deadline = time_point::max()) {
        for (;;) {
            detail::object_guard guard(lock_, Locked);
            if (take_into<Locked>(out) || closed_ ||
                wait_to_receive<Locked>(out, guard, deadline) != detail::wake_outcome::retry ||
                !Locked)
                return;
        }
    }

    /// wait_to_receive() waits until a sender puts a value into the empty `out`, or the channel
    /// closes, or `deadline` passes (`out` then stays empty); `retry` when the sender's move
    /// into `out` threw (`out` empty).
    template <bool Locked>
    detail::wake_outcome wait_to_receive(std::optional<T>& out, detail::object_guard& guard,
                                         time_point deadline = time_point::max()) {
        detail::waiter w;
        w.slot = std::addressof(out);
        return wait<Locked>(receivers_, w, guard, "channel receive (channel empty)", deadline);
    }

    /// can_receive_now() tells whether a receive would complete without waiting (a value, or
    /// the end: closed and drained).
    bool can_receive_now() noexcept {
        return !buffer_.empty() || detail::first_waiting(senders_) || closed_;
    }
    /// can_send_now() tells whether a send would complete without waiting (or throw at once).
    bool can_send_now() noexcept {
        return closed_ || detail::first_waiting(receivers_) || !bounded_ ||
               buffer_.size() < capacity_;
    }

    /// take_into() takes the oldest value into the empty `out`, from the buffer or else from a
    /// waiting sender, if any. It changes nothing when the move into `out` throws.
    template <bool Locked>
    bool take_into(std::optional<T>& out) {
        if (!buffer_.empty()) {
            buffer_.move_front_to(out);
            // A place comes free: the longest waiting sender's value takes it, also when
            // destroying the moved-from value throws.
            struct admit_on_exit {
                channel& ch;
                ~admit_on_exit() { ch.admit_waiting_sender<Locked>(); }
            } admit{*this};
            buffer_.drop_front();
            return true;
        }
        if (detail::waiter* sender = detail::claim_first_as<Locked>(senders_)) {
            // Unbuffered: the value goes from the waiting sender's frame straight into `out`.
            try {
                out.emplace(std::move(*static_cast<T*>(sender->slot)));
            } catch (...) {
                detail::give_up_claim<Locked>(*sender);
                throw;
            }
            detail::wake_as<Locked>(*sender, detail::wake_outcome::completed);
            return true;
        }
        return false;
    }

    /// admit_waiting_sender() moves the longest waiting sender's value into the place that came
    /// free in the buffer and completes its send. It cannot fail: the ring has the room and T's
    /// move cannot throw, or the value is boxed already (parked) and only its node is linked.
    template <bool Locked>
    void admit_waiting_sender() noexcept {
        if (detail::waiter* sender = detail::claim_first_as<Locked>(senders_)) {
            if constexpr (detail::stores_inline<T>) {
                buffer_.push_back(std::move(*static_cast<T*>(sender->slot)));
            } else {
                using parked = typename detail::node_queue<T>::parked;
                buffer_.push_back(*static_cast<parked*>(sender->slot));
            }
            detail::wake_as<Locked>(*sender, detail::wake_outcome::completed);
        }
    }

    mutable detail::wait_lock lock_;
    detail::channel_buffer<T> buffer_;
    detail::wait_queue senders_;
    detail::wait_queue receivers_;
    detail::object_name name_;
    bool bounded_ = false;
    bool closed_ = false;
    std::size_t capacity_ = 0;
};

}  // namespace spindle

SPINDLE_EXPORTS_END
