/* Sweep driver: the chunk plan, chunk computation on the CPU or CUDA engine, the run
 * directory's manifest (config and input hashes), resume, Slurm-array parts, MPI
 * distribution (chunks dealt round-robin to ranks) and the final merge on rank 0. */
#include "pipeline/sweep/sweep_internal.h"

#include <math.h>    /* NAN */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc */
#include <string.h>  /* memset */
#include <time.h>    /* nanosleep for the chunk-delay testing aid */

#include "common/fs.h"       /* run directory, manifest */
#include "common/json.h"     /* manifest, resolved config */
#include "common/log.h"      /* progress lines */
#include "common/progress.h" /* evaluations/s and ETA */
#include "common/timer.h"    /* wall time */
#include "mpi/shard.h"       /* parts of the chunk list */
#include "pipeline/run/rundir.h" /* run.json, run.log */

void qa_sweep_opts_init(qa_sweep_opts *o) {
    memset(o, 0, sizeof *o);
    o->command = "sweep";
}

/* ---- plan -------------------------------------------------------------------------------- */

int qa_sweep_has_sets(const qa_sweep_cfg *c) { return c->strategy == QA_SWEEP_XS || c->portfolio || c->mt.enabled; }

qa_status qa_sweep_plan(const qa_sweep_cfg *c, qa_sweep_chunk **out, size_t *n) {
    const size_t S = c->nsym, P = c->nparams, cs = (size_t)c->chunk_symbols, cp = (size_t)c->chunk_params;
    const size_t nsb = (S + cs - 1) / cs, npb = (P + cp - 1) / cp;
    size_t total = 0;
    if (c->strategy != QA_SWEEP_XS) total += nsb * npb;
    if (qa_sweep_has_sets(c)) total += npb;
    if (c->wf.enabled) total += c->wf.nwin * (c->wf.per_portfolio ? 1 : nsb);
    qa_sweep_chunk *k = calloc(total ? total : 1, sizeof *k);
    if (!k) return QA_FAIL(QA_ERR_NOMEM, "chunk plan of %zu chunks", total);
    size_t i = 0;
    if (c->strategy != QA_SWEEP_XS)
        for (size_t pb = 0; pb < npb; pb++)
            for (size_t sb = 0; sb < nsb; sb++) {
                size_t s0 = sb * cs, p0 = pb * cp;
                k[i++] = (qa_sweep_chunk){QA_SWEEP_CHUNK_GRID, s0, S - s0 < cs ? S - s0 : cs, p0, P - p0 < cp ? P - p0 : cp, 0};
            }
    if (qa_sweep_has_sets(c))
        for (size_t pb = 0; pb < npb; pb++) {
            size_t p0 = pb * cp;
            k[i++] = (qa_sweep_chunk){QA_SWEEP_CHUNK_SET, 0, S, p0, P - p0 < cp ? P - p0 : cp, 0};
        }
    if (c->wf.enabled)
        for (size_t w = 0; w < c->wf.nwin; w++) {
            if (c->wf.per_portfolio) {
                k[i++] = (qa_sweep_chunk){QA_SWEEP_CHUNK_WF, 0, S, 0, P, w};
            } else {
                for (size_t sb = 0; sb < nsb; sb++) {
                    size_t s0 = sb * cs;
                    k[i++] = (qa_sweep_chunk){QA_SWEEP_CHUNK_WF, s0, S - s0 < cs ? S - s0 : cs, 0, P, w};
                }
            }
        }
    *out = k;
    *n = total;
    return QA_OK;
}

double qa_sweep_chunk_evals(const qa_sweep_cfg *c, const qa_sweep_chunk *k) {
    double L = (double)(c->t_end - c->t_begin);
    switch (k->kind) {
    case QA_SWEEP_CHUNK_GRID: return (double)k->ns * (double)k->np * L;
    case QA_SWEEP_CHUNK_SET: return (c->strategy == QA_SWEEP_XS ? 1.0 : (double)k->ns) * (double)k->np * L;
    case QA_SWEEP_CHUNK_WF: {
        double tr = (double)(c->wf.train_end[k->w] - c->wf.train_begin[k->w]);
        double te = (double)(c->wf.test_end[k->w] - c->wf.test_begin[k->w] + 1);
        double ns = c->strategy == QA_SWEEP_XS ? 1.0 : (double)k->ns;
        return ns * ((double)k->np * tr + te);
    }
    default: return 0;
    }
}

