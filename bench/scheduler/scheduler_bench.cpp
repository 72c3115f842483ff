// The scheduler against Boost.Fiber's single-threaded round-robin scheduler, in the same run.
//
// Each benchmark runs a whole workload per iteration and reports the time per operation in the
// `per_op` counter (seconds, printed with an SI prefix). Boost.Fiber is used the way its
// documentation shows: fibers launched from the thread's main fiber, its default round-robin
// algorithm and default stack allocator, its buffered and unbuffered channels.
//
// `scheduler_bench --skynet=<spindle|boost>:<leaves>` instead runs one skynet and prints its
// time and the process's peak RSS: run it in a fresh process per measurement
// (scripts/bench-scheduler does).

#include "boost_workloads.hpp"
#include "scheduler_workloads.hpp"


#include <benchmark/benchmark.h>
#include <boost/fiber/all.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int yield_tasks = 1000;
constexpr int yields_per_task = 1000;
constexpr int ping_pong_round_trips = 100000;
constexpr int create_join_tasks = 100000;

void report_per_op(benchmark::State& state, double operations_per_iteration) {
    state.counters["per_op"] = benchmark::Counter(
        operations_per_iteration,
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// ---- yield: 1,000 tasks each yielding 1,000 times ----

void yield_spindle(benchmark::State& state) {
    for (auto _ : state) {
        spindle_bench::yield_rounds(yield_tasks, yields_per_task);
    }
    report_per_op(state, double(yield_tasks) * yields_per_task);
}

void yield_boost(benchmark::State& state) {
    for (auto _ : state) boost_bench::yield_rounds(yield_tasks, yields_per_task);
    report_per_op(state, double(yield_tasks) * yields_per_task);
}

// ---- channel ping-pong between two tasks: per message ----

void ping_pong_spindle(benchmark::State& state, std::size_t capacity) {
    for (auto _ : state) {
        benchmark::DoNotOptimize(spindle_bench::ping_pong(capacity, ping_pong_round_trips));
    }
    report_per_op(state, 2.0 * ping_pong_round_trips);
}

void ping_pong_bounded_spindle(benchmark::State& state) { ping_pong_spindle(state, 1); }
void ping_pong_unbuffered_spindle(benchmark::State& state) { ping_pong_spindle(state, 0); }

template <class Channel>
void ping_pong_boost(benchmark::State& state, Channel& ping, Channel& pong) {
    for (auto _ : state)
        benchmark::DoNotOptimize(boost_bench::ping_pong(ping, pong, ping_pong_round_trips));
    report_per_op(state, 2.0 * ping_pong_round_trips);
}

void ping_pong_bounded_boost(benchmark::State& state) {
    // Boost's buffered_channel of capacity 2 holds one value, like spindle's channel(1).
    boost::fibers::buffered_channel<int> ping(2), pong(2);
    ping_pong_boost(state, ping, pong);
}

void ping_pong_unbuffered_boost(benchmark::State& state) {
    boost::fibers::unbuffered_channel<int> ping, pong;
    ping_pong_boost(state, ping, pong);
}

// ---- create + join of a task ----

void create_join_spindle(benchmark::State& state) {
    for (auto _ : state) {
        benchmark::DoNotOptimize(spindle_bench::create_join(create_join_tasks));
    }
    report_per_op(state, create_join_tasks);
}

void create_join_boost(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(boost_bench::create_join(create_join_tasks));
    report_per_op(state, create_join_tasks);
}

// ---- skynet: a 10-ary tree of tasks; leaves return their ordinal, sums go up ----

// tasks_in_tree() counts every task of a skynet with `leaves` leaves (the inner nodes too).
double tasks_in_tree(long leaves) {
    double total = 0;
    for (long level = leaves; level >= 1; level /= 10) total += double(level);
    return total;
}

void skynet_spindle_bench(benchmark::State& state) {
    const long leaves = state.range(0);
    for (auto _ : state) {
        const long sum = spindle::run([leaves] { return spindle_bench::skynet(0, leaves); });
        if (sum != leaves * (leaves - 1) / 2) state.SkipWithError("wrong sum");
    }
    report_per_op(state, tasks_in_tree(leaves));
}

void skynet_boost_bench(benchmark::State& state) {
    const long leaves = state.range(0);
    for (auto _ : state) {
        const long sum = boost_bench::skynet(0, leaves);
        if (sum != leaves * (leaves - 1) / 2) state.SkipWithError("wrong sum");
    }
    report_per_op(state, tasks_in_tree(leaves));
}

BENCHMARK(yield_spindle)->Unit(benchmark::kMillisecond);
BENCHMARK(yield_boost)->Unit(benchmark::kMillisecond);
BENCHMARK(ping_pong_bounded_spindle)->Unit(benchmark::kMillisecond);
BENCHMARK(ping_pong_bounded_boost)->Unit(benchmark::kMillisecond);
BENCHMARK(ping_pong_unbuffered_spindle)->Unit(benchmark::kMillisecond);
BENCHMARK(ping_pong_unbuffered_boost)->Unit(benchmark::kMillisecond);
BENCHMARK(create_join_spindle)->Unit(benchmark::kMillisecond);
BENCHMARK(create_join_boost)->Unit(benchmark::kMillisecond);
// Boost.Fiber runs skynet breadth first with every fiber alive at once: at 1,000,000 leaves it
// takes tens of seconds and gigabytes, so the same-size comparison is made at 10,000 leaves.
BENCHMARK(skynet_spindle_bench)->Arg(10000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(skynet_boost_bench)->Arg(10000)->Unit(benchmark::kMillisecond);

// run_skynet_once() is the --skynet mode: one skynet, its time and the peak RSS.
int run_skynet_once(const char* spec) {
    const char* colon = std::strchr(spec, ':');
    if (!colon) return 2;
    const std::string which(spec, colon);
    const long leaves = std::atol(colon + 1);
    const auto started = std::chrono::steady_clock::now();
    long sum = 0;
    if (which == "spindle")
        sum = spindle::run([leaves] { return spindle_bench::skynet(0, leaves); });
    else if (which == "boost")
        sum = boost_bench::skynet(0, leaves);
    else
        return 2;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    std::printf("skynet %s leaves=%ld tasks=%.0f sum=%ld seconds=%.4f peak_rss_kib=%ld\n",
                which.c_str(), leaves, tasks_in_tree(leaves), sum, seconds, usage.ru_maxrss);
    return sum == leaves * (leaves - 1) / 2 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], "--skynet=", 9) == 0) return run_skynet_once(argv[i] + 9);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
