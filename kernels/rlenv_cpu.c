/* The CPU path: environments spread over OpenMP threads in static blocks (each thread
 * owns a contiguous range of the struct-of-arrays state, so no two threads share a cache
 * line except at the block edges). Same per-environment code as the reference. */
#include "kernels/rlenv_impl.h"

#include "common/cpu.h" /* qa_simd_level */

/* ---- the single-asset fast path ------------------------------------------------------------
 * The reference step1 handles every kind with one loop per environment. For single-asset
 * envs the CPU runs the same arithmetic (the same double operations in the same order,
 * so the bits are equal: the parity tests compare them) as straight-line code over a
 * block of environments that GCC vectorises, then a scalar pass over the few envs whose
 * episode ended (final observation, reset) and the observation copies. */
#define BLOCK 512

#if defined(__GNUC__) && !defined(__clang__)
#define QA_RLENV_VEC __attribute__((optimize("O3", "tree-vectorize")))
#else
#define QA_RLENV_VEC
#endif

/* Step arithmetic of envs [i0, i0 + n): rewards, flags, state. Returns 1 when an episode
 * ended. DISC and SIZED are constants in each instance (no branch in the loop, so it
 * vectorises); the short-circuit operators of the reference become bitwise ones on 0/1
 * values (the same truth values, no control flow). */
#define SINGLE_BLOCK(NAME, DISC, SIZED)                                                                    \
    QA_RLENV_VEC static int NAME(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s,        \
                                 const void *action, float *restrict reward, uint8_t *restrict term_out,   \
                                 uint8_t *restrict trunc_out, int i0, int n) {                             \
        const int T = m->ntime, H = c->horizon;                                                             \
        const float lo = c->pos_lo, hi = c->pos_hi;                                                         \
        const double cost = c->cost, ddp = c->dd_penalty, volp = c->vol_penalty, top = c->turnover_penalty; \
        const double scale = c->reward_scale, mine = c->min_equity, mdd = c->max_drawdown;                 \
        const int use_mdd = mdd > 0.0;                                                                      \
        const float *restrict ret = m->ret, *restrict size = m->size;                                       \
        const int32_t *restrict ai = (const int32_t *)action + i0;                                          \
        const float *restrict af = (const float *)action + i0;                                              \
        int32_t *restrict sym = s->sym + i0, *restrict tt = s->t + i0, *restrict steps = s->steps + i0;     \
        int32_t *restrict est = s->entry_step + i0;                                                         \
        float *restrict pos = s->pos + i0;                                                                  \
        double *restrict eq = s->equity + i0, *restrict peak = s->peak + i0, *restrict eeq = s->entry_equity + i0; \
        double *restrict base = s->base + i0;                                                               \
        int ended = 0;                                                                                      \
        (void)ai, (void)af, (void)size;                                                                     \
        for (int i = 0; i < n; i++) {                                                                       \
            float d;                                                                                        \
            if (DISC) {                                                                                     \
                int32_t a = ai[i];                                                                          \
                a = a < 0 ? 0 : (a > 2 ? 2 : a);                                                            \
                d = (float)(a - 1);                                                                         \
            } else {                                                                                        \
                d = af[i];                                                                                  \
                d = d != d ? 0.0f : d;                                                                      \
            }                                                                                               \
            d = d < lo ? lo : (d > hi ? hi : d);                                                            \
            size_t k = (size_t)sym[i] * T + tt[i];                                                          \
            float p = (SIZED) ? d * size[k] : d * 1.0f;                                                     \
            double held = 0.0, pnl = 0.0, turn = 0.0;                                                       \
            float cur = pos[i];                                                                             \
            held += (double)cur * (double)ret[k];                                                           \
            pnl += (double)p * (double)ret[k + 1];                                                          \
            turn += fabs((double)p - (double)cur);                                                          \
            double r = pnl - cost * turn;                                                                   \
            double e = eq[i], pk = peak[i];                                                                 \
            double b = base[i] * (1.0 + held - cost * turn);                                                \
            double e2 = b * (1.0 + pnl);                                                                    \
            double pk2 = e2 > pk ? e2 : pk;                                                                 \
            double dd = 1.0 - e / pk, dd2 = 1.0 - e2 / pk2;                                                 \
            double ddu = dd2 > dd ? dd2 - dd : 0.0;                                                         \
            double rew = scale * (r - ddp * ddu - volp * r * r - top * turn);                               \
            int enter = (p != 0.0f) & ((cur == 0.0f) | ((cur > 0.0f) != (p > 0.0f)));                     \
            eeq[i] = enter ? e : eeq[i];                                                                    \
            int st = steps[i];                                                                              \
            est[i] = enter ? st : est[i];                                                                   \
            pos[i] = p;                                                                                     \
            eq[i] = e2;                                                                                     \
            base[i] = b;                                                                                    \
            peak[i] = pk2;                                                                                  \
            tt[i] = tt[i] + 1;                                                                              \
            steps[i] = st + 1;                                                                              \
            int term = (e2 <= mine) | (use_mdd & (dd2 >= mdd));                                             \
            int trunc = (!term) & (st + 1 >= H);                                                            \
            reward[i] = (float)rew;                                                                         \
            term_out[i] = (uint8_t)term;                                                                    \
            trunc_out[i] = (uint8_t)trunc;                                                                  \
            ended |= term | trunc;                                                                          \
        }                                                                                                   \
        return ended;                                                                                       \
    }
