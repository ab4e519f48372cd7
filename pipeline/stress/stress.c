/* `qa stress`: checks (portfolio, config against the data) before any work, resolves the
 * book on the valuation date, estimates once on rank 0, runs the VaR methods through the
 * distributed engine, scenarios, limits, and writes the run directory. */
#include <math.h>    /* sqrt, exp, log, NAN, isnan */
#include <stdarg.h>  /* va_list */
#include <stdio.h>   /* snprintf, fopen */
#include <stdlib.h>  /* calloc, free, qsort */
#include <string.h>  /* memcpy, strcmp */

#include "common/fs.h"          /* alerts file */
#include "common/log.h"         /* progress lines */
#include "common/mem.h"
#include "common/progress.h"    /* Monte-Carlo progress */
#include "common/timer.h"       /* timings, peak RSS */
#include "common/timeparse.h" /* dates in messages */
#include "kernels/backend.h"    /* backends */
#include "pipeline/run/rundir.h"    /* run directory */
#include "pipeline/stress/stress_impl.h"

#define NS_PER_DAY 86400000000000.0
#define DAYS_PER_YEAR 365.25 /* option expiries: calendar years */

static const char *date_str(int64_t ns, char *buf, size_t size) {
    return qa_time_format_iso(ns, buf, size);
}

