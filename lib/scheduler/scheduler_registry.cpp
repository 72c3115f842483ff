// scheduler_registry: the process's list of schedulers.

#include "scheduler/scheduler_registry.hpp"

#include "scheduler/gdb_autoload.hpp"  // the gdb extension, in this object

namespace spindle::detail {

constinit scheduler_registry live_schedulers;

void register_scheduler(scheduler_core* core) noexcept {
    const std::lock_guard hold(live_schedulers.lock);
    live_schedulers.schedulers.push_back(core);
}

void unregister_scheduler(scheduler_core* core) noexcept {
    const std::lock_guard hold(live_schedulers.lock);
    live_schedulers.schedulers.remove(core);
}

}  // namespace spindle::detail
