/* The live service's speed (docs/live.md, docs/performance.md "Live service"):
 *
 *  1. in process: tick -> features -> signal -> position size (+ the risk monitor's mark,
 *     gate and snapshot) per bar, the engine and risk monitor exactly as qa live runs
 *     them, on a synthetic universe of S random-walk symbols with the demo's model shape
 *     (8 features + 3 bar inputs over 2 bars, MLP 64-32 GELU + LayerNorm). Latency of
 *     a two-symbol timestamp (the smallest cross-section: the model reads xs features) and of a
 *     50-symbol one, per timestamp and per bar.
 *  2. through the bus on loopback (an in-process 3-broker mock cluster): qa replay's
 *     sustained publish rate (messages acknowledged / s) of a 500-symbol file;
 *     qa live's consume-and-process rate of the same file (bars / s, features + model +
 *     sizes + risk + outputs); and end-to-end latency from producing a timestamp's last
 *     message (its watermark) to receiving its last position size, at 100 timestamps / s.
 *  3. configuration reload: judging a change (parse the file's text, bind, validate the
 *     rules, compare with the configuration in force, digest) and installing it at a
 *     timestamp (the engine's rules, the risk monitor's limits), for a 50-symbol service.
 * Usage: bench_live [--quick] */
#include <math.h>     /* sin, exp */
#include <pthread.h>  /* the service and consumer threads */
#include <signal.h>   /* sig_atomic_t */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>   /* mkdtemp */

#include "bench.h"
#include "bench_bars.h"      /* synthetic bars */
#include "common/philox.h"    /* synthetic prices */
#include "datasets/store.h"   /* the synthetic market file */
#include "live/bus.h"
#include "live/engine.h"
#include "live/msg.h"
#include "live/reload.h"
#include "live/replay.h"
#include "live/riskdb.h"
#include "live/riskmon.h"
#include "live/service.h"
#include "registry/inputs.h"  /* feature params of the model's inputs */

static const char *const feat_names[8] = {"ret_close", "zscore_close_20", "rsi_close_14", "bbpct_close_20_2",
                                          "donchian_20_pos", "volz_20", "xs_rank_ret", "xs_zscore_ret"};

/* The demo MLP's shape with real feature definitions (so the engine builds them). */
static qa_status demo_model(qa_model *m) {
    qa_feat_spec specs[64];
    char name[64];
    size_t n = qa_feat_default_set(specs, 64);
    qa_model_spec s;
    memset(&s, 0, sizeof s);
    for (int f = 0; f < 8; f++) {
        qa_model_input *in = &s.inputs[s.ninputs++];
        snprintf(in->name, sizeof in->name, "%s", feat_names[f]);
        in->bar = -1;
        for (size_t i = 0; i < n; i++) {
            qa_feat_spec_format(&specs[i], name, sizeof name);
            if (strcmp(name, feat_names[f]) == 0) QA_TRY_RET(qa_inputs_feat_params(&specs[i], in->params, sizeof in->params));
        }
        snprintf(in->input_hash, sizeof in->input_hash, "%064d", f);
    }
    const char *bars[3] = {"logret", "range", "body"};
    for (int b = 0; b < 3; b++) {
        qa_model_input *in = &s.inputs[s.ninputs++];
        snprintf(in->name, sizeof in->name, "%s", bars[b]);
        qa_model_bar_input bi;
        QA_TRY_RET(qa_model_bar_input_parse(bars[b], &bi));
        in->bar = (int)bi;
    }
    s.window = 2, s.horizon = 5, s.classes = 1, s.target = QA_MODEL_TARGET_RETURN, s.standardize = 1;
    s.start = INT64_MIN, s.train_end = 1, s.val_end = 2, s.end = INT64_MAX, s.clip = 5;
    qa_model_norm nm;
    memset(&nm, 0, sizeof nm);
    for (int f = 0; f < s.ninputs; f++) nm.std[f] = 1.0;
    nm.target_std = 0.01;
    qa_nn_arch a = {QA_NN_ARCH_MLP, s.ninputs, 2, 1, 2, {64, 32}, QA_NN_ACT_GELU, 1, 0.0f};
    QA_TRY_RET(qa_model_init(m, &a, &s, &nm));
    for (size_t i = 0; i < m->nparams; i++) m->params[i] = (float)(0.05 * sin(0.37 * (double)i));
    return QA_OK;
}

