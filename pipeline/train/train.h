/* `qa train`: deep-model training from the feature store into a run directory, and the
 * experiment tracker behind `qa runs`.
 *
 * A run: load samples (pipeline/train/train_data.h), build the network (train_net.h), then for
 * each step take the global batch (a deterministic shuffle of the training samples per
 * epoch), split it into `parallel.shards` equal shards dealt to the MPI ranks, compute
 * each shard's gradient, combine them across ranks (train_internal.h: deterministic
 * allgather or allreduce / NCCL), clip by the global norm and take an AdamW step with the
 * warm-up + cosine learning rate. Every `eval_every` steps the validation loss decides
 * the best model (model.qam) and early stopping; checkpoints (checkpoint.qac) hold
 * everything needed to resume bit for bit. The end of a run scores the validation and
 * test splits with the best model and writes summary.json and report.html.
 *
 * Run directory: config.resolved.json, run.json, run.log, metrics.jsonl, checkpoint.qac,
 * model.qam, summary.json, report.html (docs/training.md). */
#ifndef QA_PIPELINE_TRAIN_H
#define QA_PIPELINE_TRAIN_H

#include <signal.h>   /* sig_atomic_t: the stop flag */
#include <jansson.h>  /* json_t */
#include <stdio.h>    /* FILE */

#include "common/config.h"
#include "common/status.h"
#include "mpi/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every key of a training config (docs/training.md lists them with defaults). */
typedef struct qa_train_cfg {
    const char *data;    /* market file with /features */
    const char *backend; /* cpu, cuda, auto */
    long long seed;
    long long threads;   /* CPU threads per rank (0: OpenMP's default) */
    /* inputs */
    qa_cfg_list features; /* const char *: datasets under /features */
    qa_cfg_list bars;     /* const char *: bar-derived inputs */
    long long window;
    double clip;
    /* target */
    int target;          /* qa_model_target */
    long long horizon;
    long long classes;   /* 0: 1 for return, 2 for sign, 5 for quantile */
    int standardize;
    int demean;
    /* split */
    const char *start, *train_end, *val_end, *end;
    long long embargo;
    /* model */
    int model;           /* qa_nn_arch_type */
    qa_cfg_list hidden;  /* long long widths */
    int activation;      /* qa_nn_act */
    int layer_norm;
    double dropout;
    /* train */
    int loss;            /* 0 auto, else 1 + qa_train_loss */
    double huber_delta;
    long long batch_size, steps, epochs;
    double lr, lr_min;
    long long warmup_steps;
    double weight_decay, beta1, beta2, adam_eps, max_grad_norm;
    long long eval_every, log_every, checkpoint_every, patience;
    double min_delta;
    long long eval_batch; /* 0: the shard size */
    /* parallel */
    long long shards;
    int deterministic;
    double bucket_mb;
    int math;            /* qa_nn_math */
    /* evaluate */
    long long top_k;
    double cost_bps;
    /* run control (command line; not part of the config hash) */
    const char *run_dir;
    int resume;
    long long max_steps; /* stop with a checkpoint once this many steps are done (0: no limit) */
    /* Set non-zero (by the caller's signal handler) to stop every rank after its current
     * step with a checkpoint; NULL: never. The library installs no handler itself. */
    const volatile sig_atomic_t *stop;
    const qa_cfg_t *doc; /* the parsed config, for file:line errors (may be NULL) */
} qa_train_cfg;

qa_status qa_train_cfg_default(qa_train_cfg *c);
/* Binds the document (keys under data/backend/seed/threads/inputs/target/split/model/
 * train/parallel/evaluate) and checks everything that does not need the data; errors
 * are "file:line: key 'a.b': ...". Keeps a pointer to doc. */
qa_status qa_train_cfg_bind(const qa_cfg_t *doc, qa_train_cfg *c);
/* The resolved config (every key with its effective value). New reference. */
json_t *qa_train_cfg_json(const qa_train_cfg *c);

typedef struct qa_train_result {
    long long steps;        /* optimiser steps done in total */
    double best_val_loss;
    long long best_step;
    char stop_reason[64];   /* "steps", "early stopping", "max-steps", "interrupted" (a signal: checkpoint written) */
    double seconds;
    double samples_per_s;   /* global samples per second of the training loop */
    double test_ic, test_rank_ic;
} qa_train_result;

/* Trains into c->run_dir. Collective over comm. argv goes to run.json. With c->resume it
 * continues from run_dir/checkpoint.qac (from scratch when there is none yet). When
 * *c->stop becomes non-zero on any rank (`qa train` sets it on SIGINT, SIGTERM or
 * SIGUSR1), every rank stops after the current step with a checkpoint and returns QA_OK
 * with stop_reason "interrupted" (the Slurm template's contract). */
qa_status qa_train_run(const qa_train_cfg *c, const qa_comm_t *comm, int argc, char **argv, qa_train_result *res);

/* ---- experiment tracker (`qa runs`) -------------------------------------------------- */

/* Table of the run directories directly under `dir`: name, model, inputs, target,
 * steps, best validation loss, test IC / rank IC / top-k Sharpe, duration, status. */
qa_status qa_train_runs_list(const char *dir, FILE *out);
/* One run's configuration summary, status, metrics and files. */
qa_status qa_train_runs_show(const char *run, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
