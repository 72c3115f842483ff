// generator_count WORKLOAD PEER SIZE REPEATS: runs one generator workload REPEATS times, for
// callgrind. Instructions per element = (count at REPEATS=2 - count at REPEATS=1) / elements,
// so start-up and building the tree cancel.
//   flat PEER N       the sum of 1..N
//   deep PEER DEPTH   the in-order sum of a perfect binary tree of that depth
// PEER: spindle, stackless, coroutine2, floor (x86-64: the bare switch, bare_generator.hpp).

#include "generator_workloads.hpp"

#include <cstdio>
#include <cstdlib>
#include <string_view>

int main(int argc, char** argv) {
    using namespace generator_bench;
    if (argc != 5) {
        std::fprintf(stderr,
                     "usage: %s flat|deep spindle|stackless|coroutine2|floor SIZE REPEATS\n",
                     argv[0]);
        return 2;
    }
    const std::string_view workload = argv[1];
    const std::string_view peer = argv[2];
    const int size = std::atoi(argv[3]);
    const int repeats = std::atoi(argv[4]);
    long long total = 0;
    if (workload == "flat") {
        auto* sum = peer == "spindle"     ? flat_spindle
                    : peer == "stackless" ? flat_stackless
                    : peer == "coroutine2" ? flat_coroutine2
#if GENERATOR_BENCH_HAS_FLOOR
                    : peer == "floor" ? flat_floor
#endif
                                           : nullptr;
        if (!sum) return 2;
        for (int i = 0; i < repeats; ++i) total += sum(size);
    } else if (workload == "deep") {
        auto* sum = peer == "spindle"     ? deep_spindle
                    : peer == "stackless" ? deep_stackless
                    : peer == "coroutine2" ? deep_coroutine2
#if GENERATOR_BENCH_HAS_FLOOR
                    : peer == "floor" ? deep_floor
#endif
                                           : nullptr;
        if (!sum) return 2;
        const perfect_tree tree(size);
        for (int i = 0; i < repeats; ++i) total += sum(tree.root());
    } else {
        return 2;
    }
    std::printf("%lld\n", total);
    return 0;
}
