/* VADER sentiment: lexicon table, tokeniser and the rules of vaderSentiment 3.3.2.
 *
 * One text is scored in four steps: split it into tokens (the reference's split() plus its
 * punctuation stripping), look every token up once in an open-addressing hash table that
 * holds the lexicon and the rule words together, give every token a valence by the rules
 * (negation, boosters, caps, idioms, "least", "no", "kind of"), then apply the "but" rule,
 * punctuation emphasis and normalisation. Rule order, constants and the order of the
 * floating-point operations follow the reference, so results agree with it to the last bit
 * (before its rounding) wherever the texts are handled alike; docs/alt-data.md lists where
 * they are not. */
#include "datasets/altvader.h"

#include <assert.h>  /* static_assert */
#include <math.h>    /* fabs, sqrt, isfinite */
#include <stdint.h>  /* uint32_t, uint64_t, int32_t, uint8_t */
#include <stdlib.h>  /* malloc, realloc, free */
#include <string.h>  /* memcpy, memcmp, strcmp, strlen */

#include "datasets/csv.h"  /* qa_csv_*: the lexicon file, plain or gzip */

/* ---- constants of the reference (empirical values from the paper) --------------------- */

#define B_INCR 0.293      /* booster word: |valence| grows by this much */
#define B_DECR (-0.293)   /* dampener word */
#define C_INCR 0.733      /* ALL-CAPS word in a text that is not all caps */
#define N_SCALAR (-0.74)  /* negated word: valence times this */
#define EXCL_INCR 0.292   /* per '!', at most EXCL_MAX of them */
#define EXCL_MAX 4
#define QUEST_INCR 0.18   /* per '?' when there are 2 or 3 */
#define QUEST_MAX 0.96    /* 4 or more '?' */
#define NORM_ALPHA 15.0   /* compound = s / sqrt(s^2 + alpha) */

/* ---- rule words ------------------------------------------------------------------------ */

/* Words that rules compare against, by id. A token's id comes with its table entry, so
 * each rule test is an integer compare. */
typedef enum vader_word {
    W_NONE,
    W_NO, W_KIND, W_OF, W_BUT, W_LEAST, W_AT, W_VERY, W_NEVER, W_SO, W_THIS, W_WITHOUT,
    W_DOUBT, W_OR, W_NOR, W_JUST, W_ENOUGH, W_SORT,
    /* words of the special-case idioms */
    W_THE, W_SHIT, W_BOMB, W_BAD, W_ASS, W_BUS, W_STOP, W_YEAH, W_RIGHT, W_KISS, W_DEATH,
    W_TO, W_DIE, W_FOR, W_BEATING, W_BROKEN, W_HEART,
    W_COUNT
} vader_word;

static const char *const word_text[] = {
    "",
    "no", "kind", "of", "but", "least", "at", "very", "never", "so", "this", "without",
    "doubt", "or", "nor", "just", "enough", "sort",
    "the", "shit", "bomb", "bad", "ass", "bus", "stop", "yeah", "right", "kiss", "death",
    "to", "die", "for", "beating", "broken", "heart",
};
static_assert(sizeof word_text / sizeof word_text[0] == W_COUNT, "one text per rule word");

/* The reference's BOOSTER_DICT, single words (its three two-word entries are
 * multiword_boosters below). */
static const char *const boosters_up[] = {
    "absolutely", "amazingly", "awfully", "completely", "considerable", "considerably",
    "decidedly", "deeply", "effing", "enormous", "enormously", "entirely", "especially",
    "exceptional", "exceptionally", "extreme", "extremely", "fabulously", "flipping",
    "flippin", "frackin", "fracking", "fricking", "frickin", "frigging", "friggin", "fully",
    "fuckin", "fucking", "fuggin", "fugging", "greatly", "hella", "highly", "hugely",
    "incredible", "incredibly", "intensely", "major", "majorly", "more", "most",
    "particularly", "purely", "quite", "really", "remarkably", "so", "substantially",
    "thoroughly", "total", "totally", "tremendous", "tremendously", "uber", "unbelievably",
    "unusually", "utter", "utterly", "very",
};
static const char *const boosters_down[] = {
    "almost", "barely", "hardly", "kinda", "kindof", "kind-of", "less", "little", "marginal",
    "marginally", "occasional", "occasionally", "partly", "scarce", "scarcely", "slight",
    "slightly", "somewhat", "sorta", "sortof", "sort-of",
};

/* The reference's NEGATE list; any token containing "n't" negates as well. */
static const char *const negations[] = {
    "aint", "arent", "cannot", "cant", "couldnt", "darent", "didnt", "doesnt", "ain't",
    "aren't", "can't", "couldn't", "daren't", "didn't", "doesn't", "dont", "hadnt", "hasnt",
    "havent", "isnt", "mightnt", "mustnt", "neither", "don't", "hadn't", "hasn't", "haven't",
    "isn't", "mightn't", "mustn't", "neednt", "needn't", "never", "none", "nope", "nor", "not",
    "nothing", "nowhere", "oughtnt", "shant", "shouldnt", "uhuh", "wasnt", "werent",
    "oughtn't", "shan't", "shouldn't", "uh-uh", "wasn't", "weren't", "without", "wont",
    "wouldnt", "won't", "wouldn't", "rarely", "seldom", "despite",
};

