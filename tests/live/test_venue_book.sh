#!/bin/sh
# Queue position on the LOBSTER book (live/lobbook.h, docs/execution.md "Queue position"):
# orders of ours on the shipped AAPL sample (2012-06-21, the first 999 messages), chosen
# from the book as it stands at their times (passive bids and offers at the touch and
# deeper, market orders, a marketable limit that rests its rest, a DAY order, one that can
# never fill), run through the paper venue (venue_book_run) with the clock moving 1 s at a
# time, and
#   1. every fill and expiry equals an independent recomputation of the model from the raw
#      files in Python (time to the ns, quantity, price, fee);
#   2. the queue really decides: some passive order fills only after the displayed size
#      ahead of it traded or left, and some is filled by an execution through its price;
#   3. the same run with the venue closed and reopened around every request and advance
#      (queues rebuilt from the files) gives the same events, row for row.
# Usage: test_venue_book.sh RUNNER SRC PYTHON
set -u
RUN=$1 SRC=$2 PY=$3
. "$SRC/tests/lib.sh"
qa_tmpdir vbook
cd "$W" || exit 1
trap 'rm -rf "$W"' EXIT
D="$SRC/datasets/sample/lobster_aapl_sample" # the shipped sample, as qa_import reads it
MSG="$D/AAPL_2012-06-21_34200000_57600000_message_10.csv.gz"
OB="$D/AAPL_2012-06-21_34200000_57600000_orderbook_10.csv.gz"
[ -f "$MSG" ] || { echo "skipped: no LOBSTER sample at $D"; exit 77; }

# times: 34200 s to 34250 s after New York midnight, 1 s steps
read -r FROM TO <<EOF
$("$PY" -c "
import datetime as dt
from zoneinfo import ZoneInfo
t0 = int(dt.datetime(2012, 6, 21, tzinfo=ZoneInfo('America/New_York')).timestamp()) * 10**9
print(t0 + 34200 * 10**9, t0 + 34250 * 10**9)")
EOF
STEP=1000000000
ORACLE="$SRC/tests/live/lobster_oracle.py" # the model written again in Python
"$PY" -c "print('\\n'.join(str(t) for t in range($FROM, $TO + 1, $STEP)))" > clocks.txt
"$PY" "$ORACLE" "$MSG" "$OB" orders > orders.csv || { echo "FAIL: oracle orders"; exit 1; }
"$PY" "$ORACLE" "$MSG" "$OB" events orders.csv clocks.txt > want.csv || { echo "FAIL: oracle events"; exit 1; }
"$RUN" "$MSG" "$OB" 2012-06-21 AAPL orders.csv a.db "$FROM" "$TO" "$STEP" straight > a.csv 2> a.err || { echo "FAIL: venue run: $(cat a.err)"; exit 1; }
"$RUN" "$MSG" "$OB" 2012-06-21 AAPL orders.csv b.db "$FROM" "$TO" "$STEP" restart > b.csv 2> b.err || { echo "FAIL: venue run with restarts: $(cat b.err)"; exit 1; }

"$PY" - "$FROM" <<'EOF' && ok "queue position: every fill and expiry equals the independent model" || ko "queue position model"
import sys
S0 = int(sys.argv[1])
got = [l.split(',') for l in open('a.csv').read().split('\n')[1:] if l and l.split(',')[1] in ('fill', 'expired')]
want = [l.split(',') for l in open('want.csv').read().split('\n') if l]
g = [(int(r[0]), r[1], r[2], r[3], int(r[4]), float(r[5])) for r in got]
w = [(int(r[0]), r[1], r[2], r[3], int(r[4]), float(r[5])) for r in want]
assert len(g) == len(w), ('event count', len(g), len(w), g, w)
for a, b in zip(sorted(g), sorted(w)):
    assert a == b, ('event differs', a, b)
fees = {r[3]: float(r[6]) for r in got if r[1] == 'fill'}
for r in want:
    if r[1] == 'fill': assert abs(fees[r[3]] - float(r[6])) <= 1e-12 * float(r[6]), ('fee', r)
orders = {l.split(',')[1]: int(l.split(',')[0]) for l in open('orders.csv').read().split()}
fills = [x for x in g if x[1] == 'fill']
# the queue decides: a passive order filled well after it arrived, by executions at its price
late = [x for x in fills if x[2] in ('bid_touch', 'ask_touch', 'bid_deep', 'bid_late') and x[0] > orders[x[2]] + 10**6]
assert late, 'no passive order waited in its queue'
assert not [x for x in g if x[2] == 'ask_far'], 'the far offer traded'
assert [x for x in g if x[2] == 'mkt_buy'], 'the market buy did not trade'
print(len(fills), 'fills,', len(g) - len(fills), 'expiries;', len(late), 'passive fills after queueing:',
      ', '.join('%s %d @ %.2f +%.3fs' % (x[2], x[4], x[5], (x[0] - orders[x[2]]) / 1e9) for x in late))
EOF
if cmp -s a.csv b.csv; then
    ok "the venue closed and reopened around every request and advance gives the same $(($(wc -l < a.csv) - 1)) events"
else
    ko "restarts change the events: $(diff a.csv b.csv | head -4)"
fi
# bad input: the error names the file, line, field and value; nothing is opened
"$PY" -c "
import gzip, sys
rows = gzip.open(sys.argv[1], 'rt').read().split()
rows[4] = rows[4].split(',', 2)[0] + ',9,' + rows[4].split(',', 2)[2]
gzip.open('bad_message.csv.gz', 'wt').write('\\n'.join(rows) + '\\n')
" "$MSG"
if "$RUN" bad_message.csv.gz "$OB" 2012-06-21 AAPL orders.csv c.db "$FROM" "$TO" "$STEP" straight > /dev/null 2> c.err; then
    ko "a message of type 9 was accepted"
elif grep -q "bad_message.csv.gz:5: field 'type': 9, expected 1-7" c.err; then
    ok "a malformed message is refused with its file, line, field and value"
else
    ko "malformed message error: $(cat c.err)"
fi
qa_exit
