/* Stress scenarios of `qa stress`: historical replays of named windows, hypothetical shocks
 * propagated by conditional expectation, and reverse stress (closed form for linear books,
 * HL-RF iteration for books with options). Rank 0 only: these are small. */
#include <math.h>    /* log, exp, sqrt, fabs, NAN */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* memcpy, strcmp */

#include "common/timeparse.h" /* dates in notes */
#include "common/mem.h"
#include "pipeline/stress/stress_impl.h"

/* A new scenario of `kind` with room for p per-position P&Ls; the caller names it. */
static qa_status new_scenario(qa_stress_results *res, size_t p, const char *kind, qa_stress_scenario **out) {
    qa_stress_scenario *n = realloc(res->sc, (res->nsc + 1) * sizeof *n);
    if (!n) return QA_FAIL(QA_ERR_NOMEM, "scenario");
    res->sc = n;
    qa_stress_scenario *s = &res->sc[res->nsc];
    memset(s, 0, sizeof *s);
    s->pos = calloc(p ? p : 1, sizeof *s->pos);
    if (!s->pos) return QA_FAIL(QA_ERR_NOMEM, "scenario");
    res->nsc++;
    s->sigma_distance = NAN;
    s->model_loss = NAN;
    snprintf(s->kind, sizeof s->kind, "%s", kind);
    *out = s;
    return QA_OK;
}

/* ---- small dense linear algebra (k x k systems; plain loops) ------------------------------ */

/* In-place lower Cholesky of a (k x k, lower triangle read). Returns 0 when a pivot is not
 * positive relative to the largest diagonal entry. */
static int cholesky(double *a, size_t k) {
    double dmax = 0.0;
    for (size_t i = 0; i < k; i++) dmax = fmax(dmax, fabs(a[i * k + i]));
    for (size_t j = 0; j < k; j++) {
        double d = a[j * k + j];
        for (size_t q = 0; q < j; q++) d -= a[j * k + q] * a[j * k + q];
        if (!(d > 1e-13 * dmax)) return 0;
        d = sqrt(d);
        a[j * k + j] = d;
        for (size_t i = j + 1; i < k; i++) {
            double v = a[i * k + j];
            for (size_t q = 0; q < j; q++) v -= a[i * k + q] * a[j * k + q];
            a[i * k + j] = v / d;
        }
    }
    return 1;
}

/* Solves L L' y = b (L from cholesky), y overwrites b. */
static void chol_solve(const double *l, size_t k, double *b) {
    for (size_t i = 0; i < k; i++) {
        double v = b[i];
        for (size_t q = 0; q < i; q++) v -= l[i * k + q] * b[q];
        b[i] = v / l[i * k + i];
    }
    for (size_t i = k; i-- > 0;) {
        double v = b[i];
        for (size_t q = i + 1; q < k; q++) v -= l[q * k + i] * b[q];
        b[i] = v / l[i * k + i];
    }
}

qa_status qa_stress_condition(const double *cov, size_t n, const double *a, const double *s, size_t k, double *x) {
    qa_status st = QA_OK;
    double *g = malloc(n * k * sizeof *g), *m = malloc(k * k * sizeof *m), *y = malloc(k * sizeof *y);
    if (!g || !m || !y) {
        st = QA_FAIL(QA_ERR_NOMEM, "conditional shock (%zu x %zu)", n, k);
        goto cleanup;
    }
    /* G = Sigma A' (n x k), M = A G (k x k). */
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < k; r++) {
            double v = 0.0;
            for (size_t j = 0; j < n; j++) v += cov[i * n + j] * a[r * n + j];
            g[i * k + r] = v;
        }
    for (size_t r = 0; r < k; r++)
        for (size_t q = 0; q < k; q++) {
            double v = 0.0;
            for (size_t j = 0; j < n; j++) v += a[r * n + j] * g[j * k + q];
            m[r * k + q] = v;
        }
    if (!cholesky(m, k)) {
        st = QA_FAIL(QA_ERR_NUMERIC, "the shocked assets/factors are linearly dependent under the covariance (A Sigma A' "
                                     "is singular): shock fewer, or independent, targets");
        goto cleanup;
    }
    memcpy(y, s, k * sizeof *y);
    chol_solve(m, k, y);
    for (size_t i = 0; i < n; i++) {
        double v = 0.0;
        for (size_t r = 0; r < k; r++) v += g[i * k + r] * y[r];
        x[i] = v;
    }
