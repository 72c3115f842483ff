// scheduler examples: each program in examples/ runs and prints what its asyncio / Go original
// does.

#include "example_program.hpp"
#include "workers.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace {

using example_test::program_output;
using example_test::run_example_program;

}  // namespace

// (One worker, these four: each checks the order of the example's printed lines, which is the
// order of one worker's turns.)
TEST_CASE("example round_robin: two tasks print alternately" *
          spindle_test::single_worker()) {
    const program_output out = run_example_program("round_robin");
    CHECK(out.exit_code == 0);
    CHECK(out.lines == std::vector<std::string>{"ping: step 0", "pong: step 0", "ping: step 1",
                                                "pong: step 1", "ping: step 2", "pong: step 2"});
}

TEST_CASE("example job_queue: a worker drains five jobs, then sees the channel closed" *
          spindle_test::single_worker()) {
    const program_output out = run_example_program("job_queue");
    CHECK(out.exit_code == 0);
    CHECK(out.lines == std::vector<std::string>{
                           "producer: sending job 1",
                           "producer: sending job 2",
                           "producer: sending job 3",  // the buffer holds two: this one waits
                           "worker: job 1 -> 1",
                           "worker: job 2 -> 4",
                           "worker: job 3 -> 9",
                           "producer: sending job 4",
                           "producer: sending job 5",
                           "producer: closing",
                           "worker: job 4 -> 16",
                           "worker: job 5 -> 25",
                           "worker: channel closed, 5 jobs done",
                           "main: worker handled 5 jobs",
                       });
}

TEST_CASE("example connection_pool: two connections for four tasks; the last in line is cancelled" *
          spindle_test::single_worker()) {
    const program_output out = run_example_program("connection_pool");
    CHECK(out.exit_code == 0);
    CHECK(out.lines == std::vector<std::string>{
                           "alice: got connection 1",
                           "bob: got connection 2",
                           "carol: waiting for a connection",
                           "dave: waiting for a connection",
                           "main: cancelling dave",
                           "dave: cancelled",  // its wait threw spindle::cancelled
                           "alice: returns connection 1",
                           "main: dave ended cancelled",  // join() rethrew it
                           "carol: got connection 1",     // the longest waiter left
                           "bob: returns connection 2",
                           "carol: returns connection 1",
                           "main: all connections back",
                       });
}

TEST_CASE("example task_groups: a failure cancels the group, timeouts, run() ends the heartbeat" *
          spindle_test::single_worker()) {
    const program_output out = run_example_program("task_groups");
    CHECK(out.exit_code == 0);
    CHECK(out.lines == std::vector<std::string>{
                           "pipeline: 1 failure, 3 tasks cancelled, sum so far 6",
                           "  cannot parse 'oops'",
                           "lookup: timed out",
                           "lookup: gave up quietly",
                           "lookup: cleaned up after the deadline",
                           "lookup: timed out after cleanup",
                           "heartbeat: cancelled when main returned",
                           "main: done, heartbeat beat at least once",
                       });
}
