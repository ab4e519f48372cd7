/* Learning samples from the feature store: inputs, targets, time splits with purge and
 * embargo, normalisation fitted on the training period, and deterministic shuffled
 * batches. docs/training.md gives every definition; this header states the contracts.
 *
 * Rows. A symbol's *observation rows* are its bars with a close, in time order (the
 * observation sequence of docs/features.md). All per-symbol quantities (bar-derived
 * inputs, look-back windows, forward returns) walk these rows, never the calendar grid.
 *
 * Inputs. F series per row: datasets under /features (by name) and/or inputs derived
 * from the bars (qa_model_bar_input). A sample at row r uses the window of the L rows
 * r-L+1 .. r of its symbol, laid out [L x F] (oldest first); L = 1 for a plain MLP.
 *
 * Target over horizon h: ret(r) = close(r+h)/close(r) - 1 on the observation rows;
 * with `demean`, minus the mean of ret over the symbols that have one at the same
 * timestamp (a cross-sectional, market-neutral target).
 * Regression learns ret (standardised by the training mean/std when asked);
 * classification learns its sign (K = 2: class 1 iff ret > 0) or its quantile bucket
 * (K classes; edges are the training targets' k/K quantiles).
 *
 * Splits by time, half-open: train [start, train_end), validation [train_end, val_end),
 * test [val_end, end). A row belongs to the split containing its timestamp. Purge: a
 * sample is dropped when its label window [t, t+h] ends at or after its split's end
 * (the label would use prices of the next split, or beyond `end`). Embargo: the first
 * E grid timestamps at or after each split boundary (train_end, val_end) are dropped
 * from the later split. Samples with any NaN input in the window or a NaN label are
 * dropped. Counts of each reason are kept (qa_train_data_counts).
 *
 * Normalisation: per input, mean and standard deviation (ddof 1) over the rows whose
 * timestamps lie in the training period, ignoring NaN; inputs become (x - mean)/std,
 * clipped to +-clip when clip > 0. A constant (std 0) or empty input gets std 1.
 * Nothing outside the training period influences the fit. */
#ifndef QA_PIPELINE_TRAIN_DATA_H
#define QA_PIPELINE_TRAIN_DATA_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t, uint32_t */

#include "common/status.h"
#include "datasets/store.h"
#include "registry/model.h" /* qa_model_spec, qa_model_norm: what a model reads */

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_train_split {
    QA_TRAIN_SPLIT_TRAIN = 0,
    QA_TRAIN_SPLIT_VAL = 1,
    QA_TRAIN_SPLIT_TEST = 2,
    QA_TRAIN_SPLIT_COUNT = 3
} qa_train_split;

/* "train", "val", "test". */
const char *qa_train_split_name(qa_train_split s);
qa_status qa_train_split_parse(const char *name, qa_train_split *out);

/* Why rows did not become samples, per split. */
typedef struct qa_train_data_counts {
    size_t rows;      /* observation rows whose timestamp lies in the split */
    size_t samples;   /* kept */
    size_t embargoed; /* in the first E timestamps after the boundary */
    size_t short_history; /* fewer than L rows of history */
    size_t nan_input; /* a NaN among the L x F inputs */
    size_t nan_label; /* no observation h rows ahead */
    size_t purged;    /* label window crosses the split's end */
} qa_train_data_counts;

typedef struct qa_train_data {
    qa_model_spec spec;
    qa_model_norm norm;
    size_t nsym, ntime;
    char (*symbols)[QA_STORE_SYMBOL_LEN];
    int64_t *time;          /* [ntime] grid */
    double bars_per_year;
    size_t nrows;           /* observation rows, symbol-major */
    size_t *sym_begin;      /* [nsym + 1]: rows of symbol s are [sym_begin[s], sym_begin[s+1]) */
    int32_t *row_sym;       /* [nrows] */
    int32_t *row_t;         /* [nrows] grid index */
    double *close;          /* [nrows] */
    float *x;               /* [nrows x F] normalised (and clipped) inputs; NaN where missing */
    double *ret;            /* [nrows] forward return over h rows (cross-sectionally demeaned when asked); NaN when none */
    float *y;               /* [nrows] regression target (standardised ret) */
    int32_t *cls;           /* [nrows] class label for classification targets; -1 none */
    int8_t *split;          /* [nrows] split of the row's timestamp, -1 outside [start, end) */
    uint8_t *valid;         /* [nrows] 1 when the L x F window is complete and finite */
    uint32_t *samples[QA_TRAIN_SPLIT_COUNT]; /* labelled sample rows per split, in row order */
    size_t nsamples[QA_TRAIN_SPLIT_COUNT];
    uint32_t *pred_rows[QA_TRAIN_SPLIT_COUNT]; /* rows with a valid window in the split after the embargo (labels optional) */
    size_t npred[QA_TRAIN_SPLIT_COUNT];
    qa_train_data_counts counts[QA_TRAIN_SPLIT_COUNT];
    int64_t first_time, last_time; /* timestamps of the first/last row in [start, end) */
    /* SHA-256 of the data read, for lineage: the symbol names (fixed-width records), the
     * time grid (int64), every observation row's symbol and grid index (int32) and close,
     * then each input's raw column (float64, before normalisation), in host byte order. */
    char data_sha256[65];
} qa_train_data;

/* Reads the inputs' lineage attributes (input_hash, params) from the store into
 * spec->inputs. QA_ERR_NOT_FOUND names a feature missing from /features. */
qa_status qa_train_data_resolve_inputs(qa_store_t *st, qa_model_spec *spec);

/* Compares a model's inputs with the store's /features: a missing feature or one whose
 * definition (params) differs is an error; a different input_hash (other or newer data
 * under the same definition) is reported through *lineage_changed (count of inputs). */
qa_status qa_train_check_store(const qa_model *m, qa_store_t *st, int *lineage_changed);


/* Loads every observation row of the store, builds inputs and targets, assigns splits
 * and samples. With `norm` NULL the normalisation (and the target standardisation or
 * quantile edges) is fitted on the training period; otherwise `norm` is used as given
 * (a trained model's). Serial read (every rank calls it with its own handle). Caller
 * frees with qa_train_data_free. */
qa_status qa_train_data_load(qa_store_t *st, const qa_model_spec *spec, const qa_model_norm *norm,
                             qa_train_data *out);
void qa_train_data_free(qa_train_data *d);

/* Assembles n samples: x [n x L x F] (float) and, when non-NULL, y[n] (regression
 * target) and cls[n] (class labels). Rows must have valid windows. */
void qa_train_data_gather(const qa_train_data *d, const uint32_t *rows, size_t n, float *x, float *y,
                          int32_t *cls);

/* Deterministic shuffle: perm[0..n) becomes a permutation of 0..n-1, a pure function of
 * (seed, epoch, n): Fisher-Yates where step i (n-1 down to 1) swaps i with
 * j = floor(u * (i + 1) / 2^32), u = Philox u32 element i of stream (2^32 + epoch). */
void qa_train_data_shuffle(uint32_t *perm, size_t n, uint64_t seed, uint64_t epoch);

#ifdef __cplusplus
}
#endif
#endif