cleanup:
    free(g);
    free(m);
    free(y);
    return st;
}

/* ---- historical replays ---------------------------------------------------------------------- */

qa_status qa_stress_replays(const qa_stress_cfg *c, const qa_stress_panel *panel, const qa_stress_book *b, qa_stress_results *res) {
    size_t n = b->n;
    double *x = malloc(n * sizeof *x), *pos = malloc(b->p * sizeof *pos);
    qa_status st = QA_OK;
    char d0[32], d1[32], d2[32], d3[32], d4[32];
    if (!x || !pos) {
        st = QA_FAIL(QA_ERR_NOMEM, "replay");
        goto cleanup;
    }
    for (size_t i = 0; i < c->nreplays; i++) {
        const qa_stress_window *w = &c->replays[i];
        long base = qa_stress_panel_last_common(panel, b->cols, n, w->start - 1);
        size_t cnt = 0;
        for (size_t t = base < 0 ? 0 : (size_t)base + 1; base >= 0 && t < panel->t && panel->time[t] <= w->end; t++) {
            int ok = panel->time[t] >= w->start;
            for (size_t f = 0; ok && f < n; f++) ok = panel->close[b->cols[f] * panel->t + t] > 0;
            cnt += ok;
        }
        if (base < 0 || cnt == 0) {
            qa_stress_note(res, "replay '%s' (%s..%s) skipped: the data has no prices for every portfolio asset there",
                        w->name, qa_time_format_iso(w->start, d0, sizeof d0), qa_time_format_iso(w->end, d1, sizeof d1));
            continue;
        }
        qa_stress_scenario *s = NULL;
        QA_TRY(new_scenario(res, b->p, "replay", &s));
        snprintf(s->name, sizeof s->name, "%s", w->name);
        s->path_time = malloc((cnt + 1) * sizeof *s->path_time);
        s->path_pnl = malloc((cnt + 1) * sizeof *s->path_pnl);
        if (!s->path_time || !s->path_pnl) {
            st = QA_FAIL(QA_ERR_NOMEM, "replay path");
            goto cleanup;
        }
        /* Point 0: the last close before the window (P&L 0); then each common date. */
        s->path_time[0] = panel->time[base];
        s->path_pnl[0] = 0.0;
        s->npath = 1;
        s->worst = 0.0;
        s->worst_date = panel->time[base];
        for (size_t t = (size_t)base + 1; t < panel->t && panel->time[t] <= w->end; t++) {
            int ok = panel->time[t] >= w->start;
            for (size_t f = 0; ok && f < n; f++) ok = panel->close[b->cols[f] * panel->t + t] > 0;
            if (!ok) continue;
            for (size_t f = 0; f < n; f++)
                x[f] = log(panel->close[b->cols[f] * panel->t + t] / panel->close[b->cols[f] * panel->t + (size_t)base]);
            double years = (double)s->npath / panel->bars_per_year; /* trading days elapsed */
            double v = qa_stress_book_pnl_full(b, x, years, pos);
            s->path_time[s->npath] = panel->time[t];
            s->path_pnl[s->npath] = v;
            s->npath++;
            if (v < s->worst) s->worst = v, s->worst_date = panel->time[t];
            s->pnl = v;
            memcpy(s->pos, pos, b->p * sizeof *pos);
        }
        /* The second pass sees the cnt >= 1 dates the first one counted. */
        if (s->npath != cnt + 1) {
            st = QA_FAIL(QA_ERR_STATE, "replay '%s': %zu path points, expected %zu", w->name, s->npath, cnt + 1);
            goto cleanup;
        }
        /* A window that runs past the market file is replayed on the part it holds: say so. */
        int64_t last = s->path_time[s->npath - 1];
        if (panel->time[panel->t - 1] < w->end)
            qa_stress_note(res, "replay '%s' (%s..%s) covers only %s..%s: the market file %s ends on %s", w->name,
                           qa_time_format_iso(w->start, d0, sizeof d0), qa_time_format_iso(w->end, d1, sizeof d1),
                           qa_time_format_iso(s->path_time[1], d2, sizeof d2), qa_time_format_iso(last, d3, sizeof d3),
                           panel->path, qa_time_format_iso(panel->time[panel->t - 1], d4, sizeof d4));
    }
cleanup:
    free(x);
    free(pos);
    return st;
}

