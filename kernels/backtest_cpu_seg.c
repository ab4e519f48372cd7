/* Segment engine of the optimised CPU backtest (prefix qa_bt_seg_).
 *
 * With fixed sizing, proportional costs only and no stops (the common sweep: a
 * moving-average grid with commission and spread) a lane's position is constant between
 * the bars where its signal changes, about once every 80-100 bars on the benchmark grids.
 * Between two such bars every per-bar term is a function of the symbol's returns alone,
 * shared by all lanes:
 *   - the P&L is +-x(j), x = fraction * r(j), so its sum, sum of squares, downside and
 *     wins over a held segment are differences of the run's prefix sums
 *     (qa_bt_seg_prefix, booked per change by qa_bt_seg_book);
 *   - the equity is the lane's equity at its last change times the chunk's running
 *     product of the factors 1 + x (long) or 1 - x (short) (qa_bt_seg_factors).
 * What stays per bar is the drawdown path (peak, lowest equity/peak, underwater runs),
 * which needs every bar's equity: qa_bt_seg_path does it for 8 lanes in ~11 vector
 * operations per bar where phase B (backtest_cpu.c) spends ~35 per 4 lanes on the whole
 * P&L. A change bar is booked with the reference's own formulas.
 *
 * Decisions, positions, trades, bars, exposure, hit rate and turnover come out exactly
 * as in the per-bar engine; the sums and the equity are the same terms added and
 * multiplied in another order, so the other metrics agree within a stated budget
 * (docs/backtest.md, "Engines and tolerances").
 *
 * The path loop has an AVX-512 body (8 lanes in one vector), an AVX2 body (two vectors of
 * 4) and a portable body with the same operations in the same order lane by lane: they
 * give the same bits (tests/kernels/test_backtest.c checks it). Intrinsics, not GCC's
 * generic vectors: max and min are one instruction each there, and the generic vectors
 * spell them as a compare and a blend. */
#include "kernels/backtest_seg.h"

#include <math.h>   /* fabs */
#include <string.h> /* memset */

#include "common/cpu.h" /* qa_simd_level */

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h> /* AVX-512F and AVX2 intrinsics */
#define SEG_X86 1
#define SEG_TARGET __attribute__((target("avx512f,avx512vl,avx512dq")))
#define SEG_TARGET2 __attribute__((target("avx2")))
#define SEG_INLINE static inline __attribute__((always_inline))
#endif

#define NL QA_BT_SEG_LANES

/* TwoSum: adds x to the double-double (s, c). */
static inline void dd_add(double *s, double *c, double x) {
    double t = *s + x, bp = t - *s;
    *c += (*s - (t - bp)) + (x - bp);
    *s = t;
}

int qa_bt_seg_prefix(const double *r, long m, double fraction, qa_bt_seg_pfx *pf) {
    double s1 = 0.0, c1 = 0.0, s2 = 0.0, c2 = 0.0, sneg = 0.0, cneg = 0.0;
    int32_t npos = 0, nneg = 0;
    int ok = 1;
    pf[0] = (qa_bt_seg_pfx){0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0};
    /* Branch-free: the sign of x is a coin toss that a branch would mispredict every
     * other bar. */
    for (long j = 0; j < m; j++) {
        const double x = fraction * r[j], x2 = x * x;
        ok &= (1.0 + x > 0.0) & (1.0 - x > 0.0) & (x2 < INFINITY);
        dd_add(&s1, &c1, x);
        dd_add(&s2, &c2, x2);
        dd_add(&sneg, &cneg, x < 0.0 ? x2 : 0.0);
        npos += x > 0.0;
        nneg += x < 0.0;
        pf[j + 1] = (qa_bt_seg_pfx){s1, c1, s2, c2, sneg, cneg, npos, nneg};
    }
    return ok;
}

