#pragma once
// Helpers for tests that overflow a stack in a forked child (see child_process.hpp): a recursion
// that runs past any stack, and a way for the child to say which fiber it expects the message
// to name, since only the child knows the ids.

#include "child_process.hpp"

#include <unistd.h>

#include <string>

namespace spindle_test {

// The depth limit is never reached on a small stack; it only keeps the compiler from calling
// the recursion infinite.
inline volatile int overflow_depth_limit = 1 << 30;

// recurse_deeply() recurses with 512-byte frames until the stack runs out.
__attribute__((noinline)) inline int recurse_deeply(int depth) {
    volatile char frame[512];
    frame[0] = static_cast<char>(depth);
    if (depth >= overflow_depth_limit) return frame[0];
    return recurse_deeply(depth + 1) + frame[0];
}

// announce() writes, in the child, the description the overflow message should start with.
inline void announce(const std::string& description) {
    const std::string line = "expected: " + description + "\n";
    (void)!::write(STDERR_FILENO, line.data(), line.size());
}

// announced() is what the child announced, or empty.
inline std::string announced(const child_result& result) {
    const std::string marker = "expected: ";
    const std::size_t at = result.err.find(marker);
    if (at == std::string::npos) return {};
    const std::size_t begin = at + marker.size();
    return result.err.substr(begin, result.err.find('\n', begin) - begin);
}

// reported_overflow_of() tells whether the child died of SIGSEGV with the overflow message
// naming exactly what it announced (the whole chain, up to the colon).
inline bool reported_overflow_of(const child_result& result) {
    const std::string expected = announced(result);
    return result.signalled && !expected.empty() &&
           result.err.find("spindle: stack overflow in " + expected + ": it ran past") !=
               std::string::npos;
}

}  // namespace spindle_test
