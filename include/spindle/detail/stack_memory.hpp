#pragma once
// The stack layer's description of one mapped stack: internal to spindle, in a public header
// only because the fiber layer's inline code reaches a fiber's control block through it.

#include <spindle/detail/config.hpp>

#include <cstddef>

SPINDLE_EXPORTS_BEGIN

namespace spindle::detail {

// stack_guard_region is the size of a guarded stack's guard region (see stack_guard): 64 KiB, a
// whole number of pages at every page size Linux has (4, 16, 64 KiB).
inline constexpr std::size_t stack_guard_region = 64 * 1024;

// stack_memory is one mapped stack: from base up, the guard region (when guarded), then the
// writable part up to top(). The fiber's control block and body sit at the top; below them the
// body's frames have at least `usable` bytes before the guard.
struct stack_memory {
    std::byte* base = nullptr;  // lowest mapped address, guard region included
    std::size_t mapped = 0;     // bytes mapped, guard region included
    std::size_t usable = 0;     // bytes of stack the body is guaranteed (stack_options::size)
    bool guarded = false;

    std::byte* top() const noexcept { return base + mapped; }
    // usable_bottom() is the lowest writable address, right above the guard region.
    std::byte* usable_bottom() const noexcept {
        return base + (guarded ? stack_guard_region : 0);
    }
    // writable() is the size of the writable part: the body's stack, its control block and body.
    std::size_t writable() const noexcept {
        return static_cast<std::size_t>(top() - usable_bottom());
    }
    explicit operator bool() const noexcept { return base != nullptr; }
};

}  // namespace spindle::detail

SPINDLE_EXPORTS_END
