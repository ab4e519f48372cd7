/* Progress reporter: live terminal line or periodic log lines, with rate and ETA. */
#include "common/progress.h"

#include <errno.h>       /* strtod's range errors */
#include <math.h>        /* isfinite */
#include <pthread.h>     /* mutex around reporting */
#include <stdatomic.h>   /* lock-free counter for hot loops */
#include <stdlib.h>      /* calloc, getenv, strtod */
#include <string.h>      /* strncpy */
#include <unistd.h>      /* isatty */

#include "common/log.h"   /* log-mode lines, clearing the TTY line */
#include "common/timer.h" /* qa_time_ns */

struct qa_progress {
    char label[64];
    char unit[32];
    uint64_t total;
    _Atomic uint64_t done;
    uint64_t start_ns;
    uint64_t last_report_ns;
    double interval_s;
    qa_progress_mode mode;
    FILE *stream;
    pthread_mutex_t mu;
    int finished;
};

char *qa_progress_si(char *buf, unsigned long size, double v) {
    static const char suffix[] = {'\0', 'k', 'M', 'G', 'T', 'P'};
    int k = 0;
    while (v >= 999.5 && k < 5) {
        v /= 1000.0;
        k++;
    }
    if (k == 0)
        snprintf(buf, size, "%.0f", v);
    else if (v < 9.995)
        snprintf(buf, size, "%.2f%c", v, suffix[k]);
    else if (v < 99.95)
        snprintf(buf, size, "%.1f%c", v, suffix[k]);
    else
        snprintf(buf, size, "%.0f%c", v, suffix[k]);
    return buf;
}

static void fmt_hms(char *buf, unsigned long size, double s) {
    if (s < 0 || s > 1e8) {
        snprintf(buf, size, "?");
        return;
    }
    unsigned long t = (unsigned long)(s + 0.5);
    snprintf(buf, size, "%lu:%02lu:%02lu", t / 3600, (t / 60) % 60, t % 60);
}

char *qa_progress_format(char *buf, unsigned long size, const char *label, const char *unit,
                         uint64_t done, uint64_t total, double elapsed) {
    char d[16], t[16], r[16], eta[24];
    double rate = elapsed > 0 ? (double)done / elapsed : 0.0;
    qa_progress_si(d, sizeof d, (double)done);
    qa_progress_si(r, sizeof r, rate);
    if (total > 0) {
        qa_progress_si(t, sizeof t, (double)total);
        double pct = 100.0 * (double)done / (double)total;
        if (rate > 0)
            fmt_hms(eta, sizeof eta, (double)(total > done ? total - done : 0) / rate);
        else
            snprintf(eta, sizeof eta, "?");
        snprintf(buf, size, "%s %5.1f%%  %s/%s %s  %s/s  ETA %s", label, pct, d, t, unit, r, eta);
    } else {
        fmt_hms(eta, sizeof eta, elapsed);
        snprintf(buf, size, "%s  %s %s  %s/s  elapsed %s", label, d, unit, r, eta);
    }
    return buf;
}

/* $QA_PROGRESS_SECONDS: a finite number of seconds > 0; 10 when unset, and 10 with a
 * warning when it is not such a number. */
static double env_interval(void) {
    const char *iv = getenv("QA_PROGRESS_SECONDS");
    if (!iv || !*iv) return 10.0;
    char *end = NULL;
    errno = 0;
    double v = strtod(iv, &end);
    if (end == iv || *end != '\0' || errno != 0 || !isfinite(v) || v <= 0) {
        qa_log_warn("QA_PROGRESS_SECONDS: '%s' is not a positive number of seconds; using 10", iv);
        return 10.0;
    }
    return v;
}

qa_status qa_progress_create(const char *label, uint64_t total, const char *unit,
                             qa_progress_mode mode, FILE *stream, qa_progress_t **out) {
    qa_progress_t *p = calloc(1, sizeof *p);
    if (!p) return QA_FAIL(QA_ERR_NOMEM, "progress reporter");
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", unit);
    p->total = total;
    atomic_init(&p->done, 0);
    p->start_ns = p->last_report_ns = qa_time_ns();
    p->stream = stream ? stream : stderr;
    p->interval_s = env_interval();
    const char *off = getenv("QA_PROGRESS");
    if (off && strcmp(off, "0") == 0) mode = QA_PROGRESS_SILENT;
    if (mode == QA_PROGRESS_AUTO)
        mode = isatty(fileno(p->stream)) ? QA_PROGRESS_TTY : QA_PROGRESS_LOG;
    p->mode = mode;
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return QA_OK;
}

void qa_progress_set_interval(qa_progress_t *p, double seconds) { p->interval_s = seconds; }

static void report(qa_progress_t *p, uint64_t now, int final) {
    char line[256];
    uint64_t done = atomic_load(&p->done);
    double elapsed = (double)(now - p->start_ns) * 1e-9;
    qa_progress_format(line, sizeof line, p->label, p->unit, done, p->total, elapsed);
    if (p->mode == QA_PROGRESS_TTY) {
        fprintf(p->stream, "\r\033[K%s%s", line, final ? "\n" : "");
        (void)fflush(p->stream); /* an advisory terminal line: nothing to do if it cannot be shown */
        qa_log_set_tty_line_active(!final);
    } else if (p->mode == QA_PROGRESS_LOG) {
        qa_log_info("%s%s", line, final ? " (done)" : "");
    }
}

void qa_progress_add(qa_progress_t *p, uint64_t n) {
    if (!p) return;
    atomic_fetch_add(&p->done, n);
    if (p->mode == QA_PROGRESS_SILENT) return;
    uint64_t now = qa_time_ns();
    double min_gap = p->mode == QA_PROGRESS_TTY ? 0.1 : p->interval_s;
    if ((double)(now - p->last_report_ns) * 1e-9 < min_gap) return;
    if (pthread_mutex_trylock(&p->mu) != 0) return; /* another thread is reporting */
    if ((double)(now - p->last_report_ns) * 1e-9 >= min_gap && !p->finished) {
        p->last_report_ns = now;
        report(p, now, 0);
    }
    pthread_mutex_unlock(&p->mu);
}

void qa_progress_finish(qa_progress_t *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    if (!p->finished && p->mode != QA_PROGRESS_SILENT) report(p, qa_time_ns(), 1);
    p->finished = 1;
    pthread_mutex_unlock(&p->mu);
}

void qa_progress_free(qa_progress_t *p) {
    if (!p) return;
    if (p->mode == QA_PROGRESS_TTY && !p->finished) qa_log_set_tty_line_active(0);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
