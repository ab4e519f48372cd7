/* Feature kernels: hand-computed values on tiny series, an independent oracle in this
 * file (observations compacted first, then each definition evaluated directly in long
 * double), reference vs optimised CPU paths, block streaming == one call (bitwise),
 * incremental == batch (bitwise), state handed between paths, NaN gaps, leading NaNs,
 * constant stretches, S = 1, T = 1, windows longer than the series, strided panels and
 * guard bytes; spec parsing/validation. `gpu` mode: CUDA vs the CPU reference on fresh
 * random panels with gaps, streamed in blocks, and a GPU state continued on the CPU.
 *
 * Error budgets (|x - ref| <= atol + rtol*|ref|; the derivations are in
 * docs/features.md, "Tolerances"): eps = 2^-53 ~ 1.1e-16, windows w <= 60 here, data
 * are prices ~100 (returns ~1e-2, volumes ~1e6) whose window range R is a few std.
 *   - exact paths (ret, donchian, xs_rank; ema and macd between CPU paths, which run
 *     the same recurrences): 0. Wilder kinds between CPU paths: rtol 1e-12 (the
 *     optimised path's m*y + c*x form, see budget_for).
 *   - rolling moments, optimised vs reference: sliding shifted sums re-anchored every w
 *     observations carry <= ~4w rounding errors of size eps*R, the reference ~2w; mean
 *     error <= 6w*eps*R ~ 1e-13*R, std relative <= ~6w*eps*(1 + (mean-K)^2/var) ~ 1e-12;
 *     z-scores inherit (mean error)/std + |z|*(std rel. error) ~ 1e-12. Budget rtol 1e-10,
 *     atol 1e-10 (x100 margin); mean/std get atol scaled by the series (1e-10 relative).
 *   - CPU (double) vs the long-double oracle: the double result's own error, same bounds.
 *   - EMA-type recurrences in double vs long double: each step contracts the previous
 *     error by (1-alpha) and adds ~2 eps|y|, so the steady error is <= 2 eps|y|/alpha;
 *     alpha >= 2/61 here -> ~7e-15 relative; rsi amplifies relative errors of the
 *     averages by <= 50 (|d rsi/d log rs| <= 25) -> ~4e-13 absolute. Budget rtol 1e-11,
 *     rsi atol 1e-9, macd (a difference of EMAs ~1e-2 of the price) atol 1e-10*price.
 *   - CUDA vs CPU reference: moments are one pass shifted by x itself (relative error of
 *     var ~ w*eps*(1 + z^2) for the newest value's z): rtol 1e-9, atol 1e-9; scans of
 *     affine maps reorder <= 5 levels of rounding per 32-bar tile and the error is
 *     damped by (1-alpha)^32 across tiles: rtol 1e-11; log() differs by <= 1 ulp. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/philox.h"
#include "kernel_test.h"
#include "kernels/features.h"

/* ---- data ---------------------------------------------------------------------------- */

static uint64_t g_seed; /* the run's seed (qa_test_seed: printed, QA_TEST_SEED repeats it) */

typedef struct panel {
    size_t S, T;
    double *f[QA_FEAT_BAR_FIELDS]; /* S x T each, row-major */
} panel;

static void panel_free(panel *p) {
    for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) free(p->f[f]);
    memset(p, 0, sizeof *p);
}

static panel panel_alloc(size_t S, size_t T) {
    panel p;
    p.S = S;
    p.T = T;
    for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) p.f[f] = malloc((S * T + 1) * sizeof(double));
    return p;
}

/* Random OHLCV: log-normal random walks; some symbols list late or delist early
 * (leading/trailing NaN), random missing bars (all fields NaN), rare single-field NaNs,
 * and flat stretches (o = h = l = c, constant volume) that make windows constant. */
static panel panel_random(size_t S, size_t T, uint64_t seed, double gap_rate) {
    panel p = panel_alloc(S, T);
    uint64_t ctr = 0;
#define U01() qa_rng_uniform(seed, 1, ctr++)
#define NRM() qa_rng_normal(seed, 2, ctr++)
    for (size_t s = 0; s < S; s++) {
        size_t list = U01() < 0.3 ? (size_t)(U01() * (double)T * 0.3) : 0;
        size_t delist = U01() < 0.1 ? T - (size_t)(U01() * (double)T * 0.2) : T;
        size_t flat_at = U01() < 0.4 ? (size_t)(U01() * (double)T) : T, flat_len = 20 + (size_t)(U01() * 60);
        double price = 20.0 + 180.0 * U01(), vol = 1e6 * exp(0.5 * NRM());
        for (size_t t = 0; t < T; t++) {
            size_t i = s * T + t;
            int flat = t >= flat_at && t < flat_at + flat_len;
            double o = price, c = flat ? price : price * exp(0.015 * NRM());
            double h = flat ? price : fmax(o, c) * (1.0 + 0.004 * fabs(NRM()));
            double l = flat ? price : fmin(o, c) * (1.0 - 0.004 * fabs(NRM()));
            double v = flat ? vol : 1e6 * exp(0.5 * NRM());
            price = c;
            int missing = t < list || t >= delist || U01() < gap_rate;
            p.f[QA_FEAT_FIELD_OPEN][i] = missing ? NAN : o;
            p.f[QA_FEAT_FIELD_HIGH][i] = missing ? NAN : h;
            p.f[QA_FEAT_FIELD_LOW][i] = missing ? NAN : l;
            p.f[QA_FEAT_FIELD_CLOSE][i] = missing ? NAN : c;
            p.f[QA_FEAT_FIELD_VOLUME][i] = missing ? NAN : v;
            if (!missing && U01() < 0.01) p.f[(int)(U01() * QA_FEAT_BAR_FIELDS)][i] = NAN;
        }
    }
#undef U01
#undef NRM
    return p;
}

static qa_feat_panel view(const panel *p, size_t t0, size_t nbar) {
    qa_feat_panel v;
    memset(&v, 0, sizeof v);
    for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) v.field[f] = p->f[f] + t0;
    v.nsym = p->S;
    v.nbar = nbar;
    v.ld = p->T;
    return v;
}

/* ---- the independent oracle ------------------------------------------------------------- */

typedef long double ld_t;

/* The input series x of a spec for one symbol (NaN where not an observation). */
static void oracle_x(const qa_feat_spec *s, const panel *p, size_t sym, double *x) {
    const size_t T = p->T;
    qa_feat_field f = s->field;
    if (s->kind == QA_FEAT_VOLZ) f = QA_FEAT_FIELD_VOLUME;
    int derived = s->kind == QA_FEAT_RET || s->kind == QA_FEAT_LOGRET || f == QA_FEAT_FIELD_RET ||
                  f == QA_FEAT_FIELD_LOGRET;
    int log_ret = s->kind == QA_FEAT_LOGRET || (s->kind != QA_FEAT_RET && f == QA_FEAT_FIELD_LOGRET);
    const double *raw = p->f[(s->kind == QA_FEAT_RET || s->kind == QA_FEAT_LOGRET) ? f
                             : derived                                            ? QA_FEAT_FIELD_CLOSE
                                                                                  : f] +
                        sym * T;
    double prev = NAN;
    for (size_t t = 0; t < T; t++) {
        if (!derived) {
            x[t] = raw[t];
            continue;
        }
        x[t] = NAN;
        if (isnan(raw[t])) continue;
        if (!isnan(prev)) x[t] = log_ret ? (double)logl((ld_t)raw[t] / prev) : (double)((ld_t)raw[t] / prev - 1);
        prev = raw[t];
    }
}

/* Seeded EMA-type values of u[0..n): NaN before input L-1, the mean of the first L
 * inputs at L-1, then y = a*u + (1-a)*y (ema, a = 2/(L+1)) or (y*(L-1) + u)/L (wilder). */
static void oracle_smooth(const ld_t *u, size_t n, int L, int wilder, ld_t *y) {
    ld_t acc = 0, a = 2.0L / (L + 1);
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < (size_t)L) {
            acc += u[i];
            y[i] = NAN;
        } else if (i + 1 == (size_t)L) {
            acc = (acc + u[i]) / L;
            y[i] = acc;
        } else {
            acc = wilder ? (acc * (L - 1) + u[i]) / L : a * u[i] + (1 - a) * acc;
            y[i] = acc;
        }
    }
}

