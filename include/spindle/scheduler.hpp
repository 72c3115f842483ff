#pragma once
// scheduler: cooperative tasks on fibers, the asyncio / Go side of spindle.
//
// Each task runs on a fiber of its own; tasks take turns on one thread and wait for each other,
// for channels, locks and timers without blocking it. A task gives up the thread only where it
// waits or yields. Any wait works from any depth, including from inside a generator or fiber
// running within the task: the whole task is suspended and later resumed exactly there.

#include <spindle/detail/config.hpp>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/remote_job.hpp>
#include <spindle/detail/task.hpp>
#include <spindle/errors.hpp>
#include <spindle/fiber.hpp>
#include <spindle/stack.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <new>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

SPINDLE_EXPORTS_BEGIN

namespace spindle {

template <class T>
class task;

namespace detail {

// scheduler_access lets the scheduler layer's free functions (trace.hpp) reach a scheduler's core.
struct scheduler_access;

/// task_access is the door for the templates below to a handle's record.
struct task_access {
    template <class T>
    static task<T> adopt(task_record* record) noexcept { return task<T>(record); }
    template <class T>
    static task_record* record(const task<T>& t) noexcept { return t.record_; }
    // release() empties the handle without letting go of the task: the caller takes its hold.
    template <class T>
    static task_record* release(task<T>& t) noexcept { return std::exchange(t.record_, nullptr); }
    template <class T>
    static scheduler_core* scheduler_of(const task<T>& t) noexcept {
        return t.record_ ? task_scheduler(t.record_) : nullptr;
    }
};

/// task_result_t is the result type of a task running `F`: the function is stored decayed and
/// called as an lvalue.
template <class F>
using task_result_t = std::invoke_result_t<std::decay_t<F>&>;

/// task_function is what spawn() accepts. The function and its result must not throw from their
/// destructors: the scheduler destroys them where nothing could catch (like the standard
/// containers, which make the same demand).
template <class F>
concept task_function = std::invocable<std::decay_t<F>&> &&
                        !std::is_rvalue_reference_v<task_result_t<F>> &&
                        std::is_nothrow_destructible_v<std::decay_t<F>> &&
                        (std::is_void_v<task_result_t<F>> ||
                         std::is_nothrow_destructible_v<task_result_t<F>>);

/// bound_call is spawn(fn, args...)'s task function: like std::thread, it keeps decayed copies of
/// the function and the arguments and calls the function with the arguments as rvalues, once.
template <class F, class... Args>
struct bound_call {
    F function;
    std::tuple<Args...> arguments;