/* ---- hypothetical shocks ----------------------------------------------------------------------- */

static const char *sector_of(const qa_stress_book *b, size_t f, const qa_stress_sectors *sec) {
    for (size_t i = 0; i < b->p; i++)
        if (b->factor[i] == f && b->pf.pos[i].sector[0]) return b->pf.pos[i].sector;
    for (size_t i = 0; i < b->p; i++)
        if (b->factor[i] == f) return qa_stress_sectors_of(sec, b->pf.pos[i].symbol);
    return NULL;
}

/* Adds the constraint a'r = v; unit rows on one asset are merged (a conflict is an error). */
static qa_status add_constraint(const qa_stress_cfg *c, const qa_stress_shock *sh, double *a, double *s, size_t *k,
                                size_t nu, const double *row, double v) {
    long unit = -1;
    int nz = 0;
    for (size_t j = 0; j < nu; j++)
        if (row[j] != 0.0) nz++, unit = (long)j;
    if (nz == 1 && row[unit] == 1.0) {
        for (size_t r = 0; r < *k; r++) {
            int same = a[r * nu + (size_t)unit] == 1.0;
            for (size_t j = 0; same && j < nu; j++) same = (size_t)unit == j || a[r * nu + j] == 0.0;
            if (!same) continue;
            if (fabs(s[r] - v) > 1e-12)
                return QA_FAIL(QA_ERR_CONFIG, "%s: key 'scenarios.hypothetical': two shocks move the same asset by "
                                              "different amounts (%.4g%% and %.4g%%)",
                               QA_STRESS_AT(c, sh->line), 100 * expm1(s[r]), 100 * expm1(v));
            return QA_OK;
        }
    }
    memcpy(a + *k * nu, row, nu * sizeof *row);
    s[*k] = v;
    (*k)++;
    return QA_OK;
}

/* The scenario's factor moves, named from the panel columns cols[0..n): prices and vols
 * as simple (relative) changes of the log-moves x, the rate as its absolute change. */
static qa_status set_moves(qa_stress_scenario *sc, const qa_stress_panel *panel, const size_t *cols, size_t n,
                           const double *x) {
    sc->nmoves = n;
    sc->move_sym = calloc(n, sizeof *sc->move_sym);
    sc->moves = calloc(n, sizeof *sc->moves);
    if (!sc->move_sym || !sc->moves) return QA_FAIL(QA_ERR_NOMEM, "scenario moves");
    for (size_t f = 0; f < n; f++) {
        sc->moves[f] = panel->kind[cols[f]] == QA_STRESS_COL_RATE ? x[f] : expm1(x[f]);
        snprintf(sc->move_sym[f], sizeof sc->move_sym[f], "%s", panel->sym[cols[f]]);
    }
    return QA_OK;
}

