/* The reference LSTM cell (the oracle of the CPU and CUDA paths): the gate formulas of
 * docs/nn.md with libm's expf and tanhf, one hidden unit at a time. */
#include "kernels/nn_impl.h"

#include <math.h>  /* expf, tanhf */

void qa_nn_ref_lstm_cell(int H, float *g, const float *bs, const float *cprev, float *c, float *tc, float *h) {
    for (int j = 0; j < H; j++) {
        float i = 1.0f / (1.0f + expf(-(g[j] + bs[j]))), f = 1.0f / (1.0f + expf(-(g[H + j] + bs[H + j])));
        float gg = tanhf(g[2 * H + j] + bs[2 * H + j]), o = 1.0f / (1.0f + expf(-(g[3 * H + j] + bs[3 * H + j])));
        float cn = f * cprev[j] + i * gg, t = tanhf(cn);
        g[j] = i, g[H + j] = f, g[2 * H + j] = gg, g[3 * H + j] = o;
        c[j] = cn, tc[j] = t, h[j] = o * t;
    }
}