void qa_bt_seg_state_init(qa_bt_seg_state *st) {
    for (int l = 0; l < NL; l++) {
        st->q[l] = 0.0;
        st->E[l] = st->peak[l] = st->rn[l] = st->rd[l] = 1.0;
        st->uw[l] = st->maxuw[l] = 0.0;
    }
}

void qa_bt_seg_acc_init(qa_bt_seg_acc *a) {
    memset(a, 0, sizeof *a);
    a->e = -1;
}

void qa_bt_seg_factors(const double *r, long cm, double fraction, double *wp, double *wm) {
    double p = 1.0, q = 1.0;
    for (long jj = 0; jj < cm; jj++) {
        const double x = fraction * r[jj];
        p = p * (1.0 + x);
        q = q * (1.0 + -x);
        wp[jj] = p;
        wm[jj] = q;
    }
}

/* ---- the path loop -------------------------------------------------------------------------

 * Per bar, for each lane: equity E = scale * (wp, wm or 1 by direction); at a change bar
 * the changed lanes' E from the reference's P&L, and a new scale; then the peak (max),
 * the underwater run (E < peak: +1, else 0) and its longest value.
 *
 * The lowest equity/peak is kept as a fraction rn/rd and compared by cross-
 * multiplication, so no bar needs a division (the divider would bound the loop). Bars go
 * in pairs: with peak p1 after the first bar, min(E1/p1, E2/p2) = min(E1, E2)/p1 (if E2
 * is a new peak, E2/p2 = 1 and E1 <= p1 < E2; else p2 = p1), so one comparison per pair
 * carries the loop's longest dependency (two multiplies, a compare, a select) every
 * other bar. The fraction picked is the reference's quotient at the same bar unless two
 * candidates are within an ulp of each other. */

/* Portable body: the same operations as the AVX-512 body, lane by lane. */
typedef struct path_lanes {
    double q[NL], E[NL], pk[NL], rn[NL], rd[NL], uw[NL], mu[NL], sc[NL];
} path_lanes;

static inline void portable_bar(path_lanes *L, long jj, const double *code0, const double *code1, double *p0,
                                double *p1, const double *sig, long stride, const double *wp, const double *wm,
                                const double *r, long j0, double f, double cp, qa_bt_seg_event *ev, long *nev) {
    double En[NL];
    for (int l = 0; l < NL; l++) {
        const double W = L->q[l] > 0.0 ? wp[jj] : L->q[l] < 0.0 ? wm[jj] : 1.0;
        En[l] = L->sc[l] * W;
    }
    if (code0[jj] != *p0 || code1[jj] != *p1) {
        qa_bt_seg_event *e = &ev[(*nev)++];
        e->mask = 0;
        for (int l = 0; l < NL; l++) {
            const double s = sig[l * stride + jj], q = L->q[l];
            const double pp = q * f, dlt = fabs(s * f - pp);
            double R = pp * r[jj];
            R = R - cp * dlt;
            e->q[l] = q;
            e->s[l] = s;
            e->R[l] = R;
            if (s != q) {
                e->mask |= 1u << l;
                double Ex = L->E[l] * (1.0 + R);
                Ex = Ex > 0.0 ? Ex : 0.0; /* ruin: 0 from here on (the lane goes to the reference) */
                const double Wn = s > 0.0 ? wp[jj] : s < 0.0 ? wm[jj] : 1.0;
                En[l] = Ex;
                L->sc[l] = Ex / Wn;
                L->q[l] = s;
            }
        }
        e->j = j0 + jj;
        *p0 = code0[jj];
        *p1 = code1[jj];
    }
    for (int l = 0; l < NL; l++) {
        const double E = En[l];
        L->E[l] = E;
        L->pk[l] = E > L->pk[l] ? E : L->pk[l];
        L->uw[l] = E < L->pk[l] ? L->uw[l] + 1.0 : 0.0;
        L->mu[l] = L->uw[l] > L->mu[l] ? L->uw[l] : L->mu[l];
    }
}

