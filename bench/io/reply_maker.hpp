#pragma once
// reply_maker: a server's side of one connection's protocol, shared by every server so that
// they all do the same work per request and differ only in how they wait and switch.

#include "protocol.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace io_bench {

// reply_maker turns the bytes read from one connection into the bytes to write back: for echo,
// the same bytes; for http, one response per request that ended in them.
class reply_maker {
public:
    explicit reply_maker(workload w) noexcept : workload_(w) {}

    // reply() returns what to write in answer to `data` (possibly nothing: a request that has
    // not ended yet). The view is valid until the next call.
    std::string_view reply(const char* data, std::size_t size) {
        if (workload_ == workload::echo) return {data, size};
        const std::size_t requests = scanner_.scan(data, size);
        if (requests <= 1) return requests == 0 ? std::string_view() : http_response;
        // Pipelined requests: the load client never sends them, but a server must not drop one.
        several_.clear();
        for (std::size_t i = 0; i < requests; ++i) several_ += http_response;
        return several_;
    }

private:
    workload workload_;
    request_end_scanner scanner_;
    std::string several_;
};

}  // namespace io_bench
