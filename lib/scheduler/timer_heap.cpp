// timer_heap: a binary min-heap of sleeping tasks with slot tracking.

#include "scheduler/timer_heap.hpp"

namespace spindle::detail {

void timer_heap::push(task_record* task, time_point deadline) {
    SPINDLE_ASSERT(task->timer_slot == no_timer_slot, "a task put in the timer heap twice");
    entries_.push_back({});  // may throw; nothing has changed yet
    ++count_;
    sift_up(entries_.size() - 1, entry{deadline, next_sequence_++, task});
}

task_record* timer_heap::pop_earliest() noexcept {
    task_record* task = entries_.front().task;
    remove(task);
    return task;
}

void timer_heap::remove(task_record* task) noexcept {
    const std::size_t slot = task->timer_slot;
    SPINDLE_ASSERT(slot < entries_.size() && entries_[slot].task == task,
                   "a task taken out of the timer heap it is not in");
    task->timer_slot = no_timer_slot;
    const entry last = entries_.back();
    entries_.pop_back();
    --count_;
    if (slot == entries_.size()) return;  // it was the last entry
    // The last entry fills the hole; it may belong above or below it.
    if (slot > 0 && last.before(entries_[(slot - 1) / 2]))
        sift_up(slot, last);
    else
        sift_down(slot, last);
}

void timer_heap::sift_up(std::size_t slot, entry e) noexcept {
    while (slot > 0) {
        const std::size_t parent = (slot - 1) / 2;
        if (!e.before(entries_[parent])) break;
        place(slot, entries_[parent]);
        slot = parent;
    }
    place(slot, e);
}

void timer_heap::sift_down(std::size_t slot, entry e) noexcept {
    const std::size_t count = entries_.size();
    for (;;) {
        std::size_t child = 2 * slot + 1;
        if (child >= count) break;
        if (child + 1 < count && entries_[child + 1].before(entries_[child])) ++child;
        if (!entries_[child].before(e)) break;
        place(slot, entries_[child]);
        slot = child;
    }
    place(slot, e);
}

}  // namespace spindle::detail
