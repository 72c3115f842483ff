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

#include "sanitizers.hpp"
#include "stack_mapping.hpp"

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

// How much a thread keeps for reuse, per size: at least a few stacks, and up to 64 MiB of
// writable stack (guard regions, which never cost memory, not counted). Picked so the default
// 256 KiB stacks (260 KiB writable) keep 252 and 16 KiB ones (20 KiB writable) keep 3276;
// beyond that the workload is not in a steady state anyway.
constexpr std::size_t kept_bytes_per_size = 64u << 20;
constexpr std::size_t kept_stacks_minimum = 16;

struct bucket {
    std::size_t writable = 0;
    bool guarded = false;
    free_stack* head = nullptr;
    std::size_t count = 0;
    std::size_t limit = 0;
};

class stack_pool {
public:
    ~stack_pool() {
        alive_ = false;
        for (bucket& b : buckets_)
            while (b.head) unmap_stack(pop(b));
    }

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
        if (!alive_) {
            unmap_stack(stack);
            return;
        }
        bucket* b = find(stack.writable(), stack.guarded);
        if (!b && bucket_count_ < max_buckets) {
            b = &buckets_[bucket_count_++];
            b->writable = stack.writable();
            b->guarded = stack.guarded;
            b->limit = std::max(kept_stacks_minimum, kept_bytes_per_size / stack.writable());
        }
        if (!b || b->count >= b->limit) {
            ++stats_.unmapped;
            unmap_stack(stack);
            return;
        }
        auto* node = ::new (stack.top() - sizeof(free_stack)) free_stack{b->head, stack};
        b->head = node;
        ++b->count;
    }

    stack_pool_statistics stats() const noexcept {
        stack_pool_statistics s = stats_;
        for (std::size_t i = 0; i < bucket_count_; ++i) s.cached += buckets_[i].count;
        return s;
    }

private:
    static constexpr std::size_t max_buckets = 16;

    // take_cached() pops a cached stack that fits the request: a guarded one when a guard is
    // asked for, an unguarded one when none is, or when the guard budget is spent for a stack
    // that takes a guard only when available (it would be mapped without one anyway).
    stack_memory take_cached(std::size_t writable, stack_guard guard) noexcept {
        bucket* b = nullptr;
        if (guard) b = find(writable, true);
        if ((!b || !b->head) &&
            (!guard || (guard.value == stack_guard::when_available && !guard_budget_left(guard))))
            b = find(writable, false);
        if (!b || !b->head) return {};
        ++stats_.reused;
        return pop(*b);
    }

    // trim() gives every cached stack back to the system; it tells whether there was any.
    bool trim() noexcept {
        bool any = false;
        for (std::size_t i = 0; i < bucket_count_; ++i)
            while (buckets_[i].head) {
                unmap_stack(pop(buckets_[i]));
                ++stats_.unmapped;
                any = true;
            }
        if (any) ++stats_.trimmed;
        return any;
    }

    // find() looks at the bucket used last first: a program mostly makes stacks of one size.
    bucket* find(std::size_t writable, bool guarded) noexcept {
        if (last_ && last_->writable == writable && last_->guarded == guarded) return last_;
        for (std::size_t i = 0; i < bucket_count_; ++i)
            if (buckets_[i].writable == writable && buckets_[i].guarded == guarded)
                return last_ = &buckets_[i];
        return nullptr;
    }

    static stack_memory pop(bucket& b) noexcept {
        free_stack* node = b.head;
        b.head = node->next;
        --b.count;
        return node->stack;
    }

    bucket buckets_[max_buckets];
    std::size_t bucket_count_ = 0;
    bucket* last_ = nullptr;
    stack_pool_statistics stats_;
    bool alive_ = true;
};

thread_local stack_pool pool;

}  // namespace

stack_memory acquire_stack(const stack_options& options, std::size_t top_reserve) {
    return pool.acquire(writable_size_for(options, top_reserve), options.size, options.guard);
}

void release_stack(stack_memory stack) noexcept {
    on_stack_recycled(stack.usable_bottom(), stack.writable());
    pool.release(stack);
}

stack_pool_statistics stack_pool_stats() noexcept { return pool.stats(); }

}  // namespace spindle::detail
