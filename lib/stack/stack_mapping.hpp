#pragma once
// Mapping and unmapping one fiber stack (lib/stack/stack_mapping.cpp): sizes, the guard region
// and its process-wide budget, the canary of unguarded stacks.

#include <spindle/detail/stack_memory.hpp>
#include <spindle/stack.hpp>

#include <cstddef>

namespace spindle::detail {

// page_size() is the system's page size, read once.
std::size_t page_size() noexcept;

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

// stack_canary_intact() tells whether the word planted at the bottom of an unguarded stack is
// still there: the only overflow check a stack without a guard region gets.
bool stack_canary_intact(const stack_memory& stack) noexcept;

// guarded_stacks_mapped_now() counts the guarded stacks mapped in the process (cached included).
std::size_t guarded_stacks_mapped_now() noexcept;

// set_max_map_count_for_testing() makes the guard budget follow `limit` instead of
// /proc/sys/vm/max_map_count (0: the kernel's again), so tests reach it with few stacks.
void set_max_map_count_for_testing(std::size_t limit) noexcept;

}  // namespace spindle::detail