/* ---- chunk computation ------------------------------------------------------------------------ */

static int on_host(qa_backend_t *be) { return qa_backend_kind_of(be) == QA_BACKEND_CPU; }

/* Per-bar returns from an equity curve: R(0) = NaN (the base bar), R(j) = E(j)/E(j-1) - 1
 * (0 once ruined). */
static void equity_to_returns(const double *E, size_t L, double *R) {
    if (L) R[0] = NAN;
    for (size_t j = 1; j < L; j++) R[j] = E[j - 1] > 0.0 ? E[j] / E[j - 1] - 1.0 : 0.0;
}

static qa_status compute_grid(const qa_sweep_cfg *c, const qa_sweep_data *d, qa_backend_t *be, const qa_sweep_chunk *k,
                              qa_sweep_result *r) {
    qa_bt_data v = qa_sweep_data_view(d, k->s0, k->ns, c->t_begin, c->t_end, on_host(be));
    qa_bt_grid g = {(qa_bt_strategy)c->strategy, c->params + k->p0, k->np};
    qa_bt_metrics *m = malloc(QA_SWEEP_NZ(k->ns * k->np) * sizeof *m);
    r->rows = k->ns * k->np;
    r->cols = QA_SWEEP_NMETRICS;
    r->values = malloc((r->rows ? r->rows : 1) * r->cols * sizeof(double));
    qa_status st = QA_OK;
    if (!m || !r->values) QA_TRY_FAIL(QA_ERR_NOMEM, "chunk of %zu runs", r->rows);
    QA_TRY(qa_bt_run(be, &v, &g, &c->bt, m, NULL, 0));
    for (size_t i = 0; i < r->rows; i++) qa_sweep_metrics_to_row(&m[i], r->values + i * QA_SWEEP_NMETRICS);
cleanup:
    free(m);
    return st;
}

/* The xs settings of parameter set p. */
static qa_bt_xs_settings xs_of(const qa_sweep_cfg *c, const qa_bt_params *p) {
    qa_bt_xs_settings x = {(int)p->p[0], (int)p->p[1], p->p[2], p->p[3], c->bt.commission_bps + c->bt.half_spread_bps,
                           c->bt.bars_per_year};
    return x;
}

qa_status qa_sweep_set_series(const qa_sweep_cfg *c, const qa_sweep_data *d, qa_backend_t *be, size_t p0, size_t np,
                              size_t tb, size_t te, qa_bt_metrics *out, double *rets) {
    const size_t L = te - tb;
    qa_bt_data v = qa_sweep_data_view(d, 0, c->nsym, tb, te, on_host(be));
    double *eq = rets ? malloc(QA_SWEEP_NZ(np * L) * sizeof *eq) : NULL;
    qa_status st = QA_OK;
    if (rets && !eq) return QA_FAIL(QA_ERR_NOMEM, "equity of %zu sets x %zu bars", np, L);
    if (c->strategy == QA_SWEEP_XS) {
        for (size_t p = 0; p < np; p++) {
            qa_bt_xs_settings x = xs_of(c, &c->params[p0 + p]);
            QA_TRY(qa_bt_xs_topk(be, &v, &x, &out[p], eq ? eq + p * L : NULL));
        }
    } else {
        qa_bt_grid g = {(qa_bt_strategy)c->strategy, c->params + p0, np};
        QA_TRY(qa_bt_portfolio(be, &v, &g, &c->bt, &c->popts, out, eq));
    }
    if (rets)
        for (size_t p = 0; p < np; p++) equity_to_returns(eq + p * L, L, rets + p * L);
cleanup:
    free(eq);
    return st;
}