void qa_stress_note(qa_stress_results *r, const char *fmt, ...) {
    if (r->nnotes >= sizeof r->notes / sizeof r->notes[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->notes[r->nnotes++], sizeof r->notes[0], fmt, ap);
    va_end(ap);
    qa_log_info("stress: %s", r->notes[r->nnotes - 1]);
}

/* ---- the book ------------------------------------------------------------------------------ */

void qa_stress_book_free(qa_stress_book *b) {
    if (!b) return;
    qa_book_free(&b->pf);
    QA_FREE_ALL(b->cols, b->factor, b->spot, b->qty, b->mv, b->exposure, b->w, b->w_lin, b->e_lin, b->lin_pos,
                b->opt_pos, b->opt, b->vol, b->c0, b->a1, b->a2, b->av, b->ar, b->e_apx, b->w_apx, b->all_pos, b->vol_of);
    memset(b, 0, sizeof *b);
}

double qa_stress_option_delta(const qa_risk_option *o, double s) {
    double tau = o->expiry;
    if (!(tau > 0)) {
        if (o->type == QA_RISK_CALL) return s > o->strike ? 1.0 : 0.0;
        return s < o->strike ? -1.0 : 0.0;
    }
    double sq = o->vol * sqrt(tau);
    double d1 = (log(s / o->strike) + (o->rate - o->div_yield + 0.5 * o->vol * o->vol) * tau) / sq;
    double df = exp(-o->div_yield * tau);
    return o->type == QA_RISK_CALL ? df * qa_risk_norm_cdf(d1) : df * (qa_risk_norm_cdf(d1) - 1.0);
}

static double option_value(const qa_risk_option *o, double s, double years) {
    return qa_risk_bs_price((qa_risk_option_type)o->type, s, o->strike, o->expiry - years, o->vol, o->rate, o->div_yield);
}

/* An option's value in scenario x after `years`: spot, vol and rate moved by their factors
 * (the kernels' model, qa_risk_option_pnl_). */
static double option_value_moved(const qa_risk_option *o, double xs, double xv, double xr, double years) {
    return qa_risk_bs_price((qa_risk_option_type)o->type, o->spot * exp(xs), o->strike, o->expiry - years,
                            o->vol * exp(xv), o->rate + xr, o->div_yield);
}

static double option_value_at(const qa_risk_option *o, const double *x, double years) {
    return option_value_moved(o, x[o->factor], o->vol_factor >= 0 ? x[o->vol_factor] : 0.0,
                              o->rate_factor >= 0 ? x[o->rate_factor] : 0.0, years);
}

/* Slopes of the option's P&L in its vol factor (*dv) and rate factor (*dr) at the moves
 * (xs, xv, xr) after `years`: central differences of the full revaluation, with steps well
 * inside the factors' daily moves and far above rounding; 0 for a factor it lacks. */
static void option_vol_rate_slopes(const qa_risk_option *o, double xs, double xv, double xr, double years, double *dv,
                                   double *dr) {
    const double h = 1e-5;
    *dv = o->vol_factor < 0 ? 0.0
                            : o->quantity *
                                  (option_value_moved(o, xs, xv + h, xr, years) - option_value_moved(o, xs, xv - h, xr, years)) /
                                  (2 * h);
    *dr = o->rate_factor < 0 ? 0.0
                             : o->quantity *
                                   (option_value_moved(o, xs, xv, xr + h, years) - option_value_moved(o, xs, xv, xr - h, years)) /
                                   (2 * h);
}

static double book_pnl(const qa_stress_book *b, const double *x, double years, double *pos, int full) {
    double total = 0.0;
    if (!full && b->reval != QA_RISK_REVAL_FULL) {
        /* The approximations: one quadratic (or linear) function per position. */
        int dg = b->reval == QA_RISK_REVAL_DELTA_GAMMA;
        for (size_t i = 0; i < b->p; i++) {
            double v = x[b->factor[i]], y = b->c0[i] + b->a1[i] * v + (dg ? 0.5 * b->a2[i] * v * v : 0.0);
            long vf = b->vol_of[b->factor[i]];
            if (b->av[i] != 0.0 && vf >= 0) y += b->av[i] * x[vf];
            if (b->ar[i] != 0.0 && b->rate_f >= 0) y += b->ar[i] * x[b->rate_f];
            if (pos) pos[i] = y;
            total += y;
        }
        return total;
    }
    for (size_t i = 0; i < b->nlin; i++) {
        size_t p = b->lin_pos[i], f = b->factor[p];
        double v = b->exposure[p] * expm1(x[f]);
        if (pos) pos[p] = v;
        total += v;
    }
    for (size_t k = 0; k < b->nopt; k++) {
        const qa_risk_option *o = &b->opt[k];
        double v = o->quantity * (option_value_at(o, x, years) - option_value(o, o->spot, 0.0));
        if (pos) pos[b->opt_pos[k]] = v;
        total += v;
    }
    return total;
}

double qa_stress_book_pnl_model(const qa_stress_book *b, const double *x, double years, double *pos) {
    return book_pnl(b, x, years, pos, 0);
}

double qa_stress_book_pnl_full(const qa_stress_book *b, const double *x, double years, double *pos) {
    return book_pnl(b, x, years, pos, 1);
}

void qa_stress_book_gradient(const qa_stress_book *b, const double *x, double years, double *g) {
    for (size_t j = 0; j < b->n; j++) g[j] = 0.0;
    if (b->reval != QA_RISK_REVAL_FULL) {
        int dg = b->reval == QA_RISK_REVAL_DELTA_GAMMA;
        for (size_t i = 0; i < b->p; i++) {
            g[b->factor[i]] += b->a1[i] + (dg ? b->a2[i] * x[b->factor[i]] : 0.0);
            long vf = b->vol_of[b->factor[i]];
            if (vf >= 0) g[vf] += b->av[i];
            if (b->rate_f >= 0) g[b->rate_f] += b->ar[i];
        }
        return;
    }
    for (size_t i = 0; i < b->nlin; i++) {
        size_t p = b->lin_pos[i], f = b->factor[p];
        g[f] += b->exposure[p] * exp(x[f]);
    }
    for (size_t k = 0; k < b->nopt; k++) {
        const qa_risk_option *op = &b->opt[k];
        qa_risk_option o = *op;
        double s1 = o.spot * exp(x[o.factor]);
        o.vol = o.vol_factor >= 0 ? o.vol * exp(x[o.vol_factor]) : o.vol;
        o.rate = o.rate_factor >= 0 ? o.rate + x[o.rate_factor] : o.rate;
        o.expiry -= years;
        g[o.factor] += o.quantity * qa_stress_option_delta(&o, s1) * s1;
        double dv, dr;
        option_vol_rate_slopes(op, x[op->factor], op->vol_factor >= 0 ? x[op->vol_factor] : 0.0,
                               op->rate_factor >= 0 ? x[op->rate_factor] : 0.0, years, &dv, &dr);
        if (op->vol_factor >= 0) g[op->vol_factor] += dv;
        if (op->rate_factor >= 0) g[op->rate_factor] += dr;
    }
}

/* Gamma of an option at spot s (its expiry field: years left; 0 at or after expiry). */
static double option_gamma(const qa_risk_option *o, double s) {
    double tau = o->expiry;
    if (!(tau > 0)) return 0.0;
    double sq = o->vol * sqrt(tau);
    double d1 = (log(s / o->strike) + (o->rate - o->div_yield + 0.5 * o->vol * o->vol) * tau) / sq;
    return exp(-o->div_yield * tau) * qa_risk_norm_pdf(d1) / (s * sq);
}

/* The approximation coefficients of every position (at the horizon) and, under an
 * approximation, the engine's exposures: every position becomes a linear column of
 * width = qa_risk_reval_width(reval, n) rows (x, then x^2 with the halved a2). */
static qa_status book_approximations(const qa_stress_cfg *c, qa_stress_book *b) {
    size_t n = b->n, p = b->p;
    b->reval = c->reval;
    b->c0 = calloc(p, sizeof *b->c0);
    b->a1 = calloc(p, sizeof *b->a1);
    b->a2 = calloc(p, sizeof *b->a2);
    b->av = calloc(p, sizeof *b->av);
    b->ar = calloc(p, sizeof *b->ar);
    b->all_pos = calloc(p, sizeof *b->all_pos);
    if (!b->c0 || !b->a1 || !b->a2 || !b->av || !b->ar || !b->all_pos) return QA_FAIL(QA_ERR_NOMEM, "revaluation model");
    for (size_t i = 0; i < p; i++) {
        b->all_pos[i] = i;
        b->a1[i] = b->a2[i] = b->exposure[i];
    }
    for (size_t k = 0; k < b->nopt; k++) {
        /* V(S e^x, tau - h) = V + (Delta S) x + (Delta S + Gamma S^2) x^2 / 2 + ...:
         * d/dx V(S e^x) = Delta S e^x, d2/dx2 = Delta S e^x + Gamma S^2 e^2x. */
        qa_risk_option o = b->opt[k];
        size_t i = b->opt_pos[k];
        double s0 = o.spot, v0 = option_value(&o, s0, 0.0);
        o.expiry -= b->horizon_years;
        double vh = qa_risk_bs_price((qa_risk_option_type)o.type, s0, o.strike, o.expiry, o.vol, o.rate, o.div_yield);
        double dS = qa_stress_option_delta(&o, s0) * s0, gS2 = option_gamma(&o, s0) * s0 * s0;
        b->c0[i] = o.quantity * (vh - v0);
        b->a1[i] = o.quantity * dS;
        b->a2[i] = o.quantity * (dS + gS2);
        /* First order in the vol's log-change (vega x vol) and in the rate (rho), at the
         * horizon (first order only, in every approximation). */
        option_vol_rate_slopes(&b->opt[k], 0.0, 0.0, 0.0, b->horizon_years, &b->av[i], &b->ar[i]);
    }
    if (b->reval == QA_RISK_REVAL_FULL) return QA_OK;
    size_t wd = qa_risk_reval_width((qa_risk_reval)b->reval, n);
    b->e_apx = calloc(wd * p, sizeof *b->e_apx);
    b->w_apx = calloc(wd, sizeof *b->w_apx);
    if (!b->e_apx || !b->w_apx) return QA_FAIL(QA_ERR_NOMEM, "exposures (%zu x %zu)", wd, p);
    for (size_t i = 0; i < p; i++) {
        size_t f = b->factor[i];
        b->e_apx[f * p + i] = b->a1[i];
        if (wd > n) b->e_apx[(n + f) * p + i] = 0.5 * b->a2[i];
        if (b->vol_of[f] >= 0) b->e_apx[(size_t)b->vol_of[f] * p + i] += b->av[i];
        if (b->rate_f >= 0) b->e_apx[(size_t)b->rate_f * p + i] += b->ar[i];
    }
    for (size_t k = 0; k < wd; k++)
        for (size_t i = 0; i < p; i++) b->w_apx[k] += b->e_apx[k * p + i];
    return QA_OK;
}

/* The option factors beyond the underlyings (docs/risk.md, "Volatility and rate factors"):
 * a vol factor per option underlying (its realised-vol proxy) and one rate factor (a bond
 * ETF proxy), as panel columns right after the portfolio's symbols, so the book's factors
 * are still the panel's first columns. */
static qa_status book_option_factors(const qa_stress_cfg *c, qa_stress_book *b, qa_stress_panel *panel, int vol,
                                     int rate) {
    size_t n0 = b->n, nd = 0;
    b->rate_f = -1;
    b->vol_of = malloc(n0 * sizeof *b->vol_of);
    if (!b->vol_of) return QA_FAIL(QA_ERR_NOMEM, "factors");
    for (size_t f = 0; f < n0; f++) b->vol_of[f] = -1;
    for (size_t i = 0; vol && i < b->p; i++) {
        size_t f = b->factor[i];
        if (b->pf.pos[i].kind != QA_BOOK_OPTION || b->vol_of[f] >= 0) continue;
        char name[QA_STORE_SYMBOL_LEN];
        snprintf(name, sizeof name, "%.26s~vol", panel->sym[f]);
        QA_TRY_RET(qa_stress_panel_derive(panel, n0 + nd, name, QA_STRESS_COL_VOL, f, c->vol_window, 0.0));
        b->vol_of[f] = (long)(n0 + nd++);
    }
    if (rate) {
        char name[QA_STORE_SYMBOL_LEN];
        snprintf(name, sizeof name, "rate~%.26s", c->rate_proxy);
        long src = qa_stress_panel_find(panel, c->rate_proxy);
        if (src < 0) return QA_FAIL(QA_ERR_STATE, "rate proxy %s: no panel column", c->rate_proxy);
        QA_TRY_RET(qa_stress_panel_derive(panel, n0 + nd, name, QA_STRESS_COL_RATE, (size_t)src, 0, c->rate_duration));
        b->rate_f = (long)(n0 + nd++);
    }
    if (nd) {
        size_t *cols = realloc(b->cols, (n0 + nd) * sizeof *cols);
        if (!cols) return QA_FAIL(QA_ERR_NOMEM, "factors");
        b->cols = cols;
        b->n = n0 + nd;
    }
    return QA_OK;
}

/* A position's symbol and index, sorted to group equal symbols. */
typedef struct sym_pos {
    const char *symbol;
    size_t index;
} sym_pos;

static int cmp_sym_pos(const void *a, const void *b) {
    const sym_pos *x = a, *y = b;
    int c = strcmp(x->symbol, y->symbol);
    if (c) return c;
    return (x->index > y->index) - (x->index < y->index);
}

/* Distinct symbols of the positions, in order of first appearance. Sorting (symbol,
 * index) finds each position's first position with the same symbol in O(p log p), so
 * books of 10^5 positions cost milliseconds here (a pairwise scan is quadratic). */
static qa_status book_factors(qa_stress_book *b) {
    const qa_book *pf = &b->pf;
    b->p = pf->n;
    b->factor = calloc(b->p, sizeof *b->factor);
    b->cols = calloc(b->p, sizeof *b->cols);
    sym_pos *sorted = malloc((b->p ? b->p : 1) * sizeof *sorted);
    size_t *first = malloc((b->p ? b->p : 1) * sizeof *first);
    if (!b->factor || !b->cols || !sorted || !first) {
        free(sorted);
        free(first);
        return QA_FAIL(QA_ERR_NOMEM, "book of %zu positions", b->p);
    }
    for (size_t i = 0; i < b->p; i++) sorted[i] = (sym_pos){pf->pos[i].symbol, i};
    qsort(sorted, b->p, sizeof *sorted, cmp_sym_pos);
    /* first[i]: the lowest index with position i's symbol (each group starts with it). */
    for (size_t k = 0; k < b->p; k++)
        first[sorted[k].index] = (k > 0 && strcmp(sorted[k].symbol, sorted[k - 1].symbol) == 0)
                                     ? first[sorted[k - 1].index]
                                     : sorted[k].index;
    b->n = 0;
    for (size_t i = 0; i < b->p; i++) b->factor[i] = first[i] == i ? b->n++ : b->factor[first[i]];
    free(sorted);
    free(first);
    return QA_OK;
}

/* Prices, quantities, values and exposures on the valuation date. r: window returns
 * (nret x n) for historical volatilities. */
static qa_status book_resolve(const qa_stress_cfg *c, const qa_stress_panel *panel, const double *r, size_t nret,
                              qa_stress_book *b) {
    const qa_book *pf = &b->pf;
    size_t n = b->n, p = b->p;
    b->spot = calloc(n, sizeof *b->spot);
    b->w = calloc(n, sizeof *b->w);
    b->w_lin = calloc(n, sizeof *b->w_lin);
    b->qty = calloc(p, sizeof *b->qty);
    b->mv = calloc(p, sizeof *b->mv);
    b->exposure = calloc(p, sizeof *b->exposure);
    b->vol = calloc(p, sizeof *b->vol);
    b->lin_pos = calloc(p, sizeof *b->lin_pos);
    b->opt_pos = calloc(p, sizeof *b->opt_pos);
    b->opt = calloc(p, sizeof *b->opt);
    if (!b->spot || !b->w || !b->w_lin || !b->qty || !b->mv || !b->exposure || !b->vol || !b->lin_pos || !b->opt_pos ||
        !b->opt)
        return QA_FAIL(QA_ERR_NOMEM, "book");
    for (size_t f = 0; f < n; f++) b->spot[f] = panel->close[b->cols[f] * panel->t + b->t_val];
    b->horizon_years = (double)c->horizon / panel->bars_per_year;
    double sum_mv = 0.0;
    for (size_t i = 0; i < p; i++) {
        const qa_book_position *q = &pf->pos[i];
        size_t f = b->factor[i];
        double s = b->spot[f];
        b->qty[i] = isnan(q->weight) ? q->quantity : q->weight * pf->value / (s * q->multiplier);
        b->vol[i] = NAN;
        /* The notional bounds every sum below (QA_BOOK_MAX_VALUE); an option's premium is
         * checked once it is priced. */
        qa_status vs = qa_book_check_value(pf, i, b->qty[i], s, q->kind == QA_BOOK_OPTION ? "underlying notional"
                                                                                       : "market value");
        if (vs != QA_OK) return vs;
        if (q->kind == QA_BOOK_OPTION) {
            qa_risk_option *o = &b->opt[b->nopt];
            double vol = q->vol;
            if (isnan(vol)) {
                /* Historical volatility of the underlying over the window, annualised. */
                double m = 0.0, v = 0.0;
                for (size_t t = 0; t < nret; t++) m += r[t * n + f];
                m /= (double)nret;
                for (size_t t = 0; t < nret; t++) v += (r[t * n + f] - m) * (r[t * n + f] - m);
                vol = sqrt(v / (double)(nret - 1) * panel->bars_per_year);
                if (!(vol > 0))
                    return QA_FAIL(QA_ERR_CONFIG, "%s:%d: field 'vol': the historical volatility of %s is 0; give an "
                                                  "implied volatility",
                                   pf->path, q->line, q->symbol);
            }
            o->quantity = b->qty[i] * q->multiplier;
            o->spot = s;
            o->strike = q->strike;
            o->expiry = (double)(q->expiry - b->valuation) / NS_PER_DAY / DAYS_PER_YEAR;
            o->vol = vol;
            o->rate = q->rate;
            o->div_yield = q->div_yield;
            o->type = q->right;
            o->factor = (int32_t)f;
            o->vol_factor = (int32_t)b->vol_of[f];
            o->rate_factor = (int32_t)b->rate_f;
            b->vol[i] = vol;
            double premium = option_value(o, s, 0.0);
            if ((vs = qa_book_check_value(pf, i, b->qty[i], premium, "option premium")) != QA_OK) return vs;
            b->mv[i] = o->quantity * premium;
            b->exposure[i] = o->quantity * qa_stress_option_delta(o, s) * s;
            b->opt_pos[b->nopt++] = i;
        } else {
            b->exposure[i] = b->qty[i] * q->multiplier * s;
            b->mv[i] = q->kind == QA_BOOK_FUTURE ? 0.0 : b->exposure[i];
            b->w_lin[f] += b->exposure[i];
            b->lin_pos[b->nlin++] = i;
        }
        b->w[f] += b->exposure[i];
        sum_mv += b->mv[i];
    }
    b->value = isnan(pf->value) ? sum_mv : pf->value;
    if (!(b->value > 0))
        return QA_FAIL(QA_ERR_CONFIG, "%s: the portfolio's market value is %.2f (futures count 0); state a positive "
                                      "value ('value' in a YAML portfolio or 'portfolio_value' in the stress config)",
                       pf->path, b->value);
    b->e_lin = calloc(n * (b->nlin ? b->nlin : 1), sizeof *b->e_lin);
    if (!b->e_lin) return QA_FAIL(QA_ERR_NOMEM, "exposures");
    for (size_t k = 0; k < b->nlin; k++) {
        size_t i = b->lin_pos[k];
        b->e_lin[b->factor[i] * b->nlin + k] = b->exposure[i];
    }
    return book_approximations(c, b);
}

/* The engine's view of the book: full revaluation keeps options in Black-Scholes and
 * revalues linear positions on expm1(x); the approximations map every position onto a
 * linear column (book_approximations) with its time decay as a constant. */
static qa_stress_engine_book engine_book(const qa_stress_book *b) {
    qa_stress_engine_book e;
    memset(&e, 0, sizeof e);
    e.n = b->n;
    e.p = b->p;
    e.reval = (qa_risk_reval)b->reval;
    e.horizon_years = b->horizon_years;
    if (b->reval == QA_RISK_REVAL_FULL) {
        e.nlin = b->nlin, e.e_lin = b->e_lin, e.w = b->w_lin, e.lin_pos = b->lin_pos;
        e.nopt = b->nopt, e.opt = b->opt, e.opt_pos = b->opt_pos;
    } else {
        e.nlin = b->p, e.e_lin = b->e_apx, e.w = b->w_apx, e.lin_pos = b->all_pos;
        e.off_lin = b->nopt ? b->c0 : NULL;
    }
    return e;
}

/* ---- results -------------------------------------------------------------------------------- */

static void measure_free(qa_stress_measure *m) {
    QA_FREE_ALL(m->comp_var, m->comp_es, m->marginal, m->marginal_es, m->incr_var, m->incr_es, m->sample);
}

void qa_stress_results_free(qa_stress_results *r) {
    if (!r) return;
    for (size_t i = 0; i < 2 * (size_t)QA_STRESS_METHOD_COUNT; i++) measure_free(&r->m[i]);
    for (size_t i = 0; i < r->nsc; i++) {
        QA_FREE_ALL(r->sc[i].pos, r->sc[i].path_time, r->sc[i].path_pnl, r->sc[i].move_sym, r->sc[i].moves);
    }
    free(r->sc);
    free(r->limits);
}

/* Marginal VaR/ES per position = component / delta exposure (d VaR / d exposure, Euler). */
static qa_status add_marginal(const qa_stress_book *b, size_t nlevels, qa_stress_measure *m) {
    if (!m->comp_var) return QA_OK;
    m->marginal = calloc(nlevels * b->p, sizeof *m->marginal);
    m->marginal_es = calloc(nlevels * b->p, sizeof *m->marginal_es);
    if (!m->marginal || !m->marginal_es) return QA_FAIL(QA_ERR_NOMEM, "marginal VaR");
    for (size_t l = 0; l < nlevels; l++)
        for (size_t i = 0; i < b->p; i++) {
            double e = b->exposure[i];
            m->marginal[l * b->p + i] = e != 0.0 ? m->comp_var[l * b->p + i] / e : NAN;
            m->marginal_es[l * b->p + i] = e != 0.0 ? m->comp_es[l * b->p + i] / e : NAN;
        }
    return QA_OK;
}

static void take_engine(qa_stress_measure *m, qa_stress_engine_result *r, const char *name, size_t nlevels) {
    m->run = 1;
    snprintf(m->name, sizeof m->name, "%s", name);
    for (size_t l = 0; l < nlevels; l++) {
        m->var[l] = r->var[l];
        m->es[l] = r->es[l];
    }
    m->scenarios = (size_t)r->scenarios;
    m->comp_var = r->comp_var;
    m->comp_es = r->comp_es;
    m->incr_var = r->incr_var;
    m->incr_es = r->incr_es;
    m->sample = r->sample;
    m->nsample = r->nsample;
    m->seconds = r->seconds;
    r->comp_var = r->comp_es = r->incr_var = r->incr_es = r->sample = NULL;
}

/* ---- estimation (rank 0, broadcast) ------------------------------------------------------------ */

/* Covariance (daily) and mean of a return window by the configured estimator, on rank 0,
 * then broadcast as bytes so every rank holds the same bits. */
static qa_status estimate(const qa_stress_cfg *c, qa_risk_ctx_t *est, const qa_comm_t *comm, const double *r,
                          size_t nret, size_t n, double *cov, double *mu, double *intensity) {
    qa_status st = QA_OK;
    if (qa_comm_rank(comm) == 0) {
        *intensity = NAN;
        switch (c->estimator) {
        case QA_STRESS_COV_SAMPLE: st = qa_risk_cov_sample(est, r, nret, n, cov); break;
        case QA_STRESS_COV_EWMA: st = qa_risk_cov_ewma(est, r, nret, n, c->ewma_lambda, 0, cov); break;
        default: st = qa_risk_cov_ledoit_wolf(est, r, nret, n, (qa_risk_lw_target)c->lw_target, cov, intensity); break;
        }
        if (st == QA_OK) st = qa_risk_mean(est, r, nret, n, mu);
    }
    st = qa_comm_agree(comm, st);
    if (st == QA_OK) st = qa_comm_bcast(comm, cov, n * n * sizeof *cov, 0);
    if (st == QA_OK) st = qa_comm_bcast(comm, mu, n * sizeof *mu, 0);
    return st;
}

/* Lower Cholesky factor of h cov on rank 0, broadcast as bytes. */
static qa_status horizon_factor(const qa_stress_cfg *c, qa_risk_ctx_t *est, const qa_comm_t *comm, const double *cov,
                                size_t n, double *l, double *jitter) {
    qa_status st = QA_OK;
    double *ch = malloc(n * n * sizeof *ch);
    if (!ch) st = QA_FAIL(QA_ERR_NOMEM, "covariance");
    if (st == QA_OK && qa_comm_rank(comm) == 0) {
        memcpy(ch, cov, n * n * sizeof *ch);
        st = qa_risk_cov_horizon(est, ch, n, (double)c->horizon);
        if (st == QA_OK) st = qa_risk_cholesky(est, ch, n, c->jitter_max, l, jitter);
    }
    free(ch);
    st = qa_comm_agree(comm, st);
    if (st == QA_OK) st = qa_comm_bcast(comm, l, n * n * sizeof *l, 0);
    if (st == QA_OK) st = qa_comm_bcast(comm, jitter, sizeof *jitter, 0);
    return st;
}

/* Parametric VaR/ES with Euler contributions per position (delta mapping of options). */
static qa_status parametric(const qa_stress_cfg *c, const qa_stress_book *b, const double *cov, const double *mu,
                            qa_stress_measure *m, const char *name) {
    size_t n = b->n, p = b->p, L = c->nlevels;
    qa_status st = QA_OK;
    double *marg = calloc(n, sizeof *marg), *w2 = calloc(n, sizeof *w2);
    m->comp_var = calloc(L * p, sizeof *m->comp_var);
    m->comp_es = calloc(L * p, sizeof *m->comp_es);
    m->marginal = calloc(L * p, sizeof *m->marginal);
    m->marginal_es = calloc(L * p, sizeof *m->marginal_es);
    m->incr_var = calloc(L * p, sizeof *m->incr_var);
    m->incr_es = calloc(L * p, sizeof *m->incr_es);
    if (!marg || !w2 || !m->comp_var || !m->comp_es || !m->marginal || !m->marginal_es || !m->incr_var || !m->incr_es)
        QA_TRY_FAIL(QA_ERR_NOMEM, "parametric");
    const double *mean = c->use_mean ? mu : NULL;
    double h = (double)c->horizon;
    for (size_t l = 0; l < L; l++) {
        qa_risk_param out;
        QA_TRY(qa_risk_parametric(cov, mean, b->w, n, c->levels[l], h, c->param_nu, &out, marg, NULL, NULL, NULL));
        m->var[l] = out.var;
        m->es[l] = out.es;
        /* Marginal ES from marginal VaR: both are -h mu_f + sqrt(h) (Sigma w)_f / sigma_1 times q or e. */
        double hm = 0.0;
        for (size_t j = 0; mean && j < n; j++) hm += h * mean[j] * b->w[j];
        double ratio = (out.es + hm) / (out.var + hm);
        for (size_t i = 0; i < p; i++) {
            size_t f = b->factor[i];
            double hmu = mean ? h * mean[f] : 0.0, mvar = marg[f], mes = -hmu + (mvar + hmu) * ratio;
            m->marginal[l * p + i] = mvar;
            m->marginal_es[l * p + i] = mes;
            m->comp_var[l * p + i] = b->exposure[i] * mvar;
            m->comp_es[l * p + i] = b->exposure[i] * mes;
            /* Incremental: exact recomputation without the position. */
            memcpy(w2, b->w, n * sizeof *w2);
            w2[f] -= b->exposure[i];
            double var2 = 0.0;
            for (size_t a = 0; a < n; a++)
                for (size_t bb = 0; bb < n; bb++) var2 += w2[a] * cov[a * n + bb] * w2[bb];
            if (var2 > 0.0) {
                qa_risk_param o2;
                QA_TRY(qa_risk_parametric(cov, mean, w2, n, c->levels[l], h, c->param_nu, &o2, NULL, NULL, NULL, NULL));
                m->incr_var[l * p + i] = out.var - o2.var;
                m->incr_es[l * p + i] = out.es - o2.es;
            } else {
                m->incr_var[l * p + i] = out.var; /* the rest of the book carries no risk */
                m->incr_es[l * p + i] = out.es;
            }
        }
    }
    m->run = 1;
    snprintf(m->name, sizeof m->name, "%s", name);
cleanup:
    free(marg);
    free(w2);
    return st;
}

/* ---- checks before any work ------------------------------------------------------------------ */

/* Symbols referenced by scenarios (assets and factor baskets) must be in the store. */
static qa_status check_scenario_symbols(const qa_stress_cfg *c, const qa_store_t *store) {
    for (size_t i = 0; i < c->nhypos; i++)
        for (size_t j = 0; j < c->hypos[i].nshocks; j++) {
            const qa_stress_shock *s = &c->hypos[i].shocks[j];
            if (s->kind == QA_STRESS_SHOCK_ASSET && qa_store_find_symbol(store, s->target) < 0)
                return QA_FAIL(QA_ERR_CONFIG, "%s: key 'scenarios.hypothetical[%zu].shocks[%zu].asset': unknown "
                                              "scenario asset '%s' (not in %s)",
                               QA_STRESS_AT(c, s->line), i, j, s->target, qa_store_path(store));
        }
    for (size_t i = 0; i < c->nfactors; i++)
        for (size_t j = 0; j < c->factors[i].n; j++)
            if (qa_store_find_symbol(store, c->factors[i].assets[j]) < 0)
                return QA_FAIL(QA_ERR_CONFIG, "%s: key 'scenarios.factors[%zu].assets[%zu]': unknown asset '%s' (not "
                                              "in %s)",
                               QA_STRESS_AT(c, c->factors[i].line), i, j, c->factors[i].assets[j], qa_store_path(store));
    return QA_OK;
}

static qa_status add_symbol(const char ***list, size_t *n, size_t *cap, const char *s) {
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i], s) == 0) return QA_OK;
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        const char **nl = realloc((void *)*list, nc * sizeof *nl);
        if (!nl) return QA_FAIL(QA_ERR_NOMEM, "symbol list");
        *list = nl;
        *cap = nc;
    }
    (*list)[(*n)++] = s;
    return QA_OK;
}

