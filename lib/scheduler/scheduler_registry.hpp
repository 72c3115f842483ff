#pragma once
// scheduler_registry: every scheduler alive in the process, so that a task dump (task_dump.cpp)
// and the gdb extension (share/gdb/spindle.py) can find every task without being told where
// the schedulers are.

#include "scheduler/worker.hpp"

#include <spindle/detail/intrusive_list.hpp>

#include <mutex>

namespace spindle::detail {

// scheduler_registry is the list and the lock that guards its links (not the schedulers' own
// state: each scheduler's tasks belong to the thread running it).
struct scheduler_registry {
    std::mutex lock;
    intrusive_list<scheduler_core, &scheduler_core::registry_previous,
                   &scheduler_core::registry_next>
        schedulers;
};

// live_schedulers is the registry. The gdb extension reads it by this name: renaming it, or the
// links, means changing share/gdb/spindle.py too.
extern constinit scheduler_registry live_schedulers;

// register_scheduler() adds a scheduler when it is made; unregister_scheduler() removes it
// before it is destroyed.
void register_scheduler(scheduler_core* core) noexcept;
void unregister_scheduler(scheduler_core* core) noexcept;

}  // namespace spindle::detail