static void oracle_row(const qa_feat_spec *s, const panel *p, size_t sym, double *out) {
    const size_t T = p->T;
    const int w = s->window;
    double *x = malloc((T + 1) * sizeof *x);
    size_t *J = malloc((T + 1) * sizeof *J);
    ld_t *u = malloc(6 * (T + 1) * sizeof *u), *u2 = u + T + 1, *y1 = u2 + T + 1, *y2 = y1 + T + 1,
         *y3 = y2 + T + 1, *line = y3 + T + 1;
    const double *H = p->f[QA_FEAT_FIELD_HIGH] + sym * T, *Lo = p->f[QA_FEAT_FIELD_LOW] + sym * T,
                 *C = p->f[QA_FEAT_FIELD_CLOSE] + sym * T;
    for (size_t t = 0; t < T; t++) out[t] = NAN;
    /* The observation sequence: bar indices J[0..n). */
    size_t n = 0;
    if (s->kind == QA_FEAT_ATR || s->kind == QA_FEAT_DONCHIAN) {
        for (size_t t = 0; t < T; t++)
            if (!isnan(H[t]) && !isnan(Lo[t]) && !isnan(C[t])) J[n++] = t;
    } else {
        oracle_x(s, p, sym, x);
        for (size_t t = 0; t < T; t++)
            if (!isnan(x[t])) J[n++] = t;
    }
    switch (s->kind) {
    case QA_FEAT_EMA:
        for (size_t j = 0; j < n; j++) u[j] = x[J[j]];
        oracle_smooth(u, n, w, 0, y1);
        for (size_t j = 0; j < n; j++) out[J[j]] = (double)y1[j];
        break;
    case QA_FEAT_RSI: /* change k comes with observation k+1 */
        for (size_t k = 0; k + 1 < n; k++) {
            ld_t d = (ld_t)x[J[k + 1]] - x[J[k]];
            u[k] = d > 0 ? d : 0;
            u2[k] = d < 0 ? -d : 0;
        }
        if (n < 2) break;
        oracle_smooth(u, n - 1, w, 1, y1);
        oracle_smooth(u2, n - 1, w, 1, y2);
        for (size_t k = 0; k + 1 < n; k++) {
            if (isnan((double)y1[k])) continue;
            out[J[k + 1]] = y2[k] == 0 ? (y1[k] > 0 ? 100.0 : 50.0) : (double)(100 - 100 / (1 + y1[k] / y2[k]));
        }
        break;
    case QA_FEAT_ATR:
        for (size_t j = 0; j < n; j++) {
            size_t t = J[j];
            u[j] = (ld_t)H[t] - Lo[t];
            if (j > 0) {
                ld_t pc = C[J[j - 1]];
                u[j] = fmaxl(u[j], fmaxl(fabsl(H[t] - pc), fabsl(Lo[t] - pc)));
            }
        }
        oracle_smooth(u, n, w, 1, y1);
        for (size_t j = 0; j < n; j++) out[J[j]] = (double)y1[j];
        break;
    case QA_FEAT_MACD: {
        for (size_t j = 0; j < n; j++) u[j] = x[J[j]];
        oracle_smooth(u, n, w, 0, y1);
        oracle_smooth(u, n, s->slow, 0, y2);
        size_t first = (size_t)s->slow - 1, ng = n > first ? n - first : 0; /* line observations */
        for (size_t g = 0; g < ng; g++) line[g] = y1[first + g] - y2[first + g];
        oracle_smooth(line, ng, s->signal, 0, y3);
        for (size_t g = 0; g < ng; g++)
            out[J[first + g]] = s->output == QA_FEAT_OUT_LINE     ? (double)line[g]
                                : s->output == QA_FEAT_OUT_SIGNAL ? (double)y3[g]
                                                                  : (double)(line[g] - y3[g]);
        break;
    }
    default: break;
    }
    for (size_t j = 0; j < n; j++) {
        size_t t = J[j];
        double y = out[t];
        switch (s->kind) {
        case QA_FEAT_RET:
        case QA_FEAT_LOGRET: y = x[t]; break;
        case QA_FEAT_MEAN:
        case QA_FEAT_STD:
        case QA_FEAT_ZSCORE:
        case QA_FEAT_BBPCT:
        case QA_FEAT_VOLZ: {
            if (j + 1 < (size_t)w) break;
            ld_t m = 0, q = 0, lo = INFINITY, hi = -INFINITY;
            for (size_t i = j + 1 - w; i <= j; i++) {
                m += x[J[i]];
                lo = fminl(lo, x[J[i]]);
                hi = fmaxl(hi, x[J[i]]);
            }
            m /= w;
            if (lo == hi) m = lo; /* a window of equal values: mean exact, std exactly 0 */
            for (size_t i = j + 1 - w; i <= j && lo != hi; i++) q += (x[J[i]] - m) * (x[J[i]] - m);
            ld_t sd = w > 1 ? sqrtl(q / (w - 1)) : 0;
            if (s->kind == QA_FEAT_MEAN) y = (double)m;
            else if (s->kind == QA_FEAT_STD) y = (double)sd;
            else if (sd == 0) y = NAN;
            else if (s->kind == QA_FEAT_BBPCT) y = (double)((x[t] - (m - s->k * sd)) / (2 * s->k * sd));
            else y = (double)((x[t] - m) / sd);
            break;
        }
        case QA_FEAT_DONCHIAN: {
            if (j + 1 < (size_t)w) break;
            double up = -INFINITY, dn = INFINITY;
            for (size_t i = j + 1 - w; i <= j; i++) {
                up = fmax(up, H[J[i]]);
                dn = fmin(dn, Lo[J[i]]);
            }
            y = s->output == QA_FEAT_OUT_UPPER ? up
                : s->output == QA_FEAT_OUT_LOWER ? dn
                : s->output == QA_FEAT_OUT_MID   ? (up + dn) / 2
                : up == dn                       ? NAN
                                                 : (double)(((ld_t)C[t] - dn) / ((ld_t)up - dn));
            break;
        }
        default: break;
        }
        out[t] = y;
    }
    free(x);
    free(J);
    free(u);
}

static void oracle_xs(const qa_feat_spec *s, const panel *p, double *out) {
    const size_t S = p->S, T = p->T;
    double *x = malloc((S * T + 1) * sizeof *x);
    for (size_t sym = 0; sym < S; sym++) oracle_x(s, p, sym, x + sym * T);
    for (size_t t = 0; t < T; t++) {
        size_t n = 0;
        ld_t m = 0, q = 0, lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < S; i++) {
            double v = x[i * T + t];
            if (isnan(v)) continue;
            n++;
            m += v;
            lo = fminl(lo, v);
            hi = fmaxl(hi, v);
        }
        if (n) m /= n;
        for (size_t i = 0; i < S; i++)
            if (!isnan(x[i * T + t])) q += (x[i * T + t] - m) * (x[i * T + t] - m);
        ld_t sd = (n >= 2 && lo != hi) ? sqrtl(q / (n - 1)) : 0;
        for (size_t i = 0; i < S; i++) {
            double v = x[i * T + t], y = NAN;
            if (!isnan(v) && s->kind == QA_FEAT_XS_RANK) {
                size_t less = 0, eq = 0;
                for (size_t k = 0; k < S; k++) {
                    double o = x[k * T + t];
                    less += !isnan(o) && o < v;
                    eq += !isnan(o) && o == v;
                }
                y = n == 1 ? 0.5 : ((double)less + 0.5 * (double)(eq - 1)) / (double)(n - 1);
            } else if (!isnan(v) && sd > 0) {
                y = (double)((v - m) / sd);
            }
            out[i * T + t] = y;
        }
    }
    free(x);
}

static void oracle(const qa_feat_spec *s, const panel *p, double *out) {
    if (qa_feat_spec_is_xs(s)) {
        oracle_xs(s, p, out);
        return;
    }
    for (size_t sym = 0; sym < p->S; sym++) oracle_row(s, p, sym, out + sym * p->T);
}

