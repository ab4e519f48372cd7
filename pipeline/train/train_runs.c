/* The experiment tracker behind `qa runs list` and `qa runs show`: reads the run
 * directories written by `qa train` (config.resolved.json, run.json, summary.json) and
 * prints a comparison table or one run's details. */
#include "pipeline/train/train.h"

#include <dirent.h>  /* opendir */
#include <math.h>    /* isfinite */
#include <stdlib.h>  /* qsort, free */
#include <string.h>  /* strcmp */

#include "common/fs.h"   /* paths */
#include "common/json.h" /* reading the run's JSON files */

typedef struct run_files {
    json_t *cfg, *run, *sum;
} run_files;

static json_t *read_json(const char *dir, const char *name) {
    char p[QA_PATH_MAX];
    json_t *j = NULL;
    if (qa_path_join(p, dir, "%s", name) != QA_OK || !qa_fs_exists(p)) return NULL;
    if (qa_json_read_file(p, &j) != QA_OK) return NULL;
    return j;
}

static void load_run(const char *dir, run_files *f) {
    f->cfg = read_json(dir, "config.resolved.json");
    f->run = read_json(dir, "run.json");
    f->sum = read_json(dir, "summary.json");
}

static void free_run(run_files *f) {
    json_decref(f->cfg);
    json_decref(f->run);
    json_decref(f->sum);
}

