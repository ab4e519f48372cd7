/* `qa tca`: post-trade transaction-cost analysis of the live service's orders.
 *
 * Reads an order database (format "quantumalpha.orders", version 1, SQLite; the schema is
 * in docs/tca.md and is read through that documented format only, never through live/)
 * and a market file (datasets/store.h), and measures every parent order against its
 * decision price, its arrival price and the interval VWAP of the bars it traded over:
 * implementation shortfall (Perold) split into execution, opportunity and fee parts,
 * slippage against VWAP, fill rate, participation, fees. Per UTC day (of the decision)
 * and overall the bps figures are averaged with weights Q·P_d (ordered notional at the
 * decision price). Formulas, null rules and the output columns: docs/tca.md.
 *
 * Outputs (each written atomically): tca_orders.csv, tca_days.csv, summary.json and a
 * self-contained report.html with SVG charts. */
#ifndef QA_PIPELINE_TCA_H
#define QA_PIPELINE_TCA_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QA_TCA_ORDERS_FORMAT "quantumalpha.orders"
#define QA_TCA_ORDERS_VERSION 1
#define QA_TCA_FORMAT "quantumalpha.tca" /* summary.json's format name */
#define QA_TCA_FORMAT_VERSION 1

/* The figures in basis points, per order and averaged per day; NaN = undefined (null in
 * the outputs). Parts: IS = exec + opp + fee for each reference price. */
typedef enum qa_tca_bps {
    QA_TCA_IS_DEC = 0,      /* shortfall vs the decision price */
    QA_TCA_IS_DEC_EXEC = 1, /* its execution part: s·Σq_i(p_i − P_d) */
    QA_TCA_IS_DEC_OPP = 2,  /* its opportunity part: s·(Q − q)(P_end − P_d) */
    QA_TCA_IS_DEC_FEE = 3,  /* its fee part */
    QA_TCA_IS_ARR = 4,      /* the same four vs the arrival price (NaN when never arrived) */
    QA_TCA_IS_ARR_EXEC = 5,
    QA_TCA_IS_ARR_OPP = 6,
    QA_TCA_IS_ARR_FEE = 7,
    QA_TCA_VWAP_SLIP = 8,   /* s·(p̄ − VWAP)/VWAP over the order's interval */
    QA_TCA_FEE_BPS = 9,     /* fees / filled notional */
    QA_TCA_BPS_COUNT = 10
} qa_tca_bps;
/* Column names: "is_dec_bps", ..., "fee_bps" (QA_TCA_BPS_COUNT of them, then NULL). */
extern const char *const qa_tca_bps_names[];

typedef enum qa_tca_outcome {
    QA_TCA_FILLED = 0,   /* filled shares ≥ ordered (to 1e-9 relative) */
    QA_TCA_PARTIAL = 1,  /* some shares filled */
    QA_TCA_UNFILLED = 2, /* no fills */
    QA_TCA_REJECTED = 3, /* state 'rejected': counted, not measured */
    QA_TCA_OUTCOME_COUNT = 4
} qa_tca_outcome;
extern const char *const qa_tca_outcome_names[]; /* "filled", "partial", "unfilled", "rejected", NULL */

/* One parent order: fields read from the database, then what qa_tca_compute measured.
 * Strings are views into `text` (one allocation per order). Times are UTC ns. */
typedef struct qa_tca_order {
    char *text;
    const char *clordid, *strategy, *symbol, *algo, *state, *reason;
    int side;                  /* +1 buy, -1 sell */
    double qty;                /* Q */
    int64_t decision_time;
    double decision_price;     /* P_d */
    int has_arrival;
    int64_t arrival_time;
    double arrival_price;      /* P_a; NaN without arrival */
    int64_t updated;
    /* from the fills and children */
    double filled;             /* q = Σ q_i */
    double notional;           /* Σ q_i p_i */
    double fees;               /* Σ fee_i */
    double exec_dec, exec_arr; /* Σ q_i (p_i − P_d), Σ q_i (p_i − P_a) */
    size_t nfills, nchildren;
    int64_t last_fill;
    /* measured */
    qa_tca_outcome outcome;
    int64_t day;               /* days since 1970-01-01 of decision_time */
    int64_t end_time;          /* last fill, else `updated` */
    double end_price;          /* P_end: close of the symbol's last bar at or before end_time */
    double vwap;               /* interval VWAP, NaN when the interval has no volume */
    double interval_volume;    /* Σ volume over [arrival_time, end_time] (0 without arrival) */
    double participation;      /* q / interval_volume */
    double fill_rate;          /* q / Q */
    double avg_price;          /* p̄ = notional / q; NaN when q = 0 */
    double duration_s;         /* (end_time − arrival_time) / 1e9; NaN without arrival */
    double bps[QA_TCA_BPS_COUNT];
} qa_tca_order;

/* A day's (or the whole period's) aggregate: counts per outcome, totals over the measured
 * parents (rejected ones excluded) and the Q·P_d-weighted averages of the bps figures
 * over the parents where each is defined (NaN when none is). */
typedef struct qa_tca_day {
    int64_t day;               /* days since 1970-01-01; -1 for the overall aggregate */
    size_t count[QA_TCA_OUTCOME_COUNT];
    double shares_ordered, shares_filled;
    double notional_ordered;   /* Σ Q·P_d */
    double notional_filled;    /* Σ q_i p_i */
    double fees;
    double bps[QA_TCA_BPS_COUNT];
} qa_tca_day;

/* What to analyse: parents of one strategy (NULL: all) decided in [from, to] (UTC ns,
 * inclusive). */
typedef struct qa_tca_filter {
    const char *strategy;
    int64_t from, to;
} qa_tca_filter;

/* Everything one analysis produced; owned by the caller (qa_tca_result_free). Orders are
 * sorted by (decision_time, clordid), rejected ones included; days by date. */
typedef struct qa_tca_result {
    qa_tca_order *orders;
    size_t norders;
    qa_tca_day *days;
    size_t ndays;
    qa_tca_day overall;
} qa_tca_result;

void qa_tca_filter_default(qa_tca_filter *f); /* everything: no strategy, all times */
void qa_tca_result_free(qa_tca_result *r);    /* accepts a zeroed struct */

/* Reads the parents matching `f`, their children counts and fills from `orders_db`
 * (opened read-only, in one read transaction). Errors name the file and what was
 * expected: not SQLite, another format or version, a missing table or column, a
 * non-finite or non-positive price or quantity, a side other than ±1, a fill whose side
 * or symbol differs from its parent's. On failure *out is unchanged. */
qa_status qa_tca_load(const char *orders_db, const qa_tca_filter *f, qa_tca_result *out);
/* Measures the loaded orders against `market` (a market file) and builds the days and
 * the overall aggregate. QA_ERR_NOT_FOUND when a measured parent's symbol is not in the
 * market file. */
qa_status qa_tca_compute(qa_tca_result *r, const char *market);
/* Writes tca_orders.csv, tca_days.csv, summary.json and report.html into `out_dir`
 * (created when missing). `orders_db`, `market` and `f` are recorded in summary.json. */
qa_status qa_tca_write(const qa_tca_result *r, const char *out_dir, const char *orders_db, const char *market,
                       const qa_tca_filter *f);

#ifdef __cplusplus
}
#endif
#endif
