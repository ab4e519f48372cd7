/* Incremental runner of the vectorized strategies: observation history, EMA/RSI
 * recurrences, and one decision per observation with the vectorized engine's rules. */
#include "trading/strategy.h"

#include <math.h>    /* isnan, NAN */
#include <stdlib.h>  /* realloc, free */
#include <string.h>  /* memset */

#include "trading/costs.h"  /* impact inputs */
#include "trading/sizing.h" /* position size */

static qa_status grow(qa_strategy *st, long cap);

qa_status qa_strategy_init(qa_strategy *st, qa_bt_strategy strategy, const qa_bt_params *params,
                           const qa_rules *rules, size_t capacity) {
    memset(st, 0, sizeof *st);
    if ((int)strategy < 0 || strategy >= QA_BT_STRATEGY_COUNT)
        return QA_FAIL(QA_ERR_CONFIG, "unknown strategy %d", (int)strategy);
    st->rules = *rules;
    qa_bt_rules bt;
    qa_rules_to_bt(rules, &bt);
    qa_bt_consts_make(&bt, strategy, &st->k);
    memcpy(st->p, params->p, sizeof st->p);
    qa_bt_param_windows((int)strategy, st->p, &st->w0, &st->w1);
    if ((strategy != QA_BT_SIGNAL && st->w0 < 1) || st->w1 < 0)
        return QA_FAIL(QA_ERR_INVALID_ARG, "%s: windows %ld/%ld out of range", qa_bt_strategy_name(strategy), st->w0,
                       st->w1);
    st->a0 = 2.0 / ((double)st->w0 + 1.0);
    st->a1 = 2.0 / ((double)st->w1 + 1.0);
    st->need_hl = strategy == QA_BT_DONCHIAN;
    st->need_vol = st->k.impact;
    st->need_sig = strategy == QA_BT_SIGNAL;
    st->i0 = -1;
    st->e0 = st->e1 = st->ag = st->al = st->rsi = NAN;
    st->sp = 0;
    qa_bt_pos_init(&st->ps);
    st->cap = 0;
    if (capacity > 0) {
        qa_status gs = grow(st, (long)capacity);
        if (gs != QA_OK) return gs;
    }
    return QA_OK;
}

void qa_strategy_free(qa_strategy *st) {
    if (!st) return;
    free(st->c);
    memset(st, 0, sizeof *st);
}

/* Number of history arrays a run keeps: close and returns always, high/low, volume and
 * signal only when the run reads them (the others stay NULL). */
static int narrays(const qa_strategy *st) { return 2 + 2 * st->need_hl + st->need_vol + st->need_sig; }

/* Grows the history to `cap` bars (one block holding the arrays the run uses). */
static qa_status grow(qa_strategy *st, long cap) {
    int na = narrays(st);
    double *b = malloc((size_t)cap * (size_t)na * sizeof *b);
    if (!b) return QA_FAIL(QA_ERR_NOMEM, "strategy history of %ld bars", cap);
    double **arr[6] = {&st->c, &st->r, &st->h, &st->l, &st->v, &st->g};
    const int use[6] = {1, 1, st->need_hl, st->need_hl, st->need_vol, st->need_sig};
    double *old = st->c, *next = b;
    for (int j = 0; j < 6; j++) {
        if (!use[j]) {
            *arr[j] = NULL;
            continue;
        }
        if (st->n) memcpy(next, *arr[j], (size_t)st->n * sizeof *b);
        *arr[j] = next;
        next += cap;
    }
    free(old); /* the old block starts with the old close array */
    st->cap = cap;
    return QA_OK;
}

int qa_strategy_observes(const qa_strategy *st, const qa_strategy_bar *b) {
    if (isnan(b->close)) return 0;
    if (st->need_hl && (isnan(b->high) || isnan(b->low))) return 0;
    if (st->need_vol && !(b->volume > 0.0)) return 0; /* NaN or zero volume */
    if (st->need_sig && isnan(b->signal)) return 0;
    return 1;
}

qa_status qa_strategy_push(qa_strategy *st, const qa_strategy_bar *b, int in_range, int alive, qa_strategy_step *out) {
    memset(out, 0, sizeof *out);
    out->sigma = out->adv = NAN;
    if (!qa_strategy_observes(st, b)) return QA_OK;
    if (st->n == st->cap) {
        qa_status s = grow(st, st->cap ? 2 * st->cap : 256);
        if (s != QA_OK) return s;
    }
    long i = st->n++;
    st->c[i] = b->close;
    st->r[i] = i > 0 ? b->close / st->c[i - 1] - 1.0 : NAN;
    if (st->need_hl) {
        st->h[i] = b->high;
        st->l[i] = b->low;
    }
    if (st->need_vol) st->v[i] = b->volume;
    if (st->need_sig) st->g[i] = b->signal;
    const qa_bt_consts *k = &st->k;
    if (k->strategy == QA_BT_EMA_CROSS) {
        st->e0 = qa_bt_ema_update(st->c, i, st->w0, st->a0, 1.0 - st->a0, st->e0);
        st->e1 = qa_bt_ema_update(st->c, i, st->w1, st->a1, 1.0 - st->a1, st->e1);
    } else if (k->strategy == QA_BT_RSI) {
        st->rsi = qa_bt_rsi_update(st->c, i, st->w0, &st->ag, &st->al);
    }
    out->observed = 1;
    out->index = i;
    out->close = b->close;
    out->r = st->r[i];
    if (st->i0 < 0) {
        if (in_range) {
            st->i0 = i;
            out->base = 1;
        }
        return QA_OK; /* warm-up or the base bar: flat, no decision */
    }
    double v[5];
    qa_bt_values_at(k->strategy, st->w0, st->w1, st->c, st->h, st->l, st->g, i, st->e0, st->e1, st->rsi, v);
    st->sp = qa_bt_decide(k->strategy, st->p, v, st->sp);
    int m = qa_bt_filter(k->direction, st->sp);
    double size;
    int ok = qa_sizing_size(&st->rules, st->r, i, &size);
    if (k->impact && !qa_cost_impact_inputs(&st->rules.costs, st->r, st->v, i, &out->sigma, &out->adv)) ok = 0;
    if (!ok) m = 0; /* a sizing or impact window is not yet full: no signal */
    int qp = st->ps.q;
    out->pos_prev = st->ps.pos;
    double delta;
    /* qa_bt_step's own P&L is not used: the simulator books P&L from fills and marks */
    (void)qa_bt_step(&st->ps, m, b->close, st->r[i], size, 0.0, k, alive ? 1.0 : 0.0, &delta, &out->held, &out->entry);
    out->decision = 1;
    out->q = st->ps.q;
    out->pos = st->ps.pos;
    out->delta = delta;
    out->stopped = alive && qp != 0 && st->ps.latch == qp && st->ps.q == 0;
    return QA_OK;
}
