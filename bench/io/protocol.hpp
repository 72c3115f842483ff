#pragma once
// The two workloads of io_bench, shared by the load client and every server so that all of them
// speak and parse exactly the same bytes.
//
//   echo  the client sends 64 bytes and waits for the same 64 bytes back;
//   http  the client sends a small HTTP/1.1 GET (keep-alive) and waits for a fixed "hello"
//         response with a Content-Length.

#include <cstddef>
#include <string_view>

namespace io_bench {

enum class workload { echo, http };

// workload_name() is the name the command line and the tables use.
constexpr std::string_view workload_name(workload w) { return w == workload::echo ? "echo" : "http"; }

// echo_message_size is the size of every echo request (and reply).
constexpr std::size_t echo_message_size = 64;

// http_request is what the client sends for each HTTP request.
constexpr std::string_view http_request =
    "GET /hello HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    "User-Agent: spindle-io-bench\r\n"
    "Accept: */*\r\n"
    "\r\n";

// http_response is what every server answers to each HTTP request.
constexpr std::string_view http_response =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 5\r\n"
    "Connection: keep-alive\r\n"
    "\r\n"
    "hello";

// request_end_scanner finds the ends of HTTP requests ("\r\n\r\n") in a byte stream that arrives
// in pieces of any size; a server keeps one per connection. The requests have no body (GET), so
// the end of the headers is the end of the request.
class request_end_scanner {
public:
    // scan() consumes `size` bytes and returns how many requests ended in them.
    std::size_t scan(const char* data, std::size_t size) noexcept {
        std::size_t ends = 0;
        for (std::size_t i = 0; i < size; ++i) {
            const char c = data[i];
            // matched_ counts the bytes of "\r\n\r\n" seen last; a '\r' always starts or restarts
            // the match at 1 except where it is the third byte expected.
            if (c == '\r')
                matched_ = matched_ == 2 ? 3 : 1;
            else if (c == '\n' && (matched_ == 1 || matched_ == 3))
                ++matched_;
            else
                matched_ = 0;
            if (matched_ == 4) {
                ++ends;
                matched_ = 0;
            }
        }
        return ends;
    }

private:
    int matched_ = 0;
};

}  // namespace io_bench
