#pragma once
// Mapping and unmapping one fiber stack (lib/stack/stack_mapping.cpp): sizes, the guard region
// and its process-wide budget, the canary of unguarded stacks.

#include <spindle/detail/stack_memory.hpp>
#include <spindle/stack.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace spindle::detail {

// known_page_size is the system's page size once read_page_size() has read it, else 0. Relaxed:
// every thread that reads it reads the same value.
inline constinit std::atomic<std::size_t> known_page_size{0};
// read_page_size() asks the system for its page size and keeps it in known_page_size.
std::size_t read_page_size() noexcept;
// page_size() is the system's page size, read once: inline, because every creation rounds its
// stack size with it.
inline std::size_t page_size() noexcept {
    const std::size_t size = known_page_size.load(std::memory_order_relaxed);
    if (size == 0) [[unlikely]]
        return read_page_size();
    return size;
}

// refuse_stack_size() throws the fiber_error that explains why options.size (or top_reserve)
// is out of range.
[[noreturn]] void refuse_stack_size(const stack_options& options, std::size_t top_reserve);

// writable_size_for() validates options.size and returns the writable bytes of a stack that
// holds it plus top_reserve, in whole pages. Throws fiber_error for a size out of range. Inline
// with its message built out of line: it runs at every creation.
inline std::size_t writable_size_for(const stack_options& options, std::size_t top_reserve) {
    if (options.size < minimum_stack_size || options.size > maximum_stack_size ||
        top_reserve > maximum_stack_size) [[unlikely]]
        refuse_stack_size(options, top_reserve);
    const std::size_t page = page_size();  // a power of two: round with a mask, not a division
    return (options.size + top_reserve + page - 1) & ~(page - 1);
}
// guard_budget_left() tells whether a stack asked for with `guard` may get a guard region now.
bool guard_budget_left(stack_guard guard) noexcept;
// map_stack() maps a fresh stack of `writable` bytes (one mmap, plus one mprotect for the guard
// region), guarded as `guard` and the budget say. Throws stack_allocation_error when the system
// refuses, or a required guard is over budget.
stack_memory map_stack(std::size_t writable, stack_guard guard);
// unmap_stack() returns a stack to the system.
void unmap_stack(const stack_memory& stack) noexcept;
// drop_stack_pages() gives the memory of a kept stack back to the system, all but its top
// `keep_top` bytes (and, unguarded, the bottom page with its canary), with one madvise: the
// mapping and its guard stay, and the pages read as zeros when touched again. Returns false
// when the system refused (the stack keeps its pages).
bool drop_stack_pages(const stack_memory& stack, std::size_t keep_top) noexcept;

// stack_canary_value is the word planted at the bottom of an unguarded stack ("SPINDLE!").
inline constexpr std::uint64_t stack_canary_value = 0x5350494e444c4521ull;

// stack_canary_intact() tells whether the word planted at the bottom of an unguarded stack is
// still there: the only overflow check a stack without a guard region gets.
// Inline: every fiber's end checks it.
inline bool stack_canary_intact(const stack_memory& stack) noexcept {
    return stack.guarded ||
           *reinterpret_cast<const std::uint64_t*>(stack.usable_bottom()) == stack_canary_value;
}

// guarded_stacks_mapped_now() counts the guarded stacks mapped in the process (cached included).
std::size_t guarded_stacks_mapped_now() noexcept;

// set_max_map_count_for_testing() makes the guard budget follow `limit` instead of
// /proc/sys/vm/max_map_count (0: the kernel's again), so tests reach it with few stacks.
void set_max_map_count_for_testing(std::size_t limit) noexcept;

}  // namespace spindle::detail
