#pragma once
// What the io tests share: descriptors that close themselves, socket pairs and a loopback
// listener, and a count of the process's open descriptors.

#include <spindle/io.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

namespace io_test {

// unique_fd closes its descriptor with io::close() unless released.
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& other) noexcept {
        reset(std::exchange(other.fd_, -1));
        return *this;
    }
    ~unique_fd() { reset(); }
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1) {
        if (fd_ >= 0) spindle::io::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

// check_system() throws when a setup call failed, with its errno.
inline int check_system(int result, const char* what) {
    if (result < 0) throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
    return result;
}

// stream_pair() is a connected AF_UNIX stream socket pair, non-blocking unless `blocking`.
inline std::pair<unique_fd, unique_fd> stream_pair(bool blocking = false) {
    int fds[2];
    check_system(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK),
                              0, fds),
                 "socketpair");
    return {unique_fd(fds[0]), unique_fd(fds[1])};
}

// shrink_buffers() makes a socket's send and receive buffers small, so a few writes fill them.
inline void shrink_buffers(int fd) {
    int size = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

// fill() writes into fd without waiting until it would block; returns the bytes written.
inline std::size_t fill(int fd) {
    char chunk[4096] = {};
    std::size_t total = 0;
    for (;;) {
        const ssize_t n = ::send(fd, chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0) return total;
        total += static_cast<std::size_t>(n);
    }
}

// loopback_address() is 127.0.0.1:port.
inline sockaddr_in loopback_address(std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

// tcp_socket() is a new non-blocking TCP socket.
inline unique_fd tcp_socket() {
    return unique_fd(check_system(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
                                  "socket"));
}

// listener is a TCP socket listening on 127.0.0.1 at a port the kernel chose.
struct listener {
    unique_fd fd;
    std::uint16_t port = 0;
};

inline listener listen_loopback(int backlog = 128) {
    listener l{tcp_socket()};
    sockaddr_in address = loopback_address(0);
    check_system(::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), "bind");
    check_system(::listen(l.fd.get(), backlog), "listen");
    socklen_t length = sizeof address;
    check_system(::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&address), &length),
                 "getsockname");
    l.port = ntohs(address.sin_port);
    return l;
}

// connect_loopback() connects a new socket to 127.0.0.1:port with io::connect; -1 on failure.
inline int connect_loopback(std::uint16_t port, int* error = nullptr) {
    unique_fd fd = tcp_socket();
    const sockaddr_in address = loopback_address(port);
    if (spindle::io::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address),
                             sizeof address) != 0) {
        if (error) *error = errno;
        return -1;
    }
    return fd.release();
}

// write_all() writes the whole buffer with io::write; false on an error.
inline bool write_all(int fd, const void* data, std::size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = spindle::io::write(fd, p, size);
        if (n <= 0) return false;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

// read_exactly() reads `size` bytes with io::read; false at end of file or on an error.
inline bool read_exactly(int fd, void* data, std::size_t size) {
    char* p = static_cast<char*>(data);
    while (size > 0) {
        const ssize_t n = spindle::io::read(fd, p, size);
        if (n <= 0) return false;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

// byte_echo_thread() is an ordinary thread that writes back each byte it reads from fd, at
// once, until the other end shuts down: a peer only the poller can hear.
inline std::thread byte_echo_thread(int fd) {
    return std::thread([fd] {
        char c;
        for (;;) {
            const ssize_t n = ::read(fd, &c, 1);
            if (n == 0) return;
            if (n < 0) {
                if (errno != EAGAIN) return;
                pollfd p{fd, POLLIN, 0};
                ::poll(&p, 1, -1);
                continue;
            }
            while (::write(fd, &c, 1) != 1) {}
        }
    });
}

// open_descriptors() counts the process's open descriptors.
inline int open_descriptors() {
    int count = 0;
    if (DIR* dir = ::opendir("/proc/self/fd")) {
        while (const dirent* entry = ::readdir(dir))
            if (entry->d_name[0] != '.') ++count;
        ::closedir(dir);
    }
    return count - 1;  // the directory's own descriptor
}

}  // namespace io_test