#define N_RULE_WORDS                                                                        \
    (W_COUNT + sizeof boosters_up / sizeof boosters_up[0] +                                 \
     sizeof boosters_down / sizeof boosters_down[0] + sizeof negations / sizeof negations[0])

/* Phrases of two or three tokens. The reference joins lower-cased tokens with spaces and
 * looks the string up; tokens hold no whitespace, so comparing word ids is the same test. */
typedef struct vader_phrase {
    uint8_t w[3];
    uint8_t len;
    double value;
} vader_phrase;

/* SPECIAL_CASES: an idiom sets the valence of the word it covers. The reference's
 * one-word entry "badass" can never equal a joined sequence and is left out. */
static const vader_phrase special_cases[] = {
    {{W_THE, W_SHIT}, 2, 3.0},        {{W_THE, W_BOMB}, 2, 3.0},      {{W_BAD, W_ASS}, 2, 1.5},
    {{W_BUS, W_STOP}, 2, 0.0},        {{W_YEAH, W_RIGHT}, 2, -2.0},   {{W_KISS, W_OF, W_DEATH}, 3, -1.5},
    {{W_TO, W_DIE, W_FOR}, 3, 3.0},   {{W_BEATING, W_HEART}, 2, 3.1}, {{W_BROKEN, W_HEART}, 2, -2.9},
};
/* The two-word BOOSTER_DICT entries, all dampeners; they act only in the idiom step. */
static const vader_phrase multiword_boosters[] = {
    {{W_JUST, W_ENOUGH}, 2, B_DECR}, {{W_KIND, W_OF}, 2, B_DECR}, {{W_SORT, W_OF}, 2, B_DECR},
};

/* ---- the table ------------------------------------------------------------------------- */

/* One token known to the scorer: a lexicon word, a rule word, or both. */
typedef struct vader_entry {
    double valence;      /* lexicon mean sentiment; 0 when not in the lexicon */
    uint32_t key_off;    /* key bytes in keys[key_off, key_off + key_len) */
    uint32_t key_len;
    uint8_t in_lexicon;  /* 1 when the lexicon file lists the token */
    int8_t booster;      /* +1 booster, -1 dampener, 0 neither */
    uint8_t negation;    /* in the NEGATE list */
    uint8_t word;        /* vader_word id, W_NONE for none */
} vader_entry;

/* Open addressing with linear probing: a slot holds entry index + 1 (0 = empty) and the high
 * half of the key's 64-bit hash, so most mismatches are rejected without touching the key.
 * At most half the slots are used, so probe runs stay short. */
typedef struct vader_slot {
    uint32_t tag;
    uint32_t entry1;
} vader_slot;

struct qa_altvader {
    size_t n_lexicon;       /* distinct lexicon tokens */
    uint32_t n_entries;     /* lexicon tokens plus rule words not in the lexicon */
    uint32_t mask;          /* slot count - 1 (a power of two) */
    uint32_t max_key;       /* longest key in bytes: longer tokens skip the lookup */
    vader_slot *slots;      /* views into the same allocation as the struct */
    vader_entry *entries;
    char *keys;
};

/* FNV-1a, 64 bit: simple, and good enough for short words with a half-empty table. */
static uint64_t hash_bytes(const unsigned char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Index of the entry whose key is s[0, n) (hash h), or -1. */
static int32_t table_find(const qa_altvader_t *v, const unsigned char *s, size_t n, uint64_t h) {
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = (uint32_t)h & v->mask;; i = (i + 1) & v->mask) {
        const vader_slot *sl = &v->slots[i];
        if (sl->entry1 == 0) return -1;
        if (sl->tag != tag) continue;
        const vader_entry *e = &v->entries[sl->entry1 - 1];
        if (e->key_len == n && memcmp(v->keys + e->key_off, s, n) == 0) return (int32_t)(sl->entry1 - 1);
    }
}

/* The entry for key (copied into the key pool when new, as a non-lexicon entry). The caller
 * sized slots, entries and keys for every key it adds. */
static vader_entry *table_get(qa_altvader_t *v, const char *key, size_t n, uint32_t *keys_used) {
    uint64_t h = hash_bytes((const unsigned char *)key, n);
    int32_t found = table_find(v, (const unsigned char *)key, n, h);
    if (found >= 0) return &v->entries[found];
    uint32_t i = (uint32_t)h & v->mask;
    while (v->slots[i].entry1) i = (i + 1) & v->mask;
    vader_entry *e = &v->entries[v->n_entries];
    *e = (vader_entry){.key_off = *keys_used, .key_len = (uint32_t)n};
    memcpy(v->keys + *keys_used, key, n);
    *keys_used += (uint32_t)n;
    v->n_entries++;
    v->slots[i] = (vader_slot){(uint32_t)(h >> 32), v->n_entries};
    if (n > v->max_key) v->max_key = (uint32_t)n;
    return e;
}

