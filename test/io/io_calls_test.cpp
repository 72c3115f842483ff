// The io calls inside tasks: data round trips, would-block parking, hang-ups, closing, cancels,
// connects, partial writes, EINTR, blocking-mode descriptors, and the calls outside any task.

#include "io_support.hpp"
#include "parked.hpp"
#include "workers.hpp"

#include <spindle/io.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <numeric>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace spindle;
using namespace std::chrono_literals;
using namespace io_test;

TEST_CASE("io: a reader parks until a writer task writes, and both see the bytes") {
    auto ab_pair = stream_pair();
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    std::string received;  // the reader's, read once run() has returned
    run([&] {
        auto reader = spawn([&] {
            char buffer[64];
            const ssize_t n = io::read(a.get(), buffer, sizeof buffer);
            REQUIRE(n > 0);
            received.assign(buffer, static_cast<std::size_t>(n));
        });
        REQUIRE(spindle_test::until_waiting(1));  // parked on an empty socket
        auto writer = spawn([&] { CHECK(io::write(b.get(), "hello", 5) == 5); });
        reader.join();
        writer.join();
    });
    CHECK(received == "hello");
}

TEST_CASE("io: readv, writev, recv, send, recvfrom and sendto") {
    run([] {
        auto ab_pair = stream_pair();
        auto& a = ab_pair.first;
        auto& b = ab_pair.second;
        char part1[] = "ab", part2[] = "cde";
        iovec out[2] = {{part1, 2}, {part2, 3}};
        CHECK(io::writev(a.get(), out, 2) == 5);
        char in1[3] = {}, in2[2] = {};
        iovec in[2] = {{in1, 3}, {in2, 2}};
        CHECK(io::readv(b.get(), in, 2) == 5);
        CHECK(std::string(in1, 3) == "abc");
        CHECK(std::string(in2, 2) == "de");
        CHECK(io::send(b.get(), "xy", 2) == 2);
        char got[2];
        CHECK(io::recv(a.get(), got, 2) == 2);
        CHECK(std::string(got, 2) == "xy");

        int dgram[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, dgram) == 0);
        unique_fd d0(dgram[0]), d1(dgram[1]);
        auto receiver = spawn([&] {
            char message[16];
            sockaddr_storage from;
            socklen_t length = sizeof from;
            const ssize_t n = io::recvfrom(d1.get(), message, sizeof message, 0,
                                           reinterpret_cast<sockaddr*>(&from), &length);
            CHECK(n == 4);
            CHECK(std::string(message, 4) == "ping");
        });
        this_fiber::yield();
        CHECK(io::sendto(d0.get(), "ping", 4, 0, nullptr, 0) == 4);
        receiver.join();
    });
}

TEST_CASE("io: a writer on a full socket makes partial progress and every byte arrives") {
    auto ab_pair = stream_pair();
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    shrink_buffers(a.get());
    shrink_buffers(b.get());
    std::vector<unsigned char> data(1 << 20);
    std::iota(data.begin(), data.end(), 0);
    std::vector<unsigned char> received(data.size());
    std::size_t partial_writes = 0;
    run([&] {
        auto writer = spawn([&] {
            std::size_t sent = 0;
            while (sent < data.size()) {
                const ssize_t n = io::write(a.get(), data.data() + sent, data.size() - sent);
                REQUIRE(n > 0);
                if (static_cast<std::size_t>(n) < data.size() - sent) ++partial_writes;
                sent += static_cast<std::size_t>(n);
            }
        });
        auto reader = spawn([&] {
            std::size_t got = 0;
            while (got < received.size()) {
                // Small reads, so the writer fills the socket again and again.
                const std::size_t want = std::min<std::size_t>(1000, received.size() - got);
                const ssize_t n = io::read(b.get(), received.data() + got, want);
                REQUIRE(n > 0);
                got += static_cast<std::size_t>(n);
            }
        });
        writer.join();
        reader.join();
    });
    CHECK(partial_writes > 0);
    CHECK(received == data);
}

