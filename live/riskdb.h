/* The live service's risk database (docs/live.md, "Risk"): <state_dir>/risk.db, SQLite
 * (WAL), read by operators, the API and the dashboard:
 *   metrics(time PK, equity, pnl, drawdown, gross, net, concentration, top, var_hist,
 *           es_hist, var_param, es_param, level, state)      one row per risk snapshot
 *   alerts(time, seq, severity, limit_name, metric, value, threshold, state, detail)
 *   commands(id, created, state, who, why, applied_time, target)    operator commands:
 *           the kill switch (state ACTIVE/REDUCING/HALTED, `qa live state`) and order
 *           cancels (state CANCEL with the order's client id in target, CANCEL_ALL: every
 *           working order; the API), applied by the service at its next timestamp
 *           (applied_time). target was added later: opening a file without it adds it
 *   model_switches(seq, version, effective_time, status)    hot reloads: the registry
 *           event seq, the version, the timestamp from which it scored (NULL: rejected)
 *   config_changes(id, created, kind, who, why, path, payload, sets, digest, changes, at,
 *           not_before, applied_time, status)   configuration reloads (live/reload.h): the
 *           whole file as read, when it was asked for and from which timestamp it applied
 * Rows are keyed by event time, so a timestamp replayed after a crash rewrites the same
 * rows instead of adding new ones. */
#ifndef QA_LIVE_RISKDB_H
#define QA_LIVE_RISKDB_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"
#include "live/msg.h"     /* qa_msg_risk, qa_msg_alert */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_riskdb qa_riskdb_t;

qa_status qa_riskdb_open(const char *state_dir, qa_riskdb_t **out);
/* Opens an existing <state_dir>/risk.db read-only (the API, the desk), with a busy timeout,
 * while the service may be writing it: QA_ERR_NOT_FOUND naming the path when there is
 * none, QA_ERR_FORMAT when it is not a risk database. Only the readers below may be used;
 * every write fails. */
qa_status qa_riskdb_open_ro(const char *state_dir, qa_riskdb_t **out);
void qa_riskdb_close(qa_riskdb_t *db);

/* One transaction per timestamp with a snapshot or alerts: its metrics row (risk NULL:
 * none) and its alerts. */
qa_status qa_riskdb_record(qa_riskdb_t *db, int64_t time, const qa_msg_risk *risk, const qa_msg_alert *alerts,
                           size_t nalerts);

/* Command states besides the trading states: an operator cancel of one order (target: its
 * client order id) or of every working order. */
#define QA_RISKDB_CANCEL "CANCEL"
#define QA_RISKDB_CANCEL_ALL "CANCEL_ALL"

typedef struct qa_riskdb_command {
    long long id;
    char created[40];     /* UTC, when it was queued */
    char state[16];       /* a trading state, QA_RISKDB_CANCEL or QA_RISKDB_CANCEL_ALL */
    char who[64];
    char why[128];
    char target[64];      /* CANCEL: the order's client id (QA_OMS_ID_LEN); "" otherwise */
    int64_t applied_time; /* INT64_MIN: not applied yet */
} qa_riskdb_command;

/* Queues a kill-switch command (`qa live state`). */
qa_status qa_riskdb_command_add(const char *state_dir, const char *state, const char *who, const char *why,
                                long long *id);
/* Queues an operator cancel of order `clordid` (NULL: every working order); the service
 * hands it to its execution stage at its next timestamp (live/exec.h qa_exec_cancel). */
qa_status qa_riskdb_cancel_add(const char *state_dir, const char *clordid, const char *who, const char *why,
                               long long *id);
/* Commands not yet applied, and those applied after `time` (to replay after a restart),
 * in id order (at most cap). */
qa_status qa_riskdb_commands(qa_riskdb_t *db, int64_t after, qa_riskdb_command *out, size_t cap, size_t *n);
/* The newest commands of every kind, applied or not, newest first (at most cap). */
qa_status qa_riskdb_commands_recent(qa_riskdb_t *db, qa_riskdb_command *out, size_t cap, size_t *n);
qa_status qa_riskdb_command_applied(qa_riskdb_t *db, long long id, int64_t time);

typedef struct qa_riskdb_switch {
    int64_t seq;            /* registry event (the initial row: the log's last seq at first start) */
    long version;
    int64_t effective_time; /* INT64_MIN: the initial version, or rejected */
    char status[160];       /* "initial", "applied", "rejected: ..." */
} qa_riskdb_switch;

qa_status qa_riskdb_switch_add(qa_riskdb_t *db, const qa_riskdb_switch *s);
/* Every switch row in seq order (at most cap). */
qa_status qa_riskdb_switches(qa_riskdb_t *db, qa_riskdb_switch *out, size_t cap, size_t *n);

/* The last metrics row: *found 0 when there is none. */
qa_status qa_riskdb_last_metrics(qa_riskdb_t *db, int64_t *time, qa_msg_risk *out, int *found);

typedef struct qa_riskdb_alert {
    int64_t time;
    qa_msg_alert a;
} qa_riskdb_alert;

/* The newest alerts (at most cap, newest first) and how many there are in all. */
qa_status qa_riskdb_alerts_recent(qa_riskdb_t *db, qa_riskdb_alert *out, size_t cap, size_t *n, long long *total);

/* A configuration change (docs/live.md, "Configuration reload"). */
typedef struct qa_riskdb_config {
    long long id;
    char created[40];     /* UTC, when it was recorded */
    char kind[16];        /* initial (the file of the first start), reload (`qa live reload`),
                             signal (SIGHUP), restart (the file changed while the service was down) */
    char who[64], why[160];
    char path[1024];      /* the file it was read from */
    char *payload;        /* the file's text (owned: qa_riskdb_configs_free) */
    char *sets;           /* --set assignments, one per line */
    char digest[65];      /* of its reloadable settings (qa_reload_digest) */
    char changes[1024];   /* what it changes against the configuration recorded before it */
    int64_t at;           /* requested first timestamp (INT64_MIN: the next one) */
    int64_t not_before;   /* applies only to timestamps after this one (INT64_MIN: none) */
    int64_t applied_time; /* the timestamp from which it applied (INT64_MIN: not (yet), or the initial) */
    char status[200];     /* queued, pending, applied, unchanged, rejected: ..., initial */
} qa_riskdb_config;

/* Records a change (its id is set); payload and sets are copied. */
qa_status qa_riskdb_config_add(qa_riskdb_t *db, qa_riskdb_config *c);
/* The changes with this status (NULL: all) in id order (*out allocated:
 * qa_riskdb_configs_free). */
qa_status qa_riskdb_configs(qa_riskdb_t *db, const char *status, qa_riskdb_config **out, size_t *n);
void qa_riskdb_configs_free(qa_riskdb_config *rows, size_t n);
/* Index in rows (id order) of the configuration in force at time t: the change applied
 * last at or before t (ties: the later id), else the initial one; -1 when none. */
long qa_riskdb_config_in_force(const qa_riskdb_config *rows, size_t n, int64_t t);
/* Index of the configuration recorded last: the last one waiting to apply (pending, and
 * queued when `queued`), else the one in force now; -1 when none. */
long qa_riskdb_config_latest(const qa_riskdb_config *rows, size_t n, int queued);

/* Updates a change's digest, changes, not_before, applied_time and status. */
qa_status qa_riskdb_config_update(qa_riskdb_t *db, const qa_riskdb_config *c);

#ifdef __cplusplus
}
#endif
#endif
