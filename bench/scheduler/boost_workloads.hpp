#pragma once
// The scheduler workloads written for Boost.Fiber, as its documentation shows it used: fibers
// launched from the thread's main fiber, joined there, its channels. Shared by scheduler_bench
// (round robin, one thread) and threads_bench (work stealing over several threads), so both
// measure the same code. Whatever scheduling algorithm the calling thread installed runs them.

#include <boost/fiber/all.hpp>

#include <vector>

namespace boost_bench {

// yield_rounds() runs `tasks` fibers that each yield `yields` times.
inline void yield_rounds(int tasks, int yields) {
    std::vector<boost::fibers::fiber> fibers;
    fibers.reserve(static_cast<std::size_t>(tasks));
    for (int t = 0; t < tasks; ++t)
        fibers.emplace_back([yields] {
            for (int i = 0; i < yields; ++i) boost::this_fiber::yield();
        });
    for (auto& f : fibers) f.join();
}

// ping_pong() sends `round_trips` values to an echoing fiber and back through two channels and
// returns the sum of what came back.
template <class Channel>
long ping_pong(Channel& ping, Channel& pong, int round_trips) {
    boost::fibers::fiber echo([&] {
        for (int i = 0; i < round_trips; ++i) {
            int v = 0;
            ping.pop(v);
            pong.push(v);
        }
    });
    long sum = 0;
    for (int i = 0; i < round_trips; ++i) {
        ping.push(i);
        int v = 0;
        pong.pop(v);
        sum += v;
    }
    echo.join();
    return sum;
}

// create_join() launches `tasks` fibers one after another, joining each, and returns the sum of
// their results.
inline long create_join(int tasks) {
    long sum = 0;
    for (int i = 0; i < tasks; ++i) {
        int result = 0;
        boost::fibers::fiber([&result, i] { result = i; }).join();
        sum += result;
    }
    return sum;
}

// skynet() is one node of skynet: a 10-ary tree of fibers whose leaves return their ordinal.
inline long skynet(long ordinal, long size) {
    if (size == 1) return ordinal;
    const long child_size = size / 10;
    long results[10] = {};
    boost::fibers::fiber children[10];
    for (long i = 0; i < 10; ++i)
        children[i] = boost::fibers::fiber([&results, ordinal, i, child_size] {
            results[i] = skynet(ordinal + i * child_size, child_size);
        });
    long sum = 0;
    for (long i = 0; i < 10; ++i) {
        children[i].join();
        sum += results[i];
    }
    return sum;
}

}  // namespace boost_bench
