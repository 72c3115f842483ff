#pragma once
// Channel buffers: where a channel keeps the values sent and not yet received.
//
// Both buffers give the strong guarantee: a push that throws (out of memory, or T's move) leaves
// every value where it was, and so does taking the front value out when T's move throws. A ring
// moves its values when it grows, which is safe only when moving and destroying a T cannot throw;
// a type whose move or destructor may throw gets one node per value instead, which never moves.

#include <spindle/detail/config.hpp>

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

SPINDLE_EXPORTS_BEGIN

namespace spindle::detail {

// stores_inline says whether a channel of T keeps its values in a ring (moving and destroying a T
// cannot throw) or one per node.
template <class T>
inline constexpr bool stores_inline =
    std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>;

// ring_buffer is a first-in first-out buffer that reuses its storage as values slide through
// (std::deque frees and allocates blocks as a queue moves along). T's move and destructor do not
// throw (stores_inline), so growing can fail only in the allocation, before anything moved.
template <class T>
class ring_buffer {
    static_assert(stores_inline<T>, "ring_buffer relocates values: T's move may not throw");

public:
    ring_buffer() noexcept = default;
    ring_buffer(const ring_buffer&) = delete;
    ring_buffer& operator=(const ring_buffer&) = delete;
    ~ring_buffer() {
        while (size_ > 0) drop_front();
        if (data_) std::allocator<T>().deallocate(data_, capacity_);
    }

    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }

    // push_back() appends `value`; std::bad_alloc when the ring must grow and cannot.
    void push_back(T&& value) {
        if (size_ == capacity_) grow();
        std::construct_at(slot(size_), std::move(value));
        ++size_;
    }

    // move_front_to() moves the oldest value into `out`, leaving a moved-from value in its place
    // for drop_front().
    void move_front_to(std::optional<T>& out) noexcept { out.emplace(std::move(*slot(0))); }

    // drop_front() destroys the oldest value and frees its place.
    void drop_front() noexcept {
        std::destroy_at(slot(0));
        head_ = (head_ + 1) & (capacity_ - 1);
        --size_;
    }

private:
    T* slot(std::size_t i) const noexcept { return data_ + ((head_ + i) & (capacity_ - 1)); }

