/* `qa train`: configuration, the data-parallel training loop, evaluation, checkpoints,
 * early stopping, metrics, summary and report (overview in pipeline/train/train.h). */
#include "pipeline/train/train.h"

#include <limits.h>  /* INT_MAX */
#include <math.h>    /* isfinite, INFINITY */
#include <stdarg.h>  /* va_list */
#include <stddef.h>  /* offsetof */
#include <stdlib.h>  /* malloc, free */
#include <errno.h>   /* errno of a failed metrics write */
#include <string.h>  /* strcmp, memcpy, strerror */

#include "build_info.h"              /* version in the model info */
#include "common/fs.h"               /* files of the run directory */
#include "common/hash.h"             /* config hash */
#include "common/json.h"             /* resolved config, summary */
#include "common/log.h"              /* progress of the run */
#include "common/progress.h"         /* step progress line */
#include "common/timer.h"            /* throughput */
#include "datasets/store.h"          /* the market file */
#include "common/timeparse.h"      /* split dates */
#include "kernels/nn.h"              /* AdamW, schedule, norm */
#include "pipeline/train/evaluate.h"       /* out-of-sample metrics */
#include "pipeline/run/report.h"         /* report.html */
#include "pipeline/run/rundir.h"         /* the run directory */
#include "pipeline/train/train_data.h"     /* samples */
#include "pipeline/train/train_internal.h" /* staging, chunked loss, gradient sync */
#include "registry/model.h"    /* model and checkpoint files */
#include "pipeline/train/train_net.h"      /* the networks */

/* ---- configuration ----------------------------------------------------------------------- */

static const char *const target_choices[] = {"return", "sign", "quantile", NULL};
static const char *const model_choices[] = {"mlp", "lstm", NULL};
static const char *const act_choices[] = {"none", "relu", "gelu", NULL};
static const char *const loss_choices[] = {"auto", "mse", "huber", "cross_entropy", NULL};
static const char *const math_choices[] = {"fp32", "tf32", "bf16", NULL};

#define OFF(m) offsetof(qa_train_cfg, m)
static const qa_cfg_field inputs_fields[] = {
    {"features", QA_CFG_T_STRING_LIST, OFF(features), 0, 0, NULL, NULL, 0, "datasets under /features"},
    {"bars", QA_CFG_T_STRING_LIST, OFF(bars), 0, 0, NULL, NULL, 0, "bar-derived inputs: ret, logret, range, body, logvol"},
    {"window", QA_CFG_T_INT, OFF(window), 1, 4096, NULL, NULL, 0, "look-back bars per sample"},
    {"clip", QA_CFG_T_DOUBLE, OFF(clip), 0, 1e6, NULL, NULL, 0, "clip normalised inputs to +-clip (0: off)"},
    {NULL},
};
static const qa_cfg_field target_fields[] = {
    {"kind", QA_CFG_T_ENUM, OFF(target), 0, 0, target_choices, NULL, 0, "return, sign or quantile"},
    {"horizon", QA_CFG_T_INT, OFF(horizon), 1, 1000000, NULL, NULL, 0, "bars ahead"},
    {"classes", QA_CFG_T_INT, OFF(classes), 0, 16, NULL, NULL, 0, "quantile buckets (0: default)"},
    {"standardize", QA_CFG_T_BOOL, OFF(standardize), 0, 0, NULL, NULL, 0, "regression on standardised returns"},
    {"demean", QA_CFG_T_BOOL, OFF(demean), 0, 0, NULL, NULL, 0, "subtract the cross-sectional mean return"},
    {NULL},
};
static const qa_cfg_field split_fields[] = {
    {"start", QA_CFG_T_STRING, OFF(start), 0, 0, NULL, NULL, 0, "first date (default: the data's)"},
    {"train_end", QA_CFG_T_STRING, OFF(train_end), 0, 0, NULL, NULL, 0, "first date of validation"},
    {"val_end", QA_CFG_T_STRING, OFF(val_end), 0, 0, NULL, NULL, 0, "first date of test"},
    {"end", QA_CFG_T_STRING, OFF(end), 0, 0, NULL, NULL, 0, "end date, exclusive (default: the data's)"},
    {"embargo", QA_CFG_T_INT, OFF(embargo), 0, 1000000, NULL, NULL, 0, "bars dropped after each boundary"},
    {NULL},
};
static const qa_cfg_field model_fields[] = {
    {"type", QA_CFG_T_ENUM, OFF(model), 0, 0, model_choices, NULL, 0, "mlp or lstm"},
    {"hidden", QA_CFG_T_INT_LIST, OFF(hidden), 1, 65536, NULL, NULL, 0, "hidden widths (LSTM: one per layer)"},
    {"activation", QA_CFG_T_ENUM, OFF(activation), 0, 0, act_choices, NULL, 0, "none, relu or gelu"},
    {"layer_norm", QA_CFG_T_BOOL, OFF(layer_norm), 0, 0, NULL, NULL, 0, "LayerNorm after hidden linear layers"},
    {"dropout", QA_CFG_T_DOUBLE, OFF(dropout), 0, 0.99, NULL, NULL, 0, "dropout probability"},
    {NULL},
};
static const qa_cfg_field train_fields[] = {
    {"loss", QA_CFG_T_ENUM, OFF(loss), 0, 0, loss_choices, NULL, 0, "auto, mse, huber, cross_entropy"},
    {"huber_delta", QA_CFG_T_DOUBLE, OFF(huber_delta), 1e-9, 1e9, NULL, NULL, 0, "Huber threshold"},
    {"batch_size", QA_CFG_T_INT, OFF(batch_size), 1, 1 << 24, NULL, NULL, 0, "global batch"},
    {"steps", QA_CFG_T_INT, OFF(steps), 0, 1000000000000LL, NULL, NULL, 0, "optimiser steps (0: from epochs)"},
    {"epochs", QA_CFG_T_INT, OFF(epochs), 0, 1000000, NULL, NULL, 0, "epochs when steps is 0"},
    {"lr", QA_CFG_T_DOUBLE, OFF(lr), 0, 10, NULL, NULL, 0, "peak learning rate"},
    {"lr_min", QA_CFG_T_DOUBLE, OFF(lr_min), 0, 10, NULL, NULL, 0, "final learning rate"},
    {"warmup_steps", QA_CFG_T_INT, OFF(warmup_steps), 0, 1000000000000LL, NULL, NULL, 0, "linear warm-up"},
    {"weight_decay", QA_CFG_T_DOUBLE, OFF(weight_decay), 0, 10, NULL, NULL, 0, "AdamW decay on weights"},
    {"beta1", QA_CFG_T_DOUBLE, OFF(beta1), 0, 0.999999, NULL, NULL, 0, "AdamW beta1"},
    {"beta2", QA_CFG_T_DOUBLE, OFF(beta2), 0, 0.999999999, NULL, NULL, 0, "AdamW beta2"},
    {"eps", QA_CFG_T_DOUBLE, OFF(adam_eps), 0, 1, NULL, NULL, 0, "AdamW epsilon"},
    {"max_grad_norm", QA_CFG_T_DOUBLE, OFF(max_grad_norm), 0, 1e12, NULL, NULL, 0, "clipping (0: off)"},
    {"eval_every", QA_CFG_T_INT, OFF(eval_every), 0, 1000000000000LL, NULL, NULL, 0, "steps (0: each epoch)"},
    {"log_every", QA_CFG_T_INT, OFF(log_every), 1, 1000000000000LL, NULL, NULL, 0, "steps per metrics line"},
    {"checkpoint_every", QA_CFG_T_INT, OFF(checkpoint_every), 0, 1000000000000LL, NULL, NULL, 0,
     "steps (0: at each evaluation)"},
    {"patience", QA_CFG_T_INT, OFF(patience), 0, 1000000000, NULL, NULL, 0, "evaluations without improvement (0: off)"},
    {"min_delta", QA_CFG_T_DOUBLE, OFF(min_delta), 0, 1e12, NULL, NULL, 0, "improvement needed"},
    {"eval_batch", QA_CFG_T_INT, OFF(eval_batch), 0, 1 << 20, NULL, NULL, 0, "rows per evaluation chunk (0: the shard size)"},
    {NULL},
};
static const qa_cfg_field parallel_fields[] = {
    {"shards", QA_CFG_T_INT, OFF(shards), 1, QA_TRAIN_MAX_SHARDS, NULL, NULL, 0, "shards of the global batch"},
    {"deterministic", QA_CFG_T_BOOL, OFF(deterministic), 0, 0, NULL, NULL, 0, "same bits for any rank count"},
    {"bucket_mb", QA_CFG_T_DOUBLE, OFF(bucket_mb), 0.001, 1e4, NULL, NULL, 0, "NCCL bucket size"},
    {"math", QA_CFG_T_ENUM, OFF(math), 0, 0, math_choices, NULL, 0, "GEMM math: fp32, tf32, bf16 (CPU: tf32 computes in fp32; bf16 uses AVX512_BF16 where present)"},
    {NULL},
};
static const qa_cfg_field evaluate_fields[] = {
    {"top_k", QA_CFG_T_INT, OFF(top_k), 1, 1000000, NULL, NULL, 0, "names per leg of the backtest"},
    {"cost_bps", QA_CFG_T_DOUBLE, OFF(cost_bps), 0, 10000, NULL, NULL, 0, "cost per unit traded, bps"},
    {NULL},
};
static const qa_cfg_field schema[] = {
    {"data", QA_CFG_T_STRING, OFF(data), 0, 0, NULL, NULL, 0, "market file"},
    {"backend", QA_CFG_T_STRING, OFF(backend), 0, 0, NULL, NULL, 0, "cpu, cuda or auto"},
    {"seed", QA_CFG_T_INT, OFF(seed), 0, 0x1p62 /* 2^62 */, NULL, NULL, 0, "initialisation, shuffle, dropout"},
    {"threads", QA_CFG_T_INT, OFF(threads), 0, 1024, NULL, NULL, 0, "CPU threads per rank (0: auto)"},
    {"inputs", QA_CFG_T_SECTION, 0, 0, 0, NULL, inputs_fields, 0, "inputs"},
    {"target", QA_CFG_T_SECTION, 0, 0, 0, NULL, target_fields, 0, "target"},
    {"split", QA_CFG_T_SECTION, 0, 0, 0, NULL, split_fields, 0, "time splits"},
    {"model", QA_CFG_T_SECTION, 0, 0, 0, NULL, model_fields, 0, "architecture"},
    {"train", QA_CFG_T_SECTION, 0, 0, 0, NULL, train_fields, 0, "optimisation"},
    {"parallel", QA_CFG_T_SECTION, 0, 0, 0, NULL, parallel_fields, 0, "data parallelism"},
    {"evaluate", QA_CFG_T_SECTION, 0, 0, 0, NULL, evaluate_fields, 0, "evaluation"},
    {NULL},
};

