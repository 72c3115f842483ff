#pragma once
// report: io_bench's output, the markdown tables and the JSON record of every cell.

#include "cell.hpp"
#include "protocol.hpp"

#include <span>
#include <string>
#include <string_view>

namespace io_bench {

// print_tables() prints one markdown table per workload: a row per connection count and server
// (in the order given), with medians over the repetitions, their range, and the server CPU per
// request relative to the epoll and Asio servers (medians of per-repetition ratios).
void print_tables(std::span<const cell> cells, std::span<const workload> workloads,
                  std::span<const int> connections, std::span<const std::string_view> servers);

// run_settings are the settings a JSON record notes next to its cells.
struct run_settings {
    double warmup_seconds;
    double window_seconds;
    int server_cpu;  // -1: unpinned
    int client_cpu;
};

// write_json() writes the settings and every cell to `path`; exits with a message on failure.
void write_json(const std::string& path, const run_settings& settings,
                std::span<const cell> cells);

}  // namespace io_bench
