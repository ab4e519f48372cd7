/* `qa features`: computes a declared feature set from a market file into its
 * /features group, on CPU or GPU, sharded over MPI ranks, streaming by blocks.
 *
 * Plan: time-series features run per block of symbols (blocks of `block_symbols`, a
 * multiple of the 64-symbol chunk rows, distributed round-robin over ranks) and per
 * block of `block_bars` timestamps, carrying each symbol's state across time blocks, so
 * results are exact for any block size or rank count and memory is bounded by one
 * block. Cross-sectional features (xs_rank, xs_zscore) then run per block of timestamps
 * over all symbols, reading their input series (a bar field, or a return series written
 * by the first phase). Every output is written to a hidden dataset and renamed into
 * place when complete, with lineage attributes:
 *   kind, params (JSON), input (datasets read), code_version, input_hash, created.
 * input_hash is SHA-256 over the spec, the code version and the content of the input
 * panels (hashed per 64-symbol group, so identical for any rank count). A feature whose
 * stored lineage matches is up to date and skipped; one whose inputs or definition
 * changed is stale and recomputed. */
#ifndef QA_PIPELINE_FEATURES_H
#define QA_PIPELINE_FEATURES_H

#include <stddef.h>  /* size_t */

#include "common/config.h"
#include "common/status.h"
#include "kernels/features.h"
#include "mpi/comm.h"

#ifdef __cplusplus
extern "C" {
#endif


typedef struct qa_features_item {
    char name[64];
    qa_feat_spec spec;
    char input[96]; /* "" = the bars; else a panel ("alt/news_sent_mean") read as the spec's x */
} qa_features_item;

typedef struct qa_features_cfg {
    const char *data;        /* market file */
    const char *backend;     /* cpu, cuda, auto */
    long long block_bars;    /* timestamps per block */
    long long block_symbols; /* symbols per block (multiple of 64) */
    int force;               /* recompute even when up to date */
    int reference;           /* CPU reference kernels (slow; for checks) */
    qa_features_item *items; /* owned */
    size_t nitems;
} qa_features_cfg;

/* Defaults: backend auto, 4096 bars x 256 symbols per block, the default feature set. */
qa_status qa_features_cfg_default(qa_features_cfg *c);
/* Binds a YAML/JSON document: keys data, backend, block_bars, block_symbols, force,
 * default_set (bool: add the default set), features (list of maps: name, kind, field,
 * window, slow, signal, k, output). Errors name file:line and key. */
qa_status qa_features_cfg_bind(const qa_cfg_t *cfg, qa_features_cfg *c);
void qa_features_cfg_free(qa_features_cfg *c);

typedef struct qa_features_report {
    size_t computed, up_to_date;
    size_t symbols, bars;
    double seconds;
    double symbol_bars_per_s; /* per computed feature-set pass */
    char backend[16];
} qa_features_report;

/* Runs the plan. Collective under MPI. */
qa_status qa_features_run(const qa_features_cfg *c, const qa_comm_t *comm, qa_features_report *rep);

#ifdef __cplusplus
}
#endif
#endif
