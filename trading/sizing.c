/* Position sizing: fixed fraction and volatility targeting, canonical evaluation. */
#include "trading/sizing.h"

#include <math.h>  /* sqrt */

#include "kernels/backtest_rules.h" /* canonical window sums */

double qa_sizing_vol_target(const qa_rules *z, double sd_bar) {
    /* the vectorized engine's expression (qa_bt_size_vol): sqrt(bpy) computed once */
    double sz = z->sizing.target_vol / (sd_bar * sqrt(z->bars_per_year));
    return sz < z->sizing.max_leverage ? sz : z->sizing.max_leverage; /* sd 0 -> inf -> capped */
}

int qa_sizing_size(const qa_rules *z, const double *r, long i, double *size) {
    if (z->sizing.method != QA_BT_SIZE_VOL_TARGET) {
        *size = z->sizing.fraction;
        return 1;
    }
    long w = z->sizing.vol_window;
    if (i < w) {
        *size = 0.0;
        return 0;
    }
    double m = qa_bt_mean_at(r, i, w);
    *size = qa_sizing_vol_target(z, qa_bt_std_from_ss(qa_bt_ss_at(r, i, w, m), w));
    return 1;
}

double qa_sizing_shares(double w, double base, double price) { return w * base / price; }