static qa_status compute_set(const qa_sweep_cfg *c, const qa_sweep_data *d, qa_backend_t *be, const qa_sweep_chunk *k,
                             qa_sweep_result *r) {
    const size_t L = c->t_end - c->t_begin;
    qa_bt_metrics *m = malloc((k->np ? k->np : 1) * sizeof *m);
    r->rows = k->np;
    r->cols = QA_SWEEP_NMETRICS;
    r->values = malloc((k->np ? k->np : 1) * QA_SWEEP_NMETRICS * sizeof(double));
    r->series_len = L;
    r->series = malloc(QA_SWEEP_NZ(k->np * L) * sizeof(double));
    qa_status st = QA_OK;
    if (!m || !r->values || !r->series) QA_TRY_FAIL(QA_ERR_NOMEM, "set chunk of %zu sets", k->np);
    QA_TRY(qa_sweep_set_series(c, d, be, k->p0, k->np, c->t_begin, c->t_end, m, r->series));
    for (size_t i = 0; i < k->np; i++) qa_sweep_metrics_to_row(&m[i], r->values + i * QA_SWEEP_NMETRICS);
cleanup:
    free(m);
    return st;
}

qa_status qa_sweep_compute(const qa_sweep_cfg *c, const qa_sweep_data *d, qa_backend_t *be, const qa_sweep_chunk *k,
                           qa_sweep_result *r) {
    memset(r, 0, sizeof *r);
    r->chunk = *k;
    uint64_t t0 = qa_time_ns();
    qa_status st;
    switch (k->kind) {
    case QA_SWEEP_CHUNK_GRID: st = compute_grid(c, d, be, k, r); break;
    case QA_SWEEP_CHUNK_SET: st = compute_set(c, d, be, k, r); break;
    case QA_SWEEP_CHUNK_WF: st = qa_sweep_compute_wf(c, d, be, k, r); break;
    default: st = QA_FAIL(QA_ERR_INVALID_ARG, "unknown chunk kind %d", (int)k->kind);
    }
    if (st == QA_OK && qa_backend_kind_of(be) == QA_BACKEND_CUDA) st = qa_backend_sync(be);
    r->seconds = qa_time_since(t0);
    r->evals = qa_sweep_chunk_evals(c, k);
    snprintf(r->engine, sizeof r->engine, "%s",
             qa_backend_kind_of(be) == QA_BACKEND_CUDA ? "cuda" : qa_backend_reference(be) ? "cpu-reference" : "cpu");
    if (st != QA_OK) qa_sweep_result_free(r);
    return st;
}

/* ---- run directory manifest ----------------------------------------------------------------------- */

/* Records the sweep (config hash, input hash, layout) in <run>/sweep.json, or checks that
 * an existing record matches: a run directory holds one sweep. */
static qa_status manifest_check(const qa_sweep_cfg *c, const char *input_hash, const char *run_dir, size_t nchunks,
                                int create) {
    char path[QA_PATH_MAX];
    qa_status st = qa_path_join(path, run_dir, "sweep.json");
    if (st != QA_OK) return st;
    if (qa_fs_exists(path)) {
        json_t *m = NULL;
        if ((st = qa_json_read_file(path, &m)) != QA_OK) return st;
        const char *fmt = json_string_value(json_object_get(m, "format"));
        const char *ch = json_string_value(json_object_get(m, "config_hash"));
        const char *ih = json_string_value(json_object_get(m, "input_hash"));
        if (!fmt || strcmp(fmt, QA_SWEEP_RUN_FORMAT) != 0)
            st = QA_FAIL(QA_ERR_FORMAT, "%s is not a sweep manifest", path);
        else if (!ch || strcmp(ch, c->config_hash) != 0)
            st = QA_FAIL(QA_ERR_CONFIG,
                         "run directory %s holds a sweep of another configuration (config hash %.12s, this config "
                         "%.12s): use a new --run-dir, or the original configuration to resume",
                         run_dir, ch ? ch : "?", c->config_hash);
        else if (!ih || strcmp(ih, input_hash) != 0)
            st = QA_FAIL(QA_ERR_CONFIG,
                         "run directory %s holds a sweep of other market data (input hash %.12s, now %.12s): the "
                         "data changed since it started; use a new --run-dir",
                         run_dir, ih ? ih : "?", input_hash);
        json_decref(m);
        return st;
    }
    if (!create) return QA_FAIL(QA_ERR_NOT_FOUND, "%s: no sweep was started in this run directory", run_dir);
    char now[40];
    qa_time_utc_iso(now, sizeof now);
    json_t *m = json_object();
    json_object_set_new(m, "format", json_string(QA_SWEEP_RUN_FORMAT));
    json_object_set_new(m, "format_version", json_integer(QA_SWEEP_FORMAT_VERSION));
    json_object_set_new(m, "config_hash", json_string(c->config_hash));
    json_object_set_new(m, "input_hash", json_string(input_hash));
    json_object_set_new(m, "code", json_string(QA_SWEEP_CODE_VERSION));
    json_object_set_new(m, "strategy", json_string(qa_sweep_strategy_name(c->strategy)));
    json_object_set_new(m, "symbols", json_integer((json_int_t)c->nsym));
    json_object_set_new(m, "params", json_integer((json_int_t)c->nparams));
    json_object_set_new(m, "chunks", json_integer((json_int_t)nchunks));
    json_object_set_new(m, "created", json_string(now));
    st = qa_json_write_file(m, path);
    json_decref(m);
    return st;
}

