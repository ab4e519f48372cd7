/* The operations module (live/metrics.h, live/http.h): the exposition text of counters,
 * gauges and histograms with labels against text written by hand, cumulative buckets on the
 * standard latency bounds, names and label sets refused, exact totals after concurrent
 * updates from four threads while another renders, and the HTTP endpoints through a plain
 * socket client (status codes, content types, bodies, HEAD, 404, 405). */
#include <arpa/inet.h>   /* htons, inet_pton: the test client */
#include <pthread.h>     /* the concurrent updaters */
#include <stdlib.h>      /* free, malloc */
#include <string.h>      /* strstr, strcmp */
#include <sys/socket.h>  /* socket, connect, send, recv */
#include <sys/time.h>    /* struct timeval: the client's receive timeout */
#include <unistd.h>      /* close */

#include "harness.h"
#include "live/http.h"
#include "live/metrics.h"

/* The registry's rendering as a malloc'd string (NULL after a failed check). */
static char *render(qa_metrics_t *m) {
    char *text = NULL;
    size_t len = 0;
    QA_CHECK_OK(qa_metrics_render(m, &text, &len));
    if (text) QA_CHECK_INT(len, strlen(text));
    return text;
}

/* Families group series registered apart; escapes, inclusive buckets, NaN dropped. */
static void test_render_exact(void) {
    qa_metrics_t *m = NULL;
    QA_CHECK_OK(qa_metrics_create(&m));
    char *empty = render(m);
    QA_CHECK_STR(empty, "");
    free(empty);
    qa_metrics_counter *md = NULL, *ord = NULL, *cpu = NULL;
    qa_metrics_gauge *depth = NULL, *spread = NULL;
    qa_metrics_histogram *risk = NULL, *fill = NULL, *tick = NULL;
    const double stage_b[] = {0.25, 0.5, 1}, tick_b[] = {1};
    QA_CHECK_OK(qa_metrics_counter_register(m, "qa_msgs_total", "Messages consumed.", "topic=\"market.data\"", &md));
    QA_CHECK_OK(qa_metrics_counter_register(m, "qa_cpu_seconds_total", "CPU time.", NULL, &cpu));
    QA_CHECK_OK(qa_metrics_gauge_register(m, "qa_queue_depth", "Depth of the\nqueue \\ now", NULL, &depth));
    QA_CHECK_OK(qa_metrics_counter_register(m, "qa_msgs_total", "Messages consumed.", "topic=\"orders\"", &ord));
    QA_CHECK_OK(qa_metrics_gauge_register(m, "qa_spread", "Spread.", "venue=\"a\\\"b\"", &spread));
    QA_CHECK_OK(qa_metrics_histogram_register(m, "qa_stage_seconds", "Stage latency.", "stage=\"risk\"", stage_b, 3, &risk));
    QA_CHECK_OK(qa_metrics_histogram_register(m, "qa_stage_seconds", "Stage latency.", "stage=\"fill\"", stage_b, 3, &fill));
    QA_CHECK_OK(qa_metrics_histogram_register(m, "qa_tick_seconds", "Tick.", "", tick_b, 1, &tick));
    if (!tick) goto done;
    qa_metrics_counter_add(md, 3);
    qa_metrics_counter_add(ord, 5);
    qa_metrics_counter_add(cpu, 1);
    qa_metrics_counter_add_f(cpu, 0.25);
    qa_metrics_counter_add_f(cpu, -1.0); /* dropped: counters only go up */
    qa_metrics_counter_add_f(cpu, NAN);  /* dropped */
    qa_metrics_gauge_set(depth, 7);
    qa_metrics_gauge_add(depth, -2.5);
    qa_metrics_gauge_set(spread, -INFINITY);
    qa_metrics_histogram_observe(risk, 0.125);
    qa_metrics_histogram_observe(risk, 0.25); /* on the bound: counts in le="0.25" */
    qa_metrics_histogram_observe(risk, 0.75);
    qa_metrics_histogram_observe(risk, 4);
    qa_metrics_histogram_observe(tick, 1);
    qa_metrics_histogram_observe(tick, NAN); /* dropped */
    QA_CHECK_NEAR(qa_metrics_counter_value(cpu), 1.25, 0, 0);
    QA_CHECK_NEAR(qa_metrics_gauge_value(depth), 4.5, 0, 0);
    char *text = render(m);
    QA_CHECK_STR(text,
                 "# HELP qa_msgs_total Messages consumed.\n"
                 "# TYPE qa_msgs_total counter\n"
                 "qa_msgs_total{topic=\"market.data\"} 3\n"
                 "qa_msgs_total{topic=\"orders\"} 5\n"
                 "# HELP qa_cpu_seconds_total CPU time.\n"
                 "# TYPE qa_cpu_seconds_total counter\n"
                 "qa_cpu_seconds_total 1.25\n"
                 "# HELP qa_queue_depth Depth of the\\nqueue \\\\ now\n"
                 "# TYPE qa_queue_depth gauge\n"
                 "qa_queue_depth 4.5\n"
                 "# HELP qa_spread Spread.\n"
                 "# TYPE qa_spread gauge\n"
                 "qa_spread{venue=\"a\\\"b\"} -Inf\n"
                 "# HELP qa_stage_seconds Stage latency.\n"
                 "# TYPE qa_stage_seconds histogram\n"
                 "qa_stage_seconds_bucket{stage=\"risk\",le=\"0.25\"} 2\n"
                 "qa_stage_seconds_bucket{stage=\"risk\",le=\"0.5\"} 2\n"
                 "qa_stage_seconds_bucket{stage=\"risk\",le=\"1\"} 3\n"
                 "qa_stage_seconds_bucket{stage=\"risk\",le=\"+Inf\"} 4\n"
                 "qa_stage_seconds_sum{stage=\"risk\"} 5.125\n"
                 "qa_stage_seconds_count{stage=\"risk\"} 4\n"
                 "qa_stage_seconds_bucket{stage=\"fill\",le=\"0.25\"} 0\n"
                 "qa_stage_seconds_bucket{stage=\"fill\",le=\"0.5\"} 0\n"
                 "qa_stage_seconds_bucket{stage=\"fill\",le=\"1\"} 0\n"
                 "qa_stage_seconds_bucket{stage=\"fill\",le=\"+Inf\"} 0\n"
                 "qa_stage_seconds_sum{stage=\"fill\"} 0\n"
                 "qa_stage_seconds_count{stage=\"fill\"} 0\n"
                 "# HELP qa_tick_seconds Tick.\n"
                 "# TYPE qa_tick_seconds histogram\n"
                 "qa_tick_seconds_bucket{le=\"1\"} 1\n"
                 "qa_tick_seconds_bucket{le=\"+Inf\"} 1\n"
                 "qa_tick_seconds_sum 1\n"
                 "qa_tick_seconds_count 1\n");
    free(text);
done:
    qa_metrics_free(m);
    qa_metrics_free(NULL);
}