static inline void portable_rho(path_lanes *L, const double *m, const double *p1) {
    for (int l = 0; l < NL; l++) {
        if (m[l] * L->rd[l] < L->rn[l] * p1[l]) {
            L->rn[l] = m[l];
            L->rd[l] = p1[l];
        }
    }
}

static long path_portable(qa_bt_seg_state *st, const double *code0, const double *code1, const double *sig,
                          long stride, const double *wp, const double *wm, const double *r, long cm, long j0,
                          double f, double cp, qa_bt_seg_event *ev) {
    path_lanes L;
    for (int l = 0; l < NL; l++) {
        L.q[l] = st->q[l];
        L.E[l] = L.sc[l] = st->E[l];
        L.pk[l] = st->peak[l];
        L.rn[l] = st->rn[l];
        L.rd[l] = st->rd[l];
        L.uw[l] = st->uw[l];
        L.mu[l] = st->maxuw[l];
    }
    double p0 = qa_bt_seg_code(L.q), p1 = qa_bt_seg_code(L.q + 4);
    long nev = 0, jj = 0;
    for (; jj + 1 < cm; jj += 2) {
        double E1[NL], pk1[NL], m[NL];
        portable_bar(&L, jj, code0, code1, &p0, &p1, sig, stride, wp, wm, r, j0, f, cp, ev, &nev);
        memcpy(E1, L.E, sizeof E1);
        memcpy(pk1, L.pk, sizeof pk1);
        portable_bar(&L, jj + 1, code0, code1, &p0, &p1, sig, stride, wp, wm, r, j0, f, cp, ev, &nev);
        for (int l = 0; l < NL; l++) m[l] = L.E[l] < E1[l] ? L.E[l] : E1[l];
        portable_rho(&L, m, pk1);
    }
    if (jj < cm) {
        portable_bar(&L, jj, code0, code1, &p0, &p1, sig, stride, wp, wm, r, j0, f, cp, ev, &nev);
        portable_rho(&L, L.E, L.pk);
    }
    for (int l = 0; l < NL; l++) {
        st->q[l] = L.q[l];
        st->E[l] = L.E[l];
        st->peak[l] = L.pk[l];
        st->rn[l] = L.rn[l];
        st->rd[l] = L.rd[l];
        st->uw[l] = L.uw[l];
        st->maxuw[l] = L.mu[l];
    }
    return nev;
}

#ifdef SEG_X86
/* The AVX-512 body: all 8 lanes in one vector, directions as masks. */
typedef struct path_v {
    __m512d q, E, pk, rn, rd, uw, mu, sc;
    __mmask8 up, dn;
} path_v;

SEG_TARGET SEG_INLINE __m512d v_select_w(__mmask8 up, __mmask8 dn, __m512d wp, __m512d wm) {
    return _mm512_mask_mov_pd(_mm512_mask_mov_pd(_mm512_set1_pd(1.0), dn, wm), up, wp);
}

