/* Configuration changes of the live service: parse, compare, digest (live/reload.h). */
#include "live/reload.h"

#include <math.h>    /* isfinite */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, free */
#include <stdint.h>  /* INT64_MAX */
#include <string.h>  /* strlen, memcpy, strcmp */
#include <sys/stat.h> /* the size before reading */

#include <jansson.h> /* the canonical forms */

#include "common/fs.h"     /* qa_fs_read_all */
#include "common/hash.h"   /* SHA-256 */
#include "trading/rules.h" /* qa_rules_bt_json */

void qa_reload_free(qa_reload_cfg *r) {
    if (!r) return;
    qa_live_cfg_free(&r->cfg);
    qa_cfg_free(r->doc);
    free(r->text);
    free(r->sets);
    free(r);
}

/* Takes ownership of text and sets. */
static qa_status bind_text(const char *name, char *text, char *sets, qa_reload_cfg **out) {
    qa_reload_cfg *r = calloc(1, sizeof *r);
    if (!r) {
        free(text), free(sets);
        return QA_FAIL(QA_ERR_NOMEM, "configuration");
    }
    r->text = text, r->sets = sets;
    qa_live_cfg_init(&r->cfg);
    qa_status st = qa_cfg_parse(name, text, strlen(text), &r->doc);
    for (char *p = sets; st == QA_OK && *p;) { /* one assignment per line */
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char one[1024];
        if (n >= sizeof one) st = QA_FAIL(QA_ERR_CONFIG, "%s: a --set assignment of %zu characters", name, n);
        else {
            memcpy(one, p, n), one[n] = 0;
            if (n) st = qa_cfg_override(r->doc, one);
        }
        p += n + (nl != NULL);
    }
    if (st == QA_OK) st = qa_live_cfg_bind(r->doc, &r->cfg);
    if (st != QA_OK) {
        qa_reload_free(r);
        return st;
    }
    *out = r;
    return QA_OK;
}

qa_status qa_reload_from_text(const char *name, const char *text, const char *sets, qa_reload_cfg **out) {
    char *t = strdup(text), *s = strdup(sets ? sets : "");
    if (!t || !s) {
        free(t), free(s);
        return QA_FAIL(QA_ERR_NOMEM, "configuration text");
    }
    return bind_text(name, t, s, out);
}

qa_status qa_reload_join_sets(const char *const *sets, size_t n, char **out) {
    size_t total = 1;
    for (size_t i = 0; i < n; i++) total += strlen(sets[i]) + 1;
    char *s = calloc(total, 1);
    if (!s) return QA_FAIL(QA_ERR_NOMEM, "--set assignments");
    size_t pos = 0; /* s[pos] is the terminating NUL; total - pos bytes remain */
    for (size_t i = 0; i < n; i++) {
        if (strchr(sets[i], '\n')) {
            free(s);
            return QA_FAIL(QA_ERR_CONFIG, "--set '%s': a line break inside an assignment", sets[i]);
        }
        const size_t len = strlen(sets[i]);
        if (len + 2 > total - pos) { /* the text, '\n' and the NUL */
            free(s);
            return QA_FAIL(QA_ERR_STATE, "--set '%s': assignments changed while being joined", sets[i]);
        }
        memcpy(s + pos, sets[i], len);
        pos += len;
        s[pos++] = '\n';
        s[pos] = '\0';
    }
    *out = s;
    return QA_OK;
}