/* The standard bounds are 1-2-5 steps from 1 µs to 10 s; counts are cumulative. */
static void test_latency_buckets(void) {
    double b[32];
    QA_CHECK_INT(qa_metrics_latency_buckets(NULL, 0), 22);
    size_t n = qa_metrics_latency_buckets(b, 32);
    QA_CHECK_INT(n, 22);
    QA_CHECK(b[0] == 1e-6 && b[1] == 2e-6 && b[2] == 5e-6 && b[20] == 5 && b[21] == 10);
    for (size_t i = 0; i + 3 < n; i++) QA_CHECK_NEAR(b[i + 3], 10 * b[i], 0, 1e-12); /* one decade on */
    qa_metrics_t *m = NULL;
    qa_metrics_histogram *h = NULL;
    QA_CHECK_OK(qa_metrics_create(&m));
    QA_CHECK_OK(qa_metrics_histogram_register(m, "qa_lat_seconds", "Latency.", NULL, b, n, &h));
    if (!h) goto done;
    /* 1 in le=1e-06, 2 in le=5e-06, 1 in le=0.002, 1 beyond 10 s */
    const double obs[] = {1e-6, 3e-6, 4e-6, 1.5e-3, 11};
    for (size_t i = 0; i < 5; i++) qa_metrics_histogram_observe(h, obs[i]);
    char *text = render(m);
    const char *want[] = {"{le=\"1e-06\"} 1\n", "{le=\"2e-06\"} 1\n", "{le=\"5e-06\"} 3\n",
                          "{le=\"0.001\"} 3\n", "{le=\"0.002\"} 4\n", "{le=\"5\"} 4\n",
                          "{le=\"10\"} 4\n",    "{le=\"+Inf\"} 5\n",  "qa_lat_seconds_count 5\n"};
    for (size_t i = 0; text && i < sizeof want / sizeof want[0]; i++)
        QA_CHECK_MSG(strstr(text, want[i]), "'%s' missing from:\n%s", want[i], text);
    free(text);
done:
    qa_metrics_free(m);
}