qa_status qa_stress_hypothetical(const qa_stress_cfg *c, const qa_stress_panel *panel, const qa_stress_book *b,
                              const size_t *uni, size_t nu, const double *cov, const qa_stress_sectors *sectors,
                              qa_stress_results *res) {
    qa_status st = QA_OK;
    size_t cap = nu + 64;
    double *a = NULL, *s = NULL, *row = malloc(nu * sizeof *row), *x = malloc(nu * sizeof *x);
    if (!row || !x) {
        st = QA_FAIL(QA_ERR_NOMEM, "hypothetical scenario");
        goto cleanup;
    }
    for (size_t h = 0; h < c->nhypos; h++) {
        const qa_stress_hypo *hy = &c->hypos[h];
        size_t k = 0, need = 0;
        for (size_t j = 0; j < hy->nshocks; j++) need += hy->shocks[j].kind == QA_STRESS_SHOCK_SECTOR ? b->n : 1;
        if (need > cap || !a) {
            cap = need > cap ? need : cap;
            free(a);
            free(s);
            a = malloc(cap * nu * sizeof *a);
            s = malloc(cap * sizeof *s);
            if (!a || !s) {
                st = QA_FAIL(QA_ERR_NOMEM, "constraints");
                goto cleanup;
            }
        }
        for (size_t j = 0; j < hy->nshocks && st == QA_OK; j++) {
            const qa_stress_shock *sh = &hy->shocks[j];
            /* simple-return (or relative vol) move -> log-change; a rate move is absolute */
            double v = sh->kind == QA_STRESS_SHOCK_RATE ? sh->move : log1p(sh->move);
            memset(row, 0, nu * sizeof *row);
            if (sh->kind == QA_STRESS_SHOCK_VOL || sh->kind == QA_STRESS_SHOCK_RATE) {
                char want[QA_STORE_SYMBOL_LEN];
                snprintf(want, sizeof want, "%.26s~vol", sh->target);
                long col = -1;
                for (size_t u = 0; u < nu && col < 0; u++)
                    if (sh->kind == QA_STRESS_SHOCK_VOL ? strcmp(panel->sym[uni[u]], want) == 0
                                                        : panel->kind[uni[u]] == QA_STRESS_COL_RATE)
                        col = (long)u;
                if (col < 0) {
                    st = sh->kind == QA_STRESS_SHOCK_VOL
                             ? QA_FAIL(QA_ERR_CONFIG, "%s: key 'scenarios.hypothetical[%zu].shocks[%zu].vol': no option "
                                                      "on '%s' in the book, so its volatility is not a risk factor",
                                       QA_STRESS_AT(c, sh->line), h, j, sh->target)
                             : QA_FAIL(QA_ERR_CONFIG, "%s: key 'scenarios.hypothetical[%zu].shocks[%zu].rate': the run "
                                                      "has no rate factor (it needs options in the book and a rate "
                                                      "proxy in the data: option_factors.rate)",
                                       QA_STRESS_AT(c, sh->line), h, j);
                    goto cleanup;
                }
                row[col] = 1.0;
                st = add_constraint(c, sh, a, s, &k, nu, row, v);
            } else if (sh->kind == QA_STRESS_SHOCK_ASSET) {
                for (size_t u = 0; u < nu; u++)
                    if (strcmp(panel->sym[uni[u]], sh->target) == 0) row[u] = 1.0;
                st = add_constraint(c, sh, a, s, &k, nu, row, v);
            } else if (sh->kind == QA_STRESS_SHOCK_SECTOR) {
                for (size_t f = 0; f < b->n && st == QA_OK; f++) {
                    const char *sec = sector_of(b, f, sectors);
                    if (!sec || strcmp(sec, sh->target) != 0) continue;
                    memset(row, 0, nu * sizeof *row);
                    row[f] = 1.0; /* portfolio factors are the first columns of the universe */
                    st = add_constraint(c, sh, a, s, &k, nu, row, v);
                }
            } else {
                const qa_stress_factor *fa = NULL;
                for (size_t q = 0; q < c->nfactors; q++)
                    if (strcmp(c->factors[q].name, sh->target) == 0) fa = &c->factors[q];
                /* The binder resolved every factor target; a miss here is a broken invariant. */
                if (!fa) {
                    st = QA_FAIL(QA_ERR_STATE, "%s: shock target '%s' names no factor", QA_STRESS_AT(c, sh->line),
                                 sh->target);
                    break;
                }
                double wsum = 0.0;
                for (size_t q = 0; q < fa->n; q++) wsum += fa->weights[q];
                for (size_t q = 0; q < fa->n; q++)
                    for (size_t u = 0; u < nu; u++)
                        if (strcmp(panel->sym[uni[u]], fa->assets[q]) == 0) row[u] += fa->weights[q] / wsum;
                /* The basket's log-return is approximated by the weighted log-returns. */
                st = add_constraint(c, sh, a, s, &k, nu, row, v);
            }
        }
        if (st != QA_OK) goto cleanup;
        st = qa_stress_condition(cov, nu, a, s, k, x);
        if (st != QA_OK) {
            qa_err_prefix("%s: scenario '%s': ", QA_STRESS_AT(c, hy->line), hy->name);
            goto cleanup;
        }
        qa_stress_scenario *sc = NULL;
        QA_TRY(new_scenario(res, b->p, "hypothetical", &sc));
        snprintf(sc->name, sizeof sc->name, "%s", hy->name);
        sc->pnl = sc->worst = qa_stress_book_pnl_full(b, x, 0.0, sc->pos);
        QA_TRY(set_moves(sc, panel, uni, nu, x));
        snprintf(sc->note, sizeof sc->note, "%zu constraint(s); other assets by E[r | shocks]", k);
    }
cleanup:
    QA_FREE_ALL(a, s, row, x);
    return st;
}

