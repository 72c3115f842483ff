// Reuse of freed stacks, so that creating and destroying fibers in a loop makes no system call
// per fiber once warm. A first touch of a fresh page costs microseconds on these machines; a
// reused stack's pages are already there.
//
// The pool is per thread (no locking on the hot path) and keeps free stacks in intrusive lists
// threaded through the stacks themselves, one list per (usable size, guarded) pair.

#include "sanitizers.hpp"
#include "stack_mapping.hpp"

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
// address space. Picked so the default 256 KiB stacks keep 256 and 16 KiB stacks keep 4096;
// beyond that the workload is not in a steady state anyway.
constexpr std::size_t kept_bytes_per_size = 64u << 20;
constexpr std::size_t kept_stacks_minimum = 16;

struct bucket {
    std::size_t usable = 0;
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

    stack_memory acquire(std::size_t usable, bool guard) {
        if (bucket* b = find(usable, guard); b && b->head) {
            ++stats_.reused;
            return pop(*b);
        }
        ++stats_.mapped;
        return map_stack(usable, guard);
    }

    void release(const stack_memory& stack) noexcept {
        if (!alive_) {
            unmap_stack(stack);
            return;
        }
        bucket* b = find(stack.usable, stack.guarded);
        if (!b && bucket_count_ < max_buckets) {
            b = &buckets_[bucket_count_++];
            b->usable = stack.usable;
            b->guarded = stack.guarded;
            b->limit = std::max(kept_stacks_minimum, kept_bytes_per_size / stack.mapped);
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

    // find() looks at the bucket used last first: a program mostly makes stacks of one size.
    bucket* find(std::size_t usable, bool guarded) noexcept {
        if (last_ && last_->usable == usable && last_->guarded == guarded) return last_;
        for (std::size_t i = 0; i < bucket_count_; ++i)
            if (buckets_[i].usable == usable && buckets_[i].guarded == guarded)
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

stack_memory acquire_stack(const stack_options& options) {
    return pool.acquire(usable_size_for(options), options.guard);
}

void release_stack(stack_memory stack) noexcept {
    on_stack_recycled(stack.usable_bottom(), stack.usable);
    pool.release(stack);
}

stack_pool_statistics stack_pool_stats() noexcept { return pool.stats(); }

}  // namespace spindle::detail
