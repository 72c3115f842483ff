#pragma once
// intrusive_list: a doubly linked list threaded through its nodes, for the queues a waiting
// task sits in (wait queues, a scheduler's live tasks). Linking and unlinking never allocate.

#include <spindle/detail/config.hpp>
#include <spindle/detail/assert.hpp>

SPINDLE_EXPORTS_BEGIN

namespace spindle::detail {

// intrusive_list links Node objects through their Previous and Next members; a node is in at
// most one list per pair of members, and unlinked nodes have both members null.
template <class Node, Node* Node::*Previous, Node* Node::*Next>
struct intrusive_list {
    Node* head = nullptr;
    Node* tail = nullptr;

    bool empty() const noexcept { return head == nullptr; }

    // push_back() links an unlinked node at the back.
    void push_back(Node* node) noexcept {
        SPINDLE_ASSERT(node->*Previous == nullptr && node->*Next == nullptr && head != node,
                       "a node linked twice");
        node->*Previous = tail;
        if (tail)
            tail->*Next = node;
        else
            head = node;
        tail = node;
    }

    // remove() unlinks a node of this list.
    void remove(Node* node) noexcept {
        SPINDLE_ASSERT(node->*Previous ? node->*Previous->*Next == node : head == node,
                       "a node unlinked from a list it is not in");
        // Both links read once: the stores in between could alias them, as far as the compiler
        // knows.
        Node* const previous = node->*Previous;
        Node* const next = node->*Next;
        if (previous)
            previous->*Next = next;
        else
            head = next;
        if (next)
            next->*Previous = previous;
        else
            tail = previous;
        node->*Previous = node->*Next = nullptr;
    }
};

}  // namespace spindle::detail

SPINDLE_EXPORTS_END