/* ---- runners -------------------------------------------------------------------------- */

static qa_backend_t *cpu_backend(int reference, int threads) {
    qa_backend_t *be = NULL;
    if (qa_backend_create(QA_BACKEND_CPU, 0, &be) != QA_OK) {
        printf("cannot create CPU backend: %s\n", qa_err_msg());
        exit(1);
    }
    qa_backend_set_reference(be, reference);
    if (!reference) qa_backend_set_threads(be, threads);
    return be;
}

/* Runs a spec over the panel in the blocks [cuts[i], cuts[i+1]) with one carried state,
 * into out (S x T). The final state is copied to *state_out (host) when non-NULL. */
static int run_blocks(qa_backend_t *be, const qa_feat_spec *spec, const panel *p, const size_t *cuts, size_t ncuts,
                      double *out, double *state_out) {
    qa_feat_state_t *st = NULL;
    qa_status s = qa_feat_state_create(be, spec, p->S, &st);
    QA_CHECK_OK(s);
    if (s != QA_OK) return 0;
    int ok = 1;
    for (size_t i = 0; i + 1 < ncuts && ok; i++) {
        qa_feat_panel v = view(p, cuts[i], cuts[i + 1] - cuts[i]);
        qa_status c = qa_feat_compute(be, spec, &v, st, out + cuts[i], p->T);
        QA_CHECK_OK(c);
        ok = c == QA_OK;
    }
    if (ok && state_out) QA_CHECK_OK(qa_feat_state_download(be, st, state_out));
    qa_feat_state_free(st);
    return ok;
}

static void run_once(qa_backend_t *be, const qa_feat_spec *spec, const panel *p, double *out) {
    size_t cuts[2] = {0, p->T};
    run_blocks(be, spec, p, cuts, 2, out, NULL);
}

/* Random cut points 0 = c0 < ... = T (blocks of length 1 included). */
static size_t random_cuts(size_t T, uint64_t seed, size_t *cuts, size_t max) {
    size_t n = 0;
    cuts[n++] = 0;
    uint64_t i = 0;
    while (cuts[n - 1] < T && n + 1 < max) {
        double u = qa_rng_uniform(seed, 7, i++);
        size_t len = u < 0.2 ? 1 : 1 + (size_t)(u * u * (double)T * 0.4);
        size_t next = cuts[n - 1] + len;
        cuts[n++] = next < T ? next : T;
    }
    if (cuts[n - 1] != T) cuts[n++] = T;
    return n;
}

static int bitwise_equal(const char *what, const double *a, const double *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], sizeof(double)) == 0) continue;
        if (isnan(a[i]) && isnan(b[i])) continue;
        printf("  FAIL %s: first difference at [%zu]: %.17g vs %.17g\n", what, i, a[i], b[i]);
        return 0;
    }
    return 1;
}

/* qa_feat_spec_default(kind) with another window, field or output (KEEP: the default's). */
enum { KEEP = -1 };
static qa_feat_spec spec_of(qa_feat_kind kind, int window, int field, int output) {
    qa_feat_spec s = qa_feat_spec_default(kind);
    if (window != KEEP) s.window = window;
    if (field != KEEP) s.field = (qa_feat_field)field;
    if (output != KEEP) s.output = (qa_feat_output)output;
    return s;
}

/* Specs exercised by the random tests: the default set plus variants (derived inputs,
 * short and long windows, other outputs and fields). */
static size_t test_specs(qa_feat_spec *out, size_t cap) {
    size_t n = qa_feat_default_set(out, cap);
    qa_feat_spec extra[16];
    size_t m = 0;
    extra[m++] = spec_of(QA_FEAT_MEAN, 1, KEEP, KEEP);
    extra[m++] = spec_of(QA_FEAT_STD, 2, QA_FEAT_FIELD_VOLUME, KEEP);
    extra[m++] = spec_of(QA_FEAT_ZSCORE, 60, QA_FEAT_FIELD_RET, KEEP);
    extra[m++] = spec_of(QA_FEAT_EMA, 1, QA_FEAT_FIELD_LOGRET, KEEP);
    extra[m++] = spec_of(QA_FEAT_RSI, 3, KEEP, KEEP);
    extra[m++] = spec_of(QA_FEAT_ATR, 1, KEEP, KEEP);
    extra[m] = spec_of(QA_FEAT_MACD, 3, KEEP, QA_FEAT_OUT_HIST);
    extra[m].slow = 7;
    extra[m++].signal = 1;
    extra[m++] = spec_of(QA_FEAT_DONCHIAN, 1, KEEP, QA_FEAT_OUT_UPPER);
    extra[m++] = spec_of(QA_FEAT_DONCHIAN, 45, KEEP, QA_FEAT_OUT_LOWER);
    extra[m] = spec_of(QA_FEAT_BBPCT, KEEP, QA_FEAT_FIELD_HIGH, KEEP);
    extra[m++].k = 1.5;
    extra[m++] = spec_of(QA_FEAT_RET, KEEP, QA_FEAT_FIELD_OPEN, KEEP);
    extra[m++] = spec_of(QA_FEAT_XS_RANK, KEEP, QA_FEAT_FIELD_VOLUME, KEEP);
    extra[m++] = spec_of(QA_FEAT_XS_ZSCORE, KEEP, QA_FEAT_FIELD_CLOSE, KEEP);
    for (size_t i = 0; i < m && n < cap; i++) out[n++] = extra[i];
    return n;
}

typedef struct budget {
    double atol, rtol;
} budget;

/* Scale for absolute tolerances of price-level outputs. */
enum { BUDGET_CPU_PATHS, BUDGET_ORACLE, BUDGET_GPU };

static budget budget_for(const qa_feat_spec *s, int which) {
    budget b = {0.0, 0.0};
    switch (s->kind) {
    case QA_FEAT_RET: /* p/prev rounds once (eps*|p/prev| ~ 1.1e-16 absolute), "- 1" is exact */
        b.rtol = which == BUDGET_ORACLE ? 2.3e-16 : 0.0;
        b.atol = which == BUDGET_ORACLE ? 3e-16 : 0.0;
        break;
    case QA_FEAT_LOGRET: /* the ratio's rounding (~1.1e-16 absolute) plus log's <= 1 ulp */
        b.rtol = which == BUDGET_CPU_PATHS ? 0.0 : 1e-15;
        b.atol = which == BUDGET_CPU_PATHS ? 0.0 : 3e-16;
        break;
    case QA_FEAT_DONCHIAN:
        b.rtol = s->output == QA_FEAT_OUT_POS && which == BUDGET_ORACLE ? 1e-15 : 0.0;
        break;
    case QA_FEAT_XS_RANK: break;
    case QA_FEAT_MEAN:
    case QA_FEAT_STD:
    case QA_FEAT_ZSCORE:
    case QA_FEAT_BBPCT:
    case QA_FEAT_VOLZ:
    case QA_FEAT_XS_ZSCORE:
        b.rtol = which == BUDGET_GPU ? 1e-9 : 1e-10;
        b.atol = which == BUDGET_GPU ? 1e-9 : 1e-10;
        if (s->kind == QA_FEAT_XS_ZSCORE && which == BUDGET_CPU_PATHS) b.atol = b.rtol = 0.0; /* same code */
        if (s->kind == QA_FEAT_STD || s->kind == QA_FEAT_MEAN) b.atol = 1e-10 * (s->field == QA_FEAT_FIELD_VOLUME ? 1e6 : 1.0);
        break;
    default: /* recursive kinds */
        b.rtol = 1e-11;
        b.atol = s->kind == QA_FEAT_RSI ? 1e-9 : 1e-10;
        if (s->field == QA_FEAT_FIELD_RET || s->field == QA_FEAT_FIELD_LOGRET) b.atol *= 1e-2;
        if (which == BUDGET_CPU_PATHS) {
            /* ema/macd: the same recurrence on both paths. Wilder (rsi, atr): the optimised
             * path evaluates m*y + c*x, m = (w-1)/w rounded: steady relative error
             * <= ~3 eps/(1-m) = 3w eps ~ 5e-15 (w <= 14); rsi amplifies by <= 50. */
            int wilder = s->kind == QA_FEAT_RSI || s->kind == QA_FEAT_ATR;
            b.rtol = wilder ? 1e-12 : 0.0;
            b.atol = s->kind == QA_FEAT_RSI ? 1e-10 : 0.0;
        }
        break;
    }
    return b;
}

