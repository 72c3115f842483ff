#pragma once
// The context layer: the smallest unit of execution spindle switches between.
//
// A suspended context is nothing but its saved stack pointer; everything else it needs sits in
// a frame at that stack pointer, whose layout belongs to the backend that wrote it: the
// hand-written assembly for the target (lib/context/*.S, and its inline twin in
// include/spindle/detail/context_<target>.hpp) or Boost.Context's fcontext
// (lib/context/context_boost_fcontext.cpp), chosen by the meson option `context`.
//
// include/spindle/detail/fiber_control.hpp declares the record (context_record), the switch
// itself, spindle_context_switch(from, to, arg), and the start convention (context_entry).

#include <spindle/detail/fiber_control.hpp>

#include <cstddef>

extern "C" {
// spindle_context_make() fills `record` so that the first switch to it runs, on the stack that
// ends (exclusive) at `stack_top` and spans `stack_size` bytes, the context_entry found at the
// start argument. The entry function must never return.
void spindle_context_make(spindle::detail::context_record* record, void* stack_top,
                          std::size_t stack_size) noexcept;
}
