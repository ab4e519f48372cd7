/* Execution algorithms for the live order manager: a parent order is worked through
 * child orders by an IMMEDIATE, TWAP, VWAP or POV schedule on MARKET time (the UTC
 * nanosecond timestamps of the bars of a replay or feed), so a run is deterministic and
 * testable. docs/algos.md states the rules with worked examples.
 *
 * Protocol. A parent (signed shares, whole, > 0 buy) starts at the bar whose close made
 * the decision (time t0): qa_algo_start returns the first action. At every later bar
 * close of the parent's symbol the caller calls qa_algo_step with that bar, the parent's
 * filled quantity so far and the unfilled quantity of its one working child (0 if none,
 * e.g. after a fill, an expiry or a reject). The algo answers an action: cancel the
 * working child, or replace it (new total quantity and limit), or send a new child.
 * Children fill at later bars: that is the broker's business.
 *
 * Guarantees of every action (with `filled` and `working` as given):
 *   - at most one child works at a time: a new child is sent only when none works; more
 *     shares for a working child come as a replace of it;
 *   - |filled| + |working after the action| <= |qty|, and nothing has the opposite sign;
 *   - every new child and every replace quantity is whole shares >= min_child, except
 *     the parent's last remainder (fractional only when fills were fractional), and a
 *     replace never shrinks the working child except to respect max_participation;
 *   - with max_participation > 0, no child or replace quantity exceeds
 *     floor(max_participation x the last bar's volume); a bar with zero or NaN volume
 *     then sends nothing.
 *
 * State is plain old data (fixed size, no pointers): the live service checkpoints it as
 * bytes and a memcpy'd copy gives identical actions. The configuration is read-only and
 * may point to a VWAP profile, which the caller owns and keeps alive. */
#ifndef QA_TRADING_ALGO_H
#define QA_TRADING_ALGO_H

#include <stdint.h>  /* int64_t, uint32_t */

#include "common/config.h"  /* qa_cfg_t, qa_cfg_node: YAML binding */
#include "common/status.h"
#include "trading/orders.h" /* qa_order_bar */

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_algo_kind {
    QA_ALGO_IMMEDIATE = 0, /* everything at once */
    QA_ALGO_TWAP = 1,      /* `slices` equal slices over `window_ns` */
    QA_ALGO_VWAP = 2,      /* `slices` slices over `window_ns` sized by the volume profile */
    QA_ALGO_POV = 3,       /* pov_rate x each bar's volume until filled */
    QA_ALGO_KIND_COUNT = 4
} qa_algo_kind;

/* "immediate", "twap", "vwap", "pov", NULL. */
extern const char *const qa_algo_kind_names[];
/* The name of a kind, "?" outside the enum. */
const char *qa_algo_kind_name(qa_algo_kind k);

#define QA_ALGO_DAY_NS ((int64_t)86400 * 1000000000)
#define QA_ALGO_PROFILE_MAX 1440 /* buckets: 1-minute buckets of a day */

/* An intraday volume profile on UTC time of day: bucket b covers
 * [b x bucket_ns, (b + 1) x bucket_ns) after 00:00 UTC and frac[b] is the average
 * fraction of a day's volume traded by bars stamped in it; nbuckets x bucket_ns is one
 * day and the fractions sum to 1. Within a bucket volume is taken as uniform in time. */
typedef struct qa_algo_profile {
    int64_t bucket_ns;
    int nbuckets;
    int64_t ndays; /* (symbol, day) pairs averaged (learned profiles; 0 from an array) */
    double frac[QA_ALGO_PROFILE_MAX];
} qa_algo_profile;

/* Profile from `n` bucket weights (>= 0, finite, positive sum; normalised to sum 1).
 * bucket_ns x n must be one day. QA_ERR_INVALID_ARG otherwise. */
qa_status qa_algo_profile_from_array(const double *w, int n, int64_t bucket_ns, qa_algo_profile *out);

/* Learns the profile from a market file (datasets/store.h): for every symbol and UTC
 * day, each bar's volume as a fraction of that (symbol, day)'s total, summed into its
 * time-of-day bucket; averaged over the full (symbol, day) pairs. A pair is full when
 * the day has the most common number of timestamps of the file's days (half days are
 * left out), the symbol has a finite volume >= 0 at every one of them and a positive
 * total. bucket_ns must divide the day and give at most QA_ALGO_PROFILE_MAX buckets.
 * QA_ERR_NOT_FOUND when no pair is full. */
qa_status qa_algo_profile_learn(const char *market_file, int64_t bucket_ns, qa_algo_profile *out);

/* The fraction of the profile's volume between absolute times a <= b (ns; days wrap),
 * unnormalised: a whole day gives the sum of frac (1). */
double qa_algo_profile_volume(const qa_algo_profile *p, int64_t a, int64_t b);

