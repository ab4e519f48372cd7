/* Minimal test harness: each test file is one executable; main() runs its cases with
 * QA_RUN (or a table of them with qa_test_run_all) and returns qa_test_finish(); the run's
 * seed and a temporary directory come from here too. A failed check prints file:line and
 * the values and marks the case failed, but the case continues so one run shows every
 * failure.
 * Exit code 77 tells ctest the test was skipped (e.g. no GPU).
 *
 * Numeric comparisons use |got - ref| <= atol + rtol*|ref| elementwise; NaN must match
 * NaN and Inf must match Inf of the same sign; a failure reports the worst index. */
#ifndef QA_TESTS_HARNESS_H
#define QA_TESTS_HARNESS_H

#include <math.h>    /* fabs, isnan, isinf */
#include <stdint.h>  /* uint8_t, uint64_t */
#include <stdio.h>   /* printf, snprintf */
#include <stdlib.h>  /* exit, getenv, mkdtemp, system */
#include <string.h>  /* memcmp */
#include <time.h>    /* time: the default seed */

#include "common/status.h"

#define QA_TEST_SKIP_CODE 77

static int qa_test_failures_ = 0;  /* failures in the whole executable */
static int qa_test_case_failed_ = 0;

static inline void qa_test_fail_(const char *file, int line, const char *fmt, const char *a,
                                 const char *b) {
    printf("  FAIL %s:%d: ", file, line);
    printf(fmt, a, b);
    printf("\n");
    qa_test_case_failed_ = 1;
    qa_test_failures_++;
}

