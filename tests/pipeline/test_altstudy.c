/* qa alt study (pipeline/altstudy): the event study against answers known in advance.
 *
 *  1. exact: a small deterministic market, every event's market model, abnormal returns,
 *     the group AAR/CAAR/SE/band and the window t statistics recomputed here with plain
 *     loops and the closed-form OLS formulas, through the market file and run directory;
 *  2. planted: 40 symbols x 600 bars following r = a + b m + noise, with +3% at day 0 and
 *     +1% at day +1 planted at the positive events only: CAAR[0,+1] of positive events is
 *     4% within 4 standard errors and inside its band; negative and volume events are 0;
 *  3. overlap rule and skip reasons, counted trigger by trigger;
 *  4. refusals: missing alt panels, unknown market symbol, inconsistent windows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/philox.h"
#include "datasets/store.h"
#include "harness.h"
#include "store_test.h" /* qa_test_daily_meta */
#include "pipeline/altstudy/altstudy.h"

static char g_dir[256];

/* Daily grid from 2020-01-01 (day 18262), 00:00 UTC. */
static int64_t day_ns(size_t t) { return (int64_t)(18262 + t) * 86400LL * 1000000000LL; }

/* Writes a market file: closes [S*T] and, when count is not NULL, the alt panels of
 * `source`. */
static void write_store(const char *path, size_t S, const char *const *syms, size_t T, const double *close,
                        const char *source, const double *count, const double *sent, const double *z) {
    int64_t *time = malloc(T * sizeof *time);
    for (size_t t = 0; t < T; t++) time[t] = day_ns(t);
    qa_store_meta m = qa_test_daily_meta("weekdays", "test_altstudy synthetic", 1);
    qa_store_t *st = NULL;
    QA_CHECK_OK(qa_store_create(path, NULL, &m, S, syms, T, time, &st));
    QA_CHECK_OK(qa_store_write(st, "bars/close", 0, S, 0, T, close));
    if (count) {
        const char *suffix[3] = {"count", "sent_mean", "count_z"};
        const double *v[3] = {count, sent, z};
        for (int k = 0; k < 3; k++) {
            char p[96];
            snprintf(p, sizeof p, "alt/%s_%s", source, suffix[k]);
            QA_CHECK_OK(qa_store_panel_create(st, p));
            QA_CHECK_OK(qa_store_write(st, p, 0, S, 0, T, v[k]));
        }
    }
    QA_CHECK_OK(qa_store_commit(st));
    free(time);
}

static void fill(double *x, size_t n, double v) {
    for (size_t i = 0; i < n; i++) x[i] = v;
}

/* ---- 1. exact ----------------------------------------------------------------------- */

enum { XS = 4, XT = 80, XPRE = 2, XPOST = 3, XL = XPRE + XPOST + 1, XEST_LEN = 30, XEST_END = 4, XMIN_EST = 20 };

typedef struct xevent {
    int g;
    size_t s, t;
} xevent;

/* The events the planted triggers must produce, in the result's order (group, symbol,
 * day); the comments say which triggers are not here and why. */
static const xevent x_expect[] = {
    {QA_ALTSTUDY_GROUP_POSITIVE, 0, 45}, /* A 47: overlap (2 <= post after 45) */
    {QA_ALTSTUDY_GROUP_POSITIVE, 2, 50}, /* B 30: one document, min_docs 2; A 70: 0.4 < pos */
    {QA_ALTSTUDY_GROUP_POSITIVE, 3, 60},
    {QA_ALTSTUDY_GROUP_NEGATIVE, 1, 55}, /* estimation window holds B's missing returns 40, 41 */
    {QA_ALTSTUDY_GROUP_NEGATIVE, 3, 42},
    {QA_ALTSTUDY_GROUP_VOLUME, 0, 52},   /* C 44: z 1.9 < 2 */
    {QA_ALTSTUDY_GROUP_VOLUME, 1, 62},
};
#define X_NEXPECT (sizeof x_expect / sizeof x_expect[0])

/* Student-t quantiles t_{0.975, df} in closed form, to 30 digits: df 1 (Cauchy)
 * tan(0.475 pi) = 12.70620473617470465, df 2: 0.95 sqrt(2 / 0.0975) = 4.30265272974946385. */
static double t975(size_t df) { return df == 1 ? 12.706204736174705 : df == 2 ? 4.302652729749464 : NAN; }

