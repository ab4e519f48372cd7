/* Alternative-data series aligned to a market file's bars without look-ahead
 * (`qa alt align`; docs/alt-data.md "Aligned series").
 *
 * A document becomes *available* at its timestamp, or, when only its date is known (news
 * stories), at the next session's open (09:30 America/New_York on NYSE calendars, 00:00
 * UTC the next day elsewhere). It counts for the first bar of its symbol whose close
 * comes strictly after that moment: for daily NYSE bars the close is 16:00 New York time
 * of the bar's date (13:00 on the early-close days), for other bars the bar's start plus
 * its length. So every value at bar t uses only documents available before t's close,
 * which is also when the bar's own close price is known.
 *
 * Per symbol and bar, for a source prefix P (news, tweets):
 *   /alt/P_count         documents for the bar (0 where the symbol has a bar and none came,
 *                        once its first document has come)
 *   /alt/P_sent_mean     their mean VADER compound (NaN without documents)
 *   /alt/P_sent_maxabs   the compound with the largest magnitude, signed (NaN without)
 *   /alt/P_count_z       (count - mean) / std of the previous `z_window` counts of the
 *                        symbol's bars (sample std; NaN until the window is full or when
 *                        the std is 0)
 * All four are NaN where the symbol has no bar, and before the bar of the symbol's first
 * document from the source: until then the source may simply not cover it (the tweets
 * start in 2014), and zeros there would read as "no news" and make the first z-scores
 * jump. Documents that arrive while a symbol has no bar wait for its next bar.
 *
 * The per-bar update (qa_altseries_*) is the one the live service runs, so batch and live
 * produce the same numbers from the same documents. */
#ifndef QA_DATASETS_ALTALIGN_H
#define QA_DATASETS_ALTALIGN_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"
#include "datasets/altdocs.h" /* qa_altdocs_basis */
#include "datasets/store.h"   /* qa_store_meta */

#ifdef __cplusplus
extern "C" {
#endif

#define QA_ALT_CODE_VERSION "alt-1"
#define QA_ALTSERIES_MAX_WINDOW 256

/* ---- the session clock ---------------------------------------------------------------- */

typedef enum qa_altclock_kind {
    QA_ALTCLOCK_NYSE_DAILY = 0,    /* bars keyed by date; close 16:00 New York (13:00 early) */
    QA_ALTCLOCK_NYSE_INTRADAY = 1, /* bar start + length; dated stories at 09:30 New York */
    QA_ALTCLOCK_PLAIN = 2          /* bar start + length; dated stories at 00:00 UTC next day */
} qa_altclock_kind;

typedef struct qa_altclock {
    qa_altclock_kind kind;
    int64_t bar_ns;
} qa_altclock;

/* The clock of a market file from its calendar ("NYSE" or other) and bar length. */
void qa_altclock_init(const qa_store_meta *meta, qa_altclock *c);
/* UTC ns when bar `bar_time` closes. */
int64_t qa_altclock_bar_close(const qa_altclock *c, int64_t bar_time);
/* UTC ns when a document becomes available. */
int64_t qa_altclock_available(const qa_altclock *c, int64_t event_ns, qa_altdocs_basis basis);
/* New York local time (h:m on the UTC date `day_ns`, 00:00 UTC) as UTC ns, with the US
 * daylight-saving rules (2007 onwards: second Sunday of March to first Sunday of
 * November; before: first Sunday of April to last Sunday of October). */
int64_t qa_altclock_new_york(int64_t day_ns, int hour, int minute);
/* 1 when the date (00:00 UTC ns) is an NYSE early close (13:00): July 3 on Monday to
 * Thursday, the day after Thanksgiving, December 24 on Monday to Thursday. */
int qa_altclock_early_close(int64_t day_ns);

/* ---- one symbol's series, bar by bar ----------------------------------------------------- */

typedef struct qa_altseries {
    int window;                          /* z-score window (2..QA_ALTSERIES_MAX_WINDOW) */
    int started;                         /* the symbol's first document has come */
    int filled, pos;                     /* counts in the ring, next slot */
    double ring[QA_ALTSERIES_MAX_WINDOW];/* previous bars' counts */
    double n, sum, maxabs;               /* the open bar's documents */
} qa_altseries;

enum { QA_ALT_COUNT = 0, QA_ALT_SENT_MEAN = 1, QA_ALT_SENT_MAXABS = 2, QA_ALT_COUNT_Z = 3, QA_ALT_NSERIES = 4 };
/* "count", "sent_mean", "sent_maxabs", "count_z". */
extern const char *const qa_altseries_names[QA_ALT_NSERIES];

void qa_altseries_init(qa_altseries *s, int window);
/* One document for the symbol's open bar. */
void qa_altseries_add(qa_altseries *s, double sentiment);
/* Closes a bar of the symbol: writes the four values (all NaN before its first document)
 * and starts the next bar. */
void qa_altseries_close(qa_altseries *s, double out[QA_ALT_NSERIES]);

/* Checkpoint form (the live service's state blob): 6 + window doubles. */
#define QA_ALTSERIES_DOUBLES(window) (6 + (size_t)(window))
void qa_altseries_pack(const qa_altseries *s, double *out);
/* Restores what qa_altseries_pack wrote into a series initialised with the same window. */
void qa_altseries_unpack(qa_altseries *s, const double *in);

/* Dataset prefix of a source: news for reuters, tweets for stocknet, else the source. */
const char *qa_altalign_default_prefix(const char *source);

/* ---- the batch job ------------------------------------------------------------------ */

typedef struct qa_altalign_opts {
    const char *market;  /* market file, opened read-write */
    const char *db;      /* document store */
    const char *source;  /* "reuters", "stocknet" */
    const char *prefix;  /* dataset prefix; NULL: news for reuters, tweets for stocknet, else the source */
    int z_window;        /* 20 by default */
} qa_altalign_opts;

typedef struct qa_altalign_report {
    char prefix[32];
    long long symbols, symbols_with_docs;
    long long docs_used;      /* documents counted for some bar */
    long long docs_before;    /* available before the symbol's first bar */
    long long docs_after;     /* available after its last bar's close */
    char docs_hash[65];       /* SHA-256 over the used (symbol, content hash, bar close, sentiment) */
} qa_altalign_report;

/* Writes the four /alt/P_* panels (replacing earlier ones atomically per panel) with
 * lineage attributes: description, source, store, documents, docs_hash, code_version,
 * params. */
qa_status qa_altalign_run(const qa_altalign_opts *o, qa_altalign_report *rep);

#ifdef __cplusplus
}
#endif
#endif
