#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <tuple>
#include <vector>

namespace io_bench {
namespace {

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::string readable_time(double seconds) {
    char text[32];
    if (seconds >= 1e-3)
        std::snprintf(text, sizeof text, "%.2f ms", seconds * 1e3);
    else if (seconds >= 1e-6)
        std::snprintf(text, sizeof text, "%.2f us", seconds * 1e6);
    else
        std::snprintf(text, sizeof text, "%.0f ns", seconds * 1e9);
    return text;
}

std::string readable_rate(double per_second) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1fk", per_second / 1e3);
    return text;
}

// with_range() is "median (lowest–highest)", or the one value.
std::string with_range(const std::vector<double>& values, std::string (*format)(double)) {
    if (values.size() == 1) return format(values[0]);
    const auto [low, high] = std::minmax_element(values.begin(), values.end());
    return format(median(values)) + " (" + format(*low) + "–" + format(*high) + ")";
}

std::string ratio(const std::vector<double>& values) {
    if (values.empty()) return "–";
    char text[32];
    std::snprintf(text, sizeof text, "%.2fx", median(values));
    return text;
}

// row is one table row's figures, one entry per repetition.
struct row {
    std::vector<double> rate, p50, p99, cpu_per_request, versus_epoll, versus_asio;
};

}  // namespace

void print_tables(std::span<const cell> cells, std::span<const workload> workloads,
                  std::span<const int> connections, std::span<const std::string_view> servers) {
    // A cell's ratios are against the epoll and Asio cells of the same repetition, workload and
    // connection count, which ran next to it.
    std::map<std::tuple<int, workload, int, std::string_view>, const cell*> index;
    for (const cell& c : cells) index[{c.repetition, c.work, c.connections, c.server}] = &c;
    for (workload w : workloads) {
        std::printf("\n%.*s: server CPU per request is user + system time over the window\n\n",
                    int(workload_name(w).size()), workload_name(w).data());
        std::printf("| connections | server | requests/s | p50 latency | p99 latency | "
                    "server CPU / request | CPU × epoll | CPU × Asio |\n");
        std::printf("|---:|---|---:|---:|---:|---:|---:|---:|\n");
        for (int n : connections) {
            for (std::string_view server : servers) {
                row r;
                for (const cell& c : cells) {
                    if (c.work != w || c.connections != n || c.server != server) continue;
                    r.rate.push_back(c.requests_per_second());
                    r.p50.push_back(c.p50_ns * 1e-9);
                    r.p99.push_back(c.p99_ns * 1e-9);
                    r.cpu_per_request.push_back(c.cpu_per_request());
                    if (auto e = index.find({c.repetition, w, n, "epoll"}); e != index.end())
                        r.versus_epoll.push_back(c.cpu_per_request() / e->second->cpu_per_request());
                    if (auto a = index.find({c.repetition, w, n, "asio"}); a != index.end())
                        r.versus_asio.push_back(c.cpu_per_request() / a->second->cpu_per_request());
                }
                if (r.rate.empty()) continue;
                std::printf("| %d | %.*s | %s | %s | %s | %s | %s | %s |\n", n, int(server.size()),
                            server.data(), with_range(r.rate, readable_rate).c_str(),
                            readable_time(median(r.p50)).c_str(),
                            readable_time(median(r.p99)).c_str(),
                            with_range(r.cpu_per_request, readable_time).c_str(),
                            ratio(r.versus_epoll).c_str(), ratio(r.versus_asio).c_str());
            }
        }
    }
    std::fflush(stdout);
}

void write_json(const std::string& path, const run_settings& settings,
                std::span<const cell> cells) {
    std::FILE* out = std::fopen(path.c_str(), "w");
    if (!out) {
        std::perror(path.c_str());
        std::exit(1);
    }
    std::fprintf(out,
                 "{\n  \"warmup_seconds\": %g,\n  \"window_seconds\": %g,\n  \"server_cpu\": %d,\n"
                 "  \"client_cpu\": %d,\n  \"cells\": [\n",
                 settings.warmup_seconds, settings.window_seconds, settings.server_cpu,
                 settings.client_cpu);
    for (std::size_t i = 0; i < cells.size(); ++i) {
        const cell& c = cells[i];
        std::fprintf(out,
                     "    {\"repetition\": %d, \"workload\": \"%.*s\", \"connections\": %d, "
                     "\"server\": \"%.*s\", \"requests\": %llu, \"seconds\": %.6f, "
                     "\"requests_per_second\": %.1f, \"p50_ns\": %.0f, \"p99_ns\": %.0f, "
                     "\"server_cpu_seconds\": %.6f, \"server_thread_cpu_seconds\": %.6f, "
                     "\"client_cpu_seconds\": %.6f, \"server_cpu_per_request_ns\": %.1f, "
                     "\"total_requests\": %llu, \"server_thread_id\": %d, "
                     "\"window_start_unix\": %.6f, \"window_end_unix\": %.6f}%s\n",
                     c.repetition, int(workload_name(c.work).size()), workload_name(c.work).data(),
                     c.connections, int(c.server.size()), c.server.data(),
                     static_cast<unsigned long long>(c.load.requests), c.load.seconds,
                     c.requests_per_second(), c.p50_ns, c.p99_ns, c.server_cpu(),
                     c.load.cpu.server_thread, c.load.cpu.client, c.cpu_per_request() * 1e9,
                     static_cast<unsigned long long>(c.load.total_requests),
                     int(c.server_thread_id), c.load.window_start_unix, c.load.window_end_unix,
                     i + 1 < cells.size() ? "," : "");
    }
    std::fprintf(out, "  ]\n}\n");
    if (std::fclose(out) != 0) {
        std::perror(path.c_str());
        std::exit(1);
    }
}

}  // namespace io_bench
