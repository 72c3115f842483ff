#pragma once
// on_new_thread(): run a piece of a test on a thread of its own, for the tests that move fibers
// and generators between threads.

#include <thread>

namespace spindle_test {

// on_new_thread() runs `work` on a thread of its own and waits for it to end.
template <class F>
void on_new_thread(F work) {
    std::thread thread(work);
    thread.join();
}

}  // namespace spindle_test
