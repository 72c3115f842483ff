#pragma once
// task_dump: writing every task of every scheduler (dump_tasks(), the dump signal).

namespace spindle::detail {

// dump_scope says which schedulers a dump reads, and how.
enum class dump_scope {
    // dump_tasks(): every scheduler not running on another thread; names from dladdr.
    call,
    // The dump signal as received: the same, without names (dladdr takes a lock), passing the
    // signal on to each thread running a scheduler (`signal` is its number).
    signal_received,
    // The signal passed on: only the schedulers running on this thread, without names.
    signal_passed_on,
};

// write_task_dump() writes the dump to `fd` with write(2) and nothing that allocates, except
// the demangling of names under dump_scope::call.
void write_task_dump(int fd, dump_scope scope, int signal = 0) noexcept;

// pass_on_marker is the value a passed-on dump signal carries (pthread_sigqueue), so that the
// handler tells it from one the process received.
inline const char pass_on_marker = 0;

}  // namespace spindle::detail