SINGLE_BLOCK(single_disc_sized, 1, 1)
SINGLE_BLOCK(single_disc_unit, 1, 0)
SINGLE_BLOCK(single_cont_sized, 0, 1)
SINGLE_BLOCK(single_cont_unit, 0, 0)

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define QA_RLENV_AVX2 1

/* Bit q of the index -> byte q of the word (0 or 1), in memory order. */
static const uint8_t k_flag_bytes[16][4] = {{0, 0, 0, 0}, {1, 0, 0, 0}, {0, 1, 0, 0}, {1, 1, 0, 0}, {0, 0, 1, 0}, {1, 0, 1, 0},
                                            {0, 1, 1, 0}, {1, 1, 1, 0}, {0, 0, 0, 1}, {1, 0, 0, 1}, {0, 1, 0, 1}, {1, 1, 0, 1},
                                            {0, 0, 1, 1}, {1, 0, 1, 1}, {0, 1, 1, 1}, {1, 1, 1, 1}};

/* Four environments per iteration in AVX2, the reference's operations one for one: float
 * targets (clamp as min/max, equal to the reference's selects on non-NaN values), double
 * P&L with the reference's 0.0 + x accumulations (signed zeros included), no FMA, the
 * same association of the reward terms. Returns the envs done (the rest go to the scalar
 * instance). */
