/* Distributed scenario engine: block streaming, exact tail merge, chunked contributions
 * (the protocol of docs/risk.md, "Exact distributed quantiles"). */
#include "pipeline/stress/stress_engine.h"

#include <math.h>    /* isfinite */
#include <stdlib.h>  /* calloc, malloc, free */
#include <string.h>  /* memcpy, memset */

#include "common/mem.h"
#include "common/timer.h"     /* phase timings */
#include "kernels/backend.h"  /* qa_buf */

/* Device (or host, on the CPU backend) buffers of one engine run. */
typedef struct eng {
    qa_risk_ctx_t *ctx;
    qa_backend_t *be;
    const qa_stress_engine_book *bk;
    const qa_stress_engine_source *src;
    /* MC of a book without options under delta revaluation: shocks stay uncorrelated
     * (l = NULL) and are revalued against the loadings L'w / L'E (docs/risk.md, "fused
     * linear path"). Full and delta-gamma revaluation need each asset's correlated move. */
    int fused;
    size_t rows;            /* capacity in scenarios of the row buffers */
    size_t width;           /* feature columns of the linear revaluation */
    qa_buf x;               /* rows x n scenario block */
    qa_buf feat;            /* features of a piece of rows (not for delta, which revalues x itself) */
    int cpu;                /* CPU backend: features in cache-sized pieces */
    qa_buf offtot;          /* 1: sum of the linear positions' constant P&L */
    qa_buf pnl, tmp, neg, optsum;  /* rows each */
    qa_buf linpos, optpos;  /* rows x nlin, rows x nopt */
    qa_buf w, wneg, e;      /* n, n, n x nlin */
    qa_buf mw, mwoff;       /* fused: L'w (n), mean'w (1) */
    qa_buf me, meoff;       /* fused: L'E (n x nlin), mean'E (nlin) */
    qa_buf opt, l, mean, mat;
    double *host_x;         /* matrix source: gathered rows for contributions */
} eng;

static void eng_free(eng *g) {
    qa_buf *bufs[] = {&g->x, &g->feat, &g->offtot, &g->pnl, &g->tmp, &g->neg, &g->optsum, &g->linpos, &g->optpos, &g->w, &g->wneg,
                      &g->e, &g->mw, &g->mwoff, &g->me, &g->meoff, &g->opt, &g->l, &g->mean, &g->mat};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) qa_buf_free(bufs[i]);
    free(g->host_x);
    g->host_x = NULL;
}

static qa_status up(eng *g, qa_buf *b, const void *src, size_t bytes) {
    qa_status st = qa_buf_alloc(g->be, bytes ? bytes : 8, b);
    if (st == QA_OK && bytes) st = qa_buf_upload(g->be, b, 0, src, bytes);
    return st;
}

static qa_status eng_init(eng *g, qa_risk_ctx_t *ctx, const qa_stress_engine_book *bk,
                          const qa_stress_engine_source *src, size_t rows) {
    qa_status st = QA_OK;
    memset(g, 0, sizeof *g);
    g->ctx = ctx;
    g->be = qa_risk_ctx_backend(ctx);
    g->bk = bk;
    g->src = src;
    g->rows = rows;
    size_t n = bk->n, d = sizeof(double);
    double *host = NULL;
    g->fused = src->kind == QA_STRESS_SOURCE_MC && bk->nopt == 0 && bk->nlin > 0 && bk->reval == QA_RISK_REVAL_DELTA;
    g->width = qa_risk_reval_width(bk->reval, n);
    g->cpu = qa_backend_kind_of(g->be) == QA_BACKEND_CPU;
    size_t wd = g->width;
    QA_TRY(qa_buf_alloc(g->be, rows * n * d, &g->x));
    if (bk->nlin && bk->reval != QA_RISK_REVAL_DELTA) QA_TRY(qa_buf_alloc(g->be, rows * wd * d, &g->feat));
    QA_TRY(qa_buf_alloc(g->be, rows * d, &g->pnl));
    QA_TRY(qa_buf_alloc(g->be, rows * d, &g->tmp));
    QA_TRY(qa_buf_alloc(g->be, rows * d, &g->neg));
    QA_TRY(qa_buf_alloc(g->be, rows * d, &g->optsum));
    QA_TRY(qa_buf_alloc(g->be, rows * (bk->nlin ? bk->nlin : 1) * d, &g->linpos));
    QA_TRY(qa_buf_alloc(g->be, rows * (bk->nopt ? bk->nopt : 1) * d, &g->optpos));
    if (src->kind == QA_STRESS_SOURCE_MC) {
        QA_TRY(up(g, &g->l, src->l, n * n * d));
        if (src->mean) QA_TRY(up(g, &g->mean, src->mean, n * d));
    } else {
        QA_TRY(up(g, &g->mat, src->x, (size_t)src->count * n * d));
        g->host_x = malloc(rows * n * d);
        if (!g->host_x) QA_TRY_FAIL(QA_ERR_NOMEM, "scenario rows (%zu x %zu)", rows, n);
    }
    if (bk->nopt) QA_TRY(up(g, &g->opt, bk->opt, bk->nopt * sizeof *bk->opt));
    if (bk->nlin) {
        size_t hn = wd > bk->nlin ? wd : bk->nlin;
        host = malloc(hn * d);
        if (!host) QA_TRY_FAIL(QA_ERR_NOMEM, "exposures");
        QA_TRY(up(g, &g->w, bk->w, wd * d));
        for (size_t j = 0; j < wd; j++) host[j] = -bk->w[j]; /* exact negation: see block_totals */
        QA_TRY(up(g, &g->wneg, host, wd * d));
        QA_TRY(up(g, &g->e, bk->e_lin, wd * bk->nlin * d));
        /* Constant P&L of the linear positions (their total summed in position order). */
        double off = 0.0;
        for (size_t i = 0; bk->off_lin && i < bk->nlin; i++) off += bk->off_lin[i];
        QA_TRY(up(g, &g->offtot, &off, d));
        if (g->fused) {
            QA_TRY(qa_buf_alloc(g->be, n * d, &g->mw));
            QA_TRY(qa_risk_factor_loadings(ctx, g->l.ptr, n, g->w.ptr, 1, g->mw.ptr));
            QA_TRY(qa_buf_alloc(g->be, n * bk->nlin * d, &g->me));
            QA_TRY(qa_risk_factor_loadings(ctx, g->l.ptr, n, g->e.ptr, bk->nlin, g->me.ptr));
            /* Offsets mean'w + off and mean'E + off_lin, summed over factors in index order. */
            double mw = 0.0;
            for (size_t j = 0; src->mean && j < n; j++) mw += src->mean[j] * bk->w[j];
            mw += off;
            QA_TRY(up(g, &g->mwoff, &mw, d));
            for (size_t i = 0; i < bk->nlin; i++) {
                double s = 0.0;
                for (size_t j = 0; src->mean && j < n; j++) s += src->mean[j] * bk->e_lin[j * bk->nlin + i];
                host[i] = s + (bk->off_lin ? bk->off_lin[i] : 0.0);
            }
            QA_TRY(up(g, &g->meoff, host, bk->nlin * d));
        } else if (bk->off_lin) {
            QA_TRY(up(g, &g->meoff, bk->off_lin, bk->nlin * d));
        }
    }
cleanup:
    free(host);
    if (st != QA_OK) eng_free(g);
    return st;
}

