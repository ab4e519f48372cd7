/* Trading environments (kernels/rlenv.h): the CPU kernel against an independent
 * simulation written in this file from the formulas in rlenv.h (double precision, one
 * environment at a time, no code of rlenv_impl.h) for single-asset envs with discrete and
 * continuous long-only actions and portfolio envs with softmax and long/short weights;
 * the reset draw (ranges, distribution over start groups and slots, independence of envs,
 * reproducibility); the reference path against the threaded CPU path bit for bit; the
 * configuration checks; observe(). In gpu mode: CUDA against the CPU backend.
 *
 * Accounting (rlenv.h, the platform's): a step at decision bar t from positions p_prev to
 * targets p has held = sum p_prev r(t), pnl = sum p r(t+1), turn = sum |p - p_prev|;
 * B' = B (1 + held - cost turn), E' = B' (1 + pnl), R = pnl - cost turn (the reward's
 * basis); B = E = 1 at a reset. The oracle keeps B and E and checks both every step.
 *
 * Markets are synthetic: S symbols x T bars with their own volatility, a size panel in
 * [0.25, 1.5] with 4% zeros, features that differ in every (feature, symbol, bar), start
 * groups with different first bars and counts per symbol. Every value that no allowed start
 * may read (outside t0 - W + 1 .. t0 + horizon, rlenv.h's market contract) is NaN, so an
 * off-by-one read turns an output into NaN and fails the comparison: features on
 * t0 - W + 1 .. t0 + horizon (the windows, the last one in the final observation), returns
 * on t0 .. t0 + horizon (held reads r(t) at every decision bar, the first one included,
 * where 0 x NaN is still NaN), sizes on the decision bars t0 .. t0 + horizon - 1.
 *
 * Error budgets, |x - ref| <= atol + rtol |ref| (NaN must meet NaN):
 *  - single asset: the target d x size is a product of two floats, exact in double, so the
 *    oracle's float position (rounded once) equals the kernel's float product bit for bit,
 *    and the oracle's B and E paths are the same double formulas: positions, flags, episode
 *    lengths, symbols, bars and step counters must be identical; B, equity, peak and entry
 *    equity agree to RTOL_EQ = 1e-12 (room for a reassociated sum, a few ulps today 0).
 *    Rewards and episode returns are stored as float: rounding is <= 2^-24 = 6e-8
 *    relative, budget RTOL_F32 = 1e-6 (16x margin) with ATOL_F32 = 1e-12 for values that
 *    are 0 in one and double noise in the other. Observation features are copies of
 *    floats: exact. The three tail fields (position, float of E/E_entry - 1, float of the
 *    time ratio) are within TAIL_TOL = 1e-6 absolute + 1e-6 relative.
 *  - portfolio: the kernel forms softmax weights from float differences a_j - max a
 *    (relative error 2^-24 |a_j - max a|, which moves a weight w by <= w |ln w| 2^-24
 *    <= 2.2e-8) and scales long/short weights by float(gross/g) (two float roundings);
 *    the oracle rounds the double weight once. Weights (<= 1) differ by <= 3e-7; budget
 *    W_TOL = 1e-6 absolute, for positions and the weights in the observation tail (seen:
 *    one ulp, 6e-8). That moves R by <= K W_TOL max|r| = 4 x 1e-6 x 0.4 = 1.6e-6 per step
 *    (returns are clipped to |r| <= 0.4). Step n's held return is step n-1's pnl (the same
 *    float weights over the same bar), so E after step n is the product of
 *    (1 + pnl_j - cost turn_{j+1}) over j < n times (1 + pnl_n): each weight error enters
 *    B and E once, and B, equity, E - 1 in the tail and episode returns get RTOL_EQ_PF =
 *    EQ_ATOL_PF = 1e-4 (horizon 29 x 1.6e-6 = 4.6e-5 if every error had one sign; seen
 *    3e-8). Rewards get ATOL_PF = 1e-5 x reward_scale: the R error times
 *    1 + 2 vol_penalty |R| (<= 2.2) plus the drawdown penalty's share of the
 *    equity error, which adds up like a random walk (sqrt(29) x 1.6e-6 = 8.6e-6 at the
 *    worst per-step size; seen 3e-8 x reward_scale). A formula slip moves a reward by
 *    >= 1e-3 x reward_scale (the smallest term, cost x turnover, is ~1e-3).
 *  - flags decided within TIE of a threshold (E' vs min_equity, dd' vs max_drawdown) may
 *    flip on the rounding above: there the oracle takes the kernel's flags (counted and
 *    printed; TIE_SINGLE = 1e-9 where the paths are identical, TIE_PF = 1e-6, 30x the
 *    equity error seen). Everywhere else flags must agree, and the oracle follows the
 *    kernel's resets so that one disagreement does not cascade.
 *  - gpu: the same code on the device, but nvcc may contract a*b+c into one fma and CUDA's
 *    exp differs from glibc's by an ulp or two: rewards RTOL_F32/ATOL_F32, B and equity
 *    1e-9 relative, tails TAIL_TOL; flags, counters, single-asset and long/short positions
 *    identical; softmax weights within 2 float ulps (a double exp one ulp apart rounds to
 *    a different float with probability ~2^-28). */
#include <math.h>   /* floor, exp, fabs, isnan, NAN */
#include <stdint.h> /* int32_t, int64_t, uint8_t, uint32_t */
#include <stdlib.h> /* malloc, calloc, free */
#include <string.h> /* memcmp, memcpy, memset */

#include "common/mem.h"    /* QA_FREE_ALL */
#include "common/philox.h" /* qa_rng_uniform, qa_rng_normal: data, actions and the oracle's draw */
#include "kernel_test.h"   /* harness, backends, qa_kernel_test_gpu */
#include "kernels/rlenv.h" /* the op under test (public API only) */

#define RTOL_EQ 1e-12
#define RTOL_F32 1e-6
#define ATOL_F32 1e-12
#define TAIL_TOL 1e-6
#define W_TOL 1e-6
#define ATOL_PF 1e-5
#define RTOL_EQ_PF 1e-4
#define EQ_ATOL_PF 1e-4
#define TIE_SINGLE 1e-9
#define TIE_PF 1e-6
#define RET_CLIP 0.4f
#define SENTINEL_BYTE 0x7F /* 0x7F7F7F7F = 3.4e38 as a float, 127 as a flag: no output takes it */
#define MAXK 8             /* assets per env in these tests */
#define GUARD QA_GUARD_BYTES

static uint64_t g_seed;

/* ---- synthetic markets ------------------------------------------------------------------ */

typedef struct market {
    int S, T, nfeat, ngroup;
    float *ret, *feat, *size; /* size NULL: every full position has weight 1 */
    int32_t *lo;
    int64_t *cum;
} market;

static void market_free(market *m) {
    QA_FREE_ALL(m->ret, m->feat, m->size, m->lo, m->cum);
    memset(m, 0, sizeof *m);
}

/* S symbols x T bars; group g (symbol g, or one group for all when ngroup == 1) starts at
 * lo[g] with cnt[g] starts. Symbol s's data are finite only where a start of its group may
 * read them: feat on [lo - W + 1, hi + H], ret on [lo, hi + H] (r(t) of the held
 * positions at decision bars lo .. hi + H - 1, r(t + 1) of the targets), size on
 * [lo, hi + H - 1] (hi = lo + cnt - 1, H the horizon); NaN elsewhere. Returns are
 * vol[s] x N(0, 1) clipped to +-RET_CLIP. */
static market make_market(int S, int T, int nfeat, int W, int H, int ngroup, const int *lo, const int *cnt,
                          const double *vol, uint64_t seed) {
    market m = {S, T, nfeat, ngroup, NULL, NULL, NULL, NULL, NULL};
    size_t n = (size_t)S * T;
    m.ret = malloc(n * sizeof(float));
    m.feat = malloc((size_t)nfeat * n * sizeof(float));
    m.size = malloc(n * sizeof(float));
    m.lo = malloc((size_t)ngroup * sizeof(int32_t));
    m.cum = malloc((size_t)(ngroup + 1) * sizeof(int64_t));
    m.cum[0] = 0;
    for (int g = 0; g < ngroup; g++) {
        m.lo[g] = lo[g];
        m.cum[g + 1] = m.cum[g] + cnt[g];
        QA_CHECK_MSG(lo[g] - W + 1 >= 0 && lo[g] + cnt[g] - 1 + H <= T - 1 && cnt[g] >= 1,
                     "test market: group %d (lo %d, count %d) does not fit %d bars with W %d, H %d", g, lo[g],
                     cnt[g], T, W, H);
    }
    for (int s = 0; s < S; s++) {
        int g = ngroup == 1 ? 0 : s, a = lo[g], b = lo[g] + cnt[g] - 1;
        for (int t = 0; t < T; t++) {
            size_t k = (size_t)s * T + t;
            float r = (float)(vol[s] * qa_rng_normal(seed, 10, k));
            r = r > RET_CLIP ? RET_CLIP : (r < -RET_CLIP ? -RET_CLIP : r);
            m.ret[k] = (t >= a && t <= b + H) ? r : NAN;
            float sz = qa_rng_uniform(seed, 11, k) < 0.04 ? 0.0f : (float)(0.25 + 1.25 * qa_rng_uniform(seed, 12, k));
            m.size[k] = (t >= a && t <= b + H - 1) ? sz : NAN;
            for (int f = 0; f < nfeat; f++) {
                float v = (float)((f + 1) * qa_rng_normal(seed, 13 + (uint64_t)f, k) + 0.01 * s);
                m.feat[(size_t)f * n + k] = (t >= a - W + 1 && t <= b + H) ? v : NAN;
            }
        }
    }
    return m;
}

/* ---- action streams ---------------------------------------------------------------------- */

typedef enum act_kind { ACT_DISCRETE, ACT_CONT, ACT_SCORES, ACT_LS } act_kind;

