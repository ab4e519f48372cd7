/* What a model's inputs are, in a form both batch and live compute them from: the
 * feature definition a /features dataset records in its `params` attribute (written by
 * `qa features`, copied into every model's signature) as a kernel spec, and the
 * bar-derived inputs (qa_model_bar_input) of one observation row.
 *
 * The live service rebuilds a model's features from its signature with
 * qa_inputs_feat_spec, so a model trained on batch features is fed the same
 * definitions bar by bar; `qa features` writes the params with qa_inputs_feat_params,
 * so the two can never drift apart. */
#ifndef QA_REGISTRY_INPUTS_H
#define QA_REGISTRY_INPUTS_H

#include <stddef.h>  /* size_t */

#include "common/status.h"
#include "kernels/features.h" /* qa_feat_spec */
#include "registry/model.h"   /* qa_model_bar_input */

#ifdef __cplusplus
extern "C" {
#endif

/* The params attribute of a feature: compact JSON with sorted keys, e.g.
 * {"field":"close","kind":"rsi","output":"value","window":14}. snprintf semantics;
 * QA_ERR_NOMEM/QA_ERR_INVALID_ARG when it does not fit. */
qa_status qa_inputs_feat_params(const qa_feat_spec *spec, char *buf, size_t size);
/* The same for a feature whose input x is a panel of the market file other than the bars
 * (`input`, e.g. "alt/news_sent_mean", stored under the key "input"; the spec reads it as
 * its close). NULL or "" gives qa_inputs_feat_params' text. */
qa_status qa_inputs_feat_params_input(const qa_feat_spec *spec, const char *input, char *buf, size_t size);

/* Parses a params attribute back into a validated, normalized spec. QA_ERR_CONFIG
 * naming the key and the value when it is not a feature definition; QA_ERR_UNSUPPORTED
 * when the feature reads a panel other than the bars ("input"), which only batch
 * computes: a model using it cannot be fed bar by bar. *out unchanged on failure. */
qa_status qa_inputs_feat_spec(const char *params, qa_feat_spec *out);

/* One bar-derived input of an observation row from the row's bar (open, high, low,
 * close, volume) and the previous row's close (NaN at a symbol's first row); NaN when
 * it is not finite. The definitions of docs/models.md ("Inputs"). */
double qa_inputs_bar_value(qa_model_bar_input b, const double ohlcv[5], double prev_close);

#ifdef __cplusplus
}
#endif
#endif
