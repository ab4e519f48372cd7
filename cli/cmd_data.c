/* qa data import|info|validate|generate: the market-data store from the command line. */
#include <math.h>    /* isnan, sqrt */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* free */
#include <string.h>  /* strcmp */

#include <jansson.h>  /* --json output */

#include "cli/args.h"             /* the option tables */
#include "cli/cli.h"             /* exit codes, dispatch */
#include "common/config.h"       /* config files and overrides */
#include "common/fs.h"           /* atomic report */
#include "common/log.h"          /* summaries */
#include "datasets/describe.h"   /* qa data info */
#include "datasets/import.h"     /* qa_import_run */
#include "datasets/store.h"      /* the market file */
#include "datasets/synth.h"      /* synthetic markets */
#include "common/timeparse.h"  /* dates in output */
#include "datasets/validate.h"   /* anomaly checks */
#include "kernels/backend.h"     /* --backend for stats */
#include "mpi/comm.h"            /* MPI context */

#define MAX_DOCS 4

/* ---- import ------------------------------------------------------------------------------ */

static void import_usage(FILE *out) {
    fprintf(out,
            "usage: qa data import [--preset NAME [--data-root DIR]] [--config FILE] [--input PATH]...\n"
            "                      [--out FILE] [--symbols A,B,...] [--start DATE] [--end DATE]\n"
            "                      [--policy keep|mask|reject] [--set key=value]...\n\n"
            "Imports vendor CSV files (plain or .gz) into an HDF5 market file (docs/data-format.md).\n"
            "Runs under mpirun too: per-symbol files are split over ranks and written collectively.\n\n"
            "  --preset NAME    built-in settings for the shipped data sets:\n"
            "                   sp500-daily, etf-daily, cross-asset-wide, stocks-5min, crypto-1m, lobster\n"
            "  --data-root DIR  where preset paths start (default $QA_DATA_ROOT or ../shared/datasets)\n"
            "  --config FILE    YAML import settings (see docs/data-format.md, \"Import\")\n"
            "  --input PATH     input file, directory or glob (repeatable; replaces the config's files)\n"
            "  --out FILE       output market file (default market.h5)\n"
            "  --symbols LIST   only these symbols (comma-separated)\n"
            "  --start, --end   date range, inclusive (YYYY-MM-DD or ISO date-time)\n"
            "  --policy P       value anomalies: keep (report only), mask (set to NaN; default), reject\n"
            "  --set key=value  override any config key (repeatable)\n");
}

/* Splits "A,B,C" into a list owned by `buf` (modified in place). */
static size_t split_list(char *buf, const char **items, size_t max) {
    size_t n = 0;
    for (char *tok = strtok(buf, ","); tok && n < max; tok = strtok(NULL, ",")) items[n++] = tok;
    return n;
}

