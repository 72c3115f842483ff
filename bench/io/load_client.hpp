#pragma once
// load_client: a closed-loop load generator. It opens N connections to a server; each sends a
// request, waits for the whole reply, and sends the next at once. One thread, one hand-written
// edge-triggered epoll loop, so its own cost per request is small and steady.

#include "protocol.hpp"

#include <chrono>
#include <cstdint>
#include <ctime>
#include <vector>

namespace io_bench {

// load_options says what to load and for how long.
struct load_options {
    std::uint16_t port = 0;  // on 127.0.0.1
    workload work = workload::echo;
    int connections = 1;
    std::chrono::nanoseconds warmup{};  // run, then forget, this long before the window
    std::chrono::nanoseconds window{};  // the measured window
    clockid_t server_clock{};           // the server thread's CPU-time clock
};

// cpu_times are CPU times (user + system) in seconds, sampled together at one instant.
struct cpu_times {
    double process = 0;        // every thread of the process
    double client = 0;         // the load client's thread
    double server_thread = 0;  // the server's thread
};

// load_result is what one window measured.
struct load_result {
    std::uint64_t requests = 0;  // replies completed inside the window
    double seconds = 0;          // the window's length as measured (wall clock)
    cpu_times cpu;               // spent inside the window
    std::vector<std::uint32_t> latencies_ns;  // one per request in the window, request sent to
                                              // reply complete, in completion order
    std::uint64_t total_requests = 0;         // including the warm-up
    // The window's ends on the system clock (seconds since 1970), to match against traces
    // such as strace -ttt's.
    double window_start_unix = 0;
    double window_end_unix = 0;
};

// run_load() runs the load on the calling thread: connect, warm up, measure, close every
// connection. Exits with a message if the server misbehaves (a wrong reply, a closed
// connection).
load_result run_load(const load_options& options);

}  // namespace io_bench
