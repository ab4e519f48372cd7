/* YAML/JSON configuration: libyaml document -> node tree with line numbers -> structs. */
#include "common/config.h"

#include "common/strlist.h" /* qa_names_first_repeat */

#include <errno.h>    /* strtoll/strtod range errors */
#include <limits.h>   /* INT_MIN, INT_MAX */
#include <math.h>     /* isnan, floor */
#include <stdarg.h>   /* va_list for qa_cfg_error */
#include <stdint.h>   /* SIZE_MAX */
#include <stdio.h>    /* file reading, snprintf */
#include <stdlib.h>   /* malloc, strtoll, strtod */
#include <string.h>   /* strcmp, strlen, memcpy */
#include <strings.h>  /* strcasecmp */
#include <yaml.h>     /* libyaml parser and document API */

#include "common/fs.h"  /* qa_fs_read_all */

#define MAX_DEPTH 64

struct qa_cfg_node {
    qa_cfg_kind kind;
    int line;        /* 1-based line in the file; 0 for a node given by --set */
    const char *set; /* the "--set" assignment that gave this node, or NULL */
    int plain; /* scalar written without quotes (only plain scalars can be null) */
    char *text;
    size_t n;
    char **keys;
    int *key_lines;
    qa_cfg_node **vals; /* map values or sequence items */
};

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    unsigned char data[];
};

struct qa_cfg {
    char *name;
    qa_cfg_node *root;
    struct arena_block *blocks;
};

/* ---- arena ----------------------------------------------------------------- */

static void *arena_alloc(qa_cfg_t *cfg, size_t size) {
    size = (size + 15) & ~(size_t)15;
    struct arena_block *b = cfg->blocks;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = cfg->blocks;
        cfg->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

static char *arena_strdup(qa_cfg_t *cfg, const char *s, size_t len) {
    char *d = arena_alloc(cfg, len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void qa_cfg_free(qa_cfg_t *cfg) {
    if (!cfg) return;
    struct arena_block *b = cfg->blocks;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(cfg->name);
    free(cfg);
}

/* ---- aliases ----------------------------------------------------------------- */

/* libyaml's document shares an anchored node between its aliases, but the tree built here
 * copies it at every alias, so nested aliases grow exponentially: ten short lines where each
 * level names the previous one 9 times (a "billion laughs") ask for 9^9 copies. A pass over
 * the parser's events counts the nodes each anchor expands to and refuses the document,
 * before anything is copied, once aliases would copy more than this many nodes; an alias
 * inside its own anchor (a cycle) is refused as well. Real configs copy a few dozen nodes. */
#define MAX_ALIAS_NODES 1000000

typedef struct anchor_size {
    char *name;
    uint64_t nodes; /* nodes the anchored value expands to, its own aliases included */
    int open;       /* the anchored collection is still being read */
} anchor_size;

/* Records anchor `name` (NULL: none) with `nodes`; *index receives its slot or SIZE_MAX. */
static qa_status anchor_add(anchor_size **a, size_t *n, size_t *cap, const unsigned char *name, uint64_t nodes,
                            int open, size_t *index) {
    *index = SIZE_MAX;
    if (!name) return QA_OK;
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        anchor_size *na = realloc(*a, nc * sizeof *na);
        if (!na) return QA_FAIL(QA_ERR_NOMEM, "YAML anchors (%zu)", nc);
        *a = na;
        *cap = nc;
    }
    char *copy = strdup((const char *)name);
    if (!copy) return QA_FAIL(QA_ERR_NOMEM, "YAML anchor name");
    (*a)[*n] = (anchor_size){copy, nodes, open};
    *index = (*n)++;
    /* cppcheck-suppress memleak ; the anchor table owns copy now (freed with the table) */
    return QA_OK;
}

/* The alias check above, over the first document of `text`. Syntax errors end the pass
 * quietly: the load that follows reports them with their line, as it does an alias to an
 * undefined anchor. Lookups scan the anchors from the newest (a redefined anchor name
 * refers to its latest definition), as libyaml's own loader does. */
static qa_status check_aliases(const char *name, const char *text, size_t len) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return QA_FAIL(QA_ERR_NOMEM, "YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    qa_status st = QA_OK;
    anchor_size *anchors = NULL;
    size_t nanchors = 0, cap = 0;
    uint64_t count[MAX_DEPTH + 2];  /* per open collection: nodes so far, itself included */
    size_t opened[MAX_DEPTH + 2];   /* per open collection: its anchor slot or SIZE_MAX */
    int depth = 0;                  /* open collections */
    uint64_t copied = 0;            /* nodes that aliases copy */
    for (int done = 0; !done && st == QA_OK;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) break;
        unsigned long line = (unsigned long)ev.start_mark.line + 1;
        uint64_t value = 0; /* nodes of a completed value, added to its parent */
        size_t slot;
        switch (ev.type) {
        case YAML_SCALAR_EVENT:
            value = 1;
            st = anchor_add(&anchors, &nanchors, &cap, ev.data.scalar.anchor, 1, 0, &slot);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth > MAX_DEPTH) {
                st = QA_FAIL(QA_ERR_CONFIG, "%s:%lu: nesting deeper than %d levels", name, line, MAX_DEPTH);
                break;
            }
            depth++;
            count[depth] = 1;
            st = anchor_add(&anchors, &nanchors, &cap,
                            ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.anchor
                                                                 : ev.data.mapping_start.anchor,
                            0, 1, &opened[depth]);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth == 0) break; /* unbalanced: libyaml reports it */
            value = count[depth];
            if (opened[depth] != SIZE_MAX) {
                anchors[opened[depth]].nodes = value;
                anchors[opened[depth]].open = 0;
            }
            depth--;
            break;
        case YAML_ALIAS_EVENT: {
            const char *a = (const char *)ev.data.alias.anchor;
            size_t k = nanchors;
            while (k > 0 && strcmp(anchors[k - 1].name, a) != 0) k--;
            if (k == 0) {
                done = 1; /* undefined: the load names it */
                break;
            }
            const anchor_size *an = &anchors[k - 1];
            if (an->open) {
                st = QA_FAIL(QA_ERR_CONFIG, "%s:%lu: alias '*%s' refers to the value it is inside (a recursive alias)",
                             name, line, a);
                break;
            }
            copied += an->nodes;
            if (copied > MAX_ALIAS_NODES) {
                st = QA_FAIL(QA_ERR_CONFIG, "%s:%lu: alias '*%s' (%llu nodes) takes the nodes copied by aliases past "
                                            "the limit of %d (nested aliases expand exponentially)",
                             name, line, a, (unsigned long long)an->nodes, MAX_ALIAS_NODES);
                break;
            }
            value = an->nodes;
            break;
        }
        case YAML_DOCUMENT_END_EVENT:
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default:
            break;
        }
        if (value && depth > 0) count[depth] += value;
        yaml_event_delete(&ev);
    }
    for (size_t i = 0; i < nanchors; i++) free(anchors[i].name);
    free(anchors);
    yaml_parser_delete(&parser);
    return st;
}