static qa_status prepare_dirs(const char *run_dir) {
    char p[QA_PATH_MAX];
    qa_status st = qa_path_join(p, run_dir, "chunks");
    if (st == QA_OK) st = qa_fs_mkdirs(p);
    return st;
}

/* ---- the run --------------------------------------------------------------------------------------------- */


static void fill_layout(const qa_sweep_cfg *c, size_t nchunks, qa_sweep_report *rep) {
    rep->symbols = c->nsym;
    rep->params = c->nparams;
    rep->bars = c->t_end - c->t_begin;
    rep->chunks = nchunks;
    snprintf(rep->config_hash, sizeof rep->config_hash, "%s", c->config_hash);
}

qa_status qa_sweep_check(const qa_cfg_t *doc, const qa_sweep_opts *o, qa_sweep_report *rep) {
    memset(rep, 0, sizeof *rep);
    qa_sweep_cfg c;
    qa_status st = qa_sweep_cfg_load(doc, o, &c);
    if (st != QA_OK) return st;
    qa_sweep_chunk *plan = NULL;
    size_t n = 0;
    st = qa_sweep_plan(&c, &plan, &n);
    if (st == QA_OK) fill_layout(&c, n, rep);
    free(plan);
    qa_sweep_cfg_free(&c);
    return st;
}

/* Chunks of the sweep not finished in the run directory; names the first few (and their
 * parts) in the error. */
static qa_status check_complete(const qa_sweep_cfg *c, const char *input_hash, const char *run_dir, size_t nchunks,
                                int parts, size_t *missing_out) {
    size_t missing = 0;
    char list[512] = "";
    for (size_t i = 0; i < nchunks; i++) {
        char path[QA_PATH_MAX];
        qa_status st = qa_sweep_chunk_path(run_dir, i, path);
        if (st != QA_OK) return st;
        if (qa_sweep_chunk_done(path, c, input_hash)) continue;
        if (missing < 8) {
            size_t u = strlen(list);
            if (parts > 0)
                snprintf(list + u, sizeof list - u, "%s%zu (part %d/%d)", missing ? ", " : "", i,
                         qa_shard_owner(nchunks, parts, i), parts);
            else
                snprintf(list + u, sizeof list - u, "%s%zu", missing ? ", " : "", i);
        }
        missing++;
    }
    *missing_out = missing;
    if (missing)
        return QA_FAIL(QA_ERR_STATE, "%s: %zu of %zu chunks are missing (%s%s): run the sweep (or those parts) again "
                       "with this run directory, then merge",
                       run_dir, missing, nchunks, list, missing > 8 ? ", ..." : "");
    return QA_OK;
}

/* One `qa sweep` process: the configuration, its chunk plan, the data, the engine and the
 * run directory, with this process's share of the chunks. */
typedef struct sweep_run {
    const qa_cfg_t *doc;
    const qa_sweep_opts *o;
    const qa_comm_t *comm;
    int rank, size, part_mode;
    qa_sweep_report *rep;
    qa_sweep_cfg c;
    qa_sweep_data d;
    qa_backend_t *be;
    qa_sweep_chunk *plan;
    size_t nplan;
    qa_shard range;      /* the part's chunks (all of them without --chunk) */
    qa_rundir rd;
    int log_open;
    qa_progress_t *prog;
    int64_t counts[4];   /* computed, skipped, stopped, signalled */
    double evals;
} sweep_run;

static void run_free(sweep_run *s) {
    if (s->log_open) qa_log_close_file();
    qa_progress_free(s->prog);
    free(s->plan);
    qa_sweep_data_free(&s->d);
    qa_backend_free(s->be);
    qa_sweep_cfg_free(&s->c);
}

