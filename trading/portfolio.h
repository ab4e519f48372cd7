/* Portfolio and cash accounting in currency, shared by the event-driven simulator and
 * the live service: positions in shares with their average cost, one cash balance,
 * realised and unrealised P&L, equity marked at the last prices, gross/net exposure and
 * weights. Every fill and every fee goes through qa_portfolio_fill / qa_portfolio_charge.
 *
 * Definitions (docs/simulator.md, "Accounting"):
 *   cash       = initial - sum(fill qty x price) - sum(costs)
 *   equity     = cash + sum over positions of qty x mark
 *   unrealised = sum qty x (mark - avg_cost)
 *   realised   = closed quantity x (exit price - avg_cost) x side, minus every cost
 * so that realised + unrealised = equity - initial (up to rounding). Average cost: a
 * fill that adds to a position moves avg_cost to the quantity-weighted mean; one that
 * reduces it realises P&L at the old avg_cost; one that crosses zero closes the old
 * position and opens the rest at the fill price.
 *
 * Per symbol the portfolio also keeps the net cash flow of its fills and costs, so a
 * symbol traded as its own sleeve of capital A has equity A + cash_flow + qty x mark
 * (qa_portfolio_sleeve_equity). Cash sums are compensated (Neumaier), so long runs of
 * small rebalancing fills do not accumulate rounding. */
#ifndef QA_TRADING_PORTFOLIO_H
#define QA_TRADING_PORTFOLIO_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A compensated running sum: value = s + c. */
typedef struct qa_portfolio_sum {
    double s, c;
} qa_portfolio_sum;

typedef struct qa_position {
    double qty;        /* signed shares */
    double avg_cost;   /* average price of the open quantity (0 when flat) */
    double mark;       /* last mark (close or fill price); NaN before the first */
    double realized;   /* realised P&L net of this symbol's costs, currency */
    double costs;      /* costs charged, currency */
    double traded;     /* gross traded notional sum |qty| x price */
    int64_t fills;
    qa_portfolio_sum cash_flow; /* -sum(qty x price) - costs of this symbol */
} qa_position;

typedef struct qa_portfolio {
    size_t n;            /* symbols */
    qa_position *pos;    /* [n] */
    double initial;      /* initial cash */
    qa_portfolio_sum cash;
    double costs;        /* total costs */
    int64_t fills;
} qa_portfolio;

/* n symbols, all flat, cash = initial. */
qa_status qa_portfolio_init(qa_portfolio *pf, size_t n, double initial);
void qa_portfolio_free(qa_portfolio *pf);

/* Applies one fill of `qty` signed shares of `sym` at `price` (> 0) with `cost`
 * (currency, >= 0) charged with it; the fill price also becomes the mark. */
qa_status qa_portfolio_fill(qa_portfolio *pf, size_t sym, double qty, double price, double cost);
/* Charges a fee that comes with no fill (e.g. a fixed fee of a bar). */
qa_status qa_portfolio_charge(qa_portfolio *pf, size_t sym, double cost);
/* Marks `sym` at `price` (a NaN price is ignored: the last mark is kept). */
void qa_portfolio_mark(qa_portfolio *pf, size_t sym, double price);

double qa_portfolio_cash(const qa_portfolio *pf);
/* qty x mark; 0 for a flat position. */
double qa_portfolio_value(const qa_portfolio *pf, size_t sym);
/* cash + sum of position values. */
double qa_portfolio_equity(const qa_portfolio *pf);
double qa_portfolio_unrealized(const qa_portfolio *pf, size_t sym);
/* Sums over all symbols. */
double qa_portfolio_total_realized(const qa_portfolio *pf);
double qa_portfolio_total_unrealized(const qa_portfolio *pf);
/* Gross (sum |value|) and net (sum value) exposure in currency. */
void qa_portfolio_exposure(const qa_portfolio *pf, double *gross, double *net);
/* value / equity (NaN when equity <= 0). */
double qa_portfolio_weight(const qa_portfolio *pf, size_t sym);
/* allocation + cash flow of sym + its value: the equity of a sleeve of `allocation`. */
double qa_portfolio_sleeve_equity(const qa_portfolio *pf, size_t sym, double allocation);

#ifdef __cplusplus
}
#endif
#endif
