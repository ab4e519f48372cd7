/* VADER sentiment (datasets/altvader): one hand-worked sentence per rule on the shipped
 * lexicon, bounded input, invalid UTF-8, and lexicon files with bad rows.
 *
 * Valences used below, looked up in shared/datasets/alt_text/vader_lexicon.csv.gz
 * (zcat ... | grep '^"good"' etc.): good 1.9, horrible -2.5, kind 2.4, yeah 1.2, no -1.2,
 * bomb -2.2, doubt -1.5, ":)" 2.0, "lol" 2.9 on line 306 and 1.8 on line 4407 (the later row
 * counts). Not in the lexicon: the, stock, is, it, was, been, he, said, that, outlook, very,
 * slightly, much, not, never, so, without, least, at, of, sort, but, or, right.
 * Constants of the rules: booster +0.293, dampener -0.293 (x0.95 two words back, x0.9 three
 * back), caps +0.733, negation x(-0.74), '!' +0.292 (at most 4), "??" or "???" +0.18 each,
 * 4+ '?' +0.96, "but" x0.5 before / x1.5 after, compound = s / sqrt(s^2 + 15).
 *
 * Error budget: expected values are closed forms over those constants, evaluated in double.
 * They perform the rules' operations, though not always in the implementation's order, so
 * they can differ from it by a few ulps (< 1e-15); TOL = 1e-9 allows for that and is still
 * six orders of magnitude below the smallest rule effect checked here (the 0.9 decay of a
 * booster moves compound by about 2e-3).
 *
 * usage: test_altvader [source-dir]; the lexicon is $QA_DATA_ROOT/alt_text/..., else
 * <source-dir>/../shared/datasets/alt_text/...; without it the lexicon cases are skipped. */
#include <math.h>    /* sqrt */
#include <stdio.h>   /* printf, snprintf */
#include <stdlib.h>  /* getenv, malloc, free */
#include <string.h>  /* memset, strlen, memcpy */

#include "common/fs.h"          /* qa_fs_write_all, qa_fs_exists: temp lexicons */
#include "datasets/altvader.h"  /* the module under test */
#include "harness.h"            /* QA_RUN, QA_CHECK*, skip and temp-dir helpers */

#define TOL 1e-9

static char dir[256];
static qa_altvader_t *vader; /* the shipped lexicon, shared by the rule cases */

/* The reference's normalisation, written out. */
static double norm(double s) { return s / sqrt(s * s + 15.0); }

static void check_compound_at(const char *file, int line, const char *text, double expect) {
    double got = qa_altvader_compound(vader, text);
    if (!(fabs(got - expect) <= TOL)) {
        printf("  FAIL %s:%d: compound(\"%s\") = %.17g, expected %.17g\n", file, line, text, got, expect);
        qa_test_case_failed_ = 1;
        qa_test_failures_++;
    }
}
#define CHECK_COMPOUND(text, expect) check_compound_at(__FILE__, __LINE__, (text), (expect))

/* All four scores; neg/neu/pos from the weights: a positive word weighs 1 + valence, a
 * negative one 1 + |valence|, any other token 1, and the punctuation emphasis goes to the
 * larger side. */
static void check_all(const char *text, double compound, double neg, double neu, double pos) {
    qa_altvader_scores s;
    qa_altvader_score(vader, text, &s);
    QA_CHECK_NEAR(s.compound, compound, TOL, 0);
    QA_CHECK_NEAR(s.neg, neg, TOL, 0);
    QA_CHECK_NEAR(s.neu, neu, TOL, 0);
    QA_CHECK_NEAR(s.pos, pos, TOL, 0);
}

static void test_lexicon_size(void) {
    /* 7,520 rows, 14 tokens given twice (":-p", "d:", "lol", "ok", "xd", ...): 7,506. */
    QA_CHECK_INT(qa_altvader_size(vader), 7506);
    /* "lol" keeps its later row, 1.8 (not 2.9), as in the reference's dict. */
    CHECK_COMPOUND("lol", norm(1.8));
}

static void test_plain_word(void) {
    /* Tokens The stock is good (the '.' is stripped); one word 1.9, three neutral.
     * Weights: pos 2.9, neu 3, total 5.9. */
    check_all("The stock is good.", norm(1.9), 0.0, 3 / 5.9, 2.9 / 5.9);
    /* Case does not matter for lookup; "(good)" loses its brackets. */
    CHECK_COMPOUND("the STOCK is (good)", norm(1.9));
}

