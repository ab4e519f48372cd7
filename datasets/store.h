/* The HDF5 market-data store: one file holds a panel of S symbols x T timestamps.
 *
 * Layout (format "quantumalpha.market", version 1; full spec in docs/data-format.md):
 *   /                 attrs: format, format_version, frequency, bar_seconds,
 *                     bars_per_year, calendar, currency, adjustment, source, created
 *   /symbols          [S] fixed-length ASCII strings (32 bytes, NUL padded)
 *   /time             [T] int64 UTC nanoseconds since the epoch, strictly increasing
 *   /bars/{open,high,low,close,volume}   [S, T] float64, NaN where no bar
 *   /alt/<name>       [S, T] float64 alternative data on the same grid
 *   /features/<name>  [S, T] float64 with lineage attributes (kind, params, code
 *                     version, input hash)
 * Panels are chunked (up to 64 symbols x 2048 times) and compressed (shuffle +
 * deflate at the meta's level; the importer uses 4), so both per-symbol ranges and time
 * ranges read efficiently.
 *
 * Parallel use: open or create with a qa_comm_t of size > 1 and the file is accessed with
 * MPI-IO; every call that touches the file is then COLLECTIVE (all ranks call it, in the
 * same order; a rank with nothing to read or write passes an empty range). With a NULL
 * comm or one rank, access is serial.
 *
 * Creation is atomic: qa_store_create writes to a temporary sibling file which
 * qa_store_commit renames into place; a store closed without commit leaves nothing. */
#ifndef QA_DATASETS_STORE_H
#define QA_DATASETS_STORE_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"
#include "mpi/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QA_STORE_FORMAT "quantumalpha.market"
#define QA_STORE_FORMAT_VERSION 1
#define QA_STORE_SYMBOL_LEN 32 /* bytes per symbol name, including the NUL padding */

/* The five bar fields, in /bars. */
typedef enum qa_bar_field {
    QA_BAR_OPEN = 0,
    QA_BAR_HIGH = 1,
    QA_BAR_LOW = 2,
    QA_BAR_CLOSE = 3,
    QA_BAR_VOLUME = 4,
    QA_BAR_FIELD_COUNT = 5
} qa_bar_field;

/* "open", ... ; and the dataset path "bars/open", ... */
const char *qa_bar_field_name(qa_bar_field f);
const char *qa_bar_field_path(qa_bar_field f);

typedef struct qa_store_meta {
    char frequency[16];    /* "1d", "5min", "1min", ... */
    int64_t bar_seconds;   /* nominal bar length: 86400 for daily */
    double bars_per_year;  /* for annualisation: 252 daily equities, 525600 for 1-min 24/7 */
    char calendar[32];     /* "NYSE", "24x7", ... */
    char currency[16];     /* "USD", "USDT" */
    char adjustment[64];   /* "split+dividend", "none" */
    char source[256];      /* provenance text */
    int deflate_level;     /* panels' deflate level 0 (none) .. 9; written files keep it */
} qa_store_meta;

typedef struct qa_store qa_store_t;

typedef enum qa_store_mode { QA_STORE_READ = 0, QA_STORE_RDWR = 1 } qa_store_mode;

/* Creates a new market file (in a temporary sibling until qa_store_commit) with the
 * symbol list and time grid, and empty (all-NaN) bar panels. `comm` NULL = serial.
 * `time` NULL streams the grid instead: the caller writes its ntime values in order with
 * qa_store_write_time (checked as they come) before the commit, and the store keeps no
 * copy (qa_store_time returns NULL), so its memory does not grow with ntime.
 * Symbols must be unique, non-empty and shorter than QA_STORE_SYMBOL_LEN; times must be
 * strictly increasing; meta->bar_seconds > 0 and meta->bars_per_year finite and > 0
 * (QA_ERR_INVALID_ARG otherwise). Collective. Caller commits or closes. */
qa_status qa_store_create(const char *path, const qa_comm_t *comm, const qa_store_meta *meta,
                          size_t nsym, const char *const *symbols, size_t ntime,
                          const int64_t *time, qa_store_t **out);
/* Writes timestamps [t0, t0 + n) of a grid created with time NULL: blocks in order, each
 * value after the previous one (QA_ERR_INVALID_ARG otherwise, QA_ERR_STATE for a store
 * that was given its grid). Rank 0's values are written; every rank passes the same.
 * Collective. */
qa_status qa_store_write_time(qa_store_t *st, size_t t0, size_t n, const int64_t *time);
/* Flushes, closes and renames the temporary file into place (QA_ERR_STATE when a streamed
 * grid is incomplete). Frees the store. Collective. */
qa_status qa_store_commit(qa_store_t *st);

/* Opens an existing market file; checks the format name and version, then what
 * qa_store_create requires of a new one (>= 1 symbol, >= 1 timestamp, strictly increasing
 * times, unique non-empty symbols) and bar_seconds > 0, bars_per_year finite and > 0, so
 * callers may use time[0] and time[T-1] and annualise unchecked. Errors (QA_ERR_FORMAT)
 * name the file and say whether it is not HDF5 (or truncated), a foreign HDF5 file, too
 * new, or which field holds which value against what was expected. Collective. */
