// wait_in(): begin a wait with the object's name, end it, and say how it ended.

#include "sync/wait.hpp"

#include <spindle/errors.hpp>

namespace spindle::detail {

bool wait_in(wait_queue& queue, const object_name& name, const char* what,
             const std::chrono::steady_clock::time_point* deadline, const char* destroyed) {
    waiter w;
    w.object = name.c_str();
    if (deadline)
        begin_wait_until(queue, w, what, *deadline);
    else
        begin_wait(queue, w, what);
    switch (end_wait(w)) {
    case wake_outcome::completed:
        return true;
    case wake_outcome::timed_out:
        if (deadline) return false;
        break;
    case wake_outcome::closed:
        throw fiber_error(destroyed);
    case wake_outcome::retry:
        // Only a channel's hand-over can throw; the sync layer's wakers hand over nothing that
        // could.
        SPINDLE_ASSERT(false, "a sync primitive's wait ended in retry");
        break;
    case wake_outcome::waiting:
    case wake_outcome::cancelled:
        break;
    }
    // end_wait() returns an interruption instead of throwing it only while the task unwinds
    // (the cancellation then stays pending). Nothing was obtained; returning would say otherwise.
    throw cancelled{};
}

}  // namespace spindle::detail
