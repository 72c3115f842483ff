// job_queue: a producer sends jobs to a worker over a channel; the worker handles each one and
// stops when the channel is closed and drained.
//
// Go's version:
//
//     jobs := make(chan int, 2)
//     go func() { for j := range jobs { fmt.Println("worker: job", j, "done") } ... }()
//     for j := 1; j <= 5; j++ { jobs <- j }
//     close(jobs)
//
// The channel holds two jobs: the producer runs ahead by two, then waits for the worker.

#include <spindle/channel.hpp>
#include <spindle/scheduler.hpp>

#include <cstdio>

int main() {
    spindle::run([] {
        spindle::channel<int> jobs(2);

        auto worker = spindle::spawn("worker", [&jobs] {
            int handled = 0;
            for (int job : jobs) {
                std::printf("worker: job %d -> %d\n", job, job * job);
                ++handled;
            }
            std::printf("worker: channel closed, %d jobs done\n", handled);
            return handled;
        });

        for (int job = 1; job <= 5; ++job) {
            std::printf("producer: sending job %d\n", job);
            jobs.send(job);
        }
        std::printf("producer: closing\n");
        jobs.close();

        std::printf("main: worker handled %d jobs\n", worker.join());
    });
}
