/* What a version records about its model and its run: the signature (derived from the
 * model file: a return predictor's or a policy's), the input check against what a caller
 * provides, the publish request of a `qa train` or `qa rl train` run directory, and
 * loading by URI or path with the model's kind checked (registry.h). */
#include "registry/registry_internal.h"

#include <math.h>    /* isfinite */
#include <stdlib.h>  /* realpath, free */
#include <string.h>  /* strcmp */

#include "common/json.h"  /* qa_json_read_file, qa_json_real, qa_json_path */
#include "kernels/nn.h"   /* qa_nn_act_name */

/* What the outputs mean, in words, for the signature. */
static const char *output_meaning(const qa_model *m) {
    switch (m->data.target) {
    case QA_MODEL_TARGET_RETURN:
        return m->data.demean ? "forward return over the horizon minus the cross-sectional mean (fraction)"
                              : "forward return over the horizon (fraction)";
    case QA_MODEL_TARGET_SIGN: return "class probabilities [down-or-flat, up] of the forward return";
    case QA_MODEL_TARGET_POLICY: break;
    default: return "class probabilities of the forward return's training-quantile buckets, lowest first";
    }
    const qa_model_policy *p = &m->policy;
    if (p->action == QA_MODEL_POLICY_DISCRETE)
        return "logits over the actions [short, flat, long] of one asset; the greedy action is the argmax, the "
               "position -1, 0 or +1 times the rules' size";
    if (p->assets == 1)
        return "Gaussian mean of the target position of one asset, clamped to [-1, 1] by the environment; the greedy "
               "action is the mean";
    return p->weights == QA_MODEL_POLICY_SOFTMAX
               ? "Gaussian means of one score per asset; the weights are softmax(scores) (long only, fully invested)"
               : "Gaussian means of one target weight per asset, clamped to [-1, 1] and scaled to the gross exposure "
                 "limit";
}

/* The signature of a policy: its observation (inputs, layout, extras, normalisation) and
 * actions. `inputs` and `hidden` are stolen. */
static json_t *policy_signature(const qa_model *m, json_t *inputs, json_t *hidden) {
    const qa_model_policy *p = &m->policy;
    const int discrete = p->action == QA_MODEL_POLICY_DISCRETE;
    json_t *ex = json_array(), *mean = json_array(), *var = json_array();
    char buf[32];
    for (int i = 0; i < p->extras; i++)
        json_array_append_new(ex, json_string(qa_model_policy_extra_name(p, i, buf, sizeof buf)));
    for (int i = 0; i < p->dim; i++) {
        json_array_append_new(mean, qa_json_real(p->obs_mean[i]));
        json_array_append_new(var, qa_json_real(p->obs_var[i]));
    }
    json_t *actions = discrete ? json_pack("[s, s, s]", "short", "flat", "long")
                      : json_string(p->assets == 1                          ? "target position in [-1, 1]"
                                    : p->weights == QA_MODEL_POLICY_SOFTMAX ? "one score per asset -> softmax weights"
                                                                            : "one target weight per asset in [-1, 1]");
    json_t *weights = p->assets > 1 ? json_string(qa_model_policy_weights_name(p->weights)) : json_null();
    return json_pack("{s:o, s:i, s:s, s:s, s:i, s:i, s:o, s:{s:o, s:o, s:o, s:s}, "
                     "s:{s:s, s:s, s:o, s:o, s:i, s:i, s:s}, s:{s:s, s:o, s:s, s:b, s:I}}",
                     "inputs", inputs, "window", m->data.window, "dtype", "float32", "layout", QA_MODEL_POLICY_LAYOUT,
                     "assets", p->assets, "dim", p->dim, "extras", ex, "normalisation", "obs_mean", mean, "obs_var", var,
                     "obs_clip", qa_json_real(p->obs_clip), "formula", QA_MODEL_POLICY_FORMULA, "output", "target",
                     qa_model_target_name(m->data.target), "action", qa_model_policy_action_name(p->action), "actions",
                     actions, "weights", weights, "classes", m->data.classes, "horizon", m->data.horizon, "meaning",
                     output_meaning(m), "architecture", "type", qa_nn_arch_name(m->arch.type), "hidden", hidden,
                     "activation", qa_nn_act_name(m->arch.act), "layer_norm", m->arch.layer_norm, "parameters",
                     (json_int_t)m->nparams);
}

