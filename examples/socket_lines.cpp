// socket_lines: a generator of the lines arriving on a socket, consumed inside a task.
//
// The generator's body is an ordinary line parser, written as a blocking program would write
// it: read_line() calls fill_buffer(), which calls spindle::io::read(). When nothing has
// arrived, that read suspends the whole task from three plain calls down inside the
// generator's own stack, the thread runs the writer meanwhile, and the read returns once data
// is there; when a line is complete, the body yields it to the loop in main.
//
// Stackless coroutines make this awkward: a C++20 coroutine (or Python's async def) can only
// suspend in its own frame, so read_line() and fill_buffer() would both have to become
// coroutines and every caller co_await them, and a generator that awaits is a different kind of
// object (an async generator, consumed with `async for`). Here the parser is plain functions
// and the generator is the same spindle::generator as everywhere else: stackful yield over I/O.
//
// The other end writes its lines in odd-sized chunks (1, 2, 3, 5, 8, 13, 21 bytes, over and
// over), pausing after each, so a line arrives split anywhere: across many chunks, or several in
// one.

#include "loopback.hpp"

#include <spindle/generator.hpp>
#include <spindle/io.hpp>
#include <spindle/scheduler.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

using spindle::generator;
using spindle::yielder;

namespace {

using namespace std::chrono_literals;

constexpr std::string_view text =
    "a line arrives\n"
    "\n"
    "the one before this was empty\n"
    "this one is long enough to come across many of the writer's chunks, and in many reads\n"
    "x\n"
    "three short\nlines in\na row\n"
    "the last line has no newline";

// line_reader parses lines out of a socket's byte stream.
class line_reader {
public:
    explicit line_reader(int fd) : fd_(fd) {}

    // read_line() returns the next line without its '\n'; std::nullopt at the end of the
    // stream. A last line without a '\n' is a line too.
    std::optional<std::string> read_line() {
        std::size_t end;
        while ((end = buffered_.find('\n')) == std::string::npos) {
            if (!fill_buffer()) {
                if (buffered_.empty()) return std::nullopt;
                return std::exchange(buffered_, {});
            }
        }
        std::string line = buffered_.substr(0, end);
        buffered_.erase(0, end + 1);
        return line;
    }

private:
    // fill_buffer() appends the next bytes from the socket, a small read at a time; false at
    // the end of the stream.
    bool fill_buffer() {
        char chunk[16];
        // Where nothing has arrived yet, this suspends the task, generator and all.
        const ssize_t n = spindle::io::read(fd_, chunk, sizeof chunk);
        if (n < 0) loopback::fail("read");
        buffered_.append(chunk, static_cast<std::size_t>(n));
        return n > 0;
    }

    int fd_;
    std::string buffered_;
};

// lines_from() yields each line that arrives on `fd`, until the other end closes.
generator<const std::string&> lines_from(int fd) {
    return generator<const std::string&>([fd](yielder<const std::string&>& yield) {
        line_reader reader(fd);
        while (std::optional<std::string> line = reader.read_line()) yield(*line);
    });
}

// send_in_chunks() connects to `port`, writes `text` in odd-sized chunks with a pause after
// each, and closes; returns the number of chunks.
int send_in_chunks(std::uint16_t port) {
    constexpr std::size_t sizes[] = {1, 2, 3, 5, 8, 13, 21};
    const int fd = loopback::connect_to_loopback(port);
    std::string_view rest = text;
    int chunks = 0;
    for (; !rest.empty(); ++chunks) {
        const std::size_t size = std::min(sizes[chunks % std::size(sizes)], rest.size());
        loopback::write_all(fd, rest.substr(0, size));
        rest.remove_prefix(size);
        spindle::this_fiber::sleep_for(1ms);  // so that each chunk arrives on its own
    }
    spindle::io::close(fd);
    return chunks;
}

}  // namespace

int main() try {
    spindle::run([] {
        const loopback::listener listener = loopback::listen_on_loopback();
        auto writer =
            spindle::spawn("writer", [port = listener.port] { return send_in_chunks(port); });
        const int fd = loopback::accept_connection(listener.fd);
        if (fd < 0) loopback::fail("accept");
        spindle::io::close(listener.fd);

        int count = 0;
        for (const std::string& line : lines_from(fd))
            std::printf("line %d: \"%s\"\n", ++count, line.c_str());
        spindle::io::close(fd);
        std::printf("%d lines, written in %d chunks\n", count, writer.join());
    });
} catch (const std::exception& e) {
    std::fprintf(stderr, "socket_lines: %s\n", e.what());
    return 1;
}
