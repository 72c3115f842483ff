#pragma once
// How a fiber's stack is allocated.

#include <spindle/detail/config.hpp>

#include <cstddef>

SPINDLE_EXPORTS_BEGIN

namespace spindle {

/// stack_guard says whether a fiber's stack gets a guard region: 64 KiB of inaccessible address
/// space right below the stack. Running past the end of a guarded stack stops the process with a
/// message naming the fiber. A function whose frame is at most 64 KiB cannot jump the guard, in
/// any code; a larger frame can, unless its code is compiled with -fstack-clash-protection
/// (which probes every page of a large frame; GCC and clang have it, some distributions turn it
/// on by default). Unguarded stacks carry a canary word instead, checked when the fiber ends.
///
/// Every guarded stack costs the process two of its vm.max_map_count mappings, so a process has
/// a budget of them (see docs/stacks.md). What happens when it is spent depends on the request:
///   when_available  the default: a guard while the budget lasts, then none (a notice on stderr,
///                   once), so programs with hundreds of thousands of fibers keep working
///   required        a guard or an error: stack_allocation_error (a std::bad_alloc) once the
///                   budget is spent; `guard = true` means this
///   none            no guard (`guard = false`)
struct stack_guard {
    /// policy is the request: a guard while the budget lasts, a guard or an error, or none.
    enum policy : unsigned char { when_available, required, none };

    /// stack_guard() asks for when_available.
    constexpr stack_guard() noexcept = default;
    /// stack_guard(p) asks for p.
    constexpr stack_guard(policy p) noexcept : value(p) {}
    /// stack_guard(wanted) asks for required when wanted, none otherwise.
    constexpr stack_guard(bool wanted) noexcept : value(wanted ? required : none) {}

    /// operator bool() tells whether a guard is asked for at all.
    constexpr explicit operator bool() const noexcept { return value != none; }
    /// operator==() compares the policies.
    friend constexpr bool operator==(stack_guard, stack_guard) noexcept = default;

    /// value is the policy asked for.
    policy value = when_available;
};

/// stack_options sizes a fiber's stack. Stacks are mmap'd, so only the pages a fiber touches cost
/// memory; freed stacks are kept per thread and reused.
///
/// `size` is what the body gets: a body can use at least `size` bytes of stack, from where it
/// starts down to the guard region. The fiber's control block, its body object and a stagger of
/// up to 960 bytes are reserved above that, and the whole is rounded up to whole pages. `size`
/// must be between minimum_stack_size and maximum_stack_size, or the fiber's constructor throws
/// fiber_error. A stack the system cannot give throws stack_allocation_error (a std::bad_alloc).
struct stack_options {
    std::size_t size = 256 * 1024;  ///< bytes of stack the body can use, at least
    stack_guard guard = {};         ///< stack_guard::when_available
};

/// minimum_stack_size is the least `size` accepted: the library's own paths on a fiber's stack
/// (starting the body, a first throw and catch of an exception, unwinding the fiber on
/// destruction) reach 5.1 KiB in a release build and 7 KiB with AddressSanitizer; 16 KiB leaves
/// a body that does little else room to spare.
inline constexpr std::size_t minimum_stack_size = 16 * 1024;
/// maximum_stack_size is the largest `size` accepted (1 TiB): beyond it a request is a mistake
/// (a negative number converted, SIZE_MAX) rather than a stack any address space holds.
inline constexpr std::size_t maximum_stack_size = std::size_t{1} << 40;

}  // namespace spindle

SPINDLE_EXPORTS_END