/* ---- loading --------------------------------------------------------------------------- */

typedef struct lex_row {
    uint32_t key_off, key_len;
    double valence;
} lex_row;

/* Appends one row (key into *pool) to the growing arrays. */
static qa_status push_row(lex_row **rows, size_t *n, size_t *cap, char **pool, size_t *pool_used,
                          size_t *pool_cap, const char *key, size_t key_len, double valence) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8192;
        lex_row *nr = realloc(*rows, nc * sizeof *nr);
        if (!nr) return QA_FAIL(QA_ERR_NOMEM, "VADER lexicon: %zu rows", nc);
        *rows = nr;
        *cap = nc;
    }
    if (*pool_used + key_len > *pool_cap) {
        size_t nc = *pool_cap ? *pool_cap * 2 : 65536;
        while (nc < *pool_used + key_len) nc *= 2;
        char *np = realloc(*pool, nc);
        if (!np) return QA_FAIL(QA_ERR_NOMEM, "VADER lexicon: %zu key bytes", nc);
        *pool = np;
        *pool_cap = nc;
    }
    memcpy(*pool + *pool_used, key, key_len);
    (*rows)[(*n)++] = (lex_row){(uint32_t)*pool_used, (uint32_t)key_len, valence};
    *pool_used += key_len;
    return QA_OK;
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Sets the rule flags of each word of a list (adding the word when the lexicon lacks it). */
static void mark_words(qa_altvader_t *v, const char *const *words, size_t n, int booster, int negation,
                       uint32_t *keys_used) {
    for (size_t i = 0; i < n; i++) {
        vader_entry *e = table_get(v, words[i], strlen(words[i]), keys_used);
        if (booster) e->booster = (int8_t)booster;
        if (negation) e->negation = 1;
    }
}

qa_status qa_altvader_load(const char *lexicon_csv_path, qa_altvader_t **out) {
    qa_status st = QA_OK;
    qa_csv_t *csv = NULL;
    lex_row *rows = NULL;
    char *pool = NULL;
    size_t n_rows = 0, rows_cap = 0, pool_used = 0, pool_cap = 0, nf = 0, header_nf = 0;
    qa_altvader_t *v = NULL;
    if (!lexicon_csv_path || !out) return QA_FAIL(QA_ERR_INVALID_ARG, "qa_altvader_load: NULL argument");

    QA_TRY(qa_csv_open(lexicon_csv_path, ',', &csv));
    st = qa_csv_next(csv, &header_nf);
    if (st == QA_ERR_NOT_FOUND)
        QA_TRY_FAIL(QA_ERR_FORMAT, "%s: empty file, expected a VADER lexicon", lexicon_csv_path);
    if (st != QA_OK) goto cleanup;
    if (header_nf < 2 || strcmp(qa_csv_field(csv, 0), "token") != 0 ||
        strcmp(qa_csv_field(csv, 1), "mean_sentiment") != 0)
        QA_TRY_FAIL(QA_ERR_FORMAT, "%s:%ld: header must start with token,mean_sentiment; found '%.40s'",
                    lexicon_csv_path, qa_csv_line(csv), header_nf ? qa_csv_field(csv, 0) : "");

    while ((st = qa_csv_next(csv, &nf)) == QA_OK) {
        long line = qa_csv_line(csv);
        if (nf != header_nf)
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s:%ld: %zu fields, the header has %zu (missing or extra column)",
                        lexicon_csv_path, line, nf, header_nf);
        const char *token = qa_csv_field(csv, 0), *mean = qa_csv_field(csv, 1);
        size_t len = strlen(token);
        if (len == 0 || len > QA_ALTVADER_MAX_TOKEN_BYTES)
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s:%ld: field token: '%.40s' is %zu bytes, expected 1..%d", lexicon_csv_path,
                        line, token, len, QA_ALTVADER_MAX_TOKEN_BYTES);
        double valence;
        if (!qa_csv_parse_double(mean, &valence) || !isfinite(valence))
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s:%ld: field mean_sentiment: '%.40s' is not a finite number (token '%.40s')",
                        lexicon_csv_path, line, mean, token);
        QA_TRY(push_row(&rows, &n_rows, &rows_cap, &pool, &pool_used, &pool_cap, token, len, valence));
    }
    if (st != QA_ERR_NOT_FOUND) goto cleanup;
    st = QA_OK;

    /* One allocation: the struct, then slots, entries and key bytes as views. */
    size_t max_entries = n_rows + N_RULE_WORDS, n_slots = 64, rule_bytes = 0;
    while (n_slots < 2 * max_entries) n_slots *= 2;
    for (int w = 1; w < W_COUNT; w++) rule_bytes += strlen(word_text[w]);
    for (size_t i = 0; i < sizeof boosters_up / sizeof boosters_up[0]; i++) rule_bytes += strlen(boosters_up[i]);
    for (size_t i = 0; i < sizeof boosters_down / sizeof boosters_down[0]; i++) rule_bytes += strlen(boosters_down[i]);
    for (size_t i = 0; i < sizeof negations / sizeof negations[0]; i++) rule_bytes += strlen(negations[i]);
    if (pool_used + rule_bytes > UINT32_MAX || max_entries >= UINT32_MAX / 2)
        QA_TRY_FAIL(QA_ERR_LIMIT, "%s: lexicon too large (%zu rows)", lexicon_csv_path, n_rows);
    size_t off_slots = align8(sizeof *v), off_entries = off_slots + n_slots * sizeof(vader_slot),
           off_keys = off_entries + max_entries * sizeof(vader_entry), total = off_keys + pool_used + rule_bytes;
    char *block = calloc(1, total);
    if (!block) QA_TRY_FAIL(QA_ERR_NOMEM, "%s: VADER table of %zu bytes", lexicon_csv_path, total);
    v = (qa_altvader_t *)block;
    v->slots = (vader_slot *)(block + off_slots);
    v->entries = (vader_entry *)(block + off_entries);
    v->keys = block + off_keys;
    v->mask = (uint32_t)n_slots - 1;

    /* Rows in file order: a repeated token takes its last row's valence (the reference
     * fills a dict line by line). */
    uint32_t keys_used = 0;
    for (size_t r = 0; r < n_rows; r++) {
        vader_entry *e = table_get(v, pool + rows[r].key_off, rows[r].key_len, &keys_used);
        if (!e->in_lexicon) v->n_lexicon++;
        e->in_lexicon = 1;
        e->valence = rows[r].valence;
    }
    for (int w = 1; w < W_COUNT; w++) table_get(v, word_text[w], strlen(word_text[w]), &keys_used)->word = (uint8_t)w;
    mark_words(v, boosters_up, sizeof boosters_up / sizeof boosters_up[0], +1, 0, &keys_used);
    mark_words(v, boosters_down, sizeof boosters_down / sizeof boosters_down[0], -1, 0, &keys_used);
    mark_words(v, negations, sizeof negations / sizeof negations[0], 0, 1, &keys_used);
    *out = v;
    v = NULL;

