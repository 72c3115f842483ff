#pragma once
// ready_queue: the tasks waiting for their turn, first in first out.
//
// A ring of task pointers. Taking the next task reads the ring sequentially and touches no other
// task's record (an intrusive list would write the neighbour's links: one more cold cache line
// per switch when a thousand tasks take turns). A task can still leave from the middle in O(1)
// (a join runs a child that has not started at once; a cancelled task that never started
// leaves): its slot becomes a hole that popping skips, and holes are squeezed out when the ring
// would grow. One queue per worker; the multi-threaded mode will give each worker its own and
// let idle workers take from the others'.

#include "task_record.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace spindle::detail {

class ready_queue {
public:
    bool empty() const noexcept { return count_ == 0; }

    // push_back() queues a task behind every other: a yield, a wake-up.
    void push_back(task_record* task) {
        if (tail_ - head_ == ring_.size()) make_room();
        task->queue_position = tail_;
        ring_[tail_++ & mask_] = task;
        ++count_;
    }

    // push_front() queues a task to run next: a joiner whose child the join ran at once.
    void push_front(task_record* task) {
        if (tail_ - head_ == ring_.size()) make_room();
        task->queue_position = --head_;
        ring_[head_ & mask_] = task;
        ++count_;
    }

    // front() is the task whose turn it is, or nullptr.
    task_record* front() noexcept {
        if (count_ == 0) return nullptr;
        while (!ring_[head_ & mask_]) ++head_;
        return ring_[head_ & mask_];
    }

    // peek() is the task `ahead` places behind the front, or nullptr (also for a hole); for
    // prefetching only.
    task_record* peek(std::uint64_t ahead) const noexcept {
        return ahead < tail_ - head_ ? ring_[(head_ + ahead) & mask_] : nullptr;
    }

    // pop_front() takes the task whose turn it is, or returns nullptr.
    task_record* pop_front() noexcept {
        task_record* task = front();
        if (task) {
            ring_[head_++ & mask_] = nullptr;
            --count_;
        }
        return task;
    }

    // remove() takes a queued task out wherever it is.
    void remove(task_record* task) noexcept {
        ring_[task->queue_position & mask_] = nullptr;
        --count_;
    }

private:
    // make_room() squeezes the holes out when they are at least half the ring, else doubles it.
    void make_room() {
        const std::size_t capacity =
            ring_.empty() ? 64 : (count_ <= ring_.size() / 2 ? ring_.size() : ring_.size() * 2);
        std::vector<task_record*> ring(capacity, nullptr);
        const std::uint64_t mask = capacity - 1;
        std::uint64_t position = head_;
        for (std::uint64_t i = head_; i != tail_; ++i) {
            if (task_record* task = ring_[i & mask_]) {
                task->queue_position = position;
                ring[position++ & mask] = task;
            }
        }
        ring_.swap(ring);
        mask_ = mask;
        tail_ = position;
    }

    std::vector<task_record*> ring_;
    std::uint64_t mask_ = 0;
    std::uint64_t head_ = 0;  // positions only grow (or shrink at the head); slot = position & mask
    std::uint64_t tail_ = 0;
    std::size_t count_ = 0;   // tasks in the ring, holes not counted
};

}  // namespace spindle::detail