/* ---- parsing ----------------------------------------------------------------- */

/* Out of memory while building the tree: where in the file, what and how much. */
static qa_status nomem(const qa_cfg_t *cfg, int line, const char *what, size_t bytes) {
    return QA_FAIL(QA_ERR_NOMEM, "%s:%d: out of memory for %s (%zu bytes) while reading the config", cfg->name, line,
                   what, bytes);
}

/* Refuses a repeated key, naming the repeat and the first (qa_names_first_repeat: sorted
 * past a few keys; a generated config with 10^5 keys took minutes with a pairwise scan). */
static qa_status check_duplicate_keys(const qa_cfg_t *cfg, char *const *keys, const int *lines, size_t n) {
    size_t first, dup;
    if (qa_names_first_repeat((const char *const *)keys, n, &first, &dup) != QA_OK)
        return nomem(cfg, lines[0], "the duplicate-key check", n * 2 * sizeof(void *));
    if (dup == SIZE_MAX) return QA_OK;
    return QA_FAIL(QA_ERR_CONFIG, "%s:%d: duplicate key '%s' (first at line %d)", cfg->name, lines[dup], keys[dup],
                   lines[first]);
}

static qa_status convert(qa_cfg_t *cfg, yaml_document_t *doc, yaml_node_t *yn, int depth,
                         qa_cfg_node **out) {
    if (depth > MAX_DEPTH)
        return QA_FAIL(QA_ERR_CONFIG, "%s:%lu: nesting deeper than %d levels", cfg->name,
                       (unsigned long)yn->start_mark.line + 1, MAX_DEPTH);
    qa_cfg_node *n = arena_alloc(cfg, sizeof *n);
    if (!n) return nomem(cfg, (int)yn->start_mark.line + 1, "a node", sizeof *n);
    n->line = (int)yn->start_mark.line + 1;
    switch (yn->type) {
    case YAML_SCALAR_NODE: {
        const char *t = (const char *)yn->data.scalar.value;
        size_t len = yn->data.scalar.length;
        n->plain = yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n->text = arena_strdup(cfg, t, len);
        if (!n->text) return nomem(cfg, n->line, "a scalar", len + 1);
        int is_null = n->plain && (len == 0 || strcmp(n->text, "~") == 0 ||
                                   strcasecmp(n->text, "null") == 0);
        n->kind = is_null ? QA_CFG_NULL : QA_CFG_SCALAR;
        break;
    }
    case YAML_SEQUENCE_NODE: {
        n->kind = QA_CFG_SEQ;
        size_t cnt = (size_t)(yn->data.sequence.items.top - yn->data.sequence.items.start);
        n->vals = arena_alloc(cfg, (cnt ? cnt : 1) * sizeof(qa_cfg_node *));
        if (!n->vals) return nomem(cfg, n->line, "a list", cnt * sizeof(qa_cfg_node *));
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_t *child = yaml_document_get_node(doc, yn->data.sequence.items.start[i]);
            qa_status st = convert(cfg, doc, child, depth + 1, &n->vals[i]);
            if (st != QA_OK) return st;
        }
        n->n = cnt;
        break;
    }
    case YAML_MAPPING_NODE: {
        n->kind = QA_CFG_MAP;
        size_t cnt = (size_t)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start);
        size_t alloc = cnt ? cnt : 1;
        n->keys = arena_alloc(cfg, alloc * sizeof *n->keys);
        n->key_lines = arena_alloc(cfg, alloc * sizeof *n->key_lines);
        n->vals = arena_alloc(cfg, alloc * sizeof(qa_cfg_node *));
        if (!n->keys || !n->key_lines || !n->vals)
            return nomem(cfg, n->line, "a map", alloc * (sizeof *n->keys + sizeof *n->key_lines + sizeof(qa_cfg_node *)));
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_t *k = yaml_document_get_node(doc, yn->data.mapping.pairs.start[i].key);
            if (k->type != YAML_SCALAR_NODE)
                return QA_FAIL(QA_ERR_CONFIG, "%s:%lu: map keys must be plain strings", cfg->name,
                               (unsigned long)k->start_mark.line + 1);
            n->keys[i] = arena_strdup(cfg, (const char *)k->data.scalar.value, k->data.scalar.length);
            if (!n->keys[i]) return nomem(cfg, (int)k->start_mark.line + 1, "a key", k->data.scalar.length + 1);
            n->key_lines[i] = (int)k->start_mark.line + 1;
        }
        qa_status dst = check_duplicate_keys(cfg, n->keys, n->key_lines, cnt);
        if (dst != QA_OK) return dst;
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_pair_t *pair = &yn->data.mapping.pairs.start[i];
            yaml_node_t *v = yaml_document_get_node(doc, pair->value);
            qa_status st = convert(cfg, doc, v, depth + 1, &n->vals[i]);
            if (st != QA_OK) return st;
        }
        n->n = cnt;
        break;
    }
    default:
        return QA_FAIL(QA_ERR_CONFIG, "%s:%d: unsupported YAML node", cfg->name, n->line);
    }
    *out = n;
    return QA_OK;
}

