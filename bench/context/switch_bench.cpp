// Switch cost: a resume + suspend round trip for spindle and its peers, and fiber creation.
// Run with --benchmark_repetitions to get medians; scripts/bench-switch does, and adds
// callgrind instruction counts from switch_count.

#include "switch_peers.hpp"

#include <benchmark/benchmark.h>

namespace {

template <class Peer>
void round_trip(benchmark::State& state) {
    Peer peer;
    for (auto _ : state) peer.round_trip();
}

void spindle_fiber_round_trip(benchmark::State& state) { round_trip<switch_bench::spindle_fiber>(state); }
void boost_fcontext_round_trip(benchmark::State& state) { round_trip<switch_bench::boost_fcontext>(state); }
void boost_context_fiber_round_trip(benchmark::State& state) {
    round_trip<switch_bench::boost_context_fiber>(state);
}
void ucontext_round_trip(benchmark::State& state) { round_trip<switch_bench::ucontext>(state); }

void spindle_fiber_create(benchmark::State& state) {
    switch_bench::spindle_create();  // warm the stack pool
    for (auto _ : state) switch_bench::spindle_create();
}

void boost_context_fiber_create(benchmark::State& state) {
    switch_bench::boost_context_create peer;
    peer.once();
    for (auto _ : state) peer.once();
}

}  // namespace

BENCHMARK(spindle_fiber_round_trip)->Name("round_trip/spindle_" SPINDLE_BACKEND);
BENCHMARK(boost_fcontext_round_trip)->Name("round_trip/boost_jump_fcontext");
BENCHMARK(boost_context_fiber_round_trip)->Name("round_trip/boost_context_fiber");
BENCHMARK(ucontext_round_trip)->Name("round_trip/ucontext_swapcontext");
BENCHMARK(spindle_fiber_create)->Name("create/spindle_" SPINDLE_BACKEND);
BENCHMARK(boost_context_fiber_create)->Name("create/boost_context_fiber_pooled");

BENCHMARK_MAIN();
