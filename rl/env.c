/* Trading environments over the market store (rl/env.h). */
#include "rl/env.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/timeparse.h"
#include "datasets/store.h"
#include "trading/costs.h"
#include "trading/sizing.h"

const char *qa_rl_split_name(qa_rl_split s) {
    static const char *const n[] = {"train", "validation", "test"};
    return (unsigned)s < QA_RL_SPLIT_COUNT ? n[s] : "?";
}

void qa_rl_panel_free(qa_rl_panel *p) {
    if (!p) return;
    free(p->symbols);
    free(p->time);
    free(p->ret);
    free(p->feat);
    free(p->size);
    free(p->close);
    memset(p, 0, sizeof *p);
}

/* Reads one S x T panel of the chosen symbols (rows in `idx` order). */
static qa_status read_rows(qa_store_t *st, const char *dset, const long *idx, int nsym, int ntime, double *out) {
    for (int s = 0; s < nsym; s++)
        QA_TRY_RET(qa_store_read(st, dset, (size_t)idx[s], 1, 0, (size_t)ntime, out + (size_t)s * ntime));
    return QA_OK;
}

qa_status qa_rl_panel_load(const char *path, const char *const *symbols, size_t nsym,
                           const char *const *features, size_t nfeat, const qa_rules *rules,
                           qa_rl_panel *out) {
    memset(out, 0, sizeof *out);
    if (nfeat < 1 || nfeat > QA_RL_MAX_FEATURES)
        return QA_FAIL(QA_ERR_CONFIG, "%s: %zu observation features (1 to %d)", path, nfeat, QA_RL_MAX_FEATURES);
    qa_store_t *st = NULL;
    qa_status s = qa_store_open(path, NULL, QA_STORE_READ, &st);
    if (s != QA_OK) return s;
    long *idx = NULL;
    double *buf = NULL;
    qa_rules rl = *rules;
    int S = symbols && nsym ? (int)nsym : (int)qa_store_nsym(st);
    int T = (int)qa_store_ntime(st);
    qa_status st_ = QA_OK;
#define FAIL(...) do { st_ = QA_FAIL(__VA_ARGS__); goto cleanup; } while (0)
    if (S < 1 || T < 3) FAIL(QA_ERR_CONFIG, "%s: %d symbols x %d bars: too small for an environment", path, S, T);
    idx = malloc((size_t)S * sizeof *idx);
    out->symbols = calloc((size_t)S, sizeof *out->symbols);
    out->time = malloc((size_t)T * sizeof *out->time);
    buf = malloc((size_t)S * T * sizeof *buf);
    out->ret = malloc((size_t)S * T * sizeof *out->ret);
    out->size = malloc((size_t)S * T * sizeof *out->size);
    out->close = malloc((size_t)S * T * sizeof *out->close);
    out->feat = malloc(nfeat * (size_t)S * T * sizeof *out->feat);
    if (!idx || !out->symbols || !out->time || !buf || !out->ret || !out->size || !out->close || !out->feat)
        FAIL(QA_ERR_NOMEM, "%s: no memory for a %d x %d panel", path, S, T);
    for (int i = 0; i < S; i++) {
        const char *name = symbols && nsym ? symbols[i] : qa_store_symbol(st, (size_t)i);
        idx[i] = qa_store_find_symbol(st, name);
        if (idx[i] < 0) FAIL(QA_ERR_CONFIG, "%s: symbol '%s' is not in the file", path, name);
        const size_t len = strlen(name);
        if (len >= QA_RL_NAME_LEN) FAIL(QA_ERR_CONFIG, "%s: symbol '%s' is too long", path, name);
        for (int j = 0; j < i; j++)
            if (idx[j] == idx[i]) FAIL(QA_ERR_CONFIG, "%s: symbol '%s' is listed twice", path, name);
        memcpy(out->symbols[i], name, len + 1); /* len < QA_RL_NAME_LEN, checked above */
    }
    out->nsym = S;
    out->ntime = T;
    out->nfeat = (int)nfeat;
    memcpy(out->time, qa_store_time(st), (size_t)T * sizeof *out->time);
    qa_rules_resolve_bars_per_year(&rl, qa_store_get_meta(st)->bars_per_year);
    out->bars_per_year = rl.bars_per_year;
    if ((st_ = read_rows(st, "bars/close", idx, S, T, out->close)) != QA_OK) goto cleanup;
    /* Returns in double for the sizing rule (its canonical operations), floats for the envs. */
    for (int i = 0; i < S; i++) {
        const double *c = out->close + (size_t)i * T;
        double *r = buf + (size_t)i * T;
        r[0] = NAN;
        for (int t = 1; t < T; t++) r[t] = c[t] / c[t - 1] - 1.0;
        for (int t = 0; t < T; t++) {
            out->ret[(size_t)i * T + t] = (float)r[t];
            double sz = NAN;
            if (rl.sizing.method == QA_BT_SIZE_FIXED) sz = isfinite(r[t]) || t == 0 ? rl.sizing.fraction : NAN;
            else if (!qa_sizing_size(&rl, r, t, &sz) || !isfinite(sz)) sz = NAN;
            out->size[(size_t)i * T + t] = (float)sz;
        }
    }
    for (size_t f = 0; f < nfeat; f++) {
        const char *fn = features[f];
        const size_t len = strlen(fn);
        if (len == 0 || len >= QA_RL_NAME_LEN) FAIL(QA_ERR_CONFIG, "%s: feature '%s' is not a feature name", path, fn);
        memcpy(out->features[f], fn, len + 1);
        float *dst = out->feat + f * (size_t)S * T;
        if (strcmp(fn, "log_return") == 0) {
            for (int i = 0; i < S; i++) {
                const double *c = out->close + (size_t)i * T;
                dst[(size_t)i * T] = NAN;
                for (int t = 1; t < T; t++) dst[(size_t)i * T + t] = (float)log(c[t] / c[t - 1]);
            }
            continue;
        }
        char dset[64];
        snprintf(dset, sizeof dset, "features/%s", fn);
        if (!qa_store_exists(st, dset))
            FAIL(QA_ERR_CONFIG, "%s: feature '%s': no dataset /%s (compute it with qa features, or use log_return)", path,
                 fn, dset);
        if ((st_ = read_rows(st, dset, idx, S, T, buf)) != QA_OK) goto cleanup;
        for (size_t k = 0; k < (size_t)S * T; k++) dst[k] = (float)buf[k];
    }
    if ((st_ = qa_sha256_file_hex(path, out->data_sha)) != QA_OK) goto cleanup;
    for (int k = 0; k < QA_RL_SPLIT_COUNT; k++) out->split_lo[k] = 0, out->split_hi[k] = T;
#undef FAIL
cleanup:
    free(idx);
    free(buf);
    qa_store_close(st);
    if (st_ != QA_OK) qa_rl_panel_free(out);
    return st_;
}