static int cmd_import(int argc, char **argv) {
    const char *preset = NULL, *config = NULL, *out = NULL, *start = NULL, *end = NULL, *policy = NULL;
    const char *root = getenv("QA_DATA_ROOT") ? getenv("QA_DATA_ROOT") : "../shared/datasets";
    const char *symbols_arg = NULL;
    qa_cli_list inputs = {.n = 0}, sets = {.n = 0};
    const qa_cli_opt opts[] = {QA_OPT_STR("preset", &preset), QA_OPT_STR("data-root", &root),
                               QA_OPT_STR("config", &config), QA_OPT_LIST("input", &inputs),
                               QA_OPT_STR("out", &out),       QA_OPT_STR("symbols", &symbols_arg),
                               QA_OPT_STR("start", &start),   QA_OPT_STR("end", &end),
                               QA_OPT_CHOICE("policy", &policy, qa_anom_policy_names),
                               QA_OPT_LIST("set", &sets),     QA_OPT_END};
    int rc = qa_cli_parse("data import", argc, argv, opts, import_usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!preset && !config && inputs.n == 0)
        return qa_cli_usage_error("data import", "give --preset, --config or --input");
    if (preset && !qa_import_preset_text(preset))
        return qa_cli_usage_error("data import", "unknown preset '%s'", preset);

    rc = QA_EXIT_FAILURE;
    qa_status st = QA_OK;
    qa_cfg_t *docs[MAX_DOCS] = {0};
    size_t ndocs = 0;
    qa_comm_t *comm = NULL;
    char **resolved = NULL;
    size_t nresolved = 0;
    char symbuf[8192];
    const char *symbols[1024];
    qa_import_cfg cfg;
    qa_import_cfg_default(&cfg);

    if (preset) {
        const char *text = qa_import_preset_text(preset);
        char name[64];
        snprintf(name, sizeof name, "preset:%s", preset);
        QA_TRY(qa_cfg_parse(name, text, strlen(text), &docs[ndocs]));
        QA_TRY(qa_cfg_bind(docs[ndocs], qa_cfg_root(docs[ndocs]), qa_import_schema, &cfg, NULL));
        ndocs++;
        /* Preset paths are relative to the data root. */
        resolved = calloc(cfg.files.n, sizeof *resolved);
        if (!resolved) QA_TRY_FAIL(QA_ERR_NOMEM, "paths");
        for (size_t i = 0; i < cfg.files.n; i++) {
            resolved[i] = malloc(QA_PATH_MAX);
            if (!resolved[i]) QA_TRY_FAIL(QA_ERR_NOMEM, "paths");
            QA_TRY(qa_path_join(resolved[i], root, "%s", ((const char **)cfg.files.items)[i]));
            nresolved++;
        }
        cfg.files.items = resolved;
        if (cfg.lobster_orderbook) {
            static char ob[QA_PATH_MAX];
            QA_TRY(qa_path_join(ob, root, "%s", cfg.lobster_orderbook));
            cfg.lobster_orderbook = ob;
        }
    }
    if (config || sets.n) {
        QA_TRY(qa_cli_config(config, &sets, "--set", &docs[ndocs]));
        QA_TRY(qa_cfg_bind(docs[ndocs], qa_cfg_root(docs[ndocs]), qa_import_schema, &cfg, NULL));
        ndocs++;
    }
    if (inputs.n) {
        cfg.files.items = (void *)inputs.items;
        cfg.files.n = inputs.n;
    }
    if (out) cfg.output = out;
    if (start) cfg.start = start;
    if (end) cfg.end = end;
    if (symbols_arg) {
        snprintf(symbuf, sizeof symbuf, "%s", symbols_arg);
        cfg.symbols.items = (void *)symbols;
        cfg.symbols.n = split_list(symbuf, symbols, 1024);
    }
    for (int i = 0; policy && qa_anom_policy_names[i]; i++)
        if (strcmp(policy, qa_anom_policy_names[i]) == 0) cfg.policy = i;
    QA_TRY(qa_comm_create(&argc, &argv, &comm));
    qa_import_report rep;
    st = qa_import_run(&cfg, comm, &rep);
    if (st == QA_OK && qa_comm_rank(comm) == 0) {
        qa_log_info("imported %zu symbols x %zu timestamps (%llu rows, %.1f MB of CSV) into %s in %.2f s: %.0f rows/s",
                    rep.symbols, rep.times, rep.rows, (double)rep.bytes / 1e6, cfg.output, rep.seconds,
                    (double)rep.rows / (rep.seconds > 0 ? rep.seconds : 1));
        if (rep.anomalies)
            qa_log_info("%zu value anomalies (policy %s): %zu zero volume, %zu non-positive price, %zu OHLC, %zu decimal "
                        "shift, %zu spike, %zu jump",
                        rep.anomalies, qa_anom_policy_names[cfg.policy], rep.anomalies_by_kind[QA_ANOM_ZERO_VOLUME],
                        rep.anomalies_by_kind[QA_ANOM_NONPOS_PRICE], rep.anomalies_by_kind[QA_ANOM_OHLC],
                        rep.anomalies_by_kind[QA_ANOM_SHIFT], rep.anomalies_by_kind[QA_ANOM_SPIKE],
                        rep.anomalies_by_kind[QA_ANOM_JUMP]);
    }
    if (st == QA_OK) rc = QA_EXIT_OK;
cleanup:
    if (st != QA_OK) rc = qa_cli_fail("data import");
    for (size_t i = 0; i < nresolved; i++) free(resolved[i]);
    free(resolved);
    for (size_t i = 0; i < ndocs; i++) qa_cfg_free(docs[i]);
    qa_comm_free(comm);
    return rc;
}

/* ---- info ---------------------------------------------------------------------------------- */

