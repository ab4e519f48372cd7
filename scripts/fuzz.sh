#!/bin/sh
# Runs the libFuzzer harnesses (docs/fuzzing.md) for a bounded time each.
#
#   scripts/fuzz.sh [--seconds N | --build-only] [harness...]   (default: 600 s, every harness; JOBS=J builds with J jobs)
#
# Configures and builds build-fuzz (clang, -DQA_FUZZ=ON, ASan+UBSan) when needed, then runs
# each harness on its committed seeds (fuzz/corpus/<harness>, read only) plus its working
# corpus (build-fuzz/corpus/<harness>, new entries go there, not committed), and prints
# per harness: executions, exec/s, corpus size and the outcome. Exits non-zero when any
# harness found a crash, leak, timeout or out-of-memory; the input that did it is kept as
# build-fuzz/crashes/<harness>-{crash,leak,timeout,oom}-<sha1> and its path printed.
# Reproduce one with: build-fuzz/fuzz/<harness> <that file>.
set -eu

cd "$(dirname "$0")/.."
ALL="fuzz_csv fuzz_config fuzz_model fuzz_portfolio fuzz_store fuzz_msg fuzz_http"
SECONDS_EACH=600
BUILD_ONLY=0
BUILD=${FUZZ_BUILD:-build-fuzz}
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) SECONDS_EACH=$2; shift 2 ;;
    --seconds=*) SECONDS_EACH=${1#*=}; shift ;;
    --build-only) BUILD_ONLY=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    --*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
HARNESSES=${*:-$ALL}

# Largest input per harness: enough for several CSV files, a model file or a config.
max_len() {
    case "$1" in
    fuzz_model) echo 65536 ;;
    fuzz_csv|fuzz_config|fuzz_portfolio) echo 16384 ;;
    fuzz_msg) echo 4400 ;;
    *) echo 4096 ;;
    esac
}

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    mkdir -p "$BUILD"
    CC=clang CXX=clang++ cmake -S . -B "$BUILD" -DQA_FUZZ=ON -DQA_CUDA=OFF -DQA_BUILD_TESTS=OFF \
        -DQA_BUILD_BENCHMARKS=OFF -DQA_DASHBOARD_VENDOR=OFF > "$BUILD/configure.log" 2>&1 ||
        { cat "$BUILD/configure.log"; exit 1; }
fi
JOBS=${JOBS:-$(nproc)}
# shellcheck disable=SC2086
cmake --build "$BUILD" -j "$JOBS" --target $HARNESSES > "$BUILD/fuzz-build.log" 2>&1 ||
    { tail -50 "$BUILD/fuzz-build.log"; exit 1; }

[ "$BUILD_ONLY" = 1 ] && { echo "fuzz.sh: built $HARNESSES in $BUILD"; exit 0; }
mkdir -p "$BUILD/crashes"
# LeakSanitizer on (libFuzzer checks every input that allocates more than it frees);
# Open MPI, OpenBLAS and OpenMP keep allocations until exit by design (tests/lsan.supp).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp}"

fail=0
printf '%-15s %8s %12s %8s %8s  %s\n' harness seconds executions exec/s corpus outcome
for h in $HARNESSES; do
    mkdir -p "$BUILD/corpus/$h"
    dict=""
    [ -f "fuzz/$h.dict" ] && dict="-dict=fuzz/$h.dict"
    log="$BUILD/fuzz-$h.log"
    rc=0
    # shellcheck disable=SC2086
    "$BUILD/fuzz/$h" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -max_len="$(max_len "$h")" \
        -print_final_stats=1 -artifact_prefix="$BUILD/crashes/$h-" $dict \
        "$BUILD/corpus/$h" "fuzz/corpus/$h" > "$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(find "$BUILD/corpus/$h" -type f | wc -l)
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    if [ "$rc" -eq 0 ] && [ -z "$artifact" ]; then
        outcome="ok, 0 crashes"
    else
        fail=1
        kind=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer)[^(]*|runtime error:.*|deadly signal' "$log" || true)
        outcome="FAILED (exit $rc): ${kind:-see $log} -> ${artifact:-no input saved} (log: $log)"
    fi
    printf '%-15s %8s %12s %8s %8s  %s\n' "$h" "$SECONDS_EACH" "${execs:-?}" "${rate:-?}" "$corpus" "$outcome"
done
exit $fail