/* Index of the first bar dated at or after `text` (after it when `inclusive`: the end of
 * a range that includes that date). */
static qa_status bar_of(const qa_rl_panel *p, const char *key, const char *text, int inclusive, int *out) {
    int64_t ns;
    qa_tzone utc;
    memset(&utc, 0, sizeof utc);
    if (!qa_time_parse(text, QA_TIME_ISO, &utc, &ns))
        return QA_FAIL(QA_ERR_CONFIG, "split.%s: '%s' is not a date (YYYY-MM-DD or an ISO date-time)%s", key, text,
                       qa_time_parse_why());
    int t = 0;
    while (t < p->ntime && (p->time[t] < ns || (inclusive && p->time[t] == ns))) t++;
    *out = t;
    return QA_OK;
}

qa_status qa_rl_panel_split(qa_rl_panel *p, const char *start, const char *train_end, const char *val_end,
                            const char *end, int embargo) {
    int a = 0, b, c, d = p->ntime;
    if (embargo < 0) return QA_FAIL(QA_ERR_CONFIG, "split.embargo: %d, expected >= 0 bars", embargo);
    if (!train_end || !val_end) return QA_FAIL(QA_ERR_CONFIG, "split: train_end and val_end are required");
    if (start) QA_TRY_RET(bar_of(p, "start", start, 0, &a));
    QA_TRY_RET(bar_of(p, "train_end", train_end, 0, &b));
    QA_TRY_RET(bar_of(p, "val_end", val_end, 0, &c));
    if (end) QA_TRY_RET(bar_of(p, "end", end, 1, &d));
    if (!(a < b)) return QA_FAIL(QA_ERR_CONFIG, "split.train_end '%s' is not after the split's start", train_end);
    if (!(b + embargo < c)) return QA_FAIL(QA_ERR_CONFIG, "split.val_end '%s': the validation split is empty after the embargo of %d bars", val_end, embargo);
    if (!(c + embargo < d)) return QA_FAIL(QA_ERR_CONFIG, "split: the test split after '%s' is empty after the embargo of %d bars", val_end, embargo);
    p->split_lo[QA_RL_TRAIN] = a, p->split_hi[QA_RL_TRAIN] = b;
    p->split_lo[QA_RL_VALIDATION] = b + embargo, p->split_hi[QA_RL_VALIDATION] = c;
    p->split_lo[QA_RL_TEST] = c + embargo, p->split_hi[QA_RL_TEST] = d;
    return QA_OK;
}