qa_status qa_train_cfg_default(qa_train_cfg *c) {
    memset(c, 0, sizeof *c);
    c->backend = "auto";
    c->seed = 42;
    c->window = 1;
    c->target = QA_MODEL_TARGET_RETURN;
    c->horizon = 1;
    c->standardize = 1;
    c->embargo = 5;
    c->model = QA_NN_ARCH_MLP;
    c->activation = QA_NN_ACT_GELU;
    c->huber_delta = 1.0;
    c->batch_size = 4096;
    c->steps = 1000;
    c->lr = 1e-3;
    c->lr_min = 1e-5;
    c->warmup_steps = 100;
    c->weight_decay = 0.01;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->adam_eps = 1e-8;
    c->max_grad_norm = 1.0;
    c->log_every = 10;
    c->patience = 10;
    c->eval_batch = 0;
    c->shards = 4;
    c->deterministic = 1;
    c->bucket_mb = 4.0;
    c->math = QA_NN_MATH_FP32;
    c->top_k = 3;
    c->cost_bps = 5.0;
    return QA_OK;
}

/* The node of `sec.key[idx]` in the document (NULL when absent). */
static const qa_cfg_node *node_at(const qa_train_cfg *c, const char *sec, const char *key, long idx) {
    if (!c->doc) return NULL;
    const qa_cfg_node *n = qa_cfg_root(c->doc);
    if (sec) n = qa_cfg_map_get(n, sec);
    if (key) n = qa_cfg_map_get(n, key);
    if (n && idx >= 0) n = qa_cfg_seq_at(n, (size_t)idx);
    return n;
}