qa_status qa_cfg_parse(const char *name, const char *text, size_t len, qa_cfg_t **out) {
    qa_status st = QA_OK;
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_parser = 0, have_doc = 0;
    qa_cfg_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return QA_FAIL(QA_ERR_NOMEM, "config");
    cfg->name = strdup(name);
    if (!cfg->name) QA_TRY_FAIL(QA_ERR_NOMEM, "config name");

    /* Aliases are written with '*': a text without one needs no alias check. */
    if (len && memchr(text, '*', len)) QA_TRY(check_aliases(name, text, len));
    if (!yaml_parser_initialize(&parser)) QA_TRY_FAIL(QA_ERR_NOMEM, "YAML parser");
    have_parser = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        unsigned long line = (unsigned long)parser.problem_mark.line + 1;
        if (parser.context)
            QA_TRY_FAIL(QA_ERR_CONFIG, "%s:%lu: %s (%s)", name, line, parser.problem,
                        parser.context);
        QA_TRY_FAIL(QA_ERR_CONFIG, "%s:%lu: %s", name, line,
                    parser.problem ? parser.problem : "YAML syntax error");
    }
    have_doc = 1;
    {   /* a second document ("---") would be silently ignored: refuse it */
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next))
            QA_TRY_FAIL(QA_ERR_CONFIG, "%s:%lu: %s", name, (unsigned long)parser.problem_mark.line + 1,
                        parser.problem ? parser.problem : "YAML syntax error after the first document");
        int more = yaml_document_get_root_node(&next) != NULL;
        unsigned long at = (unsigned long)next.start_mark.line + 1;
        yaml_document_delete(&next);
        if (more) QA_TRY_FAIL(QA_ERR_CONFIG, "%s:%lu: a second YAML document: a config is one document", name, at);
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        cfg->root = arena_alloc(cfg, sizeof *cfg->root);
        if (!cfg->root) QA_TRY_FAIL(QA_ERR_NOMEM, "config root");
        cfg->root->kind = QA_CFG_MAP;
        cfg->root->line = 1;
    } else {
        QA_TRY(convert(cfg, &doc, root, 0, &cfg->root));
        if (cfg->root->kind != QA_CFG_MAP)
            QA_TRY_FAIL(QA_ERR_CONFIG, "%s:%d: the top level must be a map of keys", name,
                        cfg->root->line);
    }
    *out = cfg;
    cfg = NULL;
cleanup:
    if (have_doc) yaml_document_delete(&doc);
    if (have_parser) yaml_parser_delete(&parser);
    qa_cfg_free(cfg);
    return st;
}

qa_status qa_cfg_load(const char *path, qa_cfg_t **out) {
    char *buf = NULL;
    size_t len = 0;
    qa_status st = qa_fs_read_all(path, &buf, &len);
    if (st != QA_OK) {
        qa_err_prefix("config file: ");
        return st;
    }
    st = qa_cfg_parse(path, buf, len, out);
    free(buf);
    return st;
}

const char *qa_cfg_name(const qa_cfg_t *cfg) { return cfg->name; }
const qa_cfg_node *qa_cfg_root(const qa_cfg_t *cfg) { return cfg->root; }

/* ---- inspection ---------------------------------------------------------------- */

qa_cfg_kind qa_cfg_node_kind(const qa_cfg_node *n) { return n ? n->kind : QA_CFG_NULL; }
int qa_cfg_node_line(const qa_cfg_node *n) { return n ? n->line : 0; }

