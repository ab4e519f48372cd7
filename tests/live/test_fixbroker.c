/* The FIX broker adapter (live/fixbroker.h) against `qa exchange` (live/exchange.h), with
 * the in-process paper broker as the oracle. argv[1]: the qa binary.
 *
 * One request sequence (market and limit orders, partial fills through participation, a
 * cancel, a replace, idempotent repeats, refusals, advances over every timestamp of a
 * small market file, orders/fills/clock queries) is driven
 *   (a) through qa_broker_paper_open on a fresh venue fed the market file's bars, and
 *   (b) through qa_fixbroker_open against a `qa exchange` process on the same file and
 *       venue settings;
 * every answer and every event must be identical field by field (ids, quantities, prices
 * and fees bit for bit, market times to the nanosecond).
 *
 *   test_same_answers        (b) once, undisturbed
 *   test_exchange_killed     (b) again with the exchange killed -9 twice (before a request,
 *                            whose answer then waits for the restart, and with a request
 *                            unread in its socket), restarted on the same port and state
 *                            dir, and stalled past the adapter's timeout once: the
 *                            transcript still equals (a); then a client killed -9 just after
 *                            sending (its answer is resent to the next process, which drops
 *                            it), the adapter reopened on its store: the last submit repeated
 *                            answers as before and the exchange's orders still equal (a)'s
 *   test_report_codec        the report encoding alone: NaN fields, odd sides, empty ids
 *
 * The fill model is deliberately busy (participation 0.1 of 300-share bars, fill_prob 0.9,
 * slippage and fees) so that partial fills, skipped bars and non-round prices occur. */
#include <pthread.h>   /* the thread that restarts the exchange */
#include <signal.h>    /* kill, SIGKILL, SIGTERM */
#include <stdio.h>     /* printf, snprintf */
#include <stdlib.h>    /* free, atoi */
#include <string.h>    /* memcmp, strcmp */
#include <sys/wait.h>  /* waitpid */
#include <fcntl.h>     /* open: the exchange's log */
#include <time.h>      /* nanosleep */
#include <unistd.h>    /* fork, execv, unlink */

#include "harness.h"
#include "common/fs.h"       /* the port file */
#include "datasets/store.h"  /* the market file */
#include "live/broker.h"     /* the paper broker */
#include "live/exchange.h"   /* the report codec */
#include "live/fix.h"        /* the killed client's raw session */
#include "live/fixbroker.h"  /* the adapter under test */

#define NSYM 3
#define NT 12
static const char *const g_syms[NSYM] = {"AAA", "BBB", "CCC"};
static int64_t g_time[NT];
static qa_order_bar g_bars[NSYM][NT]; /* close NaN: no bar */

static char g_root[256];
static char g_market[512];
static const char *g_qa;

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void venue_cfg(qa_venue_cfg *c) {
    qa_venue_cfg_default(c);
    c->participation = 0.1;
    c->slippage_bps = 5.0;
    c->fee_bps = 1.0;
    c->fill_prob = 0.9;
    c->seed = 7;
}

/* Three symbols, 12 five-minute bars at odd nanoseconds; CCC has no bar at 3 and 7. */
static int make_market(void) {
    for (int k = 0; k < NT; k++) g_time[k] = 1700000000000000000LL + (int64_t)k * 300000000000LL + 123;
    for (int s = 0; s < NSYM; s++)
        for (int k = 0; k < NT; k++) {
            double base = 100.0 + s * 0.37 + 0.21 * ((k * 7 + s * 3) % 5) - 0.1 * k / 3.0;
            qa_order_bar b = {base, base + 0.45 + 0.01 * k, base - 0.55 - 0.01 * s, base + 0.13 * ((k % 3) - 1), 300.0 + 7 * k};
            if (s == 2 && (k == 3 || k == 7)) b = (qa_order_bar){NAN, NAN, NAN, NAN, NAN};
            g_bars[s][k] = b;
        }
    qa_store_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.frequency, sizeof m.frequency, "5min");
    m.bar_seconds = 300;
    m.bars_per_year = 252 * 78;
    snprintf(m.calendar, sizeof m.calendar, "NYSE");
    snprintf(m.currency, sizeof m.currency, "USD");
    snprintf(m.adjustment, sizeof m.adjustment, "none");
    snprintf(m.source, sizeof m.source, "test_fixbroker");
    m.deflate_level = 1;
    snprintf(g_market, sizeof g_market, "%s/market.h5", g_root);
    qa_store_t *st = NULL;
    if (qa_store_create(g_market, NULL, &m, NSYM, (const char *const *)g_syms, NT, g_time, &st) != QA_OK) return 1;
    double panel[NSYM * NT];
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) {
        for (int s = 0; s < NSYM; s++)
            for (int k = 0; k < NT; k++) {
                const qa_order_bar *b = &g_bars[s][k];
                const double v[5] = {b->open, b->high, b->low, b->close, b->volume};
                panel[s * NT + k] = v[f];
            }
        if (qa_store_write(st, qa_bar_field_path((qa_bar_field)f), 0, NSYM, 0, NT, panel) != QA_OK) return 1;
    }
    return qa_store_commit(st) != QA_OK;
}

