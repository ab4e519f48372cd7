/* HDF5 market-data store: file layout, panel I/O (serial or MPI-IO collective), attributes. */
#include "datasets/store.h"

#include <hdf5.h>    /* the HDF5 C API (parallel build); H5Dwrite_chunk needs >= 1.10.3 */
#include <math.h>    /* NAN fill value, isfinite */
#include <stdint.h>  /* uint64_t: a double's bytes for the shuffle */
#include <stdio.h>   /* snprintf, remove */
#include <stdlib.h>  /* calloc, qsort, getenv */
#include <string.h>  /* strcmp, strncpy */
#include <libdeflate.h> /* zlib-format DEFLATE, ~2x zlib's speed at the same level */
#ifdef _OPENMP
#include <omp.h>     /* threads compressing the chunks of a write */
#endif

#include "common/fs.h"     /* temporary names, rename, file size */
#include "common/log.h"    /* debug line: how the panels were written */
#include "common/mem.h"    /* memory available: sizes read from a file are checked against it */
#include "common/timer.h"  /* creation stamp */
#include "datasets/h5.h"    /* HDF5 errors and attributes */


#define CHUNK_SYMBOLS 64
#define CHUNK_TIMES 2048

struct qa_store {
    hid_t file;
    char path[QA_PATH_MAX];     /* final path */
    char tmp_path[QA_PATH_MAX]; /* temporary path while being created */
    int creating;        /* created and not yet committed */
    int parallel;        /* MPI-IO with > 1 rank: collective calls */
    int writable;
    int direct_chunks;   /* compress whole-chunk writes here (QA_STORE_DIRECT_CHUNKS=0: never) */
    size_t chunks_direct; /* chunks written with H5Dwrite_chunk since created/opened */
    size_t writes_h5;     /* panel writes that took H5Dwrite */
    const qa_comm_t *comm;
    size_t nsym, ntime;
    char *symbols;       /* nsym * QA_STORE_SYMBOL_LEN */
    int64_t *time;       /* NULL for a store created with a streamed time grid */
    size_t time_written; /* streamed grid: timestamps written so far (in order) */
    int64_t time_last;   /* streamed grid: the last of them */
    qa_store_meta meta;
};

static const char *const field_names[] = {"open", "high", "low", "close", "volume"};
static const char *const field_paths[] = {"bars/open", "bars/high", "bars/low", "bars/close", "bars/volume"};
_Static_assert(sizeof field_names / sizeof field_names[0] == QA_BAR_FIELD_COUNT, "bar field names");
_Static_assert(sizeof field_paths / sizeof field_paths[0] == QA_BAR_FIELD_COUNT, "bar field paths");

const char *qa_bar_field_name(qa_bar_field f) {
    return (f >= 0 && f < QA_BAR_FIELD_COUNT) ? field_names[f] : "?";
}
const char *qa_bar_field_path(qa_bar_field f) {
    return (f >= 0 && f < QA_BAR_FIELD_COUNT) ? field_paths[f] : "?";
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

const char *qa_store_hdf5_version(char *buf, size_t size) {
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
#ifdef H5_HAVE_PARALLEL
    snprintf(buf, size, "%u.%u.%u (parallel)", maj, min, rel);
#else
    snprintf(buf, size, "%u.%u.%u (serial)", maj, min, rel);
#endif
    return buf;
}

/* ---- property lists ------------------------------------------------------------------ */

static hid_t make_fapl(const qa_store_t *st) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
#ifdef QA_HAVE_MPI
    /* the MPI-IO driver over the ranks this store was opened by, not the whole job */
    if (st->parallel && H5Pset_fapl_mpio(fapl, qa_comm_mpi(st->comm), MPI_INFO_NULL) < 0) {
        H5Pclose(fapl);
        return -1;
    }
#else
    (void)st;
#endif
    return fapl;
}

static hid_t make_dxpl(const qa_store_t *st) {
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
#ifdef QA_HAVE_MPI
    /* Filtered (compressed) datasets can only be written collectively in parallel. */
    if (dxpl >= 0 && st->parallel) H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
#else
    (void)st;
#endif
    return dxpl;
}

/* No chunk cache: every access pattern here reads or writes whole chunks per call
 * (blocks of 64 symbols or of 2048 times), so a cache only adds a copy; without it
 * HDF5 moves uncompressed chunks straight between the file and the caller's buffer
 * (measured: 1.8 GB/s vs 0.3 GB/s with a 64 MiB cache for 64-symbol row blocks). */
static hid_t make_dapl(void) {
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl >= 0) H5Pset_chunk_cache(dapl, 0, 0, 1.0);
    return dapl;
}

/* ---- attributes ------------------------------------------------------------------------ */

/* Errors of the attribute calls name the store's file (HDF5's own errors already do). */
static qa_status attr_status(const qa_store_t *st, qa_status s) {
    if (s != QA_OK && s != QA_ERR_HDF5) qa_err_prefix("%s: ", st->path);
    return s;
}

static const char *root_or(const char *path) { return path && *path ? path : "/"; }

qa_status qa_store_attr_set_str(qa_store_t *st, const char *path, const char *name, const char *value) {
    return attr_status(st, qa_h5_attr_set_str(st->file, root_or(path), name, value));
}

qa_status qa_store_attr_set_i64(qa_store_t *st, const char *path, const char *name, int64_t value) {
    return attr_status(st, qa_h5_attr_set_i64(st->file, root_or(path), name, value));
}

qa_status qa_store_attr_set_f64(qa_store_t *st, const char *path, const char *name, double value) {
    return attr_status(st, qa_h5_attr_set_f64(st->file, root_or(path), name, value));
}

qa_status qa_store_attr_get_str(qa_store_t *st, const char *path, const char *name, char *buf, size_t size) {
    return attr_status(st, qa_h5_attr_get_str(st->file, root_or(path), name, buf, size));
}

qa_status qa_store_attr_get_i64(qa_store_t *st, const char *path, const char *name, int64_t *value) {
    return attr_status(st, qa_h5_attr_get_i64(st->file, root_or(path), name, value));
}

qa_status qa_store_attr_get_f64(qa_store_t *st, const char *path, const char *name, double *value) {
    return attr_status(st, qa_h5_attr_get_f64(st->file, root_or(path), name, value));
}

/* ---- create / open / close --------------------------------------------------------------- */