/* The configuration, its plan, the engine (threads shared by the ranks of a node) and the
 * data with its hash, agreed by every rank. */
static qa_status run_setup(sweep_run *s) {
    const qa_sweep_opts *o = s->o;
    QA_TRY_RET(qa_comm_agree(s->comm, qa_sweep_cfg_load(s->doc, o, &s->c)));
    qa_status st = qa_sweep_plan(&s->c, &s->plan, &s->nplan);
    if (st == QA_OK) {
        int device = qa_comm_device(s->comm) >= 0 ? qa_comm_device(s->comm) : 0;
        st = qa_backend_create_named(s->c.backend, device, &s->be);
    }
    if (st == QA_OK) {
        int local = qa_comm_local_size(s->comm);
        int threads = o->threads > 0 ? o->threads : qa_backend_threads(s->be) / (local > 0 ? local : 1);
        qa_backend_set_threads(s->be, threads > 0 ? threads : 1);
        qa_backend_set_reference(s->be, o->reference);
        snprintf(s->rep->backend, sizeof s->rep->backend, "%s", qa_backend_name(qa_backend_kind_of(s->be)));
        st = qa_sweep_data_load(&s->c, s->be, s->rank == 0, &s->d);
    }
    QA_TRY_RET(qa_comm_agree(s->comm, st));
    QA_TRY_RET(qa_comm_bcast(s->comm, s->d.input_hash, sizeof s->d.input_hash, 0));
    fill_layout(&s->c, s->nplan, s->rep);
    return QA_OK;
}

/* The run directory: one manifest per sweep; a full run also gets run.json and run.log, a
 * Slurm-array part its own log under logs/. */
static qa_status run_open_dir(sweep_run *s) {
    const qa_sweep_opts *o = s->o;
    qa_status st = QA_OK;
    if (!s->part_mode) {
        QA_TRY_RET(qa_rundir_open(&s->rd, o->run_dir, s->comm, o->command ? o->command : "sweep", o->argc, o->argv));
    } else if (s->rank == 0) {
        char logp[QA_PATH_MAX];
        st = qa_path_join(logp, o->run_dir, "logs");
        if (st == QA_OK) st = qa_fs_mkdirs(logp);
        if (st == QA_OK) st = qa_path_join(logp, o->run_dir, "logs/part-%04d-of-%04d.log", o->part, o->parts);
        if (st == QA_OK) {
            st = qa_log_open_file(logp);
            s->log_open = st == QA_OK;
        }
    }
    if (s->rank == 0 && st == QA_OK) st = prepare_dirs(o->run_dir);
    if (s->rank == 0 && st == QA_OK) st = manifest_check(&s->c, s->d.input_hash, o->run_dir, s->nplan, 1);
    if (s->rank == 0 && st == QA_OK && !s->part_mode)
        st = qa_rundir_write_json(&s->rd, "config.resolved.json", s->c.resolved);
    return qa_comm_agree(s->comm, st);
}

/* This process's chunks: the part's contiguous range, dealt round-robin to ranks. `i` names the
 * loop variable, a declarator, which cannot be parenthesised. */
#define FOR_MY_CHUNKS(s, i) for (size_t i = (s)->range.begin + (size_t)(s)->rank; i < (s)->range.end; i += (size_t)(s)->size) /* NOLINT(bugprone-macro-parentheses) */

static qa_status run_announce(sweep_run *s) {
    const qa_sweep_opts *o = s->o;
    const qa_sweep_cfg *c = &s->c;
    qa_status st = QA_OK;
    s->range = s->part_mode ? qa_shard_block(s->nplan, o->parts, o->part) : qa_shard_block(s->nplan, 1, 0);
    double my_evals = 0;
    FOR_MY_CHUNKS(s, i) my_evals += qa_sweep_chunk_evals(c, &s->plan[i]);
    if (s->rank == 0) {
        qa_log_info("sweep %.12s: %s, %zu symbols x %zu parameter sets x %zu bars, %zu chunks on %s, %d rank(s)",
                    c->config_hash, qa_sweep_strategy_name(c->strategy), c->nsym, c->nparams, c->t_end - c->t_begin,
                    s->nplan, s->rep->backend, s->size);
        if (s->part_mode)
            qa_log_info("part %d/%d: chunks %zu..%zu of %zu", o->part, o->parts, s->range.begin,
                        s->range.end ? s->range.end - 1 : 0, s->nplan);
        st = qa_progress_create("sweep", (uint64_t)(my_evals * s->size), "evals", QA_PROGRESS_AUTO, NULL, &s->prog);
    }
    return qa_comm_agree(s->comm, st);
}

