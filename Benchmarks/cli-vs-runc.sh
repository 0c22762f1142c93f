#!/usr/bin/env bash
# From the shell, what a launch costs: `berth run` against `runc run` with the same limits
# (cpu 50000/100000, memory 64Mi without swap, pids 64) running /bin/true, interleaved in one
# run and timed the same way (posix_spawn from one driver, std streams on /dev/null, monotonic
# clock from spawn to reaped). Also `berth --help` against `runc --version`: the bare cost of
# each CLI process. Root only; installs runc when missing; removes everything it creates.
#
#   Benchmarks/cli-vs-runc.sh [--runs N]      N interleaved pairs (default 300)
#   BERTH_BUILD_DIR=DIR Benchmarks/cli-vs-runc.sh   reuse berth and berth-shim from DIR
#                                                   (default: release build in .build-bench)
set -euo pipefail

usage() {
    cat <<'EOF'
usage: Benchmarks/cli-vs-runc.sh [--runs N] [--help]

Times `berth run --cpu 0.5 --memory 64Mi --pids 64 -- /bin/true` against `runc run` of a
bundle with the same limits, interleaved, and `berth --help` against `runc --version`;
prints p50 and p99 of each and the ratios berth/runc. Needs root.

  --runs N   interleaved runs of each (default 300)
  --help     this text

Environment: BERTH_BUILD_DIR=DIR uses DIR/berth and DIR/berth-shim instead of building
(swift build -c release --scratch-path .build-bench).
EOF
}

runs=300
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --runs)
            [ $# -ge 2 ] || { echo "cli-vs-runc: --runs needs a value" >&2; usage >&2; exit 2; }
            runs=$2; shift 2 ;;
        --runs=*) runs=${1#--runs=}; shift ;;
        *) echo "cli-vs-runc: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
    echo "cli-vs-runc: --runs must be a positive integer (got '$runs')" >&2; exit 2
fi
if [ "$(id -u)" != 0 ]; then echo "cli-vs-runc: needs root (cgroups, runc)" >&2; exit 2; fi
command -v python3 >/dev/null || { echo "cli-vs-runc: needs python3" >&2; exit 2; }

repo=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v runc >/dev/null; then
    echo "== installing runc"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null; }
fi
runc=$(command -v runc)

if [ -n "${BERTH_BUILD_DIR:-}" ]; then
    bin=$(cd "$BERTH_BUILD_DIR" && pwd)
else
    echo "== building (release, .build-bench)"
    log=$(mktemp /var/tmp/berth-cli-vs-runc-build.XXXXXX)
    if ! (cd "$repo" && swift build -c release --scratch-path .build-bench --product berth-shim \
                     && swift build -c release --scratch-path .build-bench --product berth) >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"
        echo "cli-vs-runc: the build failed" >&2; exit 1
    fi
    rm -f "$log"
    bin=$repo/.build-bench/release
fi
for exe in berth berth-shim; do
    [ -x "$bin/$exe" ] || { echo "cli-vs-runc: no executable $bin/$exe" >&2; exit 2; }
done