/* A config error at `sec.key[idx]`: "file:line: key 'sec.key[idx]': detail" ("--set ...: key"
 * for a value from the command line), or without a line when the key was not written (a default). */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static qa_status cfg_err(const qa_train_cfg *c, const char *sec, const char *key, long idx, const char *fmt, ...) {
    char what[160], detail[1024];
    if (idx >= 0) snprintf(what, sizeof what, "%s%s%s[%ld]", sec ? sec : "", sec ? "." : "", key, idx);
    else snprintf(what, sizeof what, "%s%s%s", sec ? sec : "", sec ? "." : "", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    const qa_cfg_node *n = node_at(c, sec, key, idx);
    if (n) return qa_cfg_error(c->doc, n, what, "%s", detail); /* names the file:line or the --set */
    return QA_FAIL(QA_ERR_CONFIG, "%s: key '%s' (default or command line): %s", c->doc ? qa_cfg_name(c->doc) : "config",
                   what, detail);
}

static qa_status parse_date(const qa_train_cfg *c, const char *key, const char *text, int64_t *out) {
    qa_tzone utc;
    memset(&utc, 0, sizeof utc);
    if (!qa_time_parse(text, QA_TIME_ISO, &utc, out))
        return cfg_err(c, "split", key, -1, "'%s' is not a date (YYYY-MM-DD or an ISO date-time)%s", text,
                       qa_time_parse_why());
    return QA_OK;
}

/* Effective target classes and loss. */
static int eff_classes(const qa_train_cfg *c) {
    if (c->target == QA_MODEL_TARGET_RETURN) return 1;
    if (c->target == QA_MODEL_TARGET_SIGN) return 2;
    return c->classes ? (int)c->classes : 5;
}
static qa_train_loss eff_loss(const qa_train_cfg *c) {
    if (c->loss == 0) return c->target == QA_MODEL_TARGET_RETURN ? QA_TRAIN_LOSS_MSE : QA_TRAIN_LOSS_CROSS_ENTROPY;
    return (qa_train_loss)(c->loss - 1);
}

qa_status qa_train_cfg_bind(const qa_cfg_t *doc, qa_train_cfg *c) {
    c->doc = doc;
    qa_status st = qa_cfg_bind(doc, qa_cfg_root(doc), schema, c, NULL);
    if (st != QA_OK) return st;
    if (c->features.n + c->bars.n == 0)
        return cfg_err(c, "inputs", "features", -1, "no inputs: list datasets under /features and/or bar inputs");
    if (c->features.n + c->bars.n > QA_MODEL_MAX_INPUTS)
        return cfg_err(c, "inputs", "features", -1, "%zu inputs (at most %d)", c->features.n + c->bars.n,
                       QA_MODEL_MAX_INPUTS);
    const char **fs = c->features.items, **bs = c->bars.items;
    for (size_t i = 0; i < c->features.n; i++) {
        if (!fs[i][0] || strlen(fs[i]) >= QA_MODEL_NAME_LEN || strchr(fs[i], '/'))
            return cfg_err(c, "inputs", "features", (long)i, "'%s' is not a feature dataset name", fs[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(fs[i], fs[j]) == 0) return cfg_err(c, "inputs", "features", (long)i, "'%s' is listed twice", fs[i]);
    }
    for (size_t i = 0; i < c->bars.n; i++) {
        qa_model_bar_input b;
        if (qa_model_bar_input_parse(bs[i], &b) != QA_OK)
            return cfg_err(c, "inputs", "bars", (long)i, "%s", qa_err_msg());
        for (size_t j = 0; j < i; j++)
            if (strcmp(bs[i], bs[j]) == 0) return cfg_err(c, "inputs", "bars", (long)i, "'%s' is listed twice", bs[i]);
    }
    if (c->target == QA_MODEL_TARGET_RETURN && c->classes > 1)
        return cfg_err(c, "target", "classes", -1, "a return target is a regression (1 output); use kind: quantile");
    if (c->target == QA_MODEL_TARGET_SIGN && c->classes && c->classes != 2)
        return cfg_err(c, "target", "classes", -1, "a sign target has 2 classes");
    if (c->target == QA_MODEL_TARGET_QUANTILE && c->classes == 1)
        return cfg_err(c, "target", "classes", -1, "quantile buckets need at least 2 classes");
    qa_train_loss l = eff_loss(c);
    if (c->target == QA_MODEL_TARGET_RETURN && l == QA_TRAIN_LOSS_CROSS_ENTROPY)
        return cfg_err(c, "train", "loss", -1, "cross_entropy needs a classification target (sign or quantile)");
    if (c->target != QA_MODEL_TARGET_RETURN && l != QA_TRAIN_LOSS_CROSS_ENTROPY)
        return cfg_err(c, "train", "loss", -1, "%s needs a return target; classification uses cross_entropy",
                       qa_train_loss_name(l));
    if (c->hidden.n > QA_NN_MAX_HIDDEN)
        return cfg_err(c, "model", "hidden", -1, "%zu layers (at most %d)", c->hidden.n, QA_NN_MAX_HIDDEN);
    const long long *hw = c->hidden.items;
    if (c->model == QA_NN_ARCH_LSTM) {
        if (c->hidden.n == 0) return cfg_err(c, "model", "hidden", -1, "an LSTM needs a hidden size, e.g. [128]");
        for (size_t i = 1; i < c->hidden.n; i++)
            if (hw[i] != hw[0])
                return cfg_err(c, "model", "hidden", (long)i, "stacked LSTM layers share one width (%lld, not %lld)",
                               hw[0], hw[i]);
        if (c->layer_norm) return cfg_err(c, "model", "layer_norm", -1, "layer_norm is an MLP option");
    }
    if (!c->train_end) return cfg_err(c, "split", "train_end", -1, "missing: the first date of the validation split");
    if (!c->val_end) return cfg_err(c, "split", "val_end", -1, "missing: the first date of the test split");
    int64_t t[4];
    if (c->start) QA_TRY(parse_date(c, "start", c->start, &t[0]));
    QA_TRY(parse_date(c, "train_end", c->train_end, &t[1]));
    QA_TRY(parse_date(c, "val_end", c->val_end, &t[2]));
    if (c->end) QA_TRY(parse_date(c, "end", c->end, &t[3]));
    if (c->start && !(t[0] < t[1])) return cfg_err(c, "split", "train_end", -1, "must be after split.start");
    if (!(t[1] < t[2])) return cfg_err(c, "split", "val_end", -1, "must be after split.train_end (%s)", c->train_end);
    if (c->end && !(t[2] < t[3])) return cfg_err(c, "split", "end", -1, "must be after split.val_end (%s)", c->val_end);
    if (c->batch_size % c->shards)
        return cfg_err(c, "train", "batch_size", -1, "%lld is not divisible into parallel.shards = %lld equal shards",
                       c->batch_size, c->shards);
    if (c->lr_min > c->lr) return cfg_err(c, "train", "lr_min", -1, "%g exceeds train.lr = %g", c->lr_min, c->lr);
    if (c->steps == 0 && c->epochs == 0) return cfg_err(c, "train", "steps", -1, "give train.steps or train.epochs");
cleanup:
    return st;
}

json_t *qa_train_cfg_json(const qa_train_cfg *c) {
    qa_train_cfg r = *c;
    r.classes = eff_classes(c);
    r.loss = (int)eff_loss(c) + 1;
    return qa_json_from_schema(schema, &r);
}

/* SHA-256 of the resolved config without the keys that may change between a run and its
 * resume (file location, backend, threads). */
static qa_status cfg_hash(const qa_train_cfg *c, char *hex) {
    json_t *j = qa_train_cfg_json(c);
    if (!j) return QA_FAIL(QA_ERR_NOMEM, "config hash");
    json_object_del(j, "data");
    json_object_del(j, "backend");
    json_object_del(j, "threads");
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(j);
    if (!text) return QA_FAIL(QA_ERR_NOMEM, "config hash");
    qa_status st = qa_sha256_hex(text, strlen(text), hex);
    free(text);
    return st;
}

/* ---- the trainer ----------------------------------------------------------------------------- */

typedef struct trainer {
    qa_train_cfg c;
    const qa_comm_t *comm;
    int rank, R, root;
    qa_store_t *store;
    qa_train_data d;
    qa_nn_arch arch;
    qa_model model; /* host params (initial / checkpoint), spec, norm, info */
    qa_model_ckpt ck;     /* optimiser state on the host when saving/resuming */
    qa_train_loss loss;
    qa_backend_t *be;
    qa_nn_ctx_t *ctx;
    qa_train_net_t *net;
    qa_train_io io;
    qa_train_dp *dp;
    qa_buf p, m, v, norm, losses;
    size_t P;
    int M, local, k0, B, Bs;
    int64_t spe, total, eval_every, ckpt_every;
    qa_nn_seg segs[QA_NN_MAX_SEGMENTS];
    int nsegs;
    uint32_t *perm, *batch_rows;
    int64_t perm_epoch;
    qa_rundir rd;
    char ckpt_path[QA_PATH_MAX], model_path[QA_PATH_MAX], metrics_path[QA_PATH_MAX];
    FILE *metrics;
    char metrics_err[QA_PATH_MAX + 128]; /* the first failed metrics write, reported at the next checkpoint */
    char cfg_hash[65];
    double best_val;
    int64_t best_step, bad_evals;
    float *best_params; /* host */
} trainer;

static const char *iso(int64_t t, char *buf, size_t n) {
    if (t == INT64_MIN || t == INT64_MAX) return "";
    return qa_time_format_iso(t, buf, n);
}

/* Data spec from the config; features are resolved against the store with
 * config-located errors. */
static qa_status build_spec(trainer *T, qa_model_spec *s) {
    const qa_train_cfg *c = &T->c;
    memset(s, 0, sizeof *s);
    const char **fs = c->features.items, **bs = c->bars.items;
    for (size_t i = 0; i < c->features.n; i++) {
        qa_model_input *in = &s->inputs[s->ninputs++];
        snprintf(in->name, sizeof in->name, "%s", fs[i]);
        in->bar = -1;
    }
    for (size_t i = 0; i < c->bars.n; i++) {
        qa_model_input *in = &s->inputs[s->ninputs++];
        qa_model_bar_input b;
        qa_model_bar_input_parse(bs[i], &b);
        snprintf(in->name, sizeof in->name, "%s", bs[i]);
        in->bar = (int)b;
    }
    s->window = (int)c->window;
    s->horizon = (int)c->horizon;
    s->target = (qa_model_target)c->target;
    s->classes = eff_classes(c);
    s->standardize = c->standardize;
    s->demean = c->demean;
    qa_tzone utc;
    memset(&utc, 0, sizeof utc);
    s->start = INT64_MIN, s->end = INT64_MAX;
    if (c->start) qa_time_parse(c->start, QA_TIME_ISO, &utc, &s->start);
    qa_time_parse(c->train_end, QA_TIME_ISO, &utc, &s->train_end);
    qa_time_parse(c->val_end, QA_TIME_ISO, &utc, &s->val_end);
    if (c->end) qa_time_parse(c->end, QA_TIME_ISO, &utc, &s->end);
    s->embargo = (int)c->embargo;
    s->clip = c->clip;
    for (size_t i = 0; i < c->features.n; i++) {
        char path[QA_MODEL_NAME_LEN + 16];
        snprintf(path, sizeof path, "features/%s", fs[i]);
        if (!qa_store_exists(T->store, path)) {
            char **names = NULL, avail[768] = "";
            size_t nn = 0, used = 0;
            if (qa_store_list(T->store, "features", &names, &nn) == QA_OK) {
                for (size_t k = 0; k < nn && used + 80 < sizeof avail; k++)
                    used += (size_t)snprintf(avail + used, sizeof avail - used, "%s%s", k ? ", " : "", names[k]);
                qa_store_free_names(names, nn);
            }
            return cfg_err(c, "inputs", "features", (long)i, "feature '%s' is not in /features of %s (available: %s)",
                           fs[i], c->data, nn ? avail : "none; run qa features");
        }
    }
    return qa_train_data_resolve_inputs(T->store, s);
}

/* Checks that need the loaded data, each reported at its config key. */
static qa_status check_data(trainer *T) {
    const qa_train_cfg *c = &T->c;
    const qa_train_data *d = &T->d;
    size_t longest = 0;
    for (size_t s = 0; s < d->nsym; s++) {
        size_t n = d->sym_begin[s + 1] - d->sym_begin[s];
        longest = n > longest ? n : longest;
    }
    if ((size_t)c->horizon >= longest)
        return cfg_err(c, "target", "horizon", -1, "%lld bars ahead exceeds the data: the longest symbol has %zu bars",
                       c->horizon, longest);
    if ((size_t)c->window > longest)
        return cfg_err(c, "inputs", "window", -1, "%lld bars exceeds the data: the longest symbol has %zu bars",
                       c->window, longest);
    static const char *const keys[] = {"train_end", "val_end", "val_end"};
    for (int k = 0; k < QA_TRAIN_SPLIT_COUNT; k++) {
        if (d->nsamples[k]) continue;
        const qa_train_data_counts *n = &d->counts[k];
        char a[40], b[40];
        int64_t lo = k == 0 ? d->spec.start : k == 1 ? d->spec.train_end : d->spec.val_end;
        int64_t hi = k == 0 ? d->spec.train_end : k == 1 ? d->spec.val_end : d->spec.end;
        return cfg_err(c, "split", k == 2 && c->end ? "end" : keys[k], -1,
                       "the %s split [%s, %s) has no samples (%zu rows in range: %zu embargoed, %zu short history, "
                       "%zu with NaN inputs, %zu without a label, %zu purged)",
                       qa_train_split_name((qa_train_split)k), lo == INT64_MIN ? "start" : iso(lo, a, sizeof a),
                       hi == INT64_MAX ? "end" : iso(hi, b, sizeof b), n->rows, n->embargoed, n->short_history,
                       n->nan_input, n->nan_label, n->purged);
    }
    if ((size_t)c->batch_size > d->nsamples[QA_TRAIN_SPLIT_TRAIN])
        return cfg_err(c, "train", "batch_size", -1, "%lld is larger than the training set (%zu samples)",
                       c->batch_size, d->nsamples[QA_TRAIN_SPLIT_TRAIN]);
    return QA_OK;
}

static qa_status build_arch(trainer *T) {
    const qa_train_cfg *c = &T->c;
    qa_nn_arch *a = &T->arch;
    memset(a, 0, sizeof *a);
    a->type = (qa_nn_arch_type)c->model;
    a->input = T->d.spec.ninputs;
    a->window = T->d.spec.window;
    a->outputs = T->d.spec.target == QA_MODEL_TARGET_RETURN ? 1 : T->d.spec.classes;
    a->nhidden = (int)c->hidden.n;
    for (size_t i = 0; i < c->hidden.n; i++) a->hidden[i] = (int)((const long long *)c->hidden.items)[i];
    a->act = (qa_nn_act)c->activation;
    a->layer_norm = c->layer_norm;
    a->dropout = (float)c->dropout;
    qa_status st = qa_nn_arch_check(a);
    if (st != QA_OK) return cfg_err(c, "model", "hidden", -1, "%s", qa_err_msg());
    return QA_OK;
}

/* Training metadata stored in model.qam. */
static json_t *model_info(trainer *T) {
    const qa_train_data *d = &T->d;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < d->nsamples[0]; i++) {
        int64_t t = d->time[d->row_t[d->samples[0][i]]];
        lo = t < lo ? t : lo;
        hi = t > hi ? t : hi;
    }
    char a[40], b[40], e[40], f[40], now[32];
    qa_time_utc_iso(now, sizeof now);
    return json_pack("{s:s, s:[s,s], s:[s,s], s:{s:I, s:I, s:I}, s:s, s:f, s:I, s:I, s:i, s:s, s:s, s:s}", "data",
                     T->c.data,
                     "train_range", iso(lo, a, sizeof a), iso(hi, b, sizeof b), "data_range",
                     iso(d->first_time, e, sizeof e), iso(d->last_time, f, sizeof f), "samples", "train",
                     (json_int_t)d->nsamples[0], "val", (json_int_t)d->nsamples[1], "test", (json_int_t)d->nsamples[2],
                     "loss", qa_train_loss_name(T->loss), "huber_delta", T->c.huber_delta, "eval_batch",
                     (json_int_t)T->c.eval_batch, "threads",
                     T->be && qa_backend_kind_of(T->be) == QA_BACKEND_CPU ? qa_backend_threads(T->be) : 0, "seed",
                     (json_int_t)T->c.seed, "config_hash", T->cfg_hash, "created", now, "qa_version", QA_VERSION);
}

static qa_status write_model(trainer *T, const float *params, int64_t step, double val) {
    if (!T->root) return QA_OK;
    memcpy(T->model.params, params, T->P * sizeof(float));
    json_decref(T->model.info);
    T->model.info = model_info(T);
    json_object_set_new(T->model.info, "step", json_integer(step));
    json_object_set_new(T->model.info, "val_loss", qa_json_real(val));
    return qa_model_save(&T->model, T->model_path);
}

static qa_status download(trainer *T, const qa_buf *b, float *dst) {
    return qa_buf_download(T->be, dst, b, 0, T->P * sizeof(float));
}

/* Rank 0 writes the checkpoint after `step` steps. */
static qa_status write_ckpt(trainer *T, int64_t step) {
    if (!T->root) return QA_OK;
    qa_status st = QA_OK;
    if (T->metrics_err[0]) return QA_FAIL(QA_ERR_IO, "%s", T->metrics_err);
    QA_TRY(download(T, &T->p, T->model.params));
    QA_TRY(download(T, &T->m, T->ck.adam_m));
    QA_TRY(download(T, &T->v, T->ck.adam_v));
    T->ck.step = step;
    T->ck.best_val = T->best_val;
    T->ck.best_step = T->best_step;
    T->ck.bad_evals = T->bad_evals;
    T->ck.seed = (uint64_t)T->c.seed;
    memcpy(T->ck.config_hash, T->cfg_hash, sizeof T->cfg_hash);
    T->ck.best_params = T->best_step >= 0 ? T->best_params : NULL;
    json_decref(T->model.info);
    T->model.info = model_info(T);
    st = qa_model_ckpt_save(&T->model, &T->ck, T->ckpt_path);
    T->ck.best_params = NULL;
cleanup:
    return st;
}

/* Keeps the metrics lines of steps <= `step` (a resumed run continues the file). */
static qa_status trim_metrics(const char *path, int64_t step) {
    char *text = NULL;
    size_t len = 0;
    if (!qa_fs_exists(path)) return QA_OK;
    qa_status st = qa_fs_read_all(path, &text, &len);
    if (st != QA_OK) return st;
    size_t keep = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line + 1) : strlen(line);
        json_t *j = json_loadb(line, n, 0, NULL);
        json_t *s = j ? json_object_get(j, "step") : NULL;
        int ok = json_is_integer(s) && json_integer_value(s) <= step && nl;
        json_decref(j);
        if (!ok) break;
        keep += n;
        line += n;
    }
    st = qa_fs_write_all(path, text, keep);
    free(text);
    return st;
}

