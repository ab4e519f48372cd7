/* Internal to the rlenv op: the per-environment reset, step and observation code that
 * the reference loop, the OpenMP path and the CUDA kernels (one thread per environment)
 * all run, so the backends differ only in how environments are spread over threads; and
 * the backend entry points rlenv.c dispatches to. */
#ifndef QA_KERNELS_RLENV_IMPL_H
#define QA_KERNELS_RLENV_IMPL_H

#include <math.h>   /* fabs, fmax, exp, NAN */
#include <string.h> /* memcpy */

#include "common/philox.h"
#include "kernels/rlenv.h"

#if defined(__CUDACC__)
#define QA_RLENV_HD static __host__ __device__ __forceinline__
#else
#define QA_RLENV_HD static inline
#endif

/* Assets per environment and the observation width (rlenv.h). */
QA_RLENV_HD int qa_rlenv_k(const qa_rlenv_cfg *c, int nsym) {
    return c->kind == QA_RLENV_PORTFOLIO ? nsym : 1;
}

QA_RLENV_HD int qa_rlenv_d(const qa_rlenv_cfg *c, int nsym) {
    int k = qa_rlenv_k(c, nsym);
    return k * c->nfeat * c->window + (c->kind == QA_RLENV_PORTFOLIO ? k + 2 : 3);
}

QA_RLENV_HD int qa_rlenv_time_scale(const qa_rlenv_cfg *c) {
    return c->time_scale > 0 ? c->time_scale : c->horizon;
}

QA_RLENV_HD float qa_rlenv_clampf(float x, float lo, float hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

/* Draws episode `ep`'s start of env i: a uniform slot over all groups' starts, then the
 * group by binary search over the cumulative counts. */
QA_RLENV_HD void qa_rlenv_draw(const qa_rlenv_cfg *c, const qa_rlenv_market *m, int i, uint32_t ep,
                               int32_t *sym, int32_t *t) {
    int64_t total = m->start_cum[m->ngroup];
    double u = qa_rng_uniform(c->seed, (uint64_t)i, (uint64_t)ep);
    int64_t slot = (int64_t)(u * (double)total);
    if (slot >= total) slot = total - 1;
    int lo = 0, hi = m->ngroup - 1; /* the last g with start_cum[g] <= slot */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (m->start_cum[mid] <= slot) lo = mid;
        else hi = mid - 1;
    }
    *sym = c->kind == QA_RLENV_PORTFOLIO ? 0 : lo;
    *t = m->start_lo[lo] + (int32_t)(slot - m->start_cum[lo]);
}

/* Starts episode `ep` of env i. */
QA_RLENV_HD void qa_rlenv_begin(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s,
                                int i, uint32_t ep) {
    int k = qa_rlenv_k(c, m->nsym);
    qa_rlenv_draw(c, m, i, ep, &s->sym[i], &s->t[i]);
    s->episode[i] = ep;
    s->steps[i] = 0;
    s->entry_step[i] = 0;
    for (int j = 0; j < k; j++) s->pos[(size_t)i * k + j] = 0.0f;
    s->equity[i] = 1.0;
    s->peak[i] = 1.0;
    s->entry_equity[i] = 1.0;
    s->base[i] = 1.0;
}

/* Observation of env i's current state into o[0..D). */
QA_RLENV_HD void qa_rlenv_obs1(const qa_rlenv_cfg *c, const qa_rlenv_market *m,
                               const qa_rlenv_state *s, int i, float *o) {
    int k = qa_rlenv_k(c, m->nsym), w = c->window;
    size_t plane = (size_t)m->nsym * m->ntime;
    int t0 = s->t[i] - w + 1;
    int n = 0;
    for (int a = 0; a < k; a++) {
        int sym = c->kind == QA_RLENV_PORTFOLIO ? a : s->sym[i];
        for (int f = 0; f < c->nfeat; f++) {
            const float *src = m->feat + f * plane + (size_t)sym * m->ntime + t0;
            memcpy(o + n, src, (size_t)w * sizeof *src);
            n += w;
        }
    }
    double e = s->equity[i];
    if (c->kind == QA_RLENV_PORTFOLIO) {
        for (int a = 0; a < k; a++) o[n + a] = s->pos[(size_t)i * k + a];
        o[n + k] = (float)(e - 1.0);
        o[n + k + 1] = (float)s->steps[i] / (float)qa_rlenv_time_scale(c);
    } else {
        float p = s->pos[i];
        int in = p != 0.0f;
        o[n] = p;
        o[n + 1] = in ? (float)(e / s->entry_equity[i] - 1.0) : 0.0f;
        o[n + 2] = in ? (float)(s->steps[i] - s->entry_step[i]) / (float)qa_rlenv_time_scale(c) : 0.0f;
    }
}

