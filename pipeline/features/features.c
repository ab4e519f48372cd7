/* Feature pipeline: lineage check, time-series phase by symbol blocks, cross-sectional
 * phase by time blocks, atomic publish. */
#include "pipeline/features/features.h"

#include <math.h>    /* NAN */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc */
#include <string.h>  /* strcmp */


#include "build_info.h"        /* code version in lineage */
#include "common/hash.h"       /* lineage hashes */
#include "common/log.h"        /* progress lines */
#include "common/progress.h"   /* symbol-bars/s */
#include "common/timer.h"      /* elapsed */
#include "datasets/store.h"    /* the market file */
#include "kernels/backend.h"   /* CPU/CUDA */
#include "mpi/shard.h"         /* block plans */
#include "registry/inputs.h"    /* the params attribute, shared with the live service */

#define GROUP 64      /* symbols per HDF5 chunk row: the unit of hashing */
#define HASH_BARS 2048 /* time block of the input hash (fixed: the hash must not depend on block_bars) */

/* ---- configuration ----------------------------------------------------------------------- */

qa_status qa_features_cfg_default(qa_features_cfg *c) {
    memset(c, 0, sizeof *c);
    c->data = NULL;
    c->backend = "auto";
    c->block_bars = 4096;
    c->block_symbols = 256;
    qa_feat_spec specs[64];
    size_t n = qa_feat_default_set(specs, 64);
    c->items = calloc(n, sizeof *c->items);
    if (!c->items) return QA_FAIL(QA_ERR_NOMEM, "feature list");
    for (size_t i = 0; i < n; i++) {
        c->items[i].spec = qa_feat_spec_normalize(&specs[i]);
        qa_feat_spec_format(&c->items[i].spec, c->items[i].name, sizeof c->items[i].name);
    }
    c->nitems = n;
    return QA_OK;
}

void qa_features_cfg_free(qa_features_cfg *c) {
    free(c->items);
    c->items = NULL;
    c->nitems = 0;
}

static int valid_name(const char *n) {
    if (!*n || n[0] == '.') return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
              *p == '.'))
            return 0;
    return 1;
}

/* One entry of `features:`: {name, kind, field, window, slow, signal, k, output}. */
struct raw_item {
    const char *name, *kind, *field, *output, *input;
    long long window, slow, signal;
    double k;
};

