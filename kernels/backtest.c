/* Backtest sweeps: names and parameter layouts, settings defaults, input validation,
 * the observation sequence shared by the CPU engines, and backend dispatch (plus the
 * CUDA stand-ins of builds without CUDA). */
#include "kernels/backtest.h"

#include <math.h>    /* isfinite, isnan, floor */
#include <stdlib.h>  /* malloc, free */
#include <string.h>  /* strcmp */

#include "kernels/backtest_impl.h" /* qa_bt_obs, qa_bt_obs_build, backend entry points */

/* ---- names ------------------------------------------------------------------------------ */

static const char *const strategy_names[] = {"sma_cross", "ema_cross", "zscore", "bollinger",
                                             "donchian", "rsi", "signal"};
_Static_assert(sizeof strategy_names / sizeof strategy_names[0] == QA_BT_STRATEGY_COUNT,
               "strategy name table");

/* Slot names per strategy, NULL-terminated. */
static const char *const param_names[][QA_BT_MAX_PARAMS + 1] = {
    {"fast", "slow", NULL},
    {"fast", "slow", NULL},
    {"window", "entry_z", "exit_z", NULL},
    {"window", "k", NULL},
    {"window", "exit_window", NULL},
    {"window", "lower", "upper", NULL},
    {"lower", "upper", NULL},
};
_Static_assert(sizeof param_names / sizeof param_names[0] == QA_BT_STRATEGY_COUNT, "param name table");

const char *qa_bt_strategy_name(qa_bt_strategy s) {
    return (s >= 0 && s < QA_BT_STRATEGY_COUNT) ? strategy_names[s] : "?";
}

qa_status qa_bt_strategy_parse(const char *name, qa_bt_strategy *out) {
    for (int s = 0; s < QA_BT_STRATEGY_COUNT; s++)
        if (name && strcmp(name, strategy_names[s]) == 0) {
            *out = (qa_bt_strategy)s;
            return QA_OK;
        }
    return QA_FAIL(QA_ERR_CONFIG,
                   "unknown strategy '%s' (expected sma_cross, ema_cross, zscore, bollinger, donchian, rsi or signal)",
                   name ? name : "(null)");
}

int qa_bt_param_count(qa_bt_strategy s) {
    if (s < 0 || s >= QA_BT_STRATEGY_COUNT) return 0;
    int n = 0;
    while (param_names[s][n]) n++;
    return n;
}

const char *qa_bt_param_name(qa_bt_strategy s, int slot) {
    if (slot < 0 || slot >= qa_bt_param_count(s)) return NULL;
    return param_names[s][slot];
}

/* ---- validation --------------------------------------------------------------------------- */

/* Largest window accepted: far beyond any history, small enough for exact long/int math. */
#define QA_BT_MAX_WINDOW 16777216.0

static int is_window(double w, double min) { return isfinite(w) && w == floor(w) && w >= min && w <= QA_BT_MAX_WINDOW; }

/* `need` bars of history (up to t_end) are needed before `what` gives a first value. */
static qa_status check_history(const qa_bt_data *d, double need, const char *what, size_t p) {
    if (need > (double)d->t_end)
        return QA_FAIL(QA_ERR_INVALID_ARG,
                       "parameter set %zu: %s needs %.0f bars of history but the data end at bar %zu "
                       "(window longer than the history)",
                       p, what, need, d->t_end);
    return QA_OK;
}