/* ---- the run --------------------------------------------------------------------------------- */

static qa_stress_engine_opts engine_opts(const qa_stress_cfg *c, size_t p, qa_progress_t *prog, size_t sample) {
    qa_stress_engine_opts o;
    memset(&o, 0, sizeof o);
    o.levels = c->levels;
    o.nlevels = c->nlevels;
    o.block = (size_t)c->mc_block;
    o.chunk = (size_t)c->chunk;
    o.contributions = c->contributions;
    o.incremental = c->incremental < 0 ? p <= 100 : c->incremental;
    o.bandwidth = (size_t)c->bandwidth;
    o.sample = sample;
    o.progress = prog;
    return o;
}

/* Historical (or FHS) VaR over a return matrix r (nret x n): overlapping h-day sums. */
static qa_status run_hist(const qa_stress_cfg *c, qa_risk_ctx_t *ctx, qa_risk_ctx_t *est, const qa_comm_t *comm,
                          const qa_stress_book *b, const double *r, size_t nret, int fhs, qa_stress_measure *m,
                          const char *name) {
    qa_status st = QA_OK;
    size_t n = b->n, h = (size_t)c->horizon, ns = nret - h + 1;
    double *f = NULL, *x = malloc(ns * n * sizeof *x);
    qa_stress_engine_result er;
    memset(&er, 0, sizeof er);
    if (!x) QA_TRY_FAIL(QA_ERR_NOMEM, "historical scenarios (%zu x %zu)", ns, n);
    const double *src = r;
    if (fhs) {
        f = malloc(nret * n * sizeof *f);
        if (!f) QA_TRY_FAIL(QA_ERR_NOMEM, "FHS returns");
        QA_TRY(qa_risk_fhs(est, r, nret, n, c->fhs_lambda, f, NULL));
        src = f;
    }
    /* Every rank derives the same matrix (sums in date order: bitwise on any rank). */
    QA_TRY(qa_risk_hist_horizon(est, src, nret, n, h, x));
    qa_stress_engine_book eb = engine_book(b);
    qa_stress_engine_source s;
    memset(&s, 0, sizeof s);
    s.kind = QA_STRESS_SOURCE_MATRIX;
    s.count = ns;
    s.x = x;
    qa_stress_engine_opts o = engine_opts(c, b->p, NULL, ns);
    QA_TRY(qa_stress_engine_run(ctx, comm, &eb, &s, &o, &er));
    take_engine(m, &er, name, c->nlevels);
    QA_TRY(add_marginal(b, c->nlevels, m));
cleanup:
    qa_stress_engine_result_free(&er);
    free(f);
    free(x);
    return st;
}

