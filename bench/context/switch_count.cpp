// switch_count PEER N: performs N round trips (or creations) of one peer, for callgrind.
// Instructions per round trip = (count at N2 - count at N1) / (N2 - N1), so start-up cancels.

#include "switch_peers.hpp"

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

template <class Peer>
void repeat_round_trip(long n) {
    Peer peer;
    for (long i = 0; i < n; ++i) peer.round_trip();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr,
                     "usage: %s spindle|boost_jump_fcontext|boost_context_fiber|ucontext|"
                     "spindle_create|boost_context_create N\n",
                     argv[0]);
        return 2;
    }
    const std::string_view peer = argv[1];
    const long n = std::atol(argv[2]);
    if (peer == "spindle") {
        repeat_round_trip<switch_bench::spindle_fiber>(n);
    } else if (peer == "boost_jump_fcontext") {
        repeat_round_trip<switch_bench::boost_fcontext>(n);
    } else if (peer == "boost_context_fiber") {
        repeat_round_trip<switch_bench::boost_context_fiber>(n);
    } else if (peer == "ucontext") {
        repeat_round_trip<switch_bench::ucontext>(n);
    } else if (peer == "spindle_create") {
        for (long i = 0; i < n; ++i) switch_bench::spindle_create();
    } else if (peer == "boost_context_create") {
        switch_bench::boost_context_create creator;
        for (long i = 0; i < n; ++i) creator.once();
    } else {
        std::fprintf(stderr, "unknown peer '%s'\n", argv[1]);
        return 2;
    }
    return 0;
}