    decltype(auto) operator()() {
        return std::apply(
            [this](Args&... args) -> decltype(auto) {
                return std::invoke(std::move(function), std::move(args)...);
            },
            arguments);
    }
};

/// bound_task_function says that spawn(fn, args...) can call fn with the arguments.
template <class F, class... Args>
concept bound_task_function =
    std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...> &&
    task_function<bound_call<std::decay_t<F>, std::decay_t<Args>...>>;

/// bind_task() makes the bound_call for spawn(fn, args...).
template <class F, class... Args>
auto bind_task(F&& fn, Args&&... args) {
    return bound_call<std::decay_t<F>, std::decay_t<Args>...>{
        std::forward<F>(fn), {std::forward<Args>(args)...}};
}

/// schedule_member() is schedule_task() for a task spawned into `set` (a task group's): it
/// joins the set before any worker can run it, and in a group cancelling after a failure it
/// never runs (it ends cancelled at once).
void schedule_member(task_set* set, task_record* task);

/// spawn_on() creates a task on `core` and queues it; into `set`, when given, first.
template <class F>
task<task_result_t<F>> spawn_on(scheduler_core* core, std::string_view name, F&& fn,
                                spawn_site where, task_set* set = nullptr) {
    using Function = std::decay_t<F>;
    using Result = task_result_t<F>;
    using Payload = task_payload<Function, Result>;
    task_record* record = create_task(core, sizeof(Payload), alignof(Payload),
                                      payload_operations_for<Function, Result>, name, where);
    try {
        auto* payload = ::new (task_payload_of(record)) Payload(std::forward<F>(fn));
        set_task_result(record, static_cast<task_result_slot<Result>*>(payload));
    } catch (...) {
        discard_task(record);
        throw;
    }
    if (set)
        schedule_member(set, record);
    else
        schedule_task(record);
    return task_access::adopt<Result>(record);
}

}  // namespace detail

/// scheduler_options configures a scheduler.
struct scheduler_options {
    /// threads is the number of worker threads (1 to 1024): the thread that calls run() and
    /// threads - 1 that run() starts and joins. With more than one, tasks run on any worker and
    /// move between them (an idle worker takes ready tasks from busy ones); docs/threads.md.
    unsigned threads = 1;
    stack_options stack = {};  ///< the stack of every spawned task
    /// task_fp says whether each task keeps floating-point control state of its own
    /// (fp_control::own: every task starts with the state of the thread that called run(), and
    /// each switch saves the leaving task's and loads the arriving one's) or shares the thread's
    /// (fp_control::thread, the default: a task that changes the rounding mode restores it
    /// before it waits or yields).
    fp_control task_fp = fp_control::thread;
};

/// task is a move-only handle to a spawned task. It is [[nodiscard]]: a task is joined, handed to a
/// task_group, or let go on purpose with detach(). Dropping a handle still detaches the task,
/// which then runs to its end unobserved (an exception it ends with is reported on stderr, as
/// asyncio does); a detached task must not use anything of its spawner's frame by reference.
template <class T>
class [[nodiscard]] task {
public:
    /// task() makes an empty handle.
    task() noexcept = default;
    /// task(other) takes other's task, leaving other empty.
    task(task&& other) noexcept : record_(std::exchange(other.record_, nullptr)) {}
    /// operator=() detaches the task this handle held before taking other's.
    task& operator=(task&& other) noexcept {
        if (this != &other) {
            reset();
            record_ = std::exchange(other.record_, nullptr);
        }
        return *this;
    }
    /// ~task() detaches a task that is still running.
    ~task() { reset(); }

    /// join() waits for the task, suspending only the calling task, and returns its result or
    /// rethrows its exception. A task that has not started yet is run at once, on the joiner's
    /// turn. Throws fiber_error on an empty handle, a second join, a task joining itself, and a
    /// wait outside any task (joining a finished task works anywhere).
    T join() {
        detail::join_task(record_);
        if constexpr (!std::is_void_v<T>)
            return static_cast<detail::task_result_slot<T>*>(detail::task_result(record_))->take();
    }

    /// wait_until() waits until the task has finished (true) or `deadline` has passed (false),
    /// without taking its result: join() then does. A task that times out goes on running.
    /// Throws as join() does (an empty handle, a self-wait, outside a task when unfinished).
    bool wait_until(std::chrono::steady_clock::time_point deadline) {
        return detail::wait_task_until(record_, deadline);
    }
    /// wait_for() is wait_until(now + duration).
    template <class Rep, class Period>
    bool wait_for(const std::chrono::duration<Rep, Period>& duration) {
        return wait_until(detail::deadline_after(duration));
    }
    /// join_until() is join() with a deadline: the result, or std::nullopt (for task<void>:
    /// false) when the task has not finished by then; it goes on running and can be joined later.
    auto join_until(std::chrono::steady_clock::time_point deadline)
        requires(!std::is_reference_v<T>)
    {
        if constexpr (std::is_void_v<T>) {
            if (!wait_until(deadline)) return false;
            join();
            return true;
        } else {
            if (!wait_until(deadline)) return std::optional<T>();
            return std::optional<T>(join());
        }
    }
    /// join_for() is join_until(now + duration).
    template <class Rep, class Period>
    auto join_for(const std::chrono::duration<Rep, Period>& duration)
        requires(!std::is_reference_v<T>)
    {
        return join_until(detail::deadline_after(duration));
    }

    /// detach() lets the task go: it runs to its end unobserved, and the handle is empty.
    void detach() noexcept { reset(); }

    /// done() tells whether the task has finished (an empty handle is done).
    bool done() const noexcept { return !record_ || detail::task_finished(record_); }

