// spindle's server: one task per connection, each written as plain blocking code (read, then
// write the reply), all on one scheduler thread; io::read and io::write suspend only the task.

#include "reply_maker.hpp"
#include "server.hpp"

#include <spindle/io.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/task_group.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <string_view>
#include <system_error>

namespace io_bench {
namespace {

// write_all() writes every byte of `bytes`; false when the connection failed.
bool write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = spindle::io::write(fd, bytes.data(), bytes.size());
        if (n < 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// session() answers one connection's requests until the client closes it.
void session(int fd, workload w) {
    reply_maker replies(w);
    char buffer[4096];
    for (;;) {
        const ssize_t n = spindle::io::read(fd, buffer, sizeof buffer);
        if (n <= 0) break;  // end of file, or the client reset the connection
        if (!write_all(fd, replies.reply(buffer, static_cast<std::size_t>(n)))) break;
    }
    spindle::io::close(fd);
}

}  // namespace

void serve_spindle(int listen_fd, int stop_fd, workload w) {
    spindle::run([=] {
        auto stopper = spindle::spawn("stop", [=] {
            spindle::io::wait_readable(stop_fd);
            spindle::io::close(stop_fd);
            spindle::io::close(listen_fd);  // the accept below fails with EBADF
        });
        // The sessions end with their connections; the group waits for them.
        spindle::with_task_group([&](spindle::task_group& sessions) {
            for (;;) {
                const int fd = spindle::io::accept(listen_fd, nullptr, nullptr);
                if (fd < 0) {
                    if (errno == EBADF) break;
                    if (errno == ECONNABORTED) continue;
                    throw std::system_error(errno, std::generic_category(), "accept");
                }
                const int on = 1;
                ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
                sessions.spawn([fd, w] { session(fd, w); });
            }
        });
        stopper.join();
    });
}

}  // namespace io_bench