/* Bars of a geometric random walk: symbol s, timestamp t. */
static qa_msg_bar synth_bar(size_t s, size_t t, double *last) { return qa_bench_synth_bar(7, s, t, last, 1000, 9000); }

static qa_status no_emit(void *ctx, qa_engine_out out, size_t sym, const qa_msg *m) {
    (void)out, (void)m;
    qa_riskmon_t *r = ctx;
    if (m->kind == QA_MSG_SIZE) {
        double w = m->u.size.weight, sh = m->u.size.shares;
        qa_riskmon_target(r, sym, &w, &sh, m->u.size.price);
    }
    return QA_OK;
}

/* 1. In process: per-bar latency percentiles over T timestamps of S symbols. */
static int bench_engine(size_t S, size_t T) {
    qa_model model;
    if (demo_model(&model) != QA_OK) return fprintf(stderr, "model: %s\n", qa_err_msg()), 1;
    char **names = calloc(S, sizeof *names);
    for (size_t s = 0; s < S; s++) names[s] = malloc(16), snprintf(names[s], 16, "S%zu", s);
    qa_rules rules;
    qa_rules_init(&rules);
    rules.sizing.method = QA_BT_SIZE_VOL_TARGET, rules.bars_per_year = 19656;
    qa_engine_cfg ec = {(const char *const *)names, S, &model, "bench", 1, NULL, NULL, 0, rules, 0, 0, "bench"};
    qa_engine_t *e = NULL;
    qa_riskmon_t *risk = NULL;
    qa_limit_set none = {NULL, 0};
    qa_riskmon_cfg rc = {S, 1e6, 500, 12, 0.99, 3, &none, NULL, 0};
    if (qa_engine_create(&ec, &e) != QA_OK || qa_riskmon_create(&rc, (const char *const *)names, &risk) != QA_OK)
        return fprintf(stderr, "engine: %s\n", qa_err_msg()), 1;
    qa_msg_bar *bars = calloc(S, sizeof *bars);
    unsigned char *present = malloc(S);
    double *last = malloc(S * sizeof *last), *lat = malloc(T * sizeof *lat);
    memset(present, 1, S);
    for (size_t s = 0; s < S; s++) last[s] = 100.0 + (double)s;
    size_t warm = T / 10;
    for (size_t t = 0; t < T + warm; t++) {
        for (size_t s = 0; s < S; s++) bars[s] = synth_bar(s, t, &last[s]);
        qa_riskmon_report rep;
        int taken;
        uint64_t t0 = qa_time_ns();
        qa_riskmon_mark(risk, bars, present);
        qa_engine_step(e, (int64_t)t, bars, present, no_emit, risk);
        qa_riskmon_end(risk, (int64_t)t, &rep, &taken);
        double dt = qa_time_since(t0);
        if (t >= warm) lat[t - warm] = dt;
    }
    double sum = 0;
    for (size_t i = 0; i < T; i++) sum += lat[i];
    double p50 = qa_bench_quantile(lat, T, 0.5), p99 = qa_bench_quantile(lat, T, 0.99), p999 = qa_bench_quantile(lat, T, 0.999);
    printf("engine S=%-4zu %zu timestamps: per timestamp p50 %.1f us p99 %.1f us p99.9 %.1f us; per bar p50 %.2f us "
           "p99 %.2f us p99.9 %.2f us; %.0f bars/s\n",
           S, T, p50 * 1e6, p99 * 1e6, p999 * 1e6, p50 / S * 1e6, p99 / S * 1e6, p999 / S * 1e6, (double)(T * S) / sum);
    char size[64];
    snprintf(size, sizeof size, "S=%zu,T=%zu", S, T);
    printf("JSON {\"bench\":\"live_engine\",\"backend\":\"cpu-1t\",\"size\":\"%s\",\"unit\":\"bars\",\"items_per_s\":%.6g,"
           "\"timestamp_p50_us\":%.3f,\"timestamp_p99_us\":%.3f,\"timestamp_p999_us\":%.3f,\"bar_p50_us\":%.4f,"
           "\"bar_p99_us\":%.4f,\"bar_p999_us\":%.4f,\"peak_rss_mb\":%.1f}\n",
           size, (double)(T * S) / sum, p50 * 1e6, p99 * 1e6, p999 * 1e6, p50 / S * 1e6, p99 / S * 1e6, p999 / S * 1e6,
           (double)qa_peak_rss_bytes() / 1048576.0);
    qa_engine_free(e);
    qa_riskmon_free(risk);
    qa_model_free(&model);
    for (size_t s = 0; s < S; s++) free(names[s]);
    free(names), free(bars), free(present), free(last), free(lat);
    return 0;
}