/* The scenario rows of [first, first + count) (indices NULL) or of an index list, as a
 * backend pointer. */
static qa_status scenarios(eng *g, uint64_t first, const uint64_t *idx, size_t count, const double **x) {
    const qa_stress_engine_source *s = g->src;
    size_t n = g->bk->n;
    if (s->kind == QA_STRESS_SOURCE_MATRIX) {
        if (!idx) {
            *x = (const double *)g->mat.ptr + first * n;
            return QA_OK;
        }
        for (size_t r = 0; r < count; r++) memcpy(g->host_x + r * n, s->x + idx[r] * n, n * sizeof(double));
        *x = g->x.ptr;
        return qa_buf_upload(g->be, &g->x, 0, g->host_x, count * n * sizeof(double));
    }
    const double *l = g->fused ? NULL : g->l.ptr, *mean = g->fused || !s->mean ? NULL : g->mean.ptr;
    *x = g->x.ptr;
    if (idx) return qa_risk_scenarios_at(g->ctx, &s->mc, l, mean, n, idx, count, g->x.ptr);
    return qa_risk_scenarios(g->ctx, &s->mc, l, mean, n, first, count, g->x.ptr);
}

/* The linear revaluation reads the scenario rows themselves (delta) or their features
 * (qa_risk_reval_features). On the CPU the features are made in pieces of PIECE rows that
 * are still in cache when the product reads them (a whole block's features would be tens
 * of MB, written and read back from memory); the bits do not depend on the pieces (every
 * row's chain is its own). On a GPU one piece is the whole block. */
enum { PIECE = 512 };

static size_t piece_rows(const eng *g, size_t count) { return g->cpu && g->feat.ptr ? PIECE : count; }

/* The revaluation input of rows [r0, r0 + rc) of x, into *f (backend memory). */
static qa_status piece(eng *g, const double *x, size_t r0, size_t rc, const double **f) {
    const size_t n = g->bk->n;
    if (!g->feat.ptr) {
        *f = x + r0 * n;
        return QA_OK;
    }
    *f = g->feat.ptr;
    return qa_risk_reval_features(g->ctx, g->bk->reval, x + r0 * n, rc, n, g->feat.ptr);
}