static void test_caps_booster_exclamation(void) {
    /* VERY and GOOD are caps, The stock is are not: caps emphasis is on.
     * GOOD: 1.9 + 0.733; VERY boosts by 0.293, + 0.733 as it is in caps; then 3 '!' add
     * 3 * 0.292 to the sum. Weights: pos (3.659 + 1) + 0.876, neu 4 (VERY is a modifier). */
    double word = (1.9 + 0.733) + (0.293 + 0.733), amp = 3 * 0.292;
    double pos_w = word + 1 + amp;
    check_all("The stock is VERY GOOD!!!", norm(word + amp), 0.0, 4 / (pos_w + 4), pos_w / (pos_w + 4));
    /* Caps on a negative word push it further down: -2.5 - 0.733. */
    CHECK_COMPOUND("The stock is HORRIBLE", norm(-2.5 - 0.733));
}

static void test_caps_without_mixing(void) {
    /* Every token is caps: no caps emphasis, only the booster: 1.9 + 0.293. */
    CHECK_COMPOUND("THE STOCK IS VERY GOOD", norm(1.9 + 0.293));
    CHECK_COMPOUND("the stock is very good", norm(1.9 + 0.293));
    /* A caseless token ("123", "!!") is not caps (Python's isupper), so this text mixes:
     * 1.9 + 0.733, plus 2 '!' at 0.292. */
    CHECK_COMPOUND("GOOD 123 !!", norm(1.9 + 0.733 + 2 * 0.292));
}

static void test_negation(void) {
    /* "not" right before: 1.9 * -0.74 = -1.406. Weights: neg 2.406, neu 4. */
    double v = 1.9 * -0.74;
    check_all("The stock is not good.", norm(v), 2.406 / 6.406, 4 / 6.406, 0.0);
    CHECK_COMPOUND("The stock isn't good", norm(v));   /* NEGATE list */
    CHECK_COMPOUND("It was never good", norm(v));      /* "never" alone negates */
    CHECK_COMPOUND("It is without good", norm(v));     /* "without" negates */
    /* "shouldn't've" is not in the list but contains "n't"; two words back still negates. */
    CHECK_COMPOUND("It shouldn't've been good", norm(v));
    /* Three words back: "not" the stock good. */
    CHECK_COMPOUND("not the stock good", norm(v));
}

static void test_boosters_and_dampeners(void) {
    CHECK_COMPOUND("The stock is slightly good", norm(1.9 - 0.293)); /* dampener */
    CHECK_COMPOUND("The stock is very horrible", norm(-2.5 - 0.293)); /* boosts away from 0 */
    CHECK_COMPOUND("The stock is very much good", norm(1.9 + 0.293 * 0.95)); /* two back */
    CHECK_COMPOUND("The very stock is good", norm(1.9 + 0.293 * 0.9));      /* three back */
    CHECK_COMPOUND("very the stock is good", norm(1.9));                     /* four back: none */
}

static void test_kind_of(void) {
    /* "kind" (2.4 in the lexicon) before "of" scores 0; "kind of" in the two words before
     * good dampens it by 0.293 (the idiom step, which needs a non-lexicon word three back). */
    CHECK_COMPOUND("The stock is kind of good.", norm(1.9 - 0.293));
    CHECK_COMPOUND("The stock is sort of good", norm(1.9 - 0.293));
    /* At the start of the text the idiom step does not run (as in the reference): 1.9. */
    CHECK_COMPOUND("kind of good", norm(1.9));
    /* "kind" not followed by "of" is the lexicon word. */
    CHECK_COMPOUND("so kind", norm(2.4 + 0.293));
}