/* Actions of one step for nenv envs x adim, from (seed, step): mostly held for 4 steps
 * (positions last, so time in trade and entry equity matter; sizes change under a held
 * position), with per-step surprises:
 *   discrete: 0/1/2 and 10% out of range (-1, 3, 7: clamp to 0, 2, 2);
 *   continuous: uniform [-1.5, 1.5] (outside the direction range: clamps), 5% NaN, 10% 0,
 *     5% exactly +1 and -1, 2% -0 (clamped into [0, 1] it stays -0 in the reference's
 *     selects: the threaded path must give the same bits);
 *   scores: 2 N(0, 1), 3% NaN, 2% +-30;
 *   long/short: odd envs 1.5 N(0, 1) (gross mostly above 1.5: scaled), even ones
 *     0.25 N(0, 1) (mostly not), 3% NaN. */
static void make_actions(act_kind ak, uint64_t seed, int step, int nenv, int adim, void *out) {
    for (int i = 0; i < nenv; i++) {
        for (int j = 0; j < adim; j++) {
            uint64_t k = (uint64_t)i * adim + j;
            uint64_t blk = 1000 + (uint64_t)(step / 4), now = 200000 + (uint64_t)step;
            double hold = qa_rng_uniform(seed, blk, k), u = qa_rng_uniform(seed, now, 2 * k),
                   v = qa_rng_uniform(seed, now, 2 * k + 1);
            double base = qa_rng_uniform(seed, now, 0) < 0.15 ? v : hold; /* a surprise step */
            switch (ak) {
            case ACT_DISCRETE: {
                int32_t a = u < 0.04 ? -1 : (u < 0.07 ? 3 : (u < 0.10 ? 7 : (int32_t)floor(base * 3.0)));
                ((int32_t *)out)[k] = a;
                break;
            }
            case ACT_CONT: {
                float a = u < 0.05   ? NAN
                          : u < 0.15 ? 0.0f
                          : u < 0.20 ? 1.0f
                          : u < 0.25 ? -1.0f
                          : u < 0.27 ? -0.0f
                                     : (float)(3.0 * base - 1.5);
                ((float *)out)[k] = a;
                break;
            }
            case ACT_SCORES: {
                double z = qa_rng_normal(seed, blk + 5000, k);
                float a = u < 0.03 ? NAN : (u < 0.04 ? 30.0f : (u < 0.05 ? -30.0f : (float)(2.0 * z)));
                ((float *)out)[k] = a;
                break;
            }
            case ACT_LS: {
                double z = qa_rng_normal(seed, blk + 5000, k);
                float a = u < 0.03 ? NAN : (float)((i % 2 ? 1.5 : 0.25) * z);
                ((float *)out)[k] = a;
                break;
            }
            }
        }
    }
}

/* ---- scenarios ------------------------------------------------------------------------------ */

typedef struct budget {
    double rew_atol, rew_rtol; /* rewards */
    double tail_tol;           /* observation tail fields */
    double eq_atol;            /* portfolio: E - 1 in the tail, episode returns (0: single asset) */
    double pos_atol;           /* positions / weights */
    double eq_rtol;            /* equity, peak, entry equity */
    double tie;                /* flag decisions this close to a threshold may flip */
} budget;

typedef struct scenario {
    const char *name;
    qa_rlenv_cfg cfg;
    market mk;
    act_kind ak;
    int nsteps;
    budget bg;
} scenario;

enum { SC_DISCRETE, SC_LONG_ONLY, SC_SOFTMAX, SC_LONG_SHORT, SC_COUNT };

/* The four environments of the oracle cases, with `nenv` envs, on markets from `seed`. */
static scenario scenario_make(int which, int nenv, uint64_t seed) {
    scenario sc;
    memset(&sc, 0, sizeof sc);
    qa_rlenv_cfg *c = &sc.cfg;
    const uint64_t env_seed = seed ^ 0x5eed; /* the resets' Philox seed */
    const budget single = {ATOL_F32, RTOL_F32, TAIL_TOL, 0.0, 0.0, RTOL_EQ, TIE_SINGLE};
    if (which == SC_DISCRETE) {
        /* horizon 37: many truncations; min_equity 0.9 and max_drawdown 12% (either can
         * come first, depending on the peak) with a 9%-vol symbol and sizes up to 1.5:
         * terminations of both kinds, ~150 and ~80 a run; time features on a scale of 100
         * steps (an evaluation walk keeping a longer training scale), not the horizon */
        static const int lo[4] = {4, 20, 50, 9}, cnt[4] = {150, 60, 200, 40};
        static const double vol[4] = {0.012, 0.03, 0.01, 0.09};
        *c = (qa_rlenv_cfg){.kind = QA_RLENV_SINGLE, .action = QA_RLENV_DISCRETE, .nenv = nenv, .window = 5,
                            .horizon = 37, .time_scale = 100, .nfeat = 2, .pos_lo = -1.0f, .pos_hi = 1.0f, .cost = 5e-4,
                            .dd_penalty = 0.5, .vol_penalty = 2.0, .turnover_penalty = 1e-3, .min_equity = 0.9,
                            .max_drawdown = 0.12, .reward_scale = 3.0, .seed = env_seed};
        sc.name = "single asset, discrete";
        sc.mk = make_market(4, 320, 2, 5, 37, 4, lo, cnt, vol, seed);
        sc.ak = ACT_DISCRETE;
        sc.nsteps = 600;
        sc.bg = single;
    } else if (which == SC_LONG_ONLY) {
        /* window 1, one feature, drawdown termination off (0), bankruptcy at 0.5; time
         * features on the horizon (time_scale 0) */
        static const int lo[3] = {0, 33, 7}, cnt[3] = {90, 170, 1};
        static const double vol[3] = {0.02, 0.15, 0.01};
        *c = (qa_rlenv_cfg){.kind = QA_RLENV_SINGLE, .action = QA_RLENV_CONTINUOUS, .nenv = nenv, .window = 1,
                            .horizon = 50, .nfeat = 1, .pos_lo = 0.0f, .pos_hi = 1.0f, .cost = 1e-3,
                            .dd_penalty = 2.0, .vol_penalty = 5.0, .turnover_penalty = 0.01, .min_equity = 0.5,
                            .max_drawdown = 0.0, .reward_scale = 10.0, .seed = env_seed};
        sc.name = "single asset, continuous long-only";
        sc.mk = make_market(3, 260, 1, 1, 50, 3, lo, cnt, vol, seed + 1);
        sc.ak = ACT_CONT;
        sc.nsteps = 500;
        sc.bg = single;
    } else {
        /* softmax: time features on a scale of 20 steps, below the horizon (ratios above 1
         * late in an episode); long/short: on the horizon (time_scale 0) */
        static const int lo[1] = {10}, cnt[1] = {200};
        static const double vol[4] = {0.01, 0.02, 0.04, 0.08};
        int ls = which == SC_LONG_SHORT;
        *c = (qa_rlenv_cfg){.kind = QA_RLENV_PORTFOLIO, .action = QA_RLENV_CONTINUOUS,
                            .weights = ls ? QA_RLENV_LONG_SHORT : QA_RLENV_SOFTMAX, .nenv = nenv, .window = 3,
                            .horizon = 29, .time_scale = ls ? 0 : 20, .nfeat = 2, .pos_lo = -1.0f, .pos_hi = 1.0f,
                            .cost = 1e-3, .gross = 1.5,
                            .dd_penalty = 0.3, .vol_penalty = 1.0, .turnover_penalty = 2e-3, .min_equity = 0.8,
                            .max_drawdown = 0.1, .reward_scale = 5.0, .seed = env_seed};
        sc.name = ls ? "portfolio, long/short (gross 1.5)" : "portfolio, softmax";
        sc.mk = make_market(4, 260, 2, 3, 29, 1, lo, cnt, vol, seed + 2);
        sc.ak = ls ? ACT_LS : ACT_SCORES;
        sc.nsteps = 400;
        sc.bg = (budget){ATOL_PF * c->reward_scale, RTOL_F32, W_TOL, EQ_ATOL_PF, W_TOL, RTOL_EQ_PF, TIE_PF};
    }
    return sc;
}

/* ---- environments on a backend, with guard bytes and a host snapshot ---------------------- */

enum {
    B_RET, B_FEAT, B_SIZE, B_LO, B_CUM,                                  /* market */
    B_SYM, B_T, B_STEPS, B_ENTRY, B_EP, B_POS, B_EQ, B_PEAK, B_EEQ, B_BASE, /* state */
    B_ACT, B_REW, B_TERM, B_TRUNC, B_OBS, B_FOBS, B_ERET, B_ELEN, B_OBS2, /* action, outputs, observe() */
    B_COUNT
};
#define B_FIRST_STATE B_SYM
#define B_FIRST_OUT B_REW

/* Every array is one qa_buf of bytes + 2 GUARD, the view starting GUARD bytes in; `host`
 * holds a downloaded copy of each whole buffer (guards included). */
typedef struct sim {
    qa_backend_t *be;
    qa_rlenv_cfg cfg;
    int K, D, A;
    size_t bytes[B_COUNT];
    qa_buf buf[B_COUNT];
    unsigned char *host[B_COUNT];
    unsigned char *sentinel; /* the largest output, SENTINEL_BYTE */
    qa_rlenv_market m;
    qa_rlenv_state s;
    qa_rlenv_out o;
} sim;

#define VIEW(sm, k) ((void *)((char *)(sm)->buf[k].ptr + GUARD))
#define HOST(sm, k, type) ((type *)((sm)->host[k] + GUARD))

