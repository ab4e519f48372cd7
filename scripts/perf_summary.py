#!/usr/bin/env python3
"""The summary table of docs/performance.md, generated from one `make bench` run's records
(benchmarks/results/<date>-<machine>.jsonl, written by scripts/bench.sh).

Every number in the table is a field of one record of that file; the footnote of each row
names the records (bench, backend, size) it was read from. SPEC below says, per row, which
records give the 1-thread and the all-cores figures and which baseline record of the same
file gives the comparison (ours / baseline, same thread count). A row whose records are
absent says "not measured in this run"; an all-cores figure more than `cores` times the
1-thread one is flagged "check: superlinear" (more speedup than cores is physically
suspicious: load during the 1-thread run, turbo, or a different code path).

Usage:
  scripts/perf_summary.py RESULTS.jsonl                  print the generated block
  scripts/perf_summary.py RESULTS.jsonl --write PAGE     replace the block in PAGE
  scripts/perf_summary.py [RESULTS.jsonl] --check PAGE   exit 1 with a diff when PAGE's block
                                                         differs from RESULTS (default: the
                                                         file PAGE names as its source)
RESULTS may be `none`: the block then says that no full run is recorded yet.
The block sits between the lines BEGIN and END below; relative paths are read against the
repository root (this script's parent folder's parent).
"""
import difflib
import json
import os
import re
import sys

BEGIN = "<!-- perf-summary:begin -->"
END = "<!-- perf-summary:end -->"
SOURCE = re.compile(r"<!-- perf-summary:source (\S+) -->")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOT_MEASURED = "not measured in this run"

# A record selector: bench name, backend, size (exact, or a regular expression written
# re:...), and optionally unit (when one bench/backend/size has several records). In
# backends, {n} is the run's core count (the `cores` field of the records).
def R(bench, backend, size, unit=None):
    return {"bench": bench, "backend": backend, "size": size, "unit": unit}


