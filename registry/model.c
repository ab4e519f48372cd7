/* Model and checkpoint files: the names and checks of a model's inputs and target, the
 * container (magic, version, lengths, JSON, float32 blobs, SHA-256 trailer), the JSON
 * description of a model, and strict validation on load (layout in registry/model.h,
 * docs/models.md). */
#include "registry/model.h"

#include <assert.h>  /* static_assert */
#include <errno.h>   /* errno */
#include <math.h>    /* isfinite, INFINITY */
#include <stdio.h>   /* FILE, snprintf */
#include <stdlib.h>  /* malloc, calloc, free */
#include <string.h>  /* memcpy, strcmp */

#include "build_info.h"            /* QA_VERSION, QA_GIT_HASH */
#include "common/container.h"      /* the file container */
#include "common/fs.h"             /* atomic files */
#include "common/timeparse.h"    /* ISO dates in the metadata */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model files are little-endian; add byte swapping for big-endian hosts"
#endif

/* ---- inputs and targets ------------------------------------------------------------------- */

static const char *const bar_names[] = {"ret", "logret", "range", "body", "logvol"};
static_assert(sizeof bar_names / sizeof bar_names[0] == QA_MODEL_BAR_COUNT, "bar input names");
static const char *const target_names[] = {"return", "sign", "quantile", "policy"};
static_assert(sizeof target_names / sizeof target_names[0] == QA_MODEL_TARGET_COUNT, "target names");
const char *const qa_model_loss_names[] = {"mse", "huber", "cross_entropy", NULL};
static_assert(sizeof qa_model_loss_names / sizeof qa_model_loss_names[0] == QA_MODEL_LOSS_COUNT + 1, "loss names");

const char *qa_model_bar_input_name(qa_model_bar_input b) {
    return (unsigned)b < QA_MODEL_BAR_COUNT ? bar_names[b] : "?";
}

qa_status qa_model_bar_input_parse(const char *name, qa_model_bar_input *out) {
    for (int i = 0; i < QA_MODEL_BAR_COUNT; i++)
        if (name && strcmp(name, bar_names[i]) == 0) {
            *out = (qa_model_bar_input)i;
            return QA_OK;
        }
    return QA_FAIL(QA_ERR_CONFIG, "unknown bar input '%s' (expected one of: ret, logret, range, body, logvol)",
                   name ? name : "");
}

const char *qa_model_target_name(qa_model_target t) {
    return (unsigned)t < QA_MODEL_TARGET_COUNT ? target_names[t] : "?";
}

qa_status qa_model_spec_check(const qa_model_spec *s) {
    if (s->ninputs < 1 || s->ninputs > QA_MODEL_MAX_INPUTS)
        return QA_FAIL(QA_ERR_CONFIG, "%d inputs (expected 1..%d)", s->ninputs, QA_MODEL_MAX_INPUTS);
    for (int i = 0; i < s->ninputs; i++) {
        if (!s->inputs[i].name[0]) return QA_FAIL(QA_ERR_CONFIG, "input %d has no name", i);
        if (s->inputs[i].bar >= QA_MODEL_BAR_COUNT) return QA_FAIL(QA_ERR_CONFIG, "input %d: bad bar input", i);
        for (int j = 0; j < i; j++)
            if (s->inputs[j].bar == s->inputs[i].bar && strcmp(s->inputs[j].name, s->inputs[i].name) == 0)
                return QA_FAIL(QA_ERR_CONFIG, "input '%s' is listed twice", s->inputs[i].name);
    }
    if (s->window < 1 || s->window > 4096) return QA_FAIL(QA_ERR_CONFIG, "window %d (expected 1..4096)", s->window);
    if (s->horizon < 1) return QA_FAIL(QA_ERR_CONFIG, "horizon %d (expected >= 1)", s->horizon);
    if (s->embargo < 0) return QA_FAIL(QA_ERR_CONFIG, "embargo %d (expected >= 0)", s->embargo);
    if (!(s->clip >= 0.0)) return QA_FAIL(QA_ERR_CONFIG, "clip %g (expected >= 0)", s->clip);
    switch (s->target) {
    case QA_MODEL_TARGET_RETURN:
        if (s->classes != 1) return QA_FAIL(QA_ERR_CONFIG, "a return target has 1 output (classes = %d)", s->classes);
        break;
    case QA_MODEL_TARGET_SIGN:
        if (s->classes != 2) return QA_FAIL(QA_ERR_CONFIG, "a sign target has 2 classes (got %d)", s->classes);
        break;
    case QA_MODEL_TARGET_QUANTILE:
        if (s->classes < 2 || s->classes > QA_MODEL_MAX_CLASSES)
            return QA_FAIL(QA_ERR_CONFIG, "quantile classes %d (expected 2..%d)", s->classes, QA_MODEL_MAX_CLASSES);
        break;
    case QA_MODEL_TARGET_POLICY: /* the policy section checks the outputs against the action */
        if (s->classes < 1 || s->classes > QA_MODEL_MAX_ASSETS)
            return QA_FAIL(QA_ERR_CONFIG, "a policy has 1..%d outputs (classes = %d)", QA_MODEL_MAX_ASSETS, s->classes);
        break;
    default: return QA_FAIL(QA_ERR_CONFIG, "unknown target kind %d", (int)s->target);
    }
    if (!(s->start < s->train_end && s->train_end < s->val_end && s->val_end < s->end))
        return QA_FAIL(QA_ERR_CONFIG, "split dates must increase: start < train_end < val_end < end");
    return QA_OK;
}

static const unsigned char MAGIC[8] = {0x89, 'Q', 'A', 'M', 'O', 'D', 'L', '\n'};
#define MAX_BLOBS 8
#define CONTAINER_VERSION 1 /* the container's own version (common/container.h), not format_version */

/* ---- policies -------------------------------------------------------------------------------- */

static const char *const action_names[] = {"discrete", "continuous"};
static const char *const weights_names[] = {"softmax", "long_short"};
static_assert(QA_MODEL_POLICY_DISCRETE == 0 && QA_MODEL_POLICY_CONTINUOUS == 1, "action names");
static_assert(QA_MODEL_POLICY_SOFTMAX == 0 && QA_MODEL_POLICY_LONG_SHORT == 1, "weights names");

const char *qa_model_policy_action_name(int action) { return action == 0 || action == 1 ? action_names[action] : "?"; }
const char *qa_model_policy_weights_name(int weights) {
    return weights == 0 || weights == 1 ? weights_names[weights] : "?";
}