__attribute__((target("avx2"))) static int single_avx2(const qa_rlenv_cfg *c, const qa_rlenv_market *m,
                                                       qa_rlenv_state *s, const void *action, float *reward,
                                                       uint8_t *term_out, uint8_t *trunc_out, int i0, int n,
                                                       int *ended) {
    const int T = m->ntime, disc = c->action == QA_RLENV_DISCRETE;
    const __m128 lo = _mm_set1_ps(c->pos_lo), hi = _mm_set1_ps(c->pos_hi), zf = _mm_setzero_ps();
    const __m256d cost = _mm256_set1_pd(c->cost), ddp = _mm256_set1_pd(c->dd_penalty);
    const __m256d volp = _mm256_set1_pd(c->vol_penalty), top = _mm256_set1_pd(c->turnover_penalty);
    const __m256d scale = _mm256_set1_pd(c->reward_scale), mine = _mm256_set1_pd(c->min_equity);
    const __m256d mdd = _mm256_set1_pd(c->max_drawdown), one = _mm256_set1_pd(1.0), zd = _mm256_setzero_pd();
    const __m256d sign = _mm256_set1_pd(-0.0);
    const __m256d use_mdd = c->max_drawdown > 0.0 ? _mm256_castsi256_pd(_mm256_set1_epi64x(-1)) : zd;
    const int need_dd = c->dd_penalty != 0.0 || c->max_drawdown > 0.0;
    const __m128i Tv = _mm_set1_epi32(T), H = _mm_set1_epi32(c->horizon), one_i = _mm_set1_epi32(1);
    int any = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        int j = i0 + i;
        __m128 d;
        if (disc) {
            __m128i a = _mm_loadu_si128((const __m128i *)((const int32_t *)action + j));
            a = _mm_min_epi32(_mm_max_epi32(a, _mm_setzero_si128()), _mm_set1_epi32(2));
            d = _mm_cvtepi32_ps(_mm_sub_epi32(a, one_i));
        } else {
            d = _mm_loadu_ps((const float *)action + j);
            d = _mm_and_ps(d, _mm_cmpord_ps(d, d)); /* NaN -> 0 */
        }
        d = _mm_min_ps(hi, _mm_max_ps(lo, d)); /* = the reference selects, signed zeros included */
        __m128i sym = _mm_loadu_si128((const __m128i *)(s->sym + j));
        __m128i tt = _mm_loadu_si128((const __m128i *)(s->t + j));
        __m128i k = _mm_add_epi32(_mm_mullo_epi32(sym, Tv), tt);
        __m128 p = m->size ? _mm_mul_ps(d, _mm_i32gather_ps(m->size, k, 4)) : _mm_mul_ps(d, _mm_set1_ps(1.0f));
        __m128 rr = _mm_i32gather_ps(m->ret + 1, k, 4), r0 = _mm_i32gather_ps(m->ret, k, 4);
        __m128 cur = _mm_loadu_ps(s->pos + j);
        __m256d pd = _mm256_cvtps_pd(p), cd = _mm256_cvtps_pd(cur);
        __m256d held = _mm256_add_pd(zd, _mm256_mul_pd(cd, _mm256_cvtps_pd(r0)));
        __m256d pnl = _mm256_add_pd(zd, _mm256_mul_pd(pd, _mm256_cvtps_pd(rr)));
        __m256d turn = _mm256_add_pd(zd, _mm256_andnot_pd(sign, _mm256_sub_pd(pd, cd)));
        __m256d ct = _mm256_mul_pd(cost, turn);
        __m256d r = _mm256_sub_pd(pnl, ct);
        __m256d e = _mm256_loadu_pd(s->equity + j), pk = _mm256_loadu_pd(s->peak + j);
        __m256d b = _mm256_mul_pd(_mm256_loadu_pd(s->base + j), _mm256_sub_pd(_mm256_add_pd(one, held), ct));
        __m256d e2 = _mm256_mul_pd(b, _mm256_add_pd(one, pnl));
        __m256d pk2 = _mm256_blendv_pd(pk, e2, _mm256_cmp_pd(e2, pk, _CMP_GT_OQ));
        /* Without a drawdown penalty or limit the drawdowns only enter as 0 * ddu, which
         * is 0 for the finite values equity keeps (peak >= 1): skip the two divisions. */
        __m256d dd2 = zd, ddu = zd;
        if (need_dd) {
            __m256d dd = _mm256_sub_pd(one, _mm256_div_pd(e, pk));
            dd2 = _mm256_sub_pd(one, _mm256_div_pd(e2, pk2));
            ddu = _mm256_and_pd(_mm256_sub_pd(dd2, dd), _mm256_cmp_pd(dd2, dd, _CMP_GT_OQ));
        }
        __m256d rew = _mm256_sub_pd(_mm256_sub_pd(_mm256_sub_pd(r, _mm256_mul_pd(ddp, ddu)),
                                                  _mm256_mul_pd(_mm256_mul_pd(volp, r), r)),
                                    _mm256_mul_pd(top, turn));
        rew = _mm256_mul_pd(scale, rew);
        /* enter = p != 0 && (cur == 0 || (cur > 0) != (p > 0)), as float masks. */
        __m128 enter = _mm_and_ps(_mm_cmpneq_ps(p, zf),
                                  _mm_or_ps(_mm_cmpeq_ps(cur, zf), _mm_xor_ps(_mm_cmpgt_ps(cur, zf), _mm_cmpgt_ps(p, zf))));
        __m256d enter_d = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_castps_si128(enter)));
        _mm256_storeu_pd(s->entry_equity + j, _mm256_blendv_pd(_mm256_loadu_pd(s->entry_equity + j), e, enter_d));
        __m128i st = _mm_loadu_si128((const __m128i *)(s->steps + j));
        __m128i est = _mm_loadu_si128((const __m128i *)(s->entry_step + j));
        _mm_storeu_si128((__m128i *)(s->entry_step + j), _mm_blendv_epi8(est, st, _mm_castps_si128(enter)));
        _mm_storeu_ps(s->pos + j, p);
        _mm256_storeu_pd(s->equity + j, e2);
        _mm256_storeu_pd(s->base + j, b);
        _mm256_storeu_pd(s->peak + j, pk2);
        _mm_storeu_si128((__m128i *)(s->t + j), _mm_add_epi32(tt, one_i));
        __m128i st1 = _mm_add_epi32(st, one_i);
        _mm_storeu_si128((__m128i *)(s->steps + j), st1);
        __m256d term = _mm256_or_pd(_mm256_cmp_pd(e2, mine, _CMP_LE_OQ),
                                    _mm256_and_pd(use_mdd, _mm256_cmp_pd(dd2, mdd, _CMP_GE_OQ)));
        int tb = _mm256_movemask_pd(term);
        /* st + 1 >= H  <=>  !(H > st + 1) */
        int hb = (~_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(H, st1)))) & 15;
        int rb = hb & ~tb;
        _mm_storeu_ps(reward + i, _mm256_cvtpd_ps(rew));
        /* four 0/1 flag bytes from a 4-bit mask, one 32-bit store each */
        memcpy(term_out + i, &k_flag_bytes[tb], 4);
        memcpy(trunc_out + i, &k_flag_bytes[rb], 4);
        any |= tb | rb;
    }
    *ended = any != 0;
    return i;
}
#endif

