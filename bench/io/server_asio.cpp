// The peer: one boost::asio::spawn coroutine per connection (stackful, over Boost.Context), all on
// one io_context run by one thread, written the way Asio's spawn examples write it.

#include "reply_maker.hpp"
#include "server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>

#include <cstddef>
#include <string_view>
#include <utility>

namespace io_bench {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// session() answers one connection's requests until the client closes it.
void session(tcp::socket& socket, workload w, asio::yield_context yield) {
    reply_maker replies(w);
    char buffer[4096];
    boost::system::error_code error;
    for (;;) {
        const std::size_t n = socket.async_read_some(asio::buffer(buffer), yield[error]);
        if (error) return;  // end of file, or the client reset the connection
        const std::string_view reply = replies.reply(buffer, n);
        if (reply.empty()) continue;
        asio::async_write(socket, asio::buffer(reply.data(), reply.size()), yield[error]);
        if (error) return;
    }
}

}  // namespace

void serve_asio(int listen_fd, int stop_fd, workload w) {
    asio::io_context context(1);  // the concurrency hint for an io_context run by one thread
    tcp::acceptor acceptor(context, tcp::v4(), listen_fd);
    asio::posix::stream_descriptor stop(context, stop_fd);
    asio::spawn(context, [&](asio::yield_context yield) {
        for (;;) {
            boost::system::error_code error;
            tcp::socket socket(context);
            acceptor.async_accept(socket, yield[error]);
            if (error == asio::error::operation_aborted) return;  // stop closed the acceptor
            if (error) throw boost::system::system_error(error, "accept");
            socket.set_option(tcp::no_delay(true));
            asio::spawn(context, [socket = std::move(socket), w](asio::yield_context yield) mutable {
                session(socket, w, yield);
            });
        }
    });
    asio::spawn(context, [&](asio::yield_context yield) {
        stop.async_wait(asio::posix::stream_descriptor::wait_read, yield);
        acceptor.close();
    });
    context.run();  // returns when the acceptor and every session have finished
}

}  // namespace io_bench
