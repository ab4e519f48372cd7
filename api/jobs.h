/* qa serve: job submission (docs/api-runs-data.md). A job is a batch command (qa sweep,
 * qa stress, qa train) run into a new run directory under ctx->jobs_dir, either as a
 * detached local process or through `qa submit` on Slurm. */
#ifndef QA_API_JOBS_H
#define QA_API_JOBS_H

#include "api/api.h"
#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* POST /api/jobs {"kind","config","name","slurm"} -> 202 {"job","run","pid"|"slurm_job"}.
 * Researchers and admins may submit every kind; a caller holding only the risk role may
 * submit stress jobs only (403). A taken run name is QA_ERR_EXISTS (409). */
qa_status qa_apijobs_submit(const qa_api_req *req, qa_api_resp *resp);

#ifdef __cplusplus
}
#endif
#endif
