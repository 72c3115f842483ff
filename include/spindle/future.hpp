#pragma once
// promise and future for tasks: a one-shot result that one task (or code outside any task) sets
// and another waits for. Waiting suspends the calling task, never the thread; a thread outside any
// task that waits blocks (it holds a scheduler_handle meanwhile if the other end is a task's
// while the scheduler runs elsewhere: docs/threads.md).
//
// The state the two share is allocated on the heap by the promise's constructor (std::bad_alloc
// from there). A promise destroyed before it was satisfied breaks its promise: the future's get()
// throws broken_promise. A future destroyed while tasks wait on it (in wait() or get()) wakes
// them: their wait throws fiber_error.

#include <spindle/detail/config.hpp>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/wait_queue.hpp>
#include <spindle/errors.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

SPINDLE_EXPORTS_BEGIN

namespace spindle {
namespace detail {

// future_state_base is the part of a promise and future's shared state that does not depend on
// T: whether it is satisfied, the exception, the waiting tasks, and who still holds it.
class future_state_base {
public:
    future_state_base() noexcept = default;
    future_state_base(const future_state_base&) = delete;
    future_state_base& operator=(const future_state_base&) = delete;

    bool ready() const noexcept {
        object_guard guard(lock_);
        return ready_;
    }
    // set_name() names the state in deadlock reports and task dumps.
    void set_name(std::string_view name) noexcept { name_.assign(name); }
    std::string_view name() const noexcept {
        const char* text = name_.c_str();
        return text ? std::string_view(text) : std::string_view();
    }
    // check_unsatisfied() throws fiber_error when a value or exception was set already.
    void check_unsatisfied() const;
    // set_ready() marks the state satisfied and wakes every waiting task.
    void set_ready() noexcept;
    // set_exception() satisfies the state with `error`; std::invalid_argument when it is null.
    void set_exception(std::exception_ptr error);
    // wait() returns at once when the state is satisfied, else waits until it is: true then,
    // false at `*deadline` when one is given.
    bool wait(const std::chrono::steady_clock::time_point* deadline);
    // rethrow_if_failed() throws the exception the state was satisfied with, or broken_promise.
    void rethrow_if_failed() const;
    // take_future() marks the future made; fiber_error when it was made already.
    void take_future();
    // drop_promise() and drop_future() are the promise's and the future's end: the promise's
    // breaks an unsatisfied state, the future's wakes the tasks still waiting with `closed`.
    // The state is freed when both have ended.
    static void drop_promise(future_state_base* state) noexcept;
    static void drop_future(future_state_base* state) noexcept;

protected:
    virtual ~future_state_base();

private:
    // lock_ is the state's: a promise and its future may be on different threads.
    mutable wait_lock lock_;
    wait_queue waiters_;
    object_name name_;
    std::exception_ptr error_;
    bool ready_ = false;
    bool broken_ = false;
    bool future_made_ = false;
    bool promise_alive_ = true;
    bool future_alive_ = false;
};

// future_storage holds the value: a T, the address a T& refers to, or nothing for void.
template <class T>
struct future_storage {
    std::optional<T> value;
    template <class... Args>
    void emplace(Args&&... args) {
        value.emplace(std::forward<Args>(args)...);
    }
    T take() { return std::move(*value); }
};
template <class T>
struct future_storage<T&> {
    T* address = nullptr;
    void emplace(T& referred) noexcept { address = std::addressof(referred); }
    T& take() const noexcept { return *address; }
};
template <>
struct future_storage<void> {
    void emplace() noexcept {}
    void take() const noexcept {}
};

// future_state is the shared state of a promise<T> and its future<T>.
template <class T>
class future_state final : public future_state_base {
public:
    future_storage<T> storage;
};

// promise_settable says what set_value() accepts: nothing for void, an lvalue that binds to T
// for a reference, and T's constructor arguments otherwise.
template <class T, class... Args>
concept promise_settable =
    (std::is_void_v<T> && sizeof...(Args) == 0) ||
    (std::is_lvalue_reference_v<T> && sizeof...(Args) == 1 &&
     (std::is_lvalue_reference_v<Args> && ...) && (std::is_convertible_v<Args, T> && ...)) ||
    (std::is_object_v<T> && std::is_constructible_v<T, Args...>);

}  // namespace detail

template <class T>
class promise;

/// future is the receiving end of a promise: it waits for the value (or exception) the promise
/// is given, and hands it over once.
template <class T>
class future {
public:
    /// future() makes a future without a state: valid() is false until one is moved in.
    future() noexcept = default;
    /// future(future&&) takes the other's state, leaving it without one.
    future(future&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
    /// operator=(future&&) drops this future's state and takes the other's.
    future& operator=(future&& other) noexcept {
        if (this != &other) {
            reset();
            state_ = std::exchange(other.state_, nullptr);
        }
        return *this;
    }
    /// ~future() drops the state; tasks still waiting on this future are woken, and their wait
    /// throws fiber_error.
    ~future() { reset(); }

    /// valid() tells whether the future has a state: false once get() has been called, and for
    /// a future default-made or moved from.
    bool valid() const noexcept { return state_ != nullptr; }
    /// ready() tells whether the promise was satisfied (given a value or an exception, or
    /// broken), so that get() returns without waiting. False without a state.
    bool ready() const noexcept { return state_ && state_->ready(); }

    /// get() waits until the promise is satisfied, then returns its value or throws its
    /// exception (broken_promise when the promise was destroyed unsatisfied). It can be called
    /// once: after it returned or threw the exception, valid() is false and get() throws
    /// fiber_error. A thread outside any task blocks; cancelled when the task is cancelled while
    /// waiting (the future is then unchanged: get() can be called again).
    T get() {
        check_state("get");
        state_->wait(nullptr);
        // From here the state is this call's: it is dropped however get() leaves.
        struct drop_on_exit {
            detail::future_state<T>* state;
            ~drop_on_exit() { detail::future_state_base::drop_future(state); }
        } taken{std::exchange(state_, nullptr)};
        taken.state->rethrow_if_failed();
        return taken.state->storage.take();
    }
    /// set_name() names what this future waits on in deadlock reports and task dumps (the name is
    /// its promise's too); fiber_error without a state.
    void set_name(std::string_view name) {
        check_state("set_name");
        state_->set_name(name);
    }
    /// name() is the name set_name() gave (here or on the promise); empty without one.
    std::string_view name() const noexcept { return state_ ? state_->name() : std::string_view(); }
    /// wait() waits until the promise is satisfied, without taking the value. fiber_error
    /// without a state; cancelled when the task is cancelled while waiting.
    void wait() const {
        check_state("wait");
        state_->wait(nullptr);
    }
    /// wait_until() is wait() that gives up at `deadline`: false then.
    bool wait_until(std::chrono::steady_clock::time_point deadline) const {
        check_state("wait_until");
        return state_->wait(&deadline);
    }
    /// wait_for() is wait_until(now + duration).
    template <class Rep, class Period>
    bool wait_for(const std::chrono::duration<Rep, Period>& duration) const {
        return wait_until(detail::deadline_after(duration));
    }

private:
    friend class promise<T>;
    explicit future(detail::future_state<T>* state) noexcept : state_(state) {}

    void check_state(const char* call) const {
        if (!state_)
            throw fiber_error(std::string("spindle: future::") + call +
                              "() on a future without a state (get() was called already, or it "
                              "was moved from or default-made)");
    }
    void reset() noexcept {
        if (state_) detail::future_state_base::drop_future(std::exchange(state_, nullptr));
    }

    detail::future_state<T>* state_ = nullptr;
};

/// promise is the sending end: it is given a value or an exception once, which its future's
/// get() hands over. T may be an object type, an lvalue reference (the referred object must
/// outlive the get()), or void.
template <class T>
class promise {
    static_assert(std::is_void_v<T> || std::is_lvalue_reference_v<T> ||
                      (std::is_object_v<T> && !std::is_array_v<T>),
                  "promise<T>: T must be void, an lvalue reference or a non-array object type");

public:
    /// promise() allocates the state it will share with its future (std::bad_alloc when that
    /// fails).
    promise() : state_(new detail::future_state<T>()) {}
    /// promise(promise&&) takes the other's state, leaving it without one.
    promise(promise&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
    /// operator=(promise&&) drops this promise's state (breaking it if unsatisfied) and takes the
    /// other's.
    promise& operator=(promise&& other) noexcept {
        if (this != &other) {
            reset();
            state_ = std::exchange(other.state_, nullptr);
        }
        return *this;
    }
    /// ~promise() breaks the promise if it was not satisfied: the future's get() then throws
    /// broken_promise.
    ~promise() { reset(); }

    /// get_future() makes the future that receives this promise's result. Once only: a second
    /// call throws fiber_error (as does a call on a promise moved from).
    future<T> get_future() {
        state("get_future")->take_future();
        return future<T>(state_);
    }
    /// set_value() satisfies the promise with a value: made from `args` for an object type, the
    /// referred object for a reference, nothing for void. Wakes the tasks waiting on the future.
    /// fiber_error when the promise was satisfied already (or moved from); when making the value
    /// throws, that, and the promise stays unsatisfied.
    template <class... Args>
        requires detail::promise_settable<T, Args&&...>
    void set_value(Args&&... args) {
        state("set_value")->check_unsatisfied();
        state_->storage.emplace(std::forward<Args>(args)...);
        state_->set_ready();
    }
    /// set_name() names the state this promise shares with its future, for deadlock reports
    /// (up to 31 bytes are kept); fiber_error on a promise moved from.
    void set_name(std::string_view name) { state("set_name")->set_name(name); }
    /// name() is the name set_name() gave; empty without one.
    std::string_view name() const noexcept { return state_ ? state_->name() : std::string_view(); }
    /// set_exception() satisfies the promise with an exception, which the future's get()
    /// throws. fiber_error when the promise was satisfied already (or moved from);
    /// std::invalid_argument when `error` is null.
    void set_exception(std::exception_ptr error) {
        state("set_exception")->set_exception(std::move(error));
    }

private:
    detail::future_state<T>* state(const char* call) const {
        if (!state_)
            throw fiber_error(std::string("spindle: promise::") + call +
                              "() on a promise moved from");
        return state_;
    }
    void reset() noexcept {
        if (state_) detail::future_state_base::drop_promise(std::exchange(state_, nullptr));
    }

    detail::future_state<T>* state_;
};

}  // namespace spindle

SPINDLE_EXPORTS_END