static void test_exact(void) {
    static const char *syms[XS] = {"A", "B", "C", "D"};
    static double close[XS * XT], count[XS * XT], sent[XS * XT], z[XS * XT];
    for (size_t s = 0; s < XS; s++) {
        double p = 50.0 + 10.0 * (double)s;
        for (size_t t = 0; t < XT; t++) {
            if (t) p *= 1.0 + 0.012 * sin(0.7 * (double)t + (double)s) + 0.005 * cos(1.3 * (double)(t * (s + 1)));
            close[s * XT + t] = p;
        }
    }
    close[1 * XT + 40] = NAN; /* B has no bar 40: no return at 40 and 41 */
    fill(count, XS * XT, 0.0);
    fill(sent, XS * XT, NAN);
    fill(z, XS * XT, NAN);
    count[1 * XT + 40] = NAN;
    struct { size_t s, t; double n, m; } docs[] = {
        {0, 45, 2, 0.7}, {0, 47, 3, 0.8}, {2, 50, 2, 0.9},  {3, 60, 3, 0.6}, {1, 30, 1, 0.95},
        {0, 70, 5, 0.4}, {1, 55, 2, -0.8}, {3, 42, 2, -0.6},
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        count[docs[i].s * XT + docs[i].t] = docs[i].n;
        sent[docs[i].s * XT + docs[i].t] = docs[i].m;
    }
    z[0 * XT + 52] = 2.5;
    z[1 * XT + 62] = 3.0;
    z[2 * XT + 44] = 1.9;
    z[3 * XT + 20] = -1.0;
    char path[512], out[512];
    snprintf(path, sizeof path, "%s/exact.h5", g_dir);
    snprintf(out, sizeof out, "%s/exact_run", g_dir);
    write_store(path, XS, syms, XT, close, "news", count, sent, z);

    qa_altstudy_cfg c;
    qa_altstudy_cfg_default(&c);
    c.data = path;
    c.source = "news";
    c.min_docs = 2;
    c.pre = XPRE;
    c.post = XPOST;
    c.est_len = XEST_LEN;
    c.est_end = XEST_END;
    c.min_est = XMIN_EST;
    qa_altstudy_result r;
    qa_altstudy_result_init(&r);
    char *argv[] = {"study"};
    QA_CHECK_OK(qa_altstudy_run(&c, out, 1, argv, &r));
    QA_CHECK_INT(r.nevents, X_NEXPECT);
    QA_CHECK_INT(r.L, XL);
    if (r.nevents != X_NEXPECT) goto done;

    /* The reference, with plain loops. Returns and the equal-weighted market. */
    static double ret[XS * XT], mkt[XT];
    for (size_t s = 0; s < XS; s++)
        for (size_t t = 0; t < XT; t++)
            ret[s * XT + t] = t && !isnan(close[s * XT + t]) && !isnan(close[s * XT + t - 1])
                                  ? close[s * XT + t] / close[s * XT + t - 1] - 1.0
                                  : NAN;
    for (size_t t = 0; t < XT; t++) {
        double sum = 0.0;
        int k = 0;
        for (size_t s = 0; s < XS; s++)
            if (!isnan(ret[s * XT + t])) sum += ret[s * XT + t], k++;
        mkt[t] = k ? sum / k : NAN;
    }
    /* Per event: OLS by beta = (n Sxy - Sx Sy) / (n Sxx - Sx^2), alpha = (Sy - beta Sx) / n
     * over the valid pairs of [t - est_end - est_len + 1, t - est_end]; AR over the window. */
    double ar[X_NEXPECT][XL];
    for (size_t e = 0; e < X_NEXPECT; e++) {
        const xevent *x = &x_expect[e];
        const qa_altstudy_event *got = &r.events[e];
        QA_CHECK_INT(got->group, x->g);
        QA_CHECK_INT(got->symbol, x->s);
        QA_CHECK_INT(got->t, x->t);
        double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (size_t k = x->t - XEST_END - XEST_LEN + 1; k <= x->t - XEST_END; k++) {
            double y = ret[x->s * XT + k], m = mkt[k];
            if (isnan(y) || isnan(m)) continue;
            n += 1;
            sx += m;
            sy += y;
            sxx += m * m;
            sxy += m * y;
        }
        double beta = (n * sxy - sx * sy) / (n * sxx - sx * sx), alpha = (sy - beta * sx) / n;
        QA_CHECK_INT(got->n_est, (long long)n);
        /* Budget: alpha, beta, AR and sums of at most 6 ARs are formed from ~30 returns of
         * size <= 0.03 in a different order (centred vs raw sums, whose cancellation costs
         * < 1 digit here since |mean m| < sd m); rounding stays below 1e-15 absolute and a
         * few 1e-15 relative, so rtol 1e-12 has 3 digits of headroom and atol 1e-15 covers
         * values that cancel to near 0. */
        QA_CHECK_NEAR(got->beta, beta, 1e-15, 1e-12);
        QA_CHECK_NEAR(got->alpha, alpha, 1e-15, 1e-12);
        double car = 0.0;
        for (int i = 0; i < XL; i++) {
            size_t k = x->t - XPRE + (size_t)i;
            ar[e][i] = ret[x->s * XT + k] - alpha - beta * mkt[k];
            car += ar[e][i];
        }
        QA_CHECK(qa_test_near_arrays("event AR", r.ar + e * XL, ar[e], XL, 1e-15, 1e-12));
        QA_CHECK_NEAR(got->car_all, car, 1e-15, 1e-12);
        QA_CHECK_NEAR(got->car_0_1, ar[e][XPRE] + ar[e][XPRE + 1], 1e-15, 1e-12);
    }
    /* Groups: AAR, CAAR = mean CAR, SE = sd(CAR) / sqrt(N), band with the tabled t. */
    size_t e0 = 0;
    for (int g = 0; g < QA_ALTSTUDY_GROUP_COUNT; g++) {
        const qa_altstudy_group_stats *gs = &r.group[g];
        size_t n = 0;
        while (e0 + n < X_NEXPECT && x_expect[e0 + n].g == g) n++;
        QA_CHECK_INT(gs->n, n);
        double aar[XL], caar[XL], se[XL], lo[XL], hi[XL];
        for (int i = 0; i < XL; i++) {
            double sa = 0, sc = 0, cars[8];
            for (size_t e = 0; e < n; e++) {
                cars[e] = 0;
                for (int j = 0; j <= i; j++) cars[e] += ar[e0 + e][j];
                sa += ar[e0 + e][i];
                sc += cars[e];
            }
            aar[i] = sa / n;
            caar[i] = sc / n;
            double ss = 0;
            for (size_t e = 0; e < n; e++) ss += (cars[e] - caar[i]) * (cars[e] - caar[i]);
            se[i] = sqrt(ss / (n - 1)) / sqrt((double)n);
            lo[i] = caar[i] - t975(n - 1) * se[i];
            hi[i] = caar[i] + t975(n - 1) * se[i];
        }
        printf("  %s: N %zu, CAAR[-2,+3] %.6f%% (SE %.6f%%)\n", qa_altstudy_group_names[g], n, 100 * caar[XL - 1],
               100 * se[XL - 1]);
        QA_CHECK_NEAR(gs->tcrit, t975(n - 1), 0, 1e-13); /* the table's 16 digits */
        QA_CHECK(qa_test_near_arrays("AAR", gs->aar, aar, XL, 1e-15, 1e-12));
        QA_CHECK(qa_test_near_arrays("CAAR", gs->caar, caar, XL, 1e-15, 1e-12));
        QA_CHECK(qa_test_near_arrays("SE", gs->se, se, XL, 1e-15, 1e-12));
        /* the band adds t x SE: the quantile's 1e-13 relative error on top */
        QA_CHECK(qa_test_near_arrays("band lo", gs->lo, lo, XL, 1e-15, 1e-12));
        QA_CHECK(qa_test_near_arrays("band hi", gs->hi, hi, XL, 1e-15, 1e-12));
        /* Window [-1, +1]: CAR over tau -1..1, t = mean / (sd / sqrt(N)). */
        double cw[8], m = 0, ss = 0;
        for (size_t e = 0; e < n; e++) {
            cw[e] = ar[e0 + e][XPRE - 1] + ar[e0 + e][XPRE] + ar[e0 + e][XPRE + 1];
            m += cw[e];
        }
        m /= n;
        for (size_t e = 0; e < n; e++) ss += (cw[e] - m) * (cw[e] - m);
        const qa_altstudy_win_stat *w = &gs->win[QA_ALTSTUDY_WIN_M1_1];
        QA_CHECK(w->avail && w->from == -1 && w->to == 1);
        QA_CHECK_NEAR(w->car, m, 1e-15, 1e-12);
        QA_CHECK_NEAR(w->t, m / (sqrt(ss / (n - 1)) / sqrt((double)n)), 1e-12, 1e-10);
        /* [0, +5] does not fit in [-2, +3]; [0, +post] and [-pre, +post] do. */
        QA_CHECK(!gs->win[QA_ALTSTUDY_WIN_0_5].avail && isnan(gs->win[QA_ALTSTUDY_WIN_0_5].car));
        QA_CHECK_NEAR(gs->win[QA_ALTSTUDY_WIN_ALL].car, caar[XL - 1], 1e-15, 1e-12);
        QA_CHECK(gs->win[QA_ALTSTUDY_WIN_0_POST].from == 0 && gs->win[QA_ALTSTUDY_WIN_0_POST].to == XPOST);
        e0 += n;
    }
    QA_CHECK_INT(r.group[QA_ALTSTUDY_GROUP_POSITIVE].triggers, 4);
    QA_CHECK_INT(r.group[QA_ALTSTUDY_GROUP_POSITIVE].skipped[QA_ALTSTUDY_SKIP_OVERLAP], 1);

    /* The run directory: summary.json echoes the same numbers, events.csv one row per
     * event, report.html states the day-0 convention. */
    char f[700];
    json_t *j = NULL;
    snprintf(f, sizeof f, "%s/summary.json", out);
    QA_CHECK_OK(qa_json_read_file(f, &j));
    if (j) {
        QA_CHECK_INT(json_integer_value(qa_json_path(j, "groups.positive.events")), 3);
        QA_CHECK_INT(json_integer_value(qa_json_path(j, "groups.positive.skipped.overlap")), 1);
        QA_CHECK_INT(json_integer_value(qa_json_path(j, "config.min_docs")), 2);
        json_t *taus = qa_json_path(j, "groups.negative.by_tau");
        QA_CHECK(json_array_size(taus) == XL);
        QA_CHECK_NEAR(json_real_value(json_object_get(json_array_get(taus, XL - 1), "caar")),
                      r.group[QA_ALTSTUDY_GROUP_NEGATIVE].caar[XL - 1], 0, 1e-15);
        QA_CHECK_INT(json_array_size(qa_json_path(j, "groups.volume.windows")), 5); /* [0,+5] left out */
        json_decref(j);
    }
    char *text = NULL;
    size_t len = 0;
    snprintf(f, sizeof f, "%s/events.csv", out);
    QA_CHECK_OK(qa_fs_read_all(f, &text, &len));
    if (text) {
        size_t lines = 0;
        for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
        QA_CHECK_INT(lines, 1 + X_NEXPECT);
        QA_CHECK(strstr(text, "C,2020-02-20,positive,0.9,") != NULL); /* day 50 of 2020 */
        free(text);
        text = NULL;
    }
    snprintf(f, sizeof f, "%s/report.html", out);
    QA_CHECK_OK(qa_fs_read_all(f, &text, &len));
    if (text) {
        QA_CHECK(strstr(text, "day -1") != NULL);
        QA_CHECK(strstr(text, "Group volume (2 events)") != NULL);
        free(text);
    }
done:
    qa_altstudy_result_free(&r);
}