const char *qa_cfg_node_where(const qa_cfg_t *cfg, const qa_cfg_node *n, char *buf, size_t size) {
    if (n && n->set) snprintf(buf, size, "--set %s", n->set);
    else snprintf(buf, size, "%s:%d", cfg->name, n ? n->line : 0);
    return buf;
}

/* Where key i of `map` was given: its value's --set, or the key's line in the file. */
static const char *key_where(const qa_cfg_t *cfg, const qa_cfg_node *map, size_t i, char *buf, size_t size) {
    if (map->vals[i]->set && map->key_lines[i] == 0) return qa_cfg_node_where(cfg, map->vals[i], buf, size);
    snprintf(buf, size, "%s:%d", cfg->name, map->key_lines[i]);
    return buf;
}
const char *qa_cfg_node_text(const qa_cfg_node *n) {
    return (n && n->kind == QA_CFG_SCALAR) ? n->text : NULL;
}
size_t qa_cfg_node_len(const qa_cfg_node *n) {
    return (n && (n->kind == QA_CFG_SEQ || n->kind == QA_CFG_MAP)) ? n->n : 0;
}
const qa_cfg_node *qa_cfg_seq_at(const qa_cfg_node *n, size_t i) {
    return (n && n->kind == QA_CFG_SEQ && i < n->n) ? n->vals[i] : NULL;
}
const char *qa_cfg_map_key_at(const qa_cfg_node *n, size_t i) {
    return (n && n->kind == QA_CFG_MAP && i < n->n) ? n->keys[i] : NULL;
}
int qa_cfg_map_key_line_at(const qa_cfg_node *n, size_t i) {
    return (n && n->kind == QA_CFG_MAP && i < n->n) ? n->key_lines[i] : 0;
}
const qa_cfg_node *qa_cfg_map_value_at(const qa_cfg_node *n, size_t i) {
    return (n && n->kind == QA_CFG_MAP && i < n->n) ? n->vals[i] : NULL;
}
const qa_cfg_node *qa_cfg_map_get(const qa_cfg_node *n, const char *key) {
    if (!n || n->kind != QA_CFG_MAP) return NULL;
    for (size_t i = 0; i < n->n; i++)
        if (strcmp(n->keys[i], key) == 0) return n->vals[i];
    return NULL;
}

/* ---- typed reads ------------------------------------------------------------------ */

qa_status qa_cfg_error(const qa_cfg_t *cfg, const qa_cfg_node *node, const char *what,
                       const char *fmt, ...) {
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    char at[QA_CFG_WHERE_MAX];
    return QA_FAIL(QA_ERR_CONFIG, "%s: key '%s': %s", qa_cfg_node_where(cfg, node, at, sizeof at), what, detail);
}

static qa_status need_scalar(const qa_cfg_t *cfg, const qa_cfg_node *n, const char *what,
                             const char *expected) {
    if (n && n->kind == QA_CFG_SCALAR) return QA_OK;
    const char *got = !n || n->kind == QA_CFG_NULL ? "an empty value"
                      : n->kind == QA_CFG_SEQ       ? "a list"
                                                    : "a map";
    return qa_cfg_error(cfg, n, what, "expected %s, got %s", expected, got);
}

/* strtod that accepts only a full numeric token ("1e6", "-0.5", "1_000"). */
static int parse_double(const char *s, double *out) {
    char buf[128];
    size_t j = 0;
    for (size_t i = 0; s[i] && j + 1 < sizeof buf; i++)
        if (s[i] != '_') buf[j++] = s[i];
    buf[j] = '\0';
    if (j == 0) return 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end != '\0' || errno == ERANGE) {
        if (strcasecmp(buf, ".inf") == 0 || strcasecmp(buf, "+.inf") == 0) v = INFINITY;
        else if (strcasecmp(buf, "-.inf") == 0) v = -INFINITY;
        else return 0;
    }
    *out = v;
    return 1;
}

qa_status qa_cfg_read_int(const qa_cfg_t *cfg, const qa_cfg_node *n, const char *what,
                          long long min, long long max, long long *out) {
    qa_status st = need_scalar(cfg, n, what, "an integer");
    if (st != QA_OK) return st;
    double d;
    if (!parse_double(n->text, &d) || isnan(d) || floor(d) != d || d < -9.2e18 || d > 9.2e18)
        return qa_cfg_error(cfg, n, what, "'%s' is not an integer", n->text);
    /* Exact integers above 2^53 must not go through double. */
    char *end;
    errno = 0;
    long long v = strtoll(n->text, &end, 10);
    if (*end != '\0' || errno == ERANGE) v = (long long)d;
    if (v < min || v > max)
        return qa_cfg_error(cfg, n, what, "%lld is out of range [%lld, %lld]", v, min, max);
    *out = v;
    return QA_OK;
}

