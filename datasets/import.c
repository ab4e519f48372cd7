/* CSV/LOBSTER import into the HDF5 market store: two streaming passes, MPI-sharded. */
#include "datasets/import.h"

#include <dirent.h>    /* directory listing */
#include <glob.h>      /* glob patterns in `files` */
#include <math.h>      /* NAN, isfinite */
#include <stdio.h>     /* snprintf */
#include <stdlib.h>    /* malloc, qsort */
#include <string.h>    /* strcmp, strstr */
#include <sys/stat.h>  /* stat */

#include "common/fs.h"          /* atomic report file */
#include "common/mem.h"
#include "common/strlist.h"     /* file and symbol lists */
#include "common/log.h"         /* progress and summaries */
#include "common/progress.h"    /* files/s */
#include "common/timer.h"       /* elapsed time */
#include "datasets/csv.h"       /* streaming CSV */
#include "datasets/store.h"     /* the HDF5 market file */
#include "common/timeparse.h" /* timestamps */

/* ---- configuration ------------------------------------------------------------------- */

static const char *const layout_names[] = {"per_symbol", "long", "wide", "lobster", NULL};
_Static_assert(sizeof layout_names / sizeof layout_names[0] == QA_IMPORT_LAYOUT_COUNT + 1, "layouts");

#define F(key, type, member, lo, hi, doc) {key, type, offsetof(qa_import_cfg, member), lo, hi, NULL, NULL, 0, doc}
#define E(key, member, choices, doc) {key, QA_CFG_T_ENUM, offsetof(qa_import_cfg, member), 0, 0, choices, NULL, 0, doc}

static const qa_cfg_field columns_fields[] = {
    F("time", QA_CFG_T_STRING, col_time, 0, 0, "timestamp column"),
    F("open", QA_CFG_T_STRING, col_open, 0, 0, "open column, or none"),
    F("high", QA_CFG_T_STRING, col_high, 0, 0, "high column, or none"),
    F("low", QA_CFG_T_STRING, col_low, 0, 0, "low column, or none"),
    F("close", QA_CFG_T_STRING, col_close, 0, 0, "close column"),
    F("volume", QA_CFG_T_STRING, col_volume, 0, 0, "volume column, or none"),
    {NULL},
};

static const qa_cfg_field market_fields[] = {
    F("frequency", QA_CFG_T_STRING, frequency, 0, 0, "bar frequency label: 1d, 5min, 1min, 1s"),
    F("bar_seconds", QA_CFG_T_INT, bar_seconds, 1, 31622400, "nominal bar length in seconds"),
    F("bars_per_year", QA_CFG_T_DOUBLE, bars_per_year, 1, 1e9, "bars per year for annualisation"),
    F("calendar", QA_CFG_T_STRING, calendar, 0, 0, "trading calendar label"),
    F("currency", QA_CFG_T_STRING, currency, 0, 0, "quote currency"),
    F("adjustment", QA_CFG_T_STRING, adjustment, 0, 0, "price adjustment description"),
    F("source", QA_CFG_T_STRING, source, 0, 0, "provenance"),
    {NULL},
};

static const qa_cfg_field anomaly_fields[] = {
    E("policy", policy, qa_anom_policy_names, "keep, mask (default) or reject"),
    F("spike_log", QA_CFG_T_DOUBLE, spike_log, 0.01, 10, "spike threshold on |log return|"),
    F("jump_log", QA_CFG_T_DOUBLE, jump_log, 0.01, 10, "extreme jump threshold on |log return|"),
    F("shift_ratio", QA_CFG_T_DOUBLE, shift_ratio, 1.5, 1e6, "decimal-shift ratio to the bar's median price"),
    F("zero_volume", QA_CFG_T_BOOL, zero_volume, 0, 0, "report zero volume"),
    F("report", QA_CFG_T_STRING, report, 0, 0, "anomaly CSV path (default <output>.anomalies.csv)"),
    {NULL},
};

static const qa_cfg_field lobster_fields[] = {
    F("orderbook", QA_CFG_T_STRING, lobster_orderbook, 0, 0, "order-book file matching the message file"),
    F("date", QA_CFG_T_STRING, lobster_date, 0, 0, "session date YYYY-MM-DD (times are seconds after midnight)"),
    F("symbol", QA_CFG_T_STRING, lobster_symbol, 0, 0, "symbol name"),
    F("levels", QA_CFG_T_INT, lobster_levels, 1, 200, "order-book levels in the file"),
    {NULL},
};

const qa_cfg_field qa_import_schema[] = {
    F("output", QA_CFG_T_STRING, output, 0, 0, "output market file (.h5)"),
    E("layout", layout, layout_names, "per_symbol, long, wide or lobster"),
    F("files", QA_CFG_T_STRING_LIST, files, 0, 0, "input files, directories or glob patterns"),
    F("symbols", QA_CFG_T_STRING_LIST, symbols, 0, 0, "import only these symbols"),
    F("symbol_column", QA_CFG_T_STRING, symbol_column, 0, 0, "long layout: the symbol column"),
    F("symbol_split", QA_CFG_T_STRING, symbol_split, 0, 0, "per-symbol files: symbol = file name up to this text"),
    {"columns", QA_CFG_T_SECTION, 0, 0, 0, NULL, columns_fields, 0, "column mapping"},
    F("wide_field", QA_CFG_T_STRING, wide_field, 0, 0, "wide layout: the field the symbol columns hold (open..volume)"),
    E("time_format", time_format, qa_time_format_names, "iso, epoch_s, epoch_ms, epoch_us or epoch_ns"),
    F("timezone", QA_CFG_T_STRING, timezone, 0, 0, "zone of naive timestamps: UTC, +01:00 or an IANA name"),
    F("start", QA_CFG_T_STRING, start, 0, 0, "first date/time to import (inclusive)"),
    F("end", QA_CFG_T_STRING, end, 0, 0, "last date/time to import (inclusive)"),
    F("delimiter", QA_CFG_T_STRING, delimiter, 0, 0, "field delimiter (one character)"),
    F("keep_mb", QA_CFG_T_INT, keep_mb, 0, 1048576,
      "per-symbol files: MiB of parsed values a rank keeps from pass 1 so pass 2 need not read the file again (0: read twice)"),
    F("deflate_level", QA_CFG_T_INT, deflate_level, 0, 9,
      "DEFLATE level of the stored panels: 0 stores them uncompressed (about 3x the file, the fastest import), 4 default"),
    {"market", QA_CFG_T_SECTION, 0, 0, 0, NULL, market_fields, 0, "metadata stored in the file"},
    {"anomalies", QA_CFG_T_SECTION, 0, 0, 0, NULL, anomaly_fields, 0, "value anomaly policy"},
    {"lobster", QA_CFG_T_SECTION, 0, 0, 0, NULL, lobster_fields, 0, "LOBSTER layout settings"},
    {NULL},
};
#undef F
#undef E

void qa_import_cfg_default(qa_import_cfg *c) {
    memset(c, 0, sizeof *c);
    c->output = "market.h5";
    c->layout = QA_IMPORT_PER_SYMBOL;
    c->deflate_level = 4;
    c->symbol_column = "symbol";
    c->symbol_split = ".";
    c->col_time = "date";
    c->col_open = "open";
    c->col_high = "high";
    c->col_low = "low";
    c->col_close = "close";
    c->col_volume = "volume";
    c->time_format = QA_TIME_ISO;
    c->wide_field = "close";
    c->timezone = "UTC";
    c->delimiter = ",";
    c->frequency = "1d";
    c->bar_seconds = 86400;
    c->bars_per_year = 252;
    c->calendar = "NYSE";
    c->currency = "USD";
    c->adjustment = "none";
    c->source = "";
    c->policy = QA_ANOM_MASK;
    c->spike_log = 1.0;
    c->jump_log = 1.6;
    c->shift_ratio = 5.0;
    c->zero_volume = 1;
    c->lobster_levels = 10;
    c->lobster_symbol = "AAPL";
}

const char *const qa_import_preset_names[] = {"sp500-daily", "etf-daily", "cross-asset-wide", "stocks-5min",
                                              "crypto-1m", "lobster", NULL};