static const char *chunk_kind_name(const qa_sweep_chunk *k) {
    return k->kind == QA_SWEEP_CHUNK_GRID ? "grid" : k->kind == QA_SWEEP_CHUNK_SET ? "sets" : "walk-forward";
}

/* Computes and writes chunk i. */
static qa_status run_chunk(sweep_run *s, size_t i, const char *path) {
    qa_sweep_result r;
    qa_status st = qa_sweep_compute(&s->c, &s->d, s->be, &s->plan[i], &r);
    if (st != QA_OK) {
        qa_err_prefix("chunk %zu: ", i);
        return st;
    }
    st = qa_sweep_chunk_write(path, &s->c, s->d.input_hash, i, &r);
    qa_log_debug("chunk %zu (%s) done in %.3f s", i, chunk_kind_name(&s->plan[i]), r.seconds);
    s->evals += r.evals;
    qa_sweep_result_free(&r);
    return st;
}

/* The chunk loop: finished chunks are skipped (resume); a stop request (signal) or
 * --max-chunks ends it between chunks. */
static qa_status run_chunks(sweep_run *s) {
    const qa_sweep_opts *o = s->o;
    qa_sweep_report *rep = s->rep;
    qa_status st = QA_OK;
    uint64_t t_chunks = qa_time_ns();
    FOR_MY_CHUNKS(s, i) {
        char path[QA_PATH_MAX];
        if ((st = qa_sweep_chunk_path(o->run_dir, i, path)) != QA_OK) break;
        if (qa_sweep_chunk_done(path, &s->c, s->d.input_hash)) {
            s->counts[1]++;
            qa_progress_add(s->prog, (uint64_t)(qa_sweep_chunk_evals(&s->c, &s->plan[i]) * s->size));
            continue;
        }
        if (o->stop && *o->stop) {
            s->counts[2] = s->counts[3] = 1;
            break;
        }
        if (o->max_chunks > 0 && s->counts[0] >= o->max_chunks) {
            s->counts[2] = 1;
            break;
        }
        if ((st = run_chunk(s, i, path)) != QA_OK) break;
        s->counts[0]++;
        qa_progress_add(s->prog, (uint64_t)(qa_sweep_chunk_evals(&s->c, &s->plan[i]) * s->size));
        if (o->chunk_delay_ms > 0) {
            struct timespec pause = {o->chunk_delay_ms / 1000, (o->chunk_delay_ms % 1000) * 1000000L};
            nanosleep(&pause, NULL); /* a signal cuts the pause short; the loop then stops */
        }
    }
    QA_TRY_RET(qa_comm_agree(s->comm, st));
    QA_TRY_RET(qa_comm_allreduce_sum_i64(s->comm, s->counts, 2));
    QA_TRY_RET(qa_comm_allreduce_max_i64(s->comm, s->counts + 2, 2));
    QA_TRY_RET(qa_comm_allreduce_sum_f64(s->comm, &s->evals, 1));
    qa_progress_finish(s->prog);
    rep->computed = (size_t)s->counts[0];
    rep->skipped = (size_t)s->counts[1];
    rep->stopped = s->counts[2] != 0;
    rep->evaluations = s->evals;
    rep->compute_seconds = qa_time_since(t_chunks);
    rep->evals_per_s = rep->compute_seconds > 0 ? s->evals / rep->compute_seconds : 0;
    if (s->rank == 0)
        qa_log_info("chunks: %zu computed, %zu already done, %.4g evaluations in %.3f s (%.4g evals/s)", rep->computed,
                    rep->skipped, s->evals, rep->compute_seconds, rep->evals_per_s);
    if (s->counts[3])
        return QA_FAIL(QA_ERR_INTERRUPTED, "sweep stopped by a signal after %zu chunk(s); run it again with --run-dir %s "
                       "to resume", rep->computed, o->run_dir);
    return QA_OK;
}

