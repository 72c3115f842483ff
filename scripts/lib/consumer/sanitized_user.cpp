// A user's program built with -fsanitize=address (or thread) against the ordinary, unsanitized
// libspindle: scripts/test runs it and expects no sanitizer report. It goes through what a
// switch the sanitizer does not hear of would spoil: exceptions thrown and caught on fiber
// stacks (AddressSanitizer unpoisons the stack it believes is running), stacks reused after
// frames left them through a switch or an exception (stale redzones), frames kept on suspended
// stacks (fake stacks, with detect_stack_use_after_return=1), and tasks that wait, are
// cancelled, and hand work to helper threads (ThreadSanitizer's per-fiber state).
#include <spindle/spindle.hpp>

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// fill_and_sum() uses a stack array, so its frame has redzones to check.
int fill_and_sum(int depth, int seed) {
    volatile char buffer[512];
    for (std::size_t i = 0; i < sizeof buffer; ++i) buffer[i] = static_cast<char>(seed + i);
    int sum = 0;
    for (std::size_t i = 0; i < sizeof buffer; i += 64) sum += buffer[i];
    return depth == 0 ? sum : sum + fill_and_sum(depth - 1, seed + 1);
}

// throw_from_depth() throws from under a few frames with arrays in them.
int throw_from_depth(int depth) {
    volatile char buffer[256];
    std::memset(const_cast<char*>(buffer), depth, sizeof buffer);
    if (depth == 0) throw std::runtime_error("deep");
    return throw_from_depth(depth - 1) + buffer[0];
}

// count_up() yields 0..n-1, throwing and catching on the way, from a few frames down.
spindle::generator<int> count_up(int n) {
    return spindle::generator<int>([n](spindle::yielder<int>& yield) {
        for (int i = 0; i < n; ++i) {
            try {
                throw_from_depth(3);
            } catch (const std::runtime_error&) {
            }
            fill_and_sum(2, i);
            yield(i);
        }
    });
}

int generators() {
    int total = 0;
    for (int round = 0; round < 200; ++round) {
        auto numbers = count_up(10);
        for (int value : numbers) {
            total += value;
            if (round % 3 == 0 && value == 4) break;  // destroyed suspended: unwound from a yield
        }
    }
    return total;
}

int fibers() {
    int resumed = 0;
    for (int round = 0; round < 200; ++round) {
        spindle::fiber f([&] {
            fill_and_sum(3, round);
            spindle::fiber::suspend();
            try {
                throw_from_depth(4);
            } catch (const std::runtime_error&) {
            }
            spindle::fiber::suspend();
        });
        f.resume();
        ++resumed;
        if (round % 2) {
            f.resume();
            ++resumed;
        }
    }
    return resumed;
}

int tasks() {
    return spindle::run([] {
        spindle::channel<int> numbers(4);
        spindle::mutex lock;
        spindle::condition_variable changed;
        int shared = 0;

        auto producer = spindle::spawn("producer", [&] {
            for (int i = 0; i < 100; ++i) {
                fill_and_sum(1, i);
                numbers.send(i);
            }
            numbers.close();
        });
        auto consumer = spindle::spawn("consumer", [&] {
            int sum = 0;
            for (int value : numbers) {
                std::unique_lock<spindle::mutex> hold(lock);
                shared += value;
                sum += value;
                changed.notify_all();
            }
            return sum;
        });
        auto sleeper = spindle::spawn("sleeper", [&] {
            std::unique_lock<spindle::mutex> hold(lock);
            changed.wait(hold, [&] { return false; });  // until cancelled
        });
        auto helper = spindle::spawn("helper", [] {
            return spindle::to_thread([] { return fill_and_sum(2, 7); });
        });

        producer.join();
        const int sum = consumer.join();
        sleeper.cancel();
        try {
            sleeper.join();
        } catch (spindle::cancelled) {
        }
        helper.join();
        return sum == 4950 && shared == 4950 ? 1 : 0;
    });
}

}  // namespace

int main() {
    const int generated = generators();
    const int resumed = fibers();
    const int ran = tasks();
    std::printf("generated=%d resumed=%d tasks=%d\n", generated, resumed, ran);
    return generated > 0 && resumed == 300 && ran == 1 ? 0 : 1;
}