static qa_status bind_item(const qa_cfg_t *cfg, const qa_cfg_node *m, size_t i, qa_features_item *out) {
    char what[48];
    snprintf(what, sizeof what, "features[%zu]", i);
    struct raw_item r = {NULL, NULL, NULL, NULL, NULL, -1, -1, -1, NAN};
    const qa_cfg_field schema[] = {
        {"name", QA_CFG_T_STRING, offsetof(struct raw_item, name), 0, 0, NULL, NULL, 0, "dataset name"},
        {"kind", QA_CFG_T_STRING, offsetof(struct raw_item, kind), 0, 0, NULL, NULL, QA_CFG_REQUIRED, "feature kind"},
        {"field", QA_CFG_T_STRING, offsetof(struct raw_item, field), 0, 0, NULL, NULL, 0, "input series"},
        {"window", QA_CFG_T_INT, offsetof(struct raw_item, window), 1, 100000, NULL, NULL, 0, "window / span"},
        {"slow", QA_CFG_T_INT, offsetof(struct raw_item, slow), 2, 100000, NULL, NULL, 0, "macd slow span"},
        {"signal", QA_CFG_T_INT, offsetof(struct raw_item, signal), 1, 100000, NULL, NULL, 0, "macd signal span"},
        {"k", QA_CFG_T_DOUBLE, offsetof(struct raw_item, k), 1e-6, 100, NULL, NULL, 0, "Bollinger width"},
        {"output", QA_CFG_T_STRING, offsetof(struct raw_item, output), 0, 0, NULL, NULL, 0, "which output"},
        {"input", QA_CFG_T_STRING, offsetof(struct raw_item, input), 0, 0, NULL, NULL, 0, "panel read as x (alt/...)"},
        {NULL},
    };
    if (qa_cfg_node_kind(m) != QA_CFG_MAP) return qa_cfg_error(cfg, m, what, "expected a map (kind, window, ...)");
    qa_status st = qa_cfg_bind(cfg, m, schema, &r, what);
    if (st != QA_OK) return st;
    qa_feat_kind kind;
    if (qa_feat_kind_parse(r.kind, &kind) != QA_OK)
        return qa_cfg_error(cfg, qa_cfg_map_get(m, "kind"), what, "%s", qa_err_msg());
    qa_feat_spec s = qa_feat_spec_default(kind);
    if (r.field && qa_feat_field_parse(r.field, &s.field) != QA_OK)
        return qa_cfg_error(cfg, qa_cfg_map_get(m, "field"), what, "%s", qa_err_msg());
    if (r.output && qa_feat_output_parse(r.output, &s.output) != QA_OK)
        return qa_cfg_error(cfg, qa_cfg_map_get(m, "output"), what, "%s", qa_err_msg());
    if (r.window >= 0) s.window = (int)r.window;
    if (r.slow >= 0) s.slow = (int)r.slow;
    if (r.signal >= 0) s.signal = (int)r.signal;
    if (!isnan(r.k)) s.k = r.k;
    if (qa_feat_spec_validate(&s) != QA_OK) return qa_cfg_error(cfg, m, what, "%s", qa_err_msg());
    out->spec = qa_feat_spec_normalize(&s);
    out->input[0] = '\0';
    if (r.input) {
        /* Another panel as x: the spec reads it in the close slot, so only kinds that read
         * x alone (no high/low/volume, no derived return) qualify. */
        const qa_cfg_node *in = qa_cfg_map_get(m, "input");
        if (strncmp(r.input, "alt/", 4) != 0 || !valid_name(r.input + 4) || strlen(r.input) >= sizeof out->input)
            return qa_cfg_error(cfg, in, what, "'%s' is not an alternative-data panel (expected alt/<name>, e.g. "
                                "alt/news_sent_mean from qa alt align)", r.input);
        if (r.field || qa_feat_spec_inputs(&out->spec) != (1u << QA_FEAT_FIELD_CLOSE))
            return qa_cfg_error(cfg, in, what, "kind '%s'%s reads %s; with 'input' only kinds that read one series "
                                "(no 'field') apply", r.kind, r.field ? " with 'field'" : "",
                                r.field ? r.field : "high/low/volume");
        snprintf(out->input, sizeof out->input, "%s", r.input);
        s.field = QA_FEAT_FIELD_CLOSE; /* xs kinds default to ret: here x is the panel itself */
        out->spec = qa_feat_spec_normalize(&s);
    }
    if (r.name) {
        if (!valid_name(r.name) || strlen(r.name) >= sizeof out->name)
            return qa_cfg_error(cfg, qa_cfg_map_get(m, "name"), what,
                                "'%s' is not a valid dataset name (letters, digits, _ - ., not starting with '.', < 64)", r.name);
        snprintf(out->name, sizeof out->name, "%s", r.name);
    } else {
        qa_feat_spec_format(&out->spec, out->name, sizeof out->name);
        if (out->input[0]) { /* zscore_close_20 of alt/news_count -> zscore_news_count_20 */
            char base[64], *p = strstr(out->name, "_close");
            snprintf(base, sizeof base, "%s", out->name);
            if (p) {
                size_t at = (size_t)(p - out->name);
                int w = snprintf(out->name, sizeof out->name, "%.*s_%s%s", (int)at, base, out->input + 4, base + at + 6);
                if (w < 0 || (size_t)w >= sizeof out->name)
                    return qa_cfg_error(cfg, m, what, "the default name of this feature is too long: give 'name'");
            }
        }
    }
    return QA_OK;
}

/* The schema binds into the configuration itself; the feature list and the default-set
 * switch are read after binding. */
struct bind {
    qa_features_cfg c;
    int default_set;
    const qa_cfg_node *features;
};

static const qa_cfg_field cfg_fields[] = {
    QA_CFG_FIELD(struct bind, "data", QA_CFG_T_STRING, c.data, 0, "market file"),
    QA_CFG_FIELD(struct bind, "backend", QA_CFG_T_STRING, c.backend, 0, "cpu, cuda or auto"),
    QA_CFG_NUM(struct bind, "block_bars", c.block_bars, 16, 1 << 24, 0, "bars per block"),
    QA_CFG_NUM(struct bind, "block_symbols", c.block_symbols, 64, 1 << 20, 0, "symbols per block (multiple of 64)"),
    QA_CFG_FIELD(struct bind, "force", QA_CFG_T_BOOL, c.force, 0, "recompute up-to-date features"),
    QA_CFG_FIELD(struct bind, "default_set", QA_CFG_T_BOOL, default_set, 0, "include the default feature set"),
    QA_CFG_FIELD(struct bind, "features", QA_CFG_T_NODE, features, 0, "list of features"),
    {NULL},
};

