#pragma once
// The scheduler's workloads, shared by scheduler_bench (timed, next to Boost.Fiber) and
// scheduler_count (instructions under callgrind), so both measure the same code.

#include <spindle/channel.hpp>
#include <spindle/scheduler.hpp>

#include <cstddef>
#include <utility>
#include <vector>

namespace spindle_bench {

// yield_rounds() runs `tasks` tasks that each yield `yields` times.
inline void yield_rounds(int tasks, int yields, spindle::scheduler_options options = {}) {
    spindle::run([tasks, yields] {
        std::vector<spindle::task<void>> spawned;
        spawned.reserve(static_cast<std::size_t>(tasks));
        for (int t = 0; t < tasks; ++t)
            spawned.push_back(spindle::spawn([yields] {
                for (int i = 0; i < yields; ++i) spindle::this_fiber::yield();
            }));
        spindle::gather(std::move(spawned));
    }, options);
}

// ping_pong_pair() sends `round_trips` values to an echoing task and back through channels of
// `capacity` (0: unbuffered), and returns the sum of what came back. Run it inside a task.
inline long ping_pong_pair(std::size_t capacity, int round_trips) {
    spindle::channel<int> ping(capacity);
    spindle::channel<int> pong(capacity);
    auto echo = spindle::spawn([&] {
        for (int i = 0; i < round_trips; ++i) pong.send(*ping.receive());
    });
    long sum = 0;
    for (int i = 0; i < round_trips; ++i) {
        ping.send(i);
        sum += *pong.receive();
    }
    echo.join();
    return sum;
}

// ping_pong() is one ping_pong_pair() as a scheduler's only work.
inline long ping_pong(std::size_t capacity, int round_trips) {
    return spindle::run([capacity, round_trips] { return ping_pong_pair(capacity, round_trips); });
}

// create_join() spawns `tasks` tasks one after another, joining each, and returns the sum of
// their results.
inline long create_join(int tasks, spindle::scheduler_options options = {}) {
    return spindle::run([tasks] {
        long sum = 0;
        for (int i = 0; i < tasks; ++i) sum += spindle::spawn([i] { return i; }).join();
        return sum;
    }, options);
}

// skynet() is one node of skynet: a 10-ary tree of tasks whose leaves return their ordinal and
// whose inner nodes sum their children's results. Run it inside a task.
inline long skynet(long ordinal, long size) {
    if (size == 1) return ordinal;
    const long child_size = size / 10;
    spindle::task<long> children[10];
    for (long i = 0; i < 10; ++i)
        children[i] = spindle::spawn(
            [ordinal, i, child_size] { return skynet(ordinal + i * child_size, child_size); });
    long sum = 0;
    for (auto& child : children) sum += child.join();
    return sum;
}

}  // namespace spindle_bench
