// A generator that yields lines parsed from a socket, the read several ordinary calls below the
// yield: each io::read that would block suspends the whole task, generator and all, and the
// generator carries on from there when data comes.

#include <spindle/generator.hpp>
#include <spindle/io.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

using namespace spindle;

namespace {

// line_reader turns bytes read from a descriptor into lines.
struct line_reader {
    int fd;
    std::string buffered;

    bool fill() {
        char chunk[7];  // small on purpose: lines arrive in pieces
        const ssize_t n = io::read(fd, chunk, sizeof chunk);
        if (n <= 0) return false;
        buffered.append(chunk, static_cast<std::size_t>(n));
        return true;
    }
    bool next_line(std::string& line) {
        for (;;) {
            if (auto end = buffered.find('\n'); end != std::string::npos) {
                line = buffered.substr(0, end);
                buffered.erase(0, end + 1);
                return true;
            }
            if (!fill()) return false;
        }
    }
};

void yield_lines(yielder<std::string>& yield, line_reader& reader) {
    std::string line;
    while (reader.next_line(line)) yield(line);
}

}  // namespace

TEST_CASE("io generator: lines read from a socket by a parser below the yield") {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
    std::vector<std::string> lines;
    int resumed_before_data = 0;
    run([&] {
        auto writer = spawn([&] {
            const std::string text = "alpha\nbeta gamma\n\ndelta\nthe end\n";
            for (std::size_t i = 0; i < text.size(); i += 5) {
                this_fiber::yield();
                ++resumed_before_data;
                REQUIRE(io::write(fds[1], text.data() + i, std::min<std::size_t>(5, text.size() - i)) > 0);
            }
            io::close(fds[1]);
        });
        line_reader reader{fds[0], {}};
        generator<std::string> source([&](yielder<std::string>& yield) { yield_lines(yield, reader); });
        for (const std::string& line : source) lines.push_back(line);
        writer.join();
    });
    io::close(fds[0]);
    CHECK(lines == std::vector<std::string>{"alpha", "beta gamma", "", "delta", "the end"});
    CHECK(resumed_before_data > 1);  // the writer ran while the generator's task waited
}
