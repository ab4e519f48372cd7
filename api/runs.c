/* qa serve: run-directory handlers. Pure functions of the request: they read run
 * directories through their documented formats (docs/sweep.md, docs/training.md,
 * docs/risk.md, docs/rl.md) and never write. Large datasets are read by hyperslab, so a
 * request's memory is what its answer holds (a heat map: O(sets), never symbols x sets). */
#include <dirent.h>    /* opendir: listing run roots and run files */
#include <errno.h>     /* ENOENT for missing roots and files */
#include <math.h>      /* NAN, isnan */
#include <stdint.h>    /* int64_t */
#include <stdio.h>     /* FILE, getline */
#include <stdlib.h>    /* malloc, qsort */
#include <string.h>    /* strcmp, strerror */
#include <sys/stat.h>  /* stat: directories, sizes, mtimes */
#include <time.h>      /* gmtime_r: ISO start times */

#include <hdf5.h>  /* results.h5 reads */

#include "api/runs.h"
#include "common/fs.h"         /* qa_path_join, qa_fs_exists */
#include "common/json.h"       /* qa_json_read_file, qa_json_real */
#include "common/strlist.h"    /* name lists */
#include "datasets/h5.h"       /* QA_H5_TRY, attribute readers */

#define RUNS_MAX_LIMIT 1000     /* runs per page */
#define TOP_MAX 1000            /* rows of /top (the merge keeps at most `top` anyway) */
#define CURVES_MAX_LINES 100000 /* metrics.jsonl lines one answer may carry */

/* ---- small helpers ------------------------------------------------------------------- */

static const char *q(const qa_api_req *req, const char *name) { return req->query ? req->query(req, name) : NULL; }

/* "2026-11-24T07:00:31Z" from Unix seconds; null JSON for NaN (unknown). */
static json_t *iso_json(double unix_s) {
    if (isnan(unix_s)) return json_null();
    time_t t = (time_t)unix_s;
    struct tm tm;
    char buf[32];
    if (!gmtime_r(&t, &tm) || !strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm)) return json_null();
    return json_string(buf);
}

/* Case-insensitive substring test for ?q= (ASCII folding is enough for run ids and titles). */
static int ci_contains(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    if (n == 0) return 1;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && (hay[i] | 0x20) == (needle[i] | 0x20)) i++;
        if (i == n) return 1;
    }
    return 0;
}

static double num_or_nan(const json_t *j) { return json_is_number(j) ? json_number_value(j) : NAN; }

/* Copies a borrowed member (or null) into an object under `key`. */
static void copy_member(json_t *dst, const char *key, json_t *v) {
    json_object_set_new(dst, key, v ? json_incref(v) : json_null());
}

qa_status qa_apiruns_locate(const qa_api_ctx *ctx, const char *id, char *dir) {
    QA_TRY_RET(qa_api_safe_name(id, "run id"));
    for (size_t r = 0; r < ctx->nruns && r < QA_API_MAX_ROOTS; r++) {
        if (!ctx->runs[r][0]) continue;
        char p[QA_PATH_MAX];
        QA_TRY_RET(qa_path_join(p, ctx->runs[r], "%s", id));
        if (qa_fs_is_dir(p)) {
            memcpy(dir, p, strlen(p) + 1);
            return QA_OK;
        }
    }
    if (ctx->nruns == 0) return QA_FAIL(QA_ERR_NOT_FOUND, "run '%s': no runs folder is configured", id);
    return QA_FAIL(QA_ERR_NOT_FOUND, "run '%s' not found under the %zu runs folder(s)", id, ctx->nruns);
}

/* The run id of path parameter 0, located. */
static qa_status run_param(const qa_api_req *req, char *dir, const char **id) {
    *id = req->nparams > 0 ? req->params[0] : NULL;
    if (!*id) return QA_FAIL(QA_ERR_INVALID_ARG, "run id: missing from the path");
    return qa_apiruns_locate(req->ctx, *id, dir);
}

/* Reads <dir>/<name> as JSON into *out; *out = NULL when the file does not exist. */
static qa_status read_json_opt(const char *dir, const char *name, json_t **out) {
    char p[QA_PATH_MAX];
    *out = NULL;
    QA_TRY_RET(qa_path_join(p, dir, "%s", name));
    if (!qa_fs_exists(p)) return QA_OK;
    return qa_json_read_file(p, out);
}

/* ---- run kind, status, title, headline --------------------------------------------- */