/* ---- reverse stress ------------------------------------------------------------------------------ */

/* Mahalanobis length sqrt(x' Sigma^-1 x) with the Cholesky factor l of Sigma. */
static double mahalanobis(const double *l, size_t n, const double *x, double *tmp) {
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        for (size_t q = 0; q < i; q++) v -= l[i * n + q] * tmp[q];
        tmp[i] = v / l[i * n + i];
    }
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += tmp[i] * tmp[i];
    return sqrt(s);
}

/* One HL-RF step (Hasofer-Lind / Rackwitz-Fiessler): linearise f at x and move to the
 * most likely point of the linearised surface f = -loss: x' = Sigma g c / (g' Sigma g),
 * c = -loss - f(x) + g'x. Returns 0 when the gradient carries no risk. */
static int hlrf_step(const qa_stress_book *b, const double *cov, double loss, const double *x, double *g, double *sg,
                     double *xn) {
    size_t n = b->n;
    qa_stress_book_gradient(b, x, b->horizon_years, g);
    double f = qa_stress_book_pnl_model(b, x, b->horizon_years, NULL), gx = 0.0, gsg = 0.0;
    for (size_t i = 0; i < n; i++) {
        double v = 0.0;
        for (size_t j = 0; j < n; j++) v += cov[i * n + j] * g[j];
        sg[i] = v;
        gx += g[i] * x[i];
        gsg += g[i] * v;
    }
    if (!(gsg > 0.0)) return 0;
    double cc = -loss - f + gx;
    for (size_t i = 0; i < n; i++) xn[i] = sg[i] * cc / gsg;
    return 1;
}