/* ---- the transcript: every call's status and answers -------------------------------------- */

typedef struct record {
    int step;
    qa_status st;
    size_t n;
    qa_venue_event *ev; /* n events (one for submit/cancel/replace) */
    int64_t clock;
} record;

typedef struct transcript {
    record r[64];
    size_t n;
} transcript;

static void transcript_free(transcript *t) {
    for (size_t i = 0; i < t->n; i++) free(t->r[i].ev);
    t->n = 0;
}

static record *add(transcript *t, int step, qa_status st) {
    record *r = &t->r[t->n++];
    memset(r, 0, sizeof *r);
    r->step = step;
    r->st = st;
    r->clock = INT64_MIN;
    return r;
}

static void add_one(transcript *t, int step, qa_status st, const qa_venue_event *e) {
    record *r = add(t, step, st);
    r->ev = malloc(sizeof *e);
    *r->ev = *e;
    r->n = 1;
}

static int same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0 || (a != a && b != b); }

/* 1 when events a and b are equal in every field (doubles bit for bit; NaN = NaN). */
static int same_event(const qa_venue_event *a, const qa_venue_event *b, char *why, size_t size) {
#define F_INT(f) if (a->f != b->f) return snprintf(why, size, #f " %lld vs %lld", (long long)a->f, (long long)b->f), 0
#define F_STR(f) if (strcmp(a->f, b->f) != 0) return snprintf(why, size, #f " '%s' vs '%s'", a->f, b->f), 0
#define F_DBL(f) if (!same_double(a->f, b->f)) return snprintf(why, size, #f " %.17g vs %.17g", a->f, b->f), 0
    F_INT(kind); F_STR(clordid); F_STR(trade_id); F_STR(symbol); F_INT(side); F_INT(time);
    F_DBL(qty); F_DBL(price); F_DBL(fee); F_DBL(cum); F_DBL(avg_price); F_DBL(leaves); F_DBL(bar_volume);
    F_STR(reason);
#undef F_INT
#undef F_STR
#undef F_DBL
    return 1;
}

static void check_same(const transcript *a, const transcript *b, const char *what) {
    QA_CHECK_MSG(a->n == b->n, "%s: %zu calls vs %zu", what, a->n, b->n);
    size_t events = 0;
    for (size_t i = 0; i < a->n && i < b->n; i++) {
        const record *x = &a->r[i], *y = &b->r[i];
        QA_CHECK_MSG(x->st == y->st && x->n == y->n && x->clock == y->clock,
                     "%s: step %d: status %d/%d, %zu/%zu events, clock %lld/%lld", what, x->step, x->st, y->st, x->n,
                     y->n, (long long)x->clock, (long long)y->clock);
        for (size_t k = 0; k < x->n && k < y->n; k++) {
            char why[256];
            QA_CHECK_MSG(same_event(&x->ev[k], &y->ev[k], why, sizeof why), "%s: step %d event %zu (%s): %s", what,
                         x->step, k, x->ev[k].clordid, why);
        }
        events += x->n;
    }
    printf("  %s: %zu calls, %zu answers and events compared field by field\n", what, a->n, events);
}

/* ---- the request sequence ------------------------------------------------------------------ */

static qa_venue_order order(const char *id, const char *sym, int side, double qty, int limit, double px, int day, int k) {
    qa_venue_order o;
    memset(&o, 0, sizeof o);
    snprintf(o.clordid, sizeof o.clordid, "%s", id);
    snprintf(o.symbol, sizeof o.symbol, "%s", sym);
    o.side = side, o.qty = qty, o.limit = limit, o.price = px, o.day = day, o.time = g_time[k];
    return o;
}

