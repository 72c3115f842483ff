#pragma once
// Telling AddressSanitizer, ThreadSanitizer and Valgrind about a stack's life: created,
// recycled for another context, destroyed. Valgrind's hooks compile to nothing unless its
// header is there; the sanitizers' run when their runtime is (context/sanitizers.hpp).

#include "context/sanitizers.hpp"

#include <cstddef>

namespace spindle::detail {

// on_stack_created() registers a fresh fiber stack [bottom, bottom + size).
inline void on_stack_created(sanitizer_context& context, void* bottom, std::size_t size) noexcept {
    context.stack_bottom = bottom;
    context.stack_size = size;
    if (tsan_runtime()) [[unlikely]]
        context.tsan_fiber = __tsan_create_fiber(0);
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
    if (asan_runtime()) [[unlikely]]
        __asan_unpoison_memory_region(bottom, size);
#if SPINDLE_VALGRIND
    (void)VALGRIND_MAKE_MEM_UNDEFINED(bottom, size);
#endif
    (void)bottom, (void)size;
}

// on_stack_destroyed() forgets a fiber stack; its context must not be running.
inline void on_stack_destroyed(sanitizer_context& context) noexcept {
    if (tsan_runtime()) [[unlikely]]
        __tsan_destroy_fiber(context.tsan_fiber);
#if SPINDLE_VALGRIND
    VALGRIND_STACK_DEREGISTER(context.valgrind_stack_id);
#endif
    (void)context;
}

}  // namespace spindle::detail