/* 3. Configuration reload: a change alternates between two files (vol-target and fixed
 * sizing, other limits) N times. Judging happens between input messages; installing is
 * what the timestamp that applies it pays. */
static int bench_reload(const char *dir, size_t S, size_t N) {
    static const char *const text[2] = {
        "universe: u.h5\nstate_dir: st\nmodel: m.qam\n"
        "rules: {sizing: {method: vol_target, target_vol: 0.1, vol_window: 20}, capital: 1000000}\n"
        "risk: {window: 500, every: 12, limits: [{name: gross, metric: gross_exposure, max: 2, warn: 0.3},\n"
        "  {name: var99, metric: var, level: 0.99, max: 0.05}, {name: dd, metric: drawdown, max: 0.2}]}\n",
        "universe: u.h5\nstate_dir: st\nmodel: m.qam\nthreshold: 0.001\nallocation: 0.05\n"
        "rules: {sizing: {method: fixed, fraction: 0.5, vol_window: 20}, capital: 1000000}\n"
        "risk: {window: 500, every: 6, limits: [{name: gross, metric: gross_exposure, max: 1.5, warn: 0.9},\n"
        "  {name: var99, metric: var, level: 0.99, max: 0.04}, {name: dd, metric: drawdown, max: 0.1}], halt: [dd]}\n"};
    qa_model model;
    if (demo_model(&model) != QA_OK) return fprintf(stderr, "model: %s\n", qa_err_msg()), 1;
    char **names = calloc(S, sizeof *names);
    for (size_t s = 0; s < S; s++) names[s] = malloc(16), snprintf(names[s], 16, "S%zu", s);
    qa_reload_cfg *cur = NULL;
    if (qa_reload_from_text("a.yaml", text[0], NULL, &cur) != QA_OK) return fprintf(stderr, "%s\n", qa_err_msg()), 1;
    qa_rules_resolve_bars_per_year(&cur->cfg.rules, 19656);
    qa_engine_cfg ec = {(const char *const *)names, S, &model, "bench", 1, NULL, NULL, 0, cur->cfg.rules, 0, 0, "bench"};
    qa_engine_t *e = NULL;
    qa_riskmon_t *risk = NULL;
    qa_riskmon_cfg rc = {S, 1e6, 500, 12, 0.99, 3, &cur->cfg.limits, NULL, 0};
    if (qa_engine_create(&ec, &e) != QA_OK || qa_riskmon_create(&rc, (const char *const *)names, &risk) != QA_OK)
        return fprintf(stderr, "engine: %s\n", qa_err_msg()), 1;
    /* The service records the applied change in risk.db at that timestamp: timed with it. */
    char state[600];
    snprintf(state, sizeof state, "%s/state_reload", dir);
    qa_riskdb_t *db = NULL;
    qa_riskdb_config row = {0};
    snprintf(row.kind, sizeof row.kind, "reload");
    snprintf(row.status, sizeof row.status, "pending");
    row.at = row.not_before = row.applied_time = INT64_MIN;
    if (qa_riskdb_open(state, &db) != QA_OK || qa_riskdb_config_add(db, &row) != QA_OK)
        return fprintf(stderr, "risk.db: %s\n", qa_err_msg()), 1;
    double *judge = malloc(N * sizeof *judge), *install = malloc(N * sizeof *install);
    int bad = 0;
    for (size_t i = 0; i < N && !bad; i++) {
        char changes[1024], later[256], digest[65];
        uint64_t t0 = qa_time_ns();
        qa_reload_cfg *next = NULL;
        bad |= qa_reload_from_text("b.yaml", text[(i + 1) % 2], NULL, &next) != QA_OK;
        if (!bad) {
            qa_rules_resolve_bars_per_year(&next->cfg.rules, 19656);
            bad |= qa_rules_validate(&next->cfg.rules) != QA_OK ||
                   qa_reload_compare(&cur->cfg, &next->cfg, changes, sizeof changes, later, sizeof later) != QA_OK ||
                   qa_reload_digest(&next->cfg, digest) != QA_OK || qa_engine_rules_check(e, &next->cfg.rules) != QA_OK;
        }
        judge[i] = qa_time_since(t0);
        if (bad) break;
        uint64_t t1 = qa_time_ns();
        const qa_live_cfg *c = &next->cfg;
        qa_riskmon_cfg nrc = {S, 1e6, 500, (long)c->risk_every, c->risk_level, (long)c->risk_recover, &c->limits,
                              (const char *const *)c->risk_halt.items, c->risk_halt.n};
        row.applied_time = (int64_t)i;
        bad |= qa_engine_set_rules(e, &c->rules, c->threshold, c->allocation) != QA_OK ||
               qa_riskmon_reconfigure(risk, &nrc) != QA_OK || qa_riskdb_config_update(db, &row) != QA_OK;
        install[i] = qa_time_since(t1);
        qa_reload_free(cur);
        cur = next;
    }
    if (bad) return fprintf(stderr, "reload: %s\n", qa_err_msg()), 1;
    double jsum = 0;
    for (size_t i = 0; i < N; i++) jsum += judge[i];
    const double j50 = qa_bench_quantile(judge, N, 0.5), j99 = qa_bench_quantile(judge, N, 0.99);
    const double i50 = qa_bench_quantile(install, N, 0.5), i99 = qa_bench_quantile(install, N, 0.99);
    printf("reload S=%zu, %zu changes: judged (parse, bind, validate, compare, digest) p50 %.1f us p99 %.1f us, %.0f "
           "changes/s; installed at a timestamp (rules, limits, the risk.db row) p50 %.1f us p99 %.1f us\n",
           S, N, j50 * 1e6, j99 * 1e6, (double)N / jsum, i50 * 1e6, i99 * 1e6);
    printf("JSON {\"bench\":\"live_reload\",\"backend\":\"cpu-1t\",\"size\":\"S=%zu,N=%zu\",\"unit\":\"changes\","
           "\"items_per_s\":%.6g,\"judge_p50_us\":%.3f,\"judge_p99_us\":%.3f,\"install_p50_us\":%.4f,"
           "\"install_p99_us\":%.4f,\"peak_rss_mb\":%.1f}\n",
           S, N, (double)N / jsum, j50 * 1e6, j99 * 1e6, i50 * 1e6, i99 * 1e6, (double)qa_peak_rss_bytes() / 1048576.0);
    qa_reload_free(cur);
    qa_riskdb_close(db);
    qa_engine_free(e);
    qa_riskmon_free(risk);
    qa_model_free(&model);
    for (size_t s = 0; s < S; s++) free(names[s]);
    free(names), free(judge), free(install);
    return 0;
}