/* Kind from run.json's "command" (pipeline/run/rundir.c writes the command name). */
static void kind_from_command(const char *cmd, char *kind, size_t size) {
    static const struct { const char *cmd, *kind; } map[] = {
        {"sweep", "sweep"},  {"sweep merge", "sweep"},      {"sweep walkforward", "sweep"},
        {"train", "train"},  {"stress", "stress"},          {"stress backtest", "stress-backtest"},
        {"rl train", "rl"},  {"rl eval", "rl-eval"},        {"simulate", "simulate"},
        {"alt study", "alt-study"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(cmd, map[i].cmd) == 0) {
            snprintf(kind, size, "%s", map[i].kind);
            return;
        }
    /* A command added later: its name, words joined by '-'. */
    snprintf(kind, size, "%s", cmd);
    for (char *c = kind; *c; c++)
        if (*c == ' ') *c = '-';
}

/* Kind from the format attribute of results.h5 ("quantumalpha.sweep" -> "sweep"); "" when
 * the file is absent or foreign. */
static void kind_from_results(const char *dir, char *kind, size_t size) {
    char p[QA_PATH_MAX], fmt[64] = "";
    kind[0] = '\0';
    if (qa_path_join(p, dir, "results.h5") != QA_OK || !qa_fs_exists(p)) return;
    qa_h5_quiet();
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    if (qa_h5_attr_get_str(f, NULL, "format", fmt, sizeof fmt) == QA_OK) {
        if (strcmp(fmt, "quantumalpha.sweep") == 0) snprintf(kind, size, "sweep");
        else if (strcmp(fmt, "quantumalpha.stress") == 0) snprintf(kind, size, "stress");
    }
    H5Fclose(f);
    qa_err_clear();
}

/* A short human description from the summary (and config) of a run of `kind`. */
static json_t *make_title(const char *kind, const json_t *summary, const json_t *config, const char *id) {
    char buf[256];
    if (strcmp(kind, "sweep") == 0 && summary) {
        const char *strat = json_string_value(json_object_get(summary, "strategy"));
        json_t *c = json_object_get(summary, "counts");
        snprintf(buf, sizeof buf, "%s: %lld symbols x %lld sets, %s to %s", strat ? strat : "sweep",
                 (long long)json_integer_value(json_object_get(c, "symbols")),
                 (long long)json_integer_value(json_object_get(c, "params")),
                 json_string_value(json_object_get(summary, "start")) ? json_string_value(json_object_get(summary, "start")) : "?",
                 json_string_value(json_object_get(summary, "end")) ? json_string_value(json_object_get(summary, "end")) : "?");
        return json_string(buf);
    }
    if (strcmp(kind, "train") == 0 && summary) {
        json_t *m = json_object_get(summary, "model");
        const char *type = json_string_value(json_object_get(m, "type"));
        const char *target = json_string_value(json_object_get(m, "target"));
        snprintf(buf, sizeof buf, "%s on %lld inputs, %s over %lld bars", type ? type : "model",
                 (long long)json_integer_value(json_object_get(m, "inputs")), target ? target : "target",
                 (long long)json_integer_value(json_object_get(m, "horizon")));
        return json_string(buf);
    }
    if (strcmp(kind, "stress") == 0 && summary) {
        json_t *p = json_object_get(summary, "portfolio");
        const char *name = json_string_value(json_object_get(p, "name"));
        const char *date = json_string_value(json_object_get(summary, "valuation_date"));
        snprintf(buf, sizeof buf, "%s (%lld positions) on %s", name ? name : "portfolio",
                 (long long)json_integer_value(json_object_get(p, "positions")), date ? date : "?");
        return json_string(buf);
    }
    if (strcmp(kind, "rl") == 0) {
        const char *ek = json_string_value(qa_json_path(config, "env.kind"));
        const char *ea = json_string_value(qa_json_path(config, "env.action"));
        snprintf(buf, sizeof buf, "PPO, %s env, %s actions", ek ? ek : "single", ea ? ea : "discrete");
        return json_string(buf);
    }
    return json_string(id);
}

/* A few key figures per kind; {} when the summary is missing. */
static json_t *make_headline(const char *kind, const json_t *s) {
    json_t *h = json_object();
    if (!s) return h;
    if (strcmp(kind, "sweep") == 0) {
        copy_member(h, "rank_by", json_object_get(s, "rank_by"));
        json_t *b = json_array_get(json_object_get(s, "best_runs"), 0);
        copy_member(h, "best_value", json_object_get(b, "value"));
        copy_member(h, "best_symbol", json_object_get(b, "symbol"));
        copy_member(h, "best_params", json_object_get(b, "params"));
        json_t *bs = json_array_get(qa_json_path(s, "best_sets.sets"), 0);
        copy_member(h, "best_set_value", json_object_get(bs, "value"));
        copy_member(h, "runs", qa_json_path(s, "counts.runs"));
    } else if (strcmp(kind, "train") == 0) {
        copy_member(h, "best_val_loss", qa_json_path(s, "training.best_val_loss"));
        copy_member(h, "test_ic", qa_json_path(s, "evaluation.test.ic.mean"));
        copy_member(h, "test_rank_ic", qa_json_path(s, "evaluation.test.rank_ic.mean"));
        copy_member(h, "steps", qa_json_path(s, "training.steps"));
        copy_member(h, "stop_reason", qa_json_path(s, "training.stop_reason"));
    } else if (strcmp(kind, "stress") == 0) {
        /* VaR/ES of the limits' method (else the first) at the highest level. */
        json_t *measures = json_object_get(s, "measures");
        const char *method = json_string_value(json_object_get(s, "limits_method"));
        if (!method || !json_object_get(measures, method)) {
            void *it = json_object_iter(measures);
            method = it ? json_object_iter_key(it) : NULL;
        }
        json_t *levels = json_object_get(s, "levels");
        double top = -1;
        for (size_t i = 0; i < json_array_size(levels); i++)
            if (num_or_nan(json_array_get(levels, i)) > top) top = num_or_nan(json_array_get(levels, i));
        if (method && top > 0) {
            json_t *m = json_object_get(measures, method);
            char key[32];
            /* summary.json keys levels by their shortest text ("0.99", "0.975"). */
            snprintf(key, sizeof key, "%.15g", top);
            json_object_set_new(h, "method", json_string(method));
            json_object_set_new(h, "level", json_real(top));
            copy_member(h, "var", json_object_get(json_object_get(m, "var"), key));
            copy_member(h, "es", json_object_get(json_object_get(m, "es"), key));
            copy_member(h, "var_fraction", json_object_get(json_object_get(m, "var_fraction"), key));
        }
        copy_member(h, "breaches", json_object_get(s, "breaches"));
        copy_member(h, "warnings", json_object_get(s, "warnings"));
    } else if (strcmp(kind, "rl") == 0) {
        copy_member(h, "best_val_reward_per_step", json_object_get(s, "best_val_reward_per_step"));
        copy_member(h, "test_sharpe", json_object_get(s, "test_sharpe"));
        copy_member(h, "test_total_return", json_object_get(s, "test_total_return"));
        copy_member(h, "updates", json_object_get(s, "updates"));
    }
    return h;
}

typedef struct run_entry {
    double start;  /* Unix seconds for ordering (directory mtime when unknown) */
    json_t *item;  /* the list entry */
    char kind[32];
} run_entry;

/* Describes run directory `dir` (id `id`) as a list entry. Returns 0 when the folder is
 * not a run (no run.json, summary.json, results.h5, job.json or run.log), 1 otherwise;
 * a run whose files cannot be read is described as "damaged" with the error text. */
static int describe_run(const char *dir, const char *id, run_entry *e) {
    static const char *markers[] = {"run.json", "summary.json", "results.h5", "job.json", "run.log"};
    int is_run = 0, has[5] = {0};
    for (size_t i = 0; i < 5; i++) {
        char p[QA_PATH_MAX];
        if (qa_path_join(p, dir, "%s", markers[i]) == QA_OK && qa_fs_exists(p)) has[i] = is_run = 1;
    }
    if (!is_run) return 0;
    json_t *run = NULL, *summary = NULL, *job = NULL, *config = NULL;
    char err[512] = "";
    if (read_json_opt(dir, "run.json", &run) != QA_OK) snprintf(err, sizeof err, "%s", qa_err_msg());
    if (read_json_opt(dir, "summary.json", &summary) != QA_OK && !err[0]) snprintf(err, sizeof err, "%s", qa_err_msg());
    if (read_json_opt(dir, "job.json", &job) != QA_OK && !err[0]) snprintf(err, sizeof err, "%s", qa_err_msg());
    e->kind[0] = '\0';
    const char *cmd = json_string_value(json_object_get(run, "command"));
    if (cmd) kind_from_command(cmd, e->kind, sizeof e->kind);
    else if (json_string_value(json_object_get(job, "kind")))
        snprintf(e->kind, sizeof e->kind, "%s", json_string_value(json_object_get(job, "kind")));
    else if (json_is_string(json_object_get(summary, "format")) &&
             strcmp(json_string_value(json_object_get(summary, "format")), "quantumalpha.sweep-summary") == 0)
        snprintf(e->kind, sizeof e->kind, "sweep");
    else if (has[2])
        kind_from_results(dir, e->kind, sizeof e->kind);
    /* Outputs of commands that write no run.json (qa tca) say what they are in their
     * summary's format, "quantumalpha.<kind>". */
    const char *sfmt = json_string_value(json_object_get(summary, "format"));
    if (!e->kind[0] && sfmt && strncmp(sfmt, "quantumalpha.", 13) == 0 && sfmt[13])
        snprintf(e->kind, sizeof e->kind, "%s", sfmt + 13);
    if (!e->kind[0]) snprintf(e->kind, sizeof e->kind, "unknown");
    if (strcmp(e->kind, "rl") == 0) {
        /* The title says which environment: the resolved config has it. */
        if (read_json_opt(dir, "config.resolved.json", &config) != QA_OK) qa_err_clear();
    }

    const char *status = "unknown";
    if (err[0]) status = "damaged";
    else if (run) {
        const char *s = json_string_value(json_object_get(run, "status"));
        status = !s ? "unknown" : strcmp(s, "ok") == 0 ? "ok" : strcmp(s, "QA_ERR_INTERRUPTED") == 0 ? "interrupted" : "error";
    } else if (has[3] || has[4])
        status = "running"; /* run.json is written when the command ends */
    else if (sfmt && !job)
        status = "ok"; /* such a summary is written atomically after its data files: the figures are complete */
    e->start = num_or_nan(json_object_get(run, "start_unix"));
    if (isnan(e->start)) e->start = num_or_nan(json_object_get(job, "submitted_unix"));
    json_t *item = json_object();
    json_object_set_new(item, "id", json_string(id));
    json_object_set_new(item, "kind", json_string(e->kind));
    json_object_set_new(item, "status", json_string(status));
    json_object_set_new(item, "started", iso_json(e->start));
    json_object_set_new(item, "seconds", qa_json_real(num_or_nan(json_object_get(run, "seconds"))));
    json_object_set_new(item, "title", make_title(e->kind, summary, config, id));
    json_object_set_new(item, "headline", make_headline(e->kind, summary));
    if (err[0]) json_object_set_new(item, "error", json_string(err));
    else if (strcmp(status, "error") == 0 && json_is_string(json_object_get(run, "error")))
        copy_member(item, "error", json_object_get(run, "error"));
    if (isnan(e->start)) {
        struct stat sb;
        e->start = stat(dir, &sb) == 0 ? (double)sb.st_mtime : 0;
    }
    e->item = item;
    json_decref(run);
    json_decref(summary);
    json_decref(job);
    json_decref(config);
    qa_err_clear();
    return 1;
}

static int entry_newest_first(const void *a, const void *b) {
    const run_entry *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? 1 : -1;
    return strcmp(json_string_value(json_object_get(x->item, "id")), json_string_value(json_object_get(y->item, "id")));
}

qa_status qa_apiruns_list(const qa_api_req *req, qa_api_resp *resp) {
    const qa_api_ctx *ctx = req->ctx;
    const char *kind = q(req, "kind"), *needle = q(req, "q");
    long page = 1, limit = 50;
    QA_TRY_RET(qa_api_query_long(req, "page", 1, 1, 1000000, &page));
    QA_TRY_RET(qa_api_query_long(req, "limit", 50, 1, RUNS_MAX_LIMIT, &limit));
    if (ctx->nruns == 0) return QA_FAIL(QA_ERR_NOT_FOUND, "runs: no runs folder is configured");
    qa_status st = QA_OK;
    qa_strlist seen = {0};
    run_entry *v = NULL;
    size_t n = 0, cap = 0;
    DIR *d = NULL;
    for (size_t r = 0; r < ctx->nruns && r < QA_API_MAX_ROOTS; r++) {
        if (!ctx->runs[r][0]) continue;
        d = opendir(ctx->runs[r]);
        if (!d) {
            if (errno == ENOENT) continue; /* a root not created yet holds no runs */
            QA_TRY_FAIL(QA_ERR_IO, "runs folder %s: %s", ctx->runs[r], strerror(errno));
        }
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.' || qa_api_safe_name(de->d_name, "run id") != QA_OK) {
                qa_err_clear();
                continue;
            }
            if (qa_strlist_find(&seen, de->d_name) >= 0) continue; /* an earlier root has it */
            char dir[QA_PATH_MAX];
            if (qa_path_join(dir, ctx->runs[r], "%s", de->d_name) != QA_OK || !qa_fs_is_dir(dir)) {
                qa_err_clear();
                continue;
            }
            QA_TRY(qa_strlist_add(&seen, de->d_name));
            run_entry e;
            if (!describe_run(dir, de->d_name, &e)) continue;
            const char *title = json_string_value(json_object_get(e.item, "title"));
            if ((kind && strcmp(kind, e.kind) != 0) ||
                (needle && !ci_contains(de->d_name, needle) && !ci_contains(title ? title : "", needle))) {
                json_decref(e.item);
                continue;
            }
            if (n == cap) {
                size_t nc = cap ? 2 * cap : 64;
                run_entry *nv = realloc(v, nc * sizeof *nv);
                if (!nv) {
                    json_decref(e.item);
                    QA_TRY_FAIL(QA_ERR_NOMEM, "runs: listing %zu runs", n);
                }
                v = nv;
                cap = nc;
            }
            v[n++] = e;
        }
        closedir(d);
        d = NULL;
    }
    if (n) qsort(v, n, sizeof *v, entry_newest_first);
    size_t pages = n ? (n + (size_t)limit - 1) / (size_t)limit : 1;
    if ((size_t)page > pages)
        QA_TRY_FAIL(QA_ERR_INVALID_ARG, "query parameter page=%ld: out of range, there are %zu page(s) of %ld runs", page,
                    pages, limit);
    json_t *arr = json_array();
    for (size_t i = (size_t)(page - 1) * (size_t)limit; i < n && i < (size_t)page * (size_t)limit; i++)
        json_array_append(arr, v[i].item);
    resp->json = json_object();
    json_object_set_new(resp->json, "runs", arr);
    json_object_set_new(resp->json, "total", json_integer((json_int_t)n));
    json_object_set_new(resp->json, "page", json_integer(page));
    json_object_set_new(resp->json, "pages", json_integer((json_int_t)pages));
