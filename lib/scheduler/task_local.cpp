// task_local's tables: one per task that uses a task_local, one per thread for code outside
// tasks; the lookup, the making, and the end of their values.
//
// A task's table is found through its record without a field of its own: the first value a
// task makes puts the table in the place of the task's payload, and the record's payload
// operations become forwarding_operations, which pass each call on to the real payload. The
// task's end already calls destroy_function() through the record, on the task's stack, after
// its function has returned or thrown and before it is marked done: the forwarding one
// destroys the task's values right there. So a task that never uses task_local pays nothing,
// not a field in its record, not a test when it ends (callgrind counts of spawn and join are
// unchanged), and the values still go at exactly the point the contract names.

#include "scheduler/task_local_table.hpp"
#include "scheduler/worker.hpp"

#include <spindle/errors.hpp>
#include <spindle/task_local.hpp>

#include <atomic>
#include <cstdio>
#include <exception>
#include <new>
#include <string>

namespace spindle::detail {
namespace {

// max_destroy_rounds is how many times destructors may make values again while a table's values
// are destroyed (POSIX's PTHREAD_DESTRUCTOR_ITERATIONS, for thread-specific data, is 4 too):
// enough for values whose destructors use each other, a bound for ones that never stop.
constexpr unsigned max_destroy_rounds = 4;

std::atomic<std::uint64_t> next_key{1};

// The calling thread's table, for code outside any task. The pointer and the flag are
// trivially destructible, so they can still be read after the reaper below has run at the
// thread's exit (a thread_local destructor that uses a task_local then gets fiber_error).
constinit thread_local task_local_table* thread_table = nullptr;
constinit thread_local bool thread_table_gone = false;

void report_destructor_exception(const std::string& owner) noexcept {
    try {
        try {
            throw;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "spindle: a task_local value's destructor threw in %s: %s\n",
                         owner.c_str(), e.what());
        } catch (const cancelled&) {
            std::fprintf(stderr,
                         "spindle: a task_local value's destructor threw spindle::cancelled "
                         "in %s\n",
                         owner.c_str());
        } catch (...) {
            std::fprintf(stderr, "spindle: a task_local value's destructor threw in %s\n",
                         owner.c_str());
        }
    } catch (...) {
        // No memory for the message: the report is lost, the other values are not.
    }
}

// owner_of() names a table's owner in reports.
std::string owner_of(const task_local_table& table) {
    return table.task ? describe_task(*table.task) : "a thread, outside any task";
}

// destroy_values() empties `table`, last made first, reporting each destructor that throws.
void destroy_values(task_local_table& table) noexcept {
    table.destroying = true;
    // Popped before its destructor runs: a get() from there of its own task_local makes a
    // fresh value (of the next round) instead of returning one being destroyed.
    while (!table.entries.empty()) {
        const task_local_entry entry = table.entries.back();
        table.entries.pop_back();
        table.round = entry.round + 1;
        try {
            entry.destroy(entry.value);
        } catch (...) {
            std::string owner;
            try {
                owner = owner_of(table);
            } catch (...) {
            }
            report_destructor_exception(owner);
        }
    }
}

// end_task_table() destroys a task's values and gives the task its payload back.
void end_task_table(task_local_table* table) noexcept {
    destroy_values(*table);
    table->task->operations = table->payload_operations;
    table->task->payload = table->payload;
    delete table;
}

void forward_run(void* table) {
    auto* t = static_cast<task_local_table*>(table);
    t->payload_operations->run(t->payload);
}

// forward_destroy_function() is where a task's values end: its function is destroyed first,
// so that a destructor of what it captured can still use them.
void forward_destroy_function(void* table) noexcept {
    auto* t = static_cast<task_local_table*>(table);
    t->payload_operations->destroy_function(t->payload);
    end_task_table(t);
}

// forward_destroy_payload() is reached only by a task whose first task_local value was made
// while its function was being destroyed (by a destructor of something it captured): that
// destroy_function() call was the real one, so its values go with its record instead.
void forward_destroy_payload(void* table) noexcept {
    auto* t = static_cast<task_local_table*>(table);
    const task_payload_operations* const operations = t->payload_operations;
    void* const payload = t->payload;
    end_task_table(t);
    operations->destroy_payload(payload);
}

constexpr task_payload_operations forwarding_operations{
    forward_run, forward_destroy_function, forward_destroy_payload};

task_local_table* table_of(const task_record* task) noexcept {
    return task->operations == &forwarding_operations
               ? static_cast<task_local_table*>(task->payload)
               : nullptr;
}

// thread_table_reaper destroys the thread's table at its exit. Constructed (and its destructor
// registered) by the first value made outside a task on the thread.
struct thread_table_reaper {
    void arm() noexcept {}
    ~thread_table_reaper() {
        if (task_local_table* table = thread_table) {
            destroy_values(*table);
            delete table;
        }
        thread_table = nullptr;
        thread_table_gone = true;
    }
};
thread_local thread_table_reaper reaper;

// current_table() is the running task's table, or, outside any task, the thread's; nullptr
// when it has none yet.
task_local_table* current_table() noexcept {
    if (task_record* task = running_task()) return table_of(task);
    return thread_table;
}

// make_table() gives the running task, or the thread, its table. std::bad_alloc: no table.
task_local_table* make_table() {
    task_record* const task = running_task();
    if (!task) {
        if (thread_table_gone)
            throw fiber_error(
                "spindle: task_local used outside any task after this thread's values were "
                "destroyed at its exit");
        reaper.arm();
        thread_table = new task_local_table;
        return thread_table;
    }
    auto* table = new task_local_table;
    table->task = task;
    table->payload_operations = task->operations;
    table->payload = task->payload;
    task->operations = &forwarding_operations;
    task->payload = table;
    return table;
}

}  // namespace

std::uint64_t new_task_local_key() noexcept {
    return next_key.fetch_add(1, std::memory_order_relaxed);
}

void* find_task_local(std::uint64_t key) noexcept {
    task_local_table* table = current_table();
    if (!table) return nullptr;
    task_local_entry* entry = table->find(key);
    return entry ? entry->value : nullptr;
}

void* task_local_value(std::uint64_t key, task_local_make make, const void* init,
                       task_local_destroy destroy) {
    task_local_table* table = current_table();
    if (!table) {
        table = make_table();
    } else if (task_local_entry* entry = table->find(key)) {
        return entry->value;
    }
    if (table->destroying && table->round > max_destroy_rounds)
        throw fiber_error(
            "spindle: task_local values keep being made by the destructors of task_local values "
            "(more than 4 rounds) while a task's values are destroyed");
    const unsigned round = table->destroying ? table->round : 0;
    // make() may use other task_locals (an initialiser that reads another), which adds their
    // entries first: this one is added once its value exists, after every value its making
    // made, so it is destroyed before them.
    void* const value = make(init);
    try {
        table->entries.push_back({key, value, destroy, round});
    } catch (...) {
        try {
            destroy(value);
        } catch (...) {
            // Its destructor threw: the std::bad_alloc is what the caller learns.
        }
        throw;
    }
    return value;
}

void reset_task_local(std::uint64_t key) {
    task_local_table* table = current_table();
    if (!table) return;
    task_local_entry* entry = table->find(key);
    if (!entry) return;
    const task_local_entry gone = *entry;
    table->entries.erase(table->entries.begin() + (entry - table->entries.data()));
    gone.destroy(gone.value);
}

}  // namespace spindle::detail
