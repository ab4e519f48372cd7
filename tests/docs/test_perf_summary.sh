#!/bin/sh
# docs/performance.md's generated summary and its generator, scripts/perf_summary.py:
#  1. the committed page equals what the generator makes of the results file the page names;
#  2. on a synthetic run whose figures are worked out by hand here: values, speedups,
#     ratios to the baseline (same thread count), the superlinear flag, rows without
#     records, footnotes naming the records; --check passes on the written page and fails,
#     with a diff, once a figure on the page is changed;
#  3. a page without a run (`none`), a page without markers, an absent results file;
#  4. records taken from committed raw results (benchmarks/results/*.txt).
# Usage: test_perf_summary.sh SRC PYTHON3     (exit 77 without python3)
SRC=$1
PY=$2
if [ -z "$PY" ] || [ ! -x "$PY" ]; then
    echo "skipped: no python3 (${PY:-unset})"
    exit 77
fi
QA=true # lib.sh wants the qa binary; this test uses none of the helpers that run it
. "$SRC/tests/lib.sh"
qa_tmpdir perf_summary
gen() { "$PY" "$SRC/scripts/perf_summary.py" "$@"; }
# has FILE TEXT WHAT: ok when FILE contains TEXT (fixed string), else fail and show FILE.
has() {
    if grep -qF -- "$2" "$1"; then ok "$3"
    else
        ko "$3: no '$2' in $1"
        sed 's/^/  | /' "$1" | head -n 60
    fi
}

# 1. The committed page.
if gen --check "$SRC/docs/performance.md" > "$W/page.out" 2>&1; then ok "docs/performance.md matches its source"
else
    ko "docs/performance.md differs from its source"
    cat "$W/page.out"
fi

# 2. A synthetic run on 2 cores. By hand: risk_mc_full 1.5e8 / 6.0e7 = 2.50x from 1 to 2
# threads (> 2 cores: superlinear); against NumPy 6.0e7 / 2.0e7 = 3x, 1.5e8 / 2.4e7 = 6.25x.
# sma_cross_100 1.1e9 / 5.6e8 = 1.96x (not flagged); a record of another size is ignored;
# features: no record.
id='"machine":"test-vm","date":"2026-12-07T00:00:00Z","cpu":"Test CPU","simd":["avx2","fma"],"cores":2,"gpu":"none","commit":"0000000","load":"0.01 0.02 0.03"'
risk='"size":"S=200000 N=500 P=500","unit":"scenario x asset revaluations"'
{
    echo "{\"bench\":\"risk_mc_full\",\"backend\":\"cpu-1t\",$risk,\"items_per_s\":6.0e7,$id}"
    echo "{\"bench\":\"risk_mc_full\",\"backend\":\"cpu-2t\",$risk,\"items_per_s\":1.5e8,$id}"
    echo "{\"bench\":\"numpy_mc_full\",\"backend\":\"numpy-1t\",$risk,\"items_per_s\":2.0e7,$id}"
    echo "{\"bench\":\"numpy_mc_full\",\"backend\":\"numpy-2t\",$risk,\"items_per_s\":2.4e7,$id}"
    echo "{\"bench\":\"sma_cross_100\",\"backend\":\"cpu-1t\",\"size\":\"100x200x5040\",\"items_per_s\":5.6e8,$id}"
    echo "{\"bench\":\"sma_cross_100\",\"backend\":\"cpu-2t\",\"size\":\"100x200x5040\",\"items_per_s\":1.1e9,$id}"
    echo "{\"bench\":\"sma_cross_100\",\"backend\":\"cpu-2t\",\"size\":\"100x200x999\",\"items_per_s\":1.0,$id}"
} > "$W/run.jsonl"
printf '# Page\n\nbefore\n\n<!-- perf-summary:begin -->\nold text\n<!-- perf-summary:end -->\n\nafter\n' > "$W/page.md"
if gen "$W/run.jsonl" --write "$W/page.md" > "$W/write.out" 2>&1; then ok "--write"
else
    ko "--write"
    cat "$W/write.out"
