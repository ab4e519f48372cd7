/* HDF5 building blocks for every file the platform writes or reads (the market store,
 * sweep results and chunks, stress results): HDF5's own error messages recorded once,
 * attributes, datasets, fixed- and variable-length strings, and files that appear whole
 * or not at all.
 *
 * Errors. HDF5 prints its error stack to stderr by default; qa_h5_quiet() turns that off
 * (every function here calls it) and QA_H5_FAIL records instead the outermost and
 * innermost messages of the stack with the file and what was being done:
 *     results.h5: cannot create dataset 'metrics/sharpe': unable to create dataset
 *     (no space available for allocation)
 * QA_H5_CHECK returns on a negative HDF5 result; QA_H5_TRY jumps to `cleanup` (it needs
 * `qa_status st`).
 *
 * Objects are named by a location (a file or group id) and a path relative to it; a NULL
 * or "" path is the location itself. Numbers are written little-endian IEEE / two's
 * complement (the file types every reader expects) from native memory. */
#ifndef QA_DATASETS_H5_H
#define QA_DATASETS_H5_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include <hdf5.h>    /* hid_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------------------------- */

/* Records QA_ERR_HDF5 "<file of loc>: <what> '<path>': <HDF5's messages>" and clears
 * HDF5's stack. `loc` may be negative (then `path` names the file). */
qa_status qa_h5_fail(const char *src, int line, hid_t loc, const char *path, const char *what);
/* qa_h5_fail always returns QA_ERR_HDF5; the macro yields the constant so that callers
 * (and the static analyzer) see that a failure is never QA_OK. */
#define QA_H5_FAIL(loc, path, what) ((void)qa_h5_fail(__FILE__, __LINE__, (loc), (path), (what)), QA_ERR_HDF5)
#define QA_H5_CHECK(expr, loc, path, what)                                   \
    do {                                                                     \
        if ((expr) < 0) return QA_H5_FAIL((loc), (path), (what));            \
    } while (0)
#define QA_H5_TRY(expr, loc, path, what)                                     \
    do {                                                                     \
        if ((expr) < 0) {                                                    \
            st = QA_H5_FAIL((loc), (path), (what));                          \
            goto cleanup;                                                    \
        }                                                                    \
    } while (0)

/* Stops HDF5 printing its error stack (we report once, with context). Idempotent. */
void qa_h5_quiet(void);
/* For a program's main, before MPI_Init and any other HDF5 call: starts HDF5 without
 * its termination at exit (atexit) or at MPI_Finalize (registered only when MPI is up
 * first). HDF5 1.10 crashes in that termination once a metadata flush has failed (a
 * full disk): the failed flush leaves the file's cache unable to close, and the exit
 * handler then closes a half-freed file. Every file is closed explicitly here, so
 * nothing is lost; the error then is reported and the exit code is 1, not a segfault. */
void qa_h5_process_init(void);

/* ---- attributes (scalars; an existing attribute of the name is replaced) ------------------ */

qa_status qa_h5_attr_set_str(hid_t loc, const char *path, const char *name, const char *value); /* UTF-8, variable length */
qa_status qa_h5_attr_set_i64(hid_t loc, const char *path, const char *name, int64_t value);
qa_status qa_h5_attr_set_f64(hid_t loc, const char *path, const char *name, double value);
/* Reads a string attribute (variable or fixed length) into buf. QA_ERR_NOT_FOUND when the
 * object or the attribute does not exist, QA_ERR_FORMAT when it is not a string or does
 * not fit. */
qa_status qa_h5_attr_get_str(hid_t loc, const char *path, const char *name, char *buf, size_t size);
/* Reads a numeric attribute converted to int64 / double (QA_ERR_NOT_FOUND, QA_ERR_FORMAT). */
qa_status qa_h5_attr_get_i64(hid_t loc, const char *path, const char *name, int64_t *value);
qa_status qa_h5_attr_get_f64(hid_t loc, const char *path, const char *name, double *value);

/* ---- datasets ------------------------------------------------------------------------------- */

/* Creates a rank-1 or rank-2 dataset of file type `type` (chunked by `chunk` when
 * non-NULL and the dataset is not empty; float64 datasets fill with NaN), with its parent
 * groups; *out receives the id (caller closes). */
qa_status qa_h5_create(hid_t loc, const char *path, hid_t type, int rank, const size_t *dims, const size_t *chunk,
                       hid_t *out);
/* Writes a [n0 x n1] block at (o0, o1) of a rank-2 dataset (rank 1: n1 = 1, o1 = 0). */
qa_status qa_h5_write_block(hid_t ds, hid_t memtype, size_t o0, size_t n0, size_t o1, size_t n1, const void *buf);
/* Creates and writes a whole dataset (contiguous). Memory is native: float64 for
 * H5T_IEEE_F64LE, int64 for H5T_STD_I64LE, uint8 for H5T_STD_U8LE, else `type` itself.
 * An empty dataset is created and nothing is read from buf. */
qa_status qa_h5_put(hid_t loc, const char *path, hid_t type, int rank, const size_t *dims, const void *buf);
/* Typed shorthands: v [rows x cols] doubles (cols 0: a rank-1 dataset of rows), int64 and
 * uint8 vectors. */
qa_status qa_h5_put_f64(hid_t loc, const char *path, const double *v, size_t rows, size_t cols);
qa_status qa_h5_put_i64(hid_t loc, const char *path, const int64_t *v, size_t n);
qa_status qa_h5_put_u8(hid_t loc, const char *path, const unsigned char *v, size_t n);
/* Strings: n variable-length UTF-8 strings, or n fixed-length (len bytes each,
 * NUL-padded) from one buffer of n * len bytes. */
qa_status qa_h5_put_strings(hid_t loc, const char *path, const char *const *v, size_t n);
qa_status qa_h5_put_names(hid_t loc, const char *path, const char *names, size_t n, size_t len);

/* ---- files written whole ------------------------------------------------------------------------ */

/* A new HDF5 file under a temporary sibling name that becomes `path` on commit. */
typedef struct qa_h5_file {
    hid_t id;
    char *path, *tmp;
} qa_h5_file;

qa_status qa_h5_file_create(const char *path, qa_h5_file *f);
/* Closes, fsyncs when asked (a checkpoint that must survive a crash), renames into place.
 * On failure the temporary file is removed. */
qa_status qa_h5_file_commit(qa_h5_file *f, int fsync_it);
/* Closes and removes the temporary file; accepts a zeroed or committed handle. */
void qa_h5_file_abort(qa_h5_file *f);
/* Closes `file`, a new file that is being thrown away (its writes failed, or the run
 * stopped); the caller removes its name. A close fails whenever its last metadata
 * writes do (a full disk), and a failed H5Fclose leaves the id half freed (HDF5 1.10;
 * see qa_h5_process_init). So the file's descriptor (sec2 driver) is first pointed at
 * an anonymous memory file, where those writes succeed and vanish, and the close frees
 * everything (unless an earlier flush of the file failed: then it cannot). With the
 * MPI-IO driver the close is attempted as it is. Accepts a negative id. */
void qa_h5_close_discard(hid_t file);

#ifdef __cplusplus
}
#endif
#endif
