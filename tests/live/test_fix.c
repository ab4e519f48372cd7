/* FIX 4.4 sessions over QuickFIX (live/fix.h) on loopback: an acceptor ("EXCH", the paper
 * exchange) and an initiator ("CLIENT", the broker adapter).
 *
 *   test_roundtrip          logon, a NewOrderSingle whose every field (a double price
 *                           included) reads back exactly, an ExecutionReport answered
 *   test_resend_stored      ExecutionReports stored while the client was stopped reach it
 *                           after it restarts on its store: in order, original seqnums, PossDup=Y
 *   test_rerequest          a client that received 2..6 but processed up to 4 restarts with
 *                           next_target_seqnum 5 and gets 5 and 6 again (PossDup=Y); the same
 *                           mid-session through qa_fix_set_next_target_seqnum
 *   test_acceptor_killed    the acceptor, a child process, is killed with -9 and restarted on
 *                           its store: the initiator reconnects by itself and both sides'
 *                           sequence numbers continue (no reset to 1)
 *   test_send_logged_out    qa_fix_send while down: QA_ERR_STATE and nothing stored; the
 *                           message API's refusals and float formatting
 *
 * Sequence numbers asserted below follow from the FIX rules: each side's Logon is 1 on a
 * fresh store, every message a side sends (Logon, Logout, application) takes the next
 * number. Heartbeats are 30 s so none falls inside a case and shifts a number. */
#include <signal.h>     /* kill, SIGKILL */
#include <stdio.h>      /* printf, fflush */
#include <stdlib.h>     /* strtod, atoi */
#include <string.h>     /* strcmp */
#include <sys/wait.h>   /* waitpid */
#include <time.h>       /* nanosleep */
#include <unistd.h>     /* fork, execv */
#include <arpa/inet.h>  /* htonl */
#include <netinet/in.h> /* sockaddr_in */
#include <sys/socket.h> /* socket, bind */

#include "harness.h"
#include "live/fix.h"

#define LOGON_MS 10000 /* generous on a loaded 2-core machine; a logon takes milliseconds */
#define POLL_MS 5000

static char g_root[256];    /* this run's temporary directory */
static const char *g_self;  /* this executable, for the acceptor child */

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void cfg_make(qa_fix_cfg *c, int acceptor, int port, const char *store) {
    qa_fix_cfg_default(c);
    c->acceptor = acceptor;
    c->port = port;
    snprintf(c->sender, sizeof c->sender, "%s", acceptor ? "EXCH" : "CLIENT");
    snprintf(c->target, sizeof c->target, "%s", acceptor ? "CLIENT" : "EXCH");
    snprintf(c->store_dir, sizeof c->store_dir, "%s/%s", g_root, store);
    snprintf(c->log_dir, sizeof c->log_dir, "%s/%s.log", g_root, store);
    c->heartbeat_s = 30;
    c->reconnect_s = 1;
}

/* Waits until the session is down (after the peer stopped or died). */
static int wait_logged_off(qa_fix_t *f, int ms) {
    for (int t = 0; t < ms; t += 20) {
        if (!qa_fix_logged_on(f)) return 1;
        sleep_ms(20);
    }
    return 0;
}

/* A port nobody listens on right now. */
static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0) close(s);
    return port;
}

/* An ExecutionReport (fill) with ExecID exec_id. */
static qa_fix_msg_t *exec_report(const char *exec_id, const char *text) {
    qa_fix_msg_t *m = qa_fix_msg_new("8");
    qa_fix_msg_set(m, 37, "X-1");     /* OrderID */
    qa_fix_msg_set(m, 17, exec_id);   /* ExecID */
    qa_fix_msg_set(m, 150, "F");      /* ExecType: trade */
    qa_fix_msg_set(m, 39, "2");       /* OrdStatus: filled */
    qa_fix_msg_set(m, 11, "ORD-1");   /* ClOrdID */
    qa_fix_msg_set(m, 55, "AAPL");    /* Symbol */
    qa_fix_msg_set(m, 54, "1");       /* Side: buy */
    qa_fix_msg_set_int(m, 32, 100);   /* LastQty */
    qa_fix_msg_set_double(m, 31, 187.23); /* LastPx */
    qa_fix_msg_set_int(m, 151, 0);    /* LeavesQty */
    qa_fix_msg_set_int(m, 14, 100);   /* CumQty */
    qa_fix_msg_set_double(m, 6, 187.23); /* AvgPx */
    if (text) qa_fix_msg_set(m, 58, text);
    return m;
}