/* A part's record, logs/part-<i>-of-<n>.json, which the merge sums. */
static qa_status write_part_record(const sweep_run *s) {
    const qa_sweep_opts *o = s->o;
    const qa_sweep_report *rep = s->rep;
    char p[QA_PATH_MAX];
    QA_TRY_RET(qa_path_join(p, o->run_dir, "logs/part-%04d-of-%04d.json", o->part, o->parts));
    json_t *pj = json_object();
    json_object_set_new(pj, "part", json_integer(o->part));
    json_object_set_new(pj, "parts", json_integer(o->parts));
    json_object_set_new(pj, "first_chunk", json_integer((json_int_t)s->range.begin));
    json_object_set_new(pj, "end_chunk", json_integer((json_int_t)s->range.end));
    json_object_set_new(pj, "computed", json_integer((json_int_t)rep->computed));
    json_object_set_new(pj, "skipped", json_integer((json_int_t)rep->skipped));
    json_object_set_new(pj, "stopped", json_boolean(rep->stopped));
    json_object_set_new(pj, "evaluations", json_real(s->evals));
    json_object_set_new(pj, "compute_s", json_real(rep->compute_seconds));
    json_object_set_new(pj, "ranks", json_integer(s->size));
    json_object_set_new(pj, "backend", json_string(rep->backend));
    qa_status st = qa_json_write_file(pj, p);
    json_decref(pj);
    return st;
}

/* Merge on rank 0 when every chunk is done; the others wait for its verdict. */
static qa_status run_merge(sweep_run *s) {
    qa_sweep_report *rep = s->rep;
    qa_status st = QA_OK;
    if (s->rank == 0) {
        json_t *timing = json_object();
        json_object_set_new(timing, "compute_s", json_real(rep->compute_seconds));
        json_object_set_new(timing, "evaluations", json_real(s->evals));
        json_object_set_new(timing, "evals_per_s", json_real(rep->evals_per_s));
        json_object_set_new(timing, "ranks", json_integer(s->size));
        json_object_set_new(timing, "chunks_computed", json_integer((json_int_t)rep->computed));
        json_object_set_new(timing, "chunks_skipped", json_integer((json_int_t)rep->skipped));
        json_object_set_new(timing, "backend", json_string(rep->backend));
        st = check_complete(&s->c, s->d.input_hash, s->o->run_dir, s->nplan, 0, &rep->missing);
        uint64_t tm = qa_time_ns();
        if (st == QA_OK) st = qa_sweep_merge_run(&s->c, &s->d, s->o->run_dir, rep, timing);
        rep->merge_seconds = qa_time_since(tm);
        json_decref(timing);
    }
    st = qa_comm_agree(s->comm, st);
    if (st == QA_OK) rep->merged = 1;
    return st;
}

static qa_status run_steps(sweep_run *s) {
    const qa_sweep_opts *o = s->o;
    QA_TRY_RET(run_setup(s));
    QA_TRY_RET(run_open_dir(s));
    QA_TRY_RET(run_announce(s));
    QA_TRY_RET(run_chunks(s));
    if (!s->rep->stopped && !s->part_mode) return run_merge(s);
    if (s->rank == 0 && s->rep->stopped)
        qa_log_info("stopped after %zu chunk(s) (--max-chunks); run again with --run-dir %s to resume", s->rep->computed,
                    o->run_dir);
    return qa_comm_agree(s->comm, s->rank == 0 && s->part_mode ? write_part_record(s) : QA_OK);
}

qa_status qa_sweep_run(const qa_cfg_t *doc, const qa_sweep_opts *o, const qa_comm_t *comm, qa_sweep_report *rep) {
    memset(rep, 0, sizeof *rep);
    const uint64_t t_start = qa_time_ns();
    if (!o->run_dir || !*o->run_dir) return QA_FAIL(QA_ERR_CONFIG, "sweep: no run directory (--run-dir)");
    if (o->parts > 0 && (o->part < 0 || o->part >= o->parts))
        return QA_FAIL(QA_ERR_INVALID_ARG, "--chunk %d/%d: the part must lie in 0..%d", o->part, o->parts, o->parts - 1);
    sweep_run *s = calloc(1, sizeof *s);
    if (!s) return QA_FAIL(QA_ERR_NOMEM, "sweep run");
    s->o = o;
    s->doc = doc;
    s->comm = comm;
    s->rank = qa_comm_rank(comm);
    s->size = qa_comm_size(comm);
    s->part_mode = o->parts > 0;
    s->rep = rep;
    qa_status st = run_steps(s);
    rep->seconds = qa_time_since(t_start);
    if (s->rd.run) {
        qa_rundir_note(&s->rd, "config_hash", json_string(s->c.config_hash[0] ? s->c.config_hash : ""));
        qa_rundir_note(&s->rd, "chunks_computed", json_integer((json_int_t)rep->computed));
        qa_rundir_note(&s->rd, "chunks_skipped", json_integer((json_int_t)rep->skipped));
        qa_rundir_note(&s->rd, "evals_per_s", json_real(rep->evals_per_s));
        qa_status cs = qa_rundir_close(&s->rd, st);
        if (st == QA_OK) st = cs;
    }
    run_free(s);
    free(s);
    return st;
}

