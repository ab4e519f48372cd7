/* qa serve: the live service's risk database over HTTP (docs/api-desk.md, "Risk"): the
 * metrics series, alerts and the limits in force with their use. Everything is read from
 * <live_state>/risk.db opened read-only (the service may be writing it). The read-only
 * opener of the live databases lives here too: orders and desk handlers use it. */
#ifndef QA_API_RISK_H
#define QA_API_RISK_H

#include <jansson.h>  /* json_t */
#include <sqlite3.h>  /* sqlite3 */

#include "api/api.h"
#include "common/status.h"
#include "live/msg.h"     /* qa_msg_risk */
#include "live/riskdb.h"  /* qa_riskdb_t */

#ifdef __cplusplus
extern "C" {
#endif

/* Opens <ctx->live_state>/<file> read-only with a busy timeout; its meta 'format' must be
 * `format`. QA_ERR_NOT_FOUND when no state directory is configured or the file does not
 * exist (the service never ran there), QA_ERR_FORMAT for another kind of file. */
qa_status qa_apirisk_open_state(const qa_api_ctx *ctx, const char *file, const char *format, sqlite3 **out);
/* A result column of a live database as JSON (integer, number, string; NULL and
 * non-finite numbers as null). New reference. */
json_t *qa_apirisk_column(sqlite3_stmt *s, int i);
/* The risk database through live/riskdb.h's readers, read-only (same errors). */
qa_status qa_apirisk_open_riskdb(const qa_api_ctx *ctx, qa_riskdb_t **out);

/* The limits of the configuration in force (risk.db's recorded changes, else
 * ctx->live_config) evaluated on the recorded snapshot k (NULL: none yet; every limit
 * "not_evaluated"), as `qa live status` shows them: a new object {"config_change": id
 * (0: from live_config), "limits": [{"name", "metric", "level", "min", "max", "value",
 * "bound", "use", "state", "warn_fraction"}]}. No configuration anywhere: "limits": []
 * and "config_change": null. */
qa_status qa_apirisk_limits_json(const qa_api_ctx *ctx, qa_riskdb_t *db, const qa_msg_risk *k, json_t **out);

/* GET /api/risk/metrics?from=&to=&limit= (limit 1..10000, default 1000): the newest
 * `limit` metrics rows in [from, to], oldest first, as {"columns", "rows", "truncated"}. */
qa_status qa_apirisk_metrics(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/risk/alerts?from=&to=&severity=&limit= (1..10000, default 100): newest first,
 * {"alerts": [...], "total": matching rows}. */
qa_status qa_apirisk_alerts(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/risk/limits: the last snapshot's time and state with qa_apirisk_limits_json. */
qa_status qa_apirisk_limits(const qa_api_req *req, qa_api_resp *resp);

#ifdef __cplusplus
}
#endif
#endif
