#pragma once
// The exceptions spindle throws. Each message says what was wrong in a user's words.

#include <spindle/detail/config.hpp>

#include <cstddef>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

SPINDLE_EXPORTS_BEGIN

namespace spindle {

/// fiber_error reports misuse of a fiber, generator or scheduler (resuming a finished or running
/// fiber, sending to a generator that has not started, ...).
class fiber_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

/// stack_allocation_error reports that a fiber's stack could not be made: the system refused the
/// memory or address space (mmap failed with ENOMEM, as under RLIMIT_AS), or a guard was
/// required and the process's guard budget (vm.max_map_count) is spent. It is a std::bad_alloc,
/// so code that handles running out of memory handles it; what() says which. It carries its
/// message in a fixed buffer: making it allocates nothing.
class stack_allocation_error : public std::bad_alloc {
public:
    /// stack_allocation_error() keeps up to 191 bytes of `message`.
    explicit stack_allocation_error(const char* message) noexcept {
        std::size_t n = 0;
        for (; message[n] && n + 1 < sizeof message_; ++n) message_[n] = message[n];
        message_[n] = '\0';
    }
    /// what() says what was refused and why.
    const char* what() const noexcept override { return message_; }

private:
    char message_[192];
};

/// deadlock_error reports that a scheduler has tasks left that nothing can ever wake; the
/// message lists each of them and what it waits on.
class deadlock_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// channel_closed reports a send on a closed channel.
class channel_closed : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// timeout_error reports that a deadline passed before what was waited for happened:
/// with_timeout() and with_deadline() throw it when their deadline cancelled the function.
class timeout_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// exception_group carries every failure of a task group (Python's ExceptionGroup): the
/// exceptions of the tasks that failed, in the order they failed, after the exception of the
/// group's body if it threw. what() names each task and says what it threw.
class exception_group : public std::runtime_error {
public:
    /// exception_group() keeps `exceptions`; `message` is what what() returns.
    exception_group(std::vector<std::exception_ptr> exceptions, const std::string& message)
        : std::runtime_error(message), exceptions_(std::move(exceptions)) {}
    /// exceptions() is every failure, first to last.
    const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }

private:
    std::vector<std::exception_ptr> exceptions_;
};

/// broken_promise reports that a promise was destroyed (or given a new state by assignment)
/// before it was given a value or an exception: the future's get() throws it, so a task waiting
/// for a result that can no longer come is not left waiting forever.
class broken_promise : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// cancelled is thrown inside a cancelled task at its suspension point. It deliberately does not
/// derive from std::exception, so `catch (const std::exception&)` does not swallow it.
struct cancelled {};

}  // namespace spindle

SPINDLE_EXPORTS_END