RISK = "S=200000 N=500 P=500"
# One row per capability. one / all: the 1-thread and all-cores records (all may be None:
# single-threaded by design, or all_note says what instead). field: the record field shown (items_per_s unless said).
# base: the comparison, (label, 1-thread record, all-cores record); either may be None.
SPEC = [
    dict(cap="backtest engine", prog="bench_backtest", case="SMA-cross grid, 100 sets x 200 symbols x 5,040 bars",
         unit="bar-params/s", one=R("sma_cross_100", "cpu-1t", "100x200x5040"),
         all=R("sma_cross_100", "cpu-{n}t", "100x200x5040")),
    dict(cap="backtest engine", prog="bench_backtest", case="same, 2,000 symbols", unit="bar-params/s",
         one=R("sma_cross_100", "cpu-1t", "100x2000x5040"), all=R("sma_cross_100", "cpu-{n}t", "100x2000x5040")),
    dict(cap="backtest engine", prog="bench_backtest", case="z-score + stops + vol targeting + costs, 100 x 200 x 5,040",
         unit="bar-params/s", one=R("zscore_full_100", "cpu-1t", "100x200x5040"),
         all=R("zscore_full_100", "cpu-{n}t", "100x200x5040")),
    dict(cap="`qa sweep` end to end", prog="bench_sweep", case="SMA grid 100 x 200 x 5,040 (load, hash, chunks, merge, report)",
         unit="bar-params/s", one=R("sweep_sma100", "cpu-1t", "100x200x5040"),
         all=R("sweep_sma100", "cpu-{n}t", "100x200x5040"),
         base=("NumPy vectorbt-style grid (single-threaded)", R("numpy_sma100", "numpy-1t", "100x200x5040"), None)),
    dict(cap="`qa sweep` end to end", prog="bench_sweep", case="same, 2,000 symbols", unit="bar-params/s",
         one=R("sweep_sma100", "cpu-1t", "100x2000x5040"), all=R("sweep_sma100", "cpu-{n}t", "100x2000x5040")),
    dict(cap="`qa sweep` end to end", prog="bench_sweep", case="overnight grid, 1,790 sets x 200 x 5,040", unit="bar-params/s",
         one=R("sweep_overnight", "cpu-1t", "1790x200x5040"), all=R("sweep_overnight", "cpu-{n}t", "1790x200x5040")),
    dict(cap="`qa` start-up", prog="bench_startup", case="`qa --version`: fork + exec to exit, median of 50", unit="s",
         field="median_s", one=R("startup_version", "cpu-1t", "re:\\d+ starts"), all=None),
    dict(cap="features", prog="bench_features", case="default set (20 specs), 500 x 5,040", unit="symbol-bars/s",
         one=R("feature_set", "cpu-1t", "500x5040"), all=R("feature_set", "cpu-{n}t", "500x5040")),
    dict(cap="features", prog="bench_features", case="same, 2,000 x 5,040", unit="symbol-bars/s",
         one=R("feature_set", "cpu-1t", "2000x5040"), all=R("feature_set", "cpu-{n}t", "2000x5040")),
    dict(cap="MLP training step", prog="bench_nn", case="64-256-256-1, GELU, batch 4096", unit="samples/s",
         one=R("mlp_train", "cpu-1t", "b4096 64-256-256-1"), all=R("mlp_train", "cpu-{n}t", "b4096 64-256-256-1"),
         base=("PyTorch CPU", R("mlp_train", "torch-cpu-1t", "b4096 64-256-256-1"),
               R("mlp_train", "torch-cpu-{n}t", "b4096 64-256-256-1"))),
    dict(cap="MLP training step, BF16 GEMMs", prog="bench_nn", case="same, math bf16 (AVX512_BF16), FP32 master weights",
         unit="samples/s", one=R("mlp_train", "cpu-bf16-1t", "b4096 64-256-256-1"),
         all=R("mlp_train", "cpu-bf16-{n}t", "b4096 64-256-256-1"),
         base=("PyTorch CPU, FP32", R("mlp_train", "torch-cpu-1t", "b4096 64-256-256-1"),
               R("mlp_train", "torch-cpu-{n}t", "b4096 64-256-256-1"))),
    dict(cap="LSTM training step", prog="bench_nn", case="L 64, F 32, H 128, batch 256", unit="samples/s",
         one=R("lstm_train", "cpu-1t", "b256 L64 F32 H128"), all=R("lstm_train", "cpu-{n}t", "b256 L64 F32 H128"),
         base=("PyTorch CPU", R("lstm_train", "torch-cpu-1t", "b256 L64 F32 H128"),
               R("lstm_train", "torch-cpu-{n}t", "b256 L64 F32 H128"))),
    dict(cap="`qa train` pipeline", prog="bench_train", case="MLP on the shipped sample, batch 4096", unit="samples/s",
         one=R("train_mlp_64x256x256", "cpu-1t", "batch 4096"), all=R("train_mlp_64x256x256", "cpu-all", "batch 4096")),
    dict(cap="`qa train` pipeline", prog="bench_train", case="LSTM on the shipped sample, batch 256", unit="samples/s",
         one=R("train_lstm_L64_H128", "cpu-1t", "batch 256"), all=R("train_lstm_L64_H128", "cpu-all", "batch 256")),
    dict(cap="inference", prog="bench_nn_infer", case="MLP 64-256-256-1, one row", unit="rows/s",
         one=R("mlp_infer", "cpu-1t", "1 row 64-256-256-1"), all=None),
    dict(cap="inference latency", prog="bench_nn_infer", case="MLP 64-256-256-1, one row, p50", unit="us",
         field="p50_us", one=R("mlp_infer_latency", None, "1 row 64-256-256-1"), all=None),
    dict(cap="risk Monte Carlo, full revaluation (headline)", prog="bench_risk",
         case="portfolio VaR/ES, 200,000 scenarios x 500 assets", unit="scenario x asset revaluations/s",
         one=R("risk_mc_full", "cpu-1t", RISK), all=R("risk_mc_full", "cpu-{n}t", RISK),
         base=("NumPy expm1(eps @ L.T) @ w", R("numpy_mc_full", "numpy-1t", RISK), R("numpy_mc_full", "numpy-{n}t", RISK))),
    dict(cap="risk Monte Carlo, full revaluation", prog="bench_risk", case="per position (500 positions)",
         unit="scenario x position revaluations/s", one=R("risk_mc_full_positions", "cpu-1t", RISK),
         all=R("risk_mc_full_positions", "cpu-{n}t", RISK),
         base=("NumPy", R("numpy_mc_full_positions", "numpy-1t", RISK), R("numpy_mc_full_positions", "numpy-{n}t", RISK))),
    dict(cap="risk Monte Carlo, delta (first order)", prog="bench_risk", case="portfolio, 200,000 scenarios x 500 assets",
         unit="scenarios/s", one=R("risk_mc_delta", "cpu-1t", RISK), all=R("risk_mc_delta", "cpu-{n}t", RISK),
         base=("NumPy", R("numpy_mc_delta", "numpy-1t", RISK), R("numpy_mc_delta", "numpy-{n}t", RISK))),
    dict(cap="risk Monte Carlo, delta (first order)", prog="bench_risk", case="per position (500 positions)",
         unit="scenario x position revaluations/s", one=R("risk_mc_delta_positions", "cpu-1t", RISK),
         all=R("risk_mc_delta_positions", "cpu-{n}t", RISK),
         base=("NumPy", R("numpy_mc_delta_positions", "numpy-1t", RISK),
               R("numpy_mc_delta_positions", "numpy-{n}t", RISK))),
    dict(cap="risk revaluation GEMM", prog="bench_risk", case="200,000 x 500 x 500 (deterministic kernel)",
         unit="scenario x position revaluations/s", one=R("risk_reval_linear", "cpu-1t", RISK),
         all=R("risk_reval_linear", "cpu-{n}t", RISK),
         base=("NumPy/OpenBLAS", R("numpy_reval_linear", "numpy-1t", RISK), R("numpy_reval_linear", "numpy-{n}t", RISK))),
    dict(cap="option book", prog="bench_risk", case="200 Black-Scholes options x 200,000 scenarios",
         unit="option valuations/s", one=R("risk_reval_options", "cpu-1t", "S=200000 options=200"),
         all=R("risk_reval_options", "cpu-{n}t", "S=200000 options=200")),
    dict(cap="`qa stress` end to end", prog="bench_stress", case="linear book, Monte Carlo (bench_stress defaults)",
         unit="as the record's unit", one=R("stress_e2e_linear", "cpu-1t-1r", r"re:\d+x\d+"),
         all=R("stress_e2e_linear", "cpu-{n}t-1r", r"re:\d+x\d+")),
    dict(cap="`qa stress` end to end", prog="bench_stress", case="option book, Monte Carlo (bench_stress defaults)",
         unit="as the record's unit", one=R("stress_e2e_options", "cpu-1t-1r", r"re:\d+x\d+ opt"),
         all=R("stress_e2e_options", "cpu-{n}t-1r", r"re:\d+x\d+ opt")),
    dict(cap="RL environment step", prog="bench_rlenv", case="single asset, 4,096 envs x 2,520 steps, no observation",
         unit="env-steps/s", one=R("rlenv_step", "cpu-1t", "N=4096,steps=2520"),
         all=R("rlenv_step", "cpu-{n}t", "N=4096,steps=2520"),
         base=("NumPy vectorised env (single-threaded)", R("numpy_rlenv_step", "numpy-1t", "re:N=4096 steps=2520 .*"),
               None)),
    dict(cap="RL environment step + observation", prog="bench_rlenv",
         case="same, writing the observations (35 floats; NumPy's 33)", unit="env-steps/s",
         one=R("rlenv_step_obs", "cpu-1t", "N=4096,steps=2520"), all=R("rlenv_step_obs", "cpu-{n}t", "N=4096,steps=2520"),
         base=("NumPy vectorised env (single-threaded)", R("numpy_rlenv_step_obs", "numpy-1t", "re:N=4096 steps=2520 .*"),
               None)),
    dict(cap="PPO training", prog="bench_rl", case="64 envs x 128 steps, 35-64-64 actor and critic, 4 epochs x 4 minibatches",
         unit="samples/s", one=R("ppo_train", "cpu-1t", "64x128,35-64-64"), all=R("ppo_train", "cpu-{n}t", "64x128,35-64-64"),
         base=("PyTorch, CleanRL-style PPO on the NumPy env", R("torch_ppo_train", "torch-cpu-1t", "re:envs=64 steps=128 D=35 .*"),
               R("torch_ppo_train", "torch-cpu-{n}t", "re:envs=64 steps=128 D=35 .*"))),
    dict(cap="event-driven simulator", prog="bench_simulate", case="SMA, weight 0.5, market-on-close, 100 x 5,040",
         unit="symbol-bars/s", one=R("sim_sma_w0.5_moc", "cpu-1t", "100x5040", unit="symbol-bars"), all=None),
    dict(cap="Philox normals", prog="bench_rng", case="normal f64, n = 33,554,432", unit="numbers/s",
         one=R("rng_normal_f64", "cpu-1t", "n=33554432"), all=R("rng_normal_f64", "cpu-{n}t", "n=33554432")),
    dict(cap="NaN-aware moments", prog="bench_reduce", case="512 x 65,536 doubles", unit="values/s",
         one=R("reduce_moments", "cpu-1t", "512x65536"), all=R("reduce_moments", "cpu-{n}t", "512x65536")),
    dict(cap="import", prog="bench_import", case="S&P 500 daily, 502 gzipped CSV files", unit="rows/s",
         one=R("sp500-daily", "1r x 1t", "re:.*"), all=R("sp500-daily", "1r x {n}t", "re:.*"),
         base=("pandas.read_csv of the same files (parsing only)", R("pandas_read_csv", "pandas-1t", "re:.*"), None)),
    dict(cap="import, uncompressed store", prog="bench_import", case="the same, `deflate_level: 0` (3.2x the file)",
         unit="rows/s", one=R("sp500-daily", "1r x 1t deflate 0", "re:.*"), all=R("sp500-daily", "1r x {n}t deflate 0", "re:.*"),
         base=("pandas.read_csv of the same files (parsing only)", R("pandas_read_csv", "pandas-1t", "re:.*"), None)),
    dict(cap="store read, uncompressed", prog="bench_store", case="512 x 20,000, time blocks (page cache)",
         unit="GB/s", field="gb_per_s", one=R("read time-blocks z0", "mpi-1", "512x20000"), all=None,
         base=("`cat` of the same file (the ceiling)", R("cat (ceiling) z0", "1 proc", "512x20000"), None)),
    dict(cap="store read, uncompressed", prog="bench_store", case="512 x 20,000, symbol blocks", unit="GB/s",
         field="gb_per_s", one=R("read symbol-blocks z0", "mpi-1", "512x20000"), all=None,
         base=("`cat` of the same file (the ceiling)", R("cat (ceiling) z0", "1 proc", "512x20000"), None)),
    dict(cap="store read, deflate 4", prog="bench_store", case="512 x 20,000, time blocks", unit="GB/s",
         field="gb_per_s", one=R("read time-blocks z4", "mpi-1", "512x20000"), all=None),
    dict(cap="alternative data", prog="bench_alt", case="VADER on the StockNet tweets", unit="texts/s",
         one=R("alt_vader", "cpu-1t", "119844 tweets"), all=None),
    dict(cap="`qa replay`", prog="bench_live", case="500 symbols x 400 bars into the mock cluster", unit="messages/s",
         one=R("live_replay", "mock-3", "S=500,T=400"), all=None),
    dict(cap="`qa live` from a backlog", prog="bench_live", case="500 symbols x 400 bars", unit="bars/s",
         one=R("live_service", "mock-3", "S=500,T=400"), all=None),
    dict(cap="order manager, durable", prog="bench_exec",
         case="50 symbols, each timestamp a parent, a child and a cancel per symbol; orders.db and venue fsync'd",
         unit="orders/s", one=R("exec_oms", "cpu-1t", "S=50,T=200,sync=full,fs=disk"), all=None),
    dict(cap="signal -> order on the wire", prog="bench_exec", case="1 symbol, in process, fsync'd write-ahead",
         unit="us p99", field="wire_p99_us", one=R("exec_oms", "cpu-1t", "S=1,T=400,sync=full,fs=disk"), all=None),
    dict(cap="signal -> order on the wire, the stage's own", prog="bench_exec",
         case="1 symbol, in process, journal written (no fdatasync), tmpfs; less the paper venue's work",
         unit="us p99", field="own_p99_us", one=R("exec_oms", "cpu-1t", "S=1,T=400,sync=normal,fs=tmpfs"), all=None),
    dict(cap="signal -> order through the bus", prog="bench_live", case="50 symbols at 10 timestamps/s, first child on `orders`",
         unit="ms p99", field="p99_ms", one=R("live_e2e_orders", "mock-3", "S=50,rate=10/s"), all=None),
    dict(cap="FIX 4.4 round trip", prog="bench_exec", case="NewOrderSingle -> ExecutionReport, loopback, venue fsync'd",
         unit="us p50", field="submit_p50_us", one=R("exec_fix_rtt", "loopback", "N=2000,venue=full"), all=None),
    dict(cap="API: run list", prog="bench_api.sh", case="GET /api/runs under wrk, 32 connections, token verified",
         unit="requests/s", one=R("api_json", "cpu", "GET /api/runs, 32 conns, auth on"), all=None, all_note="(wrk and server share the 2 cores)"),
    dict(cap="API: live desk state", prog="bench_api.sh", case="GET /api/live/state under wrk, 32 connections",
         unit="ms p99", field="p99_ms", one=R("api_json", "cpu", "GET /api/live/state, 32 conns, auth on"), all=None, all_note="(wrk and server share the 2 cores)"),
    dict(cap="API: event stream fan-out", prog="bench_sse.py", case="100 streams, one kill-switch change",
         unit="ms p99", field="p99_ms", one=R("api_sse", "cpu", "100 streams, one change"), all=None, all_note="(wrk and server share the 2 cores)"),
]


