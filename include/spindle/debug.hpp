#pragma once
// debug: listing the tasks of a running process, as Go's SIGQUIT dump does. See
// docs/debugging.md, which also covers the crash reports and the gdb extension.

#include <spindle/detail/config.hpp>

#include <csignal>
#include <cstdio>

SPINDLE_EXPORTS_BEGIN

namespace spindle {

/// dump_tasks() writes every unfinished task of every scheduler in the process to descriptor
/// `fd`: its id, name, state, what it waits on, where it was spawned and, for a suspended task,
/// its stack (the switch's saved frame, then the frame-pointer chain, with symbols where dladdr
/// finds them). A scheduler that runs on another thread is listed without its tasks, which that
/// thread alone may read. Allocates only to demangle names; never throws.
void dump_tasks(int fd = 2) noexcept;
/// dump_tasks(stream) flushes `stream` and writes to its descriptor.
void dump_tasks(std::FILE* stream) noexcept;

/// install_task_dump_signal() makes `signal` (SIGQUIT, Ctrl-\, by default) write the task dump
/// to stderr and let the program go on. The thread that receives it dumps the schedulers not
/// running and its own, and passes the signal on to each thread running a scheduler, which
/// dumps that one. Inside the handler the dump shows addresses without names (dladdr takes the
/// dynamic loader's lock, which the interrupted code may hold) and skips the schedulers while
/// another thread adds or removes one. Throws std::system_error when sigaction refuses.
void install_task_dump_signal(int signal = SIGQUIT);

}  // namespace spindle

SPINDLE_EXPORTS_END