static qa_status check_params(const qa_bt_data *d, const qa_bt_grid *g, size_t p) {
    const double *v = g->params[p].p;
    qa_bt_strategy s = g->strategy;
    int n = qa_bt_param_count(s);
    for (int j = 0; j < n; j++)
        if (!isfinite(v[j]))
            return QA_FAIL(QA_ERR_INVALID_ARG, "parameter set %zu (%s): %s is %g (must be finite)", p,
                           qa_bt_strategy_name(s), param_names[s][j], v[j]);
    qa_status st = QA_OK;
    switch (s) {
    case QA_BT_SMA_CROSS:
    case QA_BT_EMA_CROSS:
        if (!is_window(v[0], 1) || !is_window(v[1], 1))
            return QA_FAIL(QA_ERR_INVALID_ARG, "parameter set %zu (%s): windows must be whole numbers >= 1 (fast %g, slow %g)",
                           p, qa_bt_strategy_name(s), v[0], v[1]);
        if (v[0] >= v[1])
            return QA_FAIL(QA_ERR_CONFIG, "parameter set %zu (%s): fast window %g must be shorter than slow window %g",
                           p, qa_bt_strategy_name(s), v[0], v[1]);
        st = check_history(d, v[1], "the slow window", p);
        break;
    case QA_BT_ZSCORE:
        if (!is_window(v[0], 2))
            return QA_FAIL(QA_ERR_INVALID_ARG, "parameter set %zu (zscore): window %g must be a whole number >= 2", p, v[0]);
        if (!(v[1] > 0.0))
            return QA_FAIL(QA_ERR_CONFIG, "parameter set %zu (zscore): entry_z %g must be > 0", p, v[1]);
        if (!(v[2] >= 0.0 && v[2] <= v[1]))
            return QA_FAIL(QA_ERR_CONFIG, "parameter set %zu (zscore): exit_z %g must lie in [0, entry_z = %g]", p, v[2], v[1]);
        st = check_history(d, v[0], "the z-score window", p);
        break;
    case QA_BT_BOLLINGER:
        if (!is_window(v[0], 2))
            return QA_FAIL(QA_ERR_INVALID_ARG, "parameter set %zu (bollinger): window %g must be a whole number >= 2", p, v[0]);
        if (!(v[1] > 0.0))
            return QA_FAIL(QA_ERR_CONFIG, "parameter set %zu (bollinger): k %g must be > 0", p, v[1]);
        st = check_history(d, v[0], "the band window", p);
        break;
    case QA_BT_DONCHIAN:
        if (!is_window(v[0], 1) || !is_window(v[1], 0))
            return QA_FAIL(QA_ERR_INVALID_ARG,
                           "parameter set %zu (donchian): window %g must be a whole number >= 1 and exit_window %g >= 0",
                           p, v[0], v[1]);
        st = check_history(d, (v[0] > v[1] ? v[0] : v[1]) + 1.0, "the channel window", p);
        break;
    case QA_BT_RSI:
        if (!is_window(v[0], 1))
            return QA_FAIL(QA_ERR_INVALID_ARG, "parameter set %zu (rsi): window %g must be a whole number >= 1", p, v[0]);
        if (!(v[1] >= 0.0 && v[1] <= 50.0 && v[2] >= 50.0 && v[2] <= 100.0 && v[1] < v[2]))
            return QA_FAIL(QA_ERR_CONFIG,
                           "parameter set %zu (rsi): thresholds need 0 <= lower <= 50 <= upper <= 100 and lower < upper (lower %g, upper %g)",
                           p, v[1], v[2]);
        st = check_history(d, v[0] + 1.0, "the RSI window", p);
        break;
    case QA_BT_SIGNAL:
        if (v[0] > v[1])
            return QA_FAIL(QA_ERR_CONFIG, "parameter set %zu (signal): lower %g must not exceed upper %g", p, v[0], v[1]);
        break;
    default:
        break;
    }
    return st;
}

static int nonneg(double x) { return isfinite(x) && x >= 0.0; }

