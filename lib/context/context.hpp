#pragma once
// The context layer: the smallest unit of execution spindle switches between.
//
// A suspended context is nothing but its saved stack pointer; everything else it needs
// (callee-saved registers, the floating-point control state the ABI preserves, the address to
// continue at) sits in a frame at that stack pointer. The frame's layout belongs to the backend
// that wrote it: the hand-written assembly for the target (lib/context/*.S) or Boost.Context's
// fcontext (lib/context/context_boost_fcontext.cpp), chosen by the meson option `context`.

#include <cstddef>

namespace spindle::detail {

// context_entry is what a fresh context runs. It receives the argument passed to the first
// switch into the context, which must point at an object whose first member is the
// context_entry itself: that is how both backends find the function without a side table.
using context_entry = void (*)(void* start);

extern "C" {
// spindle_context_make() prepares the stack that ends (exclusive) at `stack_top` and spans
// `stack_size` bytes so that the first switch to the returned stack pointer calls the
// context_entry found at the start argument. The entry function must never return.
void* spindle_context_make(void* stack_top, std::size_t stack_size) noexcept;

// spindle_context_switch() saves the running context, stores its stack pointer in `*save_sp`,
// and continues the context whose stack pointer is `target_sp`. It returns, once something
// switches back here, the `arg` that switch passed.
void* spindle_context_switch(void** save_sp, void* target_sp, void* arg) noexcept;
}

}  // namespace spindle::detail