SEG_TARGET SEG_INLINE void v_bar(path_v *V, long jj, const double *code0, const double *code1, double *p0,
                                    double *p1, const double *sig, long stride, const double *wp, const double *wm,
                                    const double *r, long j0, __m512d f, __m512d cp, qa_bt_seg_event *ev,
                                    long *nev) {
    const __m512d one = _mm512_set1_pd(1.0), zero = _mm512_setzero_pd();
    const __m512d wpv = _mm512_set1_pd(wp[jj]), wmv = _mm512_set1_pd(wm[jj]);
    __m512d En = _mm512_mul_pd(V->sc, v_select_w(V->up, V->dn, wpv, wmv));
    if (code0[jj] != *p0 || code1[jj] != *p1) {
        const __m512d s = _mm512_set_pd(sig[7 * stride + jj], sig[6 * stride + jj], sig[5 * stride + jj],
                                        sig[4 * stride + jj], sig[3 * stride + jj], sig[2 * stride + jj],
                                        sig[stride + jj], sig[jj]);
        const __mmask8 ch = _mm512_cmp_pd_mask(s, V->q, _CMP_NEQ_UQ);
        const __m512d pp = _mm512_mul_pd(V->q, f);
        const __m512d dlt = _mm512_abs_pd(_mm512_sub_pd(_mm512_mul_pd(s, f), pp));
        __m512d R = _mm512_mul_pd(pp, _mm512_set1_pd(r[jj]));
        R = _mm512_sub_pd(R, _mm512_mul_pd(cp, dlt));
        __m512d Ex = _mm512_mul_pd(V->E, _mm512_add_pd(one, R));
        Ex = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(Ex, zero, _CMP_GT_OQ), Ex);
        qa_bt_seg_event *e = &ev[(*nev)++];
        _mm512_store_pd(e->q, V->q);
        _mm512_store_pd(e->s, s);
        _mm512_store_pd(e->R, R);
        e->j = j0 + jj;
        e->mask = ch;
        V->up = _mm512_cmp_pd_mask(s, zero, _CMP_GT_OQ);
        V->dn = _mm512_cmp_pd_mask(s, zero, _CMP_LT_OQ);
        En = _mm512_mask_mov_pd(En, ch, Ex);
        V->sc = _mm512_mask_mov_pd(V->sc, ch, _mm512_div_pd(Ex, v_select_w(V->up, V->dn, wpv, wmv)));
        V->q = s;
        *p0 = code0[jj];
        *p1 = code1[jj];
    }
    V->E = En;
    V->pk = _mm512_max_pd(En, V->pk);                                                       /* E > pk ? E : pk */
    V->uw = _mm512_maskz_add_pd(_mm512_cmp_pd_mask(En, V->pk, _CMP_LT_OQ), V->uw, one); /* E < pk ? uw + 1 : 0 */
    V->mu = _mm512_max_pd(V->uw, V->mu);
}

SEG_TARGET SEG_INLINE void v_rho(path_v *V, __m512d m, __m512d p1) {
    const __mmask8 lower = _mm512_cmp_pd_mask(_mm512_mul_pd(m, V->rd), _mm512_mul_pd(V->rn, p1), _CMP_LT_OQ);
    V->rn = _mm512_mask_mov_pd(V->rn, lower, m);
    V->rd = _mm512_mask_mov_pd(V->rd, lower, p1);
}

SEG_TARGET static long path_avx512(qa_bt_seg_state *st, const double *code0, const double *code1, const double *sig,
                                   long stride, const double *wp, const double *wm, const double *r, long cm, long j0,
                                   double fraction, double cprop, qa_bt_seg_event *ev) {
    path_v V;
    V.q = _mm512_load_pd(st->q);
    V.E = V.sc = _mm512_load_pd(st->E);
    V.pk = _mm512_load_pd(st->peak);
    V.rn = _mm512_load_pd(st->rn);
    V.rd = _mm512_load_pd(st->rd);
    V.uw = _mm512_load_pd(st->uw);
    V.mu = _mm512_load_pd(st->maxuw);
    V.up = _mm512_cmp_pd_mask(V.q, _mm512_setzero_pd(), _CMP_GT_OQ);
    V.dn = _mm512_cmp_pd_mask(V.q, _mm512_setzero_pd(), _CMP_LT_OQ);
    const __m512d f = _mm512_set1_pd(fraction), cp = _mm512_set1_pd(cprop);
    double p0 = qa_bt_seg_code(st->q), p1 = qa_bt_seg_code(st->q + 4);
    long nev = 0, jj = 0;
    for (; jj + 1 < cm; jj += 2) {
        v_bar(&V, jj, code0, code1, &p0, &p1, sig, stride, wp, wm, r, j0, f, cp, ev, &nev);
        const __m512d E1 = V.E, pk1 = V.pk;
        v_bar(&V, jj + 1, code0, code1, &p0, &p1, sig, stride, wp, wm, r, j0, f, cp, ev, &nev);
        v_rho(&V, _mm512_min_pd(V.E, E1), pk1); /* E2 < E1 ? E2 : E1 */
    }
    if (jj < cm) {
        v_bar(&V, jj, code0, code1, &p0, &p1, sig, stride, wp, wm, r, j0, f, cp, ev, &nev);
        v_rho(&V, V.E, V.pk);
    }
    _mm512_store_pd(st->q, V.q);
    _mm512_store_pd(st->E, V.E);
    _mm512_store_pd(st->peak, V.pk);
    _mm512_store_pd(st->rn, V.rn);
    _mm512_store_pd(st->rd, V.rd);
    _mm512_store_pd(st->uw, V.uw);
    _mm512_store_pd(st->maxuw, V.mu);
    return nev;
}
#endif

