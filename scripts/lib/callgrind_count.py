#!/usr/bin/env python3
"""callgrind_count.py: instructions per unit of work, counted under callgrind.

A program's instruction count includes its start-up (loading, building a workload), so one run
cannot say what one unit of work costs. Run the same program at two run lengths instead: the
difference of the two counts is the work alone.

As a module (scripts/ put scripts/lib on sys.path):
    instructions([BINARY, ARG...])                  # the whole run's count
    per_unit([BINARY, ARG...], short, long, units)  # the run length is appended as the last arg
As a command (for the bash scripts):
    callgrind_count.py --lengths SHORT LONG [--units N] BINARY [ARG...]
prints (count at LONG - count at SHORT) / N, rounded down; N defaults to LONG - SHORT.
"""

import argparse
import re
import subprocess
import sys


def instructions(command):
    """instructions runs command under callgrind and returns the instructions it executed."""
    err = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          *map(str, command)], capture_output=True, text=True, check=True).stderr
    return int(re.search(r"Collected : (\d+)", err).group(1))


def difference(command, short, long):
    """difference returns how many more instructions command executes with the run length long
    appended than with short appended."""
    return instructions([*command, long]) - instructions([*command, short])


def per_unit(command, short, long, units):
    """per_unit returns the instructions per unit of work: the difference between the run
    lengths short and long, divided by the units of work that lie between them."""
    return difference(command, short, long) / units


def main():
    parser = argparse.ArgumentParser(description="instructions per unit of work, by callgrind")
    parser.add_argument("--lengths", type=int, nargs=2, required=True, metavar=("SHORT", "LONG"))
    parser.add_argument("--units", type=int, help="units of work between the lengths")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    short, long = options.lengths
    units = options.units or long - short
    try:
        print(difference(options.command, short, long) // units)
    except subprocess.CalledProcessError as failure:
        sys.stderr.write(failure.stderr)
        sys.exit(f"callgrind_count.py: {' '.join(failure.cmd)} failed")


if __name__ == "__main__":
    main()
