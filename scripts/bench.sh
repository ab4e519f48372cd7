#!/bin/sh
# Runs every benchmark and its baselines once and keeps the results for committing:
#   benchmarks/results/<date>-<machine>.jsonl  every JSON line, each with the run's identity
#                                              appended (machine, date, cpu, simd, cores, gpu,
#                                              commit, load, command)
#   benchmarks/results/<date>-<machine>.txt    every benchmark's raw output, one '## <command>'
#                                              section each (scripts/perf_tables.py reads it)
# The summary of docs/performance.md is generated from the .jsonl by scripts/perf_summary.py.
#
# Usage: scripts/bench.sh [build-dir]      (default: build; run from anywhere)
# Environment:
#   QA_BENCH_MACHINE   machine name in the file names and records (default cpu-vm)
#   QA_BENCH_OUT       output folder (default benchmarks/results)
#   QA_DATA_ROOT       the shared data sets (default ../shared/datasets): bench_import
#   QA_PYTHON          the Python of the baselines (default /usr/bin/python3, else python3)
#   QA_BENCH_MODEL_STREAM  "MODEL.qam MARKET.h5" for bench_model_stream (skipped without)
# A benchmark that cannot run here (no data, no Slurm cluster, no NumPy/PyTorch) says why in
# its section and the run goes on; a benchmark that fails is recorded as FAILED, the run goes
# on, and the script exits 1 at the end. Progress goes to stderr.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
cd "$ROOT" || exit 1
case $BUILD in "$ROOT"/*) BUILD=${BUILD#"$ROOT"/} ;; esac # commands read as build/benchmarks/...
if [ ! -d "$BUILD/benchmarks" ]; then
    echo "bench: no $BUILD/benchmarks (build first: make build)" >&2
    exit 2
fi

MACHINE=${QA_BENCH_MACHINE:-cpu-vm}
OUTDIR=${QA_BENCH_OUT:-benchmarks/results}
DATA_ROOT=${QA_DATA_ROOT:-../shared/datasets}
PY=${QA_PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=$(command -v python3 || echo python3)
DAY=$(date -u +%F)
mkdir -p "$OUTDIR" || exit 1
base=$OUTDIR/$DAY-$MACHINE
k=2
while [ -e "$base.jsonl" ] || [ -e "$base.txt" ]; do # never overwrite a committed run
    base=$OUTDIR/$DAY-$MACHINE-$k
    k=$((k + 1))
done
jsonl=$base.jsonl
txt=$base.txt
tmp=$(mktemp -d /tmp/qa_bench.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# ---- the run's identity ---------------------------------------------------------------------
# JSON string body: backslashes and quotes escaped, control characters dropped.
jstr() { printf '%s' "$1" | tr -d '\000-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }

STARTED=$(date -u +%FT%TZ)
CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
[ -n "$CPU" ] || CPU=$(uname -m)
CORES=$(nproc 2>/dev/null || echo 1)
FLAGS=" $(sed -n 's/^flags[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1) "
simd_json="" simd_text=""
for f in avx2 fma avx512f avx512_bf16; do
    case $FLAGS in *" $f "*)
        simd_json="$simd_json${simd_json:+,}\"$f\""
        simd_text="$simd_text${simd_text:++}$(echo "$f" | tr '[:lower:]' '[:upper:]')" ;;
    esac
done
case $FLAGS in *" avx512f "*) ;; *) simd_text="${simd_text:-no AVX2}, no AVX-512" ;; esac
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
[ -n "$GPU" ] || GPU=none
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then COMMIT="$COMMIT-dirty"; fi
LOAD=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
# Fields appended to every record; the command and its own start load are added per command.
run_fields="\"machine\":\"$(jstr "$MACHINE")\",\"date\":\"$STARTED\",\"cpu\":\"$(jstr "$CPU")\",\"simd\":[$simd_json],\"cores\":$CORES,\"gpu\":\"$(jstr "$GPU")\",\"commit\":\"$COMMIT\",\"load\":\"$LOAD\""

gpu_text="no GPU"
[ "$GPU" = none ] || gpu_text="GPU: $GPU"
echo "# $MACHINE, $STARTED, Model name: $CPU, $CORES cores, $simd_text, $gpu_text; commit $COMMIT; load: $LOAD" > "$txt"
: > "$jsonl"
case $LOAD in 0.[0-4]*) ;; *) echo "bench: warning: load average $LOAD at start: the machine is not quiet" >&2 ;; esac
echo "bench: writing $jsonl and $txt ($MACHINE, $CORES cores, $simd_text, $gpu_text, commit $COMMIT)" >&2

# ---- running one command --------------------------------------------------------------------
T0=$(date +%s)
n=0
failed=""
now() { date +%s%N | cut -c1-13; } # milliseconds
elapsed() { s=$(($(date +%s) - T0)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# section CMDLINE: opens a section of the .txt.
section() { printf '## %s\n' "$1" >> "$txt"; }

# skip CMDLINE REASON: a section that says why the command did not run.
skip() {
    n=$((n + 1))
    section "$1"
    echo "# skipped: $2" >> "$txt"
    echo "bench: [$n] $1: skipped ($2)" >&2
}

# run CMD ARGS...: runs it, keeps its output (stdout and stderr) in the .txt and its JSON
# lines, with the identity fields appended, in the .jsonl. Exit 77 = skipped.
run() {
    n=$((n + 1))
    cmdline="$*"
    section "$cmdline"
    cload=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
    echo "bench: [$n] $cmdline (run time so far $(elapsed), load $cload)" >&2
    t=$(now)
    "$@" > "$tmp/out" 2>&1
    rc=$?
    ms=$(($(now) - t))
    cat "$tmp/out" >> "$txt"
    printf '%s,"command":"%s","command_load":"%s"' "$run_fields" "$(jstr "$cmdline")" "$cload" > "$tmp/fields"
    awk -v ff="$tmp/fields" 'BEGIN { getline f < ff }
        /^JSON \{.*\}[ \t\r]*$/ { s = substr($0, 6); sub(/\}[ \t\r]*$/, "", s); print s "," f "}" }' \
        "$tmp/out" >> "$jsonl"
    recs=$(grep -c '^JSON {' "$tmp/out")
    if [ $rc -eq 77 ]; then
        echo "# skipped (exit 77)" >> "$txt"
        state=skipped
    elif [ $rc -ne 0 ]; then
        echo "# FAILED: exit status $rc" >> "$txt"
        failed="$failed $1"
        state="FAILED (exit $rc)"
        tail -n 5 "$tmp/out" | sed 's/^/bench:   | /' >&2
    else
        state=ok
    fi
    echo "bench:     $state in $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s, $recs records" >&2
}

has_py() { "$PY" -c "import $1" > /dev/null 2>&1; }

# ---- the benchmarks ---------------------------------------------------------------------------
for b in "$BUILD"/benchmarks/bench_*; do
    [ -f "$b" ] && [ -x "$b" ] || continue
    case $(basename "$b") in
    bench_import)
        # The pandas baseline reads the same files right after, in the same run.
        if [ -d "$DATA_ROOT/us_equities_daily/stocks" ]; then
            run "$b" "$DATA_ROOT" sp500-daily
            run "$b" "$DATA_ROOT" sp500-daily 512 0 # the uncompressed store (deflate_level 0)
            if has_py pandas; then run "$PY" benchmarks/bench_import_pandas.py "$DATA_ROOT"
            else skip "$PY benchmarks/bench_import_pandas.py $DATA_ROOT" "pandas not importable by $PY (python3-pandas)"; fi
        else skip "$b $DATA_ROOT sp500-daily" "no $DATA_ROOT/us_equities_daily (set QA_DATA_ROOT)"; fi ;;
    bench_model_stream)
        # shellcheck disable=SC2086 # two paths, split on purpose
        if [ -n "${QA_BENCH_MODEL_STREAM:-}" ]; then run "$b" $QA_BENCH_MODEL_STREAM
        else skip "$b MODEL.qam MARKET.h5" "needs a trained LSTM and its market file (QA_BENCH_MODEL_STREAM)"; fi ;;
    bench_slurm)
        if [ -n "${SLURM_CONF:-}" ]; then run "$b"
        else skip "$b" "no Slurm cluster (SLURM_CONF unset; tests/jobs/slurm_cluster.sh start DIR starts one)"; fi ;;
    *) run "$b" ;;
    esac
done

# ---- qa serve under wrk, on its own fixture -------------------------------------------------
if ! command -v wrk > /dev/null 2>&1; then skip "sh benchmarks/bench_api.sh $BUILD/bin/qa $PY" "wrk is not installed (Debian: wrk)"
elif [ ! -x "$BUILD/bin/qa" ]; then skip "sh benchmarks/bench_api.sh $BUILD/bin/qa $PY" "no $BUILD/bin/qa"
else run sh benchmarks/bench_api.sh "$BUILD/bin/qa" "$PY"; fi

# ---- baselines, in the same run -------------------------------------------------------------
threads="1"
[ "$CORES" -gt 1 ] && threads="1 $CORES"
for th in $threads; do
    if has_py numpy; then run "$PY" benchmarks/bench_risk_numpy.py --threads "$th"
    else skip "$PY benchmarks/bench_risk_numpy.py --threads $th" "numpy not importable by $PY (python3-numpy)"; fi
done

sweep_cmd="$PY benchmarks/bench_sweep_numpy.py MARKET.h5"
if ! has_py numpy || ! has_py h5py; then
    skip "$sweep_cmd" "numpy or h5py not importable by $PY (python3-numpy python3-h5py)"
elif [ ! -x "$BUILD/bin/qa" ]; then
    skip "$sweep_cmd" "no $BUILD/bin/qa to generate the market"
elif ! "$BUILD/bin/qa" data generate --symbols 200 --bars 5040 --seed 42 --out "$tmp/market.h5" > "$tmp/gen" 2>&1; then
    skip "$sweep_cmd" "qa data generate failed: $(tail -n 1 "$tmp/gen")"
else
    # The market bench_sweep generates (200 x 5,040, seed 42), in a temporary file.
    run "$PY" benchmarks/bench_sweep_numpy.py "$tmp/market.h5"
fi

if has_py torch; then run "$PY" benchmarks/bench_nn_torch.py --threads "$CORES"
else skip "$PY benchmarks/bench_nn_torch.py --threads $CORES" "torch not importable by $PY (python3-torch)"; fi

if has_py numpy; then run "$PY" benchmarks/bench_rl_numpy.py
else skip "$PY benchmarks/bench_rl_numpy.py" "numpy not importable by $PY (python3-numpy)"; fi
if has_py torch; then run "$PY" benchmarks/bench_rl_torch.py --threads "$CORES"
else skip "$PY benchmarks/bench_rl_torch.py --threads $CORES" "torch not importable by $PY (python3-torch)"; fi

echo "bench: done in $(elapsed): $(wc -l < "$jsonl") records in $jsonl, raw output in $txt" >&2
if [ -n "$failed" ]; then
    echo "bench: FAILED:$failed" >&2
    exit 1
fi
