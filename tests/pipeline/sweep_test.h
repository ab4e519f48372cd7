/* Shared by test_sweep_wf and bench_sweep: a sweep run from config text, as
 * `qa sweep --config FILE` makes it (pipeline/sweep/sweep.h). */
#ifndef QA_TESTS_PIPELINE_SWEEP_TEST_H
#define QA_TESTS_PIPELINE_SWEEP_TEST_H

#include <string.h>

#include "common/config.h"
#include "mpi/comm.h"
#include "pipeline/sweep/sweep.h"

/* Parses `text` (called `name` in messages) and sweeps it with the options `o` on the
 * ranks of comm (NULL: this process). */
static inline qa_status qa_test_sweep_text(const char *name, const char *text, const qa_sweep_opts *o,
                                           const qa_comm_t *comm, qa_sweep_report *rep) {
    qa_cfg_t *doc = NULL;
    qa_status st = qa_cfg_parse(name, text, strlen(text), &doc);
    if (st == QA_OK) st = qa_sweep_run(doc, o, comm, rep);
    qa_cfg_free(doc);
    return st;
}

#endif