static qa_status write_meta(qa_store_t *st) {
    char created[32];
    qa_time_utc_iso(created, sizeof created);
    const qa_store_meta *m = &st->meta;
    qa_status s = qa_store_attr_set_str(st, "/", "format", QA_STORE_FORMAT);
    if (s == QA_OK) s = qa_store_attr_set_i64(st, "/", "format_version", QA_STORE_FORMAT_VERSION);
    if (s == QA_OK) s = qa_store_attr_set_str(st, "/", "frequency", m->frequency);
    if (s == QA_OK) s = qa_store_attr_set_i64(st, "/", "bar_seconds", m->bar_seconds);
    if (s == QA_OK) s = qa_store_attr_set_f64(st, "/", "bars_per_year", m->bars_per_year);
    if (s == QA_OK) s = qa_store_attr_set_str(st, "/", "calendar", m->calendar);
    if (s == QA_OK) s = qa_store_attr_set_str(st, "/", "currency", m->currency);
    if (s == QA_OK) s = qa_store_attr_set_str(st, "/", "adjustment", m->adjustment);
    if (s == QA_OK) s = qa_store_attr_set_str(st, "/", "source", m->source);
    if (s == QA_OK) s = qa_store_attr_set_str(st, "/", "created", created);
    if (s == QA_OK) s = qa_store_attr_set_str(st, "/", "time_unit", "ns since 1970-01-01T00:00:00Z (UTC)");
    if (s == QA_OK) s = qa_store_attr_set_i64(st, "/", "deflate_level", m->deflate_level);
    return s;
}

static qa_status read_meta(qa_store_t *st) {
    qa_store_meta *m = &st->meta;
    qa_status s = qa_store_attr_get_str(st, "/", "frequency", m->frequency, sizeof m->frequency);
    if (s == QA_OK) s = qa_store_attr_get_i64(st, "/", "bar_seconds", &m->bar_seconds);
    if (s == QA_OK) s = qa_store_attr_get_f64(st, "/", "bars_per_year", &m->bars_per_year);
    if (s == QA_OK) s = qa_store_attr_get_str(st, "/", "calendar", m->calendar, sizeof m->calendar);
    if (s == QA_OK) s = qa_store_attr_get_str(st, "/", "currency", m->currency, sizeof m->currency);
    if (s == QA_OK) s = qa_store_attr_get_str(st, "/", "adjustment", m->adjustment, sizeof m->adjustment);
    if (s == QA_OK) s = qa_store_attr_get_str(st, "/", "source", m->source, sizeof m->source);
    int64_t level = 4;
    if (s == QA_OK && qa_store_attr_get_i64(st, "/", "deflate_level", &level) == QA_ERR_NOT_FOUND) qa_err_clear();
    m->deflate_level = (int)level;
    return s;
}

/* Writes rows [off, off + n) of the 1-D dataset `name` (rank 0's data; other ranks select
 * nothing). Collective. */
static qa_status write_1d_rows(qa_store_t *st, const char *name, hid_t mtype, size_t off, size_t n, const void *data) {
    qa_status s = QA_OK;
    hsize_t o[1] = {off}, c[1] = {n ? n : 1};
    hid_t dset = H5Dopen2(st->file, name, H5P_DEFAULT), space = -1, mspace = -1, dxpl = make_dxpl(st);
    if (dset < 0 || (space = H5Dget_space(dset)) < 0 || (mspace = H5Screate_simple(1, c, NULL)) < 0) {
        s = QA_H5_FAIL(-1, st->path, "cannot open dataset");
        goto done;
    }
    if (qa_comm_rank(st->comm) != 0 || n == 0) {
        H5Sselect_none(space);
        H5Sselect_none(mspace);
    } else {
        c[0] = n;
        H5Sselect_hyperslab(space, H5S_SELECT_SET, o, NULL, c, NULL);
    }
    if (H5Dwrite(dset, mtype, mspace, space, dxpl, data) < 0) s = QA_H5_FAIL(-1, st->path, "cannot write dataset");
done:
    if (s != QA_OK) qa_err_prefix("'%s': ", name);
    if (mspace >= 0) H5Sclose(mspace);
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    H5Pclose(dxpl);
    return s;
}

/* Creates a 1-D dataset and writes it once (rank 0's data; other ranks select nothing);
 * data NULL only creates it (rows written later by write_1d_rows). */