    void grow() {
        const std::size_t capacity = capacity_ ? capacity_ * 2 : 8;  // a power of two
        T* data = std::allocator<T>().allocate(capacity);
        for (std::size_t i = 0; i < size_; ++i) {
            std::construct_at(data + i, std::move(*slot(i)));
            std::destroy_at(slot(i));
        }
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

// node_queue is a first-in first-out buffer with one node per value, for a T whose move or
// destructor may throw: values never move once queued, so nothing can be lost half-way through
// growing, and a value boxed ahead of time (parked) joins the queue without a move that could fail.
template <class T>
class node_queue {
    struct node {
        explicit node(T&& v) : value(std::move(v)) {}
        node* next = nullptr;
        T value;
    };

    // make_node() boxes `value`; on std::bad_alloc or a throwing move, `value` stays as it was.
    static node* make_node(T&& value) {
        node* n = std::allocator<node>().allocate(1);
        try {
            std::construct_at(n, std::move(value));
        } catch (...) {
            std::allocator<node>().deallocate(n, 1);
            throw;
        }
        return n;
    }

    // destroy_node() destroys n's value and frees n, also when the value's destructor throws.
    static void destroy_node(node* n) noexcept(std::is_nothrow_destructible_v<T>) {
        struct deallocate_on_exit {
            node* n;
            ~deallocate_on_exit() { std::allocator<node>().deallocate(n, 1); }
        } deallocate{n};
        std::destroy_at(n);
    }

public:
    // parked is a value boxed by a sender that waits for room: when room comes, push_back(parked&)
    // queues the node as it is. A parked value never queued is destroyed with it.
    class parked {
    public:
        explicit parked(T&& value) : node_(make_node(std::move(value))) {}
        parked(const parked&) = delete;
        parked& operator=(const parked&) = delete;
        ~parked() noexcept(std::is_nothrow_destructible_v<T>) {
            if (node_) destroy_node(node_);
        }
        // queued() tells whether push_back(parked&) took the node: the value is queued now.
        bool queued() const noexcept { return node_ == nullptr; }
        // value() is the boxed value while not queued (a send that gave up takes it back).
        T& value() noexcept { return node_->value; }

    private:
        friend class node_queue;
        node* node_;
    };

    node_queue() noexcept = default;
    node_queue(const node_queue&) = delete;
    node_queue& operator=(const node_queue&) = delete;
    // ~node_queue() destroys every value, also past one whose destructor throws; the first such
    // exception is rethrown once all are destroyed.
    ~node_queue() noexcept(std::is_nothrow_destructible_v<T>) {
        std::exception_ptr first_error;
        while (head_) {
            try {
                drop_front();
            } catch (...) {
                if (!first_error) first_error = std::current_exception();
            }
        }
        if (first_error) std::rethrow_exception(first_error);
    }

    bool empty() const noexcept { return head_ == nullptr; }
    std::size_t size() const noexcept { return size_; }

    // push_back() appends `value`; on std::bad_alloc or a throwing move nothing changed.
    void push_back(T&& value) { link(make_node(std::move(value))); }
    // push_back(parked&) appends a parked value's node, which then belongs to the queue.
    void push_back(parked& value) noexcept {
        link(value.node_);
        value.node_ = nullptr;
    }

    // move_front_to() moves the oldest value into `out`; when the move throws, the value stays.
    void move_front_to(std::optional<T>& out) { out.emplace(std::move(head_->value)); }

    // drop_front() takes the oldest node out of the queue, then destroys its value (whose
    // destructor may throw: the node is gone and freed by then).
    void drop_front() noexcept(std::is_nothrow_destructible_v<T>) {
        node* front = head_;
        head_ = front->next;
        if (!head_) tail_ = nullptr;
        --size_;
        destroy_node(front);
    }

private:
    void link(node* n) noexcept {
        if (tail_)
            tail_->next = n;
        else
            head_ = n;
        tail_ = n;
        ++size_;
    }

    node* head_ = nullptr;
    node* tail_ = nullptr;
    std::size_t size_ = 0;
};

// channel_buffer is the buffer a channel of T uses.
template <class T>
using channel_buffer = std::conditional_t<stores_inline<T>, ring_buffer<T>, node_queue<T>>;

// outgoing is the value a waiting send offers at its waiter's slot: the sender's own T, or, where
// the receiver that makes room must not do anything that could fail (a buffered channel of a type
// stored in nodes), a parked box. A send that may give up (a deadline, a select whose other case
// came first, a cancellation) must leave the value the sender's: a copyable T is boxed as a copy,
// so that giving up only drops the copy; a move-only T moves into the box and back, and only a
// throw from that move back loses the value.
template <class T>
class outgoing {
    using parked = typename node_queue<T>::parked;

public:
    // outgoing() offers `value` itself, or a box of it when `boxed`; a failed box (T's copy or
    // move, std::bad_alloc) throws with `value` as it was.
    outgoing(T& value, bool boxed) : value_(value) {
        if constexpr (!stores_inline<T>) {
            if (boxed) {
                if constexpr (std::is_copy_constructible_v<T>) {
                    T copy(value);
                    box_ = ::new (static_cast<void*>(storage_)) parked(std::move(copy));
                } else {
                    box_ = ::new (static_cast<void*>(storage_)) parked(std::move(value));
                }
            }
        }
    }
    outgoing(const outgoing&) = delete;
    outgoing& operator=(const outgoing&) = delete;
    ~outgoing() noexcept(std::is_nothrow_destructible_v<T>) {
        if constexpr (!stores_inline<T>) {
            if (box_) std::destroy_at(std::exchange(box_, nullptr));
        }
    }

    // slot() is where the receiver finds the value (waiter::slot).
    void* slot() noexcept {
        if constexpr (!stores_inline<T>) {
            if (box_) return box_;
        }
        return std::addressof(value_);
    }

    // give_back() is for a send that gave up: the value is the sender's again, in `value`.
    void give_back() {
        if constexpr (!stores_inline<T>) {
            if (!box_) return;
            parked* box = std::exchange(box_, nullptr);
            struct destroy_on_exit {
                parked* box;
                ~destroy_on_exit() noexcept(std::is_nothrow_destructible_v<T>) {
                    std::destroy_at(box);
                }
            } destroy{box};
            if constexpr (!std::is_copy_constructible_v<T>) {
                if (!box->queued()) value_ = std::move(box->value());
            }
        }
    }

private:
    T& value_;
    alignas(parked) unsigned char storage_[sizeof(parked)];
    parked* box_ = nullptr;
};

}  // namespace spindle::detail

SPINDLE_EXPORTS_END
