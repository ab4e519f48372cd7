#!/bin/sh
# `make test`, the gate CI runs: the normal build and its suite, the ASan+UBSan build and its
# suite, the static analysis gate (scripts/lint.sh) and every fuzzing harness for 10 s.
#
#   scripts/test-all.sh BUILD ASAN_BUILD JOBS [CMAKE_ARGS]
#
# The analysis and the fuzzing build run in the background at the lowest CPU priority
# (nice 19) while the two suites run: many tests wait (kill -9 trials, the Kafka cluster,
# Slurm, the browser), and that idle CPU is what the analysers use, so the gate fits CI's
# time budget without taking CPU from a test that needs it. Every part runs even when an
# earlier one failed; the exit status is non-zero if any failed, and each part's verdict is
# printed at the end.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 2
BUILD=${1:-build} ASAN=${2:-build-asan} JOBS=${3:-$(nproc)} ARGS=${4:-}
status=0
t0=$(date +%s)
say() { echo "test-all: $* ($(($(date +%s) - t0)) s)"; }

# shellcheck disable=SC2086
make build BUILD="$BUILD" JOBS="$JOBS" CMAKE_ARGS="$ARGS" || { say "normal build FAILED"; exit 1; }
mkdir -p "$BUILD/lint"
say "normal build done; static analysis started in the background (nice 19)"
( nice -n 19 scripts/lint.sh "$BUILD" > "$BUILD/lint/gate.log" 2>&1; echo $? > "$BUILD/lint/gate.rc" ) &
lint=$!

(cd "$BUILD" && ctest --output-on-failure -j "$JOBS") || { status=1; normal=FAILED; }
say "normal suite: ${normal:-passed}"

# shellcheck disable=SC2086
make build-asan ASAN_BUILD="$ASAN" JOBS="$JOBS" CMAKE_ARGS="$ARGS" || { say "ASan build FAILED"; status=1; }
say "ASan build done; fuzzing build started in the background (nice 19)"
( nice -n 19 scripts/fuzz.sh --build-only > "$BUILD/fuzz-build.log" 2>&1; echo $? > "$BUILD/fuzz-build.rc" ) &
fuzzb=$!
if [ -f "$ASAN/CTestTestfile.cmake" ]; then
    (cd "$ASAN" && ctest --output-on-failure -j "$JOBS") || { status=1; asan=FAILED; }
fi
say "ASan+UBSan suite: ${asan:-passed}"

wait "$lint"
cat "$BUILD/lint/gate.log"
if [ "$(cat "$BUILD/lint/gate.rc" 2>/dev/null)" = 0 ]; then say "static analysis: passed"; else say "static analysis FAILED"; status=1; fi

wait "$fuzzb"
if [ "$(cat "$BUILD/fuzz-build.rc" 2>/dev/null)" = 0 ]; then
    scripts/fuzz.sh --seconds 10 || { status=1; fuzz=FAILED; }
else
    cat "$BUILD/fuzz-build.log"; fuzz="FAILED (build)"; status=1
fi
say "fuzzing, 10 s per harness: ${fuzz:-passed}"
exit $status
