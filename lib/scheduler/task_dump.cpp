// task_dump: every task of every scheduler, with its state, its wait, its spawn site and its
// suspended stack, written with write(2) so that a signal handler may use it too.
//
// A suspended task's stack starts at the frame the switch saved (`park`: the continuation
// address, the stack and frame pointers). The frames after it follow the frame-pointer chain,
// each link checked to lie inside the task's stack and above the last, so a walk through code
// built without frame pointers stops early or shows stray addresses but never reads outside the
// stack. The gdb extension, which unwinds with the debug information, gives the exact stack.

#include "scheduler/task_dump.hpp"

#include "context/sanitizers.hpp"
#include "scheduler/scheduler_registry.hpp"

#include <spindle/debug.hpp>

#include <cxxabi.h>
#include <dlfcn.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>

namespace spindle::detail {
namespace {

constexpr int deepest_frame = 32;
// A bound on the tasks listed per scheduler, in case a signal catches a list mid-change.
constexpr std::size_t most_tasks_listed = 1 << 20;

// dump_writer builds one line at a time and writes it whole.
class dump_writer {
public:
    explicit dump_writer(int fd) noexcept : fd_(fd) { line_[0] = '\0'; }

    dump_writer& text(const char* text) noexcept {
        append_text(line_, sizeof line_, text ? text : "?");
        return *this;
    }
    dump_writer& number(std::uint64_t value) noexcept {
        append_decimal(line_, sizeof line_, value);
        return *this;
    }
    dump_writer& hex(std::uintptr_t value) noexcept {
        char digits[2 * sizeof value + 3] = "0x";
        int n = 0;
        char reversed[2 * sizeof value];
        do reversed[n++] = "0123456789abcdef"[value & 15]; while ((value >>= 4) != 0);
        int at = 2;
        while (n > 0) digits[at++] = reversed[--n];
        digits[at] = '\0';
        return text(digits);
    }
    void end_line() noexcept {
        text("\n");
        write_text(fd_, line_);
        line_[0] = '\0';
    }

private:
    int fd_;
    char line_[1024];
};

const char* state_of(const task_record& task) noexcept {
    switch (task.status) {
    case task_status::created: return "created";
    case task_status::ready: return task.started ? "ready" : "ready, not started";
    case task_status::running: return "running";
    case task_status::waiting: return "waiting on ";
    case task_status::done: return "done";
    }
    return "?";
}

void write_symbol(dump_writer& out, std::uintptr_t address) noexcept {
    Dl_info info{};
    if (!::dladdr(reinterpret_cast<void*>(address), &info) || !info.dli_fname) return;
    if (info.dli_sname) {
        int status = -1;
        char* demangled = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
        out.text(" in ").text(status == 0 ? demangled : info.dli_sname).text("+");
        out.hex(address - reinterpret_cast<std::uintptr_t>(info.dli_saddr));
        std::free(demangled);
    }
    // The module and offset are what addr2line needs, with or without a symbol name.
    out.text(" (").text(info.dli_fname).text("+");
    out.hex(address - reinterpret_cast<std::uintptr_t>(info.dli_fbase)).text(")");
}

void write_frame(dump_writer& out, int index, std::uintptr_t address, bool named) noexcept {
    out.text("      #").number(static_cast<std::uint64_t>(index)).text(" ").hex(address);
    if (named) write_symbol(out, address);
    out.end_line();
}

// walk_frame_pointers() writes the frames after the saved one, up the frame-pointer chain. Not
// instrumented: it reads another context's stack, whose frames AddressSanitizer may have
// poisoned around their locals.
__attribute__((no_sanitize("address", "thread"))) void walk_frame_pointers(
    dump_writer& out, const task_record& task, bool named) noexcept {
    const context_record& park = task.park;
    const auto low = reinterpret_cast<std::uintptr_t>(task.control->stack.usable_bottom());
    const auto high = reinterpret_cast<std::uintptr_t>(task.control->stack.top());
    auto frame_pointer = reinterpret_cast<std::uintptr_t>(park.frame_pointer);
    for (int index = 1; index < deepest_frame; ++index) {
        if (frame_pointer < low || frame_pointer + 2 * sizeof(void*) > high ||
            frame_pointer % alignof(void*) != 0)
            break;
        const auto* frame = reinterpret_cast<const std::uintptr_t*>(frame_pointer);
        const std::uintptr_t return_address = frame[1];
        const std::uintptr_t caller_frame = frame[0];
        if (return_address == 0) break;
        write_frame(out, index, return_address, named);
        if (caller_frame <= frame_pointer) break;
        frame_pointer = caller_frame;
    }
}

// write_stack() writes the frames of a suspended task, from the switch's saved frame outwards.
void write_stack(dump_writer& out, const task_record& task, bool named) noexcept {
    if (!task.started || task.status == task_status::running || !task.control) return;
    const context_record& park = task.park;
    if (!park.continuation) {
        out.text("      (this context switch saves no frame to start a backtrace from)").end_line();
        return;
    }
    write_frame(out, 0, reinterpret_cast<std::uintptr_t>(park.continuation), named);
#if SPINDLE_VALGRIND
    // Where rbp is no frame pointer, a link may be a stack slot never written: Memcheck would
    // report the walk's comparisons of it, which are harmless (each link is bounds-checked).
    VALGRIND_DISABLE_ERROR_REPORTING;
#endif
    walk_frame_pointers(out, task, named);
#if SPINDLE_VALGRIND
    VALGRIND_ENABLE_ERROR_REPORTING;
#endif
}

void write_task(dump_writer& out, const task_record& task, bool named) noexcept {
    out.text("  task ").number(task.id);
    if (task.name[0]) out.text(" '").text(task.name).text("'");
    out.text(": ").text(state_of(task));
    if (task.status == task_status::waiting) {
        if (task.joining)
            out.text("join of task ").number(task.joining->id);
        else
            out.text(task.wait_reason ? task.wait_reason : "something unknown");
        // The names of the objects waited on (several for a select).
        for (const waiter* w = task.wait; w; w = w->sibling)
            if (w->object) out.text(" '").text(w->object).text("'");
    }
    if (&task == running_task()) out.text(" (the caller of the dump)");
    if (task.spawned_at.file)
        out.text("; spawned at ").text(task.spawned_at.file).text(":").number(task.spawned_at.line);
    out.end_line();
    write_stack(out, task, named);
}

bool runs_here(const scheduler_core& core) noexcept {
    return ::pthread_equal(core.runner, ::pthread_self());
}

// runner_list is the threads a received dump signal is passed on to, once the registry's lock
// is released: each of them takes that lock for its own part of the dump.
struct runner_list {
    static constexpr int most = 64;
    pthread_t threads[most];
    int count = 0;

