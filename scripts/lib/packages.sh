# shellcheck shell=bash
# The Debian packages scripts/demo and scripts/test need, and ensure_packages, which installs
# whichever are missing. Sourced by both scripts, so the lists live here only.

# SPINDLE_DEMO_PACKAGES is what scripts/demo needs: the build, the examples and the benchmarks
# with their peers.
SPINDLE_DEMO_PACKAGES=(
    meson ninja-build pkg-config python3      # the build and its introspection
    g++                                       # the compiler
    libboost-context-dev                      # the Boost.Context backend and the switch peers
    libboost-fiber-dev libboost-coroutine-dev # benchmark peers
    libbenchmark-dev                          # benchmarks
)

# SPINDLE_TEST_PACKAGES is what scripts/test needs on top: every CI configuration.
# shellcheck disable=SC2034  # used by scripts/test
SPINDLE_TEST_PACKAGES=(
    "${SPINDLE_DEMO_PACKAGES[@]}"
    clang binutils                            # the second compiler; readelf, nm for the ELF checks
    doctest-dev                               # tests
    valgrind                                  # the Valgrind configuration (and valgrind.h)
    g++-aarch64-linux-gnu qemu-user           # the AArch64 cross build and its test runs
    cmake                                     # the CMake consumers of the package configuration
    gdb                                       # scripts/check-gdb (the gdb extension)
    doxygen                                   # the API reference (scripts/check-api-docs)
    python3-matplotlib                        # benchmark plots (scripts/bench-generators)
)

# missing_packages PACKAGE... prints the packages given that are not installed. It asks dpkg
# only, so a machine that has everything makes no apt call.
missing_packages() {
    local package status
    for package in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
        [[ $status == installed ]] || printf '%s\n' "$package"
    done
}

# ensure_packages PACKAGE... installs those of the packages given that are missing, with apt-get
# when running as root; otherwise it prints the command that would and returns 1, so the caller
# stops before a build that would fail.
ensure_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "spindle: not a Debian system (no dpkg-query); install the equivalents of:" >&2
        echo "  $*" >&2
        return 1
    fi
    local missing
    mapfile -t missing < <(missing_packages "$@")
    ((${#missing[@]} == 0)) && return 0

    if ((EUID != 0)); then
        echo "spindle: these Debian packages are missing: ${missing[*]}" >&2
        echo "Install them, then run this again:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        return 1
    fi
    echo "spindle: installing ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}