/* ---- hand-checked values ----------------------------------------------------------------- */

/* One symbol through the optimised and reference batch paths and the incremental path;
 * every path must give `expect` (within rtol). */
static void check_series(const qa_feat_spec *spec, const double *h, const double *l, const double *c,
                         const double *v, size_t T, const double *expect, double rtol) {
    char name[64];
    qa_feat_spec_format(spec, name, sizeof name);
    panel p = panel_alloc(1, T);
    for (size_t t = 0; t < T; t++) {
        p.f[QA_FEAT_FIELD_OPEN][t] = c[t];
        p.f[QA_FEAT_FIELD_HIGH][t] = h ? h[t] : c[t];
        p.f[QA_FEAT_FIELD_LOW][t] = l ? l[t] : c[t];
        p.f[QA_FEAT_FIELD_CLOSE][t] = c[t];
        p.f[QA_FEAT_FIELD_VOLUME][t] = v ? v[t] : 1.0;
    }
    double *out = malloc(T * sizeof *out);
    for (int ref = 0; ref <= 1; ref++) {
        qa_backend_t *be = cpu_backend(ref, 1);
        run_once(be, spec, &p, out);
        for (size_t t = 0; t < T; t++)
            QA_CHECK_MSG(isnan(expect[t]) ? isnan(out[t]) : fabs(out[t] - expect[t]) <= rtol * fabs(expect[t]),
                         "%s (%s) bar %zu: got %.17g expected %.17g", name, ref ? "reference" : "optimised", t,
                         out[t], expect[t]);
        qa_backend_free(be);
    }
    double *st = calloc(qa_feat_state_doubles(spec) + 1, sizeof *st);
    for (size_t t = 0; t < T; t++) {
        qa_feat_bar bar = {c[t], h ? h[t] : c[t], l ? l[t] : c[t], c[t], v ? v[t] : 1.0};
        double y = qa_feat_update(spec, st, &bar);
        QA_CHECK_MSG(isnan(expect[t]) ? isnan(y) : fabs(y - expect[t]) <= rtol * fabs(expect[t]),
                     "%s (incremental) bar %zu: got %.17g expected %.17g", name, t, y, expect[t]);
    }
    free(st);
    free(out);
    panel_free(&p);
}

static void test_hand_checked(void) {
    const double N = NAN;
    qa_feat_spec s;
    /* ret / logret skip the gap: 100 -> 110 -> 99. */
    const double c1[] = {100, N, 110, 99};
    const double r1[] = {N, N, 0.1, -0.1};
    s = qa_feat_spec_default(QA_FEAT_RET);
    check_series(&s, NULL, NULL, c1, NULL, 4, r1, 1e-15);
    const double lr1[] = {N, N, log(1.1), log(0.9)};
    s = qa_feat_spec_default(QA_FEAT_LOGRET);
    check_series(&s, NULL, NULL, c1, NULL, 4, lr1, 1e-15);

    /* EMA span 3 (alpha 1/2) on 1, 2, 3, 4, 5 with gaps: seed mean(1,2,3) = 2, then
     * 0.5*4 + 0.5*2 = 3, 0.5*5 + 0.5*3 = 4. Exact in binary. */
    const double c2[] = {1, N, 2, 3, N, 4, 5};
    const double e2[] = {N, N, N, 2, N, 3, 4};
    s = qa_feat_spec_default(QA_FEAT_EMA);
    s.window = 3;
    check_series(&s, NULL, NULL, c2, NULL, 7, e2, 0.0);

    /* RSI w = 2 on closes 1, 2, 1, 3, 3: changes +1, -1, +2, 0. First averages (bar 2):
     * gain 0.5, loss 0.5 -> 50. Bar 3: gain (0.5 + 2)/2 = 1.25, loss (0.5 + 0)/2 = 0.25,
     * rs 5 -> 100 - 100/6. Bar 4: 0.625 / 0.125, rs 5 again. */
    const double c3[] = {1, 2, 1, 3, 3};
    const double e3[] = {N, N, 50, 100.0 - 100.0 / 6.0, 100.0 - 100.0 / 6.0};
    s = qa_feat_spec_default(QA_FEAT_RSI);
    s.window = 2;
    check_series(&s, NULL, NULL, c3, NULL, 5, e3, 1e-15);
    /* Only gains -> 100; flat -> 50 (both averages 0). */
    const double c4[] = {1, 2, 3, 4}, e4[] = {N, N, 100, 100};
    check_series(&s, NULL, NULL, c4, NULL, 4, e4, 0.0);
    const double c5[] = {7, 7, 7}, e5[] = {N, N, 50};
    check_series(&s, NULL, NULL, c5, NULL, 3, e5, 0.0);

    /* ATR w = 2. TR: first bar h-l = 2; then max(h-l, |h-c_prev|, |l-c_prev|):
     * (11,9 | 9) -> 2; (12,9 | 10) -> 3; (11,10 | 11) -> 1. ATR: (2+2)/2 = 2,
     * (2*1 + 3)/2 = 2.5, (2.5 + 1)/2 = 1.75. A bar missing its low is skipped. */
    const double h6[] = {10, 11, 50, 12, 11}, l6[] = {8, 9, N, 9, 10}, c6[] = {9, 10, 40, 11, 10.5};
    const double e6[] = {N, 2, N, 2.5, 1.75};
    s = qa_feat_spec_default(QA_FEAT_ATR);
    s.window = 2;
    check_series(&s, h6, l6, c6, NULL, 5, e6, 0.0);

    /* mean/std/zscore w = 3 on 1, 2, 4, 7: windows {1,2,4}: mean 7/3, var 7/3;
     * {2,4,7}: mean 13/3, var 19/3. */
    const double c7[] = {1, 2, N, 4, 7};
    const double m7[] = {N, N, N, 7.0 / 3, 13.0 / 3};
    const double s7[] = {N, N, N, sqrt(7.0 / 3), sqrt(19.0 / 3)};
    const double z7[] = {N, N, N, (4 - 7.0 / 3) / sqrt(7.0 / 3), (7 - 13.0 / 3) / sqrt(19.0 / 3)};
    const double b7[] = {N, N, N, (4 - (7.0 / 3 - 2 * sqrt(7.0 / 3))) / (4 * sqrt(7.0 / 3)),
                         (7 - (13.0 / 3 - 2 * sqrt(19.0 / 3))) / (4 * sqrt(19.0 / 3))};
    s = qa_feat_spec_default(QA_FEAT_MEAN);
    s.window = 3;
    check_series(&s, NULL, NULL, c7, NULL, 5, m7, 1e-15);
    s.kind = QA_FEAT_STD;
    check_series(&s, NULL, NULL, c7, NULL, 5, s7, 1e-15);
    s.kind = QA_FEAT_ZSCORE;
    check_series(&s, NULL, NULL, c7, NULL, 5, z7, 1e-14);
    s = qa_feat_spec_default(QA_FEAT_BBPCT);
    s.window = 3;
    check_series(&s, NULL, NULL, c7, NULL, 5, b7, 1e-14);
    /* volz reads volume whatever the field says. */
    s = qa_feat_spec_default(QA_FEAT_VOLZ);
    s.window = 3;
    s.field = QA_FEAT_FIELD_CLOSE;
    const double ones[] = {5, 5, 5, 5, 5};
    check_series(&s, NULL, NULL, ones, c7, 5, z7, 1e-14);
    /* Constant window: std exactly 0, zscore NaN, mean exact (0.1 is not a binary fraction). */
    const double c8[] = {0.1, 0.1, 0.1, 0.1};
    const double m8[] = {N, N, 0.1, 0.1}, s8[] = {N, N, 0, 0}, z8[] = {N, N, N, N};
    s = qa_feat_spec_default(QA_FEAT_MEAN);
    s.window = 3;
    check_series(&s, NULL, NULL, c8, NULL, 4, m8, 0.0);
    s.kind = QA_FEAT_STD;
    check_series(&s, NULL, NULL, c8, NULL, 4, s8, 0.0);
    s.kind = QA_FEAT_ZSCORE;
    check_series(&s, NULL, NULL, c8, NULL, 4, z8, 0.0);

    /* MACD 2/3/2 on 1..6: ema2 = 1.5, 2.5, 3.5, 4.5, 5.5 (from bar 1); ema3 = 2, 3, 4, 5
     * (from bar 2); line 0.5 from bar 2; signal = mean of the first two lines = 0.5 at
     * bar 3; hist 0. */
    const double c9[] = {1, 2, 3, 4, 5, 6};
    const double l9[] = {N, N, 0.5, 0.5, 0.5, 0.5}, g9[] = {N, N, N, 0.5, 0.5, 0.5};
    s = qa_feat_spec_default(QA_FEAT_MACD);
    s.window = 2;
    s.slow = 3;
    s.signal = 2;
    check_series(&s, NULL, NULL, c9, NULL, 6, l9, 1e-14);
    s.output = QA_FEAT_OUT_SIGNAL;
    check_series(&s, NULL, NULL, c9, NULL, 6, g9, 1e-14);

    /* Donchian w = 2: highs 5, 7, 6; lows 3, 4, 2; closes 4, 6, 3. */
    const double h10[] = {5, 7, 6}, l10[] = {3, 4, 2}, c10[] = {4, 6, 3};
    const double up10[] = {N, 7, 7}, lo10[] = {N, 3, 2}, mid10[] = {N, 5, 4.5}, pos10[] = {N, 0.75, 0.2};
    s = qa_feat_spec_default(QA_FEAT_DONCHIAN);
    s.window = 2;
    s.output = QA_FEAT_OUT_UPPER;
    check_series(&s, h10, l10, c10, NULL, 3, up10, 0.0);
    s.output = QA_FEAT_OUT_LOWER;
    check_series(&s, h10, l10, c10, NULL, 3, lo10, 0.0);
    s.output = QA_FEAT_OUT_MID;
    check_series(&s, h10, l10, c10, NULL, 3, mid10, 0.0);
    s.output = QA_FEAT_OUT_POS;
    check_series(&s, h10, l10, c10, NULL, 3, pos10, 1e-15);

    /* Cross-sections: ranks with a tie and a NaN; n == 1; z-scores; a constant row. */
    const double x11[] = {3, 1, N, 3, 2};
    const double rk11[] = {2.5 / 3, 0, N, 2.5 / 3, 1.0 / 3};
    double out[5];
    unsigned char scratch[512];
    QA_CHECK(qa_feat_xs_scratch_bytes(5) <= sizeof scratch);
    QA_CHECK_OK(qa_feat_xs_row(QA_FEAT_XS_RANK, x11, 5, out, scratch));
    QA_CHECK(qa_test_near_arrays("xs_rank row", out, rk11, 5, 0, 1e-15));
    const double x12[] = {N, 4, N}, rk12[] = {N, 0.5, N};
    QA_CHECK_OK(qa_feat_xs_row(QA_FEAT_XS_RANK, x12, 3, out, scratch));
    QA_CHECK(qa_test_near_arrays("xs_rank n=1", out, rk12, 3, 0, 0));
    const double x13[] = {1, 2, 3, N}, z13[] = {-1, 0, 1, N};
    QA_CHECK_OK(qa_feat_xs_row(QA_FEAT_XS_ZSCORE, x13, 4, out, scratch));
    QA_CHECK(qa_test_near_arrays("xs_zscore row", out, z13, 4, 1e-15, 1e-15));
    const double x14[] = {0.1, 0.1, 0.1}, z14[] = {N, N, N};
    QA_CHECK_OK(qa_feat_xs_row(QA_FEAT_XS_ZSCORE, x14, 3, out, scratch));
    QA_CHECK(qa_test_near_arrays("xs_zscore constant", out, z14, 3, 0, 0));
    /* In place, and -0 ties +0. */
    double x15[] = {0.0, -0.0, 1.0};
    const double rk15[] = {0.25, 0.25, 1.0};
    QA_CHECK_OK(qa_feat_xs_row(QA_FEAT_XS_RANK, x15, 3, x15, scratch));
    QA_CHECK(qa_test_near_arrays("xs_rank in place", x15, rk15, 3, 0, 0));
    QA_CHECK_ERR(qa_feat_xs_row(QA_FEAT_RSI, x13, 4, out, scratch), QA_ERR_INVALID_ARG, "cross-sectional");
}

