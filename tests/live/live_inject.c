/* Test tool: produces hand-made malformed messages on market.data, one of each kind the
 * collector must send to dead.letter, keyed by a real symbol so they share its
 * partition with good bars. Usage: live_inject BOOTSTRAP PREFIX SYMBOL TIME_NS
 * Prints the number of messages sent. */
#include <math.h>    /* NAN */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* strtoll */
#include <string.h>  /* strlen */

#include "live/bus.h"
#include "live/msg.h"

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: live_inject BOOTSTRAP PREFIX SYMBOL TIME_NS\n");
        return 2;
    }
    qa_bus_cfg cfg;
    qa_bus_cfg_default(&cfg);
    snprintf(cfg.bootstrap, sizeof cfg.bootstrap, "%s", argv[1]);
    snprintf(cfg.prefix, sizeof cfg.prefix, "%s", argv[2]);
    const char *sym = argv[3];
    long long t = strtoll(argv[4], NULL, 10);
    char topic[256];
    qa_bus_topic(&cfg, QA_TOPIC_MARKET, topic, sizeof topic);
    qa_bus_producer_t *p = NULL;
    if (qa_bus_producer_create(&cfg, &p) != QA_OK) return 1;
    static uint8_t buf[QA_MSG_MAX + 70000];
    size_t len = 0, sent = 0;
    qa_msg m = {.kind = QA_MSG_BAR, .time = t, .id = 1};
    snprintf(m.symbol, sizeof m.symbol, "%s", sym);
    m.u.bar = (qa_msg_bar){100, 101, 99, 100.5, 1000, 300};
#define SEND(b, n)                                                                        \
    do {                                                                                  \
        if (qa_bus_produce(p, topic, -1, sym, strlen(sym), (b), (n)) != QA_OK) return 1; \
        sent++;                                                                           \
    } while (0)
    /* 1 truncated: a good bar cut in half */
    qa_msg_encode(&m, buf, sizeof buf, &len);
    SEND(buf, len / 2);
    /* 2 wrong schema major */
    qa_msg_encode(&m, buf, sizeof buf, &len);
    buf[3] = 9;
    SEND(buf, len);
    /* 3 NaN close */
    qa_msg bad = m;
    bad.u.bar.close = NAN;
    qa_msg_encode(&bad, buf, sizeof buf, &len);
    SEND(buf, len);
    /* 4 unknown symbol (keyed like the real one) */
    bad = m;
    snprintf(bad.symbol, sizeof bad.symbol, "NOSUCH");
    qa_msg_encode(&bad, buf, sizeof buf, &len);
    SEND(buf, len);
    /* 5 oversized: 70,000 bytes */
    memset(buf, 'x', 70000);
    SEND(buf, 70000);
    /* 6 garbage bytes */
    SEND("hello, world", 12);
    /* 7 OHLC inconsistent: high below low */
    bad = m;
    bad.u.bar.high = 90;
    qa_msg_encode(&bad, buf, sizeof buf, &len);
    SEND(buf, len);
    /* 8 non-positive price */
    bad = m;
    bad.u.bar.open = -1;
    qa_msg_encode(&bad, buf, sizeof buf, &len);
    SEND(buf, len);
    if (qa_bus_flush(p, 30000) != QA_OK) return 1;
    qa_bus_producer_free(p);
    printf("%zu\n", sent);
    return 0;
}
