/* `qa data import`: vendor CSV (gzipped or not) -> HDF5 market file.
 *
 * Layouts: one file per symbol, one long table (symbol column), one wide table (one
 * column per symbol for a single field), and LOBSTER message/order-book files (bars
 * aggregated from executions). Columns are mapped by name; timestamps are ISO 8601 or
 * epoch numbers with time zones; symbols with different calendars are aligned on the
 * union time grid (NaN where a symbol has no bar).
 *
 * Two passes: pass 1 reads every file, checks its structure and timestamps (to build the
 * grid) and, for per-symbol files, may keep the parsed values up to `keep_mb` MiB per
 * rank (default 0; the sp500-daily preset keeps 512); pass 2 puts the values on the grid
 * a block of symbols at a time, reading again the files whose values were not kept, so
 * memory stays bounded by the block (plus keep_mb), not the input. Under MPI, files are sharded over ranks and written with
 * collective I/O. Structural errors (missing columns, unparsable numbers, unordered or
 * duplicate timestamps, empty or truncated files) stop the import with file:line:field;
 * the output is written to a temporary file and only renamed into place on success.
 * Value anomalies are reported and handled by the configured policy (validate.h). */
#ifndef QA_DATASETS_IMPORT_H
#define QA_DATASETS_IMPORT_H

#include <stddef.h>  /* size_t */

#include "common/config.h"
#include "common/status.h"
#include "common/timeparse.h" /* qa_tzone */
#include "datasets/validate.h"
#include "mpi/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_import_layout {
    QA_IMPORT_PER_SYMBOL = 0,
    QA_IMPORT_LONG = 1,
    QA_IMPORT_WIDE = 2,
    QA_IMPORT_LOBSTER = 3,
    QA_IMPORT_LAYOUT_COUNT = 4
} qa_import_layout;

typedef struct qa_import_cfg {
    const char *output;
    int layout;                 /* qa_import_layout */
    qa_cfg_list files;          /* files, directories or glob patterns (strings) */
    qa_cfg_list symbols;        /* optional subset (strings) */
    const char *symbol_column;  /* long layout */
    const char *symbol_split;   /* per-symbol: the symbol is the file name up to this text */
    const char *col_time, *col_open, *col_high, *col_low, *col_close, *col_volume; /* "none" = absent */
    const char *wide_field;     /* wide layout: which bar field the columns hold */
    int time_format;            /* qa_time_format */
    const char *timezone;
    const char *start, *end;    /* optional date range, inclusive */
    const char *delimiter;
    long long keep_mb;          /* per-symbol: MiB of pass-1 values kept per rank (0 = read files twice) */
    long long deflate_level;    /* the store's panels: 0 (stored as is) .. 9; default 4 */
    /* market metadata */
    const char *frequency;
    long long bar_seconds;
    double bars_per_year;
    const char *calendar, *currency, *adjustment, *source;
    /* anomalies */
    int policy;                 /* qa_anom_policy */
    double spike_log, jump_log, shift_ratio;
    int zero_volume;
    const char *report;         /* anomaly CSV path; default <output>.anomalies.csv */
    /* LOBSTER */
    const char *lobster_orderbook;
    const char *lobster_date;
    const char *lobster_symbol;
    long long lobster_levels;
} qa_import_cfg;

extern const qa_cfg_field qa_import_schema[];

/* Defaults: per-symbol layout, standard column names date/open/high/low/close/volume,
 * ISO times in UTC, daily NYSE USD bars, mask policy. */
void qa_import_cfg_default(qa_import_cfg *c);
/* Names of the built-in presets (NULL-terminated) and their YAML text. */
extern const char *const qa_import_preset_names[];
const char *qa_import_preset_text(const char *name);

typedef struct qa_import_report {
    size_t files, symbols, times;
    unsigned long long rows;
    unsigned long long bytes;   /* uncompressed CSV bytes read, over every pass that read a file */
    size_t anomalies;
    size_t anomalies_by_kind[QA_ANOM_KIND_COUNT];
    double seconds;
} qa_import_report;

/* UTC ns of midnight in New York on `date` (YYYY-MM-DD): LOBSTER's times are seconds
 * after it. `tz` reads the date when no tz database is installed (then New York is taken
 * as that zone). QA_ERR_CONFIG names a malformed date. */
qa_status qa_import_lobster_day(const char *date, const qa_tzone *tz, int64_t *t0);

/* Runs the import. Collective under MPI (every rank calls it with the same config). */
qa_status qa_import_run(const qa_import_cfg *cfg, const qa_comm_t *comm, qa_import_report *rep);

#ifdef __cplusplus
}
#endif
#endif