qa_status qa_cfg_read_double(const qa_cfg_t *cfg, const qa_cfg_node *n, const char *what,
                             double min, double max, double *out) {
    qa_status st = need_scalar(cfg, n, what, "a number");
    if (st != QA_OK) return st;
    double v;
    if (!parse_double(n->text, &v) || isnan(v))
        return qa_cfg_error(cfg, n, what, "'%s' is not a number", n->text);
    if (v < min || v > max)
        return qa_cfg_error(cfg, n, what, "%g is out of range [%g, %g]", v, min, max);
    *out = v;
    return QA_OK;
}

qa_status qa_cfg_read_bool(const qa_cfg_t *cfg, const qa_cfg_node *n, const char *what,
                           int *out) {
    qa_status st = need_scalar(cfg, n, what, "true or false");
    if (st != QA_OK) return st;
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(n->text, yes[i]) == 0) {
            *out = 1;
            return QA_OK;
        }
        if (strcasecmp(n->text, no[i]) == 0) {
            *out = 0;
            return QA_OK;
        }
    }
    return qa_cfg_error(cfg, n, what, "'%s' is not true or false", n->text);
}

qa_status qa_cfg_read_string(const qa_cfg_t *cfg, const qa_cfg_node *n, const char *what,
                             const char **out) {
    qa_status st = need_scalar(cfg, n, what, "a string");
    if (st != QA_OK) return st;
    *out = n->text;
    return QA_OK;
}

qa_status qa_cfg_read_enum(const qa_cfg_t *cfg, const qa_cfg_node *n, const char *what,
                           const char *const *choices, int *out) {
    qa_status st = need_scalar(cfg, n, what, "a name");
    if (st != QA_OK) return st;
    char allowed[512] = "";
    size_t used = 0;
    for (int i = 0; choices[i]; i++) {
        if (strcmp(n->text, choices[i]) == 0) {
            *out = i;
            return QA_OK;
        }
        int w = snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "", choices[i]);
        if (w > 0 && used + (size_t)w < sizeof allowed) used += (size_t)w;
    }
    return qa_cfg_error(cfg, n, what, "'%s' is not one of: %s", n->text, allowed);
}

/* ---- schema binding ---------------------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return SIZE_MAX;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

static void join_path(char *buf, size_t size, const char *section, const char *key) {
    if (section && *section)
        snprintf(buf, size, "%s.%s", section, key);
    else
        snprintf(buf, size, "%s", key);
}

static qa_status bind_list(const qa_cfg_t *cfg, const qa_cfg_node *n, const qa_cfg_field *f,
                           const char *what, qa_cfg_list *out) {
    /* A single scalar is accepted as a one-item list. */
    size_t cnt = n->kind == QA_CFG_SEQ ? n->n : 1;
    if (n->kind != QA_CFG_SEQ && n->kind != QA_CFG_SCALAR)
        return qa_cfg_error(cfg, n, what, "expected a list");
    size_t elem = f->type == QA_CFG_T_INT_LIST      ? sizeof(long long)
                  : f->type == QA_CFG_T_DOUBLE_LIST ? sizeof(double)
                                                    : sizeof(const char *);
    void *items = arena_alloc((qa_cfg_t *)cfg, (cnt ? cnt : 1) * elem);
    if (!items) return QA_FAIL(QA_ERR_NOMEM, "config list");
    for (size_t i = 0; i < cnt; i++) {
        const qa_cfg_node *it = n->kind == QA_CFG_SEQ ? n->vals[i] : n;
        char item_what[300];
        snprintf(item_what, sizeof item_what, "%s[%zu]", what, i);
        qa_status st;
        if (f->type == QA_CFG_T_INT_LIST)
            st = qa_cfg_read_int(cfg, it, item_what, (long long)f->min, (long long)f->max,
                                 &((long long *)items)[i]);
        else if (f->type == QA_CFG_T_DOUBLE_LIST)
            st = qa_cfg_read_double(cfg, it, item_what, f->min, f->max, &((double *)items)[i]);
        else
            st = qa_cfg_read_string(cfg, it, item_what, &((const char **)items)[i]);
        if (st != QA_OK) return st;
    }
    out->items = items;
    out->n = cnt;
    return QA_OK;
}

/* One qa_cfg_bind call: the destinations bound so far, to refuse a value given twice. */
#define BIND_MAX_SEEN 256
typedef struct bind_ctx {
    const qa_cfg_t *cfg;
    size_t n;
    const void *addr[BIND_MAX_SEEN];
    const qa_cfg_node *map[BIND_MAX_SEEN]; /* the map and key index that bound it */
    size_t key[BIND_MAX_SEEN];
    char what[BIND_MAX_SEEN][64];
} bind_ctx;

static qa_status bind_map(bind_ctx *ctx, const qa_cfg_node *map, const qa_cfg_field *schema, char *dst,
                          const char *section);
static qa_status mark_bound(bind_ctx *ctx, const qa_cfg_field *f, const void *addr, const qa_cfg_node *map, size_t key,
                            const char *what);

static qa_status read_int_field(const qa_cfg_t *cfg, const qa_cfg_node *v, const qa_cfg_field *f, const char *what,
                                long long *out) {
    long long lo = f->min < -9.2e18 ? (long long)-9.2e18 : (long long)f->min;
    long long hi = f->max > 9.2e18 ? (long long)9.2e18 : (long long)f->max;
    return qa_cfg_read_int(cfg, v, what, lo, hi, out);
}