typedef struct qa_algo_cfg {
    qa_algo_kind kind;
    int slices;               /* TWAP/VWAP: N >= 1 */
    int64_t window_ns;        /* TWAP/VWAP: W >= 0 of market time (0: all due at t0) */
    double pov_rate;          /* POV: (0, 1] of each bar's volume */
    double max_participation; /* every kind: cap per child / last bar volume; 0 = no cap */
    int child_limit;          /* 0: market children; 1: limit children */
    double offset_bps;        /* limit = close x (1 + side x offset_bps / 1e4); > 0 marketable */
    double replace_bps;       /* re-price a working limit child this far off the quote; 0 = never */
    double min_child;         /* >= 1 whole shares per child (the last remainder excepted) */
    const qa_algo_profile *profile; /* VWAP: required; owned by the caller */
} qa_algo_cfg;

/* kind immediate, 10 slices over 30 minutes, pov_rate 0.1, no participation cap,
 * market children, offset 0, replace_bps 0, min_child 1, no profile. */
void qa_algo_cfg_default(qa_algo_cfg *c);

/* Binds a YAML map onto `c` (keys absent keep c's values):
 *   kind: immediate|twap|vwap|pov   slices: N   window: seconds of market time
 *   pov_rate, max_participation, order: market|limit, offset_bps, replace_bps, min_child
 * Errors name file:line and the key. The profile is not in YAML: set c->profile. */
qa_status qa_algo_cfg_bind(const qa_cfg_t *cfg, const qa_cfg_node *map, qa_algo_cfg *c);

/* QA_ERR_INVALID_ARG naming the field when the configuration cannot run. */
qa_status qa_algo_cfg_check(const qa_algo_cfg *c);

#define QA_ALGO_STATE_VERSION 1u

typedef struct qa_algo_state {
    uint32_t version;     /* QA_ALGO_STATE_VERSION: checked by qa_algo_step */
    int32_t kind;         /* the cfg's kind at start: a step with another kind fails */
    int32_t cancelled;    /* set by qa_algo_cancel */
    int32_t child_limit;  /* the working child's type when it was sent or replaced */
    double qty;           /* the parent, signed whole shares */
    int64_t t0;           /* decision bar time */
    int64_t t_last;       /* last bar time seen: steps must move forward */
    double child_price;   /* the working child's limit price (NaN for market) */
    int64_t nchildren;    /* new children sent */
    int64_t nreplaces;    /* replaces sent */
} qa_algo_state;

/* One answer. At most one of cancel / replace / child_qty != 0 is set. */
typedef struct qa_algo_action {
    int cancel;           /* cancel the working child */
    int replace;          /* replace the working child: */
    double replace_qty;   /*   its new unfilled quantity, signed */
    double replace_price; /*   its new limit price (NaN for a market child) */
    double child_qty;     /* a new child, signed shares; 0 = none */
    int child_limit;      /* 1: limit order at child_price; 0: market (child_price NaN) */
    double child_price;
} qa_algo_action;

/* Starts a parent of `qty` signed whole shares at the decision bar (time t0, its bar
 * gives the close for limit prices and the volume for POV and the cap) and returns the
 * first action (which is a step at t0 with nothing filled or working). */
qa_status qa_algo_start(const qa_algo_cfg *c, qa_algo_state *s, double qty, int64_t t0,
                        const qa_order_bar *decision_bar, qa_algo_action *act);

/* One bar close at time t > the last time seen. `filled`: the parent's signed filled
 * shares so far; `working`: the signed unfilled shares of the working child (0 none).
 * QA_ERR_INVALID_ARG for a time that does not move forward, a missing close, or
 * filled/working of the wrong sign or beyond the parent; QA_ERR_STATE after a cancel or
 * with another kind than at start; QA_ERR_FORMAT for a state of another version. On
 * error the state and the action are unchanged. */
qa_status qa_algo_step(const qa_algo_cfg *c, qa_algo_state *s, int64_t t, const qa_order_bar *bar, double filled,
                       double working, qa_algo_action *act);

/* Cancels the parent: the action cancels the working child (when working != 0) and
 * later steps fail with QA_ERR_STATE. */
void qa_algo_cancel(qa_algo_state *s, double working, qa_algo_action *act);

/* 1 when nothing of the parent remains to fill. */
int qa_algo_done(const qa_algo_state *s, double filled);

/* The signed cumulative shares the schedule wants sent by time t (IMMEDIATE, TWAP,
 * VWAP: whole shares, reaching qty at the end of the window); NaN for POV, which has
 * no schedule. For reports and tests. */
double qa_algo_due(const qa_algo_cfg *c, const qa_algo_state *s, int64_t t);

#ifdef __cplusplus
}
#endif
#endif
