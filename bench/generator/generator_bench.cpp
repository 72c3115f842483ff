// generator_bench: spindle's generator against a C++20 stackless generator and
// Boost.Coroutine2, in one run. Built once per switch variant (SPINDLE_VARIANT); see
// docs/generators.md for the figures and scripts/bench-generators for how they are made.
//
// Every benchmark reports `elements` (per iteration); ns per element is its time divided by
// that.

#include "generator_workloads.hpp"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace {

using namespace generator_bench;

constexpr int flat_count = 100'000;
constexpr int deepest = 20;

const perfect_tree& tree_of_depth(int depth) {
    static std::map<int, perfect_tree> trees;
    auto it = trees.find(depth);
    if (it == trees.end()) it = trees.emplace(depth, perfect_tree(depth)).first;
    return it->second;
}

void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "generator_bench: %s gave a wrong sum\n", what);
        std::exit(1);
    }
}

// Each workload is checked once before anything is timed, so no benchmark measures a loop the
// compiler could drop or a traversal that stops early.
void check_workloads() {
    const long long flat_sum = static_cast<long long>(flat_count) * (flat_count + 1) / 2;
    require(flat_spindle(flat_count) == flat_sum, "flat spindle");
    require(flat_stackless(flat_count) == flat_sum, "flat stackless");
    require(flat_coroutine2(flat_count) == flat_sum, "flat coroutine2");
#if GENERATOR_BENCH_HAS_FLOOR
    require(flat_floor(flat_count) == flat_sum, "flat floor");
#endif
    for (int depth = 1; depth <= deepest; ++depth) {
        const perfect_tree& tree = tree_of_depth(depth);
        require(deep_spindle(tree.root()) == tree.expected_sum(), "deep spindle");
        require(deep_stackless(tree.root()) == tree.expected_sum(), "deep stackless");
        require(deep_coroutine2(tree.root()) == tree.expected_sum(), "deep coroutine2");
#if GENERATOR_BENCH_HAS_FLOOR
        require(deep_floor(tree.root()) == tree.expected_sum(), "deep floor");
#endif
    }
}

template <long long (*Sum)(int)>
void flat(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(Sum(flat_count));
    state.counters["elements"] = flat_count;
    state.SetItemsProcessed(state.iterations() * flat_count);
}

template <long long (*Sum)(const tree_node*)>
void deep(benchmark::State& state) {
    const perfect_tree& tree = tree_of_depth(static_cast<int>(state.range(0)));
    for (auto _ : state) benchmark::DoNotOptimize(Sum(tree.root()));
    state.counters["elements"] = static_cast<double>(tree.size());
    state.SetItemsProcessed(state.iterations() * tree.size());
}

}  // namespace

int main(int argc, char** argv) {
    check_workloads();
    const std::string spindle_name = std::string("spindle_") + SPINDLE_VARIANT;
    benchmark::RegisterBenchmark(("flat/" + spindle_name).c_str(), flat<flat_spindle>);
    benchmark::RegisterBenchmark("flat/stackless_cpp20", flat<flat_stackless>);
    benchmark::RegisterBenchmark("flat/boost_coroutine2", flat<flat_coroutine2>);
#if GENERATOR_BENCH_HAS_FLOOR
    benchmark::RegisterBenchmark("flat/floor_bare_switch", flat<flat_floor>);
#endif
    benchmark::RegisterBenchmark(("deep/" + spindle_name).c_str(), deep<deep_spindle>)
        ->DenseRange(1, deepest);
    benchmark::RegisterBenchmark("deep/stackless_cpp20", deep<deep_stackless>)
        ->DenseRange(1, deepest);
    benchmark::RegisterBenchmark("deep/boost_coroutine2", deep<deep_coroutine2>)
        ->DenseRange(1, deepest);
#if GENERATOR_BENCH_HAS_FLOOR
    benchmark::RegisterBenchmark("deep/floor_bare_switch", deep<deep_floor>)
        ->DenseRange(1, deepest);
#endif
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