static double numv(json_t *j, const char *path) {
    json_t *v = qa_json_path(j, path);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *strv(json_t *j, const char *path, const char *dflt) {
    json_t *v = qa_json_path(j, path);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static void fmt_num(char *buf, size_t n, double v, const char *fmt) {
    if (isfinite(v)) snprintf(buf, n, fmt, v);
    else snprintf(buf, n, "-");
}

static void fmt_duration(char *buf, size_t n, double s) {
    if (!isfinite(s)) snprintf(buf, n, "-");
    else if (s < 60) snprintf(buf, n, "%.1fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

/* "mlp 256x256 gelu", "lstm 128" */
static void model_text(json_t *cfg, char *buf, size_t n) {
    json_t *h = qa_json_path(cfg, "model.hidden");
    size_t used = (size_t)snprintf(buf, n, "%s ", strv(cfg, "model.type", "?"));
    for (size_t i = 0; json_is_array(h) && i < json_array_size(h) && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? "x" : "",
                                 (long long)json_integer_value(json_array_get(h, i)));
    if (json_is_array(h) && json_array_size(h) == 0 && used < n) snprintf(buf + used, n - used, "linear");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

qa_status qa_train_runs_list(const char *dir, FILE *out) {
    DIR *dp = opendir(dir);
    if (!dp) return QA_FAIL(QA_ERR_NOT_FOUND, "cannot open the runs directory %s", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    qa_status st = QA_OK;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.') continue;
        char p[QA_PATH_MAX], q[QA_PATH_MAX];
        if (qa_path_join(p, dir, "%s", e->d_name) != QA_OK || !qa_fs_is_dir(p)) continue;
        if (qa_path_join(q, p, "config.resolved.json") != QA_OK || !qa_fs_exists(q)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                st = QA_FAIL(QA_ERR_NOMEM, "runs");
                break;
            }
            names = nn;
        }
        names[n] = strdup(e->d_name);
        if (!names[n]) {
            st = QA_FAIL(QA_ERR_NOMEM, "runs");
            break;
        }
        n++;
    }
    closedir(dp);
    if (st == QA_OK) {
        if (n > 1) qsort(names, n, sizeof *names, cmp_str); /* names is NULL when the directory is empty */
        fprintf(out, "%-22s %-18s %-7s %-11s %7s %10s %8s %8s %7s %8s  %s\n", "run", "model", "inputs", "target", "steps",
                "best val", "test IC", "rank IC", "Sharpe", "time", "status");
        for (size_t i = 0; i < n; i++) {
            char p[QA_PATH_MAX];
            qa_path_join(p, dir, "%s", names[i]);
            run_files f;
            load_run(p, &f);
            char model[64], inputs[32], target[40], steps[24], best[24], ic[24], ric[24], sh[24], dur[24];
            model_text(f.cfg, model, sizeof model);
            json_t *feats = qa_json_path(f.cfg, "inputs.features"), *bars = qa_json_path(f.cfg, "inputs.bars");
            snprintf(inputs, sizeof inputs, "%zux%lld", json_array_size(feats) + json_array_size(bars),
                     (long long)json_integer_value(qa_json_path(f.cfg, "inputs.window")));
            snprintf(target, sizeof target, "%s h%lld", strv(f.cfg, "target.kind", "?"),
                     (long long)json_integer_value(qa_json_path(f.cfg, "target.horizon")));
            fmt_num(steps, sizeof steps, numv(f.run, "steps"), "%.0f");
            fmt_num(best, sizeof best, numv(f.sum, "training.best_val_loss"), "%.5g");
            fmt_num(ic, sizeof ic, numv(f.sum, "evaluation.test.ic.mean"), "%.4f");
            fmt_num(ric, sizeof ric, numv(f.sum, "evaluation.test.rank_ic.mean"), "%.4f");
            fmt_num(sh, sizeof sh, numv(f.sum, "evaluation.test.backtest.sharpe"), "%.2f");
            fmt_duration(dur, sizeof dur, numv(f.run, "seconds"));
            const char *status = strv(f.run, "status", "running?");
            const char *why = strv(f.run, "stop_reason", "");
            char stat[64];
            if (strcmp(status, "ok") == 0 && strcmp(why, "max-steps") == 0) snprintf(stat, sizeof stat, "paused");
            else if (strcmp(status, "ok") == 0 && strcmp(why, "interrupted") == 0) snprintf(stat, sizeof stat, "interrupted");
            else if (strcmp(status, "ok") == 0 && *why) snprintf(stat, sizeof stat, "ok (%s)", why);
            else snprintf(stat, sizeof stat, "%s", status);
            fprintf(out, "%-22s %-18s %-7s %-11s %7s %10s %8s %8s %7s %8s  %s\n", names[i], model, inputs, target, steps,
                    best, ic, ric, sh, dur, stat);
            free_run(&f);
        }
        if (n == 0) fprintf(out, "(no runs under %s)\n", dir);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}

static void print_metrics(FILE *out, json_t *m, const char *name) {
    if (!m) return;
    fprintf(out, "  %-5s IC %.4f (t %.2f)  rank IC %.4f (t %.2f)  direction %.2f%%  loss %.5g\n", name,
            numv(m, "ic.mean"), numv(m, "ic.t_stat"), numv(m, "rank_ic.mean"), numv(m, "rank_ic.t_stat"),
            100 * numv(m, "directional_accuracy.model"), numv(m, "loss"));
    fprintf(out, "        MSE model %.4g | zero %.4g | train mean %.4g | trailing return %.4g\n", numv(m, "mse.model"),
            numv(m, "mse.zero"), numv(m, "mse.train_mean"), numv(m, "mse.trailing_return"));
    fprintf(out, "        baseline (trailing return) IC %.4f  rank IC %.4f  direction %.2f%% (always up %.2f%%)\n",
            numv(m, "ic_trailing_return.mean"), numv(m, "rank_ic_trailing_return.mean"),
            100 * numv(m, "directional_accuracy.trailing_return"), 100 * numv(m, "directional_accuracy.always_up"));
    fprintf(out, "        top-k backtest: Sharpe %.2f, total return %.2f%%, max drawdown %.2f%%, turnover %.1f/yr "
                 "(baseline Sharpe %.2f)\n",
            numv(m, "backtest.sharpe"), 100 * numv(m, "backtest.total_return"), 100 * numv(m, "backtest.max_drawdown"),
            numv(m, "backtest.turnover"), numv(m, "backtest_trailing_return.sharpe"));
}

qa_status qa_train_runs_show(const char *run, FILE *out) {
    run_files f;
    load_run(run, &f);
    if (!f.cfg && !f.run) {
        free_run(&f);
        return QA_FAIL(QA_ERR_NOT_FOUND, "%s is not a run directory (no config.resolved.json or run.json)", run);
    }
    char model[64], dur[24];
    model_text(f.cfg, model, sizeof model);
    fmt_duration(dur, sizeof dur, numv(f.run, "seconds"));
    fprintf(out, "run       %s\n", run);
    fprintf(out, "status    %s (%s), %s, %.0f steps, %lld rank(s) on %s\n", strv(f.run, "status", "running?"),
            strv(f.run, "stop_reason", "-"), dur, numv(f.run, "steps"), (long long)json_integer_value(qa_json_path(f.run, "ranks")),
            strv(f.run, "backend", "?"));
    if (strv(f.run, "error", NULL)) fprintf(out, "error     %s\n", strv(f.run, "error", ""));
    fprintf(out, "version   qa %s (git %s)\n", strv(f.run, "version", "?"), strv(f.run, "git", "?"));
    fprintf(out, "data      %s\n", strv(f.cfg, "data", "?"));
    fprintf(out, "model     %s, activation %s, dropout %g, layer norm %s\n", model, strv(f.cfg, "model.activation", "?"),
            numv(f.cfg, "model.dropout"), json_is_true(qa_json_path(f.cfg, "model.layer_norm")) ? "on" : "off");
    fprintf(out, "inputs    window %lld, clip %g:", (long long)json_integer_value(qa_json_path(f.cfg, "inputs.window")),
            numv(f.cfg, "inputs.clip"));
    json_t *lists[2] = {qa_json_path(f.cfg, "inputs.features"), qa_json_path(f.cfg, "inputs.bars")};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; json_is_array(lists[k]) && i < json_array_size(lists[k]); i++)
            fprintf(out, " %s%s", k ? "bar:" : "", json_string_value(json_array_get(lists[k], i)));
    fprintf(out, "\ntarget    %s, horizon %lld, classes %lld\n", strv(f.cfg, "target.kind", "?"),
            (long long)json_integer_value(qa_json_path(f.cfg, "target.horizon")),
            (long long)json_integer_value(qa_json_path(f.cfg, "target.classes")));
    fprintf(out, "split     start %s, train_end %s, val_end %s, end %s, embargo %lld\n", strv(f.cfg, "split.start", "-"),
            strv(f.cfg, "split.train_end", "?"), strv(f.cfg, "split.val_end", "?"), strv(f.cfg, "split.end", "-"),
            (long long)json_integer_value(qa_json_path(f.cfg, "split.embargo")));
    fprintf(out, "optimiser %s loss, batch %lld, lr %g -> %g (warm-up %lld), weight decay %g, clip %g, seed %lld\n",
            strv(f.cfg, "train.loss", "?"), (long long)json_integer_value(qa_json_path(f.cfg, "train.batch_size")),
            numv(f.cfg, "train.lr"), numv(f.cfg, "train.lr_min"),
            (long long)json_integer_value(qa_json_path(f.cfg, "train.warmup_steps")), numv(f.cfg, "train.weight_decay"),
            numv(f.cfg, "train.max_grad_norm"), (long long)json_integer_value(qa_json_path(f.cfg, "seed")));
    fprintf(out, "parallel  %s\n", strv(f.run, "data_parallel", "-"));
    if (f.sum) {
        fprintf(out, "samples   train %.0f, val %.0f, test %.0f\n", numv(f.sum, "samples.train.samples"),
                numv(f.sum, "samples.val.samples"), numv(f.sum, "samples.test.samples"));
        fprintf(out, "training  best val loss %.6g at step %.0f, %.0f samples/s\n", numv(f.sum, "training.best_val_loss"),
                numv(f.sum, "training.best_step"), numv(f.sum, "training.samples_per_s"));
        fprintf(out, "evaluation (best model):\n");
        print_metrics(out, qa_json_path(f.sum, "evaluation.val"), "val");
        print_metrics(out, qa_json_path(f.sum, "evaluation.test"), "test");
    } else {
        fprintf(out, "(no summary.json yet: the run is in progress, paused or failed)\n");
    }
    static const char *const files[] = {"model.qam", "checkpoint.qac", "metrics.jsonl", "report.html", "summary.json",
                                        "run.log"};
    fprintf(out, "files    ");
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[QA_PATH_MAX];
        qa_path_join(p, run, "%s", files[i]);
        long long sz = qa_fs_size(p);
        if (sz >= 0) fprintf(out, " %s (%lld B)", files[i], sz);
    }
    fprintf(out, "\n");
    free_run(&f);
    return QA_OK;
}