#ifdef SEG_X86
/* The AVX2 body: lanes 0-3 and 4-7 in two vectors, directions as all-ones masks. */
typedef struct half {
    __m256d q, E, pk, rn, rd, uw, mu, sc, up, dn;
} half;

SEG_TARGET2 SEG_INLINE __m256d h_select_w(__m256d up, __m256d dn, __m256d wp, __m256d wm) {
    return _mm256_blendv_pd(_mm256_blendv_pd(_mm256_set1_pd(1.0), wm, dn), wp, up);
}

/* Lanes 4k..4k+3 at a change bar: books them like v_bar; returns the changed lanes. */
SEG_TARGET2 SEG_INLINE unsigned h_change(half *H, __m256d s, __m256d wpv, __m256d wmv, __m256d rv, __m256d f,
                                         __m256d cp, __m256d *En, double *eq, double *es, double *eR) {
    const __m256d one = _mm256_set1_pd(1.0), zero = _mm256_setzero_pd();
    const __m256d ch = _mm256_cmp_pd(s, H->q, _CMP_NEQ_UQ);
    const __m256d pp = _mm256_mul_pd(H->q, f);
    const __m256d dlt = _mm256_and_pd(_mm256_sub_pd(_mm256_mul_pd(s, f), pp),
                                      _mm256_castsi256_pd(_mm256_set1_epi64x(INT64_MAX)));
    __m256d R = _mm256_mul_pd(pp, rv);
    R = _mm256_sub_pd(R, _mm256_mul_pd(cp, dlt));
    __m256d Ex = _mm256_mul_pd(H->E, _mm256_add_pd(one, R));
    Ex = _mm256_and_pd(Ex, _mm256_cmp_pd(Ex, zero, _CMP_GT_OQ));
    _mm256_store_pd(eq, H->q);
    _mm256_store_pd(es, s);
    _mm256_store_pd(eR, R);
    H->up = _mm256_cmp_pd(s, zero, _CMP_GT_OQ);
    H->dn = _mm256_cmp_pd(s, zero, _CMP_LT_OQ);
    *En = _mm256_blendv_pd(*En, Ex, ch);
    H->sc = _mm256_blendv_pd(H->sc, _mm256_div_pd(Ex, h_select_w(H->up, H->dn, wpv, wmv)), ch);
    H->q = s;
    return (unsigned)_mm256_movemask_pd(ch);
}

SEG_TARGET2 SEG_INLINE void h_path(half *H, __m256d En) {
    H->E = En;
    H->pk = _mm256_max_pd(En, H->pk);
    H->uw = _mm256_and_pd(_mm256_cmp_pd(En, H->pk, _CMP_LT_OQ), _mm256_add_pd(H->uw, _mm256_set1_pd(1.0)));
    H->mu = _mm256_max_pd(H->uw, H->mu);
}

