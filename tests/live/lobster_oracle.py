# The model of live/lobbook.h written again, independently, for the tests
# (test_venue_book.sh, test_exec_book.sh):
#   lobster_oracle.py MESSAGES ORDERBOOK orders               orders chosen from the book
#   lobster_oracle.py MESSAGES ORDERBOOK events ORDERS CLOCKS the fills and expiries they get
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
# mode 'events ORDERS CLOCKS': the expected fills and expiries of ORDERS (time, id, side,
# qty, limit or 0, day[, end]: `end` the time a cancel stopped it) as the venue's clock
# moves through CLOCKS (one time a line, rising)
orders = [l.split(',') for l in open(sys.argv[4]).read().split()]
clocks = [int(l) for l in open(sys.argv[5]).read().split()]
ev = []
for o in orders:
    t, cid, side, qty, price, day = o[:6]
    end = int(o[6]) if len(o) > 6 else None
    t, side, qty, day = int(t), int(side), int(float(qty)), int(day)
    P = round(float(price) * 1e4) if float(price) > 0 else None
    a = max(t + 1, M[0][0])
    if a > clocks[-1] or (end is not None and a > end): continue   # never reached the book
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
    adv = next(c for c in clocks if c >= a)
    if left > 0 and P is None:
        ev.append((adv, 'expired', cid, '', 0, 0.0, 0.0)); continue
    ahead = 0 if took else next((sz for l in range(10) for px, sz in [level(b, side, l)] if sz > 0 and px == P), 0)
    behind = set()
    last = clocks[-1] if end is None else min(end, clocks[-1])
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
