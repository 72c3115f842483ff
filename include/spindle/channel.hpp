#pragma once
// channel: Go's channels for tasks. Many producers, many consumers, waiting suspends only the
// calling task.
//
// A channel is unbounded (channel()), buffered (channel(n)) or unbuffered (channel(0): a send
// waits until a receiver takes the value). A value is handed straight from a sender to a waiting
// receiver (and from a waiting sender to a receiver), never through the buffer when one side
// already waits. close() wakes every waiter: receivers drain what is buffered and then get
// std::nullopt; senders get channel_closed.

#include <spindle/detail/wait_queue.hpp>
#include <spindle/errors.hpp>

#include <cstddef>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace spindle {

namespace detail {

// ring_buffer is a first-in first-out buffer that reuses its storage as values slide through
// (std::deque frees and allocates blocks as a queue moves along).
template <class T>
class ring_buffer {
public:
    ring_buffer() noexcept = default;
    ring_buffer(const ring_buffer&) = delete;
    ring_buffer& operator=(const ring_buffer&) = delete;
    ~ring_buffer() {
        while (size_ > 0) pop_front();
        if (data_) std::allocator<T>().deallocate(data_, capacity_);
    }

    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }

    void push_back(T&& value) {
        if (size_ == capacity_) grow();
        std::construct_at(slot(size_), std::move(value));
        ++size_;
    }

    T pop_front() {
        T* front = slot(0);
        T value(std::move(*front));
        std::destroy_at(front);
        head_ = (head_ + 1) & (capacity_ - 1);
        --size_;
        return value;
    }

private:
    T* slot(std::size_t i) const noexcept { return data_ + ((head_ + i) & (capacity_ - 1)); }

    void grow() {
        const std::size_t capacity = capacity_ ? capacity_ * 2 : 8;  // a power of two
        T* data = std::allocator<T>().allocate(capacity);
        std::size_t moved = 0;
        try {
            for (; moved < size_; ++moved) std::construct_at(data + moved, std::move(*slot(moved)));
        } catch (...) {
            std::destroy_n(data, moved);
            std::allocator<T>().deallocate(data, capacity);
            throw;
        }
        std::size_t n = size_;
        for (std::size_t i = 0; i < n; ++i) std::destroy_at(slot(i));
        if (data_) std::allocator<T>().deallocate(data_, capacity_);
        data_ = data;
        capacity_ = capacity;
        head_ = 0;
    }

    T* data_ = nullptr;
    std::size_t capacity_ = 0;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

}  // namespace detail

// channel carries values of type T from tasks that send to tasks that receive, in order.
template <class T>
class channel {
    static_assert(std::is_object_v<T> && !std::is_const_v<T>,
                  "channel<T> carries values: T must be a non-const object type");

public:
    // channel() makes an unbounded channel: send() never waits.
    channel() noexcept = default;
    // channel(capacity) makes a channel that buffers up to `capacity` values; 0 makes it
    // unbuffered, so that each send() waits for a receiver.
    explicit channel(std::size_t capacity) noexcept : bounded_(true), capacity_(capacity) {}
    // ~channel() closes the channel, waking any task still waiting on it.
    ~channel() { close(); }
    channel(const channel&) = delete;
    channel& operator=(const channel&) = delete;

    // send() hands `value` to a waiting receiver, or buffers it, or waits (suspending the calling
    // task) while the channel is full or, unbuffered, until a receiver takes it. Throws
    // channel_closed once the channel is closed (also when it closes while the send waits),
    // fiber_error when it would wait outside any task, cancelled when the task is cancelled
    // while waiting (the value is then not sent).
    void send(T value) {
        if (closed_) throw channel_closed("spindle: send on a closed channel");
        if (deliver(value)) return;
        detail::waiter w;
        w.slot = std::addressof(value);
        detail::begin_wait(senders_, w,
                           bounded_ && capacity_ == 0 ? "channel send (no receiver)"
                                                      : "channel send (channel full)");
        if (detail::end_wait(w) == detail::wake_outcome::closed)
            throw channel_closed("spindle: the channel was closed while a send waited");
    }

    // receive() takes the next value, waiting (suspending the calling task) while the channel is
    // empty; std::nullopt once the channel is closed and drained. Throws fiber_error when it
    // would wait outside any task, cancelled when the task is cancelled while waiting.
    std::optional<T> receive() {
        if (std::optional<T> value = take()) return value;
        if (closed_) return std::nullopt;
        std::optional<T> result;
        detail::waiter w;
        w.slot = std::addressof(result);
        detail::begin_wait(receivers_, w, "channel receive (channel empty)");
        detail::end_wait(w);  // completed: a sender filled `result`; closed: it stays empty
        return result;
    }

    // try_send() sends without waiting: true when the value was taken (and moved from), false
    // when the channel is full or, unbuffered, no receiver waits. channel_closed once closed.
    bool try_send(T& value) {
        if (closed_) throw channel_closed("spindle: send on a closed channel");
        return deliver(value);
    }

    // try_receive() takes a value without waiting, or returns std::nullopt.
    std::optional<T> try_receive() { return take(); }

    // close() closes the channel and wakes every waiting task; idempotent.
    void close() noexcept {
        closed_ = true;
        detail::wake_all(receivers_, detail::wake_outcome::closed);
        detail::wake_all(senders_, detail::wake_outcome::closed);
    }

    // closed() tells whether close() was called.
    bool closed() const noexcept { return closed_; }
    // size() is the number of buffered values.
    std::size_t size() const noexcept { return buffer_.size(); }

    // iterator receives as it advances: `for (T v : ch)` runs until the channel is closed and
    // drained. *it is the value just received (move from it freely).
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using reference = T&;

        iterator() = default;
        T& operator*() const { return *current_; }
        iterator& operator++() {
            current_ = channel_->receive();
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
            return !it.current_;
        }

    private:
        friend class channel;
        explicit iterator(channel* ch) : channel_(ch), current_(ch->receive()) {}

        channel* channel_ = nullptr;
        mutable std::optional<T> current_;
    };

    // begin() receives the first value (waiting for it if need be).
    iterator begin() { return iterator(this); }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    // deliver() hands the value to a waiting receiver or buffers it, if either is possible.
    bool deliver(T& value) {
        if (detail::waiter* receiver = receivers_.front()) {
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

    // take() takes the oldest value, from the buffer or else from a waiting sender, if any.
    std::optional<T> take() {
        if (!buffer_.empty()) {
            std::optional<T> value(buffer_.pop_front());
            // A place came free: the longest waiting sender's value takes it.
            if (detail::waiter* sender = senders_.front()) {
                buffer_.push_back(std::move(*static_cast<T*>(sender->slot)));
                detail::wake(*sender, detail::wake_outcome::completed);
            }
            return value;
        }
        if (detail::waiter* sender = senders_.front()) {
            std::optional<T> value(std::move(*static_cast<T*>(sender->slot)));
            detail::wake(*sender, detail::wake_outcome::completed);
            return value;
        }
        return std::nullopt;
    }

    detail::ring_buffer<T> buffer_;
    detail::wait_queue senders_;
    detail::wait_queue receivers_;
    bool bounded_ = false;
    bool closed_ = false;
    std::size_t capacity_ = 0;
};

}  // namespace spindle
