/* The model registry: named models with immutable, densely numbered versions, each a
 * content-addressed model file with its signature, metrics, tags, resolved config and
 * lineage; aliases (champion, challenger, ...) with an audit trail that is never
 * deleted; an append-only event log a service can poll; export/import bundles; and
 * loading by URI with verification. docs/registry.md is the user's guide.
 *
 * Layout of a registry directory:
 *   DIR/registry.db          SQLite (WAL on local disks, see common/sqlite.h): models,
 *                            versions, tags, metrics, aliases, alias_history, events
 *   DIR/artifacts/ab/<sha256>.qam   model files by the SHA-256 of their bytes (stored
 *                            once however many versions share them; written to a
 *                            temporary name, fsynced, renamed)
 * Every write is one transaction (BEGIN IMMEDIATE, waiting out other writers), so
 * processes on one machine or on a cluster's shared file system can publish at once:
 * version numbers are allocated inside the transaction from the model's counter, dense
 * and never reused (a deleted version's number stays retired, so models:/m/7 can never
 * mean another artifact).
 *
 * URIs: "models:/NAME/7" (version 7), "models:/NAME@champion" (the version an alias points
 * to now), "models:/NAME/latest" (the highest live version). Names: 1-63 characters of
 * [A-Za-z0-9._-], starting with a letter or digit; aliases likewise, not all digits and
 * not "latest".
 *
 * Identity of who changes things: the `who` argument, else $QA_USER, else the OS user. The
 * registry does not authenticate (the API gateway does); a protected alias (alias protect)
 * can only be moved by the users listed for it.
 *
 * Handles are not thread-safe: one per thread (SQLite serialises the processes). */
#ifndef QA_REGISTRY_REGISTRY_H
#define QA_REGISTRY_REGISTRY_H

#include <jansson.h>  /* json_t */
#include <stdint.h>   /* int64_t */
#include <stdio.h>    /* FILE */

#include "common/fs.h"      /* QA_PATH_MAX */
#include "common/status.h"
#include "registry/model.h" /* qa_model */

