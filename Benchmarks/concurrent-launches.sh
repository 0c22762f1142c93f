#!/usr/bin/env bash
# Many `berth run`s at once, as a busy scheduler would start them: ROUNDS rounds of N
# launches started together, then M launches through `xargs -P P`. Counts failures and checks
# that nothing is left behind (cgroups, run roots). Needs root and a built `berth`.
#
#   Benchmarks/concurrent-launches.sh [--berth PATH] [--at-once N] [--rounds R] [--xargs M] [--parallel P]
set -euo pipefail
berth=$(cd "$(dirname "$0")/.." && pwd)/.build/release/berth
at_once=200 rounds=5 through_xargs=500 parallel=8
while [ $# -gt 0 ]; do
    case "$1" in
        --berth) berth=$2; shift 2 ;;
        --at-once) at_once=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --xargs) through_xargs=$2; shift 2 ;;
        --parallel) parallel=$2; shift 2 ;;
        -h|--help) sed -n 2,7p "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
for n in "$at_once" "$rounds" "$through_xargs" "$parallel"; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "numbers only: $n" >&2; exit 2; }
done
[ -x "$berth" ] || { echo "no berth at $berth (swift build -c release)" >&2; exit 2; }
berth=$(realpath "$berth")
scratch=$(mktemp -d /var/tmp/berth-concurrent.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
run=("$berth" run --runtime-dir "$scratch/run" --state-dir "$scratch/state" --workdir / -- /bin/true)
cd /
total_failed=0
for round in $(seq 1 "$rounds"); do
    pids=()
    for i in $(seq 1 "$at_once"); do "${run[@]}" </dev/null >/dev/null 2>"$scratch/err.$round.$i" & pids+=($!); done
    failed=0
    for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
    echo "round $round: $at_once at once, $failed failed"
    total_failed=$((total_failed + failed))
done
failed=$(seq 1 "$through_xargs" | xargs -P "$parallel" -I{} sh -c '"$@" </dev/null >/dev/null 2>/dev/null || echo x' _ "${run[@]}" | wc -l)
echo "xargs -P $parallel: $through_xargs launches, $failed failed"
total_failed=$((total_failed + failed))
left_cgroups=$(find /sys/fs/cgroup -mindepth 2 -maxdepth 8 -type d -path '*berth*' 2>/dev/null | wc -l)
left_roots=$(find "$scratch/run/roots" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
echo "left behind: $left_cgroups cgroups, $left_roots run roots"
grep -h . "$scratch"/err.* 2>/dev/null | grep -v "exited with code 0" | sort | uniq -c | head -5 || true
[ "$total_failed" = 0 ] && [ "$left_cgroups" = 0 ] && [ "$left_roots" = 0 ]
