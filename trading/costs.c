/* Transaction cost model: proportional, fixed per order and square-root impact. */
#include "trading/costs.h"

#include <math.h>  /* sqrt, isfinite, NAN */

#include "kernels/backtest_core.h" /* canonical window sums */

void qa_cost_model_from_bt(const qa_bt_settings *s, qa_cost_model *m) {
    m->commission_bps = s->commission_bps;
    m->half_spread_bps = s->half_spread_bps;
    m->fixed = s->fixed_cost;
    m->impact_coef = s->impact_coef;
    m->adv_window = s->adv_window;
    m->impact_vol_window = s->impact_vol_window;
}

static int nonneg(double x) { return isfinite(x) && x >= 0.0; }

qa_status qa_cost_model_validate(const qa_cost_model *m) {
    if (!nonneg(m->commission_bps) || !nonneg(m->half_spread_bps) || !nonneg(m->fixed) || !nonneg(m->impact_coef))
        return QA_FAIL(QA_ERR_CONFIG,
                       "costs must be finite and >= 0 (commission_bps %g, half_spread_bps %g, fixed_cost %g, impact_coef %g)",
                       m->commission_bps, m->half_spread_bps, m->fixed, m->impact_coef);
    if (m->impact_coef > 0.0 && (m->adv_window < 1 || m->impact_vol_window < 2))
        return QA_FAIL(QA_ERR_CONFIG, "impact: adv_window %d must be >= 1 and impact_vol_window %d >= 2", m->adv_window,
                       m->impact_vol_window);
    return QA_OK;
}

double qa_cost_prop_rate(const qa_cost_model *m) { return (m->commission_bps + m->half_spread_bps) * 1e-4; }

double qa_cost_of(const qa_cost_model *m, double notional, double shares, double sigma, double adv, int with_fixed) {
    if (!(notional > 0.0)) return 0.0;
    double c = qa_cost_prop_rate(m) * notional;
    if (with_fixed && m->fixed > 0.0) c += m->fixed;
    if (m->impact_coef > 0.0) c += notional * m->impact_coef * sigma * sqrt(shares / adv);
    return c;
}

int qa_cost_impact_inputs(const qa_cost_model *m, const double *r, const double *v, long i, double *sigma, double *adv) {
    long aw = m->adv_window, iw = m->impact_vol_window;
    *sigma = NAN;
    *adv = NAN;
    if (i < aw - 1 || i < iw) return 0;
    *adv = qa_bt_mean_at(v, i, aw);
    double mr = qa_bt_mean_at(r, i, iw);
    *sigma = qa_bt_std_from_ss(qa_bt_ss_at(r, i, iw, mr), iw);
    return 1;
}
