// generator: a differential test against CPython. Random generator programs
// (generator_programs.hpp) run as spindle generators and as Python generators (one python3
// process for the whole batch); the traces of events must be equal.
//
// SPINDLE_DIFF_SEED chooses the first program's seed (program i has seed + i),
// SPINDLE_DIFF_COUNT how many programs run, and SPINDLE_DIFF_PYTHON a file to keep the batch's
// Python in (python3 FILE prints its traces). A failure names the seed that reproduces it alone:
//   SPINDLE_DIFF_SEED=<seed> SPINDLE_DIFF_COUNT=1 build/test/generator_tests -tc='*differential*'
//
// Where spindle deliberately differs from Python, the traces name both the same way:
// - Python's RuntimeError "generator ignored GeneratorExit" and spindle's fiber_error for an
//   ignored close() are both "runtime"; Python's TypeError for a send to a just-started
//   generator and spindle's fiber_error for it are both "misuse".
// - GeneratorExit itself is spindle's forced unwinding: "exit" when a handler catches it. When
//   it escapes next/send/raise (a body that ignored close(), was resumed, and re-raised it),
//   Python raises GeneratorExit and spindle finishes the generator without a result: both
//   "stop-exit".
// - Dropping a generator: Python closes it once and reports an error as "Exception ignored"
//   ("unraisable"); if it ignored the close, Python frees its frame without running anything
//   more. spindle closes it once the same way, then (unrecorded) closes it until it finishes,
//   since its frames can only be freed by unwinding them.
// - yield from a finished generator (Python: None) is not generated: every `yield from` here
//   starts a new child; the typed answers are tested in generator_from_test.cpp.

#include "context/sanitizers.hpp"
#include "generator_programs.hpp"

#include <spindle/generator.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

using spindle::fiber_error;
using spindle::generator;
using spindle::yielder;
using namespace spindle_test;

namespace {

// test_error is Python's E(tag).
struct test_error {
    int tag;
};

// exception_kind() names the exception being handled as the Python trace does (kind(e)).
std::string exception_kind() {
    try {
        throw;
    } catch (const test_error& e) {
        return numbered_text("E", e.tag);
    } catch (const spindle::detail::forced_unwind&) {
        return "exit";
    } catch (const fiber_error& e) {
        const std::string_view what = e.what();
        if (what.find("ignored close()") != std::string_view::npos) return "runtime";
        if (what.find("has not started") != std::string_view::npos) return "misuse";
        return std::string("other:fiber_error: ") + e.what();
    } catch (...) {
        return "other:unknown";
    }
}

using program_generator = generator<int, int, int>;
using program_yielder = yielder<int, int>;

// interpreter runs a program's scripts as spindle generators and drives the top one, noting
// the same events as the Python driver.
class interpreter {
public:
    interpreter(const program& p, std::vector<std::string>& trace) : program_(p), trace_(trace) {}

    void drive() {
        program_generator g = make(0);
        for (const operation& op : program_.operations) {
            note(describe(op));
            if (op.kind == operation_kind::drop) break;
            const bool was_done = g.done();
            try {
                std::optional<int> y;
                switch (op.kind) {
                case operation_kind::next: y = g.next(); break;
                case operation_kind::send: y = g.send(op.value); break;
                case operation_kind::raise: y = g.raise(test_error{op.value}); break;
                case operation_kind::close:
                    g.close();
                    note("-> ok");
                    continue;
                case operation_kind::drop: break;
                }
                if (y)
                    note("-> y " + std::to_string(*y));
                else if (was_done)
                    note("-> stop-again");
                else if (has_result(g))
                    note("-> stop " + std::to_string(g.result()));
                else
                    note("-> stop-exit");
            } catch (...) {
                note("-> exc " + exception_kind());
            }
        }
        // The drop: one close as Python's finalizer does, then the unrecorded rest.
        try {
            g.close();
        } catch (...) {
            note("-> unraisable " + exception_kind());
        }
        muted_ = true;
        close_until_done(g);
        for (std::size_t i = 0; i < children_.size(); ++i) close_until_done(*children_[i]);
        muted_ = false;
        note("dropped");
    }

private:
    // close_until_done() closes a generator as often as it ignores it. It ends: a program has
    // no loops, so each ignored close() moves the body past a yield for good.
    static void close_until_done(program_generator& g) {
        while (!g.done()) {
            try {
                g.close();
            } catch (...) {
            }
        }
    }