/* ---- specs ---------------------------------------------------------------------------------- */

static void test_specs_api(void) {
    qa_feat_kind k = QA_FEAT_RET;
    QA_CHECK_OK(qa_feat_kind_parse("rsi", &k));
    QA_CHECK_INT(k, QA_FEAT_RSI);
    for (int i = 0; i < QA_FEAT_KIND_COUNT; i++) {
        QA_CHECK_OK(qa_feat_kind_parse(qa_feat_kind_name((qa_feat_kind)i), &k));
        QA_CHECK_INT(k, i);
        qa_feat_spec d = qa_feat_spec_default((qa_feat_kind)i);
        QA_CHECK_OK(qa_feat_spec_validate(&d));
    }
    QA_CHECK_ERR(qa_feat_kind_parse("rsj", &k), QA_ERR_CONFIG, "expected one of: ret, logret");
    QA_CHECK_INT(k, QA_FEAT_XS_ZSCORE); /* unchanged on failure */
    qa_feat_field f = QA_FEAT_FIELD_OPEN;
    QA_CHECK_OK(qa_feat_field_parse("logret", &f));
    QA_CHECK_INT(f, QA_FEAT_FIELD_LOGRET);
    QA_CHECK_ERR(qa_feat_field_parse("Close", &f), QA_ERR_CONFIG, "unknown feature field 'Close'");
    qa_feat_output o = QA_FEAT_OUT_VALUE;
    QA_CHECK_OK(qa_feat_output_parse("hist", &o));
    QA_CHECK_INT(o, QA_FEAT_OUT_HIST);
    QA_CHECK_ERR(qa_feat_output_parse(NULL, &o), QA_ERR_CONFIG, "(null)");

    qa_feat_spec s = qa_feat_spec_default(QA_FEAT_STD);
    s.window = 1;
    QA_CHECK_ERR(qa_feat_spec_validate(&s), QA_ERR_CONFIG, "std: window must be >= 2");
    s = qa_feat_spec_default(QA_FEAT_MEAN);
    s.window = 0;
    QA_CHECK_ERR(qa_feat_spec_validate(&s), QA_ERR_CONFIG, "mean: window must be >= 1");
    s = qa_feat_spec_default(QA_FEAT_MACD);
    s.slow = 12;
    QA_CHECK_ERR(qa_feat_spec_validate(&s), QA_ERR_CONFIG, "must be < slow span");
    s = qa_feat_spec_default(QA_FEAT_MACD);
    s.signal = 0;
    QA_CHECK_ERR(qa_feat_spec_validate(&s), QA_ERR_CONFIG, "signal span");
    s.signal = 9;
    s.output = QA_FEAT_OUT_UPPER;
    QA_CHECK_ERR(qa_feat_spec_validate(&s), QA_ERR_CONFIG, "line, signal or hist");
    s = qa_feat_spec_default(QA_FEAT_BBPCT);
    s.k = 0.0;
    QA_CHECK_ERR(qa_feat_spec_validate(&s), QA_ERR_CONFIG, "bbpct: k must be");
    s.k = NAN;
    QA_CHECK_ERR(qa_feat_spec_validate(&s), QA_ERR_CONFIG, "bbpct: k must be");
    s = qa_feat_spec_default(QA_FEAT_RET);
    s.field = QA_FEAT_FIELD_LOGRET;
    QA_CHECK_ERR(qa_feat_spec_validate(&s), QA_ERR_CONFIG, "must be a bar field");
    s = qa_feat_spec_default(QA_FEAT_ZSCORE);
    s.output = QA_FEAT_OUT_POS;
    QA_CHECK_ERR(qa_feat_spec_validate(&s), QA_ERR_CONFIG, "not one of its outputs (value)");
    s.kind = (qa_feat_kind)99;
    QA_CHECK_ERR(qa_feat_spec_validate(&s), QA_ERR_CONFIG, "out of range");

    char buf[64];
    s = qa_feat_spec_default(QA_FEAT_MACD);
    s.output = QA_FEAT_OUT_HIST;
    qa_feat_spec_format(&s, buf, sizeof buf);
    QA_CHECK_STR(buf, "macd_close_12_26_9_hist");
    s = qa_feat_spec_default(QA_FEAT_BBPCT);
    qa_feat_spec_format(&s, buf, sizeof buf);
    QA_CHECK_STR(buf, "bbpct_close_20_2");
    s = qa_feat_spec_default(QA_FEAT_XS_RANK);
    s.field = QA_FEAT_FIELD_RET;
    qa_feat_spec_format(&s, buf, sizeof buf);
    QA_CHECK_STR(buf, "xs_rank_ret");
    QA_CHECK(qa_feat_spec_is_xs(&s));
    QA_CHECK_INT(qa_feat_spec_inputs(&s), 1u << QA_FEAT_FIELD_CLOSE);
    s = qa_feat_spec_default(QA_FEAT_ATR);
    QA_CHECK_INT(qa_feat_spec_inputs(&s), (1u << QA_FEAT_FIELD_HIGH) | (1u << QA_FEAT_FIELD_LOW) | (1u << QA_FEAT_FIELD_CLOSE));

    /* State sizes: rolling windows keep w observations (+2 for a derived-return input). */
    s = qa_feat_spec_default(QA_FEAT_ZSCORE);
    QA_CHECK_INT(qa_feat_state_doubles(&s), 6 + 20);
    s.field = QA_FEAT_FIELD_RET;
    QA_CHECK_INT(qa_feat_state_doubles(&s), 2 + 6 + 20);
    s = qa_feat_spec_default(QA_FEAT_DONCHIAN);
    QA_CHECK_INT(qa_feat_state_doubles(&s), 4 + 4 * 20);
    s = qa_feat_spec_default(QA_FEAT_XS_ZSCORE);
    QA_CHECK_INT(qa_feat_state_doubles(&s), 0);

    qa_feat_spec set[32];
    QA_CHECK_INT(qa_feat_default_set(set, 32), 20);
    for (size_t i = 0; i < 20; i++) QA_CHECK_OK(qa_feat_spec_validate(&set[i]));

    /* Normalization: unused parameters do not make specs differ. */
    qa_feat_spec a = qa_feat_spec_default(QA_FEAT_ATR), b = a;
    b.field = QA_FEAT_FIELD_VOLUME;
    b.k = 3.0;
    b.slow = 5;
    qa_feat_spec na = qa_feat_spec_normalize(&a), nb = qa_feat_spec_normalize(&b);
    QA_CHECK(memcmp(&na, &nb, sizeof na) == 0);

    /* State/compute argument errors. */
    qa_backend_t *be = cpu_backend(0, 1);
    qa_feat_state_t *st = NULL;
    s = qa_feat_spec_default(QA_FEAT_STD);
    s.window = 1;
    QA_CHECK_ERR(qa_feat_state_create(be, &s, 3, &st), QA_ERR_CONFIG, "window");
    s.window = 5;
    QA_CHECK_OK(qa_feat_state_create(be, &s, 3, &st));
    QA_CHECK_INT(qa_feat_state_nsym(st), 3);
    QA_CHECK_INT(qa_feat_state_bytes(st), 3 * (6 + 5) * sizeof(double));
    panel p = panel_random(3, 10, 1, 0.0);
    double out[30];
    qa_feat_panel v = view(&p, 0, 10);
    qa_feat_spec other = s;
    other.window = 6;
    QA_CHECK_ERR(qa_feat_compute(be, &other, &v, st, out, 0), QA_ERR_INVALID_ARG, "state was created for std_close_5");
    v.nsym = 2;
    QA_CHECK_ERR(qa_feat_compute(be, &s, &v, st, out, 0), QA_ERR_INVALID_ARG, "2 symbols");
    v.nsym = 3;
    v.field[QA_FEAT_FIELD_CLOSE] = NULL;
    QA_CHECK_ERR(qa_feat_compute(be, &s, &v, st, out, 0), QA_ERR_INVALID_ARG, "'close' is NULL");
    v = view(&p, 0, 10);
    v.ld = 5;
    QA_CHECK_ERR(qa_feat_compute(be, &s, &v, st, out, 0), QA_ERR_INVALID_ARG, "row stride");
    v.ld = 10;
    v.nbar = 0; /* empty block: nothing to do, state unchanged */
    QA_CHECK_OK(qa_feat_compute(be, &s, &v, st, NULL, 0));
    double zero[33], now[33];
    memset(zero, 0, sizeof zero);
    QA_CHECK_OK(qa_feat_state_download(be, st, now));
    QA_CHECK(memcmp(zero, now, qa_feat_state_bytes(st)) == 0);
    /* Reset forgets the history: the same block computed again gives the same output. */
    double again[30];
    v.nbar = 10;
    QA_CHECK_OK(qa_feat_compute(be, &s, &v, st, out, 0));
    QA_CHECK_OK(qa_feat_state_download(be, st, now));
    QA_CHECK(memcmp(zero, now, qa_feat_state_bytes(st)) != 0);
    QA_CHECK_OK(qa_feat_state_reset(be, st));
    QA_CHECK_OK(qa_feat_state_download(be, st, now));
    QA_CHECK(memcmp(zero, now, qa_feat_state_bytes(st)) == 0);
    QA_CHECK_OK(qa_feat_compute(be, &s, &v, st, again, 0));
    QA_CHECK(bitwise_equal("recompute after reset", again, out, 30));
    qa_feat_state_free(st);
    qa_feat_state_free(NULL);
    panel_free(&p);
    qa_backend_free(be);
}