qa_status qa_rl_rules_apply(const qa_rules *r, qa_rlenv_cfg *cfg) {
    if (r->stops.stop_loss > 0 || r->stops.take_profit > 0)
        return QA_FAIL(QA_ERR_CONFIG, "stops: the RL environments do not model stop-loss / take-profit exits (set them to 0)");
    if (r->costs.fixed_cost > 0)
        return QA_FAIL(QA_ERR_CONFIG, "costs.fixed_cost: the RL environments charge proportional costs only (set it to 0)");
    if (r->costs.impact_coef > 0)
        return QA_FAIL(QA_ERR_CONFIG, "costs.impact_coef: the RL environments do not model market impact (set it to 0)");
    if (r->sizing.method == QA_BT_SIZE_KELLY)
        return QA_FAIL(QA_ERR_CONFIG, "sizing: kelly needs a return forecast; use fixed or vol_target");
    cfg->pos_lo = r->direction == QA_BT_LONG_ONLY ? 0.0f : -1.0f;
    cfg->pos_hi = r->direction == QA_BT_SHORT_ONLY ? 0.0f : 1.0f;
    cfg->cost = qa_cost_prop_rate(&r->costs);
    return QA_OK;
}

/* ---- environments on a backend -------------------------------------------------------- */

struct qa_rl_env {
    qa_backend_t *be;
    qa_rlenv_cfg cfg;
    qa_rlenv_market mkt;
    qa_rlenv_state st;
    int obs_dim, act_dim;
    int64_t starts;
    qa_buf b_ret, b_feat, b_size, b_lo, b_cum;
    qa_buf b_state[10];
};

/* Sizes of the ten state arrays, in qa_rlenv_state's order. */
static void state_sizes(const qa_rl_env_t *e, size_t sz[10]) {
    size_t n = (size_t)e->cfg.nenv, k = (size_t)qa_rlenv_assets(&e->cfg, e->mkt.nsym);
    sz[0] = sz[1] = sz[2] = sz[3] = n * sizeof(int32_t);
    sz[4] = n * sizeof(uint32_t);
    sz[5] = n * k * sizeof(float);
    sz[6] = sz[7] = sz[8] = sz[9] = n * sizeof(double);
}

static void **state_ptrs(qa_rlenv_state *s, void **p) {
    p[0] = &s->sym, p[1] = &s->t, p[2] = &s->steps, p[3] = &s->entry_step, p[4] = &s->episode;
    p[5] = &s->pos, p[6] = &s->equity, p[7] = &s->peak, p[8] = &s->entry_equity, p[9] = &s->base;
    return p;
}

/* Longest run of bars u in [lo, hi) where ok[u] holds; the starts t0 of a run [a, b)
 * are a + W - 1 .. b - 1 - horizon (window inside, and every step's next return too). */
static void longest_run(const unsigned char *ok, int lo, int hi, int *ra, int *rb) {
    *ra = *rb = lo;
    int a = lo;
    for (int u = lo; u <= hi; u++) {
        if (u < hi && ok[u]) continue;
        if (u - a > *rb - *ra) *ra = a, *rb = u;
        a = u + 1;
    }
}

void qa_rl_env_free(qa_rl_env_t *e) {
    if (!e) return;
    qa_buf_free(&e->b_ret);
    qa_buf_free(&e->b_feat);
    qa_buf_free(&e->b_size);
    qa_buf_free(&e->b_lo);
    qa_buf_free(&e->b_cum);
    for (int i = 0; i < 10; i++) qa_buf_free(&e->b_state[i]);
    free(e);
}

/* path_sym < 0: every (symbol, start) of the split; else one env that walks symbol
 * path_sym from its first decision bar to its last (horizon set to fit). */