static void sim_init(sim *sm, qa_backend_t *be, const qa_rlenv_cfg *cfg, const market *mk) {
    memset(sm, 0, sizeof *sm);
    sm->be = be;
    sm->cfg = *cfg;
    sm->K = qa_rlenv_assets(cfg, mk->S);
    sm->D = qa_rlenv_obs_dim(cfg, mk->S);
    sm->A = qa_rlenv_action_dim(cfg, mk->S);
    size_t N = (size_t)cfg->nenv, ST = (size_t)mk->S * mk->T;
    size_t *b = sm->bytes;
    b[B_RET] = ST * 4, b[B_FEAT] = (size_t)mk->nfeat * ST * 4, b[B_SIZE] = ST * 4;
    b[B_LO] = (size_t)mk->ngroup * 4, b[B_CUM] = (size_t)(mk->ngroup + 1) * 8;
    b[B_SYM] = b[B_T] = b[B_STEPS] = b[B_ENTRY] = b[B_EP] = N * 4;
    b[B_POS] = N * sm->K * 4, b[B_EQ] = b[B_PEAK] = b[B_EEQ] = b[B_BASE] = N * 8;
    b[B_ACT] = N * sm->A * 4, b[B_REW] = N * 4, b[B_TERM] = b[B_TRUNC] = N;
    b[B_OBS] = b[B_FOBS] = b[B_OBS2] = N * sm->D * 4, b[B_ERET] = b[B_ELEN] = N * 4;
    size_t most = 0;
    for (int k = 0; k < B_COUNT; k++) most = b[k] + 2 * GUARD > most ? b[k] + 2 * GUARD : most;
    unsigned char *guard = malloc(most);
    sm->sentinel = malloc(most);
    qa_test_guard_fill(guard, most);
    memset(sm->sentinel, SENTINEL_BYTE, most);
    for (int k = 0; k < B_COUNT; k++) {
        QA_CHECK_OK(qa_buf_alloc(be, b[k] + 2 * GUARD, &sm->buf[k]));
        QA_CHECK_OK(qa_buf_upload(be, &sm->buf[k], 0, guard, b[k] + 2 * GUARD));
        sm->host[k] = malloc(b[k] + 2 * GUARD);
    }
    free(guard);
    const void *src[B_CUM + 1] = {mk->ret, mk->feat, mk->size, mk->lo, mk->cum};
    for (int k = 0; k <= B_CUM; k++)
        if (src[k]) QA_CHECK_OK(qa_buf_upload(be, &sm->buf[k], GUARD, src[k], b[k]));
    sm->m = (qa_rlenv_market){mk->S, mk->T, mk->ngroup, VIEW(sm, B_RET), VIEW(sm, B_FEAT),
                              mk->size ? VIEW(sm, B_SIZE) : NULL, VIEW(sm, B_LO), VIEW(sm, B_CUM)};
    sm->s = (qa_rlenv_state){VIEW(sm, B_SYM), VIEW(sm, B_T), VIEW(sm, B_STEPS), VIEW(sm, B_ENTRY), VIEW(sm, B_EP),
                             VIEW(sm, B_POS), VIEW(sm, B_EQ), VIEW(sm, B_PEAK), VIEW(sm, B_EEQ),
                             VIEW(sm, B_BASE)};
    sm->o = (qa_rlenv_out){VIEW(sm, B_REW), VIEW(sm, B_TERM), VIEW(sm, B_TRUNC), VIEW(sm, B_OBS),
                           VIEW(sm, B_FOBS), VIEW(sm, B_ERET), VIEW(sm, B_ELEN)};
}

static void sim_free(sim *sm) {
    for (int k = 0; k < B_COUNT; k++) {
        qa_buf_free(&sm->buf[k]);
        free(sm->host[k]);
    }
    free(sm->sentinel);
    memset(sm, 0, sizeof *sm);
}

/* Every output starts as the sentinel, so a value the kernel did not write shows. */
static void sim_fill_outputs(sim *sm) {
    for (int k = B_FIRST_OUT; k < B_COUNT; k++)
        QA_CHECK_OK(qa_buf_upload(sm->be, &sm->buf[k], GUARD, sm->sentinel, sm->bytes[k]));
}

static qa_status sim_reset(sim *sm) {
    sim_fill_outputs(sm);
    return qa_rlenv_reset(sm->be, &sm->cfg, &sm->m, &sm->s, sm->o.obs);
}

/* One step with host actions; `out` NULL: every output. */
static qa_status sim_step(sim *sm, const void *action, const qa_rlenv_out *out) {
    QA_CHECK_OK(qa_buf_upload(sm->be, &sm->buf[B_ACT], GUARD, action, sm->bytes[B_ACT]));
    sim_fill_outputs(sm);
    return qa_rlenv_step(sm->be, &sm->cfg, &sm->m, &sm->s, VIEW(sm, B_ACT), out ? out : &sm->o);
}

static qa_status sim_observe(sim *sm) {
    return qa_rlenv_observe(sm->be, &sm->cfg, &sm->m, &sm->s, VIEW(sm, B_OBS2));
}

static void sim_snap(sim *sm) {
    for (int k = 0; k < B_COUNT; k++)
        QA_CHECK_OK(qa_buf_download(sm->be, sm->host[k], &sm->buf[k], 0, sm->bytes[k] + 2 * GUARD));
}

/* Guard bytes of the last snapshot intact. */
static void sim_check_guards(const sim *sm, const char *what) {
    for (int k = 0; k < B_COUNT; k++) {
        int ok = qa_test_guard_intact(sm->host[k], GUARD) &&
                 qa_test_guard_intact(sm->host[k] + GUARD + sm->bytes[k], GUARD);
        QA_CHECK_MSG(ok, "%s: guard bytes around array %d overwritten", what, k);
    }
}

/* ---- comparison tallies ------------------------------------------------------------------- */

/* Counts values outside |got - ref| <= atol + rtol |ref| over a whole run and remembers the
 * worst one; max_err is the largest error seen (printed beside the budget). */
typedef struct tally {
    const char *what;
    double atol, rtol;
    long n, bad;
    double max_err, max_ratio, worst, wg, wr;
    int wstep, wenv, widx;
} tally;

static tally tally_make(const char *what, double atol, double rtol) {
    tally t = {what, atol, rtol, 0, 0, 0.0, 0.0, -1.0, 0.0, 0.0, 0, 0, 0};
    return t;
}

static void tally_add(tally *t, double got, double ref, int step, int env, int idx) {
    t->n++;
    int ok;
    double ex = INFINITY;
    if (isnan(got) || isnan(ref)) ok = isnan(got) && isnan(ref);
    else if (isinf(got) || isinf(ref)) ok = got == ref;
    else {
        double e = fabs(got - ref), lim = t->atol + t->rtol * fabs(ref);
        if (e > t->max_err) t->max_err = e;
        ok = e <= lim;
        ex = lim > 0.0 ? e / lim : (e > 0.0 ? INFINITY : 0.0);
        if (ex > t->max_ratio) t->max_ratio = ex;
    }
    if (!ok && (t->bad++ == 0 || ex > t->worst)) {
        t->worst = ex, t->wg = got, t->wr = ref;
        t->wstep = step, t->wenv = env, t->widx = idx;
    }
}

static void tally_check(const tally *t, const char *ctx) {
    QA_CHECK_MSG(t->bad == 0,
                 "%s, %s: %ld of %ld outside |x-ref| <= %g + %g|ref|; worst at step %d env %d [%d]: got %.17g ref "
                 "%.17g (seed %llu)",
                 ctx, t->what, t->bad, t->n, t->atol, t->rtol, t->wstep, t->wenv, t->widx, t->wg, t->wr,
                 (unsigned long long)g_seed);
    if (t->atol > 0.0 || t->rtol > 0.0)
        printf("    %-22s max |err| %.3g, max |err| / budget %.3g over %ld values (budget %g + %g|ref|)\n", t->what,
               t->max_err, t->max_ratio, t->n, t->atol, t->rtol);
}

/* ---- the oracle: one environment at a time, from rlenv.h ------------------------------------ */

typedef struct oenv {
    int sym, t, steps, entry_step;
    uint32_t ep;
    float pos[MAXK]; /* the state stores float positions (rlenv.h) */
    double B;        /* the platform's equity at the decision bar before its trade */
    double E, peak, Eentry;
} oenv;

/* Episode ep's start of env i: u = Philox uniform (seed, stream i, counter ep), slot
 * floor(u x total) (the inverse CDF of the uniform over slots; u may round to 1.0, hence
 * the clamp), the group found by a linear scan of the cumulative counts, and the bar
 * start_lo[g] + (slot - start_cum[g]) (rlenv.h's market contract). */
static void or_draw(const qa_rlenv_cfg *c, const market *m, int i, uint32_t ep, int *sym, int *t) {
    int64_t total = m->cum[m->ngroup];
    double u = qa_rng_uniform(c->seed, (uint64_t)i, (uint64_t)ep);
    int64_t slot = (int64_t)floor(u * (double)total);
    if (slot > total - 1) slot = total - 1;
    int g = 0;
    while (!(m->cum[g] <= slot && slot < m->cum[g + 1])) g++;
    *sym = c->kind == QA_RLENV_PORTFOLIO ? 0 : g;
    *t = m->lo[g] + (int)(slot - m->cum[g]);
}

static void or_begin(const qa_rlenv_cfg *c, const market *m, oenv *e, int i, uint32_t ep) {
    memset(e, 0, sizeof *e);
    or_draw(c, m, i, ep, &e->sym, &e->t);
    e->ep = ep;
    e->B = e->E = e->peak = e->Eentry = 1.0;
}

static int or_assets(const qa_rlenv_cfg *c, const market *m) { return c->kind == QA_RLENV_PORTFOLIO ? m->S : 1; }

/* The steps the time feature counts: the episode's (portfolio) or the time in trade
 * (single asset; 0 when flat). It goes into the observation divided by time_scale, or by
 * the horizon when time_scale is 0 (rlenv.h). */
static int or_time_steps(const qa_rlenv_cfg *c, const oenv *e) {
    if (c->kind == QA_RLENV_PORTFOLIO) return e->steps;
    return e->pos[0] != 0.0f ? e->steps - e->entry_step : 0;
}

static int or_time_scale(const qa_rlenv_cfg *c) { return c->time_scale > 0 ? c->time_scale : c->horizon; }

