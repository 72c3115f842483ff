// Reuse of freed stacks, so that creating and destroying fibers in a loop makes no system call
// per fiber once warm. A first touch of a fresh page costs microseconds on these machines; a
// reused stack's pages are already there.
//
// The pool is per thread (no locking on the hot path) and keeps free stacks in intrusive lists
// threaded through the stacks themselves, one list per (writable size, guarded) pair.
//
// When the system refuses a stack (mmap fails with ENOMEM, as under RLIMIT_AS, or a required
// guard is over budget), the pool gives every stack it keeps back to the system and tries once
// more: idle stacks of other sizes must not make a creation fail. Only this thread's pool is
// trimmed; other threads' pools are theirs (no locks).

#include "stack/stack_annotations.hpp"
#include "stack/size_class_cache.hpp"
#include "stack/stack_pool.hpp"

#include <spindle/errors.hpp>

#include <algorithm>
#include <new>

namespace spindle::detail {
namespace {

// A free stack's list node lives at its own top: memory the previous fiber already touched.
struct free_stack {
    free_stack* next;
    stack_memory stack;
};

// stack_class is a free list's key: stacks are interchangeable when both of these match.
struct stack_class {
    std::size_t writable = 0;
    bool guarded = false;
    friend bool operator==(const stack_class&, const stack_class&) = default;
};

// How much a thread keeps for reuse, per size, as it was left: at least a few stacks, and up to
// 64 MiB of writable stack (guard regions, which never cost memory, not counted). Picked so the
// default 256 KiB stacks (260 KiB writable) keep 252 and 16 KiB ones (20 KiB writable) keep 3276.
constexpr std::size_t kept_bytes_per_size = 64u << 20;
constexpr std::size_t kept_stacks_minimum = 16;
// Beyond those, up to cold_stacks_per_size more are kept with their memory given back except
// the top cold_resident_bytes (where the next fiber's control block and first frames go): a
// burst of a thousand tasks then costs one madvise per stack released and no mapping, guard
// mprotect, unmapping or fresh page at the top when they are made again. Mapping, guarding and
// unmapping a stack and faulting its first pages cost 20-25 us on the shared machines (85% of a
// 1,000-task yield benchmark); the madvise of pages mostly never touched costs ~1 us. They cost
// address space (1,024 default stacks: 324 MiB of it) and cold_resident_bytes of memory each.
constexpr std::size_t cold_stacks_per_size = 1024;
constexpr std::size_t cold_resident_bytes = 8 * 1024;

class stack_pool {
public:
    ~stack_pool() { free_stacks_.drain(unmap_free_stack); }

    stack_memory acquire(std::size_t writable, std::size_t usable, stack_guard guard) {
        stack_memory stack = take_cached(writable, guard);
        if (!stack) {
            try {
                stack = map_stack(writable, guard);
            } catch (const stack_allocation_error&) {
                if (!trim()) throw;
                stack = map_stack(writable, guard);
            }
            ++stats_.mapped;
        }
        stack.usable = usable;
        return stack;
    }

    void release(const stack_memory& stack) noexcept {
        const stack_class key{stack.writable(), stack.guarded};
        const std::size_t warm_limit =
            std::max(kept_stacks_minimum, kept_bytes_per_size / stack.writable());
        // The list is LIFO, so a stack kept while the class holds fewer than warm_limit stays
        // below that depth until it is taken again: at most warm_limit stacks keep their pages.
        const std::size_t held = free_stacks_.count(key);
        if (held >= warm_limit && held < warm_limit + cold_stacks_per_size) {
            if (!drop_stack_pages(stack, std::max(cold_resident_bytes, page_size()))) {
                ++stats_.unmapped;
                unmap_stack(stack);
                return;
            }
            ++stats_.dropped;
        }
        auto* node = ::new (stack.top() - sizeof(free_stack)) free_stack{nullptr, stack};
        if (free_stacks_.push(key, node, warm_limit + cold_stacks_per_size)) return;
        ++stats_.unmapped;
        unmap_stack(stack);
    }

    stack_pool_statistics stats() const noexcept {
        stack_pool_statistics s = stats_;
        s.cached = free_stacks_.cached();
        return s;
    }

private:
    // unmap_free_stack() copies the stack's description out first: the node lives in the stack.
    static void unmap_free_stack(free_stack* node) noexcept {
        const stack_memory stack = node->stack;
        unmap_stack(stack);
    }

    // take_cached() pops a cached stack that fits the request: a guarded one when a guard is
    // asked for, an unguarded one when none is, or when the guard budget is spent for a stack
    // that takes a guard only when available (it would be mapped without one anyway).
    stack_memory take_cached(std::size_t writable, stack_guard guard) noexcept {
        free_stack* node = guard ? free_stacks_.pop({writable, true}) : nullptr;
        if (!node &&
            (!guard || (guard.value == stack_guard::when_available && !guard_budget_left(guard))))
            node = free_stacks_.pop({writable, false});
        if (!node) return {};
        ++stats_.reused;
        return node->stack;
    }

    // trim() gives every cached stack back to the system; it tells whether there was any.
    bool trim() noexcept {
        std::uint64_t unmapped = 0;
        const bool any = free_stacks_.drain([&unmapped](free_stack* node) {
            unmap_free_stack(node);
            ++unmapped;
        });
        stats_.unmapped += unmapped;
        if (any) ++stats_.trimmed;
        return any;
    }

    static constexpr std::size_t max_classes = 16;
    size_class_cache<stack_class, free_stack, max_classes> free_stacks_;
    stack_pool_statistics stats_;
};

thread_local stack_pool pool;

}  // namespace

stack_memory acquire_stack(const stack_options& options, std::size_t top_reserve) {
    return pool.acquire(writable_size_for(options, top_reserve), options.size, options.guard);
}

void release_stack(stack_memory stack) noexcept {
    // An unguarded stack's canary stays what it is (defined, for memcheck): the next fiber's end
    // reads it.
    const std::size_t canary = stack.guarded ? 0 : sizeof stack_canary_value;
    on_stack_recycled(stack.usable_bottom() + canary, stack.writable() - canary);
    pool.release(stack);
}

stack_pool_statistics stack_pool_stats() noexcept { return pool.stats(); }

}  // namespace spindle::detail
