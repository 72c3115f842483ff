// The replaceable operator new and delete behind fail_allocation and fail_every_allocation.
// Every form is replaced (each new with posix_memalign, each delete with free), so that what a
// sanitizer's runtime would have provided never meets these (it reports new/free mismatches);
// none is inlined, so that a tool that replaces them (Valgrind) replaces them all.

#include "allocation_failure.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace {

// allocations_until_failure counts down to the allocation that fails; 0: none is armed.
thread_local long allocations_until_failure = 0;
// every_allocation_fails is set while a fail_every_allocation lives on this thread.
thread_local bool every_allocation_fails = false;
thread_local bool allocation_failed = false;

bool this_allocation_fails() noexcept {
    if (every_allocation_fails ||
        (allocations_until_failure > 0 && --allocations_until_failure == 0)) {
        allocation_failed = true;
        return true;
    }
    return false;
}

void* allocate(std::size_t size, std::size_t alignment) noexcept {
    if (this_allocation_fails()) return nullptr;
    void* memory = nullptr;
    if (::posix_memalign(&memory, std::max(alignment, sizeof(void*)), size ? size : 1) != 0)
        return nullptr;
    return memory;
}

void* allocate_or_throw(std::size_t size, std::size_t alignment) {
    if (void* memory = allocate(size, alignment)) return memory;
    throw std::bad_alloc();
}

constexpr std::size_t default_alignment = alignof(std::max_align_t);

}  // namespace

fail_allocation::fail_allocation(long nth) noexcept {
    allocations_until_failure = nth;
    allocation_failed = false;
}

fail_allocation::~fail_allocation() { allocations_until_failure = 0; }

bool fail_allocation::failed() const noexcept { return allocation_failed; }

fail_every_allocation::fail_every_allocation() noexcept {
    every_allocation_fails = true;
    allocation_failed = false;
}

fail_every_allocation::~fail_every_allocation() { every_allocation_fails = false; }

[[gnu::noinline]] void* operator new(std::size_t size) {
    return allocate_or_throw(size, default_alignment);
}
[[gnu::noinline]] void* operator new[](std::size_t size) {
    return allocate_or_throw(size, default_alignment);
}
[[gnu::noinline]] void* operator new(std::size_t size, std::align_val_t alignment) {
    return allocate_or_throw(size, static_cast<std::size_t>(alignment));
}
[[gnu::noinline]] void* operator new[](std::size_t size, std::align_val_t alignment) {
    return allocate_or_throw(size, static_cast<std::size_t>(alignment));
}
[[gnu::noinline]] void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    return allocate(size, default_alignment);
}
[[gnu::noinline]] void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    return allocate(size, default_alignment);
}
[[gnu::noinline]] void* operator new(std::size_t size, std::align_val_t alignment,
                                     const std::nothrow_t&) noexcept {
    return allocate(size, static_cast<std::size_t>(alignment));
}
[[gnu::noinline]] void* operator new[](std::size_t size, std::align_val_t alignment,
                                       const std::nothrow_t&) noexcept {
    return allocate(size, static_cast<std::size_t>(alignment));
}
// The other forms of delete go through these two, never straight to free(): where a tool
// replaces some forms and not others (Valgrind leaves the sized ones), they still meet its own.
[[gnu::noinline]] void operator delete(void* memory) noexcept { std::free(memory); }
[[gnu::noinline]] void operator delete(void* memory, std::align_val_t) noexcept {
    std::free(memory);
}
void operator delete[](void* memory) noexcept { ::operator delete(memory); }
void operator delete(void* memory, std::size_t) noexcept { ::operator delete(memory); }
void operator delete[](void* memory, std::size_t) noexcept { ::operator delete(memory); }
void operator delete(void* memory, const std::nothrow_t&) noexcept { ::operator delete(memory); }
void operator delete[](void* memory, const std::nothrow_t&) noexcept { ::operator delete(memory); }
void operator delete[](void* memory, std::align_val_t alignment) noexcept {
    ::operator delete(memory, alignment);
}
void operator delete(void* memory, std::size_t, std::align_val_t alignment) noexcept {
    ::operator delete(memory, alignment);
}
void operator delete[](void* memory, std::size_t, std::align_val_t alignment) noexcept {
    ::operator delete(memory, alignment);
}
void operator delete(void* memory, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    ::operator delete(memory, alignment);
}
void operator delete[](void* memory, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    ::operator delete(memory, alignment);
}
