/* Job options for `qa submit`: one table of supported sbatch options, the value parsers,
 * and the `#SBATCH` directive reader. No libslurm here, so it builds and is tested on
 * machines without Slurm. */
#include "jobs/slurm_spec.h"

#include <assert.h>  /* static_assert */
#include <ctype.h>   /* isdigit, isspace, isalnum */
#include <errno.h>   /* errno for strtol */
#include <signal.h>  /* NSIG */
#include <stdlib.h>  /* malloc, free, strtol */
#include <string.h>  /* strcmp, strlen, sigabbrev_np */
#include <strings.h> /* strcasecmp */

/* ---- option table -------------------------------------------------------------------- */

typedef enum opt_kind {
    K_STRING = 0,  /* char * field, any non-empty text */
    K_COUNT,       /* long field >= min */
    K_TIME,        /* long minutes */
    K_MEM,         /* long long MiB */
    K_SIGNAL,      /* signal_* fields */
    K_OPEN_MODE,   /* open_mode */
    K_REQUEUE,     /* flag: requeue = 1 */
    K_NO_REQUEUE,  /* flag: requeue = 0 */
    K_KIND_COUNT
} opt_kind;

static const int kind_takes_value[] = {1, 1, 1, 1, 1, 1, 0, 0};
static_assert(sizeof kind_takes_value / sizeof kind_takes_value[0] == K_KIND_COUNT,
              "kind_takes_value must cover every opt_kind");

typedef struct opt_def {
    const char *name;  /* sbatch long name */
    char short_name;   /* sbatch short name, 0 when none */
    opt_kind kind;
    size_t offset;     /* field in qa_slurm_spec (unused for signal/flags) */
    long min;          /* K_COUNT lower bound */
} opt_def;

#define F(field) offsetof(qa_slurm_spec, field)
static const opt_def opt_table[] = {
    {"job-name", 'J', K_STRING, F(job_name), 0},
    {"partition", 'p', K_STRING, F(partition), 0},
    {"account", 'A', K_STRING, F(account), 0},
    {"time", 't', K_TIME, F(time_minutes), 0},
    {"nodes", 'N', K_COUNT, F(nodes), 1},
    {"ntasks", 'n', K_COUNT, F(ntasks), 1},
    {"ntasks-per-node", 0, K_COUNT, F(ntasks_per_node), 1},
    {"gpus-per-node", 0, K_COUNT, F(gpus_per_node), 0},
    {"cpus-per-task", 'c', K_COUNT, F(cpus_per_task), 1},
    {"mem", 0, K_MEM, F(mem_mb), 0},
    {"array", 'a', K_STRING, F(array), 0},
    {"output", 'o', K_STRING, F(output), 0},
    {"error", 'e', K_STRING, F(error), 0},
    {"signal", 0, K_SIGNAL, 0, 0},
    {"requeue", 0, K_REQUEUE, 0, 0},
    {"no-requeue", 0, K_NO_REQUEUE, 0, 0},
    {"dependency", 'd', K_STRING, F(dependency), 0},
    {"open-mode", 0, K_OPEN_MODE, 0, 0},
    {"chdir", 'D', K_STRING, F(work_dir), 0},
};
#undef F
enum { OPT_COUNT = sizeof opt_table / sizeof opt_table[0] };

/* Option names may use '_' for '-' (YAML keys). */
static int name_eq(const char *table_name, const char *given) {
    for (; *table_name && *given; table_name++, given++) {
        char g = *given;
        if (g == '_') g = '-';
        if (g != *table_name) return 0;
    }
    return *table_name == '\0' && *given == '\0';
}

static const opt_def *find_long(const char *name) {
    for (int i = 0; i < OPT_COUNT; i++)
        if (name_eq(opt_table[i].name, name)) return &opt_table[i];
    return NULL;
}

static const opt_def *find_short(char c) {
    for (int i = 0; i < OPT_COUNT; i++)
        if (opt_table[i].short_name == c) return &opt_table[i];
    return NULL;
}

/* ---- lifetime ------------------------------------------------------------------------- */

