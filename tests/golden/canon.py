#!/usr/bin/env python3
"""Canonical digest of a golden run directory (tests/golden/run.sh).

Prints one line per output file, "sha256  relative/path", over a canonical form that keeps
every number bit for bit and drops only what legitimately changes between two runs of the
same code on the same inputs: wall-clock times and rates, timestamps, the git commit, the
host name and the temporary directory the run used. Anything else that differs (a value,
a dataset, a key, a model weight) changes the digest.

Usage: canon.py RUN_DIR            digests on stdout
       canon.py RUN_DIR --dump F   also writes the canonical text of file F (for diffs)
"""
import hashlib
import json
import os
import re
import struct
import sys

import h5py
import numpy as np

# Keys whose values are clocks, rates or build identity, never results.
VOLATILE_KEYS = {
    "seconds", "mc_seconds", "loop_seconds", "start_unix", "end_unix", "created", "git",
    "host", "run_id", "model_sha256", "libraries", "build", "evals_per_s", "samples_per_s", "mc_revaluations_per_s", "steps_per_s",
    "wall_seconds", "elapsed", "elapsed_s", "rows_per_s", "symbol_bars_per_s",
    "bars_per_s", "orders_per_s", "throughput", "time_s", "ms", "t_ms", "peak_rss_mb",
}
# Wall-clock stamps ("2026-12-06T14:07:27Z"); market dates never carry a time of day in Z.
WALL_CLOCK = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
VOLATILE_SUFFIXES = ("_seconds", "_per_s", "_unix", "_s")
# Files that are reports or logs (derived from the digested results, or full of timings).
# .lock: the run directory's lock file holds the pid of the last run (pipeline/run/rundir.h).
SKIP_SUFFIXES = (".html", ".log", ".yaml", ".lock")


def volatile(key):
    return key in VOLATILE_KEYS or key.endswith(VOLATILE_SUFFIXES)


# The build's git commit inside a text ("qa 0.1.0, git 02527ae354-dirty").
GIT_REF = re.compile(r"\bgit [0-9a-f]{7,40}(-dirty)?")


def norm_str(s, root):
    return GIT_REF.sub("git <GIT>", s.replace(root, "<RUN>"))


def canon_json(v, root):
    """JSON value with volatile keys removed and floats written exactly (repr)."""
    if isinstance(v, dict):
        return {k: canon_json(x, root) for k, x in sorted(v.items())
                if not volatile(k) and not (isinstance(x, str) and WALL_CLOCK.match(x))}
    if isinstance(v, list):
        return [canon_json(x, root) for x in v]
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return norm_str(v, root)
    return v


def dump_json_text(text, root):
    return json.dumps(canon_json(json.loads(text), root), sort_keys=True, indent=1)


def attr_text(v, root):
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, str):
        return norm_str(v, root)
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "SO":
            return repr([norm_str(x.decode() if isinstance(x, bytes) else str(x), root) for x in v.ravel()])
        return v.dtype.str + repr(v.shape) + hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
    if isinstance(v, (np.floating, float)):
        return repr(float(v))
    return repr(v)


def dump_h5(path, root):
    lines = []

    def visit(name, obj):
        for k in sorted(obj.attrs.keys()):
            if volatile(k):
                continue
            lines.append("attr %s@%s = %s" % (name, k, attr_text(obj.attrs[k], root)))
        if isinstance(obj, h5py.Dataset):
            data = obj[()]
            if isinstance(data, np.ndarray) and data.dtype.kind in "SO":
                vals = [x.decode() if isinstance(x, bytes) else str(x) for x in data.ravel()]
                lines.append("data %s %s %s" % (name, data.shape, hashlib.sha256(
                    norm_str("\n".join(vals), root).encode()).hexdigest()))
            elif isinstance(data, np.ndarray):
                lines.append("data %s %s %s %s" % (name, data.dtype.str, data.shape,
                             hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()))
            else:
                lines.append("data %s scalar %s" % (name, attr_text(data, root)))

    with h5py.File(path, "r") as f:
        visit("/", f)
        f.visititems(visit)
    return "\n".join(lines)


def dump_model(path, root):
    """.qam/.qac container: canonical JSON header plus the SHA-256 of the float32 blobs."""
    with open(path, "rb") as f:
        raw = f.read()
    jlen, blen = struct.unpack_from("<QQ", raw, 16)
    header = raw[:16].hex()
    meta = dump_json_text(raw[32:32 + jlen].decode("utf-8"), root)
    blobs = hashlib.sha256(raw[32 + jlen:32 + jlen + blen]).hexdigest()
    return "%s\n%s\nblobs %d %s" % (header, meta, blen, blobs)


def dump_text(path, root):
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        text = norm_str(f.read(), root)
    # Wall-clock figures printed by the CLI ("in 0.42 s", "1.2e8 evals/s") are not results.
    text = re.sub(r"[0-9.eE+-]+ ?(s|ms|us|evals/s|rows/s|samples/s|/s)\b", "<T>", text)
    return text


def dump_file(path, root):
    if path.endswith(".h5"):
        return dump_h5(path, root)
    if path.endswith((".qam", ".qac")):
        return dump_model(path, root)
    if path.endswith(".json"):
        with open(path) as f:
            return dump_json_text(f.read(), root)
    if path.endswith(".jsonl"):
        with open(path) as f:
            return "\n".join(dump_json_text(l, root) for l in f if l.strip())
    return dump_text(path, root)


def main():
    root = os.path.realpath(sys.argv[1])
    dump = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--dump" else None
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if name.endswith(SKIP_SUFFIXES) or "/chunks/" in "/" + rel:
                continue
            text = dump_file(path, root)
            if dump and rel == dump:
                sys.stdout.write(text + "\n")
                return
            if not dump:
                print("%s  %s" % (hashlib.sha256(text.encode()).hexdigest(), rel))


if __name__ == "__main__":
    main()