static void test_but(void) {
    /* good before "but" x0.5, horrible after it x1.5: 0.95 - 3.75 = -2.8.
     * Weights: pos 1.95, neg 4.75, neu 7 (The stock is but the outlook is). */
    double pos_w = 1.9 * 0.5 + 1, neg_w = 2.5 * 1.5 + 1, total = pos_w + neg_w + 7;
    check_all("The stock is good but the outlook is horrible.", norm(1.9 * 0.5 + -2.5 * 1.5), neg_w / total,
              7 / total, pos_w / total);
    /* The reference's list.index quirk: kind 2.4 -> 1.2; then yeah's 1.2 finds that first
     * 1.2 and halves it again to 0.6, and yeah stays 1.2: 0.6 + 1.2. */
    CHECK_COMPOUND("kind but yeah", norm(0.6 + 1.2));
}

static void test_question_and_exclamation_marks(void) {
    CHECK_COMPOUND("Is the stock good?", norm(1.9));               /* one '?': nothing */
    CHECK_COMPOUND("Is the stock good??", norm(1.9 + 2 * 0.18));
    CHECK_COMPOUND("Is the stock good???", norm(1.9 + 3 * 0.18));
    CHECK_COMPOUND("Is the stock good????", norm(1.9 + 0.96));
    CHECK_COMPOUND("The stock is horrible??", norm(-2.5 - 2 * 0.18)); /* away from 0 */
    CHECK_COMPOUND("good!!!!!!", norm(1.9 + 4 * 0.292));               /* at most 4 '!' */
    CHECK_COMPOUND("good !! ??", norm(1.9 + 2 * 0.292 + 2 * 0.18));
    /* No sentiment: punctuation does not move 0. "!!!" is one neutral token. */
    check_all("!!!", 0.0, 0.0, 1.0, 0.0);
}

static void test_no(void) {
    /* "no" before a lexicon word drops its own -1.2 and negates the word. */
    CHECK_COMPOUND("The stock is no good", norm(1.9 * -0.74));
    CHECK_COMPOUND("no", norm(-1.2));
    /* "no X or Y": Y negated; "no" keeps -1.2 (stock is no lexicon word). */
    CHECK_COMPOUND("no stock or good", norm(-1.2 + 1.9 * -0.74));
}

static void test_least(void) {
    CHECK_COMPOUND("The stock is the least good", norm(1.9 * -0.74));
    CHECK_COMPOUND("It is at least good", norm(1.9)); /* "at least" does not negate */
}

static void test_never_so_and_without_doubt(void) {
    /* so boosts (+0.293); "never so" two back gives x1.25, and so right before the word
     * gives x1.25 again three back (the reference's precedence). */
    CHECK_COMPOUND("The stock is never so good", norm((1.9 + 0.293) * 1.25 * 1.25));
    /* doubt (-1.5) is negated by "without" (x-0.74); good is not negated by "without
     * doubt": 1.11 + 1.9. */
    CHECK_COMPOUND("It is without doubt good", norm(-1.5 * -0.74 + 1.9));
}

static void test_special_idioms(void) {
    /* "the bomb" replaces bomb's -2.2 by 3 (needs three words before bomb). */
    CHECK_COMPOUND("The stock is the bomb", norm(3.0));
    CHECK_COMPOUND("the bomb", norm(-2.2));
    /* "yeah right", matched forward from yeah: -2 instead of 1.2. */
    CHECK_COMPOUND("He said that yeah right", norm(-2.0));
}

static void test_tokens(void) {
    /* Emoticons of <= 2 characters after stripping stay whole. */
    CHECK_COMPOUND("The stock :)", norm(2.0));
    /* Stripping is undone when 2 or fewer characters would remain: "'ok'" stays "'ok'",
     * which is no lexicon word, while "'bad'" becomes bad (-2.5). ok is 1.2 (its later row). */
    CHECK_COMPOUND("ok", norm(1.2));
    CHECK_COMPOUND("'ok'", 0.0);
    CHECK_COMPOUND("'bad'", norm(-2.5));
    /* Unicode whitespace (U+00A0, U+3000) and U+001C..U+001F split tokens as Python's
     * split() does. */
    CHECK_COMPOUND("good\xc2\xa0good\xe3\x80\x80good", norm(1.9 + 1.9 + 1.9));
    CHECK_COMPOUND("good\x1cgood\x1fgood", norm(1.9 + 1.9 + 1.9));
    /* U+200B is no whitespace: one unknown token. */
    CHECK_COMPOUND("good\xe2\x80\x8bgood", 0.0);
}