void qa_slurm_spec_init(qa_slurm_spec *spec) {
    memset(spec, 0, sizeof *spec);
    spec->time_minutes = QA_SLURM_UNSET;
    spec->nodes = QA_SLURM_UNSET;
    spec->ntasks = QA_SLURM_UNSET;
    spec->ntasks_per_node = QA_SLURM_UNSET;
    spec->gpus_per_node = QA_SLURM_UNSET;
    spec->cpus_per_task = QA_SLURM_UNSET;
    spec->mem_mb = QA_SLURM_UNSET;
    spec->requeue = QA_SLURM_UNSET;
    spec->open_mode = QA_SLURM_OPEN_DEFAULT;
}

void qa_slurm_spec_free(qa_slurm_spec *spec) {
    if (!spec) return;
    for (int i = 0; i < OPT_COUNT; i++) {
        if (opt_table[i].kind == K_STRING) free(*(char **)((char *)spec + opt_table[i].offset));
    }
    for (size_t i = 0; i < spec->n_env; i++) free(spec->env[i]);
    free(spec->env);
    qa_slurm_spec_init(spec);
}

/* ---- value parsers --------------------------------------------------------------------- */

/* Parses a whole non-negative decimal number; 0 on success. */
static int parse_ulong(const char *s, const char **end, long *out) {
    if (!isdigit((unsigned char)*s)) return -1;
    errno = 0;
    char *e;
    long v = strtol(s, &e, 10);
    if (errno || v < 0) return -1;
    *out = v;
    *end = e;
    return 0;
}

qa_status qa_slurm_parse_time(const char *text, long *minutes) {
    if (!text || !*text) return QA_FAIL(QA_ERR_INVALID_ARG, "empty time limit");
    if (!strcasecmp(text, "infinite") || !strcasecmp(text, "unlimited")) {
        *minutes = QA_SLURM_TIME_INFINITE;
        return QA_OK;
    }
    /* Fields: optional "D-" then up to three ':'-separated numbers. */
    long days = 0, f[3];
    int nf = 0, have_days = 0;
    const char *p = text, *e;
    long v;
    if (parse_ulong(p, &e, &v)) goto bad;
    if (*e == '-') {
        days = v;
        have_days = 1;
        p = e + 1;
        if (parse_ulong(p, &e, &v)) goto bad;
    }
    f[nf++] = v;
    while (*e == ':' && nf < 3) {
        p = e + 1;
        if (parse_ulong(p, &e, &v)) goto bad;
        f[nf++] = v;
    }
    if (*e != '\0') goto bad;
    long h = 0, m = 0, s = 0;
    if (have_days) { /* D-H, D-H:M, D-H:M:S */
        h = f[0];
        if (nf > 1) m = f[1];
        if (nf > 2) s = f[2];
    } else if (nf == 1) { /* M */
        m = f[0];
    } else if (nf == 2) { /* M:S */
        m = f[0];
        s = f[1];
    } else { /* H:M:S */
        h = f[0];
        m = f[1];
        s = f[2];
    }
    if (have_days && (h > 23 || m > 59 || s > 59)) goto bad;
    if (!have_days && nf > 1 && s > 59) goto bad;
    if (nf == 3 && m > 59) goto bad;
    /* Seconds round up to a whole minute, as Slurm does; 0 means "no limit". */
    double total = (double)days * 1440.0 + (double)h * 60.0 + (double)m + (s > 0 ? 1.0 : 0.0);
    if (total >= (double)QA_SLURM_TIME_INFINITE) goto bad;
    *minutes = total == 0.0 ? QA_SLURM_TIME_INFINITE : (long)total;
    return QA_OK;
bad:
    return QA_FAIL(QA_ERR_INVALID_ARG,
                   "bad time limit '%s' (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or infinite)",
                   text);
}

qa_status qa_slurm_parse_mem(const char *text, long long *mib) {
    const char *e;
    long v;
    if (!text || parse_ulong(text, &e, &v)) goto bad;
    long long mult_kib; /* size of one unit in KiB */
    switch (*e) {
    case '\0': case 'M': case 'm': mult_kib = 1024; break;
    case 'K': case 'k': mult_kib = 1; break;
    case 'G': case 'g': mult_kib = 1024LL * 1024; break;
    case 'T': case 't': mult_kib = 1024LL * 1024 * 1024; break;
    default: goto bad;
    }
    if (*e && e[1] != '\0' && !((e[1] == 'B' || e[1] == 'b') && e[2] == '\0')) goto bad;
    if ((double)v * (double)mult_kib > 9.0e18) goto bad;
    *mib = ((long long)v * mult_kib + 1023) / 1024; /* K rounds up to whole MiB */
    return QA_OK;
bad:
    return QA_FAIL(QA_ERR_INVALID_ARG, "bad memory size '%s' (a number with K, M, G or T; default M)",
                   text ? text : "");
}