    // close_child() is what destroying the temporary of `yield.from(make_child())` does when an
    // exception leaves the delegation, unrecorded as Python's finalizer is: close() once. A
    // child that ignores even this close() would stop the process when destroyed, where
    // Python frees its frame; both traces say so, and the program is not compared.
    void close_child(program_generator& child) {
        if (child.done()) return;
        try {
            child.close();
        } catch (...) {
        }
        if (!child.done()) note("indeterminate: a child ignored close() twice");
    }

    static bool has_result(program_generator& g) {
        try {
            g.result();
            return true;
        } catch (const fiber_error&) {
            return false;
        }
    }

    void note(std::string event) {
        if (!muted_) trace_.push_back(std::move(event));
    }

    program_generator make(int script) {
        return program_generator([this, script](program_yielder& yield) {
            std::optional<int> r = run(program_.scripts[static_cast<std::size_t>(script)].body,
                                       script, yield);
            return r ? *r : 0;
        });
    }

    // run() runs a block; a value when it executed a return statement.
    std::optional<int> run(const std::vector<statement>& block, int script,
                           program_yielder& yield) {
        const std::string g = numbered_text("g", script);
        for (const statement& s : block) {
            switch (s.kind) {
            case statement_kind::yield_value: {
                std::optional<int> sent = yield(s.value);
                note(g + " got " + (sent ? std::to_string(*sent) : "None"));
                break;
            }
            case statement_kind::yield_from: {
                // Kept in children_, not a temporary: a child that ignores close() twice must
                // not be destroyed (that stops the process); see close_child().
                program_generator& child =
                    *children_.emplace_back(std::make_unique<program_generator>(make(s.value)));
                int r = 0;
                try {
                    r = yield.from(child);
                } catch (...) {
                    close_child(child);
                    throw;
                }
                note(g + " from " + std::to_string(r));
                break;
            }
            case statement_kind::return_value: return s.value;
            case statement_kind::raise_error: throw test_error{s.value};
            case statement_kind::reraise: throw;
            case statement_kind::try_block:
                if (std::optional<int> r = run_try(s, script, yield)) return r;
                break;
            }
        }
        return std::nullopt;
    }

    std::optional<int> run_try(const statement& s, int script, program_yielder& yield) {
        const std::string g = numbered_text("g", script);
        std::optional<int> result;
        try {
            try {
                result = run(s.body, script, yield);
            } catch (const test_error& e) {
                if (s.handler == handler_kind::none) throw;
                note(g + " caught E" + std::to_string(e.tag));
                result = run(s.handler_body, script, yield);
            } catch (...) {
                if (s.handler != handler_kind::everything) throw;
                note(g + " caught " + exception_kind());
                result = run(s.handler_body, script, yield);
            }
        } catch (...) {
            if (!s.has_finally) throw;
            note(g + " finally " + std::to_string(s.id));
            run(s.finally_body, script, yield);  // holds no return
            throw;
        }
        if (s.has_finally) {
            note(g + " finally " + std::to_string(s.id));
            run(s.finally_body, script, yield);
        }
        return result;
    }

    const program& program_;
    std::vector<std::string>& trace_;
    std::vector<std::unique_ptr<program_generator>> children_;
    bool muted_ = false;
};

// environment_number() is an environment variable's number, or `otherwise`.
std::uint64_t environment_number(const char* name, std::uint64_t otherwise) {
    const char* text = std::getenv(name);
    if (!text || !*text) return otherwise;
    return std::strtoull(text, nullptr, 0);
}

// default_program_count() keeps the suite to a few seconds: a few hundred programs, fewer
// where every fiber is slow to make or run (Valgrind, ThreadSanitizer, AddressSanitizer).
int default_program_count() {
#if SPINDLE_VALGRIND
    if (RUNNING_ON_VALGRIND) return 40;
#endif
#if SPINDLE_TSAN
    return 60;
#elif SPINDLE_ASAN
    return 150;
#else
    return 400;
#endif
}

bool have_python() { return std::system("command -v python3 >/dev/null 2>&1") == 0; }

// run_python() runs the batch's source in one python3 process and returns each program's
// trace, by index; `output` gets all it printed, for a failure message.
std::map<int, std::vector<std::string>> run_python(const std::string& source,
                                                   std::string& output, int& status) {
    char path[] = "/tmp/spindle_differential_XXXXXX.py";
    const int fd = ::mkstemps(path, 3);
    REQUIRE(fd >= 0);
    std::FILE* file = ::fdopen(fd, "w");
    REQUIRE(file);
    std::fwrite(source.data(), 1, source.size(), file);
    std::fclose(file);
    const std::string command = std::string("python3 ") + path + " 2>&1";
    std::FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe);
    char buffer[4096];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
    status = ::pclose(pipe);
    std::remove(path);

