// The end of a failed SPINDLE_ASSERT. In the lowest layer, so that every layer may check.

#include <spindle/detail/assert.hpp>

#include <cstdio>
#include <cstdlib>

namespace spindle::detail {

void assertion_failed(const char* condition, const char* what, const char* file,
                      int line) noexcept {
    std::fprintf(stderr, "spindle: internal check failed: %s (%s) at %s:%d\n", what, condition,
                 file, line);
    std::abort();
}

}  // namespace spindle::detail