static int single_block(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s, const void *action,
                        float *reward, uint8_t *term, uint8_t *trunc, int i0, int n) {
    int disc = c->action == QA_RLENV_DISCRETE, done = 0, ended = 0;
#ifdef QA_RLENV_AVX2
    /* int32 gather indices: the market must stay below 2^31 elements (checked). */
    if (qa_simd_level() >= QA_SIMD_AVX2 && (int64_t)m->nsym * m->ntime < INT32_MAX)
        done = single_avx2(c, m, s, action, reward, term, trunc, i0, n, &ended);
#endif
    if (done == n) return ended;
    if (m->size)
        return ended | (disc ? single_disc_sized : single_cont_sized)(c, m, s, action, reward + done, term + done,
                                                                      trunc + done, i0 + done, n - done);
    return ended | (disc ? single_disc_unit : single_cont_unit)(c, m, s, action, reward + done, term + done,
                                                                trunc + done, i0 + done, n - done);
}

#ifdef QA_RLENV_AVX2
/* The single-asset observations of envs [i0, i1) (qa_rlenv_obs1's values, the same bits):
 * each feature window copied 8 floats at a time, then the three state fields. */
__attribute__((target("avx2"))) static void single_obs_avx2(const qa_rlenv_cfg *c, const qa_rlenv_market *m,
                                                           const qa_rlenv_state *s, int i0, int i1, float *obs) {
    const int W = c->window, F = c->nfeat, T = m->ntime;
    const size_t plane = (size_t)m->nsym * T, d = (size_t)qa_rlenv_d(c, m->nsym);
    const float scale = (float)qa_rlenv_time_scale(c);
    for (int i = i0; i < i1; i++) {
        float *o = obs + (size_t)i * d;
        const float *src0 = m->feat + (size_t)s->sym[i] * T + (s->t[i] - W + 1);
        for (int f = 0; f < F; f++) {
            const float *src = src0 + f * plane;
            int j = 0;
            for (; j + 8 <= W; j += 8) _mm256_storeu_ps(o + j, _mm256_loadu_ps(src + j));
            for (; j < W; j++) o[j] = src[j];
            o += W;
        }
        float p = s->pos[i];
        int in = p != 0.0f;
        o[0] = p;
        o[1] = in ? (float)(s->equity[i] / s->entry_equity[i] - 1.0) : 0.0f;
        o[2] = in ? (float)(s->steps[i] - s->entry_step[i]) / scale : 0.0f;
    }
}
#endif

