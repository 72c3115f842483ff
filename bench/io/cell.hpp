#pragma once
// cell: one measurement of io_bench, a server under one workload and connection count in one
// repetition, and the figures the tables derive from it.

#include "load_client.hpp"
#include "protocol.hpp"

#include <string_view>
#include <sys/types.h>

namespace io_bench {

struct cell {
    int repetition = 0;
    workload work = workload::echo;
    int connections = 0;
    std::string_view server;
    load_result load;  // its latencies are dropped once p50_ns and p99_ns are taken
    double p50_ns = 0;
    double p99_ns = 0;
    pid_t server_thread_id = 0;

    double requests_per_second() const { return double(load.requests) / load.seconds; }
    // server_cpu() is the CPU time of every thread but the client's over the window: the
    // server's thread, and any thread it started.
    double server_cpu() const { return load.cpu.process - load.cpu.client; }
    double cpu_per_request() const { return server_cpu() / double(load.requests); }
};

}  // namespace io_bench