static void do_submit(qa_broker_t *b, transcript *t, int step, const qa_venue_order *o) {
    qa_venue_event e;
    memset(&e, 0, sizeof e);
    qa_status st = b->ops->submit(b->impl, o, &e);
    add_one(t, step, st, &e);
}

/* The market reached time index k: the bars the paper broker is given. */
static void do_advance(qa_broker_t *b, transcript *t, int step, int k) {
    const char *syms[NSYM];
    qa_order_bar bars[NSYM];
    size_t n = 0;
    for (int s = 0; s < NSYM; s++)
        if (g_bars[s][k].close == g_bars[s][k].close) syms[n] = g_syms[s], bars[n++] = g_bars[s][k];
    qa_venue_event *ev = NULL;
    size_t nev = 0;
    const int64_t from = k == 1 ? INT64_MIN : g_time[k - 1];
    qa_status st = b->ops->advance(b->impl, from, g_time[k], n, syms, bars, &ev, &nev);
    record *r = add(t, step, st);
    r->ev = ev, r->n = st == QA_OK ? nev : 0;
}

static void do_query(qa_broker_t *b, transcript *t, int step, int what, const char *clordid) {
    qa_venue_event *ev = NULL;
    size_t n = 0;
    int64_t clock = INT64_MIN;
    qa_status st = what == 0   ? b->ops->orders(b->impl, 0, &ev, &n)
                   : what == 1 ? b->ops->orders(b->impl, 1, &ev, &n)
                   : what == 2 ? b->ops->fills(b->impl, clordid, &ev, &n)
                               : b->ops->clock(b->impl, &clock);
    record *r = add(t, step, st);
    r->ev = ev, r->n = st == QA_OK ? n : 0, r->clock = clock;
}

typedef void (*hook_fn)(int step);

#define LAST_SUBMIT_STEP 15 /* steps count from 1 */
static qa_venue_order g_last_submit; /* the sequence's last submit, repeated after a client restart */

/* The sequence; hook(step) runs before each step (kills). */
static void run_sequence(qa_broker_t *b, transcript *t, hook_fn hook) {
    qa_venue_order o;
    qa_venue_event e;
    int step = 0;
#define STEP (hook ? hook(step) : (void)0), step++
    STEP; o = order("A1", "AAA", 1, 100, 0, 0, 0, 0); do_submit(b, t, step, &o);
    STEP; o = order("B1", "BBB", -1, 80, 1, 100.05, 0, 0); do_submit(b, t, step, &o);
    STEP; o = order("C1", "CCC", 1, 50, 1, 100.3, 1, 2); do_submit(b, t, step, &o);
    STEP; do_advance(b, t, step, 1);
    STEP; do_advance(b, t, step, 2);
    STEP; memset(&e, 0, sizeof e); add_one(t, step, b->ops->cancel(b->impl, "B1", g_time[2], &e), &e);
    STEP; o = order("A2", "AAA", 1, 60, 1, 100.4, 0, 2); memset(&e, 0, sizeof e);
    add_one(t, step, b->ops->replace(b->impl, "A1", &o, &e), &e);
    STEP; o = order("D1", "CCC", -1, 40, 0, 0, 0, 2); do_submit(b, t, step, &o);
    STEP; do_advance(b, t, step, 3);
    STEP; do_advance(b, t, step, 4);
    STEP; o = order("A1", "AAA", 1, 100, 0, 0, 0, 0); do_submit(b, t, step, &o);   /* repeat: new again */
    STEP; o = order("A1", "AAA", 1, 10, 0, 0, 0, 0); do_submit(b, t, step, &o);    /* reused id: refused */
    STEP; memset(&e, 0, sizeof e); add_one(t, step, b->ops->cancel(b->impl, "ZZ", g_time[4], &e), &e);
    STEP; memset(&e, 0, sizeof e); add_one(t, step, b->ops->cancel(b->impl, "B1", g_time[2], &e), &e); /* repeat */
    STEP; o = order("E1", "BBB", -1, 25, 0, 0, 0, 4); do_submit(b, t, step, &o);
    g_last_submit = o;
    STEP; o = order("F1", "BBB", 1, 0.5, 0, 0, 0, 4); do_submit(b, t, step, &o);   /* half a share: refused */
    STEP; o = order("B2", "BBB", -1, 5, 1, 99.0, 0, 4); memset(&e, 0, sizeof e);
    add_one(t, step, b->ops->replace(b->impl, "B1", &o, &e), &e);                  /* too late */
    for (int k = 5; k < NT; k++) {
        STEP; do_advance(b, t, step, k);
        if (k == 7) { STEP; do_query(b, t, step, 1, NULL); }
    }
    STEP; do_query(b, t, step, 0, NULL);
    STEP; do_query(b, t, step, 2, NULL);
    STEP; do_query(b, t, step, 2, "A2");
    STEP; do_query(b, t, step, 3, NULL);
#undef STEP
}