static void free_trainer(trainer *T) {
    qa_train_dp_free(T->dp);
    qa_train_io_free(&T->io);
    qa_train_net_free(T->net);
    qa_buf_free(&T->p);
    qa_buf_free(&T->m);
    qa_buf_free(&T->v);
    qa_buf_free(&T->norm);
    qa_buf_free(&T->losses);
    qa_nn_ctx_free(T->ctx);
    qa_backend_free(T->be);
    qa_model_free(&T->model);
    qa_model_ckpt_free(&T->ck);
    qa_train_data_free(&T->d);
    qa_store_close(T->store);
    if (T->metrics) (void)fclose(T->metrics); /* every line was flushed and checked as it was written */
    free(T->perm);
    free(T->batch_rows);
    free(T->best_params);
}

/* QA_TRY for the data part of setup (its own cleanup label, before the collective part). */
/* Data, model and optimiser state; every rank loads the same data and they agree before
 * the collective run-directory setup (a rank that failed alone, e.g. out of memory, must
 * not leave the others waiting). */
static qa_status setup_data(trainer *T) {
    qa_status st = QA_OK;
    qa_train_cfg *c = &T->c;
    T->loss = eff_loss(c);
    T->M = (int)c->shards;
    if (T->M % T->R)
        return cfg_err(c, "parallel", "shards", -1, "%d shards cannot be dealt evenly to %d ranks (use a multiple)",
                       T->M, T->R);
    T->local = T->M / T->R;
    T->k0 = T->rank * T->local;
    T->B = (int)c->batch_size;
    T->Bs = T->B / T->M;
    if (c->eval_batch <= 0) c->eval_batch = T->Bs; /* the LSTM plan is sized for max(shard, eval) rows */
    if (!c->data) return QA_FAIL(QA_ERR_CONFIG, "no market file: give --data or 'data' in the config");
    qa_model_spec spec;
    QA_TRY(qa_store_open(c->data, NULL, QA_STORE_READ, &T->store));
    QA_TRY(build_spec(T, &spec));
    QA_TRY(qa_train_data_load(T->store, &spec, NULL, &T->d));
    QA_TRY(check_data(T));
    QA_TRY(build_arch(T));
    QA_TRY(cfg_hash(c, T->cfg_hash));
    T->P = qa_nn_arch_param_count(&T->arch);
    T->nsegs = qa_nn_arch_segments(&T->arch, T->segs);
    QA_TRY(qa_model_init(&T->model, &T->arch, &T->d.spec, &T->d.norm));
    qa_train_arch_init_params(&T->arch, (uint64_t)c->seed, T->model.params);
    T->spe = (int64_t)(T->d.nsamples[0] / (size_t)T->B);
    T->total = c->steps > 0 ? c->steps : c->epochs * T->spe;
    T->eval_every = c->eval_every > 0 ? c->eval_every : T->spe;
    T->ckpt_every = c->checkpoint_every > 0 ? c->checkpoint_every : T->eval_every;
    T->best_val = INFINITY;
    T->best_step = -1;
    T->ck.adam_m = calloc(T->P, sizeof(float));
    T->ck.adam_v = calloc(T->P, sizeof(float));
    T->best_params = malloc(T->P * sizeof(float));
    T->perm = malloc(T->d.nsamples[0] * sizeof *T->perm);
    T->batch_rows = malloc((size_t)T->B * sizeof *T->batch_rows);
    if (!T->ck.adam_m || !T->ck.adam_v || !T->best_params || !T->perm || !T->batch_rows)
        QA_TRY_FAIL(QA_ERR_NOMEM, "optimiser state for %zu parameters", T->P);
    T->perm_epoch = -1;
cleanup:
    return qa_comm_agree(T->comm, st);
}