static const char *const preset_texts[] = {
    /* sp500-daily */
    "layout: per_symbol\n"
    "files: [us_equities_daily/stocks]\n"
    "keep_mb: 512\n" /* 3.46M rows: 166 MB of values kept, each file read once */
    "market: {frequency: 1d, bar_seconds: 86400, bars_per_year: 252, calendar: NYSE, currency: USD,\n"
    "         adjustment: 'split+dividend, back-adjusted (Stooq)',\n"
    "         source: 'Stooq daily via gregwu/stock_db (S&P 500 constituents 2025-07-04)'}\n",
    /* etf-daily */
    "layout: per_symbol\n"
    "files: [cross_asset_daily/etfs]\n"
    "market: {frequency: 1d, bar_seconds: 86400, bars_per_year: 252, calendar: NYSE, currency: USD,\n"
    "         adjustment: 'split+dividend, back-adjusted (Stooq)', source: 'Stooq daily via lecztomek/momentum-invest'}\n",
    /* cross-asset-wide */
    "layout: wide\n"
    "files: [cross_asset_daily/closes_wide.csv.gz]\n"
    "wide_field: close\n"
    "columns: {time: date}\n"
    "market: {frequency: 1d, bar_seconds: 86400, bars_per_year: 252, calendar: NYSE, currency: USD,\n"
    "         adjustment: 'split+dividend, back-adjusted (Stooq)', source: 'cross-asset close panel (21 ETFs)'}\n",
    /* stocks-5min */
    "layout: per_symbol\n"
    "files: [us_stocks_5min/bars]\n"
    "columns: {time: ts_utc}\n"
    "market: {frequency: 5min, bar_seconds: 300, bars_per_year: 19656, calendar: NYSE, currency: USD,\n"
    "         adjustment: 'dividend back-adjusted before ex-dates (Stooq)', source: 'Stooq 5-minute bars via UsernameTaker/StockPredictor'}\n",
    /* crypto-1m */
    "layout: per_symbol\n"
    "files: [crypto_1m_binance/klines]\n"
    "symbol_split: '-'\n"
    "columns: {time: open_time}\n"
    "time_format: epoch_ms\n"
    "market: {frequency: 1min, bar_seconds: 60, bars_per_year: 525600, calendar: 24x7, currency: USDT,\n"
    "         adjustment: none, source: 'Binance 1-minute klines via owlacar-dotcom/isda'}\n"
    "anomalies: {zero_volume: false}\n",
    /* lobster */
    "layout: lobster\n"
    "files: [lobster_aapl_sample/AAPL_2012-06-21_34200000_57600000_message_10.csv.gz]\n"
    "lobster: {orderbook: lobster_aapl_sample/AAPL_2012-06-21_34200000_57600000_orderbook_10.csv.gz,\n"
    "          date: 2012-06-21, symbol: AAPL, levels: 10}\n"
    "market: {frequency: 1s, bar_seconds: 1, bars_per_year: 5896800, calendar: NYSE, currency: USD,\n"
    "         adjustment: none, source: 'LOBSTER AAPL sample 2012-06-21 (first 999 events)'}\n"
    "anomalies: {zero_volume: false}\n",
};
_Static_assert(sizeof preset_texts / sizeof preset_texts[0] + 1 ==
                   sizeof qa_import_preset_names / sizeof qa_import_preset_names[0],
               "presets");

const char *qa_import_preset_text(const char *name) {
    for (int i = 0; qa_import_preset_names[i]; i++)
        if (strcmp(name, qa_import_preset_names[i]) == 0) return preset_texts[i];
    return NULL;
}

/* ---- inputs ----------------------------------------------------------------------------- */

static int is_data_file(const char *name) {
    static const char *const ext[] = {".csv", ".csv.gz", ".txt", ".txt.gz", ".gz"};
    size_t n = strlen(name);
    if (name[0] == '.') return 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcmp(name + n - e, ext[i]) == 0) return 1;
    }
    return 0;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static qa_status resolve_files(const qa_import_cfg *cfg, qa_strlist *out) {
    qa_status st = QA_OK;
    const char **entries = cfg->files.items;
    if (cfg->files.n == 0) return QA_FAIL(QA_ERR_CONFIG, "no input files (set 'files' or use --input)");
    for (size_t i = 0; i < cfg->files.n && st == QA_OK; i++) {
        const char *e = entries[i];
        if (qa_fs_is_dir(e)) {
            DIR *d = opendir(e);
            if (!d) return QA_FAIL(QA_ERR_IO, "%s: cannot list directory", e);
            qa_strlist tmp = {0};
            struct dirent *de;
            while (st == QA_OK && (de = readdir(d))) {
                if (!is_data_file(de->d_name)) continue;
                char p[QA_PATH_MAX];
                if ((st = qa_path_join(p, e, "%s", de->d_name)) == QA_OK) st = qa_strlist_add(&tmp, p);
            }
            closedir(d);
            qa_strlist_sort(&tmp);
            for (size_t k = 0; k < tmp.n && st == QA_OK; k++) st = qa_strlist_add(out, tmp.items[k]);
            qa_strlist_free(&tmp);
            if (st == QA_OK && tmp.n == 0 && out->n == 0) st = QA_FAIL(QA_ERR_IO, "%s: no .csv/.csv.gz files in directory", e);
        } else if (strpbrk(e, "*?[")) {
            glob_t g;
            int rc = glob(e, 0, NULL, &g);
            if (rc == GLOB_NOMATCH) return QA_FAIL(QA_ERR_IO, "%s: no file matches the pattern", e);
            if (rc != 0) return QA_FAIL(QA_ERR_IO, "%s: glob failed", e);
            for (size_t k = 0; k < g.gl_pathc && st == QA_OK; k++) st = qa_strlist_add(out, g.gl_pathv[k]);
            globfree(&g);
        } else {
            if (!qa_fs_exists(e)) return QA_FAIL(QA_ERR_IO, "%s: no such file", e);
            st = qa_strlist_add(out, e);
        }
    }
    return st;
}

static void symbol_from_path(const char *path, const char *split, char *out, size_t size) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *cut = (split && *split) ? strstr(base, split) : NULL;
    size_t n = cut ? (size_t)(cut - base) : strlen(base);
    if (n >= size) n = size - 1;
    memcpy(out, base, n);
    out[n] = '\0';
}

static int wanted(const qa_import_cfg *cfg, const char *sym) {
    if (cfg->symbols.n == 0) return 1;
    const char *const *w = cfg->symbols.items;
    for (size_t i = 0; i < cfg->symbols.n; i++)
        if (strcmp(w[i], sym) == 0) return 1;
    return 0;
}

/* ---- per-file parsing ---------------------------------------------------------------------- */

typedef struct colmap {
    int time, field[QA_BAR_FIELD_COUNT], symbol; /* column indices, -1 = absent */
    size_t ncols;
} colmap;

typedef struct parse_ctx {
    const qa_import_cfg *cfg;
    qa_tzone tz;
    int64_t t_lo, t_hi; /* inclusive range */
    char delim;
} parse_ctx;

static int is_none(const char *c) { return !c || !*c || strcmp(c, "none") == 0; }

/* Header field i, without the UTF-8 byte order mark some tools put before the first. */
static const char *header_field(qa_csv_t *csv, size_t i) {
    const char *h = qa_csv_field(csv, i);
    return i == 0 && memcmp(h, "\xEF\xBB\xBF", 3) == 0 ? h + 3 : h;
}

typedef struct named_col {
    const char *name;
    size_t i;
} named_col;
static int cmp_named_col(const void *a, const void *b) {
    int c = strcmp(((const named_col *)a)->name, ((const named_col *)b)->name);
    return c ? c : (((const named_col *)a)->i > ((const named_col *)b)->i) - (((const named_col *)a)->i < ((const named_col *)b)->i);
}

/* A column name twice would leave one of them unread (O(n log n): wide files have many). */
static qa_status unique_header(qa_csv_t *csv, size_t nf) {
    named_col *c = malloc((nf ? nf : 1) * sizeof *c);
    if (!c) return QA_FAIL(QA_ERR_NOMEM, "%s: header of %zu columns", qa_csv_path(csv), nf);
    for (size_t i = 0; i < nf; i++) c[i] = (named_col){header_field(csv, i), i};
    qsort(c, nf, sizeof *c, cmp_named_col);
    qa_status st = QA_OK;
    for (size_t k = 1; k < nf && st == QA_OK; k++)
        if (*c[k].name && strcmp(c[k - 1].name, c[k].name) == 0)
            st = QA_FAIL(QA_ERR_FORMAT, "%s:%ld: column '%s' appears twice (columns %zu and %zu)", qa_csv_path(csv),
                         qa_csv_line(csv), c[k].name, c[k - 1].i + 1, c[k].i + 1);
    free(c);
    return st;
}

