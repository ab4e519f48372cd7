/* Portfolios for risk runs: positions read from a CSV or YAML file and checked before any
 * work (format and field reference: docs/risk.md, "Portfolio files").
 *
 * A position is a linear instrument (equity, ETF, future) held by quantity (shares or
 * contracts, times a contract multiplier) or by weight of a stated portfolio value, or a
 * European option (call or put) on one of them with strike, expiry date, quantity,
 * multiplier, implied volatility (or "hist": the underlying's historical volatility),
 * rate and dividend yield. Every error names the file, the line and the field:
 *     book.csv:4: field 'quantity': 'abc' is not a number
 *     book.yaml:12: key 'positions[3].strike': -5 must be > 0
 * qa_book_load checks what the file alone decides (numbers, types, required fields,
 * duplicate ids, empty portfolio, weights without a value); qa_book_check_market
 * checks it against a market file (unknown symbols, expiries on or before the valuation
 * date). */
#ifndef QA_TRADING_BOOK_H
#define QA_TRADING_BOOK_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/fs.h" /* QA_PATH_MAX */
#include "common/status.h"
#include "datasets/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_book_kind {
    QA_BOOK_EQUITY = 0,
    QA_BOOK_ETF = 1,
    QA_BOOK_FUTURE = 2,
    QA_BOOK_OPTION = 3,
    QA_BOOK_KIND_COUNT = 4
} qa_book_kind;

/* "equity", "etf", "future", "option" (NULL-terminated). */
extern const char *const qa_book_kind_names[];

typedef struct qa_book_position {
    char id[64];
    char symbol[QA_STORE_SYMBOL_LEN]; /* the instrument, or the option's underlying */
    qa_book_kind kind;
    double quantity;   /* shares / contracts (signed; negative = short); NaN when by weight */
    double weight;     /* fraction of the portfolio value (signed); NaN when by quantity */
    double multiplier; /* contract multiplier: 1 for equities/ETFs, default 1 for futures, 100 for options */
    /* options only */
    int right;         /* qa_risk_option_type: QA_RISK_CALL or QA_RISK_PUT */
    double strike;     /* > 0, in the underlying's currency */
    int64_t expiry;    /* expiry date, UTC ns of 00:00 */
    double vol;        /* annualised implied volatility; NaN = historical volatility */
    double rate;       /* continuously compounded risk-free rate */
    double div_yield;  /* continuous dividend yield */
    char sector[64];   /* optional sector (overrides the sector table) */
    int line;          /* line of the position in the file (for later errors) */
} qa_book_position;

typedef struct qa_book {
    char path[QA_PATH_MAX];
    char name[64];
    double value;      /* stated portfolio value (currency); NaN when not stated */
    qa_book_position *pos;  /* owned */
    size_t n;
} qa_book;

/* Reads a portfolio: CSV (.csv, .csv.gz: a header row naming the columns, then one
 * position per row; lines starting with '#' are comments) or YAML (.yaml, .yml, .json:
 * keys name, value, positions). `value` (NaN for none) overrides the file's stated
 * value. All file-level checks run here; errors name file:line and field. Caller frees. */
qa_status qa_book_load(const char *path, double value, qa_book *out);
void qa_book_free(qa_book *p);

/* Checks every symbol against the market file (store NULL: skipped) and every option's
 * expiry against the valuation date (must be after it; INT64_MIN: skipped). Errors name
 * the portfolio file, line and field. */
qa_status qa_book_check_market(const qa_book *p, const qa_store_t *store, int64_t valuation);

/* The largest portfolio value accepted, and the largest magnitude of one position's market
 * value: with every position below it, sums over any portfolio that fits in memory stay
 * finite and scenario P&Ls (value x a move of at most a few hundred percent) too. */
#define QA_BOOK_MAX_VALUE 1e18

/* Checks position i's `what` ("market value", "option premium") = quantity x multiplier x
 * price (price per unit: the instrument's, or an option's model value): an error naming
 * the file, line, position id, quantity, multiplier and price when the product is not
 * finite (e.g. quantity 1e308: it overflows) or its magnitude exceeds QA_BOOK_MAX_VALUE.
 * `quantity` is given because positions held by weight get theirs from the price. */
qa_status qa_book_check_value(const qa_book *p, size_t i, double quantity, double price, const char *what);

/* Index of the first position with this id, or -1. */
long qa_book_find(const qa_book *p, const char *id);

#ifdef __cplusplus
}
#endif
#endif
