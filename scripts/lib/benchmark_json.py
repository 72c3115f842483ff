#!/usr/bin/env python3
"""benchmark_json.py: the one reader of Google Benchmark's JSON reports for scripts/.

As a module (scripts/ put scripts/lib on sys.path):
    report = run(BINARY, repetitions=10, min_time="0.2", args=[...])  # runs it, parses stdout
    report = load(PATH)                       # a report written with --benchmark_out
    medians(report, "cpu_time")               # {name: median CPU time in ns}
    medians(report, "cpu_time/elements")      # ... divided by the benchmark's counter `elements`
    medians(report, "per_op")                 # {name: median of the counter `per_op`}
    runs(report)                              # the iteration entries that did not fail
    value(entry, "real_time")                 # one entry's field; times are in ns

As a command (for the bash scripts):
    benchmark_json.py medians [--repetitions N] [--min-time S] [--value V] BINARY [ARG...]
prints one "name median" line per benchmark, in the report's order.

A value V is a field of an entry, or FIELD/FIELD for a ratio of two. real_time and cpu_time are
converted from the entry's time_unit to ns; every other field (the benchmark's counters) is
taken as reported.
"""

import argparse
import json
import subprocess
import sys

NS_PER_UNIT = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
TIME_FIELDS = ("real_time", "cpu_time")


def run(binary, repetitions, min_time, args=()):
    """run runs a benchmark binary with repetitions, keeping only the aggregates, and returns
    its parsed JSON report; a failing binary raises CalledProcessError with its stderr."""
    out = subprocess.run(
        [str(binary), f"--benchmark_repetitions={repetitions}",
         f"--benchmark_min_time={min_time}", "--benchmark_report_aggregates_only=true",
         "--benchmark_format=json", *args],
        capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def load(path):
    """load reads a report that a benchmark binary wrote with --benchmark_out."""
    with open(path) as f:
        return json.load(f)


def value(entry, spec):
    """value returns an entry's field named by spec ("cpu_time", "per_op", "cpu_time/elements"),
    with times in ns whatever unit the benchmark reported them in."""
    if "/" in spec:
        numerator, denominator = spec.split("/", 1)
        return value(entry, numerator) / value(entry, denominator)
    if spec in TIME_FIELDS:
        return entry[spec] * NS_PER_UNIT[entry.get("time_unit", "ns")]
    return entry[spec]


def runs(report):
    """runs returns the report's iteration entries, leaving out aggregates and failed runs."""
    return [b for b in report.get("benchmarks", [])
            if b.get("run_type", "iteration") == "iteration" and "error_occurred" not in b]


def medians(report, spec):
    """medians returns {name: value} of each benchmark's median aggregate, in report order. A
    benchmark run once has no aggregates (Google Benchmark reports none for one repetition):
    its single run is its median."""
    aggregates = {b["run_name"]: b for b in report.get("benchmarks", [])
                  if b.get("aggregate_name") == "median"}
    singles = {}
    for b in runs(report):
        name = b.get("run_name", b["name"])
        singles[name] = None if name in singles else b  # repeated runs without a median: none
    result = {}
    for name in [*aggregates, *singles]:
        entry = aggregates.get(name) or singles.get(name)
        if entry is not None and name not in result:
            result[name] = value(entry, spec)
    return result


def main():
    parser = argparse.ArgumentParser(description="Google Benchmark JSON reader")
    commands = parser.add_subparsers(dest="command", required=True)
    m = commands.add_parser("medians", help="run BINARY and print 'name median' lines")
    m.add_argument("--repetitions", type=int, default=10)
    m.add_argument("--min-time", default="0.2")
    m.add_argument("--value", default="cpu_time")
    m.add_argument("binary")
    m.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    try:
        report = run(options.binary, options.repetitions, options.min_time, options.args)
    except subprocess.CalledProcessError as failure:
        sys.stderr.write(failure.stderr)
        sys.exit(f"{options.binary} exited with status {failure.returncode}")
    except OSError as failure:
        sys.exit(f"benchmark_json.py: {failure}")
    for name, median in medians(report, options.value).items():
        print(name, median)


if __name__ == "__main__":
    main()