cleanup:
    free(v);
    free(rows);
    free(pool);
    qa_csv_close(csv);
    return st;
}

void qa_altvader_free(qa_altvader_t *v) { free(v); }

size_t qa_altvader_size(const qa_altvader_t *v) { return v ? v->n_lexicon : 0; }

/* ---- characters ------------------------------------------------------------------------ */

#define REPLACEMENT_CHAR 0xFFFDu

/* Decodes the UTF-8 sequence at s, reading at most `avail` bytes (a NUL ends a sequence,
 * since it is no continuation byte). Returns its length in bytes with the code point in
 * *cp; a malformed sequence (bad lead byte, missing continuation, overlong form, surrogate,
 * beyond U+10FFFF) is one byte decoded as U+FFFD. */
static size_t utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp) {
    unsigned char b = s[0];
    size_t n;
    uint32_t c, min;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
        n = 2, c = b & 0x1Fu, min = 0x80;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 3, c = b & 0x0Fu, min = 0x800;
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 4, c = b & 0x07u, min = 0x10000;
    } else {
        *cp = REPLACEMENT_CHAR;
        return 1;
    }
    if (n > avail) {
        *cp = REPLACEMENT_CHAR;
        return 1;
    }
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80) {
            *cp = REPLACEMENT_CHAR;
            return 1;
        }
        c = (c << 6) | (s[k] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        *cp = REPLACEMENT_CHAR;
        return 1;
    }
    *cp = c;
    return n;
}

