#pragma once
// ready_queue: the tasks waiting for their turn, first in first out.
//
// Intrusive (the links live in the task record), so queueing allocates nothing and a task can be
// taken out of the middle in O(1): a join runs a child that has not started at once, and a
// cancelled task that never started leaves the queue. One queue per worker; the multi-threaded
// mode will give each worker its own and let idle workers take from the others'.

#include "task_record.hpp"

namespace spindle::detail {

class ready_queue {
public:
    bool empty() const noexcept { return head_ == nullptr; }

    // push_back() queues a task behind every other: a yield, a wake-up.
    void push_back(task_record* task) noexcept {
        task->queue_next = nullptr;
        task->queue_previous = tail_;
        if (tail_)
            tail_->queue_next = task;
        else
            head_ = task;
        tail_ = task;
    }

    // push_front() queues a task to run next: a joiner whose child the join ran at once.
    void push_front(task_record* task) noexcept {
        task->queue_previous = nullptr;
        task->queue_next = head_;
        if (head_)
            head_->queue_previous = task;
        else
            tail_ = task;
        head_ = task;
    }

    // pop_front() takes the task whose turn it is, or returns nullptr.
    task_record* pop_front() noexcept {
        task_record* task = head_;
        if (task) remove(task);
        return task;
    }

    // remove() takes a queued task out wherever it is.
    void remove(task_record* task) noexcept {
        if (task->queue_previous)
            task->queue_previous->queue_next = task->queue_next;
        else
            head_ = task->queue_next;
        if (task->queue_next)
            task->queue_next->queue_previous = task->queue_previous;
        else
            tail_ = task->queue_previous;
        task->queue_previous = task->queue_next = nullptr;
    }

private:
    task_record* head_ = nullptr;
    task_record* tail_ = nullptr;
};

}  // namespace spindle::detail
