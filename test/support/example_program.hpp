#pragma once
// run_example_program(): what the example tests share, running a built example and reading
// what it printed.

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace example_test {

// program_output is an example's output, line by line, and its exit status.
struct program_output {
    std::vector<std::string> lines;
    int exit_code = -1;
};

// example_command() is the shell command that starts examples/<name>. In a cross build (the
// AArch64 one, under qemu-user) the example is a foreign program too, so it starts through the
// cross file's exe_wrapper, which `meson test` names, shell-quoted, in MESON_EXE_WRAPPER
// (scripts/test sets it the same way); without one it starts directly, as meson would start
// the test itself. A native build ignores the variable.
inline std::string example_command(const std::string& name) {
    std::string command = std::string(SPINDLE_EXAMPLES_DIR) + "/" + name;
#if SPINDLE_TEST_CROSS_BUILD
    if (const char* wrapper = std::getenv("MESON_EXE_WRAPPER"); wrapper && *wrapper)
        command = std::string(wrapper) + " " + command;
#endif
    return command;
}

// run_example_program() runs examples/<name> and captures its output (stderr too).
inline program_output run_example_program(const std::string& name) {
    const std::string command = example_command(name) + " 2>&1";
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

}  // namespace example_test
