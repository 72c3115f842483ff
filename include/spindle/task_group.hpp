#pragma once
// Task groups and as_completed(): structured concurrency for tasks.
//
// with_task_group() is the style spindle teaches (asyncio's TaskGroup, Trio's nursery, C++26's
// async_scope): every task spawned in the group ends before with_task_group() returns, so those
// tasks may use the enclosing frame by reference. When one fails, the group cancels the others
// and the body; once all have ended, every failure comes out together in an exception_group.
//
//     spindle::with_task_group([&](spindle::task_group& group) {
//         for (const auto& url : urls) group.spawn([&] { fetch(url, results); });
//     });

#include <spindle/detail/config.hpp>
#include <spindle/detail/task.hpp>
#include <spindle/errors.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/timeout.hpp>

#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

SPINDLE_EXPORTS_BEGIN

namespace spindle {
namespace detail {

// create_task_set() makes an empty set on `scheduler` (the calling task's when null); fiber_error
// outside any task then, std::bad_alloc. destroy_task_set() lets go of every member (one still
// running is detached) and frees the set.
task_set* create_task_set(scheduler_core* scheduler, bool cancel_on_failure);
void destroy_task_set(task_set* set) noexcept;
// scheduler_for_spawn() is the scheduler a group's new task goes to.
scheduler_core* scheduler_for_spawn(const task_set* set) noexcept;
// add_to_task_set() makes the task a member (cancelling it when the set is a group cancelling
// its tasks). fiber_error when it is in a set already, was joined, or belongs to another
// scheduler.
void add_to_task_set(task_set* set, task_record* task);
// wait_task_set() waits until every member has finished. When the calling task is cancelled
// meanwhile, it cancels the members, waits for them, and rethrows. With `throw_failures` it then
// throws the failures not thrown before: the body's exception alone as it is, else an
// exception_group.
void wait_task_set(task_set* set, bool throw_failures);
// finish_task_set() is a group's end: it cancels the members when `unwinding`, else waits as
// wait_task_set(set, true) does, then waits (shielded) until all have ended. What the wait threw
// is returned, to be rethrown by the caller once the set is destroyed.
std::exception_ptr finish_task_set(task_set* set, bool unwinding) noexcept;
// take_finished() waits for the next member to finish and takes it out of the set (the caller
// owns its hold); nullptr once the set is empty.
task_record* take_finished(task_set* set);
void cancel_task_set(task_set* set);
std::size_t task_set_unfinished(const task_set* set) noexcept;
// watch_body() makes a group cancel `scope` (entered by the group's body) when a member fails;
// null stops it. body_failed() records what the body threw and cancels the members.
void watch_body(task_set* set, cancel_scope_state* scope) noexcept;
void body_failed(task_set* set, std::exception_ptr error) noexcept;

}  // namespace detail

/// task_group owns the tasks spawned in it: they all end before the group does. The first task
/// that fails (ends with an exception other than cancelled) makes the group cancel the others;
/// wait() then throws an exception_group with every failure. Prefer with_task_group(), which
/// also cancels the body when a task fails and cannot forget to wait.
///
/// The destructor waits for the tasks still running, so that they may use the enclosing frame
/// by reference: while an exception unwinds the frame it cancels them first and waits for them
/// to unwind. Otherwise, if wait() was not called and a task failed, it throws the
/// exception_group (so the destructor is noexcept(false)): keep a task_group in a frame, not in
/// an object destroyed where an exception cannot be handled.
class task_group {
public:
    /// task_group() makes an empty group on the calling task's scheduler; fiber_error outside
    /// any task.
    task_group()
        : set_(detail::create_task_set(nullptr, true)), uncaught_(std::uncaught_exceptions()) {}
    /// ~task_group() waits for the tasks left (see the class comment).
    ~task_group() noexcept(false) {
        std::exception_ptr error =
            detail::finish_task_set(set_, std::uncaught_exceptions() > uncaught_);
        detail::destroy_task_set(set_);
        if (error) std::rethrow_exception(error);
    }
    task_group(const task_group&) = delete;
    task_group& operator=(const task_group&) = delete;

    /// spawn() starts fn() as a task of the group. Its result is dropped: a task of a group hands
    /// results back through what it captured (by reference, safely) or a channel. While the
    /// group cancels its tasks after a failure, a task spawned into it is cancelled at once (it
    /// never runs; that is not a failure). std::bad_alloc when there is no memory for it.
    template <class F>
        requires detail::task_function<F>
    void spawn(F&& fn, detail::spawn_site where = detail::spawn_site::current()) {
        // The group holds the record: the handle goes.
        detail::spawn_on(detail::scheduler_for_spawn(set_), {}, std::forward<F>(fn), where, set_)
            .detach();
    }
    /// spawn(name, fn) also names the task.
    template <class F>
        requires detail::task_function<F>
    void spawn(std::string_view name, F&& fn,
               detail::spawn_site where = detail::spawn_site::current()) {
        detail::spawn_on(detail::scheduler_for_spawn(set_), name, std::forward<F>(fn), where, set_)
            .detach();
    }
    /// spawn(fn, args...) starts fn(args...), copying the function and arguments as std::thread.
    template <class F, class Arg, class... Args>
        requires detail::bound_task_function<F, Arg, Args...>
    void spawn(F&& fn, Arg&& arg, Args&&... args) {
        spawn(detail::bind_task(std::forward<F>(fn), std::forward<Arg>(arg),
                                std::forward<Args>(args)...),
              detail::spawn_site{});
    }