TEST_CASE("io: a hang-up wakes the reader and the writer waiting on one descriptor") {
    auto ab_pair = stream_pair();
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    shrink_buffers(a.get());
    fill(a.get());
    ssize_t read_result = 99, write_result = 99;
    int read_error = 0, write_error = 0;
    run([&] {
        auto reader = spawn([&] {
            char c;
            read_result = io::read(a.get(), &c, 1);
            read_error = errno;
        });
        auto writer = spawn([&] {
            char chunk[4096] = {};
            write_result = io::write(a.get(), chunk, sizeof chunk);
            write_error = errno;
        });
        REQUIRE(spindle_test::until_waiting(2));  // both park
        b.reset();            // the peer hangs up
        reader.join();
        writer.join();
    });
    // End of file, or a reset: the peer closed with bytes of ours unread.
    CHECK((read_result == 0 || (read_result == -1 && read_error == ECONNRESET)));
    CHECK(write_result == -1);
    CHECK(write_error == EPIPE);  // not SIGPIPE: the process is still here
}

TEST_CASE("io: a descriptor in blocking mode is made non-blocking and never blocks the thread") {
    auto ab_pair = stream_pair(true);
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    CHECK((::fcntl(a.get(), F_GETFL) & O_NONBLOCK) == 0);
    std::vector<std::string> order;
    run([&] {
        auto reader = spawn([&] {
            char c;
            CHECK(io::read(a.get(), &c, 1) == 1);
            order.push_back("read");
        });
        auto writer = spawn([&] {
            order.push_back("writer ran");  // the reader did not block the thread
            CHECK(io::write(b.get(), "x", 1) == 1);
        });
        reader.join();
        writer.join();
    });
    CHECK(order == std::vector<std::string>{"writer ran", "read"});
    CHECK((::fcntl(a.get(), F_GETFL) & O_NONBLOCK) != 0);
}

TEST_CASE("io: io::close wakes the tasks waiting on the descriptor with EBADF") {
    auto ab_pair = stream_pair();  // the peer, .second, stays open: nothing but close wakes a
    auto& a = ab_pair.first;
    ssize_t result = 0;
    int error = 0;
    bool wait_threw = false;
    run([&] {
        const int fd = a.release();
        auto reader = spawn([&] {
            char c;
            result = io::read(fd, &c, 1);
            error = errno;
        });
        auto waiter = spawn([&] {
            try {
                io::wait_readable(fd);
            } catch (const std::system_error& e) {
                wait_threw = e.code().value() == EBADF;
            }
        });
        REQUIRE(spindle_test::until_waiting(2));
        CHECK(io::close(fd) == 0);
        reader.join();
        waiter.join();
    });
    CHECK(result == -1);
    CHECK(error == EBADF);
    CHECK(wait_threw);
}

TEST_CASE("io: a reused descriptor number starts clean") {
    run([] {
        for (int round = 0; round < 50; ++round) {
            auto ab_pair = stream_pair();
            auto& a = ab_pair.first;
            auto& b = ab_pair.second;
            const int number = a.get();
            // Leave an event behind on the old descriptor, then close it.
            CHECK(io::write(b.get(), "x", 1) == 1);
            char c;
            CHECK(io::read(a.get(), &c, 1) == 1);
            CHECK(io::write(b.get(), "y", 1) == 1);
            a.reset();
            b.reset();
            // The new pair gets the same numbers back; its reader must wait for real data.
            auto c1c2_pair = stream_pair();
            auto& c1 = c1c2_pair.first;
            auto& c2 = c1c2_pair.second;
            CHECK(c1.get() == number);
            std::atomic<bool> read_done{false};
            auto reader = spawn([&, fd = c1.get()] {
                char d;
                CHECK(io::read(fd, &d, 1) == 1);
                CHECK(d == 'z');
                read_done = true;
            });
            // It waits: an event the old descriptor left would end its read with no data.
            REQUIRE(spindle_test::until_waiting(1));
            CHECK_FALSE(read_done);
            CHECK(io::write(c2.get(), "z", 1) == 1);
            reader.join();
            CHECK(read_done);
        }
    });
}

