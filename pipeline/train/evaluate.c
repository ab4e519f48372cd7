/* Out-of-sample metrics of model scores: IC / rank IC per timestamp, directional
 * accuracy, MSE against naive baselines, the top-k backtest; scoring a split with a
 * model; and `qa evaluate` (definitions in docs/training.md). */
#include "pipeline/train/evaluate.h"

#include <math.h>    /* isnan, isfinite, sqrt */
#include <stdlib.h>  /* malloc, calloc, free, qsort */
#include <string.h>  /* memset */

#include "common/json.h"            /* qa_json_real */
#include "common/log.h"             /* lineage warnings */
#include "registry/registry.h"        /* models:/ URIs */
#include "datasets/store.h"         /* qa_store_open */
#include "pipeline/train/train_internal.h" /* batch staging, loss over rows */
#include "registry/predict.h"          /* qa_model_score */

double qa_evaluate_pearson(const double *x, const double *y, size_t n) {
    if (n < 2) return NAN;
    double mx = 0.0, my = 0.0;
    for (size_t i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    double sxy = 0.0, sxx = 0.0, syy = 0.0;
    for (size_t i = 0; i < n; i++) {
        double a = x[i] - mx, b = y[i] - my;
        sxy += a * b, sxx += a * a, syy += b * b;
    }
    if (!(sxx > 0.0) || !(syy > 0.0)) return NAN;
    return sxy / sqrt(sxx * syy);
}

typedef struct vi {
    double v;
    size_t i;
} vi;

static int cmp_vi(const void *a, const void *b) {
    const vi *x = a, *y = b;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Average ranks (1-based; ties share the mean of their positions) of v into r. */
static void avg_ranks(const double *v, size_t n, double *r, vi *tmp) {
    for (size_t i = 0; i < n; i++) tmp[i] = (vi){v[i], i};
    qsort(tmp, n, sizeof *tmp, cmp_vi);
    for (size_t k = 0; k < n;) {
        size_t e = k;
        while (e + 1 < n && tmp[e + 1].v == tmp[k].v) e++;
        double rank = (double)(k + e) / 2.0 + 1.0;
        for (size_t j = k; j <= e; j++) r[tmp[j].i] = rank;
        k = e + 1;
    }
}

double qa_evaluate_spearman(const double *x, const double *y, size_t n, double *scratch) {
    if (n < 2) return NAN;
    double *rx = scratch, *ry = scratch + n;
    vi *tmp = (vi *)(scratch + 2 * n); /* 2n doubles hold n (double, size_t) pairs */
    avg_ranks(x, n, rx, tmp);
    avg_ranks(y, n, ry, tmp);
    return qa_evaluate_pearson(rx, ry, n);
}

static void ic_finish(qa_evaluate_ic *ic, const double *v, size_t n) {
    ic->n = n;
    ic->mean = ic->std = ic->t = NAN;
    if (!n) return;
    double m = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++) m += v[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) ss += (v[i] - m) * (v[i] - m);
    ic->mean = m;
    if (n >= 2) {
        ic->std = sqrt(ss / (double)(n - 1));
        ic->t = ic->std > 0.0 ? m / ic->std * sqrt((double)n) : NAN;
    }
}

void qa_evaluate_metrics_free(qa_evaluate_metrics *m) {
    if (!m) return;
    free(m->equity);
    free(m->equity_prev);
    free(m->equity_time);
    m->equity = m->equity_prev = NULL;
    m->equity_time = NULL;
    m->equity_n = 0;
}

/* One evaluation: the split's prediction rows, their scores and the baseline. */
typedef struct eval_ctx {
    const qa_train_data *d;
    const uint32_t *rows;
    const double *score;
    size_t n, T, S;
    double *prev;     /* n: the baseline signal */
    size_t *order;    /* n: rows with a label and a score, grouped by timestamp */
    size_t *tstart;   /* T + 1: group starts in `order` */
} eval_ctx;

/* Baseline signal: the trailing h-bar return close(r)/close(r-h) - 1, demeaned across
 * symbols when the labels are (compare like with like). */
static qa_status baseline(eval_ctx *e) {
    const qa_train_data *d = e->d;
    const size_t h = (size_t)d->spec.horizon, T = e->T;
    for (size_t i = 0; i < e->n; i++) {
        size_t r = e->rows[i], first = d->sym_begin[d->row_sym[r]];
        e->prev[i] = r >= first + h ? d->close[r] / d->close[r - h] - 1.0 : NAN;
    }
    if (!d->spec.demean) return QA_OK;
    double *sum = calloc(T ? T : 1, sizeof *sum);
    size_t *cnt = calloc(T ? T : 1, sizeof *cnt);
    if (sum && cnt) {
        for (size_t i = 0; i < e->n; i++)
            if (!isnan(e->prev[i])) sum[d->row_t[e->rows[i]]] += e->prev[i], cnt[d->row_t[e->rows[i]]]++;
        for (size_t i = 0; i < e->n; i++)
            if (!isnan(e->prev[i])) e->prev[i] -= sum[d->row_t[e->rows[i]]] / (double)cnt[d->row_t[e->rows[i]]];
    }
    free(sum);
    free(cnt);
    return sum && cnt ? QA_OK : QA_FAIL(QA_ERR_NOMEM, "evaluation");
}

/* Errors and direction over labelled rows with a score and a baseline value. */
static void error_metrics(const eval_ctx *e, qa_evaluate_metrics *out) {
    const qa_train_data *d = e->d;
    const int reg = d->spec.target == QA_MODEL_TARGET_RETURN;
    const double center = d->spec.target == QA_MODEL_TARGET_SIGN ? 0.5 : 0.0;
    double train_mean = 0.0;
    for (size_t i = 0; i < d->nsamples[QA_TRAIN_SPLIT_TRAIN]; i++) train_mean += d->ret[d->samples[0][i]];
    if (d->nsamples[0]) train_mean /= (double)d->nsamples[0];
    double se = 0.0, se0 = 0.0, sem = 0.0, sep = 0.0;
    size_t ne = 0, nd = 0, hit = 0, up = 0, ndp = 0, hitp = 0, ndu = 0;
    for (size_t i = 0; i < e->n; i++) {
        double y = d->ret[e->rows[i]], s = e->score[i], p = e->prev[i];
        if (!isfinite(y)) continue;
        out->labelled++;
        if (!isfinite(s) || !isfinite(p)) continue;
        se += (s - y) * (s - y), se0 += y * y, sem += (train_mean - y) * (train_mean - y);
        sep += (p - y) * (p - y);
        ne++;
        if (y != 0.0) {
            ndu++;
            up += y > 0.0;
            if (s != center) nd++, hit += (s > center) == (y > 0.0);
            if (p != 0.0) ndp++, hitp += (p > 0.0) == (y > 0.0);
        }
    }
    out->mse = reg && ne ? se / (double)ne : NAN;
    out->mse_zero = ne ? se0 / (double)ne : NAN;
    out->mse_mean = ne ? sem / (double)ne : NAN;
    out->mse_prev = ne ? sep / (double)ne : NAN;
    out->dir_acc = nd ? (double)hit / (double)nd : NAN;
    out->dir_acc_up = ndu ? (double)up / (double)ndu : NAN;
    out->dir_acc_prev = ndp ? (double)hitp / (double)ndp : NAN;
}

/* Groups the labelled, scored rows by timestamp (counting sort on the grid index). */
static qa_status group_by_time(eval_ctx *e) {
    const qa_train_data *d = e->d;
    const size_t T = e->T;
    for (size_t i = 0; i < e->n; i++)
        if (isfinite(d->ret[e->rows[i]]) && isfinite(e->score[i])) e->tstart[d->row_t[e->rows[i]] + 1]++;
    for (size_t t = 0; t < T; t++) e->tstart[t + 1] += e->tstart[t];
    size_t *fill = malloc((T ? T : 1) * sizeof *fill);
    if (!fill) return QA_FAIL(QA_ERR_NOMEM, "evaluation");
    memcpy(fill, e->tstart, T * sizeof *fill);
    for (size_t i = 0; i < e->n; i++)
        if (isfinite(d->ret[e->rows[i]]) && isfinite(e->score[i])) e->order[fill[d->row_t[e->rows[i]]]++] = i;
    free(fill);
    return QA_OK;
}

/* IC and rank IC per timestamp (at least min_names names) of the scores and the baseline. */
static qa_status ic_metrics(const eval_ctx *e, int min_names, qa_evaluate_metrics *out) {
    const qa_train_data *d = e->d;
    const size_t T = e->T;
    double *xa = malloc((e->n ? e->n : 1) * 6 * sizeof *xa); /* xs, ys, Spearman scratch (4k) */
    double *ics = calloc((T ? T : 1) * 4, sizeof *ics); /* zeroed: GCC cannot see that only the filled prefix is read */
    if (!xa || !ics) {
        free(xa);
        free(ics);
        return QA_FAIL(QA_ERR_NOMEM, "evaluation of %zu rows", e->n);
    }
    size_t nic = 0, nric = 0, nicp = 0, nricp = 0;
    double *ic = ics, *ric = ics + T, *icp = ics + 2 * T, *ricp = ics + 3 * T;
    for (size_t t = 0; t < T; t++) {
        size_t a = e->tstart[t], k = e->tstart[t + 1] - a;
        if (k < (size_t)min_names) continue;
        double *xs = xa, *ys = xa + k, *scr = xa + 2 * k;
        for (size_t j = 0; j < k; j++) xs[j] = e->score[e->order[a + j]], ys[j] = d->ret[e->rows[e->order[a + j]]];
        double v = qa_evaluate_pearson(xs, ys, k);
        if (!isnan(v)) ic[nic++] = v;
        v = qa_evaluate_spearman(xs, ys, k, scr);
        if (!isnan(v)) ric[nric++] = v;
        size_t kp = 0;
        for (size_t j = 0; j < k; j++) {
            size_t i = e->order[a + j];
            if (isfinite(e->prev[i])) xs[kp] = e->prev[i], ys[kp] = d->ret[e->rows[i]], kp++;
        }
        if (kp >= (size_t)min_names) {
            v = qa_evaluate_pearson(xs, ys, kp);
            if (!isnan(v)) icp[nicp++] = v;
            v = qa_evaluate_spearman(xs, ys, kp, scr);
            if (!isnan(v)) ricp[nricp++] = v;
        }
    }
    ic_finish(&out->ic, ic, nic);
    ic_finish(&out->rank_ic, ric, nric);
    ic_finish(&out->ic_prev, icp, nicp);
    ic_finish(&out->rank_ic_prev, ricp, nricp);
    free(xa);
    free(ics);
    return QA_OK;
}

/* Top-k backtest of the scores and of the baseline over the split's grid range. */
static qa_status topk_backtests(const eval_ctx *e, const qa_evaluate_opts *o, qa_evaluate_metrics *out) {
    const qa_train_data *d = e->d;
    const size_t S = e->S, T = e->T;
    /* Rows index a symbol x time grid, so rows imply a non-empty grid. */
    if (S == 0 || T == 0 || d->nrows == 0) return QA_FAIL(QA_ERR_STATE, "evaluation: %zu x %zu grid", S, T);
    size_t t0 = T, t1 = 0;
    for (size_t i = 0; i < e->n; i++) {
        size_t t = (size_t)d->row_t[e->rows[i]];
        t0 = t < t0 ? t : t0;
        t1 = t > t1 ? t : t1;
    }
    qa_status st = QA_OK;
    double *cpanel = malloc(S * T * sizeof *cpanel), *sig = malloc(S * T * sizeof *sig);
    double *sigp = malloc(S * T * sizeof *sigp);
    out->equity_n = t1 + 1 - t0;
    out->equity = malloc(out->equity_n * sizeof *out->equity);
    out->equity_prev = malloc(out->equity_n * sizeof *out->equity_prev);
    out->equity_time = malloc(out->equity_n * sizeof *out->equity_time);
    if (!cpanel || !sig || !sigp || !out->equity || !out->equity_prev || !out->equity_time)
        QA_TRY_FAIL(QA_ERR_NOMEM, "backtest panels");
    for (size_t i = 0; i < S * T; i++) cpanel[i] = sig[i] = sigp[i] = NAN;
    for (size_t r = 0; r < d->nrows; r++) cpanel[(size_t)d->row_sym[r] * T + (size_t)d->row_t[r]] = d->close[r];
    for (size_t i = 0; i < e->n; i++) {
        size_t at = (size_t)d->row_sym[e->rows[i]] * T + (size_t)d->row_t[e->rows[i]];
        sig[at] = e->score[i];
        sigp[at] = e->prev[i];
    }
    qa_evaluate_topk_opts to = {o->top_k, o->top_k, 0.5, 0.5, o->cost_bps, d->bars_per_year > 0 ? d->bars_per_year : 252};
    if (t1 > t0 && 2 * o->top_k <= (int)S) {
        QA_TRY(qa_evaluate_topk(cpanel, sig, S, T, t0, t1 + 1, &to, &out->bt, out->equity));
        QA_TRY(qa_evaluate_topk(cpanel, sigp, S, T, t0, t1 + 1, &to, &out->bt_prev, out->equity_prev));
    } else {
        out->bt.sharpe = out->bt_prev.sharpe = NAN;
        for (size_t j = 0; j < out->equity_n; j++) out->equity[j] = out->equity_prev[j] = 1.0;
    }
    for (size_t j = 0; j < out->equity_n; j++) out->equity_time[j] = d->time[t0 + j];
    out->t_first = d->time[t0];
    out->t_last = d->time[t1];
cleanup:
    free(cpanel);
    free(sig);
    free(sigp);
    return st;
}

qa_status qa_evaluate_predictions(const qa_train_data *d, qa_train_split split, const double *score,
                                  const qa_evaluate_opts *o, qa_evaluate_metrics *out) {
    memset(out, 0, sizeof *out);
    out->split = split;
    out->loss = NAN;
    if ((unsigned)split >= QA_TRAIN_SPLIT_COUNT) return QA_FAIL(QA_ERR_INVALID_ARG, "bad split %d", (int)split);
    eval_ctx e = {d, d->pred_rows[split], score, d->npred[split], d->ntime, d->nsym, NULL, NULL, NULL};
    qa_status st = QA_OK;
    e.prev = calloc(e.n ? e.n : 1, sizeof *e.prev); /* zeroed: baseline() fills all n */
    e.order = malloc((e.n ? e.n : 1) * sizeof *e.order);
    e.tstart = calloc(e.T + 1, sizeof *e.tstart);
    if (!e.prev || !e.order || !e.tstart) QA_TRY_FAIL(QA_ERR_NOMEM, "evaluation of %zu rows", e.n);
    out->predictions = e.n;
    QA_TRY(baseline(&e));
    error_metrics(&e, out);
    QA_TRY(group_by_time(&e));
    QA_TRY(ic_metrics(&e, o->min_names >= 3 ? o->min_names : 3, out));
    if (e.n) QA_TRY(topk_backtests(&e, o, out));
cleanup:
    if (st != QA_OK) qa_evaluate_metrics_free(out);
    free(e.prev);
    free(e.order);
    free(e.tstart);
    return st;
}

static json_t *ic_json(const qa_evaluate_ic *ic) {
    return json_pack("{s:I, s:o, s:o, s:o}", "timestamps", (json_int_t)ic->n, "mean", qa_json_real(ic->mean), "std",
                     qa_json_real(ic->std), "t_stat", qa_json_real(ic->t));
}

static json_t *bt_json(const qa_evaluate_bt *b) {
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "bars", (json_int_t)b->bars, "total_return",
                     qa_json_real(b->total_return), "cagr", qa_json_real(b->cagr), "ann_vol", qa_json_real(b->ann_vol),
                     "sharpe", qa_json_real(b->sharpe), "max_drawdown", qa_json_real(b->max_drawdown), "turnover",
                     qa_json_real(b->turnover), "hit_rate", qa_json_real(b->hit_rate));
}