/* ---- random-panel parity ------------------------------------------------------------------- */

/* Output buffer with guard bytes on both sides. */
typedef struct guarded {
    unsigned char *raw;
    double *x;
    size_t n;
} guarded;

static guarded guarded_alloc(size_t n) {
    guarded g;
    g.n = n;
    g.raw = malloc(n * sizeof(double) + 2 * QA_GUARD_BYTES);
    qa_test_guard_fill(g.raw, n * sizeof(double) + 2 * QA_GUARD_BYTES);
    g.x = (double *)(g.raw + QA_GUARD_BYTES);
    return g;
}
static int guarded_ok(const guarded *g) {
    return qa_test_guard_intact(g->raw, QA_GUARD_BYTES) &&
           qa_test_guard_intact(g->raw + QA_GUARD_BYTES + g->n * sizeof(double), QA_GUARD_BYTES);
}
static void guarded_free(guarded *g) { free(g->raw); }

/* Worst |x - ref| and its share of the budget atol + rtol*|ref| over finite pairs (for
 * the printed margins; pass/fail is qa_test_near_arrays). */
static double worst_share(const double *x, const double *ref, size_t n, budget b, double *worst_abs) {
    double share = 0.0;
    *worst_abs = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]) || isnan(ref[i])) continue;
        double e = fabs(x[i] - ref[i]), allow = b.atol + b.rtol * fabs(ref[i]);
        if (e > *worst_abs) *worst_abs = e;
        double sh = allow > 0 ? e / allow : (e > 0 ? INFINITY : 0.0);
        if (sh > share) share = sh;
    }
    return share;
}

/* For each spec: reference (one call) vs oracle; optimised (1 and 2 threads) vs
 * reference; streaming in random blocks == one call, bitwise, on both paths;
 * incremental == optimised batch, bitwise. */
