# shellcheck shell=bash
# Configuring and inspecting meson build directories; sourced by scripts/demo and scripts/test.

SPINDLE_JOBS=${SPINDLE_JOBS:-2}  # the machines have 2 cores, often shared

# configure_build DIR SETUP_ARGS... configures DIR with `meson setup SETUP_ARGS`. A directory
# configured earlier with the same arguments and compilers is kept (ninja re-runs meson itself
# when a meson.build changed); one configured differently, or left half-configured, starts afresh.
configure_build() {
    local dir=$1
    shift
    local key="CC=${CC-} CXX=${CXX-} $*"
    local stamp="$dir/spindle-setup-args"
    if [[ -f $dir/meson-private/coredata.dat && -f $stamp && $(<"$stamp") == "$key" ]]; then
        return 0
    fi
    rm -rf "$dir"
    meson setup "$dir" "$@" || return 1
    printf '%s\n' "$key" >"$stamp"
}

# build DIR [TARGET...] builds DIR (all targets by default).
build() {
    local dir=$1
    shift
    ninja -C "$dir" -j "$SPINDLE_JOBS" "$@"
}

# introspect_list DIR KIND prints one path per line: KIND=tests gives each test's program
# ("name<TAB>path"), KIND=examples each executable defined in examples/meson.build.
introspect_list() {
    local dir=$1 kind=$2
    case $kind in
    tests)
        meson introspect --tests "$dir" | python3 -c '
import json, sys
for test in json.load(sys.stdin):
    print(test["name"] + "\t" + test["cmd"][0])'
        ;;
    examples)
        meson introspect --targets "$dir" | python3 -c '
import json, os, sys
for target in json.load(sys.stdin):
    if target["type"] == "executable" and \
            target["defined_in"].endswith(os.path.join("examples", "meson.build")):
        print(target["filename"][0])'
        ;;
    esac
}

# cross_exe_wrapper CROSS_FILE prints the exe_wrapper a meson cross file names (the command that
# runs the target's programs, such as qemu-user), one word a line.
cross_exe_wrapper() {
    python3 - "$1" <<'PYTHON'
import ast, configparser, sys
parser = configparser.ConfigParser()
parser.read(sys.argv[1])
wrapper = ast.literal_eval(parser["binaries"]["exe_wrapper"])
print("\n".join([wrapper] if isinstance(wrapper, str) else wrapper))
PYTHON
}
