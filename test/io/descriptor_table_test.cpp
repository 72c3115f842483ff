// The descriptor table: one registration per descriptor, stale events dropped, forgetting.

#include "io/descriptor_table.hpp"
#include "io_support.hpp"
#include "scheduler/worker.hpp"
#include "workers.hpp"

#include <spindle/io.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <sys/epoll.h>

#include <chrono>

using namespace spindle;
using namespace io_test;
using namespace std::chrono_literals;

namespace {

detail::descriptor_table& running_table() { return detail::table_of(*detail::task_worker()); }

}  // namespace

TEST_CASE("descriptor table: a descriptor is registered once, however often it is waited on"
          * spindle_test::single_worker()) {
    auto ab_pair = stream_pair();
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    run([&] {
        const auto before = running_table().statistics().registrations;
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
        CHECK(running_table().statistics().registrations - before == 2);  // a and b
    });
}

TEST_CASE("descriptor table: an event for a forgotten generation is dropped"
          * spindle_test::single_worker()) {
    auto ab_pair = stream_pair();
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    run([&] {
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
        auto reader = spawn([&] {
            char c;
            return io::read(a.get(), &c, 1);
        });
        this_fiber::yield();
        CHECK(io::write(b.get(), "n", 1) == 1);
        CHECK(reader.join() == 1);
    });
}

TEST_CASE("descriptor table: regular files are always ready and never registered"
          * spindle_test::single_worker()) {
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
        detail::descriptor* d = running_table().find(file.get());
        REQUIRE(d);
        CHECK(d->state == detail::descriptor_state::always_ready);
    });
}

TEST_CASE("descriptor table: accept forgets a number that was closed behind spindle's back"
          * spindle_test::single_worker()) {
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
        auto server = spawn([&] {
            unique_fd connection(io::accept(l.fd.get(), nullptr, nullptr));
            CHECK(connection.get() == number);  // the lowest free number
            char d;
            return io::read(connection.get(), &d, 1);
        });
        this_fiber::yield();
        const sockaddr_in address = loopback_address(l.port);
        REQUIRE(io::connect(client.get(), reinterpret_cast<const sockaddr*>(&address),
                            sizeof address) == 0);
        this_fiber::sleep_for(5ms);  // the server waits in read on the new descriptor
        CHECK(io::write(client.get(), "a", 1) == 1);
        CHECK(server.join() == 1);
    });
}