qa_status qa_bt_rules_check(const qa_bt_rules *s) {
    if (!s) return QA_FAIL(QA_ERR_INVALID_ARG, "backtest: NULL rules");
    if ((int)s->direction < 0 || s->direction >= QA_BT_DIRECTION_COUNT)
        return QA_FAIL(QA_ERR_CONFIG, "direction %d is not long_short, long_only or short_only", (int)s->direction);
    if ((int)s->sizing < 0 || s->sizing >= QA_BT_SIZING_COUNT)
        return QA_FAIL(QA_ERR_CONFIG, "sizing %d is not fixed or vol_target", (int)s->sizing);
    /* Kelly needs each bar's expected return, which a rule-based strategy does not have:
     * only the live service, from its model's scores, sizes by it. */
    if (s->sizing == QA_BT_SIZE_KELLY)
        return QA_FAIL(QA_ERR_CONFIG, "sizing kelly needs a model's expected return per bar, which only the live "
                       "service has (qa live); backtests size with fixed or vol_target");
    if (!nonneg(s->stop_loss) || !nonneg(s->take_profit))
        return QA_FAIL(QA_ERR_CONFIG, "stop_loss %g and take_profit %g must be finite and >= 0 (0 = off)", s->stop_loss,
                       s->take_profit);
    if (!(isfinite(s->bars_per_year) && s->bars_per_year > 0.0))
        return QA_FAIL(QA_ERR_CONFIG, "bars_per_year %g must be > 0", s->bars_per_year);
    if (s->sizing == QA_BT_SIZE_FIXED && !(isfinite(s->fraction) && s->fraction > 0.0))
        return QA_FAIL(QA_ERR_CONFIG, "fixed sizing: fraction %g must be finite and > 0", s->fraction);
    if (s->sizing == QA_BT_SIZE_VOL_TARGET) {
        if (!(isfinite(s->target_vol) && s->target_vol > 0.0) || !(isfinite(s->max_leverage) && s->max_leverage > 0.0))
            return QA_FAIL(QA_ERR_CONFIG, "vol targeting: target_vol %g and max_leverage %g must be finite and > 0",
                           s->target_vol, s->max_leverage);
        if (s->vol_window < 2 || s->vol_window > QA_BT_MAX_WINDOW)
            return QA_FAIL(QA_ERR_CONFIG, "vol targeting: vol_window %d must lie in [2, %.0f]", s->vol_window,
                           QA_BT_MAX_WINDOW);
    }
    if (!nonneg(s->commission_bps) || !nonneg(s->half_spread_bps) || !nonneg(s->fixed_cost) || !nonneg(s->impact_coef))
        return QA_FAIL(QA_ERR_CONFIG, "costs must be finite and >= 0 (commission_bps %g, half_spread_bps %g, fixed_cost %g, impact_coef %g)",
                       s->commission_bps, s->half_spread_bps, s->fixed_cost, s->impact_coef);
    if ((s->fixed_cost > 0.0 || s->impact_coef > 0.0) && !(isfinite(s->capital) && s->capital > 0.0))
        return QA_FAIL(QA_ERR_CONFIG, "fixed_cost and impact_coef need a capital > 0 in currency units (capital %g)", s->capital);
    if (s->impact_coef > 0.0 && (s->adv_window < 1 || s->impact_vol_window < 2 || s->adv_window > QA_BT_MAX_WINDOW ||
                                 s->impact_vol_window > QA_BT_MAX_WINDOW))
        return QA_FAIL(QA_ERR_CONFIG, "impact: adv_window %d must lie in [1, %.0f] and impact_vol_window %d in [2, %.0f]",
                       s->adv_window, QA_BT_MAX_WINDOW, s->impact_vol_window, QA_BT_MAX_WINDOW);
    return QA_OK;
}

/* The rules against the data: windows within the history, the volume panel for impact. */
static qa_status check_rules(const qa_bt_data *d, const qa_bt_rules *s) {
    qa_status st = qa_bt_rules_check(s);
    if (st != QA_OK) return st;
    if (s->sizing == QA_BT_SIZE_VOL_TARGET && (double)s->vol_window + 1.0 > (double)d->t_end)
        return QA_FAIL(QA_ERR_INVALID_ARG, "vol targeting: vol_window %d needs %d bars but the data end at bar %zu "
                       "(window longer than the history)", s->vol_window, s->vol_window + 1, d->t_end);
    if (s->impact_coef > 0.0) {
        if (!d->volume) return QA_FAIL(QA_ERR_INVALID_ARG, "impact_coef > 0 needs the volume panel");
        if ((double)s->adv_window > (double)d->t_end || (double)s->impact_vol_window + 1.0 > (double)d->t_end)
            return QA_FAIL(QA_ERR_INVALID_ARG, "impact: adv_window %d / impact_vol_window %d longer than the history (%zu bars)",
                           s->adv_window, s->impact_vol_window, d->t_end);
    }
    return QA_OK;
}

static qa_status check_data(const qa_bt_data *d) {
    if (d->t_begin >= d->t_end || d->t_end > d->bars)
        return QA_FAIL(QA_ERR_INVALID_ARG, "evaluation range [%zu, %zu) is empty or exceeds the %zu bars", d->t_begin,
                       d->t_end, d->bars);
    if (d->symbols > 0 && !d->close) return QA_FAIL(QA_ERR_INVALID_ARG, "the close panel is required");
    return QA_OK;
}

