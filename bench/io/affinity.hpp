#pragma once
// Pinning io_bench's threads: the server on one core, the load client on another, so that
// neither steals the other's core and the server's CPU time is its own.

#include <vector>

namespace io_bench {

// allowed_cpus() returns the CPUs this process may run on, in increasing order.
std::vector<int> allowed_cpus();

// pin_this_thread() binds the calling thread to `cpu`; a negative cpu leaves it unpinned.
// Exits with a message if the kernel refuses.
void pin_this_thread(int cpu);

}  // namespace io_bench
