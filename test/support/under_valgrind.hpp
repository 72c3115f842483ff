#pragma once
// under_valgrind(): whether Valgrind runs the test, for the cases that scale their work down
// under it (it runs one thread at a time, and each system call or stack switch costs far more).

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif

namespace spindle_test {

// under_valgrind() is true when Valgrind runs the test.
inline bool under_valgrind() {
#if __has_include(<valgrind/valgrind.h>)
    return RUNNING_ON_VALGRIND;
#else
    return false;
#endif
}

}  // namespace spindle_test