/* ---- 2. planted effect ---------------------------------------------------------------- */

enum { PS = 41, PT = 600 }; /* MKT + 40 stocks */

static void test_planted(void) {
    /* A fixed seed: the band check is a 95% statement, so it is made on one known draw
     * (the 4-standard-error checks would hold for almost every seed). */
    const uint64_t seed = 20240611;
    printf("  Philox seed %llu\n", (unsigned long long)seed);
    static char names[PS][8];
    const char *syms[PS];
    static double close[PS * PT], count[PS * PT], sent[PS * PT], z[PS * PT], m[PT];
    for (size_t t = 0; t < PT; t++) m[t] = 0.0003 + 0.01 * qa_rng_normal(seed, 0, t);
    fill(count, PS * PT, 0.0);
    fill(sent, PS * PT, NAN);
    for (size_t i = 0; i < PS * PT; i++) z[i] = -1.0 + 2.5 * qa_rng_uniform(seed, 1, i); /* below 2 */
    snprintf(names[0], sizeof names[0], "MKT");
    for (size_t s = 1; s < PS; s++) snprintf(names[s], sizeof names[s], "S%02zu", s);
    for (size_t s = 0; s < PS; s++) syms[s] = names[s];
    double abn[PT];
    for (size_t s = 0; s < PS; s++) {
        fill(abn, PT, 0.0);
        size_t k = s - 1; /* stock index 0..39 */
        for (int j = 0; s > 0 && j < 3; j++) {
            /* positive (stocks 0..19, with the effect) or negative (20..39, none) at
             * 140/290/440 + jitter; volume (20..39) 60 bars later. Windows and estimation
             * windows of the effect never overlap other events of the stock. */
            size_t t = 140 + 150 * (size_t)j + (size_t)(15 * qa_rng_uniform(seed, 2, k * 3 + (size_t)j));
            count[s * PT + t] = 3;
            sent[s * PT + t] = k < 20 ? 0.8 : -0.8;
            if (k < 20) {
                abn[t] = 0.03;
                abn[t + 1] = 0.01;
            } else {
                z[s * PT + t + 60] = 3.0;
            }
        }
        double a = s ? 0.0002 * (double)(k % 5) - 0.0004 : 0.0, b = s ? 0.6 + 0.02 * (double)k : 1.0;
        double p = 100.0;
        for (size_t t = 0; t < PT; t++) {
            if (t) p *= 1.0 + (s ? a + b * m[t] + 0.01 * qa_rng_normal(seed, 10 + s, t) + abn[t] : m[t]);
            close[s * PT + t] = p;
        }
    }
    qa_altstudy_data d = {PS, PT, syms, NULL, close, count, sent, z};
    int64_t time[PT];
    for (size_t t = 0; t < PT; t++) time[t] = day_ns(t);
    d.time = time;
    qa_altstudy_cfg c;
    qa_altstudy_cfg_default(&c);
    c.source = "news";
    c.market = "MKT";
    qa_altstudy_result r;
    qa_altstudy_result_init(&r);
    QA_CHECK_OK(qa_altstudy_compute(&c, &d, &r));
    QA_CHECK_INT(r.market, 0);
    QA_CHECK_INT(r.L, 16);
    for (int g = 0; g < QA_ALTSTUDY_GROUP_COUNT; g++) {
        const qa_altstudy_group_stats *gs = &r.group[g];
        const qa_altstudy_win_stat *w = &gs->win[QA_ALTSTUDY_WIN_0_1], *wa = &gs->win[QA_ALTSTUDY_WIN_ALL];
        double want = g == QA_ALTSTUDY_GROUP_POSITIVE ? 0.04 : 0.0;
        printf("  %s: N %zu, CAAR[0,+1] %.3f%% (SE %.3f%%, t %.2f), CAAR[-5,+10] %.3f%% (SE %.3f%%) band [%.3f%%, %.3f%%]\n",
               qa_altstudy_group_names[g], gs->n, 100 * w->car, 100 * w->se, w->t, 100 * wa->car, 100 * wa->se,
               100 * gs->lo[15], 100 * gs->hi[15]);
        QA_CHECK_INT(gs->n, 60);
        QA_CHECK_INT(gs->triggers, 60);
        /* CAR[0,+1] has noise sd 0.01 sqrt(2) (plus the model's estimation error): SE near
         * 0.0018 for 60 events; a factor 2 either way catches a wrong scaling. */
        QA_CHECK_MSG(w->se > 0.0009 && w->se < 0.0036, "SE %g", w->se);
        QA_CHECK_MSG(fabs(w->car - want) <= 4 * w->se, "CAAR[0,+1] %g, expected %g +- 4 x %g", w->car, want, w->se);
        QA_CHECK_MSG(fabs(wa->car - want) <= 4 * wa->se, "CAAR[-5,+10] %g, expected %g +- 4 x %g", wa->car, want,
                     wa->se);
        /* The band at tau = +1 (CAR from -5) and at +10 contains the planted CAAR. */
        QA_CHECK_MSG(gs->lo[6] <= want && want <= gs->hi[6], "band at +1 [%g, %g]", gs->lo[6], gs->hi[6]);
        QA_CHECK_MSG(gs->lo[15] <= want && want <= gs->hi[15], "band at +10 [%g, %g]", gs->lo[15], gs->hi[15]);
        if (g == QA_ALTSTUDY_GROUP_POSITIVE) {
            QA_CHECK_MSG(w->t > 8, "t %g", w->t); /* 4% over an SE near 0.18% */
            QA_CHECK_MSG(fabs(gs->aar[5] - 0.03) < 0.01, "AAR day 0 %g", gs->aar[5]);
        }
    }
    qa_altstudy_result_free(&r);
}