SEG_TARGET2 SEG_INLINE void h_bar(half *H, long jj, const double *code0, const double *code1, double *p0, double *p1,
                                  const double *sig, long stride, const double *wp, const double *wm, const double *r,
                                  long j0, __m256d f, __m256d cp, qa_bt_seg_event *ev, long *nev) {
    const __m256d wpv = _mm256_set1_pd(wp[jj]), wmv = _mm256_set1_pd(wm[jj]);
    __m256d E0 = _mm256_mul_pd(H[0].sc, h_select_w(H[0].up, H[0].dn, wpv, wmv));
    __m256d E1 = _mm256_mul_pd(H[1].sc, h_select_w(H[1].up, H[1].dn, wpv, wmv));
    if (code0[jj] != *p0 || code1[jj] != *p1) {
        const __m256d rv = _mm256_set1_pd(r[jj]);
        const __m256d s0 = _mm256_set_pd(sig[3 * stride + jj], sig[2 * stride + jj], sig[stride + jj], sig[jj]);
        const __m256d s1 = _mm256_set_pd(sig[7 * stride + jj], sig[6 * stride + jj], sig[5 * stride + jj],
                                         sig[4 * stride + jj]);
        qa_bt_seg_event *e = &ev[(*nev)++];
        unsigned m = h_change(&H[0], s0, wpv, wmv, rv, f, cp, &E0, e->q, e->s, e->R);
        m |= h_change(&H[1], s1, wpv, wmv, rv, f, cp, &E1, e->q + 4, e->s + 4, e->R + 4) << 4;
        e->j = j0 + jj;
        e->mask = m;
        *p0 = code0[jj];
        *p1 = code1[jj];
    }
    h_path(&H[0], E0);
    h_path(&H[1], E1);
}

SEG_TARGET2 SEG_INLINE void h_rho(half *H, __m256d m, __m256d p1) {
    const __m256d lower = _mm256_cmp_pd(_mm256_mul_pd(m, H->rd), _mm256_mul_pd(H->rn, p1), _CMP_LT_OQ);
    H->rn = _mm256_blendv_pd(H->rn, m, lower);
    H->rd = _mm256_blendv_pd(H->rd, p1, lower);
}

SEG_TARGET2 static long path_avx2(qa_bt_seg_state *st, const double *code0, const double *code1, const double *sig,
                                  long stride, const double *wp, const double *wm, const double *r, long cm, long j0,
                                  double fraction, double cprop, qa_bt_seg_event *ev) {
    half H[2];
    const __m256d zero = _mm256_setzero_pd();
    for (size_t k = 0; k < 2; k++) {
        H[k].q = _mm256_load_pd(st->q + 4 * k);
        H[k].E = H[k].sc = _mm256_load_pd(st->E + 4 * k);
        H[k].pk = _mm256_load_pd(st->peak + 4 * k);
        H[k].rn = _mm256_load_pd(st->rn + 4 * k);
        H[k].rd = _mm256_load_pd(st->rd + 4 * k);
        H[k].uw = _mm256_load_pd(st->uw + 4 * k);
        H[k].mu = _mm256_load_pd(st->maxuw + 4 * k);
        H[k].up = _mm256_cmp_pd(H[k].q, zero, _CMP_GT_OQ);
        H[k].dn = _mm256_cmp_pd(H[k].q, zero, _CMP_LT_OQ);
    }
    const __m256d f = _mm256_set1_pd(fraction), cp = _mm256_set1_pd(cprop);
    double p0 = qa_bt_seg_code(st->q), p1 = qa_bt_seg_code(st->q + 4);
    long nev = 0, jj = 0;
    for (; jj + 1 < cm; jj += 2) {
        h_bar(H, jj, code0, code1, &p0, &p1, sig, stride, wp, wm, r, j0, f, cp, ev, &nev);
        const __m256d Ea = H[0].E, Eb = H[1].E, pa = H[0].pk, pb = H[1].pk;
        h_bar(H, jj + 1, code0, code1, &p0, &p1, sig, stride, wp, wm, r, j0, f, cp, ev, &nev);
        h_rho(&H[0], _mm256_min_pd(H[0].E, Ea), pa); /* E2 < E1 ? E2 : E1 */
        h_rho(&H[1], _mm256_min_pd(H[1].E, Eb), pb);
    }
    if (jj < cm) {
        h_bar(H, jj, code0, code1, &p0, &p1, sig, stride, wp, wm, r, j0, f, cp, ev, &nev);
        h_rho(&H[0], H[0].E, H[0].pk);
        h_rho(&H[1], H[1].E, H[1].pk);
    }
    for (size_t k = 0; k < 2; k++) {
        _mm256_store_pd(st->q + 4 * k, H[k].q);
        _mm256_store_pd(st->E + 4 * k, H[k].E);
        _mm256_store_pd(st->peak + 4 * k, H[k].pk);
        _mm256_store_pd(st->rn + 4 * k, H[k].rn);
        _mm256_store_pd(st->rd + 4 * k, H[k].rd);
        _mm256_store_pd(st->uw + 4 * k, H[k].uw);
        _mm256_store_pd(st->maxuw + 4 * k, H[k].mu);
    }
    return nev;
}
#endif