#ifdef __cplusplus
extern "C" {
#endif

#define QA_REGISTRY_FORMAT "quantumalpha.registry"
#define QA_REGISTRY_SCHEMA_VERSION 1
#define QA_REGISTRY_NAME_MAX 64 /* names and aliases, with the NUL */

typedef struct qa_registry qa_registry_t;

/* The registry directory used when none is given: $QA_REGISTRY, else
 * $XDG_DATA_HOME/quantumalpha/registry, else $HOME/.local/share/quantumalpha/registry.
 * out: QA_PATH_MAX bytes. */
qa_status qa_registry_default_dir(char *out);

/* Opens the registry in `dir` (NULL: the default), creating the directory and the
 * database when `create` is set; an existing database must carry this format's name and
 * a schema version this build reads. Caller frees with qa_registry_close. */
qa_status qa_registry_open(const char *dir, int create, qa_registry_t **out);
void qa_registry_close(qa_registry_t *r);
const char *qa_registry_dir(const qa_registry_t *r);

/* ---- references ---------------------------------------------------------------------------- */

typedef struct qa_registry_ref {
    char name[QA_REGISTRY_NAME_MAX];
    long version;                     /* > 0; 0 when an alias or "latest" names it */
    char alias[QA_REGISTRY_NAME_MAX]; /* "" for a version number; "latest" for latest */
} qa_registry_ref;

/* 1 when `s` starts with "models:/". */
int qa_registry_is_uri(const char *s);
/* Parses a models:/ URI; QA_ERR_INVALID_ARG says what is wrong with it. */
qa_status qa_registry_uri_parse(const char *uri, qa_registry_ref *out);
/* Checks a model or alias name (what = "model name" / "alias"). */
qa_status qa_registry_name_check(const char *name, const char *what);

/* ---- publishing ---------------------------------------------------------------------------- */

typedef struct qa_registry_publish_req {
    const char *name;        /* model name (created on its first version) */
    const char *model_path;  /* the model file (checked completely before anything is stored) */
    const json_t *metrics;   /* object of numbers (NULL: none) */
    const json_t *lineage;   /* object (NULL: none): run, data, features, range, code, build */
    const json_t *config;    /* the run's resolved config (NULL: none) */
    const json_t *tags;      /* object of strings (NULL: none) */
    const char *description; /* NULL: none */
    const char *who;         /* NULL: $QA_USER or the OS user */
} qa_registry_publish_req;

/* Stores the artifact and creates the next version in one transaction, with a
 * version_created event; *version receives its number. */
qa_status qa_registry_publish(qa_registry_t *r, const qa_registry_publish_req *req, long *version);

/* The publish request of a `qa train` or `qa rl train` run directory: the best model
 * (model.qam, a predictor or a policy), metrics from summary.json, the resolved config,
 * and lineage from lineage.json and run.json. Metrics: val_/test_ loss, ic, rank_ic,
 * dir_acc, sharpe, ... from summary.evaluation.{val,test} and best_val_loss, steps from
 * summary.training (qa train); then, where a run has no such evaluation (qa rl train:
 * test_sharpe, test_total_return, val_reward_per_step, ...), every finite number at the
 * top level of summary.json and under its "metrics" object, nested keys joined with '_'
 * ({"metrics": {"eval": {"test": {"sharpe": 1.2}}}} -> eval_test_sharpe); a name already
 * taken keeps its first value. The JSON objects are new references the caller releases
 * with qa_registry_run_free. */
typedef struct qa_registry_run {
    char model_path[QA_PATH_MAX];
    json_t *metrics, *lineage, *config;
} qa_registry_run;
qa_status qa_registry_run_read(const char *run_dir, qa_registry_run *out);
void qa_registry_run_free(qa_registry_run *run);
/* Publishes `path`: a run directory (qa_registry_run_read) or a bare model file (no
 * metrics, lineage {"source_file": absolute path}). */
qa_status qa_registry_publish_path(qa_registry_t *r, const char *path, const char *name, const json_t *tags,
                                   const char *description, const char *who, long *version);

/* ---- resolving and loading ------------------------------------------------------------------ */

typedef struct qa_registry_version {
    char name[QA_REGISTRY_NAME_MAX];
    long version;
    char sha256[65];         /* of the artifact's bytes */
    long long size;          /* bytes */
    char created[40];        /* UTC, ISO 8601 with microseconds */
    char who[64];
    char path[QA_PATH_MAX];  /* absolute path of the artifact */
} qa_registry_version;

/* Resolves a URI (or "NAME/7", "NAME@alias") to a version. A model, version or alias that
 * does not exist is QA_ERR_NOT_FOUND naming it (and, for an alias, the aliases the model
 * has). */
qa_status qa_registry_resolve(qa_registry_t *r, const char *uri, qa_registry_version *out);

/* Resolves and loads: the artifact's SHA-256 must equal the recorded one (else
 * QA_ERR_INTEGRITY naming model, version and both digests), then qa_model_load checks the
 * container. Nothing is returned on failure. info may be NULL. */
qa_status qa_registry_load(qa_registry_t *r, const char *uri, qa_model *m, qa_registry_version *info);

/* Checks a loaded model's signature against the inputs a caller will provide, in the
 * order given: each of the model's inputs must be provided at the same position with the
 * same name, and when `params` is given (an array of n, entries may be NULL) the same
 * feature definition. `label` names the model in messages ("models:/alpha/3").
 * QA_ERR_CONFIG names the model, the input position, the field and both values. */
qa_status qa_registry_check_inputs(const qa_model *m, const char *label, const char *const *names,
                                   const char *const *params, int n);

/* The signature a version records (inputs with order and definitions, window, dtype,
 * normalisation, output meaning). New reference. A return predictor's: inputs, window,
 * dtype, layout "[rows, window, inputs], oldest bar first", normalisation {mean, std,
 * clip, target_mean, target_std, quantile_edges}, output {target, classes, horizon,
 * standardize, demean, meaning}, architecture. A policy's (docs/registry.md): inputs,
 * window, dtype, layout QA_MODEL_POLICY_LAYOUT, assets, dim, extras (names in order),
 * normalisation {obs_mean, obs_var, obs_clip, formula}, output {target "policy", action
 * "discrete"|"continuous", actions (["short","flat","long"] or the continuous meaning),
 * weights (portfolio: "softmax"|"long_short"; else null), classes, horizon (the episode's),
 * meaning}, architecture. */
json_t *qa_registry_signature(const qa_model *m);

/* Opens the registry (dir NULL: the default) when `ref` is a models:/ URI and loads the
 * version, else loads `ref` as a model file. label (QA_PATH_MAX bytes, may be NULL)
 * receives "models:/NAME/V" or the path; info (may be NULL) the version ("" name for a
 * file). The model a command predicts returns with: a policy model (qa rl train) is
 * refused with QA_ERR_CONFIG "<label>: a policy model (qa rl train) is not a return
 * predictor; ..." and nothing is returned. */
qa_status qa_registry_load_ref(const char *dir, const char *ref, qa_model *m, char *label, qa_registry_version *info);
/* The same for a policy: loads `ref` and refuses a return predictor (QA_ERR_CONFIG naming
 * it and its target). */
qa_status qa_registry_load_policy_ref(const char *dir, const char *ref, qa_model *m, char *label,
                                      qa_registry_version *info);

/* ---- aliases, tags, lifecycle --------------------------------------------------------------- */

/* Points `alias` at a version (creating or moving it) with an audit row (who, when, why,
 * from which version) and an alias_set event. Protected aliases need `who` on their list. */
qa_status qa_registry_alias_set(qa_registry_t *r, const char *name, const char *alias, long version, const char *who,
                                const char *why);
qa_status qa_registry_alias_delete(qa_registry_t *r, const char *name, const char *alias, const char *who,
                                   const char *why);
/* Restricts who may move or delete an alias (users: comma-separated; "" lifts it). */
qa_status qa_registry_alias_protect(qa_registry_t *r, const char *name, const char *alias, const char *users,
                                    const char *who);
/* Sets (value non-NULL) or removes a tag of a version (version 0: of the model). */
qa_status qa_registry_tag(qa_registry_t *r, const char *name, long version, const char *key, const char *value,
                          const char *who);
/* Deletes a version no alias points to (its audit rows and events stay; the artifact
 * stays until gc). */
qa_status qa_registry_delete(qa_registry_t *r, const char *name, long version, const char *who, const char *why);

/* ---- reading ----------------------------------------------------------------------------- */

/* A version's full record (artifact, signature, metrics, tags, config, lineage, aliases
 * pointing to it) when `what` names one ("NAME/3", a URI), else the model's (versions,
 * aliases, alias history, tags). New reference in *out. */
qa_status qa_registry_show(qa_registry_t *r, const char *what, json_t **out);

typedef struct qa_registry_query {
    const char *name;     /* glob on the model name (NULL: all) */
    const char *tag;      /* "key" or "key=value" (NULL: any) */
    const char *alias;    /* versions an alias of this name points to (NULL: any) */
    const char *metric;   /* "name>0.01", "name<=3", "name=2" ... (NULL: none) */
} qa_registry_query;
/* Version summaries matching every given criterion, by name then version. New array. */
qa_status qa_registry_search(qa_registry_t *r, const qa_registry_query *q, json_t **out);

/* Differences between two versions: an array of {section, key, a, b} over signature,
 * metrics, config, lineage, tags and artifact. New reference. */
qa_status qa_registry_diff(qa_registry_t *r, const char *a, const char *b, json_t **out);

/* Re-hashes every version's artifact; lines for problems go to `report` (may be NULL).
 * *checked and *bad receive the counts; QA_OK even when some are bad. */
qa_status qa_registry_verify(qa_registry_t *r, FILE *report, long *checked, long *bad);

/* Artifacts no version references (and temporary files left by killed writers older
 * than an hour): listed to `report`, removed only with `apply`. */
qa_status qa_registry_gc(qa_registry_t *r, int apply, FILE *report, long *files, long long *bytes);

/* ---- bundles ------------------------------------------------------------------------------- */

/* Writes one file with everything the registry holds on model `name` (versions,
 * artifacts, tags, metrics, aliases, alias history), atomically. With nversions > 0 only
 * those versions travel (with their tags and metrics, and the aliases pointing to them;
 * model tags, protections and the whole alias history always do); numbers are kept. */
qa_status qa_registry_export(qa_registry_t *r, const char *name, const long *versions, int nversions, const char *path);
/* Reads a bundle, checks its checksum and every artifact's hash, and recreates the model
 * with the same version numbers, records and alias history (the model must not exist
 * here). name_out (QA_REGISTRY_NAME_MAX, may be NULL) receives the model's name. */
qa_status qa_registry_import(qa_registry_t *r, const char *path, const char *who, char *name_out);

/* ---- events ------------------------------------------------------------------------------ */

/* One change. Strings are valid during the callback only. */
typedef struct qa_registry_event {
    int64_t seq;          /* strictly increasing, never reused */
    const char *at;       /* UTC ISO 8601 */
    const char *kind;     /* version_created, version_deleted, alias_set, alias_deleted,
                             alias_protected, tag_set, tag_deleted, model_imported */
    const char *model;
    long version;         /* 0 when not about one version */
    const char *alias;    /* "" unless an alias event */
    const char *who;
    const char *detail;   /* JSON object text */
} qa_registry_event;
typedef qa_status (*qa_registry_event_fn)(const qa_registry_event *e, void *ctx);

/* Highest event sequence number (0 when none): one indexed read, for cheap polling. */
qa_status qa_registry_last_seq(qa_registry_t *r, int64_t *seq);
/* Calls fn for the events with seq > after, oldest first, at most `max` (0: all). A
 * non-OK status from fn stops the walk and is returned. */
qa_status qa_registry_events(qa_registry_t *r, int64_t after, long max, qa_registry_event_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
