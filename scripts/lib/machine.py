#!/usr/bin/env python3
"""machine.py: the "machine:" line of the benchmark tables, "CPU model, N cores".

As a module: describe(). As a command: prints describe().
"""

import os
import platform
import subprocess


def cpu_model():
    """cpu_model returns lscpu's model name, which names the CPU even inside a virtual machine
    (where platform.processor() often says only the architecture)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def describe():
    """describe returns the CPU model and the number of cores the benchmarks can use."""
    return f"{cpu_model()}, {len(os.sched_getaffinity(0))} cores"


if __name__ == "__main__":
    print(describe())