qa_status qa_slurm_parse_signal_name(const char *text, int *signum) {
    if (!text || !*text) return QA_FAIL(QA_ERR_INVALID_ARG, "empty signal");
    const char *e;
    long v;
    if (isdigit((unsigned char)*text)) {
        if (parse_ulong(text, &e, &v) || *e || v < 1 || v >= NSIG)
            return QA_FAIL(QA_ERR_INVALID_ARG, "bad signal number '%s'", text);
        *signum = (int)v;
        return QA_OK;
    }
    const char *name = strncasecmp(text, "SIG", 3) == 0 ? text + 3 : text;
    for (int s = 1; s < NSIG; s++) {
        const char *abbrev = sigabbrev_np(s); /* glibc's table: "USR1", "TERM", ... */
        if (abbrev && strcasecmp(abbrev, name) == 0) {
            *signum = s;
            return QA_OK;
        }
    }
    return QA_FAIL(QA_ERR_INVALID_ARG, "unknown signal '%s'", text);
}

qa_status qa_slurm_parse_signal(const char *text, int *signum, int *seconds, int *batch_only,
                                int *reservation) {
    if (!text) return QA_FAIL(QA_ERR_INVALID_ARG, "empty --signal");
    int b = 0, r = 0;
    const char *p = text;
    /* Prefixes "B:", "R:" (sbatch also accepts "RB:" / "BR:"). */
    const char *colon = strchr(p, ':');
    if (colon) {
        for (const char *q = p; q < colon; q++) {
            if (*q == 'B' || *q == 'b') b = 1;
            else if (*q == 'R' || *q == 'r') r = 1;
            else return QA_FAIL(QA_ERR_INVALID_ARG, "bad --signal '%s' (prefix must be B:, R: or RB:)", text);
        }
        p = colon + 1;
    }
    char sig[32];
    const char *at = strchr(p, '@');
    size_t n = at ? (size_t)(at - p) : strlen(p);
    if (n == 0 || n >= sizeof sig) return QA_FAIL(QA_ERR_INVALID_ARG, "bad --signal '%s'", text);
    memcpy(sig, p, n);
    sig[n] = '\0';
    int s;
    qa_status st = qa_slurm_parse_signal_name(sig, &s);
    if (st != QA_OK) {
        qa_err_prefix("--signal '%s': ", text);
        return st;
    }
    long secs = 60; /* sbatch's default lead time */
    if (at) {
        const char *e;
        if (parse_ulong(at + 1, &e, &secs) || *e || secs > 65535)
            return QA_FAIL(QA_ERR_INVALID_ARG, "bad --signal '%s' (seconds after '@' must be 0..65535)", text);
    }
    *signum = s;
    *seconds = (int)secs;
    *batch_only = b;
    *reservation = r;
    return QA_OK;
}

qa_status qa_slurm_parse_job_id(const char *text, uint32_t *job, uint32_t *task) {
    const char *e;
    long j, t = -1;
    if (!text || parse_ulong(text, &e, &j) || j < 1 || j > (long)UINT32_MAX - 2) goto bad;
    if (*e == '_') {
        if (parse_ulong(e + 1, &e, &t) || t > (long)UINT32_MAX - 2) goto bad;
    }
    if (*e != '\0') goto bad;
    *job = (uint32_t)j;
    *task = t < 0 ? QA_SLURM_NO_TASK : (uint32_t)t;
    return QA_OK;
bad:
    return QA_FAIL(QA_ERR_INVALID_ARG, "bad job id '%s' (expected 123 or 123_4)", text ? text : "");
}

/* ---- setting options ------------------------------------------------------------------ */

static int valid_array_spec(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s) && !strchr(",-:%", *s)) return 0;
    return 1;
}

