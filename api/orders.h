/* qa serve: the live service's orders and fills over HTTP (docs/api-desk.md, "Orders"),
 * read from <live_state>/orders.db (docs/execution.md, "Order database") opened read-only:
 * the execution stage may be writing it. */
#ifndef QA_API_ORDERS_H
#define QA_API_ORDERS_H

#include "api/api.h"
#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GET /api/orders?symbol=&state=&from=&to=&page=&limit= : orders newest first (by
 * created, then client id), `limit` (1..1000, default 100) a page, pages from 1; state is
 * an order state (new, accepted, partially_filled, filled, pending_cancel, cancelled,
 * rejected, expired) or "open" (not final); from/to bound `created`.
 * {"columns", "rows", "page", "pages", "total"}. */
qa_status qa_apiorders_list(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/orders/{clordid}: {"order": {...}, "transitions": [...], "fills": [...],
 * "children": [...] (a parent's child orders)}; 404 for an unknown id. */
qa_status qa_apiorders_show(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/fills?symbol=&from=&to=&page=&limit= : fills newest first (by time, then trade
 * id), the same paging. */
qa_status qa_apiorders_fills(const qa_api_req *req, qa_api_resp *resp);

#ifdef __cplusplus
}
#endif
#endif
