/* Position sizing: fixed fraction and volatility targeting, canonical evaluation. */
#include "trading/sizing.h"

#include <math.h>  /* sqrt */

#include "kernels/backtest_core.h" /* canonical window sums */

void qa_sizing_from_bt(const qa_bt_settings *s, qa_sizing *z) {
    z->method = s->sizing;
    z->fraction = s->fraction;
    z->target_vol = s->target_vol;
    z->vol_window = s->vol_window;
    z->max_leverage = s->max_leverage;
    z->bars_per_year = s->bars_per_year;
}

double qa_sizing_vol_target(const qa_sizing *z, double sd_bar) {
    /* the vectorized engine's expression (qa_bt_size_vol): sqrt(bpy) computed once */
    double sz = z->target_vol / (sd_bar * sqrt(z->bars_per_year));
    return sz < z->max_leverage ? sz : z->max_leverage; /* sd 0 -> inf -> capped */
}

int qa_sizing_size(const qa_sizing *z, const double *r, long i, double *size) {
    if (z->method != QA_BT_SIZE_VOL_TARGET) {
        *size = z->fraction;
        return 1;
    }
    long w = z->vol_window;
    if (i < w) {
        *size = 0.0;
        return 0;
    }
    double m = qa_bt_mean_at(r, i, w);
    *size = qa_sizing_vol_target(z, qa_bt_std_from_ss(qa_bt_ss_at(r, i, w, m), w));
    return 1;
}

double qa_sizing_shares(double w, double base, double price) { return w * base / price; }