qa_status qa_reload_from_file(const char *path, const char *sets, qa_reload_cfg **out) {
    char *text = NULL;
    size_t len = 0;
    struct stat sb;
    if (stat(path, &sb) == 0 && sb.st_size > (off_t)QA_RELOAD_MAX_TEXT)
        return QA_FAIL(QA_ERR_CONFIG, "%s: %lld bytes; a configuration file is text of at most %u bytes", path,
                       (long long)sb.st_size, QA_RELOAD_MAX_TEXT);
    QA_TRY_RET(qa_fs_read_all(path, &text, &len));
    if (len > QA_RELOAD_MAX_TEXT || strlen(text) != len) {
        free(text);
        return QA_FAIL(QA_ERR_CONFIG, "%s: %zu bytes%s; a configuration file is text of at most %u bytes", path, len,
                       len <= QA_RELOAD_MAX_TEXT ? " with a NUL byte" : "", QA_RELOAD_MAX_TEXT);
    }
    char *s = strdup(sets ? sets : "");
    if (!s) {
        free(text);
        return QA_FAIL(QA_ERR_NOMEM, "--set assignments");
    }
    return bind_text(path, text, s, out);
}

/* ---- canonical forms: flat objects with dotted keys ------------------------------------------------ */

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }
static json_t *num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *str_list(const qa_cfg_list *l) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->n; i++)
        if (json_array_append_new(a, json_string(((const char **)l->items)[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* Three objects: identity, process and reloadable settings. NULL on OOM. */
static qa_status forms(const qa_live_cfg *c, json_t *out[3]) {
    qa_rules r = c->rules; /* bars_per_year (identity) may not be resolved yet, and JSON has no NaN */
    if (!isfinite(r.bars_per_year)) r.bars_per_year = 0;
    json_t *id = json_object(), *pr = json_object(), *re = json_object(), *rules = qa_rules_bt_json(&r);
    int bad = !id || !pr || !re || !rules;
#define PUT(o, key, value) bad |= (o) ? json_object_set_new((o), key, value) : 1
    PUT(id, "model", str_or_null(c->model));
    PUT(id, "stream", str_or_null(c->stream));
    PUT(id, "default_features", json_boolean(c->default_features));
    PUT(id, "rules.capital", num(c->rules.capital));
    PUT(id, "rules.bars_per_year", num(c->rules.bars_per_year));
    PUT(id, "rules.sizing.vol_window", json_integer(c->rules.sizing.vol_window));
    PUT(id, "risk.window", json_integer(c->risk_window));
    PUT(id, "alt.sources", str_list(&c->alt_sources));
    PUT(id, "alt.lexicon", str_or_null(c->alt_lexicon));
    PUT(id, "alt.z_window", json_integer(c->alt_z_window));
    /* The execution stage's state (positions, working orders, the guards) was built with its
     * settings: a change needs a new state_dir, like the feature and sizing windows. */
    if (c->exec.enabled) {
        const qa_exec_cfg *x = &c->exec;
        const qa_pretrade_limits *l = &x->limits;
        char e[2048];
        snprintf(e, sizeof e,
                 "strategy %s broker %s fix %s:%d %s/%s paper %lld %.17g %.17g %.17g %.17g %llu algo %d %d %lld %.17g %.17g %d "
                 "%.17g %.17g %.17g profile %s pretrade %.17g %.17g %.17g %.17g %.17g %.17g %d %lld %d %lld %d band %.17g "
                 "min %.17g leverage %.17g reconcile %lld durable %d",
                 x->strategy, x->broker, x->fix_host, x->fix_port, x->fix_sender, x->fix_target,
                 (long long)x->paper.latency_ns, x->paper.participation, x->paper.slippage_bps, x->paper.fill_prob,
                 x->paper.fee_bps, (unsigned long long)x->paper.seed, (int)x->algo.kind, x->algo.slices,
                 (long long)x->algo.window_ns, x->algo.pov_rate, x->algo.max_participation, x->algo.child_limit,
                 x->algo.offset_bps, x->algo.replace_bps, x->algo.min_child, x->profile_path, l->max_order_qty,
                 l->max_order_notional, l->max_position, l->max_position_weight, l->max_gross, l->price_band,
                 l->throttle_orders, (long long)l->throttle_window_ns, l->duplicate_ids, (long long)l->duplicate_window_ns,
                 l->buying_power, x->rebalance_band, x->min_shares, x->leverage, x->reconcile_every, x->durable);
        PUT(id, "execution", json_string(e));
    } else {
        PUT(id, "execution", json_null());
    }

    /* The universe's path and the state directory's name may change between starts: the
     * checkpoint's identity checks the symbols themselves. */
    PUT(pr, "universe", str_or_null(c->universe));
    PUT(pr, "state_dir", str_or_null(c->state_dir));
    PUT(pr, "registry", str_or_null(c->registry));
    PUT(pr, "kafka.bootstrap", str_or_null(c->bootstrap));
    PUT(pr, "kafka.prefix", str_or_null(c->prefix));
    PUT(pr, "kafka.properties", str_list(&c->properties));
    PUT(pr, "http", str_or_null(c->http));
    PUT(pr, "live_store", json_boolean(c->live_store));
    PUT(pr, "checkpoint_every", json_integer(c->checkpoint_every));
    PUT(pr, "exit_idle", num(c->exit_idle));

    const char *key;
    json_t *val;
    if (rules) json_object_foreach(rules, key, val) {
            if (!strcmp(key, "capital") || !strcmp(key, "bars_per_year") || !strcmp(key, "vol_window")) continue;
            char k[64];
            snprintf(k, sizeof k, "rules.%s", key);
            PUT(re, k, json_incref(val));
        }
    json_decref(rules);
    PUT(re, "threshold", num(c->threshold));
    PUT(re, "allocation", num(c->allocation));
    PUT(re, "risk.every", json_integer(c->risk_every));
    PUT(re, "risk.level", num(c->risk_level));
    PUT(re, "risk.recover", json_integer(c->risk_recover));
    /* Each limit by name (its order is the order of its alerts): a change names the field. */
    json_t *names = json_array();
    for (size_t i = 0; names && i < c->limits.n; i++) {
        const qa_limit *l = &c->limits.items[i];
        char k[96];
        bad |= json_array_append_new(names, json_string(l->name));
#define LIM(field, value) snprintf(k, sizeof k, "risk.limits.%s.%s", l->name, field), PUT(re, k, value)
        LIM("metric", json_string(qa_limit_metric_names[l->metric]));
        if (l->metric == QA_LIMIT_VAR || l->metric == QA_LIMIT_ES) LIM("level", num(l->level));
        LIM("min", num(l->min));
        LIM("max", num(l->max));
        LIM("warn", num(l->warn_fraction));
#undef LIM
    }
    PUT(re, "risk.limits", names);
    PUT(re, "risk.halt", str_list(&c->risk_halt));
#undef PUT
    out[0] = id, out[1] = pr, out[2] = re;
    if (bad) {
        for (int k = 0; k < 3; k++) json_decref(out[k]), out[k] = NULL;
        return QA_FAIL(QA_ERR_NOMEM, "configuration forms");
    }
    return QA_OK;
}

static void free_forms(json_t *f[3]) {
    for (int k = 0; k < 3; k++) json_decref(f[k]);
}

/* A value for a message: compact JSON, cut at 60 characters. */
static void show(const json_t *v, char *out, size_t cap) {
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_REAL_PRECISION(12)) : NULL;
    snprintf(out, cap, "%s", s ? s : "null");
    if (s && strlen(s) >= cap && cap > 4) memcpy(out + cap - 4, "...", 4);
    free(s);
}

/* Appends "key: a -> b" for each key whose values differ (keys in b's order; a key only
 * one side has counts as null on the other). Returns the number of differences; `first`
 * receives the first one. */
static int diff(const json_t *a, const json_t *b, char *out, size_t cap, char *first, size_t fcap) {
    int n = 0;
    if (out && cap) out[0] = 0;
    const char *key;
    json_t *vb;
    json_t *both = json_object(); /* the union of keys, b's first */
    json_object_foreach((json_t *)b, key, vb) json_object_set(both, key, vb);
    json_object_foreach((json_t *)a, key, vb) if (!json_object_get(both, key)) json_object_set(both, key, json_null());
    json_object_foreach(both, key, vb) {
        const json_t *x = json_object_get(a, key), *y = json_object_get(b, key);
        if (json_equal(x ? x : json_null(), y ? y : json_null())) continue;
        char sx[64], sy[64], one[200];
        show(x, sx, sizeof sx), show(y, sy, sizeof sy);
        snprintf(one, sizeof one, "%s: %s -> %s", key, sx, sy);
        if (n == 0 && first) snprintf(first, fcap, "%s", one);
        if (out && cap) {
            size_t l = strlen(out);
            snprintf(out + l, cap - l, "%s%s", l ? "; " : "", one);
        }
        n++;
    }
    json_decref(both);
    return n;
}

qa_status qa_reload_compare(const qa_live_cfg *from, const qa_live_cfg *to, char *changes, size_t ccap, char *later,
                            size_t lcap) {
    json_t *a[3] = {0}, *b[3] = {0};
    qa_status st = forms(from, a);
    if (st == QA_OK) st = forms(to, b);
    if (st == QA_OK) {
        char first[200] = "";
        int n = diff(a[0], b[0], NULL, 0, first, sizeof first);
        if (n)
            st = QA_FAIL(QA_ERR_CONFIG, "%s%s: the service's state was built with it (features, model windows, sizing "
                                        "returns, book, VaR window); a change needs a new state_dir",
                         first, n > 1 ? " (and more)" : "");
    }
    if (st == QA_OK) {
        diff(a[1], b[1], later, lcap, NULL, 0);
        diff(a[2], b[2], changes, ccap, NULL, 0);
    }
    free_forms(a), free_forms(b);
    return st;
}

qa_status qa_reload_digest(const qa_live_cfg *c, char hex[65]) {
    json_t *f[3] = {0};
    QA_TRY_RET(forms(c, f));
    char *s = json_dumps(f[2], JSON_COMPACT | JSON_SORT_KEYS);
    free_forms(f);
    if (!s) return QA_FAIL(QA_ERR_NOMEM, "configuration digest");
    qa_status st = qa_sha256_hex(s, strlen(s), hex);
    free(s);
    return st;
}

void qa_reload_adopt(qa_live_cfg *dst, const qa_live_cfg *src) {
    const double capital = dst->rules.capital, bpy = dst->rules.bars_per_year; /* identity: kept */
    const int vol_window = dst->rules.sizing.vol_window;
    dst->rules = src->rules;
    dst->rules.capital = capital, dst->rules.bars_per_year = bpy, dst->rules.sizing.vol_window = vol_window;
    dst->threshold = src->threshold;
    dst->allocation = src->allocation;
    dst->risk_every = src->risk_every;
    dst->risk_level = src->risk_level;
    dst->risk_recover = src->risk_recover;
    dst->risk_limits_node = src->risk_limits_node;
    dst->limits = src->limits;
    dst->risk_halt = src->risk_halt;
}

qa_status qa_reload_in_force(qa_riskdb_t *db, qa_reload_cfg **out, long long *id, size_t *napplied) {
    qa_riskdb_config *rows = NULL;
    size_t n = 0;
    *out = NULL, *id = 0;
    if (napplied) *napplied = 0;
    QA_TRY_RET(qa_riskdb_configs(db, NULL, &rows, &n));
    for (size_t i = 0; napplied && i < n; i++) *napplied += !strcmp(rows[i].status, "applied");
    const long best = qa_riskdb_config_in_force(rows, n, INT64_MAX);
    qa_status st = QA_OK;
    if (best >= 0) {
        *id = rows[best].id;
        st = qa_reload_from_text("risk.db", rows[best].payload, rows[best].sets, out);
    }
    qa_riskdb_configs_free(rows, n);
    return st;
}
