// Wait queues: the order waiters are woken in, and the invariant checks that stop a wake-up of
// a waiter that is not waiting (in builds with SPINDLE_ASSERTIONS).

#include "child_process.hpp"
#include "scheduler/worker.hpp"
#include "workers.hpp"

#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace spindle;
using spindle_test::run_in_child;

// (One worker: the case wakes the queue's waiters directly, without the object lock and the
// claims that wakers of a scheduler with several workers must take (wait_queue.hpp), and checks
// the order the woken tasks run in, which several workers do not keep.)
TEST_CASE("wait queue: waiters are woken first in, first out, each with its outcome"
          * spindle_test::single_worker()) {
    detail::wait_queue queue;
    std::vector<int> order;
    std::vector<detail::wake_outcome> outcomes;
    run([&] {
        std::vector<task<void>> waiters;
        for (int i = 0; i < 3; ++i) {
            waiters.push_back(spawn([&, i] {
                detail::waiter w;
                detail::begin_wait(queue, w, "test queue");
                outcomes.push_back(detail::end_wait(w));
                order.push_back(i);
            }));
            this_fiber::yield();  // each waits before the next is spawned
        }
        CHECK(!queue.empty());
        detail::wake(*queue.front(), detail::wake_outcome::completed);
        detail::wake_all(queue, detail::wake_outcome::closed);
        CHECK(queue.empty());
        gather(std::move(waiters));
    });
    CHECK(order == std::vector<int>{0, 1, 2});
    CHECK(outcomes == std::vector<detail::wake_outcome>{detail::wake_outcome::completed,
                                                        detail::wake_outcome::closed,
                                                        detail::wake_outcome::closed});
}

TEST_CASE("wait queue: waking a waiter that is not waiting stops at the invariant check") {
    if (!SPINDLE_ASSERTIONS) {
        MESSAGE("skipped: this build has no invariant checks (release)");
        return;
    }
    const auto result = run_in_child([] {
        run([] {
            detail::wait_queue queue;
            detail::waiter w;
            detail::begin_wait(queue, w, "test queue");
            auto other = spawn([&] { detail::wake(w, detail::wake_outcome::completed); });
            detail::end_wait(w);
            // Woken and unlinked: a second wake-up is a broken invariant, not a second resume.
            detail::wake(w, detail::wake_outcome::completed);
        });
    });
    INFO(result.err);
    CHECK(result.signalled);
    CHECK(result.err.find("spindle: internal check failed: a waiter woken while not waiting") !=
          std::string::npos);
}
