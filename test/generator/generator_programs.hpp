#pragma once
// Random generator programs for the differential test (generator_differential_test.cpp): a
// small tree of generator scripts and the operations a consumer applies to the top one, made
// from a seed, and written out as the equivalent Python.
//
// A script is a list of statements: yield a value (and note what the yield returned), yield
// from a child script (and note its result), try/except/finally, return, raise, re-raise. The
// same program runs as spindle generators (an interpreter walks the statements) and as Python
// generator functions; both note the same events, so their traces must be equal.
//
// What the generator leaves out, and why:
// - A child (a `yield from` target) never swallows GeneratorExit: no catch-all handler and no
//   yield inside its finally blocks. A child that ignored close() would be dropped by its
//   delegator's frame, and destroying a generator that ignores close() stops a spindle process
//   (its frames cannot be freed) where Python prints "Exception ignored". The top generator may
//   ignore close(); the driver closes it until it finishes before dropping it.
// - No return inside finally (Python 3.14 warns about it), and a re-raise only directly inside
//   an except clause (elsewhere Python and C++ disagree on what is re-raised).
// - No loops: every body is finite, so closing repeatedly always finishes.

#include <cstdint>
#include <string>
#include <vector>

namespace spindle_test {

// program_random is splitmix64: the same numbers from a seed on every standard library.
class program_random {
public:
    explicit program_random(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    // pick() is a number in [0, n).
    int pick(int n) { return static_cast<int>(next() % static_cast<std::uint64_t>(n)); }

private:
    std::uint64_t state_;
};

enum class statement_kind { yield_value, yield_from, try_block, return_value, raise_error, reraise };
enum class handler_kind { none, error, everything };  // except E / except BaseException

// statement is one step of a script; `value` is the yielded or returned value, the error tag,
// or the child script's index, by kind.
struct statement {
    statement_kind kind = statement_kind::yield_value;
    int value = 0;
    int id = 0;  // names the try block in the trace of its finally clause
    handler_kind handler = handler_kind::none;
    bool has_finally = false;
    std::vector<statement> body, handler_body, finally_body;
};

struct script {
    std::vector<statement> body;
};

enum class operation_kind { next, send, raise, close, drop };

// operation is what the consumer does to the top generator; `value` is what is sent or the tag
// of the error raised.
struct operation {
    operation_kind kind = operation_kind::next;
    int value = 0;
};

// program is a tree of scripts (script 0 is the top generator) and the consumer's operations;
// the last operation is always a drop.
struct program {
    std::vector<script> scripts;
    std::vector<operation> operations;
};

// numbered_text() is text followed by a number. (Built by appending: g++ 12 warns wrongly
// about `"literal" + std::to_string(n)`, -Wrestrict.)
inline std::string numbered_text(const char* text, int number) {
    std::string out(text);
    out += std::to_string(number);
    return out;
}

// describe() is an operation as both traces name it.
inline std::string describe(const operation& op) {
    switch (op.kind) {
    case operation_kind::next: return "next";
    case operation_kind::send: return numbered_text("send ", op.value);
    case operation_kind::raise: return numbered_text("throw E", op.value);
    case operation_kind::close: return "close";
    case operation_kind::drop: return "drop";
    }
    return "?";
}

namespace program_detail {

constexpr int max_scripts = 6;
constexpr int max_delegation = 3;  // yield from up to 3 deep below the top
constexpr int max_try_nesting = 2;

struct block_context {
    int delegation = 0;        // 0: the top generator
    int try_nesting = 0;
    bool in_finally = false;   // inside a finally clause, at any depth
    bool in_handler = false;   // directly inside an except clause
};

class program_maker {
public:
    explicit program_maker(std::uint64_t seed) : random_(seed) {}

    program make() {
        program p;
        scripts_ = &p.scripts;
        p.scripts.emplace_back();
        p.scripts[0].body = make_block(block_context{}, 2 + random_.pick(5));
        const int count = random_.pick(10);
        for (int i = 0; i < count; ++i) {
            // Mostly started with next(): a fresh generator takes little of the rest.
            const int roll = i == 0 && random_.pick(100) < 85 ? 0 : random_.pick(100);
            operation op;
            if (roll < 40) {
                op.kind = operation_kind::next;
            } else if (roll < 65) {
                op.kind = operation_kind::send;
                op.value = 100 + ++counter_;
            } else if (roll < 85) {
                op.kind = operation_kind::raise;
                op.value = 1 + random_.pick(3);
            } else if (roll < 95) {
                op.kind = operation_kind::close;
            } else {
                break;  // dropped early
            }
            p.operations.push_back(op);
        }
        p.operations.push_back(operation{operation_kind::drop, 0});
        return p;
    }

private:
    std::vector<statement> make_block(const block_context& context, int length) {
        std::vector<statement> block;
        for (int i = 0; i < length; ++i) block.push_back(make_statement(context));
        return block;
    }