const char *qa_model_policy_extra_name(const qa_model_policy *p, int i, char *buf, size_t n) {
    static const char *const single[3] = {"position", "unrealised_pnl", "time_in_trade"};
    if (p->assets == 1) snprintf(buf, n, "%s", i >= 0 && i < 3 ? single[i] : "?");
    else if (i >= 0 && i < p->assets) snprintf(buf, n, "weight_%d", i);
    else snprintf(buf, n, "%s", i == p->assets ? "episode_pnl" : i == p->assets + 1 ? "time" : "?");
    return buf;
}

/* Extras the layout of `assets` assets has. */
static int policy_extras(int assets) { return assets == 1 ? 3 : assets + 2; }

/* Consistency of policy p with m's architecture and data spec; the error (`code`) starts
 * with `label` and names the field as the file spells it. */
static qa_status policy_check(const qa_model *m, const qa_model_policy *p, const char *label, qa_status code) {
    const qa_nn_arch *a = &m->arch;
    const qa_model_spec *d = &m->data;
    if (d->target != QA_MODEL_TARGET_POLICY)
        return QA_FAIL(code, "%s: target.kind is '%s'; a policy section needs target kind policy", label,
                       qa_model_target_name(d->target));
    if (a->type != QA_NN_ARCH_MLP)
        return QA_FAIL(code, "%s: architecture.type '%s': a policy is an mlp", label, qa_nn_arch_name(a->type));
    if (a->window != 1)
        return QA_FAIL(code, "%s: architecture.window = %d; a policy reads one observation vector (window 1)", label,
                       a->window);
    if (p->action != QA_MODEL_POLICY_DISCRETE && p->action != QA_MODEL_POLICY_CONTINUOUS)
        return QA_FAIL(code, "%s: policy.action %d (expected discrete or continuous)", label, p->action);
    if (p->assets < 1 || p->assets > QA_MODEL_MAX_ASSETS)
        return QA_FAIL(code, "%s: policy.assets = %d (expected 1..%d)", label, p->assets, QA_MODEL_MAX_ASSETS);
    if (p->weights != QA_MODEL_POLICY_SOFTMAX && p->weights != QA_MODEL_POLICY_LONG_SHORT)
        return QA_FAIL(code, "%s: policy.weights %d (expected softmax or long_short)", label, p->weights);
    if (p->action == QA_MODEL_POLICY_DISCRETE && p->assets != 1)
        return QA_FAIL(code, "%s: policy.action discrete trades one asset (policy.assets = %d)", label, p->assets);
    const int outs = p->action == QA_MODEL_POLICY_DISCRETE ? 3 : p->assets;
    if (a->outputs != outs)
        return QA_FAIL(code, "%s: architecture.outputs = %d; a %s policy over %d asset(s) has %d", label, a->outputs,
                       qa_model_policy_action_name(p->action), p->assets, outs);
    if (d->classes != a->outputs)
        return QA_FAIL(code, "%s: target.classes = %d but architecture.outputs = %d", label, d->classes, a->outputs);
    if (d->standardize || d->demean)
        return QA_FAIL(code, "%s: target.standardize and target.demean are predictor options (a policy normalises its "
                             "observation with policy.obs_mean/obs_var)", label);
    if (d->clip != 0.0 && d->clip != p->obs_clip)
        return QA_FAIL(code, "%s: inputs.clip = %g but policy.obs_clip = %g (a policy clips its normalised observation "
                             "once: inputs.clip is 0 or the same)", label, d->clip, p->obs_clip);
    if (p->extras != policy_extras(p->assets))
        return QA_FAIL(code, "%s: policy.extras = %d; the layout of %d asset(s) has %d", label, p->extras, p->assets,
                       policy_extras(p->assets));
    const long long want = (long long)p->assets * d->ninputs * d->window + p->extras;
    if (p->dim != want)
        return QA_FAIL(code, "%s: policy.dim = %d but assets x inputs x window + extras = %d x %d x %d + %d = %lld",
                       label, p->dim, p->assets, d->ninputs, d->window, p->extras, want);
    if (p->dim != a->input)
        return QA_FAIL(code, "%s: policy.dim = %d but architecture.input = %d", label, p->dim, a->input);
    if (!isfinite(p->obs_clip) || p->obs_clip < 0.0)
        return QA_FAIL(code, "%s: policy.obs_clip = %g (expected finite and >= 0)", label, p->obs_clip);
    if (!p->obs_mean || !p->obs_var) return QA_FAIL(code, "%s: policy.obs_mean/obs_var are missing", label);
    for (int i = 0; i < p->dim; i++) {
        if (!isfinite(p->obs_mean[i]))
            return QA_FAIL(code, "%s: policy.obs_mean[%d] = %g is not finite", label, i, p->obs_mean[i]);
        if (!isfinite(p->obs_var[i]) || !(p->obs_var[i] >= 0.0))
            return QA_FAIL(code, "%s: policy.obs_var[%d] = %g (expected finite and >= 0)", label, i, p->obs_var[i]);
    }
    return QA_OK;
}

static void policy_free(qa_model_policy *p) {
    free(p->obs_mean);
    free(p->obs_var);
    memset(p, 0, sizeof *p);
}

/* Allocates p's two arrays for p->dim values (contents undefined). */
static qa_status policy_alloc(qa_model_policy *p) {
    const size_t n = p->dim > 0 ? (size_t)p->dim : 1;
    p->obs_mean = malloc(n * sizeof *p->obs_mean);
    p->obs_var = malloc(n * sizeof *p->obs_var);
    if (p->obs_mean && p->obs_var) return QA_OK;
    policy_free(p);
    return QA_FAIL(QA_ERR_NOMEM, "policy: %zu observation statistics", n);
}

/* ---- container -------------------------------------------------------------------------- */

typedef struct blob {
    const char *name;
    const float *data;
    size_t count;
} blob;

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Adds the blob table to doc and writes the container (common/container.h) with the
 * blobs as its payload, each at an 8-byte aligned offset. */
