/* qa exchange: the paper exchange, a FIX 4.4 acceptor in front of the paper venue matching
 * on a market file's bars (live/exchange.h); the FIX broker adapter's counterpart. */
#include <errno.h>   /* errno of a failed stdout flush */
#include <math.h>    /* llround */
#include <stdio.h>   /* printf, snprintf */
#include <string.h>  /* strlen, strerror */

#include "cli/args.h"       /* the option table */
#include "cli/cli.h"        /* exit codes, stop signals */
#include "common/fs.h"      /* the port file, written whole */
#include "live/exchange.h"  /* the exchange */

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa exchange --data MARKET.h5 --state-dir DIR [--port N] [--port-file FILE]\n"
            "                   [--sender ID] [--target ID] [--latency-ms X] [--participation X]\n"
            "                   [--slippage-bps X] [--fill-prob X] [--fee-bps X] [--seed N] [--fix-log DIR]\n"
            "                   [--book-symbol SYM --book-messages FILE --book-orderbook FILE --book-date DATE\n"
            "                    [--book-levels N]]\n\n"
            "The paper exchange: the paper venue behind a FIX 4.4 acceptor, matching orders on the\n"
            "market file's bars in market time (an OrderMassStatusRequest moves its clock). Its book,\n"
            "trades and FIX session survive restarts in the state directory. Runs until SIGTERM or\n"
            "SIGINT (the client is logged out). Protocol: docs/execution.md, \"FIX broker and qa exchange\".\n\n"
            "  --data FILE          market file (HDF5) whose bars the venue matches on\n"
            "  --state-dir DIR      venue.db, exchange.clock and the FIX store (created)\n"
            "  --port N             TCP port (default 0: any free port)\n"
            "  --port-file FILE     writes the port there once listening (whole, by rename)\n"
            "  --sender ID          our SenderCompID (default QAEX)\n"
            "  --target ID          the client's CompID (default QA)\n"
            "  --latency-ms X       market time before an order may trade (default 0)\n"
            "  --participation X    max fraction of a bar's volume per order, 0 = no cap (default 0.1)\n"
            "  --slippage-bps X     fill price moved against the order (default 0)\n"
            "  --fill-prob X        chance an eligible order fills at a bar (default 1)\n"
            "  --fee-bps X          fee per filled notional (default 0)\n"
            "  --seed N             seed of the fill-probability draws (default 1)\n"
            "  --fix-log DIR        QuickFIX's message log (default: none)\n"
            "  --book-symbol SYM    match SYM by queue position on a LOBSTER book instead of its bars\n"
            "  --book-messages FILE, --book-orderbook FILE   the LOBSTER message and order-book files\n"
            "  --book-date DATE     their session date, YYYY-MM-DD\n"
            "  --book-levels N      levels in the order-book file (default 10)\n");
}