/* Portfolio P&L of count scenario rows into g->pnl. */
static qa_status block_totals(eng *g, const double *x, size_t count) {
    const qa_stress_engine_book *b = g->bk;
    qa_status st = QA_OK;
    if (g->fused)
        return qa_risk_pnl_linear_pos(g->ctx, x, count, b->n, g->mw.ptr, 1, g->mwoff.ptr, NULL, g->pnl.ptr);
    if (b->nlin == 0) return qa_risk_pnl_options(g->ctx, x, count, b->n, g->opt.ptr, b->nopt, b->horizon_years, NULL, g->pnl.ptr);
    /* Mixed book: total = options - (f'(-w)) through qa_risk_pnl_without, which is exactly
     * options + f'w (negating w negates every product and partial sum exactly). Options
     * are only revalued in full, so there is no constant term then. */
    double *lin = b->nopt ? g->neg.ptr : g->pnl.ptr;
    const double *w = b->nopt ? g->wneg.ptr : g->w.ptr;
    for (size_t r0 = 0, step = piece_rows(g, count); r0 < count && st == QA_OK; r0 += step) {
        size_t rc = count - r0 < step ? count - r0 : step;
        const double *f;
        if ((st = piece(g, x, r0, rc, &f))) break;
        st = b->off_lin && !b->nopt
                 ? qa_risk_pnl_linear_pos(g->ctx, f, rc, g->width, w, 1, g->offtot.ptr, NULL, lin + r0)
                 : qa_risk_pnl_linear(g->ctx, f, rc, g->width, w, lin + r0);
    }
    if (st != QA_OK || b->nopt == 0) return st;
    if ((st = qa_risk_pnl_options(g->ctx, x, count, b->n, g->opt.ptr, b->nopt, b->horizon_years, NULL, g->optsum.ptr)))
        return st;
    return qa_risk_pnl_without(g->ctx, g->optsum.ptr, g->neg.ptr, count, 1, 0, g->pnl.ptr);
}

/* Per-position P&L of count rows into g->linpos / g->optpos. */
static qa_status block_positions(eng *g, const double *x, size_t count) {
    const qa_stress_engine_book *b = g->bk;
    qa_status st = QA_OK;
    if (b->nlin && g->fused)
        st = qa_risk_pnl_linear_pos(g->ctx, x, count, b->n, g->me.ptr, b->nlin, g->meoff.ptr, g->linpos.ptr, NULL);
    for (size_t r0 = 0, step = piece_rows(g, count); b->nlin && !g->fused && r0 < count && st == QA_OK; r0 += step) {
        size_t rc = count - r0 < step ? count - r0 : step;
        const double *f;
        if ((st = piece(g, x, r0, rc, &f))) break;
        st = qa_risk_pnl_linear_pos(g->ctx, f, rc, g->width, g->e.ptr, b->nlin, g->meoff.ptr,
                                    (double *)g->linpos.ptr + r0 * b->nlin, NULL);
    }
    if (st == QA_OK && b->nopt)
        st = qa_risk_pnl_options(g->ctx, x, count, b->n, g->opt.ptr, b->nopt, b->horizon_years, g->optpos.ptr, NULL);
    return st;
}

/* ---- gathering ---------------------------------------------------------------------------- */

static int rank_of(const qa_comm_t *c) { return qa_comm_rank(c); }
static int size_of(const qa_comm_t *c) { return qa_comm_size(c); }

/* Rank 0 ends with the merge of every rank's tail (the global top m). */
static qa_status merge_tail(const qa_comm_t *comm, qa_risk_tail *t) {
    if (qa_comm_size(comm) == 1) return QA_OK;
    void *all = NULL;
    size_t *counts = NULL;
    qa_status st = qa_comm_gatherv(comm, t->items, t->count * sizeof *t->items, 0, &all, &counts);
    if (st == QA_OK && qa_comm_rank(comm) == 0) {
        t->count = 0;
        const qa_risk_tail_item *p = all;
        for (int r = 0; r < qa_comm_size(comm) && st == QA_OK; r++) {
            size_t k = counts[r] / sizeof *p;
            st = qa_risk_tail_add(t, p, k);
            p += k;
        }
    }
    free(all);
    free(counts);
    return st;
}

/* Incremental tails: each rank sends, per position, [count, items...]. */
static qa_status merge_tails(const qa_comm_t *comm, qa_risk_tail *t, size_t p) {
    if (qa_comm_size(comm) == 1) return QA_OK;
    size_t bytes = 0;
    for (size_t j = 0; j < p; j++) bytes += sizeof(uint64_t) + t[j].count * sizeof(qa_risk_tail_item);
    unsigned char *buf = malloc(bytes ? bytes : 1), *q = buf;
    if (!buf) return QA_FAIL(QA_ERR_NOMEM, "incremental tails (%zu bytes)", bytes);
    for (size_t j = 0; j < p; j++) {
        uint64_t c = t[j].count;
        memcpy(q, &c, sizeof c);
        q += sizeof c;
        memcpy(q, t[j].items, t[j].count * sizeof(qa_risk_tail_item));
        q += t[j].count * sizeof(qa_risk_tail_item);
    }
    void *all = NULL;
    size_t *counts = NULL;
    qa_status st = qa_comm_gatherv(comm, buf, bytes, 0, &all, &counts);
    free(buf);
    if (st == QA_OK && qa_comm_rank(comm) == 0) {
        for (size_t j = 0; j < p; j++) t[j].count = 0;
        const unsigned char *r = all;
        for (int k = 0; k < qa_comm_size(comm) && st == QA_OK; k++) {
            for (size_t j = 0; j < p && st == QA_OK; j++) {
                uint64_t c;
                memcpy(&c, r, sizeof c);
                r += sizeof c;
                /* Copy out: the gathered bytes carry no alignment guarantee for the items. */
                qa_risk_tail_item *items = malloc((c ? c : 1) * sizeof *items);
                if (!items) {
                    st = QA_FAIL(QA_ERR_NOMEM, "incremental tail");
                    break;
                }
                memcpy(items, r, c * sizeof *items);
                r += c * sizeof *items;
                st = qa_risk_tail_add(&t[j], items, c);
                free(items);
            }
        }
    }
    free(all);
    free(counts);
    return st;
}