/* Polls one application message and checks its type, ExecID, seqnum and PossDup. */
static void expect_er(qa_fix_t *f, const char *exec_id, int seqnum, int possdup) {
    qa_fix_msg_t *m = NULL;
    QA_CHECK_MSG(qa_fix_poll(f, POLL_MS, &m) == 1, "no ExecutionReport %s within %d ms", exec_id, POLL_MS);
    if (!m) return;
    QA_CHECK_STR(qa_fix_msg_type(m), "8");
    QA_CHECK_STR(qa_fix_msg_get(m, 17), exec_id);
    QA_CHECK_INT(qa_fix_msg_seqnum(m), seqnum);
    QA_CHECK_INT(qa_fix_msg_possdup(m), possdup);
    /* A resend carries the original sending time in OrigSendingTime(122). */
    QA_CHECK_INT(qa_fix_msg_get(m, 122) != NULL, possdup);
    qa_fix_msg_free(m);
}

static void expect_nothing(qa_fix_t *f) {
    qa_fix_msg_t *m = NULL;
    int got = qa_fix_poll(f, 300, &m);
    QA_CHECK_MSG(got == 0, "unexpected message %s ExecID %s seq %d", qa_fix_msg_type(m),
                 qa_fix_msg_get(m, 17) ? qa_fix_msg_get(m, 17) : "-", qa_fix_msg_seqnum(m));
    qa_fix_msg_free(m);
}

/* QuickFIX advances the next target seqnum after the message's callback returned, a
 * moment after qa_fix_poll may hand the message over: the exact value is awaited (1 s). */
static void expect_seqnums(qa_fix_t *f, int sender, int target) {
    int s = -1, t = -1;
    for (int ms = 0; ms < 1000; ms += 10) {
        QA_CHECK_OK(qa_fix_next_seqnums(f, &s, &t));
        if (s == sender && t == target) break;
        sleep_ms(10);
    }
    QA_CHECK_INT(s, sender);
    QA_CHECK_INT(t, target);
}

