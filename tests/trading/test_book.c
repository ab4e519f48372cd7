/* Portfolio files: CSV and YAML parse to the same positions; every bad input is rejected
 * before any work with file:line and the field named. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/store.h"
#include "common/timeparse.h"
#include "common/timer.h" /* the large portfolio's parse time */
#include "harness.h"
#include "kernels/risk.h"
#include "trading/book.h"

static char dir[256];

static const char *write_file(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static int64_t day(const char *s) {
    qa_tzone utc;
    memset(&utc, 0, sizeof utc);
    int64_t ns = 0;
    qa_time_parse(s, QA_TIME_ISO, &utc, &ns);
    return ns;
}

static void test_csv_and_yaml_agree(void) {
    const char *csv = write_file("a.csv", "# a comment line\n"
                                          "id,symbol,type,quantity,weight,multiplier,right,strike,expiry,vol,rate,dividend_yield\n"
                                          "spy,SPY,etf,100,,,,,,,,\n"
                                          "tlt,TLT,etf,,0.25,,,,,,,\n"
                                          "es,SPY,future,-2,,50,,,,,,\n"
                                          "p1,SPY,option,10,,,put,550,2026-12-18,0.2,0.04,0.01\n"
                                          "c1,SPY,option,-5,,,call,600,2026-12-18,hist,,\n");
    qa_book a, b;
    QA_CHECK_OK(qa_book_load(csv, 1e6, &a));
    const char *yaml = write_file("a.yaml", "name: book\nvalue: 1000000\npositions:\n"
                                            "  - {id: spy, symbol: SPY, type: etf, quantity: 100}\n"
                                            "  - {id: tlt, symbol: TLT, type: etf, weight: 0.25}\n"
                                            "  - {id: es, symbol: SPY, type: future, quantity: -2, multiplier: 50}\n"
                                            "  - {id: p1, symbol: SPY, type: option, quantity: 10, right: put, strike: 550,\n"
                                            "     expiry: 2026-12-18, vol: 0.2, rate: 0.04, dividend_yield: 0.01}\n"
                                            "  - {id: c1, symbol: SPY, type: option, quantity: -5, right: call, strike: 600,\n"
                                            "     expiry: 2026-12-18, vol: hist}\n");
    QA_CHECK_OK(qa_book_load(yaml, NAN, &b));
    QA_CHECK_INT(a.n, 5);
    QA_CHECK_INT(b.n, 5);
    QA_CHECK_NEAR(b.value, 1e6, 0, 0);
    QA_CHECK_STR(b.name, "book");
    for (size_t i = 0; i < 5 && a.n == 5 && b.n == 5; i++) {
        QA_CHECK_STR(a.pos[i].id, b.pos[i].id);
        QA_CHECK_STR(a.pos[i].symbol, b.pos[i].symbol);
        QA_CHECK_INT(a.pos[i].kind, b.pos[i].kind);
        QA_CHECK((isnan(a.pos[i].quantity) && isnan(b.pos[i].quantity)) || a.pos[i].quantity == b.pos[i].quantity);
        QA_CHECK(a.pos[i].multiplier == b.pos[i].multiplier);
        QA_CHECK(a.pos[i].strike == b.pos[i].strike);
        QA_CHECK(a.pos[i].expiry == b.pos[i].expiry);
        QA_CHECK((isnan(a.pos[i].vol) && isnan(b.pos[i].vol)) || a.pos[i].vol == b.pos[i].vol);
    }
    if (a.n == 5) {
        QA_CHECK_INT(a.pos[0].line, 3);
        QA_CHECK(isnan(a.pos[1].quantity) && a.pos[1].weight == 0.25);
        QA_CHECK_INT(a.pos[2].kind, QA_BOOK_FUTURE);
        QA_CHECK(a.pos[2].multiplier == 50);
        QA_CHECK_INT(a.pos[3].right, QA_RISK_PUT);
        QA_CHECK(a.pos[3].multiplier == 100); /* option default */
        QA_CHECK(a.pos[3].expiry == day("2026-12-18"));
        QA_CHECK(a.pos[3].rate == 0.04 && a.pos[3].div_yield == 0.01);
        QA_CHECK(isnan(a.pos[4].vol)); /* historical */
        QA_CHECK_INT(a.pos[4].right, QA_RISK_CALL);
    }
    qa_book_free(&a);
    qa_book_free(&b);
}

/* Each bad file: the error must name file:line and the field. */
static void bad(const char *name, const char *text, double value, const char *needle) {
    const char *p = write_file(name, text);
    char where[600];
    qa_book pf;
    qa_status st = qa_book_load(p, value, &pf);
    QA_CHECK_MSG(st == QA_ERR_CONFIG, "%s: status %s (%s)", name, qa_status_name(st), qa_err_msg());
    if (st == QA_OK) qa_book_free(&pf);
    snprintf(where, sizeof where, "%s", needle);
    QA_CHECK_MSG(strstr(qa_err_msg(), where) != NULL, "%s: '%s' lacks '%s'", name, qa_err_msg(), where);
    QA_CHECK_MSG(strstr(qa_err_msg(), name) != NULL, "%s: '%s' lacks the file name", name, qa_err_msg());
}

/* A CSV portfolio of these rows under the full header: refused as bad() checks. */
static void bad_rows(const char *name, const char *rows, const char *needle) {
    char t[512];
    snprintf(t, sizeof t, "id,symbol,type,quantity,weight,right,strike,expiry,vol\n%s", rows);
    bad(name, t, NAN, needle);
}

static void test_bad_files(void) {
    bad_rows("q1.csv", "a,SPY,etf,abc,,,,,\n", ":2: field 'quantity': 'abc' is not a number");
    bad_rows("q2.csv", "a,SPY,etf,nan,,,,,\n", ":2: field 'quantity': 'nan' is not a number");
    bad_rows("strike.csv", "a,SPY,etf,1,,,,,\nb,SPY,option,1,,put,-5,2027-01-15,0.2\n", ":3: field 'strike': -5 must be > 0");
    bad_rows("expiry.csv", "a,SPY,etf,1,,,,,\nb,SPY,option,1,,put,500,2027-13-45,0.2\n",
             ":3: field 'expiry': '2027-13-45' is not a date");
    bad_rows("empty.csv", "", "has no positions");
    bad("nothing.csv", "", NAN, "empty portfolio file");
    bad_rows("dup.csv", "a,SPY,etf,1,,,,,\na,TLT,etf,2,,,,,\n", ":3: field 'id': duplicate id 'a' (first at line 2)");
    bad_rows("weight.csv", "a,SPY,etf,,0.5,,,,\n",
             ":2: field 'weight': position is given by weight but the portfolio has no value");
    bad_rows("type.csv", "a,SPY,bond,1,,,,,\n", ":2: field 'type': 'bond' is not one of");
    bad_rows("notopt.csv", "a,SPY,etf,1,,put,,,\n", ":2: field 'right': only options have a right");
    bad_rows("right.csv", "a,SPY,option,1,,straddle,500,2027-01-15,0.2\n",
             ":2: field 'right': 'straddle' is not call or put");
    bad("col.csv", "id,symbol,qty\na,SPY,1\n", NAN, ":1: unknown column 'qty'");
    bad("y1.yaml", "positions:\n  - {id: a, symbol: SPY, quantity: 1}\n  - {id: b, symbol: SPY, quantity: .nan}\n", NAN,
        ":3: key 'positions[1].quantity': '.nan' is not a number");
    bad("y2.yaml", "value: 100\npositions:\n  - {id: a, symbol: SPY, type: option, quantity: 1, right: call,\n"
                   "     strike: 0, expiry: 2027-01-15}\n",
        NAN, ":4: key 'positions[0].strike': 0 must be > 0");
    bad("y3.yaml", "positions: []\n", NAN, "has no positions");
    bad("y4.yaml", "positions:\n  - {id: a, symbol: SPY, quantity: 1, colour: red}\n", NAN,
        ":2: unknown key 'colour' in positions[0]");
    bad("y5.yaml", "positions:\n  - {id: a, symbol: SPY, weight: 0.3}\n", NAN,
        ":2: key 'positions[0].weight': position is given by weight");
}

/* Against a market file: unknown symbols and options expiring on/before the valuation date. */
static void test_market_checks(void) {
    char h5[512];
    snprintf(h5, sizeof h5, "%s/m.h5", dir);
    const char *syms[] = {"SPY", "TLT"};
    int64_t times[3] = {day("2026-01-05"), day("2026-01-06"), day("2026-01-07")};
    qa_store_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.frequency, sizeof meta.frequency, "1d");
    meta.bar_seconds = 86400;
    meta.bars_per_year = 252;
    qa_store_t *st = NULL;
    QA_CHECK_OK(qa_store_create(h5, NULL, &meta, 2, syms, 3, times, &st));
    QA_CHECK_OK(qa_store_commit(st));
    QA_CHECK_OK(qa_store_open(h5, NULL, QA_STORE_READ, &st));
    const char *p = write_file("m.csv", "id,symbol,type,quantity,right,strike,expiry\n"
                                        "a,SPY,etf,1,,,\n"
                                        "b,XYZ,etf,1,,,\n");
    qa_book pf;
    QA_CHECK_OK(qa_book_load(p, NAN, &pf));
    QA_CHECK_ERR(qa_book_check_market(&pf, st, INT64_MIN), QA_ERR_CONFIG, "m.csv:3: field 'symbol': 'XYZ'");
    qa_book_free(&pf);
    p = write_file("e.csv", "id,symbol,type,quantity,right,strike,expiry\n"
                            "a,SPY,etf,1,,,\n"
                            "b,SPY,option,1,call,500,2026-01-07\n");
    QA_CHECK_OK(qa_book_load(p, NAN, &pf));
    QA_CHECK_OK(qa_book_check_market(&pf, st, INT64_MIN));
    QA_CHECK_OK(qa_book_check_market(&pf, st, day("2026-01-06")));
    QA_CHECK_ERR(qa_book_check_market(&pf, st, day("2026-01-07")), QA_ERR_CONFIG,
                 "e.csv:3: field 'expiry': option 'b' expires on 2026-01-07, on or before the valuation date 2026-01-07");
    QA_CHECK_INT(qa_book_find(&pf, "b"), 1);
    QA_CHECK_INT(qa_book_find(&pf, "zz"), -1);
    qa_book_free(&pf);
    qa_store_close(st);
}