static qa_status write_1d(qa_store_t *st, const char *name, hid_t ftype, hid_t mtype, size_t n, const void *data) {
    qa_status s = QA_OK;
    hsize_t dims[1] = {n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t dset = H5Dcreate2(st->file, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t dxpl = make_dxpl(st);
    if (dset < 0) {
        s = QA_H5_FAIL(-1, st->path, "cannot create dataset");
        goto done;
    }
    if (!data) goto done;
    int writer = qa_comm_rank(st->comm) == 0;
    hid_t mspace = H5Screate_simple(1, dims, NULL);
    if (!writer) {
        H5Sselect_none(space);
        H5Sselect_none(mspace);
    }
    if (H5Dwrite(dset, mtype, mspace, space, dxpl, data) < 0) s = QA_H5_FAIL(-1, st->path, "cannot write dataset");
    H5Sclose(mspace);
done:
    if (s != QA_OK) qa_err_prefix("'%s': ", name);
    if (dset >= 0) H5Dclose(dset);
    H5Pclose(dxpl);
    H5Sclose(space);
    return s;
}

/* Symbol entries for the uniqueness check: the name and its row in /symbols. */
typedef struct sym_row {
    const char *name;
    size_t row;
} sym_row;

static int cmp_sym_row(const void *a, const void *b) {
    const sym_row *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return (x->row > y->row) - (x->row < y->row);
}

/* The grid's invariants, shared by create (the caller's arrays) and open (the file's
 * datasets, so a store edited or written by another tool is held to the same rules):
 * at least one symbol and one timestamp, strictly increasing times, symbols of 1 to
 * QA_STORE_SYMBOL_LEN - 1 characters and unique (checked by sorting: O(S log S)). */
static qa_status check_grid(qa_status code, const char *path, size_t nsym, const char *const *symbols, size_t ntime,
                            const int64_t *time) {
    if (nsym == 0)
        return QA_FAIL(code, "%s: /symbols is empty: a market file needs at least one symbol", path);
    if (ntime == 0)
        return QA_FAIL(code,
                       "%s: the store has no bars (/time has 0 timestamps; a market file needs at least one timestamp)",
                       path);
    for (size_t t = 1; time && t < ntime; t++) /* NULL: streamed, checked as it is written */
        if (time[t] <= time[t - 1])
            return QA_FAIL(code, "%s: time[%zu] = %lld is not after time[%zu] = %lld", path, t,
                           (long long)time[t], t - 1, (long long)time[t - 1]);
    for (size_t i = 0; i < nsym; i++) {
        size_t len = strlen(symbols[i]);
        if (len == 0 || len >= QA_STORE_SYMBOL_LEN)
            return QA_FAIL(code, "%s: symbol %zu '%s' must have 1 to %d characters", path, i,
                           symbols[i], QA_STORE_SYMBOL_LEN - 1);
    }
    sym_row *sorted = malloc(nsym * sizeof *sorted);
    if (!sorted) return QA_FAIL(QA_ERR_NOMEM, "%s: uniqueness check of %zu symbols", path, nsym);
    for (size_t i = 0; i < nsym; i++) sorted[i] = (sym_row){symbols[i], i};
    qsort(sorted, nsym, sizeof *sorted, cmp_sym_row);
    /* Equal names sort by row, so the first equal neighbours of the lowest name are its
     * first two rows. */
    for (size_t i = 1; i < nsym; i++) {
        if (strcmp(sorted[i].name, sorted[i - 1].name) == 0) {
            qa_status s = QA_FAIL(code,
                                  "%s: symbol '%s' appears twice (rows %zu and %zu of /symbols); symbols must be unique",
                                  path, sorted[i].name, sorted[i - 1].row, sorted[i].row);
            free(sorted);
            return s;
        }
    }
    free(sorted);
    return QA_OK;
}

/* The metadata every consumer divides by or annualises with: a bar length in whole
 * seconds > 0 and a finite bars-per-year > 0 (0 or NaN would turn every annualised
 * figure into NaN or infinity without an error). */
static qa_status check_meta(qa_status code, const char *path, const qa_store_meta *m) {
    if (m->bar_seconds <= 0)
        return QA_FAIL(code,
                       "%s: attribute bar_seconds = %lld: expected the bar length in seconds, > 0 (86400 for daily bars)",
                       path, (long long)m->bar_seconds);
    if (!(isfinite(m->bars_per_year) && m->bars_per_year > 0))
        return QA_FAIL(code,
                       "%s: attribute bars_per_year = %g: expected a finite number > 0 (252 for daily equities)", path,
                       m->bars_per_year);
    return QA_OK;
}

static qa_status store_alloc(const char *path, const qa_comm_t *comm, qa_store_t **out) {
    qa_store_t *st = calloc(1, sizeof *st);
    if (!st) return QA_FAIL(QA_ERR_NOMEM, "store");
    st->file = -1;
    st->comm = comm;
    st->parallel = qa_comm_size(comm) > 1;
    /* The switch to the reference path (H5Dwrite with HDF5's filters): the tests write
     * the same panel both ways and compare. */
    const char *dc = getenv("QA_STORE_DIRECT_CHUNKS");
    st->direct_chunks = !(dc && strcmp(dc, "0") == 0);
    if (strlen(path) >= sizeof st->path) {
        free(st);
        return QA_FAIL(QA_ERR_INVALID_ARG, "path too long: '%s'", path);
    }
    snprintf(st->path, sizeof st->path, "%s", path);
    *out = st;
    return QA_OK;
}

static void store_release(qa_store_t *st) {
    free(st->symbols);
    free(st->time);
    free(st);
}

qa_status qa_store_create(const char *path, const qa_comm_t *comm, const qa_store_meta *meta, size_t nsym,
                          const char *const *symbols, size_t ntime, const int64_t *time, qa_store_t **out) {
    qa_h5_quiet();
    qa_status s = check_grid(QA_ERR_INVALID_ARG, path, nsym, symbols, ntime, time);
    if (s == QA_OK) s = check_meta(QA_ERR_INVALID_ARG, path, meta);
    if (s != QA_OK) return s;
    qa_store_t *st = NULL;
    if ((s = store_alloc(path, comm, &st)) != QA_OK) return s;
    st->meta = *meta;
    st->nsym = nsym;
    st->ntime = ntime;
    st->writable = 1;
    st->symbols = calloc(nsym, QA_STORE_SYMBOL_LEN);
    st->time = time ? malloc(ntime * sizeof *st->time) : NULL;
    if (!st->symbols || (time && !st->time)) {
        store_release(st);
        return QA_FAIL(QA_ERR_NOMEM, "%s: symbol/time tables", path);
    }
    for (size_t i = 0; i < nsym; i++) strncpy(st->symbols + i * QA_STORE_SYMBOL_LEN, symbols[i], QA_STORE_SYMBOL_LEN - 1);
    if (time) memcpy(st->time, time, ntime * sizeof *time);

    /* One temporary name for all ranks (rank 0's pid). */
    if ((s = qa_fs_tmp_name(path, st->tmp_path, sizeof st->tmp_path)) != QA_OK) {
        store_release(st);
        return s;
    }
    if ((s = qa_comm_bcast(comm, st->tmp_path, sizeof st->tmp_path, 0)) != QA_OK) {
        store_release(st);
        return s;
    }
    hid_t fapl = make_fapl(st);
    if (fapl < 0) {
        s = QA_H5_FAIL(-1, path, "cannot set up the file access properties (MPI-IO driver)");
        store_release(st);
        return s;
    }
    st->file = H5Fcreate(st->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (st->file < 0) s = QA_H5_FAIL(-1, path, "cannot create file"); /* before H5Pclose clears HDF5's errors */
    H5Pclose(fapl);
    if (st->file < 0) {
        qa_comm_barrier(comm);
        if (qa_comm_rank(comm) == 0) (void)remove(st->tmp_path); /* failure cleanup; a full disk leaves it empty */
        store_release(st);
        return s;
    }
    st->creating = 1;
    hid_t strtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(strtype, QA_STORE_SYMBOL_LEN);
    H5Tset_strpad(strtype, H5T_STR_NULLPAD);
    s = write_meta(st);
    if (s == QA_OK) s = write_1d(st, "symbols", strtype, strtype, nsym, st->symbols);
    if (s == QA_OK) s = write_1d(st, "time", H5T_STD_I64LE, H5T_NATIVE_INT64, ntime, st->time);
    if (s == QA_OK) s = qa_store_attr_set_str(st, "time", "unit", "ns");
    H5Tclose(strtype);
    for (int f = 0; s == QA_OK && f < QA_BAR_FIELD_COUNT; f++) s = qa_store_panel_create(st, field_paths[f]);
    if (s != QA_OK) {
        qa_store_close(st);
        return s;
    }
    *out = st;
    return QA_OK;
}

qa_status qa_store_commit(qa_store_t *st) {
    if (!st) return QA_FAIL(QA_ERR_INVALID_ARG, "commit of a NULL store");
    qa_status s = QA_OK;
    if (st->creating && !st->time && st->time_written != st->ntime)
        s = QA_FAIL(QA_ERR_STATE, "%s: %zu of the %zu timestamps of the time grid were written", st->path,
                    st->time_written, st->ntime);
    qa_log_debug("%s: %zu chunks encoded in threads and written directly, %zu panel writes through H5Dwrite",
                 st->path, st->chunks_direct, st->writes_h5);
    if (s == QA_OK && H5Fflush(st->file, H5F_SCOPE_GLOBAL) < 0) s = QA_H5_FAIL(-1, st->path, "cannot write");
    if (s != QA_OK && st->creating) qa_h5_close_discard(st->file); /* a failed close would crash HDF5 at exit */
    else if (H5Fclose(st->file) < 0 && s == QA_OK) s = QA_H5_FAIL(-1, st->path, "cannot close");
    st->file = -1;
    s = qa_comm_agree(st->comm, s);
    int renamer = qa_comm_rank(st->comm) == 0;
    if (s == QA_OK && st->creating && renamer) s = qa_fs_rename(st->tmp_path, st->path);
    s = qa_comm_agree(st->comm, s);
    if (s != QA_OK && st->creating && renamer) (void)remove(st->tmp_path); /* failure cleanup: s says what failed */
    st->creating = 0;
    store_release(st);
    return s;
}

void qa_store_close(qa_store_t *st) {
    if (!st) return;
    if (st->creating) qa_h5_close_discard(st->file); /* its writes may have failed: see there */
    else if (st->file >= 0) H5Fclose(st->file);
    qa_comm_barrier(st->comm);
    if (st->creating && qa_comm_rank(st->comm) == 0) (void)remove(st->tmp_path); /* an abandoned temporary */
    store_release(st);
}

/* QA_ERR_LIMIT when `need` bytes (for `what`, from `declared` of `dataset`) exceed the
 * memory qa_mem_available reports; QA_OK when they fit or nothing is known. */
static qa_status refuse_memory(const char *path, const char *dataset, const char *declared, double need,
                               const char *what) {
    uint64_t avail = qa_mem_available();
    if (avail == 0 || need <= (double)avail) return QA_OK;
    char a[32], b[32];
    return QA_FAIL(QA_ERR_LIMIT,
                   "%s: dataset '%s' declares %s: %s needs an estimated %s of memory, more than the %s available",
                   path, dataset, declared, what, need >= 1.8e19 ? "over 16 EiB" : qa_mem_format((uint64_t)need, a, sizeof a),
                   qa_mem_format(avail, b, sizeof b));
}

/* Deflate's largest compression ratio (a run of one byte value: 258 bytes per 2-bit
 * code, about 1032:1): no deflated dataset holds more than this times its stored bytes. */
#define DEFLATE_MAX_RATIO 1032.0

/* The length of the 1-D dataset `name` as the file declares it, held to what the file
 * can contain before anything is allocated from it: 1 dimension, and its bytes at most
 * the file's size (times DEFLATE_MAX_RATIO when it is filtered). A dataset whose elements
 * were never written reads as fill values, which no grid accepts, so a tiny file that
 * declares 10^12 timestamps is damaged or crafted and refused here, not allocated. */
static qa_status declared_extent(const qa_store_t *st, hid_t ds, const char *name, const char *unit, size_t *n) {
    hid_t sp = H5Dget_space(ds), type = H5Dget_type(ds), dcpl = H5Dget_create_plist(ds);
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t dim = 0;
    if (rank == 1) H5Sget_simple_extent_dims(sp, &dim, NULL);
    size_t elem = type >= 0 ? H5Tget_size(type) : 0;
    int filters = dcpl >= 0 ? H5Pget_nfilters(dcpl) : 0;
    if (sp >= 0) H5Sclose(sp);
    if (type >= 0) H5Tclose(type);
    if (dcpl >= 0) H5Pclose(dcpl);
    H5Eclear2(H5E_DEFAULT);
    if (rank != 1) return QA_FAIL(QA_ERR_FORMAT, "%s: dataset '/%s' has %d dimensions, expected 1", st->path, name, rank);
    long long fsize = qa_fs_size(st->path);
    double bytes = (double)dim * (double)(elem ? elem : 1);
    double room = fsize < 0 ? INFINITY : (double)fsize * (filters > 0 ? DEFLATE_MAX_RATIO : 1.0);
    if (bytes > room || dim > (hsize_t)SIZE_MAX / 64) {
        char a[32], b[32];
        return QA_FAIL(QA_ERR_FORMAT,
                       "%s: dataset '/%s' declares %llu %s (%s) but the file is only %s%s: damaged or not written by qa",
                       st->path, name, (unsigned long long)dim, unit,
                       bytes >= 1.8e19 ? "over 16 EiB" : qa_mem_format((uint64_t)bytes, a, sizeof a),
                       qa_mem_format((uint64_t)fsize, b, sizeof b), filters > 0 ? " (at most 1032:1 compressed)" : "");
    }
    *n = (size_t)dim;
    return QA_OK;
}

/* A bar panel must be the nsym x ntime grid /symbols and /time declare. */
static qa_status panel_shape(qa_store_t *st, const char *path) {
    hid_t ds = H5Dopen2(st->file, path, H5P_DEFAULT);
    if (ds < 0) return QA_H5_FAIL(-1, st->path, "cannot open panel");
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[2] = {0, 0};
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (rank == 2) H5Sget_simple_extent_dims(sp, dims, NULL);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    H5Eclear2(H5E_DEFAULT);
    if (rank != 2 || dims[0] != st->nsym || dims[1] != st->ntime)
        return QA_FAIL(QA_ERR_FORMAT, "%s: dataset '/%s' is %s%llu x %llu, expected %zu x %zu (/symbols x /time)", st->path,
                       path, rank == 2 ? "" : "not 2-D: ", (unsigned long long)dims[0], (unsigned long long)dims[1],
                       st->nsym, st->ntime);
    return QA_OK;
}

qa_status qa_store_check_load(const qa_store_t *st, const char *dataset, size_t ns, size_t nt, double copies,
                              double extra_bytes) {
    char decl[160];
    snprintf(decl, sizeof decl, "%zu x %zu values (a load of %g such block%s)", ns, nt, copies, copies == 1 ? "" : "s");
    return refuse_memory(st->path, dataset, decl, (double)ns * (double)nt * sizeof(double) * copies + extra_bytes,
                         "loading it");
}

qa_status qa_store_open(const char *path, const qa_comm_t *comm, qa_store_mode mode, qa_store_t **out) {
    qa_h5_quiet();
    if (!qa_fs_exists(path)) return QA_FAIL(QA_ERR_IO, "%s: no such file", path);
    qa_store_t *st = NULL;
    qa_status s = store_alloc(path, comm, &st);
    if (s != QA_OK) return s;
    st->writable = mode == QA_STORE_RDWR;
    htri_t is_h5 = H5Fis_hdf5(path);
    if (is_h5 <= 0) {
        H5Eclear2(H5E_DEFAULT);
        store_release(st);
        return QA_FAIL(QA_ERR_FORMAT, "%s: not an HDF5 file (or truncated)", path);
    }
    hid_t fapl = make_fapl(st);
    if (fapl < 0) {
        s = QA_H5_FAIL(-1, path, "cannot set up the file access properties (MPI-IO driver)");
        store_release(st);
        return s;
    }
    st->file = H5Fopen(path, st->writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
    /* Recorded before H5Pclose clears HDF5's errors: a file locked by another process is
     * reported as such (qa_h5_fail), not as damaged. */
    if (st->file < 0) s = QA_H5_FAIL(-1, path, "cannot open (truncated or damaged HDF5 file?)");
    H5Pclose(fapl);
    if (st->file < 0) {
        store_release(st);
        return s;
    }
    char format[64] = "";
    int64_t version = 0;
    if (qa_store_attr_get_str(st, "/", "format", format, sizeof format) != QA_OK || strcmp(format, QA_STORE_FORMAT) != 0) {
        s = QA_FAIL(QA_ERR_FORMAT, "%s: not a QuantumAlpha market file (attribute format = '%s', expected '%s')", path,
                    format, QA_STORE_FORMAT);
        goto fail;
    }
    if ((s = qa_store_attr_get_i64(st, "/", "format_version", &version)) != QA_OK) goto fail;
    if (version < 1 || version > QA_STORE_FORMAT_VERSION) {
        s = QA_FAIL(QA_ERR_FORMAT, "%s: format version %lld is not supported (this build reads 1..%d)", path,
                    (long long)version, QA_STORE_FORMAT_VERSION);
        goto fail;
    }
    if ((s = read_meta(st)) != QA_OK) goto fail;

    /* Symbols and time grid. */
    hid_t ds = H5Dopen2(st->file, "symbols", H5P_DEFAULT);
    hid_t dt = H5Dopen2(st->file, "time", H5P_DEFAULT);
    if (ds < 0 || dt < 0) {
        if (ds >= 0) H5Dclose(ds);
        if (dt >= 0) H5Dclose(dt);
        s = QA_FAIL(QA_ERR_FORMAT, "%s: missing /symbols or /time", path);
        goto fail;
    }
    /* The sizes are the file's word: checked against the file and the memory before
     * anything is allocated from them. */
    if ((s = declared_extent(st, ds, "symbols", "symbols", &st->nsym)) == QA_OK)
        s = declared_extent(st, dt, "time", "timestamps", &st->ntime);
    if (s == QA_OK) {
        double need = (double)st->nsym * (QA_STORE_SYMBOL_LEN + sizeof(char *) + sizeof(sym_row)) +
                      (double)st->ntime * sizeof(int64_t);
        char decl[96];
        snprintf(decl, sizeof decl, "%zu symbols x %zu timestamps", st->nsym, st->ntime);
        s = refuse_memory(path, st->ntime >= st->nsym ? "/time" : "/symbols", decl, need, "to open the store");
    }
    s = qa_comm_agree(comm, s); /* memory differs between nodes: all ranks refuse alike */
    if (s != QA_OK) {
        H5Dclose(ds);
        H5Dclose(dt);
        goto fail;
    }
    st->symbols = calloc(st->nsym ? st->nsym : 1, QA_STORE_SYMBOL_LEN);
    st->time = malloc((st->ntime ? st->ntime : 1) * sizeof *st->time);
    hid_t strtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(strtype, QA_STORE_SYMBOL_LEN);
    H5Tset_strpad(strtype, H5T_STR_NULLPAD);
    herr_t e1 = (st->symbols && st->time) ? H5Dread(ds, strtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, st->symbols) : -1;
    herr_t e2 = (st->symbols && st->time) ? H5Dread(dt, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, st->time) : -1;
    H5Tclose(strtype);
    H5Dclose(ds);
    H5Dclose(dt);
    if (e1 < 0 || e2 < 0) {
        s = QA_H5_FAIL(-1, path, "cannot read /symbols or /time");
        goto fail;
    }
    for (size_t i = 0; i < st->nsym; i++) st->symbols[i * QA_STORE_SYMBOL_LEN + QA_STORE_SYMBOL_LEN - 1] = '\0';
    /* The same invariants as qa_store_create: every reader may then index time[0] and
     * time[T-1], look symbols up by name and annualise without checking again. */
    const char **names = malloc((st->nsym ? st->nsym : 1) * sizeof *names);
    if (!names) {
        s = QA_FAIL(QA_ERR_NOMEM, "%s: symbol table", path);
        goto fail;
    }
    for (size_t i = 0; i < st->nsym; i++) names[i] = st->symbols + i * QA_STORE_SYMBOL_LEN;
    /* a file that breaks them is malformed (QA_ERR_FORMAT), not a bad argument */
    s = check_grid(QA_ERR_FORMAT, path, st->nsym, names, st->ntime, st->time);
    free(names);
    if (s == QA_OK) s = check_meta(QA_ERR_FORMAT, path, &st->meta);
    if (s != QA_OK) goto fail;
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) {
        if (!qa_store_exists(st, field_paths[f])) {
            s = QA_FAIL(QA_ERR_FORMAT, "%s: missing /%s", path, field_paths[f]);
            goto fail;
        }
        if ((s = panel_shape(st, field_paths[f])) != QA_OK) goto fail;
    }
    *out = st;
    return QA_OK;
fail:
    H5Fclose(st->file);
    store_release(st);
    return s;
}

const char *qa_store_path(const qa_store_t *st) { return st->path; }
size_t qa_store_nsym(const qa_store_t *st) { return st->nsym; }
size_t qa_store_ntime(const qa_store_t *st) { return st->ntime; }
const char *qa_store_symbol(const qa_store_t *st, size_t i) {
    return i < st->nsym ? st->symbols + i * QA_STORE_SYMBOL_LEN : NULL;
}
long qa_store_find_symbol(const qa_store_t *st, const char *name) {
    for (size_t i = 0; i < st->nsym; i++)
        if (strcmp(st->symbols + i * QA_STORE_SYMBOL_LEN, name) == 0) return (long)i;
    return -1;
}
const int64_t *qa_store_time(const qa_store_t *st) { return st->time; }

qa_status qa_store_write_time(qa_store_t *st, size_t t0, size_t n, const int64_t *time) {
    if (!st->creating || st->time)
        return QA_FAIL(QA_ERR_STATE, "%s: the time grid is streamed only into a store created without one", st->path);
    if (t0 != st->time_written || n > st->ntime - t0)
        return QA_FAIL(QA_ERR_INVALID_ARG, "%s: time rows [%zu, %zu) out of order or outside the %zu-row grid (%zu written)",
                       st->path, t0, t0 + n, st->ntime, st->time_written);
    for (size_t i = 0; i < n; i++) {
        if (t0 + i > 0 && time[i] <= (i ? time[i - 1] : st->time_last))
            return QA_FAIL(QA_ERR_INVALID_ARG, "%s: time[%zu] = %lld is not after time[%zu] = %lld", st->path, t0 + i,
                           (long long)time[i], t0 + i - 1, (long long)(i ? time[i - 1] : st->time_last));
    }
    qa_status s = write_1d_rows(st, "time", H5T_NATIVE_INT64, t0, n, time);
    if (s != QA_OK) return s;
    st->time_written += n;
    if (n) st->time_last = time[n - 1];
    return QA_OK;
}
const qa_store_meta *qa_store_get_meta(const qa_store_t *st) { return &st->meta; }
int qa_store_parallel(const qa_store_t *st) { return st->parallel; }
size_t qa_store_direct_chunks(const qa_store_t *st) { return st->chunks_direct; }
const qa_comm_t *qa_store_comm(const qa_store_t *st) { return st->comm; }

/* ---- panels ----------------------------------------------------------------------------- */

int qa_store_exists(qa_store_t *st, const char *path) {
    /* Check each component so a missing group is "no", not an error. */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf; ; p++) {
        char c = *p;
        if (c == '/' || c == '\0') {
            *p = '\0';
            htri_t e = H5Lexists(st->file, buf, H5P_DEFAULT);
            if (e <= 0) {
                H5Eclear2(H5E_DEFAULT);
                return 0;
            }
            if (c == '\0') return 1;
            *p = '/';
        }
    }
}

static qa_status ensure_parent(qa_store_t *st, const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return QA_OK;
    char group[512];
    snprintf(group, sizeof group, "%.*s", (int)(slash - path), path);
    if (qa_store_exists(st, group)) return QA_OK;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(st->file, group, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (g < 0) return QA_H5_FAIL(-1, st->path, "cannot create group");
    H5Gclose(g);
    return QA_OK;
}

qa_status qa_store_panel_create(qa_store_t *st, const char *path) {
    if (!st->writable) return QA_FAIL(QA_ERR_STATE, "%s: opened read-only", st->path);
    if (qa_store_exists(st, path)) return QA_FAIL(QA_ERR_EXISTS, "%s: '%s' already exists", st->path, path);
    qa_status s = ensure_parent(st, path);
    if (s != QA_OK) return s;
    hsize_t dims[2] = {st->nsym, st->ntime};
    hsize_t chunk[2] = {st->nsym < CHUNK_SYMBOLS ? st->nsym : CHUNK_SYMBOLS,
                        st->ntime < CHUNK_TIMES ? st->ntime : CHUNK_TIMES};
    double fill = NAN;
    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    if (st->meta.deflate_level > 0) {
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, (unsigned)(st->meta.deflate_level > 9 ? 9 : st->meta.deflate_level));
    }
    H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &fill);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_IFSET);
    hid_t dset = H5Dcreate2(st->file, path, H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dset < 0) s = QA_H5_FAIL(-1, st->path, "cannot create panel");
    else H5Dclose(dset);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (s != QA_OK) qa_err_prefix("'%s': ", path);
    return s;
}