static qa_status map_header(qa_csv_t *csv, size_t nf, const qa_import_cfg *cfg, colmap *m) {
    const char *want[QA_BAR_FIELD_COUNT] = {cfg->col_open, cfg->col_high, cfg->col_low, cfg->col_close, cfg->col_volume};
    m->time = m->symbol = -1;
    m->ncols = nf;
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) m->field[f] = -1;
    QA_TRY_RET(unique_header(csv, nf));
    for (size_t i = 0; i < nf; i++) {
        const char *h = header_field(csv, i);
        if (strcmp(h, cfg->col_time) == 0) m->time = (int)i;
        if (cfg->layout == QA_IMPORT_LONG && strcmp(h, cfg->symbol_column) == 0) m->symbol = (int)i;
        for (int f = 0; f < QA_BAR_FIELD_COUNT; f++)
            if (!is_none(want[f]) && strcmp(h, want[f]) == 0) m->field[f] = (int)i;
    }
    char header[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < nf && used < sizeof header - 1; i++) {
        int w = snprintf(header + used, sizeof header - used, "%s%s", i ? "," : "", qa_csv_field(csv, i));
        if (w > 0) used += (size_t)w;
    }
    if (m->time < 0)
        return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: missing column '%s' (header: %s)", qa_csv_path(csv), qa_csv_line(csv),
                       cfg->col_time, header);
    if (cfg->layout == QA_IMPORT_LONG && m->symbol < 0)
        return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: missing column '%s' (header: %s)", qa_csv_path(csv), qa_csv_line(csv),
                       cfg->symbol_column, header);
    if (cfg->layout != QA_IMPORT_WIDE) {
        for (int f = 0; f < QA_BAR_FIELD_COUNT; f++)
            if (!is_none(want[f]) && m->field[f] < 0)
                return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: missing column '%s' (header: %s)", qa_csv_path(csv),
                               qa_csv_line(csv), want[f], header);
        if (m->field[QA_BAR_CLOSE] < 0)
            return QA_FAIL(QA_ERR_FORMAT, "%s: a close column is required", qa_csv_path(csv));
    }
    return QA_OK;
}

static qa_status parse_time(const parse_ctx *pc, qa_csv_t *csv, const char *text, int64_t *ns) {
    if (!qa_time_parse(text, (qa_time_format)pc->cfg->time_format, &pc->tz, ns))
        return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: field '%s': '%s' is not a valid %s timestamp%s", qa_csv_path(csv),
                       qa_csv_line(csv), pc->cfg->col_time, text, qa_time_format_names[pc->cfg->time_format],
                       qa_time_parse_why());
    return QA_OK;
}

static qa_status parse_value(qa_csv_t *csv, const char *col, const char *text, int allow_empty, double *v) {
    if (!*text && allow_empty) {
        *v = NAN;
        return QA_OK;
    }
    if (!qa_csv_parse_double(text, v) || !isfinite(*v))
        return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: field '%s': '%s' is not a number", qa_csv_path(csv), qa_csv_line(csv),
                       col, text);
    return QA_OK;
}

static qa_status need_fields(qa_csv_t *csv, size_t nf, const colmap *m) {
    if (nf != m->ncols) /* fewer or more: a shifted row would put values under the wrong columns */
        return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: %zu fields, the header has %zu", qa_csv_path(csv), qa_csv_line(csv), nf,
                       m->ncols);
    return QA_OK;
}

/* The store's metadata from the import settings (every layout). */
static void meta_from_cfg(const qa_import_cfg *cfg, qa_store_meta *meta) {
    memset(meta, 0, sizeof *meta);
    snprintf(meta->frequency, sizeof meta->frequency, "%s", cfg->frequency);
    meta->bar_seconds = cfg->bar_seconds;
    meta->bars_per_year = cfg->bars_per_year;
    snprintf(meta->calendar, sizeof meta->calendar, "%s", cfg->calendar);
    snprintf(meta->currency, sizeof meta->currency, "%s", cfg->currency);
    snprintf(meta->adjustment, sizeof meta->adjustment, "%s", cfg->adjustment);
    snprintf(meta->source, sizeof meta->source, "%s", cfg->source);
    meta->deflate_level = (int)cfg->deflate_level;
}

/* One per-symbol file as read by pass 1: its in-range rows, and their values when the
 * importer keeps them (then pass 2 does not read the file again). */
typedef struct file_rows {
    int64_t *t; /* n in-range timestamps, strictly increasing */
    double *v;  /* n x QA_BAR_FIELD_COUNT values, row-major, NaN for absent columns; NULL when not kept */
    size_t n;
} file_rows;

static void file_rows_free(file_rows *fr) {
    free(fr->t);
    free(fr->v);
    memset(fr, 0, sizeof *fr);
}

/* Reads a per-symbol file once: checks the header, field counts and timestamp order
 * (strictly increasing) and collects the in-range timestamps; with `keep`, also parses
 * the in-range values. A value that is not a number does not stop the read: it was
 * found by pass 2 before, after every file had passed the structural checks, so it is
 * returned with *deferred = 1 only when this file has no structural error, and the
 * caller reports it only when no file has one. On any error *out is left empty.
 * Caller frees *out with file_rows_free. */
static qa_status read_rows(const parse_ctx *pc, const char *path, int keep, file_rows *out,
                           unsigned long long *bytes, int *deferred) {
    qa_csv_t *csv = NULL;
    size_t nf, cap = 4096, cnt = 0;
    int64_t *t = malloc(cap * sizeof *t), prev = INT64_MIN;
    double *v = keep ? malloc(cap * QA_BAR_FIELD_COUNT * sizeof *v) : NULL;
    char prev_text[64] = "", num_err[1024] = "";
    qa_status num_st = QA_OK;
    const char *names[QA_BAR_FIELD_COUNT] = {pc->cfg->col_open, pc->cfg->col_high, pc->cfg->col_low,
                                             pc->cfg->col_close, pc->cfg->col_volume};
    colmap m;
    *deferred = 0;
    qa_status st = qa_csv_open(path, pc->delim, &csv);
    if ((!t || (keep && !v)) && st == QA_OK) st = QA_FAIL(QA_ERR_NOMEM, "times");
    if (st != QA_OK) goto done;
    st = qa_csv_next(csv, &nf);
    if (st == QA_ERR_NOT_FOUND) {
        st = QA_FAIL(QA_ERR_FORMAT, "%s: empty file (no header line)", path);
        goto done;
    }
    if (st != QA_OK || (st = map_header(csv, nf, pc->cfg, &m)) != QA_OK) goto done;
    long rows = 0;
    while ((st = qa_csv_next(csv, &nf)) == QA_OK) {
        rows++;
        if ((st = need_fields(csv, nf, &m)) != QA_OK) goto done;
        const char *txt = qa_csv_field(csv, (size_t)m.time);
        int64_t ns;
        if ((st = parse_time(pc, csv, txt, &ns)) != QA_OK) goto done;
        if (ns <= prev) {
            st = QA_FAIL(QA_ERR_FORMAT, "%s:%ld: field '%s': timestamp '%s' is %s the previous row's '%s'", path,
                        qa_csv_line(csv), pc->cfg->col_time, txt, ns == prev ? "a duplicate of" : "earlier than",
                        prev_text);
            goto done;
        }
        prev = ns;
        /* What snprintf(prev_text, 64, "%s", txt) wrote, without its cost on every row. */
        size_t tl = strlen(txt);
        if (tl > sizeof prev_text - 1) tl = sizeof prev_text - 1;
        memcpy(prev_text, txt, tl);
        prev_text[tl] = '\0';
        if (ns < pc->t_lo || ns > pc->t_hi) continue;
        if (cnt == cap) {
            cap *= 2;
            int64_t *nt = realloc(t, cap * sizeof *nt);
            if (nt) t = nt;
            double *nv = keep ? realloc(v, cap * QA_BAR_FIELD_COUNT * sizeof *nv) : NULL;
            if (nv) v = nv;
            if (!nt || (keep && !nv)) {
                st = QA_FAIL(QA_ERR_NOMEM, "times");
                goto done;
            }
        }
        t[cnt] = ns;
        if (keep && num_st == QA_OK) {
            double *row = v + cnt * QA_BAR_FIELD_COUNT;
            for (int f = 0; f < QA_BAR_FIELD_COUNT && num_st == QA_OK; f++) {
                row[f] = NAN;
                if (m.field[f] >= 0 &&
                    (num_st = parse_value(csv, names[f], qa_csv_field(csv, (size_t)m.field[f]), 0, &row[f])) != QA_OK)
                    snprintf(num_err, sizeof num_err, "%s", qa_err_msg());
            }
        }
        cnt++;
    }
    if (st != QA_ERR_NOT_FOUND) goto done;
    st = QA_OK;
    if (rows == 0) st = QA_FAIL(QA_ERR_FORMAT, "%s: no data rows after the header", path);
    else if (num_st != QA_OK) {
        st = QA_FAIL(num_st, "%s", num_err);
        *deferred = 1;
    }
done:
    if (csv) *bytes += qa_csv_bytes(csv);
    qa_csv_close(csv);
    if (st != QA_OK) {
        QA_FREE_ALL(t, v);
        return st;
    }
    if (cnt > 0 && cnt < cap) { /* kept until pass 2: give back the doubling's slack */
        int64_t *nt = realloc(t, cnt * sizeof *nt);
        if (nt) t = nt;
        double *nv = v ? realloc(v, cnt * QA_BAR_FIELD_COUNT * sizeof *nv) : NULL;
        if (nv) v = nv;
    }
    *out = (file_rows){t, v, cnt};
    return QA_OK;
}

/* Pass 2 for a per-symbol file: its kept values onto the grid (rows of length T, preset
 * NaN). The grid is the union of every file's pass-1 times, so a miss means a file read
 * twice changed in between. */