qa_status qa_bt_validate(const qa_bt_data *data, const qa_bt_grid *grid, const qa_bt_rules *rules) {
    if (!data || !grid || !rules) return QA_FAIL(QA_ERR_INVALID_ARG, "backtest: NULL data, grid or rules");
    qa_status st = check_data(data);
    if (st != QA_OK) return st;
    if ((int)grid->strategy < 0 || grid->strategy >= QA_BT_STRATEGY_COUNT)
        return QA_FAIL(QA_ERR_CONFIG, "unknown strategy %d", (int)grid->strategy);
    if (grid->count == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "empty parameter grid (no parameter sets)");
    if (!grid->params) return QA_FAIL(QA_ERR_INVALID_ARG, "parameter grid of %zu sets has no array", grid->count);
    if (grid->strategy == QA_BT_DONCHIAN && (!data->high || !data->low))
        return QA_FAIL(QA_ERR_INVALID_ARG, "donchian needs the high and low panels");
    if (grid->strategy == QA_BT_SIGNAL && !data->signal)
        return QA_FAIL(QA_ERR_INVALID_ARG, "strategy signal needs the signal panel");
    st = check_rules(data, rules);
    if (st != QA_OK) return st;
    for (size_t p = 0; p < grid->count; p++) {
        st = check_params(data, grid, p);
        if (st != QA_OK) return st;
    }
    return QA_OK;
}

static qa_status check_portfolio(const qa_bt_data *d, const qa_bt_portfolio_opts *o) {
    if (!o) return QA_FAIL(QA_ERR_INVALID_ARG, "portfolio: NULL options");
    if ((int)o->weighting < 0 || o->weighting >= QA_BT_WEIGHTING_COUNT)
        return QA_FAIL(QA_ERR_CONFIG, "portfolio: weighting %d is not equal or inv_vol", (int)o->weighting);
    if (o->weighting == QA_BT_WEIGHT_INV_VOL) {
        if (o->weight_window < 2)
            return QA_FAIL(QA_ERR_CONFIG, "portfolio: weight_window %d must be >= 2", o->weight_window);
        if ((double)o->weight_window + 2.0 > (double)d->t_end)
            return QA_FAIL(QA_ERR_INVALID_ARG, "portfolio: weight_window %d longer than the history (%zu bars)",
                           o->weight_window, d->t_end);
    }
    return QA_OK;
}

static qa_status check_xs(const qa_bt_data *d, const qa_bt_xs_settings *x) {
    if (!d || !x) return QA_FAIL(QA_ERR_INVALID_ARG, "xs_topk: NULL data or settings");
    qa_status st = check_data(d);
    if (st != QA_OK) return st;
    if (d->symbols > 0 && !d->signal) return QA_FAIL(QA_ERR_INVALID_ARG, "xs_topk needs the signal panel");
    if (x->k_long < 0 || x->k_short < 0 || (x->k_long == 0 && x->k_short == 0))
        return QA_FAIL(QA_ERR_CONFIG, "xs_topk: k_long %d and k_short %d must be >= 0 and not both 0", x->k_long, x->k_short);
    if (!nonneg(x->long_weight) || !nonneg(x->short_weight) || !nonneg(x->cost_bps))
        return QA_FAIL(QA_ERR_CONFIG, "xs_topk: long_weight %g, short_weight %g and cost_bps %g must be finite and >= 0",
                       x->long_weight, x->short_weight, x->cost_bps);
    if (!(isfinite(x->bars_per_year) && x->bars_per_year > 0.0))
        return QA_FAIL(QA_ERR_CONFIG, "xs_topk: bars_per_year %g must be > 0", x->bars_per_year);
    return QA_OK;
}

/* ---- observation sequences ------------------------------------------------------------------ */

