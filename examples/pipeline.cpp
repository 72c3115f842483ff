// A pipeline of generators over a web server's access log: read lines → parse → filter →
// aggregate, one line in flight at a time, so memory stays flat however long the log is. The
// Python it ports (David Beazley's "Generator Tricks for Systems Programmers"):
//
//     lines    = (line for line in open(log))
//     requests = (parse(line) for line in lines)
//     served   = (r for r in requests if r.status == 200)
//     print("bytes served:", sum(r.bytes for r in served))
//
// Each stage is a generator consuming the one before it inside its body. Each yields a
// reference to an object in its own frame, so no line or record is copied between stages.
//
// Usage: pipeline [LOG] — reads LOG (or standard input), lines like
//     203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 2326
// and prints the number of requests, how many were served (status 200), and the bytes served.
// With --peak-memory, also prints the process's peak resident memory.

#include <spindle/generator.hpp>

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

using spindle::generator;
using spindle::yielder;

struct request {
    std::string_view path;
    int status;
    long long bytes;
};

// read_lines() yields each line of file, reusing one buffer.
generator<const std::string&> read_lines(std::FILE* file) {
    return generator<const std::string&>([file](yielder<const std::string&>& yield) {
        std::string line;
        char chunk[4096];
        while (std::fgets(chunk, sizeof chunk, file)) {
            line += chunk;
            if (line.back() != '\n' && !std::feof(file)) continue;  // a long line: read on
            if (line.back() == '\n') line.pop_back();
            yield(line);
            line.clear();
        }
    });
}

// parse() turns each log line into a request; lines that do not parse are skipped.
std::optional<request> parse(std::string_view line) {
    const std::size_t open_quote = line.find('"');
    const std::size_t close_quote = line.find('"', open_quote + 1);
    if (open_quote == line.npos || close_quote == line.npos) return std::nullopt;
    std::string_view target = line.substr(open_quote + 1, close_quote - open_quote - 1);
    const std::size_t first_space = target.find(' ');
    const std::size_t last_space = target.rfind(' ');
    if (first_space == target.npos || last_space == first_space) return std::nullopt;
    request r{target.substr(first_space + 1, last_space - first_space - 1), 0, 0};
    const std::string tail(line.substr(close_quote + 1));
    char bytes_field[32];
    if (std::sscanf(tail.c_str(), "%d %31s", &r.status, bytes_field) != 2) return std::nullopt;
    r.bytes = std::strcmp(bytes_field, "-") == 0 ? 0 : std::atoll(bytes_field);
    return r;
}

generator<const request&> requests(generator<const std::string&>& lines) {
    return generator<const request&>([&lines](yielder<const request&>& yield) {
        for (const std::string& line : lines)
            if (std::optional<request> r = parse(line)) yield(*r);
    });
}

generator<const request&> served(generator<const request&>& all) {
    return generator<const request&>([&all](yielder<const request&>& yield) {
        for (const request& r : all)
            if (r.status == 200) yield(r);
    });
}

int main(int argc, char** argv) {
    bool report_memory = false;
    const char* path = nullptr;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--peak-memory") == 0)
            report_memory = true;
        else
            path = argv[i];
    }
    std::FILE* file = path ? std::fopen(path, "r") : stdin;
    if (!file) {
        std::perror(path);
        return 1;
    }

    long long total_requests = 0;
    auto lines = read_lines(file);
    auto all = requests(lines);
    // A stage in the middle that counts what passes, as Python would with a generator
    // expression that has a side effect.
    auto counted = generator<const request&>([&all, &total_requests](yielder<const request&>& yield) {
        for (const request& r : all) {
            ++total_requests;
            yield(r);
        }
    });
    long long served_requests = 0;
    long long bytes = 0;
    for (const request& r : served(counted)) {
        ++served_requests;
        bytes += r.bytes;
    }
    std::printf("requests: %lld\nserved: %lld\nbytes served: %lld\n", total_requests,
                served_requests, bytes);
    if (report_memory) {
        rusage usage{};
        ::getrusage(RUSAGE_SELF, &usage);
        std::printf("peak memory: %ld KiB\n", usage.ru_maxrss);
    }
    if (file != stdin) std::fclose(file);
}