/* Bad names, label sets, bucket lists and duplicates are refused; outputs stay unchanged. */
static void test_invalid(void) {
    qa_metrics_t *m = NULL;
    QA_CHECK_OK(qa_metrics_create(&m));
    qa_metrics_counter *c = NULL;
    qa_metrics_gauge *g = NULL;
    qa_metrics_histogram *h = NULL;
    const double ok_b[] = {1, 2}, bad_b[] = {1, 1}, inf_b[] = {1, INFINITY};
    QA_CHECK_ERR(qa_metrics_counter_register(m, "msgs_total", "x", NULL, &c), QA_ERR_INVALID_ARG, "'msgs_total' does not start with qa_");
    QA_CHECK_ERR(qa_metrics_counter_register(m, "qa_msgs", "x", NULL, &c), QA_ERR_INVALID_ARG, "'qa_msgs' does not end in _total");
    QA_CHECK_ERR(qa_metrics_counter_register(m, "qa_total", "x", NULL, &c), QA_ERR_INVALID_ARG, "does not end in _total");
    QA_CHECK_ERR(qa_metrics_gauge_register(m, "qa_bad-name", "x", NULL, &g), QA_ERR_INVALID_ARG, "'qa_bad-name' is not");
    QA_CHECK_ERR(qa_metrics_gauge_register(m, "9qa_x", "x", NULL, &g), QA_ERR_INVALID_ARG, "'9qa_x' is not");
    QA_CHECK_ERR(qa_metrics_gauge_register(m, "qa_x", NULL, NULL, &g), QA_ERR_INVALID_ARG, "no help");
    const char *bad_labels[] = {"topic=x", "topic=\"x", "topic=\"x\",", "=\"x\"", "__a=\"x\"",
                                "a=\"x\\q\"", "a=\"x\" ", "a-b=\"x\""};
    for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++)
        QA_CHECK_ERR(qa_metrics_gauge_register(m, "qa_x", "x", bad_labels[i], &g), QA_ERR_INVALID_ARG, "label set");
    QA_CHECK_ERR(qa_metrics_histogram_register(m, "qa_h", "x", "le=\"1\"", ok_b, 2, &h), QA_ERR_INVALID_ARG, "other than le");
    QA_CHECK_ERR(qa_metrics_histogram_register(m, "qa_h", "x", NULL, bad_b, 2, &h), QA_ERR_INVALID_ARG, "bucket bound 1");
    QA_CHECK_ERR(qa_metrics_histogram_register(m, "qa_h", "x", NULL, inf_b, 2, &h), QA_ERR_INVALID_ARG, "not finite");
    QA_CHECK_ERR(qa_metrics_histogram_register(m, "qa_h", "x", NULL, ok_b, 0, &h), QA_ERR_INVALID_ARG, "no buckets");
    QA_CHECK(c == NULL && g == NULL && h == NULL);
    QA_CHECK_OK(qa_metrics_gauge_register(m, "qa_x", "x", "a=\"1\",b=\"q\\\"\\\\\\n\"", &g));
    QA_CHECK_OK(qa_metrics_gauge_register(m, "qa_x_total", "x", NULL, &g));
    QA_CHECK_ERR(qa_metrics_gauge_register(m, "qa_x", "x", "a=\"1\",b=\"q\\\"\\\\\\n\"", &g), QA_ERR_EXISTS, "already registered");
    QA_CHECK_ERR(qa_metrics_counter_register(m, "qa_x_total", "x", NULL, &c), QA_ERR_INVALID_ARG, "already registered as a gauge");
    QA_CHECK_ERR(qa_metrics_gauge_register(m, "qa_x", "other", "a=\"2\"", &g), QA_ERR_INVALID_ARG, "other help");
    QA_CHECK_OK(qa_metrics_gauge_register(m, "qa_x", "x", "a=\"2\"", &g));
    QA_CHECK(c == NULL);
    qa_metrics_free(m);
}