json_t *qa_registry_signature(const qa_model *m) {
    json_t *inputs = json_array(), *mean = json_array(), *sd = json_array(), *hidden = json_array(), *edges = json_array();
    for (int f = 0; f < m->data.ninputs; f++) {
        const qa_model_input *in = &m->data.inputs[f];
        json_array_append_new(inputs, json_pack("{s:i, s:s, s:s, s:s, s:s}", "position", f, "name", in->name, "kind",
                                                in->bar >= 0 ? "bar" : "feature", "params", in->params, "input_hash",
                                                in->input_hash));
        json_array_append_new(mean, qa_json_real(m->norm.mean[f]));
        json_array_append_new(sd, qa_json_real(m->norm.std[f]));
    }
    for (int l = 0; l < m->arch.nhidden; l++) json_array_append_new(hidden, json_integer(m->arch.hidden[l]));
    if (m->data.target == QA_MODEL_TARGET_POLICY) {
        json_decref(mean);
        json_decref(sd);
        json_decref(edges);
        return policy_signature(m, inputs, hidden);
    }
    for (int e = 0; e < m->norm.nedges; e++) json_array_append_new(edges, qa_json_real(m->norm.edges[e]));
    return json_pack("{s:o, s:i, s:s, s:s, s:{s:o, s:o, s:o, s:o, s:o, s:o}, s:{s:s, s:i, s:i, s:b, s:b, s:s}, "
                     "s:{s:s, s:o, s:s, s:b, s:I}}",
                     "inputs", inputs, "window", m->data.window, "dtype", "float32", "layout",
                     "[rows, window, inputs], oldest bar first", "normalisation", "mean", mean, "std", sd, "clip",
                     qa_json_real(m->data.clip), "target_mean", qa_json_real(m->norm.target_mean), "target_std",
                     qa_json_real(m->norm.target_std), "quantile_edges", edges, "output", "target",
                     qa_model_target_name(m->data.target), "classes", m->data.classes, "horizon", m->data.horizon,
                     "standardize", m->data.standardize, "demean", m->data.demean, "meaning", output_meaning(m),
                     "architecture", "type", qa_nn_arch_name(m->arch.type), "hidden", hidden, "activation",
                     qa_nn_act_name(m->arch.act), "layer_norm", m->arch.layer_norm, "parameters",
                     (json_int_t)m->nparams);
}

qa_status qa_registry_check_inputs(const qa_model *m, const char *label, const char *const *names,
                                   const char *const *params, int n) {
    const int F = m->data.ninputs;
    for (int f = 0; f < F; f++) {
        const qa_model_input *in = &m->data.inputs[f];
        if (f >= n || strcmp(names[f], in->name) != 0) {
            int at = -1;
            for (int g = 0; g < n; g++)
                if (strcmp(names[g], in->name) == 0) at = g;
            if (at < 0)
                return QA_FAIL(QA_ERR_CONFIG, "%s: signature field inputs[%d] '%s' is missing from the %d provided input(s)",
                               label, f, in->name, n);
            return QA_FAIL(QA_ERR_CONFIG,
                           "%s: signature field inputs[%d] is '%s' but the caller provides it at position %d "
                           "(position %d holds '%s'): inputs are reordered",
                           label, f, in->name, at, f, f < n ? names[f] : "nothing");
        }
        if (params && params[f] && in->bar < 0 && strcmp(params[f], in->params) != 0)
            return QA_FAIL(QA_ERR_CONFIG,
                           "%s: signature field inputs[%d].params of '%s' is '%s' but the provided feature is defined "
                           "as '%s'",
                           label, f, in->name, in->params, params[f]);
    }
    if (n != F)
        return QA_FAIL(QA_ERR_CONFIG, "%s: the model reads %d input(s) but %d are provided (extra: '%s')", label, F, n,
                       names[F]);
    return QA_OK;
}

/* Loads `ref` (a models:/ URI or a file) and checks its kind: a policy when `policy`, else
 * a return predictor. */