/* ---- direct chunk writes -----------------------------------------------------------------
 *
 * HDF5 runs a dataset's filters (shuffle, deflate) in the writing thread, inside
 * H5Dwrite: for the importer's five panels that is most of the import. A write that
 * covers whole chunks of a shuffle + deflate panel is therefore encoded here instead,
 * chunks in OpenMP threads, as the filters would (byte shuffle of the 8-byte
 * little-endian elements, then a zlib-format DEFLATE stream at the dataset's level, made
 * by libdeflate, about twice as fast as zlib for the same size; edge chunks padded to the
 * full chunk shape first), and each chunk is stored as it is with H5Dwrite_chunk (filter
 * mask 0: every filter applied). Readers decode it through the normal filters (zlib
 * inflates any valid stream): the values are the same bits as H5Dwrite's, the compressed
 * bytes are not. */

/* Chunks in flight per thread. Memory: threads x BATCH_PER_THREAD compressed buffers of
 * the worst-case stream size plus one shuffle buffer of chunk bytes and a compressor
 * (~0.5-1 MiB of state) per thread; with the store's 64 x 2048 chunks (1 MiB) about 6 MiB
 * per thread, whatever the panel's size.
 * More than one chunk a thread keeps threads busy when chunks compress unevenly. */
#define BATCH_PER_THREAD 4

