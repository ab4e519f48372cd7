#!/usr/bin/python3
"""Writes the committed seed corpora (fuzz/corpus/<harness>/): small valid inputs in each
harness's input format (fuzz/fuzz_*.c explain them) plus the project's known bad cases
(tests/data/bad, the config tests' alias bomb, ...). Run from the repository root; the
output is deterministic. Keep the corpus small (< 1 MB): libFuzzer grows its own working
corpus under build-fuzz/corpus/."""
import gzip, hashlib, hmac, base64, json, os, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def bad(name):
    with open(os.path.join(ROOT, "tests", "data", "bad", name), "rb") as f:
        return f.read()


# ---- fuzz_csv: b0 = layout | delim<<2 | fmt<<4 | range<<7; b1 = policy | zv<<2 | tz<<3 | ...
def csv_opt(layout=0, delim=0, fmt=0, rng=0, policy=1, zv=1, tz=0, wide_vol=0, novol=0, noraw=0):
    return bytes([layout | delim << 2 | fmt << 4 | rng << 7,
                  policy | zv << 2 | tz << 3 | wide_vol << 5 | novol << 6 | noraw << 7])

daily = ("date,open,high,low,close,volume\n2020-01-02,10,11,9,10.5,1000\n2020-01-03,10.5,12,10,11,1200\n"
         "2020-01-06,11,11.5,10.2,10.8,900\n2020-01-07,10.8,30,10.1,29,0\n")
daily2 = "date,open,high,low,close,volume\n2020-01-03,20,21,19,20.5,500\n2020-01-08,20.5,21,20,20.7,600\n"
put("fuzz_csv", "per_symbol_two", csv_opt() + daily.encode() + b"\xff" + daily2.encode())
put("fuzz_csv", "per_symbol_semicolon_quoted", csv_opt(delim=1) +
    b'date;open;high;low;close;volume\n"2020-01-02";"1,5";2;1;1.5;10\n2020-01-03;1.5;2;1;"1.""6";11\n')
put("fuzz_csv", "epoch_ms_keep", csv_opt(fmt=2, policy=0) +
    b"date,open,high,low,close,volume\n1577923200000,1,2,0.5,1.5,10\n1578009600000,1.5,2,1,-1.6,0\n")
put("fuzz_csv", "bom_crlf", csv_opt(tz=1) + b"\xef\xbb\xbfdate,open,high,low,close,volume\r\n2020-01-02,1,2,0.5,1.5,10\r\n")
put("fuzz_csv", "iso_times_tz", csv_opt(tz=2, rng=1) +
    b"date,open,high,low,close,volume\n2020-01-02T09:30:00-05:00,1,2,0.5,1.5,10\n2020-01-02T16:00:00Z,1,2,0.5,1.6,11\n")
put("fuzz_csv", "long_table", csv_opt(layout=1) +
    b"time,symbol,open,high,low,close,volume\n2020-01-02,AAA,1,2,0.5,1.5,10\n2020-01-02,BBB,3,4,2,3.5,20\n"
    b"2020-01-03,AAA,1.5,2,1,1.7,12\n2020-01-03,BBB,3.5,4,3,3.9,0\n")
put("fuzz_csv", "wide_table", csv_opt(layout=2) + b"date,AAA,BBB,CCC\n2020-01-02,1,2,\n2020-01-03,1.1,,3\n2020-01-06,1.2,2.2,3.3\n")
put("fuzz_csv", "lobster", csv_opt(layout=3) +
    b"34200.004241176,1,16113575,18,5853300,1\n34200.00426064,4,16113584,18,5853200,1\n34260.5,4,16113594,18,5853100,-1\n"
    b"\xff5859400,200,5853300,18\n5859400,200,5853200,18\n5859400,200,5853100,18\n")
put("fuzz_csv", "gzip", csv_opt() + gzip.compress(daily.encode(), mtime=0))
for name in ["bad_date.csv", "date_after_2262.csv", "duplicate_column.csv", "duplicate_timestamp.csv", "empty.csv",
             "header_only.csv", "long_row.csv", "missing_column.csv", "nan_value.csv", "non_monotonic.csv",
             "nul_byte.csv", "short_row.csv", "truncated.csv.gz", "unparsable_number.csv", "unterminated_quote.csv"]:
    put("fuzz_csv", "bad_" + name.replace(".", "_"), csv_opt() + bad(name))
put("fuzz_csv", "huge_numbers", csv_opt() + b"date,open,high,low,close,volume\n2020-01-02,1e308,1e309,-1e308,"
    b"123456789012345678901234567890,18446744073709551616\n2020-01-03,0x10,1e-400,.5,5.,+inf\n")

