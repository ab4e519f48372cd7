/* The trade blotter: an append-only log of every order event (new, fill, cancelled,
 * expired, rejected) with the fill, its cost and the position and cash after it. The
 * simulator writes it as blotter.csv; the live service can keep the same rows in its
 * order store. Rejection reasons are kept as text. */
#ifndef QA_TRADING_BLOTTER_H
#define QA_TRADING_BLOTTER_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t, int32_t */

#include "common/status.h"
#include "trading/orders.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_blotter_row {
    int64_t order_id;  /* 0 for a rejected order (it never got an id) */
    int64_t t;         /* bar index of the event */
    int64_t reason;    /* offset of the reason text, -1 when none */
    int32_t symbol;
    uint8_t event;     /* qa_order_event */
    uint8_t type;      /* qa_order_type */
    uint8_t tif;       /* qa_order_tif */
    double qty;        /* signed order quantity */
    double price;      /* limit or stop level (NaN for MOC and market orders) */
    double fill_qty;   /* signed shares filled by this event (0 unless a fill) */
    double fill_price; /* NaN unless a fill */
    double cost;       /* cost charged with the fill, currency */
    double remaining;  /* signed unfilled shares after the event */
    double position;   /* shares of the symbol after the event */
    double cash;       /* account cash after the event */
} qa_blotter_row;

typedef struct qa_blotter {
    qa_blotter_row *rows;
    size_t n, cap;
    char *text; /* NUL-separated reasons */
    size_t text_len, text_cap;
} qa_blotter;

void qa_blotter_init(qa_blotter *b);
void qa_blotter_free(qa_blotter *b);
/* Appends a row (its `reason` field is set from `reason`, which may be NULL). */
qa_status qa_blotter_add(qa_blotter *b, const qa_blotter_row *row, const char *reason);
/* The reason of a row, "" when none. */
const char *qa_blotter_reason(const qa_blotter *b, const qa_blotter_row *row);

#ifdef __cplusplus
}
#endif
#endif