/* How to encode a panel's chunks ourselves. */
typedef struct chunk_codec {
    size_t cs, ct;   /* chunk extent: symbols, times */
    int level;       /* deflate level */
    uint64_t fill;   /* bytes of the fill value (padding of edge chunks), native order */
} chunk_codec;

/* Sets *ok (and *cc) when `dset` is a panel whose chunks can be written directly: stored
 * as little-endian float64 in 2-D chunks whose filters are exactly shuffle then deflate,
 * the pipeline qa_store_panel_create sets. Panels written by other tools, or with other
 * filters, get *ok = 0 and take H5Dwrite. */
static qa_status chunk_codec_get(const qa_store_t *st, hid_t dset, int *ok, chunk_codec *cc) {
    qa_status s = QA_OK;
    *ok = 0;
    hid_t dcpl = H5Dget_create_plist(dset), type = H5Dget_type(dset);
    if (dcpl < 0 || type < 0) {
        s = QA_H5_FAIL(dset, NULL, "cannot get the panel's layout");
        goto done;
    }
    htri_t f64 = H5Tequal(type, H5T_IEEE_F64LE);
    H5D_layout_t layout = H5Pget_layout(dcpl);
    int nfilt = H5Pget_nfilters(dcpl);
    if (f64 < 0 || layout < 0 || nfilt < 0) {
        s = QA_H5_FAIL(dset, NULL, "cannot get the panel's layout");
        goto done;
    }
    if (!f64 || layout != H5D_CHUNKED || nfilt != 2) goto done;
    hsize_t chunk[2];
    unsigned flags, cd[4];
    size_t ncd = 4;
    char name[64];
    if (H5Pget_chunk(dcpl, 2, chunk) != 2 ||
        H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, sizeof name, name, NULL) != H5Z_FILTER_SHUFFLE)
        goto done;
    ncd = 4;
    if (H5Pget_filter2(dcpl, 1, &flags, &ncd, cd, sizeof name, name, NULL) != H5Z_FILTER_DEFLATE || ncd < 1 ||
        cd[0] > 9)
        goto done;
    double fill;
    if (H5Pget_fill_value(dcpl, H5T_NATIVE_DOUBLE, &fill) < 0) {
        s = QA_H5_FAIL(dset, NULL, "cannot get the panel's fill value");
        goto done;
    }
    cc->cs = (size_t)chunk[0];
    cc->ct = (size_t)chunk[1];
    cc->level = (int)cd[0];
    memcpy(&cc->fill, &fill, sizeof fill);
    *ok = 1;