static qa_status run_mc(const qa_stress_cfg *c, qa_risk_ctx_t *ctx, const qa_comm_t *comm, const qa_stress_book *b,
                        const double *l, const double *mean_h, uint64_t stream, qa_stress_measure *m, const char *name,
                        qa_stress_results *res) {
    qa_status st = QA_OK;
    qa_progress_t *prog = NULL;
    qa_stress_engine_result er;
    memset(&er, 0, sizeof er);
    if (qa_comm_rank(comm) == 0)
        QA_TRY(qa_progress_create(name, (uint64_t)c->mc_scenarios, "scenarios", QA_PROGRESS_AUTO, NULL, &prog));
    qa_stress_engine_book eb = engine_book(b);
    qa_stress_engine_source s;
    memset(&s, 0, sizeof s);
    s.kind = QA_STRESS_SOURCE_MC;
    s.count = (uint64_t)c->mc_scenarios;
    s.mc.seed = (uint64_t)c->mc_seed;
    s.mc.stream = stream;
    s.mc.dist = c->mc_nu ? QA_RISK_DIST_STUDENT_T : QA_RISK_DIST_NORMAL;
    s.mc.nu = c->mc_nu;
    s.l = l;
    s.mean = mean_h;
    qa_stress_engine_opts o = engine_opts(c, b->p, prog, (size_t)c->sample);
    st = qa_stress_engine_run(ctx, comm, &eb, &s, &o, &er);
    if (st == QA_ERR_LIMIT) qa_err_prefix("%s: key 'montecarlo.scenarios': ", c->cfg_name); /* the count to lower */
    QA_TRY(st);
    qa_progress_finish(prog);
    if (res && stream == 0) {
        res->mc_seconds = er.seconds_scan;
        double sec = er.seconds_scan > 0 ? er.seconds_scan : 1e-9, sc = (double)er.scenarios;
        res->mc_scenarios_per_s = sc / sec;
        res->mc_asset_revals_per_s = sc * (double)b->n / sec;
        res->mc_option_revals_per_s = b->reval == QA_RISK_REVAL_FULL ? sc * (double)b->nopt / sec : 0.0;
    }
    take_engine(m, &er, name, c->nlevels);
    QA_TRY(add_marginal(b, c->nlevels, m));
cleanup:
    qa_progress_free(prog);
    qa_stress_engine_result_free(&er);
    return st;
}