qa_status qa_features_cfg_bind(const qa_cfg_t *cfg, qa_features_cfg *c) {
    struct bind b = {*c, 0, NULL};
    qa_status st = qa_cfg_bind(cfg, qa_cfg_root(cfg), cfg_fields, &b, NULL);
    if (st != QA_OK) return st;
    if (b.c.block_symbols % GROUP != 0)
        return qa_cfg_error(cfg, qa_cfg_map_get(qa_cfg_root(cfg), "block_symbols"), "block_symbols",
                            "%lld is not a multiple of %d", b.c.block_symbols, GROUP);
    *c = b.c;
    if (b.features) {
        if (qa_cfg_node_kind(b.features) != QA_CFG_SEQ)
            return qa_cfg_error(cfg, b.features, "features", "expected a list of features");
        size_t n = qa_cfg_node_len(b.features);
        size_t keep = b.default_set ? c->nitems : 0;
        qa_features_item *items = calloc(keep + n + 1, sizeof *items);
        if (!items) return QA_FAIL(QA_ERR_NOMEM, "features");
        if (keep) memcpy(items, c->items, keep * sizeof *items);
        for (size_t i = 0; i < n; i++) {
            if ((st = bind_item(cfg, qa_cfg_seq_at(b.features, i), i, &items[keep + i])) != QA_OK) {
                free(items);
                return st;
            }
        }
        free(c->items);
        c->items = items;
        c->nitems = keep + n;
        if (c->nitems == 0) return qa_cfg_error(cfg, b.features, "features", "the feature list is empty");
    }
    for (size_t i = 0; i < c->nitems; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->items[i].name, c->items[j].name) == 0)
                return QA_FAIL(QA_ERR_CONFIG, "%s: two features are named '%s'", qa_cfg_name(cfg), c->items[i].name);
    return QA_OK;
}

/* ---- lineage --------------------------------------------------------------------------------- */

/* SHA-256 of a panel's content, hashed per 64-symbol group and 2048-bar block in a fixed
 * order, so the digest is the same for any rank count. Collective. */
static qa_status hash_panel(qa_store_t *store, const qa_comm_t *comm, const char *path, char hex[65]) {
    qa_status st = QA_OK;
    size_t S = qa_store_nsym(store), T = qa_store_ntime(store);
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    size_t ngroups = (S + GROUP - 1) / GROUP;
    qa_shard sh = qa_shard_block(ngroups, size, rank);
    size_t rounds = (ngroups + (size_t)size - 1) / (size_t)size;
    double *buf = malloc((size_t)GROUP * HASH_BARS * sizeof *buf);
    char *mine = calloc((sh.end - sh.begin) * 32 + 1, 1); /* raw digests of my groups, in order */
    if (!buf || !mine) {
        free(buf);
        free(mine);
        return QA_FAIL(QA_ERR_NOMEM, "hash buffers");
    }
    for (size_t r = 0; r < rounds && st == QA_OK; r++) {
        size_t g = sh.begin + r;
        int have = g < sh.end;
        size_t s0 = have ? g * GROUP : 0, ns = have ? (S - s0 < GROUP ? S - s0 : GROUP) : 0;
        qa_sha256_t *h = NULL;
        if (have && (st = qa_sha256_create(&h)) != QA_OK) break;
        for (size_t t0 = 0; t0 < T && st == QA_OK; t0 += HASH_BARS) {
            size_t nb = T - t0 < HASH_BARS ? T - t0 : HASH_BARS;
            st = qa_store_read(store, path, s0, ns, ns ? t0 : 0, ns ? nb : 0, buf);
            if (st == QA_OK && have) st = qa_sha256_update(h, buf, ns * nb * sizeof *buf);
        }
        if (have) {
            char g_hex[65] = {0}; /* copied below even when the hash failed */
            if (st == QA_OK) st = qa_sha256_final_hex(h, g_hex);
            memcpy(mine + r * 32, g_hex, 32); /* half the hex digest identifies the group */
            qa_sha256_free(h);
        }
    }
    st = qa_comm_agree(comm, st);
    if (st == QA_OK) {
        /* Combine the group digests in group order on rank 0, broadcast the result. */
        void *all = NULL;
        size_t *counts = NULL;
        st = qa_comm_gatherv(comm, mine, (sh.end - sh.begin) * 32, 0, &all, &counts);
        if (st == QA_OK && rank == 0) {
            size_t total = 0;
            for (int k = 0; k < size; k++) total += counts[k];
            st = qa_sha256_hex(all, total, hex);
        }
        free(all);
        free(counts);
        st = qa_comm_agree(comm, st);
        if (st == QA_OK) st = qa_comm_bcast(comm, hex, 65, 0);
    }
    free(buf);
    free(mine);
    return st;
}