# ---- fuzz_config: selector byte, YAML, then 0xff-separated --set overrides
with open(os.path.join(ROOT, "docs", "examples", "sweep.yaml")) as f:
    sweep = f.read()
put("fuzz_config", "sweep_example", bytes([8]) + sweep.encode() + b"\xfftop=7\xffgrid.fast=[3, 4]")
put("fuzz_config", "import", bytes([0]) + b"output: m.h5\nlayout: long\nfiles: [a.csv]\ncolumns: {time: ts, close: px}\n"
    b"market: {frequency: 5min, bar_seconds: 300, bars_per_year: 19656}\nanomalies: {policy: reject, spike_log: 0.5}\n")
put("fuzz_config", "synth", bytes([1]) + b"symbols: 4\nbars: 100\nseed: 7\n")
put("fuzz_config", "rules", bytes([2]) + b"settings: {commission_bps: 1, half_spread_bps: 2, direction: long_only,"
    b" sizing: {method: vol_target, target_vol: 0.1}, capital: 1e6}\n")
put("fuzz_config", "sim", bytes([3]) + b"data: m.h5\nstrategy: ema_cross\nparams: {fast: 5, slow: 20}\n"
    b"orders: {type: limit}\ncosts: {convention: traded}\n\xffcosts.convention=vectorized")
put("fuzz_config", "stress", bytes([4]) + b"portfolio: book.csv\nvar: {confidence: [0.95, 0.99], horizon_days: 10}\n"
    b"scenarios:\n  - {name: crash, shocks: {SPY: -0.2}}\n")
put("fuzz_config", "train", bytes([5]) + b"data: m.h5\nfeatures: [rsi_14]\nbars: [logret]\nmodel: {type: mlp, hidden: [8, 4]}\n"
    b"train: {epochs: 2, batch: 32, lr: 1e-3}\n")
put("fuzz_config", "rl", bytes([6]) + b"data: m.h5\nenv: {window: 8}\nppo: {steps: 64}\n")
put("fuzz_config", "features", bytes([7]) + b"features:\n  - {kind: rsi, window: 14}\n  - {kind: zscore, field: close, window: 20}\n")
put("fuzz_config", "limits", bytes([9]) + b"limits:\n  - {name: dd, metric: drawdown, warn: 0.05, breach: 0.1, action: halt}\n"
    b"pretrade: {max_order_notional: 1e5, throttle_orders: 10, throttle_window: 1s}\nalgo: {kind: twap, slices: 4}\n")
put("fuzz_config", "json_all", bytes([10]) + b'{"data": "m.h5", "strategy": "sma_cross", "grid": {"fast": [1, 2]},'
    b' "settings": {"commission_bps": 1e309}, "symbols": ["AAA", "AAA"]}')
put("fuzz_config", "anchors", bytes([10]) + b"base: &b {commission_bps: 1}\nsettings: *b\nother: {<<: *b, extra: 1}\n")
laughs = "a0: &a0 [lol]\n" + "".join("a%d: &a%d [%s]\n" % (k, k, ",".join(["*a%d" % (k - 1)] * 9)) for k in range(1, 10))
put("fuzz_config", "billion_laughs", bytes([10]) + laughs.encode())
put("fuzz_config", "alias_cycle", bytes([10]) + b"x: &x [1, *x]\n")
put("fuzz_config", "undefined_alias", bytes([0]) + b"a: *nope\n")
put("fuzz_config", "tabs_dupkeys", bytes([10]) + b"a: 1\na: 2\n\tb: [\n")
put("fuzz_config", "override_only", bytes([10]) + b"\xffa.b.c=[1, {x: 2}]\xff=\xff.=1\xffa..b=2")

# ---- fuzz_model: mode 0 raw file; mode 1/2 JSON 0xff payload
with open(os.path.join(ROOT, "tests", "registry", "data", "model_v1.qam"), "rb") as f:
    model = f.read()
put("fuzz_model", "model_v1_raw", b"\x00" + model)
J, B = struct.unpack("<QQ", model[16:32])
meta = json.loads(model[32:32 + J])
payload = model[32 + J:32 + J + B]
compact = json.dumps(meta, separators=(",", ":")).encode()
put("fuzz_model", "model_v1_wrapped", b"\x01" + compact + b"\xff" + payload)
put("fuzz_model", "model_v1_as_ckpt", b"\x02" + compact + b"\xff" + payload)
put("fuzz_model", "truncated", b"\x00" + model[:100])
put("fuzz_model", "flipped_byte", b"\x00" + model[:500] + bytes([model[500] ^ 1]) + model[501:])
put("fuzz_model", "empty_json", b"\x01{}\xff")