static qa_status container_write(const char *path, json_t *doc, const blob *b, int nb, char *sha_hex) {
    qa_status st = QA_OK;
    char *text = NULL;
    unsigned char *payload = NULL;
    json_t *tab = json_array();
    size_t off = 0;
    for (int i = 0; i < nb; i++) {
        json_t *e = json_pack("{s:s, s:s, s:I, s:I}", "name", b[i].name, "dtype", "float32", "count",
                              (json_int_t)b[i].count, "offset", (json_int_t)off);
        if (!e || json_array_append_new(tab, e)) QA_TRY_FAIL(QA_ERR_NOMEM, "blob table");
        off = align8(off + b[i].count * sizeof(float));
    }
    if (json_object_set_new(doc, "blobs", tab)) {
        tab = NULL;
        QA_TRY_FAIL(QA_ERR_NOMEM, "blob table");
    }
    tab = NULL;
    text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    if (!text) QA_TRY_FAIL(QA_ERR_NOMEM, "model metadata");
    const size_t B = off;
    payload = calloc(1, B ? B : 1);
    if (!payload) QA_TRY_FAIL(QA_ERR_NOMEM, "model parameters of %zu bytes", B);
    off = 0;
    for (int i = 0; i < nb; i++) {
        if (b[i].count) memcpy(payload + off, b[i].data, b[i].count * sizeof(float));
        off = align8(off + b[i].count * sizeof(float));
    }
    QA_TRY(qa_container_write(path, MAGIC, CONTAINER_VERSION, text, strlen(text), payload, B, sha_hex));
cleanup:
    json_decref(tab);
    free(text);
    free(payload);
    return st;
}

/* Reads and verifies a container; returns the parsed JSON and the blob section. */
static qa_status container_read(const char *path, json_t **doc, unsigned char **file, const unsigned char **blobs,
                                size_t *blob_bytes, char *sha_hex) {
    return qa_container_read(path, MAGIC, CONTAINER_VERSION, "QuantumAlpha model or checkpoint file", doc, file, blobs,
                             blob_bytes, sha_hex);
}

/* ---- JSON fields with checks ---------------------------------------------------------------- */

typedef struct reader {
    const char *path;
    qa_status st;
} reader;

static json_t *need(reader *r, json_t *obj, const char *key, const char *where) {
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (!v && r->st == QA_OK) r->st = QA_FAIL(QA_ERR_FORMAT, "%s: field '%s%s' is missing", r->path, where, key);
    return v;
}

static long long get_int(reader *r, json_t *obj, const char *key, const char *where, long long lo, long long hi) {
    json_t *v = need(r, obj, key, where);
    if (!v) return lo;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        if (r->st == QA_OK)
            r->st = QA_FAIL(QA_ERR_FORMAT, "%s: field '%s%s' must be an integer in [%lld, %lld]", r->path, where, key,
                            lo, hi);
        return lo;
    }
    return json_integer_value(v);
}

static double get_num(reader *r, json_t *obj, const char *key, const char *where) {
    json_t *v = need(r, obj, key, where);
    if (!v) return 0.0;
    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        if (r->st == QA_OK) r->st = QA_FAIL(QA_ERR_FORMAT, "%s: field '%s%s' must be a finite number", r->path, where, key);
        return 0.0;
    }
    return json_number_value(v);
}

static const char *get_str(reader *r, json_t *obj, const char *key, const char *where) {
    json_t *v = need(r, obj, key, where);
    if (!v) return "";
    if (!json_is_string(v)) {
        if (r->st == QA_OK) r->st = QA_FAIL(QA_ERR_FORMAT, "%s: field '%s%s' must be a string", r->path, where, key);
        return "";
    }
    return json_string_value(v);
}

static int get_bool(reader *r, json_t *obj, const char *key, const char *where) {
    json_t *v = need(r, obj, key, where);
    if (v && !json_is_boolean(v) && r->st == QA_OK)
        r->st = QA_FAIL(QA_ERR_FORMAT, "%s: field '%s%s' must be true or false", r->path, where, key);
    return v && json_is_true(v);
}

/* A timestamp bound: integer ns or null (open end, `open_value`). */
static int64_t get_time(reader *r, json_t *obj, const char *key, int64_t open_value) {
    json_t *v = need(r, obj, key, "split.");
    if (!v || json_is_null(v)) return open_value;
    if (!json_is_integer(v)) {
        if (r->st == QA_OK) r->st = QA_FAIL(QA_ERR_FORMAT, "%s: field 'split.%s' must be integer ns or null", r->path, key);
        return open_value;
    }
    return json_integer_value(v);
}

/* ---- model <-> JSON ------------------------------------------------------------------------- */

static json_t *time_json(int64_t t, int open) {
    if (open) return json_null();
    return json_integer(t);
}

/* The policy section (after policy_check: every number is finite, so JSON holds it). */
static json_t *policy_json(const qa_model_policy *p) {
    json_t *ex = json_array(), *mean = json_array(), *var = json_array();
    char buf[32];
    for (int i = 0; i < p->extras; i++)
        json_array_append_new(ex, json_string(qa_model_policy_extra_name(p, i, buf, sizeof buf)));
    for (int i = 0; i < p->dim; i++) {
        json_array_append_new(mean, json_real(p->obs_mean[i]));
        json_array_append_new(var, json_real(p->obs_var[i]));
    }
    return json_pack("{s:s, s:i, s:s, s:i, s:o, s:s, s:s, s:f, s:o, s:o}", "action",
                     qa_model_policy_action_name(p->action), "assets", p->assets, "weights",
                     qa_model_policy_weights_name(p->weights), "dim", p->dim, "extras", ex, "layout",
                     QA_MODEL_POLICY_LAYOUT, "obs_formula", QA_MODEL_POLICY_FORMULA, "obs_clip", p->obs_clip,
                     "obs_mean", mean, "obs_var", var);
}