done:
    H5Eclear2(H5E_DEFAULT); /* a failed H5Pget_chunk / H5Pget_filter2 only means "not ours" */
    if (type >= 0) H5Tclose(type);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (s != QA_OK) qa_err_prefix("%s: ", st->path);
    return s;
}

/* 1 when [a0, a0 + n) of an axis of `extent` elements is a run of whole chunks of `c`
 * (the last one may be the dataset's edge chunk). */
static int whole_chunks(size_t a0, size_t n, size_t extent, size_t c) {
    return n > 0 && c > 0 && a0 % c == 0 && (n % c == 0 || a0 + n == extent);
}

/* The chunk whose first element is block element (r0, c0) (block of rows x cols, row
 * stride ld), padded with the fill value past the block, in HDF5's shuffle layout: byte k
 * of every element, in element order, then byte k + 1, ... The file stores float64
 * little-endian, so byte k of an element is bits 8k..8k+7 of its 64-bit pattern. */
static void chunk_shuffle(const double *in, size_t ld, size_t rows, size_t cols, size_t r0, size_t c0,
                          const chunk_codec *cc, unsigned char *out) {
    const size_t n = cc->cs * cc->ct;
    for (size_t i = 0; i < cc->cs; i++) {
        const double *row = r0 + i < rows ? in + (r0 + i) * ld + c0 : NULL;
        size_t valid = row ? (cols - c0 < cc->ct ? cols - c0 : cc->ct) : 0;
        unsigned char *o = out + i * cc->ct;
        for (size_t j = 0; j < cc->ct; j++) {
            uint64_t v = cc->fill;
            if (j < valid) memcpy(&v, row + j, sizeof v);
            for (size_t k = 0; k < 8; k++) o[k * n + j] = (unsigned char)(v >> (8 * k));
        }
    }
}

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int thread_num(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Writes block [s0, s0+ns) x [t0, t0+nt) (whole chunks, see whole_chunks) of `dset`
 * chunk by chunk: a batch of chunks encoded in OpenMP threads (the OpenMP default count,
 * so OMP_NUM_THREADS=1 is one thread), then stored in order by this thread. */
static qa_status write_direct(qa_store_t *st, hid_t dset, const chunk_codec *cc, size_t s0, size_t ns, size_t t0,
                              size_t nt, const double *in) {
    qa_status s = QA_OK;
    const size_t raw = cc->cs * cc->ct * sizeof(double);
    const size_t nct = (nt + cc->ct - 1) / cc->ct, nchunk = (ns + cc->cs - 1) / cc->cs * nct;
    int threads = max_threads();
    size_t batch = (size_t)threads * BATCH_PER_THREAD;
    if (batch > nchunk) batch = nchunk;
    if (threads < 1 || (size_t)threads > batch) threads = (int)batch;
    unsigned char *work = NULL;
    size_t *len = NULL;
    /* One compressor per thread: libdeflate's are not for concurrent use. */
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): the elements are pointers, one per thread */
    struct libdeflate_compressor **comp = calloc((size_t)threads, sizeof *comp);
    if (!comp) {
        s = QA_FAIL(QA_ERR_NOMEM, "%s: %d DEFLATE compressors", st->path, threads);
        goto cleanup;
    }
    for (int t = 0; t < threads; t++) {
        comp[t] = libdeflate_alloc_compressor(cc->level);
        if (!comp[t]) {
            s = QA_FAIL(QA_ERR_NOMEM, "%s: a DEFLATE compressor at level %d", st->path, cc->level);
            goto cleanup;
        }
    }
    const size_t bound = libdeflate_zlib_compress_bound(comp[0], raw); /* the worst case of any input */
    work = malloc((size_t)threads * raw + batch * bound);
    len = malloc(batch * sizeof *len);
    if (!work || !len) {
        s = QA_FAIL(QA_ERR_NOMEM, "%s: chunk buffers (%d threads x %zu bytes)", st->path, threads, raw);
        goto cleanup;
    }
    unsigned char *zout = work + (size_t)threads * raw;
    for (size_t b0 = 0; b0 < nchunk && s == QA_OK; b0 += batch) {
        size_t nb = nchunk - b0 < batch ? nchunk - b0 : batch;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
        for (long long k = 0; k < (long long)nb; k++) {
            size_t c = b0 + (size_t)k;
            const int tn = thread_num();
            unsigned char *sh = work + (size_t)tn * raw;
            chunk_shuffle(in, nt, ns, nt, c / nct * cc->cs, c % nct * cc->ct, cc, sh);
            /* 0 would mean the stream did not fit, which `bound` rules out */
            len[k] = libdeflate_zlib_compress(comp[tn], sh, raw, zout + (size_t)k * bound, bound);
        }
        for (size_t k = 0; k < nb && s == QA_OK; k++) {
            size_t c = b0 + k;
            hsize_t off[2] = {s0 + c / nct * cc->cs, t0 + c % nct * cc->ct};
            if (len[k] == 0)
                s = QA_FAIL(QA_ERR_IO, "%s: DEFLATE of the chunk at [%llu, %llu] overran its %zu-byte bound", st->path,
                            (unsigned long long)off[0], (unsigned long long)off[1], bound);
            else if (H5Dwrite_chunk(dset, H5P_DEFAULT, 0, off, len[k], zout + k * bound) < 0)
                s = QA_H5_FAIL(dset, NULL, "cannot write a chunk of the panel");
            else
                st->chunks_direct++;
        }
    }
cleanup:
    for (int t = 0; comp && t < threads; t++) libdeflate_free_compressor(comp[t]); /* accepts NULL */
    free(comp);
    free(work);
    free(len);
    return s;
}

