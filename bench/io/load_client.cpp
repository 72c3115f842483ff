#include "load_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace io_bench {
namespace {

using clock = std::chrono::steady_clock;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "io_bench: load client: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

[[noreturn]] void fail_protocol(const char* what) {
    std::fprintf(stderr, "io_bench: load client: %s\n", what);
    std::exit(1);
}

double seconds_on(clockid_t clock_id) {
    timespec now{};
    if (::clock_gettime(clock_id, &now) != 0) fail("clock_gettime");
    return double(now.tv_sec) + double(now.tv_nsec) * 1e-9;
}

cpu_times sample_cpu(clockid_t server_clock) {
    return {seconds_on(CLOCK_PROCESS_CPUTIME_ID), seconds_on(CLOCK_THREAD_CPUTIME_ID),
            seconds_on(server_clock)};
}

// connection is one client connection with its request in flight.
struct connection {
    int fd = -1;
    std::string request;        // what this connection sends, every time
    std::string_view expected;  // the whole reply to each request
    std::string received;       // the reply so far
    std::size_t sent = 0;       // bytes of the current request written
    clock::time_point started;  // when the current request was sent
};

// echo_request() is a 64-byte message particular to connection `index`, so that a server mixing
// up connections gives a wrong reply.
std::string echo_request(int index) {
    std::string message(echo_message_size, ' ');
    for (std::size_t i = 0; i < message.size(); ++i)
        message[i] = static_cast<char>('a' + (static_cast<std::size_t>(index) + i) % 26);
    message.back() = '\n';
    return message;
}

int connect_to(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        fail("connect");
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) fail("fcntl");
    return fd;
}

class load_loop {
public:
    explicit load_loop(const load_options& options) : options_(options) {
        epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (epoll_fd_ < 0) fail("epoll_create1");
        connections_.resize(static_cast<std::size_t>(options.connections));
        for (std::size_t i = 0; i < connections_.size(); ++i) {
            connection& c = connections_[i];
            c.fd = connect_to(options.port);
            if (options.work == workload::echo) {
                c.request = echo_request(static_cast<int>(i));
                c.expected = c.request;
            } else {
                c.request = http_request;
                c.expected = http_response;
            }
            c.received.reserve(c.expected.size());
            epoll_event event{};
            event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
            event.data.ptr = &c;
            if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &event) != 0) fail("epoll_ctl");
        }
        result_.latencies_ns.reserve(1 << 20);
    }

    ~load_loop() {
        for (connection& c : connections_) ::close(c.fd);
        ::close(epoll_fd_);
    }

    load_result run() {
        const auto begin = clock::now();
        const auto window_start = begin + options_.warmup;
        const auto window_end = window_start + options_.window;
        bool measuring = false;
        cpu_times cpu_at_start;
        for (connection& c : connections_) start_request(c, begin);
        epoll_event events[256];
        for (;;) {
            const int count = ::epoll_wait(epoll_fd_, events, 256, 10);
            if (count < 0 && errno != EINTR) fail("epoll_wait");
            for (int i = 0; i < count; ++i) serve(*static_cast<connection*>(events[i].data.ptr),
                                                  measuring);
            const auto now = clock::now();
            if (!measuring && now >= window_start) {
                // The window starts here: forget what the warm-up completed.
                measuring = true;
                cpu_at_start = sample_cpu(options_.server_clock);
                result_.window_start_unix = seconds_on(CLOCK_REALTIME);
                window_started_ = now;
                result_.requests = 0;
                result_.latencies_ns.clear();
            } else if (measuring && now >= window_end) {
                const cpu_times cpu_at_end = sample_cpu(options_.server_clock);
                result_.window_end_unix = seconds_on(CLOCK_REALTIME);
                result_.seconds = std::chrono::duration<double>(now - window_started_).count();
                result_.cpu = {cpu_at_end.process - cpu_at_start.process,
                               cpu_at_end.client - cpu_at_start.client,
                               cpu_at_end.server_thread - cpu_at_start.server_thread};
                return std::move(result_);
            }
        }
    }

private:
    void start_request(connection& c, clock::time_point now) {
        c.started = now;
        c.sent = 0;
        c.received.clear();
        send_rest(c);
    }

    void send_rest(connection& c) {
        while (c.sent < c.request.size()) {
            const ssize_t n = ::write(c.fd, c.request.data() + c.sent, c.request.size() - c.sent);
            if (n >= 0) {
                c.sent += static_cast<std::size_t>(n);
            } else if (errno == EAGAIN) {
                return;  // EPOLLOUT will report room
            } else if (errno != EINTR) {
                fail("write");
            }
        }
    }

    void serve(connection& c, bool measuring) {
        if (c.sent < c.request.size()) send_rest(c);
        char buffer[4096];
        for (;;) {
            const std::size_t wanted = c.expected.size() - c.received.size();
            const ssize_t n = ::read(c.fd, buffer, wanted);
            if (n < 0) {
                if (errno == EAGAIN) return;
                if (errno == EINTR) continue;
                fail("read");
            }
            if (n == 0) fail_protocol("the server closed a connection");
            c.received.append(buffer, static_cast<std::size_t>(n));
            if (static_cast<std::size_t>(n) < wanted) return;  // the socket is empty (edge-triggered)
            if (c.received != c.expected) fail_protocol("a wrong reply");
            const auto now = clock::now();
            ++result_.total_requests;
            if (measuring) {
                ++result_.requests;
                const auto latency = std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.started);
                result_.latencies_ns.push_back(static_cast<std::uint32_t>(
                    std::min<std::int64_t>(latency.count(), UINT32_MAX)));
            }
            start_request(c, now);
            // The next reply cannot be there before its request was sent: its arrival is a new
            // edge, so there is nothing more to read now.
            return;
        }
    }

    load_options options_;
    int epoll_fd_ = -1;
    std::vector<connection> connections_;
    load_result result_;
    clock::time_point window_started_;
};

}  // namespace

load_result run_load(const load_options& options) {
    load_loop loop(options);
    return loop.run();
}

}  // namespace io_bench