# ---- fuzz_portfolio: option byte (kind | value<<2 | market<<3), then the file
book_csv = ("# a comment line\nid,symbol,type,quantity,weight,multiplier,right,strike,expiry,vol,rate,dividend_yield\n"
            "spy,SPY,etf,100,,,,,,,,\ntlt,TLT,etf,,0.25,,,,,,,\nes,SPY,future,-2,,50,,,,,,\n"
            "p1,SPY,option,10,,,put,550,2026-12-18,0.2,0.04,0.01\nc1,SPY,option,-5,,,call,600,2026-12-18,hist,,\n")
book_yaml = ("name: book\nvalue: 1000000\npositions:\n  - {id: spy, symbol: SPY, type: etf, quantity: 100}\n"
             "  - {id: tlt, symbol: TLT, type: etf, weight: 0.25}\n"
             "  - {id: p1, symbol: SPY, type: option, quantity: 10, right: put, strike: 550,\n"
             "     expiry: 2026-12-18, vol: 0.2, rate: 0.04, dividend_yield: 0.01}\n")
put("fuzz_portfolio", "book_csv", bytes([4]) + book_csv.encode())
put("fuzz_portfolio", "book_csv_market", bytes([12]) + b"id,symbol,type,quantity,right,strike,expiry\na,SPY,etf,1,,,\n"
    b"b,XYZ,option,1,call,100,2000-01-05\n")
put("fuzz_portfolio", "book_yaml", bytes([1]) + book_yaml.encode())
put("fuzz_portfolio", "book_json", bytes([2]) + json.dumps({"name": "b", "value": 1e6, "positions": [
    {"id": "a", "symbol": "SPY", "quantity": 1}, {"id": "b", "symbol": "TLT", "weight": -0.5}]}).encode())
put("fuzz_portfolio", "book_gz", bytes([3]) + gzip.compress(book_csv.encode(), mtime=0))
put("fuzz_portfolio", "huge", bytes([8]) + b"id,symbol,type,quantity,multiplier\nbig,SPY,etf,1e308,\nfut,SPY,future,2e15,1000\n")
put("fuzz_portfolio", "dup_ids", bytes([0]) + b"id,symbol,type,quantity,weight,right,strike,expiry,vol\n"
    b",SPY,etf,1,,,,,\n,TLT,etf,1,,,,,\n,SPY,etf,2,,,,,\n")
put("fuzz_portfolio", "bad_yaml", bytes([1]) + b"positions:\n  - {id: a, symbol: SPY, quantity: .nan}\n  - {id: b, colour: red}\n")

# ---- fuzz_store: the description bytes (fuzz_store.c); zeros = a valid 3 x 5 store
put("fuzz_store", "valid", b"\x00" * 64)
put("fuzz_store", "nan_bars_per_year", b"\x00" * 4 + bytes([13, 2]) + b"\x00" * 40)   # bars_per_year: edge NaN
put("fuzz_store", "zero_bar_seconds", b"\x00" * 3 + bytes([12]) + b"\x00" * 8 + b"\x00" * 40)
put("fuzz_store", "array_attrs", bytes([15, 15, 15, 15, 15, 15, 15, 15, 15, 15]) + b"\x00" * 40)
put("fuzz_store", "fixed_string_attrs", bytes([11]) + b"quantumalpha.market\xff" + b"\x00" * 9 + b"\x00" * 40)
put("fuzz_store", "dup_symbols", b"\x00" * 10 + bytes([1, 0, 0, 2, 0]) + b"\x00" * 40)
put("fuzz_store", "no_time", b"\x00" * 10 + bytes([0, 0, 0, 0, 0]) + bytes([0, 5]) + b"\x00" * 40)
put("fuzz_store", "unsorted_time", b"\x00" * 15 + bytes([0, 0, 0, 4, 3, 1]) + b"\x00" * 40)
put("fuzz_store", "bad_shapes", b"\x00" * 23 + bytes([6, 0, 0, 6, 0, 1, 7, 0, 1, 5, 0, 6, 0, 3]) + b"\x00" * 8)

# ---- fuzz_msg: encoded messages (live/msg.h layout)
def msg(kind, body, time=1577923200 * 10**9, mid=7, sym=b"AAPL"):
    return b"QA" + bytes([kind, 1]) + struct.pack("<HHqQ", 0, len(body), time, mid) + sym.ljust(16, b"\0") + body

def txt(s, n):
    return s.encode().ljust(n, b"\0")

put("fuzz_msg", "bar", msg(1, struct.pack("<5diI", 1, 2, 0.5, 1.5, 1000, 86400, 0)))
put("fuzz_msg", "watermark", msg(2, struct.pack("<II", 0, 4)))
put("fuzz_msg", "features", msg(3, b"\x11" * 32 + struct.pack("<I", 2) + txt("rsi_14", 32) + struct.pack("<d", 55.0)
                                + txt("logret", 32) + struct.pack("<d", float("nan"))))
