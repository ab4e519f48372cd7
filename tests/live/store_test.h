/* Test helper for the SQLite stores of the live side (orders.db, venue.db): a database of
 * another format, to check that a store refuses it before writing. */
#ifndef QA_TESTS_LIVE_STORE_TEST_H
#define QA_TESTS_LIVE_STORE_TEST_H

#include <sqlite3.h> /* the foreign file */
#include <stdio.h>   /* snprintf */

#include "harness.h"

/* Creates `path` with only a meta table naming `format` and `version`. */
static inline void qa_test_foreign_db(const char *path, const char *format, const char *version) {
    sqlite3 *db = NULL;
    QA_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    char sql[256];
    snprintf(sql, sizeof sql,
             "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
             "INSERT INTO meta VALUES('format', '%s'), ('format_version', '%s');",
             format, version);
    QA_CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}

#endif