    void add(pthread_t thread) noexcept {
        for (int i = 0; i < count; ++i)
            if (::pthread_equal(threads[i], thread)) return;
        if (count < most) threads[count++] = thread;
    }
};

void write_scheduler(dump_writer& out, scheduler_core& core, dump_scope scope,
                     runner_list& pass_on) noexcept {
    const bool running = core.running.load(std::memory_order_acquire);
    const bool mine = running && runs_here(core);
    if (scope == dump_scope::signal_passed_on && !mine) return;
    out.text("scheduler ").number(core.serial);
    if (running && core.multi) {
        // Its workers change the task lists all the time, under a lock a dump (maybe in a
        // signal handler) must not wait for.
        out.text(": runs on ").number(core.options.threads)
            .text(" workers; its tasks are not shown while it runs (use the gdb extension)")
            .end_line();
        return;
    }
    if (running && !mine) {
        if (scope == dump_scope::signal_received) {
            pass_on.add(core.runner);
            out.text(": runs on another thread, which writes its tasks").end_line();
        } else {
            out.text(": runs on another thread; its tasks are not shown (dump from that thread, ")
                .text("or use the dump signal or the gdb extension)")
                .end_line();
        }
        return;
    }
    out.text(": ").number(core.live_count).text(core.live_count == 1 ? " task" : " tasks");
    out.text(running ? ", running on this thread" : ", not running").end_line();
    const bool named = scope == dump_scope::call;
    std::size_t listed = 0;
    for (const task_record* task = core.live.head; task && listed < most_tasks_listed;
         task = task->live_next, ++listed)
        write_task(out, *task, named);
}

}  // namespace

// try_lock_registry() takes the registry's lock without waiting for long: a signal handler
// must not wait for a lock its own thread may hold. A dump passed on from another thread tries a
// while, since that thread may hold it for a moment yet.
bool try_lock_registry(std::unique_lock<std::mutex>& hold, dump_scope scope) noexcept {
    const int attempts = scope == dump_scope::signal_passed_on ? 1000 : 1;
    for (int attempt = 0; attempt < attempts; ++attempt) {
        if (hold.try_lock()) return true;
        ::sched_yield();
    }
    return false;
}

void write_task_dump(int fd, dump_scope scope, int signal) noexcept {
    dump_writer out(fd);
    runner_list pass_on;
    {
        std::unique_lock hold(live_schedulers.lock, std::defer_lock);
        if (scope == dump_scope::call) {
            hold.lock();
        } else if (!try_lock_registry(hold, scope)) {
            out.text("spindle: task dump skipped: a scheduler is being made or destroyed")
                .end_line();
            return;
        }
        out.text("spindle: task dump of process ").number(static_cast<std::uint64_t>(::getpid()));
        if (scope == dump_scope::signal_passed_on) out.text(", from a thread running a scheduler");
        out.end_line();
        for (scheduler_core* core = live_schedulers.schedulers.head; core;
             core = core->registry_next)
            write_scheduler(out, *core, scope, pass_on);
    }
    for (int i = 0; i < pass_on.count; ++i) {
        union sigval value;
        value.sival_ptr = const_cast<char*>(&pass_on_marker);
        ::pthread_sigqueue(pass_on.threads[i], signal, value);
    }
}

}  // namespace spindle::detail

namespace spindle {

void dump_tasks(int fd) noexcept { detail::write_task_dump(fd, detail::dump_scope::call); }

void dump_tasks(std::FILE* stream) noexcept {
    std::fflush(stream);
    const int fd = ::fileno(stream);
    if (fd >= 0) dump_tasks(fd);
}

}  // namespace spindle
