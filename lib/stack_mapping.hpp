#pragma once
// The system calls under the stack pool (lib/stack.cpp), for lib/stack_pool.cpp only.

#include "stack.hpp"

namespace spindle::detail {

// writable_size_for() validates options.size and returns the writable bytes of a stack that
// holds it plus top_reserve, in whole pages. Throws fiber_error for a size out of range.
std::size_t writable_size_for(const stack_options& options, std::size_t top_reserve);
// guard_budget_left() tells whether a stack asked for with `guard` may get a guard region now.
bool guard_budget_left(stack_guard guard) noexcept;
// map_stack() maps a fresh stack of `writable` bytes (one mmap, plus one mprotect for the guard
// region), guarded as `guard` and the budget say. Throws stack_allocation_error when the system
// refuses, or a required guard is over budget.
stack_memory map_stack(std::size_t writable, stack_guard guard);
// unmap_stack() returns a stack to the system.
void unmap_stack(const stack_memory& stack) noexcept;

}  // namespace spindle::detail