static qa_status create(qa_backend_t *be, const qa_rl_panel *p, qa_rl_split split, const qa_rlenv_cfg *cfg,
                        int path_sym, qa_rl_env_t **out, int *path_first, int *path_steps) {
    *out = NULL;
    qa_rl_env_t *e = calloc(1, sizeof *e);
    if (!e) return QA_FAIL(QA_ERR_NOMEM, "rl env: no memory");
    qa_status st = QA_OK;
    unsigned char *ok = NULL;
    int32_t *lo = NULL;
    int64_t *cum = NULL;
    e->be = be;
    e->cfg = *cfg;
    e->cfg.nfeat = p->nfeat;
    int S = p->nsym, T = p->ntime, W = cfg->window, H = cfg->horizon;
    int port = cfg->kind == QA_RLENV_PORTFOLIO;
    int G = port ? 1 : S;
    int slo = p->split_lo[split], shi = p->split_hi[split];
    ok = malloc((size_t)T);
    lo = calloc((size_t)G, sizeof *lo);
    cum = calloc((size_t)G + 1, sizeof *cum);
    if (!ok || !lo || !cum) QA_TRY_FAIL(QA_ERR_NOMEM, "rl env: no memory");
    /* A bar is usable when its return, every feature and the size are finite; for a
     * portfolio, on every asset. */
    for (int g = 0; g < G; g++) {
        for (int t = 0; t < T; t++) {
            int good = 1;
            for (int s = port ? 0 : g; s < (port ? S : g + 1) && good; s++) {
                size_t k = (size_t)s * T + t;
                good = isfinite(p->ret[k]) && isfinite(p->size[k]);
                for (int f = 0; f < p->nfeat && good; f++) good = isfinite(p->feat[(size_t)f * S * T + k]);
            }
            ok[t] = (unsigned char)good;
        }
        int ra, rb;
        longest_run(ok, slo, shi, &ra, &rb);
        int first = ra + W - 1, last = rb - 1 - H;
        if (path_sym >= 0) {
            /* One walk: from the first decision bar to the last one with a next return. */
            int steps = rb - 1 - first;
            if (g == path_sym && steps >= 1) {
                /* No truncation inside the walk; the time features keep the training scale. */
                e->cfg.time_scale = qa_rlenv_time_steps(cfg);
                e->cfg.horizon = steps + 1;
                *path_first = first, *path_steps = steps;
            }
            last = g == path_sym && steps >= 1 ? first : first - 1;
        }
        lo[g] = first;
        cum[g + 1] = cum[g] + (last >= first ? last - first + 1 : 0);
    }
    e->starts = cum[G];
    if (e->starts == 0 && path_sym >= 0)
        QA_TRY_FAIL(QA_ERR_CONFIG, "rl env: symbol %s has no stretch of finite data in the %s split longer than the "
                    "window of %d bars", p->symbols[path_sym], qa_rl_split_name(split), W);
    if (e->starts == 0)
        QA_TRY_FAIL(QA_ERR_CONFIG,
                    "rl env: the %s split (bars %d..%d) has no start where a window of %d bars and a horizon of %d "
                    "steps fit inside finite data; shorten env.window or env.horizon, or widen the split",
                    qa_rl_split_name(split), slo, shi - 1, W, H);
    size_t plane = (size_t)S * T;
    QA_TRY(qa_buf_alloc(be, plane * sizeof(float), &e->b_ret));
    QA_TRY(qa_buf_alloc(be, (size_t)p->nfeat * plane * sizeof(float), &e->b_feat));
    QA_TRY(qa_buf_alloc(be, plane * sizeof(float), &e->b_size));
    QA_TRY(qa_buf_alloc(be, (size_t)G * sizeof(int32_t), &e->b_lo));
    QA_TRY(qa_buf_alloc(be, ((size_t)G + 1) * sizeof(int64_t), &e->b_cum));
    QA_TRY(qa_buf_upload(be, &e->b_ret, 0, p->ret, plane * sizeof(float)));
    QA_TRY(qa_buf_upload(be, &e->b_feat, 0, p->feat, (size_t)p->nfeat * plane * sizeof(float)));
    QA_TRY(qa_buf_upload(be, &e->b_size, 0, p->size, plane * sizeof(float)));
    QA_TRY(qa_buf_upload(be, &e->b_lo, 0, lo, (size_t)G * sizeof(int32_t)));
    QA_TRY(qa_buf_upload(be, &e->b_cum, 0, cum, ((size_t)G + 1) * sizeof(int64_t)));
    e->mkt = (qa_rlenv_market){.nsym = S, .ntime = T, .ngroup = G, .ret = e->b_ret.ptr, .feat = e->b_feat.ptr,
                               .size = e->b_size.ptr, .start_lo = e->b_lo.ptr, .start_cum = e->b_cum.ptr};
    QA_TRY(qa_rlenv_check(&e->cfg, &e->mkt));
    size_t sz[10];
    void *pp[10];
    state_sizes(e, sz);
    state_ptrs(&e->st, pp);
    for (int i = 0; i < 10; i++) {
        QA_TRY(qa_buf_alloc(be, sz[i], &e->b_state[i]));
        *(void **)pp[i] = e->b_state[i].ptr;
    }
    e->obs_dim = qa_rlenv_obs_dim(&e->cfg, S);
    e->act_dim = qa_rlenv_action_dim(&e->cfg, S);
    *out = e;
    e = NULL;
cleanup:
    free(ok);
    free(lo);
    free(cum);
    qa_rl_env_free(e);
    return st;
}