json_t *qa_evaluate_metrics_json(const qa_evaluate_metrics *m) {
    return json_pack("{s:s, s:I, s:I, s:o, s:{s:o, s:o, s:o, s:o}, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o}, s:o, s:o}",
                     "split", qa_train_split_name(m->split), "predictions", (json_int_t)m->predictions, "labelled",
                     (json_int_t)m->labelled, "loss", qa_json_real(m->loss), "mse", "model", qa_json_real(m->mse),
                     "zero", qa_json_real(m->mse_zero), "train_mean", qa_json_real(m->mse_mean), "trailing_return",
                     qa_json_real(m->mse_prev), "ic", ic_json(&m->ic), "rank_ic", ic_json(&m->rank_ic),
                     "ic_trailing_return", ic_json(&m->ic_prev), "rank_ic_trailing_return", ic_json(&m->rank_ic_prev),
                     "directional_accuracy", "model", qa_json_real(m->dir_acc), "always_up", qa_json_real(m->dir_acc_up),
                     "trailing_return", qa_json_real(m->dir_acc_prev), "backtest", bt_json(&m->bt),
                     "backtest_trailing_return", bt_json(&m->bt_prev));
}

qa_status qa_evaluate_scores(qa_train_net_t *net, qa_backend_t *be, const float *params, const qa_model *m,
                             const qa_train_data *d, qa_train_split split, int chunk, double *score) {
    const size_t n = d->npred[split], K = (size_t)m->arch.outputs;
    if (chunk < 1 || chunk > qa_train_net_max_rows(net))
        return QA_FAIL(QA_ERR_INVALID_ARG, "scores: chunk %d outside 1..%d", chunk, qa_train_net_max_rows(net));
    qa_train_io io;
    qa_status st = qa_train_io_init(&io, be, chunk, (size_t)d->spec.window * (size_t)d->spec.ninputs);
    if (st != QA_OK) return st;
    float *out = malloc((size_t)chunk * K * sizeof *out);
    if (!out) QA_TRY_FAIL(QA_ERR_NOMEM, "scores");
    for (size_t lo = 0; lo < n; lo += (size_t)chunk) {
        size_t k = n - lo < (size_t)chunk ? n - lo : (size_t)chunk;
        const float *y = NULL;
        QA_TRY(qa_train_io_load(&io, d, d->pred_rows[split] + lo, k));
        QA_TRY(qa_train_net_forward(net, (int)k, params, io.x.ptr, &y));
        qa_buf yb = {(void *)y, k * K * sizeof(float), qa_backend_kind_of(be)};
        QA_TRY(qa_buf_download(be, out, &yb, 0, k * K * sizeof(float)));
        for (size_t i = 0; i < k; i++) score[lo + i] = qa_model_score(m, out + i * K);
    }
cleanup:
    free(out);
    qa_train_io_free(&io);
    return st;
}

