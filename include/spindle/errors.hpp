#pragma once
// The exceptions spindle throws. Each message says what was wrong in a user's words.

#include <stdexcept>

namespace spindle {

// fiber_error reports misuse of a fiber, generator or scheduler (resuming a finished or running
// fiber, sending to a generator that has not started, ...).
class fiber_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

// deadlock_error reports that a scheduler has tasks left that nothing can ever wake; the
// message lists each of them and what it waits on.
class deadlock_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// channel_closed reports a send on a closed channel.
class channel_closed : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// cancelled is thrown inside a cancelled task at its suspension point. It deliberately does not
// derive from std::exception, so `catch (const std::exception&)` does not swallow it.
struct cancelled {};

}  // namespace spindle
