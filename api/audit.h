/* qa serve's audit log (docs/api.md, "Audit log"): every mutating call and every refused
 * one (who, when, what, from where, outcome) in <state_dir>/audit.db, append-only and
 * hash-chained:
 *   hash(n) = SHA-256(hash(n-1) | seq | time | user | roles | remote | method | path |
 *                     code | outcome | detail), with hash(0) = 64 zeros;
 * triggers refuse UPDATE and DELETE, and <state_dir>/audit.head keeps the last (seq, hash)
 * so that removing rows at the end is detected too. `qa audit verify` recomputes the chain:
 * a changed row breaks its own hash, a deleted row breaks the next row's link, a dropped
 * tail disagrees with the head. What it cannot detect: someone who rewrites the whole chain
 * and the head file together (they hold the same secrets as the server; ship the head to
 * another machine for that). */
#ifndef QA_API_AUDIT_H
#define QA_API_AUDIT_H

#include <jansson.h>  /* json_t */
#include <stdint.h>   /* int64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_audit qa_audit_t;

typedef struct qa_audit_entry {
    const char *user;    /* "" when not authenticated */
    const char *roles;   /* "trader" */
    const char *remote;  /* client address */
    const char *method, *path;
    unsigned code;       /* HTTP status answered */
    const char *outcome; /* "ok", "refused: role", "refused: token", "error: ..." */
    const char *detail;  /* what the handler did, or why it failed */
} qa_audit_entry;

typedef struct qa_audit_report {
    long long rows;
    long long first_bad; /* seq of the first row that fails, -1 when none */
    char detail[256];
} qa_audit_report;

qa_status qa_audit_open(const char *state_dir, qa_audit_t **out);
void qa_audit_close(qa_audit_t *a);
/* Appends one row (time = now) in its own transaction; thread-safe. */
qa_status qa_audit_append(qa_audit_t *a, const qa_audit_entry *e);
/* {"columns":[...],"rows":[[...]],"total","page","pages"}, newest first. */
qa_status qa_audit_page(qa_audit_t *a, long page, long limit, json_t **out);
/* Recomputes the chain of <state_dir>/audit.db (read-only) against audit.head. Returns
 * QA_OK with first_bad = -1 when intact, QA_OK with first_bad >= 0 when not. */
qa_status qa_audit_verify(const char *state_dir, qa_audit_report *r);

#ifdef __cplusplus
}
#endif
#endif