/* Limits: snapshot from the chosen method, JSON-line alerts into <run>/alerts.jsonl. */
static qa_status check_limits(const qa_stress_cfg *c, const char *run_dir, qa_stress_results *res) {
    qa_status st = QA_OK;
    const qa_stress_book *b = res->book;
    int src = c->limits_method;
    if (src < 0) {
        src = res->m[QA_STRESS_MONTECARLO].run ? QA_STRESS_MONTECARLO : -1;
        for (int k = 0; src < 0 && k < QA_STRESS_METHOD_COUNT; k++)
            if (res->m[k].run) src = k;
    }
    res->limits_source = src;
    double var[QA_STRESS_MAX_LEVELS], es[QA_STRESS_MAX_LEVELS];
    for (size_t l = 0; l < c->nlevels; l++) {
        var[l] = src >= 0 ? res->m[src].var[l] / b->value : NAN;
        es[l] = src >= 0 ? res->m[src].es[l] / b->value : NAN;
    }
    double gross = 0, net = 0, mx = 0;
    const char *mxn = NULL;
    for (size_t i = 0; i < b->p; i++) {
        double wt = b->exposure[i] / b->value;
        gross += fabs(wt);
        net += wt;
        if (fabs(wt) > mx) mx = fabs(wt), mxn = b->pf.pos[i].id;
    }
    res->gross = gross;
    res->net = net;
    res->max_weight = mx;
    res->max_weight_name = mxn;
    qa_risk_snapshot snap = {c->levels, var, es, c->nlevels, gross, net, mx, mxn, res->drawdown};
    res->limits = calloc(c->limits.n ? c->limits.n : 1, sizeof *res->limits);
    if (!res->limits) return QA_FAIL(QA_ERR_NOMEM, "limit results");
    qa_limits_check(&c->limits, &snap, res->limits);
    char path[QA_PATH_MAX];
    QA_TRY(qa_path_join(path, run_dir, "alerts.jsonl"));
    qa_atomic_file af; /* whole or not at all: a full disk leaves the previous run's alerts */
    QA_TRY(qa_atomic_open(&af, path));
    st = qa_limits_write_alerts(af.f, "stress", NULL, res->limits, c->limits.n, &snap);
    if (st == QA_OK) st = qa_atomic_commit(&af);
    else qa_atomic_abort(&af);
    QA_TRY(st);
    for (size_t i = 0; i < c->limits.n; i++) {
        const qa_limit_result *lr = &res->limits[i];
        if (lr->state == QA_LIMIT_BREACH)
            qa_log_warn("stress: limit %s BREACHED: %s = %.6g (bound %.6g)", lr->limit->name,
                        qa_limit_metric_names[lr->limit->metric], lr->value, lr->threshold);
        else if (lr->state == QA_LIMIT_WARNING)
            qa_log_warn("stress: limit %s near its bound: %s = %.6g (bound %.6g)", lr->limit->name,
                        qa_limit_metric_names[lr->limit->metric], lr->value, lr->threshold);
    }
cleanup:
    return st;
}

/* Current drawdown of the constant-holdings book over the window dates (options repriced
 * with today's expiry and volatility). */
static double book_drawdown(const qa_stress_book *b, const qa_stress_panel *panel, const size_t *dates, size_t nd) {
    double peak = b->value, *x = malloc(b->n * sizeof *x);
    if (!x) return NAN;
    for (size_t k = 0; k < nd; k++) {
        for (size_t f = 0; f < b->n; f++) x[f] = log(panel->close[b->cols[f] * panel->t + dates[k]] / b->spot[f]);
        double v = b->value + qa_stress_book_pnl_full(b, x, 0.0, NULL);
        if (v > peak) peak = v;
    }
    free(x);
    return peak > 0 ? (peak - b->value) / peak : NAN;
}

/* The portfolio checked against the market file (and, with `scenarios`, the symbols the
 * scenarios name), its factors, and the panel of prices: the portfolio's symbols first,
 * then the scenarios' (*nsyms in all), resolved to the valuation date. Collective. */
static qa_status book_load(const qa_stress_cfg *c, const qa_comm_t *comm, int scenarios, qa_stress_book *b,
                           qa_stress_panel *panel, size_t *nsyms) {
    qa_status st = QA_OK;
    qa_store_t *store = NULL;
    const char **syms = NULL;
    size_t capsyms = 0;
    char buf[32];
    *nsyms = 0;
    st = qa_book_load(c->portfolio, c->portfolio_value, &b->pf);
    int has_opt = 0, rate = 0;
    for (size_t i = 0; st == QA_OK && i < b->pf.n; i++) has_opt |= b->pf.pos[i].kind == QA_BOOK_OPTION;
    if (st == QA_OK && qa_comm_rank(comm) == 0) {
        st = qa_store_open(c->data, NULL, QA_STORE_READ, &store);
        if (st == QA_OK) st = qa_book_check_market(&b->pf, store, INT64_MIN);
        if (st == QA_OK && scenarios) st = check_scenario_symbols(c, store);
        rate = st == QA_OK && has_opt && c->rate_proxy && qa_store_find_symbol(store, c->rate_proxy) >= 0;
        if (st == QA_OK && has_opt && c->rate_proxy && !rate && c->rate_explicit)
            st = QA_FAIL(QA_ERR_CONFIG, "%s: key 'option_factors.rate': the rate proxy '%s' is not in %s (give a bond ETF "
                                        "in the file, or none to keep rates fixed)",
                         c->cfg_name, c->rate_proxy, c->data);
        qa_store_close(store);
    }
    st = qa_comm_agree(comm, st);
    if (st != QA_OK) return st;
    if (qa_comm_size(comm) > 1) QA_TRY(qa_comm_bcast(comm, &rate, sizeof rate, 0));
    b->rate_missing = scenarios && has_opt && c->rate_proxy && !rate;
    rate = rate && scenarios;
    QA_TRY(book_factors(b));
    for (size_t i = 0; i < b->p; i++) QA_TRY(add_symbol(&syms, nsyms, &capsyms, b->pf.pos[i].symbol));
    if (rate) QA_TRY(add_symbol(&syms, nsyms, &capsyms, c->rate_proxy));
    for (size_t i = 0; scenarios && i < c->nhypos; i++)
        for (size_t j = 0; j < c->hypos[i].nshocks; j++)
            if (c->hypos[i].shocks[j].kind == QA_STRESS_SHOCK_ASSET)
                QA_TRY(add_symbol(&syms, nsyms, &capsyms, c->hypos[i].shocks[j].target));
    for (size_t i = 0; scenarios && i < c->nfactors; i++)
        for (size_t j = 0; j < c->factors[i].n; j++) QA_TRY(add_symbol(&syms, nsyms, &capsyms, c->factors[i].assets[j]));
    QA_TRY(qa_stress_panel_load(c->data, comm, syms, *nsyms, panel));
    /* The backtest (scenarios = 0) holds the book at constant delta weights: no option factors. */
    QA_TRY(book_option_factors(c, b, panel, scenarios && c->opt_vol, rate));
    *nsyms = panel->n;
    for (size_t f = 0; f < b->n; f++) b->cols[f] = f; /* the book's factors come first in the panel */
    long tv = qa_stress_panel_last_common(panel, b->cols, b->n, c->valuation);
    if (tv < 0) {
        if (c->valuation)
            QA_TRY_FAIL(QA_ERR_CONFIG, "%s: key 'valuation_date': no date on or before %s has prices for every "
                                       "portfolio asset in %s",
                        QA_STRESS_AT(c, c->line_valuation), date_str(c->valuation, buf, sizeof buf), c->data);
        QA_TRY_FAIL(QA_ERR_CONFIG, "%s: no date has prices for every portfolio asset", c->data);
    }
    b->t_val = (size_t)tv;
    b->valuation = panel->time[tv];
    QA_TRY(qa_book_check_market(&b->pf, NULL, b->valuation));
cleanup:
    free((void *)syms);
    return st;
}

