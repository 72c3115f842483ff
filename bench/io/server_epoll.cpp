// The ceiling: a hand-written, single-threaded, edge-triggered epoll server. Each connection is
// a small record; a readiness event drains it and writes the replies at once.
//
// Two variants: serve_epoll() stops reading at a short read, which has emptied the socket;
// serve_epoll_eagain() reads until EAGAIN, as the textbook edge-triggered loop does and as a
// task's read() loop does (a task calling read() again cannot know the socket is empty).

#include "reply_maker.hpp"
#include "server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>

namespace io_bench {
namespace {

// connection is one accepted socket and what the loop keeps for it.
struct connection {
    int fd;
    reply_maker replies;
    std::string unsent;  // the tail of a reply the socket did not take yet
};

// The listening socket's and the stop eventfd's epoll tags: any address that no connection has.
char listen_tag;
char stop_tag;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "io_bench: epoll server: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

class epoll_server {
public:
    epoll_server(int listen_fd, int stop_fd, workload w, bool read_until_eagain)
        : listen_fd_(listen_fd), stop_fd_(stop_fd), workload_(w),
          read_until_eagain_(read_until_eagain) {
        epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (epoll_fd_ < 0) fail("epoll_create1");
        if (::fcntl(listen_fd_, F_SETFL, ::fcntl(listen_fd_, F_GETFL) | O_NONBLOCK) != 0)
            fail("fcntl");
        watch(listen_fd_, EPOLLIN | EPOLLET, &listen_tag);
        watch(stop_fd_, EPOLLIN, &stop_tag);
    }

    void run() {
        epoll_event events[256];
        while (!stopping_ || open_ > 0) {
            const int count = ::epoll_wait(epoll_fd_, events, 256, -1);
            if (count < 0) {
                if (errno == EINTR) continue;
                fail("epoll_wait");
            }
            for (int i = 0; i < count; ++i) {
                void* tag = events[i].data.ptr;
                if (tag == &listen_tag)
                    accept_all();
                else if (tag == &stop_tag)
                    stop();
                else
                    serve(static_cast<connection*>(tag), events[i].events);
            }
        }
        ::close(stop_fd_);
        ::close(epoll_fd_);
    }

private:
    void watch(int fd, std::uint32_t events, void* tag) {
        epoll_event event{};
        event.events = events;
        event.data.ptr = tag;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) fail("epoll_ctl");
    }

    void accept_all() {
        for (;;) {
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                if (errno == EAGAIN) return;
                fail("accept4");
            }
            const int on = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            // Both directions from the start, edge-triggered: EPOLLOUT is reported only when a
            // full send buffer drains, so it costs nothing while replies fit.
            watch(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, new connection{fd, reply_maker(workload_), {}});
            ++open_;
        }
    }

    void stop() {
        stopping_ = true;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, stop_fd_, nullptr);
        ::close(listen_fd_);
    }

    void serve(connection* c, std::uint32_t events) {
        if ((events & EPOLLOUT) && !c->unsent.empty() && !send(c, c->unsent)) return;
        for (;;) {
            const ssize_t n = ::read(c->fd, buffer_, sizeof buffer_);
            if (n > 0) {
                const std::string_view reply = c->replies.reply(buffer_, static_cast<std::size_t>(n));
                if (!reply.empty() && !send(c, reply)) return;
                // A short read has emptied the socket's queue, and edge-triggered epoll reports
                // the next arrival: stop here rather than make the read that fails with EAGAIN.
                if (!read_until_eagain_ && static_cast<std::size_t>(n) < sizeof buffer_) return;
            } else if (n == 0) {
                close(c);
                return;
            } else if (errno == EINTR) {
                continue;
            } else if (errno == EAGAIN) {
                return;
            } else {
                close(c);  // ECONNRESET: the client went away
                return;
            }
        }
    }

    // send() writes `bytes` after whatever is still unsent; false when the connection failed
    // and was closed.
    bool send(connection* c, std::string_view bytes) {
        if (!c->unsent.empty() && bytes.data() != c->unsent.data()) {
            c->unsent.append(bytes);
            return true;  // EPOLLOUT will come when the socket takes more
        }
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = ::write(c->fd, bytes.data() + done, bytes.size() - done);
            if (n >= 0) {
                done += static_cast<std::size_t>(n);
            } else if (errno == EINTR) {
                continue;
            } else if (errno == EAGAIN) {
                break;
            } else {
                close(c);
                return false;
            }
        }
        if (bytes.data() == c->unsent.data())
            c->unsent.erase(0, done);
        else
            c->unsent.assign(bytes.substr(done));
        return true;
    }

    void close(connection* c) {
        ::close(c->fd);  // also leaves the epoll set
        delete c;
        --open_;
    }

    int listen_fd_;
    int stop_fd_;
    workload workload_;
    bool read_until_eagain_;
    int epoll_fd_ = -1;
    bool stopping_ = false;
    long open_ = 0;
    char buffer_[4096];  // the same size as the coroutine servers' per-connection buffers
};

}  // namespace

void serve_epoll(int listen_fd, int stop_fd, workload w) {
    epoll_server server(listen_fd, stop_fd, w, false);
    server.run();
}

void serve_epoll_eagain(int listen_fd, int stop_fd, workload w) {
    epoll_server server(listen_fd, stop_fd, w, true);
    server.run();
}

}  // namespace io_bench
