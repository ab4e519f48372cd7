/* Trained models and training checkpoints on disk, and CPU inference from a loaded model.
 *
 * File container (docs/models.md):
 *   [0, 8)    magic "\x89QAMODL\n"
 *   [8, 12)   u32 container version (1), little-endian
 *   [12, 16)  u32 flags (0)
 *   [16, 24)  u64 J: bytes of JSON metadata
 *   [24, 32)  u64 B: bytes of blobs
 *   [32, 32+J)          JSON: format ("quantumalpha.model" or "quantumalpha.checkpoint"),
 *                       format_version, architecture, inputs (with the features' lineage
 *                       hashes), normalisation, target, split, training info, blob table
 *   [32+J, 32+J+B)      blobs: little-endian float32 arrays, each at an 8-byte aligned offset
 *   [32+J+B, +32)       SHA-256 of every byte before it
 * The loader checks the magic, the version, the exact length (truncation), the SHA-256
 * (any flipped byte), then the format name and version and every field's consistency
 * (shapes, blob sizes, finite normalisation), and refuses the file with a message that
 * says which check failed. Writes are atomic (temporary file + rename).
 *
 * Loading and inference need only common/, kernels/ and the spec types (no HDF5; only
 * qa_train_model_check_store reads the store), so this module can move below pipeline/
 * (e.g. to registry/) for the live service. */
#ifndef QA_PIPELINE_TRAIN_MODEL_H
#define QA_PIPELINE_TRAIN_MODEL_H

#include <jansson.h>  /* json_t */
#include <stddef.h>   /* size_t */
#include <stdint.h>   /* int64_t */

#include "common/status.h"
#include "pipeline/train_data.h"
#include "pipeline/train_net.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QA_TRAIN_MODEL_FORMAT "quantumalpha.model"
#define QA_TRAIN_CKPT_FORMAT "quantumalpha.checkpoint"
#define QA_TRAIN_MODEL_VERSION 1

typedef struct qa_train_model {
    qa_train_arch arch;
    qa_train_data_spec data; /* inputs (with lineage), window, target, splits */
    qa_train_norm norm;
    float *params; /* nparams floats, host memory, owned */
    size_t nparams;
    json_t *info;  /* training metadata object (owned reference; NULL allowed) */
    char sha256[65]; /* of the file contents, set by load/save */
} qa_train_model;

/* Allocates params for `arch` (zeroed) and copies spec/norm. Caller frees. */
qa_status qa_train_model_init(qa_train_model *m, const qa_train_arch *arch, const qa_train_data_spec *data,
                              const qa_train_norm *norm);
void qa_train_model_free(qa_train_model *m);

/* Writes the model file atomically; sets m->sha256. */
qa_status qa_train_model_save(qa_train_model *m, const char *path);
/* Reads and validates a model file (QA_ERR_FORMAT / QA_ERR_INTEGRITY with the reason). */
qa_status qa_train_model_load(const char *path, qa_train_model *out);

/* Compares the model's inputs with the store's /features: a missing feature or one whose
 * definition (params) differs is an error; a different input_hash (other or newer data
 * under the same definition) is reported through *lineage_changed (count of inputs). */
qa_status qa_train_model_check_store(const qa_train_model *m, qa_store_t *st, int *lineage_changed);

/* ---- checkpoints -------------------------------------------------------------------- */

typedef struct qa_train_ckpt {
    int64_t step;       /* optimiser steps completed; training resumes at this step */
    double best_val;    /* best validation loss so far (+inf before the first) */
    int64_t best_step;  /* step of that loss (-1 none) */
    int64_t bad_evals;  /* evaluations since the last improvement (early stopping) */
    uint64_t seed;      /* run seed: batches and dropout are pure functions of (seed, step) */
    char config_hash[65]; /* SHA-256 of the resolved config minus run-control keys */
    float *adam_m, *adam_v; /* AdamW moments, nparams each (owned) */
    float *best_params;     /* parameters at best_step (owned; NULL before the first evaluation) */
} qa_train_ckpt;

/* Writes the model's current parameters and the optimiser state atomically. */
qa_status qa_train_ckpt_save(const qa_train_model *m, const qa_train_ckpt *c, const char *path);
/* Reads and validates a checkpoint into a model (init'ed by the call) and state. */
qa_status qa_train_ckpt_load(const char *path, qa_train_model *m, qa_train_ckpt *c);
void qa_train_ckpt_free(qa_train_ckpt *c);

/* ---- inference ------------------------------------------------------------------------ */

/* A loaded model's CPU forward pass for the live service: one row (or a few) of raw,
 * un-normalised inputs -> outputs, on the calling thread, without allocation per call
 * (all buffers are sized at creation for max_rows). */
typedef struct qa_train_predictor qa_train_predictor_t;

/* Keeps a pointer to m (which must outlive it). Caller frees. */
qa_status qa_train_predictor_create(const qa_train_model *m, int max_rows, qa_train_predictor_t **out);
void qa_train_predictor_free(qa_train_predictor_t *p);
/* raw [rows x L x F] doubles in the store's units (oldest bar first) -> out [rows x K]:
 * regression: the predicted forward return (de-standardised); classification: class
 * probabilities (softmax). Inputs are normalised and clipped as in training; a NaN
 * input makes that row's outputs NaN. */
qa_status qa_train_predictor_run(qa_train_predictor_t *p, int rows, const double *raw, double *out);
/* Same from already normalised float inputs [rows x L x F] (the training data's x). */
qa_status qa_train_predictor_run_normalized(qa_train_predictor_t *p, int rows, const float *x, double *out);

/* Ranking score of one row of outputs: regression the predicted return; sign targets
 * P(up); quantile targets the expected bucket index minus (K-1)/2. `outputs` are the
 * raw net outputs (normalised regression value, or logits). */
double qa_train_model_score(const qa_train_model *m, const float *outputs);

#ifdef __cplusplus
}
#endif
#endif
