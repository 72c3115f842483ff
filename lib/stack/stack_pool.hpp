#pragma once
// The stack layer: mmap'd fiber stacks with an optional guard region, recycled per thread
// (lib/stack/stack_pool.cpp; the system calls under it are in stack_mapping.hpp).

#include "stack/stack_mapping.hpp"

#include <spindle/detail/stack_memory.hpp>
#include <spindle/stack.hpp>

#include <cstddef>
#include <cstdint>

namespace spindle::detail {

// acquire_stack() returns a stack whose writable part holds options.size bytes plus
// `top_reserve` more at the top (the fiber's control block, body and stagger), reusing one this
// thread released earlier when it can. Throws fiber_error for a size out of range, and
// stack_allocation_error when the system refuses the memory or a required guard (after giving
// this thread's cached stacks back to the system and trying again).
stack_memory acquire_stack(const stack_options& options, std::size_t top_reserve = 0);

// release_stack() gives a stack back for reuse (or unmaps it when this thread keeps enough).
void release_stack(stack_memory stack) noexcept;

// stack_pool_statistics counts this thread's stack traffic, for tests and benchmarks.
struct stack_pool_statistics {
    std::uint64_t mapped = 0;    // stacks obtained from the system (mmap)
    std::uint64_t unmapped = 0;  // stacks returned to the system (munmap)
    std::uint64_t reused = 0;    // stacks served from the pool
    std::uint64_t cached = 0;    // stacks in the pool right now
    std::uint64_t trimmed = 0;   // times the pool gave all its stacks back to retry a mapping
    std::uint64_t dropped = 0;   // stacks kept with their memory given back (madvise)
};
stack_pool_statistics stack_pool_stats() noexcept;

}  // namespace spindle::detail
