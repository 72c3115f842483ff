// echo_server: a TCP echo server with one task per connection, and fifty clients talking to it
// at the same time, all on one thread. Go's version of the server:
//
//     ln, _ := net.Listen("tcp", "127.0.0.1:0")
//     for {
//         conn, _ := ln.Accept()
//         go func() { io.Copy(conn, conn); conn.Close() }()
//     }
//
// Every task is written in blocking style, plain loops over read and write; where a socket is
// not ready, spindle::io suspends only that task and the thread runs the others. Each client
// sends ten lines, one at a time, and checks every echo. When all clients are done, main closes
// the listener with io::close(), which wakes the accepting task (its accept fails with EBADF),
// so the server stops without a flag or a timeout.

#include "loopback.hpp"

#include <spindle/io.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/task_group.hpp>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr int client_count = 50;
constexpr int lines_per_client = 10;

// serve_connection() echoes what arrives on `fd` until the client closes, then closes it;
// returns the number of bytes echoed.
std::size_t serve_connection(int fd) {
    char buffer[4096];
    std::size_t echoed = 0;
    for (;;) {
        const ssize_t n = spindle::io::read(fd, buffer, sizeof buffer);
        if (n == 0) break;  // the client closed its end
        if (n < 0) loopback::fail("read");
        loopback::write_all(fd, {buffer, static_cast<std::size_t>(n)});
        echoed += static_cast<std::size_t>(n);
    }
    spindle::io::close(fd);
    return echoed;
}

// server_report is what the server saw: the connections it accepted, the bytes it echoed.
struct server_report {
    std::size_t connections = 0;
    std::size_t bytes = 0;
};

// serve() accepts connections until the listener is closed, one task each in a task group,
// which waits for those tasks to finish (so they may add to `report` by reference).
server_report serve(int listening) {
    server_report report;
    // The connections' tasks may run on several threads at once (scheduler_options::threads):
    // they add up in an atomic.
    std::atomic<std::size_t> bytes{0};
    spindle::with_task_group([&](spindle::task_group& connections) {
        for (;;) {
            const int fd = loopback::accept_connection(listening);
            if (fd < 0) {
                if (errno == EBADF) break;  // main closed the listener: no more clients
                loopback::fail("accept");
            }
            ++report.connections;
            connections.spawn("connection", [fd, &bytes] { bytes += serve_connection(fd); });
        }
    });
    report.bytes = bytes;
    return report;
}

// read_line() returns the next line from `fd`, its '\n' included; bytes that arrived after it
// wait in `pending` for the next call.
std::string read_line(int fd, std::string& pending) {
    std::size_t end;
    while ((end = pending.find('\n')) == std::string::npos) {
        char buffer[256];
        const ssize_t n = spindle::io::read(fd, buffer, sizeof buffer);
        if (n == 0) throw std::runtime_error("the server closed the connection mid-line");
        if (n < 0) loopback::fail("read");
        pending.append(buffer, static_cast<std::size_t>(n));
    }
    std::string line = pending.substr(0, end + 1);
    pending.erase(0, end + 1);
    return line;
}

// run_client() connects, sends its lines one at a time and checks that each comes back
// unchanged; returns the number of lines echoed.
int run_client(std::uint16_t port, int id) {
    const int fd = loopback::connect_to_loopback(port);
    std::string pending;
    int echoed = 0;
    for (int i = 1; i <= lines_per_client; ++i) {
        const std::string line =
            "client " + std::to_string(id) + " says hello #" + std::to_string(i) + "\n";
        loopback::write_all(fd, line);
        if (read_line(fd, pending) != line)
            throw std::runtime_error("client " + std::to_string(id) + ": wrong echo");
        ++echoed;
    }
    spindle::io::close(fd);
    return echoed;
}

}  // namespace

int main() try {
    const auto [report, messages] = spindle::run([] {
        const loopback::listener listener = loopback::listen_on_loopback();
        std::printf("server: listening on 127.0.0.1 (the kernel chose the port)\n");
        auto server = spindle::spawn("server", [fd = listener.fd] { return serve(fd); });

        std::vector<spindle::task<int>> clients;
        for (int id = 1; id <= client_count; ++id)
            clients.push_back(spindle::spawn(
                "client", [port = listener.port, id] { return run_client(port, id); }));
        int messages = 0;
        for (int echoed : spindle::gather(std::move(clients))) messages += echoed;
        std::printf("clients: all %d finished\n", client_count);

        spindle::io::close(listener.fd);  // wakes the server's accept(), which fails with EBADF
        return std::pair{server.join(), messages};
    });
    std::printf("server: %zu connections served, %zu bytes echoed\n", report.connections,
                report.bytes);
    std::printf("%zu connections, %d messages echoed\n", report.connections, messages);
    return messages == client_count * lines_per_client ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    return 1;
}
