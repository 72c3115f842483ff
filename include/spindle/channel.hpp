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

#include <spindle/detail/config.hpp>
#include <spindle/detail/channel_buffer.hpp>
#include <spindle/detail/wait_queue.hpp>
#include <spindle/errors.hpp>

#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

SPINDLE_EXPORTS_BEGIN

namespace spindle {

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

    /// send() hands `value` to a waiting receiver, or buffers it, or waits (suspending the calling
    /// task) while the channel is full or, unbuffered, until a receiver takes it. Throws
    /// channel_closed once the channel is closed (also when it closes while the send waits),
    /// fiber_error when it would wait outside any task, cancelled when the task is cancelled
    /// while waiting (the value is then not sent). When moving the value into the receiver or the
    /// buffer throws (T's move, std::bad_alloc), send() throws that and has not sent.
    void send(T value) {
        if (closed_) throw channel_closed("spindle: send on a closed channel");
        if (deliver(value)) return;
        if constexpr (!detail::stores_inline<T>) {
            if (capacity_ > 0) {
                // Boxed before waiting, so that the receiver who makes room only links the node:
                // nothing that could fail is left for it to do with this value.
                typename detail::node_queue<T>::parked boxed(std::move(value));
                wait_to_send(&boxed);
                return;
            }
        }
        wait_to_send(std::addressof(value));
    }

    /// receive() takes the next value, waiting (suspending the calling task) while the channel is
    /// empty; std::nullopt once the channel is closed and drained. Throws fiber_error when it
    /// would wait outside any task, cancelled when the task is cancelled while waiting. When
    /// moving the value out throws (T's move), receive() throws that and the value stays first in
    /// line for the next receive; a sender waiting to hand it over stays waiting, its send not
    /// done. When destroying the moved-from value left behind throws (T's destructor), that leaves
    /// receive() and the value received is destroyed with it.
    std::optional<T> receive() {
        if constexpr (detail::stores_inline<T>) {
            // Moving and destroying the result cannot throw, so the value may take the short way
            // out, which keeps it in registers when nothing has to wait.
            if (std::optional<T> value = try_receive()) return value;
            std::optional<T> result;
            if (!closed_) wait_to_receive(result);
            return result;
        } else {
            return receive_in_place();
        }
    }

    /// try_send() sends without waiting: true when the value was taken (and moved from), false
    /// when the channel is full or, unbuffered, no receiver waits. channel_closed once closed;
    /// when moving the value in throws (T's move, std::bad_alloc), that, and `value` was not
    /// taken.
    bool try_send(T& value) {
        if (closed_) throw channel_closed("spindle: send on a closed channel");
        return deliver(value);
    }

    /// try_receive() takes a value without waiting, or returns std::nullopt. Exceptions as for
    /// receive(): when moving the value out throws, the value stays first in line.
    std::optional<T> try_receive() {
        std::optional<T> result;
        take_into(result);
        return result;
    }

    /// close() closes the channel and wakes every waiting task; idempotent.
    void close() noexcept {
        closed_ = true;
        detail::wake_all(receivers_, detail::wake_outcome::closed);
        detail::wake_all(senders_, detail::wake_outcome::closed);
    }

    /// closed() tells whether close() was called.
    bool closed() const noexcept { return closed_; }
    /// size() is the number of buffered values.
    std::size_t size() const noexcept { return buffer_.size(); }

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
    /// deliver() hands the value to a waiting receiver or buffers it, if either is possible.
    bool deliver(T& value) {
        if (detail::waiter* receiver = receivers_.front()) {
            // A throwing move leaves the receiver waiting and the value with the sender.
            static_cast<std::optional<T>*>(receiver->slot)->emplace(std::move(value));
            detail::wake(*receiver, detail::wake_outcome::completed);
            return true;
        }
        if (!bounded_ || buffer_.size() < capacity_) {
            buffer_.push_back(std::move(value));
            return true;
        }
        return false;
    }

    /// wait_to_send() waits until a receiver has taken the value at `slot` (a T, or a parked box
    /// for a buffered channel of a type stored in nodes).
    void wait_to_send(void* slot) {
        detail::waiter w;
        w.slot = slot;
        detail::begin_wait(senders_, w,
                           bounded_ && capacity_ == 0 ? "channel send (no receiver)"
                                                      : "channel send (channel full)");
        if (detail::end_wait(w) == detail::wake_outcome::closed)
            throw channel_closed("spindle: the channel was closed while a send waited");
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
        if (!take_into(out) && !closed_) wait_to_receive(out);
    }

    /// wait_to_receive() waits until a sender puts a value into the empty `out`, or the channel
    /// closes (`out` then stays empty).
    void wait_to_receive(std::optional<T>& out) {
        detail::waiter w;
        w.slot = std::addressof(out);
        detail::begin_wait(receivers_, w, "channel receive (channel empty)");
        detail::end_wait(w);
    }

    /// take_into() takes the oldest value into the empty `out`, from the buffer or else from a
    /// waiting sender, if any. It changes nothing when the move into `out` throws.
    bool take_into(std::optional<T>& out) {
        if (!buffer_.empty()) {
            buffer_.move_front_to(out);
            // A place comes free: the longest waiting sender's value takes it, also when
            // destroying the moved-from value throws.
            struct admit_on_exit {
                channel& ch;
                ~admit_on_exit() { ch.admit_waiting_sender(); }
            } admit{*this};
            buffer_.drop_front();
            return true;
        }
        if (detail::waiter* sender = senders_.front()) {
            // Unbuffered: the value goes from the waiting sender's frame straight into `out`.
            out.emplace(std::move(*static_cast<T*>(sender->slot)));
            detail::wake(*sender, detail::wake_outcome::completed);
            return true;
        }
        return false;
    }

    /// admit_waiting_sender() moves the longest waiting sender's value into the place that came
    /// free in the buffer and completes its send. It cannot fail: the ring has the room and T's
    /// move cannot throw, or the value is boxed already (parked) and only its node is linked.
    void admit_waiting_sender() noexcept {
        if (detail::waiter* sender = senders_.front()) {
            if constexpr (detail::stores_inline<T>) {
                buffer_.push_back(std::move(*static_cast<T*>(sender->slot)));
            } else {
                using parked = typename detail::node_queue<T>::parked;
                buffer_.push_back(*static_cast<parked*>(sender->slot));
            }
            detail::wake(*sender, detail::wake_outcome::completed);
        }
    }

    detail::channel_buffer<T> buffer_;
    detail::wait_queue senders_;
    detail::wait_queue receivers_;
    bool bounded_ = false;
    bool closed_ = false;
    std::size_t capacity_ = 0;
};

}  // namespace spindle

SPINDLE_EXPORTS_END