static qa_status load_ref(const char *dir, const char *ref, int policy, qa_model *m, char *label,
                          qa_registry_version *info) {
    if (info) memset(info, 0, sizeof *info);
    char name[QA_PATH_MAX];
    qa_registry_version v;
    memset(&v, 0, sizeof v);
    qa_status st = QA_OK;
    if (!qa_registry_is_uri(ref)) {
        snprintf(name, sizeof name, "%s", ref);
        if (label) snprintf(label, QA_PATH_MAX, "%s", ref);
        st = qa_model_load(ref, m);
    } else {
        qa_registry_t *r = NULL;
        st = qa_registry_open(dir, 0, &r);
        if (st == QA_OK) st = qa_registry_load(r, ref, m, &v);
        qa_registry_close(r);
        snprintf(name, sizeof name, "models:/%s/%ld", v.name, v.version);
    }
    if (st != QA_OK) return st;
    if (!policy) st = qa_model_check_predictor(m, name);
    else if (m->data.target != QA_MODEL_TARGET_POLICY)
        st = QA_FAIL(QA_ERR_CONFIG, "%s: a return predictor (target %s, qa train), not a policy model (qa rl train)",
                     name, qa_model_target_name(m->data.target));
    if (st != QA_OK) {
        qa_model_free(m);
        return st;
    }
    if (label) snprintf(label, QA_PATH_MAX, "%s", name);
    if (info) *info = v;
    return QA_OK;
}

qa_status qa_registry_load_ref(const char *dir, const char *ref, qa_model *m, char *label, qa_registry_version *info) {
    return load_ref(dir, ref, 0, m, label, info);
}

qa_status qa_registry_load_policy_ref(const char *dir, const char *ref, qa_model *m, char *label,
                                      qa_registry_version *info) {
    return load_ref(dir, ref, 1, m, label, info);
}

/* ---- run directories --------------------------------------------------------------------- */

/* Headline metrics of a split's evaluation ("val_ic", "test_sharpe", ...). */
static void split_metrics(json_t *metrics, json_t *ev, const char *split) {
    static const struct {
        const char *name, *path;
    } keys[] = {{"loss", "loss"},
                {"ic", "ic.mean"},
                {"ic_t", "ic.t"},
                {"rank_ic", "rank_ic.mean"},
                {"mse", "mse.model"},
                {"dir_acc", "directional_accuracy.model"},
                {"sharpe", "backtest.sharpe"},
                {"total_return", "backtest.total_return"},
                {"max_drawdown", "backtest.max_drawdown"}};
    json_t *e = json_object_get(ev, split);
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *v = qa_json_path(e, keys[i].path);
        char k[64];
        snprintf(k, sizeof k, "%s_%s", split, keys[i].name);
        if (json_is_number(v) && isfinite(json_number_value(v))) json_object_set_new(metrics, k, json_real(json_number_value(v)));
    }
}

/* Every finite number of `obj` into metrics as prefix_key, keeping a name already set;
 * with `depth` < 4 nested objects too (keys joined with '_'), else only its own numbers. */
static void flat_metrics(json_t *metrics, json_t *obj, const char *prefix, int depth) {
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        char name[128];
        if ((size_t)snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "_" : "", k) >= sizeof name) continue;
        if (json_is_object(v) && depth < 4) flat_metrics(metrics, v, name, depth + 1);
        else if (json_is_number(v) && isfinite(json_number_value(v)) && !json_object_get(metrics, name))
            json_object_set_new(metrics, name, json_real(json_number_value(v)));
    }
}

void qa_registry_run_free(qa_registry_run *run) {
    json_decref(run->metrics);
    json_decref(run->lineage);
    json_decref(run->config);
    memset(run, 0, sizeof *run);
}