qa_status qa_stress_reverse(const qa_stress_cfg *c, const qa_stress_book *b, const double *cov, qa_stress_results *res) {
    qa_status st = QA_OK;
    size_t n = b->n;
    double *l = malloc(n * n * sizeof *l), *x = calloc(n, sizeof *x), *xn = calloc(n, sizeof *xn),
           *g = malloc(n * sizeof *g), *sg = malloc(n * sizeof *sg), *tmp = malloc(n * sizeof *tmp);
    if (!l || !x || !xn || !g || !sg || !tmp) {
        st = QA_FAIL(QA_ERR_NOMEM, "reverse stress");
        goto cleanup;
    }
    /* The distance's factor. A factor that is an exact function of others (the rate proxy
     * when its bond ETF is also a position) makes cov singular; moves found here lie in its
     * range, where x'(cov + d I)^-1 x tends to the pseudo-inverse form as d -> 0: retry
     * with d = 1e-12 .. 1e-6 of the mean variance, as the Monte-Carlo factor does. */
    double mdiag = 0.0;
    for (size_t i = 0; i < n; i++) mdiag += cov[i * n + i] / (double)n;
    int have_l = 0;
    double d = 0.0; /* 8 tries: 0, then 1e-12 .. 1e-6 by repeated *10 (exactly these doubles) */
    for (int k = 0; !have_l && k < 8; k++) {
        memcpy(l, cov, n * n * sizeof *l);
        for (size_t i = 0; i < n; i++) l[i * n + i] += d * mdiag;
        have_l = cholesky(l, n);
        d = d == 0.0 ? 1e-12 : 10 * d;
    }
    for (size_t q = 0; q < c->nreverse; q++) {
        double loss = c->reverse_losses[q] * b->value;
        qa_stress_scenario *s = NULL;
        QA_TRY(new_scenario(res, b->p, "reverse", &s));
        snprintf(s->name, sizeof s->name, "reverse %.4g%% loss", 100 * c->reverse_losses[q]);
        int ok = 1;
        if (b->nopt == 0 && b->reval == QA_RISK_REVAL_DELTA) {
            /* Closed form (docs/risk.md): x* = -L Sigma w / (w' Sigma w). */
            st = qa_risk_reverse_stress(cov, b->w, n, loss, x);
            if (st != QA_OK) {
                qa_err_prefix("reverse stress: ");
                goto cleanup;
            }
            s->converged = 1;
            snprintf(s->note, sizeof s->note, "closed form (linear book, delta revaluation)");
        } else {
            memset(x, 0, n * sizeof *x);
            int it = 0, conv = 0;
            for (; it < c->reverse_max_iter; it++) {
                if (!hlrf_step(b, cov, loss, x, g, sg, xn)) {
                    ok = 0;
                    break;
                }
                double dx = 0.0;
                for (size_t i = 0; i < n; i++) dx = fmax(dx, fabs(xn[i] - x[i]));
                memcpy(x, xn, n * sizeof *x);
                double f = qa_stress_book_pnl_model(b, x, b->horizon_years, NULL);
                if (fabs(f + loss) <= 1e-9 * loss && dx <= 1e-10) {
                    conv = 1;
                    it++;
                    break;
                }
            }
            s->iterations = it;
            if (ok && !conv) {
                /* Fallback: bisection for the scale t with f(t d) = -loss along the last
                 * direction d (the conditional-expectation direction at the last step). */
                double hi = 1.0;
                for (int k = 0; k < 60; k++) {
                    for (size_t i = 0; i < n; i++) xn[i] = hi * x[i];
                    if (qa_stress_book_pnl_model(b, xn, b->horizon_years, NULL) <= -loss) break;
                    hi *= 2.0;
                }
                for (size_t i = 0; i < n; i++) xn[i] = hi * x[i];
                if (qa_stress_book_pnl_model(b, xn, b->horizon_years, NULL) > -loss) {
                    ok = 0;
                } else {
                    double lo = 0.0;
                    for (int k = 0; k < 200; k++) {
                        double mid = 0.5 * (lo + hi);
                        for (size_t i = 0; i < n; i++) xn[i] = mid * x[i];
                        if (qa_stress_book_pnl_model(b, xn, b->horizon_years, NULL) > -loss) lo = mid;
                        else hi = mid;
                    }
                    for (size_t i = 0; i < n; i++) x[i] *= hi;
                    snprintf(s->note, sizeof s->note, "HL-RF did not converge in %d iterations; bisection along its last "
                                                      "direction (not guaranteed most likely)",
                             it);
                }
            } else if (ok) {
                s->converged = 1;
                snprintf(s->note, sizeof s->note, "HL-RF iteration on the %s revaluation (%d iterations)",
                         qa_risk_reval_names[b->reval], it);
            }
        }
        if (!ok) {
            snprintf(s->note, sizeof s->note, "no factor move produces this loss (the book's loss is bounded below it)");
            s->pnl = s->worst = NAN;
            qa_stress_note(res, "reverse stress: a loss of %.4g%% of the value is not reachable", 100 * c->reverse_losses[q]);
            continue;
        }
        s->model_loss = -qa_stress_book_pnl_model(b, x, b->horizon_years, NULL);
        s->pnl = s->worst = qa_stress_book_pnl_full(b, x, b->horizon_years, s->pos);
        s->sigma_distance = have_l ? mahalanobis(l, n, x, tmp) : NAN;
        QA_TRY(set_moves(s, res->panel, b->cols, n, x));
    }
cleanup:
    QA_FREE_ALL(l, x, xn, g, sg, tmp);
    return st;
}