/* The observation of the env's state into o[0..D): feature windows, then the tail. */
static void or_obs(const qa_rlenv_cfg *c, const market *m, const oenv *e, double *o) {
    int K = or_assets(c, m), W = c->window, n = 0;
    size_t plane = (size_t)m->S * m->T;
    for (int a = 0; a < K; a++) {
        int s = c->kind == QA_RLENV_PORTFOLIO ? a : e->sym;
        for (int f = 0; f < c->nfeat; f++)
            for (int u = e->t - W + 1; u <= e->t; u++) o[n++] = m->feat[(size_t)f * plane + (size_t)s * m->T + u];
    }
    if (c->kind == QA_RLENV_PORTFOLIO) {
        for (int a = 0; a < K; a++) o[n++] = e->pos[a];
        o[n++] = e->E - 1.0;
        o[n++] = (double)or_time_steps(c, e) / or_time_scale(c);
    } else {
        int in = e->pos[0] != 0.0f;
        o[n++] = e->pos[0];
        o[n++] = in ? e->E / e->Eentry - 1.0 : 0.0;
        o[n++] = (double)or_time_steps(c, e) / or_time_scale(c);
    }
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* Counters that show a run exercised what it claims; time_scaled: observations whose time
 * feature on the horizon would have been outside the tail budget of the one on time_scale
 * (so the comparison tells the scales apart). */
typedef struct run_stats {
    long steps, term_equity, term_dd, trunc, ties, nan_actions, clamped, scaled, entries, time_scaled;
} run_stats;

/* The env's targets from its action (a: the env's int32 or its float[K]) into p[0..K). */
static void or_targets(const qa_rlenv_cfg *c, const market *m, const oenv *e, const void *a, float *p,
                       run_stats *rs) {
    int K = or_assets(c, m);
    if (c->kind == QA_RLENV_SINGLE) {
        double d;
        if (c->action == QA_RLENV_DISCRETE) {
            int32_t x = *(const int32_t *)a;
            rs->clamped += x < 0 || x > 2;
            int idx = x < 0 ? 0 : (x > 2 ? 2 : x); /* 0 short, 1 flat, 2 long */
            d = idx - 1;
        } else {
            float x = *(const float *)a;
            rs->nan_actions += isnan(x);
            d = isnan(x) ? 0.0 : x;
        }
        d = clampd(d, c->pos_lo, c->pos_hi);
        double sz = m->size ? m->size[(size_t)e->sym * m->T + e->t] : 1.0;
        p[0] = (float)(d * sz);
        return;
    }
    const float *x = (const float *)a;
    double v[MAXK];
    for (int j = 0; j < K; j++) {
        rs->nan_actions += isnan(x[j]);
        v[j] = isnan(x[j]) ? 0.0 : x[j];
    }
    if (c->weights == QA_RLENV_SOFTMAX) {
        double mx = v[0], z = 0.0;
        for (int j = 1; j < K; j++) mx = v[j] > mx ? v[j] : mx;
        for (int j = 0; j < K; j++) z += exp(v[j] - mx);
        for (int j = 0; j < K; j++) p[j] = (float)(exp(v[j] - mx) / z);
    } else {
        double g = 0.0;
        for (int j = 0; j < K; j++) g += fabs(clampd(v[j], -1.0, 1.0));
        double sc = g > c->gross ? c->gross / g : 1.0;
        rs->scaled += g > c->gross;
        for (int j = 0; j < K; j++) p[j] = (float)(clampd(v[j], -1.0, 1.0) * sc);
    }
}

typedef struct ostep {
    double reward;
    int term, trunc, tie;
} ostep;

/* One step of the env (no reset: the caller resets on the flags). The previous positions
 * earn the bar ending at t (held), the targets the next one (pnl); the trade's cost comes
 * off the equity at t: B' = B (1 + held - cost turn), then the mark E' = B' (1 + pnl). */
static ostep or_step(const qa_rlenv_cfg *c, const market *m, oenv *e, const void *a, double tie, run_stats *rs) {
    int K = or_assets(c, m);
    float p[MAXK];
    or_targets(c, m, e, a, p, rs);
    double held = 0.0, pnl = 0.0, turn = 0.0;
    for (int k = 0; k < K; k++) {
        int s = c->kind == QA_RLENV_PORTFOLIO ? k : e->sym;
        const float *r = m->ret + (size_t)s * m->T;
        held += (double)e->pos[k] * r[e->t];
        pnl += (double)p[k] * r[e->t + 1];
        turn += fabs((double)p[k] - e->pos[k]);
    }
    double R = pnl - c->cost * turn;
    double B2 = e->B * (1.0 + held - c->cost * turn);
    double E2 = B2 * (1.0 + pnl), peak2 = E2 > e->peak ? E2 : e->peak;
    double dd = 1.0 - e->E / e->peak, dd2 = 1.0 - E2 / peak2;
    ostep r;
    r.reward = c->reward_scale * (R - c->dd_penalty * (dd2 > dd ? dd2 - dd : 0.0) - c->vol_penalty * R * R -
                                  c->turnover_penalty * turn);
    if (c->kind == QA_RLENV_SINGLE) {
        /* entered: from flat to a position, or across zero */
        int enter = p[0] != 0.0f && (e->pos[0] == 0.0f || (p[0] > 0.0f) != (e->pos[0] > 0.0f));
        if (enter) e->Eentry = e->E, e->entry_step = e->steps;
        rs->entries += enter;
    }
    memcpy(e->pos, p, sizeof p);
    e->B = B2, e->E = E2, e->peak = peak2;
    e->t++, e->steps++;
    int by_equity = E2 <= c->min_equity, by_dd = c->max_drawdown > 0.0 && dd2 >= c->max_drawdown;
    r.term = by_equity || by_dd;
    r.trunc = !r.term && e->steps == c->horizon;
    r.tie = fabs(E2 - c->min_equity) <= tie || (c->max_drawdown > 0.0 && fabs(dd2 - c->max_drawdown) <= tie);
    rs->term_equity += by_equity, rs->term_dd += by_dd && !by_equity, rs->trunc += r.trunc;
    return r;
}

/* ---- the oracle runs -------------------------------------------------------------------------- */

typedef struct tallies {
    tally rew, flags, feat, tail, ftail, etail, fobs_untouched, eret, elen, ints, pos, eq;
} tallies;

static tallies tallies_make(const budget *bg) {
    tallies t = {tally_make("reward", bg->rew_atol, bg->rew_rtol),
                 tally_make("flags", 0, 0),
                 tally_make("obs and final_obs features", 0, 0),
                 tally_make("obs tail", bg->tail_tol, bg->tail_tol),
                 tally_make("final_obs tail", bg->tail_tol, bg->tail_tol),
                 tally_make("obs E - 1", bg->eq_atol, 0),
                 tally_make("final_obs untouched", 0, 0),
                 tally_make("ep_return", bg->eq_atol > 0.0 ? bg->eq_atol : ATOL_F32, RTOL_F32),
                 tally_make("ep_length", 0, 0),
                 tally_make("sym/t/steps/episode", 0, 0),
                 tally_make("positions", bg->pos_atol, 0),
                 tally_make("B/equity/peak/entry", 0, bg->eq_rtol)};
    return t;
}

static void tallies_check(const tallies *t, const char *ctx) {
    const tally *all[] = {&t->rew,  &t->flags, &t->feat, &t->tail, &t->ftail, &t->etail,
                          &t->fobs_untouched, &t->eret, &t->elen, &t->ints, &t->pos, &t->eq};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) tally_check(all[k], ctx);
}

/* An observation row against the oracle's: features exact, the tail within its budget; a
 * portfolio's E - 1 (at D - 2) in `etail`. */
static void cmp_obs(tally *feat, tally *tail, tally *etail, const float *got, const double *ref, int D, int ntail,
                    int portfolio, int step, int env) {
    for (int j = 0; j < D; j++)
        tally_add(j < D - ntail ? feat : (portfolio && j == D - 2 ? etail : tail), got[j], ref[j], step, env, j);
}

/* The kernel's state of env i against the oracle's. */
static void cmp_state(tallies *tl, const sim *sm, const oenv *e, int i, int step) {
    const qa_rlenv_cfg *c = &sm->cfg;
    int single = c->kind == QA_RLENV_SINGLE, K = sm->K;
    if (single) tally_add(&tl->ints, HOST(sm, B_SYM, int32_t)[i], e->sym, step, i, 0);
    tally_add(&tl->ints, HOST(sm, B_T, int32_t)[i], e->t, step, i, 1);
    tally_add(&tl->ints, HOST(sm, B_STEPS, int32_t)[i], e->steps, step, i, 2);
    tally_add(&tl->ints, HOST(sm, B_EP, uint32_t)[i], e->ep, step, i, 3);
    if (single) tally_add(&tl->ints, HOST(sm, B_ENTRY, int32_t)[i], e->entry_step, step, i, 4);
    for (int k = 0; k < K; k++) tally_add(&tl->pos, HOST(sm, B_POS, float)[(size_t)i * K + k], e->pos[k], step, i, k);
    tally_add(&tl->eq, HOST(sm, B_EQ, double)[i], e->E, step, i, 0);
    tally_add(&tl->eq, HOST(sm, B_PEAK, double)[i], e->peak, step, i, 1);
    if (single) tally_add(&tl->eq, HOST(sm, B_EEQ, double)[i], e->Eentry, step, i, 2);
    tally_add(&tl->eq, HOST(sm, B_BASE, double)[i], e->B, step, i, 3);
}

/* Drives the scenario's envs on the CPU backend (2 threads) with its action stream and
 * compares every output and the state with the oracle after every step. Returns the
 * counters; the caller checks they show what the case is meant to exercise. */
