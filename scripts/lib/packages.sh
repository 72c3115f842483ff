# shellcheck shell=bash
# The Debian packages scripts/demo and scripts/test need, and ensure_packages, which installs
# whichever are missing. Sourced by both scripts, so the list lives here only.

SPINDLE_PACKAGES=(
    meson ninja-build pkg-config python3      # the build and its introspection
    g++ clang binutils                        # both compilers; readelf for the ELF checks
    libboost-context-dev                      # the Boost.Context backend and the switch peers
    libboost-fiber-dev libboost-coroutine-dev # benchmark peers
    doctest-dev libbenchmark-dev              # tests and benchmarks
    doxygen                                   # the API reference (scripts/check-api-docs)
    valgrind                                  # the Valgrind configuration (and valgrind.h)
    g++-aarch64-linux-gnu qemu-user           # the AArch64 cross build and its test runs
    python3-matplotlib                        # benchmark plots
)

# missing_packages prints the packages of SPINDLE_PACKAGES that are not installed. It asks dpkg
# only, so a machine that has everything makes no apt call.
missing_packages() {
    local package status
    for package in "${SPINDLE_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
        [[ $status == installed ]] || printf '%s\n' "$package"
    done
}

# ensure_packages installs the missing packages with apt-get when running as root; otherwise it
# prints the command that would and returns 1, so the caller stops before a build that would fail.
ensure_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "spindle: not a Debian system (no dpkg-query); install the equivalents of:" >&2
        echo "  ${SPINDLE_PACKAGES[*]}" >&2
        return 1
    fi
    local missing
    mapfile -t missing < <(missing_packages)
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
