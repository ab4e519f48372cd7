/* libFuzzer harness: the CSV reader (datasets/csv.h) and `qa data import`
 * (datasets/import.h) end to end, from vendor files to a market store in /dev/shm.
 *
 * Input: two option bytes, then the file text. Files are split at 0xff bytes: per-symbol
 * imports get up to three files (AAA.csv, BBB.csv, CCC.csv, aligned on the union grid),
 * LOBSTER a message file and an order-book file, long and wide tables one file. Gzip
 * input is welcome (zlib reads both).
 *   byte 0: bits 0-1 layout (per_symbol, long, wide, lobster); 2-3 delimiter (, ; tab |);
 *           4-6 time format (iso, epoch_s/ms/us/ns); 7 a date range (2000-01-01..2030-12-31)
 *   byte 1: bits 0-1 anomaly policy (keep, mask, reject); 2 zero_volume check; 3-4 time
 *           zone (UTC, America/New_York, +05:30, Asia/Tokyo); 5 wide field volume; 6 no
 *           volume column; 7 skip the raw-reader pass
 * Before the import each file is read record by record with the reader alone, by its fast
 * path (a small gzip file inflated whole by libdeflate, plain lines split in place) and
 * its byte-by-byte path over zlib's streaming reader in lockstep: any difference
 * in status, field count, field text or line number traps. Every field goes through the
 * number and time parsers the importer uses. An odd-sized input imports with keep_mb 1
 * (pass-1 values kept), an even-sized one reads every file twice. */
#include <stdint.h>  /* uint8_t */
#include <stdio.h>   /* snprintf */
#include <string.h>  /* memchr */
#include <unistd.h>  /* unlink */

#include "common/timeparse.h" /* qa_time_parse, qa_tzone_parse */
#include "datasets/csv.h"     /* the reader */
#include "datasets/import.h"  /* qa_import_run */
#include "fuzz_util.h"        /* scratch files */
#include "mpi/comm.h"         /* a one-rank communicator */

static qa_comm_t *comm;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    qa_fuzz_quiet();
    if (qa_comm_create(argc, argv, &comm) != QA_OK) return 1; /* one rank: MPI is not started */
    return 0;
}

/* Reads every record of `path` with the reader alone; parses every field as the importer
 * would (numbers, integers, times). */
static void read_raw(const char *path, char delim, qa_time_format fmt, const qa_tzone *tz) {
    qa_csv_t *csv = NULL, *slow = NULL;
    if (qa_csv_open(path, delim, &csv) != QA_OK) return;
    if (qa_csv_open(path, delim, &slow) != QA_OK) {
        qa_csv_close(csv);
        return;
    }
    qa_csv_set_fast(slow, 0);
    size_t nf = 0, nf_slow = 0;
    for (int rec = 0; rec < 4096; rec++) {
        qa_status st = qa_csv_next(csv, &nf), st_slow = qa_csv_next(slow, &nf_slow);
        if (st != st_slow) __builtin_trap();
        if (st != QA_OK) break;
        if (nf != nf_slow || qa_csv_line(csv) != qa_csv_line(slow)) __builtin_trap();
        for (size_t i = 0; i < nf; i++) {
            const char *f = qa_csv_field(csv, i);
            if (strcmp(f, qa_csv_field(slow, i)) != 0) __builtin_trap();
            double d;
            long long ll;
            int64_t ns;
            (void)qa_csv_parse_double(f, &d);
            (void)qa_csv_parse_int64(f, &ll);
            if (!qa_time_parse(f, fmt, tz, &ns)) (void)qa_time_parse_why();
        }
        if (qa_csv_field(csv, nf) != NULL) __builtin_trap(); /* past the last field must be NULL */
    }
    (void)qa_csv_bytes(csv);
    qa_csv_close(csv);
    qa_csv_close(slow);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    static const char *const delims[] = {",", ";", "\t", "|"};
    static const char *const zones[] = {"UTC", "America/New_York", "+05:30", "Asia/Tokyo"};
    uint8_t b0 = data[0], b1 = data[1];
    data += 2, size -= 2;

    qa_import_cfg cfg;
    qa_import_cfg_default(&cfg);
    cfg.layout = b0 & 3;
    cfg.keep_mb = (long long)(size & 1);
    cfg.delimiter = delims[(b0 >> 2) & 3];
    cfg.time_format = ((b0 >> 4) & 7) % QA_TIME_FORMAT_COUNT;
    if (b0 & 0x80) cfg.start = "2000-01-01", cfg.end = "2030-12-31";
    cfg.policy = (b1 & 3) % QA_ANOM_POLICY_COUNT;
    cfg.zero_volume = (b1 >> 2) & 1;
    cfg.timezone = zones[(b1 >> 3) & 3];
    if (b1 & 0x20) cfg.wide_field = "volume";
    if (b1 & 0x40) cfg.col_volume = "none";
    if (cfg.layout == QA_IMPORT_LONG) cfg.col_time = "time";
    if (cfg.layout == QA_IMPORT_WIDE) cfg.col_time = "date";
    if (cfg.layout == QA_IMPORT_LOBSTER) cfg.lobster_date = "2012-06-21", cfg.lobster_levels = 1 + (b1 >> 3 & 3);

    /* Split the rest into files at 0xff. */
    static const char *const per_symbol[] = {"AAA.csv", "BBB.csv", "CCC.csv"};
    static const char *const lobster[] = {"message.csv", "orderbook.csv"};
    static const char *const single[] = {"table.csv"};
    const char *const *names = cfg.layout == QA_IMPORT_PER_SYMBOL ? per_symbol
                               : cfg.layout == QA_IMPORT_LOBSTER ? lobster
                                                                 : single;
    size_t maxf = cfg.layout == QA_IMPORT_PER_SYMBOL ? 3 : cfg.layout == QA_IMPORT_LOBSTER ? 2 : 1;
    char paths[3][512];
    const char *files[3];
    size_t nfiles = 0;
    while (nfiles < maxf) {
        const uint8_t *sep = nfiles + 1 < maxf ? memchr(data, 0xff, size) : NULL;
        size_t len = sep ? (size_t)(sep - data) : size;
        files[nfiles] = qa_fuzz_write(names[nfiles], data, len, paths[nfiles], sizeof paths[nfiles]);
        nfiles++;
        if (!sep) break;
        data = sep + 1, size -= len + 1;
    }

    qa_tzone tz;
    if (!(b1 & 0x80) && qa_tzone_parse(cfg.timezone, &tz) == QA_OK)
        for (size_t i = 0; i < nfiles; i++) read_raw(files[i], cfg.delimiter[0], cfg.time_format, &tz);

    char out[512], report[512];
    cfg.output = qa_fuzz_path("market.h5", out, sizeof out);
    cfg.report = qa_fuzz_path("anomalies.csv", report, sizeof report);
    if (cfg.layout == QA_IMPORT_LOBSTER) {
        cfg.lobster_orderbook = nfiles > 1 ? files[1] : files[0];
        nfiles = 1;
    }
    cfg.files.items = (void *)files;
    cfg.files.n = nfiles;
    qa_import_report rep;
    (void)qa_import_run(&cfg, comm, &rep);
    unlink(out);
    unlink(report);
    for (size_t i = 0; i < maxf; i++) {
        char p[512];
        unlink(qa_fuzz_path(names[i], p, sizeof p));
    }
    return 0;
}