/* The targets of env i from its action into p[0..K) (single: one position). */
QA_RLENV_HD void qa_rlenv_targets(const qa_rlenv_cfg *c, const qa_rlenv_market *m,
                                  const qa_rlenv_state *s, int i, const void *action, float *p) {
    int k = qa_rlenv_k(c, m->nsym);
    if (c->kind == QA_RLENV_SINGLE) {
        float d;
        if (c->action == QA_RLENV_DISCRETE) {
            int32_t a = ((const int32_t *)action)[i];
            a = a < 0 ? 0 : (a > 2 ? 2 : a);
            d = (float)(a - 1);
        } else {
            d = ((const float *)action)[i];
            if (d != d) d = 0.0f;
        }
        d = qa_rlenv_clampf(d, c->pos_lo, c->pos_hi);
        float sz = m->size ? m->size[(size_t)s->sym[i] * m->ntime + s->t[i]] : 1.0f;
        p[0] = d * sz;
        return;
    }
    const float *a = (const float *)action + (size_t)i * k;
    if (c->weights == QA_RLENV_SOFTMAX) {
        float mx = -INFINITY;
        for (int j = 0; j < k; j++) {
            float v = a[j] != a[j] ? 0.0f : a[j];
            mx = v > mx ? v : mx;
        }
        double z = 0.0;
        for (int j = 0; j < k; j++) {
            float v = a[j] != a[j] ? 0.0f : a[j];
            z += exp((double)(v - mx));
        }
        for (int j = 0; j < k; j++) {
            float v = a[j] != a[j] ? 0.0f : a[j];
            p[j] = (float)(exp((double)(v - mx)) / z);
        }
    } else {
        double g = 0.0;
        for (int j = 0; j < k; j++) {
            float v = a[j] != a[j] ? 0.0f : a[j];
            p[j] = qa_rlenv_clampf(v, -1.0f, 1.0f);
            g += fabs((double)p[j]);
        }
        if (g > c->gross) {
            float sc = (float)(c->gross / g);
            for (int j = 0; j < k; j++) p[j] *= sc;
        }
    }
}

/* One step of env i (see rlenv.h). `p` is scratch for K targets. */
QA_RLENV_HD void qa_rlenv_step1(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s,
                                int i, const void *action, const qa_rlenv_out *out, float *p) {
    int k = qa_rlenv_k(c, m->nsym);
    int t = s->t[i];
    qa_rlenv_targets(c, m, s, i, action, p);
    double held = 0.0, pnl = 0.0, turn = 0.0;
    float *cur = s->pos + (size_t)i * k;
    for (int j = 0; j < k; j++) {
        int sym = c->kind == QA_RLENV_PORTFOLIO ? j : s->sym[i];
        const float *rs = m->ret + (size_t)sym * m->ntime + t;
        held += (double)cur[j] * (double)rs[0];
        pnl += (double)p[j] * (double)rs[1];
        turn += fabs((double)p[j] - (double)cur[j]);
    }
    double r = pnl - c->cost * turn;
    double e = s->equity[i], pk = s->peak[i];
    double b = s->base[i] * (1.0 + held - c->cost * turn);
    double e2 = b * (1.0 + pnl);
    double pk2 = e2 > pk ? e2 : pk;
    double dd = 1.0 - e / pk, dd2 = 1.0 - e2 / pk2;
    double ddu = dd2 > dd ? dd2 - dd : 0.0;
    double rew = c->reward_scale * (r - c->dd_penalty * ddu - c->vol_penalty * r * r - c->turnover_penalty * turn);
    if (c->kind == QA_RLENV_SINGLE) {
        float old = cur[0];
        int enter = p[0] != 0.0f && (old == 0.0f || (old > 0.0f) != (p[0] > 0.0f));
        if (enter) {
            s->entry_equity[i] = e;
            s->entry_step[i] = s->steps[i];
        }
    }
    for (int j = 0; j < k; j++) cur[j] = p[j];
    s->equity[i] = e2;
    s->base[i] = b;
    s->peak[i] = pk2;
    s->t[i] = t + 1;
    int steps = s->steps[i] + 1;
    s->steps[i] = steps;
    int term = e2 <= c->min_equity || (c->max_drawdown > 0.0 && dd2 >= c->max_drawdown);
    int trunc = !term && steps >= c->horizon;
    if (out->reward) out->reward[i] = (float)rew;
    if (out->terminated) out->terminated[i] = (uint8_t)term;
    if (out->truncated) out->truncated[i] = (uint8_t)trunc;
    size_t d = (size_t)qa_rlenv_d(c, m->nsym);
    if (term || trunc) {
        if (out->final_obs) qa_rlenv_obs1(c, m, s, i, out->final_obs + (size_t)i * d);
        if (out->ep_return) out->ep_return[i] = (float)(e2 - 1.0);
        if (out->ep_length) out->ep_length[i] = steps;
        qa_rlenv_begin(c, m, s, i, s->episode[i] + 1u);
    } else {
        if (out->ep_return) out->ep_return[i] = NAN;
        if (out->ep_length) out->ep_length[i] = 0;
    }
    if (out->obs) qa_rlenv_obs1(c, m, s, i, out->obs + (size_t)i * d);
}


/* Backend entry points (rlenv.c checks arguments and dispatches). */
#ifdef __cplusplus
extern "C" {
#endif
void qa_rlenv_reset_cpu(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s, float *obs,
                        int threads);
void qa_rlenv_step_cpu(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s,
                       const void *action, const qa_rlenv_out *out, int threads);
void qa_rlenv_observe_cpu(const qa_rlenv_cfg *c, const qa_rlenv_market *m, const qa_rlenv_state *s,
                          float *obs, int threads);
void qa_rlenv_reset_ref(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s, float *obs);
void qa_rlenv_step_ref(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s,
                       const void *action, const qa_rlenv_out *out);
void qa_rlenv_observe_ref(const qa_rlenv_cfg *c, const qa_rlenv_market *m, const qa_rlenv_state *s,
                          float *obs);
qa_status qa_rlenv_reset_cuda(void *stream, const qa_rlenv_cfg *c, const qa_rlenv_market *m,
                              qa_rlenv_state *s, float *obs);
qa_status qa_rlenv_step_cuda(void *stream, const qa_rlenv_cfg *c, const qa_rlenv_market *m,
                             qa_rlenv_state *s, const void *action, const qa_rlenv_out *out);
qa_status qa_rlenv_observe_cuda(void *stream, const qa_rlenv_cfg *c, const qa_rlenv_market *m,
                                const qa_rlenv_state *s, float *obs);
#ifdef __cplusplus
}
#endif

#endif
