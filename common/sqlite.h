/* SQLite databases the platform keeps (model registry, later the order and risk stores):
 * one way to open them (WAL, busy timeout, foreign keys), one error macro recording
 * SQLite's own message, and write transactions that wait for the lock instead of failing.
 *
 * Journal mode: WAL on local file systems (readers never block the writer). SQLite's WAL
 * needs shared memory between the processes, which network file systems do not provide,
 * so on NFS, Lustre, GPFS, CIFS and FUSE mounts the database uses the rollback journal
 * (journal_mode=DELETE), relying on the file system's POSIX locks; QA_SQLITE_JOURNAL=wal
 * or =delete overrides the choice. */
#ifndef QA_COMMON_SQLITE_H
#define QA_COMMON_SQLITE_H

#include <sqlite3.h>  /* sqlite3, sqlite3_stmt */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Records "<what>: <sqlite message> (<file>:<line>)" as QA_ERR_SQLITE when rc is not one
 * of SQLITE_OK, SQLITE_ROW, SQLITE_DONE; evaluates to the status. */
qa_status qa_sqlite_err(sqlite3 *db, int rc, const char *what, const char *file, int line);
#define QA_SQLITE_CHECK(db, expr) qa_sqlite_err((db), (expr), #expr, __FILE__, __LINE__)

/* Opens (creating when `create`) the database file with a busy timeout of `busy_ms`,
 * foreign keys on and the journal mode above. *wal receives 1 when WAL is in use. */
qa_status qa_sqlite_open(const char *path, int create, int busy_ms, sqlite3 **out, int *wal);
void qa_sqlite_close(sqlite3 *db);

/* Runs SQL text without results (schema, pragmas). */
qa_status qa_sqlite_exec(sqlite3 *db, const char *sql);
/* Before a store creates its schema: a file with tables must carry meta rows
 * ('format', format) and ('format_version', version); QA_ERR_FORMAT naming the path and
 * what it holds otherwise, so a wrong file is refused before anything is written to it.
 * A file without tables (new) passes. */
qa_status qa_sqlite_check_format(sqlite3 *db, const char *path, const char *format, const char *version);
/* BEGIN IMMEDIATE (takes the write lock now, so a transaction never fails half-way on
 * a lock upgrade), retried while the database is busy for up to the busy timeout x 4. */
qa_status qa_sqlite_begin(sqlite3 *db);
qa_status qa_sqlite_commit(sqlite3 *db);
/* Rolls back an open transaction; a no-op outside one. Keeps the thread's error text. */
void qa_sqlite_rollback(sqlite3 *db);

/* Prepares `sql`; the statement is the caller's (sqlite3_finalize). */
qa_status qa_sqlite_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out);
/* Binds text (NULL binds SQL NULL). */
qa_status qa_sqlite_bind_text(sqlite3_stmt *s, int i, const char *v);
/* Text of a result column, "" for NULL. */
const char *qa_sqlite_text(sqlite3_stmt *s, int col);

#ifdef __cplusplus
}
#endif
#endif