static qa_status scatter_rows(const char *path, const file_rows *fr, const int64_t *grid, size_t T,
                              double *rows[QA_BAR_FIELD_COUNT]) {
    size_t g = 0;
    for (size_t i = 0; i < fr->n; i++) {
        while (g < T && grid[g] < fr->t[i]) g++;
        if (g == T || grid[g] != fr->t[i])
            return QA_FAIL(QA_ERR_STATE, "%s: row %zu in range: timestamp missing from the grid (file changed between passes?)",
                           path, i + 1);
        const double *v = fr->v + i * QA_BAR_FIELD_COUNT;
        for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) rows[f][g] = v[f];
    }
    return QA_OK;
}

/* ---- grid ---------------------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts and removes duplicates in place; returns the new length. */
static size_t sort_unique(int64_t *v, size_t n) {
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, cmp_i64);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[k - 1]) v[k++] = v[i];
    return k;
}

/* Union of sorted runs: v holds nruns strictly increasing runs back to back, len[] their
 * lengths (overwritten). Merges them pairwise, dropping duplicates: O(n log nruns) with
 * no comparison callback, where sort_unique is O(n log n) through qsort's. The union is
 * left in v, its length in *n_out. */
static qa_status union_runs(int64_t *v, size_t *len, size_t nruns, size_t *n_out) {
    size_t n = 0;
    for (size_t r = 0; r < nruns; r++) n += len[r];
    int64_t *tmp = malloc((n ? n : 1) * sizeof *tmp), *src = v, *dst = tmp;
    if (!tmp) return QA_FAIL(QA_ERR_NOMEM, "grid of %zu times", n);
    while (nruns > 1) {
        size_t in = 0, out = 0, k = 0;
        for (size_t r = 0; r < nruns; r += 2) {
            const int64_t *a = src + in, *b = a + len[r];
            size_t na = len[r], nb = r + 1 < nruns ? len[r + 1] : 0, i = 0, j = 0, o = out;
            in += na + nb;
            while (i < na && j < nb) {
                if (a[i] < b[j]) dst[o++] = a[i++];
                else if (b[j] < a[i]) dst[o++] = b[j++];
                else dst[o++] = a[i++], j++;
            }
            while (i < na) dst[o++] = a[i++];
            while (j < nb) dst[o++] = b[j++];
            len[k++] = o - out;
            out = o;
        }
        nruns = k;
        int64_t *t = src;
        src = dst;
        dst = t;
    }
    *n_out = nruns ? len[0] : 0;
    if (src != v) memcpy(v, src, *n_out * sizeof *v);
    free(tmp);
    return QA_OK;
}

static qa_status range_bounds(const qa_import_cfg *cfg, const qa_tzone *tz, int64_t *lo, int64_t *hi) {
    *lo = INT64_MIN;
    *hi = INT64_MAX;
    if (cfg->start && *cfg->start && !qa_time_parse(cfg->start, QA_TIME_ISO, tz, lo))
        return QA_FAIL(QA_ERR_CONFIG, "start: '%s' is not an ISO date/time%s", cfg->start, qa_time_parse_why());
    if (cfg->end && *cfg->end) {
        if (!qa_time_parse(cfg->end, QA_TIME_ISO, tz, hi))
            return QA_FAIL(QA_ERR_CONFIG, "end: '%s' is not an ISO date/time%s", cfg->end, qa_time_parse_why());
        if (strlen(cfg->end) == 10) /* a date includes its whole day (up to the last time there is) */
            *hi = *hi > INT64_MAX - (86400LL * 1000000000LL - 1) ? INT64_MAX : *hi + 86400LL * 1000000000LL - 1;
    }
    if (*hi < *lo) return QA_FAIL(QA_ERR_CONFIG, "end '%s' is before start '%s'", cfg->end, cfg->start);
    return QA_OK;
}

/* ---- anomaly handling ---------------------------------------------------------------------- */

static void validate_opts(const qa_import_cfg *cfg, qa_validate_opts *o) {
    qa_validate_opts_default(o);
    o->spike_log = cfg->spike_log;
    o->jump_log = cfg->jump_log;
    o->shift_ratio = cfg->shift_ratio;
    o->zero_volume = cfg->zero_volume;
}

static qa_status write_report(const qa_import_cfg *cfg, const qa_anom_list *l, const char *const *symbols) {
    char path[QA_PATH_MAX];
    if (cfg->report && *cfg->report) snprintf(path, sizeof path, "%s", cfg->report);
    else snprintf(path, sizeof path, "%s.anomalies.csv", cfg->output);
    qa_atomic_file af;
    qa_status st = qa_atomic_open(&af, path);
    if (st != QA_OK) return st;
    st = qa_anom_write_csv(af.f, l, symbols);
    if (st == QA_OK) st = qa_atomic_commit(&af);
    else qa_atomic_abort(&af);
    if (st == QA_OK) qa_log_info("anomaly report: %s (%zu rows)", path, l->n);
    return st;
}

static void log_anomalies(const qa_anom_list *l, const char *const *symbols, qa_import_report *rep) {
    char date[40], why[256];
    for (size_t i = 0; i < l->n; i++) {
        const qa_anomaly *a = &l->items[i];
        rep->anomalies_by_kind[a->kind]++;
        if (i < 20)
            qa_log_warn("anomaly: %s %s %s: %s", symbols[a->symbol], qa_time_format_iso(a->time, date, sizeof date),
                        qa_bar_field_name((qa_bar_field)a->field), qa_anomaly_describe(a, why, sizeof why));
    }
    if (l->n > 20) qa_log_warn("... and %zu more anomalies (see the report)", l->n - 20);
    rep->anomalies = l->n;
}

/* Runs the checks on a block of symbols' rows and applies the policy. */
static qa_status check_block(const qa_import_cfg *cfg, size_t s0, size_t ns, const int64_t *grid, size_t T,
                             double *blk[QA_BAR_FIELD_COUNT], qa_anom_list *out) {
    qa_validate_opts o;
    validate_opts(cfg, &o);
    qa_status st = QA_OK;
    for (size_t i = 0; i < ns && st == QA_OK; i++) {
        size_t off = i * T;
        st = qa_validate_bars(&o, (int64_t)(s0 + i), grid, T, blk[0] + off, blk[1] + off, blk[2] + off, blk[3] + off,
                             blk[4] + off, cfg->policy == QA_ANOM_MASK, out);
    }
    return st;
}

/* ---- per-symbol layout ---------------------------------------------------------------------- */

typedef struct sym_file {
    char symbol[QA_STORE_SYMBOL_LEN];
    const char *path;
} sym_file;

static int cmp_symfile(const void *a, const void *b) {
    return strcmp(((const sym_file *)a)->symbol, ((const sym_file *)b)->symbol);
}

static int cmp_anomaly(const void *pa, const void *pb) {
    const qa_anomaly *a = pa, *b = pb;
    if (a->symbol != b->symbol) return a->symbol < b->symbol ? -1 : 1;
    if (a->t != b->t) return a->t < b->t ? -1 : 1;
    if (a->field != b->field) return a->field < b->field ? -1 : 1;
    return (a->kind > b->kind) - (a->kind < b->kind);
}

/* Gathers every rank's anomalies on rank 0. */
static qa_status gather_anomalies(const qa_comm_t *comm, qa_anom_list *mine, qa_anom_list *all) {
    if (qa_comm_size(comm) == 1) {
        *all = *mine;
        memset(mine, 0, sizeof *mine);
        return QA_OK;
    }
    void *buf = NULL;
    size_t *counts = NULL;
    qa_status st = qa_comm_gatherv(comm, mine->items, mine->n * sizeof(qa_anomaly), 0, &buf, &counts);
    if (st == QA_OK && qa_comm_rank(comm) == 0) {
        size_t total = 0;
        for (int r = 0; r < qa_comm_size(comm); r++) total += counts[r];
        st = qa_anom_list_extend(all, buf, total / sizeof(qa_anomaly));
    }
    free(buf);
    free(counts);
    return st;
}

