// scheduler_count WORKLOAD SIZE: runs one scheduler workload of SIZE operations, for callgrind.
// Instructions per operation = (count at 2 * SIZE - count at SIZE) / SIZE, so start-up cancels
// (scripts/lib/callgrind.sh, or by hand).
//   yield N          100 tasks yielding N / 100 times each
//   ping_pong N      N messages over unbuffered channels (N / 2 round trips)
//   create_join N    N tasks spawned and joined one by one
//   skynet N         a skynet of N leaves (a power of 10)

#include "scheduler_workloads.hpp"

#include <cstdio>
#include <cstdlib>
#include <string_view>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s yield|ping_pong|create_join|skynet SIZE\n", argv[0]);
        return 2;
    }
    const std::string_view workload = argv[1];
    const long size = std::atol(argv[2]);
    long result = 0;
    if (workload == "yield") {
        spindle_bench::yield_rounds(100, static_cast<int>(size / 100));
    } else if (workload == "ping_pong") {
        result = spindle_bench::ping_pong(0, static_cast<int>(size / 2));
    } else if (workload == "create_join") {
        result = spindle_bench::create_join(static_cast<int>(size));
    } else if (workload == "skynet") {
        result = spindle::run([size] { return spindle_bench::skynet(0, size); });
    } else {
        std::fprintf(stderr, "unknown workload %.*s\n", static_cast<int>(workload.size()),
                     workload.data());
        return 2;
    }
    std::printf("%ld\n", result);
    return 0;
}
