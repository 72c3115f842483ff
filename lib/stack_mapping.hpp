#pragma once
// The system calls under the stack pool (lib/stack.cpp), for lib/stack_pool.cpp only.

#include "stack.hpp"

namespace spindle::detail {

// usable_size_for() validates options.size and rounds it up to whole pages.
std::size_t usable_size_for(const stack_options& options);
// map_stack() maps a fresh stack (one mmap, plus one mprotect for the guard page).
stack_memory map_stack(std::size_t usable, bool guard);
// unmap_stack() returns a stack to the system.
void unmap_stack(const stack_memory& stack) noexcept;

}  // namespace spindle::detail
