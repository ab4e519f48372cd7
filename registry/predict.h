/* Predictions from a loaded model on the CPU: the normalisation of raw inputs, the
 * network's forward pass (kernels/nn_infer.h, the one inference forward pass) and the
 * outputs as a user reads them (a forward return, class probabilities, a ranking score).
 *
 * Two predictors:
 *   qa_model_predictor  windowed: each call scores rows of L bars x F inputs, exactly the
 *                       function the model was trained as (an LSTM restarts from a zero
 *                       state for every window). Cost per row: L LSTM steps (or one MLP).
 *   qa_model_stream     per-symbol carried state for the LSTM: one bar per call, O(1)
 *                       (one step, not L). Pushing a symbol's bars from a reset gives the
 *                       windowed prediction bit for bit for the first L bars; after that
 *                       the state carries the longer history the windowed model never
 *                       saw, a different (unbounded-memory) estimate. qa_model_stream_push
 *                       can reset every `period` bars so the live service decides how
 *                       much history it trusts (docs/models.md, "Streaming inference",
 *                       says how far apart the two are on the shipped data).
 * Neither allocates per call; buffers are sized at creation. Not thread-safe per object
 * (one per thread). */
#ifndef QA_REGISTRY_PREDICT_H
#define QA_REGISTRY_PREDICT_H

#include <stddef.h>  /* size_t */

#include "common/status.h"
#include "registry/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_model_predictor qa_model_predictor_t;

/* Keeps a pointer to m (which must outlive it). Caller frees. A policy model (target
 * policy, qa rl train) is refused with QA_ERR_CONFIG (qa_model_check_predictor); so is it
 * by qa_model_stream_create. */
qa_status qa_model_predictor_create(const qa_model *m, int max_rows, qa_model_predictor_t **out);
void qa_model_predictor_free(qa_model_predictor_t *p);
/* raw [rows x L x F] doubles in the store's units (oldest bar first) -> out [rows x K]:
 * regression: the predicted forward return (de-standardised); classification: class
 * probabilities (softmax). Inputs are normalised and clipped as in training; a NaN
 * input makes that row's outputs NaN. */
qa_status qa_model_predictor_run(qa_model_predictor_t *p, int rows, const double *raw, double *out);
/* Same from already normalised float inputs [rows x L x F] (the training data's x). */
qa_status qa_model_predictor_run_normalized(qa_model_predictor_t *p, int rows, const float *x, double *out);

/* Ranking score of one row of raw net outputs (normalised regression value, or logits):
 * regression the predicted return; sign targets P(up); quantile targets the expected
 * bucket index minus (K-1)/2. */
double qa_model_score(const qa_model *m, const float *outputs);
/* The same score from a predictor's outputs (one row of K values). */
double qa_model_output_score(const qa_model *m, const double *outputs);

/* ---- streaming (LSTM) ------------------------------------------------------------------------- */

typedef struct qa_model_stream qa_model_stream_t;

/* Carried state for `symbols` symbols of an LSTM model (QA_ERR_INVALID_ARG for an MLP:
 * it has no state to carry; use the predictor). Every symbol starts reset. `period`
 * (0 = never) resets a symbol's state after that many bars, before the next one. */
qa_status qa_model_stream_create(const qa_model *m, size_t symbols, long period, qa_model_stream_t **out);
void qa_model_stream_free(qa_model_stream_t *s);
/* One bar of symbol `sym`: raw [F] inputs in the store's units -> out [K] as the
 * predictor's. A NaN input leaves the state unchanged and gives NaN outputs (the bar
 * is skipped, as the training rows skip incomplete bars). */
qa_status qa_model_stream_push(qa_model_stream_t *s, size_t sym, const double *raw, double *out);
/* Restarts symbol `sym` from a zero state. */
void qa_model_stream_reset(qa_model_stream_t *s, size_t sym);
/* Bars pushed into `sym` since its last reset. */
long qa_model_stream_bars(const qa_model_stream_t *s, size_t sym);

#ifdef __cplusplus
}
#endif
#endif
