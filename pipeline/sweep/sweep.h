/* `qa sweep`: backtest parameter sweeps over a market file, distributed over MPI ranks
 * and GPUs, checkpointed chunk by chunk, with Slurm-array parts, walk-forward
 * optimisation, multiple-testing guards and a report.
 *
 * The work of a sweep is a fixed list of chunks that depends only on the configuration
 * (docs/sweep.md): grid chunks (a block of symbols x a block of parameter sets, metrics
 * of every run), set chunks (a block of parameter sets: the portfolio across all symbols,
 * or the cross-sectional top-k portfolio, with per-bar returns) and walk-forward chunks
 * (a window x a block of symbols). Each finished chunk is written atomically as
 * <run>/chunks/chunk-NNNNNN.h5, so
 *   - a sweep killed at any point and restarted with the same run directory skips the
 *     chunks it already has (the directory records the config and input hashes and
 *     refuses a different config);
 *   - `--chunk i/K` computes only the i-th of K contiguous parts of the list (a Slurm
 *     array task) and `qa sweep merge` assembles them;
 *   - under MPI the chunks of the run (or part) are dealt round-robin to ranks, one GPU
 *     per rank, and rank 0 merges them in chunk order.
 * A chunk's numbers do not depend on which process computed it, so the merged results
 * are identical for any rank count, part count or interruption pattern (bitwise on the
 * CPU engine). The merge streams chunk by chunk into <run>/results.h5, so memory stays
 * bounded by one chunk plus per-set arrays, not by symbols x sets. */
#ifndef QA_PIPELINE_SWEEP_H
#define QA_PIPELINE_SWEEP_H

#include <signal.h>  /* sig_atomic_t */
#include <stddef.h>  /* size_t */

#include "common/config.h"
#include "common/fs.h" /* QA_PATH_MAX */
#include "common/status.h"
#include "mpi/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Run-time options: everything that is not part of the configuration (and so not part
 * of the config hash). */
typedef struct qa_sweep_opts {
    const char *run_dir;    /* required */
    const char *data;       /* market file; overrides the config's `data` */
    const char *backend;    /* cpu, cuda or auto; overrides the config's `backend` */
    int part, parts;        /* compute only part `part` (0-based) of `parts`; parts 0 = all */
    int expect_parts;       /* merge: the part count the chunks were run with (0: not checked) */
    long long max_chunks;   /* stop after this many chunks computed by this process (0: no limit) */
    long long chunk_delay_ms; /* testing aid: pause after each computed chunk, so preemption,
                               * requeue and cancel can be exercised on a fast machine */
    int reference;          /* CPU reference engine (slow; for checks) */
    int threads;            /* CPU threads per rank; 0 = cores / ranks on the node */
    volatile sig_atomic_t *stop; /* when non-zero: finish the current chunk and stop (SIGTERM) */
    const char *command;    /* recorded in run.json */
    int argc;
    char **argv;
} qa_sweep_opts;

void qa_sweep_opts_init(qa_sweep_opts *o);

/* What a run did. Counts cover all ranks. */
typedef struct qa_sweep_report {
    size_t symbols, params;  /* selected symbols, parameter sets after filtering */
    size_t bars;             /* bars of the evaluation range */
    size_t chunks;           /* chunks in the whole sweep */
    size_t computed;         /* chunks computed by this run */
    size_t skipped;          /* chunks found finished in the run directory */
    size_t missing;          /* chunks still missing after this run */
    int merged;              /* results.h5, summary.json, top.csv and report.html written */
    int stopped;             /* stopped early (--max-chunks or a stop request) */
    double evaluations;      /* bar-parameter evaluations computed by this run */
    double compute_seconds;  /* wall time of the chunk phase */
    double merge_seconds;
    double seconds;          /* whole call */
    double evals_per_s;      /* evaluations / compute_seconds */
    char backend[16];
    char config_hash[65];
    char results[QA_PATH_MAX];      /* path of results.h5 when merged */
    char report[QA_PATH_MAX];       /* path of report.html when merged */
} qa_sweep_report;

/* Binds the configuration, checks it against the data (every malformed setting is an
 * error naming file:line and key, before any work), loads the panels, records or checks
 * the run directory, computes the chunks of this process (skipping finished ones) and,
 * unless running one part or stopped early, merges the results. Collective under MPI:
 * every rank returns the same status. */
qa_status qa_sweep_run(const qa_cfg_t *doc, const qa_sweep_opts *o, const qa_comm_t *comm, qa_sweep_report *rep);

/* Merges the chunks found in o->run_dir into results.h5, summary.json, top.csv and
 * report.html (one process). Fails naming the missing chunks (and their parts when
 * o->expect_parts is set) when the sweep is incomplete. */
qa_status qa_sweep_merge(const qa_cfg_t *doc, const qa_sweep_opts *o, qa_sweep_report *rep);

/* Binds and checks the configuration against the data without computing anything;
 * fills the layout fields of `rep` (symbols, params, bars, chunks, config_hash). */
qa_status qa_sweep_check(const qa_cfg_t *doc, const qa_sweep_opts *o, qa_sweep_report *rep);

#ifdef __cplusplus
}
#endif
#endif
