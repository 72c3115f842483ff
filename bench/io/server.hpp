#pragma once
// The servers io_bench compares, and running_server, which runs one of them on a thread of its
// own for one measurement.

#include "protocol.hpp"

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <span>
#include <string_view>
#include <thread>

namespace io_bench {

// serve_function is a server's body. It serves the listening socket `listen_fd` (bound to
// 127.0.0.1, blocking) with workload `w`, one reply per request, until `stop_fd` (an eventfd)
// becomes readable and every connection it accepted has been closed by the client; then it
// closes both descriptors and returns. It runs on one thread and uses no other.
using serve_function = void (*)(int listen_fd, int stop_fd, workload w);

// serve_epoll() is the ceiling: a hand-written edge-triggered epoll loop (server_epoll.cpp).
void serve_epoll(int listen_fd, int stop_fd, workload w);
// serve_epoll_eagain() is the same loop reading each socket until EAGAIN, the one more read per
// wake that a task's read() loop makes too.
void serve_epoll_eagain(int listen_fd, int stop_fd, workload w);
// serve_spindle() runs one spindle task per connection (server_spindle.cpp).
void serve_spindle(int listen_fd, int stop_fd, workload w);
// serve_asio() runs one boost::asio::spawn coroutine per connection on one io_context thread
// (server_asio.cpp; built only where Boost.Coroutine is found).
void serve_asio(int listen_fd, int stop_fd, workload w);

// server_kind names a server for the command line and the tables.
struct server_kind {
    std::string_view name;
    serve_function serve;
};

// server_kinds() lists the servers this build has, the ceiling first.
std::span<const server_kind> server_kinds();

// running_server runs a server on a new thread pinned to `cpu` (negative: unpinned), listening
// on 127.0.0.1 at a port the kernel picks. The destructor tells it to stop and joins it; the
// clients must have closed their connections by then.
class running_server {
public:
    running_server(serve_function serve, workload w, int cpu);
    ~running_server();
    running_server(const running_server&) = delete;
    running_server& operator=(const running_server&) = delete;

    // port() is the port the server listens on.
    std::uint16_t port() const noexcept { return port_; }
    // cpu_clock() is the server thread's CPU-time clock (user + system time).
    clockid_t cpu_clock() const noexcept { return cpu_clock_; }
    // thread_id() is the server thread's kernel id (as strace -ff names its files).
    pid_t thread_id() const noexcept { return thread_id_; }

private:
    int stop_fd_ = -1;
    std::uint16_t port_ = 0;
    clockid_t cpu_clock_{};
    pid_t thread_id_ = 0;
    std::thread thread_;
};

}  // namespace io_bench