static void info_usage(FILE *out) {
    fprintf(out,
            "usage: qa data info FILE [--json] [--stats] [--backend cpu|cuda|auto] [--top N]\n\n"
            "Describes a market file: metadata, shape, time range, coverage per field, alternative\n"
            "data and features with their lineage. --stats adds per-symbol log-return moments\n"
            "computed with the reduce kernel on the chosen backend.\n");
}

/* The description as text: metadata, coverage, datasets with lineage, the first `top`
 * symbols' return moments. */
static void print_info(const json_t *root, const qa_store_meta *m, const qa_moments *mom, qa_store_t *store,
                       const char *backend, int top) {
    printf("%s\n  %lld symbols x %lld timestamps, %s .. %s\n  frequency %s (%lld s bars, %.0f bars/year), calendar %s, "
           "currency %s\n  adjustment: %s\n  source: %s\n",
           json_string_value(json_object_get(root, "file")), (long long)json_integer_value(json_object_get(root, "symbols")),
           (long long)json_integer_value(json_object_get(root, "timestamps")),
           json_string_value(json_object_get(root, "first")), json_string_value(json_object_get(root, "last")),
           m->frequency, (long long)m->bar_seconds, m->bars_per_year, m->calendar, m->currency, m->adjustment, m->source);
    printf("coverage (share of non-NaN cells):");
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(root, "coverage"), key, v) printf(" %s %.1f%%", key, 100 * json_real_value(v));
    printf("\n");
    static const char *const groups[] = {"alt", "features"};
    for (int g = 0; g < 2; g++) {
        json_t *grp = json_object_get(root, groups[g]);
        printf("%s: %zu\n", groups[g], json_object_size(grp));
        json_object_foreach(grp, key, v) {
            printf("  %-24s", key);
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2) if (strcmp(k2, "input_hash") != 0 && strcmp(k2, "created") != 0)
                printf(" %s=%s", k2, json_string_value(v2));
            printf("\n");
        }
    }
    if (!mom) return;
    printf("log-return moments (backend %s), first %d symbols:\n  %-10s %8s %12s %10s %10s %10s\n", backend, top,
           "symbol", "returns", "mean", "ann.vol", "min", "max");
    for (size_t i = 0; i < qa_store_nsym(store) && (int)i < top; i++)
        printf("  %-10s %8lld %12.6f %9.1f%% %10.4f %10.4f\n", qa_store_symbol(store, i), (long long)mom[i].count,
               mom[i].mean, 100 * qa_moments_std(&mom[i]) * sqrt(m->bars_per_year), mom[i].min, mom[i].max);
}

static int cmd_info(int argc, char **argv) {
    int as_json = 0, stats = 0;
    long long top = 10;
    const char *backend = "cpu", *file = NULL;
    size_t nfile = 0;
    const qa_cli_opt opts[] = {QA_OPT_FLAG("json", &as_json), QA_OPT_FLAG("stats", &stats),
                               QA_OPT_CHOICE("backend", &backend, qa_backend_choices), QA_OPT_INT("top", &top, 0, 1e9),
                               QA_OPT_END};
    int rc = qa_cli_parse("data info", argc, argv, opts, info_usage, &file, 1, &nfile);
    if (rc != QA_CLI_RUN) return rc;
    if (nfile != 1) return qa_cli_usage_error("data info", "give exactly one market file");
    qa_status st = QA_OK;
    qa_store_t *store = NULL;
    qa_backend_t *be = NULL;
    qa_moments *mom = NULL;
    json_t *root = NULL;
    QA_TRY(qa_store_open(file, NULL, QA_STORE_READ, &store));
    QA_TRY(qa_describe_store(store, &root));
    json_object_set_new(root, "file", json_string(file));
    if (stats) {
        /* the demo's first real kernel run: the reduce kernel on the chosen backend */
        QA_TRY(qa_backend_create_named(backend, 0, &be));
        mom = malloc((qa_store_nsym(store) ? qa_store_nsym(store) : 1) * sizeof *mom);
        if (!mom) QA_TRY_FAIL(QA_ERR_NOMEM, "moments");
        QA_TRY(qa_describe_return_moments(store, be, mom));
        json_object_set_new(root, "return_stats", qa_describe_moments_json(store, mom));
        json_object_set_new(root, "stats_backend", json_string(qa_backend_name(qa_backend_kind_of(be))));
    }
    if (as_json) {
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text) puts(text);
        free(text);
    } else {
        print_info(root, qa_store_get_meta(store), mom, store, be ? qa_backend_name(qa_backend_kind_of(be)) : "", (int)top);
    }