cleanup:
    if (d) closedir(d);
    for (size_t i = 0; i < n; i++) json_decref(v[i].item);
    free(v);
    qa_strlist_free(&seen);
    return st;
}

/* ---- show ---------------------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b) {
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                  json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

qa_status qa_apiruns_show(const qa_api_req *req, qa_api_resp *resp) {
    char dir[QA_PATH_MAX];
    const char *id;
    QA_TRY_RET(run_param(req, dir, &id));
    run_entry e;
    if (!describe_run(dir, id, &e))
        return QA_FAIL(QA_ERR_NOT_FOUND, "run '%s': the folder holds no run (no run.json, summary.json or results.h5)", id);
    json_t *out = json_object();
    json_object_set_new(out, "id", json_string(id));
    json_object_set_new(out, "kind", json_string(e.kind));
    copy_member(out, "status", json_object_get(e.item, "status"));
    if (json_object_get(e.item, "error")) copy_member(out, "error", json_object_get(e.item, "error"));
    json_decref(e.item);
    static const struct { const char *key, *file; } docs[] = {
        {"run", "run.json"}, {"summary", "summary.json"}, {"config", "config.resolved.json"}};
    for (size_t i = 0; i < 3; i++) {
        json_t *j = NULL;
        /* A damaged file was reported above ("status": "damaged"): show null, not a 500. */
        if (read_json_opt(dir, docs[i].file, &j) != QA_OK) qa_err_clear();
        json_object_set_new(out, docs[i].key, j ? j : json_null());
    }
    /* Files: top-level entries; folders (chunks/, logs/, eval-test/) end in '/' with bytes null. */
    json_t *files = json_array();
    DIR *d = opendir(dir);
    if (!d) {
        json_decref(files);
        json_decref(out);
        return QA_FAIL(QA_ERR_IO, "run '%s': cannot list %s: %s", id, dir, strerror(errno));
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue; /* temporaries of atomic writes */
        char p[QA_PATH_MAX];
        struct stat sb;
        if (qa_path_join(p, dir, "%s", de->d_name) != QA_OK || stat(p, &sb) != 0) {
            qa_err_clear();
            continue;
        }
        json_t *f = json_object();
        if (S_ISDIR(sb.st_mode)) {
            char nm[300];
            snprintf(nm, sizeof nm, "%s/", de->d_name);
            json_object_set_new(f, "name", json_string(nm));
            json_object_set_new(f, "bytes", json_null());
        } else {
            json_object_set_new(f, "name", json_string(de->d_name));
            json_object_set_new(f, "bytes", json_integer((json_int_t)sb.st_size));
        }
        json_array_append_new(files, f);
    }
    closedir(d);
    size_t nf = json_array_size(files);
    json_t **tmp = nf ? malloc(nf * sizeof(json_t *)) : NULL;
    if (nf && !tmp) {
        json_decref(files);
        json_decref(out);
        return QA_FAIL(QA_ERR_NOMEM, "run '%s': listing files", id);
    }
    for (size_t i = 0; i < nf; i++) tmp[i] = json_incref(json_array_get(files, i));
    if (nf) qsort(tmp, nf, sizeof(json_t *), name_cmp);
    json_array_clear(files);
    for (size_t i = 0; i < nf; i++) json_array_append_new(files, tmp[i]);
    free(tmp);
    json_object_set_new(out, "files", files);
    resp->json = out;
    return QA_OK;
}