/* ---- 3. overlap and skips ------------------------------------------------------------- */

enum { OS = 3, OT = 120 };

static void test_overlap_skips(void) {
    static const char *syms[OS] = {"A", "B", "FLAT"};
    static double close[OS * OT], count[OS * OT], sent[OS * OT], z[OS * OT];
    for (size_t s = 0; s < OS; s++) {
        double p = 20.0;
        for (size_t t = 0; t < OT; t++) {
            if (t && s < 2) p *= 1.0 + 0.01 * sin(0.9 * (double)t + 2.0 * (double)s) + 0.002 * (double)s;
            close[s * OT + t] = p; /* FLAT: constant, so its return is 0 every bar */
        }
    }
    close[0 * OT + 72] = NAN;
    fill(count, OS * OT, 0.0);
    fill(sent, OS * OT, NAN);
    fill(z, OS * OT, NAN);
    /* A: 10 estimation (only bars 1..7 before the window), 12 overlap (2 after 10: the
     * rule counts from 10 although 10 was skipped), 40 used, 42 and 43 overlap (3 = post),
     * 44 used (4 after 40, the last kept trigger, though 1 after 43), 70 missing (no bar
     * 72), 116 used, 118 overlap; B: 119 window_end. */
    static const size_t ta[] = {10, 12, 40, 42, 43, 44, 70, 116, 118};
    for (size_t i = 0; i < sizeof ta / sizeof ta[0]; i++) {
        count[ta[i]] = 1;
        sent[ta[i]] = 0.9;
    }
    count[1 * OT + 119] = 1;
    sent[1 * OT + 119] = 0.9;
    int64_t time[OT];
    for (size_t t = 0; t < OT; t++) time[t] = day_ns(t);
    qa_altstudy_data d = {OS, OT, syms, time, close, count, sent, z};
    qa_altstudy_cfg c;
    qa_altstudy_cfg_default(&c);
    c.source = "news";
    c.pre = 2;
    c.post = 3;
    c.est_len = 20;
    c.est_end = 3;
    c.min_est = 15;
    qa_altstudy_result r;
    qa_altstudy_result_init(&r);
    QA_CHECK_OK(qa_altstudy_compute(&c, &d, &r));
    const qa_altstudy_group_stats *g = &r.group[QA_ALTSTUDY_GROUP_POSITIVE];
    QA_CHECK_INT(g->triggers, 10);
    QA_CHECK_INT(g->n, 3);
    QA_CHECK_INT(g->skipped[QA_ALTSTUDY_SKIP_OVERLAP], 4);
    QA_CHECK_INT(g->skipped[QA_ALTSTUDY_SKIP_ESTIMATION], 1);
    QA_CHECK_INT(g->skipped[QA_ALTSTUDY_SKIP_MISSING], 1);
    QA_CHECK_INT(g->skipped[QA_ALTSTUDY_SKIP_WINDOW_END], 1);
    QA_CHECK_INT(g->skipped[QA_ALTSTUDY_SKIP_FLAT_MARKET], 0);
    if (r.nevents == 3) {
        QA_CHECK_INT(r.events[0].t, 40);
        QA_CHECK_INT(r.events[1].t, 44);
        QA_CHECK_INT(r.events[2].t, 116);
        QA_CHECK_INT(r.events[2].n_est, 20);
    }
    QA_CHECK_INT(r.group[QA_ALTSTUDY_GROUP_NEGATIVE].triggers, 0);
    QA_CHECK(isnan(r.group[QA_ALTSTUDY_GROUP_NEGATIVE].caar[0]));
    /* Against the constant FLAT market the model cannot be fitted: the reasons checked
     * before it (window end, estimation) keep their counts, the rest become flat_market. */
    c.market = "FLAT";
    QA_CHECK_OK(qa_altstudy_compute(&c, &d, &r));
    QA_CHECK_INT(r.market, 2);
    QA_CHECK_INT(g->n, 0);
    QA_CHECK_INT(r.nevents, 0);
    QA_CHECK_INT(g->skipped[QA_ALTSTUDY_SKIP_OVERLAP], 4);
    QA_CHECK_INT(g->skipped[QA_ALTSTUDY_SKIP_ESTIMATION], 1);
    QA_CHECK_INT(g->skipped[QA_ALTSTUDY_SKIP_WINDOW_END], 1);
    QA_CHECK_INT(g->skipped[QA_ALTSTUDY_SKIP_FLAT_MARKET], 4);
    QA_CHECK_INT(g->skipped[QA_ALTSTUDY_SKIP_MISSING], 0);
    QA_CHECK(isnan(g->tcrit) && isnan(g->win[QA_ALTSTUDY_WIN_0_1].car));
    qa_altstudy_result_free(&r);
}

