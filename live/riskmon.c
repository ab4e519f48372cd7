/* Live risk monitoring: book, P&L, exposures, VaR/ES, limits, trading state (live/riskmon.h). */
#include "live/riskmon.h"

#include <math.h>     /* fabs, sqrt, isfinite */
#include <stdlib.h>   /* calloc */
#include <string.h>   /* strcmp, memset, memcpy */

#include "kernels/backend.h" /* the CPU backend of the risk kernels */
#include "kernels/risk.h"    /* VaR/ES, covariance, normal quantile */

/* State doubles: [hdr] equity, peak, state, manual, clean snapshots, rows held, next row,
 * timestamps since the last snapshot; [shares] S; [close] S (last close, 0 = none);
 * [ret] window x S (a ring of rows). */
enum { H_EQUITY, H_PEAK, H_STATE, H_MANUAL, H_CLEAN, H_ROWS, H_NEXT, H_SINCE, H_COUNT };

struct qa_riskmon {
    qa_riskmon_cfg cfg;
    const char *const *symbols;
    double *st; /* state */
    double *shares, *close, *ret;
    size_t ndoubles;
    qa_backend_t *be;
    qa_risk_ctx_t *ctx;
    double *w, *pnl, *rows, *cov, *tmp; /* scratch */
    qa_limit_result *res;
    const char *reason;
};

void qa_riskmon_free(qa_riskmon_t *r) {
    if (!r) return;
    qa_risk_ctx_free(r->ctx);
    qa_backend_free(r->be);
    free(r->st);
    free(r->w);
    free(r->pnl);
    free(r->rows);
    free(r->cov);
    free(r->tmp);
    free(r->res);
    free(r);
}

qa_status qa_riskmon_create(const qa_riskmon_cfg *cfg, const char *const *symbols, qa_riskmon_t **out) {
    if (cfg->window < 20 || cfg->every < 1 || !(cfg->level > 0.5 && cfg->level < 1) || cfg->capital <= 0)
        return QA_FAIL(QA_ERR_CONFIG, "risk: window %ld (>= 20), every %ld (>= 1), level %g (in (0.5, 1)), capital %g (> 0)",
                       cfg->window, cfg->every, cfg->level, cfg->capital);
    qa_riskmon_t *r = calloc(1, sizeof *r);
    if (!r) return QA_FAIL(QA_ERR_NOMEM, "risk monitor");
    r->cfg = *cfg;
    r->symbols = symbols;
    const size_t S = cfg->nsym, W = (size_t)cfg->window;
    r->ndoubles = H_COUNT + 2 * S + W * S;
    r->st = calloc(r->ndoubles, sizeof *r->st);
    r->w = calloc(S, sizeof *r->w);
    r->pnl = calloc(W, sizeof *r->pnl);
    r->rows = calloc(W * S, sizeof *r->rows);
    r->cov = calloc(S * S, sizeof *r->cov);
    r->tmp = calloc(S, sizeof *r->tmp);
    r->res = calloc(cfg->limits ? cfg->limits->n + 1 : 1, sizeof *r->res);
    qa_status st = QA_OK;
    if (!r->st || !r->w || !r->pnl || !r->rows || !r->cov || !r->tmp || !r->res)
        st = QA_FAIL(QA_ERR_NOMEM, "risk monitor of %zu symbols x %zu rows", S, W);
    if (st == QA_OK) st = qa_backend_create(QA_BACKEND_CPU, 0, &r->be);
    if (st == QA_OK) st = qa_risk_ctx_create(r->be, &r->ctx);
    if (st != QA_OK) {
        qa_riskmon_free(r);
        return st;
    }
    r->shares = r->st + H_COUNT, r->close = r->shares + S, r->ret = r->close + S;
    r->st[H_EQUITY] = r->st[H_PEAK] = cfg->capital;
    r->reason = "";
    *out = r;
    return QA_OK;
}