/* A synthetic market file of S symbols x T 5-minute bars. */
static qa_status write_file(const char *path, size_t S, size_t T) {
    qa_store_meta meta;
    qa_bench_meta_5min(&meta);
    char **names = calloc(S, sizeof *names);
    int64_t *time = malloc(T * sizeof *time);
    double *panel = malloc(S * T * 5 * sizeof *panel), *last = malloc(S * sizeof *last);
    for (size_t s = 0; s < S; s++) names[s] = malloc(16), snprintf(names[s], 16, "S%zu", s), last[s] = 100.0 + (double)s;
    for (size_t t = 0; t < T; t++) time[t] = 1769437800000000000LL + (int64_t)t * 300000000000LL;
    for (size_t s = 0; s < S; s++)
        for (size_t t = 0; t < T; t++) {
            qa_msg_bar b = synth_bar(s, t, &last[s]);
            const double f[5] = {b.open, b.high, b.low, b.close, b.volume};
            for (int k = 0; k < 5; k++) panel[(size_t)k * S * T + s * T + t] = f[k];
        }
    qa_store_t *st = NULL;
    qa_status rc = qa_store_create(path, NULL, &meta, S, (const char *const *)names, T, time, &st);
    for (int k = 0; k < 5 && rc == QA_OK; k++)
        rc = qa_store_write(st, qa_bar_field_path((qa_bar_field)k), 0, S, 0, T, panel + (size_t)k * S * T);
    if (rc == QA_OK) rc = qa_store_commit(st);
    else qa_store_close(st);
    for (size_t s = 0; s < S; s++) free(names[s]);
    free(names), free(time), free(panel), free(last);
    return rc;
}

typedef struct run_ctx {
    qa_live_cfg cfg;
    volatile sig_atomic_t stop;
    qa_live_report rep;
    qa_status st;
} run_ctx;