#define NTHREADS 4
#define NITER 100000

struct shared {
    qa_metrics_counter *c;
    qa_metrics_gauge *g;
    qa_metrics_histogram *h;
};

static void *updater(void *arg) {
    struct shared *s = arg;
    for (int i = 0; i < NITER; i++) {
        qa_metrics_counter_add(s->c, 1);
        qa_metrics_counter_add_f(s->c, 0.5);
        qa_metrics_gauge_add(s->g, 1.0);
        qa_metrics_histogram_observe(s->h, (i % 4) * 0.5); /* 0, 0.5, 1, 1.5: exact sums */
    }
    return NULL;
}

/* 4 x 100000 lock-free updates while the main thread renders and registers: exact totals.
 * Every partial sum is a multiple of 0.5 below 2^53, so the double adds are exact too. */
static void test_concurrent(void) {
    qa_metrics_t *m = NULL;
    QA_CHECK_OK(qa_metrics_create(&m));
    struct shared s = {0};
    const double b[] = {0.5, 1};
    QA_CHECK_OK(qa_metrics_counter_register(m, "qa_ops_total", "Ops.", NULL, &s.c));
    QA_CHECK_OK(qa_metrics_gauge_register(m, "qa_level", "Level.", NULL, &s.g));
    QA_CHECK_OK(qa_metrics_histogram_register(m, "qa_val", "Values.", NULL, b, 2, &s.h));
    if (!s.h) goto done;
    pthread_t t[NTHREADS];
    int started = 0;
    for (; started < NTHREADS; started++)
        if (pthread_create(&t[started], NULL, updater, &s) != 0) break;
    QA_CHECK_INT(started, NTHREADS);
    for (int i = 0; i < 200; i++) { /* render and register beside the updaters */
        char name[32];
        qa_metrics_gauge *extra = NULL;
        snprintf(name, sizeof name, "k=\"%d\"", i);
        QA_CHECK_OK(qa_metrics_gauge_register(m, "qa_extra", "Extra.", name, &extra));
        free(render(m));
    }
    for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
    QA_CHECK_NEAR(qa_metrics_counter_value(s.c), 1.5 * NTHREADS * NITER, 0, 0);
    QA_CHECK_NEAR(qa_metrics_gauge_value(s.g), NTHREADS * NITER, 0, 0);
    char *text = render(m);
    const char *want[] = {"qa_ops_total 600000\n", "qa_level 400000\n",
                          "qa_val_bucket{le=\"0.5\"} 200000\n", "qa_val_bucket{le=\"1\"} 300000\n",
                          "qa_val_bucket{le=\"+Inf\"} 400000\n", "qa_val_sum 300000\n",
                          "qa_val_count 400000\n", "qa_extra{k=\"199\"} 0\n"};
    for (size_t i = 0; text && i < sizeof want / sizeof want[0]; i++)
        QA_CHECK_MSG(strstr(text, want[i]), "'%s' missing", want[i]);
    free(text);
done:
    qa_metrics_free(m);
}

/* One HTTP/1.0 request to 127.0.0.1:port (the server closes after answering). Returns the
 * status code (-1 on a transport failure); the raw response goes to `resp`, `*body` points
 * at its body. */
static int request(unsigned port, const char *method, const char *path, char *resp, size_t cap,
                   const char **body) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), code = -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 5};
    char req[256];
    size_t got = 0;
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", method, path);
    resp[0] = '\0', *body = resp;
    if (fd < 0 || inet_pton(AF_INET, "127.0.0.1", &a.sin_addr) != 1 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0 || send(fd, req, (size_t)n, 0) != n)
        goto done;
    for (ssize_t r; got + 1 < cap && (r = recv(fd, resp + got, cap - 1 - got, 0)) > 0;) got += (size_t)r;
    resp[got] = '\0';
    char *sep = strstr(resp, "\r\n\r\n");
    if (sep) *body = sep + 4;
    if (sscanf(resp, "HTTP/1.%*d %d", &code) != 1) code = -1;
