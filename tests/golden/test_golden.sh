#!/bin/sh
# Regression test of the redesign (issue 10): the golden runs (run.sh) on the shipped data
# must reproduce, bit for bit, the outputs recorded in reference.sha256 before the change.
# A mismatch names the files that changed; `canon.py DIR --dump FILE` shows their
# canonical text for a diff against a run of the reference commit.
# The optimized CPU paths pick their SIMD width from the CPU (AVX-512 sums and libmvec
# calls round differently from AVX2 ones), and so does OpenBLAS: the reference was
# recorded on an AVX2 CPU, and the runs here cap every dispatcher at that level
# (QA_SIMD=avx2, OPENBLAS_CORETYPE=Haswell) so a CPU with AVX-512 runs the same code. A
# CPU without AVX2+FMA cannot, and the test says so and skips (exit 77).
# The inference predictor's outputs (runs/*/predictions.h5) also depend on the optimisation
# level: at -O0 the `omp simd` reductions and vector math calls are not vectorised, so
# their sums round in another order. For a build type other than RelWithDebInfo, lines
# "# build TYPE: DIGEST  PATH" of the reference replace those files' digests.
# Usage: test_golden.sh QA SOURCE_DIR PYTHON3 [BUILD_TYPE]
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"; BUILD_TYPE="${4:-RelWithDebInfo}"
REF="$SRC/tests/golden/reference.sha256"
W=$(mktemp -d /tmp/qa_test_golden_XXXXXX)
trap 'rm -rf "$W"' EXIT
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "skipped: $PY lacks h5py/numpy"; exit 77; }
want=$(sed -n 's/^# cpu: //p' "$REF")
if ! grep -qw avx2 /proc/cpuinfo || ! grep -qw fma /proc/cpuinfo; then
    echo "skipped: the reference needs an '$want' CPU; this one lacks AVX2/FMA"
    exit 77
fi
export QA_SIMD="$want" OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1
sh "$SRC/tests/golden/run.sh" "$QA" "$SRC" "$W/out" > "$W/run.log" 2>&1 || { cat "$W/run.log"; echo "FAIL: golden runs"; exit 1; }
"$PY" "$SRC/tests/golden/canon.py" "$W/out" > "$W/digest" || { echo "FAIL: canon.py"; exit 1; }
grep -v '^#' "$REF" > "$W/ref"
if [ "$BUILD_TYPE" != RelWithDebInfo ]; then
    sed -n "s/^# build $BUILD_TYPE: //p" "$REF" | while read -r sum path; do
        sed -i "s|^[0-9a-f]*  $path\$|$sum  $path|" "$W/ref"
    done
fi
if diff "$W/ref" "$W/digest" > "$W/diff"; then
    echo "ok: $(wc -l < "$W/ref") output files bit-identical to the reference"
    exit 0
fi
echo "FAIL: outputs differ from the reference (< reference, > this build):"
cat "$W/diff"
exit 1