/* ---- the exchange process --------------------------------------------------------------- */

typedef struct exch {
    char state[512], port_file[512], log[512];
    int port;
    pid_t pid;
} exch;

/* Starts `qa exchange` on x->port (0: any) and waits for its port file. 0 on success. */
static int exch_start(exch *x) {
    unlink(x->port_file);
    char sport[16], flog[600];
    snprintf(sport, sizeof sport, "%d", x->port);
    snprintf(flog, sizeof flog, "%s-fixlog", x->state);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(x->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        execl(g_qa, g_qa, "exchange", "--data", g_market, "--state-dir", x->state, "--port", sport, "--port-file",
              x->port_file, "--participation", "0.1", "--slippage-bps", "5", "--fee-bps", "1", "--fill-prob", "0.9",
              "--seed", "7", "--fix-log", flog, (char *)NULL);
        _exit(127);
    }
    if (pid < 0) return 1;
    x->pid = pid;
    for (int ms = 0; ms < 30000; ms += 20) {
        char *text = NULL;
        size_t len = 0;
        if (qa_fs_exists(x->port_file) && qa_fs_read_all(x->port_file, &text, &len) == QA_OK) {
            x->port = atoi(text);
            free(text);
            return x->port > 0 ? 0 : 1;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            printf("  qa exchange exited (status %d); its log: %s\n", status, x->log);
            x->pid = 0;
            return 1;
        }
        sleep_ms(20);
    }
    return 1;
}

static void exch_kill(exch *x, int sig) {
    if (x->pid <= 0) return;
    kill(x->pid, sig);
    int status;
    waitpid(x->pid, &status, 0);
    if (sig == SIGTERM) QA_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "qa exchange status %d", status);
    x->pid = 0;
}

static void exch_init(exch *x, const char *name) {
    memset(x, 0, sizeof *x);
    snprintf(x->state, sizeof x->state, "%s/%s", g_root, name);
    snprintf(x->port_file, sizeof x->port_file, "%s/%s.port", g_root, name);
    snprintf(x->log, sizeof x->log, "%s/%s.log", g_root, name);
    x->port = 0;
    x->pid = 0;
}

static qa_status open_adapter(const exch *x, const char *store, qa_broker_t **out) {
    qa_fixbroker_cfg c;
    qa_fixbroker_cfg_default(&c);
    c.port = x->port;
    snprintf(c.store_dir, sizeof c.store_dir, "%s/%s", g_root, store);
    c.timeout_ms = 3000;
    c.give_up_ms = 40000;
    return qa_fixbroker_open(&c, out);
}

/* (a): the oracle, computed once. */
static transcript g_paper;

static void run_paper(void) {
    qa_venue_cfg vc;
    venue_cfg(&vc);
    char path[600];
    snprintf(path, sizeof path, "%s/paper.db", g_root);
    qa_broker_t *b = NULL;
    QA_CHECK_OK(qa_broker_paper_open(path, &vc, &b));
    if (!b) return;
    run_sequence(b, &g_paper, NULL);
    qa_broker_close(b);
    size_t fills = 0, partial = 0;
    for (size_t i = 0; i < g_paper.n; i++)
        for (size_t k = 0; k < g_paper.r[i].n; k++)
            if (g_paper.r[i].ev[k].kind == QA_VENUE_EV_FILL && g_paper.r[i].step < 30) {
                fills++;
                partial += g_paper.r[i].ev[k].leaves > 0;
            }
    /* The sequence must exercise what it claims: partial fills and refusals. */
    QA_CHECK_MSG(partial >= 3, "only %zu partial fills in the paper run", partial);
    QA_CHECK_MSG(fills >= 6, "only %zu fills in the paper run", fills);
}

