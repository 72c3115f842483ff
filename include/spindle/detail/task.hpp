#pragma once
// The template glue between scheduler.hpp and the scheduler's implementation in lib/.
//
// A task's record is allocated by the library; the function and the result slot (the payload)
// are constructed by the template right behind it, so a spawn costs one allocation. The library
// reaches the payload only through task_payload_operations.

#include <spindle/detail/config.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

// The library's own types, which the headers handle by pointer only. They are declared here,
// before SPINDLE_EXPORTS_BEGIN and nowhere else in the public headers, so that their members
// stay out of a shared libspindle's exports (a declaration inside the region would export them).
namespace spindle::detail {
struct scheduler_core;
struct task_record;
struct task_set;
struct thread_waiter;
}  // namespace spindle::detail

SPINDLE_EXPORTS_BEGIN

namespace spindle::detail {

// spawn_site is where a task was spawned, for crash reports, task dumps and the gdb extension.
// current() is called in a default argument, so the builtins name the caller's line, as
// std::source_location::current() would (which clang 14 with libstdc++ 12 does not have).
struct spawn_site {
    const char* file = nullptr;
    std::uint32_t line = 0;

    static constexpr spawn_site current(const char* file = __builtin_FILE(),
                                        std::uint32_t line = __builtin_LINE()) noexcept {
        return {file, line};
    }
};

// task_payload_operations is what the library may do with a payload of unknown type.
struct task_payload_operations {
    void (*run)(void* payload);                        // call the function, keep its result
    void (*destroy_function)(void* payload) noexcept;  // once it ran, or will never run
    void (*destroy_payload)(void* payload) noexcept;   // when the record goes
};

// task_result_slot holds what a task's function returned until join() takes it.
template <class T>
struct task_result_slot {
    std::optional<T> value;
    template <class U>
    void set(U&& result) { value.emplace(std::forward<U>(result)); }
    T take() { return std::move(*value); }
};

template <class T>
struct task_result_slot<T&> {
    T* value = nullptr;
    void set(T& result) noexcept { value = &result; }
    T& take() noexcept { return *value; }
};

template <>
struct task_result_slot<void> {};

// task_payload is the function and its result slot.
template <class F, class T>
struct task_payload : task_result_slot<T> {
    std::optional<F> function;

    template <class G>
    explicit task_payload(G&& body) : function(std::in_place, std::forward<G>(body)) {}
};

template <class F, class T>
inline constexpr task_payload_operations payload_operations_for{
    [](void* payload) {
        auto& p = *static_cast<task_payload<F, T>*>(payload);
        if constexpr (std::is_void_v<T>)
            std::invoke(*p.function);
        else
            p.set(std::invoke(*p.function));
    },
    [](void* payload) noexcept { static_cast<task_payload<F, T>*>(payload)->function.reset(); },
    [](void* payload) noexcept { static_cast<task_payload<F, T>*>(payload)->~task_payload(); },
};

// create_task() allocates a record with room for a payload; the caller constructs the payload
// at task_payload_of(), says where its result slot is with set_task_result(), then either
// schedule_task()s it or discard_task()s it.
task_record* create_task(scheduler_core* scheduler, std::size_t payload_size,
                         std::size_t payload_alignment, const task_payload_operations& operations,
                         std::string_view name, spawn_site where);
void* task_payload_of(task_record* task) noexcept;
void set_task_result(task_record* task, void* result_slot) noexcept;
void discard_task(task_record* task) noexcept;
void schedule_task(task_record* task) noexcept;

// calling_task_scheduler() is the scheduler of the running task; fiber_error outside one.
scheduler_core* calling_task_scheduler();

// join_task() waits for the task (suspending only the calling task), marks its result taken and
// rethrows its exception. Throws fiber_error for an empty handle, a second join, a self-join,
// and a wait outside any task.
void join_task(task_record* task);
// wait_task_until() waits until the task is done (true) or `deadline` has passed (false), without
// taking its result. Throws as join_task() does, and cancelled also when the calling task's
// timeout scope ends the wait.
bool wait_task_until(task_record* task, std::chrono::steady_clock::time_point deadline);
// task_result() is the result slot given to set_task_result().
void* task_result(task_record* task) noexcept;
// gather_tasks() waits for every task, then rethrows the first failure in argument order (the
// other failures are reported on stderr when their handles go). When the gathering task is
// cancelled, it cancels the tasks too.
void gather_tasks(task_record* const* tasks, std::size_t count);
// settle_tasks() is gather_tasks() without the rethrow: it waits for every task (cancelling
// them when the gathering task is cancelled).
void settle_tasks(task_record* const* tasks, std::size_t count);
// release_task() drops the handle's hold: a running task is detached, a finished one freed.
void release_task(task_record* task) noexcept;
bool task_finished(const task_record* task) noexcept;
void cancel_task(task_record* task);
std::uint64_t task_id(const task_record* task) noexcept;
scheduler_core* task_scheduler(const task_record* task) noexcept;

}  // namespace spindle::detail

SPINDLE_EXPORTS_END
