// threads_bench: one scheduler workload at a given number of worker threads, spindle's or
// Boost.Fiber's, measured in this process: wall time, CPU time (every thread of the process) and
// peak RSS. scripts/bench-threads runs each figure in a fresh process (Boost.Fiber's
// work_stealing can be set up once per process, and the peak RSS is a high-water mark).
//
//   threads_bench PEER THREADS WORKLOAD [ARG...]
//   PEER      spindle | boost_rr (round_robin, 1 thread) | boost_ws (work_stealing, idle
//             threads sleeping, as its documentation recommends)
//   WORKLOAD  skynet LEAVES          a 10-ary tree of tasks, leaves return their ordinal
//             yield TASKS YIELDS     TASKS tasks each yielding YIELDS times
//             ping_pong PAIRS TRIPS  PAIRS independent pairs, TRIPS round trips each, over
//                                    unbuffered channels
//             create_join TASKS      spawn and join one task at a time
//             fairness SECONDS       one task burns the CPU in 5 ms bursts and yields between
//                                    them while four pairs ping-pong: the pairs' round trips
//                                    (p50, p99, max) and the bursts the busy task got
//
// Prints one line of key=value fields; exit status 3 when the peer cannot run at that thread
// count (spindle before worker threads, round_robin above one).

#include "../scheduler/boost_workloads.hpp"
#include "../scheduler/scheduler_workloads.hpp"

#include <spindle/channel.hpp>
#include <spindle/errors.hpp>
#include <spindle/scheduler.hpp>

#include <boost/fiber/all.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

constexpr auto burst = std::chrono::milliseconds(5);
constexpr int fairness_pairs = 4;

// outcome is what a workload reports besides the process's times.
struct outcome {
    double operations = 0;  // what "per op" divides by
    long check = 0;         // a sum the caller can verify, or 0
    std::string extra;      // more key=value fields
};

double cpu_seconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

// peak_rss_kib() is the process's peak resident set (VmHWM): not getrusage()'s ru_maxrss, which
// keeps the high-water mark of the process image before exec (the Python that started it).
long peak_rss_kib() {
    std::FILE* status = std::fopen("/proc/self/status", "r");
    if (!status) return -1;
    char line[256];
    long kib = -1;
    while (std::fgets(line, sizeof line, status))
        if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    std::fclose(status);
    return kib;
}

double tasks_in_tree(long leaves) {
    double total = 0;
    for (long level = leaves; level >= 1; level /= 10) total += double(level);
    return total;
}

// span_of() is `seconds` as the clock's duration.
clock_type::duration span_of(double seconds) {
    return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
}

// burn() keeps the CPU busy for `span` without giving it up.
void burn(clock_type::duration span) {
    const auto until = clock_type::now() + span;
    while (clock_type::now() < until) {
    }
}

// latencies() formats the round trips' p50, p99 and maximum in microseconds.
std::string latencies(std::vector<double>& micros) {
    if (micros.empty()) return "round_trips=0";
    std::sort(micros.begin(), micros.end());
    const auto at = [&micros](double q) {
        return micros[std::min(micros.size() - 1, static_cast<std::size_t>(q * double(micros.size())))];
    };
    char text[160];
    std::snprintf(text, sizeof text, "round_trips=%zu p50_us=%.1f p99_us=%.1f max_us=%.1f",
                  micros.size(), at(0.50), at(0.99), micros.back());
    return text;
}

// ---- spindle ----

long spindle_ping_pong_pairs(int pairs, int trips, spindle::scheduler_options options) {
    return spindle::run([pairs, trips] {
        std::vector<spindle::task<long>> drivers;
        for (int p = 0; p < pairs; ++p)
            drivers.push_back(
                spindle::spawn([trips] { return spindle_bench::ping_pong_pair(0, trips); }));
        long total = 0;
        for (long sum : spindle::gather(std::move(drivers))) total += sum;
        return total;
    }, options);
}

