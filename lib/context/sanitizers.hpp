#pragma once
// Which tools the build has (SPINDLE_ASAN, SPINDLE_TSAN, SPINDLE_VALGRIND), and telling them
// about context switches.
//
// Each hook compiles to nothing unless its tool is in the build, so the ordinary build pays
// nothing for them. AddressSanitizer must hear of every switch (it tracks which stack is live
// and keeps a "fake stack" per context); ThreadSanitizer keeps a fiber object per context.
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