static void test_same_answers(void) {
    exch x;
    exch_init(&x, "ex1");
    QA_CHECK_MSG(exch_start(&x) == 0, "qa exchange did not start (log %s)", x.log);
    if (!x.pid) return;
    qa_broker_t *b = NULL;
    const uint64_t t0 = (uint64_t)time(NULL);
    QA_CHECK_OK(open_adapter(&x, "client1", &b));
    if (b) {
        transcript t = {0};
        run_sequence(b, &t, NULL);
        check_same(&g_paper, &t, "paper vs fix");
        transcript_free(&t);
        qa_fixbroker_stats s;
        QA_CHECK_OK(qa_fixbroker_get_stats(b, &s));
        QA_CHECK_INT(s.repeats, 0);
        QA_CHECK_INT(s.stale, 0);
        qa_broker_close(b);
    }
    exch_kill(&x, SIGTERM);
    printf("  undisturbed run: %llu s\n", (unsigned long long)((uint64_t)time(NULL) - t0));
}

/* ---- kills ---------------------------------------------------------------------------- */

static exch g_x;

typedef struct restarter {
    pthread_t th;
    int kill_after_ms, restart_after_ms, cont_after_ms, ok;
} restarter;

static void *restart_main(void *arg) {
    restarter *r = arg;
    if (r->cont_after_ms > 0) { /* a stall, not a death */
        sleep_ms(r->cont_after_ms);
        r->ok = kill(g_x.pid, SIGCONT) == 0;
        return NULL;
    }
    if (r->kill_after_ms >= 0) {
        sleep_ms(r->kill_after_ms);
        exch_kill(&g_x, SIGKILL);
    }
    sleep_ms(r->restart_after_ms);
    r->ok = exch_start(&g_x) == 0;
    return NULL;
}

static restarter g_rs;
static int g_rs_running = 0;

/* Before step 9 (an advance): the exchange is killed, and restarted 1.5 s into the
 * request (which waits for the session, then goes out once). Step 26 (the orders query):
 * the exchange is stopped (SIGSTOP) so the request reaches its socket but is never
 * handled, killed -9 300 ms later and restarted 1 s after that: the request is delivered
 * again, by QuickFIX's resend at logon or the adapter's repeat. Step 28 (fills of one
 * order): the exchange stalls (SIGSTOP) for 3.6 s, past the adapter's 3 s timeout: the
 * adapter repeats the request on the same session, takes the first answer and drops the
 * second. hook(s) runs before step s + 1; the thread is joined at the next hook. */
static void kill_hook(int step) {
    if (g_rs_running) {
        pthread_join(g_rs.th, NULL);
        QA_CHECK_MSG(g_rs.ok, "qa exchange did not restart (log %s)", g_x.log);
        g_rs_running = 0;
    }
    if (step == 8) {
        exch_kill(&g_x, SIGKILL);
        g_rs = (restarter){.kill_after_ms = -1, .restart_after_ms = 1500};
    } else if (step == 25) {
        kill(g_x.pid, SIGSTOP); /* the request reaches its socket but is never handled */
        g_rs = (restarter){.kill_after_ms = 300, .restart_after_ms = 1000};
    } else if (step == 27) {
        kill(g_x.pid, SIGSTOP); /* stalled past the adapter's timeout (3 s), then resumed */
        g_rs = (restarter){.cont_after_ms = 3600};
    } else {
        return;
    }
    g_rs_running = pthread_create(&g_rs.th, NULL, restart_main, &g_rs) == 0;
}

/* A client killed -9 right after sending a request: the exchange answers into its store
 * (the client is gone) and resends the answer to the next process on the same store.
 * The parent stops the exchange (SIGSTOP) between the child's logon (`up`) and its send
 * (`go`) and resumes it after the child died, so the answer cannot reach the child first
 * (had it, the child's QuickFIX would have counted it received: not resent, by design). */
