// wait_in(): begin a wait with the object's name, end it, and say how it ended.

#include "sync/wait.hpp"

#include <spindle/errors.hpp>

namespace spindle::detail {

namespace {

// ended() says what a wait's outcome means for wait_in().
bool ended(wake_outcome outcome, const std::chrono::steady_clock::time_point* deadline,
           const char* destroyed) {
    switch (outcome) {
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

}  // namespace

bool wait_in(wait_queue& queue, wait_lock& lock, object_guard& guard, const object_name& name,
             const char* what, const std::chrono::steady_clock::time_point* deadline,
             const char* destroyed, void* slot) {
    waiter w;
    w.object = name.c_str();
    w.lock = &lock;
    w.slot = slot;
    // A thread outside any task blocks (where it takes the locks: elsewhere begin_wait() says
    // the wait is outside any task).
    if (guard.held() && !in_task())
        return ended(wait_here(queue, w, guard, what,
                               deadline ? *deadline : std::chrono::steady_clock::time_point::max()),
                     deadline, destroyed);
    if (deadline)
        begin_wait_until(queue, w, what, *deadline);
    else
        begin_wait(queue, w, what);
    return ended(end_wait(w, guard), deadline, destroyed);
}


}  // namespace spindle::detail
