#!/usr/bin/env bash
# Runs every test suite: unit, host integration (root, this host's cgroup driver) and the
# cgroup v2 micro-VM suite. Installs what the tests need when it is missing; idempotent.
#
#   Tests/run-all.sh            skips (with a reason) what this host cannot run
#   BERTH_NO_SKIP=1 Tests/run-all.sh   turns every skip into a failure (CI)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in libseccomp-dev libcap-dev libnl-3-dev libnl-route-3-dev nftables libsqlite3-dev curl qemu-system-x86 busybox-static cpio e2fsprogs iproute2 xz-utils; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "== installing ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "== missing packages (run as root to install): ${need[*]}"
    fi
fi

phase() { local name=$1; shift; local t0=$SECONDS; echo "== $name"; "$@"; echo "== $name took $((SECONDS - t0)) s"; }

phase build swift build --build-tests
phase "unit and host tests" swift test --skip-build --disable-xctest --skip cgroupV2VirtualMachine --skip DaemonTests
# The daemon end to end, after the isolation suite: both make cgroups under Berth's root, and
# the isolation suite checks that nothing of Berth's is left on the host after each check.
phase "daemon end to end" swift test --skip-build --disable-xctest --filter DaemonTests
phase "cgroup v2 VM suite" swift test --skip-build --disable-xctest --filter cgroupV2VirtualMachine
# The benchmark is not a test; this only proves it still runs (debug numbers mean nothing).
phase "benchmark smoke" .build/debug/berth-bench 60