static run_stats run_vs_oracle(const scenario *sc, uint64_t act_seed) {
    const qa_rlenv_cfg *c = &sc->cfg;
    const market *mk = &sc->mk;
    run_stats rs;
    memset(&rs, 0, sizeof rs);
    qa_backend_t *be = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    qa_backend_set_threads(be, 2);
    sim sm;
    sim_init(&sm, be, c, mk);
    const int N = c->nenv, K = sm.K, D = sm.D, A = sm.A, pf = c->kind == QA_RLENV_PORTFOLIO, ntail = pf ? K + 2 : 3;
    QA_CHECK_INT(D, K * c->nfeat * c->window + ntail);
    QA_CHECK_INT(A, c->action == QA_RLENV_DISCRETE ? 1 : K);
    tallies tl = tallies_make(&sc->bg);
    oenv *oe = calloc((size_t)N, sizeof *oe);
    double *ob = malloc((size_t)D * sizeof *ob);
    void *act = malloc((size_t)N * A * 4);

    QA_CHECK_OK(sim_reset(&sm));
    sim_snap(&sm);
    for (int i = 0; i < N; i++) {
        or_begin(c, mk, &oe[i], i, 0);
        cmp_state(&tl, &sm, &oe[i], i, -1);
        or_obs(c, mk, &oe[i], ob);
        cmp_obs(&tl.feat, &tl.tail, &tl.etail, HOST(&sm, B_OBS, float) + (size_t)i * D, ob, D, ntail, pf, -1, i);
    }
    for (int step = 0; step < sc->nsteps; step++) {
        make_actions(sc->ak, act_seed, step, N, A, act);
        QA_CHECK_OK(sim_step(&sm, act, NULL));
        sim_snap(&sm);
        const float *rew = HOST(&sm, B_REW, float), *obs = HOST(&sm, B_OBS, float), *fobs = HOST(&sm, B_FOBS, float);
        const uint8_t *term = HOST(&sm, B_TERM, uint8_t), *trunc = HOST(&sm, B_TRUNC, uint8_t);
        for (int i = 0; i < N; i++) {
            const void *a = (const char *)act + (size_t)i * A * 4;
            ostep r = or_step(c, mk, &oe[i], a, sc->bg.tie, &rs);
            rs.steps++;
            tally_add(&tl.rew, rew[i], r.reward, step, i, 0);
            QA_CHECK_MSG(!(term[i] && trunc[i]), "%s: env %d at step %d both terminated and truncated", sc->name,
                         i, step);
            if (r.tie) rs.ties++;
            else {
                tally_add(&tl.flags, term[i], r.term, step, i, 0);
                tally_add(&tl.flags, trunc[i], r.trunc, step, i, 1);
            }
            int ended = term[i] == 1 || trunc[i] == 1; /* the oracle follows the kernel's resets */
            const float *frow = fobs + (size_t)i * D;
            if (ended) {
                or_obs(c, mk, &oe[i], ob);
                cmp_obs(&tl.feat, &tl.ftail, &tl.etail, frow, ob, D, ntail, pf, step, i);
                tally_add(&tl.eret, HOST(&sm, B_ERET, float)[i], oe[i].E - 1.0, step, i, 0);
                tally_add(&tl.elen, HOST(&sm, B_ELEN, int32_t)[i], oe[i].steps, step, i, 0);
                or_begin(c, mk, &oe[i], i, oe[i].ep + 1u);
            } else {
                tally_add(&tl.fobs_untouched, memcmp(frow, sm.sentinel, (size_t)D * 4) == 0, 1, step, i, 0);
                tally_add(&tl.eret, HOST(&sm, B_ERET, float)[i], NAN, step, i, 0);
                tally_add(&tl.elen, HOST(&sm, B_ELEN, int32_t)[i], 0, step, i, 0);
            }
            cmp_state(&tl, &sm, &oe[i], i, step);
            or_obs(c, mk, &oe[i], ob);
            cmp_obs(&tl.feat, &tl.tail, &tl.etail, obs + (size_t)i * D, ob, D, ntail, pf, step, i);
            double on_horizon = (double)or_time_steps(c, &oe[i]) / c->horizon;
            rs.time_scaled += fabs(on_horizon - ob[D - 1]) > sc->bg.tail_tol * (1.0 + fabs(ob[D - 1]));
            /* weights within their limits (on the kernel's own state) */
            const float *w = HOST(&sm, B_POS, float) + (size_t)i * K;
            if (c->kind == QA_RLENV_PORTFOLIO && !ended) {
                double sum = 0.0, gross = 0.0;
                for (int k = 0; k < K; k++) sum += w[k], gross += fabs(w[k]);
                if (c->weights == QA_RLENV_SOFTMAX) QA_CHECK_MSG(fabs(sum - 1.0) <= 1e-6, "weights sum %.9g", sum);
                else QA_CHECK_MSG(gross <= c->gross + 1e-6, "gross %.9g above %g", gross, c->gross);
            } else if (c->kind == QA_RLENV_SINGLE) {
                QA_CHECK(w[0] >= c->pos_lo * 1.5f && w[0] <= c->pos_hi * 1.5f); /* |d| <= 1, size <= 1.5 */
            }
        }
    }
    sim_check_guards(&sm, sc->name);
    tallies_check(&tl, sc->name);
    printf("    %ld env-steps: %ld terminated (%ld bankrupt, %ld drawdown), %ld truncated, %ld entries, %ld clamped, "
           "%ld NaN actions, %ld scaled, %ld near-ties, %ld time features off the horizon (time_scale %d)\n",
           rs.steps, rs.term_equity + rs.term_dd, rs.term_equity, rs.term_dd, rs.trunc, rs.entries, rs.clamped,
           rs.nan_actions, rs.scaled, rs.ties, rs.time_scaled, c->time_scale);
    free(act);
    free(ob);
    free(oe);
    sim_free(&sm);
    qa_backend_free(be);
    return rs;
}

/* Case 1: single asset, discrete actions: 66 envs (33 a thread: vector blocks and a
 * remainder), 600 steps, horizon 37, terminations by bankruptcy and by drawdown,
 * out-of-range actions; the time in trade on time_scale 100, and most of its values
 * would be outside the tail budget on the horizon. */
static void test_single_discrete(void) {
    scenario sc = scenario_make(SC_DISCRETE, 66, g_seed);
    run_stats rs = run_vs_oracle(&sc, g_seed + 1);
    QA_CHECK(rs.term_equity > 30 && rs.term_dd > 20 && rs.trunc > 300 && rs.clamped > 1000 && rs.entries > 1000);
    QA_CHECK(sc.cfg.time_scale != sc.cfg.horizon && rs.time_scaled > rs.steps / 4);
    QA_CHECK(rs.ties <= rs.steps / 1000);
    market_free(&sc.mk);
}

/* Case 2: single asset, continuous long-only actions with NaNs, every penalty on,
 * reward_scale 10, drawdown termination off (37 envs: vector blocks and a remainder);
 * then a direction range [-0.5, 0.7] (a NaN action must give 0, not a bound); then
 * short-only [-1, 0] with no size panel (size 1) and a single env. */
static void test_single_long_only(void) {
    scenario sc = scenario_make(SC_LONG_ONLY, 37, g_seed + 10);
    run_stats rs = run_vs_oracle(&sc, g_seed + 11);
    QA_CHECK(rs.nan_actions > 100 && rs.trunc > 100 && rs.entries > 100 && rs.term_dd == 0);
    QA_CHECK(rs.ties <= rs.steps / 1000);
    printf("  direction [-0.5, 0.7]\n");
    sc.cfg.pos_lo = -0.5f, sc.cfg.pos_hi = 0.7f;
    rs = run_vs_oracle(&sc, g_seed + 12);
    QA_CHECK(rs.nan_actions > 100 && rs.trunc > 100 && rs.entries > 100);
    printf("  short only, no size panel, one env\n");
    free(sc.mk.size);
    sc.mk.size = NULL;
    sc.cfg.nenv = 1;
    sc.cfg.pos_lo = -1.0f, sc.cfg.pos_hi = 0.0f;
    rs = run_vs_oracle(&sc, g_seed + 13);
    QA_CHECK(rs.trunc + rs.term_equity > 5);
    market_free(&sc.mk);
}

/* Case 3: portfolio of 4 assets, softmax weights (time feature on time_scale 20, below the
 * horizon 29) and long/short weights scaled to gross 1.5 (on the horizon). */
static void test_portfolio(void) {
    for (int w = SC_SOFTMAX; w <= SC_LONG_SHORT; w++) {
        scenario sc = scenario_make(w, 48, g_seed + 20 + (uint64_t)w);
        printf("  %s\n", sc.name);
        run_stats rs = run_vs_oracle(&sc, g_seed + 30 + (uint64_t)w);
        QA_CHECK(rs.trunc > 50 && rs.term_dd + rs.term_equity > 0 && rs.nan_actions > 100);
        QA_CHECK(rs.ties <= rs.steps / 1000);
        if (w == SC_LONG_SHORT) QA_CHECK(rs.scaled > 1000 && rs.scaled < rs.steps * 3 / 4);
        if (w == SC_SOFTMAX) QA_CHECK(sc.cfg.time_scale != sc.cfg.horizon && rs.time_scaled > rs.steps / 2);
        market_free(&sc.mk);
    }
}

/* ---- case 4: the reset draw ------------------------------------------------------------------- */

/* 4096 single-asset envs over 5 groups of unequal sizes (one of a single start), horizon 1
 * and no termination, so every step ends every episode: 4 rounds of draws (episodes 0-3).
 * Each draw lies in its group's range and equals the oracle's Philox draw; counts per
 * group and per slot match the uniform distribution over slots (5 sigma per group, chi-
 * square over 427 slots below mean + 6 sd); neighbouring envs and successive episodes of one
 * env coincide no more than independent draws would; the same seed repeats the draws and
 * another seed changes them. */