/* The digests of the bar fields in `mask`. Collective. */
static qa_status hash_fields(qa_store_t *store, const qa_comm_t *comm, unsigned mask, char hex[QA_FEAT_BAR_FIELDS][65]) {
    for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++)
        if (mask & (1u << f)) QA_TRY_RET(hash_panel(store, comm, qa_bar_field_path((qa_bar_field)f), hex[f]));
    return QA_OK;
}

/* Bar fields a spec's values depend on (derived returns depend on close). */
static unsigned field_mask(const qa_feat_spec *s) {
    unsigned m = qa_feat_spec_inputs(s);
    if (s->field == QA_FEAT_FIELD_RET || s->field == QA_FEAT_FIELD_LOGRET) m |= 1u << QA_FEAT_FIELD_CLOSE;
    return m;
}

static void input_list(unsigned mask, char *buf, size_t size) {
    buf[0] = '\0';
    size_t used = 0;
    for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) {
        if (!(mask & (1u << f))) continue;
        int w = snprintf(buf + used, size - used, "%s%s", used ? "," : "", qa_bar_field_path((qa_bar_field)f));
        if (w > 0 && used + (size_t)w < size) used += (size_t)w;
    }
}

/* Bar fields an item reads: none when its x is another panel. */
static unsigned item_mask(const qa_features_item *it) { return it->input[0] ? 0 : field_mask(&it->spec); }

/* The input hash of an item: code version, params, and the digests of what it reads (the
 * bar fields of `mask`, or the other panel's `input_hex`). */
static qa_status lineage_hash(unsigned mask, const char *params, char field_hex[QA_FEAT_BAR_FIELDS][65],
                              const char *input_hex, char *out) {
    qa_sha256_t *h = NULL;
    qa_status st = qa_sha256_create(&h);
    if (st == QA_OK) st = qa_sha256_update(h, QA_FEATURES_CODE_VERSION, strlen(QA_FEATURES_CODE_VERSION));
    if (st == QA_OK) st = qa_sha256_update(h, params, strlen(params));
    for (int f = 0; f < QA_FEAT_BAR_FIELDS && st == QA_OK; f++)
        if (mask & (1u << f)) st = qa_sha256_update(h, field_hex[f], 64);
    if (st == QA_OK && input_hex) st = qa_sha256_update(h, input_hex, 64);
    if (st == QA_OK) st = qa_sha256_final_hex(h, out);
    qa_sha256_free(h);
    return st;
}

/* ---- the plan ------------------------------------------------------------------------------- */

typedef struct work_item {
    const qa_features_item *item;
    qa_feat_spec run_spec; /* what the kernel computes (xs of a derived input: field close) */
    char tmp[96];          /* hidden dataset being written */
    char final[96];        /* features/<name>, or "" for hidden xs inputs */
    char params[512];
    char hash[65];
    unsigned mask;
    int xs;                /* cross-sectional phase */
    int xs_input;          /* index of the hidden ts item holding this xs item's input, or -1 */
} work_item;

static qa_status make_tmp_datasets(qa_store_t *store, work_item *w, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (qa_store_exists(store, w[i].tmp)) {
            qa_status st = qa_store_delete(store, w[i].tmp); /* left over by a crashed run */
            if (st != QA_OK) return st;
        }
        qa_status st = qa_store_panel_create(store, w[i].tmp);
        if (st != QA_OK) return st;
    }
    return QA_OK;
}