qa_status qa_riskmon_reconfigure(qa_riskmon_t *r, const qa_riskmon_cfg *cfg) {
    if (cfg->nsym != r->cfg.nsym || cfg->window != r->cfg.window || cfg->capital != r->cfg.capital)
        return QA_FAIL(QA_ERR_CONFIG, "risk: the window (%ld rows), capital (%g) and universe stay those of the book (%ld, %g)",
                       cfg->window, cfg->capital, r->cfg.window, r->cfg.capital);
    if (cfg->every < 1 || !(cfg->level > 0.5 && cfg->level < 1))
        return QA_FAIL(QA_ERR_CONFIG, "risk: every %ld (>= 1), level %g (in (0.5, 1))", cfg->every, cfg->level);
    qa_limit_result *res = calloc(cfg->limits ? cfg->limits->n + 1 : 1, sizeof *res);
    if (!res) return QA_FAIL(QA_ERR_NOMEM, "risk limits");
    free(r->res);
    r->res = res;
    r->cfg = *cfg;
    return QA_OK;
}

void qa_riskmon_mark(qa_riskmon_t *r, const qa_msg_bar *bars, const unsigned char *present) {
    const size_t S = r->cfg.nsym, W = (size_t)r->cfg.window;
    double *row = r->ret + (size_t)r->st[H_NEXT] * S, pnl = 0.0;
    for (size_t s = 0; s < S; s++) {
        row[s] = 0.0;
        if (!present[s]) continue;
        double c = bars[s].close, prev = r->close[s];
        if (prev > 0) {
            pnl += r->shares[s] * (c - prev);
            row[s] = c / prev - 1.0;
        }
        r->close[s] = c;
    }
    r->st[H_EQUITY] += pnl;
    if (r->st[H_EQUITY] > r->st[H_PEAK]) r->st[H_PEAK] = r->st[H_EQUITY];
    r->st[H_NEXT] = (double)(((size_t)r->st[H_NEXT] + 1) % W);
    if (r->st[H_ROWS] < (double)W) r->st[H_ROWS] += 1;
}

void qa_riskmon_target(qa_riskmon_t *r, size_t s, double *weight, double *shares, double price) {
    const double cur = r->shares[s];
    double want = *shares;
    switch ((qa_trading_state)r->st[H_STATE]) {
    case QA_STATE_HALTED: want = cur; break; /* nothing new is traded */
    case QA_STATE_REDUCING:                  /* toward zero only, never through it */
        if (cur == 0 || want * cur < 0) want = 0;
        else if (fabs(want) > fabs(cur)) want = cur;
        break;
    default: break;
    }
    if (want != *shares) {
        *shares = want;
        *weight = r->st[H_EQUITY] > 0 ? want * price / r->st[H_EQUITY] : 0.0;
    }
    r->shares[s] = want;
}

void qa_riskmon_hold(qa_riskmon_t *r, size_t s, double shares) { r->shares[s] = shares; }

void qa_riskmon_set_state(qa_riskmon_t *r, qa_trading_state s, int manual) {
    r->st[H_STATE] = s;
    r->st[H_MANUAL] = manual;
    r->st[H_CLEAN] = 0;
}

qa_trading_state qa_riskmon_state(const qa_riskmon_t *r) {
    return (qa_trading_state)r->st[H_STATE];
}

size_t qa_riskmon_state_doubles(const qa_riskmon_t *r) {
    return r->ndoubles;
}
double *qa_riskmon_state_data(qa_riskmon_t *r) {
    return r->st;
}

static int is_halt(const qa_riskmon_t *r, const char *name) {
    for (size_t i = 0; i < r->cfg.nhalt; i++)
        if (strcmp(r->cfg.halt[i], name) == 0) return 1;
    return 0;
}

