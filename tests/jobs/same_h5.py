"""Exit 0 when two HDF5 files hold the same datasets with identical values (NaN equal NaN)."""
import sys

import h5py
import numpy as np


def datasets(group, out, prefix=""):
    for name, item in group.items():
        if isinstance(item, h5py.Group):
            datasets(item, out, prefix + name + "/")
        else:
            out[prefix + name] = item[()]


a, b = {}, {}
datasets(h5py.File(sys.argv[1], "r"), a)
datasets(h5py.File(sys.argv[2], "r"), b)
if a.keys() != b.keys():
    sys.exit(f"different datasets: {sorted(set(a) ^ set(b))}")
for k in a:
    x, y = a[k], b[k]
    same = np.array_equal(x, y, equal_nan=True) if np.asarray(x).dtype.kind == "f" else np.array_equal(x, y)
    if not same:
        sys.exit(f"dataset {k} differs")
print(f"{len(a)} datasets identical")