static qa_status import_per_symbol(const qa_import_cfg *cfg, const parse_ctx *pc, const qa_strlist *files,
                                   const qa_comm_t *comm, qa_import_report *rep) {
    qa_status st = QA_OK;
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    sym_file *sf = calloc(files->n ? files->n : 1, sizeof *sf);
    size_t S = 0;
    int64_t *grid = NULL;
    size_t T = 0;
    qa_store_t *store = NULL;
    double *block = NULL;
    qa_anom_list anoms = {0}, all_anoms = {0};
    const char **symnames = NULL;
    char (*errs)[1024] = NULL;
    qa_status *fst = NULL;
    file_rows *fr = NULL;
    size_t nmine = 0;
    qa_progress_t *prog = NULL;
    if (!sf) return QA_FAIL(QA_ERR_NOMEM, "file table");

    for (size_t i = 0; i < files->n; i++) {
        symbol_from_path(files->items[i], cfg->symbol_split, sf[S].symbol, sizeof sf[S].symbol);
        if (!sf[S].symbol[0]) QA_TRY_FAIL(QA_ERR_CONFIG, "%s: cannot derive a symbol from the file name", files->items[i]);
        if (!wanted(cfg, sf[S].symbol)) continue;
        sf[S].path = files->items[i];
        S++;
    }
    if (S == 0) QA_TRY_FAIL(QA_ERR_CONFIG, "none of the requested symbols has a file");
    qsort(sf, S, sizeof *sf, cmp_symfile);
    for (size_t i = 1; i < S; i++)
        if (strcmp(sf[i].symbol, sf[i - 1].symbol) == 0)
            QA_TRY_FAIL(QA_ERR_CONFIG, "symbol '%s' comes from two files: %s and %s", sf[i].symbol, sf[i - 1].path,
                        sf[i].path);
    for (size_t i = 0; i < cfg->symbols.n; i++) {
        const char *w = ((const char **)cfg->symbols.items)[i];
        int found = 0;
        for (size_t k = 0; k < S; k++) found |= strcmp(sf[k].symbol, w) == 0;
        if (!found) QA_TRY_FAIL(QA_ERR_CONFIG, "symbol '%s' was requested but no input file provides it", w);
    }
    if (rank == 0) QA_TRY(qa_progress_create("import", 2 * S, "files", QA_PROGRESS_AUTO, NULL, &prog));

    /* Pass 1: this rank's files, in parallel threads, each read once; errors kept per
     * file. A rank reads the files of the symbol groups it writes in pass 2 (groups of G
     * symbols, the HDF5 chunk rows, round-robin over ranks), so the values it keeps are
     * the ones it writes: this rank's slot k is file (k / G * size + rank) * G + k % G. */
    const size_t G = 64;
    size_t ngroups = (S + G - 1) / G, rounds = (ngroups + (size_t)size - 1) / (size_t)size;
    for (size_t g = (size_t)rank; g < ngroups; g += (size_t)size) nmine += S - g * G < G ? S - g * G : G;
    fr = calloc(nmine ? nmine : 1, sizeof *fr);
    errs = calloc(nmine ? nmine : 1, sizeof *errs);
    fst = calloc(nmine ? nmine : 1, sizeof *fst);
    int *deferred = calloc(nmine ? nmine : 1, sizeof *deferred);
    unsigned long long *fbytes = calloc(nmine ? nmine : 1, sizeof *fbytes);
    if (!fr || !errs || !fst || !deferred || !fbytes) {
        QA_FREE_ALL(deferred, fbytes);
        QA_TRY_FAIL(QA_ERR_NOMEM, "pass 1 tables");
    }
    /* Values (48 bytes a row) are kept while this rank holds fewer than keep_mb MiB of
     * them; a file started past that is read again in pass 2. The check is before the
     * read, so the bound is keep_mb plus one file's rows per thread. keep_mb = 0 (the
     * default) keeps memory bounded by the pass-2 block, whatever the input's size. */
    const unsigned long long keep_max = (unsigned long long)cfg->keep_mb << 20;
    unsigned long long kept = 0;
    /* Wall time per phase, logged at debug level (QA_LOG_LEVEL=debug): where a profile
     * of the whole import starts. */
    uint64_t t_phase = qa_time_ns();
    double sec_read = 0, sec_grid = 0, sec_fill = 0, sec_check = 0, sec_write = 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (long long k = 0; k < (long long)nmine; k++) {
        size_t file = ((size_t)k / G * (size_t)size + (size_t)rank) * G + (size_t)k % G;
        unsigned long long kept_now;
#pragma omp atomic read
        kept_now = kept;
        fst[k] = read_rows(pc, sf[file].path, kept_now < keep_max, &fr[k], &fbytes[k], &deferred[k]);
        if (fst[k] != QA_OK) snprintf(errs[k], sizeof errs[k], "%s", qa_err_msg());
        if (fr[k].v) {
#pragma omp atomic update
            kept += fr[k].n * (sizeof(int64_t) + QA_BAR_FIELD_COUNT * sizeof(double));
        }
        qa_progress_add(prog, 1);
    }
    size_t total = 0;
    for (size_t k = 0; k < nmine; k++) {
        rep->bytes += fbytes[k];
        if (st == QA_OK && fst[k] != QA_OK && !deferred[k]) st = QA_FAIL(fst[k], "%s", errs[k]);
        total += fr[k].n;
    }
    /* A bad value only when no file has a structural error, as when pass 2 found it. */
    for (size_t k = 0; k < nmine && st == QA_OK; k++)
        if (fst[k] != QA_OK) st = QA_FAIL(fst[k], "%s", errs[k]);
    QA_FREE_ALL(deferred, fbytes);
    sec_read = qa_time_since(t_phase);
    t_phase = qa_time_ns();
    int64_t *local = st == QA_OK ? malloc((total ? total : 1) * sizeof *local) : NULL;
    if (st == QA_OK && !local) st = QA_FAIL(QA_ERR_NOMEM, "grid");
    size_t pos = 0, *runs = local ? malloc((nmine ? nmine : 1) * sizeof *runs) : NULL;
    if (local && !runs) st = QA_FAIL(QA_ERR_NOMEM, "grid");
    for (size_t k = 0; k < nmine && runs; k++) {
        memcpy(local + pos, fr[k].t, fr[k].n * sizeof *local);
        pos += runs[k] = fr[k].n;
        if (!fr[k].v) file_rows_free(&fr[k]); /* read again in pass 2 */
    }
    if (st == QA_OK) st = union_runs(local, runs, nmine, &total); /* each file's times increase */
    free(runs);
    st = qa_comm_agree(comm, st);
    if (st != QA_OK) {
        free(local);
        goto cleanup;
    }

    /* Union of every rank's grid on rank 0, then broadcast. */
    if (size > 1) {
        void *all = NULL;
        size_t *counts = NULL;
        st = qa_comm_gatherv(comm, local, total * sizeof *local, 0, &all, &counts);
        free(local);
        local = NULL;
        uint64_t nT = 0;
        if (st == QA_OK && rank == 0) { /* each rank's grid is sorted: merge the runs */
            size_t n = 0;
            for (int r = 0; r < size; r++) counts[r] /= sizeof(int64_t);
            st = union_runs(all, counts, (size_t)size, &n);
            nT = n;
        }
        free(counts);
        st = qa_comm_agree(comm, st);
        if (st == QA_OK) st = qa_comm_bcast(comm, &nT, sizeof nT, 0);
        if (st == QA_OK && rank != 0) {
            all = malloc(nT ? nT * sizeof(int64_t) : 1);
            if (!all) st = QA_FAIL(QA_ERR_NOMEM, "grid");
        }
        st = qa_comm_agree(comm, st);
        if (st == QA_OK) st = qa_comm_bcast(comm, all, nT * sizeof(int64_t), 0);
        if (st != QA_OK) {
            free(all);
            goto cleanup;
        }
        grid = all;
        T = (size_t)nT;
    } else {
        grid = local;
        T = total;
    }
    if (T == 0) QA_TRY_FAIL(QA_ERR_FORMAT, "no rows fall inside the requested date range");
    sec_grid = qa_time_since(t_phase);

    /* Create the store (collective). */
    qa_store_meta meta;
    meta_from_cfg(cfg, &meta);
    symnames = malloc(S * sizeof *symnames);
    if (!symnames) QA_TRY_FAIL(QA_ERR_NOMEM, "symbols");
    for (size_t i = 0; i < S; i++) symnames[i] = sf[i].symbol;
    QA_TRY(qa_store_create(cfg->output, comm, &meta, S, symnames, T, grid, &store));

    /* Pass 2: groups of symbols aligned with the HDF5 chunk rows, round-robin over ranks,
     * one collective write per field per round; kept values are scattered onto the grid,
     * the other files read again. */
    block = malloc(QA_BAR_FIELD_COUNT * G * T * sizeof *block);
    if (!block) QA_TRY_FAIL(QA_ERR_NOMEM, "a block of %zu symbols x %zu bars", G, T);
    for (size_t r = 0; r < rounds; r++) {
        size_t g = r * (size_t)size + (size_t)rank;
        size_t s0 = g * G, ns = g < ngroups ? (S - s0 < G ? S - s0 : G) : 0;
        if (g >= ngroups) s0 = 0;
        double *rows[QA_BAR_FIELD_COUNT];
        for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) rows[f] = block + (size_t)f * G * T;
        for (size_t i = 0; i < QA_BAR_FIELD_COUNT * G * T; i++) block[i] = NAN;
        unsigned long long rows_read = 0, bytes_read = 0;
        t_phase = qa_time_ns();
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : rows_read, bytes_read)
        for (long long i = 0; i < (long long)ns; i++) {
            size_t k = r * G + (size_t)i; /* this rank's slot of file s0 + i */
            const char *path = sf[s0 + (size_t)i].path;
            double *r5[QA_BAR_FIELD_COUNT];
            for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) r5[f] = rows[f] + (size_t)i * T;
            unsigned long long nb = 0;
            int dfr = 0;
            qa_status fs = fr[k].v ? QA_OK : read_rows(pc, path, 1, &fr[k], &nb, &dfr);
            if (fs == QA_OK) fs = scatter_rows(path, &fr[k], grid, T, r5);
            if (fs == QA_OK) rows_read += fr[k].n;
            else snprintf(errs[k], sizeof errs[k], "%s", qa_err_msg());
            fst[k] = fs;
            file_rows_free(&fr[k]);
            bytes_read += nb;
            qa_progress_add(prog, 1);
        }
        rep->rows += rows_read;
        rep->bytes += bytes_read;
        sec_fill += qa_time_since(t_phase);
        t_phase = qa_time_ns();
        for (size_t i = 0; i < ns && st == QA_OK; i++)
            if (fst[r * G + i] != QA_OK) st = QA_FAIL(fst[r * G + i], "%s", errs[r * G + i]);
        if (st == QA_OK) st = check_block(cfg, s0, ns, grid, T, rows, &anoms);
        st = qa_comm_agree(comm, st);
        if (st != QA_OK) goto cleanup;
        sec_check += qa_time_since(t_phase);
        t_phase = qa_time_ns();
        for (int f = 0; f < QA_BAR_FIELD_COUNT && st == QA_OK; f++)
            st = qa_store_write(store, qa_bar_field_path((qa_bar_field)f), s0, ns, 0, ns ? T : 0, rows[f]);
        st = qa_comm_agree(comm, st);
        if (st != QA_OK) goto cleanup;
        sec_write += qa_time_since(t_phase);
    }
    qa_progress_finish(prog);
    qa_log_debug("import phases: pass 1 (read, check, keep %.0f MB) %.3f s, grid %.3f s, pass 2 fill %.3f s, "
                 "anomaly checks %.3f s, HDF5 writes (shuffle + deflate %d) %.3f s",
                 (double)kept / 1e6, sec_read, sec_grid, sec_fill, sec_check, meta.deflate_level, sec_write);

    /* Anomalies: report on rank 0; the reject policy fails before the commit. */
    QA_TRY(gather_anomalies(comm, &anoms, &all_anoms));
    /* Same report for any rank count: order by symbol, time, field, kind. */
    if (rank == 0 && all_anoms.n > 1) qsort(all_anoms.items, all_anoms.n, sizeof *all_anoms.items, cmp_anomaly);
    uint64_t nanom = all_anoms.n;
    QA_TRY(qa_comm_bcast(comm, &nanom, sizeof nanom, 0));
    if (rank == 0 && all_anoms.n > 0) {
        log_anomalies(&all_anoms, symnames, rep);
        st = write_report(cfg, &all_anoms, symnames);
        if (st == QA_OK && cfg->policy == QA_ANOM_REJECT)
            st = QA_FAIL(QA_ERR_FORMAT, "%zu value anomalies and the policy is 'reject' (see the report)", all_anoms.n);
    }
    st = qa_comm_agree(comm, st);
    if (st != QA_OK) goto cleanup;
    QA_TRY(qa_store_attr_set_i64(store, "/", "anomalies", (int64_t)nanom));
    QA_TRY(qa_store_attr_set_str(store, "/", "anomaly_policy", qa_anom_policy_names[cfg->policy]));
    st = qa_store_commit(store);
    store = NULL;
    rep->files = S;
    rep->symbols = S;
    rep->times = T;
