/* qa alt study: event study of news/tweet sentiment on a market file (pipeline/altstudy). */
#include <math.h>   /* isnan */
#include <stdio.h>  /* printf */

#include "cli/args.h"                   /* option table */
#include "cli/cli.h"                    /* exit codes, usage errors */
#include "pipeline/altstudy/altstudy.h" /* the study */

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa alt study --data FILE --source news|tweets --out DIR [--market equal|SYMBOL]\n"
            "                    [--pos X] [--z X] [--min-docs N] [--pre N] [--post N] [--est-len N]\n"
            "                    [--est-end N] [--min-est N]\n\n"
            "Event study of the alt panels `qa alt align` writes: average abnormal returns (market model)\n"
            "around bars with extreme mean sentiment (groups positive and negative) or abnormal document\n"
            "volume (group volume), with 95%% Student-t bands. Writes summary.json, events.csv and\n"
            "report.html into DIR. Day 0 is the first bar at whose close the documents were known.\n"
            "docs/alt-data.md (\"Event study\").\n\n"
            "  --data FILE       market file with /alt/<source>_{count,sent_mean,count_z}\n"
            "  --source S        news or tweets\n"
            "  --out DIR         output directory (created)\n"
            "  --market M        equal (equal-weighted mean return, default) or a symbol of the file\n"
            "  --pos X           sentiment threshold: mean >= X positive, <= -X negative (default 0.5)\n"
            "  --z X             count z-score threshold of the volume group (default 2)\n"
            "  --min-docs N      documents a sentiment event needs (default 1)\n"
            "  --pre N           event window starts at day -N (default 5)\n"
            "  --post N          event window ends at day +N (default 10)\n"
            "  --est-len N       estimation window length in bars (default 120)\n"
            "  --est-end N       estimation window ends at day -N (default 11)\n"
            "  --min-est N       valid return pairs the market model needs (default 60)\n");
}

static const char *const source_choices[] = {"news", "tweets", NULL};

/* "+1.234%" or "n/a" */
static const char *pct(double v, char *buf, size_t size) {
    if (isnan(v)) snprintf(buf, size, "n/a");
    else snprintf(buf, size, "%+.3f%%", 100.0 * v);
    return buf;
}

static const char *tstat(double v, char *buf, size_t size) {
    if (isnan(v)) snprintf(buf, size, "n/a");
    else snprintf(buf, size, "%.2f", v);
    return buf;
}

int qa_cmd_alt_study(int argc, char **argv) {
    const char *cmd = "alt study", *out = NULL;
    qa_altstudy_cfg c;
    qa_altstudy_cfg_default(&c);
    long long min_docs = c.min_docs, pre = c.pre, post = c.post, est_len = c.est_len, est_end = c.est_end,
              min_est = c.min_est;
    const qa_cli_opt opts[] = {QA_OPT_STR("data", &c.data),
                               QA_OPT_CHOICE("source", &c.source, source_choices),
                               QA_OPT_STR("out", &out),
                               QA_OPT_STR("market", &c.market),
                               QA_OPT_NUM("pos", &c.pos, 0, 1),
                               QA_OPT_NUM("z", &c.z, -1e6, 1e6),
                               QA_OPT_INT("min-docs", &min_docs, 1, 1e9),
                               QA_OPT_INT("pre", &pre, 0, 1e6),
                               QA_OPT_INT("post", &post, 0, 1e6),
                               QA_OPT_INT("est-len", &est_len, 2, 1e6),
                               QA_OPT_INT("est-end", &est_end, 1, 1e6),
                               QA_OPT_INT("min-est", &min_est, 2, 1e6),
                               QA_OPT_END};
    int rc = qa_cli_parse(cmd, argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!c.data) return qa_cli_usage_error(cmd, "give --data FILE");
    if (!c.source) return qa_cli_usage_error(cmd, "give --source news|tweets");
    if (!out) return qa_cli_usage_error(cmd, "give --out DIR");
    c.min_docs = (long)min_docs;
    c.pre = (int)pre;
    c.post = (int)post;
    c.est_len = (int)est_len;
    c.est_end = (int)est_end;
    c.min_est = (int)min_est;
    if (qa_altstudy_cfg_check(&c) != QA_OK) return qa_cli_usage_error(cmd, "%s", qa_err_msg());
    qa_altstudy_result r;
    qa_altstudy_result_init(&r);
    if (qa_altstudy_run(&c, out, argc, argv, &r) != QA_OK) return qa_cli_fail(cmd);
    char full[32], h1[32], h2[32];
    snprintf(full, sizeof full, "CAAR[-%d,+%d]", c.pre, c.post);
    printf("%-9s %6s %12s %7s %14s %7s\n", "group", "N", c.post >= 1 ? "CAAR[0,+1]" : "CAAR[0,0]", "t", full, "t");
    for (int g = 0; g < QA_ALTSTUDY_GROUP_COUNT; g++) {
        const qa_altstudy_group_stats *gs = &r.group[g];
        const qa_altstudy_win_stat *w1 = &gs->win[c.post >= 1 ? QA_ALTSTUDY_WIN_0_1 : QA_ALTSTUDY_WIN_0_0];
        const qa_altstudy_win_stat *wa = &gs->win[QA_ALTSTUDY_WIN_ALL];
        char a[32], b[32];
        printf("%-9s %6zu %12s %7s %14s %7s\n", qa_altstudy_group_names[g], gs->n, pct(w1->car, a, sizeof a),
               tstat(w1->t, h1, sizeof h1), pct(wa->car, b, sizeof b), tstat(wa->t, h2, sizeof h2));
    }
    printf("report: %s/report.html\n", out);
    qa_altstudy_result_free(&r);
    return QA_EXIT_OK;
}
