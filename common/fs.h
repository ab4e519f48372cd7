/* Filesystem helpers: directories, and files that appear whole or not at all.
 *
 * Outputs are written to a temporary name in the destination directory and renamed
 * into place only when complete, so a crash or an error never leaves a half-written
 * file under the final name. */
#ifndef QA_COMMON_FS_H
#define QA_COMMON_FS_H

#include <stddef.h>  /* size_t */
#include <stdio.h>   /* FILE */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates `path` and its missing parents (mode 0755). Existing directories are fine. */
qa_status qa_fs_mkdirs(const char *path);
int qa_fs_exists(const char *path);
int qa_fs_is_dir(const char *path);
/* Size of a regular file in bytes, or -1. */
long long qa_fs_size(const char *path);
/* Sibling temporary name for `path`: "<dir>/.<base>.tmp-<pid>". Every writer of such a
 * file gets its name here, and here first removes the ones killed writers of the same
 * `path` left behind (qa_fs_tmp_clean). */
qa_status qa_fs_tmp_name(const char *path, char *out, size_t size);
/* Removes stale temporary siblings of `path`: regular files "<dir>/.<base>.tmp-<pid>"
 * whose pid is not a live process on this host (kill(pid, 0) fails with ESRCH). A file of
 * a live process (this one, another writer, or one that is not ours to signal: EPERM) is
 * never touched; nor is any other name. Only `path`'s own name is matched, not the whole
 * directory: a pid means nothing on another host, and on a shared filesystem a directory
 * holds other hosts' live files, while one final path has one writer at a time.
 * Returns the number of files removed (0 when the directory cannot be read). */
int qa_fs_tmp_clean(const char *path);
/* Makes SIGINT, SIGTERM and SIGHUP remove every temporary file this process named with
 * qa_fs_tmp_name (the unfinished outputs of an import, a generate, a stress run ...) before
 * the process dies of the signal as it would have (a signal the process inherited as ignored,
 * such as nohup's SIGHUP, stays ignored). `qa` installs it first thing; a command
 * with a graceful stop of its own (sweep, train, serve, live ...) replaces it and cleans up
 * on its way out. */
qa_status qa_fs_tmp_remove_on_signals(void);
/* The handler's work, callable directly: unlinks every temporary name made by this process. */
void qa_fs_tmp_remove_all(void);
/* rename(2) with a clear error; the destination is replaced atomically. */
qa_status qa_fs_rename(const char *from, const char *to);
/* Reads a whole file into a NUL-terminated malloc'd buffer (caller frees). */
qa_status qa_fs_read_all(const char *path, char **out, size_t *len);
/* Writes `len` bytes to `path` atomically. */
qa_status qa_fs_write_all(const char *path, const void *data, size_t len);
/* The longest path the platform builds (Linux's PATH_MAX): every path buffer has this size. */
#define QA_PATH_MAX 4096
/* out (QA_PATH_MAX bytes) = dir "/" name, the name formatted printf-style; dir NULL or ""
 * gives the name alone. A path that would not fit is refused with an error, never cut. */
qa_status qa_path_join(char *out, const char *dir, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* A stdio stream to a temporary file that becomes `path` on commit. */
typedef struct qa_atomic_file {
    FILE *f;
    char path[QA_PATH_MAX];
    char tmp[QA_PATH_MAX];
} qa_atomic_file;

qa_status qa_atomic_open(qa_atomic_file *af, const char *path);
/* Flushes, fsyncs, closes and renames into place. On failure the temp file is removed. */
qa_status qa_atomic_commit(qa_atomic_file *af);
/* Closes and removes the temporary file; safe to call after a commit or twice. */
void qa_atomic_abort(qa_atomic_file *af);

#ifdef __cplusplus
}
#endif
#endif
