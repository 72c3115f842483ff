#pragma once
// Telling AddressSanitizer, ThreadSanitizer and Valgrind about a stack's life: created,
// recycled for another context, destroyed. Each hook compiles to nothing unless its tool is in
// the build.

#include "context/sanitizers.hpp"

#include <cstddef>

namespace spindle::detail {

// on_stack_created() registers a fresh fiber stack [bottom, bottom + size).
inline void on_stack_created(sanitizer_context& context, void* bottom, std::size_t size) noexcept {
#if SPINDLE_ASAN
    context.stack_bottom = bottom;
    context.stack_size = size;
#endif
#if SPINDLE_TSAN
    context.tsan_fiber = __tsan_create_fiber(0);
#endif
#if SPINDLE_VALGRIND
    context.valgrind_stack_id =
        VALGRIND_STACK_REGISTER(bottom, static_cast<char*>(bottom) + size);
#endif
    (void)context, (void)bottom, (void)size;
}

// on_stack_recycled() makes the tools forget what the frames a context left on a stack said
// about its memory (AddressSanitizer's redzones, memcheck's "below the stack pointer, no
// access"), before the memory is used again.
inline void on_stack_recycled(void* bottom, std::size_t size) noexcept {
#if SPINDLE_ASAN
    __asan_unpoison_memory_region(bottom, size);
#endif
#if SPINDLE_VALGRIND
    (void)VALGRIND_MAKE_MEM_UNDEFINED(bottom, size);
#endif
    (void)bottom, (void)size;
}

// on_stack_destroyed() forgets a fiber stack; its context must not be running.
inline void on_stack_destroyed(sanitizer_context& context) noexcept {
#if SPINDLE_TSAN
    __tsan_destroy_fiber(context.tsan_fiber);
#endif
#if SPINDLE_VALGRIND
    VALGRIND_STACK_DEREGISTER(context.valgrind_stack_id);
#endif
    (void)context;
}

}  // namespace spindle::detail
