/* Portfolio files (CSV and YAML) into qa_book, with file:line:field errors. Both
 * formats fill the same table of field texts, parsed and checked by one function. */
#include "trading/book.h"

#include "common/strlist.h" /* qa_names_first_repeat */

#include <math.h>     /* NAN, fabs, isfinite, isinf, isnan */
#include <stdarg.h>   /* va_list */
#include <stdint.h>   /* SIZE_MAX */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* calloc, realloc, qsort */
#include <string.h>   /* strcmp */
#include <strings.h>  /* strcasecmp */

#include "common/config.h"     /* YAML documents */
#include "datasets/csv.h"      /* CSV reader, strict number parsing */
#include "common/timeparse.h" /* expiry dates */
#include "kernels/risk.h"      /* QA_RISK_CALL / QA_RISK_PUT */

const char *const qa_book_kind_names[] = {"equity", "etf", "future", "option", NULL};
_Static_assert(sizeof qa_book_kind_names / sizeof qa_book_kind_names[0] == QA_BOOK_KIND_COUNT + 1,
               "position kinds");

/* The fields of a position, in CSV column / YAML key names. */
enum {
    F_ID, F_SYMBOL, F_TYPE, F_QUANTITY, F_WEIGHT, F_MULTIPLIER, F_RIGHT, F_STRIKE, F_EXPIRY, F_VOL, F_RATE,
    F_DIV_YIELD, F_SECTOR, F_COUNT
};
static const char *const field_names[] = {"id",     "symbol", "type",   "quantity", "weight", "multiplier", "right",
                                          "strike", "expiry", "vol",    "rate",     "dividend_yield", "sector", NULL};
_Static_assert(sizeof field_names / sizeof field_names[0] == F_COUNT + 1, "position fields");

/* The position field called `name` (CSV headers ignore case, YAML keys do not), or -1. */
static int field_index(const char *name, int any_case) {
    for (int k = 0; k < F_COUNT; k++)
        if ((any_case ? strcasecmp(name, field_names[k]) : strcmp(name, field_names[k])) == 0) return k;
    return -1;
}

/* Where a position's fields came from, for messages. */
typedef struct src {
    const char *file;
    int yaml;           /* key 'positions[i].f' (YAML) or field 'f' (CSV) */
    size_t index;       /* position index (YAML) */
    const char *val[F_COUNT]; /* NULL or "" when absent */
    int line[F_COUNT];
    int pos_line;
} src;