static int killed_client(const char *store, int up, int go) {
    qa_fix_cfg c;
    qa_fix_cfg_default(&c);
    c.port = g_x.port;
    snprintf(c.sender, sizeof c.sender, "QA");
    snprintf(c.target, sizeof c.target, "QAEX");
    snprintf(c.store_dir, sizeof c.store_dir, "%s", store);
    qa_fix_t *f = NULL;
    if (qa_fix_start(&c, &f) != QA_OK || qa_fix_wait_logon(f, 20000) != QA_OK) return 3;
    char byte = 1;
    if (write(up, &byte, 1) != 1 || read(go, &byte, 1) != 1) return 6;
    qa_fix_msg_t *m = qa_fix_msg_new("D");
    qa_fix_msg_set(m, 11, "A1"); /* the very first order again: answered "new", nothing changes */
    qa_fix_msg_set(m, 55, "AAA");
    qa_fix_msg_set(m, 54, "1");
    qa_fix_msg_set(m, 38, "100");
    qa_fix_msg_set(m, 40, "1");
    qa_fix_msg_set(m, 59, "1");
    qa_fix_msg_set_int(m, QA_TAG_MARKET_TIME, g_time[0]);
    qa_fix_msg_set(m, QA_TAG_REQUEST_ID, "an-earlier-process-1-1");
    if (qa_fix_send(f, m) != QA_OK) return 4;
    raise(SIGKILL);
    return 5;
}

static void test_exchange_killed(void) {
    exch_init(&g_x, "ex2");
    QA_CHECK_MSG(exch_start(&g_x) == 0, "qa exchange did not start (log %s)", g_x.log);
    if (!g_x.pid) return;
    qa_broker_t *b = NULL;
    const uint64_t t0 = (uint64_t)time(NULL);
    QA_CHECK_OK(open_adapter(&g_x, "client2", &b));
    if (!b) {
        exch_kill(&g_x, SIGKILL);
        return;
    }
    transcript t = {0};
    run_sequence(b, &t, kill_hook);
    kill_hook(-1); /* joins a restart still running */
    check_same(&g_paper, &t, "paper vs fix with the exchange killed twice");
    qa_fixbroker_stats s;
    QA_CHECK_OK(qa_fixbroker_get_stats(b, &s));
    printf("  adapter: %ld requests, %ld repeated, %ld stale messages dropped (%llu s)\n", s.requests, s.repeats,
           s.stale, (unsigned long long)((uint64_t)time(NULL) - t0));
    QA_CHECK_MSG(s.repeats >= 1, "no request was repeated after the stall");
    QA_CHECK_MSG(s.stale >= 1, "the stalled request's second answer was not dropped");
    qa_broker_close(b);
    b = NULL;

    /* A client killed -9 after sending; then the adapter reopened on the same store. */
    char store[400];
    snprintf(store, sizeof store, "%s/client2", g_root);
    int up[2], go[2];
    QA_CHECK(pipe(up) == 0 && pipe(go) == 0);
    pid_t pid = fork();
    if (pid == 0) _exit(killed_client(store, up[1], go[0]));
    char byte = 0;
    QA_CHECK_MSG(read(up[0], &byte, 1) == 1, "the client child did not log on");
    kill(g_x.pid, SIGSTOP);
    QA_CHECK(write(go[1], &byte, 1) == 1);
    int status = 0;
    waitpid(pid, &status, 0);
    kill(g_x.pid, SIGCONT);
    close(up[0]), close(up[1]), close(go[0]), close(go[1]);
    QA_CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the client child ended with status %d", status);
    sleep_ms(300); /* the exchange answers the dead client into its store */
    QA_CHECK_OK(open_adapter(&g_x, "client2", &b));
    if (b) {
        qa_venue_event e;
        memset(&e, 0, sizeof e);
        QA_CHECK_OK(b->ops->submit(b->impl, &g_last_submit, &e));
        const record *orig = NULL;
        for (size_t i = 0; i < g_paper.n; i++)
            if (g_paper.r[i].step == LAST_SUBMIT_STEP) orig = &g_paper.r[i];
        char why[256] = "";
        QA_CHECK_MSG(orig && orig->n == 1 && same_event(&orig->ev[0], &e, why, sizeof why),
                     "the repeated submit answers differently: %s", why);
        QA_CHECK_STR(orig ? orig->ev[0].clordid : "", "E1");
        transcript after = {0}, ref = {0};
        do_query(b, &after, 0, 0, NULL);
        do_query(b, &after, 1, 2, NULL);
        for (size_t i = 0; i < g_paper.n; i++) /* (a)'s final orders and fills */
            if (i + 4 == g_paper.n || i + 3 == g_paper.n) {
                record *r = add(&ref, (int)(ref.n), g_paper.r[i].st);
                r->n = g_paper.r[i].n;
                r->ev = malloc(r->n * sizeof *r->ev + 1);
                memcpy(r->ev, g_paper.r[i].ev, r->n * sizeof *r->ev);
            }
        check_same(&ref, &after, "orders and fills after the client restart");
        transcript_free(&after);
        transcript_free(&ref);
        QA_CHECK_OK(qa_fixbroker_get_stats(b, &s));
        printf("  reopened adapter: %ld stale answers dropped\n", s.stale);
        QA_CHECK_MSG(s.stale >= 1, "the dead client's answer was not resent to the reopened adapter");
        qa_broker_close(b);
    }
    transcript_free(&t);
    exch_kill(&g_x, SIGTERM);
}

