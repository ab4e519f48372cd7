/* What a market file holds, as data: metadata, shape and time range, the share of non-NaN
 * cells per bar field, the alternative-data and feature datasets with their lineage
 * attributes, and per-symbol moments of log returns computed by the reduce kernel.
 * `qa data info` prints it; the same document serves any other caller. */
#ifndef QA_DATASETS_DESCRIBE_H
#define QA_DATASETS_DESCRIBE_H

#include <jansson.h>  /* json_t */

#include "common/status.h"
#include "datasets/store.h"
#include "kernels/backend.h"
#include "kernels/reduce.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A JSON object: file, symbols, timestamps, first, last, the metadata fields, coverage
 * {field: share}, alt {name: {lineage attributes}}, features {same}. Caller decrefs. */
qa_status qa_describe_store(qa_store_t *store, json_t **out);

/* Moments of each symbol's log returns on its observation sequence (a NaN close is
 * skipped, the next return spans the gap), out[S]. Streamed in blocks of 64 symbols;
 * the reduce kernel runs on `be` (uploaded for CUDA). */
qa_status qa_describe_return_moments(qa_store_t *store, qa_backend_t *be, qa_moments *out);

/* The moments as a JSON array of {symbol, returns, mean_log_return, annual_vol, min,
 * max} (NaN statistics as null; annualised with the file's bars per year). */
json_t *qa_describe_moments_json(qa_store_t *store, const qa_moments *m);

#ifdef __cplusplus
}
#endif
#endif