/* Member-wise equality of two architectures (all of hidden[], as it is stored). */
static int arch_equal(const qa_nn_arch *a, const qa_nn_arch *b) {
    if (a->type != b->type || a->input != b->input || a->window != b->window || a->outputs != b->outputs ||
        a->nhidden != b->nhidden || a->act != b->act || a->layer_norm != b->layer_norm || a->dropout != b->dropout)
        return 0;
    for (int i = 0; i < QA_NN_MAX_HIDDEN; i++)
        if (a->hidden[i] != b->hidden[i]) return 0;
    return 1;
}

/* Restores parameters, optimiser and early-stopping state from the run's checkpoint, once
 * it is shown to belong to this configuration, architecture and data. */
static qa_status resume_from(trainer *T, int64_t *first_step) {
    qa_model cm;
    qa_model_ckpt ck;
    QA_TRY_RET(qa_model_ckpt_load(T->ckpt_path, &cm, &ck));
    const char *why = NULL;
    if (strcmp(ck.config_hash, T->cfg_hash) != 0) why = "the configuration differs";
    else if (cm.nparams != T->P || !arch_equal(&cm.arch, &T->arch)) why = "the architecture differs";
    /* The normalisation must match bit for bit (NaN included) for the resumed run to be identical.
     * NOLINTBEGIN(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c) */
    else if (memcmp(cm.norm.mean, T->d.norm.mean, sizeof cm.norm.mean) != 0 ||
             memcmp(cm.norm.std, T->d.norm.std, sizeof cm.norm.std) != 0 ||
             cm.norm.target_mean != T->d.norm.target_mean || cm.norm.target_std != T->d.norm.target_std)
        why = "the training data changed (normalisation differs)";
    /* NOLINTEND(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c) */
    for (int f = 0; !why && f < cm.data.ninputs; f++)
        if (strcmp(cm.data.inputs[f].input_hash, T->d.spec.inputs[f].input_hash) != 0)
            why = "an input feature's lineage hash differs (the data changed)";
    if (!why) {
        memcpy(T->model.params, cm.params, T->P * sizeof(float));
        memcpy(T->ck.adam_m, ck.adam_m, T->P * sizeof(float));
        memcpy(T->ck.adam_v, ck.adam_v, T->P * sizeof(float));
        if (ck.best_params) memcpy(T->best_params, ck.best_params, T->P * sizeof(float));
        T->best_val = ck.best_val;
        T->best_step = ck.best_step;
        T->bad_evals = ck.bad_evals;
        *first_step = ck.step;
    }
    qa_model_free(&cm);
    qa_model_ckpt_free(&ck);
    if (why) return QA_FAIL(QA_ERR_STATE, "cannot resume from %s: %s", T->ckpt_path, why);
    if (T->root) qa_log_info("train: resuming %s at step %lld", T->c.run_dir, (long long)*first_step);
    return QA_OK;
}

/* The run directory, the state to resume from, the metrics file and the resolved config. */
static qa_status setup_rundir(trainer *T, int argc, char **argv, int64_t *first_step) {
    qa_status st = QA_OK;
    qa_train_cfg *c = &T->c;
    QA_TRY(qa_rundir_open(&T->rd, c->run_dir, T->comm, "train", argc, argv));
    QA_TRY(qa_rundir_file(&T->rd, "checkpoint.qac", T->ckpt_path));
    QA_TRY(qa_rundir_file(&T->rd, "model.qam", T->model_path));
    QA_TRY(qa_rundir_file(&T->rd, "metrics.jsonl", T->metrics_path));
    *first_step = 0;
    int have = qa_fs_exists(T->ckpt_path);
    if (have && !c->resume)
        QA_TRY_FAIL(QA_ERR_EXISTS, "%s holds a checkpoint: pass --resume to continue that run, or use another "
                                   "--run-dir",
                    c->run_dir);
    if (c->resume && !have && T->root)
        qa_log_info("train: --resume: %s has no checkpoint yet, starting from scratch", c->run_dir);
    if (c->resume && have) QA_TRY(resume_from(T, first_step));
    if (T->root) {
        if (have) QA_TRY(trim_metrics(T->metrics_path, *first_step));
        T->metrics = fopen(T->metrics_path, have ? "a" : "w");
        if (!T->metrics) QA_TRY_FAIL(QA_ERR_IO, "cannot open %s", T->metrics_path);
        json_t *rc = qa_train_cfg_json(c);
        st = qa_rundir_write_json(&T->rd, "config.resolved.json", rc);
        json_decref(rc);
    }
cleanup:
    return qa_comm_agree(T->comm, st);
}

/* Backend, net, data-parallel plan and the device buffers, filled from the host state. */
static qa_status setup_device(trainer *T) {
    qa_train_cfg *c = &T->c;
    QA_TRY_RET(qa_backend_create_named(c->backend, qa_comm_device(T->comm) >= 0 ? qa_comm_device(T->comm) : 0, &T->be));
    if (qa_backend_kind_of(T->be) == QA_BACKEND_CPU) {
        int th = (int)c->threads;
        if (th <= 0) {
            th = qa_backend_threads(T->be) / (qa_comm_local_size(T->comm) > 0 ? qa_comm_local_size(T->comm) : 1);
            th = th < 1 ? 1 : th;
        }
        qa_backend_set_threads(T->be, th);
    }
    QA_TRY_RET(qa_nn_ctx_create(T->be, &T->ctx));
    QA_TRY_RET(qa_nn_ctx_set_math(T->ctx, (qa_nn_math)c->math));
    int rows = T->Bs > (int)c->eval_batch ? T->Bs : (int)c->eval_batch;
    QA_TRY_RET(qa_train_net_create(T->ctx, &T->arch, rows, &T->net));
    QA_TRY_RET(qa_train_io_init(&T->io, T->be, rows, (size_t)T->arch.window * (size_t)T->arch.input));
    QA_TRY_RET(qa_train_dp_create(T->ctx, T->comm, T->M, c->deterministic, T->P, c->bucket_mb, &T->dp));
    const size_t pb = T->P * sizeof(float);
    QA_TRY_RET(qa_buf_alloc(T->be, pb, &T->p));
    QA_TRY_RET(qa_buf_alloc(T->be, pb, &T->m));
    QA_TRY_RET(qa_buf_alloc(T->be, pb, &T->v));
    QA_TRY_RET(qa_buf_alloc(T->be, sizeof(float), &T->norm));
    QA_TRY_RET(qa_buf_alloc(T->be, (size_t)T->local * sizeof(float), &T->losses));
    QA_TRY_RET(qa_buf_upload(T->be, &T->p, 0, T->model.params, pb));
    QA_TRY_RET(qa_buf_upload(T->be, &T->m, 0, T->ck.adam_m, pb));
    QA_TRY_RET(qa_buf_upload(T->be, &T->v, 0, T->ck.adam_v, pb));
    if (T->root) {
        qa_log_info("train: %s, %zu parameters; %zu/%zu/%zu train/val/test samples of %d x %d inputs; %lld steps "
                    "(%lld per epoch) of batch %d on %s, %d rank(s): %s",
                    qa_nn_arch_name(T->arch.type), T->P, T->d.nsamples[0], T->d.nsamples[1], T->d.nsamples[2],
                    T->arch.window, T->arch.input, (long long)T->total, (long long)T->spe, T->B,
                    qa_backend_name(qa_backend_kind_of(T->be)), T->R, qa_train_dp_describe(T->dp));
        qa_rundir_note(&T->rd, "backend", json_string(qa_backend_name(qa_backend_kind_of(T->be))));
        qa_rundir_note(&T->rd, "data_parallel", json_string(qa_train_dp_describe(T->dp)));
    }
    return QA_OK;
}