# Everything this run creates lives under $scratch, except cgroups, which are listed and removed.
scratch=$(mktemp -d /var/tmp/berth-cli-vs-runc.XXXXXX)
chmod 0755 "$scratch"
id=cli-vs-runc-$$
# Berth's cgroup roots (<own cgroup>/berth in each hierarchy) and runc's (<own cgroup>/<id>)
# that do not exist yet: removed at the end, deepest first, if empty.
created_cgroups=()
while IFS=: read -r _ controllers path; do
    name=${controllers#name=}
    if [ -z "$controllers" ]; then
        if [ -e /sys/fs/cgroup/unified/cgroup.procs ]; then dir=/sys/fs/cgroup/unified; else dir=/sys/fs/cgroup; fi
    else
        dir=/sys/fs/cgroup/$name
    fi
    [ -d "$dir" ] || continue
    [ "$path" = / ] && path=
    for leaf in berth "$id"; do
        [ -e "$dir$path/$leaf" ] || created_cgroups+=("$dir$path/$leaf")
    done
done </proc/self/cgroup

cleanup() {
    "$runc" --root "$scratch/runc" delete --force "$id" >/dev/null 2>&1 || true
    for cg in "${created_cgroups[@]}"; do
        [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The runc bundle: `runc spec` with the same limits, and a read-only rootfs holding /bin/true
# and the libraries it loads.
bundle=$scratch/bundle
mkdir -p "$bundle/rootfs"/{proc,sys,dev,tmp}
for f in /bin/true $(ldd /bin/true | grep -o '/[^ ]*'); do
    mkdir -p "$bundle/rootfs$(dirname "$f")"
    cp -L "$f" "$bundle/rootfs$f"
done
(cd "$bundle" && "$runc" spec)
python3 - "$bundle/config.json" <<'EOF'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["root"] = {"path": "rootfs", "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
r = c["linux"].setdefault("resources", {})
r["cpu"] = {"quota": 50000, "period": 100000}
r["memory"] = {"limit": 64 * 1024 * 1024, "swap": 64 * 1024 * 1024}  # memory+swap: no swap
r["pids"] = {"limit": 64}
json.dump(c, open(path, "w"), indent=2)
EOF

echo "== $runs interleaved runs each; berth from $bin; $("$runc" --version | head -1)"
python3 - "$runs" "$bin/berth" "$scratch" "$runc" "$bundle" "$id" <<'EOF'
import math, os, sys, time

runs = int(sys.argv[1])
berth, scratch, runc, bundle, cid = sys.argv[2:7]
os.chdir("/")  # jobs cannot see some directories; start berth where they can
berth_run = [berth, "run", "--runtime-dir", scratch + "/run", "--state-dir", scratch + "/state",
             "--cpu", "0.5", "--memory", "64Mi", "--pids", "64", "--", "/bin/true"]
runc_run = [runc, "--root", scratch + "/runc", "run", "--bundle", bundle, cid]
berth_help = [berth, "--help"]
runc_version = [runc, "--version"]
quiet = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
         (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
         (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)]

def timed(argv):
    """Milliseconds from spawn to reaped, and the exit code."""
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=quiet)
    _, status = os.waitpid(pid, 0)
    return (time.perf_counter_ns() - t0) / 1e6, os.waitstatus_to_exitcode(status)

# One visible run of each first: a broken setup fails here, with its message.
print("== one visible run of each (berth's summary line, then runc's output if any)", flush=True)
for argv in (berth_run, runc_run):
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)])
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"cli-vs-runc: {' '.join(argv)} failed (exit {os.waitstatus_to_exitcode(status)})")

def interleave(a, b, n, warmup=5):
    ta, tb, failed = [], [], 0
    for i in range(warmup + n):
        # Alternate which goes first, so neither always follows the other.
        pair = [(a, ta), (b, tb)] if i % 2 == 0 else [(b, tb), (a, ta)]
        for argv, out in pair:
            ms, code = timed(argv)
            failed += code != 0
            if i >= warmup:
                out.append(ms)
    return ta, tb, failed

def pct(xs, p):
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]

run_b, run_r, run_failed = interleave(berth_run, runc_run, runs)
help_b, help_r, help_failed = interleave(berth_help, runc_version, runs)

rows = [("berth run … -- /bin/true", run_b), ("runc run (same limits)", run_r)]
print(f"{'':34}{'p50 ms':>9}{'p99 ms':>9}")
for name, xs in rows:
    print(f"{name:34}{pct(xs, 50):9.2f}{pct(xs, 99):9.2f}")
print(f"{'ratio berth/runc (target ≤ 0.50)':34}{pct(run_b, 50) / pct(run_r, 50):9.2f}{pct(run_b, 99) / pct(run_r, 99):9.2f}")
for name, xs in [("berth --help", help_b), ("runc --version", help_r)]:
    print(f"{name:34}{pct(xs, 50):9.2f}{pct(xs, 99):9.2f}")
print(f"{'ratio berth/runc':34}{pct(help_b, 50) / pct(help_r, 50):9.2f}{pct(help_b, 99) / pct(help_r, 99):9.2f}")
# `berth run` prunes the ended runs' status files when it ends, reading each one: its cost
# grows with their number, so say how many there were.
runs_dir = scratch + "/run/runs"
count = len(os.listdir(runs_dir)) if os.path.isdir(runs_dir) else 0
print(f"(berth's status files in its runtime dir at the end: {count})")
if run_failed or help_failed:
    sys.exit(f"cli-vs-runc: {run_failed + help_failed} runs exited non-zero")
EOF