fi
has "$W/page.md" "| 6.00e7 | 1.50e8 (2.50x) **check: superlinear** (2.50x on 2 cores) |" "risk row: figures, speedup, flag"
has "$W/page.md" "1 t: 3x of 2.00e7; 2 t: 6.25x of 2.40e7" "risk row: ours / NumPy at the same thread count"
has "$W/page.md" "| 5.60e8 | 1.10e9 (1.96x) |" "backtest row: not flagged below 2x"
has "$W/page.md" "| default set (20 specs), 500 x 5,040 | symbol-bars/s | not measured in this run | not measured in this run |" \
    "a row without records"
has "$W/page.md" '2 t `risk_mc_full` · `cpu-2t` · `S=200000 N=500 P=500`' "the footnote names the record"
has "$W/page.md" "- row 17 (risk Monte Carlo, full revaluation (headline)" "the superlinear pair is listed"
has "$W/page.md" "2 of 46 rows measured" "measured-row count"
has "$W/page.md" "Test CPU, 2 cores, SIMD flags AVX2+FMA (no AVX-512)" "the machine, from the records"
has "$W/page.md" "<!-- perf-summary:source $W/run.jsonl -->" "the page names its source"
if grep -q 'old text' "$W/page.md"; then ko "old block replaced"; else ok "old block replaced"; fi
if [ "$(sed -n 3p "$W/page.md")" = before ] && [ "$(tail -n 1 "$W/page.md")" = after ]; then ok "text around the block kept"
else ko "text around the block kept"; fi
if gen --check "$W/page.md" > "$W/c1.out" 2>&1; then ok "--check passes on the written page"
else
    ko "--check passes on the written page"
    cat "$W/c1.out"
fi
sed 's/| 6.00e7 | 1.50e8/| 6.00e7 | 1.60e8/' "$W/page.md" > "$W/bad.md"
if gen --check "$W/bad.md" > "$W/c2.out" 2>&1; then ko "--check fails on a changed figure"
else
    ok "--check fails on a changed figure"
    has "$W/c2.out" "-| risk Monte Carlo, full revaluation (headline)" "the diff shows the page's line"
    has "$W/c2.out" "+| risk Monte Carlo, full revaluation (headline)" "the diff shows the generated line"
fi
cp "$W/run.jsonl" "$W/dup.jsonl"
grep '"cpu-1t","size":"100x200x5040"' "$W/run.jsonl" >> "$W/dup.jsonl"
gen "$W/dup.jsonl" > "$W/dup.out" 2>&1
has "$W/dup.out" "| ambiguous: 2 records match |" "two records for one figure are refused"

# 3. No run yet; no markers; an absent file.
printf 'x\n<!-- perf-summary:begin -->\n<!-- perf-summary:end -->\ny\n' > "$W/none.md"
gen none --write "$W/none.md" > /dev/null 2>&1
has "$W/none.md" "**No full benchmark run recorded yet** (source: none)" "a page without a run"
if gen --check "$W/none.md" > /dev/null 2>&1; then ok "--check of a page without a run"
else ko "--check of a page without a run"; fi
printf 'no markers\n' > "$W/plain.md"
if gen none --check "$W/plain.md" > /dev/null 2>&1; then ko "a page without markers fails"
else ok "a page without markers fails"; fi
if gen "$W/absent.jsonl" > /dev/null 2>&1; then ko "an absent results file fails"
else ok "an absent results file fails"; fi

# 4. Committed raw results, the figures read by hand from the files: mlp_infer 145285 rows/s
# and p50 6.883 us (2026-12-06); live_replay 1.487e+06 messages/s, live_service 107871
# bars/s (2026-12-07).
sed -n 's/^JSON //p' "$SRC/benchmarks/results/2026-12-06-cpu-vm.txt" \
    "$SRC/benchmarks/results/2026-12-07-live-cpu-vm.txt" > "$W/old.jsonl"
gen "$W/old.jsonl" > "$W/old.out" 2>&1
has "$W/old.out" "| MLP 64-256-256-1, one row | rows/s | 1.45e5 | (one thread by design) |" \
    "inference row from the committed records"
has "$W/old.out" "| MLP 64-256-256-1, one row, p50 | us | 6.88 |" "latency row from the committed records"
has "$W/old.out" "| messages/s | 1.49e6 |" "replay row from the committed records"
has "$W/old.out" "| bars/s | 1.08e5 |" "live row from the committed records"
qa_exit
