/* Portfolio files: CSV and YAML parse to the same positions; every bad input is rejected
 * before any work with file:line and the field named. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/store.h"
#include "common/timeparse.h"
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

int main(void) {
    if (qa_test_tmpdir(dir, sizeof dir, "test_portfolio")) return 1;
    QA_RUN(test_csv_and_yaml_agree);
    QA_RUN(test_bad_files);
    QA_RUN(test_market_checks);
    qa_test_rmtree(dir);
    return qa_test_finish();
}
