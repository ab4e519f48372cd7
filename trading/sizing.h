/* Position sizing shared by the simulator, the live service and the vectorized
 * definitions (docs/backtest.md, "Sizing"): a target weight (fraction of equity) from
 * fixed-fraction or volatility-targeting rules, capped Kelly for the live service (it
 * needs a model's expected return), and the conversion to shares.
 *
 *   fixed:       |w| = fraction
 *   vol target:  |w| = min(target_vol / (std(r, vol_window) x sqrt(bars_per_year)), max_leverage)
 *                (std of the last vol_window returns including the bar; sigma = 0 gives
 *                max_leverage; undefined, i.e. no position, until the window is full)
 * Evaluated with the vectorized engine's canonical operations, so the weights are the
 * same numbers bit for bit. */
#ifndef QA_TRADING_SIZING_H
#define QA_TRADING_SIZING_H

#include "trading/rules.h" /* qa_rules: sizing and bars_per_year */

#ifdef __cplusplus
extern "C" {
#endif

/* |w| = min(target_vol / (sd_bar x sqrt(bars_per_year)), max_leverage). */
double qa_sizing_vol_target(const qa_rules *z, double sd_bar);

/* Capped Kelly (live sizing): |w| = min(kelly_fraction x |mu_bar| / sd_bar^2, max_leverage)
 * for an expected return mu_bar per bar (a return model's score over its horizon) and the
 * realised per-bar sd. The full Kelly weight of a small bet with mean mu and variance
 * sigma^2 is mu / sigma^2; a fraction of it trades growth for much lower variance, and the
 * cap bounds leverage when sigma is tiny (sd 0 gives the cap; a non-finite mu gives 0). */
double qa_sizing_kelly(const qa_rules *z, double mu_bar, double sd_bar);

/* The per-bar sd of the returns r[i - vol_window + 1 .. i] (r[0] unused) by the vectorized
 * engine's canonical operations. Returns 0 (and *sd NaN) while i < vol_window. */
int qa_sizing_sd(const qa_rules *z, const double *r, long i, double *sd);
/* |w| of observation i from the returns r (r[0] unused). Returns 0 (and *size 0) while
 * the vol window is not full (i < vol_window); 1 otherwise. */
int qa_sizing_size(const qa_rules *z, const double *r, long i, double *size);

/* Shares of a target weight w of `base` equity at `price`: w x base / price. */
double qa_sizing_shares(double w, double base, double price);

/* Whole shares of a target, rounded half up (floor(x + 0.5)): the one rounding of the
 * live execution stage and of the simulator's `whole_shares`, so both trade the same
 * quantities. */
double qa_sizing_whole(double shares);

#ifdef __cplusplus
}
#endif
#endif