static void test_roundtrip(void) {
    qa_fix_cfg ca, ci;
    qa_fix_t *acc = NULL, *ini = NULL;
    cfg_make(&ca, 1, 0, "rt_acc");
    QA_CHECK_OK(qa_fix_start(&ca, &acc));
    if (!acc) return;
    QA_CHECK(qa_fix_port(acc) > 0);
    cfg_make(&ci, 0, qa_fix_port(acc), "rt_ini");
    QA_CHECK_OK(qa_fix_start(&ci, &ini));
    if (!ini) goto done;
    QA_CHECK_OK(qa_fix_wait_logon(ini, LOGON_MS));
    QA_CHECK_OK(qa_fix_wait_logon(acc, LOGON_MS));

    /* NewOrderSingle: the acceptor must read every field back byte for byte. */
    const double px = 187.23, stop_px = 0.1 + 0.2; /* 0.30000000000000004: needs 17 digits */
    qa_fix_msg_t *d = qa_fix_msg_new("D");
    QA_CHECK_OK(qa_fix_msg_set(d, 11, "ORD-1"));                  /* ClOrdID */
    QA_CHECK_OK(qa_fix_msg_set(d, 55, "AAPL"));                   /* Symbol */
    QA_CHECK_OK(qa_fix_msg_set(d, 54, "1"));                      /* Side */
    QA_CHECK_OK(qa_fix_msg_set_int(d, 38, 100));                  /* OrderQty */
    QA_CHECK_OK(qa_fix_msg_set(d, 40, "2"));                      /* OrdType: limit */
    QA_CHECK_OK(qa_fix_msg_set(d, 60, "20240102-13:45:06.123")); /* TransactTime */
    QA_CHECK_OK(qa_fix_msg_set_double(d, 44, px));                /* Price */
    QA_CHECK_OK(qa_fix_msg_set_double(d, 99, stop_px));           /* StopPx */
    QA_CHECK_OK(qa_fix_send(ini, d));
    QA_CHECK_INT(qa_fix_msg_seqnum(d), 2); /* after the initiator's Logon (1) */
    qa_fix_msg_free(d);

    qa_fix_msg_t *got = NULL;
    QA_CHECK_INT(qa_fix_poll(acc, POLL_MS, &got), 1);
    if (got) {
        QA_CHECK_STR(qa_fix_msg_type(got), "D");
        QA_CHECK_STR(qa_fix_msg_get(got, 11), "ORD-1");
        QA_CHECK_STR(qa_fix_msg_get(got, 55), "AAPL");
        QA_CHECK_STR(qa_fix_msg_get(got, 54), "1");
        QA_CHECK_STR(qa_fix_msg_get(got, 38), "100");
        QA_CHECK_STR(qa_fix_msg_get(got, 40), "2");
        QA_CHECK_STR(qa_fix_msg_get(got, 60), "20240102-13:45:06.123");
        QA_CHECK_STR(qa_fix_msg_get(got, 44), "187.23");
        QA_CHECK_STR(qa_fix_msg_get(got, 99), "0.30000000000000004");
        const char *p44 = qa_fix_msg_get(got, 44), *p99 = qa_fix_msg_get(got, 99);
        QA_CHECK(p44 && strtod(p44, NULL) == px);
        QA_CHECK(p99 && strtod(p99, NULL) == stop_px);
        QA_CHECK_STR(qa_fix_msg_get(got, 49), "CLIENT"); /* header: SenderCompID */
        QA_CHECK_STR(qa_fix_msg_get(got, 56), "EXCH");
        QA_CHECK_INT(qa_fix_msg_seqnum(got), 2);
        QA_CHECK_INT(qa_fix_msg_possdup(got), 0);
        QA_CHECK(qa_fix_msg_get(got, 1) == NULL); /* Account: not sent */
        qa_fix_msg_free(got);
    }
    qa_fix_msg_t *er = exec_report("EXEC-1", NULL);
    QA_CHECK_OK(qa_fix_send(acc, er));
    qa_fix_msg_free(er);
    got = NULL;
    QA_CHECK_INT(qa_fix_poll(ini, POLL_MS, &got), 1);
    if (got) {
        QA_CHECK_STR(qa_fix_msg_type(got), "8");
        QA_CHECK_STR(qa_fix_msg_get(got, 17), "EXEC-1");
        QA_CHECK_STR(qa_fix_msg_get(got, 11), "ORD-1");
        QA_CHECK(qa_fix_msg_get(got, 31) && strtod(qa_fix_msg_get(got, 31), NULL) == px);
        QA_CHECK_INT(qa_fix_msg_seqnum(got), 2);
        qa_fix_msg_free(got);
    }
    /* Logon + one message each way. */
    expect_seqnums(ini, 3, 3);
    expect_seqnums(acc, 3, 3);
    qa_fix_stats st;
    qa_fix_get_stats(ini, &st);
    QA_CHECK_INT(st.logons, 1);
    QA_CHECK_INT(st.app_in, 1);
    QA_CHECK_INT(st.app_out, 1);
    QA_CHECK_INT(st.resend_requests_out, 0);

    /* The acceptor goes away: the initiator sees the session down and refuses to send. */
    qa_fix_stop(acc);
    acc = NULL;
    QA_CHECK(wait_logged_off(ini, 5000));
    d = qa_fix_msg_new("F");
    qa_fix_msg_set(d, 11, "ORD-2");
    QA_CHECK_ERR(qa_fix_send(ini, d), QA_ERR_STATE, "not logged on");
    qa_fix_msg_free(d);
    qa_fix_get_stats(ini, &st);
    QA_CHECK_INT(st.logouts, 1);
done:
    qa_fix_stop(ini);
    qa_fix_stop(acc);
}

