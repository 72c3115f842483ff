#pragma once
// until_waiting(): what a case that runs at several workers does where one worker lets it yield
// once so that another task reaches its wait: it yields until the scheduler counts that many
// tasks in a wait. A task's waiting status is set under the core lock, which its switch holds
// until the task's context is saved, so a task counted there has parked. spin_until(): what a
// task does, without yielding, to see another task run meanwhile on another worker.

#include <spindle/scheduler.hpp>
#include <spindle/trace.hpp>

#include <chrono>
#include <cstdint>

namespace spindle_test {

// until_waiting() yields until at least `count` tasks of the calling task's scheduler are in a
// wait; false if that has not happened within 30 s (the case then fails instead of hanging).
inline bool until_waiting(std::uint64_t count) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (spindle::this_scheduler_statistics().tasks_waiting < count) {
        if (std::chrono::steady_clock::now() > give_up) return false;
        spindle::this_fiber::yield();
    }
    return true;
}

// spin_until() busy-waits, without yielding, until `done` holds; false if that has not happened
// within 30 s (the case then fails instead of hanging): what a task does to prove that another
// runs meanwhile on another worker.
template <class Condition>
bool spin_until(Condition done) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done()) {
        if (std::chrono::steady_clock::now() > give_up) return false;
    }
    return true;
}

}  // namespace spindle_test
