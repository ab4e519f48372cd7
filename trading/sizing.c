/* Position sizing: fixed fraction and volatility targeting, canonical evaluation. */
#include "trading/sizing.h"

#include <math.h>  /* sqrt, fabs, floor, isfinite, NAN */

#include "kernels/backtest_rules.h" /* canonical window sums */

double qa_sizing_vol_target(const qa_rules *z, double sd_bar) {
    /* the vectorized engine's expression (qa_bt_size_vol): sqrt(bpy) computed once */
    double sz = z->sizing.target_vol / (sd_bar * sqrt(z->bars_per_year));
    return sz < z->sizing.max_leverage ? sz : z->sizing.max_leverage; /* sd 0 -> inf -> capped */
}

double qa_sizing_kelly(const qa_rules *z, double mu_bar, double sd_bar) {
    if (!isfinite(mu_bar)) return 0.0;
    double k = z->sizing.kelly_fraction * fabs(mu_bar) / (sd_bar * sd_bar);
    return k < z->sizing.max_leverage ? k : z->sizing.max_leverage; /* sd 0 -> inf -> capped */
}

int qa_sizing_sd(const qa_rules *z, const double *r, long i, double *sd) {
    long w = z->sizing.vol_window;
    if (i < w) {
        *sd = NAN;
        return 0;
    }
    double m = qa_bt_mean_at(r, i, w);
    *sd = qa_bt_std_from_ss(qa_bt_ss_at(r, i, w, m), w);
    return 1;
}

int qa_sizing_size(const qa_rules *z, const double *r, long i, double *size) {
    if (z->sizing.method != QA_BT_SIZE_VOL_TARGET) {
        *size = z->sizing.fraction;
        return 1;
    }
    double sd;
    if (!qa_sizing_sd(z, r, i, &sd)) {
        *size = 0.0;
        return 0;
    }
    *size = qa_sizing_vol_target(z, sd);
    return 1;
}

double qa_sizing_shares(double w, double base, double price) { return w * base / price; }

double qa_sizing_whole(double shares) { return floor(shares + 0.5); }
