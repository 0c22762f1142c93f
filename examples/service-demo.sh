#!/usr/bin/env bash
# Berth as a service, on the embedded store: starts `berth serve`, creates two tenants with
# quotas, submits the example jobs, shows them running, shows a job waiting for quota and
# then starting, and stops cleanly. Needs root (cgroups, tenants' uids). Idempotent.
#
#   examples/service-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in libseccomp-dev libcap-dev libsqlite3-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "(building Berth: the first build takes a few minutes)"
swift build -c release --product berth-shim >/dev/null
swift build -c release --product berth >/dev/null
berth=$PWD/.build/release/berth
state=/var/lib/berth-demo
rm -rf "$state"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

say "berth serve --state-dir $state --tenant-grace 1s &"
"$berth" serve --state-dir "$state" --tenant-grace 1s > /tmp/berth-demo-serve.log 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$state/berth.sock" ] && break; sleep 0.1; done
export BERTH_SOCKET=$state/berth.sock      # the operator's token is read from beside the socket

say "berth tenant add analytics; berth tenant add search"
analytics=$("$berth" tenant add analytics)
search=$("$berth" tenant add search)
echo "(each prints its tenant's token, shown once and stored only hashed)"
say "berth quota set analytics --cpu 2 --memory 600Mi --jobs 3"
"$berth" quota set analytics --cpu 2 --memory 600Mi --jobs 3 >/dev/null
say "berth quota set search --cpu 1 --memory 256Mi"
"$berth" quota set search --cpu 1 --memory 256Mi >/dev/null

cd examples/jobs
say "BERTH_TOKEN=<analytics> berth submit sessionizer.yaml; berth submit big.yaml"
BERTH_TOKEN=$analytics "$berth" submit sessionizer.yaml
BERTH_TOKEN=$analytics "$berth" submit big.yaml
say "BERTH_TOKEN=<search> berth submit wordcount.yaml --wait"
BERTH_TOKEN=$search "$berth" submit wordcount.yaml --wait
say "BERTH_TOKEN=<search> berth submit crashy.yaml"
BERTH_TOKEN=$search "$berth" submit crashy.yaml
sleep 2
say "berth ls --all            # the operator sees every tenant's jobs"
"$berth" ls --all
say "berth quota show"
"$berth" quota show
say "BERTH_TOKEN=<analytics> berth logs sessionizer --tail 3"
BERTH_TOKEN=$analytics "$berth" logs sessionizer --tail 3

say "a second big job does not fit beside the first: it waits for quota, then starts"
sed 's/^name: big$/name: big-2/' big.yaml > /tmp/berth-demo-big-2.yaml
say "BERTH_TOKEN=<analytics> berth submit big-2.yaml --wait"
BERTH_TOKEN=$analytics "$berth" submit /tmp/berth-demo-big-2.yaml --wait

say "BERTH_TOKEN=<search> berth status crashy      # restarted with backoff"
BERTH_TOKEN=$search "$berth" status crashy | sed -n '1,12p'

say "berth stop / rm every job, then stop the daemon (SIGTERM; jobs would otherwise keep running)"
for job in $("$berth" ls --all --json | python3 -c 'import json,sys; print(" ".join(j["id"] for j in json.load(sys.stdin)))'); do
    "$berth" rm "$job" >/dev/null
done
for _ in $(seq 100); do [ "$("$berth" ls --all --json)" = "[]" ] && break; sleep 0.1; done
"$berth" tenant rm analytics >/dev/null; "$berth" tenant rm search >/dev/null
# After the grace period each tenant's uid, cgroup, checkpoints and logs are released.
for _ in $(seq 100); do [ "$("$berth" tenant ls --json)" = "[]" ] && break; sleep 0.1; done
kill -TERM $daemon; wait $daemon || true
trap - EXIT
rm -rf "$state" /tmp/berth-demo-big-2.yaml
echo; echo "done: the daemon stopped, nothing left behind."