static void parity_cpu(size_t S, size_t T, uint64_t seed, double gap, int report) {
    printf("  shape %zu x %zu, seed %llu, gap rate %.2f\n", S, T, (unsigned long long)seed, gap);
    panel p = panel_random(S, T, seed, gap);
    qa_feat_spec specs[48];
    size_t ns = test_specs(specs, 48);
    size_t n = S * T;
    guarded ref = guarded_alloc(n), opt = guarded_alloc(n), tmp = guarded_alloc(n);
    double *orc = malloc((n + 1) * sizeof *orc);
    size_t cuts[64];
    size_t ncuts = random_cuts(T, seed, cuts, 64);
    qa_backend_t *ref_be = cpu_backend(1, 1), *opt1 = cpu_backend(0, 1), *opt2 = cpu_backend(0, 2);
    for (size_t i = 0; i < ns; i++) {
        const qa_feat_spec *s = &specs[i];
        char name[64], what[128];
        qa_feat_spec_format(s, name, sizeof name);
        run_once(ref_be, s, &p, ref.x);
        oracle(s, &p, orc);
        budget bo = budget_for(s, BUDGET_ORACLE), bc = budget_for(s, BUDGET_CPU_PATHS);
        snprintf(what, sizeof what, "%s reference vs oracle", name);
        qa_test_near_arrays(what, ref.x, orc, n, bo.atol, bo.rtol);
        run_once(opt1, s, &p, opt.x);
        snprintf(what, sizeof what, "%s optimised vs reference", name);
        qa_test_near_arrays(what, opt.x, ref.x, n, bc.atol, bc.rtol);
        if (report) {
            double ea, eb;
            double sa = worst_share(ref.x, orc, n, bo, &ea), sb = worst_share(opt.x, ref.x, n, bc, &eb);
            printf("    %-26s ref-vs-oracle max |err| %.1e (%.0e of budget)  opt-vs-ref %.1e (%.0e)\n", name, ea, sa,
                   eb, sb);
        }
        snprintf(what, sizeof what, "%s optimised 2 threads vs 1", name);
        run_once(opt2, s, &p, tmp.x);
        QA_CHECK(bitwise_equal(what, tmp.x, opt.x, n));
        snprintf(what, sizeof what, "%s optimised streamed in %zu blocks", name, ncuts - 1);
        run_blocks(opt2, s, &p, cuts, ncuts, tmp.x, NULL);
        QA_CHECK(bitwise_equal(what, tmp.x, opt.x, n));
        snprintf(what, sizeof what, "%s reference streamed in %zu blocks", name, ncuts - 1);
        run_blocks(ref_be, s, &p, cuts, ncuts, tmp.x, NULL);
        QA_CHECK(bitwise_equal(what, tmp.x, ref.x, n));
        QA_CHECK_MSG(guarded_ok(&ref) && guarded_ok(&opt) && guarded_ok(&tmp), "%s wrote outside its output", name);

        /* Incremental: bar by bar per symbol; cross-sections combine the per-symbol x. */
        double *st = calloc(S * (qa_feat_state_doubles(s) + 1), sizeof *st);
        size_t sd = qa_feat_state_doubles(s);
        for (size_t sym = 0; sym < S; sym++)
            for (size_t t = 0; t < T; t++) {
                size_t k = sym * T + t;
                qa_feat_bar bar = {p.f[0][k], p.f[1][k], p.f[2][k], p.f[3][k], p.f[4][k]};
                tmp.x[k] = qa_feat_update(s, st + sym * sd, &bar);
            }
        if (qa_feat_spec_is_xs(s)) {
            double *col = malloc(S * sizeof *col);
            void *scratch = malloc(qa_feat_xs_scratch_bytes(S));
            for (size_t t = 0; t < T; t++) {
                for (size_t sym = 0; sym < S; sym++) col[sym] = tmp.x[sym * T + t];
                QA_CHECK_OK(qa_feat_xs_row(s->kind, col, S, col, scratch));
                for (size_t sym = 0; sym < S; sym++) tmp.x[sym * T + t] = col[sym];
            }
            free(col);
            free(scratch);
        }
        snprintf(what, sizeof what, "%s incremental vs batch", name);
        QA_CHECK(bitwise_equal(what, tmp.x, opt.x, n));
        free(st);
    }
    qa_backend_free(ref_be);
    qa_backend_free(opt1);
    qa_backend_free(opt2);
    guarded_free(&ref);
    guarded_free(&opt);
    guarded_free(&tmp);
    free(orc);
    panel_free(&p);
}

static void test_parity_random(void) {
    uint64_t seed = g_seed;
    parity_cpu(23, 701, seed, 0.05, 1);   /* T not a multiple of anything; gaps */
    parity_cpu(7, 300, seed + 1, 0.4, 0); /* sparse: many gaps */
    parity_cpu(1, 1, seed + 2, 0.0, 0);   /* S = 1, T = 1 */
    parity_cpu(1, 50, seed + 3, 0.0, 0);  /* windows (60) longer than the series */
    parity_cpu(64, 9, seed + 4, 0.1, 0);  /* short blocks, wide cross-section */
}

/* A state written by one path continues on another: reference for the first part,
 * optimised for the rest (and the other way), against the reference in one call. */
static void test_state_handover(void) {
    uint64_t seed = g_seed + 11;
    const size_t S = 9, T = 400, cut = 173;
    panel p = panel_random(S, T, seed, 0.05);
    qa_feat_spec specs[48];
    size_t ns = test_specs(specs, 48);
    double *full = malloc(S * T * sizeof *full), *mix = malloc(S * T * sizeof *mix);
    qa_backend_t *ref = cpu_backend(1, 1), *opt = cpu_backend(0, 2);
    for (size_t i = 0; i < ns; i++) {
        const qa_feat_spec *s = &specs[i];
        char name[64], what[128];
        qa_feat_spec_format(s, name, sizeof name);
        run_once(ref, s, &p, full);
        budget b = budget_for(s, BUDGET_ORACLE); /* two different paths: the cross-path budget */
        for (int order = 0; order < 2; order++) {
            qa_backend_t *first = order ? opt : ref, *second = order ? ref : opt;
            qa_feat_state_t *st = NULL;
            QA_CHECK_OK(qa_feat_state_create(first, s, S, &st));
            qa_feat_panel v1 = view(&p, 0, cut), v2 = view(&p, cut, T - cut);
            QA_CHECK_OK(qa_feat_compute(first, s, &v1, st, mix, T));
            QA_CHECK_OK(qa_feat_compute(second, s, &v2, st, mix + cut, T));
            qa_feat_state_free(st);
            snprintf(what, sizeof what, "%s %s then %s", name, order ? "optimised" : "reference",
                     order ? "reference" : "optimised");
            budget bc = budget_for(s, BUDGET_CPU_PATHS);
            qa_test_near_arrays(what, mix, full, S * T, b.atol > bc.atol ? b.atol : bc.atol,
                                b.rtol > bc.rtol ? b.rtol : bc.rtol);
        }
    }
    qa_backend_free(ref);
    qa_backend_free(opt);
    free(full);
    free(mix);
    panel_free(&p);
}

/* Long series: the optimised sliding sums stay within budget of the reference over many
 * re-anchoring periods, including level shifts of 1e6 (drift control). */
static void test_long_drift(void) {
    const size_t T = 200000;
    uint64_t seed = g_seed + 21;
    panel p = panel_alloc(1, T);
    double level = 100.0;
    for (size_t t = 0; t < T; t++) {
        if (t % 50000 == 25000) level *= 1e6; /* huge jump, then back */
        if (t % 50000 == 26000) level /= 1e6;
        double v = level * (1.0 + 0.01 * qa_rng_normal(seed, 3, t));
        for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) p.f[f][t] = v;
    }
    qa_backend_t *ref = cpu_backend(1, 1), *opt = cpu_backend(0, 1);
    double *a = malloc(T * sizeof *a), *b = malloc(T * sizeof *b);
    static const qa_feat_kind kinds[] = {QA_FEAT_MEAN, QA_FEAT_STD, QA_FEAT_ZSCORE};
    for (size_t k = 0; k < 3; k++) {
        qa_feat_spec s = qa_feat_spec_default(kinds[k]);
        s.window = 30;
        run_once(ref, &s, &p, a);
        run_once(opt, &s, &p, b);
        /* mean and std relative to the window's scale; z-scores absolute. */
        size_t bad = 0;
        for (size_t t = 0; t < T; t++) {
            const int nan_differs = isnan(a[t]) != isnan(b[t]);
            if (nan_differs || (!isnan(a[t]) && fabs(a[t] - b[t]) > 1e-10 * (kinds[k] == QA_FEAT_ZSCORE ? 1.0 : fabs(a[t]) + 1e-300)))
                bad++;
        }
        QA_CHECK_MSG(bad == 0, "%s: %zu bars outside budget", qa_feat_kind_name(kinds[k]), bad);
    }
    free(a);
    free(b);
    qa_backend_free(ref);
    qa_backend_free(opt);
    panel_free(&p);
}