    /// cancel() makes the task's current suspension, or its next one, throw spindle::cancelled;
    /// a task that has not started never runs. Cancelling a finished task does nothing.
    /// While an exception unwinds the task (a destructor waits: asynchronous cleanup), its waits
    /// are not interrupted and throw nothing; the cancellation is then delivered at the task's
    /// first wait after the unwinding, if it catches the exception and goes on, and dropped if
    /// it ends.
    void cancel() {
        if (record_) detail::cancel_task(record_);
    }

    /// id() is the task's number in its scheduler, as deadlock reports and stack-overflow
    /// messages show it ("task N 'name'"; 0 when empty).
    std::uint64_t id() const noexcept { return record_ ? detail::task_id(record_) : 0; }

private:
    friend struct detail::task_access;
    explicit task(detail::task_record* record) noexcept : record_(record) {}
    void reset() noexcept {
        if (record_) detail::release_task(std::exchange(record_, nullptr));
    }

    detail::task_record* record_ = nullptr;
};

class scheduler_handle;

/// scheduler runs tasks, each on a fiber of its own, taking turns on the thread that calls run().
class scheduler {
public:
    /// scheduler() makes a scheduler with no tasks; fiber_error when options.threads is 0 or
    /// above 1024.
    explicit scheduler(scheduler_options options = {});
    /// ~scheduler() cancels the tasks left (after run() threw, or when run() was never called)
    /// and lets them unwind. A task stuck re-taking its mutex after a condition_variable wait
    /// (the holder never unlocks) is unwound too: that wait throws cancelled with its lock
    /// released. The process stops with a message only for tasks that cannot be unwound: one
    /// that keeps catching cancelled and waiting again, or a destructor that waits, while its
    /// task unwinds, for something that never comes.
    ~scheduler();
    scheduler(const scheduler&) = delete;
    scheduler& operator=(const scheduler&) = delete;

    /// spawn() creates a task that will run fn() and queues it; nothing runs until run() (or
    /// until the task is joined from another task). Out of memory, it throws std::bad_alloc and
    /// changes nothing; everything a task needs later to be queued is taken here. `where`, the
    /// caller's file and line by default, is shown by crash reports and task dumps.
    template <class F>
        requires detail::task_function<F>
    auto spawn(F&& fn, detail::spawn_site where = detail::spawn_site::current())
        -> task<detail::task_result_t<F>> {
        return detail::spawn_on(core_, {}, std::forward<F>(fn), where);
    }
    /// spawn(name, fn) also names the task in deadlock messages (up to 31 bytes are kept).
    template <class F>
        requires detail::task_function<F>
    auto spawn(std::string_view name, F&& fn,
               detail::spawn_site where = detail::spawn_site::current())
        -> task<detail::task_result_t<F>> {
        return detail::spawn_on(core_, name, std::forward<F>(fn), where);
    }

    /// spawn(fn, args...) creates a task that calls fn(args...), with copies of fn and the
    /// arguments made now and passed as rvalues, as std::thread does (use std::ref to pass a
    /// reference). Crash reports and task dumps cannot say where such a task was spawned.
    template <class F, class Arg, class... Args>
        requires detail::bound_task_function<F, Arg, Args...>
    auto spawn(F&& fn, Arg&& arg, Args&&... args) {
        return spawn(detail::bind_task(std::forward<F>(fn), std::forward<Arg>(arg),
                                       std::forward<Args>(args)...),
                     detail::spawn_site{});
    }

    /// run() runs tasks until every one has finished. Throws deadlock_error, naming each stuck
    /// task and what it waits on, when tasks remain that no timer or task can wake; fiber_error
    /// when called from inside a task (spawn instead).
    void run();
    /// run_until_complete() runs tasks until `t` has finished (asyncio's run_until_complete),
    /// leaving the others where they are: a later run() goes on with them, and the destructor
    /// cancels them. Throws as run() does, and fiber_error for an empty handle or a task of
    /// another scheduler.
    template <class T>
    void run_until_complete(const task<T>& t) {
        run_until_complete_record(detail::task_access::record(t));
    }
    /// cancel_pending() cancels every unfinished task and runs them until they have unwound, as
    /// the destructor does (see ~scheduler for the tasks that cannot be unwound).
    /// fiber_error when called while the scheduler runs (from one of its tasks).
    void cancel_pending();