static qa_status set_opt(qa_slurm_spec *spec, const opt_def *o, const char *value) {
    char *field = (char *)spec + o->offset;
    if (kind_takes_value[o->kind] && (!value || !*value))
        return QA_FAIL(QA_ERR_INVALID_ARG, "option --%s needs a value", o->name);
    if (!kind_takes_value[o->kind] && value)
        return QA_FAIL(QA_ERR_INVALID_ARG, "option --%s takes no value", o->name);
    switch (o->kind) {
    case K_STRING: {
        if (o->offset == offsetof(qa_slurm_spec, array) && !valid_array_spec(value))
            return QA_FAIL(QA_ERR_INVALID_ARG, "bad --array '%s' (e.g. 0-3, 1,5,7, 0-99%%10)", value);
        char *copy = strdup(value);
        if (!copy) return QA_FAIL(QA_ERR_NOMEM, "out of memory");
        free(*(char **)field);
        *(char **)field = copy;
        return QA_OK;
    }
    case K_COUNT: {
        const char *e;
        long v;
        if (parse_ulong(value, &e, &v) || *e || v < o->min || v > 65535)
            return QA_FAIL(QA_ERR_INVALID_ARG, "bad --%s '%s' (an integer in [%ld, 65535])", o->name,
                           value, o->min);
        *(long *)field = v;
        return QA_OK;
    }
    case K_TIME: {
        long m;
        qa_status st = qa_slurm_parse_time(value, &m);
        if (st == QA_OK) spec->time_minutes = m;
        return st;
    }
    case K_MEM: {
        long long m;
        qa_status st = qa_slurm_parse_mem(value, &m);
        if (st == QA_OK) spec->mem_mb = m;
        return st;
    }
    case K_SIGNAL:
        return qa_slurm_parse_signal(value, &spec->signal_num, &spec->signal_seconds,
                                     &spec->signal_batch_only, &spec->signal_reservation);
    case K_OPEN_MODE:
        if (!strcmp(value, "append")) spec->open_mode = QA_SLURM_OPEN_APPEND;
        else if (!strcmp(value, "truncate")) spec->open_mode = QA_SLURM_OPEN_TRUNCATE;
        else return QA_FAIL(QA_ERR_INVALID_ARG, "bad --open-mode '%s' (append or truncate)", value);
        return QA_OK;
    case K_REQUEUE:
        spec->requeue = 1;
        return QA_OK;
    case K_NO_REQUEUE:
        spec->requeue = 0;
        return QA_OK;
    case K_KIND_COUNT:
        break;
    }
    return QA_FAIL(QA_ERR_STATE, "option kind %d", (int)o->kind);
}

qa_status qa_slurm_spec_set(qa_slurm_spec *spec, const char *name, const char *value) {
    const opt_def *o = name ? find_long(name) : NULL;
    if (!o) return QA_FAIL(QA_ERR_INVALID_ARG, "unsupported option '--%s'", name ? name : "");
    return set_opt(spec, o, value);
}

qa_status qa_slurm_spec_add_env(qa_slurm_spec *spec, const char *assignment) {
    const char *eq = assignment ? strchr(assignment, '=') : NULL;
    int ok = eq && eq > assignment && (isalpha((unsigned char)assignment[0]) || assignment[0] == '_');
    for (const char *p = assignment; ok && p < eq; p++)
        if (!isalnum((unsigned char)*p) && *p != '_') ok = 0;
    if (!ok)
        return QA_FAIL(QA_ERR_INVALID_ARG, "bad --export '%s' (expected KEY=VALUE)",
                       assignment ? assignment : "");
    char **grown = realloc(spec->env, (spec->n_env + 1) * sizeof *grown);
    if (!grown) return QA_FAIL(QA_ERR_NOMEM, "out of memory");
    spec->env = grown;
    if (!(spec->env[spec->n_env] = strdup(assignment))) return QA_FAIL(QA_ERR_NOMEM, "out of memory");
    spec->n_env++;
    return QA_OK;
}

/* ---- #SBATCH directives ------------------------------------------------------------- */

/* Splits one directive's text into tokens: whitespace separates, "..." and '...' quote,
 * an unquoted '#' at the start of a token begins a comment. Writes NUL-separated tokens
 * into `buf` (at least strlen(text)+1 bytes) and their starts into `tok`. */
