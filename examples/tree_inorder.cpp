// In-order traversal of a binary search tree, written as plain recursion that yields at every
// node. The Python it ports:
//
//     def inorder(t):
//         if t:
//             yield from inorder(t.left)
//             yield t.key
//             yield from inorder(t.right)
//
// Python (and a C++20 stackless coroutine) needs a generator per level, each re-yielding what
// the levels below produced. A stackful generator yields straight from the recursion: walk() is
// an ordinary function, and each key travels to the consumer in one step whatever its depth.

#include <spindle/generator.hpp>

#include <cstdio>
#include <memory>
#include <string>

using spindle::generator;
using spindle::yielder;

struct node {
    std::string key;
    std::unique_ptr<node> left, right;
};

void insert(std::unique_ptr<node>& root, std::string key) {
    if (!root) {
        root = std::make_unique<node>(node{std::move(key), nullptr, nullptr});
        return;
    }
    std::unique_ptr<node>& branch = key < root->key ? root->left : root->right;
    insert(branch, std::move(key));
}

// walk() is the recursion; it knows about the yielder and nothing else about generators.
void walk(const node* n, yielder<const std::string&>& yield) {
    if (!n) return;
    walk(n->left.get(), yield);
    yield(n->key);  // a reference to the key in the tree: nothing is copied
    walk(n->right.get(), yield);
}

generator<const std::string&> inorder(const node* root) {
    return generator<const std::string&>(
        [root](yielder<const std::string&>& yield) { walk(root, yield); });
}

int main() {
    std::unique_ptr<node> root;
    for (const char* word : {"mango", "apple", "peach", "banana", "cherry", "kiwi", "plum", "fig"})
        insert(root, word);

    std::printf("in order:");
    for (const std::string& key : inorder(root.get())) std::printf(" %s", key.c_str());
    std::printf("\n");

    // Laziness: take the first three and stop; the recursion is unwound when the generator goes.
    auto keys = inorder(root.get());
    std::printf("first three:");
    for (int i = 0; i < 3; ++i) std::printf(" %s", keys.next()->c_str());
    std::printf("\n");
}