static json_t *model_json(const qa_model *m, const char *format) {
    const qa_nn_arch *a = &m->arch;
    const qa_model_spec *d = &m->data;
    json_t *o = json_object(), *hid = json_array(), *segs = json_array(), *feats = json_array(), *mean = json_array(),
           *sd = json_array(), *edges = json_array();
    for (int l = 0; l < a->nhidden; l++) json_array_append_new(hid, json_integer(a->hidden[l]));
    qa_nn_seg s[QA_NN_MAX_SEGMENTS];
    int ns = qa_nn_arch_segments(a, s);
    for (int i = 0; i < ns; i++)
        json_array_append_new(segs, json_pack("{s:s, s:I, s:I, s:b}", "name", s[i].name, "offset",
                                              (json_int_t)s[i].offset, "count", (json_int_t)s[i].count, "decay",
                                              s[i].decay));
    for (int f = 0; f < d->ninputs; f++) {
        const qa_model_input *in = &d->inputs[f];
        json_t *e = in->bar < 0 ? json_pack("{s:s, s:s, s:s, s:s}", "name", in->name, "source", "features", "input_hash",
                                            in->input_hash, "params", in->params)
                                : json_pack("{s:s, s:s}", "name", in->name, "source", "bars");
        json_array_append_new(feats, e);
        json_array_append_new(mean, json_real(m->norm.mean[f]));
        json_array_append_new(sd, json_real(m->norm.std[f]));
    }
    for (int k = 0; k < m->norm.nedges; k++) json_array_append_new(edges, json_real(m->norm.edges[k]));
    char b0[40], b1[40], b2[40], b3[40];
    json_object_set_new(o, "format", json_string(format));
    const int policy = d->target == QA_MODEL_TARGET_POLICY;
    json_object_set_new(o, "format_version", json_integer(policy ? QA_MODEL_VERSION_POLICY : QA_MODEL_VERSION_PREDICTOR));
    json_object_set_new(o, "architecture",
                        json_pack("{s:s, s:i, s:i, s:i, s:o, s:s, s:b, s:f, s:I, s:o}", "type", qa_nn_arch_name(a->type),
                                  "input", a->input, "window", a->window, "outputs", a->outputs, "hidden", hid,
                                  "activation", qa_nn_act_name(a->act), "layer_norm", a->layer_norm, "dropout",
                                  (double)a->dropout, "parameters", (json_int_t)m->nparams, "segments", segs));
    json_object_set_new(o, "inputs", json_pack("{s:i, s:f, s:o}", "window", d->window, "clip", d->clip, "features", feats));
    json_object_set_new(o, "normalization", json_pack("{s:o, s:o}", "mean", mean, "std", sd));
    json_object_set_new(o, "target",
                        json_pack("{s:s, s:i, s:i, s:b, s:b, s:f, s:f, s:o}", "kind", qa_model_target_name(d->target), "horizon",
                                  d->horizon, "classes", d->classes, "standardize", d->standardize, "demean", d->demean,
                                  "mean",
                                  m->norm.target_mean, "std", m->norm.target_std, "edges", edges));
    json_object_set_new(
        o, "split",
        json_pack("{s:o, s:o, s:o, s:o, s:i, s:s, s:s, s:s, s:s}", "start", time_json(d->start, d->start == INT64_MIN),
                  "train_end", time_json(d->train_end, 0), "val_end", time_json(d->val_end, 0), "end",
                  time_json(d->end, d->end == INT64_MAX), "embargo", d->embargo, "start_iso",
                  d->start == INT64_MIN ? "" : qa_time_format_iso(d->start, b0, sizeof b0), "train_end_iso",
                  qa_time_format_iso(d->train_end, b1, sizeof b1), "val_end_iso",
                  qa_time_format_iso(d->val_end, b2, sizeof b2), "end_iso",
                  d->end == INT64_MAX ? "" : qa_time_format_iso(d->end, b3, sizeof b3)));
    if (policy) json_object_set_new(o, "policy", policy_json(&m->policy));
    json_object_set_new(o, "training", m->info ? json_deep_copy(m->info) : json_object());
    json_object_set_new(o, "written_by", json_pack("{s:s, s:s}", "version", QA_VERSION, "git", QA_GIT_HASH));
    return o;
}

static int parse_enum(const char *s, const char *(*name)(int), int count) {
    for (int i = 0; i < count; i++)
        if (strcmp(s, name(i)) == 0) return i;
    return -1;
}
static const char *arch_name_i(int i) { return qa_nn_arch_name((qa_nn_arch_type)i); }
static const char *act_name_i(int i) { return qa_nn_act_name((qa_nn_act)i); }
static const char *target_name_i(int i) { return qa_model_target_name((qa_model_target)i); }

/* A finite number list of exactly `n` values: policy.<key>. */
static qa_status doubles_from_json(const char *path, json_t *po, const char *key, int n, double *out) {
    json_t *v = json_object_get(po, key);
    if (!json_is_array(v)) return QA_FAIL(QA_ERR_FORMAT, "%s: field 'policy.%s' is missing or not a list", path, key);
    if (json_array_size(v) != (size_t)n)
        return QA_FAIL(QA_ERR_FORMAT, "%s: field 'policy.%s' has %zu values but policy.dim is %d", path, key,
                       json_array_size(v), n);
    for (int i = 0; i < n; i++) {
        json_t *e = json_array_get(v, (size_t)i);
        if (!json_is_number(e) || !isfinite(json_number_value(e)))
            return QA_FAIL(QA_ERR_FORMAT, "%s: field 'policy.%s[%d]' is not a finite number", path, key, i);
        out[i] = json_number_value(e);
    }
    return QA_OK;
}

/* The policy section into m->policy (m's architecture and data spec already read). */
static qa_status policy_from_json(const char *path, json_t *po, qa_model *m) {
    reader r = {path, QA_OK};
    qa_model_policy *p = &m->policy;
    memset(p, 0, sizeof *p);
    const char *act = get_str(&r, po, "action", "policy.");
    const char *wts = get_str(&r, po, "weights", "policy.");
    p->assets = (int)get_int(&r, po, "assets", "policy.", 1, QA_MODEL_MAX_ASSETS);
    p->dim = (int)get_int(&r, po, "dim", "policy.", 1, 1 << 20);
    const char *layout = get_str(&r, po, "layout", "policy.");
    const char *formula = get_str(&r, po, "obs_formula", "policy.");
    p->obs_clip = get_num(&r, po, "obs_clip", "policy.");
    json_t *ex = need(&r, po, "extras", "policy.");
    if (r.st != QA_OK) return r.st;
    p->action = parse_enum(act, qa_model_policy_action_name, 2);
    p->weights = parse_enum(wts, qa_model_policy_weights_name, 2);
    if (p->action < 0)
        return QA_FAIL(QA_ERR_FORMAT, "%s: field 'policy.action' is '%s' (expected discrete or continuous)", path, act);
    if (p->weights < 0)
        return QA_FAIL(QA_ERR_FORMAT, "%s: field 'policy.weights' is '%s' (expected softmax or long_short)", path, wts);
    if (strcmp(layout, QA_MODEL_POLICY_LAYOUT) != 0)
        return QA_FAIL(QA_ERR_FORMAT, "%s: field 'policy.layout' is '%s'; this build reads '%s'", path, layout,
                       QA_MODEL_POLICY_LAYOUT);
    if (strcmp(formula, QA_MODEL_POLICY_FORMULA) != 0)
        return QA_FAIL(QA_ERR_FORMAT, "%s: field 'policy.obs_formula' is '%s'; this build reads '%s'", path, formula,
                       QA_MODEL_POLICY_FORMULA);
    if (!json_is_array(ex) || json_array_size(ex) > (size_t)QA_MODEL_MAX_ASSETS + 2)
        return QA_FAIL(QA_ERR_FORMAT, "%s: field 'policy.extras' must be a list of names", path);
    p->extras = (int)json_array_size(ex);
    if (p->extras == policy_extras(p->assets))
        for (int i = 0; i < p->extras; i++) {
            char want[32];
            const char *got = json_string_value(json_array_get(ex, (size_t)i));
            qa_model_policy_extra_name(p, i, want, sizeof want);
            if (!got || strcmp(got, want) != 0)
                return QA_FAIL(QA_ERR_FORMAT, "%s: field 'policy.extras[%d]' is '%s'; the layout of %d asset(s) has '%s'",
                               path, i, got ? got : "(not a string)", p->assets, want);
        }
    qa_status st = policy_alloc(p);
    if (st != QA_OK) return st;
    if ((st = doubles_from_json(path, po, "obs_mean", p->dim, p->obs_mean)) != QA_OK) return st;
    if ((st = doubles_from_json(path, po, "obs_var", p->dim, p->obs_var)) != QA_OK) return st;
    return policy_check(m, p, path, QA_ERR_FORMAT);
}

