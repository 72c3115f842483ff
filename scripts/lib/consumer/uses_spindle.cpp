// A program outside the project that uses spindle as a user would: scripts/test builds it
// against the installed package (pkg-config, static and shared, both context switches; CMake's
// find_package), with spindle as a meson subproject, and through CMake's add_subdirectory and
// FetchContent.
#include <spindle/spindle.hpp>

#include <cstdio>

int main() {
    int steps = 0;
    spindle::fiber f([&] {
        ++steps;
        spindle::fiber::suspend();
        ++steps;
    });
    f.resume();
    f.resume();
    std::printf("steps=%d done=%d\n", steps, f.done() ? 1 : 0);
    return steps == 2 && f.done() ? 0 : 1;
}