/* Phase 1: time-series items by blocks of symbols (round-robin over ranks) and bars. */
static qa_status run_ts(qa_store_t *store, const qa_comm_t *comm, qa_backend_t *be, const qa_features_cfg *c,
                        work_item *w, size_t n, qa_progress_t *prog) {
    qa_status st = QA_OK;
    size_t S = qa_store_nsym(store), T = qa_store_ntime(store);
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    size_t G = (size_t)c->block_symbols, B = (size_t)c->block_bars;
    if (B > T) B = T;
    size_t nblocks = (S + G - 1) / G, rounds = (nblocks + (size_t)size - 1) / (size_t)size;
    unsigned mask = 0;
    size_t nts = 0;
    int other = 0; /* items whose x is another panel (alt/...) */
    for (size_t i = 0; i < n; i++)
        if (!w[i].xs) mask |= w[i].mask, nts++, other |= w[i].item->input[0] != 0;
    if (nts == 0) return QA_OK;
    int gpu = qa_backend_kind_of(be) == QA_BACKEND_CUDA;
    size_t blk = G * B;
    double *host_in = malloc((QA_FEAT_BAR_FIELDS + (size_t)other) * blk * sizeof *host_in);
    double *host_out = malloc(blk * sizeof *host_out);
    double *host_x = host_in ? host_in + QA_FEAT_BAR_FIELDS * blk : NULL; /* the other panel's block */
    qa_buf dev_in = {0}, dev_out = {0}, dev_x = {0};
    qa_feat_state_t **state = calloc(n, sizeof(qa_feat_state_t *));
    if (!host_in || !host_out || !state) QA_TRY_FAIL(QA_ERR_NOMEM, "feature block buffers (%zu x %zu)", G, B);
    if (gpu) {
        QA_TRY(qa_buf_alloc(be, QA_FEAT_BAR_FIELDS * blk * sizeof(double), &dev_in));
        QA_TRY(qa_buf_alloc(be, blk * sizeof(double), &dev_out));
        if (other) QA_TRY(qa_buf_alloc(be, blk * sizeof(double), &dev_x));
    }
    for (size_t r = 0; r < rounds; r++) {
        size_t b = r * (size_t)size + (size_t)rank;
        size_t s0 = b < nblocks ? b * G : 0, ns = b < nblocks ? (S - s0 < G ? S - s0 : G) : 0;
        for (size_t i = 0; i < n; i++) {
            qa_feat_state_free(state[i]);
            state[i] = NULL;
            if (!w[i].xs && ns) QA_TRY(qa_feat_state_create(be, &w[i].run_spec, ns, &state[i]));
        }
        for (size_t t0 = 0; t0 < T; t0 += B) {
            size_t nb = T - t0 < B ? T - t0 : B;
            qa_feat_panel panel = {{NULL}, ns, nb, nb};
            for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) {
                if (!(mask & (1u << f))) continue;
                double *dst = host_in + (size_t)f * blk;
                QA_TRY(qa_store_read(store, qa_bar_field_path((qa_bar_field)f), s0, ns, ns ? t0 : 0, ns ? nb : 0, dst));
                if (gpu && ns) QA_TRY(qa_buf_upload(be, &dev_in, (size_t)f * blk * sizeof(double), dst, ns * nb * sizeof(double)));
                panel.field[f] = gpu ? (const double *)dev_in.ptr + (size_t)f * blk : dst;
            }
            for (size_t i = 0; i < n; i++) {
                if (w[i].xs) continue;
                const char *input = w[i].item->input;
                qa_feat_panel xpanel = {{NULL}, ns, nb, nb}; /* x from another panel, in the close slot */
                if (input[0]) {
                    QA_TRY(qa_store_read(store, input, s0, ns, ns ? t0 : 0, ns ? nb : 0, host_x));
                    if (gpu && ns) QA_TRY(qa_buf_upload(be, &dev_x, 0, host_x, ns * nb * sizeof(double)));
                    xpanel.field[QA_FEAT_FIELD_CLOSE] = gpu ? (const double *)dev_x.ptr : host_x;
                }
                if (ns) {
                    double *out = gpu ? dev_out.ptr : host_out;
                    QA_TRY(qa_feat_compute(be, &w[i].run_spec, input[0] ? &xpanel : &panel, state[i], out, 0));
                    if (gpu) QA_TRY(qa_buf_download(be, host_out, &dev_out, 0, ns * nb * sizeof(double)));
                }
                QA_TRY(qa_store_write(store, w[i].tmp, s0, ns, ns ? t0 : 0, ns ? nb : 0, host_out));
            }
            qa_progress_add(prog, (uint64_t)ns * nb * (uint64_t)size);
        }
    }
