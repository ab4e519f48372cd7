/* Transaction cost model: proportional, fixed per order and square-root impact. */
#include "trading/costs.h"

#include <math.h>  /* sqrt, NAN */

#include "kernels/backtest_rules.h" /* canonical window sums */

double qa_cost_prop_rate(const qa_rules_costs *m) { return (m->commission_bps + m->half_spread_bps) * 1e-4; }

double qa_cost_of(const qa_rules_costs *m, double notional, double shares, double sigma, double adv, int with_fixed) {
    if (!(notional > 0.0)) return 0.0;
    double c = qa_cost_prop_rate(m) * notional;
    if (with_fixed && m->fixed_cost > 0.0) c += m->fixed_cost;
    if (m->impact_coef > 0.0) c += notional * m->impact_coef * sigma * sqrt(shares / adv);
    return c;
}

int qa_cost_impact_inputs(const qa_rules_costs *m, const double *r, const double *v, long i, double *sigma, double *adv) {
    long aw = m->adv_window, iw = m->impact_vol_window;
    *sigma = NAN;
    *adv = NAN;
    if (i < aw - 1 || i < iw) return 0;
    *adv = qa_bt_mean_at(v, i, aw);
    double mr = qa_bt_mean_at(r, i, iw);
    *sigma = qa_bt_std_from_ss(qa_bt_ss_at(r, i, iw, mr), iw);
    return 1;
}
