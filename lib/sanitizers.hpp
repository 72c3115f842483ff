#pragma once
// Telling AddressSanitizer, ThreadSanitizer and Valgrind about stack switches.
//
// Each hook compiles to nothing unless its tool is in the build, so the ordinary build pays
// nothing for them. AddressSanitizer must hear of every switch (it tracks which stack is live
// and keeps a "fake stack" per context); ThreadSanitizer keeps a fiber object per context;
// Valgrind only needs each stack registered once, when it is mapped.

#include <spindle/detail/fiber_control.hpp>

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define SPINDLE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPINDLE_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define SPINDLE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPINDLE_TSAN 1
#endif
#endif

#if SPINDLE_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if SPINDLE_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#if __has_include(<valgrind/valgrind.h>) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define SPINDLE_VALGRIND 1
#endif

namespace spindle::detail {

#if SPINDLE_ASAN
// The context a switch left, so the arriving side can record the bounds of its stack.
inline thread_local sanitizer_context* asan_switched_from = nullptr;
#endif

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

// before_switch() runs on the leaving side. `leaving_for_good` says the leaving context will
// never run again (a finished fiber), so its fake stack can go.
inline void before_switch(sanitizer_context& from, sanitizer_context& to,
                          bool leaving_for_good) noexcept {
#if SPINDLE_ASAN
    asan_switched_from = &from;
    __sanitizer_start_switch_fiber(leaving_for_good ? nullptr : &from.fake_stack, to.stack_bottom,
                                   to.stack_size);
#endif
#if SPINDLE_TSAN
    if (!leaving_for_good) from.tsan_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
    (void)from, (void)to, (void)leaving_for_good;
}

// after_switch() runs first thing on the arriving side.
inline void after_switch(sanitizer_context& self) noexcept {
#if SPINDLE_ASAN
    sanitizer_context* from = asan_switched_from;
    __sanitizer_finish_switch_fiber(self.fake_stack, &from->stack_bottom, &from->stack_size);
#endif
    (void)self;
}

}  // namespace spindle::detail
