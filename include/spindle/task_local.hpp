#pragma once
// task_local: a variable of which every task has its own value, as Boost.Fiber's
// fiber_specific_ptr and Python's contextvars give one per fiber or per asyncio task.
//
// thread_local is per thread, not per task: tasks share their thread, and once worker threads
// land a task may move from one thread to another at any wait. A task_local follows the task
// instead. Each task's value is made on its first use in that task and destroyed when the task
// ends, on the task's stack, before a join() of the task returns.

#include <spindle/detail/config.hpp>

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

SPINDLE_EXPORTS_BEGIN

namespace spindle {
namespace detail {

// task_local_make makes a new value (with `new`) from a task_local's initialiser, or from
// nothing when it has none; task_local_destroy deletes one (and may throw what its destructor
// throws).
using task_local_make = void* (*)(const void* init);
using task_local_destroy = void (*)(void* value);

// new_task_local_key() is a number no task_local has had before, nor will have: a key of a
// task_local that is gone can never find another's value.
std::uint64_t new_task_local_key() noexcept;
// find_task_local() is the calling task's value for `key` (outside any task: the calling
// thread's), or nullptr when none has been made.
void* find_task_local(std::uint64_t key) noexcept;
// task_local_value() is find_task_local(), making the value with make(init) when there is none.
// Throws what make() throws, std::bad_alloc with the table unchanged, and fiber_error where no
// value can be made (see task_local::get()).
void* task_local_value(std::uint64_t key, task_local_make make, const void* init,
                       task_local_destroy destroy);
// reset_task_local() destroys the calling task's value for `key`, if it has one; it rethrows
// what the value's destructor throws, the value gone all the same.
void reset_task_local(std::uint64_t key);

}  // namespace detail

/// task_local is a variable of which every task has a value of its own, made on the task's first
/// use of it and destroyed when the task ends; Boost.Fiber's fiber_specific_ptr, Python's
/// contextvars.ContextVar. Make it a static or namespace-scope object: it must outlive every
/// task that uses it. (If it ends first, the values made through it are still destroyed when
/// their tasks end, but touching the task_local itself is then a use of a destroyed object.)
///
/// Inside a generator or fiber that runs within a task, the value is the task's: they are part
/// of it. Outside any task (on a plain thread, in a generator driven from one, in the loop of
/// scheduler::run()) each OS thread has one value of its own, destroyed when the thread exits.
template <class T>
class task_local {
    static_assert(std::is_object_v<T> && !std::is_array_v<T> && std::is_destructible_v<T>,
                  "task_local<T> needs T to be a destructible object type, not an array");

public:
    /// task_local() makes each task's value value-initialised (`T()`) on its first use.
    task_local()
        requires std::default_initializable<T>
        : make_(&make_default) {}

    /// task_local(init) makes each task's value from `init()` on its first use. `init` is kept
    /// here and called as a const object, once per task that uses the value, on that task: it
    /// must be safe to call from every thread that runs tasks. An `init` that returns T itself
    /// makes the value in place, so T need not be copyable or movable.
    template <class F>
        requires(!std::same_as<F, task_local> && std::invocable<const F&> &&
                 (std::same_as<std::invoke_result_t<const F&>, T> ||
                  std::convertible_to<std::invoke_result_t<const F&>, T>))
    explicit task_local(F init)
        : init_(new F(std::move(init))), make_(&make_from<F>), drop_init_(&drop_init<F>) {}

    /// ~task_local() drops the initialiser; the values made through it stay with their tasks.
    ~task_local() {
        if (drop_init_) drop_init_(init_);
    }
    task_local(const task_local&) = delete;
    task_local& operator=(const task_local&) = delete;

    /// get() is the running task's value, made now if the task has none yet. Throws what making
    /// it throws (std::bad_alloc, or what `init()` or T's constructor throws), and then nothing
    /// has changed. While a task's values are being destroyed (a destructor uses a task_local),
    /// a value still there is returned and a missing one is made and destroyed after the others;
    /// fiber_error if such values keep coming back for four rounds, and when the calling thread's
    /// own values (outside a task) have already been destroyed at its exit.
    T& get() const {
        return *static_cast<T*>(detail::task_local_value(key_, make_, init_, &destroy));
    }
    /// operator*() is get().
    T& operator*() const { return get(); }
    /// operator->() is &get().
    T* operator->() const { return std::addressof(get()); }

    /// get_if() is the running task's value if the task has made it already, else nullptr;
    /// it never makes one.
    T* get_if() const noexcept { return static_cast<T*>(detail::find_task_local(key_)); }

    /// reset() destroys the running task's value, if it has one; the next get() makes a new one.
    /// What T's destructor throws is rethrown, and the value is gone all the same.
    void reset() const { detail::reset_task_local(key_); }

private:
    static void* make_default(const void*) { return new T(); }
    template <class F>
    static void* make_from(const void* init) {
        return new T(std::invoke(*static_cast<const F*>(init)));
    }
    template <class F>
    static void drop_init(const void* init) noexcept {
        delete static_cast<const F*>(init);
    }
    static void destroy(void* value) { delete static_cast<T*>(value); }

    const std::uint64_t key_ = detail::new_task_local_key();
    const void* init_ = nullptr;
    detail::task_local_make make_;
    void (*drop_init_)(const void*) noexcept = nullptr;
};

}  // namespace spindle

SPINDLE_EXPORTS_END