/* The estimation window (W x n returns and their time indices, *w = W): the `window`
 * returns ending on the valuation date, or every return dated within the window's dates,
 * which must end by the valuation date (later returns would look ahead). */
static qa_status window_returns(const qa_stress_cfg *c, const qa_stress_book *b, const qa_stress_panel *panel,
                                double **r, size_t **dates, size_t *w) {
    char buf[32], buf2[32], buf3[32], buf4[32];
    size_t avail = 0;
    if (c->window_start) {
        if (c->window_end > b->valuation)
            return QA_FAIL(QA_ERR_CONFIG, "%s: key 'window.end': the window ends on %s, after the valuation date %s "
                                          "(returns after it would look ahead)",
                           QA_STRESS_AT(c, c->line_window), date_str(c->window_end, buf, sizeof buf),
                           date_str(b->valuation, buf2, sizeof buf2));
        qa_status st = qa_stress_returns_range(panel, b->cols, b->n, c->window_start, c->window_end, r, dates, &avail);
        if (st == QA_OK && avail < 2) st = QA_ERR_NOT_FOUND;
        if (st == QA_ERR_NOT_FOUND)
            return QA_FAIL(QA_ERR_CONFIG, "%s: key 'window': %s..%s holds %zu returns with levels for all %zu risk "
                                          "factors in %s (data %s..%s; at least 2 needed)",
                           QA_STRESS_AT(c, c->line_window), date_str(c->window_start, buf, sizeof buf),
                           date_str(c->window_end, buf2, sizeof buf2), avail, b->n, panel->path,
                           date_str(panel->time[0], buf3, sizeof buf3),
                           date_str(panel->time[panel->t - 1], buf4, sizeof buf4));
        *w = avail;
        return st;
    }
    qa_status st = qa_stress_returns_last(panel, b->cols, b->n, b->t_val, (size_t)c->window, r, dates, &avail);
    if (st == QA_ERR_NOT_FOUND)
        return QA_FAIL(QA_ERR_CONFIG, "%s: key 'window': %d returns requested but only %zu dates up to %s have levels "
                                      "for all %zu risk factors (history too short)",
                       QA_STRESS_AT(c, c->line_window), c->window, avail, date_str(b->valuation, buf, sizeof buf), b->n);
    *w = (size_t)c->window;
    return st;
}

qa_status qa_stress_book_prepare(const qa_stress_cfg *c, const qa_comm_t *comm, qa_stress_book *b, qa_stress_panel *panel) {
    qa_status st = QA_OK;
    size_t nsyms, *dates = NULL, w = 0;
    double *r = NULL;
    if (!c->portfolio) return QA_FAIL(QA_ERR_CONFIG, "no portfolio (give --portfolio or 'portfolio' in the config)");
    if (!c->data) return QA_FAIL(QA_ERR_CONFIG, "no market data (give --data or 'data' in the config)");
    QA_TRY(book_load(c, comm, 0, b, panel, &nsyms));
    QA_TRY(window_returns(c, b, panel, &r, &dates, &w));
    QA_TRY(book_resolve(c, panel, r, w, b));
cleanup:
    free(dates);
    free(r);
    return st;
}

/* ---- the run: one context, one step per stage ------------------------------------------------ */

typedef struct stress_run {
    const qa_stress_cfg *c;
    const qa_comm_t *comm;
    const char *dir;
    int root;
    qa_rundir rd;
    qa_stress_book b;
    qa_stress_panel panel;
    size_t nsyms;                  /* panel symbols: the portfolio's, then the scenarios' */
    qa_stress_results res;
    qa_stress_sectors sectors;
    qa_backend_t *be, *be_est;
    qa_risk_ctx_t *ctx, *est;      /* the engine's; a 1-thread CPU context for estimation */
    double *r;                     /* window returns (W x n) */
    size_t *dates;                 /* their time indices */
    size_t W;                      /* returns in the window */
    double *sr;                    /* stress-window returns (nsr x n) */
    size_t *sdates, nsr;
    /* The estimation workspace: one allocation, views NULL where the run does not need them. */
    double *work;
    double *cov, *mu, *l, *mean_h; /* window: daily covariance and mean, horizon factor and mean */
    double *scov, *smu, *sl, *smh; /* the same on the stress window */
    double *hcov;                  /* reverse stress: horizon covariance */
} stress_run;

static void run_free(stress_run *s, qa_status st) {
    qa_rundir_close(&s->rd, st);
    qa_stress_results_free(&s->res);
    qa_stress_sectors_free(&s->sectors);
    qa_stress_book_free(&s->b);
    qa_stress_panel_free(&s->panel);
    qa_risk_ctx_free(s->ctx);
    qa_risk_ctx_free(s->est);
    qa_backend_free(s->be);
    qa_backend_free(s->be_est);
    QA_FREE_ALL(s->dates, s->sdates, s->r, s->sr, s->work);
}

/* Every replay window must have prices for the whole portfolio before and inside it. */
static qa_status check_replays(const stress_run *s) {
    const qa_stress_cfg *c = s->c;
    char buf[32], buf2[32];
    for (size_t i = 0; i < c->nreplays; i++) {
        const qa_stress_window *w = &c->replays[i];
        long base = qa_stress_panel_last_common(&s->panel, s->b.cols, s->b.n, w->start - 1);
        size_t cnt = 0, *td = NULL;
        double *tmp = NULL;
        qa_status st = qa_stress_returns_range(&s->panel, s->b.cols, s->b.n, w->start, w->end, &tmp, &td, &cnt);
        free(tmp);
        free(td);
        if (st != QA_OK && st != QA_ERR_NOT_FOUND) return st;
        if ((st != QA_OK || base < 0) && w->line)
            return QA_FAIL(QA_ERR_CONFIG, "%s: key 'scenarios.historical[%zu]': window '%s' %s..%s is not in %s (no "
                                          "prices for every portfolio asset %s)",
                           QA_STRESS_AT(c, w->line), i, w->name, date_str(w->start, buf, sizeof buf),
                           date_str(w->end, buf2, sizeof buf2), c->data, base < 0 ? "before it starts" : "inside it");
    }
    return QA_OK;
}

/* Every sector shock must hit at least one position (the position's own sector, else the
 * sector table's). */
static qa_status check_sectors(stress_run *s) {
    const qa_stress_cfg *c = s->c;
    if (c->sectors) QA_TRY_RET(qa_stress_sectors_load(c->sectors, &s->sectors));
    for (size_t i = 0; i < c->nhypos; i++)
        for (size_t j = 0; j < c->hypos[i].nshocks; j++) {
            const qa_stress_shock *sh = &c->hypos[i].shocks[j];
            if (sh->kind != QA_STRESS_SHOCK_SECTOR) continue;
            size_t members = 0;
            for (size_t k = 0; k < s->b.p; k++) {
                const qa_book_position *q = &s->b.pf.pos[k];
                const char *sec = q->sector[0] ? q->sector : qa_stress_sectors_of(&s->sectors, q->symbol);
                members += sec && strcmp(sec, sh->target) == 0;
            }
            if (!members)
                return QA_FAIL(QA_ERR_CONFIG, "%s: key 'scenarios.hypothetical[%zu].shocks[%zu].sector': no "
                                              "portfolio asset is in sector '%s'%s",
                               QA_STRESS_AT(c, sh->line), i, j, sh->target,
                               c->sectors ? "" : " (no sector table: set scenarios.sectors or a 'sector' column)");
        }
    return QA_OK;
}

