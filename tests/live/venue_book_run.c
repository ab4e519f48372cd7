/* Drives the paper venue with queue position on the LOBSTER book for test_venue_book.sh:
 * reads orders (decision time ns, client order id, side, qty, limit price or 0 for a
 * market order, day flag) from a CSV, advances the venue's clock from `from` to `to` in
 * `step` ns, submitting each order when the clock reaches its time, and prints every
 * event (time, kind, client order id, trade id, qty, price, fee, reason) as CSV.
 * With `restart` the venue is closed and opened again around every request and advance
 * (the queues are rebuilt from the files each time).
 * Usage: venue_book_run MESSAGES ORDERBOOK DATE SYMBOL ORDERS.csv DB FROM TO STEP straight|restart */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live/venue.h"

typedef struct row {
    qa_venue_order o;
} row;

static int die(const char *what) {
    fprintf(stderr, "venue_book_run: %s: %s\n", what, qa_err_msg());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 11) {
        fprintf(stderr, "usage: venue_book_run MESSAGES ORDERBOOK DATE SYMBOL ORDERS DB FROM TO STEP straight|restart\n");
        return 2;
    }
    qa_venue_cfg cfg;
    qa_venue_cfg_default(&cfg);
    cfg.fee_bps = 1.0;
    cfg.durable = 0;
    snprintf(cfg.book_messages, sizeof cfg.book_messages, "%s", argv[1]);
    snprintf(cfg.book_orderbook, sizeof cfg.book_orderbook, "%s", argv[2]);
    snprintf(cfg.book_date, sizeof cfg.book_date, "%s", argv[3]);
    snprintf(cfg.book_symbol, sizeof cfg.book_symbol, "%s", argv[4]);
    const int64_t from = strtoll(argv[7], NULL, 10), to = strtoll(argv[8], NULL, 10), step = strtoll(argv[9], NULL, 10);
    const int restart = strcmp(argv[10], "restart") == 0;
    FILE *f = fopen(argv[5], "r");
    if (!f) return perror(argv[5]), 1;
    row r[64] = {0};
    size_t n = 0;
    char line[256];
    while (fgets(line, sizeof line, f) && n < 64) {
        qa_venue_order *o = &r[n].o;
        memset(o, 0, sizeof *o);
        long long t;
        double price;
        if (sscanf(line, "%lld,%63[^,],%d,%lf,%lf,%d", &t, o->clordid, &o->side, &o->qty, &price, &o->day) != 6) continue;
        o->time = t;
        o->limit = price > 0;
        o->price = price;
        snprintf(o->symbol, sizeof o->symbol, "%s", argv[4]);
        n++;
    }
    fclose(f);
    qa_venue_t *v = NULL;
    if (qa_venue_open(argv[6], &cfg, &v) != QA_OK) return die("open");
    for (int64_t t = from; t <= to; t += step) {
        if (restart) {
            qa_venue_close(v);
            if (qa_venue_open(argv[6], &cfg, &v) != QA_OK) return die("reopen");
        }
        /* the clock first (bars of other symbols would come here; the book needs none) */
        if (qa_venue_advance(v, t, 0, NULL, NULL) != QA_OK) return die("advance");
        for (size_t i = 0; i < n; i++) {
            if (r[i].o.time != t) continue;
            if (restart) {
                qa_venue_close(v);
                if (qa_venue_open(argv[6], &cfg, &v) != QA_OK) return die("reopen");
            }
            qa_venue_event e;
            if (qa_venue_submit(v, &r[i].o, &e) != QA_OK) return die("submit");
            if (e.kind != QA_VENUE_EV_NEW) {
                fprintf(stderr, "venue_book_run: %s refused: %s\n", r[i].o.clordid, e.reason);
                return 1;
            }
        }
    }
    qa_venue_event *ev = NULL;
    size_t ne = 0;
    if (qa_venue_events(v, INT64_MIN, INT64_MAX, &ev, &ne) != QA_OK) return die("events");
    printf("time,kind,clordid,trade_id,qty,price,fee,reason\n");
    for (size_t i = 0; i < ne; i++)
        printf("%" PRId64 ",%s,%s,%s,%.0f,%.4f,%.17g,%s\n", ev[i].time, qa_venue_ev_names[ev[i].kind], ev[i].clordid,
               ev[i].trade_id, ev[i].kind == QA_VENUE_EV_FILL ? ev[i].qty : 0.0,
               ev[i].kind == QA_VENUE_EV_FILL ? ev[i].price : 0.0, ev[i].kind == QA_VENUE_EV_FILL ? ev[i].fee : 0.0,
               ev[i].reason);
    free(ev);
    qa_venue_close(v);
    return 0;
}