/* ---- 4. refusals --------------------------------------------------------------------- */

static void test_errors(void) {
    static const char *syms[2] = {"A", "B"};
    enum { T = 30 };
    static double close[2 * T], count[2 * T], sent[2 * T], z[2 * T];
    for (size_t i = 0; i < 2 * T; i++) close[i] = 10.0 + (double)(i % 7);
    fill(count, 2 * T, 0.0);
    fill(sent, 2 * T, NAN);
    fill(z, 2 * T, NAN);
    count[5] = 2; /* A positive at bar 5: no estimation window in 30 bars */
    sent[5] = 0.9;
    char bare[512], news[512], out[512];
    snprintf(bare, sizeof bare, "%s/bare.h5", g_dir);
    snprintf(news, sizeof news, "%s/news.h5", g_dir);
    snprintf(out, sizeof out, "%s/refused", g_dir);
    write_store(bare, 2, syms, T, close, NULL, NULL, NULL, NULL);
    write_store(news, 2, syms, T, close, "news", count, sent, z);
    qa_altstudy_cfg c;
    qa_altstudy_cfg_default(&c);
    c.data = bare;
    c.source = "news";
    qa_altstudy_result r;
    qa_altstudy_result_init(&r);
    QA_CHECK_ERR(qa_altstudy_run(&c, out, 0, NULL, &r), QA_ERR_NOT_FOUND, "qa alt align");
    QA_CHECK_ERR(qa_altstudy_run(&c, out, 0, NULL, &r), QA_ERR_NOT_FOUND, "alt/news_count");
    c.data = news;
    c.source = "tweets";
    QA_CHECK_ERR(qa_altstudy_run(&c, out, 0, NULL, &r), QA_ERR_NOT_FOUND, "alt/tweets_count");
    c.source = "news";
    c.market = "SPY";
    QA_CHECK_ERR(qa_altstudy_run(&c, out, 0, NULL, &r), QA_ERR_NOT_FOUND, "--market 'SPY'");
    QA_CHECK(!qa_fs_exists(out)); /* refused before the output directory is made */
    QA_CHECK(r.nevents == 0 && r.buf_ == NULL); /* outputs unchanged */
    c.market = "equal";
    c.min_est = 200;
    QA_CHECK_ERR(qa_altstudy_run(&c, out, 0, NULL, &r), QA_ERR_CONFIG, "--min-est 200");
    c.min_est = 60;
    c.est_end = 5;
    QA_CHECK_ERR(qa_altstudy_cfg_check(&c), QA_ERR_CONFIG, "--est-end 5");
    c.est_end = 11;
    c.pos = 0.0;
    QA_CHECK_ERR(qa_altstudy_cfg_check(&c), QA_ERR_CONFIG, "--pos 0");
    c.pos = 0.5;
    /* A file too short for any estimation window still runs: no events, files written. */
    QA_CHECK_OK(qa_altstudy_run(&c, out, 0, NULL, &r));
    QA_CHECK_INT(r.nevents, 0);
    QA_CHECK_INT(r.group[QA_ALTSTUDY_GROUP_POSITIVE].skipped[QA_ALTSTUDY_SKIP_ESTIMATION], 1);
    QA_CHECK(qa_fs_exists(out));
    qa_altstudy_result_free(&r);
}

int main(void) {
    if (qa_test_tmpdir(g_dir, sizeof g_dir, "altstudy")) {
        printf("cannot create a temporary directory\n");
        return 1;
    }
    qa_log_set_level(QA_LOG_WARN);
    QA_RUN(test_exact);
    QA_RUN(test_planted);
    QA_RUN(test_overlap_skips);
    QA_RUN(test_errors);
    if (qa_test_failures_ == 0) qa_test_rmtree(g_dir);
    return qa_test_finish();
}
