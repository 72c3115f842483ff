#pragma once
// loopback: the TCP plumbing the I/O examples share. Everything stays on 127.0.0.1, and the
// kernel picks every port (bind to port 0), so the examples never collide with each other or
// with anything else running on the machine.

#include <spindle/io.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace loopback {

// listener is a socket listening on 127.0.0.1 and the port the kernel gave it.
struct listener {
    int fd = -1;
    std::uint16_t port = 0;
};

// fail() throws the std::system_error that errno describes, naming what failed.
[[noreturn]] inline void fail(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// address() is 127.0.0.1:port.
inline sockaddr_in address(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// listen_on_loopback() opens a TCP socket listening on 127.0.0.1 at a port the kernel picks.
// The backlog is large enough for every example's clients to connect at once.
inline listener listen_on_loopback(int backlog = SOMAXCONN) {
    listener l;
    l.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l.fd < 0) fail("socket");
    sockaddr_in a = address(0);
    if (::bind(l.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail("bind");
    if (::listen(l.fd, backlog) != 0) fail("listen");
    socklen_t length = sizeof a;
    if (::getsockname(l.fd, reinterpret_cast<sockaddr*>(&a), &length) != 0) fail("getsockname");
    l.port = ntohs(a.sin_port);
    return l;
}

// no_delay() turns Nagle's algorithm off: the examples write small pieces and wait for
// answers, which Nagle (with the peer's delayed acknowledgements) would hold back for tens of
// milliseconds each.
inline void no_delay(int fd) {
    const int on = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0) fail("setsockopt");
}

// connect_to_loopback() opens a TCP socket and connects it to 127.0.0.1:port with
// spindle::io::connect, which suspends only the calling task until the connection is made.
inline int connect_to_loopback(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    const sockaddr_in a = address(port);
    if (spindle::io::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        const int error = errno;
        spindle::io::close(fd);
        errno = error;
        fail("connect");
    }
    no_delay(fd);
    return fd;
}

// accept_connection() waits for the next connection on `listening`; -1 with errno once the
// listener has been closed with spindle::io::close() (EBADF) or on another error.
inline int accept_connection(int listening) {
    const int fd = spindle::io::accept(listening, nullptr, nullptr);
    if (fd >= 0) no_delay(fd);
    return fd;
}

// write_all() writes all of `data`: spindle::io::write, like write(2), may write only part.
inline void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = spindle::io::write(fd, data.data(), data.size());
        if (n < 0) fail("write");
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

}  // namespace loopback