    /// wait() waits until every task of the group has ended, then throws what failed: an
    /// exception_group of the tasks' failures (first to fail first). When the calling task is
    /// cancelled while it waits, the group's tasks are cancelled and waited for, then cancelled
    /// is rethrown. The group may be used again afterwards.
    void wait() { detail::wait_task_set(set_, true); }
    /// cancel() cancels every task of the group that has not ended (they then end with
    /// cancelled, which is not a failure).
    void cancel() { detail::cancel_task_set(set_); }
    /// size() is the number of the group's tasks that have not ended.
    std::size_t size() const noexcept { return detail::task_set_unfinished(set_); }

    /// run_body() calls body() as the group's body: when a task of the group fails, the body's
    /// waits throw cancelled, which run_body() absorbs; what else the body throws cancels the
    /// group's tasks and comes out of the next wait() (first in the exception_group).
    template <class Body>
    void run_body(Body&& body) {
        detail::cancel_scope_state scope;
        detail::scope_entry entry(scope);
        struct unwatch_on_exit {
            detail::task_set* set;
            ~unwatch_on_exit() { detail::watch_body(set, nullptr); }
        } unwatch{set_};
        detail::watch_body(set_, &scope);
        try {
            std::invoke(std::forward<Body>(body));
        } catch (const cancelled&) {
            if (!detail::cancelled_by_scope(scope)) throw;
        } catch (...) {
            detail::body_failed(set_, std::current_exception());
        }
    }

private:
    detail::task_set* set_;
    int uncaught_;
};

/// with_task_group() calls body(group) with a new task_group and returns what body returned
/// once every task of the group has ended. When a task fails, the others and the body are
/// cancelled, and with_task_group() throws an exception_group of every failure once all have
/// ended; when only the body throws, its exception comes out as it is (after the tasks were
/// cancelled and have ended). When the calling task is cancelled, so are the group's tasks.
template <class F>
    requires std::invocable<F, task_group&> &&
             (!std::is_reference_v<std::invoke_result_t<F, task_group&>>)
auto with_task_group(F&& body) -> std::invoke_result_t<F, task_group&> {
    using R = std::invoke_result_t<F, task_group&>;
    task_group group;
    if constexpr (std::is_void_v<R>) {
        group.run_body([&] { std::invoke(std::forward<F>(body), group); });
        group.wait();
    } else {
        std::optional<R> result;
        group.run_body([&] { result.emplace(std::invoke(std::forward<F>(body), group)); });
        group.wait();
        return std::move(*result);
    }
}

/// completion_order hands out tasks as they finish: what as_completed() returns. Tasks not
/// handed out when it is destroyed are detached.
template <class T>
class completion_order {
public:
    /// completion_order() takes the handles; fiber_error for an empty handle, a joined task or
    /// one already watched by another completion_order or group.
    explicit completion_order(std::vector<task<T>> tasks) {
        if (tasks.empty()) return;
        set_ = detail::create_task_set(
            detail::task_access::scheduler_of(tasks.front()), false);
        try {
            for (task<T>& t : tasks) {
                detail::add_to_task_set(set_, detail::task_access::record(t));
                detail::task_access::release(t);  // the set holds the record for the handle
            }
        } catch (...) {
            detail::destroy_task_set(std::exchange(set_, nullptr));
            throw;
        }
    }
    /// ~completion_order() detaches the tasks not handed out.
    ~completion_order() {
        if (set_) detail::destroy_task_set(set_);
    }
    completion_order(const completion_order&) = delete;
    completion_order& operator=(const completion_order&) = delete;

    /// next() waits for the next task to finish and returns its handle (join() it for the result
    /// or its exception); an empty handle once every task was handed out.
    task<T> next() {
        if (!set_) return {};
        return detail::task_access::adopt<T>(detail::take_finished(set_));
    }

    /// iterator hands out the tasks as they finish: `for (task<T>& t : as_completed(...))`.
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;  ///< one pass
        using value_type = task<T>;                         ///< a finished task's handle
        using difference_type = std::ptrdiff_t;             ///< required of an iterator; unused
        using reference = task<T>&;                         ///< what *it gives

        /// iterator() makes an iterator that equals end().
        iterator() = default;
        /// operator*() is the task handed out last.
        task<T>& operator*() const { return current_; }
        /// operator++() waits for the next task to finish.
        iterator& operator++() {
            current_ = owner_->next();
            return *this;
        }
        /// operator++(int) is ++it.
        void operator++(int) { ++*this; }
        /// operator==(it, default_sentinel) tells whether every task was handed out.
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
            return !detail::task_access::record(it.current_);
        }

    private:
        friend class completion_order;
        explicit iterator(completion_order* owner) : owner_(owner), current_(owner->next()) {}
        completion_order* owner_ = nullptr;
        mutable task<T> current_;
    };

    /// begin() waits for the first task to finish.
    iterator begin() { return iterator(this); }
    /// end() is the sentinel an iterator equals once every task was handed out.
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    detail::task_set* set_ = nullptr;
};

/// as_completed() is asyncio.as_completed: the tasks, handed out in the order they finish.
template <class T>
completion_order<T> as_completed(std::vector<task<T>> tasks) {
    return completion_order<T>(std::move(tasks));
}

}  // namespace spindle

SPINDLE_EXPORTS_END
