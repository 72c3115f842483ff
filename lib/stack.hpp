#pragma once
// The stack layer: mmap'd fiber stacks with an optional guard page, recycled per thread.

#include <spindle/detail/fiber_control.hpp>
#include <spindle/stack.hpp>

#include <cstddef>
#include <cstdint>

namespace spindle::detail {

// page_size() is the system's page size, read once.
std::size_t page_size() noexcept;

// acquire_stack() returns a stack with at least options.size usable bytes, reusing one this
// thread released earlier when it can. Throws fiber_error for a size too small to run on and
// std::system_error when the system refuses memory.
stack_memory acquire_stack(const stack_options& options);

// release_stack() gives a stack back for reuse (or unmaps it when this thread keeps enough).
void release_stack(stack_memory stack) noexcept;

// stack_canary_intact() tells whether the word planted at the bottom of an unguarded stack is
// still there: the only overflow check a stack without a guard page gets.
bool stack_canary_intact(const stack_memory& stack) noexcept;

// stack_pool_statistics counts this thread's stack traffic, for tests and benchmarks.
struct stack_pool_statistics {
    std::uint64_t mapped = 0;    // stacks obtained from the system (mmap)
    std::uint64_t unmapped = 0;  // stacks returned to the system (munmap)
    std::uint64_t reused = 0;    // stacks served from the pool
    std::uint64_t cached = 0;    // stacks in the pool right now
};
stack_pool_statistics stack_pool_stats() noexcept;

}  // namespace spindle::detail