qa_status qa_store_open(const char *path, const qa_comm_t *comm, qa_store_mode mode,
                        qa_store_t **out);
/* Closes (a created, uncommitted store is deleted). Accepts NULL. Collective. */
void qa_store_close(qa_store_t *st);

const char *qa_store_path(const qa_store_t *st);
size_t qa_store_nsym(const qa_store_t *st);
size_t qa_store_ntime(const qa_store_t *st);
const char *qa_store_symbol(const qa_store_t *st, size_t i);
/* Index of `name`, or -1. */
long qa_store_find_symbol(const qa_store_t *st, const char *name);
/* The time grid (ntime values, owned by the store; NULL for a store created with a
 * streamed grid). */
const int64_t *qa_store_time(const qa_store_t *st);
const qa_store_meta *qa_store_get_meta(const qa_store_t *st);
/* 1 when the store was opened/created with MPI-IO on more than one rank. */
int qa_store_parallel(const qa_store_t *st);
const qa_comm_t *qa_store_comm(const qa_store_t *st);
/* Chunks this handle has written with its own encoder (qa_store_write) since it was
 * created or opened: 0 when every write took H5Dwrite. For tests and diagnostics. */
size_t qa_store_direct_chunks(const qa_store_t *st);

/* ---- panels ------------------------------------------------------------------------ */

/* 1 if the panel dataset `path` ("bars/close", "features/rsi_14") exists. */
int qa_store_exists(qa_store_t *st, const char *path);
/* Creates an S x T float64 panel (chunked, compressed, NaN fill) at `path`, creating
 * the parent group. QA_ERR_EXISTS if present. Collective. */
qa_status qa_store_panel_create(qa_store_t *st, const char *path);
/* Reads rows [s0, s0+ns) x columns [t0, t0+nt) of panel `path` into `out` (ns*nt,
 * row-major). Collective in parallel mode (ns or nt may be 0). */
qa_status qa_store_read(qa_store_t *st, const char *path, size_t s0, size_t ns, size_t t0,
                        size_t nt, double *out);
/* Before allocating `copies` blocks of ns x nt doubles of panel `dataset` (plus
 * `extra_bytes`): QA_ERR_LIMIT, naming the file, the dataset, the declared size, the
 * estimated bytes and the memory available (qa_mem_available), when they do not fit. The
 * store's own S and T were already checked against the file when it was opened. */
qa_status qa_store_check_load(const qa_store_t *st, const char *dataset, size_t ns, size_t nt, double copies,
                              double extra_bytes);
/* Writes the same shape of block. Collective in parallel mode.
 * A serial store (not MPI-IO on several ranks) encodes a block that covers whole chunks
 * of a shuffle + deflate panel itself, the chunks in OpenMP threads (the OpenMP default
 * count; OMP_NUM_THREADS=1 is one thread), and stores them with H5Dwrite_chunk: the same
 * bytes HDF5's filters would store, read back through them. Any other block, every block
 * in parallel mode, and every block when the environment has QA_STORE_DIRECT_CHUNKS=0
 * when the store is created or opened, goes through H5Dwrite. */
qa_status qa_store_write(qa_store_t *st, const char *path, size_t s0, size_t ns, size_t t0,
                         size_t nt, const double *in);
/* Removes a panel (its space is reclaimed only by h5repack). Collective. */
qa_status qa_store_delete(qa_store_t *st, const char *path);
/* Renames a panel (atomic publish of a fully written temporary dataset). Collective. */
qa_status qa_store_move(qa_store_t *st, const char *from, const char *to);
/* Names of the datasets directly under `group` ("features", "alt"), sorted. Returns
 * a malloc'd array of malloc'd strings (free with qa_store_free_names). */
qa_status qa_store_list(qa_store_t *st, const char *group, char ***names, size_t *count);
void qa_store_free_names(char **names, size_t count);

/* ---- attributes (on "/" or any dataset/group path) ------------------------------------ */

/* String attributes are variable-length UTF-8 (h5py reads them as str). Setting is
 * collective in parallel mode and replaces an existing value. */
qa_status qa_store_attr_set_str(qa_store_t *st, const char *path, const char *name, const char *value);
qa_status qa_store_attr_set_i64(qa_store_t *st, const char *path, const char *name, int64_t value);
qa_status qa_store_attr_set_f64(qa_store_t *st, const char *path, const char *name, double value);
/* QA_ERR_NOT_FOUND when absent. Strings longer than `size` - 1 are an error. */
qa_status qa_store_attr_get_str(qa_store_t *st, const char *path, const char *name, char *buf, size_t size);
qa_status qa_store_attr_get_i64(qa_store_t *st, const char *path, const char *name, int64_t *value);
qa_status qa_store_attr_get_f64(qa_store_t *st, const char *path, const char *name, double *value);

/* HDF5 library version "1.10.8 (parallel)". */
const char *qa_store_hdf5_version(char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