cleanup:
    qa_store_close(store);
    qa_progress_free(prog);
    qa_anom_list_free(&anoms);
    qa_anom_list_free(&all_anoms);
    for (size_t k = 0; fr && k < nmine; k++) file_rows_free(&fr[k]);
    QA_FREE_ALL(block, grid, symnames, errs, fst, fr, sf);
    return st;
}

/* ---- long and wide tables (one file, read by rank 0) ---------------------------------------- */

static qa_status grid_index(const int64_t *grid, size_t T, int64_t ns, size_t *out) {
    size_t lo = 0, hi = T;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (grid[mid] < ns) lo = mid + 1;
        else hi = mid;
    }
    if (lo == T || grid[lo] != ns) return QA_FAIL(QA_ERR_STATE, "timestamp not on the grid");
    *out = lo;
    return QA_OK;
}

/* Builds the store from a fully parsed S x T x 5 panel set (long/wide/LOBSTER inputs are
 * single files whose size the caller bounds by the time-block loop below). */
static qa_status finish_single(const qa_import_cfg *cfg, const qa_strlist *syms, const int64_t *grid, size_t T,
                               double *panel, double *alt_mid, double *alt_spread, qa_import_report *rep) {
    qa_status st = QA_OK;
    qa_store_t *store = NULL;
    qa_anom_list anoms = {0};
    size_t S = syms->n;
    double *rows[QA_BAR_FIELD_COUNT];
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) rows[f] = panel + (size_t)f * S * T;
    qa_store_meta meta;
    meta_from_cfg(cfg, &meta);
    QA_TRY(check_block(cfg, 0, S, grid, T, rows, &anoms));
    if (anoms.n > 0) {
        log_anomalies(&anoms, (const char *const *)syms->items, rep);
        QA_TRY(write_report(cfg, &anoms, (const char *const *)syms->items));
        if (cfg->policy == QA_ANOM_REJECT)
            QA_TRY_FAIL(QA_ERR_FORMAT, "%zu value anomalies and the policy is 'reject' (see the report)", anoms.n);
    }
    QA_TRY(qa_store_create(cfg->output, NULL, &meta, S, (const char *const *)syms->items, T, grid, &store));
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) QA_TRY(qa_store_write(store, qa_bar_field_path((qa_bar_field)f), 0, S, 0, T, rows[f]));
    if (alt_mid) {
        QA_TRY(qa_store_panel_create(store, "alt/mid"));
        QA_TRY(qa_store_write(store, "alt/mid", 0, S, 0, T, alt_mid));
        QA_TRY(qa_store_attr_set_str(store, "alt/mid", "description", "mid price (best bid + best ask)/2 at the end of the bar"));
        QA_TRY(qa_store_panel_create(store, "alt/spread"));
        QA_TRY(qa_store_write(store, "alt/spread", 0, S, 0, T, alt_spread));
        QA_TRY(qa_store_attr_set_str(store, "alt/spread", "description", "best ask - best bid at the end of the bar"));
    }
    QA_TRY(qa_store_attr_set_i64(store, "/", "anomalies", (int64_t)anoms.n));
    QA_TRY(qa_store_attr_set_str(store, "/", "anomaly_policy", qa_anom_policy_names[cfg->policy]));
    st = qa_store_commit(store);
    store = NULL;
    rep->symbols = S;
    rep->times = T;
    rep->files = 1;
cleanup:
    qa_store_close(store);
    qa_anom_list_free(&anoms);
    return st;
}

/* Long/wide tables: pass 1 finds symbols and the grid, pass 2 fills the panel. The panel
 * (S x T x 5 doubles) must fit in memory: these layouts are for moderate single files;
 * use per-symbol files for very large universes. */