qa_status qa_evaluate_run(const char *model_ref, const char *registry, const char *data_path, qa_train_split split, const char *backend,
                          const qa_evaluate_opts *o, qa_evaluate_metrics *out) {
    memset(out, 0, sizeof *out);
    qa_model m;
    qa_train_data d;
    memset(&d, 0, sizeof d);
    qa_store_t *store = NULL;
    qa_backend_t *be = NULL;
    qa_nn_ctx_t *ctx = NULL;
    qa_train_net_t *net = NULL;
    qa_train_io io;
    memset(&io, 0, sizeof io);
    qa_buf pbuf = {0};
    double *score = NULL;
    char label[QA_PATH_MAX];
    qa_status st = qa_registry_load_ref(registry, model_ref, &m, label, NULL);
    if (st != QA_OK) return st;
    QA_TRY(qa_store_open(data_path, NULL, QA_STORE_READ, &store));
    int changed = 0;
    st = qa_train_check_store(&m, store, &changed);
    if (st != QA_OK) {
        qa_err_prefix("%s: ", label);
        goto cleanup;
    }
    if (changed)
        qa_log_warn("evaluate: %d feature(s) of %s have other lineage hashes than at training (other or newer "
                    "data under the same definitions)",
                    changed, data_path);
    QA_TRY(qa_train_data_load(store, &m.data, &m.norm, &d));
    QA_TRY(qa_backend_create_named(backend ? backend : "cpu", 0, &be));
    /* the run's chunking and CPU threads reproduce its scores to the last bit */
    json_t *eb = m.info ? json_object_get(m.info, "eval_batch") : NULL, *th = m.info ? json_object_get(m.info, "threads") : NULL;
    int chunk = json_is_integer(eb) && json_integer_value(eb) > 0 && json_integer_value(eb) <= (1 << 20)
                    ? (int)json_integer_value(eb) : 4096;
    if (qa_backend_kind_of(be) == QA_BACKEND_CPU && json_is_integer(th) && json_integer_value(th) > 0 &&
        json_integer_value(th) <= 1024)
        qa_backend_set_threads(be, (int)json_integer_value(th));
    QA_TRY(qa_nn_ctx_create(be, &ctx));
    QA_TRY(qa_train_net_create(ctx, &m.arch, chunk, &net));
    QA_TRY(qa_buf_alloc(be, m.nparams * sizeof(float), &pbuf));
    QA_TRY(qa_buf_upload(be, &pbuf, 0, m.params, m.nparams * sizeof(float)));
    score = calloc(d.npred[split] ? d.npred[split] : 1, sizeof *score); /* zeroed: every row is scored below */
    if (!score) QA_TRY_FAIL(QA_ERR_NOMEM, "scores");
    QA_TRY(qa_evaluate_scores(net, be, pbuf.ptr, &m, &d, split, chunk, score));
    QA_TRY(qa_evaluate_predictions(&d, split, score, o, out));
    /* the training loss, when the model records it */
    const char *ln = m.info ? json_string_value(json_object_get(m.info, "loss")) : NULL;
    json_t *hd = m.info ? json_object_get(m.info, "huber_delta") : NULL;
    for (int l = 0; ln && l < QA_TRAIN_LOSS_COUNT; l++)
        if (strcmp(ln, qa_train_loss_name((qa_train_loss)l)) == 0) {
            QA_TRY(qa_train_io_init(&io, be, chunk, (size_t)m.data.window * (size_t)m.data.ninputs));
            QA_TRY(qa_train_loss_rows(net, &io, pbuf.ptr, &d, d.samples[split], d.nsamples[split], (qa_train_loss)l,
                                      (float)(json_is_number(hd) ? json_number_value(hd) : 1.0), chunk, NULL,
                                      &out->loss));
        }
cleanup:
    if (st != QA_OK) qa_evaluate_metrics_free(out);
    free(score);
    qa_buf_free(&pbuf);
    qa_train_io_free(&io);
    qa_train_net_free(net);
    qa_nn_ctx_free(ctx);
    qa_backend_free(be);
    qa_train_data_free(&d);
    qa_store_close(store);
    qa_model_free(&m);
    return st;
}