TEST_CASE("io: cancelling a task blocked in accept, read, write or connect") {
    SUBCASE("accept, in a loop: run() finishes") {
        listener l = listen_loopback();
        std::atomic<int> accepted{0};
        run([&] {
            auto server = spawn([&] {
                for (;;) {
                    const int fd = io::accept(l.fd.get(), nullptr, nullptr);
                    if (fd >= 0) {
                        ++accepted;
                        io::close(fd);
                    }
                }
            });
            unique_fd client(connect_loopback(l.port));
            CHECK(client.get() >= 0);
            while (accepted == 0) this_fiber::yield();
            REQUIRE(spindle_test::until_waiting(1));  // in accept again
            server.cancel();
            CHECK_THROWS_AS(server.join(), cancelled);
        });
        CHECK(accepted == 1);
    }
    SUBCASE("read and write: the interest is gone, the descriptor still works") {
        auto ab_pair = stream_pair();
        auto& a = ab_pair.first;
        auto& b = ab_pair.second;
        shrink_buffers(a.get());
        fill(a.get());
        run([&] {
            auto reader = spawn([&] {
                char c;
                io::read(a.get(), &c, 1);
            });
            auto writer = spawn([&] {
                char c = 0;
                io::write(a.get(), &c, 1);
            });
            REQUIRE(spindle_test::until_waiting(2));  // both blocked
            reader.cancel();
            writer.cancel();
            CHECK_THROWS_AS(reader.join(), cancelled);
            CHECK_THROWS_AS(writer.join(), cancelled);
            // A new reader gets the next byte: the cancelled one left no claim behind.
            auto second = spawn([&] {
                char c;
                CHECK(io::read(a.get(), &c, 1) == 1);
                CHECK(c == 'q');
            });
            REQUIRE(spindle_test::until_waiting(1));
            CHECK(io::write(b.get(), "q", 1) == 1);
            second.join();
        });
    }
    SUBCASE("connect to a listener whose backlog is full") {
        // A listener that never accepts, with its queue full: a further connect stays pending.
        listener l = listen_loopback(0);
        std::vector<unique_fd> fillers;
        run([&] {
            int pending = -1;
            const sockaddr_in address = loopback_address(l.port);
            const auto* target = reinterpret_cast<const sockaddr*>(&address);
            for (int attempt = 0; attempt < 64 && pending < 0; ++attempt) {
                unique_fd fd = tcp_socket();
                if (io::connect(fd.get(), target, sizeof address, io::clock::now() + 20ms) != 0) {
                    REQUIRE(errno == ETIMEDOUT);
                    pending = fd.get();
                }
                fillers.push_back(std::move(fd));
            }
            REQUIRE(pending >= 0);
            auto connector = spawn([&] { io::connect(pending, target, sizeof address); });
            REQUIRE(spindle_test::until_waiting(1));
            CHECK_FALSE(connector.done());
            connector.cancel();
            CHECK_THROWS_AS(connector.join(), cancelled);
        });
    }
}