/* A CSV of n etf positions p0..p{n-1} on four symbols; `dup` >= 0 gives the last
 * position the id of position `dup`. */
static const char *write_many(const char *name, size_t n, long dup) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    QA_CHECK(f != NULL);
    if (!f) return path;
    fputs("id,symbol,type,quantity\n", f);
    static const char *const syms[] = {"SPY", "TLT", "GLD", "XLF"};
    for (size_t i = 0; i < n; i++)
        fprintf(f, "p%zu,%s,etf,%zu\n", dup >= 0 && i == n - 1 ? (size_t)dup : i, syms[i % 4], i + 1);
    QA_CHECK(fclose(f) == 0);
    return path;
}

/* 10^5 positions parse in well under a second (a pairwise duplicate check took a minute:
 * 5e9 id comparisons); 10 s leaves room for a loaded or sanitized build. A duplicate
 * among them is still found, naming both lines. */
static void test_large_portfolio(void) {
    const size_t n = 100000;
    qa_book pf;
    uint64_t t0 = qa_time_ns();
    QA_CHECK_OK(qa_book_load(write_many("many.csv", n, -1), NAN, &pf));
    double secs = qa_time_since(t0);
    QA_CHECK_MSG(secs < 10.0, "100k positions took %.2f s to parse", secs);
    QA_CHECK_INT(pf.n, n);
    if (pf.n == n) {
        QA_CHECK_STR(pf.pos[n - 1].id, "p99999");
        QA_CHECK(pf.pos[n - 1].quantity == 100000.0);
        QA_CHECK_INT(pf.pos[n - 1].line, 100001);
    }
    qa_book_free(&pf);
    t0 = qa_time_ns();
    QA_CHECK_ERR(qa_book_load(write_many("manydup.csv", n, 0), NAN, &pf), QA_ERR_CONFIG,
                 "manydup.csv:100001: field 'id': duplicate id 'p0' (first at line 2)");
    QA_CHECK_MSG(qa_time_since(t0) < 10.0, "100k positions with a duplicate took %.2f s", qa_time_since(t0));
}

