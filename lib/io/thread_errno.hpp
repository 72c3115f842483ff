#pragma once
// thread_errno(): errno read afresh, for code that waits between a system call and its check.

#include <cerrno>

namespace spindle::detail {

// thread_errno() is the calling thread's errno. glibc declares __errno_location() const, so a
// compiler may compute errno's address before a wait and use it after, when a task may be on
// another thread (brpc and flare met it). This call is out of line, and its empty asm volatile
// keeps the compiler from inferring that it is const itself.
[[gnu::noinline]] inline int& thread_errno() noexcept {
    __asm__ volatile("");
    return errno;
}

}  // namespace spindle::detail