/* The part of the informational "training" section that is used: the loss, which qa
 * evaluate recomputes by name, must be absent or one of qa_model_loss_names. */
static qa_status check_training(const char *path, json_t *info) {
    json_t *loss = json_is_object(info) ? json_object_get(info, "loss") : NULL;
    if (!loss) return QA_OK;
    const char *name = json_string_value(loss);
    for (int i = 0; name && qa_model_loss_names[i]; i++)
        if (strcmp(name, qa_model_loss_names[i]) == 0) return QA_OK;
    char known[64] = "";
    for (int i = 0; qa_model_loss_names[i]; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", qa_model_loss_names[i]);
    if (!name)
        return QA_FAIL(QA_ERR_FORMAT, "%s: field 'training.loss' is not a string (expected one of: %s)", path, known);
    return QA_FAIL(QA_ERR_FORMAT, "%s: field 'training.loss': unknown loss '%s' (expected one of: %s)", path, name,
                   known);
}

/* Fills m (arch, data spec, norm, policy, info) from doc and checks consistency. */
static qa_status model_from_json(const char *path, json_t *doc, const char *format, qa_model *m) {
    reader r = {path, QA_OK};
    memset(m, 0, sizeof *m);
    const char *fmt = get_str(&r, doc, "format", "");
    if (r.st != QA_OK) return r.st;
    if (strcmp(fmt, format) != 0) {
        if (strcmp(fmt, QA_MODEL_FORMAT) == 0 || strcmp(fmt, QA_MODEL_CKPT_FORMAT) == 0)
            return QA_FAIL(QA_ERR_FORMAT, "%s is a %s file, expected a %s", path,
                           strcmp(fmt, QA_MODEL_CKPT_FORMAT) == 0 ? "checkpoint" : "model",
                           strcmp(format, QA_MODEL_CKPT_FORMAT) == 0 ? "checkpoint" : "model");
        return QA_FAIL(QA_ERR_FORMAT, "%s: format '%s', expected '%s'", path, fmt, format);
    }
    long long ver = get_int(&r, doc, "format_version", "", 0, 1 << 30);
    if (r.st == QA_OK && ver > QA_MODEL_VERSION)
        return QA_FAIL(QA_ERR_FORMAT, "%s: format version %lld is newer than this build supports (%d)", path, ver,
                       QA_MODEL_VERSION);
    /* A policy's observation vector and outputs are wider than a predictor's per-bar inputs
     * and classes: the target kind sets the ranges checked below. */
    const char *kind0 = json_string_value(json_object_get(json_object_get(doc, "target"), "kind"));
    const int policy = kind0 && strcmp(kind0, qa_model_target_name(QA_MODEL_TARGET_POLICY)) == 0;
    if (r.st == QA_OK && policy && ver < QA_MODEL_VERSION_POLICY)
        return QA_FAIL(QA_ERR_FORMAT, "%s: field 'format_version' is %lld; a policy model is format_version %d", path,
                       ver, QA_MODEL_VERSION_POLICY);
    const int max_in = policy ? 1 << 20 : QA_MODEL_MAX_INPUTS, max_out = policy ? QA_MODEL_MAX_ASSETS : QA_MODEL_MAX_CLASSES;
    json_t *a = need(&r, doc, "architecture", "");
    qa_nn_arch *ar = &m->arch;
    const char *type = get_str(&r, a, "type", "architecture.");
    const char *act = get_str(&r, a, "activation", "architecture.");
    ar->input = (int)get_int(&r, a, "input", "architecture.", 1, max_in);
    ar->window = (int)get_int(&r, a, "window", "architecture.", 1, 4096);
    ar->outputs = (int)get_int(&r, a, "outputs", "architecture.", 1, max_out);
    ar->layer_norm = get_bool(&r, a, "layer_norm", "architecture.");
    ar->dropout = (float)get_num(&r, a, "dropout", "architecture.");
    json_t *hid = need(&r, a, "hidden", "architecture.");
    long long np = get_int(&r, a, "parameters", "architecture.", 1, (long long)1 << 40);
    if (r.st != QA_OK) return r.st;
    int t = parse_enum(type, arch_name_i, QA_NN_ARCH_COUNT), ac = parse_enum(act, act_name_i, QA_NN_ACT_COUNT);
    if (t < 0) return QA_FAIL(QA_ERR_FORMAT, "%s: unknown architecture type '%s'", path, type);
    if (ac < 0) return QA_FAIL(QA_ERR_FORMAT, "%s: unknown activation '%s'", path, act);
    ar->type = (qa_nn_arch_type)t;
    ar->act = (qa_nn_act)ac;
    if (!json_is_array(hid) || json_array_size(hid) > QA_NN_MAX_HIDDEN)
        return QA_FAIL(QA_ERR_FORMAT, "%s: architecture.hidden must be a list of at most %d widths", path,
                       QA_NN_MAX_HIDDEN);
    ar->nhidden = (int)json_array_size(hid);
    for (int l = 0; l < ar->nhidden; l++) {
        json_t *w = json_array_get(hid, (size_t)l);
        if (!json_is_integer(w) || json_integer_value(w) < 1 || json_integer_value(w) > 65536)
            return QA_FAIL(QA_ERR_FORMAT, "%s: architecture.hidden[%d] is not a valid width", path, l);
        ar->hidden[l] = (int)json_integer_value(w);
    }
    qa_status st = qa_nn_arch_check(ar);
    if (st != QA_OK) {
        qa_err_prefix("%s: ", path);
        return QA_ERR_FORMAT;
    }
    if ((size_t)np != qa_nn_arch_param_count(ar))
        return QA_FAIL(QA_ERR_FORMAT, "%s: architecture.parameters = %lld but the architecture has %zu", path, np,
                       qa_nn_arch_param_count(ar));

    qa_model_spec *d = &m->data;
    json_t *in = need(&r, doc, "inputs", "");
    d->window = (int)get_int(&r, in, "window", "inputs.", 1, 4096);
    d->clip = get_num(&r, in, "clip", "inputs.");
    json_t *feats = need(&r, in, "features", "inputs.");
    json_t *nm = need(&r, doc, "normalization", "");
    json_t *mean = need(&r, nm, "mean", "normalization."), *sd = need(&r, nm, "std", "normalization.");
    if (r.st != QA_OK) return r.st;
    if (!json_is_array(feats) || json_array_size(feats) < 1 || json_array_size(feats) > QA_MODEL_MAX_INPUTS)
        return QA_FAIL(QA_ERR_FORMAT, "%s: inputs.features must list 1..%d inputs", path, QA_MODEL_MAX_INPUTS);
    d->ninputs = (int)json_array_size(feats);
    if (!policy && (d->ninputs != ar->input || d->window != ar->window))
        return QA_FAIL(QA_ERR_FORMAT, "%s: %d inputs x window %d do not match the architecture (%d x %d)", path,
                       d->ninputs, d->window, ar->input, ar->window);
    if (!json_is_array(mean) || !json_is_array(sd) || json_array_size(mean) != (size_t)d->ninputs ||
        json_array_size(sd) != (size_t)d->ninputs)
        return QA_FAIL(QA_ERR_FORMAT, "%s: normalization.mean/std must have one value per input (%d)", path, d->ninputs);
    for (int f = 0; f < d->ninputs; f++) {
        json_t *e = json_array_get(feats, (size_t)f);
        qa_model_input *ip = &d->inputs[f];
        const char *name = get_str(&r, e, "name", "inputs.features[].");
        const char *src = get_str(&r, e, "source", "inputs.features[].");
        if (r.st != QA_OK) return r.st;
        if (!*name || strlen(name) >= sizeof ip->name)
            return QA_FAIL(QA_ERR_FORMAT, "%s: inputs.features[%d] has a bad name", path, f);
        snprintf(ip->name, sizeof ip->name, "%s", name);
        if (strcmp(src, "features") == 0) {
            ip->bar = -1;
            snprintf(ip->input_hash, sizeof ip->input_hash, "%s", get_str(&r, e, "input_hash", "inputs.features[]."));
            snprintf(ip->params, sizeof ip->params, "%s", get_str(&r, e, "params", "inputs.features[]."));
        } else if (strcmp(src, "bars") == 0) {
            qa_model_bar_input b;
            if (qa_model_bar_input_parse(name, &b) != QA_OK)
                return QA_FAIL(QA_ERR_FORMAT, "%s: inputs.features[%d]: unknown bar input '%s'", path, f, name);
            ip->bar = (int)b;
        } else {
            return QA_FAIL(QA_ERR_FORMAT, "%s: inputs.features[%d].source '%s' (expected features or bars)", path, f, src);
        }
        json_t *mv = json_array_get(mean, (size_t)f), *sv = json_array_get(sd, (size_t)f);
        if (!json_is_number(mv) || !json_is_number(sv) || !isfinite(json_number_value(mv)) ||
            !(json_number_value(sv) > 0.0) || !isfinite(json_number_value(sv)))
            return QA_FAIL(QA_ERR_FORMAT, "%s: normalization of input %d must be a finite mean and a std > 0", path, f);
        m->norm.mean[f] = json_number_value(mv);
        m->norm.std[f] = json_number_value(sv);
    }
    json_t *tg = need(&r, doc, "target", "");
    const char *kind = get_str(&r, tg, "kind", "target.");
    d->horizon = (int)get_int(&r, tg, "horizon", "target.", 1, 1 << 30);
    d->classes = (int)get_int(&r, tg, "classes", "target.", 1, max_out);
    d->standardize = get_bool(&r, tg, "standardize", "target.");
    d->demean = get_bool(&r, tg, "demean", "target.");
    m->norm.target_mean = get_num(&r, tg, "mean", "target.");
    m->norm.target_std = get_num(&r, tg, "std", "target.");
    json_t *edges = need(&r, tg, "edges", "target.");
    json_t *sp = need(&r, doc, "split", "");
    d->start = get_time(&r, sp, "start", INT64_MIN);
    d->train_end = get_time(&r, sp, "train_end", 0);
    d->val_end = get_time(&r, sp, "val_end", 0);
    d->end = get_time(&r, sp, "end", INT64_MAX);
    d->embargo = (int)get_int(&r, sp, "embargo", "split.", 0, 1 << 30);
    if (r.st != QA_OK) return r.st;
    int tk = parse_enum(kind, target_name_i, QA_MODEL_TARGET_COUNT);
    if (tk < 0) return QA_FAIL(QA_ERR_FORMAT, "%s: unknown target kind '%s'", path, kind);
    d->target = (qa_model_target)tk;
    if (!(m->norm.target_std > 0.0)) return QA_FAIL(QA_ERR_FORMAT, "%s: target.std must be > 0", path);
    if (!json_is_array(edges) || json_array_size(edges) > QA_MODEL_MAX_CLASSES - 1)
        return QA_FAIL(QA_ERR_FORMAT, "%s: target.edges must be a list", path);
    m->norm.nedges = (int)json_array_size(edges);
    for (int k = 0; k < m->norm.nedges; k++) {
        json_t *e = json_array_get(edges, (size_t)k);
        if (!json_is_number(e) || !isfinite(json_number_value(e)))
            return QA_FAIL(QA_ERR_FORMAT, "%s: target.edges[%d] is not a finite number", path, k);
        m->norm.edges[k] = json_number_value(e);
        if (k && !(m->norm.edges[k] >= m->norm.edges[k - 1]))
            return QA_FAIL(QA_ERR_FORMAT, "%s: target.edges must increase", path);
    }
    if (d->target == QA_MODEL_TARGET_QUANTILE && m->norm.nedges != d->classes - 1)
        return QA_FAIL(QA_ERR_FORMAT, "%s: %d quantile classes need %d edges (got %d)", path, d->classes,
                       d->classes - 1, m->norm.nedges);
    if ((d->target == QA_MODEL_TARGET_RETURN ? 1 : d->classes) != ar->outputs)
        return QA_FAIL(QA_ERR_FORMAT, "%s: target with %d classes does not match %d outputs", path, d->classes,
                       ar->outputs);
    st = qa_model_spec_check(d);
    if (st != QA_OK) {
        qa_err_prefix("%s: ", path);
        return QA_ERR_FORMAT;
    }
    json_t *pol = json_object_get(doc, "policy");
    if (policy) {
        if (!json_is_object(pol)) return QA_FAIL(QA_ERR_FORMAT, "%s: field 'policy' is missing (target.kind is policy)", path);
        if ((st = policy_from_json(path, pol, m)) != QA_OK) return st;
    } else if (pol) {
        return QA_FAIL(QA_ERR_FORMAT, "%s: field 'policy' belongs to policy models, but target.kind is '%s'", path,
                       qa_model_target_name(d->target));
    }
    json_t *info = json_object_get(doc, "training");
    if ((st = check_training(path, info)) != QA_OK) return st;
    m->info = json_is_object(info) ? json_deep_copy(info) : json_object();
    m->nparams = (size_t)np;
    return QA_OK;
}

/* Finds blob `name` in the table and checks its size against `count`. */
static qa_status find_blob(const char *path, json_t *doc, const unsigned char *blobs, size_t blob_bytes,
                           const char *name, size_t count, const float **out) {
    json_t *tab = json_object_get(doc, "blobs");
    if (!json_is_array(tab)) return QA_FAIL(QA_ERR_FORMAT, "%s: no blob table", path);
    for (size_t i = 0; i < json_array_size(tab); i++) {
        json_t *e = json_array_get(tab, i);
        const char *nm = json_string_value(json_object_get(e, "name"));
        if (!nm || strcmp(nm, name) != 0) continue;
        json_t *c = json_object_get(e, "count"), *o = json_object_get(e, "offset");
        const char *dt = json_string_value(json_object_get(e, "dtype"));
        if (!json_is_integer(c) || !json_is_integer(o) || !dt || strcmp(dt, "float32") != 0)
            return QA_FAIL(QA_ERR_FORMAT, "%s: blob '%s' has a bad table entry", path, name);
        size_t cnt = (size_t)json_integer_value(c), off = (size_t)json_integer_value(o);
        if (cnt != count)
            return QA_FAIL(QA_ERR_FORMAT, "%s: blob '%s' holds %zu floats, the architecture needs %zu", path, name, cnt,
                           count);
        if (off % 8 || off > blob_bytes || cnt > (blob_bytes - off) / sizeof(float))
            return QA_FAIL(QA_ERR_FORMAT, "%s: blob '%s' lies outside the blob section", path, name);
        *out = (const float *)(blobs + off);
        return QA_OK;
    }
    return QA_FAIL(QA_ERR_FORMAT, "%s: blob '%s' is missing", path, name);
}

static qa_status copy_floats(const char *path, const char *name, const float *src, size_t n, int finite, float **out) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) return QA_FAIL(QA_ERR_NOMEM, "%s: %zu floats", path, n);
    memcpy(p, src, n * sizeof *p);
    if (finite)
        for (size_t i = 0; i < n; i++)
            if (!isfinite(p[i])) {
                free(p);
                return QA_FAIL(QA_ERR_FORMAT, "%s: %s[%zu] is not finite", path, name, i);
            }
    *out = p;
    return QA_OK;
}

