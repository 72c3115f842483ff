// A fiber suspended on one thread and resumed on another carries on with the new thread's state:
// the library's code after a switch finds its thread-locals afresh (spindle/detail/
// thread_locals.hpp). A compiler that kept a thread-local's address across the switch would make
// the fiber read and write the state of the thread it left, which by then has exited. GCC keeps
// it on AArch64: the library before thread_locals.hpp failed the first case under qemu-aarch64
// (CI runs every suite there); on x86-64 GCC happened not to, in these cases.

#include "exception_message.hpp"
#include "on_new_thread.hpp"

#include <spindle/fiber.hpp>

#include <doctest/doctest.h>

#include <exception>
#include <stdexcept>
#include <string>
#include <thread>

using spindle::fiber;

using spindle_test::on_new_thread;
using spindle_test::current_message;

TEST_CASE("fiber migration: resumed by a new thread each time, a fiber sees that thread's state") {
    constexpr int turns = 6;
    fiber* current_in_body[turns] = {};
    fiber* current_after_resume[turns] = {};
    std::thread::id body_thread[turns];
    std::thread::id resumer_thread[turns];
    fiber* self = nullptr;
    fiber f([&] {
        // A loop, so that a cached address would be the loop's invariant.
        for (int turn = 0; turn < turns; ++turn) {
            body_thread[turn] = std::this_thread::get_id();
            current_in_body[turn] = fiber::current();
            fiber::suspend();
        }
    });
    self = &f;
    for (int turn = 0; turn < turns; ++turn) {
        on_new_thread([&, turn] {
            resumer_thread[turn] = std::this_thread::get_id();
            f.resume();
            current_after_resume[turn] = fiber::current();
        });
    }
    f.resume();  // the body's loop ends on this thread
    CHECK(f.done());
    CHECK(fiber::current() == nullptr);
    for (int turn = 0; turn < turns; ++turn) {
        CAPTURE(turn);
        CHECK(body_thread[turn] == resumer_thread[turn]);
        CHECK(current_in_body[turn] == self);
        CHECK(current_after_resume[turn] == nullptr);
    }
}

TEST_CASE("fiber migration: a nested fiber resumed across threads keeps the chain right") {
    // The outer fiber resumes an inner one on whichever thread runs it; each suspension must
    // give that thread back its innermost fiber (the outer), not the first thread's.
    constexpr int turns = 4;
    fiber* outer_seen_after_inner[turns] = {};
    fiber* inner_seen[turns] = {};
    fiber* outer_self = nullptr;
    fiber* inner_self = nullptr;
    fiber outer([&] {
        fiber inner([&] {
            for (int turn = 0; turn < turns; ++turn) {
                inner_seen[turn] = fiber::current();
                fiber::suspend();
            }
        });
        inner_self = &inner;
        for (int turn = 0; turn < turns; ++turn) {
            inner.resume();
            outer_seen_after_inner[turn] = fiber::current();
            fiber::suspend();
        }
        inner.resume();
    });
    outer_self = &outer;
    for (int turn = 0; turn < turns; ++turn) on_new_thread([&] { outer.resume(); });
    outer.resume();
    CHECK(outer.done());
    for (int turn = 0; turn < turns; ++turn) {
        CAPTURE(turn);
        CHECK(inner_seen[turn] == inner_self);
        CHECK(outer_seen_after_inner[turn] == outer_self);
    }
}

TEST_CASE("fiber migration: a fiber suspended inside a catch keeps its exception on the next "
          "thread, and neither thread gets it") {
    std::string body_before, body_after, first_after, second_after;
    fiber f([&] {
        try {
            throw std::runtime_error("fiber's");
        } catch (...) {
            body_before = current_message();
            fiber::suspend();
            body_after = current_message();
        }
    });
    on_new_thread([&] {
        f.resume();
        first_after = current_message();
    });
    on_new_thread([&] {
        try {
            throw std::runtime_error("second thread's");
        } catch (...) {
            f.resume();
            second_after = current_message();
        }
    });
    CHECK(f.done());
    CHECK(body_before == "fiber's");
    CHECK(body_after == "fiber's");
    CHECK(first_after == "");
    CHECK(second_after == "second thread's");
    CHECK(current_message() == "");
}