static void test_resend_stored(void) {
    qa_fix_cfg ca, ci;
    qa_fix_t *acc = NULL, *ini = NULL;
    cfg_make(&ca, 1, 0, "rs_acc");
    QA_CHECK_OK(qa_fix_start(&ca, &acc));
    if (!acc) return;
    cfg_make(&ci, 0, qa_fix_port(acc), "rs_ini");
    QA_CHECK_OK(qa_fix_start(&ci, &ini));
    QA_CHECK_OK(qa_fix_wait_logon(ini, LOGON_MS));
    /* The client stops: it sends Logout (its 2), the exchange answers Logout (its 2). */
    qa_fix_stop(ini);
    ini = NULL;
    QA_CHECK(wait_logged_off(acc, 5000));
    expect_seqnums(acc, 3, 3);

    /* Fills while the client is away: plain send refuses, send_or_store keeps them. */
    qa_fix_msg_t *er = exec_report("E0", NULL);
    QA_CHECK_ERR(qa_fix_send(acc, er), QA_ERR_STATE, "not logged on");
    qa_fix_msg_free(er);
    expect_seqnums(acc, 3, 3); /* refused = not stored, no seqnum taken */
    static const char *const ids[5] = {"E1", "E2", "E3", "E4", "E5"};
    for (int i = 0; i < 5; i++) {
        er = exec_report(ids[i], NULL);
        QA_CHECK_OK(qa_fix_send_or_store(acc, er));
        QA_CHECK_INT(qa_fix_msg_seqnum(er), 3 + i);
        qa_fix_msg_free(er);
    }
    expect_seqnums(acc, 8, 3);

    /* The client restarts on its store: next sender 3, next target 3. The exchange's
     * Logon is 8, so the client asks for 3..; the five come again as resends. */
    QA_CHECK_OK(qa_fix_start(&ci, &ini));
    if (!ini) goto done;
    QA_CHECK_OK(qa_fix_wait_logon(ini, LOGON_MS));
    for (int i = 0; i < 5; i++) expect_er(ini, ids[i], 3 + i, 1);
    expect_nothing(ini);
    qa_fix_stats st, sa;
    qa_fix_get_stats(ini, &st);
    qa_fix_get_stats(acc, &sa);
    QA_CHECK_INT(st.resend_requests_out, 1);
    QA_CHECK_INT(st.app_in, 5);
    QA_CHECK_INT(sa.resend_requests_in, 1);
    QA_CHECK_INT(sa.app_out, 5 + 5); /* sent (stored) once, resent once */
    /* The exchange's Logon (8), also in the requested range, is gap-filled, not resent... */
    QA_CHECK_INT(sa.gap_fills_out, 1);
    /* ...and dropped by the client before any callback: it had already counted the
     * queued Logon 8 once E5 (7) filled the gap, so the gap fill came in as a duplicate. */
    QA_CHECK_INT(st.gap_fills_in, 0);

    /* The session goes on after the gap: a new fill is 9 (after the Logon 8), no PossDup. */
    er = exec_report("E6", NULL);
    QA_CHECK_OK(qa_fix_send(acc, er));
    QA_CHECK_INT(qa_fix_msg_seqnum(er), 9);
    qa_fix_msg_free(er);
    expect_er(ini, "E6", 9, 0);
    expect_seqnums(ini, 5, 10); /* client: Logon 1, Logout 2, Logon 3, ResendRequest 4 */
done:
    qa_fix_stop(ini);
    qa_fix_stop(acc);
}

static void test_rerequest(void) {
    qa_fix_cfg ca, ci;
    qa_fix_t *acc = NULL, *ini = NULL;
    cfg_make(&ca, 1, 0, "rr_acc");
    QA_CHECK_OK(qa_fix_start(&ca, &acc));
    if (!acc) return;
    cfg_make(&ci, 0, qa_fix_port(acc), "rr_ini");
    QA_CHECK_OK(qa_fix_start(&ci, &ini));
    QA_CHECK_OK(qa_fix_wait_logon(ini, LOGON_MS));
    QA_CHECK_OK(qa_fix_wait_logon(acc, LOGON_MS));
    static const char *const ids[5] = {"E1", "E2", "E3", "E4", "E5"};
    for (int i = 0; i < 5; i++) {
        qa_fix_msg_t *er = exec_report(ids[i], NULL);
        QA_CHECK_OK(qa_fix_send(acc, er));
        qa_fix_msg_free(er);
    }
    /* Received 2..6; "processed" (durably) up to 4 when the process stops. */
    for (int i = 0; i < 5; i++) expect_er(ini, ids[i], 2 + i, 0);
    const int processed = 4;
    qa_fix_stop(ini);
    ini = NULL;
    QA_CHECK(wait_logged_off(acc, 5000));

    /* Restart: the store says next target 8 (Logout 7 was received); the client asks for 5. */
    ci.next_target_seqnum = processed + 1;
    QA_CHECK_OK(qa_fix_start(&ci, &ini));
    if (!ini) goto done;
    QA_CHECK_OK(qa_fix_wait_logon(ini, LOGON_MS));
    expect_er(ini, "E4", 5, 1);
    expect_er(ini, "E5", 6, 1);
    expect_nothing(ini);
    /* Client: Logon 1, Logout 2, Logon 3, ResendRequest 4. Exchange: Logon 1, E1-E5
     * 2..6, Logout 7, Logon 8. */
    expect_seqnums(ini, 5, 9);

    /* Mid-session: back to 6; the next message (9) shows a gap, QuickFIX asks for 6..,
     * and 6 (E5) comes again before the new E6. */
    QA_CHECK_OK(qa_fix_set_next_target_seqnum(ini, 6));
    expect_seqnums(ini, 5, 6);
    qa_fix_msg_t *er = exec_report("E6", NULL);
    QA_CHECK_OK(qa_fix_send(acc, er));
    QA_CHECK_INT(qa_fix_msg_seqnum(er), 9);
    qa_fix_msg_free(er);
    expect_er(ini, "E5", 6, 1);
    expect_er(ini, "E6", 9, 0);
    expect_nothing(ini);
    expect_seqnums(ini, 6, 10); /* the second ResendRequest took the client's 5 */
    QA_CHECK_ERR(qa_fix_set_next_target_seqnum(ini, 0), QA_ERR_INVALID_ARG, "0");
done:
    qa_fix_stop(ini);
    qa_fix_stop(acc);
}