/* Losses of scenarios below `sample`, gathered on rank 0 in index order. */
typedef struct sample_item {
    uint64_t index;
    double loss;
} sample_item;

static qa_status gather_sample(const qa_comm_t *comm, const sample_item *mine, size_t nmine, double *sample,
                               size_t nsample) {
    void *all = NULL;
    size_t *counts = NULL, total = nmine;
    const sample_item *items = mine;
    qa_status st = QA_OK;
    if (qa_comm_size(comm) > 1) {
        st = qa_comm_gatherv(comm, mine, nmine * sizeof *mine, 0, &all, &counts);
        if (st != QA_OK) return st;
        if (qa_comm_rank(comm) != 0) goto done;
        total = 0;
        for (int r = 0; r < qa_comm_size(comm); r++) total += counts[r] / sizeof *mine;
        items = all;
    }
    for (size_t i = 0; i < total; i++) {
        sample_item it;
        memcpy(&it, (const unsigned char *)items + i * sizeof it, sizeof it);
        if (it.index < nsample) sample[it.index] = it.loss;
    }
done:
    free(all);
    free(counts);
    return st;
}

/* ---- the run -------------------------------------------------------------------------------- */

void qa_stress_engine_result_free(qa_stress_engine_result *r) {
    if (!r) return;
    QA_FREE_ALL(r->var, r->es, r->var_index, r->comp_var, r->comp_es, r->incr_var, r->incr_es, r->sample);
    memset(r, 0, sizeof *r);
}

static qa_status check_args(const qa_stress_engine_book *bk, const qa_stress_engine_source *src,
                            const qa_stress_engine_opts *o) {
    if (!bk || !src || !o) return QA_FAIL(QA_ERR_INVALID_ARG, "stress engine: NULL argument");
    if (bk->n == 0 || bk->p == 0 || bk->nlin + bk->nopt != bk->p)
        return QA_FAIL(QA_ERR_INVALID_ARG, "stress engine: %zu factors, %zu positions (%zu linear + %zu options)", bk->n,
                       bk->p, bk->nlin, bk->nopt);
    if (src->count == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "stress engine: no scenarios");
    if (src->kind == QA_STRESS_SOURCE_MC && !src->l)
        return QA_FAIL(QA_ERR_INVALID_ARG, "stress engine: Monte Carlo needs a Cholesky factor");
    if (src->kind == QA_STRESS_SOURCE_MATRIX && !src->x)
        return QA_FAIL(QA_ERR_INVALID_ARG, "stress engine: no scenario matrix");
    if (o->nlevels == 0 || !o->levels || o->block == 0 || o->chunk == 0)
        return QA_FAIL(QA_ERR_INVALID_ARG, "stress engine: needs levels, a block size and a chunk size");
    for (size_t l = 0; l < o->nlevels; l++)
        if (!(o->levels[l] > 0 && o->levels[l] < 1))
            return QA_FAIL(QA_ERR_INVALID_ARG, "stress engine: level %g not in (0, 1)", o->levels[l]);
    return QA_OK;
}

/* Bytes rank 0 holds at the peak of a run, from the sizes setup() and the phases derive:
 * the tail (items plus a scratch of twice its size, 16-byte entries) and the gathered tails
 * it merges, the incremental tails, the block buffers (backend and host), the loss sample,
 * and the contribution chunks. Doubles, so that absurd counts do not wrap. */
static double run_bytes(const qa_stress_engine_book *bk, const qa_stress_engine_source *src,
                        const qa_stress_engine_opts *o, int ranks) {
    const double item = (double)sizeof(qa_risk_tail_item), d = (double)sizeof(double);
    double total = (double)src->count, n = (double)bk->n, P = (double)bk->p, cap = 1, m_inc = 1;
    for (size_t l = 0; l < o->nlevels; l++) {
        double m = (double)qa_risk_tail_size(o->levels[l], (size_t)src->count);
        double h = o->bandwidth ? (double)o->bandwidth : (double)qa_risk_component_bandwidth((size_t)m);
        double need = m + (o->contributions ? h : 0);
        if (need > cap) cap = need;
        if (m > m_inc) m_inc = m;
    }
    if (cap > total) cap = total;
    double B = (double)o->block < total ? (double)o->block : total;
    double rows = B > (double)o->chunk ? B : (double)o->chunk;
    double width = (double)qa_risk_reval_width(bk->reval, bk->n);
    double lin = bk->nlin ? (double)bk->nlin : 1, opt = bk->nopt ? (double)bk->nopt : 1;
    double bytes = 3 * cap * item + (ranks > 1 ? (double)ranks * cap * item : 0);
    if (o->incremental) bytes += P * m_inc * item * (3 + (ranks > 1 ? ranks : 0));
    bytes += rows * (n + width + 4 + lin + opt) * d + B * (d + item);
    if (src->kind == QA_STRESS_SOURCE_MATRIX) bytes += total * n * d + rows * n * d;
    double sample = (double)o->sample < total ? (double)o->sample : total;
    bytes += sample * (item + d);
    if (o->contributions) {
        double C = (double)o->chunk, nch = ceil(cap / C);
        bytes += cap * d + C * (lin + opt + P) * d + 2 * nch * 2 * (double)o->nlevels * P * d;
    }
    return bytes;
}

