// fetch_pages: fetch three pages concurrently (the asyncio classic), over real sockets. A tiny
// HTTP/1.1 server task on 127.0.0.1 serves /slow, /fast and /medium, each after a different
// delay (standing in for the work a real server does), and three client tasks fetch them at
// once; gather() hands back the responses in argument order. The whole takes about as long as
// the slowest page, not the sum of the three: while one task waits for its socket or its timer,
// the others run.
//
//     async def fetch(path):
//         reader, writer = await asyncio.open_connection("127.0.0.1", port)
//         writer.write(f"GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
//         return await reader.read()
//
//     pages = await asyncio.gather(fetch("/slow"), fetch("/fast"), fetch("/medium"))
//
// Here the tasks are written in blocking style; spindle::io suspends only the task whose socket
// is not ready.

#include "loopback.hpp"

#include <spindle/io.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/task_group.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// page is what the server serves at `path`, after `delay`.
struct page {
    std::string_view path;
    milliseconds delay;
    std::string_view body;
};

constexpr page pages[] = {
    {"/slow", 300ms, "<p>the slow page took its time</p>\n"},
    {"/fast", 100ms, "<p>the fast page</p>\n"},
    {"/medium", 200ms, "<p>the medium page</p>\n"},
};

// read_request_head() reads an HTTP request up to the blank line that ends its headers.
std::string read_request_head(int fd) {
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
        char buffer[512];
        const ssize_t n = spindle::io::read(fd, buffer, sizeof buffer);
        if (n == 0) throw std::runtime_error("the client closed before its request ended");
        if (n < 0) loopback::fail("read");
        head.append(buffer, static_cast<std::size_t>(n));
    }
    return head;
}

// respond() answers one request, "GET <path> HTTP/1.1", and closes the connection.
void respond(int fd) {
    const std::string head = read_request_head(fd);
    const std::size_t path_start = head.find(' ') + 1;
    const std::string_view path =
        std::string_view(head).substr(path_start, head.find(' ', path_start) - path_start);
    std::string response;
    for (const page& p : pages) {
        if (p.path != path) continue;
        spindle::this_fiber::sleep_for(p.delay);  // only this connection's task waits
        response = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " +
                   std::to_string(p.body.size()) + "\r\nConnection: close\r\n\r\n" +
                   std::string(p.body);
    }
    if (response.empty())
        response = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    loopback::write_all(fd, response);
    spindle::io::close(fd);
}

// serve() accepts connections until the listener is closed, one task each in a task group,
// which waits for them.
void serve(int listening) {
    spindle::with_task_group([&](spindle::task_group& connections) {
        for (;;) {
            const int fd = loopback::accept_connection(listening);
            if (fd < 0) {
                if (errno == EBADF) break;  // main closed the listener
                loopback::fail("accept");
            }
            connections.spawn("http connection", [fd] { respond(fd); });
        }
    });
}

// response is what a fetch got back.
struct response {
    std::string status;  // "200 OK"
    std::string body;
};

// parse_response() splits a whole HTTP/1.1 response (the server closed after it) into its
// status and its body, which must be as long as its Content-Length says.
response parse_response(const std::string& text) {
    const std::size_t status_start = text.find(' ') + 1;
    const std::size_t status_end = text.find("\r\n");
    const std::size_t head_end = text.find("\r\n\r\n");
    if (status_start == 0 || status_end == std::string::npos || head_end == std::string::npos)
        throw std::runtime_error("not an HTTP response");
    response r{text.substr(status_start, status_end - status_start), text.substr(head_end + 4)};
    const std::size_t length_field = text.find("Content-Length: ");
    if (length_field == std::string::npos || length_field > head_end ||
        std::stoul(text.substr(length_field + 16)) != r.body.size())
        throw std::runtime_error("the body's length is not its Content-Length");
    return r;
}

// fetch() sends "GET path" to the server and reads the response to the end of the connection.
response fetch(std::uint16_t port, const std::string& path) {
    std::printf("fetching %s\n", path.c_str());
    const int fd = loopback::connect_to_loopback(port);
    loopback::write_all(fd, "GET " + path +
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    std::string text;
    char buffer[1024];
    ssize_t n;
    while ((n = spindle::io::read(fd, buffer, sizeof buffer)) > 0)
        text.append(buffer, static_cast<std::size_t>(n));
    if (n < 0) loopback::fail("read");
    spindle::io::close(fd);
    std::printf("fetched %s\n", path.c_str());
    return parse_response(text);
}

}  // namespace

int main() try {
    milliseconds total{};
    const auto [slow, fast, medium] = spindle::run([&total] {
        const loopback::listener listener = loopback::listen_on_loopback();
        auto server = spindle::spawn("http server", [fd = listener.fd] { serve(fd); });

        const auto started = std::chrono::steady_clock::now();
        const std::uint16_t port = listener.port;
        // Spawned one by one: the order of arguments' evaluation is up to the compiler.
        auto slow = spindle::spawn([port] { return fetch(port, "/slow"); });
        auto fast = spindle::spawn([port] { return fetch(port, "/fast"); });
        auto medium = spindle::spawn([port] { return fetch(port, "/medium"); });
        auto responses = spindle::gather(std::move(slow), std::move(fast), std::move(medium));
        total = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() -
                                                          started);

        spindle::io::close(listener.fd);  // wakes the server's accept(), which fails with EBADF
        server.join();
        return responses;
    });

    const response* const in_order[] = {&slow, &fast, &medium};
    milliseconds sum{};
    milliseconds longest{};
    for (std::size_t i = 0; i < std::size(pages); ++i) {
        const response& r = *in_order[i];
        std::string_view shown = r.body;
        if (shown.ends_with('\n')) shown.remove_suffix(1);
        std::printf("%.*s: %s, %zu bytes: %.*s\n", static_cast<int>(pages[i].path.size()),
                    pages[i].path.data(), r.status.c_str(), r.body.size(),
                    static_cast<int>(shown.size()), shown.data());
        sum += pages[i].delay;
        longest = std::max(longest, pages[i].delay);
    }
    std::printf("took %lld ms; the slowest page alone takes %lld ms\n",
                static_cast<long long>(total.count()), static_cast<long long>(longest.count()));
    // Fetched one after another, the pages would take at least the sum of their delays.
    const bool concurrent = total < sum;
    std::printf("less than the sum of the delays (%lld ms): %s\n",
                static_cast<long long>(sum.count()), concurrent ? "yes" : "no");
    return concurrent ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "fetch_pages: %s\n", e.what());
    return 1;
}