/* The acceptor child: listens on port with store, sends nsend ExecutionReports after
 * logon, then (echo=1) answers the next NewOrderSingle with an ExecutionReport whose
 * Text(58) is "<seqnum the order carried> <PossDup>", or (echo=0) waits to be killed.
 * Exit 0 when it did its part, 1 otherwise; it never outlives 30 s. */
static int acceptor_child(int port, const char *store, int nsend, const char *prefix, int echo) {
    qa_fix_cfg c;
    cfg_make(&c, 1, port, "");
    snprintf(c.store_dir, sizeof c.store_dir, "%s", store);
    snprintf(c.log_dir, sizeof c.log_dir, "%s.log", store);
    qa_fix_t *acc = NULL;
    if (qa_fix_start(&c, &acc) != QA_OK) {
        printf("  child: %s\n", qa_err_msg());
        return 1;
    }
    char ready[700];
    snprintf(ready, sizeof ready, "%s.ready", store);
    FILE *fr = fopen(ready, "w");
    if (fr) fclose(fr);
    int rc = 1;
    if (qa_fix_wait_logon(acc, 20000) != QA_OK) goto done;
    for (int i = 0; i < nsend; i++) {
        char id[32];
        snprintf(id, sizeof id, "%s%d", prefix, i + 1);
        qa_fix_msg_t *er = exec_report(id, NULL);
        qa_status st = qa_fix_send(acc, er);
        qa_fix_msg_free(er);
        if (st != QA_OK) goto done;
    }
    if (!echo) {
        sleep_ms(30000); /* killed before this ends */
        goto done;
    }
    qa_fix_msg_t *d = NULL;
    if (qa_fix_poll(acc, 20000, &d) != 1) goto done;
    char text[64];
    snprintf(text, sizeof text, "%d %d", qa_fix_msg_seqnum(d), qa_fix_msg_possdup(d));
    qa_fix_msg_free(d);
    qa_fix_msg_t *er = exec_report("ECHO", text);
    rc = qa_fix_send(acc, er) == QA_OK ? 0 : 1;
    qa_fix_msg_free(er);
    /* Wait for the client's Logout so the reply is not cut off. */
    for (int t = 0; t < 10000 && qa_fix_logged_on(acc); t += 20) sleep_ms(20);
done:
    qa_fix_stop(acc);
    fflush(stdout);
    return rc;
}