done:
    if (fd >= 0) close(fd);
    return code;
}

struct health_ctx {
    int healthy, fail;
};

static qa_status health(void *ctx, char **json, int *healthy) {
    struct health_ctx *h = ctx;
    if (h->fail) return QA_FAIL(QA_ERR_STATE, "bus disconnected");
    char *j = strdup(h->healthy ? "{\"status\":\"ok\"}" : "{\"status\":\"lagging\"}");
    if (!j) return QA_FAIL(QA_ERR_NOMEM, "health json");
    *json = j, *healthy = h->healthy;
    return QA_OK;
}

static void test_http(void) {
    qa_metrics_t *m = NULL;
    qa_metrics_counter *c = NULL;
    qa_http_t *srv = NULL, *again = NULL;
    struct health_ctx hc = {1, 0};
    static char resp[1 << 16];
    const char *body = NULL;
    QA_CHECK_OK(qa_metrics_create(&m));
    QA_CHECK_OK(qa_metrics_counter_register(m, "qa_reqs_total", "Requests.", "topic=\"a\"", &c));
    if (!c) goto done;
    qa_metrics_counter_add(c, 42);
    qa_http_opts o = {.host = NULL, .port = 0, .metrics = m, .health = health, .health_ctx = &hc};
    QA_CHECK_OK(qa_http_start(&o, &srv));
    if (!srv) goto done;
    unsigned port = qa_http_port(srv);
    QA_CHECK(port > 0);
    QA_CHECK_INT(request(port, "GET", "/metrics", resp, sizeof resp, &body), 200);
    QA_CHECK(strstr(resp, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != NULL);
    QA_CHECK_STR(body, "# HELP qa_reqs_total Requests.\n# TYPE qa_reqs_total counter\n"
                       "qa_reqs_total{topic=\"a\"} 42\n");
    QA_CHECK_INT(request(port, "HEAD", "/metrics", resp, sizeof resp, &body), 200);
    QA_CHECK_STR(body, "");
    QA_CHECK_INT(request(port, "GET", "/health", resp, sizeof resp, &body), 200);
    QA_CHECK(strstr(resp, "Content-Type: application/json\r\n") != NULL);
    QA_CHECK_STR(body, "{\"status\":\"ok\"}");
    hc.healthy = 0;
    QA_CHECK_INT(request(port, "GET", "/health", resp, sizeof resp, &body), 503);
    QA_CHECK_STR(body, "{\"status\":\"lagging\"}");
    hc.fail = 1;
    QA_CHECK_INT(request(port, "GET", "/health", resp, sizeof resp, &body), 500);
    QA_CHECK(strstr(body, "bus disconnected") != NULL);
    QA_CHECK_INT(request(port, "GET", "/nope", resp, sizeof resp, &body), 404);
    QA_CHECK(strstr(body, "\"error\":\"not found\"") != NULL);
    QA_CHECK_INT(request(port, "POST", "/metrics", resp, sizeof resp, &body), 405);
    QA_CHECK(strstr(resp, "Allow: GET, HEAD\r\n") != NULL);
    QA_CHECK(strstr(body, "\"error\":\"method not allowed\"") != NULL);
    /* the port is taken: a second server cannot bind it */
    o.port = port;
    QA_CHECK_ERR(qa_http_start(&o, &again), QA_ERR_IO, "cannot serve");
    QA_CHECK(again == NULL);
    o.host = "no.such.host.invalid";
    QA_CHECK_ERR(qa_http_start(&o, &again), QA_ERR_INVALID_ARG, "no.such.host.invalid");
done:
    qa_http_stop(srv);
    qa_http_stop(NULL);
    qa_metrics_free(m);
}

int main(void) {
    QA_RUN(test_render_exact);
    QA_RUN(test_latency_buckets);
    QA_RUN(test_invalid);
    QA_RUN(test_concurrent);
    QA_RUN(test_http);
    return qa_test_finish();
}
