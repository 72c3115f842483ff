#include "server.hpp"

#include "affinity.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <future>

namespace io_bench {
namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "io_bench: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

// listen_on_loopback() returns a blocking socket listening on 127.0.0.1 at a port the kernel
// picks, and stores the port.
int listen_on_loopback(std::uint16_t& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) fail("bind");
    if (::listen(fd, SOMAXCONN) != 0) fail("listen");
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
        fail("getsockname");
    port = ntohs(address.sin_port);
    return fd;
}

}  // namespace

running_server::running_server(serve_function serve, workload w, int cpu) {
    const int listen_fd = listen_on_loopback(port_);
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
    if (stop_fd_ < 0) fail("eventfd");
    std::promise<pid_t> started;
    auto started_id = started.get_future();
    thread_ = std::thread([serve, w, cpu, listen_fd, stop_fd = stop_fd_, &started] {
        pin_this_thread(cpu);
        started.set_value(::gettid());
        try {
            serve(listen_fd, stop_fd, w);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "io_bench: the server failed: %s\n", e.what());
            std::exit(1);
        }
    });
    thread_id_ = started_id.get();
    if (int error = pthread_getcpuclockid(thread_.native_handle(), &cpu_clock_); error != 0) {
        errno = error;
        fail("pthread_getcpuclockid");
    }
}

running_server::~running_server() {
    // The server owns stop_fd and closes it once it has seen this write, so the descriptor is
    // still open here.
    const std::uint64_t one = 1;
    if (::write(stop_fd_, &one, sizeof one) != sizeof one) fail("write to the stop eventfd");
    thread_.join();
}

}  // namespace io_bench
