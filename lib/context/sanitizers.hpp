#pragma once
// Which tools the build has (SPINDLE_ASAN, SPINDLE_TSAN, SPINDLE_VALGRIND), and telling them
// about context switches.
//
// AddressSanitizer must hear of every switch (it tracks which stack is live and keeps a "fake
// stack" per context); ThreadSanitizer keeps a fiber object per context. A build with one of
// them calls its hooks directly. An ordinary build declares the hooks weak and calls them when
// they resolved, that is when the program links the sanitizer's runtime: a user's program built
// with -fsanitize=address or -fsanitize=thread against the installed library, whose own
// switches the public headers then send through the library (SPINDLE_INLINE_FIBER_SWITCH in
// include/spindle/fiber.hpp). Without a runtime, each hook costs a test of its address.
// Valgrind only needs each stack registered once, when it is mapped: the stack layer's hooks
// (lib/stack/stack_annotations.hpp).

#include <spindle/detail/context.hpp>

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

// A build with a sanitizer takes its hooks from its headers. Every other hook is declared weak
// (with the prototype of the sanitizers' own headers): null unless the program links that
// sanitizer's runtime.
#if SPINDLE_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if SPINDLE_TSAN
#include <sanitizer/tsan_interface.h>
#endif
extern "C" {
#if !SPINDLE_ASAN && !SPINDLE_TSAN
__attribute__((weak)) void __sanitizer_set_report_path(const char* path);
#endif
#if !SPINDLE_ASAN
__attribute__((weak)) void __sanitizer_start_switch_fiber(void** fake_stack_save,
                                                          const void* bottom, std::size_t size);
__attribute__((weak)) void __sanitizer_finish_switch_fiber(void* fake_stack_save,
                                                           const void** bottom_old,
                                                           std::size_t* size_old);
__attribute__((weak)) void __asan_unpoison_memory_region(void const volatile* addr,
                                                         std::size_t size);
#endif
#if !SPINDLE_TSAN
__attribute__((weak)) void* __tsan_get_current_fiber(void);
__attribute__((weak)) void* __tsan_create_fiber(unsigned flags);
__attribute__((weak)) void __tsan_destroy_fiber(void* fiber);
__attribute__((weak)) void __tsan_switch_to_fiber(void* fiber, unsigned flags);
#endif
}
#if __has_include(<valgrind/valgrind.h>) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define SPINDLE_VALGRIND 1
#endif

namespace spindle::detail {

// sanitizer_runtime() tells whether the program has a sanitizer's runtime, so that switches must
// take the annotated path: always in a sanitized build; otherwise one test of a weak address,
// the only cost an ordinary program pays on a switch. __sanitizer_set_report_path is there in
// every sanitizer's runtime (the annotated path then asks which one).
inline bool sanitizer_runtime() noexcept {
#if SPINDLE_ASAN || SPINDLE_TSAN
    return true;
#else
    return __sanitizer_set_report_path != nullptr;
#endif
}

// asan_runtime() tells whether AddressSanitizer must hear of switches: always in a build with
// it, never in one with ThreadSanitizer (they exclude each other), and otherwise when the
// program has its runtime (the weak hook resolved).
inline bool asan_runtime() noexcept {
#if SPINDLE_ASAN
    return true;
#elif SPINDLE_TSAN
    return false;
#else
    return __sanitizer_start_switch_fiber != nullptr;
#endif
}

// tsan_runtime() is asan_runtime() for ThreadSanitizer.
inline bool tsan_runtime() noexcept {
#if SPINDLE_TSAN
    return true;
#elif SPINDLE_ASAN
    return false;
#else
    return __tsan_switch_to_fiber != nullptr;
#endif
}

// The context a switch left, so the arriving side can record the bounds of its stack.
// Defined in lib/context/thread_locals.cpp; read through asan_switched_from_slot(), because the
// arriving side reads it after a switch, maybe on another thread than the one that left.
extern thread_local sanitizer_context* asan_switched_from
    SPINDLE_THREAD_LOCAL_SYMBOL("spindle_asan_switched_from");
inline sanitizer_context*& asan_switched_from_slot() noexcept {
    return *SPINDLE_THREAD_LOCAL_ADDRESS(sanitizer_context*, "spindle_asan_switched_from");
}

// before_switch() runs on the leaving side. `leaving_for_good` says the leaving context will
// never run again (a finished fiber), so its fake stack can go.
inline void before_switch(sanitizer_context& from, sanitizer_context& to,
                          bool leaving_for_good) noexcept {
    if (asan_runtime()) {
        asan_switched_from_slot() = &from;
        __sanitizer_start_switch_fiber(leaving_for_good ? nullptr : &from.fake_stack,
                                       to.stack_bottom, to.stack_size);
    }
    if (tsan_runtime()) {
        if (!leaving_for_good) from.tsan_fiber = __tsan_get_current_fiber();
        __tsan_switch_to_fiber(to.tsan_fiber, 0);
    }
}

// after_switch() runs first thing on the arriving side.
inline void after_switch(sanitizer_context& self) noexcept {
    if (asan_runtime()) {
        sanitizer_context* from = asan_switched_from_slot();
        __sanitizer_finish_switch_fiber(self.fake_stack, &from->stack_bottom, &from->stack_size);
    }
}

// switch_context_annotated() is the switch with the sanitizers told; out of line, so that the
// ordinary switch stays small.
[[gnu::noinline]] inline void* switch_context_annotated(context_record& from, context_record& to,
                                                        void* arg, bool leaving_for_good) noexcept {
    before_switch(from.sanitizer, to.sanitizer, leaving_for_good);
    void* result = switch_context_unannotated(from, to, arg, thread_exception_state());
    after_switch(from.sanitizer);
    return result;
}

}  // namespace spindle::detail