static qa_status tokenize(const char *text, char *buf, char **tok, int max_tok, int *n_tok) {
    int n = 0;
    char *out = buf;
    const char *p = text;
    for (;;) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p || *p == '#') break;
        if (n == max_tok) return QA_FAIL(QA_ERR_FORMAT, "too many words in one #SBATCH line");
        tok[n++] = out;
        char quote = 0;
        while (*p && (quote || !isspace((unsigned char)*p))) {
            if (!quote && (*p == '"' || *p == '\'')) quote = *p;
            else if (quote && *p == quote) quote = 0;
            else *out++ = *p;
            p++;
        }
        if (quote) return QA_FAIL(QA_ERR_FORMAT, "unterminated %c quote", quote);
        *out++ = '\0';
    }
    *n_tok = n;
    return QA_OK;
}

/* Applies the options of one directive line (tokens as produced by tokenize). */
static qa_status apply_tokens(qa_slurm_spec *spec, char **tok, int n) {
    for (int i = 0; i < n; i++) {
        char *t = tok[i];
        const opt_def *o = NULL;
        const char *value = NULL;
        if (t[0] == '-' && t[1] == '-') {
            char *eq = strchr(t + 2, '=');
            if (eq) *eq = '\0';
            o = find_long(t + 2);
            if (!o) return QA_FAIL(QA_ERR_INVALID_ARG, "unsupported #SBATCH option '--%s'", t + 2);
            if (eq) value = eq + 1;
            else if (kind_takes_value[o->kind]) {
                if (i + 1 >= n) return QA_FAIL(QA_ERR_INVALID_ARG, "option --%s needs a value", o->name);
                value = tok[++i];
            }
        } else if (t[0] == '-' && t[1] && t[1] != '-') {
            o = find_short(t[1]);
            if (!o) return QA_FAIL(QA_ERR_INVALID_ARG, "unsupported #SBATCH option '-%c'", t[1]);
            if (t[2]) value = t[2] == '=' ? t + 3 : t + 2;
            else {
                if (i + 1 >= n) return QA_FAIL(QA_ERR_INVALID_ARG, "option -%c needs a value", t[1]);
                value = tok[++i];
            }
        } else {
            return QA_FAIL(QA_ERR_INVALID_ARG, "unexpected word '%s' in #SBATCH line", t);
        }
        qa_status st = set_opt(spec, o, value);
        if (st != QA_OK) return st;
    }
    return QA_OK;
}

qa_status qa_slurm_spec_parse_script(qa_slurm_spec *spec, const char *name, const char *script) {
    qa_status st = QA_OK;
    char *buf = NULL;
    char **tok = NULL;
    size_t cap = 0;
    enum { MAX_TOKENS = 64 };
    tok = malloc(MAX_TOKENS * sizeof *tok);
    if (!tok) return QA_FAIL(QA_ERR_NOMEM, "out of memory");
    int line_no = 0;
    for (const char *line = script; line && *line;) {
        line_no++;
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *next = end ? end + 1 : NULL;
        const char *p = line;
        while (p < line + len && isspace((unsigned char)*p)) p++;
        if (p == line + len || (line_no == 1 && len >= 2 && line[0] == '#' && line[1] == '!')) {
            line = next;
            continue; /* blank line or the shebang */
        }
        if (*p != '#') break; /* first command: no directives after it (sbatch's rule) */
        if (line == p && len >= 7 && strncmp(line, "#SBATCH", 7) == 0 &&
            (len == 7 || isspace((unsigned char)line[7]))) {
            if (len + 1 > cap) {
                char *grown = realloc(buf, 2 * (len + 1));
                if (!grown) QA_TRY_FAIL(QA_ERR_NOMEM, "out of memory");
                buf = grown;
                cap = 2 * (len + 1);
            }
            /* The directive text, NUL-terminated, then tokenized in place after it. */
            char *text = malloc(len - 7 + 1);
            if (!text) QA_TRY_FAIL(QA_ERR_NOMEM, "out of memory");
            memcpy(text, line + 7, len - 7);
            text[len - 7] = '\0';
            if (len - 7 > 0 && text[len - 8] == '\r') text[len - 8] = '\0';
            int n = 0;
            st = tokenize(text, buf, tok, MAX_TOKENS, &n);
            if (st == QA_OK) st = apply_tokens(spec, tok, n);
            free(text);
            if (st != QA_OK) {
                qa_err_prefix("%s:%d: ", name, line_no);
                goto cleanup;
            }
        }
        line = next;
    }
cleanup:
    free(buf);
    free(tok);
    return st;
}