/* The characters Python's str.split() splits on (Unicode White_Space plus U+001C..U+001F). */
static int is_space(uint32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Python's string.punctuation: the 32 ASCII punctuation characters. */
static int is_punct(unsigned char b) {
    return (b >= 0x21 && b <= 0x2F) || (b >= 0x3A && b <= 0x40) || (b >= 0x5B && b <= 0x60) ||
           (b >= 0x7B && b <= 0x7E);
}

enum { CASE_NONE, CASE_UPPER, CASE_LOWER };

/* Letter case of c as Python's str.isupper sees it, and its lower-case form in *lower.
 * Covers ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic, fullwidth Latin, circled and
 * squared Latin letters, the mathematical Latin alphabets and the Kelvin, Ohm and Angstrom
 * signs, which is what occurs in English-language social media; other characters (Latin
 * Extended-B, Armenian, ...) are caseless here. No mapping lengthens the UTF-8 form (U+0130,
 * whose lower case is two characters, is left unmapped). */
static int letter_case(uint32_t c, uint32_t *lower) {
    *lower = c;
    if (c < 0x80) {
        if (c - 'A' < 26u) {
            *lower = c + 32;
            return CASE_UPPER;
        }
        return c - 'a' < 26u ? CASE_LOWER : CASE_NONE;
    }
    if (c < 0x100) {
        if (c == 0xAA || c == 0xB5 || c == 0xBA) return CASE_LOWER;
        if (c >= 0xC0 && c <= 0xDE && c != 0xD7) {
            *lower = c + 32;
            return CASE_UPPER;
        }
        return (c >= 0xDF && c != 0xF7) ? CASE_LOWER : CASE_NONE;
    }
    if (c < 0x180) { /* Latin Extended-A: upper/lower pairs */
        if (c == 0x130) return CASE_UPPER;
        if (c == 0x138 || c == 0x149 || c == 0x17F) return CASE_LOWER;
        if (c == 0x178) {
            *lower = 0xFF;
            return CASE_UPPER;
        }
        uint32_t upper_parity = ((c >= 0x139 && c <= 0x148) || c >= 0x179) ? 1u : 0u;
        if ((c & 1u) == upper_parity) {
            *lower = c + 1;
            return CASE_UPPER;
        }
        return CASE_LOWER;
    }
    if (c >= 0x370 && c < 0x400) { /* Greek */
        if (c == 0x386) *lower = 0x3AC;
        else if (c >= 0x388 && c <= 0x38A) *lower = c + 37;
        else if (c == 0x38C) *lower = 0x3CC;
        else if (c == 0x38E || c == 0x38F) *lower = c + 63;
        else if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) *lower = c + 32;
        else return (c == 0x390 || (c >= 0x3AC && c <= 0x3CE)) ? CASE_LOWER : CASE_NONE;
        return CASE_UPPER;
    }
    if (c >= 0x400 && c < 0x530) { /* Cyrillic and its supplement */
        if (c < 0x410) *lower = c + 80;
        else if (c < 0x430) *lower = c + 32;
        else if (c < 0x460 || c == 0x4CF) return CASE_LOWER;
        else if (c == 0x4C0) *lower = 0x4CF;
        else if ((c <= 0x481) || (c >= 0x48A && c <= 0x4BF) || c >= 0x4D0) {
            if (c & 1u) return CASE_LOWER;
            *lower = c + 1;
        } else if (c >= 0x4C1 && c <= 0x4CE) {
            if (!(c & 1u)) return CASE_LOWER;
            *lower = c + 1;
        } else {
            return CASE_NONE;
        }
        return CASE_UPPER;
    }
    if (c >= 0xFF21 && c <= 0xFF3A) { /* fullwidth Latin */
        *lower = c + 32;
        return CASE_UPPER;
    }
    if (c >= 0xFF41 && c <= 0xFF5A) return CASE_LOWER;
    if (c >= 0x24B6 && c <= 0x24CF) { /* circled Latin */
        *lower = c + 26;
        return CASE_UPPER;
    }
    if (c >= 0x24D0 && c <= 0x24E9) return CASE_LOWER;
    if (c >= 0x1D400 && c <= 0x1D6A3) /* mathematical alphabets: 26 capitals, 26 small */
        return (c - 0x1D400) % 52 < 26 ? CASE_UPPER : CASE_LOWER;
    if (c == 0x212A || c == 0x212B || c == 0x2126) { /* letterlike signs: Python maps them to k, å, ω */
        *lower = c == 0x212A ? 'k' : c == 0x212B ? 0xE5 : 0x3C9;
        return CASE_UPPER;
    }
    if ((c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189))
        return CASE_UPPER; /* squared and negative circled capitals */
    return CASE_NONE;
}