/* Step 1: the portfolio and the configuration against the data, before any computation. */
static qa_status step_check(stress_run *s) {
    const qa_stress_cfg *c = s->c;
    char buf[32], buf2[32];
    QA_TRY_RET(book_load(c, s->comm, 1, &s->b, &s->panel, &s->nsyms));
    QA_TRY_RET(window_returns(c, &s->b, &s->panel, &s->r, &s->dates, &s->W));
    if ((size_t)c->horizon >= s->W)
        return QA_FAIL(QA_ERR_CONFIG, "%s: key 'horizon': %d days do not fit in a window of %zu returns", QA_STRESS_AT(c, c->line_window), c->horizon, s->W);
    if (c->stressed) {
        qa_status st = qa_stress_returns_range(&s->panel, s->b.cols, s->b.n, c->stress_window.start,
                                               c->stress_window.end, &s->sr, &s->sdates, &s->nsr);
        if (st == QA_OK && s->nsr < (size_t)c->horizon + 10) st = QA_ERR_NOT_FOUND;
        if (st == QA_ERR_NOT_FOUND)
            return QA_FAIL(QA_ERR_CONFIG, "%s: key 'stressed.start': the stress window %s..%s is not in %s (%zu "
                                          "returns with prices for every portfolio asset; at least %d needed)",
                           QA_STRESS_AT(c, c->line_stress_start), date_str(c->stress_window.start, buf, sizeof buf),
                           date_str(c->stress_window.end, buf2, sizeof buf2), c->data, s->nsr, c->horizon + 10);
        QA_TRY_RET(st);
    }
    QA_TRY_RET(check_replays(s));
    return check_sectors(s);
}

/* Step 2: the book on the valuation date. */
static qa_status step_book(stress_run *s) {
    const qa_stress_cfg *c = s->c;
    qa_stress_results *res = &s->res;
    size_t W = s->W;
    char buf[32], buf2[32], buf3[32];
    QA_TRY_RET(book_resolve(c, &s->panel, s->r, W, &s->b));
    res->window_used = W;
    res->window_start = s->panel.time[s->dates[0]];
    res->window_end = s->panel.time[s->dates[W - 1]];
    res->drawdown = book_drawdown(&s->b, &s->panel, s->dates, W);
    if (s->b.rate_missing)
        qa_stress_note(res, "rates stay fixed: the rate proxy %s (option_factors.rate) is not in %s", c->rate_proxy,
                       c->data);
    if (s->root)
        qa_log_info("stress: %s, %zu positions on %zu assets, value %.2f on %s; window %zu returns %s..%s, horizon %d "
                    "day(s), %d rank(s)",
                    s->b.pf.name, s->b.p, s->b.n, s->b.value, date_str(s->b.valuation, buf, sizeof buf), W,
                    date_str(res->window_start, buf2, sizeof buf2), date_str(res->window_end, buf3, sizeof buf3),
                    c->horizon, res->ranks);
    return QA_OK;
}

/* Step 3: backends (the engine's, CPU or GPU, and a 1-thread CPU context for estimation so
 * its bits depend on neither threads nor ranks), the workspace, the window's estimates. */
static qa_status step_estimate(stress_run *s) {
    const qa_stress_cfg *c = s->c;
    const qa_comm_t *comm = s->comm;
    int dev = qa_comm_device(comm) >= 0 ? qa_comm_device(comm) : 0;
    QA_TRY_RET(qa_backend_create_named(c->backend, dev, &s->be));
    if (c->threads > 0) qa_backend_set_threads(s->be, c->threads);
    QA_TRY_RET(qa_risk_ctx_create(s->be, &s->ctx));
    QA_TRY_RET(qa_backend_create(QA_BACKEND_CPU, 0, &s->be_est));
    qa_backend_set_threads(s->be_est, 1);
    QA_TRY_RET(qa_risk_ctx_create(s->be_est, &s->est));
    snprintf(s->res.backend, sizeof s->res.backend, "%s", qa_backend_name(qa_backend_kind_of(s->be)));

    size_t n = s->b.n, nn = n * n;
    int stressed = c->stressed, stressed_mc = stressed && (c->stressed_methods & (1u << QA_STRESS_MONTECARLO));
    size_t need = 2 * nn + 2 * n + (stressed ? nn + n : 0) + (stressed_mc ? nn + n : 0) + (c->nreverse ? nn : 0);
    s->work = calloc(need, sizeof *s->work);
    if (!s->work) return QA_FAIL(QA_ERR_NOMEM, "covariance workspace (%zu x %zu)", n, n);
    double *w = s->work;
    s->cov = w, w += nn;
    s->l = w, w += nn;
    s->mu = w, w += n;
    s->mean_h = w, w += n;
    if (stressed) s->scov = w, w += nn, s->smu = w, w += n;
    if (stressed_mc) s->sl = w, w += nn, s->smh = w, w += n;
    if (c->nreverse) s->hcov = w;

    QA_TRY_RET(estimate(c, s->est, comm, s->r, s->W, n, s->cov, s->mu, &s->res.lw_intensity));
    for (size_t j = 0; j < n; j++) s->mean_h[j] = (double)c->horizon * s->mu[j];
    if ((c->methods & (1u << QA_STRESS_MONTECARLO)) || c->nreverse)
        QA_TRY_RET(horizon_factor(c, s->est, comm, s->cov, n, s->l, &s->res.jitter));
    return QA_OK;
}

/* Parametric VaR on rank 0 (small), agreed by every rank. */
static qa_status run_parametric(stress_run *s, const double *cov, const double *mu, qa_stress_measure *m,
                                const char *name) {
    qa_status st = s->root ? parametric(s->c, &s->b, cov, mu, m, name) : QA_OK;
    return qa_comm_agree(s->comm, st);
}

/* Step 4: VaR/ES by method on the window. */
static qa_status step_var(stress_run *s) {
    const qa_stress_cfg *c = s->c;
    qa_stress_results *res = &s->res;
    size_t W = s->W;
    if (c->methods & (1u << QA_STRESS_HISTORICAL)) {
        if (s->root) qa_log_info("stress: historical simulation (%zu scenarios)", W - (size_t)c->horizon + 1);
        QA_TRY_RET(run_hist(c, s->ctx, s->est, s->comm, &s->b, s->r, W, 0, &res->m[QA_STRESS_HISTORICAL], "historical"));
    }
    if (c->methods & (1u << QA_STRESS_FHS)) {
        if (s->root) qa_log_info("stress: filtered historical simulation (lambda %.3g)", c->fhs_lambda);
        QA_TRY_RET(run_hist(c, s->ctx, s->est, s->comm, &s->b, s->r, W, 1, &res->m[QA_STRESS_FHS], "fhs"));
    }
    if (c->methods & (1u << QA_STRESS_PARAMETRIC))
        QA_TRY_RET(run_parametric(s, s->cov, s->mu, &res->m[QA_STRESS_PARAMETRIC], "parametric"));
    if (c->methods & (1u << QA_STRESS_MONTECARLO)) {
        if (s->root)
            qa_log_info("stress: Monte Carlo, %lld %s scenarios in blocks of %lld over %d rank(s) on %s", c->mc_scenarios,
                        c->mc_nu ? "Student-t" : "normal", c->mc_block, res->ranks, res->backend);
        QA_TRY_RET(run_mc(c, s->ctx, s->comm, &s->b, s->l, c->use_mean ? s->mean_h : NULL, 0,
                          &res->m[QA_STRESS_MONTECARLO], "montecarlo", res));
    }
    return QA_OK;
}

/* Step 5: stressed VaR on the stress window. */
static qa_status step_stressed(stress_run *s) {
    const qa_stress_cfg *c = s->c;
    if (!c->stressed) return QA_OK;
    qa_stress_measure *sm = s->res.m + QA_STRESS_METHOD_COUNT;
    size_t n = s->b.n;
    char buf[32], buf2[32];
    double unused;
    s->res.stress_returns = s->nsr;
    QA_TRY_RET(estimate(c, s->est, s->comm, s->sr, s->nsr, n, s->scov, s->smu, &unused));
    if (s->root)
        qa_log_info("stress: stressed VaR on %s..%s (%zu returns)", date_str(c->stress_window.start, buf, sizeof buf),
                    date_str(c->stress_window.end, buf2, sizeof buf2), s->nsr);
    if (c->stressed_methods & (1u << QA_STRESS_HISTORICAL))
        QA_TRY_RET(run_hist(c, s->ctx, s->est, s->comm, &s->b, s->sr, s->nsr, 0, &sm[QA_STRESS_HISTORICAL],
                            "stressed_historical"));
    if (c->stressed_methods & (1u << QA_STRESS_PARAMETRIC))
        QA_TRY_RET(run_parametric(s, s->scov, s->smu, &sm[QA_STRESS_PARAMETRIC], "stressed_parametric"));
    if (c->stressed_methods & (1u << QA_STRESS_MONTECARLO)) {
        double jitter = 0;
        for (size_t j = 0; j < n; j++) s->smh[j] = (double)c->horizon * s->smu[j];
        QA_TRY_RET(horizon_factor(c, s->est, s->comm, s->scov, n, s->sl, &jitter));
        QA_TRY_RET(run_mc(c, s->ctx, s->comm, &s->b, s->sl, c->use_mean ? s->smh : NULL, 2,
                          &sm[QA_STRESS_MONTECARLO], "stressed_montecarlo", NULL));
    }
    return QA_OK;
}