outcome spindle_fairness(double seconds, spindle::scheduler_options options) {
    std::vector<double> micros;
    long bursts = 0;
    spindle::run([&] {
        std::atomic<bool> stop{false};
        auto busy = spindle::spawn([&] {
            while (!stop.load(std::memory_order_relaxed)) {
                burn(burst);
                ++bursts;
                spindle::this_fiber::yield();
            }
        });
        std::vector<std::vector<double>> per_pair(fairness_pairs);
        std::vector<spindle::task<void>> pairs;
        for (int p = 0; p < fairness_pairs; ++p)
            pairs.push_back(spindle::spawn([&, p] {
                spindle::channel<int> ping(0), pong(0);
                auto echo = spindle::spawn([&] {
                    while (std::optional<int> v = ping.receive()) pong.send(*v);
                });
                while (!stop.load(std::memory_order_relaxed)) {
                    const auto sent = clock_type::now();
                    ping.send(1);
                    (void)pong.receive();
                    per_pair[p].push_back(
                        std::chrono::duration<double, std::micro>(clock_type::now() - sent).count());
                }
                ping.close();
                echo.join();
            }));
        spindle::this_fiber::sleep_for(span_of(seconds));
        stop = true;
        spindle::gather(std::move(pairs));
        busy.join();
        for (auto& pair : per_pair) micros.insert(micros.end(), pair.begin(), pair.end());
    }, options);
    outcome result;
    result.operations = double(micros.size());
    result.extra = latencies(micros) + " bursts=" + std::to_string(bursts);
    return result;
}

outcome run_spindle(unsigned threads, const std::string& workload, long a, long b, double seconds) {
    spindle::scheduler_options options;
    options.threads = threads;
    outcome result;
    if (workload == "skynet") {
        result.check = spindle::run([a] { return spindle_bench::skynet(0, a); }, options);
        result.operations = tasks_in_tree(a);
    } else if (workload == "yield") {
        spindle_bench::yield_rounds(static_cast<int>(a), static_cast<int>(b), options);
        result.operations = double(a) * double(b);
    } else if (workload == "ping_pong") {
        result.check = spindle_ping_pong_pairs(static_cast<int>(a), static_cast<int>(b), options);
        result.operations = double(a) * double(b);
    } else if (workload == "create_join") {
        result.check = spindle_bench::create_join(static_cast<int>(a), options);
        result.operations = double(a);
    } else if (workload == "fairness") {
        result = spindle_fairness(seconds, options);
    }
    return result;
}

// ---- Boost.Fiber ----

// boost_pool runs `work` on the calling thread's main fiber with `threads` threads sharing the
// fibers through work_stealing: each thread installs the algorithm (its constructor waits for all
// of them), and the helper threads park their main fiber until the work is done.
template <class F>
outcome boost_pool(unsigned threads, F work) {
    struct pool_state {
        boost::fibers::mutex mutex;
        boost::fibers::condition_variable_any done_changed;
        bool done = false;
    };
    auto state = std::make_shared<pool_state>();
    std::vector<std::thread> helpers;
    for (unsigned i = 1; i < threads; ++i)
        helpers.emplace_back([threads, state] {
            boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(threads,
                                                                                       true);
            std::unique_lock<boost::fibers::mutex> lock(state->mutex);
            state->done_changed.wait(lock, [&state] { return state->done; });
        });
    boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(threads, true);
    outcome result = work();
    {
        std::unique_lock<boost::fibers::mutex> lock(state->mutex);
        state->done = true;
    }
    state->done_changed.notify_all();
    for (auto& helper : helpers) helper.join();
    return result;
}

long boost_ping_pong_pairs(int pairs, int trips) {
    std::vector<long> sums(static_cast<std::size_t>(pairs));
    std::vector<boost::fibers::fiber> drivers;
    for (int p = 0; p < pairs; ++p)
        drivers.emplace_back([&sums, p, trips] {
            boost::fibers::unbuffered_channel<int> ping, pong;
            sums[static_cast<std::size_t>(p)] = boost_bench::ping_pong(ping, pong, trips);
        });
    for (auto& d : drivers) d.join();
    long total = 0;
    for (long s : sums) total += s;
    return total;
}

