#pragma once
// How a fiber's stack is allocated.

#include <cstddef>

namespace spindle {

// stack_options sizes a fiber's stack. Stacks are mmap'd, so only the pages a fiber touches cost
// memory; freed stacks are kept per thread and reused.
struct stack_options {
    std::size_t size = 256 * 1024;  // at least this many usable bytes (rounded up to whole pages)
    bool guard = true;              // an inaccessible guard page below the stack: running past
                                    // the end stops the process with a message naming the fiber
};

}  // namespace spindle