qa_status qa_rl_env_create(qa_backend_t *be, const qa_rl_panel *p, qa_rl_split split, const qa_rlenv_cfg *cfg,
                           qa_rl_env_t **out) {
    return create(be, p, split, cfg, -1, out, NULL, NULL);
}

qa_status qa_rl_env_create_path(qa_backend_t *be, const qa_rl_panel *p, qa_rl_split split, const qa_rlenv_cfg *cfg,
                                int sym, qa_rl_env_t **out, int *first, int *steps) {
    if (sym < 0 || sym >= p->nsym || cfg->kind != QA_RLENV_SINGLE)
        return QA_FAIL(QA_ERR_INVALID_ARG, "rl env: a path walks one symbol of a single-asset env (symbol %d)", sym);
    qa_rlenv_cfg c = *cfg;
    c.nenv = 1;
    c.min_equity = 0.0;   /* an evaluation walks the whole period */
    c.max_drawdown = 0.0;
    return create(be, p, split, &c, sym, out, first, steps);
}

const qa_rlenv_cfg *qa_rl_env_cfg(const qa_rl_env_t *e) { return &e->cfg; }
int qa_rl_env_obs_dim(const qa_rl_env_t *e) { return e->obs_dim; }
int qa_rl_env_action_dim(const qa_rl_env_t *e) { return e->act_dim; }
int qa_rl_env_nsym(const qa_rl_env_t *e) { return e->mkt.nsym; }
int64_t qa_rl_env_starts(const qa_rl_env_t *e) { return e->starts; }
qa_rlenv_state *qa_rl_env_state(qa_rl_env_t *e) { return &e->st; }

qa_status qa_rl_env_reset(qa_rl_env_t *e, float *obs) { return qa_rlenv_reset(e->be, &e->cfg, &e->mkt, &e->st, obs); }
qa_status qa_rl_env_step(qa_rl_env_t *e, const void *action, const qa_rlenv_out *out) {
    return qa_rlenv_step(e->be, &e->cfg, &e->mkt, &e->st, action, out);
}
qa_status qa_rl_env_observe(qa_rl_env_t *e, float *obs) { return qa_rlenv_observe(e->be, &e->cfg, &e->mkt, &e->st, obs); }

size_t qa_rl_env_state_bytes(const qa_rl_env_t *e) {
    size_t sz[10], n = 0;
    state_sizes(e, sz);
    for (int i = 0; i < 10; i++) n += sz[i];
    return n;
}

qa_status qa_rl_env_state_save(qa_rl_env_t *e, void *dst) {
    size_t sz[10], off = 0;
    state_sizes(e, sz);
    for (int i = 0; i < 10; i++) {
        QA_TRY_RET(qa_buf_download(e->be, (char *)dst + off, &e->b_state[i], 0, sz[i]));
        off += sz[i];
    }
    return QA_OK;
}

qa_status qa_rl_env_state_load(qa_rl_env_t *e, const void *src) {
    size_t sz[10], off = 0;
    state_sizes(e, sz);
    for (int i = 0; i < 10; i++) {
        QA_TRY_RET(qa_buf_upload(e->be, &e->b_state[i], 0, (const char *)src + off, sz[i]));
        off += sz[i];
    }
    return QA_OK;
}
