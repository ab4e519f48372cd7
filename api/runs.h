/* qa serve: the run-directory handlers (docs/api-runs-data.md). They read what batch
 * commands leave in a run directory through its documented formats: run.json,
 * summary.json, config.resolved.json, metrics.jsonl (docs/training.md, docs/rl.md) and
 * results.h5 (docs/sweep.md "Outputs", docs/risk.md "Outputs").
 *
 * A run id is a folder name under one of ctx->runs[] (the first root holding it wins);
 * every handler checks it with qa_api_safe_name before touching the file system. */
#ifndef QA_API_RUNS_H
#define QA_API_RUNS_H

#include "api/api.h"
#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GET /api/runs?kind=&q=&page=&limit=  : the runs, newest first, one page. */
qa_status qa_apiruns_list(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/runs/{id}                    : run.json, summary.json, resolved config, files. */
qa_status qa_apiruns_show(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/runs/{id}/top?n=            : a sweep's best runs as a table. */
qa_status qa_apiruns_top(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/runs/{id}/heatmap?x=&y=&metric=&symbol= : a sweep metric over two parameters. */
qa_status qa_apiruns_heatmap(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/runs/{id}/equity?rank=&kind=runs|sets : one best run's or set's equity curve. */
qa_status qa_apiruns_equity(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/runs/{id}/curves            : metrics.jsonl of a training or RL run. */
qa_status qa_apiruns_curves(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/runs/{id}/stress            : a stress run's VaR/ES, histograms, scenarios, ... */
qa_status qa_apiruns_stress(const qa_api_req *req, qa_api_resp *resp);

/* The directory of run `id` into dir (QA_PATH_MAX bytes): the first of ctx->runs[] that
 * holds a folder of that name. QA_ERR_INVALID_ARG for an unsafe id, QA_ERR_NOT_FOUND
 * naming the id when no root holds it (also used by api/jobs.c to refuse a taken name). */
qa_status qa_apiruns_locate(const qa_api_ctx *ctx, const char *id, char *dir);

#ifdef __cplusplus
}
#endif
#endif
