#pragma once
// Allocation failure on demand: this test binary replaces the global operator new with one that
// can be told to throw std::bad_alloc. It is off unless a test arms it, and then only on the
// arming thread, so the rest of the binary allocates as usual.

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