/* Hypothetical shocks over the universe (portfolio assets, then the other scenario assets),
 * with the covariance of the window (or of the stress window). Rank 0. */
static qa_status run_hypothetical(stress_run *s) {
    const qa_stress_cfg *c = s->c;
    qa_status st = QA_OK;
    size_t nu = s->nsyms, avail = 0, *uni = malloc(nu * sizeof *uni), *udates = NULL, W = s->W;
    double *ur = NULL, *ucov = malloc(nu * nu * sizeof *ucov), *umu = malloc(nu * sizeof *umu), unused;
    if (!uni || !ucov || !umu) QA_TRY_FAIL(QA_ERR_NOMEM, "scenario covariance (%zu x %zu)", nu, nu);
    for (size_t i = 0; i < nu; i++) uni[i] = i;
    if (c->hypo_stressed_cov)
        st = qa_stress_returns_range(&s->panel, uni, nu, c->stress_window.start, c->stress_window.end, &ur, &udates,
                                     &avail);
    else if (c->window_start)
        st = qa_stress_returns_range(&s->panel, uni, nu, c->window_start, c->window_end, &ur, &udates, &avail);
    else
        st = qa_stress_returns_last(&s->panel, uni, nu, s->b.t_val, W, &ur, &udates, &avail);
    if (st == QA_ERR_NOT_FOUND)
        QA_TRY_FAIL(QA_ERR_CONFIG, "%s: key 'window': the scenario assets have only %zu common returns (window %zu)",
                    QA_STRESS_AT(c, c->line_window), avail, W);
    if (st != QA_OK) goto cleanup;
    if (!c->hypo_stressed_cov && !c->window_start) avail = W;
    QA_TRY(estimate(c, s->est, NULL, ur, avail, nu, ucov, umu, &unused));
    QA_TRY(qa_stress_hypothetical(c, &s->panel, &s->b, uni, nu, ucov, &s->sectors, &s->res));
cleanup:
    QA_FREE_ALL(uni, udates, ur, ucov, umu);
    return st;
}

/* Step 6: scenarios and limits (rank 0: small), agreed by every rank. */
static qa_status step_scenarios(stress_run *s) {
    const qa_stress_cfg *c = s->c;
    qa_status st = QA_OK;
    if (s->root) {
        st = qa_stress_replays(c, &s->panel, &s->b, &s->res);
        if (st == QA_OK && c->nhypos) st = run_hypothetical(s);
        if (st == QA_OK && c->nreverse) {
            size_t n = s->b.n;
            memcpy(s->hcov, s->cov, n * n * sizeof *s->hcov);
            st = qa_risk_cov_horizon(s->est, s->hcov, n, (double)c->horizon);
            if (st == QA_OK) st = qa_stress_reverse(c, &s->b, s->hcov, &s->res);
        }
        if (st == QA_OK) st = check_limits(c, s->dir, &s->res);
    }
    return qa_comm_agree(s->comm, st);
}

static void fill_summary(const stress_run *s, qa_stress_summary *sum) {
    const qa_stress_cfg *c = s->c;
    const qa_stress_results *res = &s->res;
    memset(sum, 0, sizeof *sum);
    sum->value = s->b.value;
    sum->positions = s->b.p;
    sum->factors = s->b.n;
    for (int k = 0; k < QA_STRESS_METHOD_COUNT; k++)
        for (size_t lv = 0; lv < QA_STRESS_MAX_LEVELS; lv++) {
            sum->var[k][lv] = res->m[k].run && lv < c->nlevels ? res->m[k].var[lv] : NAN;
            sum->es[k][lv] = res->m[k].run && lv < c->nlevels ? res->m[k].es[lv] : NAN;
        }
    for (size_t i = 0; s->root && i < c->limits.n; i++) {
        sum->breaches += res->limits[i].state == QA_LIMIT_BREACH;
        sum->warnings += res->limits[i].state == QA_LIMIT_WARNING;
    }
    sum->mc_seconds = res->mc_seconds;
    sum->mc_scenarios_per_s = res->mc_scenarios_per_s;
    sum->mc_asset_revals_per_s = res->mc_asset_revals_per_s;
    sum->seconds = res->seconds;
    sum->peak_rss_mb = res->peak_rss_mb;
}

/* The run's headline numbers on the log: each measure at its highest level. */
static void log_results(const stress_run *s) {
    const qa_stress_cfg *c = s->c;
    const qa_stress_results *res = &s->res;
    size_t li = 0;
    for (size_t lv = 1; lv < c->nlevels; lv++)
        if (c->levels[lv] > c->levels[li]) li = lv;
    for (int k = 0; k < 2 * QA_STRESS_METHOD_COUNT; k++) {
        const qa_stress_measure *m = &res->m[k];
        if (!m->run) continue;
        qa_log_info("stress: %-20s VaR %.4g%% = %.2f  ES = %.2f (%.3f%% / %.3f%% of value)", m->name,
                    100 * c->levels[li], m->var[li], m->es[li], 100 * m->var[li] / s->b.value,
                    100 * m->es[li] / s->b.value);
    }
    if (res->mc_scenarios_per_s > 0)
        qa_log_info("stress: Monte Carlo (%s revaluation) %.3g scenarios/s = %.3g scenario x asset revaluations/s (%zu "
                    "assets) in %.2f s; peak RSS %.0f MB",
                    qa_risk_reval_names[res->book->reval], res->mc_scenarios_per_s, res->mc_asset_revals_per_s,
                    res->book->n, res->mc_seconds, res->peak_rss_mb);
    qa_log_info("stress: wrote %s/{results.h5,summary.json,report.html,alerts.jsonl} in %.2f s", s->dir, res->seconds);
}

/* Step 7: outputs (rank 0) and the summary. */
static qa_status step_outputs(stress_run *s, uint64_t t_start, qa_stress_summary *sum) {
    qa_status st = QA_OK;
    json_t *summary = NULL;
    int64_t rss = (int64_t)qa_peak_rss_bytes();
    QA_TRY_RET(qa_comm_allreduce_max_i64(s->comm, &rss, 1));
    s->res.peak_rss_mb = (double)rss / 1048576.0;
    s->res.seconds = qa_time_since(t_start);
    if (s->root) st = qa_stress_write_outputs(s->dir, &s->res, &summary);
    json_decref(summary);
    st = qa_comm_agree(s->comm, st);
    if (st != QA_OK) return st;
    if (sum) fill_summary(s, sum);
    if (s->root) log_results(s);
    return QA_OK;
}

qa_status qa_stress_run(const qa_stress_cfg *c, const qa_comm_t *comm, const char *run_dir, int argc, char **argv,
                        qa_stress_summary *sum) {
    qa_status st = QA_OK;
    uint64_t t_start = qa_time_ns();
    if (!c->portfolio) return QA_FAIL(QA_ERR_CONFIG, "no portfolio (give --portfolio or 'portfolio' in the config)");
    if (!c->data) return QA_FAIL(QA_ERR_CONFIG, "no market data (give --data or 'data' in the config)");
    stress_run *s = calloc(1, sizeof *s);
    if (!s) return QA_FAIL(QA_ERR_NOMEM, "stress run");
    s->c = c;
    s->comm = comm;
    s->dir = run_dir;
    s->root = qa_comm_rank(comm) == 0;
    s->res.cfg = c;
    s->res.book = &s->b;
    s->res.panel = &s->panel;
    s->res.limits_source = -1;
    s->res.ranks = qa_comm_size(comm);
    QA_TRY(qa_rundir_open(&s->rd, run_dir, comm, "stress", argc, argv));
    if (s->root) st = qa_stress_write_config(run_dir, c);
    st = qa_comm_agree(comm, st);
    if (st != QA_OK) goto cleanup;
    QA_TRY(step_check(s));
    QA_TRY(step_book(s));
    QA_TRY(step_estimate(s));
    QA_TRY(step_var(s));
    QA_TRY(step_stressed(s));
    QA_TRY(step_scenarios(s));
    QA_TRY(step_outputs(s, t_start, sum));
cleanup:
    run_free(s, st);
    free(s);
    return st;
}
