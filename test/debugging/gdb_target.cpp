// The program scripts/check-gdb runs under gdb: tasks in each state, then a call to
// spindle_gdb_checkpoint(), where gdb stops to list them and to print the sleeper's backtrace,
// live and from a core file. Built with debug information (-g) in every configuration.

#include "scheduler/scheduler_registry.hpp"

#include <spindle/spindle.hpp>

#include <chrono>
#include <cstddef>
#include <mutex>

using namespace std::chrono_literals;

// spindle_gdb_checkpoint() is where gdb stops.
extern "C" __attribute__((noinline)) void spindle_gdb_checkpoint() { asm volatile(""); }

namespace {

// sleeper_body() is the frame the sleeper's backtrace must show. Its wait is one no timer ends
// while gdb looks (a slow machine could otherwise find the sleeper ready): main cancels it.
__attribute__((noinline)) void sleeper_body() {
    try {
        spindle::this_fiber::sleep_for(24h);
    } catch (const spindle::cancelled&) {
    }
}

// count_tasks() reads each record the extension reads, so that their types are in this
// program's debug information even when the library was built without any (a release build).
std::size_t count_tasks() {
    const std::lock_guard hold(spindle::detail::live_schedulers.lock);
    std::size_t count = 0;
    for (auto* core = spindle::detail::live_schedulers.schedulers.head; core;
         core = core->registry_next)
        for (auto* task = core->live.head; task; task = task->live_next)
            count += task->name[0] != '\0' && task->park.sp != nullptr;
    return count;
}

}  // namespace

int main() {
    std::size_t seen = 0;
    spindle::run([&] {
        auto sleeper = spindle::spawn("sleeper", sleeper_body);
        auto joiner = spindle::spawn("joiner", [&sleeper] { sleeper.join(); });
        spindle::this_fiber::yield();  // both start and wait
        auto later = spindle::spawn("later", [] {});
        seen = count_tasks();
        spindle_gdb_checkpoint();
        sleeper.cancel();
        joiner.join();
    });
    return seen == 3 ? 0 : 1;  // main (it yielded), the sleeper and the joiner have parked
}
