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

# The oracle: orders from the book, then the model of live/lobbook.h written again.
cat > oracle.py <<'EOF'
import gzip, sys, datetime as dt
from zoneinfo import ZoneInfo
msg_path, ob_path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = int(dt.datetime(2012, 6, 21, tzinfo=ZoneInfo('America/New_York')).timestamp()) * 10**9
def ns(s):
    w, _, f = s.partition('.')
    return t0 + int(w) * 10**9 + int((f + '000000000')[:9])
M = [(ns(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]))
     for r in (l.split(',') for l in gzip.open(msg_path, 'rt').read().split())]
B = [list(map(int, l.split(','))) for l in gzip.open(ob_path, 'rt').read().split()]
S0 = t0 + 34200 * 10**9
def row(t):   # the book after the last message at or before t
    k = max([i for i, m in enumerate(M) if m[0] <= t] or [0])
    return k, B[k]
def level(b, side, l): # (price, size) of level l: side +1 bids, -1 asks
    c = 4 * l + (2 if side > 0 else 0)
    return b[c], b[c + 1]
if mode == 'orders':
    out = []
    def add(sec, cid, side, qty, price, day=0):
        out.append('%d,%s,%d,%d,%s,%d' % (S0 + sec * 10**9, cid, side, qty, ('%.4f' % (price / 1e4)) if price else '0', day))
    _, b = row(S0 + 1 * 10**9);  add(1, 'bid_touch', 1, 100, level(b, 1, 0)[0])
    _, b = row(S0 + 2 * 10**9);  add(2, 'mkt_sell', -1, 50, 0)
    _, b = row(S0 + 4 * 10**9);  add(4, 'ask_touch', -1, 100, level(b, -1, 0)[0])
    _, b = row(S0 + 8 * 10**9);  add(8, 'bid_deep', 1, 200, level(b, 1, 2)[0])
    _, b = row(S0 + 12 * 10**9); add(12, 'mkt_buy', 1, 150, 0)
    _, b = row(S0 + 20 * 10**9); add(20, 'cross_buy', 1, level(b, -1, 0)[1] + 300, level(b, -1, 0)[0])
    _, b = row(S0 + 30 * 10**9); add(30, 'ask_day', -1, 100, level(b, -1, 0)[0], 1)
    _, b = row(S0 + 40 * 10**9); add(40, 'bid_late', 1, 300, level(b, 1, 0)[0])
    _, b = row(S0 + 3 * 10**9);  add(3, 'ask_far', -1, 100, level(b, -1, 0)[0] + 10000)
    print('\n'.join(out))
    sys.exit(0)
# mode 'events ORDERS FROM TO STEP': the expected fills and expiries
orders = [l.split(',') for l in open(sys.argv[4]).read().split()]
frm, to, step = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
ev = []
for t, cid, side, qty, price, day in orders:
    t, side, qty, day = int(t), int(side), int(float(qty)), int(day)
    P = round(float(price) * 1e4) if float(price) > 0 else None
    a = max(t + 1, M[0][0])
    left, nf = qty, 0
    def fill(when, q, px):
        global left, nf
        q = min(q, left)
        if q <= 0: return
        left -= q; nf += 1
        ev.append((when, 'fill', cid, '%s#%d' % (cid, nf), q, px / 1e4, 1e-4 * (q * (px / 1e4))))
    k, b = row(a)
    took = False
    for l in range(10):
        px, sz = level(b, -side, l)
        if sz <= 0 or left <= 0: break
        if P is not None and (px > P if side > 0 else px < P): break
        fill(a, sz, px); took = True
    # which advance the arrival falls in: the first clock value >= a
    adv = next(c for c in range(frm, to + 1, step) if c >= a)
    if left > 0 and P is None:
        ev.append((adv, 'expired', cid, '', 0, 0.0, 0.0)); continue
    ahead = 0 if took else next((sz for l in range(10) for px, sz in [level(b, side, l)] if sz > 0 and px == P), 0)
    behind = set()
    last = max(c for c in range(frm, to + 1, step))
    for i in range(k + 1, len(M)):
        tm, ty, oid, sz, px, d = M[i]
        if tm > last or left <= 0: break
        if day and tm > adv: break
        if d != side: continue
        through = px < P if side > 0 else px > P
        if ty == 1 and px == P: behind.add(oid)
        elif ty in (2, 3) and px == P and oid not in behind: ahead = max(0, ahead - sz)
        elif ty in (4, 5) and through: fill(tm, left, P)
        elif ty == 4 and px == P:
            if oid in behind: ahead = 0
            used = min(sz, ahead); ahead -= used
            fill(tm, sz - used, P)
    if left > 0 and day: ev.append((adv, 'expired', cid, '', 0, 0.0, 0.0))
ev.sort(key=lambda e: (e[0], [o[1] for o in orders].index(e[2]), e[3]))
for e in ev: print('%d,%s,%s,%s,%d,%.4f,%r' % e)
EOF
# times: 34200 s to 34250 s after New York midnight, 1 s steps
read -r FROM TO <<EOF
$("$PY" -c "
import datetime as dt
from zoneinfo import ZoneInfo
t0 = int(dt.datetime(2012, 6, 21, tzinfo=ZoneInfo('America/New_York')).timestamp()) * 10**9
print(t0 + 34200 * 10**9, t0 + 34250 * 10**9)")
EOF
STEP=1000000000
"$PY" oracle.py "$MSG" "$OB" orders > orders.csv || { echo "FAIL: oracle orders"; exit 1; }
"$PY" oracle.py "$MSG" "$OB" events orders.csv "$FROM" "$TO" "$STEP" > want.csv || { echo "FAIL: oracle events"; exit 1; }
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
