// Many short connections: no descriptor and no memory left behind (the ASan and Valgrind
// configurations run this too, with fewer connections where they would take minutes).

#include "io_support.hpp"

#include <spindle/io.hpp>
#include <spindle/scheduler.hpp>

#include <doctest/doctest.h>

#include <valgrind/valgrind.h>

#include <atomic>

namespace {

using namespace spindle;
using namespace io_test;

// connection_count is 100,000, fewer where every system call costs a hundred times more.
int connection_count() {
    if (RUNNING_ON_VALGRIND) return 2'000;
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    return 20'000;
#else
    return 100'000;
#endif
}

// close_at_once() makes close() send a reset instead of lingering in TIME_WAIT, so that the
// test does not run out of loopback ports.
void close_at_once(int fd) {
    linger option{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, sizeof option);
}

}  // namespace

TEST_CASE("io: 100,000 short connections leak no descriptors") {
    const int count = connection_count();
    listener l = listen_loopback(1024);
    const int descriptors_before = open_descriptors();
    std::atomic<int> served{0}, answered{0};  // counted on any worker
    run([&] {
        auto server = spawn([&] {
            for (;;) {
                const int fd = io::accept(l.fd.get(), nullptr, nullptr);
                REQUIRE(fd >= 0);
                // One task per connection, as a server does.
                spawn([&served, fd] {
                    unique_fd connection(fd);
                    char byte;
                    if (io::read(fd, &byte, 1) == 1 && io::write(fd, &byte, 1) == 1) ++served;
                }).detach();  // the handle goes: the task runs detached
            }
        });
        // Eight clients at a time.
        std::vector<task<void>> clients;
        for (int c = 0; c < 8; ++c)
            clients.push_back(spawn([&, c] {
                for (int i = c; i < count; i += 8) {
                    unique_fd fd(connect_loopback(l.port));
                    REQUIRE(fd.get() >= 0);
                    char byte = 'c';
                    REQUIRE(io::write(fd.get(), &byte, 1) == 1);
                    REQUIRE(io::read(fd.get(), &byte, 1) == 1);
                    close_at_once(fd.get());
                    ++answered;
                }
            }));
        for (auto& client : clients) client.join();
        // Let the last connection tasks finish, then stop accepting.
        while (served < count) this_fiber::yield();
        server.cancel();
        CHECK_THROWS_AS(server.join(), cancelled);
    });
    CHECK(answered.load() == count);
    CHECK(served.load() == count);
    CHECK(open_descriptors() == descriptors_before);
}