/* ---- public API ------------------------------------------------------------------------------- */

qa_status qa_model_init(qa_model *m, const qa_nn_arch *arch, const qa_model_spec *data,
                              const qa_model_norm *norm) {
    memset(m, 0, sizeof *m);
    qa_status st = qa_nn_arch_check(arch);
    if (st != QA_OK) return st;
    m->arch = *arch;
    if (data) m->data = *data;
    if (norm) m->norm = *norm;
    m->nparams = qa_nn_arch_param_count(arch);
    m->params = calloc(m->nparams, sizeof *m->params);
    if (!m->params) return QA_FAIL(QA_ERR_NOMEM, "model: %zu parameters", m->nparams);
    return QA_OK;
}

void qa_model_free(qa_model *m) {
    if (!m) return;
    policy_free(&m->policy);
    free(m->params);
    json_decref(m->info);
    memset(m, 0, sizeof *m);
}

qa_status qa_model_set_policy(qa_model *m, const qa_model_policy *p) {
    if (!m || !p) return QA_FAIL(QA_ERR_INVALID_ARG, "policy: NULL model or policy");
    qa_status st = policy_check(m, p, "policy", QA_ERR_CONFIG);
    if (st != QA_OK) return st;
    qa_model_policy c = *p;
    if ((st = policy_alloc(&c)) != QA_OK) return st;
    memcpy(c.obs_mean, p->obs_mean, (size_t)p->dim * sizeof *c.obs_mean);
    memcpy(c.obs_var, p->obs_var, (size_t)p->dim * sizeof *c.obs_var);
    policy_free(&m->policy);
    m->policy = c;
    memset(&m->norm, 0, sizeof m->norm);
    for (int f = 0; f < m->data.ninputs; f++) m->norm.std[f] = 1.0; /* as a loaded file has it */
    m->norm.target_std = 1.0;
    return QA_OK;
}