    /// submit() runs fn() in a new task of this scheduler and returns the future of its result
    /// (asyncio's run_coroutine_threadsafe, marl's schedule()). Callable from any thread, also
    /// while run() runs on another: the task starts on the scheduler's thread at its next turn,
    /// or in the next run() when none runs. An exception fn() throws (cancelled, when the
    /// scheduler is destroyed first) comes out of the future's get(); a function that never got
    /// to run (the scheduler destroyed before) leaves a broken promise. A run() that has no task
    /// left may return before the function runs; keep_open() prevents that. std::bad_alloc when
    /// the function cannot be queued. Inside the scheduler's own tasks use spawn(): a task that
    /// blocks on the future blocks the thread the function would run on.
    template <class F>
        requires detail::task_function<F>
    auto submit(F&& fn) -> std::future<detail::task_result_t<F>> {
        return detail::queue_submitted(std::forward<F>(fn), [this](detail::remote_job* job) {
            detail::submit_job(core_, job);
        });
    }
    /// keep_open() returns a handle that holds the scheduler open for other threads (see
    /// scheduler_handle); from any thread.
    scheduler_handle keep_open();

private:
    void run_until_complete_record(detail::task_record* task);

    friend struct detail::scheduler_access;
    detail::scheduler_core* core_;
};

/// scheduler_handle is how threads other than a scheduler's own hand it work. While a handle
/// lives, the scheduler is held open: its run() does not return when its tasks have finished,
/// nor report a deadlock while they wait, but waits for work submitted through a handle or
/// scheduler::submit() (as an io_context with a work guard does). release() or the destructor
/// lets go, and a run() with nothing left to do then returns (or reports its deadlock). Made by
/// scheduler::keep_open(); move-only. Its operations are safe from any thread, and it may
/// outlive the scheduler: submit() then throws fiber_error. While a thread holds one, it may use
/// the channels and condition variables the scheduler's tasks wait on directly (the first
/// handle makes the scheduler take their locks, for the rest of its life; docs/threads.md).
class scheduler_handle {
public:
    /// scheduler_handle() is an empty handle, holding nothing open.
    scheduler_handle() noexcept = default;
    /// scheduler_handle(other) takes over what `other` held open; `other` is empty afterwards.
    scheduler_handle(scheduler_handle&& other) noexcept
        : link_(std::exchange(other.link_, nullptr)) {}
    /// operator=(other) lets go of what this handle held and takes over what `other` held.
    scheduler_handle& operator=(scheduler_handle&& other) noexcept {
        if (this != &other) {
            release();
            link_ = std::exchange(other.link_, nullptr);
        }
        return *this;
    }
    /// ~scheduler_handle() lets go of the scheduler, as release() does.
    ~scheduler_handle() { release(); }

