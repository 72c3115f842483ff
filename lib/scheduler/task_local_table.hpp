#pragma once
// task_local_table: the values one task (or one thread, outside tasks) has made through
// task_local, in the order they were made.

#include <spindle/detail/task.hpp>
#include <spindle/task_local.hpp>

#include <cstdint>
#include <vector>

namespace spindle::detail {

// task_local_entry is one value of a table: whose it is (the task_local's key), where it is
// (made with `new` by the template) and how to delete it.
struct task_local_entry {
    std::uint64_t key;
    void* value;
    task_local_destroy destroy;
    // round is 0 for a value made while the owner lived, r + 1 for one made while a value of
    // round r was being destroyed: what bounds destructors that keep making values.
    unsigned round;
};

// task_local_table is looked up by a linear scan: a task uses a handful of task_locals, and a
// scan of a few entries in one block beats hashing them.
struct task_local_table {
    std::vector<task_local_entry> entries;
    bool destroying = false;  // its owner has ended: its values are being destroyed
    unsigned round = 0;       // the round of a value made now, while destroying

    // A task's table stands in for the task's payload (task_local.cpp says why): what the
    // task's record pointed to before it, and the task. Null in a thread's table.
    task_record* task = nullptr;
    const task_payload_operations* payload_operations = nullptr;
    void* payload = nullptr;

    task_local_entry* find(std::uint64_t key) noexcept {
        for (task_local_entry& entry : entries)
            if (entry.key == key) return &entry;
        return nullptr;
    }
};

}  // namespace spindle::detail