cleanup:
    json_decref(root);
    free(mom);
    qa_backend_free(be);
    qa_store_close(store);
    if (st != QA_OK) return qa_cli_fail("data info");
    return QA_EXIT_OK;
}

/* ---- validate ------------------------------------------------------------------------------- */

static void validate_usage(FILE *out) {
    fprintf(out,
            "usage: qa data validate FILE [--report OUT.csv] [--strict] [--spike-log X] [--jump-log X]\n\n"
            "Checks a market file: structure (format, version, shapes, time order) and value\n"
            "anomalies (zero volume, OHLC inconsistencies, decimal shifts, non-positive prices,\n"
            "spikes and jumps), reported as symbol, date, field and why.\n"
            "Exit 0 when the file is sound (anomalies are reported but allowed unless --strict),\n"
            "1 when it is broken or --strict and anomalies were found.\n");
}

static int cmd_validate(int argc, char **argv) {
    const char *report = NULL, *file = NULL;
    int strict = 0;
    size_t nfile = 0;
    qa_validate_opts vo;
    qa_validate_opts_default(&vo);
    const qa_cli_opt opts[] = {QA_OPT_STR("report", &report), QA_OPT_FLAG("strict", &strict),
                               QA_OPT_NUM("spike-log", &vo.spike_log, 0.01, 10), QA_OPT_NUM("jump-log", &vo.jump_log, 0.01, 10),
                               QA_OPT_END};
    int rc = qa_cli_parse("data validate", argc, argv, opts, validate_usage, &file, 1, &nfile);
    if (rc != QA_CLI_RUN) return rc;
    if (nfile != 1) return qa_cli_usage_error("data validate", "give exactly one market file");
    qa_status st = QA_OK;
    qa_store_t *store = NULL;
    double *blk = NULL;
    qa_anom_list anoms = {0};
    const char **names = NULL;
    QA_TRY(qa_store_open(file, NULL, QA_STORE_READ, &store));
    size_t S = qa_store_nsym(store), T = qa_store_ntime(store);
    const size_t block = 64;
    blk = malloc(QA_BAR_FIELD_COUNT * block * T * sizeof *blk);
    names = malloc(S * sizeof *names);
    if (!blk || !names) QA_TRY_FAIL(QA_ERR_NOMEM, "buffers");
    for (size_t i = 0; i < S; i++) names[i] = qa_store_symbol(store, i);
    for (size_t s0 = 0; s0 < S; s0 += block) {
        size_t ns = S - s0 < block ? S - s0 : block;
        double *f[QA_BAR_FIELD_COUNT];
        for (int k = 0; k < QA_BAR_FIELD_COUNT; k++) {
            f[k] = blk + (size_t)k * block * T;
            QA_TRY(qa_store_read(store, qa_bar_field_path((qa_bar_field)k), s0, ns, 0, T, f[k]));
        }
        for (size_t i = 0; i < ns; i++)
            QA_TRY(qa_validate_bars(&vo, (int64_t)(s0 + i), qa_store_time(store), T, f[0] + i * T, f[1] + i * T,
                                    f[2] + i * T, f[3] + i * T, f[4] + i * T, 0, &anoms));
    }
    size_t by_kind[QA_ANOM_KIND_COUNT] = {0};
    char date[40], why[256];
    for (size_t i = 0; i < anoms.n; i++) {
        const qa_anomaly *a = &anoms.items[i];
        by_kind[a->kind]++;
        if (i < 50)
            printf("%s %s %s: %s\n", names[a->symbol], qa_time_format_iso(a->time, date, sizeof date),
                   qa_bar_field_name((qa_bar_field)a->field), qa_anomaly_describe(a, why, sizeof why));
    }
    if (anoms.n > 50) printf("... %zu more\n", anoms.n - 50);
    printf("%s: structure ok (%zu symbols x %zu timestamps); %zu value anomalies", file, S, T, anoms.n);
    for (int k = 0; k < QA_ANOM_KIND_COUNT; k++)
        if (by_kind[k]) printf(", %zu %s", by_kind[k], qa_anom_kind_name((qa_anom_kind)k));
    printf("\n");
    if (report) {
        qa_atomic_file af;
        QA_TRY(qa_atomic_open(&af, report));
        st = qa_anom_write_csv(af.f, &anoms, names);
        if (st == QA_OK) st = qa_atomic_commit(&af);
        else qa_atomic_abort(&af);
        if (st != QA_OK) goto cleanup;
    }
cleanup:
    free(blk);
    free(names);
    qa_store_close(store);
    size_t n = anoms.n;
    qa_anom_list_free(&anoms);
    if (st != QA_OK) return qa_cli_fail("data validate");
    return (strict && n > 0) ? QA_EXIT_FAILURE : QA_EXIT_OK;
}