static qa_status panel_io(qa_store_t *st, const char *path, size_t s0, size_t ns, size_t t0, size_t nt,
                          void *buf, int write) {
    if (write && !st->writable) return QA_FAIL(QA_ERR_STATE, "%s: opened read-only", st->path);
    if (s0 + ns > st->nsym || t0 + nt > st->ntime)
        return QA_FAIL(QA_ERR_INVALID_ARG, "%s: block [%zu+%zu, %zu+%zu] outside the %zu x %zu panel '%s'", st->path,
                       s0, ns, t0, nt, st->nsym, st->ntime, path);
    qa_status s = QA_OK;
    hid_t dapl = make_dapl();
    hid_t dset = H5Dopen2(st->file, path, dapl);
    H5Pclose(dapl);
    if (dset < 0) {
        H5Eclear2(H5E_DEFAULT);
        return QA_FAIL(QA_ERR_NOT_FOUND, "%s: no panel '%s'", st->path, path);
    }
    hid_t fspace = H5Dget_space(dset);
    hsize_t dims[2];
    if (H5Sget_simple_extent_ndims(fspace) != 2) {
        s = QA_FAIL(QA_ERR_FORMAT, "%s: '%s' is not a 2-D panel", st->path, path);
        goto done;
    }
    H5Sget_simple_extent_dims(fspace, dims, NULL);
    if (dims[0] != st->nsym || dims[1] != st->ntime) {
        s = QA_FAIL(QA_ERR_FORMAT, "%s: '%s' is %llu x %llu, expected %zu x %zu", st->path, path,
                    (unsigned long long)dims[0], (unsigned long long)dims[1], st->nsym, st->ntime);
        goto done;
    }
    /* Whole chunks of a serial store: encoded in threads here (see write_direct). With
     * MPI-IO on several ranks the write stays H5Dwrite: filtered datasets are written
     * collectively there (every rank in the call, HDF5 assigning chunks to ranks and
     * allocating their file space together), which H5Dwrite_chunk, a per-process call
     * that HDF5 does not support with the MPI-IO driver, cannot take part in. */
    if (write && st->direct_chunks && !st->parallel) {
        chunk_codec cc;
        int ok = 0;
        if ((s = chunk_codec_get(st, dset, &ok, &cc)) != QA_OK) goto done;
        if (ok && whole_chunks(s0, ns, st->nsym, cc.cs) && whole_chunks(t0, nt, st->ntime, cc.ct)) {
            s = write_direct(st, dset, &cc, s0, ns, t0, nt, buf);
            goto done;
        }
    }
    hsize_t off[2] = {s0, t0}, cnt[2] = {ns, nt};
    hsize_t mcnt[2] = {ns ? ns : 1, nt ? nt : 1};
    hid_t mspace = H5Screate_simple(2, mcnt, NULL);
    if (ns == 0 || nt == 0) {
        H5Sselect_none(fspace);
        H5Sselect_none(mspace);
    } else {
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, off, NULL, cnt, NULL);
    }
    hid_t dxpl = make_dxpl(st);
    st->writes_h5 += write != 0;
    herr_t e = write ? H5Dwrite(dset, H5T_NATIVE_DOUBLE, mspace, fspace, dxpl, buf)
                     : H5Dread(dset, H5T_NATIVE_DOUBLE, mspace, fspace, dxpl, buf);
    if (e < 0) s = QA_H5_FAIL(-1, st->path, write ? "cannot write panel" : "cannot read panel");
    H5Pclose(dxpl);
    H5Sclose(mspace);
