#!/usr/bin/python3
"""Market stores compared bit for bit through h5py, a reader outside QuantumAlpha (its
libhdf5 runs the shuffle and deflate filters), for the store's direct chunk writes
(datasets/store.c, write_direct).

  store_compare.py A.h5 B.h5
      every dataset of A and B holds the same values (floats compared as uint64 views, so
      that NaN payloads and -0 count) and every chunk of a chunked dataset is allocated in
      both, with the same filter mask, and holds the same bytes once inflated (the DEFLATE
      streams themselves differ: libdeflate in the store, zlib in libhdf5);
  store_compare.py --values A.h5 WANT.bin NAME...
      panels NAME... of A, in order, hold the float64 values of WANT.bin (native order,
      row-major, one panel after another), bit for bit.

Exit 0 when equal, 1 when not (the first difference printed), 77 without h5py."""
import sys
import zlib

try:
    import h5py
    import numpy as np
except ImportError:
    print("skipped: no h5py/numpy")
    sys.exit(77)


def bits(a):
    return a.view(np.uint64) if a.dtype.kind == "f" and a.dtype.itemsize == 8 else a


def first_diff(x, y):
    idx = np.argwhere(x != y)
    return tuple(int(i) for i in idx[0]) if len(idx) else None


def datasets(f):
    names = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return sorted(names)


def compare_files(pa, pb):
    bad = 0
    with h5py.File(pa, "r") as a, h5py.File(pb, "r") as b:
        na, nb = datasets(a), datasets(b)
        if na != nb:
            print(f"FAIL: datasets differ: {na} vs {nb}")
            return 1
        for n in na:
            x, y = a[n][()], b[n][()]
            if x.shape != y.shape or x.dtype != y.dtype:
                print(f"FAIL: {n}: {x.shape} {x.dtype} vs {y.shape} {y.dtype}")
                bad += 1
                continue
            if x.shape and not np.array_equal(bits(x), bits(y)):
                d = first_diff(bits(x), bits(y))
                print(f"FAIL: {n}: values differ, first at {d}: {x[d]!r} vs {y[d]!r}")
                bad += 1
                continue
            nchunk, nbytes = 0, 0
            if a[n].chunks:
                ia, ib = a[n].id, b[n].id
                offs = {tuple(ia.get_chunk_info(i).chunk_offset) for i in range(ia.get_num_chunks())}
                offs_b = {tuple(ib.get_chunk_info(i).chunk_offset) for i in range(ib.get_num_chunks())}
                if offs != offs_b:
                    print(f"FAIL: {n}: allocated chunks differ")
                    bad += 1
                    continue
                for o in sorted(offs):
                    ca, cb = ia.read_direct_chunk(o), ib.read_direct_chunk(o)
                    if ca[0] != cb[0] or zlib.decompress(ca[1]) != zlib.decompress(cb[1]):
                        print(f"FAIL: {n}: chunk {o} stored differently (mask, bytes {ca[0]}, {len(ca[1])} "
                              f"vs {cb[0]}, {len(cb[1])})")
                        bad += 1
                        break
                    nchunk, nbytes = nchunk + 1, nbytes + len(ca[1])
            print(f"ok: {n} {x.shape} identical bits" + (f", {nchunk} chunks identical once inflated ({nbytes} "
                                                         "stored bytes)" if nchunk else ""))
    return 1 if bad else 0


def compare_values(path, want_path, names):
    with h5py.File(path, "r") as f:
        want = np.fromfile(want_path, dtype=np.float64)
        pos, bad = 0, 0
        for n in names:
            x = f[n][()]
            w = want[pos:pos + x.size].reshape(x.shape)
            pos += x.size
            if w.shape != x.shape or not np.array_equal(bits(x), bits(w)):
                d = first_diff(bits(x), bits(w)) if w.shape == x.shape else None
                print(f"FAIL: {n}: h5py reads other bits, first at {d}")
                bad += 1
            else:
                print(f"ok: h5py reads {n} {x.shape} bit for bit "
                      f"({int(np.isnan(x).sum())} NaN, {int(np.signbit(x[x == 0]).sum())} -0, "
                      f"{int(np.isinf(x).sum())} Inf)")
        if pos != want.size:
            print(f"FAIL: {want_path} holds {want.size} values, the panels {pos}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--values":
        sys.exit(compare_values(sys.argv[2], sys.argv[3], sys.argv[4:]))
    if len(sys.argv) == 3:
        sys.exit(compare_files(sys.argv[1], sys.argv[2]))
    print(__doc__)
    sys.exit(2)
