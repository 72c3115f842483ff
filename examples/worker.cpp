// A worker generator: primed with next(), fed jobs with send(), stopped with close().
// Cooperative job processing without threads. The Python it ports:
//
//     def worker():
//         done = 0
//         try:
//             report = "ready"
//             while True:
//                 job = yield report
//                 done += job.cost
//                 report = f"{job.name}: done ({done} units so far)"
//         finally:
//             print(f"worker: closing after {done} units")
//
//     w = worker()
//     print(next(w))                   # prime: run to the first yield
//     for job in jobs: print(w.send(job))
//     w.close()                        # GeneratorExit at the yield; `finally` runs
//
// In C++ the `finally` is a destructor: close() unwinds the body from its yield.

#include <spindle/generator.hpp>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

using spindle::generator;
using spindle::yielder;

struct job {
    std::string name;
    int cost;
};

// worker() reports on each job it is sent.
generator<std::string, job> worker() {
    return generator<std::string, job>([](yielder<std::string, job>& yield) {
        int done = 0;
        struct on_close {
            const int& done;
            ~on_close() { std::printf("worker: closing after %d units\n", done); }
        } finally{done};
        std::string report = "ready";
        for (;;) {
            std::optional<job> next_job = yield(std::move(report));
            if (!next_job) {
                report = "idle";  // resumed by next(): nothing to do
                continue;
            }
            done += next_job->cost;
            report = next_job->name + ": done (" + std::to_string(done) + " units so far)";
        }
    });
}

int main() {
    const std::vector<job> jobs{{"resize images", 3}, {"send mail", 1}, {"rebuild index", 5}};
    auto w = worker();
    std::printf("%s\n", w.next()->c_str());
    for (const job& j : jobs) std::printf("%s\n", w.send(j)->c_str());
    std::printf("%s\n", w.next()->c_str());
    w.close();
    std::printf("closed: %s\n", w.done() ? "yes" : "no");
}