static pid_t spawn_acceptor(int port, const char *store, int nsend, const char *prefix, int echo) {
    char sport[16], snsend[16], secho[4];
    snprintf(sport, sizeof sport, "%d", port);
    snprintf(snsend, sizeof snsend, "%d", nsend);
    snprintf(secho, sizeof secho, "%d", echo);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* A fresh process image: QuickFIX's threads and locks of the parent stay behind. */
        execl(g_self, g_self, "acceptor-child", sport, store, snsend, prefix, secho, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits for the child's <store>.ready file (written once it listens). */
static int wait_ready(const char *store, int ms) {
    char path[700];
    snprintf(path, sizeof path, "%s.ready", store);
    for (int t = 0; t < ms; t += 20) {
        if (access(path, F_OK) == 0) return 1;
        sleep_ms(20);
    }
    return 0;
}

static void test_acceptor_killed(void) {
    int port = free_port();
    QA_CHECK(port > 0);
    char store[600];
    snprintf(store, sizeof store, "%s/kill_acc", g_root);
    /* Child 1 listens before the initiator starts, so its first attempt succeeds. */
    pid_t child = spawn_acceptor(port, store, 3, "A", 0);
    QA_CHECK(child > 0);
    QA_CHECK(wait_ready(store, LOGON_MS));
    qa_fix_cfg ci;
    cfg_make(&ci, 0, port, "kill_ini");
    qa_fix_t *ini = NULL;
    QA_CHECK_OK(qa_fix_start(&ci, &ini));
    if (!ini) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return;
    }
    QA_CHECK_OK(qa_fix_wait_logon(ini, LOGON_MS));
    /* Child 1: Logon 1, A1-A3 2..4. */
    expect_er(ini, "A1", 2, 0);
    expect_er(ini, "A2", 3, 0);
    expect_er(ini, "A3", 4, 0);
    QA_CHECK_INT(kill(child, SIGKILL), 0);
    int status = 0;
    QA_CHECK_INT(waitpid(child, &status, 0), child);
    QA_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    QA_CHECK(wait_logged_off(ini, 5000));
    expect_seqnums(ini, 2, 5); /* no Logout exchanged: the socket just closed */

    /* Child 2 on the same store continues at 5 with its Logon. The initiator reconnects by
     * itself; should an attempt have found no listener yet, its Logon took a seqnum all
     * the same, the child sees a gap and sends a ResendRequest (its 6, answered with a gap
     * fill), and B1-B2 come one later. */
    sleep_ms(1500); /* the initiator's attempt after 1 s finds no listener: the gap path */
    child = spawn_acceptor(port, store, 2, "B", 1);
    QA_CHECK(child > 0);
    QA_CHECK_OK(qa_fix_wait_logon(ini, LOGON_MS));
    qa_fix_msg_t *d = qa_fix_msg_new("D");
    qa_fix_msg_set(d, 11, "ORD-K");
    qa_fix_msg_set(d, 55, "MSFT");
    qa_fix_msg_set(d, 54, "2");
    qa_fix_msg_set_int(d, 38, 5);
    qa_fix_msg_set(d, 40, "1");
    qa_fix_msg_set(d, 60, "20240102-13:45:07.000");
    QA_CHECK_OK(qa_fix_send(ini, d));
    int dseq = qa_fix_msg_seqnum(d);
    QA_CHECK_MSG(dseq >= 3, "order seqnum %d: the initiator's sequence restarted", dseq);
    qa_fix_msg_free(d);
    qa_fix_msg_t *m[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) QA_CHECK_INT(qa_fix_poll(ini, POLL_MS, &m[i]), 1);
    qa_fix_stats st;
    qa_fix_get_stats(ini, &st);
    int gap = st.resend_requests_in > 0 ? 1 : 0; /* the child asked for the initiator's gap */
    const char *ids[3] = {"B1", "B2", "ECHO"};
    for (int i = 0; i < 3 && m[i]; i++) {
        QA_CHECK_STR(qa_fix_msg_get(m[i], 17), ids[i]);
        QA_CHECK_INT(qa_fix_msg_seqnum(m[i]), 6 + gap + i);
        QA_CHECK_INT(qa_fix_msg_possdup(m[i]), 0);
    }
    if (m[2]) {
        char want[32];
        snprintf(want, sizeof want, "%d 0", dseq); /* the child saw the order's seqnum, no PossDup */
        QA_CHECK_STR(qa_fix_msg_get(m[2], 58), want);
    }
    for (int i = 0; i < 3; i++) qa_fix_msg_free(m[i]);
    expect_seqnums(ini, dseq + 1, 9 + gap);
    QA_CHECK_INT(st.logons, 2);
    QA_CHECK_INT(st.logouts, 1);
    QA_CHECK_INT(st.resend_requests_out, 0); /* nothing the acceptor sent was lost */
    printf("  reconnect: the initiator's order was %d, the child asked for a gap: %d\n", dseq, gap);
    qa_fix_stop(ini);
    status = 0;
    QA_CHECK_INT(waitpid(child, &status, 0), child);
    QA_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "acceptor child status %d", status);
}