static void *run_service(void *p) {
    run_ctx *r = p;
    r->st = qa_live_run(&r->cfg, "/proc/self/exe", &r->stop, NULL, &r->rep);
    return NULL;
}

/* 2. Through the bus. */
static int bench_bus(const char *dir, size_t S, size_t T, const char *model_path) {
    char file[512], state[512];
    snprintf(file, sizeof file, "%s/market.h5", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    if (write_file(file, S, T) != QA_OK) return fprintf(stderr, "file: %s\n", qa_err_msg()), 1;
    qa_bus_cfg cfg;
    qa_bus_cfg_default(&cfg);
    qa_bus_mock_t *mock = NULL;
    if (qa_bus_mock_create(&cfg, 3, &mock) != QA_OK) return fprintf(stderr, "mock: %s\n", qa_err_msg()), 1;
    snprintf(cfg.bootstrap, sizeof cfg.bootstrap, "%s", qa_bus_mock_bootstrap(mock));

    qa_replay_opts ro = {file, 0.0, INT64_MIN, INT64_MAX, 0, 0, NULL, NULL};
    qa_replay_report rr;
    if (qa_replay_run(&cfg, &ro, &rr) != QA_OK) return fprintf(stderr, "replay: %s\n", qa_err_msg()), 1;
    printf("replay %zu symbols x %zu timestamps: %zu bars + %zu watermarks acknowledged in %.2f s: %.0f msg/s\n", S, T,
           rr.bars, rr.watermarks, rr.seconds, rr.msgs_per_s);
    printf("JSON {\"bench\":\"live_replay\",\"backend\":\"mock-3\",\"size\":\"S=%zu,T=%zu\",\"unit\":\"messages\","
           "\"items_per_s\":%.6g,\"peak_rss_mb\":%.1f}\n",
           S, T, rr.msgs_per_s, (double)qa_peak_rss_bytes() / 1048576.0);

    run_ctx r;
    memset(&r, 0, sizeof r);
    qa_live_cfg_init(&r.cfg);
    r.cfg.universe = file, r.cfg.state_dir = state, r.cfg.bootstrap = cfg.bootstrap, r.cfg.model = model_path;
    r.cfg.exit_idle = 1.0, r.cfg.checkpoint_every = 64;
    qa_live_run(&r.cfg, "/proc/self/exe", &r.stop, NULL, &r.rep);
    double busy = r.rep.seconds - r.cfg.exit_idle;
    printf("qa live over it: %lld bars, %lld timestamps, %lld signals, %lld checkpoints in %.2f s (less the %.0f s idle "
           "exit): %.0f bars/s, %.0f messages in/s\n",
           r.rep.bars, r.rep.timestamps, r.rep.produced[1], r.rep.checkpoints, busy, r.cfg.exit_idle,
           (double)r.rep.bars / busy, (double)r.rep.messages / busy);
    printf("JSON {\"bench\":\"live_service\",\"backend\":\"mock-3\",\"size\":\"S=%zu,T=%zu\",\"unit\":\"bars\","
           "\"items_per_s\":%.6g,\"messages_in_per_s\":%.6g,\"peak_rss_mb\":%.1f}\n",
           S, T, (double)r.rep.bars / busy, (double)r.rep.messages / busy, (double)qa_peak_rss_bytes() / 1048576.0);
    qa_bus_mock_free(mock);
    return 0;
}

/* End-to-end latency: a producer paces timestamps; the service runs in a thread; a
 * consumer of position.sizes stamps the arrival of each timestamp's last size. With
 * `orders` the execution stage runs too (in-process paper broker, immediate children,
 * orders.db fsync'd) and the latency is to the first child order of each timestamp that
 * has one, announced on `orders` (signal -> order through the bus). */
static int bench_e2e(const char *dir, size_t S, size_t T, const char *model_path, int orders) {
    char file[512], state[512];
    snprintf(file, sizeof file, "%s/e2e.h5", dir);
    snprintf(state, sizeof state, "%s/state_e2e%d", dir, orders);
    if (write_file(file, S, T) != QA_OK) return 1;
    qa_bus_cfg cfg;
    qa_bus_cfg_default(&cfg);
    snprintf(cfg.prefix, sizeof cfg.prefix, orders ? "e2o." : "e2e.");
    cfg.partitions = 6;
    qa_bus_mock_t *mock = NULL;
    if (qa_bus_mock_create(&cfg, getenv("QA_BENCH_BROKERS") ? atoi(getenv("QA_BENCH_BROKERS")) : 3, &mock) != QA_OK) return 1;
    snprintf(cfg.bootstrap, sizeof cfg.bootstrap, "%s", qa_bus_mock_bootstrap(mock));
    run_ctx r;
    memset(&r, 0, sizeof r);
    qa_live_cfg_init(&r.cfg);
    r.cfg.universe = file, r.cfg.state_dir = state, r.cfg.bootstrap = cfg.bootstrap, r.cfg.model = model_path;
    r.cfg.prefix = orders ? "e2o." : "e2e.", r.cfg.checkpoint_every = getenv("QA_BENCH_CKPT") ? atoll(getenv("QA_BENCH_CKPT")) : 64;
    if (orders) {
        qa_exec_cfg_default(&r.cfg.exec);
        r.cfg.exec.enabled = 1;
        r.cfg.exec.algo.kind = QA_ALGO_IMMEDIATE;
    }
    pthread_t th;
    pthread_create(&th, NULL, run_service, &r);
    qa_bus_consumer_t *c = NULL;
    qa_bus_producer_t *p = NULL;
    char tin[256], tout[256], tord[256];
    qa_bus_topic(&cfg, QA_TOPIC_MARKET, tin, sizeof tin);
    qa_bus_topic(&cfg, QA_TOPIC_SIZES, tout, sizeof tout);
    qa_bus_topic(&cfg, QA_TOPIC_ORDERS, tord, sizeof tord);
    int parts = 0, oparts = 0, rparts = 0;
    if (qa_bus_consumer_create(&cfg, NULL, &c) != QA_OK || qa_bus_producer_create(&cfg, &p) != QA_OK ||
        qa_bus_partitions(c, tin, 10000, &parts) != QA_OK || qa_bus_partitions(c, tout, 10000, &oparts) != QA_OK ||
        qa_bus_partitions(c, tord, 10000, &rparts) != QA_OK)
        return fprintf(stderr, "e2e: %s\n", qa_err_msg()), 1;
    const char *topics[2] = {tout, tord};
    const int counts[2] = {oparts, rparts};
    const int64_t *offs[2] = {NULL, NULL};
    if (qa_bus_assign_topics(c, orders ? 2 : 1, topics, counts, offs) != QA_OK) return fprintf(stderr, "e2e: %s\n", qa_err_msg()), 1;
    sleep(2); /* the service is up and reading */
    uint64_t *sent = calloc(T, sizeof *sent);
    size_t *got = calloc(T, sizeof *got);
    unsigned char *seen = calloc(T, 1); /* orders: the timestamp's first child order arrived */
    double *lat = calloc(T, sizeof *lat), *last = malloc(S * sizeof *last);
    for (size_t s = 0; s < S; s++) last[s] = 100.0 + (double)s;
    uint8_t buf[QA_MSG_MAX];
    size_t len, nlat = 0;
    uint64_t begin = qa_time_ns();
    /* 100 timestamps per second; with orders 10: a step that writes ahead to SQLite with an
     * fsync per timestamp (and a venue transaction per request) takes 5-25 ms for 50
     * symbols here, so 100/s would measure a growing backlog, not latency */
    const uint64_t gap = orders ? 100000000 : 10000000;
    const size_t warm = 30;        /* windows fill; the service's start-up backlog drains */
    size_t t = 0, want = S;        /* sizes per timestamp once windows fill: one per symbol */
    int warmed = 0;
    while ((orders ? !(t == T && qa_time_since(sent[T - 1]) > 2.0) : nlat < T - warm - 10) && qa_time_since(begin) < 90) {
        if (!warmed && t == warm) { /* timing starts once the warm-up timestamps came back */
            if (got[warm - 1] < want) {
                qa_bus_record rec;
                if (qa_bus_consume(c, 10, &rec) == 1) {
                    qa_msg m;
                    if (qa_msg_decode(rec.payload, rec.len, &m) == QA_OK && m.kind == QA_MSG_SIZE) {
                        size_t k = (size_t)((m.time - 1769437800000000000LL) / 300000000000LL);
                        if (k < T) got[k]++;
                    }
                    qa_bus_record_release(&rec);
                }
                continue;
            }
            warmed = 1;
            begin = qa_time_ns() - warm * gap;
        }
        if (t < T && (t < warm || qa_time_ns() >= begin + t * gap)) {
            qa_msg m = {.kind = QA_MSG_BAR, .time = 1769437800000000000LL + (int64_t)t * 300000000000LL};
            for (size_t s = 0; s < S; s++) {
                snprintf(m.symbol, sizeof m.symbol, "S%zu", s);
                m.u.bar = synth_bar(s, t, &last[s]);
                qa_msg_encode(&m, buf, sizeof buf, &len);
                qa_bus_produce(p, tin, -1, m.symbol, strlen(m.symbol), buf, len);
            }
            qa_msg w = {.kind = QA_MSG_WATERMARK, .time = m.time};
            for (int q = 0; q < parts; q++) {
                w.u.wm.partition = (uint32_t)q, w.u.wm.partitions = (uint32_t)parts;
                qa_msg_encode(&w, buf, sizeof buf, &len);
                qa_bus_produce(p, tin, q, NULL, 0, buf, len);
            }
            qa_bus_poll(p);
            sent[t++] = qa_time_ns();
        }
        qa_bus_record rec;
        if (qa_bus_consume(c, 1, &rec) == 1) {
            qa_msg m;
            if (qa_msg_decode(rec.payload, rec.len, &m) == QA_OK && m.kind == QA_MSG_SIZE && !orders) {
                size_t k = (size_t)((m.time - 1769437800000000000LL) / 300000000000LL);
                if (k < T && ++got[k] == want && k >= warm) lat[nlat++] = (double)(qa_time_ns() - sent[k]) * 1e-9;
            } else if (orders && m.kind == QA_MSG_ORDER && strcmp(m.u.order.type, "parent") != 0) {
                size_t k = (size_t)((m.time - 1769437800000000000LL) / 300000000000LL);
                if (k < T && k >= warm && warmed && !seen[k]) seen[k] = 1, lat[nlat++] = (double)(qa_time_ns() - sent[k]) * 1e-9;
            }
            qa_bus_record_release(&rec);
        }
    }
    r.stop = 1;
    pthread_join(th, NULL);
    if (nlat) {
        double p50 = qa_bench_quantile(lat, nlat, 0.5), p99 = qa_bench_quantile(lat, nlat, 0.99);
        double p999 = qa_bench_quantile(lat, nlat, 0.999);
        const int rate = (int)(1000000000 / gap);
        printf("through the bus (%zu symbols, %d timestamps/s, %zu timestamps measured): watermark produced -> %s "
               "p50 %.2f ms p99 %.2f ms p99.9 %.2f ms\n",
               S, rate, nlat, orders ? "first child order on orders" : "last size received", p50 * 1e3, p99 * 1e3, p999 * 1e3);
        printf("JSON {\"bench\":\"%s\",\"backend\":\"mock-3\",\"size\":\"S=%zu,rate=%d/s\",\"unit\":\"timestamps\","
               "\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"p999_ms\":%.4f,\"samples\":%zu,\"peak_rss_mb\":%.1f}\n",
               orders ? "live_e2e_orders" : "live_e2e", S, rate, p50 * 1e3, p99 * 1e3, p999 * 1e3, nlat,
               (double)qa_peak_rss_bytes() / 1048576.0);
    } else {
        printf("through the bus: no complete timestamp measured (service: %s)\n", r.st ? qa_err_msg() : "ok");
    }
    qa_bus_consumer_free(c);
    qa_bus_producer_free(p);
    qa_bus_mock_free(mock);
    free(sent), free(got), free(lat), free(last), free(seen);
    return nlat ? 0 : 1;
}

int main(int argc, char **argv) {
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    qa_bench_header("live service");
    char dir[] = "/tmp/qa_bench_live_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char model_path[600];
    snprintf(model_path, sizeof model_path, "%s/demo.qam", dir);
    qa_model m;
    if (demo_model(&m) != QA_OK || qa_model_save(&m, model_path) != QA_OK) return fprintf(stderr, "%s\n", qa_err_msg()), 1;
    qa_model_free(&m);
    int rc = bench_engine(2, quick ? 20000 : 200000); /* two symbols: the smallest cross-section */
    rc |= bench_engine(50, quick ? 2000 : 20000);
    rc |= bench_reload(dir, 50, quick ? 200 : 2000);
    rc |= bench_bus(dir, 500, quick ? 40 : 400, model_path);
    rc |= bench_e2e(dir, 50, quick ? 300 : 1500, model_path, 0);
    rc |= bench_e2e(dir, 50, quick ? 100 : 400, model_path, 1);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return rc;
}
