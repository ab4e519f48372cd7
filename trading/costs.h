/* Transaction costs, one model for the simulator, the live service's estimates and the
 * vectorized backtest's definitions (docs/backtest.md, "Cost model"):
 *
 *   cost(N, Q) = c_prop x N  +  fixed  +  N x coef x sigma x sqrt(Q / ADV)     (currency)
 *
 * for a trade of notional N (currency) = Q shares, with c_prop = (commission_bps +
 * half_spread_bps) x 1e-4, `fixed` charged once per order (the caller says when),
 * sigma the per-bar volatility of returns over `impact_vol_window` observations and ADV
 * the mean volume over `adv_window` observations including the bar. The vectorized
 * engine's per-bar cost of a weight change delta on equity E(i-1)·capital is exactly
 * cost(N = delta·E(i-1)·capital, Q = N / close(i)). */
#ifndef QA_TRADING_COSTS_H
#define QA_TRADING_COSTS_H

#include "trading/rules.h" /* qa_rules_costs */

#ifdef __cplusplus
extern "C" {
#endif

/* c_prop = (commission_bps + half_spread_bps) x 1e-4, the same expression as the
 * vectorized engine's. */
double qa_cost_prop_rate(const qa_rules_costs *m);

/* cost(N, Q) above; `with_fixed` adds the fixed fee; N = 0 costs nothing. sigma and adv
 * are ignored when the impact is off. */
double qa_cost_of(const qa_rules_costs *m, double notional, double shares, double sigma, double adv, int with_fixed);

/* The impact inputs of observation i from the observation arrays r (returns, r[0]
 * unused) and v (volumes), evaluated in the vectorized engine's canonical order:
 * sigma = std(r[i-iw+1..i]), adv = mean(v[i-aw+1..i]). Returns 0 (and NaNs) while a
 * window is not full (i < iw or i < aw - 1); such bars do not trade. */
int qa_cost_impact_inputs(const qa_rules_costs *m, const double *r, const double *v, long i, double *sigma, double *adv);

#ifdef __cplusplus
}
#endif
#endif
