// generator examples: each program in examples/ runs and prints what its Python original does.

#include "example_program.hpp"

#include <doctest/doctest.h>

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct program_output {
    std::string text;
    int exit_code = -1;
};

// run_example() runs examples/<name> with arguments through the shell and captures stdout.
program_output run_example(const std::string& name, const std::string& arguments = "") {
    const std::string command = example_test::example_command(name) + " " + arguments + " 2>&1";
    program_output out;
    std::FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.text.append(buffer, n);
    const int status = ::pclose(pipe);
    out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// temporary_directory is a fresh directory under $TMPDIR, removed with everything in it.
struct temporary_directory {
    std::filesystem::path path;
    temporary_directory() {
        std::string pattern = (std::filesystem::temp_directory_path() / "spindle-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~temporary_directory() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
};

void write_file(const std::filesystem::path& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
}

// write_log() writes an access log of `count` lines: every third one a 404, every seventh one
// unparseable, the rest served with (i % 1000) bytes.
void write_log(const std::filesystem::path& path, int count) {
    std::ofstream log(path);
    for (int i = 0; i < count; ++i) {
        if (i % 7 == 0)
            log << "-- malformed line " << i << "\n";
        else if (i % 3 == 0)
            log << "198.51.100.7 - - [10/Oct/2024:13:55:36 +0000] \"GET /missing/" << i
                << " HTTP/1.1\" 404 -\n";
        else
            log << "203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] \"GET /page/" << i
                << ".html HTTP/1.1\" 200 " << i % 1000 << "\n";
    }
}

long long peak_kib(const std::string& text) {
    const std::size_t at = text.find("peak memory: ");
    REQUIRE(at != std::string::npos);
    return std::stoll(text.substr(at + 13));
}

}  // namespace

#if SPINDLE_TEST_VIEWS
TEST_CASE("generator examples: lazy_sequences prints Fibonacci numbers and squares") {
    const program_output out = run_example("lazy_sequences");
    CHECK(out.exit_code == 0);
    CHECK(out.text ==
          "fibonacci below 100: 0 1 1 2 3 5 8 13 21 34 55 89\n"
          "first 10 squares: 1 4 9 16 25 36 49 64 81 100\n"
          "sum of even fibonacci below 4 million: 4613732\n");
}
#endif

TEST_CASE("generator examples: worker is primed, fed jobs with send(), and closed") {
    const program_output out = run_example("worker");
    CHECK(out.exit_code == 0);
    CHECK(out.text ==
          "ready\n"
          "resize images: done (3 units so far)\n"
          "send mail: done (4 units so far)\n"
          "rebuild index: done (9 units so far)\n"
          "idle\n"
          "worker: closing after 9 units\n"
          "closed: yes\n");
}

TEST_CASE("generator examples: tree_inorder yields the keys in order from plain recursion") {
    const program_output out = run_example("tree_inorder");
    CHECK(out.exit_code == 0);
    CHECK(out.text ==
          "in order: apple banana cherry fig kiwi mango peach plum\n"
          "first three: apple banana cherry\n");
}

TEST_CASE("generator examples: directory_walk turns nftw's callback into a generator of paths") {
    temporary_directory top;
    std::filesystem::create_directories(top.path / "src" / "detail");
    std::filesystem::create_directories(top.path / "empty");
    write_file(top.path / "README", "hello\n");
    write_file(top.path / "src" / "main.cpp", "int main() {}\n");
    write_file(top.path / "src" / "detail" / "x.hpp", "");
    const program_output out = run_example("directory_walk", top.path.string());
    CHECK(out.exit_code == 0);
    std::vector<std::string> lines = lines_of(out.text);
    REQUIRE(!lines.empty());
    CHECK(lines.back() == "total: 3 files, 20 bytes");
    lines.pop_back();
    std::sort(lines.begin(), lines.end());  // nftw visits in directory order, which varies
    CHECK(lines == std::vector<std::string>{"README 6", "src/detail/x.hpp 0", "src/main.cpp 14"});
}

TEST_CASE("generator examples: pipeline aggregates a log with memory flat in its size") {
    temporary_directory dir;
    const auto small_log = dir.path / "small.log";
    const auto large_log = dir.path / "large.log";
    constexpr int small_lines = 10'000;
    constexpr int large_lines = 400'000;  // about 30 MB of log
    write_log(small_log, small_lines);
    write_log(large_log, large_lines);

    auto expected = [](int count) {
        long long requests = 0, served = 0, bytes = 0;
        for (int i = 0; i < count; ++i) {
            if (i % 7 == 0) continue;
            ++requests;
            if (i % 3 == 0) continue;
            ++served;
            bytes += i % 1000;
        }
        return "requests: " + std::to_string(requests) + "\nserved: " + std::to_string(served) +
               "\nbytes served: " + std::to_string(bytes) + "\n";
    };

    const program_output small = run_example("pipeline", "--peak-memory " + small_log.string());
    const program_output large = run_example("pipeline", "--peak-memory " + large_log.string());
    CHECK(small.exit_code == 0);
    CHECK(large.exit_code == 0);
    CHECK(small.text.starts_with(expected(small_lines)));
    CHECK(large.text.starts_with(expected(large_lines)));
    // Forty times the input, and the peak grows by less than a megabyte: nothing accumulates.
    MESSAGE("peak KiB: " << peak_kib(small.text) << " for " << small_lines << " lines, "
                         << peak_kib(large.text) << " for " << large_lines << " lines");
    CHECK(peak_kib(large.text) < peak_kib(small.text) + 1024);

    // Standard input works as well as a file argument.
    const program_output piped = run_example("pipeline", "< " + small_log.string());
    CHECK(piped.text == expected(small_lines));
}