/* ---- generate ----------------------------------------------------------------------------- */

static void generate_usage(FILE *out) {
    fprintf(out,
            "usage: qa data generate [--config FILE] [--out FILE] [--symbols N] [--bars N] [--seed N]\n"
            "                        [--bar-seconds S] [--set key=value]...\n\n"
            "Generates a synthetic market: S correlated assets (factor model), GBM with jumps and\n"
            "calm/stressed volatility regimes, daily or intraday OHLCV. Deterministic from the seed\n"
            "(Philox); identical for any number of MPI ranks (mpirun -np N qa data generate ...).\n"
            "Config keys: docs/data-format.md (\"Synthetic markets\").\n");
}

int qa_cmd_data_generate(int argc, char **argv) {
    const char *config = NULL, *out = NULL, *symbols = NULL, *bars = NULL, *seed = NULL, *bar_seconds = NULL;
    qa_cli_list sets = {.n = 0};
    const qa_cli_opt opts[] = {QA_OPT_STR("config", &config),   QA_OPT_STR("out", &out),
                               QA_OPT_STR("symbols", &symbols), QA_OPT_STR("bars", &bars),
                               QA_OPT_STR("seed", &seed),       QA_OPT_STR("bar-seconds", &bar_seconds),
                               QA_OPT_LIST("set", &sets),       QA_OPT_END};
    int rc = qa_cli_parse("data generate", argc, argv, opts, generate_usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    /* The flags are config keys given on the command line: they override the file and --set. */
    const struct {
        const char *key, *value;
    } flags[] = {{"output", out}, {"symbols", symbols}, {"bars", bars}, {"seed", seed}, {"bar_seconds", bar_seconds}};
    qa_status st = QA_OK;
    qa_cfg_t *doc = NULL;
    qa_comm_t *comm = NULL;
    qa_synth_cfg cfg;
    qa_synth_cfg_default(&cfg);
    QA_TRY(qa_cli_config(config, &sets, "(command line)", &doc));
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        char kv[QA_PATH_MAX + 32];
        if (!flags[i].value) continue;
        snprintf(kv, sizeof kv, "%s=%s", flags[i].key, flags[i].value);
        QA_TRY(qa_cfg_override(doc, kv));
    }
    QA_TRY(qa_cfg_bind(doc, qa_cfg_root(doc), qa_synth_schema, &cfg, NULL));
    QA_TRY(qa_comm_create(&argc, &argv, &comm));
    double secs = 0;
    QA_TRY(qa_synth_run(&cfg, comm, &secs));
    if (qa_comm_rank(comm) == 0)
        qa_log_info("generated %lld symbols x %lld bars into %s in %.2f s (%.3g bars/s on %d rank(s))", cfg.symbols,
                    cfg.bars, cfg.output, secs, (double)cfg.symbols * (double)cfg.bars / (secs > 0 ? secs : 1),
                    qa_comm_size(comm));
cleanup:
    qa_cfg_free(doc);
    qa_comm_free(comm);
    if (st != QA_OK) return qa_cli_fail("data generate");
    return QA_EXIT_OK;
}

int qa_cmd_data(int argc, char **argv) {
    static const qa_cli_command table[] = {
        {"import", "import vendor CSV / LOBSTER files into an HDF5 market file", cmd_import},
        {"generate", "generate a synthetic correlated market (factor model, jumps, regimes)", qa_cmd_data_generate},
        {"info", "describe a market file (shape, coverage, features, return stats)", cmd_info},
        {"validate", "check a market file's structure and value anomalies", cmd_validate},
        {NULL, NULL, NULL},
    };
    return qa_cli_dispatch("data", "Market data store: import, generate, describe and check HDF5 market files.", table,
                           argc, argv);
}