static void single_step_block(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s,
                              const void *action, const qa_rlenv_out *out, int i0, int i1) {
    float rew[BLOCK];
    uint8_t term[BLOCK], trunc[BLOCK];
    uint8_t *tm = out->terminated ? out->terminated + i0 : term, *tr = out->truncated ? out->truncated + i0 : trunc;
    int ended = single_block(c, m, s, action, out->reward ? out->reward + i0 : rew, tm, tr, i0, i1 - i0);
    size_t d = (size_t)qa_rlenv_d(c, m->nsym);
    /* Ended episodes (a few per step): final observation, episode figures, reset. */
    if (ended || out->ep_return || out->ep_length)
        for (int i = i0; i < i1; i++) {
            if (ended && (tm[i - i0] | tr[i - i0])) {
                if (out->final_obs) qa_rlenv_obs1(c, m, s, i, out->final_obs + (size_t)i * d);
                if (out->ep_return) out->ep_return[i] = (float)(s->equity[i] - 1.0);
                if (out->ep_length) out->ep_length[i] = s->steps[i];
                qa_rlenv_begin(c, m, s, i, s->episode[i] + 1u);
            } else {
                if (out->ep_return) out->ep_return[i] = NAN;
                if (out->ep_length) out->ep_length[i] = 0;
            }
        }
    if (!out->obs) return;
#ifdef QA_RLENV_AVX2
    if (qa_simd_level() >= QA_SIMD_AVX2) {
        single_obs_avx2(c, m, s, i0, i1, out->obs);
        return;
    }
#endif
    for (int i = i0; i < i1; i++) qa_rlenv_obs1(c, m, s, i, out->obs + (size_t)i * d);
}

void qa_rlenv_reset_cpu(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s, float *obs,
                        int threads) {
    size_t d = (size_t)qa_rlenv_d(c, m->nsym);
#pragma omp parallel for schedule(static) num_threads(threads) if (c->nenv > BLOCK)
    for (int i = 0; i < c->nenv; i++) {
        qa_rlenv_begin(c, m, s, i, 0u);
        if (obs) qa_rlenv_obs1(c, m, s, i, obs + (size_t)i * d);
    }
}

void qa_rlenv_step_cpu(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s,
                       const void *action, const qa_rlenv_out *out, int threads) {
    if (c->kind == QA_RLENV_SINGLE) {
        int nb = (c->nenv + BLOCK - 1) / BLOCK;
        /* One block (up to 512 envs) is cheaper than waking a thread team. */
#pragma omp parallel for schedule(static) num_threads(threads) if (nb > 1)
        for (int b = 0; b < nb; b++) {
            int i0 = b * BLOCK, i1 = i0 + BLOCK < c->nenv ? i0 + BLOCK : c->nenv;
            single_step_block(c, m, s, action, out, i0, i1);
        }
        return;
    }
#pragma omp parallel num_threads(threads) if (c->nenv > 64)
    {
        float p[QA_RLENV_MAX_ASSETS];
#pragma omp for schedule(static)
        for (int i = 0; i < c->nenv; i++) qa_rlenv_step1(c, m, s, i, action, out, p);
    }
}

void qa_rlenv_observe_cpu(const qa_rlenv_cfg *c, const qa_rlenv_market *m, const qa_rlenv_state *s,
                          float *obs, int threads) {
    size_t d = (size_t)qa_rlenv_d(c, m->nsym);
#pragma omp parallel for schedule(static) num_threads(threads) if (c->nenv > BLOCK)
    for (int i = 0; i < c->nenv; i++) qa_rlenv_obs1(c, m, s, i, obs + (size_t)i * d);
}