static void test_send_logged_out(void) {
    qa_fix_cfg ci;
    cfg_make(&ci, 0, free_port(), "lo_ini"); /* nobody listens there */
    /* QuickFIX writes a Logon (taking a seqnum) on each connection attempt, refused or
     * not: one attempt now, the next in a minute, so the numbers hold still below. */
    ci.reconnect_s = 60;
    qa_fix_t *ini = NULL;
    QA_CHECK_OK(qa_fix_start(&ci, &ini));
    if (!ini) return;
    sleep_ms(300);
    QA_CHECK_INT(qa_fix_logged_on(ini), 0);
    QA_CHECK_ERR(qa_fix_wait_logon(ini, 200), QA_ERR_STATE, "not logged on");
    int s0 = 0, t0 = 0;
    QA_CHECK_OK(qa_fix_next_seqnums(ini, &s0, &t0));
    QA_CHECK_INT(t0, 1);
    qa_fix_msg_t *d = qa_fix_msg_new("D");
    qa_fix_msg_set(d, 11, "ORD-9");
    QA_CHECK_ERR(qa_fix_send(ini, d), QA_ERR_STATE, "not logged on");
    QA_CHECK_INT(qa_fix_msg_seqnum(d), 0);
    expect_seqnums(ini, s0, 1); /* not stored: no seqnum taken */
    qa_fix_msg_t *hb = qa_fix_msg_new("0");
    QA_CHECK_ERR(qa_fix_send_or_store(ini, hb), QA_ERR_INVALID_ARG, "application messages");
    qa_fix_msg_free(hb);
    QA_CHECK_OK(qa_fix_send_or_store(ini, d)); /* stored for a later resend */
    QA_CHECK_INT(qa_fix_msg_seqnum(d), s0);
    expect_seqnums(ini, s0 + 1, 1);
    qa_fix_stop(ini);

    /* The message API's refusals and float formatting. */
    QA_CHECK(qa_fix_msg_new("") == NULL);
    QA_CHECK_ERR(qa_fix_msg_set(d, 58, "a\001b"), QA_ERR_INVALID_ARG, "SOH");
    QA_CHECK_ERR(qa_fix_msg_set(d, 0, "x"), QA_ERR_INVALID_ARG, "field 0");
    QA_CHECK_ERR(qa_fix_msg_set_double(d, 44, 0.0 / 0.0), QA_ERR_INVALID_ARG, "finite");
    static const struct {
        double v;
        const char *text;
    } floats[] = {{0.1, "0.1"}, {187.23, "187.23"}, {-2.5, "-2.5"}, {100, "100"},
                  {1e-7, "0.0000001"}, {1e20, "100000000000000000000"}, {1.0 / 3.0, "0.3333333333333333"}};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        QA_CHECK_OK(qa_fix_msg_set_double(d, 44, floats[i].v));
        QA_CHECK_STR(qa_fix_msg_get(d, 44), floats[i].text);
        QA_CHECK(strtod(qa_fix_msg_get(d, 44), NULL) == floats[i].v);
    }
    QA_CHECK_OK(qa_fix_msg_set_int(d, 38, -9223372036854775807LL - 1));
    QA_CHECK_STR(qa_fix_msg_get(d, 38), "-9223372036854775808");
    QA_CHECK_STR(qa_fix_msg_type(d), "D");
    QA_CHECK_STR(qa_fix_msg_get(d, 8), "FIX.4.4");
    QA_CHECK_OK(qa_fix_msg_set(d, 43, "Y")); /* header field */
    QA_CHECK_INT(qa_fix_msg_possdup(d), 1);
    qa_fix_msg_free(d);
    qa_fix_msg_free(NULL);
    qa_fix_stop(NULL);
}

int main(int argc, char **argv) {
    if (argc == 7 && strcmp(argv[1], "acceptor-child") == 0)
        return acceptor_child(atoi(argv[2]), argv[3], atoi(argv[4]), argv[5], atoi(argv[6]));
    g_self = "/proc/self/exe";
    static char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        g_self = self;
    }
    if (qa_test_tmpdir(g_root, sizeof g_root, "fix") != 0) {
        printf("no temporary directory\n");
        return 1;
    }
    QA_RUN(test_roundtrip);
    QA_RUN(test_resend_stored);
    QA_RUN(test_rerequest);
    QA_RUN(test_acceptor_killed);
    QA_RUN(test_send_logged_out);
    int rc = qa_test_finish();
    if (rc == 0) qa_test_rmtree(g_root);
    else printf("kept %s (stores and FIX logs)\n", g_root);
    return rc;
}