static qa_status ferr(const src *s, int f, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static qa_status ferr(const src *s, int f, const char *fmt, ...) {
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    int line = f >= 0 && s->line[f] ? s->line[f] : s->pos_line;
    const char *name = f >= 0 ? field_names[f] : "position";
    if (s->yaml) return QA_FAIL(QA_ERR_CONFIG, "%s:%d: key 'positions[%zu].%s': %s", s->file, line, s->index, name, detail);
    return QA_FAIL(QA_ERR_CONFIG, "%s:%d: field '%s': %s", s->file, line, name, detail);
}

static int has(const src *s, int f) { return s->val[f] && s->val[f][0]; }

/* A finite number; `req` says whether an absent field is an error. */
static qa_status num(const src *s, int f, int req, double dflt, double *out) {
    if (!has(s, f)) {
        if (req) return ferr(s, f, "a value is required");
        *out = dflt;
        return QA_OK;
    }
    double v;
    if (!qa_csv_parse_double(s->val[f], &v) || !isfinite(v)) return ferr(s, f, "'%s' is not a number", s->val[f]);
    *out = v;
    return QA_OK;
}

static qa_status parse_position(const src *s, double value, qa_book_position *p) {
    qa_status st;
    memset(p, 0, sizeof *p);
    p->line = s->pos_line;
    p->quantity = p->weight = p->vol = NAN;
    if (!has(s, F_SYMBOL)) return ferr(s, F_SYMBOL, "a value is required");
    if (strlen(s->val[F_SYMBOL]) >= sizeof p->symbol) return ferr(s, F_SYMBOL, "'%s' is too long", s->val[F_SYMBOL]);
    snprintf(p->symbol, sizeof p->symbol, "%s", s->val[F_SYMBOL]);
    p->kind = QA_BOOK_EQUITY;
    if (has(s, F_TYPE)) {
        int k = -1;
        for (int i = 0; qa_book_kind_names[i]; i++)
            if (strcasecmp(s->val[F_TYPE], qa_book_kind_names[i]) == 0) k = i;
        if (k < 0) return ferr(s, F_TYPE, "'%s' is not one of: equity, etf, future, option", s->val[F_TYPE]);
        p->kind = (qa_book_kind)k;
    }
    int opt = p->kind == QA_BOOK_OPTION;
    if (!opt) {
        static const int only_opt[] = {F_RIGHT, F_STRIKE, F_EXPIRY, F_VOL, F_RATE, F_DIV_YIELD};
        for (size_t i = 0; i < sizeof only_opt / sizeof only_opt[0]; i++)
            if (has(s, only_opt[i]))
                return ferr(s, only_opt[i], "only options have a %s (type is %s)", field_names[only_opt[i]],
                            qa_book_kind_names[p->kind]);
    }
    if ((st = num(s, F_MULTIPLIER, 0, opt ? 100.0 : 1.0, &p->multiplier))) return st;
    if (!(p->multiplier > 0)) return ferr(s, F_MULTIPLIER, "%g must be > 0", p->multiplier);
    if ((p->kind == QA_BOOK_EQUITY || p->kind == QA_BOOK_ETF) && p->multiplier != 1.0)
        return ferr(s, F_MULTIPLIER, "%ss have no contract multiplier (got %g)", qa_book_kind_names[p->kind],
                    p->multiplier);
    int byq = has(s, F_QUANTITY), byw = has(s, F_WEIGHT);
    if (byq && byw) return ferr(s, F_WEIGHT, "give either quantity or weight, not both");
    if (!byq && !byw) return ferr(s, F_QUANTITY, "a quantity (or a weight of the portfolio value) is required");
    if (opt && byw) return ferr(s, F_WEIGHT, "options are held by quantity (contracts), not by weight");
    if (byq && (st = num(s, F_QUANTITY, 1, 0, &p->quantity))) return st;
    if (byw) {
        if ((st = num(s, F_WEIGHT, 1, 0, &p->weight))) return st;
        if (fabs(p->weight) > 100) return ferr(s, F_WEIGHT, "%g is not a plausible weight (a fraction: 0.25 = 25%%)", p->weight);
        if (isnan(value))
            return ferr(s, F_WEIGHT,
                        "position is given by weight but the portfolio has no value (set 'value' in a YAML portfolio "
                        "or 'portfolio_value' in the stress config)");
    }
    if (opt) {
        if (!has(s, F_RIGHT)) return ferr(s, F_RIGHT, "a value is required (call or put)");
        if (strcasecmp(s->val[F_RIGHT], "call") == 0 || strcasecmp(s->val[F_RIGHT], "c") == 0) p->right = QA_RISK_CALL;
        else if (strcasecmp(s->val[F_RIGHT], "put") == 0 || strcasecmp(s->val[F_RIGHT], "p") == 0) p->right = QA_RISK_PUT;
        else return ferr(s, F_RIGHT, "'%s' is not call or put", s->val[F_RIGHT]);
        if ((st = num(s, F_STRIKE, 1, 0, &p->strike))) return st;
        if (!(p->strike > 0)) return ferr(s, F_STRIKE, "%g must be > 0", p->strike);
        if (!has(s, F_EXPIRY)) return ferr(s, F_EXPIRY, "a value is required (YYYY-MM-DD)");
        qa_tzone utc;
        memset(&utc, 0, sizeof utc);
        if (!qa_time_parse(s->val[F_EXPIRY], QA_TIME_ISO, &utc, &p->expiry))
            return ferr(s, F_EXPIRY, "'%s' is not a date (YYYY-MM-DD)%s", s->val[F_EXPIRY], qa_time_parse_why());
        if (has(s, F_VOL) && strcasecmp(s->val[F_VOL], "hist") != 0 && strcasecmp(s->val[F_VOL], "historical") != 0) {
            if ((st = num(s, F_VOL, 1, 0, &p->vol))) return st;
            if (!(p->vol > 0 && p->vol < 10)) return ferr(s, F_VOL, "%g must be in (0, 10) (annualised, 0.2 = 20%%)", p->vol);
        }
        if ((st = num(s, F_RATE, 0, 0.0, &p->rate))) return st;
        if (fabs(p->rate) > 1) return ferr(s, F_RATE, "%g is not a plausible rate (0.04 = 4%%)", p->rate);
        if ((st = num(s, F_DIV_YIELD, 0, 0.0, &p->div_yield))) return st;
        if (fabs(p->div_yield) > 1) return ferr(s, F_DIV_YIELD, "%g is not a plausible yield (0.02 = 2%%)", p->div_yield);
    }
    if (has(s, F_ID)) {
        if (strlen(s->val[F_ID]) >= sizeof p->id) return ferr(s, F_ID, "'%s' is too long (< 64 characters)", s->val[F_ID]);
        snprintf(p->id, sizeof p->id, "%s", s->val[F_ID]);
    } else if (opt) {
        char date[32], id[160];
        qa_time_format_iso(p->expiry, date, sizeof date);
        snprintf(id, sizeof id, "%s_%s%g_%s", p->symbol, p->right == QA_RISK_CALL ? "C" : "P", p->strike, date);
        if (strlen(id) >= sizeof p->id) return ferr(s, F_ID, "the default id '%s' is too long: give an id", id);
        memcpy(p->id, id, strlen(id) + 1);
    } else {
        snprintf(p->id, sizeof p->id, "%s", p->symbol);
    }
    if (has(s, F_SECTOR)) snprintf(p->sector, sizeof p->sector, "%s", s->val[F_SECTOR]);
    return QA_OK;
}

static qa_status append(qa_book *p, size_t *cap, const qa_book_position *pos) {
    if (p->n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        qa_book_position *np = realloc(p->pos, nc * sizeof *np);
        if (!np) return QA_FAIL(QA_ERR_NOMEM, "portfolio of %zu positions", nc);
        p->pos = np;
        *cap = nc;
    }
    p->pos[p->n++] = *pos;
    return QA_OK;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static qa_status load_csv(const char *path, double value, qa_book *p) {
    qa_status st = QA_OK;
    qa_csv_t *csv = NULL;
    size_t cap = 0, nf = 0;
    int col[F_COUNT];
    for (int f = 0; f < F_COUNT; f++) col[f] = -1;
    QA_TRY(qa_csv_open(path, ',', &csv));
    int header = 0;
    for (;;) {
        st = qa_csv_next(csv, &nf);
        if (st == QA_ERR_NOT_FOUND) {
            st = QA_OK;
            break;
        }
        if (st != QA_OK) goto cleanup;
        const char *first = qa_csv_field(csv, 0);
        if (first && first[0] == '#') continue;
        int line = (int)qa_csv_line(csv);
        if (!header) {
            for (size_t i = 0; i < nf; i++) {
                const char *h = qa_csv_field(csv, i);
                int f = field_index(h, 1);
                if (f < 0)
                    QA_TRY_FAIL(QA_ERR_CONFIG,
                                "%s:%d: unknown column '%s' (columns: id, symbol, type, quantity, weight, multiplier, "
                                "right, strike, expiry, vol, rate, dividend_yield, sector)",
                                path, line, h);
                if (col[f] >= 0) QA_TRY_FAIL(QA_ERR_CONFIG, "%s:%d: column '%s' appears twice", path, line, h);
                col[f] = (int)i;
            }
            if (col[F_SYMBOL] < 0) QA_TRY_FAIL(QA_ERR_CONFIG, "%s:%d: the header has no 'symbol' column", path, line);
            header = 1;
            continue;
        }
        src s;
        memset(&s, 0, sizeof s);
        s.file = path;
        s.pos_line = line;
        for (int f = 0; f < F_COUNT; f++) {
            s.val[f] = col[f] >= 0 ? qa_csv_field(csv, (size_t)col[f]) : NULL;
            s.line[f] = line;
        }
        qa_book_position pos;
        QA_TRY(parse_position(&s, value, &pos));
        QA_TRY(append(p, &cap, &pos));
    }
    if (!header) QA_TRY_FAIL(QA_ERR_CONFIG, "%s:1: empty portfolio file (expected a header row and positions)", path);
cleanup:
    qa_csv_close(csv);
    return st;
}

/* Top-level keys of a YAML portfolio. */
struct yaml_top {
    const char *name;
    double value;
    const qa_cfg_node *positions;
};

static qa_status load_yaml(const char *path, double value, qa_book *p) {
    qa_status st = QA_OK;
    qa_cfg_t *cfg = NULL;
    size_t cap = 0;
    QA_TRY(qa_cfg_load(path, &cfg));
    const qa_cfg_node *root = qa_cfg_root(cfg);
    struct yaml_top r = {NULL, NAN, NULL};
    const qa_cfg_field schema[] = {
        {"name", QA_CFG_T_STRING, offsetof(struct yaml_top, name), 0, 0, NULL, NULL, 0, "portfolio name"},
        {"value", QA_CFG_T_DOUBLE, offsetof(struct yaml_top, value), 1e-6, QA_BOOK_MAX_VALUE, NULL, NULL, 0, "portfolio value"},
        {"positions", QA_CFG_T_NODE, offsetof(struct yaml_top, positions), 0, 0, NULL, NULL, QA_CFG_REQUIRED, "list"},
        {NULL},
    };
    QA_TRY(qa_cfg_bind(cfg, root, schema, &r, NULL));
    if (r.name) snprintf(p->name, sizeof p->name, "%s", r.name);
    if (!isnan(r.value) && isnan(p->value)) p->value = r.value;
    if (isnan(value)) value = p->value;
    if (qa_cfg_node_kind(r.positions) != QA_CFG_SEQ)
        QA_TRY(qa_cfg_error(cfg, r.positions, "positions", "expected a list of positions"));
    for (size_t i = 0; i < qa_cfg_node_len(r.positions); i++) {
        const qa_cfg_node *m = qa_cfg_seq_at(r.positions, i);
        char what[48];
        snprintf(what, sizeof what, "positions[%zu]", i);
        if (qa_cfg_node_kind(m) != QA_CFG_MAP) QA_TRY(qa_cfg_error(cfg, m, what, "expected a map (id, symbol, ...)"));
        src s;
        memset(&s, 0, sizeof s);
        s.file = qa_cfg_name(cfg);
        s.yaml = 1;
        s.index = i;
        s.pos_line = qa_cfg_node_line(m);
        for (size_t k = 0; k < qa_cfg_node_len(m); k++) {
            const char *key = qa_cfg_map_key_at(m, k);
            const qa_cfg_node *v = qa_cfg_map_value_at(m, k);
            int f = field_index(key, 0);
            if (f < 0)
                QA_TRY_FAIL(QA_ERR_CONFIG,
                            "%s:%d: unknown key '%s' in positions[%zu] (keys: id, symbol, type, quantity, weight, "
                            "multiplier, right, strike, expiry, vol, rate, dividend_yield, sector)",
                            s.file, qa_cfg_map_key_line_at(m, k), key, i);
            if (qa_cfg_node_kind(v) != QA_CFG_SCALAR && qa_cfg_node_kind(v) != QA_CFG_NULL)
                QA_TRY(ferr(&s, f, "expected a single value"));
            s.val[f] = qa_cfg_node_text(v);
            s.line[f] = qa_cfg_node_line(v);
        }
        qa_book_position pos;
        QA_TRY(parse_position(&s, value, &pos));
        QA_TRY(append(p, &cap, &pos));
    }
cleanup:
    qa_cfg_free(cfg);
    return st;
}

/* Position ids for the uniqueness check: the id and the position's index in the file. */
/* Refuses a repeated id naming both lines: the one a file reader meets first
 * (qa_names_first_repeat, sorted: 10^5 positions in milliseconds, a pairwise scan took a
 * minute). */
static qa_status check_unique_ids(const qa_book *p) {
    if (p->n < 2) return QA_OK;
    const char **ids = malloc(p->n * sizeof *ids);
    if (!ids) return QA_FAIL(QA_ERR_NOMEM, "%s: id check of %zu positions", p->path, p->n);
    for (size_t i = 0; i < p->n; i++) ids[i] = p->pos[i].id;
    size_t first, second;
    qa_status st = qa_names_first_repeat(ids, p->n, &first, &second);
    free(ids);
    if (st != QA_OK) return st;
    if (second == SIZE_MAX) return QA_OK;
    return QA_FAIL(QA_ERR_CONFIG, "%s:%d: field 'id': duplicate id '%s' (first at line %d); give each position a unique id",
                   p->path, p->pos[second].line, p->pos[second].id, p->pos[first].line);
}

qa_status qa_book_load(const char *path, double value, qa_book *out) {
    qa_status st = QA_OK;
    qa_book p;
    memset(&p, 0, sizeof p);
    p.value = value;
    if (!path || !*path) return QA_FAIL(QA_ERR_CONFIG, "no portfolio file given");
    if (strlen(path) >= sizeof p.path) return QA_FAIL(QA_ERR_INVALID_ARG, "portfolio path too long");
    snprintf(p.path, sizeof p.path, "%s", path);
    if (!isnan(value) && !(value > 0 && isfinite(value)))
        return QA_FAIL(QA_ERR_CONFIG, "portfolio value %g must be a positive number", value);
    if (ends_with(path, ".csv") || ends_with(path, ".csv.gz") || ends_with(path, ".txt"))
        st = load_csv(path, value, &p);
    else if (ends_with(path, ".yaml") || ends_with(path, ".yml") || ends_with(path, ".json"))
        st = load_yaml(path, value, &p);
    else
        st = QA_FAIL(QA_ERR_CONFIG, "%s: unknown portfolio format (use .csv, .csv.gz, .yaml, .yml or .json)", path);
    if (st != QA_OK) goto cleanup;
    if (p.n == 0) QA_TRY_FAIL(QA_ERR_CONFIG, "%s: the portfolio has no positions", path);
    if (!p.name[0]) {
        const char *base = strrchr(path, '/');
        snprintf(p.name, sizeof p.name, "%s", base ? base + 1 : path);
    }
    QA_TRY(check_unique_ids(&p));
    *out = p;
    return QA_OK;
cleanup:
    free(p.pos);
    return st;
}

void qa_book_free(qa_book *p) {
    if (!p) return;
    free(p->pos);
    p->pos = NULL;
    p->n = 0;
}

qa_status qa_book_check_market(const qa_book *p, const qa_store_t *store, int64_t valuation) {
    for (size_t i = 0; i < p->n; i++) {
        const qa_book_position *q = &p->pos[i];
        if (store && qa_store_find_symbol(store, q->symbol) < 0)
            return QA_FAIL(QA_ERR_CONFIG, "%s:%d: field 'symbol': '%s' (position '%s') is not in %s", p->path, q->line,
                           q->symbol, q->id, qa_store_path(store));
        if (q->kind == QA_BOOK_OPTION && valuation != INT64_MIN && q->expiry <= valuation) {
            char e[32], v[32];
            qa_time_format_iso(q->expiry, e, sizeof e);
            qa_time_format_iso(valuation, v, sizeof v);
            return QA_FAIL(QA_ERR_CONFIG, "%s:%d: field 'expiry': option '%s' expires on %s, on or before the valuation "
                                          "date %s",
                           p->path, q->line, q->id, e, v);
        }
    }
    return QA_OK;
}

qa_status qa_book_check_value(const qa_book *p, size_t i, double quantity, double price, const char *what) {
    const qa_book_position *q = &p->pos[i];
    double v = quantity * q->multiplier * price;
    if (isfinite(v) && fabs(v) <= QA_BOOK_MAX_VALUE) return QA_OK;
    const char *why = isnan(v)        ? "not a number"
                      : isinf(v)      ? "not finite (the product overflows a double)"
                                      : "larger in magnitude than 1e18, the largest portfolio value accepted";
    return QA_FAIL(QA_ERR_CONFIG, "%s:%d: position '%s': %s = quantity %g x multiplier %g x price %g = %g is %s", p->path,
                   q->line, q->id, what, quantity, q->multiplier, price, v, why);
}

long qa_book_find(const qa_book *p, const char *id) {
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->pos[i].id, id) == 0) return (long)i;
    return -1;
}
