#pragma once
// The context layer: the smallest unit of execution spindle switches between.
//
// A suspended context is nothing but its saved stack pointer; everything else it needs sits in
// a frame at that stack pointer, whose layout belongs to the backend that wrote it: the
// hand-written assembly for the target (lib/context/*.S, and its inline twin in
// include/spindle/detail/context_<target>.hpp) or Boost.Context's fcontext
// (lib/context/context_boost_fcontext.cpp), chosen by the meson option `context`.
//
// include/spindle/detail/context.hpp declares the record (context_record), the switch itself,
// spindle_context_switch(from, to, arg), the start convention (context_entry) and the C++
// exception state each context carries.

#include "context/sanitizers.hpp"

#include <spindle/detail/context.hpp>

#include <cstddef>

extern "C" {
// spindle_context_make() fills `record` so that the first switch to it runs, on the stack that
// ends (exclusive) at `stack_top` and spans `stack_size` bytes, the context_entry found at the
// start argument. The entry function must never return.
void spindle_context_make(spindle::detail::context_record* record, void* stack_top,
                          std::size_t stack_size) noexcept;
}

namespace spindle::detail {

// switch_context_from() leaves the running context (saved into `from`) for `to` and returns the
// argument of the switch that eventually comes back; it tells the sanitizers when they are in
// the build. `thread` is this thread's switch state, which a caller that reads it before the
// switch passes on (one thread-local lookup per switch, not one per field); nothing reads it
// after. `leaving_for_good` marks a final switch (a finished fiber).
inline void* switch_context_from(thread_switch_state& thread, context_record& from,
                                 context_record& to, void* arg,
                                 bool leaving_for_good = false) noexcept {
    if (sanitizer_runtime()) [[unlikely]]
        return switch_context_annotated(from, to, arg, leaving_for_good);
    return switch_context_unannotated(from, to, arg, thread_exception_state(thread));
}
// switch_context() is switch_context_from() for a caller that has not looked the state up.
inline void* switch_context(context_record& from, context_record& to, void* arg,
                            bool leaving_for_good = false) noexcept {
    return switch_context_from(switch_state(), from, to, arg, leaving_for_good);
}

// set_first_switch_hook() names a function that runs on each thread before its first switch
// (the slow path of thread_exception_state(), which every switch takes once per thread), off
// the hot path: the fiber layer installs its overflow handler's signal stack there.
void set_first_switch_hook(void (*hook)() noexcept) noexcept;

}  // namespace spindle::detail