    statement make_statement(const block_context& context) {
        const bool child = context.delegation > 0;
        const bool may_yield = !(child && context.in_finally);
        for (;;) {
            statement s;
            const int roll = random_.pick(100);
            if (roll < 40) {
                if (!may_yield) continue;
                s.kind = statement_kind::yield_value;
                s.value = ++counter_;
            } else if (roll < 54) {
                if (!may_yield || context.delegation >= max_delegation ||
                    static_cast<int>(scripts_->size()) >= max_scripts)
                    continue;
                s.kind = statement_kind::yield_from;
                s.value = static_cast<int>(scripts_->size());
                scripts_->emplace_back();
                block_context inner;
                inner.delegation = context.delegation + 1;
                std::vector<statement> body = make_block(inner, 1 + random_.pick(3));
                (*scripts_)[static_cast<std::size_t>(s.value)].body = std::move(body);
            } else if (roll < 78) {
                if (context.try_nesting >= max_try_nesting) continue;
                s.kind = statement_kind::try_block;
                s.id = ++counter_;
                block_context inner = context;
                inner.try_nesting = context.try_nesting + 1;
                inner.in_handler = false;
                s.body = make_block(inner, 1 + random_.pick(3));
                const int handler = random_.pick(child ? 2 : 3);
                s.handler = handler == 0 ? handler_kind::none
                            : handler == 1 ? handler_kind::error
                                           : handler_kind::everything;
                s.has_finally = s.handler == handler_kind::none || random_.pick(2) == 0;
                if (s.handler != handler_kind::none) {
                    block_context in_handler = inner;
                    in_handler.in_handler = true;
                    s.handler_body = make_block(in_handler, random_.pick(3));
                }
                if (s.has_finally) {
                    block_context in_finally = inner;
                    in_finally.in_finally = true;
                    s.finally_body = make_block(in_finally, random_.pick(3));
                }
            } else if (roll < 83) {
                if (context.in_finally) continue;
                s.kind = statement_kind::return_value;
                s.value = 50 + ++counter_;
            } else if (roll < 92) {
                s.kind = statement_kind::raise_error;
                s.value = 1 + random_.pick(3);
            } else {
                if (!context.in_handler) continue;
                s.kind = statement_kind::reraise;
            }
            return s;
        }
    }

