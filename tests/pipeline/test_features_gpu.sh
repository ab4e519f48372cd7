#!/bin/sh
# qa features on the GPU equals the CPU within docs/features.md's tolerance (skipped, exit
# 77, where no GPU is usable).
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"
. "$SRC/tests/lib.sh"
qa_need_gpu
qa_tmpdir features_gpu
qa_import sp500-daily "$W/a.h5"
cp "$W/a.h5" "$W/b.h5"
"$QA" -q features --data "$W/a.h5" --backend cpu || exit 1
"$QA" -q features --data "$W/b.h5" --backend cuda || exit 1
"$PY" - "$W/a.h5" "$W/b.h5" <<'PYEOF'
import sys, numpy as np, h5py
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
worst = 0
for k in a["features"]:
    x, y = a["features/" + k][:], b["features/" + k][:]
    assert (np.isnan(x) == np.isnan(y)).all(), k
    m = ~np.isnan(x)
    err = np.abs(x[m] - y[m]) / (1e-9 + 1e-9 * np.abs(x[m]))
    worst = max(worst, err.max(initial=0))
    assert (np.abs(x[m] - y[m]) <= 1e-9 + 1e-9 * np.abs(x[m])).all(), k
print("gpu == cpu within |d| <= 1e-9 + 1e-9|x|; worst ratio", worst)
PYEOF
