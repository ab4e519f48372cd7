/* Configuration changes of the live service (docs/live.md, "Configuration reload").
 *
 * A running `qa live` takes a new version of its configuration file (SIGHUP, or `qa live
 * reload`) at a timestamp boundary, like a model switch. The settings split three ways:
 *
 *   reloadable  rules (direction, sizing method and its parameters, capital aside),
 *               threshold, allocation, risk.every/level/recover/limits/halt: they change
 *               what the next timestamps produce, not the state carried between them;
 *   identity    model, stream, default_features, rules.capital, rules.bars_per_year,
 *               rules.sizing.vol_window, risk.window, alt.*: the state and the outputs
 *               were built with them (features, model windows, the returns kept for
 *               sizing, the book, the VaR window): a change needs a new state_dir;
 *   process     universe and state_dir (paths: the checkpoint checks the symbols),
 *               registry, kafka.*, http, live_store, checkpoint_every, exit_idle: taken
 *               from the file at the next start, never by a reload.
 *
 * Every change is recorded whole (the file's text and its --set assignments) in the risk
 * database with the timestamp from which it applies, so a restart rebuilds the settings in
 * force at its checkpoint and replays later changes at the same timestamps. This module
 * parses, compares and digests configurations; the service decides when they apply. */
#ifndef QA_LIVE_RELOAD_H
#define QA_LIVE_RELOAD_H

#include <stddef.h>  /* size_t */

#include "common/config.h" /* qa_cfg_t */
#include "common/status.h"
#include "live/riskdb.h"   /* the recorded changes */
#include "live/service.h"  /* qa_live_cfg */

#ifdef __cplusplus
extern "C" {
#endif

/* A configuration with the text it was read from. */
typedef struct qa_reload_cfg {
    qa_cfg_t *doc;  /* owns the strings cfg points to */
    qa_live_cfg cfg;
    char *text;     /* the file's text */
    char *sets;     /* --set assignments, one per line ("" when none) */
} qa_reload_cfg;

/* Largest configuration file read (a YAML file of settings, not data). */
#define QA_RELOAD_MAX_TEXT (1u << 20)

/* Reads and binds a configuration file with --set assignments (one per line, NULL: none)
 * applied in order. Errors name the file, line and key. */
qa_status qa_reload_from_file(const char *path, const char *sets, qa_reload_cfg **out);
/* Joins --set assignments into one per line (*out allocated). */
qa_status qa_reload_join_sets(const char *const *sets, size_t n, char **out);
/* The same from recorded text (`name` stands for the file in messages). */
qa_status qa_reload_from_text(const char *name, const char *text, const char *sets, qa_reload_cfg **out);
void qa_reload_free(qa_reload_cfg *r);

/* The configuration in force now in a risk database: the change applied last, else the
 * initial one. *out NULL (and *id 0) when none is recorded; *napplied (may be NULL) the
 * changes applied since the first start. Caller frees *out with qa_reload_free. */
qa_status qa_reload_in_force(qa_riskdb_t *db, qa_reload_cfg **out, long long *id, size_t *napplied);

/* Compares two configurations of one service. QA_ERR_CONFIG when an identity setting
 * differs (naming it, both values, and that it needs a new state_dir). Otherwise writes
 * the reloadable settings that differ ("threshold: 0 -> 0.001; risk.limits: ...", "" when
 * none) to `changes` and the process settings that differ to `later` (either may be NULL).
 * Both configurations have their bars_per_year resolved. */
qa_status qa_reload_compare(const qa_live_cfg *from, const qa_live_cfg *to, char *changes, size_t ccap, char *later,
                            size_t lcap);

/* SHA-256 (hex) of the reloadable settings in a canonical form: equal digests, equal
 * behaviour, whatever the spelling of the file. */
qa_status qa_reload_digest(const qa_live_cfg *c, char hex[65]);

/* Copies the reloadable settings of src over dst (their strings and limits stay owned by
 * src's document, which must outlive dst). */
void qa_reload_adopt(qa_live_cfg *dst, const qa_live_cfg *src);

#ifdef __cplusplus
}
#endif
#endif