int qa_cmd_exchange(int argc, char **argv) {
    const char *cmd = "exchange";
    const char *data = NULL, *state = NULL, *port_file = NULL, *sender = "QAEX", *target = "QA", *fix_log = NULL;
    const char *book[4] = {NULL, NULL, NULL, NULL}; /* symbol, messages, orderbook, date */
    long long port = 0, seed = 1, book_levels = 10;
    double latency_ms = 0.0, participation = 0.1, slippage = 0.0, fill_prob = 1.0, fee = 0.0;
    const qa_cli_opt opts[] = {QA_OPT_STR("data", &data),
                               QA_OPT_STR("state-dir", &state),
                               QA_OPT_INT("port", &port, 0, 65535),
                               QA_OPT_STR("port-file", &port_file),
                               QA_OPT_STR("sender", &sender),
                               QA_OPT_STR("target", &target),
                               QA_OPT_NUM("latency-ms", &latency_ms, 0, 1e9),
                               QA_OPT_NUM("participation", &participation, 0, 1),
                               QA_OPT_NUM("slippage-bps", &slippage, 0, 1e4),
                               QA_OPT_NUM("fill-prob", &fill_prob, 0, 1),
                               QA_OPT_NUM("fee-bps", &fee, 0, 1e4),
                               QA_OPT_INT("seed", &seed, 0, 9007199254740992.0),
                               QA_OPT_STR("fix-log", &fix_log),
                               QA_OPT_STR("book-symbol", &book[0]),
                               QA_OPT_STR("book-messages", &book[1]),
                               QA_OPT_STR("book-orderbook", &book[2]),
                               QA_OPT_STR("book-date", &book[3]),
                               QA_OPT_INT("book-levels", &book_levels, 1, 200),
                               QA_OPT_END};
    int rc = qa_cli_parse(cmd, argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!data || !state) return qa_cli_usage_error(cmd, "--data (a market file) and --state-dir (a directory) are required");
    qa_exchange_cfg cfg;
    qa_exchange_cfg_default(&cfg);
    if (strlen(data) >= sizeof cfg.data) return qa_cli_usage_error(cmd, "--data: path longer than %zu bytes", sizeof cfg.data - 1);
    if (strlen(state) >= sizeof cfg.state_dir - 16)
        return qa_cli_usage_error(cmd, "--state-dir: path longer than %zu bytes", sizeof cfg.state_dir - 17);
    if (fix_log && strlen(fix_log) >= sizeof cfg.log_dir)
        return qa_cli_usage_error(cmd, "--fix-log: path longer than %zu bytes", sizeof cfg.log_dir - 1);
    if (!sender[0] || strlen(sender) >= sizeof cfg.sender || !target[0] || strlen(target) >= sizeof cfg.target)
        return qa_cli_usage_error(cmd, "--sender and --target: CompIDs of 1 to %zu characters", sizeof cfg.sender - 1);
    snprintf(cfg.data, sizeof cfg.data, "%s", data);
    snprintf(cfg.state_dir, sizeof cfg.state_dir, "%s", state);
    if (fix_log) snprintf(cfg.log_dir, sizeof cfg.log_dir, "%s", fix_log);
    snprintf(cfg.sender, sizeof cfg.sender, "%s", sender);
    snprintf(cfg.target, sizeof cfg.target, "%s", target);
    cfg.port = (int)port;
    cfg.venue.latency_ns = (int64_t)llround(latency_ms * 1e6);
    cfg.venue.participation = participation;
    cfg.venue.slippage_bps = slippage;
    cfg.venue.fill_prob = fill_prob;
    cfg.venue.fee_bps = fee;
    cfg.venue.seed = (uint64_t)seed;
    if (book[0] || book[1] || book[2] || book[3]) {
        char *dst[4] = {cfg.venue.book_symbol, cfg.venue.book_messages, cfg.venue.book_orderbook, cfg.venue.book_date};
        const size_t cap[4] = {sizeof cfg.venue.book_symbol, sizeof cfg.venue.book_messages,
                               sizeof cfg.venue.book_orderbook, sizeof cfg.venue.book_date};
        for (int i = 0; i < 4; i++) {
            if (!book[i] || !book[i][0] || strlen(book[i]) >= cap[i])
                return qa_cli_usage_error(cmd, "--book-symbol, --book-messages, --book-orderbook and --book-date go "
                                               "together (each 1 to %zu characters)", cap[i] - 1);
            snprintf(dst[i], cap[i], "%s", book[i]);
        }
        cfg.venue.book_levels = (int)book_levels;
    }

    const volatile sig_atomic_t *stop = NULL;
    qa_exchange_t *x = NULL;
    qa_status st = QA_OK;
    QA_TRY(qa_cli_stop_signals(&stop));
    QA_TRY(qa_exchange_open(&cfg, &x));
    const int p = qa_exchange_port(x);
    if (port_file) {
        char text[16];
        int n = snprintf(text, sizeof text, "%d\n", p);
        st = qa_fs_write_all(port_file, text, (size_t)n);
        if (st != QA_OK) {
            qa_err_prefix("--port-file %s: ", port_file);
            goto cleanup;
        }
    }
    printf("qa exchange: listening on 127.0.0.1:%d (%s -> %s, market %s, state %s)\n", p, cfg.sender, cfg.target,
           cfg.data, cfg.state_dir);
    if (fflush(stdout) != 0) QA_TRY_FAIL(QA_ERR_IO, "stdout: %s", strerror(errno)); /* a parent waits for the line */
    QA_TRY(qa_exchange_run(x, stop));
    qa_exchange_stats s;
    qa_exchange_get_stats(x, &s);
    printf("qa exchange: stopped: %ld requests, %ld reports, %ld rejected\n", s.requests, s.reports, s.rejects);
cleanup:
    qa_exchange_close(x);
    if (st != QA_OK) return qa_cli_fail(cmd);
    return QA_EXIT_OK;
}