/* Sets up data, model, backend, buffers and (on resume) the restored state; returns
 * the first step to run. */
static qa_status setup(trainer *T, int argc, char **argv, int64_t *first_step) {
    QA_TRY_RET(setup_data(T));
    QA_TRY_RET(setup_rundir(T, argc, argv, first_step));
    return setup_device(T);
}

/* The global batch of step s: rows of the training samples, from the epoch's shuffle. */
static void batch_of(trainer *T, int64_t s) {
    int64_t epoch = s / T->spe, b = s % T->spe;
    if (epoch != T->perm_epoch) {
        qa_train_data_shuffle(T->perm, T->d.nsamples[0], (uint64_t)T->c.seed, (uint64_t)epoch);
        T->perm_epoch = epoch;
    }
    const uint32_t *idx = T->perm + (size_t)b * (size_t)T->B;
    for (int i = 0; i < T->B; i++) T->batch_rows[i] = T->d.samples[0][idx[i]];
}

/* One optimiser step; *loss = mean training loss over the global batch. */
static qa_status train_step(trainer *T, int64_t s, double *loss, int *stop) {
    qa_status st = QA_OK;
    batch_of(T, s);
    qa_train_dp_begin(T->dp);
    for (int j = 0; j < T->local; j++) {
        int k = T->k0 + j;
        QA_TRY(qa_train_io_load(&T->io, &T->d, T->batch_rows + (size_t)k * (size_t)T->Bs, (size_t)T->Bs));
        qa_train_drop drop = {qa_nn_dropout_seed((uint64_t)T->c.seed ^ 0x5348415244ULL, (uint32_t)k), (uint64_t)s};
        qa_train_grad_ready_fn hook = j == T->local - 1 ? qa_train_dp_hook(T->dp) : NULL;
        QA_TRY(qa_train_net_step(T->net, T->Bs, T->p.ptr, T->io.x.ptr, T->loss, (float)T->c.huber_delta, T->io.y.ptr,
                                 T->io.cls.ptr, &drop, (float *)T->losses.ptr + j, qa_train_dp_grad(T->dp, j),
                                 qa_train_dp_accumulate(T->dp, j), hook, T->dp));
    }
    const float *g = NULL;
    QA_TRY(qa_train_dp_finish(T->dp, &g));
    QA_TRY(qa_nn_grad_norm(T->ctx, T->P, g, T->norm.ptr));
    qa_nn_lr_schedule sched = {T->c.lr, T->c.lr_min, T->c.warmup_steps, T->total};
    double lr = qa_nn_lr_at(&sched, s);
    /* one AdamW call per run of segments with the same weight-decay setting */
    for (int i = 0; i < T->nsegs;) {
        int j = i;
        while (j + 1 < T->nsegs && T->segs[j + 1].decay == T->segs[i].decay) j++;
        size_t off = T->segs[i].offset, cnt = T->segs[j].offset + T->segs[j].count - off;
        qa_nn_adamw_cfg a = {lr, T->c.beta1, T->c.beta2, T->c.adam_eps, T->segs[i].decay ? T->c.weight_decay : 0.0,
                             T->c.max_grad_norm};
        QA_TRY(qa_nn_adamw_update(T->ctx, &a, s + 1, cnt, (float *)T->p.ptr + off, g + off, (float *)T->m.ptr + off,
                                  (float *)T->v.ptr + off, T->norm.ptr));
        i = j + 1;
    }
    /* the global loss: each rank fills its shards of a zeroed vector (exact sum), plus
     * the stop flag */
    {
        float ll[QA_TRAIN_MAX_SHARDS];
        double lv[QA_TRAIN_MAX_SHARDS + 1];
        QA_TRY(qa_buf_download(T->be, ll, &T->losses, 0, (size_t)T->local * sizeof(float)));
        memset(lv, 0, sizeof lv);
        for (int j = 0; j < T->local; j++) lv[T->k0 + j] = ll[j];
        lv[T->M] = T->c.stop && *T->c.stop ? 1.0 : 0.0;
        QA_TRY(qa_comm_allreduce_sum_f64(T->comm, lv, (size_t)T->M + 1));
        double sum = 0.0;
        for (int k = 0; k < T->M; k++) sum += lv[k];
        *loss = sum / T->M;
        *stop = lv[T->M] > 0.0;
    }
cleanup:
    return st;
}

static void metrics_line(trainer *T, int64_t step, double train_loss, double val_loss, double lr, double gnorm,
                         double sps, double elapsed) {
    if (!T->root || !T->metrics) return;
    json_t *j = json_pack("{s:I, s:f, s:o, s:o, s:f, s:o, s:f, s:f}", "step", (json_int_t)step, "epoch",
                          (double)step / (double)T->spe, "train_loss", qa_json_real(train_loss), "val_loss",
                          qa_json_real(val_loss), "lr", lr, "grad_norm", qa_json_real(gnorm), "samples_per_s", sps,
                          "elapsed_s", elapsed);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    /* A line that cannot be written (a full disk) fails the run at the next checkpoint,
     * which every rank agrees on; the checkpoint keeps the last good state. */
    if (text && !T->metrics_err[0] && (fprintf(T->metrics, "%s\n", text) < 0 || fflush(T->metrics) != 0))
        snprintf(T->metrics_err, sizeof T->metrics_err, "%s: write failed: %s", T->metrics_path, strerror(errno));
    free(text);
    json_decref(j);
}

/* ---- end of run: evaluation, summary, report ------------------------------------------------------- */

typedef struct series {
    double *x, *y;
    size_t n, cap;
} series;

static void push(series *s, double x, double y) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        double *nx = realloc(s->x, cap * sizeof *nx), *ny = realloc(s->y, cap * sizeof *ny);
        if (!nx || !ny) {
            free(nx ? nx : s->x);
            free(ny ? ny : s->y);
            s->x = s->y = NULL;
            s->n = s->cap = 0;
            return;
        }
        s->x = nx, s->y = ny, s->cap = cap;
    }
    s->x[s->n] = x, s->y[s->n] = y, s->n++;
}

static double num(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void report_metrics_rows(qa_report_t *r, const qa_evaluate_metrics *m, const char *name, int horizon) {
    char c[12][48];
    snprintf(c[0], 48, "%s", name);
    snprintf(c[1], 48, "%.4f (t %.2f)", m->ic.mean, m->ic.t);
    snprintf(c[2], 48, "%.4f (t %.2f)", m->rank_ic.mean, m->rank_ic.t);
    snprintf(c[3], 48, "%.2f%%", 100 * m->dir_acc);
    snprintf(c[4], 48, "%.4g", m->mse);
    snprintf(c[5], 48, "%.3f", m->bt.sharpe);
    snprintf(c[6], 48, "%.2f%%", 100 * m->bt.total_return);
    snprintf(c[7], 48, "%.2f%%", 100 * m->bt.max_drawdown);
    const char *row[] = {c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], NULL};
    qa_report_table_row(r, row);
    snprintf(c[0], 48, "%s baseline: trailing %d-bar return", name, horizon);
    snprintf(c[1], 48, "%.4f (t %.2f)", m->ic_prev.mean, m->ic_prev.t);
    snprintf(c[2], 48, "%.4f (t %.2f)", m->rank_ic_prev.mean, m->rank_ic_prev.t);
    snprintf(c[3], 48, "%.2f%% (up %.2f%%)", 100 * m->dir_acc_prev, 100 * m->dir_acc_up);
    snprintf(c[4], 48, "%.4g / %.4g / %.4g", m->mse_zero, m->mse_mean, m->mse_prev);
    snprintf(c[5], 48, "%.3f", m->bt_prev.sharpe);
    snprintf(c[6], 48, "%.2f%%", 100 * m->bt_prev.total_return);
    snprintf(c[7], 48, "%.2f%%", 100 * m->bt_prev.max_drawdown);
    qa_report_table_row(r, row);
}

