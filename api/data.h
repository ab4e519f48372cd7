/* qa serve: market-data and alternative-data handlers (docs/api-runs-data.md). Bars and
 * features come from the market store ctx->data through datasets/store.h, documents from
 * the alternative-data store ctx->alt through datasets/altdocs.h; both are opened read-only
 * per request (a store rewritten by `qa features` or `qa alt import` is seen at once). */
#ifndef QA_API_DATA_H
#define QA_API_DATA_H

#include "api/api.h"
#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GET /api/data/symbols                         : symbols with first/last bar and counts. */
qa_status qa_apidata_symbols(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/data/bars/{symbol}?start=&end=&page=&limit=          : one page of OHLCV bars. */
qa_status qa_apidata_bars(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/data/features/{symbol}?names=&start=&end=&page=&limit= : one page of features. */
qa_status qa_apidata_features(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/alt/search?q=&limit=&ticker=&source=                 : FTS5 document search. */
qa_status qa_apidata_alt(const qa_api_req *req, qa_api_resp *resp);

#ifdef __cplusplus
}
#endif
#endif
