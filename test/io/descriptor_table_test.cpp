// The descriptor table: one registration per descriptor, stale events dropped, forgetting.

#include "io/descriptor_table.hpp"
#include "io_support.hpp"
#include "scheduler/worker.hpp"
#include "parked.hpp"

#include <spindle/io.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

using namespace spindle;
using namespace io_test;
using namespace std::chrono_literals;

namespace {

detail::descriptor_table& running_table() { return detail::table_of(*detail::task_worker()); }

// table_lock holds the running scheduler's core lock, which guards its descriptor table when
// several workers share it (their pollers deliver events under it); with one worker it takes
// nothing. No wait may come while it is held.
struct table_lock {
    detail::core_hold hold{detail::task_worker()->core()};
};

std::uint64_t registrations() {
    table_lock locked;
    return running_table().statistics().registrations;
}

}  // namespace

TEST_CASE("descriptor table: a descriptor is registered once, however often it is waited on") {
    auto ab_pair = stream_pair();
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    run([&] {
        const auto before = registrations();
        auto reader = spawn([&] {
            for (int i = 0; i < 100; ++i) {
                char c;
                REQUIRE(io::read(a.get(), &c, 1) == 1);
                REQUIRE(io::write(a.get(), &c, 1) == 1);
            }
        });
        for (int i = 0; i < 100; ++i) {
            const char c = static_cast<char>(i);
            REQUIRE(io::write(b.get(), &c, 1) == 1);
            char back;
            REQUIRE(io::read(b.get(), &back, 1) == 1);
        }
        reader.join();
        CHECK(registrations() - before == 2);  // a and b
    });
}

TEST_CASE("descriptor table: an event for a forgotten generation is dropped") {
    auto ab_pair = stream_pair();
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    run([&] {
        std::optional<table_lock> locked(std::in_place);
        detail::descriptor_table& table = running_table();
        detail::descriptor* d = table.attach(a.get());
        REQUIRE(d);
        CHECK(d->state == detail::descriptor_state::polled);
        const std::uint32_t old_generation = d->generation;
        table.forget(a.get());
        CHECK(d->state == detail::descriptor_state::unknown);
        CHECK(d->generation == old_generation + 1);
        const auto stale_before = table.statistics().stale_events;
        const std::uint32_t edges_before = d->read_edges;
        // An event that was fetched for the old registration, delivered late.
        table.on_event(static_cast<std::uint32_t>(a.get()) |
                           std::uint64_t{old_generation} << 32,
                       EPOLLIN);
        CHECK(table.statistics().stale_events == stale_before + 1);
        CHECK(d->read_edges == edges_before);
        // Attached again, it works as new.
        REQUIRE(table.attach(a.get()) == d);
        CHECK(d->state == detail::descriptor_state::polled);
        locked.reset();
        auto reader = spawn([&] {
            char c;
            return io::read(a.get(), &c, 1);
        });
        REQUIRE(spindle_test::until_waiting(1));  // it waits on the entry made again
        CHECK(io::write(b.get(), "n", 1) == 1);
        CHECK(reader.join() == 1);
    });
}

TEST_CASE("descriptor table: regular files are always ready and never registered") {
    char path[] = "/tmp/spindle-io-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::unlink(path);
    unique_fd file(fd);
    run([&] {
        CHECK(io::write(file.get(), "data", 4) == 4);
        CHECK(::lseek(file.get(), 0, SEEK_SET) == 0);
        char buffer[8];
        CHECK(io::read(file.get(), buffer, sizeof buffer) == 4);
        CHECK(io::read(file.get(), buffer, sizeof buffer) == 0);
        CHECK(io::wait_readable(file.get(), 1ms));
        table_lock locked;
        detail::descriptor* d = running_table().find(file.get());
        REQUIRE(d);
        CHECK(d->state == detail::descriptor_state::always_ready);
    });
}

TEST_CASE("descriptor table: accept forgets a number that was closed behind spindle's back") {
    listener l = listen_loopback();
    run([&] {
        // A descriptor spindle knows, closed with plain ::close().
        auto ab_pair = stream_pair();
        auto& a = ab_pair.first;
        auto& b = ab_pair.second;
        char c;
        CHECK(io::write(b.get(), "k", 1) == 1);
        CHECK(io::read(a.get(), &c, 1) == 1);
        unique_fd client = tcp_socket();  // before the number is free: accept must get it
        const int number = a.release();
        ::close(number);
        std::atomic<bool> accepted{false};
        auto server = spawn([&] {
            unique_fd connection(io::accept(l.fd.get(), nullptr, nullptr));
            CHECK(connection.get() == number);  // the lowest free number
            accepted = true;
            char d;
            return io::read(connection.get(), &d, 1);
        });
        REQUIRE(spindle_test::until_waiting(1));  // in accept
        const sockaddr_in address = loopback_address(l.port);
        REQUIRE(io::connect(client.get(), reinterpret_cast<const sockaddr*>(&address),
                            sizeof address) == 0);
        // The server waits in read on the new descriptor: past its accept, its only wait.
        while (!accepted) this_fiber::yield();
        REQUIRE(spindle_test::until_waiting(1));
        CHECK(io::write(client.get(), "a", 1) == 1);
        CHECK(server.join() == 1);
    });
}