/* ---- results.h5 access ---------------------------------------------------------------- */

/* Opens <dir>/results.h5 read-only and checks its format name ("quantumalpha.sweep" or
 * "quantumalpha.stress") and version 1. QA_ERR_NOT_FOUND when the file is missing. */
static qa_status open_results(const char *dir, const char *id, const char *format, hid_t *out) {
    char p[QA_PATH_MAX], fmt[64] = "";
    *out = -1;
    QA_TRY_RET(qa_path_join(p, dir, "results.h5"));
    if (!qa_fs_exists(p))
        return QA_FAIL(QA_ERR_NOT_FOUND, "run '%s' has no results.h5 (this view needs a %s run)", id, format + 13);
    qa_h5_quiet();
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return QA_H5_FAIL(-1, p, "cannot open");
    int64_t ver = 0;
    char vs[32] = "";
    qa_status st = qa_h5_attr_get_str(f, NULL, "format", fmt, sizeof fmt);
    if (st == QA_OK && strcmp(fmt, format) != 0)
        st = QA_FAIL(QA_ERR_INVALID_ARG, "run '%s': results.h5 is a '%s' file, this view needs '%s'", id, fmt, format);
    else if (st == QA_OK) {
        /* The sweep writes format_version as an integer, the stress run as the text "1". */
        if (qa_h5_attr_get_i64(f, NULL, "format_version", &ver) != QA_OK) {
            st = qa_h5_attr_get_str(f, NULL, "format_version", vs, sizeof vs);
            ver = st == QA_OK ? strtoll(vs, NULL, 10) : 0;
        }
        if (st == QA_OK && ver != 1)
            st = QA_FAIL(QA_ERR_FORMAT, "run '%s': results.h5 format version %lld is not supported (1)", id,
                         (long long)ver);
    }
    if (st == QA_ERR_NOT_FOUND)
        st = QA_FAIL(QA_ERR_FORMAT, "run '%s': results.h5 has no format attribute (not a QuantumAlpha results file)", id);
    if (st != QA_OK) {
        H5Fclose(f);
        return st;
    }
    *out = f;
    return QA_OK;
}

static int h5_has(hid_t f, const char *path) {
    /* H5Lexists on "a/b" needs "a" to exist: walk the components. */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (H5Lexists(f, buf, H5P_DEFAULT) <= 0) return 0;
            if (!c) return 1;
            *s = c;
        }
    }
}

/* Dimensions of dataset `path` (rank 1 or 2; dims[1] = 1 for rank 1). */
static qa_status h5_dims(hid_t f, const char *path, size_t dims[2]) {
    qa_status st = QA_OK;
    hid_t ds = -1, sp = -1;
    hsize_t d[2] = {0, 1};
    QA_H5_TRY(ds = H5Dopen2(f, path, H5P_DEFAULT), f, path, "cannot open dataset");
    QA_H5_TRY(sp = H5Dget_space(ds), f, path, "cannot read the shape of");
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank < 1 || rank > 2) QA_TRY_FAIL(QA_ERR_FORMAT, "results.h5: dataset '%s' has rank %d (expected 1 or 2)", path, rank);
    QA_H5_TRY(H5Sget_simple_extent_dims(sp, d, NULL), f, path, "cannot read the shape of");
    dims[0] = (size_t)d[0];
    dims[1] = rank == 2 ? (size_t)d[1] : 1;
cleanup:
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    return st;
}

/* Reads the block [o0, o0+n0) x [o1, o1+n1) of a rank-1 (o1 = 0, n1 = 1) or rank-2
 * dataset, converted to `memtype` (HDF5 converts int64 metrics to double and back). */
static qa_status h5_block(hid_t f, const char *path, hid_t memtype, size_t o0, size_t n0, size_t o1, size_t n1,
                          void *out) {
    qa_status st = QA_OK;
    hid_t ds = -1, fs = -1, ms = -1;
    QA_H5_TRY(ds = H5Dopen2(f, path, H5P_DEFAULT), f, path, "cannot open dataset");
    QA_H5_TRY(fs = H5Dget_space(ds), f, path, "cannot read the shape of");
    int rank = H5Sget_simple_extent_ndims(fs);
    hsize_t off[2] = {o0, o1}, cnt[2] = {n0, n1};
    if (rank == 1 && (o1 != 0 || n1 != 1)) QA_TRY_FAIL(QA_ERR_FORMAT, "results.h5: dataset '%s' is rank 1", path);
    QA_H5_TRY(H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL), f, path, "cannot select in");
    QA_H5_TRY(ms = H5Screate_simple(rank, cnt, NULL), f, path, "cannot create a memory space for");
    QA_H5_TRY(H5Dread(ds, memtype, ms, fs, H5P_DEFAULT, out), f, path, "cannot read");
cleanup:
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (ds >= 0) H5Dclose(ds);
    return st;
}

/* A whole rank-1 dataset as doubles (malloc'd; *n its length). */
static qa_status h5_vec(hid_t f, const char *path, double **out, size_t *n) {
    size_t dims[2];
    *out = NULL;
    QA_TRY_RET(h5_dims(f, path, dims));
    size_t len = dims[0] * dims[1];
    /* zeroed: a caller that sized its loops from a separate h5_dims never reads garbage */
    double *v = calloc(len ? len : 1, sizeof *v);
    if (!v) return QA_FAIL(QA_ERR_NOMEM, "results.h5: %zu values of '%s'", len, path);
    qa_status st = len ? h5_block(f, path, H5T_NATIVE_DOUBLE, 0, dims[0], 0, dims[1], v) : QA_OK;
    if (st != QA_OK) {
        free(v);
        return st;
    }
    *out = v;
    *n = len;
    return QA_OK;
}

/* Strings of a rank-1 string dataset, fixed length (sweep symbols, parameter names) or
 * variable length (stress names), appended to `out`. */
