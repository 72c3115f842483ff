#!/usr/bin/env python3
"""bench_build.py: configures a release build with benchmarks and builds the named targets.

As a module: build(BUILD_DIR, [TARGET...], cwd=ROOT).
As a command: bench_build.py BUILD_DIR TARGET...

A missing BUILD_DIR is set up with -Dbuildtype=release -Dbenchmarks=enabled; an existing one is
used as it is (ninja re-runs meson when a meson.build changed). SPINDLE_JOBS (default 2, as in
scripts/lib/build.sh) caps ninja's jobs: the machines have 2 cores, often shared.
"""

import os
import subprocess
import sys
from pathlib import Path


def quiet(command, cwd):
    """quiet runs command without its chatter; on failure the chatter is what explains it, so it
    is printed before the error is raised."""
    done = subprocess.run(command, cwd=cwd, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    if done.returncode != 0:
        sys.stderr.write(done.stdout)
        raise subprocess.CalledProcessError(done.returncode, command)


def build(build_dir, targets, cwd="."):
    """build sets up build_dir (relative to cwd) if it is missing and builds targets in it."""
    if not (Path(cwd) / build_dir).exists():
        quiet(["meson", "setup", str(build_dir), "-Dbuildtype=release", "-Dbenchmarks=enabled"],
              cwd)
    jobs = os.environ.get("SPINDLE_JOBS", "2")
    quiet(["ninja", "-C", str(build_dir), "-j", jobs, *targets], cwd)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    try:
        build(sys.argv[1], sys.argv[2:])
    except subprocess.CalledProcessError as failure:
        sys.exit(f"bench_build.py: {' '.join(failure.cmd)} failed")