qa_status qa_model_check_predictor(const qa_model *m, const char *label) {
    if (m->data.target != QA_MODEL_TARGET_POLICY) return QA_OK;
    return QA_FAIL(QA_ERR_CONFIG,
                   "%s: a policy model (qa rl train) is not a return predictor; it maps an observation of %d input "
                   "window(s) and trading state to %s actions: evaluate it with qa rl eval",
                   label, m->policy.assets * m->data.ninputs, qa_model_policy_action_name(m->policy.action));
}

/* A policy's section must hold before it is written (JSON has no NaN to write). */
static qa_status save_check(const qa_model *m, const char *path) {
    if (m->data.target != QA_MODEL_TARGET_POLICY) return QA_OK;
    return policy_check(m, &m->policy, path, QA_ERR_CONFIG);
}

qa_status qa_model_save(qa_model *m, const char *path) {
    qa_status st0 = save_check(m, path);
    if (st0 != QA_OK) return st0;
    json_t *doc = model_json(m, QA_MODEL_FORMAT);
    if (!doc) return QA_FAIL(QA_ERR_NOMEM, "model metadata");
    blob b[1] = {{"params", m->params, m->nparams}};
    qa_status st = container_write(path, doc, b, 1, m->sha256);
    json_decref(doc);
    return st;
}

