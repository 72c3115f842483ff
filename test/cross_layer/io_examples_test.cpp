// I/O examples: each program in examples/ that talks over loopback sockets or reads files runs
// and prints what it should. They check their own results too (every echo, every Content-Length)
// and exit non-zero when one is wrong.

#include "example_program.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace {

using example_test::program_output;
using example_test::run_example_program;

// without_lines_starting() drops the lines that start with `prefix`: those that report a
// duration, which the tests do not check.
std::vector<std::string> without_lines_starting(std::vector<std::string> lines,
                                                const std::string& prefix) {
    std::erase_if(lines, [&](const std::string& line) { return line.starts_with(prefix); });
    return lines;
}

}  // namespace

TEST_CASE("example echo_server: fifty clients at once, every line echoed") {
    const program_output out = run_example_program("echo_server");
    CHECK(out.exit_code == 0);
    // 500 lines "client <id> says hello #<i>\n", ids 1..50, i 1..10.
    CHECK(out.lines == std::vector<std::string>{
                           "server: listening on 127.0.0.1 (the kernel chose the port)",
                           "clients: all 50 finished",
                           "server: 50 connections served, 11960 bytes echoed",
                           "50 connections, 500 messages echoed",
                       });
}

TEST_CASE("example fetch_pages: three HTTP fetches overlap; responses come back in order") {
    const program_output out = run_example_program("fetch_pages");
    CHECK(out.exit_code == 0);
    // The fetches start in spawn order and finish in the order of the server's delays (100,
    // 200, 300 ms); gather() returns them in argument order. Less than the sum of the delays
    // is what running them one after another could never give.
    CHECK(without_lines_starting(out.lines, "took ") ==
          std::vector<std::string>{
              "fetching /slow",
              "fetching /fast",
              "fetching /medium",
              "fetched /fast",
              "fetched /medium",
              "fetched /slow",
              "/slow: 200 OK, 35 bytes: <p>the slow page took its time</p>",
              "/fast: 200 OK, 21 bytes: <p>the fast page</p>",
              "/medium: 200 OK, 23 bytes: <p>the medium page</p>",
              "less than the sum of the delays (600 ms): yes",
          });
}

TEST_CASE("example socket_lines: a generator parses lines from a socket written in odd chunks") {
    const program_output out = run_example_program("socket_lines");
    CHECK(out.exit_code == 0);
    CHECK(out.lines ==
          std::vector<std::string>{
              "line 1: \"a line arrives\"",
              "line 2: \"\"",
              "line 3: \"the one before this was empty\"",
              "line 4: \"this one is long enough to come across many of the writer's chunks, "
              "and in many reads\"",
              "line 5: \"x\"",
              "line 6: \"three short\"",
              "line 7: \"lines in\"",
              "line 8: \"a row\"",
              "line 9: \"the last line has no newline\"",
              "9 lines, written in 27 chunks",  // 189 bytes in chunks of 1, 2, 3, 5, 8, 13, 21
          });
}

TEST_CASE("example read_files: files read on helper threads while a ticker task runs") {
    const program_output out = run_example_program("read_files");
    CHECK(out.exit_code == 0);
    CHECK(out.lines == std::vector<std::string>{
                           "notes.txt: 3 lines, 43 bytes",
                           "numbers.txt: 1000 lines, 3893 bytes",  // "1\n" .. "1000\n"
                           "empty.txt: 0 lines, 0 bytes",
                           "the ticker kept ticking while each file was read: yes",
                       });
}