static void test_empty(void) {
    check_all("", 0.0, 0.0, 0.0, 0.0);
    check_all(" \t\n ", 0.0, 0.0, 0.0, 0.0);
    qa_altvader_scores s;
    memset(&s, 0xA5, sizeof s);
    qa_altvader_score(vader, NULL, &s);
    QA_CHECK(s.neg == 0 && s.neu == 0 && s.pos == 0 && s.compound == 0);
}

static void test_long_text(void) {
    /* 100,000 chars of "good ": only the first 4,096 tokens count. */
    size_t n = 100000;
    char *text = malloc(n + 1), *prefix = malloc(n + 1);
    for (size_t i = 0; i < n; i++) text[i] = "good "[i % 5];
    text[n] = '\0';
    memcpy(prefix, text, 5 * QA_ALTVADER_MAX_TOKENS);
    prefix[5 * QA_ALTVADER_MAX_TOKENS] = '\0';
    double whole = qa_altvader_compound(vader, text), first = qa_altvader_compound(vader, prefix);
    QA_CHECK(whole == first);
    QA_CHECK(whole > 0.9999 && whole <= 1.0);
    /* What follows token 4,096 is ignored, '!' included. */
    snprintf(text + 5 * QA_ALTVADER_MAX_TOKENS, 40, "horrible horrible!!!!");
    QA_CHECK(qa_altvader_compound(vader, text) == first);
    /* Past 64 KiB nothing is read: spaces, then a word. */
    memset(text, ' ', n);
    memcpy(text + QA_ALTVADER_MAX_BYTES + 10, "horrible", 8);
    check_all(text, 0.0, 0.0, 0.0, 0.0);
    /* A word cut by the 64 KiB limit is scored on its bytes before the limit. */
    memcpy(text + QA_ALTVADER_MAX_BYTES - 4, "goodness", 8);
    CHECK_COMPOUND(text, norm(1.9));
    free(text);
    free(prefix);
}

static void test_invalid_utf8(void) {
    /* Stray bytes are tokens of their own (neutral), or part of a token they touch. */
    qa_altvader_scores s;
    qa_altvader_score(vader, "\xff\xfe good \xc3", &s);
    QA_CHECK_NEAR(s.compound, norm(1.9), TOL, 0);
    QA_CHECK_NEAR(s.neu, 2 / 4.9, TOL, 0);
    qa_altvader_score(vader, "bad\x80 \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80!!", &s);
    QA_CHECK_NEAR(s.compound, 0.0, TOL, 0); /* bad\x80 is not "bad" */
    /* Every byte value once, in a loop of shifted windows: must not crash, scores in range. */
    char all[256];
    for (int i = 0; i < 255; i++) all[i] = (char)(i + 1);
    all[255] = '\0';
    for (int k = 0; k < 255; k++) {
        qa_altvader_score(vader, all + k, &s);
        QA_CHECK(s.compound >= -1 && s.compound <= 1 && s.neu >= 0 && s.neu <= 1);
    }
}

/* ---- lexicon files (no shipped data needed) ---- */

static qa_status load_text(const char *name, const char *content, qa_altvader_t **out) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (qa_fs_write_all(p, content, strlen(content)) != QA_OK) return QA_ERR_IO;
    return qa_altvader_load(p, out);
}

static void test_bad_lexicon_rows(void) {
    qa_altvader_t *sentinel = (qa_altvader_t *)&sentinel, *v = sentinel;
    const char *header = "\"token\",\"mean_sentiment\",\"std_dev\",\"human_ratings\"\n";
    char buf[512];
    snprintf(buf, sizeof buf, "%s\"good\",\"1.9\",\"0.9\",\"[2]\"\n\"bad\",\"abc\",\"0.5\",\"[1]\"\n", header);
    QA_CHECK_ERR(load_text("valence.csv", buf, &v), QA_ERR_FORMAT, "valence.csv:3: field mean_sentiment: 'abc'");
    QA_CHECK(v == sentinel); /* output unchanged on failure */
    snprintf(buf, sizeof buf, "%s\"good\",\"1.9\",\"0.9\"\n", header);
    QA_CHECK_ERR(load_text("column.csv", buf, &v), QA_ERR_FORMAT, "column.csv:2: 3 fields, the header has 4");
    snprintf(buf, sizeof buf, "%s\"\",\"1.9\",\"0.9\",\"[2]\"\n", header);
    QA_CHECK_ERR(load_text("token.csv", buf, &v), QA_ERR_FORMAT, "token.csv:2: field token");
    snprintf(buf, sizeof buf, "%s\"good\",\"inf\",\"0.9\",\"[2]\"\n", header);
    QA_CHECK_ERR(load_text("inf.csv", buf, &v), QA_ERR_FORMAT, "inf.csv:2: field mean_sentiment: 'inf'");
    QA_CHECK_ERR(load_text("header.csv", "word,valence\ngood,1.9\n", &v), QA_ERR_FORMAT, "header.csv:1: header");
    QA_CHECK_ERR(load_text("empty.csv", "", &v), QA_ERR_FORMAT, "empty.csv: empty");
    snprintf(buf, sizeof buf, "%s/absent.csv.gz", dir);
    QA_CHECK(qa_altvader_load(buf, &v) != QA_OK);
    QA_CHECK(v == sentinel);
}