static void test_reset_draws(void) {
    enum { N = 4096, G = 5, ROUNDS = 4 };
    static const int lo[G] = {0, 30, 7, 100, 12}, cnt[G] = {37, 120, 1, 260, 9};
    static const double vol[G] = {0.01, 0.01, 0.01, 0.01, 0.01};
    market mk = make_market(G, 400, 1, 1, 1, G, lo, cnt, vol, g_seed + 40);
    const int64_t total = mk.cum[G];
    qa_rlenv_cfg c = {.kind = QA_RLENV_SINGLE, .action = QA_RLENV_CONTINUOUS, .nenv = N, .window = 1, .horizon = 1,
                      .nfeat = 1, .pos_lo = -1.0f, .pos_hi = 1.0f, .reward_scale = 1.0, .seed = g_seed * 7 + 3};
    qa_backend_t *be = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    sim sm;
    sim_init(&sm, be, &c, &mk);
    int64_t *slot = malloc((size_t)ROUNDS * N * sizeof *slot);
    long *per_slot = calloc((size_t)total, sizeof *per_slot);
    float *zeros = calloc(N, sizeof *zeros);
    long bad_range = 0, bad_oracle = 0, bad_init = 0;
    QA_CHECK_OK(sim_reset(&sm));
    for (int r = 0; r < ROUNDS; r++) {
        if (r > 0) {
            QA_CHECK_OK(sim_step(&sm, zeros, NULL));
        }
        sim_snap(&sm);
        for (int i = 0; i < N; i++) {
            int s = HOST(&sm, B_SYM, int32_t)[i], t = HOST(&sm, B_T, int32_t)[i];
            if (r > 0 && !HOST(&sm, B_TRUNC, uint8_t)[i]) bad_init++;
            bad_init += HOST(&sm, B_EP, uint32_t)[i] != (uint32_t)r || HOST(&sm, B_STEPS, int32_t)[i] != 0 ||
                        HOST(&sm, B_POS, float)[i] != 0.0f || HOST(&sm, B_EQ, double)[i] != 1.0 ||
                        HOST(&sm, B_PEAK, double)[i] != 1.0 || HOST(&sm, B_EEQ, double)[i] != 1.0 ||
                        HOST(&sm, B_BASE, double)[i] != 1.0;
            if (s < 0 || s >= G || t < lo[s] || t >= lo[s] + cnt[s]) {
                bad_range++;
                slot[(size_t)r * N + i] = -1;
                continue;
            }
            int os, ot;
            or_draw(&c, &mk, i, (uint32_t)r, &os, &ot);
            bad_oracle += os != s || ot != t;
            int64_t k = mk.cum[s] + (t - lo[s]);
            slot[(size_t)r * N + i] = k;
            per_slot[k]++;
        }
    }
    QA_CHECK_MSG(bad_range == 0, "%ld draws outside their group's starts", bad_range);
    QA_CHECK_MSG(bad_oracle == 0, "%ld draws differ from Philox(seed, env, episode) -> floor(u x total)",
                 bad_oracle);
    QA_CHECK_MSG(bad_init == 0, "%ld envs not freshly started (episode, steps, position, equity, B)", bad_init);
    /* groups: binomial counts within 5 sigma */
    const double n = (double)ROUNDS * N;
    for (int g = 0; g < G; g++) {
        long got = 0;
        for (int64_t k = mk.cum[g]; k < mk.cum[g + 1]; k++) got += per_slot[k];
        double p = (double)cnt[g] / (double)total, sd = sqrt(n * p * (1.0 - p));
        QA_CHECK_MSG(fabs(got - n * p) <= 5.0 * sd, "group %d: %ld draws, expected %.1f +- %.1f (5 sd)", g, got,
                     n * p, 5.0 * sd);
    }
    /* slots: chi-square with total - 1 degrees of freedom */
    double chi = 0.0, e = n / (double)total;
    for (int64_t k = 0; k < total; k++) chi += (per_slot[k] - e) * (per_slot[k] - e) / e;
    double dof = (double)(total - 1);
    QA_CHECK_MSG(chi <= dof + 6.0 * sqrt(2.0 * dof), "chi-square %.1f over %lld slots (mean %.0f, sd %.1f)", chi,
                 (long long)total, dof, sqrt(2.0 * dof));
    printf("    chi-square %.1f on %.0f dof (6 sd bound %.1f)\n", chi, dof, dof + 6.0 * sqrt(2.0 * dof));
    /* independence: coincidences of neighbours and of successive episodes ~ Binomial(N, 1/total) */
    double pe = 1.0 / (double)total, bound = N * pe + 6.0 * sqrt(N * pe) + 3.0;
    long same_nb = 0, same_ep = 0;
    for (int i = 0; i + 1 < N; i++) same_nb += slot[i] == slot[i + 1];
    for (int i = 0; i < N; i++) same_ep += slot[i] == slot[(size_t)N + i];
    QA_CHECK_MSG(same_nb <= bound, "%ld neighbouring envs share a start (bound %.0f)", same_nb, bound);
    QA_CHECK_MSG(same_ep <= bound, "%ld envs repeat their start in episode 1 (bound %.0f)", same_ep, bound);
    /* the same seed repeats the draws, another seed changes them */
    sim sm2;
    sim_init(&sm2, be, &c, &mk);
    QA_CHECK_OK(sim_reset(&sm2));
    QA_CHECK_OK(sim_reset(&sm));
    sim_snap(&sm);
    sim_snap(&sm2);
    QA_CHECK(memcmp(HOST(&sm, B_SYM, int32_t), HOST(&sm2, B_SYM, int32_t), (size_t)N * 4) == 0);
    QA_CHECK(memcmp(HOST(&sm, B_T, int32_t), HOST(&sm2, B_T, int32_t), (size_t)N * 4) == 0);
    QA_CHECK(memcmp(HOST(&sm, B_OBS, float), HOST(&sm2, B_OBS, float), sm.bytes[B_OBS]) == 0);
    sm2.cfg.seed = c.seed + 1;
    QA_CHECK_OK(sim_reset(&sm2));
    sim_snap(&sm2);
    long same_seed2 = 0;
    for (int i = 0; i < N; i++)
        same_seed2 += HOST(&sm, B_SYM, int32_t)[i] == HOST(&sm2, B_SYM, int32_t)[i] &&
                      HOST(&sm, B_T, int32_t)[i] == HOST(&sm2, B_T, int32_t)[i];
    QA_CHECK_MSG(same_seed2 <= bound, "seed + 1: %ld of %d envs keep their start (bound %.0f)", same_seed2, N, bound);
    sim_check_guards(&sm, "draws");
    sim_free(&sm2);
    sim_free(&sm);
    QA_FREE_ALL(slot, per_slot, zeros);
    market_free(&mk);
    qa_backend_free(be);
}

/* ---- case 5: reference vs the threaded CPU path ----------------------------------------------- */

/* Bytes of the state and output arrays (views) of two snapshots. */
static const char *const buf_names[] = {
    "ret", "feat", "size", "start_lo", "start_cum", "sym", "t", "steps", "entry_step", "episode", "pos", "equity",
    "peak", "entry_equity", "base", "action", "reward", "terminated", "truncated", "obs", "final_obs", "ep_return",
    "ep_length", "observe()"};
_Static_assert(sizeof buf_names / sizeof buf_names[0] == B_COUNT, "a name for every buffer");

/* Bytes of the state and (with `outputs`) output arrays of two snapshots, guards included;
 * on a difference, `where` names the first array and byte. */
static int same_state_and_outputs(const sim *a, const sim *b, int outputs, char *where, size_t size) {
    for (int k = B_FIRST_STATE; k < (outputs ? B_COUNT : B_ACT); k++)
        for (size_t j = 0; j < a->bytes[k] + 2 * GUARD; j++)
            if (a->host[k][j] != b->host[k][j]) {
                long off = (long)j - GUARD;
                snprintf(where, size, "%s byte %ld (0x%02x vs 0x%02x)", buf_names[k], off, a->host[k][j],
                         b->host[k][j]);
                return 0;
            }
    return 1;
}

/* For each scenario with 203 envs (not a multiple of any thread count or vector width)
 * and 2, 3 and 4 threads: reset and 120 steps on the reference and the OpenMP path give
 * the same bytes in every output and state array; a third run with some outputs NULL (2
 * threads: all but the rewards; 3: all but obs and final_obs; 4: all) evolves the same
 * state and writes the same values where it writes. */
static void test_reference_vs_threads(void) {
    for (int w = 0; w < SC_COUNT; w++) {
        scenario sc = scenario_make(w, 203, g_seed + 50 + (uint64_t)w);
        for (int threads = 2; threads <= 4; threads++) {
            qa_backend_t *ref = NULL, *cpu = NULL, *lean = NULL;
            QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &ref));
            QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &cpu));
            QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &lean));
            qa_backend_set_reference(ref, 1);
            qa_backend_set_threads(cpu, threads);
            qa_backend_set_threads(lean, threads);
            sim a, b, l;
            sim_init(&a, ref, &sc.cfg, &sc.mk);
            sim_init(&b, cpu, &sc.cfg, &sc.mk);
            sim_init(&l, lean, &sc.cfg, &sc.mk);
            qa_rlenv_out lean_out = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
            if (threads == 2) lean_out.reward = l.o.reward;
            if (threads == 3) lean_out.obs = l.o.obs, lean_out.final_obs = l.o.final_obs;
            void *act = malloc(a.bytes[B_ACT]);
            QA_CHECK_OK(sim_reset(&a));
            QA_CHECK_OK(sim_reset(&b));
            QA_CHECK_OK(sim_reset(&l));
            sim_snap(&a);
            sim_snap(&b);
            char where[160] = "", lean_where[160] = "";
            int diff_step = same_state_and_outputs(&a, &b, 1, where, sizeof where) ? -2 : -1, lean_step = -2;
            for (int step = 0; step < 120 && diff_step == -2; step++) {
                make_actions(sc.ak, g_seed + 60, step, sc.cfg.nenv, a.A, act);
                QA_CHECK_OK(sim_step(&a, act, NULL));
                QA_CHECK_OK(sim_step(&b, act, NULL));
                QA_CHECK_OK(sim_step(&l, act, &lean_out));
                sim_snap(&a);
                sim_snap(&b);
                sim_snap(&l);
                if (!same_state_and_outputs(&a, &b, 1, where, sizeof where)) diff_step = step;
                if (lean_step != -2) continue;
                if (!same_state_and_outputs(&a, &l, 0, lean_where, sizeof lean_where)) lean_step = step;
                for (int k = B_FIRST_OUT; k < B_OBS2 && lean_step == -2; k++) {
                    void *written = k == B_REW   ? lean_out.reward
                                    : k == B_OBS ? lean_out.obs
                                    : k == B_FOBS ? lean_out.final_obs
                                                  : NULL;
                    const unsigned char *want = written ? a.host[k] + GUARD : l.sentinel; /* NULL: untouched */
                    if (memcmp(l.host[k] + GUARD, want, a.bytes[k]) != 0) {
                        lean_step = step;
                        snprintf(lean_where, sizeof lean_where, "%s (%s)", buf_names[k],
                                 written ? "differs from the full run" : "written though NULL");
                    }
                }
            }
            QA_CHECK_MSG(diff_step == -2, "%s, %d threads: reference and OpenMP differ from step %d: %s (seed %llu)",
                         sc.name, threads, diff_step, where, (unsigned long long)g_seed);
            QA_CHECK_MSG(lean_step == -2, "%s, %d threads: with NULL outputs, step %d: %s", sc.name, threads,
                         lean_step, lean_where);
            sim_check_guards(&b, sc.name);
            free(act);
            sim_free(&a);
            sim_free(&b);
            sim_free(&l);
            qa_backend_free(ref);
            qa_backend_free(cpu);
            qa_backend_free(lean);
        }
        market_free(&sc.mk);
    }
}