qa_status qa_riskmon_end(qa_riskmon_t *r, int64_t time, qa_riskmon_report *rep, int *taken) {
    *taken = 0;
    const size_t S = r->cfg.nsym, W = (size_t)r->cfg.window;
    const size_t rows = (size_t)r->st[H_ROWS];
    r->st[H_SINCE] += 1;
    if (r->st[H_SINCE] < (double)r->cfg.every) return QA_OK;
    r->st[H_SINCE] = 0;
    const double eq = r->st[H_EQUITY];
    memset(rep, 0, sizeof *rep);
    rep->time = time;
    rep->equity = eq, rep->pnl = eq - r->cfg.capital;
    rep->drawdown = r->st[H_PEAK] > 0 ? 1.0 - eq / r->st[H_PEAK] : 0.0;
    rep->concentration_symbol = "";
    for (size_t s = 0; s < S; s++) {
        r->w[s] = eq > 0 ? r->shares[s] * r->close[s] / eq : 0.0;
        rep->gross += fabs(r->w[s]), rep->net += r->w[s];
        if (fabs(r->w[s]) > rep->concentration) rep->concentration = fabs(r->w[s]), rep->concentration_symbol = r->symbols[s];
    }
    rep->var_hist = rep->es_hist = rep->var_param = rep->es_param = NAN;
    if (rows == W) {
        /* Rows oldest first (the ring starts at the next slot), then the book's P&L per row. */
        const size_t next = (size_t)r->st[H_NEXT];
        for (size_t k = 0; k < W; k++) memcpy(r->rows + k * S, r->ret + ((next + k) % W) * S, S * sizeof *r->rows);
        for (size_t k = 0; k < W; k++) {
            double p = 0.0;
            for (size_t s = 0; s < S; s++) p += r->w[s] * r->rows[k * S + s];
            r->pnl[k] = p;
        }
        QA_TRY_RET(qa_risk_var_es(r->ctx, r->pnl, W, r->cfg.level, &rep->var_hist, &rep->es_hist));
        QA_TRY_RET(qa_risk_cov_sample(r->ctx, r->rows, W, S, r->cov));
        double v = 0.0;
        for (size_t i = 0; i < S; i++) {
            double a = 0.0;
            for (size_t j = 0; j < S; j++) a += r->cov[i * S + j] * r->w[j];
            v += r->w[i] * a;
        }
        const double sd = sqrt(v > 0 ? v : 0), z = qa_risk_norm_ppf(r->cfg.level);
        rep->var_param = z * sd;
        rep->es_param = sd * qa_risk_norm_pdf(z) / (1.0 - r->cfg.level);
    }
    const qa_trading_state before = (qa_trading_state)r->st[H_STATE];
    rep->prev_state = before;
    rep->state_reason = "";
    if (r->cfg.limits && r->cfg.limits->n) {
        const double level = r->cfg.level;
        qa_risk_snapshot snap = {&level, &rep->var_hist, &rep->es_hist, 1, rep->gross, rep->net, rep->concentration,
                                 rep->concentration_symbol, rep->drawdown};
        rep->breaches = qa_limits_check(r->cfg.limits, &snap, r->res);
        rep->results = r->res, rep->nresults = r->cfg.limits->n;
        qa_trading_state want = QA_STATE_ACTIVE;
        for (size_t i = 0; i < rep->nresults; i++) {
            if (r->res[i].state != QA_LIMIT_BREACH) continue;
            qa_trading_state s = is_halt(r, r->res[i].limit->name) ? QA_STATE_HALTED : QA_STATE_REDUCING;
            if (s > want) want = s, rep->state_reason = r->res[i].limit->name;
        }
        if (want > before) { /* escalate at once */
            r->st[H_STATE] = want, r->st[H_MANUAL] = 0, r->st[H_CLEAN] = 0;
        } else if (want == QA_STATE_ACTIVE && before != QA_STATE_ACTIVE && !r->st[H_MANUAL]) {
            r->st[H_CLEAN] += 1; /* recover after `recover` clean snapshots */
            if (r->st[H_CLEAN] >= (double)r->cfg.recover) r->st[H_STATE] = QA_STATE_ACTIVE, rep->state_reason = "recovered";
        } else if (want != QA_STATE_ACTIVE) {
            r->st[H_CLEAN] = 0;
        }
    }
    rep->state = (qa_trading_state)r->st[H_STATE];
    *taken = 1;
    return QA_OK;
}

size_t qa_riskmon_check_recorded(const qa_limit_set *set, const qa_msg_risk *k, qa_limit_result *out) {
    qa_risk_snapshot snap = {&k->level, &k->var_hist, &k->es_hist, 1, k->gross, k->net, k->concentration, k->top,
                             k->drawdown};
    return qa_limits_check(set, &snap, out);
}
