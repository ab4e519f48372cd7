/* `qa live`: the live service (docs/live.md). One process, one processing thread (plus
 * librdkafka's and the HTTP server's): consume `market.data`, check every bar (the
 * Market Data Collector: bad ones go to `dead.letter` with the reason), close each
 * timestamp when every partition's watermark has passed it, run the engine
 * (live/engine.h: features, model signal, position size) and produce `features`,
 * `signals` and `position.sizes`.
 *
 * Exactly once, across kill -9 (docs/live.md, "Exactly once"):
 *   - outputs of a timestamp are produced in (time, symbol) order by an idempotent
 *     producer to the partition of their symbol (murmur2), so each output partition
 *     holds a prefix of the clean run's sequence for it;
 *   - every `checkpoint_every` timestamps (and at a clean stop) the producer is flushed
 *     (every output so far acknowledged), then the engine state, the input offsets to
 *     resume from and the last bar time per symbol are saved in one SQLite
 *     transaction, then the offsets are committed to the consumer group;
 *   - on start the service loads the checkpoint, reads the last message of every output
 *     partition (and the recent dead letters), resumes the input from the checkpoint's
 *     offsets and, replaying deterministically, does not produce an output the topic
 *     already holds. Nothing is lost (inputs after the checkpoint are re-read) and
 *     nothing is produced twice. */
#ifndef QA_LIVE_SERVICE_H
#define QA_LIVE_SERVICE_H

#include <signal.h>  /* sig_atomic_t */
#include <stdint.h>  /* int64_t */

#include "common/config.h" /* qa_cfg_t, qa_cfg_list */
#include "common/status.h"
#include "live/exec.h" /* qa_exec_cfg */
#include "trading/limits.h" /* qa_limit_set */
#include "trading/rules.h"  /* qa_rules */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_live_cfg {
    const char *universe;        /* market file: symbols (order), bar_seconds, bars_per_year */
    const char *model;           /* models:/NAME@alias, models:/NAME/V or a file; NULL: features only */
    const char *registry;        /* registry directory (NULL: the default) */
    const char *state_dir;       /* checkpoint directory (required) */
    const char *bootstrap;       /* Kafka bootstrap.servers; NULL/"": the embedded cluster */
    const char *prefix;          /* topic name prefix */
    qa_cfg_list properties;      /* extra librdkafka properties "key=value" */
    const char *stream;          /* namespace of signal ids and the consumer group ("live") */
    int default_features;        /* publish the default feature set beside the model's inputs */
    long long checkpoint_every;  /* timestamps between checkpoints (64) */
    double threshold;            /* |score - centre| to take a position (0) */
    double allocation;           /* fraction of capital per symbol (0: 1/N) */
    double exit_idle;            /* seconds without input before a clean exit (0: run until SIGTERM) */
    const char *http;            /* host:port of /health and /metrics ("" or NULL: off; port 0: any) */
    int live_store;              /* keep the accepted bars in <state_dir>/live.h5 (1; live/livestore.h) */
    qa_rules rules;              /* direction, sizing, capital */
    /* risk: {window, every, level, recover, limits: [...], halt: [names]} (live/riskmon.h) */
    long long risk_window;       /* rows of returns for VaR/ES (500) */
    long long risk_every;        /* timestamps between snapshots (12: an hour of 5-minute bars) */
    double risk_level;           /* VaR/ES confidence (0.99) */
    long long risk_recover;      /* clean snapshots before REDUCING/HALTED returns to ACTIVE (3) */
    const qa_cfg_node *risk_limits_node;
    qa_cfg_list risk_halt;       /* limit names whose breach halts */
    qa_limit_set limits;         /* parsed from risk.limits (owned) */
    /* alt: {sources: [reuters, stocknet], lexicon: FILE, z_window: 20}: documents from
     * alt.data scored with VADER into the aligned series of datasets/altalign.h, published
     * in each symbol's features message (docs/live.md, "Alternative data") */
    qa_cfg_list alt_sources;     /* none: alt.data is not read */
    const char *alt_lexicon;     /* NULL: $QA_DATA_ROOT or ../shared/datasets, alt_text/vader_lexicon.csv.gz */
    long long alt_z_window;      /* 20 */
    /* execution: {...}: orders, brokers, fills (live/exec.h, docs/execution.md); off
     * when absent */
    const qa_cfg_node *exec_node;
    qa_exec_cfg exec;
    /* Where it came from (set by `qa live`, not by YAML): a reload (SIGHUP) reads the file
     * again with the same --set assignments, and the change log records the text
     * (live/reload.h). source_text NULL: no file, reloads are off. */
    const char *source_path, *source_text, *source_sets; /* sets: one assignment per line */
} qa_live_cfg;

/* Defaults above; rules from qa_rules_init with vol-target sizing. */
void qa_live_cfg_init(qa_live_cfg *c);
/* Binds a YAML document (keys as the fields; `rules:` the trading rules block;
 * `kafka: {bootstrap, prefix, properties}`; `risk: {...}` with `limits:` as in
 * docs/risk.md). Errors name file:line and key. */
qa_status qa_live_cfg_bind(const qa_cfg_t *doc, qa_live_cfg *c);
void qa_live_cfg_free(qa_live_cfg *c);

typedef struct qa_live_report {
    long long messages, bars, dead_letters, watermarks, timestamps;
    long long docs, docs_ignored, docs_late; /* alt.data: accepted, other tickers, after their bar closed */
    long long produced[8];       /* features, signals, sizes, risk metrics, alerts, orders, executions, fills */
    long long suppressed;        /* outputs already in their topic after a restart */
    long long checkpoints;
    long long snapshots;         /* risk snapshots */
    long long alerts_raised;
    long long config_changes;    /* configuration changes applied (replayed ones included) */
    char state[16];              /* trading state at the end */
    int resumed;                 /* started from a checkpoint */
    double seconds;
} qa_live_report;

/* Runs until *stop is set (SIGTERM/SIGINT handlers set it), exit_idle passes without
 * input, or an error. `exe` is the qa binary (to start the embedded cluster). When
 * *reload is set (SIGHUP; may be NULL) the service reads its configuration file again,
 * records the change and applies it at its next timestamp (docs/live.md, "Configuration
 * reload"); it clears the flag. */
qa_status qa_live_run(const qa_live_cfg *c, const char *exe, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload,
                      qa_live_report *rep);

#ifdef __cplusplus
}
#endif
#endif
