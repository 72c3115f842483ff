// scheduler examples: each program in examples/ runs and prints what its asyncio / Go original
// does.

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct program_output {
    std::vector<std::string> lines;
    int exit_code = -1;
};

// run_scheduler_example() runs examples/<name> and captures its output, line by line.
program_output run_scheduler_example(const std::string& name) {
    const std::string command = std::string(SPINDLE_EXAMPLES_DIR) + "/" + name + " 2>&1";
    std::FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string text;
    char buffer[4096];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) text.append(buffer, n);
    const int status = ::pclose(pipe);
    program_output out;
    out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.lines.push_back(line);
    return out;
}

}  // namespace

TEST_CASE("example round_robin: two tasks print alternately") {
    const program_output out = run_scheduler_example("round_robin");
    CHECK(out.exit_code == 0);
    CHECK(out.lines == std::vector<std::string>{"ping: step 0", "pong: step 0", "ping: step 1",
                                                "pong: step 1", "ping: step 2", "pong: step 2"});
}

TEST_CASE("example job_queue: a worker drains five jobs, then sees the channel closed") {
    const program_output out = run_scheduler_example("job_queue");
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

TEST_CASE("example connection_pool: two connections for four tasks; the last in line is cancelled") {
    const program_output out = run_scheduler_example("connection_pool");
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
