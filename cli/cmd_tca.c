/* qa tca: post-trade transaction-cost analysis of the live service's order database
 * against a market file (pipeline/tca). */
#include <stdio.h>   /* printf */
#include <string.h>  /* strlen, strchr */

#include "cli/args.h"           /* the option table, dates */
#include "cli/cli.h"            /* exit codes */
#include "pipeline/tca/tca.h"   /* the analysis and its outputs */

#define NS_PER_DAY 86400000000000LL

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa tca --orders FILE --data FILE --out DIR [--strategy NAME] [--from DATE] [--to DATE]\n\n"
            "Post-trade transaction-cost analysis of the parent orders in a live order database\n"
            "(quantumalpha.orders v1): implementation shortfall vs the decision and arrival prices\n"
            "(execution, opportunity and fee parts), slippage vs the interval VWAP, fill rate,\n"
            "participation and fees per order; notional-weighted averages per UTC day and overall.\n"
            "Formulas and columns: docs/tca.md.\n\n"
            "  --orders FILE     the order database (SQLite, opened read-only)\n"
            "  --data FILE       market file (HDF5) with every traded symbol's bars\n"
            "  --out DIR         writes tca_orders.csv, tca_days.csv, summary.json, report.html\n"
            "  --strategy NAME   only this strategy's parents\n"
            "  --from DATE       only parents decided at or after DATE (date or ISO date-time, UTC)\n"
            "  --to DATE         ... and at or before DATE (a bare date includes that whole day)\n");
}

int qa_cmd_tca(int argc, char **argv) {
    const char *cmd = "tca";
    const char *orders = NULL, *data = NULL, *out = NULL, *strategy = NULL, *from = NULL, *to = NULL;
    const qa_cli_opt opts[] = {QA_OPT_STR("orders", &orders), QA_OPT_STR("data", &data),
                               QA_OPT_STR("out", &out),       QA_OPT_STR("strategy", &strategy),
                               QA_OPT_STR("from", &from),     QA_OPT_STR("to", &to),
                               QA_OPT_END};
    int rc = qa_cli_parse(cmd, argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!orders || !data || !out) return qa_cli_usage_error(cmd, "--orders, --data and --out are required");
    qa_tca_filter f;
    qa_tca_filter_default(&f);
    f.strategy = strategy;
    if (!qa_cli_time_opt(from, &f.from)) return qa_cli_usage_error(cmd, "--from '%s' is not a date or date-time", from);
    if (!qa_cli_time_opt(to, &f.to)) return qa_cli_usage_error(cmd, "--to '%s' is not a date or date-time", to);
    /* A bare date as --to means the whole day. */
    if (to && !strchr(to, 'T') && !strchr(to, ' ') && strlen(to) == 10) f.to += NS_PER_DAY - 1;
    if (f.from > f.to) return qa_cli_usage_error(cmd, "--from is after --to");
    qa_tca_result r = {0};
    qa_status st = QA_OK;
    QA_TRY(qa_tca_load(orders, &f, &r));
    QA_TRY(qa_tca_compute(&r, data));
    QA_TRY(qa_tca_write(&r, out, orders, data, &f));
    const qa_tca_day *a = &r.overall;
    printf("qa tca: %zu parents (%zu filled, %zu partial, %zu unfilled, %zu rejected) over %zu day(s); "
           "IS vs decision %.3f bps; outputs in %s\n",
           a->count[QA_TCA_FILLED] + a->count[QA_TCA_PARTIAL] + a->count[QA_TCA_UNFILLED] + a->count[QA_TCA_REJECTED],
           a->count[QA_TCA_FILLED], a->count[QA_TCA_PARTIAL], a->count[QA_TCA_UNFILLED], a->count[QA_TCA_REJECTED],
           r.ndays, a->bps[QA_TCA_IS_DEC], out);
cleanup:
    qa_tca_result_free(&r);
    if (st != QA_OK) return qa_cli_fail(cmd);
    return QA_EXIT_OK;
}