static qa_status h5_strings(hid_t f, const char *path, qa_strlist *out) {
    qa_status st = QA_OK;
    hid_t ds = -1, ft = -1, sp = -1, mt = -1;
    char **vl = NULL, *fixed = NULL;
    hssize_t n = 0;
    QA_H5_TRY(ds = H5Dopen2(f, path, H5P_DEFAULT), f, path, "cannot open dataset");
    QA_H5_TRY(ft = H5Dget_type(ds), f, path, "cannot read the type of");
    if (H5Tget_class(ft) != H5T_STRING) QA_TRY_FAIL(QA_ERR_FORMAT, "results.h5: '%s' is not a string dataset", path);
    QA_H5_TRY(sp = H5Dget_space(ds), f, path, "cannot read the shape of");
    QA_H5_TRY(n = H5Sget_simple_extent_npoints(sp), f, path, "cannot read the shape of");
    if (n == 0) goto cleanup;
    htri_t var = H5Tis_variable_str(ft);
    QA_H5_TRY(var, f, path, "cannot read the type of");
    QA_H5_TRY(mt = H5Tcopy(H5T_C_S1), f, path, "cannot copy a string type for");
    if (var) {
        QA_H5_TRY(H5Tset_size(mt, H5T_VARIABLE), f, path, "cannot set a string type for");
        QA_H5_TRY(H5Tset_cset(mt, H5Tget_cset(ft)), f, path, "cannot set a string type for");
        if (!(vl = calloc((size_t)n, sizeof *vl))) QA_TRY_FAIL(QA_ERR_NOMEM, "results.h5: %lld strings of '%s'", (long long)n, path);
        QA_H5_TRY(H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, vl), f, path, "cannot read");
        for (hssize_t i = 0; i < n && st == QA_OK; i++) st = qa_strlist_add(out, vl[i] ? vl[i] : "");
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, vl);
    } else {
        size_t len = H5Tget_size(ft);
        QA_H5_TRY(H5Tset_size(mt, len + 1), f, path, "cannot set a string type for");
        QA_H5_TRY(H5Tset_strpad(mt, H5T_STR_NULLTERM), f, path, "cannot set a string type for");
        if (!(fixed = malloc((size_t)n * (len + 1)))) QA_TRY_FAIL(QA_ERR_NOMEM, "results.h5: %lld strings of '%s'", (long long)n, path);
        QA_H5_TRY(H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, fixed), f, path, "cannot read");
        for (hssize_t i = 0; i < n && st == QA_OK; i++) st = qa_strlist_add(out, fixed + (size_t)i * (len + 1));
    }
cleanup:
    free(vl);
    free(fixed);
    if (mt >= 0) H5Tclose(mt);
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    if (ds >= 0) H5Dclose(ds);
    return st;
}

static herr_t add_name(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    (void)info;
    if (name[0] == '.') return 0; /* hidden temporaries */
    return qa_strlist_add(data, name) == QA_OK ? 0 : -1;
}

/* Member names of group `path`, sorted (empty when the group is absent). */
static qa_status h5_members(hid_t f, const char *path, qa_strlist *out) {
    if (!h5_has(f, path)) return QA_OK;
    hid_t g = H5Gopen2(f, path, H5P_DEFAULT);
    if (g < 0) return QA_H5_FAIL(f, path, "cannot open group");
    herr_t rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, add_name, out);
    H5Gclose(g);
    if (rc < 0) return QA_H5_FAIL(f, path, "cannot list group");
    qa_strlist_sort(out);
    return QA_OK;
}

/* A JSON array of `n` doubles (NaN as null). */
static json_t *real_array(const double *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, qa_json_real(v[i]));
    return a;
}

static json_t *string_array(const qa_strlist *l) {
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++) json_array_append_new(a, json_string(l->items[i]));
    return a;
}

/* ---- sweeps ---------------------------------------------------------------------------- */

/* Metrics where lower ranks better (docs/sweep.md, rank_by). */
static int lower_better(const char *metric) {
    return strcmp(metric, "ann_vol") == 0 || strcmp(metric, "turnover") == 0 || strcmp(metric, "max_dd_duration") == 0;
}

/* The parts of a sweep's results.h5 every view needs: symbols, parameter names, rank_by. */
typedef struct sweep_file {
    hid_t f;
    qa_strlist symbols, pnames, metrics;
    size_t nsets;
    char rank_by[64];
} sweep_file;

static void sweep_close(sweep_file *s) {
    if (s->f >= 0) H5Fclose(s->f);
    qa_strlist_free(&s->symbols);
    qa_strlist_free(&s->pnames);
    qa_strlist_free(&s->metrics);
}

static qa_status sweep_open(const qa_api_req *req, sweep_file *s) {
    char dir[QA_PATH_MAX];
    const char *id;
    memset(s, 0, sizeof *s);
    s->f = -1;
    QA_TRY_RET(run_param(req, dir, &id));
    qa_status st = QA_OK;
    size_t dims[2];
    QA_TRY(open_results(dir, id, "quantumalpha.sweep", &s->f));
    QA_TRY(h5_strings(s->f, "symbols", &s->symbols));
    QA_TRY(h5_strings(s->f, "param_names", &s->pnames));
    QA_TRY(h5_members(s->f, "metrics", &s->metrics));
    QA_TRY(h5_dims(s->f, "params", dims));
    s->nsets = dims[0];
    if (dims[1] != s->pnames.n && s->nsets > 0)
        QA_TRY_FAIL(QA_ERR_FORMAT, "run '%s': results.h5 /params has %zu columns for %zu parameter names", id, dims[1],
                    s->pnames.n);
    QA_TRY(qa_h5_attr_get_str(s->f, NULL, "rank_by", s->rank_by, sizeof s->rank_by));
    return QA_OK;
cleanup:
    sweep_close(s);
    return st;
}

static qa_status metric_check(const sweep_file *s, const char *metric) {
    if (qa_strlist_find(&s->metrics, metric) >= 0) return QA_OK;
    char list[512] = "";
    for (size_t i = 0; i < s->metrics.n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", s->metrics.items[i]);
    return QA_FAIL(QA_ERR_INVALID_ARG, "query parameter metric=%.64s: not a metric of this sweep (%s)", metric, list);
}

/* One parameter set's values as {"fast": 10, "slow": 60}. */
static qa_status params_object(const sweep_file *s, size_t p, json_t **out) {
    double v[64];
    size_t k = s->pnames.n;
    if (k > 64) return QA_FAIL(QA_ERR_FORMAT, "results.h5: %zu parameters (at most 64 are shown)", k);
    if (k) QA_TRY_RET(h5_block(s->f, "params", H5T_NATIVE_DOUBLE, p, 1, 0, k, v));
    json_t *o = json_object();
    for (size_t j = 0; j < k; j++) json_object_set_new(o, s->pnames.items[j], qa_json_real(v[j]));
    *out = o;
    return QA_OK;
}

qa_status qa_apiruns_top(const qa_api_req *req, qa_api_resp *resp) {
    long n = 20;
    QA_TRY_RET(qa_api_query_long(req, "n", 20, 1, TOP_MAX, &n));
    sweep_file s;
    QA_TRY_RET(sweep_open(req, &s));
    qa_status st = QA_OK;
    double *value = NULL, *sidx = NULL, *pidx = NULL;
    json_t *out = NULL;
    size_t N = 0, n2 = 0, n3 = 0;
    QA_TRY(h5_vec(s.f, "best/runs/value", &value, &N));
    QA_TRY(h5_vec(s.f, "best/runs/symbol_index", &sidx, &n2));
    QA_TRY(h5_vec(s.f, "best/runs/param_index", &pidx, &n3));
    if (n2 != N || n3 != N) QA_TRY_FAIL(QA_ERR_FORMAT, "results.h5: /best/runs datasets have different lengths");
    out = json_object();
    json_object_set_new(out, "rank_by", json_string(s.rank_by));
    json_t *cols = json_array();
    const char *fixed[] = {"rank", "symbol", "param_index", "value"};
    for (size_t i = 0; i < 4; i++) json_array_append_new(cols, json_string(fixed[i]));
    for (size_t j = 0; j < s.pnames.n; j++) json_array_append_new(cols, json_string(s.pnames.items[j]));
    for (size_t j = 0; j < s.metrics.n; j++) json_array_append_new(cols, json_string(s.metrics.items[j]));
    json_object_set_new(out, "columns", cols);
    json_t *rows = json_array();
    json_object_set_new(out, "rows", rows);
    for (size_t i = 0; i < N && i < (size_t)n; i++) {
        size_t si = (size_t)sidx[i], pi = (size_t)pidx[i];
        if (si >= s.symbols.n || pi >= s.nsets)
            QA_TRY_FAIL(QA_ERR_FORMAT, "results.h5: /best/runs row %zu points outside the symbols or sets", i);
        json_t *row = json_array();
        json_array_append_new(rows, row);
        json_array_append_new(row, json_integer((json_int_t)i + 1));
        json_array_append_new(row, json_string(s.symbols.items[si]));
        json_array_append_new(row, json_integer((json_int_t)pi));
        json_array_append_new(row, qa_json_real(value[i]));
        double pv[64];
        if (s.pnames.n > 64) QA_TRY_FAIL(QA_ERR_FORMAT, "results.h5: %zu parameters (at most 64 are shown)", s.pnames.n);
        if (s.pnames.n) QA_TRY(h5_block(s.f, "params", H5T_NATIVE_DOUBLE, pi, 1, 0, s.pnames.n, pv));
        for (size_t j = 0; j < s.pnames.n; j++) json_array_append_new(row, qa_json_real(pv[j]));
        for (size_t j = 0; j < s.metrics.n; j++) {
            char path[160];
            double m = NAN;
            snprintf(path, sizeof path, "metrics/%s", s.metrics.items[j]);
            QA_TRY(h5_block(s.f, path, H5T_NATIVE_DOUBLE, si, 1, pi, 1, &m));
            json_array_append_new(row, qa_json_real(m));
        }
    }
    resp->json = out;
    out = NULL;
cleanup:
    json_decref(out);
    free(value);
    free(sidx);
    free(pidx);
    sweep_close(&s);
    return st;
}

static int dbl_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorted distinct non-NaN values of v[0..n) into u (malloc'd). */
static qa_status distinct(const double *v, size_t n, double **u, size_t *nu) {
    double *w = malloc((n ? n : 1) * sizeof *w);
    if (!w) return QA_FAIL(QA_ERR_NOMEM, "heatmap: %zu parameter values", n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i])) w[m++] = v[i];
    qsort(w, m, sizeof *w, dbl_cmp);
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (k == 0 || w[i] != w[k - 1]) w[k++] = w[i];
    *u = w;
    *nu = k;
    return QA_OK;
}

