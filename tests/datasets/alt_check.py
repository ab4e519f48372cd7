"""Independent checks of `qa alt` for tests/datasets/test_alt.sh, written from the rules in
docs/alt-data.md with Python's csv, html-entity, regex and zoneinfo machinery rather than
from the C code:

  counts SOURCE CSV                 expected import counts (JSON) of one source file
  align DB MARKET SOURCE PREFIX     the /alt/PREFIX_* panels against series recomputed here
  cut DB OUT MARKET T               a copy of DB without the documents available at or after
                                    the close of bar T (for the no-look-ahead test)
  prefix A B T                      panels of market files A and B equal at bars <= T and
                                    different somewhere after T
"""
import csv
import datetime as dt
import gzip
import json
import math
import re
import shutil
import sqlite3
import sys
from zoneinfo import ZoneInfo

import h5py
import numpy as np

NY = ZoneInfo("America/New_York")
UTC = dt.timezone.utc
NS = 1_000_000_000
SERIES = ("count", "sent_mean", "sent_maxabs", "count_z")
csv.field_size_limit(1 << 30)


def opener(path):
    return gzip.open(path, "rt", encoding="utf-8", newline="") if path.endswith(".gz") else open(path, encoding="utf-8", newline="")


def norm_ticker(t):
    t = t.upper().replace(".", "-").replace("/", "-")
    return t if re.fullmatch(r"[A-Z0-9-]+", t) else None


def clean_reuters(s):
    s = s.strip(" \t")
    while True:
        for tail in ("\xa0Video", "| Video", "|"):
            if s.endswith(tail):
                s = s[: -len(tail)].strip(" \t")
                break
        else:
            break
    return re.sub(r" {2,}", ", ", s)


ENTITY = re.compile(r"&(amp|lt|gt|quot|apos);|&#([0-9]{1,7});|&#[xX]([0-9a-fA-F]{1,7});")
NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def decode_entities(s):
    def rep(m):
        if m.group(1):
            return NAMED[m.group(1)]
        cp = int(m.group(2), 10) if m.group(2) else int(m.group(3), 16)
        if 0 < cp <= 0x10FFFF and not (0xD800 <= cp < 0xE000):
            return chr(cp)
        return m.group(0)
    return ENTITY.sub(rep, s)


def has_cashtag(text, ticker):
    body = "".join("[-.]" if c == "-" else re.escape(c) for c in ticker)
    return re.search(r"(?<![A-Za-z0-9$])\$" + body + r"(?![A-Za-z0-9])", text, re.IGNORECASE) is not None


def counts(source, path):
    out = dict(rows=0, documents_new=0, copies=0, duplicates=0, language=0, no_cashtag=0, empty=0)
    docs, links = set(), set()
    with opener(path) as f:
        rd = csv.DictReader(f)
        for r in rd:
            out["rows"] += 1
            r = {k: v.strip(" \t") for k, v in r.items()}
            ticker = norm_ticker(r["ticker"])
            if source == "reuters":
                title, body = clean_reuters(r["title"]), clean_reuters(r["summary"])
                if not title:
                    out["empty"] += 1
                    continue
                key = (r["date"], title, body)
            else:
                if r["lang"] != "en":
                    out["language"] += 1
                    continue
                text = decode_entities(r["text"])
                if not text:
                    out["empty"] += 1
                    continue
                if not has_cashtag(text, ticker):
                    out["no_cashtag"] += 1
                    continue
                key = r["tweet_id"]
            if key not in docs:
                docs.add(key)
                out["documents_new"] += 1
            elif (key, ticker) in links:
                out["duplicates"] += 1
            else:
                out["copies"] += 1
            links.add((key, ticker))
    print(json.dumps(out, sort_keys=True))


# ---- alignment ---------------------------------------------------------------------------

def day_of(ns):
    return dt.datetime.fromtimestamp(ns // NS, UTC).date()


def ny_ns(day, hour, minute):
    return int(dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY).timestamp()) * NS


def early_close(day):
    wd = day.weekday()  # Monday = 0
    if (day.month, day.day) in ((7, 3), (12, 24)):
        return wd <= 3
    if day.month == 11:
        first = dt.date(day.year, 11, 1)
        thanksgiving = first + dt.timedelta(days=(3 - first.weekday()) % 7 + 21)
        return day == thanksgiving + dt.timedelta(days=1)
    return False


def bar_closes(f):
    times = f["time"][:]
    cal = f.attrs["calendar"]
    cal = cal.decode() if isinstance(cal, bytes) else cal
    bar_s = int(f.attrs["bar_seconds"])
    if cal == "NYSE" and bar_s >= 86400:
        return np.array([ny_ns(day_of(t), 13 if early_close(day_of(t)) else 16, 0) for t in times], dtype=np.int64), cal, bar_s
    return times + bar_s * NS, cal, bar_s


def available(event_ns, basis, cal, bar_s):
    if basis == 0:
        return event_ns
    nxt = day_of(event_ns) + dt.timedelta(days=1)
    if cal == "NYSE":
        return ny_ns(nxt, 9, 30)
    return int(dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=UTC).timestamp()) * NS


