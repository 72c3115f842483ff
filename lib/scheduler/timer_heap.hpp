#pragma once
// timer_heap: the sleeping tasks, earliest deadline first.
//
// A binary min-heap in a vector, keyed by (deadline, sequence): the sequence number breaks ties
// so that equal deadlines wake in the order the tasks went to sleep. Each task remembers its
// slot, so a task woken early (cancelled, notified before its timeout) leaves in O(log n) with
// no stale entry left behind. Insertion and removal are O(log n) and the memory is one vector
// entry per sleeper, which keeps 100,000 sleeping tasks cheap. One heap per scheduler: the main
// worker's, which the other workers share (under the core lock) when there are several.

#include "scheduler/task_record.hpp"

#include <chrono>
#include <cstdint>
#include <vector>

namespace spindle::detail {

class timer_heap {
public:
    using time_point = std::chrono::steady_clock::time_point;

    bool empty() const noexcept { return count_ == 0; }
    // size() is one load (the scheduler tests it, with other rare work, once per switch).
    std::size_t size() const noexcept { return count_; }
    // earliest() is the nearest deadline; the heap must not be empty.
    time_point earliest() const noexcept { return entries_.front().deadline; }

    // push() adds a task that must wake at `deadline`.
    void push(task_record* task, time_point deadline);
    // pop_earliest() takes out the task with the nearest deadline.
    task_record* pop_earliest() noexcept;
    // remove() takes out a task wherever it is in the heap.
    void remove(task_record* task) noexcept;

private:
    struct entry {
        time_point deadline;
        std::uint64_t sequence;
        task_record* task;

        bool before(const entry& other) const noexcept {
            return deadline < other.deadline ||
                   (deadline == other.deadline && sequence < other.sequence);
        }
    };

    void place(std::size_t slot, const entry& e) noexcept {
        entries_[slot] = e;
        e.task->timer_slot = slot;
    }
    void sift_up(std::size_t slot, entry e) noexcept;
    void sift_down(std::size_t slot, entry e) noexcept;

    std::vector<entry> entries_;
    std::size_t count_ = 0;  // entries_.size()
    std::uint64_t next_sequence_ = 0;
};

}  // namespace spindle::detail