static qa_status import_table(const qa_import_cfg *cfg, const parse_ctx *pc, const char *path, qa_import_report *rep) {
    qa_status st = QA_OK;
    qa_csv_t *csv = NULL;
    qa_strlist syms = {0};
    int64_t *times = NULL, *grid = NULL;
    double *panel = NULL;
    size_t nt = 0, cap = 0, T = 0, nf;
    colmap m;
    int wide = cfg->layout == QA_IMPORT_WIDE;
    size_t *wide_cols = NULL;
    long *col_sym = NULL; /* wide: the column of each sorted symbol (pass 2) */

    /* Pass 1 */
    QA_TRY(qa_csv_open(path, pc->delim, &csv));
    st = qa_csv_next(csv, &nf);
    if (st == QA_ERR_NOT_FOUND) QA_TRY_FAIL(QA_ERR_FORMAT, "%s: empty file (no header line)", path);
    if (st != QA_OK) goto cleanup;
    QA_TRY(map_header(csv, nf, cfg, &m));
    if (wide) {
        wide_cols = calloc(nf, sizeof *wide_cols);
        if (!wide_cols) QA_TRY_FAIL(QA_ERR_NOMEM, "columns");
        for (size_t i = 0; i < nf; i++) {
            if ((int)i == m.time) continue;
            const char *h = header_field(csv, i);
            if (!*h) QA_TRY_FAIL(QA_ERR_FORMAT, "%s:1: column %zu has an empty name", path, i + 1);
            if (!wanted(cfg, h)) continue;
            if (qa_strlist_find(&syms, h) >= 0) QA_TRY_FAIL(QA_ERR_FORMAT, "%s:1: column '%s' appears twice", path, h);
            QA_TRY(qa_strlist_add(&syms, h));
            wide_cols[syms.n - 1] = i;
        }
        if (syms.n == 0) QA_TRY_FAIL(QA_ERR_FORMAT, "%s:1: no symbol columns", path);
    }
    int64_t prev = INT64_MIN;
    char last_sym[QA_STORE_SYMBOL_LEN] = "";
    int sorted_by_symbol = 1, sorted_by_time = 1;
    long rows = 0;
    while ((st = qa_csv_next(csv, &nf)) == QA_OK) {
        rows++;
        QA_TRY(need_fields(csv, nf, &m));
        int64_t ns;
        QA_TRY(parse_time(pc, csv, qa_csv_field(csv, (size_t)m.time), &ns));
        if (wide) {
            if (ns <= prev)
                QA_TRY_FAIL(QA_ERR_FORMAT, "%s:%ld: field '%s': timestamp is %s the previous row's", path,
                            qa_csv_line(csv), cfg->col_time, ns == prev ? "a duplicate of" : "earlier than");
            prev = ns;
        } else {
            const char *sym = qa_csv_field(csv, (size_t)m.symbol);
            if (!*sym || strlen(sym) >= QA_STORE_SYMBOL_LEN)
                QA_TRY_FAIL(QA_ERR_FORMAT, "%s:%ld: field '%s': bad symbol '%s'", path, qa_csv_line(csv),
                            cfg->symbol_column, sym);
            int same = strcmp(sym, last_sym) == 0;
            if (same && ns <= prev) sorted_by_symbol = 0;
            if (!same && ns < prev) sorted_by_time = 0;
            if (same && ns == prev)
                QA_TRY_FAIL(QA_ERR_FORMAT, "%s:%ld: field '%s': duplicate timestamp for symbol '%s'", path,
                            qa_csv_line(csv), cfg->col_time, sym);
            if (!same && qa_strlist_find(&syms, sym) >= 0 && sorted_by_symbol && ns > prev) sorted_by_symbol = 0;
            if (!same && qa_strlist_find(&syms, sym) < 0) {
                if (wanted(cfg, sym)) QA_TRY(qa_strlist_add(&syms, sym));
            }
            snprintf(last_sym, sizeof last_sym, "%s", sym);
            prev = ns;
            if (!wanted(cfg, sym)) continue;
        }
        if (ns < pc->t_lo || ns > pc->t_hi) continue;
        if (nt == cap) {
            cap = cap ? 2 * cap : 4096;
            int64_t *n2 = realloc(times, cap * sizeof *n2);
            if (!n2) QA_TRY_FAIL(QA_ERR_NOMEM, "times");
            times = n2;
        }
        times[nt++] = ns;
    }
    if (st != QA_ERR_NOT_FOUND) goto cleanup; /* else the end of the file; st is set again below */
    if (rows == 0) QA_TRY_FAIL(QA_ERR_FORMAT, "%s: no data rows after the header", path);
    if (!wide && !sorted_by_symbol && !sorted_by_time)
        QA_TRY_FAIL(QA_ERR_FORMAT, "%s: rows must be ordered by symbol then time, or by time", path);
    if (syms.n == 0) QA_TRY_FAIL(QA_ERR_CONFIG, "%s: none of the requested symbols occurs", path);
    rep->bytes += qa_csv_bytes(csv);
    qa_csv_close(csv);
    csv = NULL;
    T = sort_unique(times, nt);
    grid = times;
    times = NULL;
    if (T == 0) QA_TRY_FAIL(QA_ERR_FORMAT, "no rows fall inside the requested date range");
    /* Keep symbols sorted by name; remember the mapping. */
    size_t S = syms.n;
    qa_strlist_sort(&syms);

    /* Pass 2 */
    panel = malloc(QA_BAR_FIELD_COUNT * S * T * sizeof *panel);
    if (!panel) QA_TRY_FAIL(QA_ERR_NOMEM, "%s: a %zu x %zu panel does not fit in memory; use per-symbol files", path, S, T);
    for (size_t i = 0; i < QA_BAR_FIELD_COUNT * S * T; i++) panel[i] = NAN;
    QA_TRY(qa_csv_open(path, pc->delim, &csv));
    QA_TRY(qa_csv_next(csv, &nf));
    const char *names[QA_BAR_FIELD_COUNT] = {cfg->col_open, cfg->col_high, cfg->col_low, cfg->col_close, cfg->col_volume};
    int wf = 3;
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++)
        if (cfg->wide_field && strcmp(cfg->wide_field, qa_bar_field_name((qa_bar_field)f)) == 0) wf = f;
    if (wide) {
        col_sym = malloc(S * sizeof *col_sym);
        if (!col_sym) QA_TRY_FAIL(QA_ERR_NOMEM, "columns");
        /* wide_cols was indexed by first-seen order; map sorted names back to columns. */
        for (size_t k = 0; k < S; k++) {
            const char *h = syms.items[k];
            col_sym[k] = -1;
            for (size_t i = 0; i < m.ncols; i++)
                if ((int)i != m.time && strcmp(header_field(csv, i), h) == 0) col_sym[k] = (long)i;
        }
    }
    while ((st = qa_csv_next(csv, &nf)) == QA_OK) {
        int64_t ns;
        QA_TRY(parse_time(pc, csv, qa_csv_field(csv, (size_t)m.time), &ns));
        if (ns < pc->t_lo || ns > pc->t_hi) continue;
        size_t t = 0;
        QA_TRY(grid_index(grid, T, ns, &t));
        if (wide) {
            for (size_t k = 0; k < S; k++) {
                double v;
                QA_TRY(parse_value(csv, syms.items[k], qa_csv_field(csv, (size_t)col_sym[k]), 1, &v));
                panel[(size_t)wf * S * T + k * T + t] = v;
            }
        } else {
            const char *sym = qa_csv_field(csv, (size_t)m.symbol);
            char *key = (char *)sym;
            char **hit = bsearch(&key, syms.items, S, sizeof *syms.items, cmp_cstr);
            if (!hit) continue;
            size_t k = (size_t)(hit - syms.items);
            for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) {
                if (m.field[f] < 0) continue;
                QA_TRY(parse_value(csv, names[f], qa_csv_field(csv, (size_t)m.field[f]), 0,
                                   &panel[(size_t)f * S * T + k * T + t]));
            }
        }
        rep->rows++;
    }
    if (st != QA_ERR_NOT_FOUND) goto cleanup; /* else the end of the file; finish_single sets st */
    rep->bytes += qa_csv_bytes(csv);
    qa_csv_close(csv);
    csv = NULL;
    st = finish_single(cfg, &syms, grid, T, panel, NULL, NULL, rep);
cleanup:
    qa_csv_close(csv);
    qa_strlist_free(&syms);
    QA_FREE_ALL(times, grid, panel, wide_cols, col_sym); /* col_sym leaked on pass-2 errors (fuzz_csv) */
    return st;
}

/* ---- LOBSTER ------------------------------------------------------------------------------------ */

/* Message file: time (st after midnight), type, order id, size, price (x10000), direction.
 * Bars of bar_seconds: OHLC from executions (types 4 and 5), volume = executed shares,
 * /alt/mid and /alt/spread from the order book after the bar's last message. */
qa_status qa_import_lobster_day(const char *date, const qa_tzone *tz, int64_t *t0) {
    int64_t day0;
    if (!qa_time_parse(date, QA_TIME_ISO, tz, &day0) || strlen(date) != 10)
        return QA_FAIL(QA_ERR_CONFIG, "lobster.date: '%s' is not a YYYY-MM-DD date", date);
    /* LOBSTER times are seconds after midnight New York time: local noon less 12 hours
     * (no tz database: the date's midnight in `tz`). */
    qa_tzone ny;
    int64_t offset_ns = 0;
    if (qa_tzone_parse("America/New_York", &ny) == QA_OK) {
        qa_tzone_activate(&ny);
        int64_t local_noon;
        char buf[32];
        snprintf(buf, sizeof buf, "%sT12:00:00", date);
        if (qa_time_parse(buf, QA_TIME_ISO, &ny, &local_noon)) offset_ns = local_noon - (day0 + 12LL * 3600 * 1000000000LL);
        qa_tzone_restore();
    }
    *t0 = day0 + offset_ns;
    return QA_OK;
}