qa_status qa_sweep_merge(const qa_cfg_t *doc, const qa_sweep_opts *o, qa_sweep_report *rep) {
    memset(rep, 0, sizeof *rep);
    const uint64_t t_start = qa_time_ns();
    qa_sweep_cfg c;
    qa_sweep_data d;
    memset(&d, 0, sizeof d);
    qa_sweep_chunk *plan = NULL;
    size_t nplan = 0;
    qa_rundir rd;
    memset(&rd, 0, sizeof rd);
    json_t *timing = NULL;
    if (!o->run_dir || !*o->run_dir) return QA_FAIL(QA_ERR_CONFIG, "sweep merge: no run directory (--run-dir)");
    qa_status st = qa_sweep_cfg_load(doc, o, &c);
    if (st != QA_OK) return st;
    QA_TRY(qa_sweep_plan(&c, &plan, &nplan));
    fill_layout(&c, nplan, rep);
    snprintf(rep->backend, sizeof rep->backend, "cpu");
    QA_TRY(qa_sweep_data_load(&c, NULL, 1, &d));
    QA_TRY(manifest_check(&c, d.input_hash, o->run_dir, nplan, 0));
    if (o->expect_parts > 0 && (size_t)o->expect_parts > nplan)
        qa_log_warn("merge: %d parts for %zu chunks: parts beyond %zu were empty", o->expect_parts, nplan, nplan);
    QA_TRY(check_complete(&c, d.input_hash, o->run_dir, nplan, o->expect_parts, &rep->missing));
    QA_TRY(qa_rundir_open(&rd, o->run_dir, NULL, o->command ? o->command : "sweep merge", o->argc, o->argv));
    QA_TRY(qa_rundir_write_json(&rd, "config.resolved.json", c.resolved));
    /* Timings of the parts, summed from their records (logs/part-*.json). */
    timing = json_object();
    double compute = 0, evals = 0;
    for (int p = 0; o->expect_parts > 0 && p < o->expect_parts; p++) {
        char path[QA_PATH_MAX];
        json_t *pj = NULL;
        if (qa_path_join(path, o->run_dir, "logs/part-%04d-of-%04d.json", p, o->expect_parts) == QA_OK &&
            qa_fs_exists(path) && qa_json_read_file(path, &pj) == QA_OK) {
            compute += json_number_value(json_object_get(pj, "compute_s"));
            evals += json_number_value(json_object_get(pj, "evaluations"));
        }
        json_decref(pj);
    }
    json_object_set_new(timing, "parts", json_integer(o->expect_parts));
    json_object_set_new(timing, "compute_s_sum_of_parts", json_real(compute));
    json_object_set_new(timing, "evaluations", json_real(evals));
    json_object_set_new(timing, "evals_per_s", json_real(compute > 0 ? evals / compute : 0));
    json_object_set_new(timing, "backend", json_string("merge"));
    rep->evaluations = evals;
    {
        uint64_t tm = qa_time_ns();
        st = qa_sweep_merge_run(&c, &d, o->run_dir, rep, timing);
        rep->merge_seconds = qa_time_since(tm);
    }
    if (st == QA_OK) rep->merged = 1;
cleanup:
    rep->seconds = qa_time_since(t_start);
    if (rd.run) {
        qa_status cs = qa_rundir_close(&rd, st);
        if (st == QA_OK) st = cs;
    }
    json_decref(timing);
    free(plan);
    qa_sweep_data_free(&d);
    qa_sweep_cfg_free(&c);
    return st;
}
