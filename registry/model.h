/* Trained models as files, the unit the registry versions and every predictor loads: the
 * architecture (kernels/nn_infer.h), the inputs with their lineage, the normalisation and
 * target, the split the model was trained on, the float32 parameters; and training
 * checkpoints, the same container with the optimiser state added.
 *
 * File container (docs/models.md):
 *   [0, 8)    magic "\x89QAMODL\n"
 *   [8, 12)   u32 container version (1), little-endian
 *   [12, 16)  u32 flags (0)
 *   [16, 24)  u64 J: bytes of JSON metadata
 *   [24, 32)  u64 B: bytes of blobs
 *   [32, 32+J)          JSON: format ("quantumalpha.model" or "quantumalpha.checkpoint"),
 *                       format_version, architecture, inputs (with the features' lineage
 *                       hashes), normalisation, target, split, policy (policy models
 *                       only), training info, blob table
 *   [32+J, 32+J+B)      blobs: little-endian float32 arrays, each at an 8-byte aligned offset
 *   [32+J+B, +32)       SHA-256 of every byte before it
 * The loader checks the magic, the version, the exact length (truncation), the SHA-256
 * (any flipped byte), then the format name and version and every field's consistency
 * (shapes, blob sizes, finite normalisation), and refuses the file with a message that
 * says which check failed. Writes are atomic (temporary file + rename).
 *
 * Two kinds of model share the file. A return predictor (targets return, sign, quantile;
 * `qa train`) is written with format_version 1, byte for byte as before policies existed.
 * A policy (target policy; `qa rl train`) is a PPO actor: an MLP over one observation
 * vector whose outputs choose a position. It is written with format_version 2 (a build
 * that predates policies refuses it as too new) and carries a "policy" section: the
 * action kind, the assets, the observation layout and its running normalisation. Its
 * observation (D = arch.input floats, arch.window = 1) is, for each asset in the
 * environment's order, for each input f in data.inputs order, that input's last
 * data.window values oldest first (feature-major: [assets, inputs, window], unlike a
 * predictor's [window, inputs] rows), then the `extras` state values:
 *   one asset  (assets = 1): position, unrealised_pnl, time_in_trade            (3)
 *   portfolio  (assets = K): weight_0 .. weight_{K-1}, episode_pnl, time        (K + 2)
 * (kernels/rlenv.h defines each). The network reads (x - obs_mean) / sqrt(obs_var + 1e-8)
 * clipped to +-obs_clip. For a policy, data.horizon is the episode horizon, data.classes
 * the number of outputs, and the split fields the RL run's train / validation / test
 * dates; the predictors' per-input normalisation is the identity and unused.
 *
 * This module needs only common/ and kernels/ (no HDF5, no MPI), so the live service and
 * the registry load models without the batch pipeline. */
#ifndef QA_REGISTRY_MODEL_H
#define QA_REGISTRY_MODEL_H

#include <jansson.h>  /* json_t */
#include <stddef.h>   /* size_t */
#include <stdint.h>   /* int64_t */

#include "common/status.h"
#include "kernels/nn_infer.h" /* qa_nn_arch: the architecture and parameter layout */

