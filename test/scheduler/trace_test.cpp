// Tracing writes Chrome trace-event JSON naming each task's turns in order; statistics count a
// known workload's tasks, waits and switches.

#include "parked.hpp"
#include "workers.hpp"

#include <spindle/errors.hpp>
#include <spindle/fiber.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/trace.hpp>

#include <doctest/doctest.h>

#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace {

// trace_path() is a file name of this process's own in the temporary directory.
std::string trace_path(const char* what) {
    return "/tmp/spindle-trace-test-" + std::to_string(::getpid()) + "-" + what + ".json";
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// balanced() tells whether the braces and brackets outside strings pair up, as in any JSON.
bool balanced(const std::string& json) {
    std::vector<char> open;
    bool in_string = false;
    for (std::size_t i = 0; i < json.size(); ++i) {
        const char c = json[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '{' || c == '[') open.push_back(c);
        else if (c == '}' || c == ']') {
            if (open.empty() || open.back() != (c == '}' ? '{' : '[')) return false;
            open.pop_back();
        }
    }
    return open.empty() && !in_string;
}

// task_events() is "name phase event" for each task event, in the file's order.
std::vector<std::string> task_events(const std::string& json) {
    static const std::regex event(
        R"re(\{"name":"([^"]*)","cat":"task","ph":"(.)",.*?"event":"([a-z]+)")re");
    std::vector<std::string> found;
    for (auto it = std::sregex_iterator(json.begin(), json.end(), event);
         it != std::sregex_iterator(); ++it)
        found.push_back((*it)[1].str() + " " + (*it)[2].str() + " " + (*it)[3].str());
    return found;
}

void ping_pong(spindle::scheduler& s) {
    for (const char* name : {"ping", "pong"})
        s.spawn(name, [] {
            for (int i = 0; i < 2; ++i) spindle::this_fiber::yield();
        }).detach();
}

}  // namespace

// (One worker: the turns' order, and that a yield switches at all, is what one worker gives;
// with several, ping and pong run at once.)
TEST_CASE("a trace of a two-task ping-pong shows each turn, in order, as JSON"
          * spindle_test::single_worker()) {
    spindle::scheduler s;
    spindle::start_trace(s);
    ping_pong(s);
    s.run();
    const std::string path = trace_path("ping-pong");
    spindle::write_trace(s, path.c_str());
    const std::string json = read_file(path);
    ::unlink(path.c_str());
    CHECK(balanced(json));
    CHECK(json.find("\"traceEvents\":[") != std::string::npos);
    const std::vector<std::string> expected{
        "ping i spawn",    "pong i spawn",    "ping B start",  "ping E yield",
        "pong B start",    "pong E yield",    "ping B resume", "ping E yield",
        "pong B resume",   "pong E yield",    "ping B resume", "ping E end",
        "pong B resume",   "pong E end"};
    CHECK(task_events(json) == expected);
    CHECK(spindle::statistics(s).trace_dropped == 0);
}

TEST_CASE("a suspend in the trace carries its wait reason") {
    spindle::scheduler s;
    spindle::start_trace(s);
    // The joiner suspends in its join: the child ends only once the joiner is counted in a wait
    // (a join of a child not started runs it at once; one that another worker started first is
    // waited for). A short sleep would not do: it does not suspend when its deadline has passed
    // before it parks.
    s.spawn("joiner", [] {
        spindle::spawn("child", [] { CHECK(spindle_test::until_waiting(1)); }).join();
    }).detach();
    s.run();
    const std::string path = trace_path("reason");
    spindle::write_trace(s, path.c_str());
    const std::string json = read_file(path);
    ::unlink(path.c_str());
    CHECK(balanced(json));
    CHECK(json.find(R"("event":"suspend","reason":"join")") != std::string::npos);
}

TEST_CASE("a full trace buffer drops the later events, counts them, and still writes JSON") {
    // Five tasks that end without a switch: spawn, start and end each, 15 events on any number
    // of workers. The five spawns come before run(), so the three kept are the first three.
    spindle::scheduler s;
    spindle::start_trace(s, 3);
    for (const char* name : {"t0", "t1", "t2", "t3", "t4"}) s.spawn(name, [] {}).detach();
    s.run();
    const spindle::scheduler_statistics stats = spindle::statistics(s);
    CHECK(stats.trace_events == 3);
    CHECK(stats.trace_dropped == 12);
    const std::string path = trace_path("full");
    spindle::write_trace(s, path.c_str());
    const std::string json = read_file(path);
    ::unlink(path.c_str());
    CHECK(balanced(json));
    CHECK(task_events(json) == std::vector<std::string>{"t0 i spawn", "t1 i spawn", "t2 i spawn"});
}

TEST_CASE("without start_trace nothing is recorded, and write_trace says so") {
    spindle::scheduler s;
    ping_pong(s);
    s.run();
    CHECK(spindle::statistics(s).trace_events == 0);
    CHECK_THROWS_AS(spindle::write_trace(s, "/tmp/unused.json"), spindle::fiber_error);
}

TEST_CASE("stop_trace ends the recording and an unwritable path throws std::system_error") {
    spindle::scheduler s;
    spindle::start_trace(s);
    spindle::stop_trace(s);
    ping_pong(s);
    s.run();
    CHECK(spindle::statistics(s).trace_events == 0);
    CHECK_THROWS_AS(spindle::write_trace(s, "/nonexistent-directory/trace.json"),
                    std::system_error);
}

// (One worker: the counts seen from inside the tasks and the number of switches are those of
// one worker's order of turns.)
TEST_CASE("statistics count the tasks alive, ready, waiting and running, switches and stacks"
          * spindle_test::single_worker()) {
    spindle::scheduler s;
    spindle::scheduler_statistics in_first{}, in_last{};
    spindle::task<void> last;
    s.spawn("first", [&] { in_first = spindle::this_scheduler_statistics(); }).detach();
    // The joiner runs `last` at once on its turn and waits for it: a wait with no timing in it.
    s.spawn("joiner", [&] { last.join(); }).detach();
    last = s.spawn("last", [&] { in_last = spindle::this_scheduler_statistics(); });
    const spindle::scheduler_statistics before = spindle::statistics(s);
    CHECK(before.tasks_alive == 3);
    CHECK(before.tasks_ready == 3);
    CHECK(before.tasks_spawned == 3);
    CHECK(before.stacks_in_use == 0);
    s.run();

    CHECK(in_first.tasks_alive == 3);
    CHECK(in_first.tasks_running == 1);
    CHECK(in_first.tasks_ready == 2);
    CHECK(in_first.tasks_waiting == 0);
    CHECK(in_first.stacks_in_use == 1);

    CHECK(in_last.tasks_alive == 2);
    CHECK(in_last.tasks_running == 1);
    CHECK(in_last.tasks_ready == 0);
    CHECK(in_last.tasks_waiting == 1);
    CHECK(in_last.stacks_in_use == 2);
    CHECK(in_last.stacks_cached + in_last.stacks_in_use >= 2);

    const spindle::scheduler_statistics after = spindle::statistics(s);
    CHECK(after.tasks_alive == 0);
    CHECK(after.tasks_spawned == 3);
    // first, the joiner, last (run on the joiner's turn), the joiner again (handed over to
    // straight from last's end).
    CHECK(after.switches == 4);
}

TEST_CASE("this_scheduler_statistics() outside a task is an error") {
    CHECK_THROWS_AS(spindle::this_scheduler_statistics(), spindle::fiber_error);
}
