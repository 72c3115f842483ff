#include "affinity.hpp"

#include <pthread.h>
#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace io_bench {

std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> cpus;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    return cpus;
}

void pin_this_thread(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (int error = pthread_setaffinity_np(pthread_self(), sizeof set, &set); error != 0) {
        std::fprintf(stderr, "io_bench: cannot pin a thread to CPU %d: %s\n", cpu,
                     std::strerror(error));
        std::exit(1);
    }
}

}  // namespace io_bench
