// fetch_pages: fetch three pages concurrently (the asyncio classic), each a task that waits a
// simulated latency; gather() collects the results in order. The whole takes about as long as
// the slowest fetch, not the sum: while one task sleeps, the others run.
//
//     async def fetch(url, latency):
//         await asyncio.sleep(latency)
//         return f"<{url}: {len(url)} bytes>"
//
//     async def main():
//         pages = await asyncio.gather(fetch("a.example", 0.3), ...)

#include <spindle/scheduler.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <utility>

namespace {

using namespace std::chrono_literals;

std::string fetch(const std::string& url, std::chrono::milliseconds latency) {
    std::printf("fetching %s\n", url.c_str());
    spindle::this_fiber::sleep_for(latency);  // the network, simulated
    std::printf("fetched %s\n", url.c_str());
    return "<" + url + ": " + std::to_string(latency.count()) + " ms>";
}

}  // namespace

int main() {
    const auto started = std::chrono::steady_clock::now();
    auto [a, b, c] = spindle::run([] {
        // Spawned one by one: the order of arguments' evaluation is up to the compiler.
        auto slow = spindle::spawn([] { return fetch("slow.example", 300ms); });
        auto fast = spindle::spawn([] { return fetch("fast.example", 100ms); });
        auto medium = spindle::spawn([] { return fetch("medium.example", 200ms); });
        return spindle::gather(std::move(slow), std::move(fast), std::move(medium));
    });
    const auto elapsed = std::chrono::steady_clock::now() - started;
    std::printf("results in order: %s %s %s\n", a.c_str(), b.c_str(), c.c_str());
    // Concurrent: at least the longest latency (300 ms), well under the sum (600 ms).
    const bool concurrent = elapsed >= 300ms && elapsed < 600ms;
    std::printf("took about the longest latency, not the sum: %s\n", concurrent ? "yes" : "no");
    return concurrent ? 0 : 1;
}
