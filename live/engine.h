/* The live service's deterministic core (docs/live.md, "Processing"): given the bars of
 * one closed timestamp, it advances every symbol's features, the model's windows and
 * the sizing state, and emits features, signals and position sizes. No Kafka, no
 * clock, no I/O: the same bars give the same messages, which is what lets the service
 * replay inputs after a crash and drop the outputs it had already sent, and what the
 * in-process latency benchmark measures.
 *
 * Per timestamp, for each symbol of the universe in order (only symbols with a bar):
 *   features  every configured feature by the batch kernels' incremental form
 *             (qa_feat_update; cross-sectional ones by qa_feat_xs_row over the
 *             timestamp's symbols), so they equal `qa features` on the same bars bit for
 *             bit;
 *   signal    when a model is loaded and the symbol's last L observation rows are
 *             complete: the model's inputs (features by name, bar inputs by
 *             qa_inputs_bar_value) through the windowed CPU predictor, reduced by
 *             qa_model_output_score, exactly what `qa predict` computes for that bar;
 *   size      direction from the score (its sign about the target's centre, beyond
 *             `threshold`, as the rules' direction allows), |weight| from the rules'
 *             sizing (fixed fraction or vol target over the symbol's last returns:
 *             trading/sizing.h), times `allocation` (1/N of the universe by default);
 *             shares = weight x capital / close.
 * All state is one array of doubles per symbol, so a checkpoint is one blob. */
#ifndef QA_LIVE_ENGINE_H
#define QA_LIVE_ENGINE_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"
#include "kernels/features.h" /* qa_feat_spec */
#include "live/msg.h"         /* the messages it emits */
#include "registry/model.h"   /* qa_model */
#include "trading/rules.h"    /* sizing and direction */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_engine qa_engine_t;

/* Output topics of the engine. */
typedef enum qa_engine_out { QA_ENGINE_FEATURES = 0, QA_ENGINE_SIGNALS = 1, QA_ENGINE_SIZES = 2, QA_ENGINE_OUTS = 3 } qa_engine_out;

/* Receives each message in order; sym is the universe index of m->symbol. A non-OK
 * return stops the step and is returned by qa_engine_step. */
typedef qa_status (*qa_engine_emit_fn)(void *ctx, qa_engine_out out, size_t sym, const qa_msg *m);

typedef struct qa_engine_cfg {
    const char *const *symbols; /* the universe, in the order cross-sections and outputs use */
    size_t nsym;
    const qa_model *model;      /* NULL: features only (must outlive the engine) */
    const char *model_name;     /* for signals: "demo-mlp" */
    uint32_t model_version;
    const qa_feat_spec *extra;  /* features published beyond the model's inputs */
    const char *const *extra_names;
    size_t nextra;
    qa_rules rules;             /* direction, sizing, capital, bars_per_year (resolved) */
    double threshold;           /* |score - centre| needed to take a position */
    double allocation;          /* fraction of capital per symbol; 0 = 1/nsym */
    const char *stream;         /* namespace of signal ids */
} qa_engine_cfg;

qa_status qa_engine_create(const qa_engine_cfg *cfg, qa_engine_t **out);
void qa_engine_free(qa_engine_t *e);

/* Processes one timestamp: bars[s] for s < nsym, present[s] = 0 where the symbol has no
 * bar (its fields are then ignored). */
qa_status qa_engine_step(qa_engine_t *e, int64_t time, const qa_msg_bar *bars, const unsigned char *present,
                         qa_engine_emit_fn emit, void *ctx);

/* Swaps the model between two timestamps (hot reload): the new one must read the same
 * inputs (names, definitions, window) and give the same outputs, so every feature state
 * and window carries over; QA_ERR_CONFIG naming the first difference otherwise (the
 * engine is unchanged). m must outlive the engine or the next swap. */
qa_status qa_engine_set_model(qa_engine_t *e, const qa_model *m, const char *name, uint32_t version);

/* Configuration reload (live/reload.h): new rules, threshold and allocation from the
 * next timestamp. The sizing window must stay the same (the returns kept per symbol) and
 * Kelly sizing needs a return model; QA_ERR_CONFIG otherwise (the engine is unchanged).
 * qa_engine_rules_check answers without changing anything. */
qa_status qa_engine_rules_check(const qa_engine_t *e, const qa_rules *r);
qa_status qa_engine_set_rules(qa_engine_t *e, const qa_rules *r, double threshold, double allocation);

/* The feature set: count and its lineage (SHA-256 hex of the code version and each
 * feature's name and definition). */
size_t qa_engine_nfeatures(const qa_engine_t *e);
const char *qa_engine_lineage(const qa_engine_t *e);

/* The whole state as doubles (nsym x per-symbol), for checkpoints; the layout is fixed
 * by the configuration, whose identity qa_engine_lineage and the model digest carry. */
size_t qa_engine_state_doubles(const qa_engine_t *e);
double *qa_engine_state(qa_engine_t *e);

#ifdef __cplusplus
}
#endif
#endif
