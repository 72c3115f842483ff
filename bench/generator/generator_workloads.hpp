#pragma once
// The generator benchmarks' workloads, each written three ways: spindle's stackful generator,
// a C++20 stackless generator, and Boost.Coroutine2 — and, on x86-64, a fourth: the floor, a
// generator on a bare switch without any of spindle's guarantees (bare_generator.hpp).
// generator_bench times them; generator_count runs them under callgrind.
//
// flat: the sum of 1..n through a generator of int.
// deep: the sum of a perfect binary tree's values, yielded by an in-order traversal. The
//       stackful generators yield straight from the recursion; the stackless one can only nest
//       a generator per level and re-yield what the levels below produced.

#include "bare_generator.hpp"
#include "stackless_generator.hpp"

#include <spindle/generator.hpp>

// Boost.Coroutine2's control block trips g++ 12's -Wmaybe-uninitialized once inlined at -O3.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/coroutine2/coroutine.hpp>
#include <boost/coroutine2/pooled_fixedsize_stack.hpp>
#pragma GCC diagnostic pop

#include <vector>

namespace generator_bench {

// tree_node is one node of the tree the deep workload walks.
struct tree_node {
    int value;
    const tree_node* left;
    const tree_node* right;
};

// perfect_tree is a perfect binary tree of the given depth (2^depth - 1 nodes), whose in-order
// values are 1, 2, 3, ... so that the sum is known.
class perfect_tree {
public:
    explicit perfect_tree(int depth) {
        nodes_.reserve((std::size_t{1} << depth) - 1);  // no reallocation: node pointers stay
        int next_value = 1;
        root_ = build(depth, next_value);
    }
    const tree_node* root() const noexcept { return root_; }
    long long size() const noexcept { return static_cast<long long>(nodes_.size()); }
    long long expected_sum() const noexcept { return size() * (size() + 1) / 2; }

private:
    const tree_node* build(int depth, int& next_value) {
        if (depth == 0) return nullptr;
        tree_node& node = nodes_.emplace_back();
        node.left = build(depth - 1, next_value);
        node.value = next_value++;
        node.right = build(depth - 1, next_value);
        return &node;
    }

    std::vector<tree_node> nodes_;
    const tree_node* root_ = nullptr;
};

using coroutine2 = boost::coroutines2::coroutine<int>;

// Boost.Coroutine2 gets pooled stacks, as spindle's are, so creation is not what is compared.
inline boost::coroutines2::pooled_fixedsize_stack& coroutine2_stacks() {
    thread_local boost::coroutines2::pooled_fixedsize_stack stacks;
    return stacks;
}

// ---- flat ----

inline long long flat_spindle(int n) {
    spindle::generator<int> numbers([n](spindle::yielder<int>& yield) {
        for (int i = 1; i <= n; ++i) yield(i);
    });
    long long sum = 0;
    for (int v : numbers) sum += v;
    return sum;
}

inline stackless_generator<int> numbers_to(int n) {
    for (int i = 1; i <= n; ++i) co_yield i;
}

inline long long flat_stackless(int n) {
    long long sum = 0;
    for (int v : numbers_to(n)) sum += v;
    return sum;
}

inline long long flat_coroutine2(int n) {
    coroutine2::pull_type numbers(coroutine2_stacks(), [n](coroutine2::push_type& sink) {
        for (int i = 1; i <= n; ++i) sink(i);
    });
    long long sum = 0;
    for (int v : numbers) sum += v;
    return sum;
}

#if GENERATOR_BENCH_HAS_FLOOR
inline long long flat_floor(int n) {
    bare_generator numbers(
        [](bare_generator& self, const void* argument) {
            const int count = *static_cast<const int*>(argument);
            for (int i = 1; i <= count; ++i) self.yield(i);
        },
        &n);
    long long sum = 0;
    while (numbers.next()) sum += numbers.value();
    return sum;
}
#endif

// ---- deep ----

inline void walk(const tree_node* node, spindle::yielder<int>& yield) {
    if (node->left) walk(node->left, yield);
    yield(node->value);
    if (node->right) walk(node->right, yield);
}

inline long long deep_spindle(const tree_node* root) {
    spindle::generator<int> values([root](spindle::yielder<int>& yield) { walk(root, yield); });
    long long sum = 0;
    for (int v : values) sum += v;
    return sum;
}

inline stackless_generator<int> inorder(const tree_node* node) {
    if (node->left)
        for (int v : inorder(node->left)) co_yield v;
    co_yield node->value;
    if (node->right)
        for (int v : inorder(node->right)) co_yield v;
}

inline long long deep_stackless(const tree_node* root) {
    long long sum = 0;
    for (int v : inorder(root)) sum += v;
    return sum;
}

inline void walk(const tree_node* node, coroutine2::push_type& sink) {
    if (node->left) walk(node->left, sink);
    sink(node->value);
    if (node->right) walk(node->right, sink);
}

inline long long deep_coroutine2(const tree_node* root) {
    coroutine2::pull_type values(coroutine2_stacks(),
                                 [root](coroutine2::push_type& sink) { walk(root, sink); });
    long long sum = 0;
    for (int v : values) sum += v;
    return sum;
}

#if GENERATOR_BENCH_HAS_FLOOR
inline void walk(const tree_node* node, bare_generator& self) {
    if (node->left) walk(node->left, self);
    self.yield(node->value);
    if (node->right) walk(node->right, self);
}

inline long long deep_floor(const tree_node* root) {
    bare_generator values(
        [](bare_generator& self, const void* argument) {
            walk(static_cast<const tree_node*>(argument), self);
        },
        root);
    long long sum = 0;
    while (values.next()) sum += values.value();
    return sum;
}
#endif

}  // namespace generator_bench