def fmt(v):
    """Three significant figures, exponents as 5.62e8."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return str(v)
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-2):
        m, e = f"{v:.2e}".split("e")
        return f"{m}e{int(e)}"
    return f"{v:.3g}"


def load(path):
    recs = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"perf_summary: {path}:{i}: not JSON: {e}")
    return recs


def matches(sel, n, r):
    if r.get("bench") != sel["bench"]:
        return False
    backend = sel["backend"].replace("{n}", str(n)) if sel["backend"] else None
    if r.get("backend") != backend:
        return False
    if sel["unit"] is not None and r.get("unit") != sel["unit"]:
        return False
    size = sel["size"]
    if size.startswith("re:"):
        return re.fullmatch(size[3:], str(r.get("size", ""))) is not None
    return r.get("size") == size


class Pick:
    """The record a selector finds: value, reference text, or why there is none."""

    def __init__(self, sel, n, recs, field):
        self.sel, self.value, self.ref, self.why = sel, None, None, None
        if sel is None:
            return
        found = [r for r in recs if matches(sel, n, r)]
        if not found:
            self.why = NOT_MEASURED
        elif len(found) > 1:
            self.why = f"ambiguous: {len(found)} records match"
        elif not isinstance(found[0].get(field), (int, float)):
            self.why = f"record has no {field}"
        else:
            r = found[0]
            self.value = r[field]
            self.ref = f"`{r['bench']}` · `{r.get('backend', '-')}` · `{r.get('size', '-')}`"
            self.unit = r.get("unit")


def identity(recs):
    """One line naming the run: the identity fields bench.sh appends to every record."""
    def values(k):
        out = []
        for r in recs:
            v = r.get(k)
            v = "+".join(v) if isinstance(v, list) else v
            if v is not None and v not in out:
                out.append(v)
        return out or ["unknown"]

    simd = values("simd")
    simd_text = " / ".join(s.upper() if s else "none of AVX2, FMA, AVX-512" for s in map(str, simd))
    return (f"machine **{', '.join(map(str, values('machine')))}**: {', '.join(map(str, values('cpu')))}, "
            f"{', '.join(map(str, values('cores')))} cores, SIMD flags {simd_text}"
            f"{'' if any('AVX512F' in s.upper() for s in map(str, simd)) else ' (no AVX-512)'}, "
            f"GPU {', '.join(map(str, values('gpu')))}; run started {', '.join(map(str, values('date')))}, "
            f"commit {', '.join(map(str, values('commit')))}, load average at the start "
            f"{', '.join(map(str, values('load')))}")


def generate(src, recs):
    """The block between the markers (markers included)."""
    out = [BEGIN, f"<!-- perf-summary:source {src} -->",
           "<!-- generated by scripts/perf_summary.py from the source above: do not edit; "
           "regenerate with --write -->", ""]
    if not recs:
        out += [f"**No full benchmark run recorded yet** (source: {src}). `make bench` writes "
                "`benchmarks/results/<date>-<machine>.jsonl`; commit it, then run "
                "`scripts/perf_summary.py benchmarks/results/<date>-<machine>.jsonl --write docs/performance.md`. "
                "Until then the figures on this page are the per-area sections below, each with its raw file, "
                "and the hand-transcribed history in [performance-history.md](performance-history.md).", "", END]
        return "\n".join(out) + "\n"
    cores = [r["cores"] for r in recs if isinstance(r.get("cores"), int)]
    n = max(cores) if cores else 2
    out += [f"Source: [`{src}`]({os.path.relpath(os.path.join(ROOT, src), os.path.join(ROOT, 'docs'))}), "
            f"{len(recs)} records; {identity(recs)}.", "",
            f"| capability | benchmark | case | unit | 1 thread | {n} threads | comparison (ours / baseline, "
            f"same threads) | records |",
            "| --- | --- | --- | --- | ---: | ---: | --- | --- |"]
    notes, flags, measured = [], [], 0
    for i, row in enumerate(SPEC, 1):
        field = row.get("field", "items_per_s")
        one, alln = Pick(row["one"], n, recs, field), Pick(row.get("all"), n, recs, field)
        label, b1s, bns = row.get("base") or (None, None, None)
        b1, bn = Pick(b1s, n, recs, field), Pick(bns, n, recs, field)
        measured += one.value is not None or alln.value is not None
        higher_better = field != "p50_us"

        def cell(p):
            return fmt(p.value) if p.value is not None else (p.why or "")

        c1 = cell(one)
        cn = cell(alln) if row.get("all") else row.get("all_note", "(one thread by design)")
        if one.value and alln.value and higher_better:
            s = alln.value / one.value
            cn += f" ({s:.2f}x)"
            if s > n:
                cn += f" **check: superlinear** ({s:.2f}x on {n} cores)"
                flags.append(f"row {i} ({row['cap']}, {row['case']}): {s:.2f}x from 1 to {n} threads")
        comp = ""
        if label:
            parts = []
            for tag, ours, base in (("1 t", one, b1), (f"{n} t", alln, bn)):
                if base.sel is None:
                    continue
                if base.value is None:
                    parts.append(f"{tag}: baseline {base.why}")
                elif ours.value is None:
                    parts.append(f"{tag}: baseline {fmt(base.value)}, ours {ours.why}")
                else:
                    parts.append(f"{tag}: {fmt(ours.value / base.value)}x of {fmt(base.value)}")
            comp = f"{label}: " + "; ".join(parts)
            if b1.value and bn.value and higher_better and bn.value / b1.value > n:
                flags.append(f"row {i} baseline ({label}): {bn.value / b1.value:.2f}x from 1 to {n} threads")
        refs = [f"1 t {p.ref}" if k == 0 else f"{n} t {p.ref}" if k == 1 else f"baseline 1 t {p.ref}"
                if k == 2 else f"baseline {n} t {p.ref}"
                for k, p in enumerate((one, alln, b1, bn)) if p.ref]
        unit = row["unit"]
        if unit == "as the record's unit":
            unit = next((p.unit for p in (one, alln) if p.ref), "(record's unit)") + "/s"
        out.append(f"| {row['cap']} | `{row['prog']}` | {row['case']} | {unit} | {c1} | {cn} | {comp} | "
                   f"[{i}](#perf-ref-{i}) |")
        notes.append(f"{i}. <a id=\"perf-ref-{i}\"></a>" + ("; ".join(refs) if refs else "no record in this run"))
    out += ["", f"{measured} of {len(SPEC)} rows measured in this run. Records (bench · backend · size in the "
            "source file) behind each row's figures:", ""] + notes + [""]
    if flags:
        out += ["Check: more speedup than cores (superlinear), physically suspicious on this machine; "
                "re-measure before quoting:", ""] + [f"- {f}" for f in flags] + [""]
    else:
        out += [f"No 1 -> {n} thread pair scales by more than {n}x.", ""]
    out.append(END)
    return "\n".join(out) + "\n"


def split_page(text, page):
    b, e = text.find(BEGIN), text.find(END)
    if b < 0 or e < b:
        sys.exit(f"perf_summary: {page} has no {BEGIN} ... {END} block")
    e += len(END)
    if text[e:e + 1] == "\n":
        e += 1
    return text[:b], text[b:e], text[e:]


def main(argv):
    args, mode, page = [], None, None
    i = 0
    while i < len(argv):
        if argv[i] in ("--write", "--check") and i + 1 < len(argv):
            mode, page = argv[i][2:], argv[i + 1]
            i += 2
        elif argv[i] in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            args.append(argv[i])
            i += 1
    if len(args) > 1 or (not args and mode != "check"):
        sys.stderr.write(__doc__)
        return 2
    text = None
    if page:
        with open(page, encoding="utf-8") as f:
            text = f.read()
    if args:
        src = args[0]
    else:  # --check against the source the page names
        m = SOURCE.search(split_page(text, page)[1])
        if not m:
            sys.exit(f"perf_summary: {page}'s block names no source")
        src = m.group(1)
    if src == "none":
        recs = []
    else:
        path = src if os.path.isabs(src) or (args and os.path.exists(src)) else os.path.join(ROOT, src)
        if not os.path.exists(path):
            sys.exit(f"perf_summary: {src}: no such file (give `none` for a page without a run)")
        recs = load(path)
        rel = os.path.relpath(os.path.abspath(path), ROOT)
        src = rel if not rel.startswith("..") else os.path.abspath(path)
    block = generate(src, recs)
    if mode is None:
        sys.stdout.write(block)
        return 0
    head, old, tail = split_page(text, page)
    if mode == "write":
        if old != block:
            with open(page, "w", encoding="utf-8") as f:
                f.write(head + block + tail)
        print(f"perf_summary: {page}: summary from {src} ({len(recs)} records)")
        return 0
    if old == block:
        print(f"perf_summary: {page} matches {src}")
        return 0
    sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), block.splitlines(True),
                                               f"{page} (page)", f"{page} (generated from {src})"))
    print(f"perf_summary: {page} differs from {src}: regenerate with scripts/perf_summary.py {src} --write {page}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