static qa_status write_report(trainer *T, const qa_train_result *res, const qa_evaluate_metrics *ev) {
    qa_status st = QA_OK;
    qa_report_t *r = NULL;
    series tl = {0}, vl = {0}, lr = {0}, gn = {0};
    char *text = NULL;
    size_t len = 0;
    if (qa_fs_read_all(T->metrics_path, &text, &len) == QA_OK) {
        for (char *line = text; line && *line;) {
            char *nl = strchr(line, '\n');
            json_t *j = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line), 0, NULL);
            if (j) {
                double s = num(j, "step");
                if (isfinite(num(j, "train_loss"))) push(&tl, s, num(j, "train_loss"));
                if (isfinite(num(j, "val_loss"))) push(&vl, s, num(j, "val_loss"));
                push(&lr, s, num(j, "lr"));
                if (isfinite(num(j, "grad_norm")) && num(j, "grad_norm") > 0) push(&gn, s, num(j, "grad_norm"));
                json_decref(j);
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    QA_TRY(qa_report_create("qa train report", &r));
    qa_report_heading(r, "Run");
    qa_report_kv(r, "model", "%s, hidden %d layer(s), %zu parameters", qa_nn_arch_name(T->arch.type),
                 T->arch.nhidden, T->P);
    qa_report_kv(r, "inputs", "%d series x window %d", T->arch.input, T->arch.window);
    qa_report_kv(r, "target", "%s over %d bars (%s loss)", qa_model_target_name(T->d.spec.target), T->d.spec.horizon,
                 qa_train_loss_name(T->loss));
    qa_report_kv(r, "samples", "%zu train / %zu validation / %zu test", T->d.nsamples[0], T->d.nsamples[1],
                 T->d.nsamples[2]);
    qa_report_kv(r, "steps", "%lld (stopped: %s)", res->steps, res->stop_reason);
    qa_report_kv(r, "best validation loss", "%.6g at step %lld", res->best_val_loss, res->best_step);
    qa_report_kv(r, "throughput", "%.0f samples/s on %s, %d rank(s)", res->samples_per_s,
                 qa_backend_name(qa_backend_kind_of(T->be)), T->R);
    qa_report_heading(r, "Training curves");
    qa_report_series ls[2] = {{"train", tl.x, NULL, tl.y, tl.n}, {"validation", vl.x, NULL, vl.y, vl.n}};
    qa_report_chart lc = {"Loss", "step", "loss", 0, 0, 0};
    qa_report_line_chart(r, &lc, ls, 2);
    qa_report_series lrs = {"learning rate", lr.x, NULL, lr.y, lr.n};
    qa_report_chart lrc = {"Learning rate", "step", "lr", 0, 0, 0};
    qa_report_line_chart(r, &lrc, &lrs, 1);
    qa_report_series gns = {"global gradient norm (before clipping)", gn.x, NULL, gn.y, gn.n};
    qa_report_chart gnc = {"Gradient norm", "step", "norm", 1, 0, 0};
    qa_report_line_chart(r, &gnc, &gns, 1);
    qa_report_heading(r, "Out-of-sample evaluation (best model)");
    qa_report_text(r, "IC: Pearson correlation of the score with the forward return across symbols per timestamp; "
                       "rank IC: Spearman. MSE columns for baselines: predict 0 / the training mean / the trailing "
                       "return. Backtest: top-%lld long / bottom-%lld short, %g bps per unit traded (stand-in for "
                       "the sweep engine's cross-sectional strategy).",
                   T->c.top_k, T->c.top_k, T->c.cost_bps);
    const char *hdr[] = {"split", "IC", "rank IC", "direction", "MSE", "Sharpe", "total return", "max drawdown"};
    qa_report_table_begin(r, hdr, 8);
    report_metrics_rows(r, &ev[0], "validation", T->d.spec.horizon);
    report_metrics_rows(r, &ev[1], "test", T->d.spec.horizon);
    qa_report_table_end(r);
    for (int k = 0; k < 2; k++) {
        if (!ev[k].equity_n) continue;
        qa_report_series es[2] = {{"model top-k", NULL, ev[k].equity_time, ev[k].equity, ev[k].equity_n},
                                  {"trailing-return baseline", NULL, ev[k].equity_time, ev[k].equity_prev,
                                   ev[k].equity_n}};
        qa_report_chart ec = {k ? "Test backtest equity" : "Validation backtest equity", "date", "equity", 1, 0, 0};
        qa_report_line_chart(r, &ec, es, 2);
    }
    char path[QA_PATH_MAX];
    QA_TRY(qa_rundir_file(&T->rd, "report.html", path));
    QA_TRY(qa_report_write(r, path));
cleanup:
    qa_report_free(r);
    free(text);
    free(tl.x), free(tl.y), free(vl.x), free(vl.y), free(lr.x), free(lr.y), free(gn.x), free(gn.y);
    return st;
}

/* Scores and metrics of the validation and test splits with the best parameters, the
 * summary and the report (rank 0; the test loss is collective). */
static qa_status finish_run(trainer *T, qa_train_result *res) {
    qa_status st = QA_OK;
    qa_evaluate_metrics ev[2];
    memset(ev, 0, sizeof ev);
    double *score = NULL;
    const float *bestp = T->best_step >= 0 ? T->best_params : NULL;
    if (!bestp) { /* no evaluation improved (e.g. NaN losses): keep the final parameters */
        QA_TRY(download(T, &T->p, T->best_params));
        bestp = T->best_params;
    }
    QA_TRY(qa_buf_upload(T->be, &T->p, 0, bestp, T->P * sizeof(float)));
    double test_loss = NAN;
    QA_TRY(qa_train_loss_rows(T->net, &T->io, T->p.ptr, &T->d, T->d.samples[2], T->d.nsamples[2], T->loss,
                              (float)T->c.huber_delta, (int)T->c.eval_batch, T->comm, &test_loss));
    if (T->root) {
        if (T->best_step < 0) QA_TRY(write_model(T, bestp, res->steps, NAN));
        qa_evaluate_opts eo = {(int)T->c.top_k, T->c.cost_bps, 3};
        for (int k = 0; k < 2; k++) {
            qa_train_split sp = k ? QA_TRAIN_SPLIT_TEST : QA_TRAIN_SPLIT_VAL;
            free(score);
            score = malloc((T->d.npred[sp] ? T->d.npred[sp] : 1) * sizeof *score);
            if (!score) QA_TRY_FAIL(QA_ERR_NOMEM, "scores");
            QA_TRY(qa_evaluate_scores(T->net, T->be, T->p.ptr, &T->model, &T->d, sp, (int)T->c.eval_batch, score));
            QA_TRY(qa_evaluate_predictions(&T->d, sp, score, &eo, &ev[k]));
            ev[k].loss = k ? test_loss : T->best_val;
        }
        res->test_ic = ev[1].ic.mean;
        res->test_rank_ic = ev[1].rank_ic.mean;
        json_t *counts = json_object();
        for (int k = 0; k < QA_TRAIN_SPLIT_COUNT; k++) {
            const qa_train_data_counts *n = &T->d.counts[k];
            json_object_set_new(counts, qa_train_split_name((qa_train_split)k),
                                json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rows", (json_int_t)n->rows, "samples",
                                          (json_int_t)n->samples, "embargoed", (json_int_t)n->embargoed,
                                          "short_history", (json_int_t)n->short_history, "nan_input",
                                          (json_int_t)n->nan_input, "nan_label", (json_int_t)n->nan_label, "purged",
                                          (json_int_t)n->purged));
        }
        json_t *sum = json_pack(
            "{s:{s:s, s:o, s:I, s:i, s:i}, s:o, s:{s:I, s:o, s:I, s:s, s:f, s:f, s:i, s:s, s:s}, s:{s:o, s:o}, s:s}",
            "model", "type", qa_nn_arch_name(T->arch.type), "hidden", json_null(),
            "parameters", (json_int_t)T->P, "inputs", T->arch.input, "window", T->arch.window, "samples", counts,
            "training", "steps", (json_int_t)res->steps, "best_val_loss", qa_json_real(res->best_val_loss), "best_step",
            (json_int_t)res->best_step, "stop_reason", res->stop_reason, "seconds", res->seconds, "samples_per_s",
            res->samples_per_s, "ranks", T->R, "backend", qa_backend_name(qa_backend_kind_of(T->be)), "data_parallel",
            qa_train_dp_describe(T->dp), "evaluation", "val", qa_evaluate_metrics_json(&ev[0]), "test",
            qa_evaluate_metrics_json(&ev[1]), "model_file", "model.qam");
        if (sum) {
            json_t *hid = json_array();
            for (int l = 0; l < T->arch.nhidden; l++) json_array_append_new(hid, json_integer(T->arch.hidden[l]));
            json_object_set_new(json_object_get(sum, "model"), "hidden", hid);
            json_object_set_new(json_object_get(sum, "model"), "target", json_string(qa_model_target_name(T->d.spec.target)));
            json_object_set_new(json_object_get(sum, "model"), "horizon", json_integer(T->d.spec.horizon));
        }
        st = sum ? qa_rundir_write_json(&T->rd, "summary.json", sum) : QA_FAIL(QA_ERR_NOMEM, "summary");
        json_decref(sum);
        QA_TRY(st);
        QA_TRY(write_report(T, res, ev));
        /* lineage.json and predictions.h5 for the registry, from the best parameters */
        qa_model best = T->model;
        best.params = (float *)bestp;
        char id[17];
        QA_TRY(qa_model_verify(T->model_path, best.sha256));
        QA_TRY(qa_train_write_provenance(T->c.run_dir, &T->c, T->store, &T->d, &best, T->cfg_hash,
                                         qa_backend_name(qa_backend_kind_of(T->be)), T->R, id));
        qa_rundir_note(&T->rd, "run_id", json_string(id));
    }
cleanup:
    st = qa_comm_agree(T->comm, st);
    free(score);
    qa_evaluate_metrics_free(&ev[0]);
    qa_evaluate_metrics_free(&ev[1]);
    return st;
}