long qa_bt_seg_path(qa_bt_seg_state *st, const double *code0, const double *code1, const double *sig, long stride,
                    const double *wp, const double *wm, const double *r, long cm, long j0, double fraction,
                    double cprop, qa_bt_seg_event *ev) {
#ifdef SEG_X86
    if (qa_simd_level() >= QA_SIMD_AVX512)
        return path_avx512(st, code0, code1, sig, stride, wp, wm, r, cm, j0, fraction, cprop, ev);
    if (qa_simd_level() >= QA_SIMD_AVX2)
        return path_avx2(st, code0, code1, sig, stride, wp, wm, r, cm, j0, fraction, cprop, ev);
#endif
    return path_portable(st, code0, code1, sig, stride, wp, wm, r, cm, j0, fraction, cprop, ev);
}

/* ---- booking -------------------------------------------------------------------------------- */

/* Adds the interior bars [a, b) of a segment held in direction q (+-1, or 0: nothing). */
static inline void seg_close(const qa_bt_seg_pfx *pf, double q, long a, long b, qa_bt_seg_acc *acc) {
    if (b <= a || q == 0.0) return;
    const qa_bt_seg_pfx *A = &pf[a], *B = &pf[b];
    const double s1 = (B->s1 - A->s1) + (B->c1 - A->c1), s2 = (B->s2 - A->s2) + (B->c2 - A->c2);
    const double sneg = (B->sneg - A->sneg) + (B->cneg - A->cneg);
    const int up = q > 0.0;
    acc->sum = acc->sum + q * s1; /* q = +-1: an exact sign */
    acc->sumsq = acc->sumsq + s2;
    acc->down = acc->down + (up ? sneg : s2 - sneg);
    acc->wins += up ? B->npos - A->npos : B->nneg - A->nneg;
    acc->held += b - a;
}

void qa_bt_seg_book(const qa_bt_seg_pfx *pf, const qa_bt_seg_event *ev, long nev, double fraction,
                    qa_bt_seg_acc *acc) {
    for (long i = 0; i < nev; i++) {
        const qa_bt_seg_event *e = &ev[i];
        for (unsigned m = e->mask; m; m &= m - 1) {
            const int l = __builtin_ctz(m);
            const double q = e->q[l], s = e->s[l], R = e->R[l];
            qa_bt_seg_acc *a = &acc[l];
            seg_close(pf, q, a->e + 1, e->j, a);
            /* the change bar, as phase B books it */
            a->sum = a->sum + R;
            a->sumsq = a->sumsq + R * R;
            a->down = a->down + (R < 0.0 ? R * R : 0.0);
            a->turn = a->turn + fabs(s * fraction - q * fraction);
            a->held += q != 0.0;
            a->wins += (q != 0.0) & (R > 0.0);
            a->trades += s != 0.0;
            a->e = e->j;
        }
    }
}

void qa_bt_seg_finish(const qa_bt_seg_pfx *pf, double q, long m, qa_bt_seg_acc *acc) {
    seg_close(pf, q, acc->e + 1, m, acc);
}
