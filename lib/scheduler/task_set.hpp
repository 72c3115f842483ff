#pragma once
// task_set: tasks watched together, for a task group and for as_completed().
//
// A set holds its members' records (a finished member stays until the set lets it go) and keeps
// them in two lists: those still running, and those finished, in the order they finished. A task
// waits on the set's wait queue for the next member to finish; complete_task() tells the set.

#include "scheduler/task_record.hpp"

#include <spindle/detail/intrusive_list.hpp>
#include <spindle/detail/wait_queue.hpp>
#include <spindle/timeout.hpp>

#include <cstddef>
#include <exception>

namespace spindle::detail {

struct task_set {
    using member_list = intrusive_list<task_record, &task_record::set_previous, &task_record::set_next>;

    scheduler_core* scheduler = nullptr;
    member_list running;   // members not finished yet
    member_list finished;  // members finished, first to last
    std::size_t unfinished = 0;
    std::size_t reserved = 0;  // slots taken by reserve_member() and not filled yet
    wait_queue waiters;        // tasks waiting for the next member to finish

    // A task group cancels the others when a member fails (as asyncio's TaskGroup does), and the
    // body that spawned them through `body_scope` (cancelled outright: its deadline becomes
    // time_point::min()) while `body_task` runs inside it.
    bool cancel_on_failure = false;
    bool failed = false;
    cancel_scope_state* body_scope = nullptr;
    std::exception_ptr body_exception;  // what the group's body threw, first in the group's error
};

// member_finished() moves a member that has just finished to the finished list, applies the
// set's failure policy and wakes the tasks waiting on the set. complete_task() calls it.
void member_finished(task_record* task) noexcept;
// settle_member() is member_finished() for a task already out of the running list (or never in
// it: one that ended before it was added): it joins the finished list, its failure cancels a
// group, and the set's waiters wake.
void settle_member(task_set* set, task_record* task) noexcept;

}  // namespace spindle::detail