static size_t find_sorted(const double *u, size_t n, double x) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (u[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

qa_status qa_apiruns_heatmap(const qa_api_req *req, qa_api_resp *resp) {
    sweep_file s;
    QA_TRY_RET(sweep_open(req, &s));
    qa_status st = QA_OK;
    double *xv = NULL, *yv = NULL, *val = NULL, *cnt = NULL, *row = NULL, *xs = NULL, *ys = NULL, *z = NULL;
    size_t P = s.nsets, S = s.symbols.n, nx = 0, ny = 0;
    json_t *out = NULL;
    if (s.pnames.n < 2)
        QA_TRY_FAIL(QA_ERR_INVALID_ARG, "heatmap: this sweep has %zu parameter(s); a heat map needs two", s.pnames.n);
    const char *x = q(req, "x") ? q(req, "x") : s.pnames.items[0];
    const char *y = q(req, "y") ? q(req, "y") : s.pnames.items[1];
    const char *metric = q(req, "metric") ? q(req, "metric") : s.rank_by;
    const char *symbol = q(req, "symbol");
    long xi = qa_strlist_find(&s.pnames, x), yi = qa_strlist_find(&s.pnames, y);
    if (xi < 0 || yi < 0)
        QA_TRY_FAIL(QA_ERR_INVALID_ARG, "query parameter %s=%.64s: not a parameter of this sweep (first: %s)",
                    xi < 0 ? "x" : "y", xi < 0 ? x : y, s.pnames.items[0]);
    if (xi == yi) QA_TRY_FAIL(QA_ERR_INVALID_ARG, "heatmap: x and y are both '%s'", x);
    QA_TRY(metric_check(&s, metric));
    if (!(xv = malloc((P ? P : 1) * sizeof *xv)) || !(yv = malloc((P ? P : 1) * sizeof *yv)) ||
        !(val = malloc((P ? P : 1) * sizeof *val)) || !(cnt = calloc(P ? P : 1, sizeof *cnt)))
        QA_TRY_FAIL(QA_ERR_NOMEM, "heatmap: %zu sets", P);
    if (P) {
        QA_TRY(h5_block(s.f, "params", H5T_NATIVE_DOUBLE, 0, P, (size_t)xi, 1, xv));
        QA_TRY(h5_block(s.f, "params", H5T_NATIVE_DOUBLE, 0, P, (size_t)yi, 1, yv));
    }
    char path[200];
    if (symbol && strcmp(symbol, "portfolio") == 0) {
        /* The portfolio per set (when the sweep computed one). */
        snprintf(path, sizeof path, "portfolio/metrics/%s", metric);
        if (!h5_has(s.f, path)) QA_TRY_FAIL(QA_ERR_NOT_FOUND, "heatmap: this sweep has no portfolio metrics");
        if (P) QA_TRY(h5_block(s.f, path, H5T_NATIVE_DOUBLE, 0, P, 0, 1, val));
    } else if (symbol) {
        long si = qa_strlist_find(&s.symbols, symbol);
        if (si < 0) QA_TRY_FAIL(QA_ERR_NOT_FOUND, "query parameter symbol=%.64s: not a symbol of this sweep", symbol);
        snprintf(path, sizeof path, "metrics/%s", metric);
        if (P) QA_TRY(h5_block(s.f, path, H5T_NATIVE_DOUBLE, (size_t)si, 1, 0, P, val));
    } else {
        /* Mean over the symbols (NaN skipped), one block of symbol rows at a time: memory
         * stays O(P) however many symbols the sweep has. */
        snprintf(path, sizeof path, "metrics/%s", metric);
        size_t block = P ? (1u << 20) / P : 1;
        if (block < 1) block = 1;
        if (block > S) block = S ? S : 1;
        if (!(row = malloc(block * (P ? P : 1) * sizeof *row))) QA_TRY_FAIL(QA_ERR_NOMEM, "heatmap: %zu x %zu block", block, P);
        for (size_t p = 0; p < P; p++) val[p] = 0;
        for (size_t s0 = 0; s0 < S && P; s0 += block) {
            size_t ns = S - s0 < block ? S - s0 : block;
            QA_TRY(h5_block(s.f, path, H5T_NATIVE_DOUBLE, s0, ns, 0, P, row));
            for (size_t i = 0; i < ns; i++)
                for (size_t p = 0; p < P; p++)
                    if (!isnan(row[i * P + p])) {
                        val[p] += row[i * P + p];
                        cnt[p] += 1;
                    }
        }
        for (size_t p = 0; p < P; p++) val[p] = cnt[p] > 0 ? val[p] / cnt[p] : NAN;
    }
    QA_TRY(distinct(xv, P, &xs, &nx));
    QA_TRY(distinct(yv, P, &ys, &ny));
    if (!(z = malloc((nx * ny > 0 ? nx * ny : 1) * sizeof *z))) QA_TRY_FAIL(QA_ERR_NOMEM, "heatmap: %zu x %zu cells", ny, nx);
    for (size_t i = 0; i < nx * ny; i++) z[i] = NAN;
    int low = lower_better(metric);
    double best = NAN;
    size_t bx = 0, by = 0;
    for (size_t p = 0; p < P; p++) {
        if (isnan(xv[p]) || isnan(yv[p]) || isnan(val[p])) continue;
        size_t cx = find_sorted(xs, nx, xv[p]), cy = find_sorted(ys, ny, yv[p]);
        if (cx >= nx || cy >= ny) continue; /* never: distinct() kept every non-NaN value */
        double *c = &z[cy * nx + cx];
        /* Several sets share (x, y) when the sweep has more parameters: keep the best. */
        if (isnan(*c) || (low ? val[p] < *c : val[p] > *c)) *c = val[p];
        if (isnan(best) || (low ? val[p] < best : val[p] > best)) {
            best = val[p];
            bx = cx;
            by = cy;
        }
    }
    out = json_object();
    json_object_set_new(out, "x", json_string(x));
    json_object_set_new(out, "y", json_string(y));
    json_object_set_new(out, "metric", json_string(metric));
    json_object_set_new(out, "symbol", symbol ? json_string(symbol) : json_string("mean"));
    json_object_set_new(out, "xs", real_array(xs, nx));
    json_object_set_new(out, "ys", real_array(ys, ny));
    json_t *zz = json_array();
    for (size_t j = 0; j < ny; j++) json_array_append_new(zz, real_array(z + j * nx, nx));
    json_object_set_new(out, "z", zz);
    if (isnan(best)) json_object_set_new(out, "best", json_null());
    else {
        json_t *b = json_object();
        json_object_set_new(b, "x", qa_json_real(xs[bx]));
        json_object_set_new(b, "y", qa_json_real(ys[by]));
        json_object_set_new(b, "value", qa_json_real(best));
        json_object_set_new(out, "best", b);
    }
    resp->json = out;
    out = NULL;
cleanup:
    json_decref(out);
    free(xv);
    free(yv);
    free(val);
    free(cnt);
    free(row);
    free(xs);
    free(ys);
    free(z);
    sweep_close(&s);
    return st;
}

qa_status qa_apiruns_equity(const qa_api_req *req, qa_api_resp *resp) {
    long rank = 0;
    QA_TRY_RET(qa_api_query_long(req, "rank", 0, 0, 1000000, &rank));
    const char *kind = q(req, "kind") ? q(req, "kind") : "runs";
    if (strcmp(kind, "runs") != 0 && strcmp(kind, "sets") != 0)
        return QA_FAIL(QA_ERR_INVALID_ARG, "query parameter kind=%.64s: expected runs or sets", kind);
    sweep_file s;
    QA_TRY_RET(sweep_open(req, &s));
    qa_status st = QA_OK;
    double *eq = NULL, *dd = NULL;
    int64_t *t = NULL;
    json_t *out = NULL;
    char base[32], path[64];
    size_t dims[2], N = 0, L = 0, tl[2];
    snprintf(base, sizeof base, "best/%s", kind);
    snprintf(path, sizeof path, "%s/equity", base);
    if (!h5_has(s.f, path)) QA_TRY_FAIL(QA_ERR_NOT_FOUND, "equity: this sweep has no /%s curves", base);
    QA_TRY(h5_dims(s.f, path, dims));
    N = dims[0];
    L = dims[1];
    if ((size_t)rank >= N)
        QA_TRY_FAIL(QA_ERR_INVALID_ARG, "query parameter rank=%ld: out of range, the sweep kept %zu best %s (0..%zu)", rank,
                    N, kind, N ? N - 1 : 0);
    QA_TRY(h5_dims(s.f, "time", tl));
    if (tl[0] != L) QA_TRY_FAIL(QA_ERR_FORMAT, "results.h5: /time has %zu bars, /%s %zu", tl[0], path, L);
    if (!(eq = malloc((L ? L : 1) * sizeof *eq)) || !(dd = malloc((L ? L : 1) * sizeof *dd)) ||
        !(t = malloc((L ? L : 1) * sizeof *t)))
        QA_TRY_FAIL(QA_ERR_NOMEM, "equity: %zu bars", L);
    if (L) {
        QA_TRY(h5_block(s.f, path, H5T_NATIVE_DOUBLE, (size_t)rank, 1, 0, L, eq));
        snprintf(path, sizeof path, "%s/drawdown", base);
        QA_TRY(h5_block(s.f, path, H5T_NATIVE_DOUBLE, (size_t)rank, 1, 0, L, dd));
        QA_TRY(h5_block(s.f, "time", H5T_NATIVE_INT64, 0, L, 0, 1, t));
    }
    double v = NAN, pi = NAN, si = NAN;
    snprintf(path, sizeof path, "%s/value", base);
    QA_TRY(h5_block(s.f, path, H5T_NATIVE_DOUBLE, (size_t)rank, 1, 0, 1, &v));
    snprintf(path, sizeof path, "%s/param_index", base);
    QA_TRY(h5_block(s.f, path, H5T_NATIVE_DOUBLE, (size_t)rank, 1, 0, 1, &pi));
    if (strcmp(kind, "runs") == 0) {
        snprintf(path, sizeof path, "%s/symbol_index", base);
        QA_TRY(h5_block(s.f, path, H5T_NATIVE_DOUBLE, (size_t)rank, 1, 0, 1, &si));
        if (!(si >= 0 && (size_t)si < s.symbols.n)) QA_TRY_FAIL(QA_ERR_FORMAT, "results.h5: /%s symbol index out of range", base);
    }
    if (!(pi >= 0 && (size_t)pi < s.nsets)) QA_TRY_FAIL(QA_ERR_FORMAT, "results.h5: /%s param index out of range", base);
    out = json_object();
    json_t *times = json_array();
    for (size_t i = 0; i < L; i++) json_array_append_new(times, json_integer((json_int_t)t[i]));
    json_object_set_new(out, "time", times);
    json_object_set_new(out, "equity", real_array(eq, L));
    json_object_set_new(out, "drawdown", real_array(dd, L));
    json_object_set_new(out, "symbol", strcmp(kind, "runs") == 0 ? json_string(s.symbols.items[(size_t)si])
                                                                 : json_string("portfolio"));
    json_t *params = NULL;
    QA_TRY(params_object(&s, (size_t)pi, &params));
    json_object_set_new(out, "params", params);
    json_object_set_new(out, "param_index", json_integer((json_int_t)pi));
    json_object_set_new(out, "rank_by", json_string(s.rank_by));
    json_object_set_new(out, "value", qa_json_real(v));
    resp->json = out;
    out = NULL;
cleanup:
    json_decref(out);
    free(eq);
    free(dd);
    free(t);
    sweep_close(&s);
    return st;
}

/* ---- training / RL curves ------------------------------------------------------------ */

qa_status qa_apiruns_curves(const qa_api_req *req, qa_api_resp *resp) {
    char dir[QA_PATH_MAX], p[QA_PATH_MAX];
    const char *id;
    QA_TRY_RET(run_param(req, dir, &id));
    QA_TRY_RET(qa_path_join(p, dir, "metrics.jsonl"));
    FILE *f = fopen(p, "r");
    if (!f) {
        if (errno == ENOENT)
            return QA_FAIL(QA_ERR_NOT_FOUND, "run '%s' has no metrics.jsonl (curves exist for train and rl runs)", id);
        return QA_FAIL(QA_ERR_IO, "run '%s': cannot open metrics.jsonl: %s", id, strerror(errno));
    }
    qa_status st = QA_OK;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    json_t *rows = json_array();
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        int complete = line[len - 1] == '\n';
        if (len == 1 && complete) continue;
        if (lineno > CURVES_MAX_LINES)
            QA_TRY_FAIL(QA_ERR_LIMIT, "run '%s': metrics.jsonl has more than %d lines (the answer's limit)", id,
                        CURVES_MAX_LINES);
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)len, 0, &je);
        if (!o || !json_is_object(o)) {
            json_decref(o);
            /* A running job may be writing its last line right now: an incomplete last line is
             * not yet part of the file. */
            if (!complete) break;
            QA_TRY_FAIL(QA_ERR_FORMAT, "run '%s': metrics.jsonl line %zu: %s", id, lineno,
                        o ? "not a JSON object" : je.text);
        }
        json_array_append_new(rows, o);
    }
    if (ferror(f)) QA_TRY_FAIL(QA_ERR_IO, "run '%s': reading metrics.jsonl: %s", id, strerror(errno));
    resp->json = json_object();
    json_object_set_new(resp->json, "rows", rows);
    rows = NULL;
