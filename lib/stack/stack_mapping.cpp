// Mapping and unmapping stacks, and the guard budget that keeps a program with hundreds of
// thousands of fibers under vm.max_map_count.

#include "stack/stack_mapping.hpp"

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


// Every guard region splits a mapping in two, so each guarded stack costs the process two of
// its vm.max_map_count mappings (65530 by default); unguarded stacks merge with their
// neighbours and cost none. Stacks that take a guard when available stop getting one at half
// the limit, leaving the rest to the program. A required guard may go further, up to all but
// an eighth of the limit: past that, malloc, thread creation and dlopen would start failing.
constexpr std::size_t mappings_per_guarded_stack = 2;

std::atomic<std::size_t> guarded_stacks_mapped{0};
std::atomic<std::size_t> max_map_count_override{0};
std::atomic<std::size_t> kernel_max_map_count{0};

std::size_t read_kernel_max_map_count() noexcept {
    std::size_t limit = 65530;
    if (std::FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
        unsigned long value = 0;
        if (std::fscanf(f, "%lu", &value) == 1 && value > 0) limit = value;
        std::fclose(f);
    }
    kernel_max_map_count.store(limit, std::memory_order_relaxed);
    return limit;
}

std::size_t max_map_count() noexcept {
    if (const std::size_t limit = max_map_count_override.load(std::memory_order_relaxed))
        return limit;
    if (const std::size_t limit = kernel_max_map_count.load(std::memory_order_relaxed))
        return limit;
    return read_kernel_max_map_count();
}

std::size_t guard_budget(stack_guard guard, std::size_t limit) noexcept {
    if (guard.value == stack_guard::required)
        return (limit - limit / 8) / mappings_per_guarded_stack;
    return limit / 2 / mappings_per_guarded_stack;
}

bool take_guard_budget(stack_guard guard) noexcept {
    std::size_t limit = max_map_count();
    if (guarded_stacks_mapped.fetch_add(1, std::memory_order_relaxed) < guard_budget(guard, limit))
        return true;
    // A required guard is about to be refused: the administrator may have raised the sysctl
    // since it was read, and a file read is cheap next to the error.
    if (guard.value == stack_guard::required &&
        max_map_count_override.load(std::memory_order_relaxed) == 0 &&
        (limit = read_kernel_max_map_count(),
         guarded_stacks_mapped.load(std::memory_order_relaxed) <= guard_budget(guard, limit)))
        return true;
    guarded_stacks_mapped.fetch_sub(1, std::memory_order_relaxed);
    return false;
}

void give_back_guard_budget() noexcept {
    guarded_stacks_mapped.fetch_sub(1, std::memory_order_relaxed);
}

void tell_once_guards_are_spent() noexcept {
    static std::atomic<bool> told{false};
    if (!told.exchange(true))
        std::fprintf(stderr,
                     "spindle: %zu guarded fiber stacks are mapped, half of what vm.max_map_count "
                     "(%zu) allows; further stacks that take a guard when available get none "
                     "(an overflow is then caught only by a canary check when the fiber ends; "
                     "stack_guard::required refuses instead)\n",
                     guard_budget(stack_guard::when_available, max_map_count()), max_map_count());
}

[[noreturn]] void refuse_memory(const char* what, std::size_t bytes, int error) {
    char message[192];
    std::snprintf(message, sizeof message,
                  "spindle: no memory for a %zu-byte fiber stack (%s: %s)", bytes, what,
                  error == ENOMEM ? "ENOMEM" : "EAGAIN");
    throw stack_allocation_error(message);
}

[[noreturn]] void refuse_guard(std::size_t limit) {
    char message[192];
    std::snprintf(message, sizeof message,
                  "spindle: a guarded stack was required, but %zu guarded stacks are mapped, "
                  "all that vm.max_map_count (%zu) leaves room for",
                  guarded_stacks_mapped.load(std::memory_order_relaxed), limit);
    throw stack_allocation_error(message);
}

}  // namespace

std::size_t read_page_size() noexcept {
    const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    known_page_size.store(size, std::memory_order_relaxed);
    return size;
}

bool guard_budget_left(stack_guard guard) noexcept {
    return guard && guarded_stacks_mapped.load(std::memory_order_relaxed) <
                        guard_budget(guard, max_map_count());
}

stack_memory map_stack(std::size_t writable, stack_guard guard) {
    bool guarded = guard && take_guard_budget(guard);
    if (guard.value == stack_guard::required && !guarded) refuse_guard(max_map_count());
    if (guard && !guarded) tell_once_guards_are_spent();
    stack_memory stack;
    stack.mapped = writable + (guarded ? stack_guard_region : 0);
    // MAP_NORESERVE: a stack costs only the pages the fiber touches.
    void* p = ::mmap(nullptr, stack.mapped, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) {
        const int error = errno;
        if (guarded) give_back_guard_budget();
        if (error == ENOMEM || error == EAGAIN) refuse_memory("mmap", stack.mapped, error);
        throw std::system_error(error, std::generic_category(),
                                "spindle: mmap of a " + std::to_string(stack.mapped) +
                                    "-byte fiber stack failed");
    }
    stack.base = static_cast<std::byte*>(p);
    if (guarded && ::mprotect(stack.base, stack_guard_region, PROT_NONE) != 0) {
        // The process is at vm.max_map_count, whatever the budget said (other mappings took
        // the room). Unmapping the would-be guard shrinks the mapping without splitting it.
        const int error = errno;
        give_back_guard_budget();
        guarded = false;
        if (guard.value == stack_guard::required) {
            ::munmap(p, stack.mapped);
            refuse_memory("mprotect of the guard region, vm.max_map_count reached?", stack.mapped,
                          error == EAGAIN ? EAGAIN : ENOMEM);
        }
        tell_once_guards_are_spent();
        ::munmap(stack.base, stack_guard_region);
        stack.base += stack_guard_region;
        stack.mapped -= stack_guard_region;
    }
    stack.guarded = guarded;
    if (!guarded) *reinterpret_cast<std::uint64_t*>(stack.usable_bottom()) = stack_canary_value;
    return stack;
}

void unmap_stack(const stack_memory& stack) noexcept {
    ::munmap(stack.base, stack.mapped);
    if (stack.guarded) give_back_guard_budget();
}

bool drop_stack_pages(const stack_memory& stack, std::size_t keep_top) noexcept {
    std::byte* const low = stack.usable_bottom() + (stack.guarded ? 0 : page_size());
    std::byte* const high = stack.top() - keep_top;
    if (high <= low) return true;
    return ::madvise(low, static_cast<std::size_t>(high - low), MADV_DONTNEED) == 0;
}

void refuse_stack_size(const stack_options& options, std::size_t top_reserve) {
    if (options.size < minimum_stack_size)
        throw fiber_error("spindle: a stack of " + std::to_string(options.size) +
                          " bytes is too small; ask for at least " +
                          std::to_string(minimum_stack_size) + " (minimum_stack_size)");
    throw fiber_error("spindle: a stack of " + std::to_string(options.size) + " bytes (plus " +
                      std::to_string(top_reserve) +
                      " for the fiber itself) is larger than any stack can be; ask for at "
                      "most " + std::to_string(maximum_stack_size) + " (maximum_stack_size)");
}

std::size_t guarded_stacks_mapped_now() noexcept {
    return guarded_stacks_mapped.load(std::memory_order_relaxed);
}

void set_max_map_count_for_testing(std::size_t limit) noexcept {
    max_map_count_override.store(limit, std::memory_order_relaxed);
}

}  // namespace spindle::detail