outcome boost_fairness(double seconds) {
    std::atomic<bool> stop{false};
    std::atomic<long> bursts{0};
    boost::fibers::fiber busy([&] {
        while (!stop.load(std::memory_order_relaxed)) {
            burn(burst);
            ++bursts;
            boost::this_fiber::yield();
        }
    });
    std::vector<std::vector<double>> per_pair(fairness_pairs);
    std::vector<boost::fibers::fiber> pairs;
    for (int p = 0; p < fairness_pairs; ++p)
        pairs.emplace_back([&, p] {
            boost::fibers::unbuffered_channel<int> ping, pong;
            boost::fibers::fiber echo([&] {
                int v = 0;
                while (ping.pop(v) == boost::fibers::channel_op_status::success) pong.push(v);
            });
            while (!stop.load(std::memory_order_relaxed)) {
                const auto sent = clock_type::now();
                ping.push(1);
                int v = 0;
                pong.pop(v);
                per_pair[static_cast<std::size_t>(p)].push_back(
                    std::chrono::duration<double, std::micro>(clock_type::now() - sent).count());
            }
            ping.close();
            echo.join();
        });
    boost::this_fiber::sleep_for(span_of(seconds));
    stop = true;
    for (auto& pair : pairs) pair.join();
    busy.join();
    std::vector<double> micros;
    for (auto& pair : per_pair) micros.insert(micros.end(), pair.begin(), pair.end());
    outcome result;
    result.operations = double(micros.size());
    result.extra = latencies(micros) + " bursts=" + std::to_string(bursts.load());
    return result;
}

outcome boost_workload(const std::string& workload, long a, long b, double seconds) {
    outcome result;
    if (workload == "skynet") {
        result.check = boost_bench::skynet(0, a);
        result.operations = tasks_in_tree(a);
    } else if (workload == "yield") {
        boost_bench::yield_rounds(static_cast<int>(a), static_cast<int>(b));
        result.operations = double(a) * double(b);
    } else if (workload == "ping_pong") {
        result.check = boost_ping_pong_pairs(static_cast<int>(a), static_cast<int>(b));
        result.operations = double(a) * double(b);
    } else if (workload == "create_join") {
        result.check = boost_bench::create_join(static_cast<int>(a));
        result.operations = double(a);
    } else if (workload == "fairness") {
        result = boost_fairness(seconds);
    }
    return result;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s spindle|boost_rr|boost_ws THREADS WORKLOAD [ARG...]\n",
                     argv[0]);
        return 2;
    }
    const std::string peer = argv[1];
    const unsigned threads = static_cast<unsigned>(std::atol(argv[2]));
    const std::string workload = argv[3];
    const long a = argc > 4 ? std::atol(argv[4]) : 0;
    const long b = argc > 5 ? std::atol(argv[5]) : 0;
    const double seconds = argc > 4 ? std::atof(argv[4]) : 0;
    if (workload != "skynet" && workload != "yield" && workload != "ping_pong" &&
        workload != "create_join" && workload != "fairness") {
        std::fprintf(stderr, "unknown workload %s\n", workload.c_str());
        return 2;
    }
    const double cpu_before = cpu_seconds();
    const auto started = clock_type::now();
    outcome result;
    if (peer == "spindle") {
        try {
            result = run_spindle(threads, workload, a, b, seconds);
        } catch (const spindle::fiber_error& e) {
            std::printf("unsupported: %s\n", e.what());
            return 3;
        }
    } else if (peer == "boost_rr") {
        if (threads != 1) {
            std::printf("unsupported: round_robin runs on one thread\n");
            return 3;
        }
        result = boost_workload(workload, a, b, seconds);
    } else if (peer == "boost_ws") {
        result = boost_pool(threads, [&] { return boost_workload(workload, a, b, seconds); });
    } else {
        std::fprintf(stderr, "unknown peer %s\n", peer.c_str());
        return 2;
    }
    const double wall = std::chrono::duration<double>(clock_type::now() - started).count();
    const double cpu = cpu_seconds() - cpu_before;
    std::printf("peer=%s threads=%u workload=%s operations=%.0f check=%ld wall_s=%.6f cpu_s=%.6f "
                "wall_per_op_ns=%.1f cpu_per_op_ns=%.1f peak_rss_kib=%ld %s\n",
                peer.c_str(), threads, workload.c_str(), result.operations, result.check, wall,
                cpu, wall / result.operations * 1e9, cpu / result.operations * 1e9,
                peak_rss_kib(), result.extra.c_str());
    return 0;
}
