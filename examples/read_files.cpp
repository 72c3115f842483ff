// read_files: read files without stopping the other tasks.
//
// A regular file is always "ready" as far as epoll is concerned, so a read from a slow disk
// blocks the thread, and every task on it with it. spindle::to_thread() (asyncio's to_thread)
// runs such a call on a helper thread and suspends only the calling task until it returns:
//
//     async def main():
//         ticker = asyncio.create_task(tick())
//         sizes = await asyncio.gather(*(asyncio.to_thread(count, path) for path in paths))
//
// The program writes three files to a fresh temporary directory, then counts the lines and
// bytes of each, every file in a task of its own through to_thread(), while a ticker task ticks
// every 2 ms. The disk here is fast, so each read also plays a slow one: on its helper thread
// it waits until the ticker has ticked three more times. Those ticks can only come while the
// scheduler's thread is free, so the program can tell whether the reads kept it free.

#include <spindle/io.hpp>
#include <spindle/scheduler.hpp>

#include <stdlib.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// file_count is what count_file() found in a file, and whether the ticker ticked meanwhile.
struct file_count {
    long long lines = 0;
    long long bytes = 0;
    bool ticker_ran = false;
};

// count_file() counts the lines and bytes of `path`, then, as a slow disk would, takes its
// time: until `ticks` has grown by three (or ten seconds passed). It runs on a helper thread.
file_count count_file(const fs::path& path, const std::atomic<int>& ticks) {
    const int ticks_at_start = ticks.load();
    file_count count;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::system_error(errno, std::generic_category(), path.string());
    char buffer[4096];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        for (std::streamsize i = 0; i < in.gcount(); ++i) count.lines += buffer[i] == '\n';
        count.bytes += in.gcount();
    }
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (ticks.load() < ticks_at_start + 3 && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(1ms);
    count.ticker_ran = ticks.load() >= ticks_at_start + 3;
    return count;
}

// temporary_directory is a fresh directory under $TMPDIR, removed with its files at the end.
struct temporary_directory {
    fs::path path;
    temporary_directory() {
        std::string pattern = (fs::temp_directory_path() / "spindle-read-files-XXXXXX").string();
        if (!::mkdtemp(pattern.data()))
            throw std::system_error(errno, std::generic_category(), "mkdtemp");
        path = pattern;
    }
    ~temporary_directory() {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
    temporary_directory(const temporary_directory&) = delete;
    temporary_directory& operator=(const temporary_directory&) = delete;
};

// write_files() fills `directory` with the files to read; returns their names.
std::vector<std::string> write_files(const fs::path& directory) {
    std::ofstream(directory / "notes.txt") << "buy milk\ncall the plumber\nwater the plants\n";
    std::ofstream numbers(directory / "numbers.txt");
    for (int i = 1; i <= 1000; ++i) numbers << i << '\n';
    std::ofstream(directory / "empty.txt");
    return {"notes.txt", "numbers.txt", "empty.txt"};
}

}  // namespace

int main() try {
    const temporary_directory directory;
    const std::vector<std::string> names = write_files(directory.path);

    const std::vector<file_count> counts = spindle::run([&] {
        std::atomic<int> ticks = 0;
        bool reading = true;
        auto ticker = spindle::spawn("ticker", [&] {
            while (reading) {
                spindle::this_fiber::sleep_for(2ms);
                ++ticks;
            }
        });

        std::vector<spindle::task<file_count>> readers;
        for (const std::string& name : names)
            readers.push_back(spindle::spawn(name, [&ticks, path = directory.path / name] {
                // Only this task waits for the helper thread; the ticker goes on.
                return spindle::to_thread([&] { return count_file(path, ticks); });
            }));
        std::vector<file_count> results = spindle::gather(std::move(readers));
        reading = false;
        ticker.join();
        return results;
    });

    bool ticker_ran = true;
    for (std::size_t i = 0; i < names.size(); ++i) {
        std::printf("%s: %lld lines, %lld bytes\n", names[i].c_str(), counts[i].lines,
                    counts[i].bytes);
        ticker_ran = ticker_ran && counts[i].ticker_ran;
    }
    std::printf("the ticker kept ticking while each file was read: %s\n", ticker_ran ? "yes" : "no");
    return ticker_ran ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "read_files: %s\n", e.what());
    return 1;
}