static qa_status bind_field(bind_ctx *ctx, const qa_cfg_node *v, const qa_cfg_field *f, char *dst,
                            const char *what) {
    const qa_cfg_t *cfg = ctx->cfg;
    char *p = dst + f->offset;
    long long iv = 0;
    qa_status st;
    switch (f->type) {
    case QA_CFG_T_INT:
        return read_int_field(cfg, v, f, what, (long long *)p);
    case QA_CFG_T_I32:
        if ((st = read_int_field(cfg, v, f, what, &iv)) != QA_OK) return st;
        if (iv < INT_MIN || iv > INT_MAX) return qa_cfg_error(cfg, v, what, "%lld does not fit an int", iv);
        *(int *)p = (int)iv;
        return QA_OK;
    case QA_CFG_T_I64:
        if ((st = read_int_field(cfg, v, f, what, &iv)) != QA_OK) return st;
        *(int64_t *)p = (int64_t)iv;
        return QA_OK;
    case QA_CFG_T_SIZE:
        if ((st = read_int_field(cfg, v, f, what, &iv)) != QA_OK) return st;
        if (iv < 0) return qa_cfg_error(cfg, v, what, "%lld is negative (expected a count)", iv);
        *(size_t *)p = (size_t)iv;
        return QA_OK;
    case QA_CFG_T_DOUBLE:
        return qa_cfg_read_double(cfg, v, what, f->min, f->max, (double *)p);
    case QA_CFG_T_BOOL:
        return qa_cfg_read_bool(cfg, v, what, (int *)p);
    case QA_CFG_T_STRING:
        return qa_cfg_read_string(cfg, v, what, (const char **)p);
    case QA_CFG_T_ENUM:
        return qa_cfg_read_enum(cfg, v, what, f->choices, (int *)p);
    case QA_CFG_T_INT_LIST:
    case QA_CFG_T_DOUBLE_LIST:
    case QA_CFG_T_STRING_LIST:
        return bind_list(cfg, v, f, what, (qa_cfg_list *)p);
    case QA_CFG_T_SECTION:
        if (v->kind == QA_CFG_SCALAR && f->sub[0].key && f->sub[0].type == QA_CFG_T_ENUM) {
            char sub_what[256];
            join_path(sub_what, sizeof sub_what, what, f->sub[0].key);
            st = mark_bound(ctx, &f->sub[0], p + f->sub[0].offset, v, SIZE_MAX, sub_what);
            return st != QA_OK ? st : bind_field(ctx, v, &f->sub[0], p, sub_what);
        }
        if (v->kind != QA_CFG_MAP) return qa_cfg_error(cfg, v, what, "expected a map of keys");
        return bind_map(ctx, v, f->sub, p, what);
    case QA_CFG_T_NODE:
        *(const qa_cfg_node **)p = v;
        return QA_OK;
    default:
        return QA_FAIL(QA_ERR_INVALID_ARG, "schema field '%s' has an unknown type", f->key);
    }
}

/* The field for `key` in `schema` or in its INLINE blocks; *base receives the offset
 * of the struct the field's own offset is relative to. */
static const qa_cfg_field *find_field(const qa_cfg_field *schema, const char *key, size_t *base) {
    for (const qa_cfg_field *s = schema; s->key; s++) {
        if (s->type == QA_CFG_T_INLINE) {
            size_t b = 0;
            const qa_cfg_field *f = find_field(s->sub, key, &b);
            if (f) {
                *base = s->offset + b;
                return f;
            }
        } else if (strcmp(s->key, key) == 0) {
            *base = 0;
            return s;
        }
    }
    return NULL;
}

/* Appends the keys of `schema` (and its INLINE blocks) to `allowed` and keeps the one
 * closest to `key`. */
static void list_keys(const qa_cfg_field *schema, const char *key, char *allowed, size_t size, size_t *used,
                      const char **best, size_t *best_d) {
    for (const qa_cfg_field *s = schema; s->key; s++) {
        if (s->type == QA_CFG_T_INLINE) {
            list_keys(s->sub, key, allowed, size, used, best, best_d);
            continue;
        }
        size_t d = edit_distance(key, s->key);
        if (d < *best_d) {
            *best_d = d;
            *best = s->key;
        }
        int w = snprintf(allowed + *used, size - *used, "%s%s", *used ? ", " : "", s->key);
        if (w > 0 && *used + (size_t)w < size) *used += (size_t)w;
    }
}

static qa_status unknown_key(const qa_cfg_t *cfg, const qa_cfg_node *map, size_t i, const qa_cfg_field *schema,
                             const char *section) {
    const char *best = NULL;
    size_t best_d = SIZE_MAX, used = 0;
    char allowed[768] = "";
    list_keys(schema, map->keys[i], allowed, sizeof allowed, &used, &best, &best_d);
    const char *where = section && *section ? section : "the top level";
    char at[QA_CFG_WHERE_MAX];
    key_where(cfg, map, i, at, sizeof at);
    if (best && best_d <= 2)
        return QA_FAIL(QA_ERR_CONFIG, "%s: unknown key '%s' in %s (did you mean '%s'?)", at, map->keys[i], where,
                       best);
    return QA_FAIL(QA_ERR_CONFIG, "%s: unknown key '%s' in %s (allowed: %s)", at, map->keys[i], where, allowed);
}

