#!/usr/bin/env python3
"""bench_summary.py JSON: a compact table of a Google Benchmark JSON report for scripts/demo.

Each benchmark is printed with its wall time per iteration and, when its group has a spindle
entry, its time relative to spindle's (measured in the same run). A group is the benchmark's
name without the implementation part: "deep/stackless_cpp20/20" and "deep/spindle_asm/20" are
both in "deep/*/20"; "yield_boost" and "yield_spindle" are both in "yield_*".
"""

import re
import sys

import benchmark_json


def split_name(name):
    """split_name returns (group, implementation) for a benchmark name."""
    m = re.match(r"^(.*?)_(spindle|boost)(?:_bench)?(/.*)?$", name)
    if m:
        return m.group(1) + "_*" + (m.group(3) or ""), m.group(2)
    m = re.match(r"^([^/]+)/([^/]+)(/.*)?$", name)
    if m:
        return m.group(1) + "/*" + (m.group(3) or ""), m.group(2)
    return name, name


def readable(ns):
    """readable formats a time in nanoseconds with a unit that keeps it short."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def main(path):
    rows = []
    for b in benchmark_json.runs(benchmark_json.load(path)):
        group, implementation = split_name(b["name"])
        rows.append((b["name"], group, implementation, benchmark_json.value(b, "real_time")))
    spindle_time = {g: ns for _, g, impl, ns in rows if "spindle" in impl}
    width = max((len(name) for name, *_ in rows), default=0)
    for name, group, implementation, ns in rows:
        line = f"  {name:<{width}}  {readable(ns):>10}"
        if "spindle" not in implementation and group in spindle_time:
            line += f"   {ns / spindle_time[group]:6.2f}x spindle's time"
        print(line)


if __name__ == "__main__":
    main(sys.argv[1])
