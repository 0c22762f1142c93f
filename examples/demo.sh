#!/usr/bin/env bash
# Builds Berth and runs an example job under limits, as a new user would. Idempotent.
#
#   examples/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in libseccomp-dev libcap-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
swift build -c release --product berth-shim >/dev/null
swift build -c release --product berth >/dev/null
berth=.build/release/berth
echo "\$ berth doctor"
"$berth" doctor || true
echo
# The job reads its script on stdin: a clone in /root or /tmp is hidden from jobs.
echo "\$ berth run --workdir / --cpu 0.5 --memory 64Mi --pids 64 -- sh -s < examples/jobs/crunch.sh"
"$berth" run --workdir / --cpu 0.5 --memory 64Mi --pids 64 -- sh -s < examples/jobs/crunch.sh
