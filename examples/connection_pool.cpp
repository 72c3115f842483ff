// connection_pool: four named tasks share two database connections. A spindle::mutex and a
// spindle::condition_variable hand the connections out; a task that finds none waits, and the
// main task cancels the last one in line instead of letting it wait.
//
// asyncio's version:
//
//     cond = asyncio.Condition()
//     async def query(name, round_trips):
//         async with cond:
//             await cond.wait_for(lambda: free)
//             conn = free.pop()
//         try:
//             for _ in range(round_trips): await asyncio.sleep(0)
//         finally:
//             async with cond:
//                 free.append(conn); cond.notify()
//     dave = asyncio.create_task(query("dave", 1), name="dave")
//     ...
//     dave.cancel()
//
// The tasks need little stack, so scheduler_options gives each 64 KiB instead of the default
// 256 KiB (spindle::stack_options). The names given to spawn() are what spindle's own messages
// (a deadlock report, a stack overflow) call the tasks.

#include <spindle/scheduler.hpp>
#include <spindle/sync.hpp>

#include <cstdio>
#include <mutex>
#include <vector>

namespace {

class connection_pool {
public:
    explicit connection_pool(int size) {
        for (int id = size; id >= 1; --id) free_.push_back(id);
    }

    // acquire() takes a free connection, waiting (only this task) while there is none.
    int acquire(const char* who) {
        std::unique_lock hold(lock_);
        if (free_.empty()) std::printf("%s: waiting for a connection\n", who);
        available_.wait(hold, [this] { return !free_.empty(); });
        const int id = free_.back();
        free_.pop_back();
        return id;
    }

    // release() gives a connection back and wakes the task that has waited longest.
    void release(int id) {
        {
            std::lock_guard hold(lock_);
            free_.push_back(id);
        }
        available_.notify_one();
    }

private:
    spindle::mutex lock_;
    spindle::condition_variable available_;
    std::vector<int> free_;
};

// lease gives its connection back however the task leaves: returning, throwing, or cancelled.
struct lease {
    connection_pool& pool;
    const char* who;
    int id;
    ~lease() {
        std::printf("%s: returns connection %d\n", who, id);
        pool.release(id);
    }
};

// query() is a task that holds a connection for `round_trips` turns.
auto query(connection_pool& pool, const char* name, int round_trips) {
    return [&pool, name, round_trips] {
        try {
            lease held{pool, name, pool.acquire(name)};
            std::printf("%s: got connection %d\n", name, held.id);
            for (int i = 0; i < round_trips; ++i) spindle::this_fiber::yield();
        } catch (spindle::cancelled) {
            std::printf("%s: cancelled\n", name);
            throw;  // a task must not swallow its cancellation
        }
    };
}

}  // namespace

int main() {
    spindle::scheduler_options options;
    options.stack.size = 64 * 1024;
    spindle::run(
        [] {
            connection_pool pool(2);
            auto alice = spindle::spawn("alice", query(pool, "alice", 2));
            auto bob = spindle::spawn("bob", query(pool, "bob", 3));
            auto carol = spindle::spawn("carol", query(pool, "carol", 1));
            auto dave = spindle::spawn("dave", query(pool, "dave", 1));

            spindle::this_fiber::yield();  // let all four start
            std::printf("main: cancelling dave\n");
            dave.cancel();
            try {
                dave.join();
            } catch (spindle::cancelled) {
                std::printf("main: dave ended cancelled\n");
            }
            alice.join();
            bob.join();
            carol.join();
            std::printf("main: all connections back\n");
        },
        options);
}
