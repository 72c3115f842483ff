#pragma once
// SPINDLE_ASSERT: the library's runtime invariant checks, on in debug and sanitizer builds of
// spindle and compiled out of release ones (see SPINDLE_ASSERTIONS in config.hpp), so that a
// broken invariant stops the program where it broke instead of corrupting it later.

#include <spindle/detail/config.hpp>

SPINDLE_EXPORTS_BEGIN

namespace spindle::detail {

// assertion_failed() writes "spindle: internal check failed: <what> (<condition>) at
// <file>:<line>" to stderr and aborts.
[[noreturn]] void assertion_failed(const char* condition, const char* what, const char* file,
                                   int line) noexcept;

}  // namespace spindle::detail

#if SPINDLE_ASSERTIONS
// SPINDLE_ASSERT(condition, what) stops the process with `what` when `condition` is false.
#define SPINDLE_ASSERT(condition, what)                                                    \
    ((condition) ? static_cast<void>(0)                                                    \
                 : ::spindle::detail::assertion_failed(#condition, what, __FILE__, __LINE__))
#else
#define SPINDLE_ASSERT(condition, what) static_cast<void>(0)
#endif

SPINDLE_EXPORTS_END
