// Mapping and unmapping stacks, and the guard-page budget that keeps a program with hundreds of
// thousands of fibers under vm.max_map_count.

#include "stack.hpp"

#include <spindle/errors.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>

namespace spindle::detail {
namespace {

constexpr std::uint64_t canary_value = 0x5350494e444c4521ull;  // "SPINDLE!"
constexpr std::size_t minimum_stack_size = 4096;

// Every guard page splits a mapping in two, so each guarded stack costs the process two of its
// vm.max_map_count mappings (65530 by default). Past half the limit, spindle stops adding guard
// pages rather than make mmap fail for the whole program, and says so once on stderr.
std::atomic<std::size_t> guarded_stacks_mapped{0};

std::size_t guarded_stack_budget() noexcept {
    static const std::size_t budget = [] {
        std::size_t max_map_count = 65530;
        if (std::FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
            unsigned long value = 0;
            if (std::fscanf(f, "%lu", &value) == 1 && value > 0) max_map_count = value;
            std::fclose(f);
        }
        return max_map_count / 4;  // two mappings each, half the limit left to the program
    }();
    return budget;
}

bool take_guard_budget() noexcept {
    if (guarded_stacks_mapped.fetch_add(1, std::memory_order_relaxed) < guarded_stack_budget())
        return true;
    guarded_stacks_mapped.fetch_sub(1, std::memory_order_relaxed);
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
        std::fprintf(stderr,
                     "spindle: %zu guarded fiber stacks are mapped, half of vm.max_map_count "
                     "allows; further stacks get no guard page (overflow is then caught only by "
                     "a canary check when the fiber ends)\n",
                     guarded_stack_budget());
    return false;
}

}  // namespace

std::size_t page_size() noexcept {
    static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

stack_memory map_stack(std::size_t usable, bool guard) {
    const std::size_t page = page_size();
    if (guard) guard = take_guard_budget();
    stack_memory stack;
    stack.usable = usable;
    stack.mapped = usable + (guard ? page : 0);
    // MAP_NORESERVE: a stack costs only the pages the fiber touches.
    void* p = ::mmap(nullptr, stack.mapped, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) {
        if (guard) guarded_stacks_mapped.fetch_sub(1, std::memory_order_relaxed);
        throw std::system_error(errno, std::generic_category(),
                                "spindle: mmap of a " + std::to_string(stack.mapped) +
                                    "-byte fiber stack failed");
    }
    stack.base = static_cast<std::byte*>(p);
    if (guard) {
        if (::mprotect(stack.base, page, PROT_NONE) != 0) {
            const int error = errno;
            ::munmap(p, stack.mapped);
            guarded_stacks_mapped.fetch_sub(1, std::memory_order_relaxed);
            throw std::system_error(error, std::generic_category(),
                                    "spindle: mprotect of a fiber stack's guard page failed "
                                    "(vm.max_map_count reached?)");
        }
        stack.guarded = true;
    } else {
        *reinterpret_cast<std::uint64_t*>(stack.usable_bottom()) = canary_value;
    }
    return stack;
}

void unmap_stack(const stack_memory& stack) noexcept {
    ::munmap(stack.base, stack.mapped);
    if (stack.guarded) guarded_stacks_mapped.fetch_sub(1, std::memory_order_relaxed);
}

std::size_t usable_size_for(const stack_options& options) {
    if (options.size < minimum_stack_size)
        throw fiber_error("spindle: a stack of " + std::to_string(options.size) +
                          " bytes is too small; ask for at least " +
                          std::to_string(minimum_stack_size));
    const std::size_t page = page_size();  // a power of two: round with a mask, not a division
    return (options.size + page - 1) & ~(page - 1);
}

bool stack_canary_intact(const stack_memory& stack) noexcept {
    return stack.guarded ||
           *reinterpret_cast<const std::uint64_t*>(stack.usable_bottom()) == canary_value;
}

}  // namespace spindle::detail