/* Which duplicate is named: the pair whose second occurrence a reader meets first, as a
 * scan from the top would report it. */
static void test_duplicate_order(void) {
    bad_rows("dup2.csv", "z,SPY,etf,1,,,,,\nb,SPY,etf,1,,,,,\nc,SPY,etf,1,,,,,\nb,SPY,etf,1,,,,,\nz,SPY,etf,1,,,,,\n",
             "dup2.csv:5: field 'id': duplicate id 'b' (first at line 3)");
    bad_rows("dup3.csv", "a,SPY,etf,1,,,,,\nq,SPY,etf,1,,,,,\na,SPY,etf,1,,,,,\na,SPY,etf,1,,,,,\nq,SPY,etf,1,,,,,\n",
             "dup3.csv:4: field 'id': duplicate id 'a' (first at line 2)");
    /* default ids (the symbol) collide too */
    bad_rows("dup4.csv", ",SPY,etf,1,,,,,\n,TLT,etf,1,,,,,\n,SPY,etf,2,,,,,\n",
             "dup4.csv:4: field 'id': duplicate id 'SPY' (first at line 2)");
}

/* Market values quantity x multiplier x price: an overflow (quantity 1e308) or a value
 * past QA_BOOK_MAX_VALUE is refused naming the file, line, id, quantity and price. */