static qa_status import_lobster(const qa_import_cfg *cfg, const parse_ctx *pc, const char *msg_path,
                                qa_import_report *rep) {
    qa_status st = QA_OK;
    qa_csv_t *mcsv = NULL, *bcsv = NULL;
    double *panel = NULL, *mid = NULL, *spread = NULL;
    int64_t *grid = NULL;
    qa_strlist syms = {0};
    if (!cfg->lobster_orderbook || !cfg->lobster_date)
        return QA_FAIL(QA_ERR_CONFIG, "lobster layout needs lobster.orderbook and lobster.date");
    int64_t day0; /* New York midnight of the session, UTC ns */
    QA_TRY_RET(qa_import_lobster_day(cfg->lobster_date, &pc->tz, &day0));
    const int64_t bar_ns = cfg->bar_seconds * 1000000000LL;
    size_t cap = 4096, n = 0;
    double *ts = malloc(cap * sizeof *ts), *px = malloc(cap * sizeof *px), *sz = malloc(cap * sizeof *sz);
    int *tp = malloc(cap * sizeof *tp);
    double *bid = malloc(cap * sizeof *bid), *ask = malloc(cap * sizeof *ask);
    if (!ts || !px || !sz || !tp || !bid || !ask) QA_TRY_FAIL(QA_ERR_NOMEM, "lobster");
    QA_TRY(qa_csv_open(msg_path, pc->delim, &mcsv));
    QA_TRY(qa_csv_open(cfg->lobster_orderbook, pc->delim, &bcsv));
    size_t nf, nb;
    double prev_t = -1;
    for (;;) {
        st = qa_csv_next(mcsv, &nf);
        qa_status sb = qa_csv_next(bcsv, &nb);
        if (st == QA_ERR_NOT_FOUND && sb == QA_ERR_NOT_FOUND) break;
        if (st != QA_OK && st != QA_ERR_NOT_FOUND) goto cleanup;
        if (sb != QA_OK && sb != QA_ERR_NOT_FOUND) {
            st = sb;
            goto cleanup;
        }
        if (st == QA_ERR_NOT_FOUND || sb == QA_ERR_NOT_FOUND)
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s and %s have different numbers of rows", msg_path, cfg->lobster_orderbook);
        if (nf < 6) QA_TRY_FAIL(QA_ERR_FORMAT, "%s:%ld: %zu fields, a LOBSTER message has 6", msg_path, qa_csv_line(mcsv), nf);
        if (nb < (size_t)(4 * cfg->lobster_levels))
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s:%ld: %zu fields, expected %lld", cfg->lobster_orderbook, qa_csv_line(bcsv), nb,
                        4 * cfg->lobster_levels);
        if (n == cap) {
            cap *= 2;
            double *a = realloc(ts, cap * sizeof *a);
            if (a) ts = a;
            double *b = realloc(px, cap * sizeof *b);
            if (b) px = b;
            double *c = realloc(sz, cap * sizeof *c);
            if (c) sz = c;
            int *d = realloc(tp, cap * sizeof *d);
            if (d) tp = d;
            double *e = realloc(bid, cap * sizeof *e);
            if (e) bid = e;
            double *f = realloc(ask, cap * sizeof *f);
            if (f) ask = f;
            if (!a || !b || !c || !d || !e || !f) QA_TRY_FAIL(QA_ERR_NOMEM, "lobster");
        }
        double t, type, size, price, askp, bidp;
        QA_TRY(parse_value(mcsv, "time", qa_csv_field(mcsv, 0), 0, &t));
        QA_TRY(parse_value(mcsv, "type", qa_csv_field(mcsv, 1), 0, &type));
        QA_TRY(parse_value(mcsv, "size", qa_csv_field(mcsv, 3), 0, &size));
        QA_TRY(parse_value(mcsv, "price", qa_csv_field(mcsv, 4), 0, &price));
        QA_TRY(parse_value(bcsv, "ask_price_1", qa_csv_field(bcsv, 0), 0, &askp));
        QA_TRY(parse_value(bcsv, "bid_price_1", qa_csv_field(bcsv, 2), 0, &bidp));
        /* LOBSTER times are seconds after midnight, event types 1..7 (its documentation):
         * anything else is not a LOBSTER file, and would overflow the conversions below. */
        if (!(t >= 0.0 && t <= 86400.0))
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s:%ld: field 'time': %.9g is not seconds after midnight (0 to 86400)",
                        msg_path, qa_csv_line(mcsv), t);
        if (!(type >= 1.0 && type <= 7.0 && type == (double)(int)type))
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s:%ld: field 'type': %.9g is not a LOBSTER event type (an integer 1 to 7)",
                        msg_path, qa_csv_line(mcsv), type);
        if (t < prev_t)
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s:%ld: field 'time': %.9f is earlier than the previous event", msg_path,
                        qa_csv_line(mcsv), t);
        prev_t = t;
        ts[n] = t;
        tp[n] = (int)type;
        sz[n] = size;
        px[n] = price / 10000.0;
        ask[n] = askp / 10000.0;
        bid[n] = bidp / 10000.0;
        n++;
    }
    /* both files ended together (st == QA_ERR_NOT_FOUND); st is set again below */
    if (n == 0) QA_TRY_FAIL(QA_ERR_FORMAT, "%s: no events", msg_path);
    rep->rows = n;
    rep->bytes += qa_csv_bytes(mcsv) + qa_csv_bytes(bcsv);
    int64_t first = day0 + (int64_t)(ts[0] * 1e9), last = day0 + (int64_t)(ts[n - 1] * 1e9);
    int64_t b0 = first - first % bar_ns, b1 = last - last % bar_ns;
    size_t T = (size_t)((b1 - b0) / bar_ns) + 1;
    grid = malloc(T * sizeof *grid);
    panel = malloc(QA_BAR_FIELD_COUNT * T * sizeof *panel);
    mid = malloc(T * sizeof *mid);
    spread = malloc(T * sizeof *spread);
    if (!grid || !panel || !mid || !spread) QA_TRY_FAIL(QA_ERR_NOMEM, "lobster bars");
    for (size_t t = 0; t < T; t++) {
        grid[t] = b0 + (int64_t)t * bar_ns;
        mid[t] = spread[t] = NAN;
    }
    for (size_t i = 0; i < QA_BAR_FIELD_COUNT * T; i++) panel[i] = NAN;
    double *O = panel, *H = panel + T, *L = panel + 2 * T, *C = panel + 3 * T, *V = panel + 4 * T;
    for (size_t i = 0; i < n; i++) {
        int64_t at = day0 + (int64_t)(ts[i] * 1e9);
        size_t t = (size_t)((at - b0) / bar_ns);
        mid[t] = 0.5 * (ask[i] + bid[i]);
        spread[t] = ask[i] - bid[i];
        if (tp[i] != 4 && tp[i] != 5) continue;
        if (isnan(O[t])) {
            O[t] = H[t] = L[t] = C[t] = px[i];
            V[t] = 0;
        }
        H[t] = fmax(H[t], px[i]);
        L[t] = fmin(L[t], px[i]);
        C[t] = px[i];
        V[t] += sz[i];
    }
    QA_TRY(qa_strlist_add(&syms, cfg->lobster_symbol));
    st = finish_single(cfg, &syms, grid, T, panel, mid, spread, rep);
cleanup:
    qa_csv_close(mcsv);
    qa_csv_close(bcsv);
    QA_FREE_ALL(ts, px, sz, tp, bid, ask, grid, panel, mid, spread);
    qa_strlist_free(&syms);
    return st;
}

/* ---- entry point -------------------------------------------------------------------------------- */

qa_status qa_import_run(const qa_import_cfg *cfg, const qa_comm_t *comm, qa_import_report *rep) {
    memset(rep, 0, sizeof *rep);
    uint64_t t0 = qa_time_ns();
    qa_status st = QA_OK;
    qa_strlist files = {0};
    parse_ctx pc = {.cfg = cfg};
    if (!cfg->output || !*cfg->output) return QA_FAIL(QA_ERR_CONFIG, "no output file (set 'output' or --out)");
    if (!cfg->delimiter || strlen(cfg->delimiter) != 1)
        return QA_FAIL(QA_ERR_CONFIG, "delimiter must be one character, got '%s'", cfg->delimiter ? cfg->delimiter : "");
    pc.delim = cfg->delimiter[0];
    int field_ok = 0;
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++)
        field_ok |= cfg->wide_field && strcmp(cfg->wide_field, qa_bar_field_name((qa_bar_field)f)) == 0;
    if (!field_ok)
        return QA_FAIL(QA_ERR_CONFIG, "wide_field: '%s' is not one of open, high, low, close, volume",
                       cfg->wide_field ? cfg->wide_field : "");
    if ((st = qa_tzone_parse(cfg->timezone, &pc.tz)) != QA_OK) return st;
    if ((st = range_bounds(cfg, &pc.tz, &pc.t_lo, &pc.t_hi)) != QA_OK) return st;
    if ((st = resolve_files(cfg, &files)) != QA_OK) return st;
    qa_tzone_activate(&pc.tz);
    int rank = qa_comm_rank(comm);
    if (cfg->layout == QA_IMPORT_PER_SYMBOL) {
        st = import_per_symbol(cfg, &pc, &files, comm, rep);
    } else {
        /* Single-file layouts are read by rank 0 into a serial file; others wait. */
        if (files.n != 1)
            st = QA_FAIL(QA_ERR_CONFIG, "the %s layout takes exactly one input file, got %zu", layout_names[cfg->layout],
                        files.n);
        else if (rank == 0)
            st = cfg->layout == QA_IMPORT_LOBSTER ? import_lobster(cfg, &pc, files.items[0], rep)
                                                 : import_table(cfg, &pc, files.items[0], rep);
        st = qa_comm_agree(comm, st);
    }
    qa_tzone_restore();
    qa_strlist_free(&files);
    rep->seconds = qa_time_since(t0);
    return st;
}