/* Refuses a run whose memory (run_bytes) exceeds what the machine has, before anything is
 * allocated: a scenario count is read from a config, and 1e12 scenarios at 95% keep a tail
 * of 5e10 rows. */
static qa_status check_memory(const qa_stress_engine_book *bk, const qa_stress_engine_source *src,
                              const qa_stress_engine_opts *o, int ranks) {
    double need = run_bytes(bk, src, o, ranks);
    uint64_t avail = qa_mem_available();
    if (avail == 0 || need <= (double)avail) return QA_OK;
    char a[32], b[32];
    double tail = 0, level = o->levels[0];
    for (size_t l = 0; l < o->nlevels; l++) {
        double m = (double)qa_risk_tail_size(o->levels[l], (size_t)src->count);
        if (m > tail) tail = m, level = o->levels[l];
    }
    return QA_FAIL(QA_ERR_LIMIT,
                   "stress engine: %llu scenarios (a loss tail of %.3g rows at level %g%s, blocks of %zu, %zu "
                   "positions) need an estimated %s of memory, more than the %s available: use fewer scenarios",
                   (unsigned long long)src->count, tail, level, o->nlevels > 1 ? " and others" : "",
                   o->block, bk->p, need >= 1.8e19 ? "over 16 EiB" : qa_mem_format((uint64_t)need, a, sizeof a),
                   qa_mem_format(avail, b, sizeof b));
}

/* State shared by the phases of one run. */
typedef struct run {
    const qa_stress_engine_book *bk;
    const qa_stress_engine_opts *o;
    qa_risk_ctx_t *ctx;
    const qa_comm_t *comm;
    int rank, size;
    uint64_t total;
    size_t L, P, B, cap, m_inc, nsample;
    size_t *m, *h;           /* per level: tail size, component-VaR half-width */
    qa_risk_tail tail;       /* top cap losses of the book */
    qa_risk_tail *inc;       /* P tails of the book without each position */
    sample_item *smp;
    size_t nsmp;
    double *hp;              /* one block of P&L on the host */
    qa_risk_tail_item *cand; /* candidates of one block (CPU fast path) */
    int cpu;                 /* CPU backend: P&L arrays are host memory */
    eng g;
} run;