static void test_market_value_bounds(void) {
    const char *p = write_file("huge.csv", "id,symbol,type,quantity,multiplier\n"
                                           "ok,SPY,etf,100,\n"
                                           "big,SPY,etf,1e308,\n"
                                           "fut,SPY,future,2e15,1000\n");
    qa_book pf;
    QA_CHECK_OK(qa_book_load(p, NAN, &pf)); /* each number alone is fine */
    if (pf.n != 3) return;
    QA_CHECK_OK(qa_book_check_value(&pf, 0, pf.pos[0].quantity, 600.0, "market value"));
    QA_CHECK_ERR(qa_book_check_value(&pf, 1, pf.pos[1].quantity, 600.0, "market value"), QA_ERR_CONFIG,
                 "huge.csv:3: position 'big': market value = quantity 1e+308 x multiplier 1 x price 600 = inf is not "
                 "finite (the product overflows a double)");
    QA_CHECK_ERR(qa_book_check_value(&pf, 2, pf.pos[2].quantity, 600.0, "market value"), QA_ERR_CONFIG,
                 "huge.csv:4: position 'fut': market value = quantity 2e+15 x multiplier 1000 x price 600 = 1.2e+21 is "
                 "larger in magnitude than 1e18");
    /* exactly at the bound passes; a short position is bounded by its magnitude */
    QA_CHECK_OK(qa_book_check_value(&pf, 0, -1e15, 1000.0, "market value"));
    QA_CHECK_ERR(qa_book_check_value(&pf, 0, -1e16, 1000.0, "market value"), QA_ERR_CONFIG, "= -1e+19 is larger");
    QA_CHECK_ERR(qa_book_check_value(&pf, 0, 1.0, NAN, "option premium"), QA_ERR_CONFIG,
                 "position 'ok': option premium = quantity 1 x multiplier 1 x price nan = nan is not a number");
    qa_book_free(&pf);
}

int main(void) {
    if (qa_test_tmpdir(dir, sizeof dir, "test_portfolio")) return 1;
    QA_RUN(test_csv_and_yaml_agree);
    QA_RUN(test_bad_files);
    QA_RUN(test_market_checks);
    QA_RUN(test_large_portfolio);
    QA_RUN(test_duplicate_order);
    QA_RUN(test_market_value_bounds);
    qa_test_rmtree(dir);
    return qa_test_finish();
}