qa_status qa_bt_obs_alloc(qa_bt_obs *o, size_t cap) {
    memset(o, 0, sizeof *o);
    size_t n = cap ? cap : 1;
    /* one block: 7 double arrays + the bar indices */
    o->block = malloc(n * (7 * sizeof(double) + sizeof(long)));
    if (!o->block) return QA_FAIL(QA_ERR_NOMEM, "backtest: observation buffers for %zu bars", cap);
    double *b = o->block;
    o->c = b;
    o->h = b + n;
    o->l = b + 2 * n;
    o->v = b + 3 * n;
    o->g = b + 4 * n;
    o->r = b + 5 * n;
    o->aux = b + 6 * n;
    o->t = (long *)(b + 7 * n);
    return QA_OK;
}

void qa_bt_obs_free(qa_bt_obs *o) {
    if (!o) return;
    free(o->block);
    memset(o, 0, sizeof *o);
}

void qa_bt_obs_build(qa_bt_obs *o, const qa_bt_data *d, size_t s, int need_hl, int need_vol, int need_sig) {
    const size_t T = d->bars;
    const double *c = d->close + s * T;
    const double *h = need_hl ? d->high + s * T : NULL;
    const double *l = need_hl ? d->low + s * T : NULL;
    const double *v = need_vol ? d->volume + s * T : NULL;
    const double *g = need_sig ? d->signal + s * T : NULL;
    long n = 0, i0 = -1;
    for (size_t t = 0; t < d->t_end; t++) {
        if (isnan(c[t])) continue;
        if (h && (isnan(h[t]) || isnan(l[t]))) continue;
        if (v && !(v[t] > 0.0)) continue; /* NaN or zero volume: not an observation */
        if (g && isnan(g[t])) continue;
        if (i0 < 0 && t >= d->t_begin) i0 = n;
        o->c[n] = c[t];
        o->h[n] = h ? h[t] : NAN;
        o->l[n] = l ? l[t] : NAN;
        o->v[n] = v ? v[t] : NAN;
        o->g[n] = g ? g[t] : NAN;
        o->r[n] = n > 0 ? c[t] / o->c[n - 1] - 1.0 : NAN;
        o->t[n] = (long)t;
        n++;
    }
    o->n = n;
    o->i0 = i0 < 0 ? n : i0;
}

/* ---- portfolio and cross-sectional accumulation (shared by the CPU engines) ------------------ */

qa_status qa_bt_pacc_alloc(qa_bt_pacc *a, size_t L) {
    memset(a, 0, sizeof *a);
    size_t n = L ? L : 1;
    a->num = calloc(n * 3, sizeof(double));
    a->held = calloc(n, 1);
    if (!a->num || !a->held) {
        qa_bt_pacc_free(a);
        return QA_FAIL(QA_ERR_NOMEM, "portfolio accumulators for %zu bars", L);
    }
    a->den = a->num + n;
    a->tnum = a->num + 2 * n;
    return QA_OK;
}

void qa_bt_pacc_free(qa_bt_pacc *a) {
    if (!a) return;
    free(a->num);
    free(a->held);
    memset(a, 0, sizeof *a);
}

void qa_bt_weights_build(qa_bt_obs *o, const qa_bt_portfolio_opts *opts) {
    for (long i = 0; i < o->n; i++)
        o->aux[i] = opts->weighting == QA_BT_WEIGHT_INV_VOL ? qa_bt_inv_vol_weight(o->r, i, opts->weight_window) : 1.0;
}

void qa_bt_pacc_add(qa_bt_pacc *a, const qa_bt_obs *o, size_t t_begin, const double *R, const double *delta,
                    const unsigned char *held, int64_t trades) {
    a->trades += trades;
    for (long i = o->i0 + 1; i < o->n; i++) {
        double w = o->aux[i];
        if (!(w > 0.0 && isfinite(w))) continue; /* weight undefined: not in this bar's mix */
        long j = i - o->i0 - 1;
        size_t t = (size_t)o->t[i] - t_begin;
        a->num[t] = a->num[t] + QA_BT_MUL(w, R[j]);
        a->den[t] = a->den[t] + w;
        a->tnum[t] = a->tnum[t] + QA_BT_MUL(w, delta[j]);
        if (held[j]) a->held[t] = 1;
    }
}