    std::map<int, std::vector<std::string>> traces;
    std::size_t start = 0;
    while (start < output.size()) {
        std::size_t end = output.find('\n', start);
        if (end == std::string::npos) end = output.size();
        const std::string_view line(output.data() + start, end - start);
        start = end + 1;
        const std::size_t tab = line.find('\t');
        if (line.size() < 2 || line[0] != 'P' || tab == std::string_view::npos) continue;
        const int index = std::atoi(std::string(line.substr(1, tab - 1)).c_str());
        traces[index].emplace_back(line.substr(tab + 1));
    }
    return traces;
}

bool is_indeterminate(const std::vector<std::string>& trace) {
    for (const std::string& event : trace)
        if (event.starts_with("indeterminate")) return true;
    return false;
}

std::string side_by_side(const std::vector<std::string>& spindle_trace,
                         const std::vector<std::string>& python_trace) {
    std::string out = "  spindle                              | python\n";
    const std::size_t rows = std::max(spindle_trace.size(), python_trace.size());
    for (std::size_t i = 0; i < rows; ++i) {
        const std::string a = i < spindle_trace.size() ? spindle_trace[i] : "";
        const std::string b = i < python_trace.size() ? python_trace[i] : "";
        std::string left = a;
        left.resize(std::max<std::size_t>(left.size(), 36), ' ');
        out += (a == b ? "  " : "* ") + left + " | " + b + "\n";
    }
    return out;
}

}  // namespace

TEST_CASE("generator differential: random programs behave as in CPython") {
    if (!have_python()) {
        MESSAGE("skipped: python3 is not on PATH, so there is nothing to compare with");
        return;
    }
    const std::uint64_t seed = environment_number("SPINDLE_DIFF_SEED", 20261201);
    const int count = static_cast<int>(
        environment_number("SPINDLE_DIFF_COUNT", static_cast<std::uint64_t>(default_program_count())));

    std::vector<program> programs;
    std::string source = python_prelude;
    for (int i = 0; i < count; ++i) {
        programs.push_back(make_program(seed + static_cast<std::uint64_t>(i)));
        source += python_functions(programs.back(), i);
    }
    source += python_between;
    for (int i = 0; i < count; ++i) source += python_drive(programs[static_cast<std::size_t>(i)], i);
    std::string python_output;
    int status = 0;
    const std::map<int, std::vector<std::string>> python_traces =
        run_python(source, python_output, status);
    if (const char* keep = std::getenv("SPINDLE_DIFF_PYTHON")) {
        if (std::FILE* file = std::fopen(keep, "w")) {
            std::fwrite(source.data(), 1, source.size(), file);
            std::fclose(file);
        }
    }
    if (status != 0)
        FAIL("python3 failed (status " << status << "); its output begins:\n"
                                       << python_output.substr(0, 2000));

    int disagreements = 0;
    int indeterminate = 0;
    for (int i = 0; i < count; ++i) {
        std::vector<std::string> spindle_trace;
        interpreter(programs[static_cast<std::size_t>(i)], spindle_trace).drive();
        const auto found = python_traces.find(i);
        const std::vector<std::string> python_trace =
            found == python_traces.end() ? std::vector<std::string>{} : found->second;
        if (is_indeterminate(spindle_trace) || is_indeterminate(python_trace)) {
            ++indeterminate;
            continue;
        }
        if (spindle_trace == python_trace) continue;
        if (++disagreements <= 3) {
            const std::uint64_t program_seed = seed + static_cast<std::uint64_t>(i);
            FAIL_CHECK("program " << i << " disagrees with CPython; reproduce it alone with "
                                  << "SPINDLE_DIFF_SEED=" << program_seed
                                  << " SPINDLE_DIFF_COUNT=1\n"
                                  << side_by_side(spindle_trace, python_trace)
                                  << "the program in Python:\n"
                                  << python_functions(programs[static_cast<std::size_t>(i)], 0)
                                  << python_drive(programs[static_cast<std::size_t>(i)], 0));
        }
    }
    CHECK_MESSAGE(disagreements == 0, disagreements << " of " << count
                                                    << " programs disagree (seed " << seed << ")");
    MESSAGE(count << " programs from seed " << seed << " compared with python3 (" << indeterminate
                  << " of them not compared: a child ignored close() twice)");
}