TEST_CASE("io: connect to a port nobody listens on fails with ECONNREFUSED") {
    int error = 0;
    run([&] {
        // A bound socket that does not listen holds the port, so nobody else can listen there.
        unique_fd bound = tcp_socket();
        sockaddr_in address = loopback_address(0);
        REQUIRE(::bind(bound.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        socklen_t length = sizeof address;
        REQUIRE(::getsockname(bound.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
        CHECK(connect_loopback(ntohs(address.sin_port), &error) == -1);
    });
    CHECK(error == ECONNREFUSED);
}

TEST_CASE("io: accept and connect make a connection both ends can use") {
    listener l = listen_loopback();
    std::string reply;
    run([&] {
        auto server = spawn([&] {
            unique_fd connection(io::accept(l.fd.get(), nullptr, nullptr));
            REQUIRE(connection.get() >= 0);
            CHECK((::fcntl(connection.get(), F_GETFL) & O_NONBLOCK) != 0);
            char buffer[16];
            const ssize_t n = io::read(connection.get(), buffer, sizeof buffer);
            REQUIRE(n > 0);
            CHECK(write_all(connection.get(), buffer, static_cast<std::size_t>(n)));
        });
        unique_fd client(connect_loopback(l.port));
        REQUIRE(client.get() >= 0);
        CHECK(write_all(client.get(), "echo", 4));
        char buffer[4];
        REQUIRE(read_exactly(client.get(), buffer, 4));
        reply.assign(buffer, 4);
        server.join();
    });
    CHECK(reply == "echo");
}

TEST_CASE("io: deadlines end a wait with ETIMEDOUT, never before the deadline") {
    auto ab_pair = stream_pair();
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    run([&] {
        const auto deadline = io::clock::now() + 20ms;
        char c;
        CHECK(io::read(a.get(), &c, 1, deadline) == -1);
        CHECK(errno == ETIMEDOUT);
        CHECK(io::clock::now() >= deadline);
        CHECK_FALSE(io::wait_readable(a.get(), 5ms));
        // A deadline in the past still makes one attempt: ready data is not refused.
        CHECK(io::write(b.get(), "r", 1) == 1);
        CHECK(io::read(a.get(), &c, 1, io::clock::now() - 1s) == 1);
        CHECK(io::wait_writable(a.get(), io::clock::now()));
        // And the descriptor still works after a timeout.
        auto reader = spawn([&] { return io::read(a.get(), &c, 1, io::clock::now() + 1h); });
        this_fiber::yield();
        CHECK(io::write(b.get(), "s", 1) == 1);
        CHECK(reader.join() == 1);
    });
}

TEST_CASE("io: wait_readable sees data that arrived before the descriptor was registered") {
    auto ab_pair = stream_pair();
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    CHECK(::write(b.get(), "early", 5) == 5);
    run([&] {
        io::wait_readable(a.get());  // edge-triggered epoll would never report this
        io::wait_writable(a.get());
        char buffer[8];
        CHECK(io::read(a.get(), buffer, sizeof buffer) == 5);
    });
}

TEST_CASE("io: I/O does not starve while another task yields forever") {
    // The peer is an ordinary thread, so only the poller can wake the reader, and the ready
    // queue is never empty: the worker must poll while busy.
    auto ab_pair = stream_pair();
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    std::thread echo = byte_echo_thread(b.get());
    int round_trips = 0;
    run([&] {
        std::atomic<bool> done{false};  // the two tasks may run on two workers
        auto spinner = spawn([&] {
            while (!done) this_fiber::yield();
        });
        auto client = spawn([&] {
            for (int i = 0; i < 200; ++i) {
                const char c = static_cast<char>(i);
                REQUIRE(io::write(a.get(), &c, 1) == 1);
                char back;
                REQUIRE(io::read(a.get(), &back, 1) == 1);
                CHECK(back == c);
                ++round_trips;
            }
            done = true;
        });
        client.join();
        spinner.join();
    });
    ::shutdown(a.get(), SHUT_RDWR);
    echo.join();
    CHECK(round_trips == 200);
}

TEST_CASE("io: a task waiting on a descriptor is not deadlocked; tasks waiting on each other are") {
    auto ab_pair = stream_pair();
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    // A thread will write later: the scheduler must wait for it, not report a deadlock.
    std::thread late([fd = b.get()] {
        std::this_thread::sleep_for(20ms);
        CHECK(::write(fd, "w", 1) == 1);
    });
    run([&] {
        char c;
        CHECK(io::read(a.get(), &c, 1) == 1);
    });
    late.join();
    // After I/O, tasks that only wait for each other are still reported.
    CHECK_THROWS_AS(run([&] {
                        char c;
                        CHECK(io::write(b.get(), "v", 1) == 1);
                        CHECK(io::read(a.get(), &c, 1) == 1);
                        this_fiber::sleep_until(io::clock::time_point::max());
                    }),
                    deadlock_error);
}

namespace {
extern "C" void ignore_signal(int) {}
}  // namespace

TEST_CASE("io: signals (EINTR) neither lose a wait nor end it early") {
    struct sigaction action{};
    action.sa_handler = ignore_signal;  // no SA_RESTART: epoll_wait and poll return EINTR
    struct sigaction previous{};
    REQUIRE(::sigaction(SIGUSR1, &action, &previous) == 0);
    auto ab_pair = stream_pair();
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    const pthread_t target = ::pthread_self();
    std::atomic<bool> stop{false};
    std::thread signaller([&] {
        while (!stop.load()) {
            ::pthread_kill(target, SIGUSR1);
            std::this_thread::sleep_for(1ms);
        }
    });
    std::thread writer([fd = b.get()] {
        std::this_thread::sleep_for(50ms);
        CHECK(::write(fd, "s", 1) == 1);
    });
    char c = 0;
    run([&] {
        CHECK(io::read(a.get(), &c, 1) == 1);
        const auto deadline = io::clock::now() + 30ms;
        CHECK_FALSE(io::wait_readable(a.get(), deadline));
        CHECK(io::clock::now() >= deadline);
    });
    // Outside any task the calls block in poll(2), which signals interrupt as well.
    std::thread writer2([fd = b.get()] {
        std::this_thread::sleep_for(30ms);
        CHECK(::write(fd, "t", 1) == 1);
    });
    CHECK(io::read(a.get(), &c, 1) == 1);
    CHECK(c == 't');
    stop = true;
    signaller.join();
    writer.join();
    writer2.join();
    ::sigaction(SIGUSR1, &previous, nullptr);
}

TEST_CASE("io: outside any task the calls block the thread in poll") {
    auto ab_pair = stream_pair();
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    char c;
    const auto deadline = io::clock::now() + 10ms;
    CHECK(io::read(a.get(), &c, 1, deadline) == -1);
    CHECK(errno == ETIMEDOUT);
    CHECK(io::clock::now() >= deadline);
    CHECK_FALSE(io::wait_readable(a.get(), 1ms));
    std::thread writer([fd = b.get()] { CHECK(::write(fd, "o", 1) == 1); });
    CHECK(io::read(a.get(), &c, 1) == 1);
    writer.join();
    CHECK(io::wait_writable(a.get(), 1ms));
    CHECK_THROWS_AS(io::wait_readable(-1), std::system_error);
}

TEST_CASE("io: a bad descriptor is EBADF, never a wait") {
    run([] {
        char c;
        CHECK(io::read(-1, &c, 1) == -1);
        CHECK(errno == EBADF);
        CHECK(io::write(987654, &c, 1) == -1);
        CHECK(errno == EBADF);
        CHECK_THROWS_AS(io::wait_readable(987654), std::system_error);
    });
}

TEST_CASE("io: after a short read, the peer's data and close still reach the reader") {
    // A short read from a TCP socket lets the next read wait for an event without trying; the
    // end of file that came with the data sends no further event, and must still be read.
    listener l = listen_loopback();
    std::vector<ssize_t> results;
    run([&] {
        auto server = spawn([&] {
            unique_fd connection(io::accept(l.fd.get(), nullptr, nullptr));
            char buffer[100];
            for (;;) {
                const ssize_t n = io::read(connection.get(), buffer, sizeof buffer);
                results.push_back(n);
                if (n <= 0) return;
            }
        });
        unique_fd client(connect_loopback(l.port));
        REQUIRE(client.get() >= 0);
        this_fiber::sleep_for(std::chrono::milliseconds(2));  // the server waits in read
        for (int round = 0; round < 3; ++round) {
            CHECK(io::write(client.get(), "0123456789", 10) == 10);
            this_fiber::sleep_for(std::chrono::milliseconds(2));
        }
        CHECK(io::write(client.get(), "end", 3) == 3);
        client.reset();  // data and close together
        server.join();
    });
    REQUIRE(results.size() >= 2);
    CHECK(results.back() == 0);
    ssize_t total = 0;
    for (ssize_t n : results) total += n;
    CHECK(total == 33);
}

TEST_CASE("io: no wake-up is lost between EAGAIN and parking") {
    // An ordinary thread answers each byte at once, so its answer races the task between the
    // read that says EAGAIN and the park. A lost wake-up would leave the read waiting until its
    // deadline (an hour away): the test would hang in CI's suite timeout, never pass.
    auto ab_pair = stream_pair();
    auto& a = ab_pair.first;
    auto& b = ab_pair.second;
    std::thread peer = byte_echo_thread(b.get());
    int answered = 0;
    run([&] {
        for (int i = 0; i < 2000; ++i) {
            const char c = static_cast<char>(i);
            REQUIRE(io::write(a.get(), &c, 1) == 1);
            char back = 0;
            REQUIRE(io::read(a.get(), &back, 1, io::clock::now() + std::chrono::hours(1)) == 1);
            REQUIRE(back == c);
            ++answered;
        }
    });
    ::shutdown(a.get(), SHUT_RDWR);
    peer.join();
    CHECK(answered == 2000);
}
