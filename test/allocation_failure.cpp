// The replaceable operator new and delete behind fail_allocation. Every form that sanitizers
// replace is replaced here (each new with malloc, each delete with free), so that a pair never
// mixes allocators; the aligned forms are left as they are, in matched pairs.

#include "allocation_failure.hpp"

#include <cstdlib>
#include <new>

namespace {

// allocations_until_failure counts down to the allocation that fails; 0: none is armed.
thread_local long allocations_until_failure = 0;
thread_local bool allocation_failed = false;

void* allocate(std::size_t size) noexcept {
    if (allocations_until_failure > 0 && --allocations_until_failure == 0) {
        allocation_failed = true;
        return nullptr;
    }
    return std::malloc(size ? size : 1);
}

void* allocate_or_throw(std::size_t size) {
    if (void* p = allocate(size)) return p;
    throw std::bad_alloc();
}

}  // namespace

fail_allocation::fail_allocation(long nth) noexcept {
    allocations_until_failure = nth;
    allocation_failed = false;
}

fail_allocation::~fail_allocation() { allocations_until_failure = 0; }

bool fail_allocation::failed() const noexcept { return allocation_failed; }

void* operator new(std::size_t size) { return allocate_or_throw(size); }
void* operator new[](std::size_t size) { return allocate_or_throw(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
