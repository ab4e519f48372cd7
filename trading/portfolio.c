/* Portfolio and cash accounting: average cost, realised/unrealised P&L, compensated cash
 * sums, exposures. Definitions in portfolio.h and docs/simulator.md. */
#include "trading/portfolio.h"

#include <math.h>    /* fabs, isnan, isfinite, NAN */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* memset */

/* Neumaier's compensated addition: the error of each add goes into c. */
static void sum_add(qa_portfolio_sum *a, double x) {
    double t = a->s + x;
    if (fabs(a->s) >= fabs(x)) a->c += (a->s - t) + x;
    else a->c += (x - t) + a->s;
    a->s = t;
}
static double sum_value(const qa_portfolio_sum *a) { return a->s + a->c; }

qa_status qa_portfolio_init(qa_portfolio *pf, size_t n, double initial) {
    memset(pf, 0, sizeof *pf);
    if (!isfinite(initial)) return QA_FAIL(QA_ERR_INVALID_ARG, "portfolio: initial cash %g is not finite", initial);
    pf->pos = calloc(n ? n : 1, sizeof *pf->pos);
    if (!pf->pos) return QA_FAIL(QA_ERR_NOMEM, "portfolio of %zu symbols", n);
    for (size_t i = 0; i < n; i++) pf->pos[i].mark = NAN;
    pf->n = n;
    pf->initial = initial;
    pf->cash.s = initial;
    return QA_OK;
}

void qa_portfolio_free(qa_portfolio *pf) {
    if (!pf) return;
    free(pf->pos);
    memset(pf, 0, sizeof *pf);
}

qa_status qa_portfolio_fill(qa_portfolio *pf, size_t sym, double qty, double price, double cost) {
    if (sym >= pf->n) return QA_FAIL(QA_ERR_INVALID_ARG, "fill for symbol %zu of %zu", sym, pf->n);
    if (!isfinite(qty) || !(isfinite(price) && price > 0.0) || !(isfinite(cost) && cost >= 0.0))
        return QA_FAIL(QA_ERR_INVALID_ARG, "fill of %g at %g with cost %g: quantity and price must be finite, price > 0, cost >= 0",
                       qty, price, cost);
    qa_position *p = &pf->pos[sym];
    double q0 = p->qty;
    if (q0 == 0.0 || (q0 > 0.0) == (qty > 0.0)) { /* opening or adding */
        double q1 = q0 + qty;
        p->avg_cost = q1 != 0.0 ? (p->avg_cost * fabs(q0) + price * fabs(qty)) / fabs(q1) : 0.0;
        p->qty = q1;
    } else { /* reducing, closing or crossing zero */
        double closed = fabs(qty) < fabs(q0) ? fabs(qty) : fabs(q0);
        p->realized += closed * (price - p->avg_cost) * (q0 > 0.0 ? 1.0 : -1.0);
        double q1 = q0 + qty;
        if (fabs(qty) > fabs(q0)) p->avg_cost = price; /* the rest opens at the fill price */
        else if (fabs(qty) == fabs(q0)) {
            q1 = 0.0; /* exactly closed */
            p->avg_cost = 0.0;
        }
        p->qty = q1;
    }
    p->realized -= cost;
    p->costs += cost;
    p->traded += fabs(qty) * price;
    p->fills++;
    p->mark = price;
    double flow = -(qty * price);
    sum_add(&p->cash_flow, flow);
    sum_add(&p->cash_flow, -cost);
    sum_add(&pf->cash, flow);
    sum_add(&pf->cash, -cost);
    pf->costs += cost;
    pf->fills++;
    return QA_OK;
}

qa_status qa_portfolio_charge(qa_portfolio *pf, size_t sym, double cost) {
    if (sym >= pf->n) return QA_FAIL(QA_ERR_INVALID_ARG, "charge for symbol %zu of %zu", sym, pf->n);
    if (!(isfinite(cost) && cost >= 0.0)) return QA_FAIL(QA_ERR_INVALID_ARG, "cost %g must be finite and >= 0", cost);
    qa_position *p = &pf->pos[sym];
    p->realized -= cost;
    p->costs += cost;
    sum_add(&p->cash_flow, -cost);
    sum_add(&pf->cash, -cost);
    pf->costs += cost;
    return QA_OK;
}

void qa_portfolio_mark(qa_portfolio *pf, size_t sym, double price) {
    if (sym < pf->n && !isnan(price)) pf->pos[sym].mark = price;
}

double qa_portfolio_cash(const qa_portfolio *pf) { return sum_value(&pf->cash); }

double qa_portfolio_value(const qa_portfolio *pf, size_t sym) {
    const qa_position *p = &pf->pos[sym];
    return p->qty != 0.0 ? p->qty * p->mark : 0.0;
}

double qa_portfolio_equity(const qa_portfolio *pf) {
    double e = qa_portfolio_cash(pf);
    for (size_t i = 0; i < pf->n; i++) e += qa_portfolio_value(pf, i);
    return e;
}

double qa_portfolio_unrealized(const qa_portfolio *pf, size_t sym) {
    const qa_position *p = &pf->pos[sym];
    return p->qty != 0.0 ? p->qty * (p->mark - p->avg_cost) : 0.0;
}

double qa_portfolio_total_realized(const qa_portfolio *pf) {
    double r = 0.0;
    for (size_t i = 0; i < pf->n; i++) r += pf->pos[i].realized;
    return r;
}

double qa_portfolio_total_unrealized(const qa_portfolio *pf) {
    double u = 0.0;
    for (size_t i = 0; i < pf->n; i++) u += qa_portfolio_unrealized(pf, i);
    return u;
}

void qa_portfolio_exposure(const qa_portfolio *pf, double *gross, double *net) {
    double g = 0.0, n = 0.0;
    for (size_t i = 0; i < pf->n; i++) {
        double v = qa_portfolio_value(pf, i);
        g += fabs(v);
        n += v;
    }
    if (gross) *gross = g;
    if (net) *net = n;
}

double qa_portfolio_weight(const qa_portfolio *pf, size_t sym) {
    double e = qa_portfolio_equity(pf);
    return e > 0.0 ? qa_portfolio_value(pf, sym) / e : NAN;
}

double qa_portfolio_sleeve_equity(const qa_portfolio *pf, size_t sym, double allocation) {
    return allocation + sum_value(&pf->pos[sym].cash_flow) + qa_portfolio_value(pf, sym);
}