qa_status qa_model_load_bytes(const char *path, const void *data, size_t len, qa_model *out) {
    json_t *doc = NULL;
    const unsigned char *blobs = NULL;
    size_t nb = 0;
    char sha[65];
    qa_model m;
    memset(&m, 0, sizeof m);
    memset(out, 0, sizeof *out);
    qa_status st = QA_OK;
    const float *p = NULL;
    QA_TRY(qa_container_parse(path, data, len, MAGIC, CONTAINER_VERSION, "QuantumAlpha model or checkpoint file", &doc,
                              &blobs, &nb, sha));
    QA_TRY(model_from_json(path, doc, QA_MODEL_FORMAT, &m));
    QA_TRY(find_blob(path, doc, blobs, nb, "params", m.nparams, &p));
    QA_TRY(copy_floats(path, "params", p, m.nparams, 1, &m.params));
    memcpy(m.sha256, sha, sizeof sha);
    *out = m;
    memset(&m, 0, sizeof m);
cleanup:
    qa_model_free(&m);
    json_decref(doc);
    return st;
}

qa_status qa_model_load(const char *path, qa_model *out) {
    char *data = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    qa_status st = qa_fs_read_all(path, &data, &len);
    if (st == QA_OK) st = qa_model_load_bytes(path, data, len, out);
    free(data);
    return st;
}

qa_status qa_model_ckpt_save(const qa_model *m, const qa_model_ckpt *c, const char *path) {
    qa_status st0 = save_check(m, path);
    if (st0 != QA_OK) return st0;
    json_t *doc = model_json(m, QA_MODEL_CKPT_FORMAT);
    if (!doc) return QA_FAIL(QA_ERR_NOMEM, "checkpoint metadata");
    json_t *state = json_pack("{s:I, s:o, s:I, s:I, s:s, s:s}", "step", (json_int_t)c->step, "best_val",
                              isfinite(c->best_val) ? json_real(c->best_val) : json_null(), "best_step",
                              (json_int_t)c->best_step, "bad_evals", (json_int_t)c->bad_evals, "seed", "",
                              "config_hash", c->config_hash);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed); /* as text: JSON integers are signed */
    json_object_set_new(state, "seed", json_string(seed));
    json_object_set_new(doc, "state", state);
    blob b[4] = {{"params", m->params, m->nparams},
                 {"adam_m", c->adam_m, m->nparams},
                 {"adam_v", c->adam_v, m->nparams},
                 {"best_params", c->best_params, c->best_params ? m->nparams : 0}};
    qa_status st = container_write(path, doc, b, 4, NULL);
    json_decref(doc);
    return st;
}

void qa_model_ckpt_free(qa_model_ckpt *c) {
    if (!c) return;
    free(c->adam_m);
    free(c->adam_v);
    free(c->best_params);
    memset(c, 0, sizeof *c);
}

qa_status qa_model_ckpt_load(const char *path, qa_model *out, qa_model_ckpt *cout) {
    json_t *doc = NULL;
    unsigned char *file = NULL;
    const unsigned char *blobs = NULL;
    size_t nb = 0;
    qa_model m;
    qa_model_ckpt c;
    memset(&m, 0, sizeof m);
    memset(&c, 0, sizeof c);
    memset(out, 0, sizeof *out);
    memset(cout, 0, sizeof *cout);
    qa_status st = QA_OK;
    const float *p = NULL;
    QA_TRY(container_read(path, &doc, &file, &blobs, &nb, NULL));
    QA_TRY(model_from_json(path, doc, QA_MODEL_CKPT_FORMAT, &m));
    reader r = {path, QA_OK};
    json_t *s = need(&r, doc, "state", "");
    c.step = get_int(&r, s, "step", "state.", 0, (long long)1 << 62);
    c.best_step = get_int(&r, s, "best_step", "state.", -1, (long long)1 << 62);
    c.bad_evals = get_int(&r, s, "bad_evals", "state.", 0, (long long)1 << 62);
    const char *seed = get_str(&r, s, "seed", "state.");
    const char *hash = get_str(&r, s, "config_hash", "state.");
    json_t *bv = need(&r, s, "best_val", "state.");
    QA_TRY(r.st);
    c.best_val = json_is_number(bv) ? json_number_value(bv) : INFINITY;
    errno = 0;
    char *endp = NULL;
    c.seed = strtoull(seed, &endp, 10);
    if (errno || !*seed || *endp) QA_TRY_FAIL(QA_ERR_FORMAT, "%s: state.seed '%s' is not an integer", path, seed);
    snprintf(c.config_hash, sizeof c.config_hash, "%s", hash);
    QA_TRY(find_blob(path, doc, blobs, nb, "params", m.nparams, &p));
    QA_TRY(copy_floats(path, "params", p, m.nparams, 1, &m.params));
    QA_TRY(find_blob(path, doc, blobs, nb, "adam_m", m.nparams, &p));
    QA_TRY(copy_floats(path, "adam_m", p, m.nparams, 1, &c.adam_m));
    QA_TRY(find_blob(path, doc, blobs, nb, "adam_v", m.nparams, &p));
    QA_TRY(copy_floats(path, "adam_v", p, m.nparams, 1, &c.adam_v));
    if (c.best_step >= 0) {
        QA_TRY(find_blob(path, doc, blobs, nb, "best_params", m.nparams, &p));
        QA_TRY(copy_floats(path, "best_params", p, m.nparams, 1, &c.best_params));
    }
    *out = m;
    *cout = c;
    memset(&m, 0, sizeof m);
    memset(&c, 0, sizeof c);
cleanup:
    qa_model_free(&m);
    qa_model_ckpt_free(&c);
    json_decref(doc);
    free(file);
    return st;
}

qa_status qa_model_verify(const char *path, char *sha_hex) {
    qa_model m;
    qa_status st = qa_model_load(path, &m);
    if (st != QA_OK) return st;
    if (sha_hex) memcpy(sha_hex, m.sha256, sizeof m.sha256);
    qa_model_free(&m);
    return QA_OK;
}
