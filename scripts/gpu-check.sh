#!/bin/sh
# The GPU checks, in one call on a lent device machine (../.library/device/METHOD.md): a
# QA_GPU_ONLY build (common core, kernels, their tests and benchmarks: the device image
# lacks the Debian libraries the rest needs) for the machine's architecture, then
#   1. every ctest labelled gpu (CUDA against the reference, per op; exit 77 = skipped),
#   2. the cross-backend parity table on CUDA with timings (test_backend_ops gpu --perf),
#   3. the kernel benchmarks (each checks CUDA against the reference before timing).
# Logs and the full outputs go under $OUT (the device tool's folder; ./gpu-check-out
# elsewhere); the last lines printed are a short summary. Exit 0 only when the build
# and every test passed and at least one GPU test really ran (not skipped).
# Usage: scripts/gpu-check.sh [build-dir]   (run from the repository root)
set -u
OUT=${OUT:-gpu-check-out}
BUILD=${1:-build-gpu}
mkdir -p "$OUT"
log() { echo "gpu-check: $*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"

if ! nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1; then
    log "no usable GPU (nvidia-smi failed): nothing to check"
    exit 77
fi
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
log "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1); sm_${arch:-?}"
log "nvcc: $(nvcc --version 2>/dev/null | tail -1)"

if ! cmake -S . -B "$BUILD" -DQA_GPU_ONLY=ON -DCMAKE_BUILD_TYPE=Release ${arch:+-DCMAKE_CUDA_ARCHITECTURES=$arch} \
        > "$OUT/configure.log" 2>&1; then
    tail -30 "$OUT/configure.log"
    log "configure FAILED (configure.log)"
    exit 1
fi
if ! cmake --build "$BUILD" -j "$(nproc)" > "$OUT/build.log" 2>&1; then
    grep -E "error" "$OUT/build.log" | head -20
    log "build FAILED (build.log)"
    exit 1
fi
log "build ok"

# 1. every gpu test
(cd "$BUILD" && ctest -L gpu --output-on-failure --timeout 600) > "$OUT/ctest-gpu.log" 2>&1
rc_tests=$?
ran=$(grep -cE "Test +#.* Passed" "$OUT/ctest-gpu.log")
skipped=$(grep -cE "\*\*\*Skipped" "$OUT/ctest-gpu.log")
failed=$(grep -cE "\*\*\*Failed|Exception|Timeout" "$OUT/ctest-gpu.log")
log "gpu tests: $ran passed, $skipped skipped, $failed failed (ctest-gpu.log)"

# 2. the parity table on CUDA, with kernel timings
"$BUILD/tests/kernels/test_backend_ops" gpu --perf > "$OUT/backend_ops.txt" 2>&1
rc_ops=$?
log "test_backend_ops gpu --perf: exit $rc_ops (backend_ops.txt)"

# 3. the kernel benchmarks (CPU and CUDA rows; JSON lines into bench.jsonl)
: > "$OUT/bench.jsonl"
for b in "$BUILD"/benchmarks/bench_*; do
    [ -x "$b" ] || continue
    name=$(basename "$b")
    timeout 600 "$b" > "$OUT/$name.txt" 2>&1
    log "$name: exit $? ($(grep -ci mismatch "$OUT/$name.txt") mismatch lines)"
    sed -n 's/^JSON //p' "$OUT/$name.txt" >> "$OUT/bench.jsonl"
done

tail -25 "$OUT/backend_ops.txt"
grep -E "Test +#" "$OUT/ctest-gpu.log" | tail -25
if [ "$rc_tests" -eq 0 ] && [ "$rc_ops" -eq 0 ] && [ "$ran" -gt 0 ]; then
    log "PASS"
    exit 0
fi
log "FAIL"
exit 1
