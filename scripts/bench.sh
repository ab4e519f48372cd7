#!/bin/sh
# Runs every benchmark and keeps the JSON lines in bench-results.jsonl.
# Usage: scripts/bench.sh [build-dir]
set -eu
BUILD=${1:-build}
out=bench-results.jsonl
: > "$out"
for b in "$BUILD"/benchmarks/bench_*; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b" | tee /dev/stderr | sed -n 's/^JSON //p' >> "$out"
done 2>&1
echo "results: $out"