cleanup:
    if (state)
        for (size_t i = 0; i < n; i++) qa_feat_state_free(state[i]);
    free(state);
    qa_buf_free(&dev_in);
    qa_buf_free(&dev_out);
    qa_buf_free(&dev_x);
    free(host_in);
    free(host_out);
    return st;
}

/* Phase 2: cross-sectional items by blocks of bars (round-robin over ranks), all symbols. */
static qa_status run_xs(qa_store_t *store, const qa_comm_t *comm, qa_backend_t *be, const qa_features_cfg *c,
                        work_item *w, size_t n, qa_progress_t *prog) {
    qa_status st = QA_OK;
    size_t S = qa_store_nsym(store), T = qa_store_ntime(store);
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    size_t B = (size_t)c->block_bars;
    /* Keep the block within the memory of a symbol block of the first phase. */
    size_t cap = (size_t)c->block_symbols * (size_t)c->block_bars / (S ? S : 1);
    if (B > cap) B = cap < 16 ? 16 : cap;
    if (B > T) B = T;
    size_t nblocks = (T + B - 1) / B, rounds = (nblocks + (size_t)size - 1) / (size_t)size;
    int gpu = qa_backend_kind_of(be) == QA_BACKEND_CUDA;
    int any = 0;
    for (size_t i = 0; i < n; i++) any |= w[i].xs;
    if (!any) return QA_OK;
    double *in = malloc(S * B * sizeof *in), *out = malloc(S * B * sizeof *out);
    qa_buf dev_in = {0}, dev_out = {0};
    qa_feat_state_t *state = NULL;
    if (!in || !out) QA_TRY_FAIL(QA_ERR_NOMEM, "cross-section buffers (%zu x %zu)", S, B);
    if (gpu) {
        QA_TRY(qa_buf_alloc(be, S * B * sizeof(double), &dev_in));
        QA_TRY(qa_buf_alloc(be, S * B * sizeof(double), &dev_out));
    }
    for (size_t i = 0; i < n; i++) {
        if (!w[i].xs) continue;
        const char *src = w[i].xs_input >= 0       ? w[w[i].xs_input].tmp
                          : w[i].item->input[0] ? w[i].item->input
                                                : qa_bar_field_path((qa_bar_field)w[i].run_spec.field);
        qa_feat_state_free(state);
        state = NULL;
        QA_TRY(qa_feat_state_create(be, &w[i].run_spec, S, &state));
        for (size_t r = 0; r < rounds; r++) {
            size_t b = r * (size_t)size + (size_t)rank;
            size_t t0 = b < nblocks ? b * B : 0, nb = b < nblocks ? (T - t0 < B ? T - t0 : B) : 0;
            QA_TRY(qa_store_read(store, src, 0, nb ? S : 0, t0, nb, in));
            if (nb) {
                qa_feat_panel panel = {{NULL}, S, nb, nb};
                if (gpu) {
                    QA_TRY(qa_buf_upload(be, &dev_in, 0, in, S * nb * sizeof(double)));
                    panel.field[QA_FEAT_FIELD_CLOSE] = dev_in.ptr;
                    panel.field[w[i].run_spec.field < QA_FEAT_BAR_FIELDS ? w[i].run_spec.field : QA_FEAT_FIELD_CLOSE] = dev_in.ptr;
                    QA_TRY(qa_feat_compute(be, &w[i].run_spec, &panel, state, dev_out.ptr, 0));
                    QA_TRY(qa_buf_download(be, out, &dev_out, 0, S * nb * sizeof(double)));
                } else {
                    panel.field[QA_FEAT_FIELD_CLOSE] = in;
                    panel.field[w[i].run_spec.field < QA_FEAT_BAR_FIELDS ? w[i].run_spec.field : QA_FEAT_FIELD_CLOSE] = in;
                    QA_TRY(qa_feat_compute(be, &w[i].run_spec, &panel, state, out, 0));
                }
            }
            QA_TRY(qa_store_write(store, w[i].tmp, 0, nb ? S : 0, t0, nb, out));
            qa_progress_add(prog, (uint64_t)S * nb * (uint64_t)size);
        }
    }
cleanup:
    qa_feat_state_free(state);
    qa_buf_free(&dev_in);
    qa_buf_free(&dev_out);
    free(in);
    free(out);
    return st;
}

