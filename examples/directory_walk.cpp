// A directory walk as a generator of paths, made from nftw(), a C function that walks the tree
// itself and calls back for each entry. The Python it ports:
//
//     def files_under(top):
//         for root, dirs, files in os.walk(top):
//             for name in files:
//                 yield os.path.join(root, name)
//
// The yield happens inside nftw's callback, with nftw's own frames still on the stack below it.
// A stackless coroutine cannot do this: it can only suspend in its own frame, so it would have
// to run nftw to completion and collect every path first. Here the walk advances one entry per
// next(), and memory stays that of one path however big the tree.
//
// Usage: directory_walk DIRECTORY — prints each regular file's path (relative to DIRECTORY) and
// size, then the totals.

#include <spindle/generator.hpp>

#include <ftw.h>
#include <sys/stat.h>

#include <cstdio>
#include <string_view>

using spindle::generator;
using spindle::yielder;

struct file_entry {
    std::string_view path;
    long long size;
};

namespace {

// nftw's callback takes no user data, so the yielder it should use is left here.
thread_local yielder<const file_entry&>* current_walk = nullptr;

extern "C" int visit(const char* path, const struct stat* info, int type, struct FTW*) {
    if (type == FTW_F) (*current_walk)(file_entry{path, static_cast<long long>(info->st_size)});
    return 0;  // go on walking
}

}  // namespace

// files_under() yields every regular file below top, as nftw finds it.
generator<const file_entry&> files_under(const char* top) {
    return generator<const file_entry&>([top](yielder<const file_entry&>& yield) {
        yielder<const file_entry&>* outer_walk = current_walk;
        current_walk = &yield;
        const int status = ::nftw(top, visit, 16, FTW_PHYS);
        current_walk = outer_walk;
        if (status != 0) std::perror(top);
    });
}

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
        return 2;
    }
    const std::string_view top = argv[1];
    long long files = 0;
    long long bytes = 0;
    for (const file_entry& entry : files_under(argv[1])) {
        std::string_view relative = entry.path.substr(top.size());
        if (!relative.empty() && relative.front() == '/') relative.remove_prefix(1);
        std::printf("%.*s %lld\n", static_cast<int>(relative.size()), relative.data(), entry.size);
        ++files;
        bytes += entry.size;
    }
    std::printf("total: %lld files, %lld bytes\n", files, bytes);
}