static size_t utf8_encode(uint32_t c, unsigned char *out) {
    if (c < 0x80) {
        out[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (unsigned char)(0xC0 | (c >> 6));
        out[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (c >> 12));
        out[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (c >> 18));
    out[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

/* ---- tokens ---------------------------------------------------------------------------- */

enum { TOK_UPPER = 1, TOK_NT = 2 };

/* A text after tokenising: per token its table entry and flags; the '!' and '?' counts. */
typedef struct vader_text {
    size_t n;       /* tokens */
    size_t n_upper; /* tokens with TOK_UPPER */
    size_t n_excl, n_quest;
    int32_t entry[QA_ALTVADER_MAX_TOKENS]; /* index into v->entries, -1 for an unknown token */
    uint8_t flags[QA_ALTVADER_MAX_TOKENS]; /* TOK_UPPER: Python's isupper(); TOK_NT: contains "n't" */
} vader_text;

/* Looks up the token s[0, n) lower-cased, and sets its case and "n't" flags. */
static void add_token(const qa_altvader_t *v, const unsigned char *s, size_t n, vader_text *t) {
    unsigned char low[QA_ALTVADER_MAX_TOKEN_BYTES + 4]; /* lower-cased token while <= max_key */
    int lookup = 1; /* cleared once the lower-cased token is longer than every key */
    size_t used = 0;
    int has_upper = 0, has_lower = 0;
    uint8_t flags = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c, lc;
        size_t len = utf8_decode(s + i, n - i, &c);
        int cs = letter_case(c, &lc);
        has_upper |= cs == CASE_UPPER;
        has_lower |= cs == CASE_LOWER;
        if (lookup) {
            if (c == REPLACEMENT_CHAR && len == 1) low[used++] = s[i]; /* invalid byte: kept as is */
            else used += utf8_encode(lc, low + used);
            lookup = used <= v->max_key;
        }
        if (c == '\'' && i > 0 && (s[i - 1] | 0x20) == 'n' && i + 1 < n && (s[i + 1] | 0x20) == 't') flags |= TOK_NT;
        i += len;
    }
    if (has_upper && !has_lower) flags |= TOK_UPPER;
    t->entry[t->n] = lookup ? table_find(v, low, used, hash_bytes(low, used)) : -1;
    t->flags[t->n] = flags;
    t->n_upper += (flags & TOK_UPPER) != 0;
    t->n++;
}

/* Splits text as the reference does: on whitespace, then strips leading and trailing ASCII
 * punctuation from each token unless fewer than 3 characters would remain (which keeps
 * emoticons such as ":)" whole). Reads at most QA_ALTVADER_MAX_BYTES bytes and stops before
 * token QA_ALTVADER_MAX_TOKENS + 1; '!' and '?' are counted over the same prefix. */
static void tokenize(const qa_altvader_t *v, const char *text, vader_text *t) {
    const unsigned char *s = (const unsigned char *)text;
    t->n = t->n_upper = t->n_excl = t->n_quest = 0;
    if (!s) return;
    size_t i = 0;
    for (;;) {
        uint32_t c = 0;
        size_t len = 0;
        while (i < QA_ALTVADER_MAX_BYTES && s[i]) { /* skip whitespace */
            len = utf8_decode(s + i, QA_ALTVADER_MAX_BYTES - i, &c);
            if (!is_space(c)) break;
            i += len;
        }
        if (i >= QA_ALTVADER_MAX_BYTES || !s[i] || t->n == QA_ALTVADER_MAX_TOKENS) return;
        size_t start = i;
        while (i < QA_ALTVADER_MAX_BYTES && s[i]) { /* the token runs to the next whitespace */
            len = utf8_decode(s + i, QA_ALTVADER_MAX_BYTES - i, &c);
            if (is_space(c)) break;
            t->n_excl += c == '!';
            t->n_quest += c == '?';
            i += len;
        }
        size_t a = start, b = i;
        while (a < b && is_punct(s[a])) a++;
        while (b > a && is_punct(s[b - 1])) b--;
        size_t chars = 0; /* characters left after stripping, counted up to 3 */
        for (size_t k = a; k < b && chars < 3; chars++) {
            uint32_t ignored;
            k += utf8_decode(s + k, b - k, &ignored);
        }
        if (chars <= 2) add_token(v, s + start, i - start, t);
        else add_token(v, s + a, b - a, t);
    }
}

/* ---- rules ----------------------------------------------------------------------------- */

/* Per-text context of the rules: the table, the tokens and the caps switch. */
typedef struct vader_ctx {
    const qa_altvader_t *v;
    const vader_text *t;
    int cap_diff; /* some tokens are ALL CAPS and some are not */
} vader_ctx;

static const vader_entry *entry_at(const vader_ctx *x, size_t i) {
    int32_t e = x->t->entry[i];
    return e >= 0 ? &x->v->entries[e] : NULL;
}
static int word_at(const vader_ctx *x, size_t i) {
    const vader_entry *e = entry_at(x, i);
    return e ? e->word : W_NONE;
}
static int in_lexicon(const vader_ctx *x, size_t i) {
    const vader_entry *e = entry_at(x, i);
    return e && e->in_lexicon;
}
static int is_upper(const vader_ctx *x, size_t i) { return (x->t->flags[i] & TOK_UPPER) != 0; }
/* The reference's negated(): a NEGATE word, or any token containing "n't". */
static int negates(const vader_ctx *x, size_t i) {
    const vader_entry *e = entry_at(x, i);
    return (e && e->negation) || (x->t->flags[i] & TOK_NT);
}
static int so_or_this(int w) { return w == W_SO || w == W_THIS; }

/* Does the phrase match tokens at positions pos[0..p->len)? */
static int phrase_matches(const vader_ctx *x, const vader_phrase *p, const size_t *pos, size_t npos) {
    if (npos != p->len) return 0;
    for (size_t k = 0; k < npos; k++)
        if (word_at(x, pos[k]) != p->w[k]) return 0;
    return 1;
}
static int find_phrase(const vader_ctx *x, const vader_phrase *table, size_t n, const size_t *pos, size_t npos,
                       double *value) {
    for (size_t k = 0; k < n; k++)
        if (phrase_matches(x, &table[k], pos, npos)) {
            *value = table[k].value;
            return 1;
        }
    return 0;
}

/* scalar_inc_dec: the push of booster or dampener token j on a word of valence val; ALL CAPS
 * boosters push C_INCR harder (when the text mixes caps). 0 for other tokens. */
static double booster_scalar(const vader_ctx *x, size_t j, double val) {
    const vader_entry *e = entry_at(x, j);
    if (!e || !e->booster) return 0.0;
    double scalar = e->booster > 0 ? B_INCR : B_DECR;
    if (val < 0) scalar *= -1;
    if (is_upper(x, j) && x->cap_diff) {
        if (val > 0) scalar += C_INCR;
        else scalar -= C_INCR;
    }
    return scalar;
}

/* _negation_check for the token `back` + 1 places before word i (back = 0, 1, 2). */
static double negation_rule(const vader_ctx *x, size_t back, size_t i, double val) {
    if (back == 0) {
        if (negates(x, i - 1)) val = val * N_SCALAR;
    } else if (back == 1) {
        if (word_at(x, i - 2) == W_NEVER && so_or_this(word_at(x, i - 1))) val = val * 1.25;
        else if (word_at(x, i - 2) == W_WITHOUT && word_at(x, i - 1) == W_DOUBT) {
            /* "without doubt": no negation */
        } else if (negates(x, i - 2)) val = val * N_SCALAR;
    } else {
        /* As in the reference, "so"/"this" right before the word amplifies by itself: the
         * "never" test binds only to its own conjunct. */
        if ((word_at(x, i - 3) == W_NEVER && so_or_this(word_at(x, i - 2))) || so_or_this(word_at(x, i - 1)))
            val = val * 1.25;
        else if (word_at(x, i - 3) == W_WITHOUT && (word_at(x, i - 2) == W_DOUBT || word_at(x, i - 1) == W_DOUBT)) {
            /* "without (a) doubt": no negation */
        } else if (negates(x, i - 3)) val = val * N_SCALAR;
    }
    return val;
}

/* _special_idioms_check for word i (i >= 3): an idiom around the word replaces its valence,
 * then "kind of", "sort of" or "just enough" in the three words before it dampen it. */
static double idiom_rule(const vader_ctx *x, size_t i, double val) {
    const size_t n = x->t->n, ns = sizeof special_cases / sizeof special_cases[0],
                 nb = sizeof multiword_boosters / sizeof multiword_boosters[0];
    /* The reference's sequences in its order: 1-0, 2-1-0, 2-1, 3-2-1, 3-2; the first that
     * is an idiom wins. */
    const size_t seqs[5][3] = {{i - 1, i}, {i - 2, i - 1, i}, {i - 2, i - 1}, {i - 3, i - 2, i - 1}, {i - 3, i - 2}};
    const size_t seq_len[5] = {2, 3, 2, 3, 2};
    double value;
    for (size_t k = 0; k < 5; k++)
        if (find_phrase(x, special_cases, ns, seqs[k], seq_len[k], &value)) {
            val = value;
            break;
        }
    if (n - 1 > i) {
        const size_t fwd[2] = {i, i + 1};
        if (find_phrase(x, special_cases, ns, fwd, 2, &value)) val = value;
    }
    if (n - 1 > i + 1) {
        const size_t fwd[3] = {i, i + 1, i + 2};
        if (find_phrase(x, special_cases, ns, fwd, 3, &value)) val = value;
    }
    /* Two-word dampeners: 3-2-1, 3-2, 2-1, each adds (no break). */
    const size_t *grams[3] = {seqs[3], seqs[4], seqs[2]};
    const size_t gram_len[3] = {3, 2, 2};
    for (size_t k = 0; k < 3; k++)
        if (find_phrase(x, multiword_boosters, nb, grams[k], gram_len[k], &value)) val = val + value;
    return val;
}

/* _least_check: "least" before a word negates it, except in "at least" and "very least". */
static double least_rule(const vader_ctx *x, size_t i, double val) {
    if (i > 1 && !in_lexicon(x, i - 1) && word_at(x, i - 1) == W_LEAST) {
        if (word_at(x, i - 2) != W_AT && word_at(x, i - 2) != W_VERY) val = val * N_SCALAR;
    } else if (i > 0 && !in_lexicon(x, i - 1) && word_at(x, i - 1) == W_LEAST) {
        val = val * N_SCALAR;
    }
    return val;
}

/* The valence of token i before the "but" rule (polarity_scores + sentiment_valence). */
static double token_valence(const vader_ctx *x, size_t i) {
    const size_t n = x->t->n;
    const vader_entry *e = entry_at(x, i);
    if (!e) return 0.0;
    if (e->booster) return 0.0;                                      /* modifiers carry no valence */
    if (e->word == W_KIND && i + 1 < n && word_at(x, i + 1) == W_OF) return 0.0; /* "kind of" */
    if (!e->in_lexicon) return 0.0;

    double val = e->valence;
    /* "no" before a lexicon word negates that word instead of counting itself. */
    if (e->word == W_NO && i + 1 < n && in_lexicon(x, i + 1)) val = 0.0;
    if ((i > 0 && word_at(x, i - 1) == W_NO) || (i > 1 && word_at(x, i - 2) == W_NO) ||
        (i > 2 && word_at(x, i - 3) == W_NO && (word_at(x, i - 1) == W_OR || word_at(x, i - 1) == W_NOR)))
        val = e->valence * N_SCALAR;
    if (is_upper(x, i) && x->cap_diff) {
        if (val > 0) val += C_INCR;
        else val -= C_INCR;
    }
    /* The three tokens before the word, nearest first; lexicon words among them are
     * skipped. Booster pushes decay with distance (1, 0.95, 0.9). */
    for (size_t back = 0; back < 3 && back < i; back++) {
        size_t j = i - back - 1;
        if (in_lexicon(x, j)) continue;
        double s = booster_scalar(x, j, val);
        if (back == 1 && s != 0) s = s * 0.95;
        if (back == 2 && s != 0) s = s * 0.9;
        val = val + s;
        val = negation_rule(x, back, i, val);
        if (back == 2) val = idiom_rule(x, i, val);
    }
    return least_rule(x, i, val);
}

/* _but_check: valences before the first "but" are halved, those after it grow by half.
 * The reference walks the list and rewrites the FIRST element equal in value to the current
 * one (list.index), which is not always the current one: "kind but yeah" (2.4, 0, 1.2)
 * halves 2.4 to 1.2, then finds that 1.2 for yeah's 1.2 and halves it again, leaving yeah
 * at 1.2. This is reproduced exactly. Zeros are skipped (rewriting one changes nothing).
 * Cost: quadratic in the number of non-zero valences, only for texts with "but". */
static void but_rule(const vader_ctx *x, double *sent) {
    const size_t n = x->t->n;
    size_t bi = 0;
    while (bi < n && word_at(x, bi) != W_BUT) bi++;
    if (bi == n) return;
    uint16_t nz[QA_ALTVADER_MAX_TOKENS]; /* positions of non-zero valences, ascending */
    size_t n_nz = 0;
    static_assert(QA_ALTVADER_MAX_TOKENS <= 65536, "token positions fit uint16_t");
    for (size_t k = 0; k < n; k++) {
        double val = sent[k]; /* positions >= k are still unchanged */
        if (val == 0) continue;
        nz[n_nz++] = (uint16_t)k;
        size_t si = k;
        for (size_t m = 0; m < n_nz; m++)
            if (sent[nz[m]] == val) {
                si = nz[m];
                break;
            }
        if (si < bi) sent[si] = val * 0.5;
        else if (si > bi) sent[si] = val * 1.5;
    }
}

static double normalize(double score) {
    double norm = score / sqrt(score * score + NORM_ALPHA);
    return norm < -1.0 ? -1.0 : norm > 1.0 ? 1.0 : norm;
}

void qa_altvader_score(const qa_altvader_t *v, const char *text, qa_altvader_scores *out) {
    vader_text t;
    double sent[QA_ALTVADER_MAX_TOKENS];
    t.n = 0;
    if (v) tokenize(v, text, &t);
    if (t.n == 0) {
        *out = (qa_altvader_scores){0.0, 0.0, 0.0, 0.0};
        return;
    }
    vader_ctx x = {v, &t, t.n_upper > 0 && t.n_upper < t.n};
    for (size_t i = 0; i < t.n; i++) sent[i] = token_valence(&x, i);
    but_rule(&x, sent);

    /* Punctuation emphasis: up to 4 '!' add 0.292 each; 2 or 3 '?' add 0.18 each, more add
     * 0.96. It pushes the sum away from 0 (never from exactly 0). */
    double amp = (double)(t.n_excl < EXCL_MAX ? t.n_excl : EXCL_MAX) * EXCL_INCR;
    if (t.n_quest > 1) amp += t.n_quest <= 3 ? (double)t.n_quest * QUEST_INCR : QUEST_MAX;
    double sum = 0.0;
    for (size_t i = 0; i < t.n; i++) sum += sent[i]; /* left to right, as Python's sum() */
    if (sum > 0) sum += amp;
    else if (sum < 0) sum -= amp;

    /* Shares: a positive word weighs 1 + valence, a negative one 1 + |valence|, a neutral
     * one 1; the emphasis goes to the larger side. */
    double pos_sum = 0.0, neg_sum = 0.0;
    size_t neu_count = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (sent[i] > 0) pos_sum += sent[i] + 1;
        if (sent[i] < 0) neg_sum += sent[i] - 1;
        if (sent[i] == 0) neu_count++;
    }
    if (pos_sum > fabs(neg_sum)) pos_sum += amp;
    else if (pos_sum < fabs(neg_sum)) neg_sum -= amp;
    double total = pos_sum + fabs(neg_sum) + (double)neu_count; /* >= 1: there is a token */
    out->neg = fabs(neg_sum / total);
    out->neu = fabs((double)neu_count / total);
    out->pos = fabs(pos_sum / total);
    out->compound = normalize(sum);
}

double qa_altvader_compound(const qa_altvader_t *v, const char *text) {
    qa_altvader_scores s;
    qa_altvader_score(v, text, &s);
    return s.compound;
}