    /// submit() is scheduler::submit() through the handle. fiber_error for an empty handle, or
    /// once the scheduler has been destroyed (fn then never runs).
    template <class F>
        requires detail::task_function<F>
    auto submit(F&& fn) -> std::future<detail::task_result_t<F>> {
        return detail::queue_submitted(std::forward<F>(fn), [this](detail::remote_job* job) {
            detail::submit_through(link_, job);
        });
    }
    /// release() lets go of the scheduler (waking its run() to see whether it is done); the
    /// handle is empty afterwards. Nothing happens for an empty handle.
    void release() noexcept;
    /// operator bool() tells whether the handle holds a scheduler open.
    explicit operator bool() const noexcept { return link_ != nullptr; }

private:
    friend class scheduler;
    explicit scheduler_handle(detail::handle_link* link) noexcept : link_(link) {}
    detail::handle_link* link_ = nullptr;
};

namespace detail {

template <class F>
void spawn_detached(scheduler_core* core, F&& function) {
    (void)spawn_on(core, {}, std::forward<F>(function), spawn_site{});  // dropped: detached
}

}  // namespace detail

/// run() is asyncio.run: it makes a scheduler and runs fn as its first task (named "main"). When
/// fn returns or throws, the tasks still unfinished (detached ones, a heartbeat that never ends)
/// are cancelled and run until they have unwound; then run() returns what fn returned or
/// rethrows what it threw. Throws deadlock_error when main waits for something nothing can do.
template <class F>
    requires detail::task_function<F>
auto run(F&& fn, scheduler_options options = {},
         detail::spawn_site where = detail::spawn_site::current()) -> detail::task_result_t<F> {
    scheduler s(options);
    auto main = s.spawn("main", std::forward<F>(fn), where);
    s.run_until_complete(main);
    s.cancel_pending();
    return main.join();
}

/// spawn() creates a task on the scheduler of the calling task; fiber_error outside any task.
template <class F>
    requires detail::task_function<F>
auto spawn(F&& fn, detail::spawn_site where = detail::spawn_site::current())
    -> task<detail::task_result_t<F>> {
    return detail::spawn_on(detail::calling_task_scheduler(), {}, std::forward<F>(fn), where);
}
/// spawn(name, fn) also names the task.
template <class F>
    requires detail::task_function<F>
auto spawn(std::string_view name, F&& fn,
           detail::spawn_site where = detail::spawn_site::current())
    -> task<detail::task_result_t<F>> {
    return detail::spawn_on(detail::calling_task_scheduler(), name, std::forward<F>(fn), where);
}
/// spawn(fn, args...) calls fn(args...) in a new task, copying the function and the arguments
/// as std::thread does.
template <class F, class Arg, class... Args>
    requires detail::bound_task_function<F, Arg, Args...>
auto spawn(F&& fn, Arg&& arg, Args&&... args) {
    return detail::spawn_on(detail::calling_task_scheduler(), {},
                            detail::bind_task(std::forward<F>(fn), std::forward<Arg>(arg),
                                              std::forward<Args>(args)...),
                            detail::spawn_site{});
}

/// gather_value_t is what gather() gives for a task<T>: T, or std::monostate for task<void>.
template <class T>
using gather_value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

namespace detail {
// records_of() is the records behind a vector of handles, for the library's gather calls.
template <class T>
std::vector<task_record*> records_of(const std::vector<task<T>>& tasks) {
    std::vector<task_record*> records;
    records.reserve(tasks.size());
    for (const task<T>& t : tasks) records.push_back(task_access::record(t));
    return records;
}

template <class T>
gather_value_t<T> join_for_gather(task<T>& t) {
    if constexpr (std::is_void_v<T>) {
        t.join();
        return {};
    } else {
        return t.join();
    }
}
}  // namespace detail

/// gather() is asyncio.gather: it waits for every task and returns their results in argument
/// order. If any failed, the exception of the first failed one in argument order is rethrown,
/// after all have finished; the other failures are reported on stderr (use gather_settled() to
/// keep them all). If the gathering task is cancelled, it cancels the tasks too.
template <class... T>
std::tuple<gather_value_t<T>...> gather(task<T>&&... tasks) {
    std::tuple<task<T>...> owned(std::move(tasks)...);
    return std::apply(
        [](task<T>&... t) {
            detail::task_record* const records[] = {detail::task_access::record(t)..., nullptr};
            detail::gather_tasks(records, sizeof...(T));
            // Braced initialisation evaluates left to right.
            return std::tuple<gather_value_t<T>...>{detail::join_for_gather(t)...};
        },
        owned);
}

/// gather(tasks) waits for every task in the vector; results in order (nothing for task<void>).
template <class T>
auto gather(std::vector<task<T>> tasks)
    -> std::conditional_t<std::is_void_v<T>, void, std::vector<T>> {
    std::vector<detail::task_record*> records = detail::records_of(tasks);
    detail::gather_tasks(records.data(), records.size());
    if constexpr (std::is_void_v<T>) {
        for (task<T>& t : tasks) t.join();
    } else {
        std::vector<T> results;
        results.reserve(tasks.size());
        for (task<T>& t : tasks) results.push_back(t.join());
        return results;
    }
}

/// settled is how one task ended, as gather_settled() gives it: a value (std::monostate for
/// task<void>) or an exception. Nothing is lost: every failure stays in its place.
template <class T>
class settled {
    static_assert(!std::is_reference_v<T>,
                  "gather_settled() of a task<T&> is not supported; return a pointer instead");

public:
    /// settled(value) is a task that returned `value`.
    explicit settled(gather_value_t<T> value) : value_(std::move(value)) {}
    /// settled(error) is a task that ended with `error`.
    explicit settled(std::exception_ptr error) noexcept : error_(std::move(error)) {}