/* An infinite input poisons the windows that contain it on every path; once it has left
 * the window, the optimised path must agree with the reference again (its sliding sums
 * re-anchor on NaN instead of waiting for the schedule). */
static void test_infinite_input(void) {
    const size_t T = 400, w = 20, bad = 100;
    panel p = panel_alloc(1, T);
    for (size_t t = 0; t < T; t++) {
        double v = 100.0 + 5.0 * sin(0.1 * (double)t) + 0.01 * (double)(t % 7);
        for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) p.f[f][t] = v;
    }
    p.f[QA_FEAT_FIELD_CLOSE][bad] = INFINITY;
    qa_backend_t *ref = cpu_backend(1, 1), *opt = cpu_backend(0, 1);
    double *a = malloc(T * sizeof *a), *b = malloc(T * sizeof *b);
    static const qa_feat_kind kinds[] = {QA_FEAT_MEAN, QA_FEAT_STD, QA_FEAT_ZSCORE, QA_FEAT_BBPCT};
    for (size_t k = 0; k < 4; k++) {
        qa_feat_spec s = qa_feat_spec_default(kinds[k]);
        s.window = (int)w;
        run_once(ref, &s, &p, a);
        run_once(opt, &s, &p, b);
        char what[64];
        snprintf(what, sizeof what, "%s after an infinite input", qa_feat_kind_name(kinds[k]));
        budget bc = budget_for(&s, BUDGET_CPU_PATHS);
        qa_test_near_arrays(what, b + bad + w, a + bad + w, T - bad - w, bc.atol, bc.rtol);
        qa_test_near_arrays("before it", b, a, bad, bc.atol, bc.rtol);
    }
    free(a);
    free(b);
    qa_backend_free(ref);
    qa_backend_free(opt);
    panel_free(&p);
}

/* ---- GPU ------------------------------------------------------------------------------------ */

static void gpu_shape(qa_backend_t *gpu, size_t S, size_t T, uint64_t seed, double gap, int use_ref) {
    printf("  shape %zu x %zu, seed %llu\n", S, T, (unsigned long long)seed);
    panel p = panel_random(S, T, seed, gap);
    size_t n = S * T;
    /* Device copy of the panel with the same layout. */
    qa_buf dfield[QA_FEAT_BAR_FIELDS], dout;
    panel dp = p;
    for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) {
        QA_CHECK_OK(qa_buf_alloc(gpu, (n + 1) * sizeof(double), &dfield[f]));
        QA_CHECK_OK(qa_buf_upload(gpu, &dfield[f], 0, p.f[f], n * sizeof(double)));
        dp.f[f] = (double *)dfield[f].ptr;
    }
    QA_CHECK_OK(qa_buf_alloc(gpu, (n + 16) * sizeof(double), &dout));
    qa_feat_spec specs[48];
    size_t ns = test_specs(specs, 48);
    qa_feat_spec big = qa_feat_spec_default(QA_FEAT_ZSCORE);
    big.window = 300; /* a 512-slot shared ring */
    specs[ns++] = big;
    big.kind = QA_FEAT_DONCHIAN;
    big.output = QA_FEAT_OUT_MID;
    specs[ns++] = big;
    double *ref = malloc((n + 1) * sizeof *ref), *got = malloc((n + 16) * sizeof *got);
    qa_backend_t *cpu = cpu_backend(use_ref, 2);
    size_t cuts[64];
    size_t ncuts = random_cuts(T, seed, cuts, 16);
    for (size_t i = 0; i < ns; i++) {
        const qa_feat_spec *s = &specs[i];
        char name[64], what[160];
        qa_feat_spec_format(s, name, sizeof name);
        size_t sd = qa_feat_state_doubles(s);
        double *cpu_state = malloc((S * sd + 1) * sizeof(double)), *gpu_state = malloc((S * sd + 1) * sizeof(double));
        run_blocks(cpu, s, &p, cuts, ncuts, ref, cpu_state);
        /* Guard values after the output on the device. */
        for (size_t k = 0; k < 16; k++) got[n + k] = 1234.5;
        QA_CHECK_OK(qa_buf_upload(gpu, &dout, n * sizeof(double), got + n, 16 * sizeof(double)));
        run_blocks(gpu, s, &dp, cuts, ncuts, (double *)dout.ptr, gpu_state);
        QA_CHECK_OK(qa_backend_sync(gpu));
        QA_CHECK_OK(qa_buf_download(gpu, got, &dout, 0, (n + 16) * sizeof(double)));
        for (size_t k = 0; k < 16; k++) QA_CHECK_MSG(got[n + k] == 1234.5, "%s wrote past its output", name);
        budget b = budget_for(s, BUDGET_GPU);
        double ea, sa = worst_share(got, ref, n, b, &ea);
        printf("    %-26s cuda max |err| %.1e (%.0e of budget)\n", name, ea, sa);
        snprintf(what, sizeof what, "%s cuda vs cpu-%s (%zu blocks)", name, use_ref ? "reference" : "optimised",
                 ncuts - 1);
        qa_test_near_arrays(what, got, ref, n, b.atol, b.rtol);
        /* The GPU's final state continues on the CPU: one more block of fresh bars. */
        if (!qa_feat_spec_is_xs(s) && T > 0) {
            panel more = panel_random(S, 57, seed + 1000 + i, gap);
            qa_feat_panel v = view(&more, 0, 57);
            qa_feat_state_t *a = NULL, *c = NULL;
            double *ya = malloc(S * 57 * sizeof *ya), *yc = malloc(S * 57 * sizeof *yc);
            QA_CHECK_OK(qa_feat_state_create(cpu, s, S, &a));
            QA_CHECK_OK(qa_feat_state_create(cpu, s, S, &c));
            QA_CHECK_OK(qa_feat_state_upload(cpu, a, gpu_state));
            QA_CHECK_OK(qa_feat_state_upload(cpu, c, cpu_state));
            QA_CHECK_OK(qa_feat_compute(cpu, s, &v, a, ya, 0));
            QA_CHECK_OK(qa_feat_compute(cpu, s, &v, c, yc, 0));
            snprintf(what, sizeof what, "%s cpu continuing the cuda state", name);
            qa_test_near_arrays(what, ya, yc, S * 57, b.atol, b.rtol);
            qa_feat_state_free(a);
            qa_feat_state_free(c);
            free(ya);
            free(yc);
            panel_free(&more);
        }
        free(cpu_state);
        free(gpu_state);
    }
    qa_backend_free(cpu);
    for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) qa_buf_free(&dfield[f]);
    qa_buf_free(&dout);
    free(ref);
    free(got);
    panel_free(&p);
}

static void test_gpu_parity(void) {
    qa_backend_t *gpu = qa_kernel_test_gpu();
    uint64_t seed = g_seed + 31;
    gpu_shape(gpu, 1, 1, seed, 0.0, 1);
    gpu_shape(gpu, 3, 37, seed + 1, 0.2, 1);
    gpu_shape(gpu, 257, 1000, seed + 2, 0.05, 1);
    gpu_shape(gpu, 40, 5040, seed + 3, 0.02, 1);
    gpu_shape(gpu, 9000, 40, seed + 4, 0.1, 0); /* xs_rank with a 16384-key sort; CPU optimised oracle */
    qa_backend_free(gpu);
}

int main(int argc, char **argv) {
    g_seed = qa_test_seed();
    static const qa_test_case gpu[] = {QA_CASE(test_gpu_parity)};
    static const qa_test_case cpu[] = {QA_CASE(test_hand_checked), QA_CASE(test_specs_api), QA_CASE(test_parity_random),
                                       QA_CASE(test_state_handover), QA_CASE(test_long_drift),
                                       QA_CASE(test_infinite_input)};
    return qa_kernel_test_main(argc, argv, QA_CASES(gpu), QA_CASES(cpu));
}