done:
    H5Sclose(fspace);
    H5Dclose(dset);
    if (s != QA_OK && qa_err_code() == QA_ERR_HDF5) qa_err_prefix("'%s': ", path);
    return s;
}

qa_status qa_store_read(qa_store_t *st, const char *path, size_t s0, size_t ns, size_t t0, size_t nt, double *out) {
    return panel_io(st, path, s0, ns, t0, nt, out, 0);
}

qa_status qa_store_write(qa_store_t *st, const char *path, size_t s0, size_t ns, size_t t0, size_t nt,
                         const double *in) {
    return panel_io(st, path, s0, ns, t0, nt, (void *)in, 1);
}

qa_status qa_store_delete(qa_store_t *st, const char *path) {
    if (!st->writable) return QA_FAIL(QA_ERR_STATE, "%s: opened read-only", st->path);
    if (!qa_store_exists(st, path)) return QA_FAIL(QA_ERR_NOT_FOUND, "%s: no '%s'", st->path, path);
    if (H5Ldelete(st->file, path, H5P_DEFAULT) < 0) return QA_H5_FAIL(-1, st->path, "cannot delete");
    return QA_OK;
}

qa_status qa_store_move(qa_store_t *st, const char *from, const char *to) {
    if (!st->writable) return QA_FAIL(QA_ERR_STATE, "%s: opened read-only", st->path);
    qa_status s = ensure_parent(st, to);
    if (s != QA_OK) return s;
    if (qa_store_exists(st, to) && (s = qa_store_delete(st, to)) != QA_OK) return s;
    if (H5Lmove(st->file, from, st->file, to, H5P_DEFAULT, H5P_DEFAULT) < 0) return QA_H5_FAIL(-1, st->path, "cannot rename");
    return QA_OK;
}

struct name_list {
    char **names;
    size_t n, cap;
    int oom;
};

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g, (void)info;
    struct name_list *l = data;
    if (name[0] == '.') return 0; /* temporary datasets being written */
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **nn = realloc(l->names, cap * sizeof *nn);
        if (!nn) {
            l->oom = 1;
            return 1;
        }
        l->names = nn;
        l->cap = cap;
    }
    if (!(l->names[l->n] = strdup(name))) {
        l->oom = 1;
        return 1;
    }
    l->n++;
    return 0;
}

qa_status qa_store_list(qa_store_t *st, const char *group, char ***names, size_t *count) {
    *names = NULL;
    *count = 0;
    if (!qa_store_exists(st, group)) return QA_OK;
    struct name_list l = {0};
    hid_t g = H5Gopen2(st->file, group, H5P_DEFAULT);
    if (g < 0) return QA_H5_FAIL(-1, st->path, "cannot open group");
    herr_t e = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, list_cb, &l);
    H5Gclose(g);
    if (e < 0 || l.oom) {
        qa_store_free_names(l.names, l.n);
        return l.oom ? QA_FAIL(QA_ERR_NOMEM, "listing") : QA_H5_FAIL(-1, st->path, "cannot list group");
    }
    if (l.n > 1) qsort(l.names, l.n, sizeof *l.names, cmp_str); /* names is NULL for an empty group */
    *names = l.names;
    *count = l.n;
    return QA_OK;
}

void qa_store_free_names(char **names, size_t count) {
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
}