/* Where key `key` of `map` was given (key SIZE_MAX: the node `map` itself): "file:line" or
 * "--set a=b"; *set tells which. */
static const char *bound_where(const qa_cfg_t *cfg, const qa_cfg_node *map, size_t key, char *buf, size_t size,
                               int *set) {
    const qa_cfg_node *v = key == SIZE_MAX ? map : map->vals[key];
    *set = v->set && (key == SIZE_MAX || map->key_lines[key] == 0);
    return key == SIZE_MAX ? qa_cfg_node_where(cfg, map, buf, size) : key_where(cfg, map, key, buf, size);
}

/* Records that `what` (key `key` of `map`) sets the member at `addr`; an error if something
 * else set it already in this bind. Sections and inline blocks are containers, not values. */
static qa_status mark_bound(bind_ctx *ctx, const qa_cfg_field *f, const void *addr, const qa_cfg_node *map, size_t key,
                            const char *what) {
    if (f->type == QA_CFG_T_SECTION || f->type == QA_CFG_T_INLINE) return QA_OK;
    for (size_t k = 0; k < ctx->n; k++)
        if (ctx->addr[k] == addr) {
            char at[QA_CFG_WHERE_MAX], first[QA_CFG_WHERE_MAX];
            int at_set, first_set;
            bound_where(ctx->cfg, map, key, at, sizeof at, &at_set);
            bound_where(ctx->cfg, ctx->map[k], ctx->key[k], first, sizeof first, &first_set);
            const char *line = strrchr(first, ':'); /* "file:N" -> "N" */
            return QA_FAIL(QA_ERR_CONFIG, "%s: key '%s' sets the same value as '%s' %s %s (give it once)", at, what,
                           ctx->what[k], first_set ? "from" : "at line", first_set || !line ? first : line + 1);
        }
    if (ctx->n == BIND_MAX_SEEN) return QA_OK; /* more keys than any schema has: no check */
    ctx->addr[ctx->n] = addr;
    ctx->map[ctx->n] = map;
    ctx->key[ctx->n] = key;
    snprintf(ctx->what[ctx->n], sizeof ctx->what[0], "%.63s", what);
    ctx->n++;
    return QA_OK;
}

static qa_status bind_map(bind_ctx *ctx, const qa_cfg_node *map, const qa_cfg_field *schema, char *dst,
                          const char *section) {
    const qa_cfg_t *cfg = ctx->cfg;
    char what[256];
    if (!map || map->kind == QA_CFG_NULL) map = NULL;
    else if (map->kind != QA_CFG_MAP)
        return qa_cfg_error(cfg, map, section ? section : "(top level)", "expected a map of keys");

    for (size_t i = 0; map && i < map->n; i++) {
        size_t base = 0;
        const qa_cfg_field *f = find_field(schema, map->keys[i], &base);
        if (!f) return unknown_key(cfg, map, i, schema, section);
        join_path(what, sizeof what, section, f->key);
        const qa_cfg_node *v = map->vals[i];
        if (v->kind == QA_CFG_NULL && f->type != QA_CFG_T_NODE) {
            if (f->flags & QA_CFG_REQUIRED)
                return qa_cfg_error(cfg, v, what, "a value is required");
            continue; /* `key:` with no value keeps the default */
        }
        qa_status st = mark_bound(ctx, f, dst + base + f->offset, map, i, what);
        if (st == QA_OK) st = bind_field(ctx, v, f, dst + base, what);
        if (st != QA_OK) return st;
    }
    for (const qa_cfg_field *s = schema; s->key; s++) {
        if (!(s->flags & QA_CFG_REQUIRED)) continue;
        const qa_cfg_node *v = qa_cfg_map_get(map, s->key);
        if (!v || v->kind == QA_CFG_NULL) {
            join_path(what, sizeof what, section, s->key);
            char at[QA_CFG_WHERE_MAX];
            if (map) qa_cfg_node_where(cfg, map, at, sizeof at);
            else snprintf(at, sizeof at, "%s:1", cfg->name);
            return QA_FAIL(QA_ERR_CONFIG, "%s: missing required key '%s'", at, what);
        }
    }
    return QA_OK;
}

qa_status qa_cfg_bind(const qa_cfg_t *cfg, const qa_cfg_node *map, const qa_cfg_field *schema,
                      void *dst, const char *section) {
    bind_ctx *ctx = malloc(sizeof *ctx);
    if (!ctx) return QA_FAIL(QA_ERR_NOMEM, "config binding");
    ctx->cfg = cfg;
    ctx->n = 0;
    qa_status st = bind_map(ctx, map, schema, dst, section);
    free(ctx);
    return st;
}

/* ---- overrides ------------------------------------------------------------------------ */