static qa_status publish(qa_store_t *store, work_item *w, size_t n) {
    char created[32];
    qa_time_utc_iso(created, sizeof created);
    char code[128], inputs[256];
    snprintf(code, sizeof code, "%s (qa %s, git %s)", QA_FEATURES_CODE_VERSION, QA_VERSION, QA_GIT_HASH);
    for (size_t i = 0; i < n; i++) {
        qa_status st;
        if (!w[i].final[0]) {
            st = qa_store_delete(store, w[i].tmp);
        } else {
            st = qa_store_move(store, w[i].tmp, w[i].final);
            if (w[i].item->input[0]) snprintf(inputs, sizeof inputs, "%s", w[i].item->input);
            else input_list(w[i].mask, inputs, sizeof inputs);
            if (st == QA_OK) st = qa_store_attr_set_str(store, w[i].final, "kind", qa_feat_kind_name(w[i].item->spec.kind));
            if (st == QA_OK) st = qa_store_attr_set_str(store, w[i].final, "params", w[i].params);
            if (st == QA_OK) st = qa_store_attr_set_str(store, w[i].final, "input", inputs);
            if (st == QA_OK) st = qa_store_attr_set_str(store, w[i].final, "code_version", code);
            if (st == QA_OK) st = qa_store_attr_set_str(store, w[i].final, "input_hash", w[i].hash);
            if (st == QA_OK) st = qa_store_attr_set_str(store, w[i].final, "created", created);
        }
        if (st != QA_OK) return st;
    }
    return QA_OK;
}