static int cand_cmp(const void *a, const void *b) {
    const qa_risk_tail_item *x = a, *y = b;
    if (x->loss != y->loss) return x->loss > y->loss ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Pushes a block of P&L (backend memory, scenarios first .. first + count - 1) into a
 * tail. On the CPU, once the tail is full only losses above its smallest kept loss can
 * enter: a rank's blocks arrive in increasing index order, so a new loss equal to that
 * bound comes after the kept entry in the canonical order and is dropped exactly as
 * qa_risk_tail_push would drop it. The few candidates are sorted and merged here, which
 * costs O(B + k log k + m) per block instead of a full sort of min(m, B) entries. */
static qa_status push(run *u, qa_risk_tail *t, const double *pnl, size_t count, uint64_t first) {
    if (!u->cpu || t->count < t->m) return qa_risk_tail_push(u->ctx, t, pnl, count, first);
    double bound = t->items[t->m - 1].loss;
    size_t k = 0;
    for (size_t s = 0; s < count; s++) {
        double loss = -pnl[s] + 0.0; /* as the kernels: -0.0 becomes +0.0 */
        if (isnan(loss))
            return QA_FAIL(QA_ERR_NUMERIC, "tail selection: the P&L of scenario %llu is NaN", (unsigned long long)(first + s));
        if (loss > bound) u->cand[k++] = (qa_risk_tail_item){loss, first + s};
    }
    if (k == 0) return QA_OK;
    qsort(u->cand, k, sizeof *u->cand, cand_cmp);
    return qa_risk_tail_add(t, u->cand, k < t->m ? k : t->m);
}

static qa_status setup(run *u, const qa_stress_engine_source *src) {
    qa_status st;
    u->m = calloc(u->L, sizeof *u->m);
    u->h = calloc(u->L, sizeof *u->h);
    if (!u->m || !u->h) return QA_FAIL(QA_ERR_NOMEM, "levels");
    /* Tail sizes: m_l for VaR/ES, plus the component-VaR bandwidth h_l. */
    u->cap = 1;
    u->m_inc = 1;
    for (size_t l = 0; l < u->L; l++) {
        u->m[l] = qa_risk_tail_size(u->o->levels[l], u->total);
        u->h[l] = u->o->bandwidth ? u->o->bandwidth : qa_risk_component_bandwidth(u->m[l]);
        size_t need = u->m[l] + (u->o->contributions ? u->h[l] : 0);
        if (need > u->cap) u->cap = need;
        if (u->m[l] > u->m_inc) u->m_inc = u->m[l];
    }
    if (u->cap > u->total) u->cap = (size_t)u->total;
    if ((st = qa_risk_tail_init(&u->tail, u->cap))) return st;
    if (u->o->incremental) {
        u->inc = calloc(u->P, sizeof *u->inc);
        if (!u->inc) return QA_FAIL(QA_ERR_NOMEM, "incremental tails");
        for (size_t j = 0; j < u->P; j++)
            if ((st = qa_risk_tail_init(&u->inc[j], u->m_inc))) return st;
    }
    u->B = u->o->block < u->total ? u->o->block : (size_t)u->total;
    size_t rows = u->B > u->o->chunk ? u->B : u->o->chunk;
    if ((st = eng_init(&u->g, u->ctx, u->bk, src, rows))) return st;
    u->nsample = u->o->sample < u->total ? u->o->sample : (size_t)u->total;
    u->smp = malloc((u->nsample + 1) * sizeof *u->smp);
    u->hp = malloc(u->B * sizeof *u->hp);
    u->cand = malloc(u->B * sizeof *u->cand);
    if (!u->smp || !u->hp || !u->cand) return QA_FAIL(QA_ERR_NOMEM, "P&L block of %zu", u->B);
    u->cpu = qa_backend_kind_of(qa_risk_ctx_backend(u->ctx)) == QA_BACKEND_CPU;
    return QA_OK;
}

/* Phase 1: this rank's blocks k = rank, rank + size, ... into the tails. */
static qa_status scan(run *u) {
    qa_status st = QA_OK;
    const qa_stress_engine_book *bk = u->bk;
    eng *g = &u->g;
    uint64_t nblocks = (u->total + u->B - 1) / u->B;
    for (uint64_t k = (uint64_t)u->rank; k < nblocks; k += (uint64_t)u->size) {
        uint64_t first = k * u->B;
        size_t count = (size_t)(u->total - first < u->B ? u->total - first : u->B);
        const double *x;
        if ((st = scenarios(g, first, NULL, count, &x)) || (st = block_totals(g, x, count)) ||
            (st = push(u, &u->tail, g->pnl.ptr, count, first)))
            return st;
        if (first < u->nsample) {
            size_t c = (size_t)(u->nsample - first < count ? u->nsample - first : count);
            if ((st = qa_buf_download(g->be, u->hp, &g->pnl, 0, c * sizeof(double)))) return st;
            for (size_t s = 0; s < c; s++) u->smp[u->nsmp++] = (sample_item){first + s, -u->hp[s] + 0.0};
        }
        if (u->o->incremental) {
            if ((st = block_positions(g, x, count))) return st;
            for (size_t i = 0; i < bk->nlin; i++)
                if ((st = qa_risk_pnl_without(u->ctx, g->pnl.ptr, g->linpos.ptr, count, bk->nlin, i, g->tmp.ptr)) ||
                    (st = push(u, &u->inc[bk->lin_pos[i]], g->tmp.ptr, count, first)))
                    return st;
            for (size_t q = 0; q < bk->nopt; q++)
                if ((st = qa_risk_pnl_without(u->ctx, g->pnl.ptr, g->optpos.ptr, count, bk->nopt, q, g->tmp.ptr)) ||
                    (st = push(u, &u->inc[bk->opt_pos[q]], g->tmp.ptr, count, first)))
                    return st;
        }
        if (u->o->progress) qa_progress_add(u->o->progress, (uint64_t)count * (uint64_t)u->size);
    }
    return QA_OK;
}

/* ES rows [0, m) and VaR window [lo, hi] of level l within the cap kept rows. */
static void windows(const run *u, size_t l, size_t *lo, size_t *hi) {
    size_t m = u->m[l], h = u->h[l];
    *lo = m - 1 >= h ? m - 1 - h : 0;
    *hi = m - 1 + h < u->cap - 1 ? m - 1 + h : u->cap - 1;
}

/* Phase 3 on one rank: partial sums of its chunks (chunk c = tail rows [cC, cC + C),
 * rank c % size), 2 L P doubles per chunk: for each level the ES-row sum then the
 * VaR-window sum of every position's P&L, rows added in tail order. */
static qa_status chunk_sums(run *u, const uint64_t *idx, double *part) {
    qa_status st = QA_OK;
    const qa_stress_engine_book *bk = u->bk;
    size_t C = u->o->chunk, nch = (u->cap + C - 1) / C, P = u->P, per = 2 * u->L * P;
    double *hlin = malloc(C * (bk->nlin ? bk->nlin : 1) * sizeof *hlin);
    double *hopt = malloc(C * (bk->nopt ? bk->nopt : 1) * sizeof *hopt);
    double *prow = malloc(C * P * sizeof *prow);
    if (!hlin || !hopt || !prow) {
        st = QA_FAIL(QA_ERR_NOMEM, "contribution chunk (%zu x %zu)", C, P);
        goto cleanup;
    }
    for (size_t c = (size_t)u->rank, k = 0; c < nch; c += (size_t)u->size, k++) {
        size_t r0 = c * C, cnt = u->cap - r0 < C ? u->cap - r0 : C;
        const double *x;
        if ((st = scenarios(&u->g, 0, idx + r0, cnt, &x)) || (st = block_positions(&u->g, x, cnt))) goto cleanup;
        if (bk->nlin && (st = qa_buf_download(u->g.be, hlin, &u->g.linpos, 0, cnt * bk->nlin * sizeof(double))))
            goto cleanup;
        if (bk->nopt && (st = qa_buf_download(u->g.be, hopt, &u->g.optpos, 0, cnt * bk->nopt * sizeof(double))))
            goto cleanup;
        for (size_t i = 0; i < cnt; i++) {
            for (size_t a = 0; a < bk->nlin; a++) prow[i * P + bk->lin_pos[a]] = hlin[i * bk->nlin + a];
            for (size_t a = 0; a < bk->nopt; a++) prow[i * P + bk->opt_pos[a]] = hopt[i * bk->nopt + a];
        }
        double *dst = part + k * per;
        for (size_t l = 0; l < u->L; l++) {
            size_t lo, hi;
            windows(u, l, &lo, &hi);
            double *es_s = dst + (2 * l) * P, *var_s = dst + (2 * l + 1) * P;
            for (size_t i = 0; i < cnt; i++) {
                size_t row = r0 + i;
                if (row < u->m[l])
                    for (size_t j = 0; j < P; j++) es_s[j] += prow[i * P + j];
                if (row >= lo && row <= hi)
                    for (size_t j = 0; j < P; j++) var_s[j] += prow[i * P + j];
            }
        }
    }
cleanup:
    free(hlin);
    free(hopt);
    free(prow);
    return st;
}

/* Phase 3: component ES and VaR (rank 0 gets r->comp_*). */
static qa_status contributions(run *u, qa_stress_engine_result *r) {
    qa_status st = QA_OK;
    int root = u->rank == 0;
    size_t C = u->o->chunk, nch = (u->cap + C - 1) / C, P = u->P, L = u->L, per = 2 * L * P;
    size_t mych = nch > (size_t)u->rank ? (nch - (size_t)u->rank + (size_t)u->size - 1) / (size_t)u->size : 0;
    uint64_t *idx = malloc(u->cap * sizeof *idx);
    double *part = calloc((mych ? mych : 1) * per, sizeof *part), *allpart = NULL, *sums = NULL;
    void *gathered = NULL;
    size_t *gcounts = NULL;
    if (!idx || !part) st = QA_FAIL(QA_ERR_NOMEM, "tail indices");
    for (size_t i = 0; root && st == QA_OK && i < u->cap; i++) idx[i] = u->tail.items[i].index;
    st = qa_comm_agree(u->comm, st);
    if (st == QA_OK) st = qa_comm_bcast(u->comm, idx, u->cap * sizeof *idx, 0);
    if (st == QA_OK) st = chunk_sums(u, idx, part);
    st = qa_comm_agree(u->comm, st);
    if (st != QA_OK) goto cleanup;
    const double *chunks = part;
    if (u->size > 1) {
        st = qa_comm_gatherv(u->comm, part, mych * per * sizeof *part, 0, &gathered, &gcounts);
        if (st == QA_OK && root) {
            /* Rank q's k-th chunk is chunk k * size + q. */
            /* Zeroed: the ranks' chunks cover all nch chunks, but a short gather must not
             * leave undefined sums. */
            allpart = calloc((nch ? nch : 1) * per, sizeof *allpart);
            if (!allpart) st = QA_FAIL(QA_ERR_NOMEM, "contribution sums");
            const unsigned char *b = gathered;
            for (int q = 0; q < u->size && st == QA_OK; q++) {
                size_t nq = gcounts[q] / (per * sizeof(double));
                for (size_t k = 0; k < nq; k++)
                    memcpy(allpart + (k * (size_t)u->size + (size_t)q) * per, b + k * per * sizeof(double),
                           per * sizeof(double));
                b += gcounts[q];
            }
            chunks = allpart;
        }
    }
    if (root && st == QA_OK) {
        sums = calloc(per, sizeof *sums);
        r->comp_var = calloc(L * P, sizeof *r->comp_var);
        r->comp_es = calloc(L * P, sizeof *r->comp_es);
        if (!sums || !r->comp_var || !r->comp_es) {
            st = QA_FAIL(QA_ERR_NOMEM, "components");
            goto cleanup;
        }
        for (size_t c = 0; c < nch; c++)
            for (size_t j = 0; j < per; j++) sums[j] += chunks[c * per + j];
        for (size_t l = 0; l < L; l++) {
            size_t lo, hi;
            windows(u, l, &lo, &hi);
            double tot = 0.0;
            for (size_t j = 0; j < P; j++) {
                r->comp_es[l * P + j] = -sums[2 * l * P + j] / (double)u->m[l];
                r->comp_var[l * P + j] = -sums[(2 * l + 1) * P + j] / (double)(hi - lo + 1);
                tot += r->comp_var[l * P + j];
            }
            /* Rescaled so that the components add up to VaR (as qa_risk_component_var). */
            if (tot != 0.0 && isfinite(tot) && isfinite(r->var[l]))
                for (size_t j = 0; j < P; j++) r->comp_var[l * P + j] *= r->var[l] / tot;
        }
    }
cleanup:
    st = qa_comm_agree(u->comm, st);
    QA_FREE_ALL(idx, part, allpart, sums, gathered, gcounts);
    return st;
}

qa_status qa_stress_engine_run(qa_risk_ctx_t *ctx, const qa_comm_t *comm, const qa_stress_engine_book *bk,
                               const qa_stress_engine_source *src, const qa_stress_engine_opts *o,
                               qa_stress_engine_result *out) {
    qa_status st = check_args(bk, src, o);
    if (st == QA_OK) st = qa_comm_agree(comm, check_memory(bk, src, o, size_of(comm))); /* memory differs by node */
    if (st != QA_OK) return st;
    uint64_t t0 = qa_time_ns();
    run u;
    memset(&u, 0, sizeof u);
    u.bk = bk;
    u.o = o;
    u.ctx = ctx;
    u.comm = comm;
    u.rank = rank_of(comm);
    u.size = size_of(comm);
    u.total = src->count;
    u.L = o->nlevels;
    u.P = bk->p;
    int root = u.rank == 0;
    qa_stress_engine_result r;
    memset(&r, 0, sizeof r);
    r.nlevels = u.L;
    r.p = u.P;
    r.scenarios = u.total;
    r.var = calloc(u.L, sizeof *r.var);
    r.es = calloc(u.L, sizeof *r.es);
    r.var_index = calloc(u.L, sizeof *r.var_index);
    st = r.var && r.es && r.var_index ? setup(&u, src) : QA_FAIL(QA_ERR_NOMEM, "results");
    r.tail_rows = u.cap;

    /* 1. Stream. Every phase ends with qa_comm_agree so a failing rank stops all. */
    if (st == QA_OK) st = scan(&u);
    st = qa_comm_agree(comm, st);
    if (st != QA_OK) goto cleanup;
    r.seconds_scan = qa_time_since(t0);
    QA_TRY(qa_comm_allreduce_max_f64(comm, &r.seconds_scan, 1));

    /* 2. Exact global tail on rank 0; VaR/ES for every level. */
    st = merge_tail(comm, &u.tail);
    if (st == QA_OK && root && u.tail.count < u.cap)
        st = QA_FAIL(QA_ERR_INTEGRITY, "stress engine: merged tail holds %zu of %zu scenarios", u.tail.count, u.cap);
    for (size_t l = 0; root && st == QA_OK && l < u.L; l++) {
        st = qa_risk_var_es_tail(u.tail.items, u.tail.count, u.m[l], &r.var[l], &r.es[l]);
        r.var_index[l] = u.tail.items[u.m[l] - 1].index;
    }
    st = qa_comm_agree(comm, st);
    if (st != QA_OK) goto cleanup;
    QA_TRY(qa_comm_bcast(comm, r.var, u.L * sizeof *r.var, 0));
    QA_TRY(qa_comm_bcast(comm, r.es, u.L * sizeof *r.es, 0));
    QA_TRY(qa_comm_bcast(comm, r.var_index, u.L * sizeof *r.var_index, 0));
    if (u.nsample) {
        if (root && !(r.sample = malloc(u.nsample * sizeof *r.sample))) st = QA_FAIL(QA_ERR_NOMEM, "loss sample");
        st = qa_comm_agree(comm, st);
        if (st == QA_OK) st = gather_sample(comm, u.smp, u.nsmp, r.sample, u.nsample);
        st = qa_comm_agree(comm, st);
        if (st != QA_OK) goto cleanup;
        r.nsample = root ? u.nsample : 0;
    }

    /* 3. Contributions from the regenerated tail scenarios. */
    uint64_t t1 = qa_time_ns();
    if (o->contributions) QA_TRY(contributions(&u, &r));

    /* 4. Incremental VaR/ES: merged tails of the book without each position. */
    if (o->incremental) {
        st = merge_tails(comm, u.inc, u.P);
        if (root && st == QA_OK) {
            r.incr_var = calloc(u.L * u.P, sizeof *r.incr_var);
            r.incr_es = calloc(u.L * u.P, sizeof *r.incr_es);
            if (!r.incr_var || !r.incr_es) st = QA_FAIL(QA_ERR_NOMEM, "incremental VaR");
            for (size_t j = 0; j < u.P && st == QA_OK; j++)
                for (size_t l = 0; l < u.L && st == QA_OK; l++) {
                    double v, e;
                    st = qa_risk_var_es_tail(u.inc[j].items, u.inc[j].count, u.m[l], &v, &e);
                    r.incr_var[l * u.P + j] = r.var[l] - v;
                    r.incr_es[l * u.P + j] = r.es[l] - e;
                }
        }
        st = qa_comm_agree(comm, st);
        if (st != QA_OK) goto cleanup;
    }
    r.seconds_contrib = qa_time_since(t1);
    r.seconds = qa_time_since(t0);
    *out = r;
    memset(&r, 0, sizeof r);
cleanup:
    if (u.inc)
        for (size_t j = 0; j < u.P; j++) qa_risk_tail_free(&u.inc[j]);
    free(u.inc);
    qa_risk_tail_free(&u.tail);
    eng_free(&u.g);
    QA_FREE_ALL(u.m, u.h, u.smp, u.hp, u.cand);
    qa_stress_engine_result_free(&r);
    return st;
}