static void test_small_lexicon(void) {
    /* A repeated token keeps its last valence; a caps or spaced token never matches. */
    qa_altvader_t *v = NULL;
    QA_CHECK_OK(load_text("small.csv",
                          "token,mean_sentiment,std_dev,human_ratings\n"
                          "up,1.0,0,[]\nup,2.0,0,[]\n:D,3.0,0,[]\n\"fed up\",-1.0,0,[]\n\"a,b\",0.5,0,[]\n",
                          &v));
    if (!v) return;
    QA_CHECK_INT(qa_altvader_size(v), 4);
    QA_CHECK_NEAR(qa_altvader_compound(v, "up"), norm(2.0), TOL, 0);
    QA_CHECK_NEAR(qa_altvader_compound(v, ":D"), 0.0, TOL, 0); /* lower-cased ":d" is unknown */
    QA_CHECK_NEAR(qa_altvader_compound(v, "fed up"), norm(2.0), TOL, 0);
    QA_CHECK_NEAR(qa_altvader_compound(v, "a,b"), norm(0.5), TOL, 0); /* quoted comma */
    qa_altvader_free(v);
    qa_altvader_free(NULL);
}

int main(int argc, char **argv) {
    if (qa_test_tmpdir(dir, sizeof dir, "test_altvader")) qa_test_skip("no temp dir");
    QA_RUN(test_bad_lexicon_rows);
    QA_RUN(test_small_lexicon);

    char lexicon[QA_PATH_MAX];
    const char *shared = getenv("QA_DATA_ROOT");
    const char *src = argc > 1 ? argv[1] : getenv("QA_SOURCE_DIR");
    if (shared && *shared) snprintf(lexicon, sizeof lexicon, "%s/alt_text/vader_lexicon.csv.gz", shared);
    else snprintf(lexicon, sizeof lexicon, "%s/../shared/datasets/alt_text/vader_lexicon.csv.gz", src ? src : ".");
    if (!qa_fs_exists(lexicon)) {
        qa_test_rmtree(dir);
        printf("lexicon %s is absent: the lexicon cases are not run\n", lexicon);
        if (qa_test_failures_) return qa_test_finish();
        qa_test_skip("no VADER lexicon (set QA_DATA_ROOT)");
    }
    QA_CHECK_OK(qa_altvader_load(lexicon, &vader));
    if (!vader) {
        qa_test_rmtree(dir);
        return qa_test_finish();
    }
    QA_RUN(test_lexicon_size);
    QA_RUN(test_plain_word);
    QA_RUN(test_caps_booster_exclamation);
    QA_RUN(test_caps_without_mixing);
    QA_RUN(test_negation);
    QA_RUN(test_boosters_and_dampeners);
    QA_RUN(test_kind_of);
    QA_RUN(test_but);
    QA_RUN(test_question_and_exclamation_marks);
    QA_RUN(test_no);
    QA_RUN(test_least);
    QA_RUN(test_never_so_and_without_doubt);
    QA_RUN(test_special_idioms);
    QA_RUN(test_tokens);
    QA_RUN(test_empty);
    QA_RUN(test_long_text);
    QA_RUN(test_invalid_utf8);
    qa_altvader_free(vader);
    qa_test_rmtree(dir);
    return qa_test_finish();
}