put("fuzz_msg", "signal", msg(4, txt("model", 48) + struct.pack("<IIdd", 3, 0, 0.1, 101.5) + b"\x22" * 32))
put("fuzz_msg", "size", msg(5, struct.pack("<5d", 0.1, 10, 100, 1e6, 0.2) + txt("vol_target", 16) + txt("ACTIVE", 16)))
put("fuzz_msg", "dead", msg(6, txt("market.data", 32) + struct.pack("<iIq", 1, 5, 42) + txt("bad magic", 128) + b"hello"))
put("fuzz_msg", "risk", msg(7, struct.pack("<11d", *range(11)) + txt("ACTIVE", 16) + txt("AAPL", 16)))
put("fuzz_msg", "alert", msg(8, txt("breach", 16) + txt("dd", 48) + txt("drawdown", 16) + struct.pack("<dd", 0.2, 0.1)
                             + txt("HALTED", 16) + txt("detail", 128)))
put("fuzz_msg", "registry", msg(9, struct.pack("<q", 1) + txt("alias_set", 24) + txt("m", 64) + txt("prod", 32)
                                + struct.pack("<q", 3) + txt("alice", 64)))
put("fuzz_msg", "doc", msg(10, struct.pack("<IId", 0, 5, 0.3) + txt("reuters", 16) + b"hello"))
put("fuzz_msg", "order", msg(11, txt("c1", 64) + txt("", 64) + struct.pack("<iI", 1, 0) + txt("fill", 24) + txt("filled", 24)
                             + txt("limit", 16) + txt("twap", 16) + struct.pack("<7d", 10, 101, 10, 100.5, 10, 100.5, 0.1)
                             + txt("t1", 64) + txt("", 64)))
put("fuzz_msg", "truncated", msg(1, struct.pack("<5diI", 1, 2, 0.5, 1.5, 1000, 86400, 0))[:30])
put("fuzz_msg", "symbol_no_nul", msg(2, struct.pack("<II", 0, 4), sym=b"ABCDEFGHIJKLMNOP"))

# ---- fuzz_http: mode 0 request line + body; 1 body; 2 raw token; 3 alg byte + claims
key = bytes(range(1, 33))
def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")
def token(claims, k=key):
    h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    p = b64(json.dumps(claims, separators=(",", ":")).encode())
    return h + b"." + p + b"." + b64(hmac.new(k, h + b"." + p, hashlib.sha256).digest())
claims = {"iss": "quantumalpha", "sub": "alice", "kid": "", "roles": 15, "iat": 1700000000, "exp": 4102444800}
put("fuzz_http", "get_bars", b"\x00GET /api/data/bars/SPY?start=2000-01-05&end=2000-03-01&page=1&limit=10\n")
put("fuzz_http", "get_features", b"\x00GET /api/data/features/AAA?names=rsi_14,zscore&limit=5\n")
put("fuzz_http", "get_symbols", b"\x00GET /api/data/symbols\n")
put("fuzz_http", "get_run", b"\x00GET /api/runs/ma-demo/top?limit=5\n")
put("fuzz_http", "get_model_version", b"\x00GET /api/models/m1/versions/3\n")
put("fuzz_http", "alt_search", b"\x00GET /api/alt/search?q=jobs%20AND%20resigns&ticker=AAPL&limit=3\n")
put("fuzz_http", "post_kill", b'\x00POST /api/live/kill\n{"state": "HALTED", "reason": "x"}')
put("fuzz_http", "post_dup_keys", b'\x00POST /api/login\n{"user": "a", "user": "b"}')
put("fuzz_http", "wrong_method", b"\x00DELETE /api/runs/x\n")
put("fuzz_http", "dotdot", b"\x00GET /api/runs/../../etc\n")
put("fuzz_http", "body", b'\x01{"user": "alice", "roles": "researcher,admin", "version": 3, "name": ".hidden"}')
put("fuzz_http", "token_valid", b"\x02" + token(claims))
put("fuzz_http", "token_revoked_user", b"\x02" + token(dict(claims, sub="bob")))
put("fuzz_http", "token_wrong_key", b"\x02" + token(claims, k=b"x" * 32))
put("fuzz_http", "token_alg_none", b"\x02" + b64(b'{"alg":"none","typ":"JWT"}') + b"." + b64(json.dumps(claims).encode()) + b".")
put("fuzz_http", "claims_valid", b"\x03\x00" + json.dumps(claims).encode())
put("fuzz_http", "claims_types", b"\x03\x00" + json.dumps(dict(claims, sub=7, exp="x", roles=-1, kid=None)).encode())
put("fuzz_http", "claims_none_alg", b"\x03\xf0" + json.dumps(claims).encode())

total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
print("fuzz/corpus: %d bytes" % total)
