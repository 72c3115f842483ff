#pragma once
// ready_queue: the tasks waiting for their turn, first in first out.
//
// A ring of task pointers. Taking the next task reads the ring sequentially and touches no other
// task's record (an intrusive list would write the neighbour's links: one more cold cache line
// per switch when a thousand tasks take turns). A task can still leave from the middle in O(1)
// (a join runs a child that has not started at once; a cancelled task that never started
// leaves): its slot becomes a hole that popping skips, and holes are squeezed out when the ring
// is full. One queue per worker; with several workers, under the scheduler's core lock, an
// idle worker takes the oldest task of another's.
//
// Queueing never allocates: every task that may be queued has a slot reserved when it is
// spawned (reserve_slot(), which may throw std::bad_alloc from spawn), so the wake-ups that
// cannot fail (a timer, a handed-over value, channel::close(), the end of a joined task) always
// find room. A task is in the ring at most once, so a full ring has holes to squeeze out in
// place.

#include "scheduler/task_record.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace spindle::detail {

class ready_queue {
public:
    ready_queue() noexcept = default;
    ready_queue(const ready_queue&) = delete;
    ready_queue& operator=(const ready_queue&) = delete;

    // reserve_slot() makes room for one more task that may be queued; std::bad_alloc leaves
    // the queue as it was. The ring keeps twice as many slots as are reserved, so that a full
    // ring is at least half holes and squeezing them out costs O(1) per push, amortised.
    void reserve_slot() { reserve_slots(1); }
    // release_slot() gives back the slot of a task that will never be queued again.
    void release_slot() noexcept { release_slots(1); }
    // reserve_slots() makes room for `count` more tasks at once (several workers reserve in
    // chunks, scheduler_core::slots_room); std::bad_alloc leaves the reservation as it was.
    void reserve_slots(std::size_t count) {
        while (2 * (reserved_ + count) > capacity()) grow();
        reserved_ += count;
    }
    // release_slots() gives back `count` slots, or undoes reserve_slots(`count`) (a later
    // worker's queue could not grow).
    void release_slots(std::size_t count) noexcept {
        SPINDLE_ASSERT(reserved_ >= count + queued(),
                       "a queue slot released while its task is queued");
        reserved_ -= count;
    }

    // push_back() queues a task behind every other: a yield, a wake-up.
    void push_back(task_record* task) noexcept {
        SPINDLE_ASSERT(queued() < reserved_, "a task queued without a reserved slot, or twice");
        SPINDLE_ASSERT(task->status == task_status::ready, "a task queued while not ready");
        // Full when every slot lies between head and tail (mask_ is the capacity less one).
        if (tail_ - head_ > mask_) [[unlikely]] make_room();
        task->queue_position = static_cast<std::uint32_t>(tail_);
        ring_[tail_++ & mask_] = task;
        count(+1);
    }

    // push_front() queues a task to run next: a joiner whose child the join ran at once.
    void push_front(task_record* task) noexcept {
        SPINDLE_ASSERT(queued() < reserved_, "a task queued without a reserved slot, or twice");
        SPINDLE_ASSERT(task->status == task_status::ready, "a task queued while not ready");
        if (tail_ - head_ > mask_) [[unlikely]] make_room();
        task->queue_position = static_cast<std::uint32_t>(--head_);
        ring_[head_ & mask_] = task;
        count(+1);
    }

    // front() is the task whose turn it is, or nullptr.
    task_record* front() noexcept {
        while (head_ != tail_ && !ring_[head_ & mask_]) ++head_;
        return head_ != tail_ ? ring_[head_ & mask_] : nullptr;
    }

    // peek() is the task `ahead` places behind the front, or nullptr (also for a hole, or past
    // the tail); for prefetching only. No bounds test: every slot outside [head, tail) is null,
    // and for ahead < capacity the position head + ahead names a slot of [head, tail) only
    // when it lies there.
    task_record* peek(std::uint64_t ahead) const noexcept {
        return ring_[(head_ + ahead) & mask_];
    }

    // pop_front() takes the task whose turn it is, or returns nullptr.
    task_record* pop_front() noexcept {
        const std::uint64_t tail = tail_;
        for (std::uint64_t head = head_; head != tail; ++head) {
            if (task_record* task = ring_[head & mask_]) {
                ring_[head & mask_] = nullptr;
                head_ = head + 1;
                count(-1);
                return task;
            }
        }
        head_ = tail;  // only holes were left
        return nullptr;
    }

    // holds() tells whether `task` is in this queue (several workers: which queue a task that
    // has not started is in).
    bool holds(const task_record* task) const noexcept {
        return ring_ && ring_[task->queue_position & mask_] == task;
    }

    // remove() takes a queued task out wherever it is.
    void remove(task_record* task) noexcept {
        SPINDLE_ASSERT(ring_[task->queue_position & mask_] == task,
                       "a task taken out of the ready queue it is not in");
        ring_[task->queue_position & mask_] = nullptr;
        count(-1);
    }

private:
    std::size_t capacity() const noexcept { return ring_ ? mask_ + 1 : 0; }

    // The tasks in the ring, holes not counted, are counted only for the assertions: popping
    // tells an empty ring by head reaching tail.
#if SPINDLE_ASSERTIONS
    std::size_t queued() const noexcept { return count_; }
    void count(int change) noexcept { count_ += static_cast<std::size_t>(change); }
    std::size_t count_ = 0;
#else
    static constexpr std::size_t queued() noexcept { return 0; }
    static constexpr void count(int) noexcept {}
#endif


    // make_room() squeezes the holes out, in place: the task being queued holds a reserved slot
    // and is not in the ring yet, so a full ring (twice the reserved slots) is half holes.
    void make_room() noexcept {
        std::uint64_t position = head_;
        for (std::uint64_t i = head_; i != tail_; ++i) {
            if (task_record* task = std::exchange(ring_[i & mask_], nullptr)) {
                task->queue_position = static_cast<std::uint32_t>(position);
                ring_[position++ & mask_] = task;
            }
        }
        tail_ = position;
    }

    // grow() doubles the ring (64 slots at first), holes squeezed out; it allocates before it
    // changes anything.
    void grow() {
        const std::size_t capacity = ring_ ? (mask_ + 1) * 2 : 64;
        std::unique_ptr<task_record*[]> ring(new task_record*[capacity]());
        const std::uint64_t mask = capacity - 1;
        std::uint64_t position = head_;
        for (std::uint64_t i = head_; ring_ && i != tail_; ++i) {
            if (task_record* task = ring_[i & mask_]) {
                task->queue_position = static_cast<std::uint32_t>(position);
                ring[position++ & mask] = task;
            }
        }
        ring_ = std::move(ring);
        mask_ = mask;
        tail_ = position;
    }

    // A null ring_ has mask_ 0 and is never pushed to: a push needs a reserved slot, and the
    // first reservation makes the ring.
    std::unique_ptr<task_record*[]> ring_;
    std::uint64_t mask_ = 0;
    std::uint64_t head_ = 0;  // positions only grow (or shrink at the head); slot = position & mask
    std::uint64_t tail_ = 0;
    std::size_t reserved_ = 0;  // slots promised to tasks that may be queued; <= capacity / 2
};

}  // namespace spindle::detail