cleanup:
    json_decref(rows);
    free(line);
    (void)fclose(f); /* read-only stream: a close error loses nothing */
    return st;
}

/* ---- stress ----------------------------------------------------------------------------- */

/* Rows of an [R x C] float dataset as an array of arrays. */
static qa_status matrix_json(hid_t f, const char *path, json_t **out) {
    size_t dims[2];
    double *v = NULL;
    size_t n = 0;
    QA_TRY_RET(h5_dims(f, path, dims));
    QA_TRY_RET(h5_vec(f, path, &v, &n));
    json_t *m = json_array();
    for (size_t r = 0; r < dims[0]; r++) json_array_append_new(m, real_array(v + r * dims[1], dims[1]));
    free(v);
    *out = m;
    return QA_OK;
}

static qa_status vec_json(hid_t f, const char *path, json_t **out) {
    double *v = NULL;
    size_t n = 0;
    QA_TRY_RET(h5_vec(f, path, &v, &n));
    *out = real_array(v, n);
    free(v);
    return QA_OK;
}

/* Column-wise group (positions/, scenarios/, limits/) as an array of records: each member
 * listed in `fields` (strings or numbers) of row i. */
static qa_status records_json(hid_t f, const char *group, const char *const *fields, const int *is_string, size_t nf,
                              json_t **out) {
    qa_status st = QA_OK;
    json_t *arr = json_array();
    qa_strlist strs[8] = {{0}};
    double *nums[8] = {0};
    size_t n = (size_t)-1, len;
    for (size_t j = 0; j < nf && j < 8; j++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", group, fields[j]);
        if (!h5_has(f, path)) QA_TRY_FAIL(QA_ERR_FORMAT, "results.h5: /%s is missing", path);
        if (is_string[j]) {
            QA_TRY(h5_strings(f, path, &strs[j]));
            len = strs[j].n;
        } else
            QA_TRY(h5_vec(f, path, &nums[j], &len));
        if (n != (size_t)-1 && len != n) QA_TRY_FAIL(QA_ERR_FORMAT, "results.h5: /%s has %zu rows, expected %zu", path, len, n);
        n = len;
    }
    for (size_t i = 0; i < n && n != (size_t)-1; i++) {
        json_t *o = json_object();
        for (size_t j = 0; j < nf; j++)
            json_object_set_new(o, fields[j], is_string[j] ? json_string(strs[j].items[i]) : qa_json_real(nums[j][i]));
        json_array_append_new(arr, o);
    }
    *out = arr;
    arr = NULL;
cleanup:
    json_decref(arr);
    for (size_t j = 0; j < 8; j++) {
        qa_strlist_free(&strs[j]);
        free(nums[j]);
    }
    return st;
}

