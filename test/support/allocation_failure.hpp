#pragma once
// Allocation failure on demand: this test binary replaces the global operator new with one that
// can be told to throw std::bad_alloc: once, at a chosen count, or always for a while. It is off unless a test arms it, and then only on the
// arming thread, so the rest of the binary allocates as usual.

#include <memory>
#include <new>

// fail_allocation makes the nth allocation from now on this thread (1: the next) throw
// std::bad_alloc, for as long as it lives; the allocations after that one succeed again.
class fail_allocation {
public:
    explicit fail_allocation(long nth) noexcept;
    ~fail_allocation();
    fail_allocation(const fail_allocation&) = delete;
    fail_allocation& operator=(const fail_allocation&) = delete;

    // failed() tells whether the armed allocation came and was refused.
    bool failed() const noexcept;
};

// fail_every_allocation makes every allocation on this thread throw std::bad_alloc (or return
// null, for the nothrow forms) for as long as it lives.
class fail_every_allocation {
public:
    fail_every_allocation() noexcept;
    ~fail_every_allocation();
    fail_every_allocation(const fail_every_allocation&) = delete;
    fail_every_allocation& operator=(const fail_every_allocation&) = delete;
};

// allocation_failure_available() tells whether fail_allocation works: not under Valgrind, which
// redirects calls to operator new to its own. Defined here, so that it allocates as the code
// under test does (a call from the file that defines operator new may be inlined past Valgrind).
inline bool allocation_failure_available() {
    fail_allocation fail(1);
    try {
        char* volatile p = std::allocator<char>().allocate(1);  // volatile: not elided
        std::allocator<char>().deallocate(p, 1);
    } catch (const std::bad_alloc&) {
    }
    return fail.failed();
}

// SKIP_UNLESS_ALLOCATION_FAILURE_AVAILABLE() is the first line of a test that needs it.
#define SKIP_UNLESS_ALLOCATION_FAILURE_AVAILABLE()                                             \
    if (!allocation_failure_available()) {                                                    \
        MESSAGE("operator new is replaced by a tool (Valgrind?): allocation failure untested"); \
        return;                                                                               \
    }
