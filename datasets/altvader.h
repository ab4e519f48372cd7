/* VADER sentiment scores for short English texts (tweets, headlines).
 *
 * A plain C11 implementation of the rule-based model of Hutto & Gilbert (2014), "VADER: A
 * Parsimonious Rule-based Model for Sentiment Analysis of Social Media Text", following the
 * rules of the reference Python package vaderSentiment 3.3.2 (including its quirks, so that
 * scores agree with it). docs/alt-data.md, section "Sentiment (VADER)", lists every rule with
 * its constants and every difference from the reference; the main ones are: no emoji-to-text
 * translation, unrounded outputs, and bounded input (see qa_altvader_score).
 *
 * The lexicon is read from a CSV file (header token,mean_sentiment,std_dev,human_ratings;
 * plain or gzip), e.g. shared/datasets/alt_text/vader_lexicon.csv.gz; the rule word lists
 * (boosters, negations, idioms) are compiled in. */
#ifndef QA_DATASETS_ALTVADER_H
#define QA_DATASETS_ALTVADER_H

#include <stddef.h>  /* size_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scored prefix: at most this many bytes of a text ... */
#define QA_ALTVADER_MAX_BYTES 65536
/* ... and at most this many whitespace-separated tokens; the scored text ends after the
 * last token kept. Bounds the work and the stack use (about 60 KiB) of one call. */
#define QA_ALTVADER_MAX_TOKENS 4096
/* Longest lexicon token accepted by qa_altvader_load, in bytes. */
#define QA_ALTVADER_MAX_TOKEN_BYTES 255

/* Lexicon plus rule tables in one allocation. Immutable after load: one handle may be
 * shared by any number of threads scoring at once. */
typedef struct qa_altvader qa_altvader_t;

/* Reads the lexicon CSV at `lexicon_csv_path` and builds the lookup table; on success the
 * caller owns *out (release with qa_altvader_free), on failure *out is unchanged.
 * The header's first two fields must be token and mean_sentiment; every row must have as
 * many fields as the header; the token must be 1..QA_ALTVADER_MAX_TOKEN_BYTES bytes and the
 * valence a finite decimal. Errors: QA_ERR_IO / QA_ERR_FORMAT from the CSV reader,
 * QA_ERR_FORMAT for a bad header or row (the text names file:line, the field and its
 * value), QA_ERR_NOMEM.
 * A token given on several rows keeps the valence of its last row, as the reference's
 * dictionary does; the shipped 3.3.2 lexicon has 14 such tokens ("lol", "ok", "xd", ...).
 * Tokens are stored as written: one with an upper-case letter (":D") or a space ("fed up")
 * can never match, since text tokens are lower-cased and split on whitespace (as in the
 * reference). */
qa_status qa_altvader_load(const char *lexicon_csv_path, qa_altvader_t **out);
/* Accepts NULL. */
void qa_altvader_free(qa_altvader_t *v);
/* Distinct lexicon tokens (7,506 for the shipped file: 7,520 rows less 14 repeated). */
size_t qa_altvader_size(const qa_altvader_t *v);

/* neg, neu, pos: shares of negative, neutral and positive weight in the text, each in
 * [0, 1], summing to 1 up to rounding (all 0 for a text without tokens). compound: the
 * normalised sum of the word valences, in [-1, 1]. None is rounded (the reference rounds
 * neg/neu/pos to 3 and compound to 4 decimals). */
typedef struct qa_altvader_scores {
    double neg, neu, pos, compound;
} qa_altvader_scores;

/* Scores `text`, UTF-8 of any length; never fails. Only the first QA_ALTVADER_MAX_BYTES bytes
 * and QA_ALTVADER_MAX_TOKENS tokens are read, so the work is bounded: linear in that prefix,
 * except that the "but" rule (exact to the reference's list.index quirk) is quadratic in the
 * number of lexicon words of a text containing "but" (worst case, 4,096 of them: ~6 ms
 * against ~0.3 ms). Invalid UTF-8 bytes count as one non-space, caseless character each.
 * NULL, empty or all-whitespace text gives all four scores 0, as the reference does for
 * empty text, and so does a NULL `v`. No allocation; `out` must not be NULL. */
void qa_altvader_score(const qa_altvader_t *v, const char *text, qa_altvader_scores *out);
/* The compound score of qa_altvader_score alone. */
double qa_altvader_compound(const qa_altvader_t *v, const char *text);

#ifdef __cplusplus
}
#endif
#endif