    /// ok() tells whether the task returned.
    bool ok() const noexcept { return !error_; }
    /// value() is what the task returned; rethrows its exception when it failed.
    gather_value_t<T>& value() {
        if (error_) std::rethrow_exception(error_);
        return *value_;
    }
    /// error() is the task's exception, or null when it returned.
    const std::exception_ptr& error() const noexcept { return error_; }

private:
    std::optional<gather_value_t<T>> value_;
    std::exception_ptr error_;
};

namespace detail {
template <class T>
settled<T> settle(task<T>& t) {
    try {
        return settled<T>(join_for_gather(t));
    } catch (...) {
        return settled<T>(std::current_exception());
    }
}
}  // namespace detail

/// gather_settled() is asyncio.gather(return_exceptions=True): it waits for every task and gives
/// how each ended, in argument order, every failure included. If the gathering task is
/// cancelled, it cancels the tasks too and rethrows cancelled.
template <class... T>
std::tuple<settled<T>...> gather_settled(task<T>&&... tasks) {
    std::tuple<task<T>...> owned(std::move(tasks)...);
    return std::apply(
        [](task<T>&... t) {
            detail::task_record* const records[] = {detail::task_access::record(t)..., nullptr};
            detail::settle_tasks(records, sizeof...(T));
            return std::tuple<settled<T>...>{detail::settle(t)...};
        },
        owned);
}

/// gather_settled(tasks) is gather_settled() over a vector: how each task ended, in order.
template <class T>
std::vector<settled<T>> gather_settled(std::vector<task<T>> tasks) {
    std::vector<detail::task_record*> records = detail::records_of(tasks);
    detail::settle_tasks(records.data(), records.size());
    std::vector<settled<T>> outcomes;
    outcomes.reserve(tasks.size());
    for (task<T>& t : tasks) outcomes.push_back(detail::settle(t));
    return outcomes;
}

namespace this_task {

/// id() is the running task's number in its scheduler, as task::id() gives it; 0 outside any
/// task. It works at any depth inside the task, also from a generator or fiber running in it.
std::uint64_t id() noexcept;
/// name() is the running task's name ("main" for run()'s first task), empty when it has none or
/// outside any task. The view stays valid until the task is renamed or ends.
std::string_view name() noexcept;

}  // namespace this_task

namespace this_fiber {

/// yield() puts the calling task at the back of the ready queue and runs the others ready before
/// it. Outside any task it is std::this_thread::yield().
void yield();
/// sleep_for() suspends only the calling task for at least `duration`. Outside any task it
/// blocks the thread, like std::this_thread::sleep_for(). The deadline saturates: a duration too
/// long to add to now (duration::max()) is a sleep that never ends (only cancel() ends it), and
/// a zero or negative one lets the other ready tasks run once.
void sleep_for(std::chrono::steady_clock::duration duration);
/// sleep_until() suspends only the calling task until `deadline` has passed; tasks with equal
/// deadlines wake in the order they went to sleep. A deadline that has passed still lets the
/// other ready tasks run first. Tasks that only a deadline of time_point::max() could wake are
/// deadlocked: run() throws deadlock_error ("sleep forever").
void sleep_until(std::chrono::steady_clock::time_point deadline);
/// set_name() names the calling task (or, outside a task, the running fiber) in deadlock and
/// stack-overflow messages; up to 31 bytes are kept. fiber_error outside both.
void set_name(std::string_view name);

}  // namespace this_fiber

}  // namespace spindle

SPINDLE_EXPORTS_END
