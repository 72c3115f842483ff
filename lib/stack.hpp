#pragma once
// The stack layer: mmap'd fiber stacks with an optional guard region, recycled per thread.

#include <spindle/detail/fiber_control.hpp>
#include <spindle/stack.hpp>

#include <cstddef>
#include <cstdint>

namespace spindle::detail {

// page_size() is the system's page size, read once.
std::size_t page_size() noexcept;

// acquire_stack() returns a stack whose writable part holds options.size bytes plus
// `top_reserve` more at the top (the fiber's control block, body and stagger), reusing one this
// thread released earlier when it can. Throws fiber_error for a size out of range, and
// stack_allocation_error when the system refuses the memory or a required guard (after giving
// this thread's cached stacks back to the system and trying again).
stack_memory acquire_stack(const stack_options& options, std::size_t top_reserve = 0);

// release_stack() gives a stack back for reuse (or unmaps it when this thread keeps enough).
void release_stack(stack_memory stack) noexcept;

// stack_canary_intact() tells whether the word planted at the bottom of an unguarded stack is
// still there: the only overflow check a stack without a guard region gets.
bool stack_canary_intact(const stack_memory& stack) noexcept;

// stack_pool_statistics counts this thread's stack traffic, for tests and benchmarks.
struct stack_pool_statistics {
    std::uint64_t mapped = 0;    // stacks obtained from the system (mmap)
    std::uint64_t unmapped = 0;  // stacks returned to the system (munmap)
    std::uint64_t reused = 0;    // stacks served from the pool
    std::uint64_t cached = 0;    // stacks in the pool right now
    std::uint64_t trimmed = 0;   // times the pool gave all its stacks back to retry a mapping
};
stack_pool_statistics stack_pool_stats() noexcept;

// guarded_stacks_mapped_now() counts the guarded stacks mapped in the process (cached included).
std::size_t guarded_stacks_mapped_now() noexcept;

// set_max_map_count_for_testing() makes the guard budget follow `limit` instead of
// /proc/sys/vm/max_map_count (0: the kernel's again), so tests reach it with few stacks.
void set_max_map_count_for_testing(std::size_t limit) noexcept;

}  // namespace spindle::detail
