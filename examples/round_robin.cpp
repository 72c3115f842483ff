// round_robin: two tasks take turns on one thread, each giving way with this_fiber::yield().
//
// The Python original drives two generators round-robin:
//
//     def task(name):
//         for i in range(3):
//             print(f"{name}: step {i}")
//             yield
//
//     ready = collections.deque([task("ping"), task("pong")])
//     while ready:
//         t = ready.popleft()
//         try:
//             next(t)
//             ready.append(t)
//         except StopIteration:
//             pass
//
// yield() puts the calling task at the back of the ready queue, so the two interleave exactly
// as the generators do.

#include <spindle/scheduler.hpp>

#include <cstdio>

namespace {

void take_turns(const char* name) {
    for (int i = 0; i < 3; ++i) {
        std::printf("%s: step %d\n", name, i);
        spindle::this_fiber::yield();
    }
}

}  // namespace

int main() {
    spindle::scheduler s;
    s.spawn([] { take_turns("ping"); }).detach();
    s.spawn([] { take_turns("pong"); }).detach();
    s.run();
}
