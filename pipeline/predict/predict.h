/* `qa predict`: a model's scores on every bar of a market file, as a panel.
 *
 * For each observation row (docs/features.md) whose window of L rows is complete and
 * finite, the model's inputs are read exactly as in training (pipeline/train/
 * train_data.h, with the model's own normalisation), run through the registry's CPU
 * predictor (registry/predict.h, kernels/nn_infer) in chunks of QA_PREDICT_CHUNK rows,
 * and reduced to the ranking score (qa_model_output_score: the predicted forward return,
 * P(up), or the expected quantile bucket centred on 0). Rows without a complete window
 * and bars without a close are NaN. The score at bar t uses bars up to and including t
 * only, so it can drive a strategy at t (docs/backtest.md's timing).
 *
 * The result is the S x T float64 panel `predictions/<name>/<version>` (a file model:
 * `predictions/file/<first 12 hex of its sha256>`) with attributes model (URI or path),
 * model_sha256 (the model file's container digest), target, classes, horizon, meaning, window, created; written into the market
 * file itself or into a new market-format file holding the same symbols and grid. */
#ifndef QA_PIPELINE_PREDICT_H
#define QA_PIPELINE_PREDICT_H

#include <stddef.h>  /* size_t */

#include "common/fs.h"      /* QA_PATH_MAX */
#include "common/status.h"
#include "datasets/store.h"
#include "pipeline/train/train_data.h"
#include "registry/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows per predictor call: fixed, so every caller's scores agree to the bit. */
#define QA_PREDICT_CHUNK 1024

/* Scores of every valid row of loaded data into score[S x T] (the data's symbols and
 * grid, NaN where none); *scored receives the count. The model must be the one the data
 * was loaded for (same spec and normalisation). */
qa_status qa_predict_data(const qa_model *m, const qa_train_data *d, double *score, size_t *scored);

/* Checks the model's inputs against the store (each feature present with the model's
 * definition; a changed input_hash is only warned about), loads the rows and scores
 * them. *score is S x T over the store's symbols and grid (caller frees). `label` names
 * the model in messages. */
qa_status qa_predict_store(const qa_model *m, const char *label, qa_store_t *st, double **score, size_t *scored);

/* A new market-format file `path` (the symbols, grid and metadata of `src`) holding the
 * panel `dataset` with its attributes; written to a temporary name and committed. */
qa_status qa_predict_write_file(qa_store_t *src, const char *path, const char *dataset, const double *score,
                                const qa_model *m, const char *label);

typedef struct qa_predict_opts {
    const char *model;     /* path or models:/ URI */
    const char *registry;  /* registry directory for URIs (NULL: the default) */
    const char *data;      /* market file */
    const char *out;       /* output file (NULL or == data: into the market file) */
} qa_predict_opts;

typedef struct qa_predict_report {
    char dataset[QA_PATH_MAX]; /* "predictions/<name>/<version>" */
    char label[QA_PATH_MAX];   /* models:/NAME/V or the model path */
    size_t symbols, bars, scored;
    double seconds, rows_per_s; /* scoring only */
} qa_predict_report;

/* `qa predict`: load (verifying the registry's hash and the signature), score, write. */
qa_status qa_predict_run(const qa_predict_opts *o, qa_predict_report *rep);

#ifdef __cplusplus
}
#endif
#endif