qa_status qa_registry_run_read(const char *run_dir, qa_registry_run *out) {
    memset(out, 0, sizeof *out);
    qa_status st = QA_OK;
    json_t *sum = NULL, *run = NULL, *lin = NULL;
    char p[QA_PATH_MAX], abs[QA_PATH_MAX];
    QA_TRY(qa_path_join(out->model_path, run_dir, "model.qam"));
    if (!qa_fs_exists(out->model_path))
        QA_TRY_FAIL(QA_ERR_NOT_FOUND, "%s is not a finished training run: no model.qam", run_dir);
    QA_TRY(qa_path_join(p, run_dir, "summary.json"));
    if (!qa_fs_exists(p))
        QA_TRY_FAIL(QA_ERR_NOT_FOUND,
                    "%s: no summary.json (the run has not finished; resume it with qa train --resume or qa rl train "
                    "--resume)",
                    run_dir);
    QA_TRY(qa_json_read_file(p, &sum));
    QA_TRY(qa_path_join(p, run_dir, "config.resolved.json"));
    QA_TRY(qa_json_read_file(p, &out->config));
    QA_TRY(qa_path_join(p, run_dir, "run.json"));
    if (qa_fs_exists(p)) QA_TRY(qa_json_read_file(p, &run));
    QA_TRY(qa_path_join(p, run_dir, "lineage.json"));
    if (!qa_fs_exists(p))
        QA_TRY_FAIL(QA_ERR_NOT_FOUND,
                    "%s: no lineage.json (written by qa train since the registry, and by qa rl train; retrain to "
                    "publish)",
                    run_dir);
    QA_TRY(qa_json_read_file(p, &lin));
    out->metrics = json_object();
    json_t *ev = json_object_get(sum, "evaluation");
    split_metrics(out->metrics, ev, "val");
    split_metrics(out->metrics, ev, "test");
    json_t *bv = qa_json_path(sum, "training.best_val_loss"), *steps = qa_json_path(sum, "training.steps");
    if (json_is_number(bv) && isfinite(json_number_value(bv)))
        json_object_set_new(out->metrics, "best_val_loss", json_real(json_number_value(bv)));
    if (json_is_integer(steps)) json_object_set_new(out->metrics, "steps", json_real((double)json_integer_value(steps)));
    /* Runs without that evaluation (qa rl train) give their headline numbers flat at the
     * top level of summary.json or under "metrics". */
    flat_metrics(out->metrics, sum, "", 4);
    json_t *named = json_object_get(sum, "metrics");
    if (json_is_object(named)) flat_metrics(out->metrics, named, "", 0);
    /* Lineage: what the run recorded, plus where the run directory is and how it ended. */
    out->lineage = lin;
    lin = NULL;
    if (!realpath(run_dir, abs)) snprintf(abs, sizeof abs, "%s", run_dir);
    json_object_set_new(out->lineage, "run_dir", json_string(abs));
    if (run) {
        json_t *rs = json_object_get(run, "status");
        if (json_is_string(rs) && strcmp(json_string_value(rs), "ok") != 0)
            QA_TRY_FAIL(QA_ERR_STATE, "%s: the run ended with status '%s'; only finished runs are published", run_dir,
                        json_string_value(rs));
        json_object_set(out->lineage, "command", json_object_get(run, "argv") ? json_object_get(run, "argv") : json_null());
        json_object_set(out->lineage, "host", json_object_get(run, "host") ? json_object_get(run, "host") : json_null());
    }
cleanup:
    json_decref(sum);
    json_decref(run);
    json_decref(lin);
    if (st != QA_OK) qa_registry_run_free(out);
    return st;
}

qa_status qa_registry_publish_path(qa_registry_t *r, const char *path, const char *name, const json_t *tags,
                                   const char *description, const char *who, long *version) {
    qa_registry_run run;
    memset(&run, 0, sizeof run);
    qa_registry_publish_req req = {name, path, NULL, NULL, NULL, tags, description, who};
    qa_status st = QA_OK;
    if (qa_fs_is_dir(path)) {
        QA_TRY(qa_registry_run_read(path, &run));
        req.model_path = run.model_path;
        req.metrics = run.metrics;
        req.lineage = run.lineage;
        req.config = run.config;
    } else {
        char abs[QA_PATH_MAX];
        if (!realpath(path, abs)) snprintf(abs, sizeof abs, "%s", path);
        run.lineage = json_pack("{s:s}", "source_file", abs);
        req.lineage = run.lineage;
    }
    QA_TRY(qa_registry_publish(r, &req, version));
cleanup:
    qa_registry_run_free(&run);
    return st;
}
