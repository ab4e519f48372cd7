/* Segment engine of the optimised CPU backtest (private to backtest_cpu*.c; prefix
 * qa_bt_seg_). See backtest_cpu_seg.c for the method and docs/backtest.md ("Engines and
 * tolerances") for what it guarantees. */
#ifndef QA_KERNELS_BACKTEST_SEG_H
#define QA_KERNELS_BACKTEST_SEG_H

#include <stdint.h>

#define QA_BT_SEG_LANES 8 /* lanes (parameter sets) per path loop: two groups of 4 */

/* Prefix sums of x(j) = fraction * r(j) over a run's P&L bars; entry k covers bars < k.
 * Each sum is a double-double (value, compensation; Knuth's TwoSum): a segment's sum is
 * the difference of two prefixes much larger than itself, and plain prefixes would carry
 * ~n eps of the whole run's sum into every segment (measured: 2e-11 relative in a
 * Sortino over 900 bars). */
typedef struct qa_bt_seg_pfx {
    double s1, c1;     /* sum of x */
    double s2, c2;     /* sum of x^2 */
    double sneg, cneg; /* sum of x^2 over x < 0 */
    int32_t npos, nneg; /* bars with x > 0, x < 0 */
} qa_bt_seg_pfx;

/* The drawdown path of 8 lanes, carried from chunk to chunk. Lowest equity/peak is the
 * fraction rn / rd (see qa_bt_seg_path). */
typedef struct qa_bt_seg_state {
    double q[QA_BT_SEG_LANES];     /* direction -1, 0, +1 */
    double E[QA_BT_SEG_LANES];     /* equity */
    double peak[QA_BT_SEG_LANES];  /* running maximum of the equity (1 at the start) */
    double rn[QA_BT_SEG_LANES], rd[QA_BT_SEG_LANES];
    double uw[QA_BT_SEG_LANES], maxuw[QA_BT_SEG_LANES]; /* underwater run, longest */
} __attribute__((aligned(64))) qa_bt_seg_state;

/* A bar where at least one of the 8 lanes changes direction. */
typedef struct qa_bt_seg_event {
    double q[QA_BT_SEG_LANES], s[QA_BT_SEG_LANES]; /* direction before and after the bar */
    double R[QA_BT_SEG_LANES];                     /* the bar's P&L (meaningful where q != s) */
    long j;                                        /* P&L bar */
    unsigned mask;                                 /* bit l: lane l changed (q != s) */
} __attribute__((aligned(64))) qa_bt_seg_event;

/* One lane's sums, closed segment by segment. */
typedef struct qa_bt_seg_acc {
    double sum, sumsq, down, turn;
    int64_t held, wins, trades;
    long e; /* P&L bar of the open segment's entry (-1: the base bar) */
} qa_bt_seg_acc;

/* The code of 4 lanes' signals s[0..4) (-1, 0, +1 each): s0 + 3 s1 + 9 s2 + 27 s3, distinct
 * for every combination and exact in double, so one comparison per bar tells whether
 * any of the 4 changed. Phase A writes it per bar (its vector loop spells the same sum). */
static inline double qa_bt_seg_code(const double *s) { return s[0] + 3.0 * s[1] + 9.0 * s[2] + 27.0 * s[3]; }

/* Fills pf[0..m] from the returns r[0..m). Returns 0 when some factor 1 +- x is not a
 * positive finite number (a lane could be ruined there: the caller takes the per-bar
 * engine, which hands ruined runs to the reference). */
int qa_bt_seg_prefix(const double *r, long m, double fraction, qa_bt_seg_pfx *pf);

void qa_bt_seg_state_init(qa_bt_seg_state *st);
void qa_bt_seg_acc_init(qa_bt_seg_acc *a);

/* The running equity factors of a chunk from its first bar: wp for a long, wm for a
 * short position of size `fraction` (the reference's 1 + R, R = +-fraction * r). */
void qa_bt_seg_factors(const double *r, long cm, double fraction, double *wp, double *wm);

/* The per-bar loop over a chunk of cm bars (first P&L bar j0) for the 8 lanes of st:
 * the equity, its peak, the lowest equity/peak and the underwater runs; at a bar whose
 * code differs from the previous one (code0 for lanes 0-3, code1 for 4-7, each
 * s0 + 3 s1 + 9 s2 + 27 s3) the lanes whose signal changed (lane l's at sig[l * stride +
 * jj]) are booked with the reference's P&L and the bar is appended to ev. Returns the
 * number of events (at most cm). The AVX-512 and the portable bodies give the same bits. */
long qa_bt_seg_path(qa_bt_seg_state *st, const double *code0, const double *code1, const double *sig, long stride,
                    const double *wp, const double *wm, const double *r, long cm, long j0, double fraction,
                    double cprop, qa_bt_seg_event *ev);

/* Books the events ev[0..nev) into the accumulators acc[0..8) of their lanes: each
 * changed lane's held segment (from the prefix sums pf) and the change bar itself. */
void qa_bt_seg_book(const qa_bt_seg_pfx *pf, const qa_bt_seg_event *ev, long nev, double fraction,
                    qa_bt_seg_acc *acc);

/* Closes a lane's segment still open at the end of the run (m P&L bars), direction q. */
void qa_bt_seg_finish(const qa_bt_seg_pfx *pf, double q, long m, qa_bt_seg_acc *acc);

#endif