qa_status qa_bt_pacc_finish(const qa_bt_pacc *a, size_t L, double bpy, qa_bt_metrics *out, double *equity) {
    double *R = calloc((L ? L : 1) * 2, sizeof(double));
    if (!R) return QA_FAIL(QA_ERR_NOMEM, "portfolio series of %zu bars", L);
    double *turn = R + (L ? L : 1);
    for (size_t t = 0; t < L; t++) {
        if (a->den[t] > 0.0) {
            R[t] = a->num[t] / a->den[t];
            turn[t] = a->tnum[t] / a->den[t];
        } else {
            R[t] = NAN;
            turn[t] = 0.0;
        }
    }
    qa_bt_series_metrics(R, turn, a->held, (long)L, a->trades, bpy, out);
    if (equity) {
        qa_bt_path path;
        qa_bt_path_init(&path);
        for (size_t t = 0; t < L; t++) {
            if (!isnan(R[t])) qa_bt_path_push(&path, R[t]);
            equity[t] = path.E;
        }
    }
    free(R);
    return QA_OK;
}

qa_status qa_bt_xs_finish(const qa_bt_data *d, const qa_bt_xs_settings *xs, const signed char *codes,
                          qa_bt_metrics *out, double *equity) {
    const size_t S = d->symbols, T = d->bars, L = d->t_end - d->t_begin;
    double *wprev = malloc((S + 1) * 2 * sizeof(double));
    double *R = malloc(L * 2 * sizeof(double));
    unsigned char *held = malloc(L);
    qa_status st = QA_OK;
    if (!wprev || !R || !held) QA_TRY_FAIL(QA_ERR_NOMEM, "xs_topk: buffers for %zu symbols x %zu bars", S, L);
    double *last = wprev + S + 1, *turn = R + L;
    const double wl = xs->k_long > 0 ? xs->long_weight / (double)xs->k_long : 0.0;
    const double wsh = xs->k_short > 0 ? -(xs->short_weight / (double)xs->k_short) : 0.0;
    const double cprop = xs->cost_bps * 1e-4;
    for (size_t s = 0; s < S; s++) {
        wprev[s] = 0.0;
        last[s] = NAN;
        for (size_t t = 0; t <= d->t_begin; t++)
            if (!isnan(d->close[s * T + t])) last[s] = d->close[s * T + t];
    }
    int64_t trades = 0;
    R[0] = NAN;
    turn[0] = 0.0;
    held[0] = 0;
    for (size_t j = 1; j < L; j++) {
        size_t t = d->t_begin + j;
        int any = 0, h = 0;
        double gross = 0.0, tv = 0.0;
        for (size_t s = 0; s < S; s++) {
            double c = d->close[s * T + t];
            if (isnan(c)) continue; /* no bar: the weight is carried, no P&L booked */
            any = 1;
            signed char code = codes[j * S + s];
            double wp = wprev[s];
            double w = code == 1 ? wl : code == -1 ? wsh : 0.0;
            double r = isnan(last[s]) ? 0.0 : c / last[s] - 1.0;
            last[s] = c;
            gross = gross + QA_BT_MUL(wp, r);
            tv = tv + fabs(w - wp);
            if (wp != 0.0) h = 1;
            if (w != 0.0 && (wp == 0.0 || (w > 0.0) != (wp > 0.0))) trades++;
            wprev[s] = w;
        }
        R[j] = any ? gross - QA_BT_MUL(cprop, tv) : NAN;
        turn[j] = any ? tv : 0.0;
        held[j] = (unsigned char)h;
    }
    qa_bt_series_metrics(R, turn, held, (long)L, trades, xs->bars_per_year, out);
    if (equity) {
        qa_bt_path path;
        qa_bt_path_init(&path);
        for (size_t j = 0; j < L; j++) {
            if (!isnan(R[j])) qa_bt_path_push(&path, R[j]);
            equity[j] = path.E;
        }
    }
cleanup:
    free(wprev);
    free(R);
    free(held);
    return st;
}

/* ---- dispatch --------------------------------------------------------------------------------- */

static qa_status check_traces(const qa_bt_data *d, const qa_bt_grid *g, const qa_bt_trace *tr, size_t n) {
    if (n > 0 && !tr) return QA_FAIL(QA_ERR_INVALID_ARG, "%zu traces requested with a NULL array", n);
    for (size_t j = 0; j < n; j++)
        if (tr[j].symbol >= d->symbols || tr[j].param >= g->count)
            return QA_FAIL(QA_ERR_INVALID_ARG, "trace %zu: (symbol %zu, parameter set %zu) outside %zu symbols x %zu sets", j,
                           tr[j].symbol, tr[j].param, d->symbols, g->count);
    return QA_OK;
}

