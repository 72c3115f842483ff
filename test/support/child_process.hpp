#pragma once
// Running a piece of code in a forked child, for behaviour that ends the process.

#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

namespace spindle_test {

struct child_result {
    bool exited = false;
    int exit_code = 0;
    bool signalled = false;
    int signal = 0;
    std::string err;  // what the child wrote to stderr
};

// run_in_child() forks, runs body in the child with stderr captured, and waits for it.
inline child_result run_in_child(const std::function<void()>& body) {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(pipe_fds[0]);
        ::dup2(pipe_fds[1], STDERR_FILENO);
        body();
        ::_exit(0);
    }
    ::close(pipe_fds[1]);
    child_result result;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) result.err.append(buffer, n);
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.exited = WIFEXITED(status);
    result.exit_code = result.exited ? WEXITSTATUS(status) : 0;
    result.signalled = WIFSIGNALED(status);
    result.signal = result.signalled ? WTERMSIG(status) : 0;
    return result;
}

}  // namespace spindle_test
