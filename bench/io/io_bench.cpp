// io_bench: echo and HTTP/1.1 keep-alive servers on spindle tasks, on Boost.Asio's spawn and on
// a hand-written edge-triggered epoll loop (the ceiling; epoll_eagain is the same loop making the
// read that fails with EAGAIN), under one closed-loop load client.
//
// Every measurement ("cell") starts a fresh server on its own thread pinned to one core and runs
// the client on a thread pinned to another; the client warms up, then measures a window:
// requests/s, the latency of each request, and the server's CPU time (user + system: the whole
// process's CPU time minus the client thread's, so any thread the server starts is counted).
// The cells run interleaved: for each repetition, every workload and connection count, every
// server back to back (their order rotates between repetitions), so that a machine's drift
// touches all servers alike. Figures are medians over the repetitions with their range; the
// ratios are medians of per-repetition ratios between cells run back to back. With one CPU
// available the threads are not pinned (the output says so).
//
// usage: io_bench [--servers=epoll,epoll_eagain,asio,spindle] [--workloads=echo,http]
//                 [--connections=1,16,256] [--repetitions=3] [--warmup=0.25] [--window=1]
//                 [--server-cpu=N --client-cpu=N] [--json=FILE] [--quiet]

#include "affinity.hpp"
#include "cell.hpp"
#include "load_client.hpp"
#include "protocol.hpp"
#include "report.hpp"
#include "server.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace io_bench {

std::span<const server_kind> server_kinds() {
    static const server_kind kinds[] = {
        {"epoll", serve_epoll},
        {"epoll_eagain", serve_epoll_eagain},
#if IO_BENCH_HAS_ASIO
        {"asio", serve_asio},
#endif
        {"spindle", serve_spindle},
    };
    return kinds;
}

namespace {

struct options {
    std::vector<server_kind> servers;
    std::vector<workload> workloads{workload::echo, workload::http};
    std::vector<int> connections{1, 16, 256};
    int repetitions = 3;
    double warmup = 0.25;
    double window = 1.0;
    int server_cpu = -2;  // -2: pick; -1: unpinned
    int client_cpu = -2;
    std::string json;
    bool quiet = false;
};

// usage() prints the usage, after `complaint` if there is one, and exits (2 after a complaint).
[[noreturn]] void usage(const char* complaint) {
    std::string servers;
    for (const server_kind& kind : server_kinds()) {
        if (!servers.empty()) servers += ',';
        servers += kind.name;
    }
    if (complaint) std::fprintf(stderr, "io_bench: %s\n", complaint);
    std::fprintf(complaint ? stderr : stdout,
                 "usage: io_bench [--servers=%s] [--workloads=echo,http] "
                 "[--connections=1,16,256] [--repetitions=3] [--warmup=0.25] [--window=1] "
                 "[--server-cpu=N] [--client-cpu=N] [--json=FILE] [--quiet]\n"
                 "(defaults shown; durations in seconds; the CPUs default to the first two this "
                 "process may use)\n",
                 servers.c_str());
    std::exit(complaint ? 2 : 0);
}

std::vector<std::string> split(std::string_view list) {
    std::vector<std::string> items;
    while (!list.empty()) {
        const std::size_t comma = list.find(',');
        items.emplace_back(list.substr(0, comma));
        list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
    }
    return items;
}

options parse(int argc, char** argv) {
    options o;
    o.servers.assign(server_kinds().begin(), server_kinds().end());
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        const std::size_t equals = arg.find('=');
        const std::string_view name = arg.substr(0, equals);
        const std::string value(equals == std::string_view::npos ? "" : arg.substr(equals + 1));
        if (name == "--help") {
            usage(nullptr);
        } else if (name == "--quiet") {
            o.quiet = true;
        } else if (equals == std::string_view::npos) {
            usage(("unknown argument " + std::string(arg)).c_str());
        } else if (name == "--servers") {
            o.servers.clear();
            for (const std::string& s : split(value)) {
                auto kinds = server_kinds();
                auto found = std::find_if(kinds.begin(), kinds.end(),
                                          [&](const server_kind& k) { return k.name == s; });
                if (found == kinds.end()) usage(("no server " + s + " in this build").c_str());
                o.servers.push_back(*found);
            }
        } else if (name == "--workloads") {
            o.workloads.clear();
            for (const std::string& w : split(value)) {
                if (w == "echo") o.workloads.push_back(workload::echo);
                else if (w == "http") o.workloads.push_back(workload::http);
                else usage(("unknown workload " + w).c_str());
            }
        } else if (name == "--connections") {
            o.connections.clear();
            for (const std::string& n : split(value)) o.connections.push_back(std::atoi(n.c_str()));
        } else if (name == "--repetitions") {
            o.repetitions = std::atoi(value.c_str());
        } else if (name == "--warmup") {
            o.warmup = std::atof(value.c_str());
        } else if (name == "--window") {
            o.window = std::atof(value.c_str());
        } else if (name == "--server-cpu") {
            o.server_cpu = std::atoi(value.c_str());
        } else if (name == "--client-cpu") {
            o.client_cpu = std::atoi(value.c_str());
        } else if (name == "--json") {
            o.json = value;
        } else {
            usage(("unknown option " + std::string(name)).c_str());
        }
    }
    if (o.servers.empty() || o.workloads.empty() || o.connections.empty()) usage("nothing to run");
    for (int n : o.connections)
        if (n < 1) usage("connection counts must be positive");
    if (o.repetitions < 1 || o.window <= 0 || o.warmup < 0) usage("bad repetitions or durations");
    return o;
}