    program_random random_;
    std::vector<script>* scripts_ = nullptr;
    int counter_ = 0;
};

inline void write_block(std::string& out, const std::vector<statement>& block, int program,
                        int script, int indent);

inline void write_line(std::string& out, int indent, const std::string& text) {
    out.append(static_cast<std::size_t>(indent) * 4, ' ');
    out += text;
    out += '\n';
}

inline std::string function_name(int program, int script) {
    return numbered_text("p", program) + numbered_text("_g", script);
}

inline void write_statement(std::string& out, const statement& s, int program, int script,
                            int indent) {
    const std::string g = numbered_text("\"g", script);
    switch (s.kind) {
    case statement_kind::yield_value:
        write_line(out, indent, "s = yield " + std::to_string(s.value));
        write_line(out, indent, "T(" + g + " got \" + str(s))");
        break;
    case statement_kind::yield_from:
        // The child is closed at once when an exception leaves the `yield from`, as spindle's
        // temporary is destroyed then (Python would close it when the frame lets go of it).
        write_line(out, indent, "c = " + function_name(program, s.value) + "()");
        write_line(out, indent, "try:");
        write_line(out, indent + 1, "r = yield from c");
        write_line(out, indent, "except BaseException:");
        write_line(out, indent + 1, "close_child(c)");
        write_line(out, indent + 1, "raise");
        write_line(out, indent, "T(" + g + " from \" + str(r))");
        break;
    case statement_kind::return_value:
        write_line(out, indent, numbered_text("return ", s.value));
        break;
    case statement_kind::raise_error:
        write_line(out, indent, "raise E(" + std::to_string(s.value) + ")");
        break;
    case statement_kind::reraise:
        write_line(out, indent, "raise");
        break;
    case statement_kind::try_block:
        write_line(out, indent, "try:");
        write_block(out, s.body, program, script, indent + 1);
        if (s.handler != handler_kind::none) {
            write_line(out, indent,
                       s.handler == handler_kind::error ? "except E as e:"
                                                        : "except BaseException as e:");
            write_line(out, indent + 1, "T(" + g + " caught \" + kind(e))");
            write_block(out, s.handler_body, program, script, indent + 1);
        }
        if (s.has_finally) {
            write_line(out, indent, "finally:");
            write_line(out, indent + 1,
                       "T(" + g + " finally " + std::to_string(s.id) + "\")");
            write_block(out, s.finally_body, program, script, indent + 1);
        }
        break;
    }
}

inline void write_block(std::string& out, const std::vector<statement>& block, int program,
                        int script, int indent) {
    for (const statement& s : block) write_statement(out, s, program, script, indent);
}

}  // namespace program_detail

// make_program() is the program a seed stands for.
inline program make_program(std::uint64_t seed) {
    return program_detail::program_maker(seed).make();
}

// python_between is what comes between the programs' functions and the driver's calls:
// collections only at a drop, and none of the functions to scan (gc.collect() stays cheap).
inline const char* const python_between = "gc.disable()\ngc.freeze()\n";

// python_prelude is what every batch of programs in Python needs: the error type, the trace,
// the names of exceptions as the trace gives them, and the driver. The driver mirrors the C++
// one in generator_differential_test.cpp event for event.
inline const char* const python_prelude = R"PY(import gc, inspect, sys

class E(Exception):
    def __init__(self, tag):
        super().__init__(tag)
        self.tag = tag

current = 0
muted = False

def T(event):
    if not muted:
        print("P%d\t%s" % (current, event))

def kind(e):
    if isinstance(e, E): return "E%d" % e.tag
    if isinstance(e, GeneratorExit): return "exit"
    if isinstance(e, RuntimeError): return "runtime"
    if isinstance(e, TypeError): return "misuse"
    return "other:" + type(e).__name__

def unraisable(u):
    global muted
    if getattr(u.object, "__name__", "").endswith("_g0"):  # the top generator's drop
        T("-> unraisable " + kind(u.exc_value))
        muted = True  # what the frame's clearing does next has no counterpart in spindle

def close_child(c):
    try:
        c.close()
    except BaseException:
        pass
    if inspect.getgeneratorstate(c) != inspect.GEN_CLOSED:
        T("indeterminate: a child ignored close() twice")

sys.unraisablehook = unraisable

def describe(op):
    if op[0] == "send": return "send %d" % op[1]
    if op[0] == "throw": return "throw E%d" % op[1]
    return op[0]

def drive(index, make, ops):
    global current, muted
    current = index
    muted = False
    g = make()
    for op in ops:
        T(describe(op))
        if op[0] == "drop":
            break
        was_done = inspect.getgeneratorstate(g) == inspect.GEN_CLOSED
        try:
            if op[0] == "next": y = next(g)
            elif op[0] == "send": y = g.send(op[1])
            elif op[0] == "throw": y = g.throw(E(op[1]))
            else:
                g.close()
                T("-> ok")
                continue
            T("-> y %d" % y)
        except StopIteration as s:
            T("-> stop-again" if was_done else "-> stop %s" % s.value)
        except GeneratorExit:
            T("-> stop-exit")
        except BaseException as e:
            T("-> exc " + kind(e))
    del g
    gc.collect()  # a generator suspended in an except clause is in a cycle with its frame
    muted = False
    T("dropped")
)PY";

// python_functions() is one program's generator functions in Python.
inline std::string python_functions(const program& p, int index) {
    std::string out;
    for (std::size_t i = 0; i < p.scripts.size(); ++i) {
        const int script = static_cast<int>(i);
        program_detail::write_line(out, 0,
                                   "def " + program_detail::function_name(index, script) + "():");
        program_detail::write_line(out, 1, "if False: yield  # a generator even with no yield");
        program_detail::write_block(out, p.scripts[i].body, index, script, 1);
        program_detail::write_line(out, 1, "return 0");
    }
    return out;
}

// python_drive() is the driver's call that runs one program in Python.
inline std::string python_drive(const program& p, int index) {
    std::string out;
    std::string ops = "[";
    for (const operation& op : p.operations) {
        switch (op.kind) {
        case operation_kind::next: ops += "(\"next\",), "; break;
        case operation_kind::send: ops += "(\"send\", " + std::to_string(op.value) + "), "; break;
        case operation_kind::raise: ops += "(\"throw\", " + std::to_string(op.value) + "), "; break;
        case operation_kind::close: ops += "(\"close\",), "; break;
        case operation_kind::drop: ops += "(\"drop\",), "; break;
        }
    }
    ops += "]";
    program_detail::write_line(out, 0,
                               "drive(" + std::to_string(index) + ", " +
                                   program_detail::function_name(index, 0) + ", " + ops + ")");
    return out;
}

}  // namespace spindle_test