/* ---- the codec alone ----------------------------------------------------------------------- */

static void test_report_codec(void) {
    qa_venue_event e[3];
    memset(e, 0, sizeof e);
    e[0] = (qa_venue_event){.kind = QA_VENUE_EV_REJECTED, .side = 0, .time = -5, .qty = NAN, .price = NAN, .fee = NAN,
                            .cum = 0.0, .avg_price = NAN, .leaves = 0.0, .bar_volume = NAN};
    snprintf(e[0].reason, sizeof e[0].reason, "unknown client order id");
    e[1] = (qa_venue_event){.kind = QA_VENUE_EV_FILL, .side = -1, .time = INT64_MAX, .qty = 3, .price = 0.1 + 0.2,
                            .fee = 1e-9, .cum = 3, .avg_price = 0.30000000000000004, .leaves = 7, .bar_volume = 1e15};
    snprintf(e[1].clordid, sizeof e[1].clordid, "X#1");
    snprintf(e[1].trade_id, sizeof e[1].trade_id, "X#1#1");
    snprintf(e[1].symbol, sizeof e[1].symbol, "BRK.B");
    e[2] = (qa_venue_event){.kind = QA_VENUE_EV_CANCELLED, .side = 3, .time = 1, .qty = NAN, .price = NAN, .fee = NAN,
                            .cum = 2, .avg_price = 123.456, .leaves = 0, .bar_volume = NAN};
    snprintf(e[2].clordid, sizeof e[2].clordid, "Q");
    for (int i = 0; i < 3; i++) {
        qa_fix_msg_t *m = qa_fix_msg_new(i == 0 ? "9" : "8");
        if (i == 0) qa_fix_msg_set(m, 434, "1");
        QA_CHECK_OK(qa_exchange_report_encode(m, &e[i], QA_EXCHANGE_CTX_EVENT, "REQ", NULL));
        qa_venue_event d;
        QA_CHECK_OK(qa_exchange_report_decode(m, QA_EXCHANGE_CTX_EVENT, &d));
        char why[256];
        QA_CHECK_MSG(same_event(&e[i], &d, why, sizeof why), "event %d: %s", i, why);
        if (i == 2) { /* a cancel's answer: the order in OrigClOrdID, the request in ClOrdID */
            QA_CHECK_STR(qa_fix_msg_get(m, 41), "Q");
            QA_CHECK_STR(qa_fix_msg_get(m, 11), "REQ");
        }
        qa_fix_msg_free(m);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) qa_test_skip("usage: test_fixbroker QA_BINARY");
    g_qa = argv[1];
    if (access(g_qa, X_OK) != 0) qa_test_skip("the qa binary is not executable");
    if (qa_test_tmpdir(g_root, sizeof g_root, "fixbroker") != 0) {
        printf("no temporary directory\n");
        return 1;
    }
    if (make_market() != 0) {
        printf("cannot write the market file: %s\n", qa_err_msg());
        return 1;
    }
    QA_RUN(test_report_codec);
    run_paper();
    QA_RUN(test_same_answers);
    QA_RUN(test_exchange_killed);
    transcript_free(&g_paper);
    int rc = qa_test_finish();
    if (rc == 0) qa_test_rmtree(g_root);
    else printf("kept %s (market file, exchange logs and state, client stores)\n", g_root);
    return rc;
}