#define QA_CHECK(cond)                                                              \
    do {                                                                            \
        if (!(cond)) qa_test_fail_(__FILE__, __LINE__, "%s%s", "check failed: ", #cond); \
    } while (0)

/* A check the rest of the test depends on (a pointer it dereferences, an index it uses):
 * on failure the test stops here, failed, instead of crashing further on. */
#define QA_REQUIRE(cond)                                                            \
    do {                                                                            \
        if (!(cond)) {                                                              \
            qa_test_fail_(__FILE__, __LINE__, "%s%s", "required check failed: ", #cond); \
            fflush(stdout);                                                         \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

#define QA_CHECK_MSG(cond, ...)                                  \
    do {                                                         \
        if (!(cond)) {                                           \
            printf("  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            printf(__VA_ARGS__);                                 \
            printf("\n");                                        \
            qa_test_case_failed_ = 1;                            \
            qa_test_failures_++;                                 \
        }                                                        \
    } while (0)

#define QA_CHECK_INT(a, b)                                                                  \
    do {                                                                                    \
        long long a_ = (long long)(a), b_ = (long long)(b);                                 \
        QA_CHECK_MSG(a_ == b_, "%s = %lld, expected %s = %lld", #a, a_, #b, b_);            \
    } while (0)

#define QA_CHECK_STR(a, b)                                                                  \
    do {                                                                                    \
        const char *a_ = (a), *b_ = (b);                                                    \
        QA_CHECK_MSG(a_ && b_ && strcmp(a_, b_) == 0, "'%s' != '%s'", a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
    } while (0)

/* The status must be QA_OK; otherwise print the recorded error text. */
#define QA_CHECK_OK(expr)                                                                   \
    do {                                                                                    \
        qa_status s_ = (expr);                                                              \
        QA_CHECK_MSG(s_ == QA_OK, "%s -> %s: %s", #expr, qa_status_name(s_), qa_err_msg()); \
    } while (0)

/* The status must be `code` and the error text must contain `needle`. */
#define QA_CHECK_ERR(expr, code, needle)                                                    \
    do {                                                                                    \
        qa_status s_ = (expr);                                                              \
        QA_CHECK_MSG(s_ == (code), "%s -> %s, expected %s (text: %s)", #expr, qa_status_name(s_), \
                     qa_status_name(code), qa_err_msg());                                   \
        if (s_ == (code) && (needle) && !strstr(qa_err_msg(), (needle)))                    \
            QA_CHECK_MSG(0, "error text '%s' lacks '%s'", qa_err_msg(), (needle));          \
    } while (0)

#define QA_CHECK_NEAR(got, ref, atol, rtol)                                                 \
    do {                                                                                    \
        double g_ = (got), r_ = (ref);                                                      \
        QA_CHECK_MSG(fabs(g_ - r_) <= (atol) + (rtol) * fabs(r_), "%s = %.17g, expected %.17g (atol %g rtol %g)", \
                     #got, g_, r_, (double)(atol), (double)(rtol));                         \
    } while (0)

/* Elementwise comparison with a written error budget. Returns 1 when all pass. */
static inline int qa_test_near_arrays(const char *what, const double *got, const double *ref,
                                      size_t n, double atol, double rtol) {
    size_t bad = 0, worst = 0;
    double worst_excess = -1.0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], r = ref[i];
        int ok;
        if (isnan(r) || isnan(g)) ok = isnan(r) && isnan(g);
        else if (isinf(r) || isinf(g)) ok = g == r;
        else ok = fabs(g - r) <= atol + rtol * fabs(r);
        if (!ok) {
            bad++;
            double excess = (isnan(g) != isnan(r) || isinf(g) || isinf(r))
                                ? INFINITY
                                : fabs(g - r) / (atol + rtol * fabs(r));
            if (excess > worst_excess) {
                worst_excess = excess;
                worst = i;
            }
        }
    }
    if (bad) {
        printf("  FAIL %s: %zu of %zu elements outside |x-ref| <= %g + %g|ref|; worst [%zu]: got %.17g ref %.17g\n",
               what, bad, n, atol, rtol, worst, got[worst], ref[worst]);
        qa_test_case_failed_ = 1;
        qa_test_failures_++;
        return 0;
    }
    return 1;
}

/* Guard bytes around outputs catch kernels that write out of bounds. */
#define QA_GUARD_BYTES 64
#define QA_GUARD_VALUE 0xA5
static inline void qa_test_guard_fill(void *p, size_t n) { memset(p, QA_GUARD_VALUE, n); }
static inline int qa_test_guard_intact(const void *p, size_t n) {
    const uint8_t *b = (const uint8_t *)p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != QA_GUARD_VALUE) return 0;
    return 1;
}

/* Runs one case between a [ RUN  ] line and its [  OK  ] / [ FAIL ] line. */
static inline void qa_test_run(const char *name, void (*fn)(void)) {
    qa_test_case_failed_ = 0;
    printf("[ RUN  ] %s\n", name);
    fflush(stdout);
    fn();
    printf("[ %s ] %s\n", qa_test_case_failed_ ? "FAIL" : " OK ", name);
    fflush(stdout);
}

#define QA_RUN(fn) qa_test_run(#fn, fn)

/* A table of cases, for a main() that picks which cases run:
 *   static const qa_test_case cpu[] = {QA_CASE(test_a), QA_CASE(test_b)}; */
typedef struct qa_test_case {
    const char *name;
    void (*fn)(void);
} qa_test_case;

#define QA_CASE(fn) {#fn, fn}
#define QA_CASES(table) (table), sizeof(table) / sizeof((table)[0]) /* a table and its length */

static inline void qa_test_run_all(const qa_test_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++) qa_test_run(cases[i].name, cases[i].fn);
}

static inline int qa_test_finish(void) {
    printf("%s: %d failure(s)\n", qa_test_failures_ ? "FAILED" : "PASSED", qa_test_failures_);
    return qa_test_failures_ ? 1 : 0;
}

/* Prints the reason and exits with ctest's skip code. */
static inline void qa_test_skip(const char *why) {
    printf("skipped: %s\n", why);
    fflush(stdout);
    exit(QA_TEST_SKIP_CODE);
}

/* The seed of a randomised test: QA_TEST_SEED when set, else the time; printed so that a
 * failure can be repeated. */
static inline uint64_t qa_test_seed(void) {
    const char *env = getenv("QA_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("seed %llu (set QA_TEST_SEED to repeat)\n", (unsigned long long)seed);
    return seed;
}

/* A fresh directory /tmp/qa_<tag>_XXXXXX, its path into buf. Returns 0 on success. */
static inline int qa_test_tmpdir(char *buf, size_t size, const char *tag) {
    snprintf(buf, size, "/tmp/qa_%s_XXXXXX", tag);
    return mkdtemp(buf) ? 0 : 1;
}

/* rm -rf of a directory made by qa_test_tmpdir (any other path is left alone). */
static inline void qa_test_rmtree(const char *dir) {
    if (strncmp(dir, "/tmp/qa_", 8) != 0) return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("warning: could not remove %s\n", dir);
}

#endif