qa_status qa_apiruns_stress(const qa_api_req *req, qa_api_resp *resp) {
    char dir[QA_PATH_MAX];
    const char *id;
    QA_TRY_RET(run_param(req, dir, &id));
    hid_t f = -1;
    QA_TRY_RET(open_results(dir, id, "quantumalpha.stress", &f));
    qa_status st = QA_OK;
    qa_strlist methods = {0}, cmethods = {0}, measures = {0};
    json_t *out = json_object(), *j = NULL;
    QA_TRY(vec_json(f, "levels", &j));
    json_object_set_new(out, "levels", j);
    QA_TRY(h5_strings(f, "measures/method", &methods));
    json_object_set_new(out, "methods", string_array(&methods));
    QA_TRY(matrix_json(f, "measures/var", &j));
    json_object_set_new(out, "var", j);
    QA_TRY(matrix_json(f, "measures/es", &j));
    json_object_set_new(out, "es", j);
    /* Loss histograms exist for the simulated methods (not the closed-form parametric). */
    json_t *hists = json_array();
    json_object_set_new(out, "histograms", hists);
    for (size_t m = 0; m < methods.n; m++) {
        char pe[160], pc[160];
        snprintf(pe, sizeof pe, "loss/%s/hist_edges", methods.items[m]);
        snprintf(pc, sizeof pc, "loss/%s/hist_counts", methods.items[m]);
        if (!h5_has(f, pe) || !h5_has(f, pc)) continue;
        json_t *h = json_object();
        json_array_append_new(hists, h);
        json_object_set_new(h, "method", json_string(methods.items[m]));
        QA_TRY(vec_json(f, pe, &j));
        json_object_set_new(h, "edges", j);
        QA_TRY(vec_json(f, pc, &j));
        json_object_set_new(h, "counts", j);
    }
    if (h5_has(f, "scenarios/name")) {
        static const char *const sf[] = {"name", "kind", "pnl", "worst"};
        static const int ss[] = {1, 1, 0, 0};
        QA_TRY(records_json(f, "scenarios", sf, ss, 4, &j));
    } else
        j = json_array();
    json_object_set_new(out, "scenarios", j);
    json_t *contrib = json_object();
    json_object_set_new(out, "contributions", contrib);
    QA_TRY(h5_members(f, "contributions", &cmethods));
    for (size_t m = 0; m < cmethods.n; m++) {
        char g[160];
        snprintf(g, sizeof g, "contributions/%s", cmethods.items[m]);
        qa_strlist_free(&measures);
        QA_TRY(h5_members(f, g, &measures));
        json_t *cm = json_object();
        json_object_set_new(contrib, cmethods.items[m], cm);
        for (size_t k = 0; k < measures.n; k++) {
            char p[256];
            snprintf(p, sizeof p, "%s/%s", g, measures.items[k]);
            QA_TRY(matrix_json(f, p, &j)); /* [levels x positions] */
            json_object_set_new(cm, measures.items[k], j);
        }
    }
    {
        static const char *const pf[] = {"id", "symbol", "kind", "quantity", "market_value", "exposure", "weight"};
        static const int ps[] = {1, 1, 1, 0, 0, 0, 0};
        QA_TRY(records_json(f, "positions", pf, ps, 7, &j));
        json_object_set_new(out, "positions", j);
    }
    if (h5_has(f, "limits/name")) {
        static const char *const lf[] = {"name", "value", "threshold", "state"};
        static const int ls[] = {1, 0, 0, 0};
        static const char *const states[] = {"ok", "warning", "breach", "not evaluated"};
        QA_TRY(records_json(f, "limits", lf, ls, 4, &j));
        /* state 0..3 (docs/risk.md "Outputs") as words. */
        for (size_t i = 0; i < json_array_size(j); i++) {
            json_t *o = json_array_get(j, i);
            double sv = num_or_nan(json_object_get(o, "state"));
            json_object_set_new(o, "state", sv >= 0 && sv <= 3 ? json_string(states[(int)sv]) : json_null());
        }
    } else
        j = json_array();
    json_object_set_new(out, "limits", j);
    resp->json = out;
    out = NULL;
cleanup:
    json_decref(out);
    qa_strlist_free(&methods);
    qa_strlist_free(&cmethods);
    qa_strlist_free(&measures);
    H5Fclose(f);
    return st;
}