// percentile() is the q-quantile (0..1) of `values` (reordered), by the nearest rank.
double percentile(std::vector<std::uint32_t>& values, double q) {
    if (values.empty()) return 0;
    const std::size_t rank = std::min(values.size() - 1, std::size_t(q * double(values.size())));
    std::nth_element(values.begin(), values.begin() + std::ptrdiff_t(rank), values.end());
    return values[rank];
}

cell measure(const options& o, const server_kind& kind, workload w, int connections,
             int repetition) {
    cell c{repetition, w, connections, kind.name, {}};
    {
        running_server server(kind.serve, w, o.server_cpu);
        c.server_thread_id = server.thread_id();
        load_options load;
        load.port = server.port();
        load.work = w;
        load.connections = connections;
        load.warmup = std::chrono::nanoseconds(std::int64_t(o.warmup * 1e9));
        load.window = std::chrono::nanoseconds(std::int64_t(o.window * 1e9));
        load.server_clock = server.cpu_clock();
        std::thread client([&] {
            pin_this_thread(o.client_cpu);
            c.load = run_load(load);  // closes its connections before it returns
        });
        client.join();
    }  // the server stops here
    if (c.load.requests == 0) {
        std::fprintf(stderr, "io_bench: %.*s completed no request in the window\n",
                     int(kind.name.size()), kind.name.data());
        std::exit(1);
    }
    c.p50_ns = percentile(c.load.latencies_ns, 0.50);
    c.p99_ns = percentile(c.load.latencies_ns, 0.99);
    c.load.latencies_ns = {};
    return c;
}

void choose_cpus(options& o) {
    const std::vector<int> cpus = allowed_cpus();
    if (o.server_cpu == -2) o.server_cpu = cpus.size() >= 2 ? cpus[0] : -1;
    if (o.client_cpu == -2) o.client_cpu = cpus.size() >= 2 ? cpus[1] : -1;
}

}  // namespace
}  // namespace io_bench

int main(int argc, char** argv) {
    using namespace io_bench;
    std::signal(SIGPIPE, SIG_IGN);  // a reply to a client that has just closed is an EPIPE
    options o = parse(argc, argv);
    choose_cpus(o);
    if (o.server_cpu < 0 || o.client_cpu < 0)
        std::printf("threads not pinned (one CPU available): server and client share it\n");
    else
        std::printf("server thread pinned to CPU %d, load client to CPU %d\n", o.server_cpu,
                    o.client_cpu);
    std::printf("%d repetitions, %.2f s warm-up + %.2f s window per cell, interleaved\n",
                o.repetitions, o.warmup, o.window);
    std::fflush(stdout);

    std::vector<cell> cells;
    const std::size_t kinds = o.servers.size();
    for (int r = 0; r < o.repetitions; ++r)
        for (workload w : o.workloads)
            for (int n : o.connections)
                for (std::size_t k = 0; k < kinds; ++k) {
                    // The order rotates between repetitions: no server always runs first.
                    const server_kind& kind = o.servers[(k + std::size_t(r)) % kinds];
                    cells.push_back(measure(o, kind, w, n, r));
                    const cell& c = cells.back();
                    if (!o.quiet)
                        std::fprintf(stderr,
                                     "rep %d %.*s %4d %-12.*s %9.0f req/s  server CPU %.2f "
                                     "us/req  (server thread %d, %llu requests in all)\n",
                                     r + 1, int(workload_name(w).size()), workload_name(w).data(),
                                     n, int(kind.name.size()), kind.name.data(),
                                     c.requests_per_second(), c.cpu_per_request() * 1e6,
                                     int(c.server_thread_id),
                                     static_cast<unsigned long long>(c.load.total_requests));
                }
    std::vector<std::string_view> names;
    for (const server_kind& kind : o.servers) names.push_back(kind.name);
    print_tables(cells, o.workloads, o.connections, names);
    if (!o.json.empty())
        write_json(o.json, {o.warmup, o.window, o.server_cpu, o.client_cpu}, cells);
    return 0;
}
