/* qa serve: the live desk (docs/api-desk.md, "Live desk"): the state of a running (or
 * stopped) `qa live` from its state directory, the compact snapshot the server's event
 * stream polls, and the operator's commands: the kill switch and order cancels, queued
 * in risk.db exactly as `qa live state` queues them and applied by the service at its
 * next timestamp (docs/live.md, docs/execution.md "Operator cancels"). */
#ifndef QA_API_DESK_H
#define QA_API_DESK_H

#include <jansson.h>  /* json_t */

#include "api/api.h"
#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GET /api/live/state: {"state", "time", "equity", "pnl", "drawdown", "gross", "net",
 * "var", "es", "level", "positions": [...], "open_orders": [...], "limits": [...],
 * "config_change", "alerts": [newest 20], "alerts_total", "commands": [newest 50]}. */
qa_status qa_apidesk_state(const qa_api_req *req, qa_api_resp *resp);

/* The compact state the event stream sends when it changes (polled every 250 ms: a few
 * indexed reads, no scans of orders or fills): {"state", "time", "equity", "pnl",
 * "drawdown", "orders", "open_orders", "fills", "transitions", "alerts", "last_alert",
 * "commands"}. New object in *out. Missing databases count as empty (the service has not
 * started yet); a missing state directory setting is QA_ERR_NOT_FOUND. */
qa_status qa_apidesk_snapshot(const qa_api_ctx *ctx, json_t **out);

/* POST /api/live/kill {"state": "HALTED"|"REDUCING"|"ACTIVE", "why": text (1..120 bytes)}:
 * queues the state change (who: the caller) and answers 202 {"command": id, "state"}. */
qa_status qa_apidesk_kill(const qa_api_req *req, qa_api_resp *resp);
/* POST /api/live/orders/{clordid}/cancel {"why"}: the order must be known and working
 * (404 / 409 otherwise); queues the cancel, 202 {"command": id, "clordid"}. */
qa_status qa_apidesk_cancel(const qa_api_req *req, qa_api_resp *resp);
/* POST /api/live/cancel-all {"why"}: queues a cancel of every working order, 202
 * {"command": id, "working": orders working when it was queued}. */
qa_status qa_apidesk_cancel_all(const qa_api_req *req, qa_api_resp *resp);

#ifdef __cplusplus
}
#endif
#endif
