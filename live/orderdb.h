/* The order and trade database (docs/execution.md, "Order database"): SQLite in WAL mode
 * with synchronous=FULL, and an intent journal, so every state change the execution stage
 * records is on disk before the broker request (the journal) or the message (SQLite)
 * that announces it.
 *
 *   meta(key, value)           format quantumalpha.orders, format_version 1
 *   orders(clordid PK, parent, strategy, symbol, side, qty, type, limit_price, algo, state,
 *          filled, avg_price, fees, decision_time, decision_price, arrival_time,
 *          arrival_price, created, updated, reason, version)
 *   fills(trade_id PK, clordid, parent, symbol, side, qty, price, fee, time, bar_volume)
 *   transitions(seq PK, clordid, n, time, from_state, to_state, event, detail),
 *          UNIQUE(clordid, n): the n-th transition of an order
 *
 * Writes are idempotent, because a restart from a checkpoint processes inputs again and
 * makes the same changes a second time: an order row only moves forward (an update with a
 * version not above the stored one changes nothing), a fill is kept once per trade id and
 * a transition once per (order, n). Times are UTC nanoseconds of market time. Readers
 * (`qa tca`, `qa orders`, the API) use the tables above; docs/execution.md documents them.
 *
 * The intent journal (<path>.intents, next to the database): between qa_orderdb_defer and
 * qa_orderdb_apply the writes are kept in memory, qa_orderdb_write_ahead writes them to
 * the journal as one checksummed batch (fdatasync'd when `sync`), and
 * qa_orderdb_apply runs them against SQLite inside the caller's transaction; after that
 * commit qa_orderdb_journal_clear empties the journal. A step can so put its intents on
 * disk with one append before its requests leave, and write SQLite after them. Opening
 * the database applies whatever the journal still holds (a process killed between the
 * append and the commit; the writes are idempotent, so applying one twice is harmless) and
 * ignores a torn batch (a write cut short: its requests never left). */
#ifndef QA_LIVE_ORDERDB_H
#define QA_LIVE_ORDERDB_H

#include <stddef.h>  /* size_t */

#include "common/status.h"
#include "live/oms.h"  /* qa_oms_order */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_orderdb qa_orderdb_t;

typedef struct qa_orderdb_fill {
    char trade_id[QA_OMS_ID_LEN];
    char clordid[QA_OMS_ID_LEN];
    char parent[QA_OMS_ID_LEN];
    char symbol[16];
    int side;
    double qty, price, fee;
    int64_t time;
    double bar_volume;
} qa_orderdb_fill;

/* Opens or creates the file (format checked). */
qa_status qa_orderdb_open(const char *path, qa_orderdb_t **out);
void qa_orderdb_close(qa_orderdb_t *db);
/* synchronous=FULL (1, the default: a commit is on disk when it returns) or NORMAL (0: in
 * WAL mode a commit survives the process being killed, not the machine losing power). */
qa_status qa_orderdb_set_full(qa_orderdb_t *db, int full);
/* One transaction around a group of writes (one fsync at commit). */
qa_status qa_orderdb_begin(qa_orderdb_t *db);
qa_status qa_orderdb_commit(qa_orderdb_t *db);
void qa_orderdb_rollback(qa_orderdb_t *db);

/* Keeps the following put_* calls in memory (see the intent journal above). */
void qa_orderdb_defer(qa_orderdb_t *db);
/* Appends the writes kept since qa_orderdb_defer (or since the last write-ahead) to the
 * journal; with `sync` they are on disk when it returns. */
qa_status qa_orderdb_write_ahead(qa_orderdb_t *db, int sync);
/* Runs every kept write against SQLite (inside the caller's transaction) and stops keeping. */
qa_status qa_orderdb_apply(qa_orderdb_t *db);
/* Drops the kept writes and stops keeping (a failed step). */
void qa_orderdb_discard(qa_orderdb_t *db);
/* The journal's batches are in SQLite: call after the commit that holds them (the next
 * batch is written over them). */
void qa_orderdb_journal_clear(qa_orderdb_t *db);

/* Inserts the order or moves its row forward to o (when o->version is higher). */
qa_status qa_orderdb_put_order(qa_orderdb_t *db, const qa_oms_order *o);
/* Records transition number o->version of o (from `from` by `event`); kept once. */
qa_status qa_orderdb_put_transition(qa_orderdb_t *db, const qa_oms_order *o, int from, int event, const char *detail);
/* Records a parent's arrival (time and price) once: the first call wins. */
qa_status qa_orderdb_put_arrival(qa_orderdb_t *db, const qa_oms_order *o);
/* Keeps a fill once per trade id; *added 1 when it was new (always 1 while deferred). */
qa_status qa_orderdb_put_fill(qa_orderdb_t *db, const qa_orderdb_fill *f, int *added);

/* Reconciliation reads. Every order not in a final state (*out the caller's). */
qa_status qa_orderdb_open_orders(qa_orderdb_t *db, qa_oms_order **out, size_t *n);
/* 1 and the order when the id is known, else 0 (or an error status < 0). */
int qa_orderdb_get_order(qa_orderdb_t *db, const char *clordid, qa_oms_order *o, qa_status *st);
/* 1 when the trade id is recorded, 0 when not (or an error status < 0). */
int qa_orderdb_has_fill(qa_orderdb_t *db, const char *trade_id, qa_status *st);
/* Sum of signed filled shares of a symbol over every fill; and the fill count. */
qa_status qa_orderdb_position(qa_orderdb_t *db, const char *symbol, double *shares, long long *nfills);
/* The fills recorded after row `after` (insertion order), each as (symbol, signed shares)
 * through cb; *last receives the last row read (`after` when none). Continuous
 * reconciliation reads only what is new since its previous pass. */
typedef void (*qa_orderdb_fill_fn)(void *ctx, const char *symbol, double signed_qty);
qa_status qa_orderdb_fills_after(qa_orderdb_t *db, int64_t after, qa_orderdb_fill_fn cb, void *ctx, int64_t *last);
/* The last fill row (0 when none): the start of the next qa_orderdb_fills_after. */
qa_status qa_orderdb_last_fill_row(qa_orderdb_t *db, int64_t *row);
/* Counts: orders, fills, transitions. */
qa_status qa_orderdb_counts(qa_orderdb_t *db, long long *orders, long long *fills, long long *transitions);

#ifdef __cplusplus
}
#endif
#endif