/* ---- case 6: configuration checks ------------------------------------------------------------- */

static void test_check_rejects(void) {
    static const int lo[3] = {2, 2, 2}, cnt[3] = {10, 10, 10};
    static const double vol[3] = {0.01, 0.01, 0.01};
    market mk = make_market(3, 40, 1, 3, 5, 3, lo, cnt, vol, g_seed + 70);
    qa_rlenv_market m = {3, 40, 3, mk.ret, mk.feat, mk.size, mk.lo, mk.cum};
    const qa_rlenv_cfg ok = {.kind = QA_RLENV_SINGLE, .action = QA_RLENV_DISCRETE, .nenv = 4, .window = 3,
                             .horizon = 5, .nfeat = 1, .pos_lo = -1.0f, .pos_hi = 1.0f, .cost = 1e-3, .gross = 1.0,
                             .min_equity = 0.5, .max_drawdown = 0.2, .reward_scale = 1.0, .seed = 1};
    qa_rlenv_cfg c;
    QA_CHECK_OK(qa_rlenv_check(&ok, &m));
    c = ok;
    c.time_scale = 1000; /* any positive scale, above or below the horizon */
    QA_CHECK_OK(qa_rlenv_check(&c, &m));
    c.time_scale = 1;
    QA_CHECK_OK(qa_rlenv_check(&c, &m));
    QA_CHECK_INT(qa_rlenv_obs_dim(&ok, 3), 1 * 3 + 3);
    QA_CHECK_INT(qa_rlenv_action_dim(&ok, 3), 1);
    QA_CHECK_INT(qa_rlenv_assets(&ok, 3), 1);
#define REJECT(field_change, needle)                                   \
    do {                                                               \
        c = ok;                                                        \
        field_change;                                                  \
        QA_CHECK_ERR(qa_rlenv_check(&c, &m), QA_ERR_INVALID_ARG, needle); \
    } while (0)
    REJECT(c.kind = (qa_rlenv_kind)2, "kind");
    REJECT(c.kind = (qa_rlenv_kind)-1, "kind");
    REJECT(c.action = (qa_rlenv_action)2, "action");
    REJECT(c.weights = (qa_rlenv_weights)2, "weights");
    REJECT(c.nenv = 0, "nenv");
    REJECT(c.window = 0, "window");
    REJECT(c.horizon = 0, "horizon");
    REJECT(c.time_scale = -1, "time_scale");
    REJECT(c.time_scale = INT32_MIN, "time_scale");
    REJECT(c.nfeat = 0, "nfeat");
    REJECT(c.pos_lo = 0.5f, "direction");
    REJECT(c.pos_lo = -1.5f, "direction");
    REJECT(c.pos_hi = -0.5f, "direction");
    REJECT(c.pos_hi = 1.01f, "direction");
    REJECT(c.pos_hi = NAN, "direction");
    REJECT(c.cost = -1e-4, "cost");
    REJECT(c.cost = 1.0, "cost");
    REJECT(c.cost = NAN, "cost");
    REJECT(c.dd_penalty = -1.0, "penalties");
    REJECT(c.vol_penalty = NAN, "penalties");
    REJECT(c.turnover_penalty = INFINITY, "penalties");
    REJECT(c.min_equity = -0.1, "min_equity");
    REJECT(c.min_equity = 1.0, "min_equity");
    REJECT(c.max_drawdown = -0.1, "max_drawdown");
    REJECT(c.max_drawdown = 1.5, "max_drawdown");
    REJECT(c.max_drawdown = NAN, "max_drawdown");
    REJECT(c.reward_scale = 0.0, "reward_scale");
    REJECT(c.reward_scale = -1.0, "reward_scale");
    REJECT(c.reward_scale = INFINITY, "reward_scale");
    /* a portfolio takes continuous actions, one start group and a positive finite gross */
    REJECT((c.kind = QA_RLENV_PORTFOLIO, c.action = QA_RLENV_DISCRETE), "portfolio");
    qa_rlenv_market m1 = m;
    m1.ngroup = 1;
    c = ok;
    c.kind = QA_RLENV_PORTFOLIO, c.action = QA_RLENV_CONTINUOUS, c.weights = QA_RLENV_LONG_SHORT;
    QA_CHECK_OK(qa_rlenv_check(&c, &m1));
    QA_CHECK_INT(qa_rlenv_obs_dim(&c, 3), 3 * 1 * 3 + 3 + 2);
    QA_CHECK_INT(qa_rlenv_action_dim(&c, 3), 3);
    QA_CHECK_ERR(qa_rlenv_check(&c, &m), QA_ERR_INVALID_ARG, "start groups"); /* 3 groups for a portfolio */
    c.gross = 0.0;
    QA_CHECK_ERR(qa_rlenv_check(&c, &m1), QA_ERR_INVALID_ARG, "gross");
    c.gross = INFINITY;
    QA_CHECK_ERR(qa_rlenv_check(&c, &m1), QA_ERR_INVALID_ARG, "gross");
    c.weights = QA_RLENV_SOFTMAX; /* gross unused by softmax */
    QA_CHECK_OK(qa_rlenv_check(&c, &m1));
    /* market shape and arrays */
    QA_CHECK_ERR(qa_rlenv_check(&ok, &m1), QA_ERR_INVALID_ARG, "start groups"); /* 1 group, 3 symbols */
    qa_rlenv_market bad = m;
    bad.nsym = 0, bad.ngroup = 0;
    QA_CHECK_ERR(qa_rlenv_check(&ok, &bad), QA_ERR_INVALID_ARG, "market");
    bad = m, bad.ntime = 1;
    QA_CHECK_ERR(qa_rlenv_check(&ok, &bad), QA_ERR_INVALID_ARG, "market");
    bad = m, bad.ret = NULL;
    QA_CHECK_ERR(qa_rlenv_check(&ok, &bad), QA_ERR_INVALID_ARG, "NULL");
    bad = m, bad.feat = NULL;
    QA_CHECK_ERR(qa_rlenv_check(&ok, &bad), QA_ERR_INVALID_ARG, "NULL");
    bad = m, bad.start_lo = NULL;
    QA_CHECK_ERR(qa_rlenv_check(&ok, &bad), QA_ERR_INVALID_ARG, "NULL");
    bad = m, bad.start_cum = NULL;
    QA_CHECK_ERR(qa_rlenv_check(&ok, &bad), QA_ERR_INVALID_ARG, "NULL");
    bad = m, bad.size = NULL; /* allowed: size 1 */
    QA_CHECK_OK(qa_rlenv_check(&ok, &bad));
    QA_CHECK_ERR(qa_rlenv_check(NULL, &m), QA_ERR_INVALID_ARG, "NULL");
    QA_CHECK_ERR(qa_rlenv_check(&ok, NULL), QA_ERR_INVALID_ARG, "NULL");
    /* the entry points check too, and leave the state alone when they fail */
    qa_backend_t *be = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    sim sm;
    sim_init(&sm, be, &ok, &mk);
    QA_CHECK_OK(sim_reset(&sm));
    int32_t act[4] = {0, 1, 2, 1};
    QA_CHECK_OK(sim_step(&sm, act, NULL));
    sim_snap(&sm);
    sim before;
    memset(&before, 0, sizeof before);
    memcpy(before.bytes, sm.bytes, sizeof sm.bytes);
    for (int k = B_FIRST_STATE; k < B_ACT; k++) {
        before.host[k] = malloc(sm.bytes[k] + 2 * GUARD);
        memcpy(before.host[k], sm.host[k], sm.bytes[k] + 2 * GUARD);
    }
    c = ok;
    c.horizon = 0;
    QA_CHECK_ERR(qa_rlenv_step(be, &c, &sm.m, &sm.s, VIEW(&sm, B_ACT), &sm.o), QA_ERR_INVALID_ARG, "horizon");
    QA_CHECK_ERR(qa_rlenv_step(be, &ok, &sm.m, &sm.s, NULL, &sm.o), QA_ERR_INVALID_ARG, "NULL");
    QA_CHECK_ERR(qa_rlenv_step(be, &ok, &sm.m, &sm.s, VIEW(&sm, B_ACT), NULL), QA_ERR_INVALID_ARG, "NULL");
    c.horizon = ok.horizon, c.time_scale = -1;
    QA_CHECK_ERR(qa_rlenv_step(be, &c, &sm.m, &sm.s, VIEW(&sm, B_ACT), &sm.o), QA_ERR_INVALID_ARG, "time_scale");
    QA_CHECK_ERR(qa_rlenv_observe(be, &c, &sm.m, &sm.s, VIEW(&sm, B_OBS2)), QA_ERR_INVALID_ARG, "time_scale");
    for (int which = 0; which < 2; which++) { /* the oldest state array and the newest (B) */
        qa_rlenv_state s2 = sm.s;
        if (which == 0) s2.peak = NULL;
        else s2.base = NULL;
        QA_CHECK_ERR(qa_rlenv_step(be, &ok, &sm.m, &s2, VIEW(&sm, B_ACT), &sm.o), QA_ERR_INVALID_ARG, "state");
        QA_CHECK_ERR(qa_rlenv_reset(be, &ok, &sm.m, &s2, NULL), QA_ERR_INVALID_ARG, "state");
        QA_CHECK_ERR(qa_rlenv_observe(be, &ok, &sm.m, &s2, VIEW(&sm, B_OBS2)), QA_ERR_INVALID_ARG, "state");
    }
    c.horizon = 0, c.time_scale = 0;
    QA_CHECK_ERR(qa_rlenv_reset(be, &c, &sm.m, &sm.s, NULL), QA_ERR_INVALID_ARG, "horizon");
    QA_CHECK_ERR(qa_rlenv_observe(be, &ok, &sm.m, &sm.s, NULL), QA_ERR_INVALID_ARG, "NULL");
    sim_snap(&sm);
    char where[160] = "";
    QA_CHECK_MSG(same_state_and_outputs(&before, &sm, 0, where, sizeof where),
                 "a rejected call changed the state: %s", where);
    for (int k = B_FIRST_STATE; k < B_ACT; k++) free(before.host[k]);
    sim_free(&sm);
    qa_backend_free(be);
    market_free(&mk);
#undef REJECT
}

