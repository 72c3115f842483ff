#pragma once
// size_class_cache: a thread's free lists of reusable blocks, one per size class. The stack pool
// keeps freed stacks in one; the scheduler keeps freed task records in another.

#include <spindle/detail/assert.hpp>

#include <cstddef>

namespace spindle::detail {

// size_class_cache keeps freed Blocks (each with a `Block* next` member, threaded through the
// free memory itself) in up to Classes lists, one per Key, each holding at most its limit. It is
// meant to be thread_local, so it takes no lock. Once destroyed (at thread exit, while other
// thread-locals may still free blocks), it refuses every block: the caller frees it instead.
template <class Key, class Block, std::size_t Classes>
class size_class_cache {
public:
    size_class_cache() = default;
    size_class_cache(const size_class_cache&) = delete;
    size_class_cache& operator=(const size_class_cache&) = delete;
    ~size_class_cache() { alive_ = false; }

    // pop() takes a cached block of class `key`, or returns nullptr.
    Block* pop(const Key& key) noexcept {
        size_class* c = find(key);
        if (!c || !c->head) return nullptr;
        Block* block = c->head;
        c->head = block->next;
        --c->count;
        return block;
    }

    // push() keeps `block` in class `key` (made with room for `limit` blocks if it is new) and
    // tells whether it did; when it did not (the class is full, there is no room for another
    // class, or the cache is gone) the caller frees the block.
    bool push(const Key& key, Block* block, std::size_t limit) noexcept {
        if (!alive_) return false;
        size_class* c = find(key);
        if (!c && used_ < Classes) {
            c = &classes_[used_++];
            c->key = key;
            c->limit = limit;
        }
        if (!c || c->count >= c->limit) return false;
        SPINDLE_ASSERT(c->head != block, "a block freed twice");
        block->next = c->head;
        c->head = block;
        ++c->count;
        return true;
    }

    // count() is how many blocks class `key` holds.
    std::size_t count(const Key& key) noexcept {
        const size_class* c = find(key);
        return c ? c->count : 0;
    }

    // drain() takes every cached block out and hands each to free_block(Block*); it tells
    // whether there was any.
    template <class Free>
    bool drain(Free free_block) noexcept {
        bool any = false;
        for (std::size_t i = 0; i < used_; ++i)
            while (Block* block = classes_[i].head) {
                classes_[i].head = block->next;
                --classes_[i].count;
                free_block(block);
                any = true;
            }
        return any;
    }

    // cached() counts the blocks kept.
    std::size_t cached() const noexcept {
        std::size_t n = 0;
        for (std::size_t i = 0; i < used_; ++i) n += classes_[i].count;
        return n;
    }

private:
    struct size_class {
        Key key{};
        Block* head = nullptr;
        std::size_t count = 0;
        std::size_t limit = 0;
    };

    // find() looks at the class used last first: a program mostly uses one size at a time.
    size_class* find(const Key& key) noexcept {
        if (last_ && last_->key == key) return last_;
        for (std::size_t i = 0; i < used_; ++i)
            if (classes_[i].key == key) return last_ = &classes_[i];
        return nullptr;
    }

    size_class classes_[Classes];
    std::size_t used_ = 0;
    size_class* last_ = nullptr;
    bool alive_ = true;
};

}  // namespace spindle::detail
