/* Table-driven option parsing for the qa subcommands (contracts in cli/args.h). */
#include "cli/args.h"

#include <errno.h>   /* ERANGE */
#include <math.h>    /* isfinite */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* strtoll, strtod */
#include <string.h>  /* strcmp, strncmp, strchr */

#include "cli/cli.h" /* exit codes, qa_cli_usage_error */
#include "common/timeparse.h" /* time options */

/* The option named exactly, else the one option the name is a prefix of (as getopt_long
 * accepts unambiguous abbreviations: --conf for --config); NULL when none or ambiguous. */
static const qa_cli_opt *find(const qa_cli_opt *opts, const char *name, size_t len) {
    if (len == 0) return NULL;
    const qa_cli_opt *prefix = NULL;
    size_t nprefix = 0;
    for (const qa_cli_opt *o = opts; o->name; o++) {
        if (strncmp(o->name, name, len) != 0) continue;
        if (strlen(o->name) == len) return o;
        prefix = o;
        nprefix++;
    }
    return nprefix == 1 ? prefix : NULL;
}

/* Stores `v` as option o's value; returns QA_CLI_RUN or a usage error. */
static int store(const char *cmd, const qa_cli_opt *o, const char *v) {
    char *end = NULL;
    switch (o->kind) {
    case QA_ARG_STR: *(const char **)o->dst = v; return QA_CLI_RUN;
    case QA_ARG_FLAG: *(int *)o->dst = 1; return QA_CLI_RUN;
    case QA_ARG_INT: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno == ERANGE || (double)x < o->lo || (double)x > o->hi)
            return qa_cli_usage_error(cmd, "--%s '%s': expected a whole number in %.15g..%.15g", o->name, v, o->lo, o->hi);
        *(long long *)o->dst = x;
        return QA_CLI_RUN;
    }
    case QA_ARG_NUM: {
        double x = strtod(v, &end);
        if (!*v || *end || !isfinite(x) || x < o->lo || x > o->hi)
            return qa_cli_usage_error(cmd, "--%s '%s': expected a number in %.15g..%.15g", o->name, v, o->lo, o->hi);
        *(double *)o->dst = x;
        return QA_CLI_RUN;
    }
    case QA_ARG_CHOICE:
        for (size_t i = 0; o->choices[i]; i++)
            if (strcmp(v, o->choices[i]) == 0) {
                *(const char **)o->dst = o->choices[i];
                return QA_CLI_RUN;
            }
        {
            char list[256] = "";
            for (size_t i = 0, n = 0; o->choices[i] && n < sizeof list; i++)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", o->choices[i]);
            return qa_cli_usage_error(cmd, "--%s '%s': expected one of %s", o->name, v, list);
        }
    case QA_ARG_LIST: {
        qa_cli_list *l = o->dst;
        if (l->n == QA_CLI_LIST_MAX) return qa_cli_usage_error(cmd, "too many --%s (at most %d)", o->name, QA_CLI_LIST_MAX);
        l->items[l->n++] = v;
        return QA_CLI_RUN;
    }
    }
    return qa_cli_usage_error(cmd, "--%s: bad option table", o->name);
}

int qa_cli_parse(const char *cmd, int argc, char **argv, const qa_cli_opt *opts, void (*usage)(FILE *),
                 const char **pos, size_t max_pos, size_t *npos) {
    size_t np = 0;
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || !a[1]) {
            if (np == max_pos) return qa_cli_usage_error(cmd, "unexpected argument '%s'", a);
            pos[np++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return QA_EXIT_OK;
        }
        if (a[1] != '-') return qa_cli_usage_error(cmd, "unknown option '%s'", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        const qa_cli_opt *o = find(opts, name, eq ? (size_t)(eq - name) : strlen(name));
        if (!o) return qa_cli_usage_error(cmd, "unknown option '%s'", a);
        const char *v = NULL;
        if (o->kind == QA_ARG_FLAG) {
            if (eq) return qa_cli_usage_error(cmd, "--%s takes no value", o->name);
        } else if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            return qa_cli_usage_error(cmd, "--%s needs a value", o->name);
        }
        int rc = store(cmd, o, v);
        if (rc != QA_CLI_RUN) return rc;
    }
    if (npos) *npos = np;
    return QA_CLI_RUN;
}

qa_status qa_cli_config(const char *config, const qa_cli_list *sets, const char *empty_name, qa_cfg_t **doc) {
    *doc = NULL;
    qa_status st = config ? qa_cfg_load(config, doc) : qa_cfg_parse(empty_name, "", 0, doc);
    for (size_t i = 0; st == QA_OK && sets && i < sets->n; i++) st = qa_cfg_override(*doc, sets->items[i]);
    if (st != QA_OK) {
        qa_cfg_free(*doc);
        *doc = NULL;
    }
    return st;
}

int qa_cli_time_opt(const char *text, int64_t *out) {
    qa_tzone utc = {0};
    return !text || qa_time_parse(text, QA_TIME_ISO, &utc, out);
}