qa_status qa_bt_run(qa_backend_t *be, const qa_bt_data *data, const qa_bt_grid *grid, const qa_bt_rules *rules,
                    qa_bt_metrics *out, const qa_bt_trace *traces, size_t n_traces) {
    qa_status st = qa_bt_validate(data, grid, rules);
    if (st != QA_OK) return st;
    st = check_traces(data, grid, traces, n_traces);
    if (st != QA_OK) return st;
    if (data->symbols == 0) return QA_OK;
    if (!out) return QA_FAIL(QA_ERR_INVALID_ARG, "backtest: NULL metrics output");
    if (qa_backend_kind_of(be) == QA_BACKEND_CUDA)
        return qa_bt_run_cuda(qa_backend_stream(be), data, grid, rules, out, traces, n_traces);
    st = qa_backend_reference(be) ? qa_bt_run_reference(data, grid, rules, out)
                                  : qa_bt_run_cpu(data, grid, rules, out, qa_backend_threads(be));
    if (st == QA_OK && n_traces > 0) st = qa_bt_trace_reference(data, grid, rules, traces, n_traces);
    return st;
}

qa_status qa_bt_portfolio(qa_backend_t *be, const qa_bt_data *data, const qa_bt_grid *grid, const qa_bt_rules *rules,
                          const qa_bt_portfolio_opts *opts, qa_bt_metrics *out, double *equity) {
    qa_status st = qa_bt_validate(data, grid, rules);
    if (st != QA_OK) return st;
    st = check_portfolio(data, opts);
    if (st != QA_OK) return st;
    if (!out) return QA_FAIL(QA_ERR_INVALID_ARG, "portfolio: NULL metrics output");
    if (qa_backend_kind_of(be) == QA_BACKEND_CUDA)
        return qa_bt_portfolio_cuda(qa_backend_stream(be), data, grid, rules, opts, out, equity);
    if (qa_backend_reference(be)) return qa_bt_portfolio_reference(data, grid, rules, opts, out, equity);
    return qa_bt_portfolio_cpu(data, grid, rules, opts, out, equity, qa_backend_threads(be));
}

qa_status qa_bt_xs_topk(qa_backend_t *be, const qa_bt_data *data, const qa_bt_xs_settings *xs, qa_bt_metrics *out,
                        double *equity) {
    qa_status st = check_xs(data, xs);
    if (st != QA_OK) return st;
    if (!out) return QA_FAIL(QA_ERR_INVALID_ARG, "xs_topk: NULL metrics output");
    if (qa_backend_kind_of(be) == QA_BACKEND_CUDA)
        return qa_bt_xs_cuda(qa_backend_stream(be), data, xs, out, equity);
    if (qa_backend_reference(be)) return qa_bt_xs_reference(data, xs, out, equity);
    return qa_bt_xs_cpu(data, xs, out, equity, qa_backend_threads(be));
}

#ifndef QA_HAVE_CUDA
qa_status qa_bt_run_cuda(void *cuda_stream, const qa_bt_data *data, const qa_bt_grid *grid, const qa_bt_rules *rules,
                         qa_bt_metrics *out, const qa_bt_trace *traces, size_t n_traces) {
    (void)cuda_stream, (void)data, (void)grid, (void)rules, (void)out, (void)traces, (void)n_traces;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
qa_status qa_bt_portfolio_cuda(void *cuda_stream, const qa_bt_data *data, const qa_bt_grid *grid,
                               const qa_bt_rules *rules, const qa_bt_portfolio_opts *opts, qa_bt_metrics *out,
                               double *equity) {
    (void)cuda_stream, (void)data, (void)grid, (void)rules, (void)opts, (void)out, (void)equity;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
qa_status qa_bt_xs_cuda(void *cuda_stream, const qa_bt_data *data, const qa_bt_xs_settings *xs, qa_bt_metrics *out,
                        double *equity) {
    (void)cuda_stream, (void)data, (void)xs, (void)out, (void)equity;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
#endif