static qa_status map_put(qa_cfg_t *cfg, qa_cfg_node *map, const char *key, qa_cfg_node *val) {
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i], key) == 0) {
            map->vals[i] = val;
            return QA_OK;
        }
    }
    size_t n = map->n + 1;
    char **keys = arena_alloc(cfg, n * sizeof *keys);
    int *lines = arena_alloc(cfg, n * sizeof *lines);
    qa_cfg_node **vals = arena_alloc(cfg, n * sizeof(qa_cfg_node *));
    char *k = arena_strdup(cfg, key, strlen(key));
    if (!keys || !lines || !vals || !k) return QA_FAIL(QA_ERR_NOMEM, "config override");
    if (map->n) {
        memcpy(keys, map->keys, map->n * sizeof *keys);
        memcpy(lines, map->key_lines, map->n * sizeof *lines);
        memcpy(vals, map->vals, map->n * sizeof(qa_cfg_node *));
    }
    keys[map->n] = k;
    lines[map->n] = 0;
    vals[map->n] = val;
    map->keys = keys;
    map->key_lines = lines;
    map->vals = vals;
    map->n = n;
    return QA_OK;
}

/* Copies a node tree from another cfg into this one's arena, every node marked as given
 * by the override `set` (so errors name it instead of a line). */
static qa_cfg_node *clone_node(qa_cfg_t *cfg, const qa_cfg_node *src, const char *set) {
    qa_cfg_node *n = arena_alloc(cfg, sizeof *n);
    if (!n) return NULL;
    *n = *src;
    n->line = 0; /* from the command line */
    n->set = set;
    if (src->text && !(n->text = arena_strdup(cfg, src->text, strlen(src->text)))) return NULL;
    if (src->n) {
        n->vals = arena_alloc(cfg, src->n * sizeof(qa_cfg_node *));
        if (!n->vals) return NULL;
        if (src->keys) {
            n->keys = arena_alloc(cfg, src->n * sizeof *n->keys);
            n->key_lines = arena_alloc(cfg, src->n * sizeof *n->key_lines);
            if (!n->keys || !n->key_lines) return NULL;
        }
        for (size_t i = 0; i < src->n; i++) {
            if (!(n->vals[i] = clone_node(cfg, src->vals[i], set))) return NULL;
            if (src->keys && !(n->keys[i] = arena_strdup(cfg, src->keys[i], strlen(src->keys[i]))))
                return NULL;
        }
    }
    return n;
}

qa_status qa_cfg_override(qa_cfg_t *cfg, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return QA_FAIL(QA_ERR_CONFIG, "override '%s': expected key.path=value", assignment);
    /* Parse the value as a one-key YAML document so lists ("[5,10]") work too. */
    size_t vlen = strlen(eq + 1);
    char *doc = malloc(vlen + 8);
    if (!doc) return QA_FAIL(QA_ERR_NOMEM, "override");
    snprintf(doc, vlen + 8, "v: %s\n", eq + 1);
    qa_cfg_t *tmp = NULL;
    qa_status st = qa_cfg_parse("value", doc, strlen(doc), &tmp);
    free(doc);
    if (st != QA_OK) {
        if (st != QA_ERR_CONFIG) return st;
        /* The line of the one-line document built above means nothing to the user: drop it. */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", qa_err_msg());
        const char *why = strncmp(msg, "value:", 6) == 0 && strchr(msg + 6, ' ') ? strchr(msg + 6, ' ') + 1 : msg;
        return QA_FAIL(QA_ERR_CONFIG, "--set %s: the value is not valid YAML: %s", assignment, why);
    }
    const char *set = arena_strdup(cfg, assignment, strlen(assignment));
    qa_cfg_node *val = set ? clone_node(cfg, qa_cfg_map_value_at(tmp->root, 0), set) : NULL;
    qa_cfg_free(tmp);
    if (!val) return QA_FAIL(QA_ERR_NOMEM, "override value");

    char path[512];
    size_t plen = (size_t)(eq - assignment);
    if (plen >= sizeof path) return QA_FAIL(QA_ERR_CONFIG, "override key too long");
    memcpy(path, assignment, plen);
    path[plen] = '\0';
    /* strtok_r would skip empty parts: "grid..fast" must not mean "grid.fast" */
    if (path[0] == '.' || path[plen - 1] == '.' || strstr(path, ".."))
        return QA_FAIL(QA_ERR_CONFIG, "override '%s': empty key in '%s' (expected key.path=value)", assignment, path);
    qa_cfg_node *map = cfg->root;
    char *save = NULL;
    char *part = strtok_r(path, ".", &save);
    while (part) {
        char *next = strtok_r(NULL, ".", &save);
        if (!next) return map_put(cfg, map, part, val);
        qa_cfg_node *child = (qa_cfg_node *)qa_cfg_map_get(map, part);
        if (!child || child->kind == QA_CFG_NULL) {
            child = arena_alloc(cfg, sizeof *child);
            if (!child) return QA_FAIL(QA_ERR_NOMEM, "override");
            child->kind = QA_CFG_MAP;
            child->set = set;
            st = map_put(cfg, map, part, child);
            if (st != QA_OK) return st;
        } else if (child->kind != QA_CFG_MAP) {
            return QA_FAIL(QA_ERR_CONFIG, "override '%s': '%s' is not a map", assignment, part);
        }
        map = child;
        part = next;
    }
    return QA_FAIL(QA_ERR_CONFIG, "override '%s': empty key", assignment);
}