/* ---- case 7: observe() ------------------------------------------------------------------------ */

/* observe() after reset and after 45 steps writes the same bytes as the last reset / step
 * and changes no state (every state array, B included), on the reference and the threaded
 * path, for every scenario. */
static void test_observe(void) {
    for (int w = 0; w < SC_COUNT; w++) {
        scenario sc = scenario_make(w, 50, g_seed + 80 + (uint64_t)w);
        for (int reference = 0; reference <= 1; reference++) {
            qa_backend_t *be = NULL;
            QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
            qa_backend_set_reference(be, reference);
            qa_backend_set_threads(be, 3);
            sim sm;
            sim_init(&sm, be, &sc.cfg, &sc.mk);
            void *act = malloc(sm.bytes[B_ACT]);
            QA_CHECK_OK(sim_reset(&sm));
            for (int step = 0; step <= 45; step++) {
                if (step > 0) {
                    make_actions(sc.ak, g_seed + 90, step, sc.cfg.nenv, sm.A, act);
                    QA_CHECK_OK(sim_step(&sm, act, NULL));
                }
                if (step != 0 && step != 45) continue;
                sim_snap(&sm);
                sim before;
                memset(&before, 0, sizeof before);
                memcpy(before.bytes, sm.bytes, sizeof sm.bytes);
                for (int k = B_FIRST_STATE; k < B_ACT; k++) {
                    before.host[k] = malloc(sm.bytes[k] + 2 * GUARD);
                    memcpy(before.host[k], sm.host[k], sm.bytes[k] + 2 * GUARD);
                }
                QA_CHECK_OK(sim_observe(&sm));
                sim_snap(&sm);
                QA_CHECK_MSG(memcmp(HOST(&sm, B_OBS, float), HOST(&sm, B_OBS2, float), sm.bytes[B_OBS]) == 0,
                             "%s (reference %d): observe() after step %d differs from the step's obs", sc.name,
                             reference, step);
                char where[160] = "";
                QA_CHECK_MSG(same_state_and_outputs(&before, &sm, 0, where, sizeof where),
                             "%s (reference %d): observe() after step %d changed the state: %s", sc.name, reference,
                             step, where);
                for (int k = B_FIRST_STATE; k < B_ACT; k++) free(before.host[k]);
            }
            sim_check_guards(&sm, sc.name);
            free(act);
            sim_free(&sm);
            qa_backend_free(be);
        }
        market_free(&sc.mk);
    }
}

/* ---- gpu: CUDA vs the CPU backend --------------------------------------------------------------- */

/* Every scenario with 300 envs (not a multiple of the 128-thread block), 200 steps of the
 * same action stream on both backends; the budgets are in the file comment. */
static void test_gpu_parity(void) {
    qa_backend_t *gpu = qa_kernel_test_gpu();
    qa_backend_t *cpu = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &cpu));
    for (int w = 0; w < SC_COUNT; w++) {
        scenario sc = scenario_make(w, 300, g_seed + 100 + (uint64_t)w);
        const qa_rlenv_cfg *c = &sc.cfg;
        int softmax = c->kind == QA_RLENV_PORTFOLIO && c->weights == QA_RLENV_SOFTMAX;
        sim g, h;
        sim_init(&g, gpu, c, &sc.mk);
        sim_init(&h, cpu, c, &sc.mk);
        const int N = c->nenv, K = g.K, D = g.D, ntail = c->kind == QA_RLENV_PORTFOLIO ? K + 2 : 3;
        tally rew = tally_make("reward", ATOL_F32, RTOL_F32), exact = tally_make("flags/counters", 0, 0),
              pos = tally_make("positions", 0, softmax ? 2.4e-7 : 0.0), eq = tally_make("B/equity/peak/entry", 0, 1e-9),
              feat = tally_make("obs and final_obs features", 0, 0), tail = tally_make("obs tail", TAIL_TOL, TAIL_TOL),
              eret = tally_make("ep_return", ATOL_F32, RTOL_F32), obs2 = tally_make("observe()", 0, 0);
        void *act = malloc(g.bytes[B_ACT]);
        QA_CHECK_OK(sim_reset(&g));
        QA_CHECK_OK(sim_reset(&h));
        long ended = 0;
        for (int step = -1; step < 200; step++) {
            if (step >= 0) {
                make_actions(sc.ak, g_seed + 110, step, N, g.A, act);
                QA_CHECK_OK(sim_step(&g, act, NULL));
                QA_CHECK_OK(sim_step(&h, act, NULL));
            }
            sim_snap(&g);
            sim_snap(&h);
            for (int i = 0; i < N; i++) {
                const int32_t *ints[] = {HOST(&g, B_SYM, int32_t), HOST(&g, B_T, int32_t), HOST(&g, B_STEPS, int32_t),
                                         HOST(&g, B_ENTRY, int32_t), HOST(&g, B_EP, int32_t)};
                const int32_t *intc[] = {HOST(&h, B_SYM, int32_t), HOST(&h, B_T, int32_t), HOST(&h, B_STEPS, int32_t),
                                         HOST(&h, B_ENTRY, int32_t), HOST(&h, B_EP, int32_t)};
                for (int k = 0; k < 5; k++) tally_add(&exact, ints[k][i], intc[k][i], step, i, k);
                const float *pg = HOST(&g, B_POS, float) + (size_t)i * K, *ph = HOST(&h, B_POS, float) + (size_t)i * K;
                for (int k = 0; k < K; k++) tally_add(&pos, pg[k], ph[k], step, i, k);
                tally_add(&eq, HOST(&g, B_EQ, double)[i], HOST(&h, B_EQ, double)[i], step, i, 0);
                tally_add(&eq, HOST(&g, B_PEAK, double)[i], HOST(&h, B_PEAK, double)[i], step, i, 1);
                tally_add(&eq, HOST(&g, B_EEQ, double)[i], HOST(&h, B_EEQ, double)[i], step, i, 2);
                tally_add(&eq, HOST(&g, B_BASE, double)[i], HOST(&h, B_BASE, double)[i], step, i, 3);
                const float *og = HOST(&g, B_OBS, float) + (size_t)i * D;
                const float *oh = HOST(&h, B_OBS, float) + (size_t)i * D;
                for (int j = 0; j < D; j++) tally_add(j < D - ntail ? &feat : &tail, og[j], oh[j], step, i, j);
                if (step < 0) continue;
                tally_add(&rew, HOST(&g, B_REW, float)[i], HOST(&h, B_REW, float)[i], step, i, 0);
                tally_add(&exact, HOST(&g, B_TERM, uint8_t)[i], HOST(&h, B_TERM, uint8_t)[i], step, i, 10);
                tally_add(&exact, HOST(&g, B_TRUNC, uint8_t)[i], HOST(&h, B_TRUNC, uint8_t)[i], step, i, 11);
                tally_add(&exact, HOST(&g, B_ELEN, int32_t)[i], HOST(&h, B_ELEN, int32_t)[i], step, i, 12);
                tally_add(&eret, HOST(&g, B_ERET, float)[i], HOST(&h, B_ERET, float)[i], step, i, 0);
                /* final_obs: the ended envs' rows compare like obs; the others keep the sentinel */
                const float *fg = HOST(&g, B_FOBS, float) + (size_t)i * D;
                const float *fh = HOST(&h, B_FOBS, float) + (size_t)i * D;
                if (HOST(&h, B_TERM, uint8_t)[i] || HOST(&h, B_TRUNC, uint8_t)[i]) {
                    ended++;
                    for (int j = 0; j < D; j++)
                        tally_add(j < D - ntail ? &feat : &tail, fg[j], fh[j], step, i, 100 + j);
                } else {
                    tally_add(&exact, memcmp(fg, g.sentinel, (size_t)D * 4) == 0, 1, step, i, 13);
                }
            }
        }
        QA_CHECK_OK(sim_observe(&g));
        sim_snap(&g);
        for (size_t j = 0; j < (size_t)N * D; j++)
            tally_add(&obs2, HOST(&g, B_OBS2, float)[j], HOST(&g, B_OBS, float)[j], 200, (int)(j / D), (int)(j % D));
        printf("  %s: %ld episodes ended\n", sc.name, ended);
        QA_CHECK(ended > 100);
        const tally *all[] = {&rew, &exact, &pos, &eq, &feat, &tail, &eret, &obs2};
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) tally_check(all[k], sc.name);
        sim_check_guards(&g, sc.name);
        free(act);
        sim_free(&g);
        sim_free(&h);
        market_free(&sc.mk);
    }
    qa_backend_free(cpu);
    qa_backend_free(gpu);
}

int main(int argc, char **argv) {
    g_seed = qa_test_seed();
    static const qa_test_case gpu[] = {QA_CASE(test_gpu_parity)};
    static const qa_test_case cpu[] = {QA_CASE(test_single_discrete),      QA_CASE(test_single_long_only),
                                       QA_CASE(test_portfolio),            QA_CASE(test_reset_draws),
                                       QA_CASE(test_reference_vs_threads), QA_CASE(test_check_rejects),
                                       QA_CASE(test_observe)};
    return qa_kernel_test_main(argc, argv, QA_CASES(gpu), QA_CASES(cpu));
}