qa_status qa_features_run(const qa_features_cfg *c, const qa_comm_t *comm, qa_features_report *rep) {
    memset(rep, 0, sizeof *rep);
    uint64_t t_start = qa_time_ns();
    qa_status st = QA_OK;
    qa_store_t *store = NULL;
    qa_backend_t *be = NULL;
    work_item *w = NULL;
    qa_progress_t *prog = NULL;
    int rank = qa_comm_rank(comm);
    if (!c->data || !*c->data) return QA_FAIL(QA_ERR_CONFIG, "no market file (set 'data' or --data)");
    if (c->nitems == 0) return QA_FAIL(QA_ERR_CONFIG, "no features to compute");
    QA_TRY(qa_store_open(c->data, comm, QA_STORE_RDWR, &store));
    QA_TRY(qa_backend_create_named(c->backend, qa_comm_device(comm) >= 0 ? qa_comm_device(comm) : 0, &be));
    qa_backend_set_reference(be, c->reference);
    snprintf(rep->backend, sizeof rep->backend, "%s", qa_backend_name(qa_backend_kind_of(be)));
    size_t S = qa_store_nsym(store), T = qa_store_ntime(store);
    rep->symbols = S;
    rep->bars = T;
    /* A window longer than the time axis gives a feature of NaN only: refused, not written. */
    for (size_t i = 0; i < c->nitems; i++) {
        const qa_feat_spec *sp = &c->items[i].spec;
        size_t need = (size_t)(sp->slow > sp->window ? sp->slow : sp->window);
        if (need > T)
            QA_TRY_FAIL(QA_ERR_CONFIG, "feature %s: %s %zu is longer than the data (%s has %zu bars): every value would "
                        "be NaN; shorten it or use a longer history", c->items[i].name,
                        sp->slow > sp->window ? "slow window" : "window", need, c->data, T);
    }

    /* Lineage: hash the bar fields any feature reads. */
    unsigned all_mask = 0;
    for (size_t i = 0; i < c->nitems; i++) all_mask |= item_mask(&c->items[i]);
    char field_hex[QA_FEAT_BAR_FIELDS][65];
    memset(field_hex, 0, sizeof field_hex);
    QA_TRY(hash_fields(store, comm, all_mask, field_hex));

    /* The work list: items that are new or stale, plus hidden inputs of xs items. */
    w = calloc(2 * c->nitems, sizeof *w);
    if (!w) QA_TRY_FAIL(QA_ERR_NOMEM, "work list");
    size_t n = 0;
    for (size_t i = 0; i < c->nitems; i++) {
        const qa_features_item *it = &c->items[i];
        work_item *x = &w[n];
        x->item = it;
        x->run_spec = it->spec;
        x->mask = item_mask(it);
        x->xs = qa_feat_spec_is_xs(&it->spec);
        x->xs_input = -1;
        QA_TRY(qa_inputs_feat_params_input(&it->spec, it->input, x->params, sizeof x->params));
        char input_hex[65];
        if (it->input[0]) {
            if (!qa_store_exists(store, it->input))
                QA_TRY_FAIL(QA_ERR_NOT_FOUND, "feature %s: %s has no panel '%s' (qa alt align writes alt/ panels)", it->name,
                            c->data, it->input);
            QA_TRY(hash_panel(store, comm, it->input, input_hex));
        }
        QA_TRY(lineage_hash(x->mask, x->params, field_hex, it->input[0] ? input_hex : NULL, x->hash));
        snprintf(x->final, sizeof x->final, "features/%s", it->name);
        snprintf(x->tmp, sizeof x->tmp, "features/.tmp.%s", it->name);
        if (!c->force && qa_store_exists(store, x->final)) {
            char old[80] = "";
            if (qa_store_attr_get_str(store, x->final, "input_hash", old, sizeof old) == QA_OK && strcmp(old, x->hash) == 0) {
                if (rank == 0) qa_log_info("feature %s: up to date", it->name);
                rep->up_to_date++;
                continue;
            }
            if (rank == 0) qa_log_info("feature %s: stale (inputs or definition changed), recomputing", it->name);
        }
        n++;
        if (x->xs && (it->spec.field == QA_FEAT_FIELD_RET || it->spec.field == QA_FEAT_FIELD_LOGRET)) {
            /* The return series is a time-series computation (it needs each symbol's
             * previous observation); compute it in phase 1 into a hidden dataset. */
            work_item *in = &w[n];
            memset(in, 0, sizeof *in);
            in->item = it;
            in->run_spec = qa_feat_spec_default(it->spec.field == QA_FEAT_FIELD_RET ? QA_FEAT_RET : QA_FEAT_LOGRET);
            in->run_spec = qa_feat_spec_normalize(&in->run_spec);
            in->mask = field_mask(&in->run_spec);
            in->xs_input = -1;
            snprintf(in->tmp, sizeof in->tmp, "features/.xsin.%s", it->name);
            x->xs_input = (int)n;
            x->run_spec.field = QA_FEAT_FIELD_CLOSE; /* the kernel reads the return series as its x */
            n++;
        }
    }
    rep->computed = 0;
    for (size_t i = 0; i < n; i++) rep->computed += w[i].final[0] != 0;
    if (n == 0) goto done;
    QA_TRY(make_tmp_datasets(store, w, n));
    size_t nts = 0, nxs = 0;
    for (size_t i = 0; i < n; i++) w[i].xs ? nxs++ : nts++;
    if (rank == 0)
        QA_TRY(qa_progress_create("features", (uint64_t)S * T * (uint64_t)((nts ? 1 : 0) + nxs), "symbol-bars",
                                  QA_PROGRESS_AUTO, NULL, &prog));
    uint64_t t_compute = qa_time_ns();
    st = run_ts(store, comm, be, c, w, n, prog);
    st = qa_comm_agree(comm, st);
    if (st != QA_OK) goto cleanup;
    st = run_xs(store, comm, be, c, w, n, prog);
    st = qa_comm_agree(comm, st);
    if (st != QA_OK) goto cleanup;
    double secs = qa_time_since(t_compute);
    rep->symbol_bars_per_s = (double)S * (double)T / (secs > 0 ? secs : 1);
    qa_progress_finish(prog);
    QA_TRY(publish(store, w, n));
done:
    qa_store_close(store);
    store = NULL;
    rep->seconds = qa_time_since(t_start);
cleanup:
    if (store && st != QA_OK && w) {
        /* Remove the hidden datasets of a failed run; finished features stay as they were. */
        for (size_t i = 0; i < 2 * c->nitems && w[i].tmp[0]; i++)
            if (qa_store_exists(store, w[i].tmp)) qa_store_delete(store, w[i].tmp);
    }
    qa_store_close(store);
    qa_progress_free(prog);
    qa_backend_free(be);
    free(w);
    return st;
}
