#!/bin/sh
# A small batch job: hashes a stream of data and writes its result. It tries to use more CPU
# than it is given, so the summary shows throttling.
set -e
i=0
while [ $i -lt 4 ]; do
    head -c 20000000 /dev/zero | sha256sum > /dev/null &
    i=$((i + 1))
done
wait
echo "crunch: done"