def docs_by_ticker(db, source):
    con = sqlite3.connect(db)
    out = {}
    for ticker, did, ev, basis, sent in con.execute(
            "SELECT t.ticker, d.id, d.event_ns, d.basis, d.sentiment FROM doc_tickers t JOIN docs d ON d.id = t.doc_id"
            " WHERE d.source = ?", (source,)):
        out.setdefault(ticker, []).append((did, ev, basis, sent))
    con.close()
    return out


def expected(f, db, source, window=20):
    closes, cal, bar_s = bar_closes(f)
    syms = [s.decode().rstrip("\0") for s in f["symbols"][:]]
    px = f["bars/close"][:]
    S, T = px.shape
    exp = {k: np.full((S, T), np.nan) for k in SERIES}
    byt = docs_by_ticker(db, source)
    for i, sym in enumerate(syms):
        docs = sorted((available(ev, b, cal, bar_s), did, sent) for did, ev, b, sent in byt.get(norm_ticker(sym), []))
        bars = [t for t in range(T) if not math.isnan(px[i, t])]
        if not bars:
            continue
        lower = closes[bars[0] - 1] if bars[0] > 0 else closes[0] - bar_s * NS
        k = 0
        while k < len(docs) and docs[k][0] < lower:
            k += 1
        hist, started = [], False
        for t in bars:
            mine = []
            while k < len(docs) and docs[k][0] < closes[t]:
                mine.append(docs[k][2])
                k += 1
            n = len(mine)
            started = started or n > 0
            if not started:  # before the symbol's first document: not covered, no history
                continue
            exp["count"][i, t] = n
            if n:
                exp["sent_mean"][i, t] = sum(mine) / n
                exp["sent_maxabs"][i, t] = max(mine, key=abs)  # first of equal magnitudes, as documented
            if len(hist) >= window:
                w = np.array(hist[-window:])
                sd = w.std(ddof=1)
                if sd > 0:
                    exp["count_z"][i, t] = (n - w.mean()) / sd
            hist.append(n)
    return exp


def compare(name, got, want, rtol=1e-12, atol=1e-12):
    nan_ok = np.array_equal(np.isnan(got), np.isnan(want))
    m = ~np.isnan(want)
    err = np.abs(got[m] - want[m]) - (atol + rtol * np.abs(want[m]))
    worst = float(err.max()) if err.size else -1.0
    if not nan_ok or worst > 0:
        idx = np.argwhere(np.isnan(got) != np.isnan(want))
        print(f"FAIL {name}: NaN pattern equal {nan_ok} (first differences {idx[:3].tolist()}), worst excess {worst}")
        return False
    return True


def align(db, market, source, prefix):
    with h5py.File(market, "r") as f:
        exp = expected(f, db, source)
        ok = True
        for k in SERIES:
            ok &= compare(f"{prefix}_{k}", f[f"alt/{prefix}_{k}"][:], exp[k])
        n = int(np.nansum(exp["count"]))
        attrs = f[f"alt/{prefix}_count"].attrs
        if int(attrs["documents"]) != n:
            print(f"FAIL documents attribute {attrs['documents']} != {n}")
            ok = False
    print(f"{'ok' if ok else 'FAIL'}: {prefix} series of {market} recomputed independently ({n} documents counted)")
    return 0 if ok else 1


def cut(db, out, market, t):
    shutil.copyfile(db, out)
    with h5py.File(market, "r") as f:
        closes, cal, bar_s = bar_closes(f)
    limit = int(closes[t])
    con = sqlite3.connect(out)
    gone = [did for did, ev, b in con.execute("SELECT id, event_ns, basis FROM docs")
            if available(ev, b, cal, bar_s) >= limit]
    con.executemany("DELETE FROM doc_tickers WHERE doc_id = ?", [(d,) for d in gone])
    con.commit()
    con.close()
    print(f"removed {len(gone)} documents available at or after {dt.datetime.fromtimestamp(limit // NS, UTC)}")
    return 0


def prefix_equal(a, b, t):
    ok, later_diff = True, False
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for name in fa["alt"]:
            x, y = fa[f"alt/{name}"][:], fb[f"alt/{name}"][:]
            if not np.array_equal(x[:, : t + 1], y[:, : t + 1], equal_nan=True):
                bad = np.argwhere(~((x[:, : t + 1] == y[:, : t + 1]) | (np.isnan(x[:, : t + 1]) & np.isnan(y[:, : t + 1]))))
                print(f"FAIL {name}: values at or before bar {t} depend on later documents, e.g. {bad[:3].tolist()}")
                ok = False
            if not np.array_equal(x[:, t + 1:], y[:, t + 1:], equal_nan=True):
                later_diff = True
    if not later_diff:
        print("FAIL: removing the later documents changed nothing after the cut (the test would prove nothing)")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "counts":
        counts(*args)
        sys.exit(0)
    if cmd == "align":
        sys.exit(align(*args))
    if cmd == "cut":
        sys.exit(cut(args[0], args[1], args[2], int(args[3])))
    if cmd == "prefix":
        sys.exit(prefix_equal(args[0], args[1], int(args[2])))
    sys.exit(f"unknown command {cmd}")
