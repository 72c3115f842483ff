#pragma once
// Running a suite at several workers: SPINDLE_THREADS=N gives every scheduler made with
// threads = 1 N workers (scheduler.cpp). Most cases say nothing about threads and run as they
// are; a case that asserts what only one worker guarantees (the order in which tasks that yield
// take turns, a task that reaches its wait before another runs, one thread touching the test's
// own variables) is marked single_worker() and skipped then. A case that only needs another
// task to have reached its wait waits for that instead (until_waiting(), parked.hpp).

#include <doctest/doctest.h>

#include <cstdlib>

namespace spindle_test {

// test_threads() is the N of SPINDLE_THREADS=N for this run (1 without it).
inline unsigned test_threads() {
    const char* value = std::getenv("SPINDLE_THREADS");
    const long n = value ? std::strtol(value, nullptr, 10) : 1;
    return n > 1 ? static_cast<unsigned>(n) : 1u;
}

// single_worker() is the decorator of a case that holds for one worker only: skipped when the
// run gives schedulers several.
inline doctest::skip single_worker() { return doctest::skip(test_threads() > 1); }

// migrating() tells whether the run resumes every task on another worker than its last
// (SPINDLE_MIGRATE=1, a debug mode); not_when_migrating() is the decorator of a case whose tasks
// must be free to stay on a worker: a task that computes without yielding there leaves the
// others, which may not come back to the worker they left, nowhere to run.
inline bool migrating() {
    const char* value = std::getenv("SPINDLE_MIGRATE");
    return value && value[0] == '1';
}
inline doctest::skip not_when_migrating() { return doctest::skip(migrating()); }

}  // namespace spindle_test
