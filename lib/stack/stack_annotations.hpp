#pragma once
// Telling AddressSanitizer, ThreadSanitizer and Valgrind about a stack's life: created,
// recycled for another context, destroyed. Valgrind's hooks compile to nothing unless its
// header is there, and run only when the process runs under Valgrind (a client request is a
// magic instruction sequence that costs a few ns natively, three of them per fiber); the
// sanitizers' run when their runtime is (context/sanitizers.hpp).

#include "context/sanitizers.hpp"

#include <atomic>
#include <cstddef>

namespace spindle::detail {

#if SPINDLE_VALGRIND
// valgrind_presence says whether the process runs under Valgrind: 0 not known yet, 1 no, 2 yes.
// A process cannot start or stop running under Valgrind, so the answer is asked for once
// (detect_valgrind()) and then read with a plain load. Relaxed: every thread that asks computes
// the same answer.
inline constinit std::atomic<unsigned char> valgrind_presence{0};

// detect_valgrind() asks Valgrind (RUNNING_ON_VALGRIND, itself a client request) and keeps the
// answer in valgrind_presence; out of line, so that the test in running_on_valgrind() stays small.
[[gnu::noinline, gnu::cold]] inline bool detect_valgrind() noexcept {
    const bool running = RUNNING_ON_VALGRIND != 0;
    valgrind_presence.store(static_cast<unsigned char>(running ? 2 : 1), std::memory_order_relaxed);
    return running;
}

// running_on_valgrind() tells whether the stack hooks must tell Valgrind: one load and compare
// once the answer is known.
inline bool running_on_valgrind() noexcept {
    const unsigned char presence = valgrind_presence.load(std::memory_order_relaxed);
    if (presence == 0) [[unlikely]]
        return detect_valgrind();
    return presence == 2;
}
#endif

// on_stack_created() registers a fresh fiber stack [bottom, bottom + size).
inline void on_stack_created(sanitizer_context& context, void* bottom, std::size_t size) noexcept {
    context.stack_bottom = bottom;
    context.stack_size = size;
    if (tsan_runtime()) [[unlikely]]
        context.tsan_fiber = __tsan_create_fiber(0);
#if SPINDLE_VALGRIND
    // memcheck must know the stack, or it takes the first switch onto it for a huge stack
    // pointer move and reports the fiber's frames as invalid accesses.
    if (running_on_valgrind()) [[unlikely]]
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
    if (running_on_valgrind()) [[unlikely]]
        (void)VALGRIND_MAKE_MEM_UNDEFINED(bottom, size);
#endif
    (void)bottom, (void)size;
}

// on_stack_destroyed() forgets a fiber stack; its context must not be running.
inline void on_stack_destroyed(sanitizer_context& context) noexcept {
    if (tsan_runtime()) [[unlikely]]
        __tsan_destroy_fiber(context.tsan_fiber);
#if SPINDLE_VALGRIND
    if (running_on_valgrind()) [[unlikely]]
        VALGRIND_STACK_DEREGISTER(context.valgrind_stack_id);
#endif
    (void)context;
}

}  // namespace spindle::detail