#ifdef __cplusplus
extern "C" {
#endif

#define QA_MODEL_FORMAT "quantumalpha.model"
#define QA_MODEL_CKPT_FORMAT "quantumalpha.checkpoint"
/* The newest format_version this build reads: predictors are written as 1, policies as 2. */
#define QA_MODEL_VERSION 2
#define QA_MODEL_VERSION_PREDICTOR 1
#define QA_MODEL_VERSION_POLICY 2

/* ---- what a model reads and predicts ------------------------------------------------------- */

#define QA_MODEL_MAX_INPUTS 64
#define QA_MODEL_MAX_CLASSES 16
#define QA_MODEL_NAME_LEN 64
#define QA_MODEL_MAX_ASSETS 4096 /* policy assets, so continuous policy outputs */

/* Inputs derived from the bars on the observation sequence. */
typedef enum qa_model_bar_input {
    QA_MODEL_BAR_RET = 0,    /* close/close_prev - 1 (NaN at the first row) */
    QA_MODEL_BAR_LOGRET = 1, /* ln(close/close_prev) */
    QA_MODEL_BAR_RANGE = 2,  /* (high - low)/close */
    QA_MODEL_BAR_BODY = 3,   /* close/open - 1 */
    QA_MODEL_BAR_LOGVOL = 4, /* ln(1 + volume) */
    QA_MODEL_BAR_COUNT = 5
} qa_model_bar_input;

/* "ret", "logret", "range", "body", "logvol". */
const char *qa_model_bar_input_name(qa_model_bar_input b);
qa_status qa_model_bar_input_parse(const char *name, qa_model_bar_input *out);

typedef enum qa_model_target {
    QA_MODEL_TARGET_RETURN = 0,   /* regression on the forward return */
    QA_MODEL_TARGET_SIGN = 1,     /* 2 classes: down-or-flat, up */
    QA_MODEL_TARGET_QUANTILE = 2, /* K quantile buckets */
    QA_MODEL_TARGET_POLICY = 3,   /* a trading policy (qa rl train): not a return predictor */
    QA_MODEL_TARGET_COUNT = 4
} qa_model_target;

/* "return", "sign", "quantile", "policy". */
const char *qa_model_target_name(qa_model_target t);

/* The training losses a predictor may record in training.loss: "mse", "huber",
 * "cross_entropy", in the order of pipeline/train's qa_train_loss (which takes its names
 * from here; NULL-terminated). The loader refuses any other name, since qa evaluate
 * recomputes the loss by it. */
#define QA_MODEL_LOSS_COUNT 3
extern const char *const qa_model_loss_names[];


typedef struct qa_model_input {
    char name[QA_MODEL_NAME_LEN]; /* dataset name under /features, or the bar input name */
    int bar;                      /* -1: /features/<name>; else a qa_model_bar_input */
    char input_hash[72];          /* the feature's lineage input_hash ("" for bar inputs) */
    char params[256];             /* the feature's params attribute ("" for bar inputs) */
} qa_model_input;

typedef struct qa_model_spec {
    qa_model_input inputs[QA_MODEL_MAX_INPUTS];
    int ninputs;
    int window;  /* L >= 1 */
    int horizon; /* h >= 1 */
    qa_model_target target;
    int classes;          /* K: 1 for regression, 2 for sign, 2..QA_MODEL_MAX_CLASSES */
    int standardize;      /* regression: learn (ret - mean)/std of the training targets */
    int demean;           /* target = ret minus the mean ret of the symbols labelled at t */
    int64_t start;        /* UTC ns; INT64_MIN = from the first bar */
    int64_t train_end;    /* first timestamp of validation */
    int64_t val_end;      /* first timestamp of test */
    int64_t end;          /* exclusive; INT64_MAX = to the last bar */
    int embargo;          /* E grid timestamps after each boundary */
    double clip;          /* clip normalised inputs to +-clip; 0 = no clipping */
} qa_model_spec;

/* What the model stores to reproduce the inputs and targets exactly. */
typedef struct qa_model_norm {
    double mean[QA_MODEL_MAX_INPUTS];
    double std[QA_MODEL_MAX_INPUTS];
    double target_mean, target_std;        /* regression: 0 and 1 unless standardised */
    double edges[QA_MODEL_MAX_CLASSES - 1]; /* quantile targets: K-1 increasing edges */
    int nedges;
} qa_model_norm;


/* Checks the spec's own consistency (inputs, window, horizon, classes, split order). */
qa_status qa_model_spec_check(const qa_model_spec *spec);

/* ---- policies ----------------------------------------------------------------------------- */

#define QA_MODEL_POLICY_DISCRETE 0   /* action: outputs are logits over {short, flat, long} */
#define QA_MODEL_POLICY_CONTINUOUS 1 /* action: outputs are Gaussian means of target positions */
#define QA_MODEL_POLICY_SOFTMAX 0    /* weights: w = softmax(outputs), long only, fully invested */
#define QA_MODEL_POLICY_LONG_SHORT 1 /* weights: w = clamp(outputs, -1, 1) scaled to the gross limit */
#define QA_MODEL_POLICY_VAR_EPS 1e-8 /* in the observation normalisation below */

/* What a policy model adds (docs/models.md, "Policies"); zero with NULL arrays for a
 * predictor. */
typedef struct qa_model_policy {
    int action;       /* QA_MODEL_POLICY_DISCRETE: outputs are logits over {short, flat, long}
                         (one asset only); QA_MODEL_POLICY_CONTINUOUS: outputs are the Gaussian
                         mean of the target position(s), clamped to [-1, 1] by the environment */
    int assets;       /* 1: single asset; K > 1: portfolio (continuous: K outputs) */
    int weights;      /* portfolio weight map: QA_MODEL_POLICY_SOFTMAX or _LONG_SHORT (ignored
                         for one asset) */
    int extras;       /* state inputs after the windows: 3 for one asset (position,
                         unrealised_pnl, time_in_trade); K + 2 for a portfolio (K weights,
                         episode_pnl, time) */
    int dim;          /* D = assets * data.ninputs * data.window + extras = arch.input */
    double obs_clip;  /* normalised observations are clipped to +-obs_clip (0: no clip) */
    double *obs_mean; /* [dim] running observation mean (owned by the model) */
    double *obs_var;  /* [dim] running observation variance (owned by the model);
                         x_norm = (x - mean) / sqrt(var + QA_MODEL_POLICY_VAR_EPS) */
} qa_model_policy;

/* "discrete" / "continuous"; "softmax" / "long_short" ("?" out of range). */
const char *qa_model_policy_action_name(int action);
const char *qa_model_policy_weights_name(int weights);
/* Name of extra state input i (0 <= i < p->extras) of a policy with p->assets assets:
 * "position", "unrealised_pnl", "time_in_trade" for one asset; "weight_<k>",
 * "episode_pnl", "time" for a portfolio. Written into buf (>= 24 bytes), returned. */
const char *qa_model_policy_extra_name(const qa_model_policy *p, int i, char *buf, size_t n);
/* The observation layout and the normalisation in words, as the file and the signature
 * record them (docs/models.md). */
#define QA_MODEL_POLICY_LAYOUT "[assets, inputs, window] feature-major, oldest first, then extras"
#define QA_MODEL_POLICY_FORMULA "clip((x - obs_mean) / sqrt(obs_var + 1e-8), -obs_clip, obs_clip); no clip when obs_clip = 0"

/* ---- the model ---------------------------------------------------------------------------- */

typedef struct qa_model {
    qa_nn_arch arch;
    qa_model_spec data; /* inputs (with lineage), window, target, splits */
    qa_model_norm norm;     /* predictors; the identity for a policy */
    qa_model_policy policy; /* policies (data.target QA_MODEL_TARGET_POLICY); else zero */
    float *params;      /* nparams floats, host memory, owned */
    size_t nparams;
    json_t *info;       /* training metadata object (owned reference; NULL allowed) */
    char sha256[65];    /* of the file contents, set by load/save: the model's content identity */
} qa_model;

/* Allocates params for `arch` (zeroed) and copies spec/norm. Caller frees. */
qa_status qa_model_init(qa_model *m, const qa_nn_arch *arch, const qa_model_spec *data, const qa_model_norm *norm);
/* Frees params, info and the policy's arrays; accepts NULL. A qa_model owns its arrays:
 * a struct copy shares them, so free only one of the two. */
void qa_model_free(qa_model *m);

/* Makes an init'ed model a policy: deep-copies p (and its dim-long arrays) into m->policy
 * (replacing any earlier one) and sets m->norm to the identity (mean 0, std 1 per input;
 * target mean 0, std 1, no edges). m->data must already say target QA_MODEL_TARGET_POLICY,
 * classes = outputs, standardize = demean = 0, and clip 0 or obs_clip. Checks, with
 * QA_ERR_CONFIG naming the field: an MLP with arch.window 1 and arch.input == p->dim;
 * action and weights known; discrete: one asset and 3 outputs; continuous: outputs ==
 * assets; extras as the layout says; dim == assets * ninputs * window + extras; obs_mean
 * finite, obs_var finite and >= 0, obs_clip finite and >= 0. On failure m is unchanged.
 * qa_model_save and qa_model_ckpt_save run the same checks on m->policy. */
qa_status qa_model_set_policy(qa_model *m, const qa_model_policy *p);
/* QA_OK for a return predictor; for a policy QA_ERR_CONFIG "<label>: a policy model (qa rl
 * train) is not a return predictor; ...": what every return-predicting consumer (the
 * predictors of registry/predict.h, qa_registry_load_ref) calls before using a model. */
qa_status qa_model_check_predictor(const qa_model *m, const char *label);

/* Writes the model file atomically; sets m->sha256. */
qa_status qa_model_save(qa_model *m, const char *path);
/* Reads and validates a model file (QA_ERR_FORMAT / QA_ERR_INTEGRITY with the reason). */
qa_status qa_model_load(const char *path, qa_model *out);
/* The same from the file's `len` bytes already in memory (`path` labels messages): what
 * the registry parses after hashing the bytes it read, so nothing is read twice. */
qa_status qa_model_load_bytes(const char *path, const void *data, size_t len, qa_model *out);
/* Checks a model file completely (container, checksum, metadata, parameters finite, a
 * policy's statistics finite) without keeping it; sha_hex (65 bytes, may be NULL)
 * receives its content identity. */
qa_status qa_model_verify(const char *path, char *sha_hex);

/* ---- checkpoints ------------------------------------------------------------------------------ */

typedef struct qa_model_ckpt {
    int64_t step;       /* optimiser steps completed; training resumes at this step */
    double best_val;    /* best validation loss so far (+inf before the first) */
    int64_t best_step;  /* step of that loss (-1 none) */
    int64_t bad_evals;  /* evaluations since the last improvement (early stopping) */
    uint64_t seed;      /* run seed: batches and dropout are pure functions of (seed, step) */
    char config_hash[65]; /* SHA-256 of the resolved config minus run-control keys */
    float *adam_m, *adam_v; /* AdamW moments, nparams each (owned) */
    float *best_params;     /* parameters at best_step (owned; NULL before the first evaluation) */
} qa_model_ckpt;

/* Writes the model's current parameters and the optimiser state atomically. */
qa_status qa_model_ckpt_save(const qa_model *m, const qa_model_ckpt *c, const char *path);
/* Reads and validates a checkpoint into a model (init'ed by the call) and state. */
qa_status qa_model_ckpt_load(const char *path, qa_model *m, qa_model_ckpt *c);
void qa_model_ckpt_free(qa_model_ckpt *c);

#ifdef __cplusplus
}
#endif
#endif
