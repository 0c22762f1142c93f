#!/usr/bin/env bash
# The in-process launch (berth-bench) of this tree against an earlier commit's, built beside
# it and run interleaved in one session (these machines are noisy): ROUNDS rounds, each one
# `berth-bench RUNS` of the base, then one of this tree. Prints each round's p50s and the
# ratio of the medians, for the plain and the sandboxed launch. Rounds alternate which tree
# goes first.
#
#   Benchmarks/compare-base.sh [--base COMMIT] [--rounds N] [--runs N]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
base=73d548a rounds=5 runs=200
while [ $# -gt 0 ]; do
    case "$1" in
        --base) base=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        -h|--help) sed -n 2,7p "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
[[ "$rounds" =~ ^[0-9]+$ && "$runs" =~ ^[0-9]+$ ]] || { echo "rounds and runs are numbers" >&2; exit 2; }
work=$(mktemp -d /var/tmp/berth-compare.XXXXXX)
cleanup() { git -C "$repo" worktree remove --force "$work/base" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
git -C "$repo" worktree add --detach -q "$work/base" "$base"
echo "== building $base and this tree (release)"
(cd "$work/base" && swift build -c release --product berth-bench 2>&1 | tail -1)
(cd "$repo" && swift build -c release --scratch-path .build-bench --product berth-bench 2>&1 | tail -1)
old="$work/base/.build/release/berth-bench"
new="$repo/.build-bench/release/berth-bench"
# The shim beside each benchmark is its own tree's.
(cd "$repo" && swift build -c release --scratch-path .build-bench --product berth-shim 2>&1 | tail -1)
(cd "$work/base" && swift build -c release --product berth-shim 2>&1 | tail -1)
p50() { grep -E "^  $1" | sed -E 's/.*p50 ([0-9.]+) ms.*/\1/'; }
declare -a old_plain old_sandboxed new_plain new_sandboxed
for r in $(seq 1 "$rounds"); do
    # Alternate which goes first, so neither always runs on a warmer or a busier machine.
    if [ $((r % 2)) = 1 ]; then o=$("$old" "$runs"); n=$("$new" "$runs"); else n=$("$new" "$runs"); o=$("$old" "$runs"); fi
    old_plain+=("$(echo "$o" | p50 "berth \(Launcher")"); old_sandboxed+=("$(echo "$o" | p50 "berth sandboxed")")
    new_plain+=("$(echo "$n" | p50 "berth \(Launcher")"); new_sandboxed+=("$(echo "$n" | p50 "berth sandboxed")")
    echo "round $r: base p50 ${old_plain[-1]} ms, sandboxed ${old_sandboxed[-1]} ms | this tree p50 ${new_plain[-1]} ms, sandboxed ${new_sandboxed[-1]} ms"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mo=$(median "${old_plain[@]}"); mn=$(median "${new_plain[@]}")
so=$(median "${old_sandboxed[@]}"); sn=$(median "${new_sandboxed[@]}")
awk -v mo="$mo" -v mn="$mn" -v so="$so" -v sn="$sn" -v base="$base" 'BEGIN {
    printf "median of %s p50s: plain %.3f → %.3f ms (%.2f×), sandboxed %.3f → %.3f ms (%.2f×)\n", base, mo, mn, mn / mo, so, sn, sn / so }'