/* The training loop's clock and running loss between metrics lines. */
typedef struct loop_clock {
    uint64_t t_start, t_mark;
    double loss_sum, train_seconds, side; /* side: evaluation + checkpoint time since the mark */
    int64_t loss_n, mark_step;
} loop_clock;

/* Validation loss after step s; a new best is kept and written as the model. */
static qa_status evaluate_step(trainer *T, int64_t s, double *val) {
    QA_TRY_RET(qa_train_loss_rows(T->net, &T->io, T->p.ptr, &T->d, T->d.samples[1], T->d.nsamples[1], T->loss,
                                  (float)T->c.huber_delta, (int)T->c.eval_batch, T->comm, val));
    if (*val < T->best_val - T->c.min_delta) {
        T->best_val = *val;
        T->best_step = s;
        T->bad_evals = 0;
        QA_TRY_RET(download(T, &T->p, T->best_params));
        return write_model(T, T->best_params, s, *val);
    }
    T->bad_evals++;
    return QA_OK;
}

/* A metrics line (and on evaluations a log line) for the steps since the last mark. */
static qa_status log_steps(trainer *T, int64_t s, double val, int eval, loop_clock *k) {
    float gnorm = NAN;
    QA_TRY_RET(qa_buf_download(T->be, &gnorm, &T->norm, 0, sizeof gnorm));
    double dt = qa_time_since(k->t_mark) - k->side; /* training time only */
    qa_nn_lr_schedule sched = {T->c.lr, T->c.lr_min, T->c.warmup_steps, T->total};
    double loss = k->loss_sum / (double)k->loss_n;
    metrics_line(T, s, loss, val, qa_nn_lr_at(&sched, s - 1), gnorm,
                 dt > 0 ? (double)(s - k->mark_step) * T->B / dt : 0.0, qa_time_since(k->t_start));
    if (T->root && eval)
        qa_log_info("train: step %lld/%lld  loss %.5g  val %.5g%s  lr %.3g  |g| %.3g", (long long)s, (long long)T->total,
                    loss, val, T->best_step == s ? " (best)" : "", qa_nn_lr_at(&sched, s - 1), gnorm);
    k->train_seconds += dt;
    k->t_mark = qa_time_ns();
    k->side = 0.0;
    k->mark_step = s;
    k->loss_sum = 0.0;
    k->loss_n = 0;
    return QA_OK;
}

/* Why the loop ended; the names are the run's stop_reason. */
typedef enum loop_end { END_STEPS, END_EARLY, END_PAUSED, END_INTERRUPTED } loop_end;
static const char *const end_names[] = {"steps", "early stopping", "max-steps", "interrupted"};

/* Steps from s0 until the end, early stopping, max_steps or a stop request; evaluations,
 * metrics lines and checkpoints on their schedules. */
static qa_status train_loop(trainer *T, int64_t s0, qa_progress_t *prog, loop_clock *k, int64_t *steps,
                            loop_end *end) {
    int64_t s = s0;
    *end = END_STEPS;
    while (s < T->total) {
        double loss = NAN, val = NAN;
        int stop = 0;
        QA_TRY_RET(train_step(T, s, &loss, &stop));
        s++;
        *steps = s;
        k->loss_sum += loss;
        k->loss_n++;
        if (prog) qa_progress_add(prog, 1);
        int eval = s % T->eval_every == 0 || s == T->total;
        int last = s == T->total || (T->c.max_steps > 0 && s >= T->c.max_steps) || stop;
        uint64_t t_side = qa_time_ns();
        if (eval) QA_TRY_RET(evaluate_step(T, s, &val));
        k->side += qa_time_since(t_side);
        if (s % T->c.log_every == 0 || eval || last) QA_TRY_RET(log_steps(T, s, val, eval, k));
        int early = eval && T->c.patience > 0 && T->bad_evals >= T->c.patience;
        if (stop) *end = END_INTERRUPTED;
        else if (early) *end = END_EARLY;
        else if (s < T->total && T->c.max_steps > 0 && s >= T->c.max_steps) *end = END_PAUSED;
        if (s % T->ckpt_every == 0 || s == T->total || *end != END_STEPS) {
            t_side = qa_time_ns();
            QA_TRY_RET(qa_comm_agree(T->comm, write_ckpt(T, s)));
            k->side += qa_time_since(t_side);
        }
        if (*end != END_STEPS) break;
    }
    return QA_OK;
}

qa_status qa_train_run(const qa_train_cfg *cfg, const qa_comm_t *comm, int argc, char **argv, qa_train_result *res) {
    trainer T;
    memset(&T, 0, sizeof T);
    memset(res, 0, sizeof *res);
    T.c = *cfg;
    T.comm = comm;
    T.rank = qa_comm_rank(comm);
    T.R = qa_comm_size(comm);
    T.root = T.rank == 0;
    qa_progress_t *prog = NULL;
    int64_t s0 = 0, s = 0;
    qa_status st = setup(&T, argc, argv, &s0);
    st = qa_comm_agree(comm, st);
    if (st != QA_OK) goto cleanup;
    if (T.root) qa_progress_create("train", (uint64_t)(T.total - s0), "steps", QA_PROGRESS_AUTO, NULL, &prog);
    loop_clock k = {qa_time_ns(), 0, 0.0, 0.0, 0.0, 0, s0};
    k.t_mark = k.t_start;
    s = s0;
    loop_end end = END_STEPS;
    QA_TRY(train_loop(&T, s0, prog, &k, &s, &end));
    snprintf(res->stop_reason, sizeof res->stop_reason, "%s", end_names[end]);
    if (prog) qa_progress_finish(prog);
    res->steps = s;
    res->best_val_loss = T.best_val;
    res->best_step = T.best_step;
    res->seconds = qa_time_since(k.t_start);
    res->samples_per_s = k.train_seconds > 0 ? (double)(s - s0) * T.B / k.train_seconds : 0.0;
    if (T.root) {
        qa_rundir_note(&T.rd, "stop_reason", json_string(res->stop_reason));
        qa_rundir_note(&T.rd, "steps", json_integer(s));
    }
    if (end == END_INTERRUPTED) {
        if (T.root)
            qa_log_warn("train: stopped on request at step %lld; checkpoint written, continue with --resume", (long long)s);
        goto cleanup;
    }
    if (end != END_PAUSED) QA_TRY(finish_run(&T, res));
    if (T.root)
        qa_log_info("train: %lld steps (%s), best val loss %.5g at step %lld, %.0f samples/s; test IC %.4f, rank IC "
                    "%.4f; %s",
                    (long long)s, res->stop_reason, res->best_val_loss, (long long)res->best_step, res->samples_per_s,
                    res->test_ic, res->test_rank_ic, T.c.run_dir);
cleanup:
    qa_progress_free(prog);
    if (T.rd.run) qa_rundir_close(&T.rd, st);
    free_trainer(&T);
    return st;
}
