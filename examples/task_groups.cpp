// task_groups: structured concurrency, the style spindle teaches. Three parts:
//
// 1. A pipeline in a task group: a producer feeds three parsers over a channel; every task may
//    use main's frame by reference, since the group ends them all before it returns. One parser
//    meets bad input and fails: the group cancels the others and the producer, and
//    with_task_group() throws an exception_group that carries the failure.
// 2. Timeouts: with_timeout() ends a slow lookup with timeout_error; move_on_after() gives up
//    quietly; a cancel_shield lets cleanup wait after the deadline.
// 3. A heartbeat task that never ends: run() cancels it when main returns (as asyncio.run does).
//
// asyncio's version of part 1:
//
//     async with asyncio.TaskGroup() as group:
//         group.create_task(produce(lines))
//         for i in range(3): group.create_task(parse(i, lines))
//     # except* ValueError as failures: ...

#include <spindle/channel.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/task_group.hpp>
#include <spindle/timeout.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// parse_number() is a parser's work on one line; "oops" is bad input.
int parse_number(const std::string& line) {
    if (line == "oops") throw std::invalid_argument("cannot parse '" + line + "'");
    return std::stoi(line);
}

void pipeline() {
    const std::vector<std::string> input = {"1", "2", "3", "oops", "5", "6", "7", "8"};
    spindle::channel<std::string> lines(1);
    int sum = 0;
    int cancelled_tasks = 0;
    try {
        spindle::with_task_group([&](spindle::task_group& group) {
            group.spawn("producer", [&] {
                try {
                    for (const std::string& line : input) lines.send(line);
                    lines.close();
                } catch (const spindle::cancelled&) {
                    ++cancelled_tasks;
                    throw;
                }
            });
            for (int i = 0; i < 3; ++i)
                group.spawn("parser", [&] {
                    try {
                        for (std::string line : lines) {
                            sum += parse_number(line);
                            spindle::this_fiber::yield();  // let the others take lines too
                        }
                    } catch (const spindle::cancelled&) {
                        ++cancelled_tasks;
                        throw;
                    }
                });
        });
        std::printf("pipeline: sum %d\n", sum);
    } catch (const spindle::exception_group& failures) {
        std::printf("pipeline: %zu failure, %d tasks cancelled, sum so far %d\n",
                    failures.exceptions().size(), cancelled_tasks, sum);
        for (const std::exception_ptr& failure : failures.exceptions()) {
            try {
                std::rethrow_exception(failure);
            } catch (const std::exception& e) {
                std::printf("  %s\n", e.what());
            }
        }
    }
}

// slow_lookup() stands for a call to a service that takes its time.
std::string slow_lookup() {
    spindle::this_fiber::sleep_for(1h);
    return "found";
}

void timeouts() {
    try {
        std::printf("lookup: %s\n", spindle::with_timeout(20ms, slow_lookup).c_str());
    } catch (const spindle::timeout_error&) {
        std::printf("lookup: timed out\n");
    }
    if (!spindle::move_on_after(20ms, slow_lookup)) std::printf("lookup: gave up quietly\n");
    try {
        spindle::with_timeout(20ms, [] {
            try {
                slow_lookup();
            } catch (const spindle::cancelled&) {
                spindle::cancel_shield shield;  // cleanup may wait although the deadline passed
                spindle::this_fiber::sleep_for(1ms);
                std::printf("lookup: cleaned up after the deadline\n");
                throw;
            }
        });
    } catch (const spindle::timeout_error&) {
        std::printf("lookup: timed out after cleanup\n");
    }
}

}  // namespace

int main() {
    int beats = 0;
    spindle::run([&] {
        spindle::spawn("heartbeat", [&] {
            try {
                for (;;) {
                    ++beats;
                    spindle::this_fiber::sleep_for(5ms);
                }
            } catch (const spindle::cancelled&) {
                std::printf("heartbeat: cancelled when main returned\n");
                throw;
            }
        }).detach();
        pipeline();
        timeouts();
    });
    std::printf("main: done, heartbeat beat %s\n", beats > 0 ? "at least once" : "never");
}
