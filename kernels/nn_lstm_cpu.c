/* CPU LSTM: forward and backward through time. One code path for both variants: with
 * `ref` the GEMMs and the cell are the reference building blocks (nn_ref.c,
 * nn_lstm_ref.c: plain triple loops, libm gates); without it the input projection of all time steps is one OpenBLAS GEMM, each step adds
 * one batched recurrent GEMM, and the gate math is the vectorised fast form over OpenMP
 * threads. Shapes and formulas: kernels/nn_lstm.h and docs/nn.md.
 *
 * Saved state per layer, rows (b, t) in batch-major order like x: the post-activation
 * gates [B*L x 4H] (i, f, g, o), c [B*L x H], tanh(c) [B*L x H] and h [B*L x H]. */
#include "kernels/nn_impl.h"

#include <math.h>    /* NAN */
#include <string.h>  /* memcpy, memset */


/* Views into the cache for a call with `batch` rows (strides use the actual batch; the
 * per-layer blocks are sized for the maximum batch). */
typedef struct lstm_views {
    size_t blh;     /* max batch * L * H: one per-layer block unit */
    float *base;    /* layers x 7 blh: gates (4), c, tc, h */
    float *dg;      /* 4 blh: gate gradients of the current layer */
    float *dseq[2]; /* 2 x blh: gradients w.r.t. a layer's output sequence */
    float *hprev;   /* blh: h shifted one step (row (b, t) = h_{t-1}, 0 at t = 0) */
    float *dh;      /* max batch * H: recurrent dh */
    float *dc;      /* max batch * H: running dc */
    float *zero;    /* H zeros: c_{-1} */
    float *gsum;    /* 4H: b_ih + b_hh (forward); column sums of dg (backward) */
} lstm_views;

size_t qa_nn_cpu_lstm_cache_floats(const qa_nn_lstm_shape *s) {
    size_t blh = (size_t)s->batch * s->seq_len * s->hidden, bh = (size_t)s->batch * s->hidden;
    return (size_t)s->layers * 7 * blh + 4 * blh + 3 * blh + 2 * bh + 5 * (size_t)s->hidden;
}

static lstm_views views_of(const qa_nn_lstm_shape *s, float *cache) {
    lstm_views v;
    v.blh = (size_t)s->batch * s->seq_len * s->hidden;
    size_t bh = (size_t)s->batch * s->hidden;
    v.base = cache;
    v.dg = cache + (size_t)s->layers * 7 * v.blh;
    v.dseq[0] = v.dg + 4 * v.blh;
    v.dseq[1] = v.dseq[0] + v.blh;
    v.hprev = v.dseq[1] + v.blh;
    v.dh = v.hprev + v.blh;
    v.dc = v.dh + bh;
    v.zero = v.dc + bh;
    v.gsum = v.zero + s->hidden;
    return v;
}

static float *gates_of(const lstm_views *v, int l) { return v->base + (size_t)l * 7 * v->blh; }
static float *c_of(const lstm_views *v, int l) { return gates_of(v, l) + 4 * v->blh; }
static float *tc_of(const lstm_views *v, int l) { return gates_of(v, l) + 5 * v->blh; }
static float *h_of(const lstm_views *v, int l) { return gates_of(v, l) + 6 * v->blh; }

static int in_size(const qa_nn_lstm_shape *s, int l) { return l == 0 ? s->input : s->hidden; }

/* ---- cell -------------------------------------------------------------------------------------- */

/* g: one (b, t) row of the 4H GEMM outputs W_ih x_t + W_hh h_{t-1}, plus the bias sum
 * bs = b_ih + b_hh, replaced by the gate values i, f, g, o; cprev: c_{t-1}. */
QA_NN_SIMD_BODY void cell_forward_body(int ref, int H, float *g, const float *bs, const float *cprev, float *c, float *tc, float *h) {
    if (ref) {
        qa_nn_ref_lstm_cell(H, g, bs, cprev, c, tc, h);
        return;
    }
#pragma omp simd
    for (int j = 0; j < H; j++) {
        float i = qa_nn_sigmoid_fast(g[j] + bs[j]), f = qa_nn_sigmoid_fast(g[H + j] + bs[H + j]);
        float gg = qa_nn_tanh_fast(g[2 * H + j] + bs[2 * H + j]), o = qa_nn_sigmoid_fast(g[3 * H + j] + bs[3 * H + j]);
        float cn = f * cprev[j] + i * gg, t = qa_nn_tanh_fast(cn);
        g[j] = i, g[H + j] = f, g[2 * H + j] = gg, g[3 * H + j] = o;
        c[j] = cn, tc[j] = t, h[j] = o * t;
    }
}
QA_NN_SIMD_DISPATCH(cell_forward, (int ref, int H, float *g, const float *bs, const float *cprev, float *c, float *tc, float *h), (ref, H, g, bs, cprev, c, tc, h))

void qa_nn_cpu_lstm_cell(int ref, int H, float *g, const float *bs, const float *cprev, float *c, float *tc, float *h) {
    cell_forward(ref, H, g, bs, cprev, c, tc, h);
}

/* One (b, t) row backward: dh = dseq + dh_rec; dc is carried from t+1 and replaced by
 * dc * f for t-1; dg receives the 4H pre-activation gradients. */
QA_NN_SIMD_BODY void cell_backward_body(int H, const float *gt, const float *cprev, const float *tc, const float *dseq,
                          const float *dhr, float *dc, float *dg) {
#pragma omp simd
    for (int j = 0; j < H; j++) {
        float i = gt[j], f = gt[H + j], g = gt[2 * H + j], o = gt[3 * H + j], t = tc[j];
        float dh = dseq[j] + dhr[j];
        float dct = dc[j] + dh * o * (1.0f - t * t);
        dg[j] = dct * g * i * (1.0f - i);
        dg[H + j] = dct * cprev[j] * f * (1.0f - f);
        dg[2 * H + j] = dct * i * (1.0f - g * g);
        dg[3 * H + j] = dh * t * o * (1.0f - o);
        dc[j] = dct * f;
    }
}
QA_NN_SIMD_DISPATCH(cell_backward, (int H, const float *gt, const float *cprev, const float *tc, const float *dseq, const float *dhr, float *dc, float *dg), (H, gt, cprev, tc, dseq, dhr, dc, dg))

/* ---- forward ---------------------------------------------------------------------------------------- */

static void layer_forward(int ref, int threads, int B, int L, int in, int H, const float *xin, const float *p,
                          float *gates, float *c, float *tc, float *h, const float *zero, float *bsum) {
    const int G = 4 * H;
    const float *w_ih = p, *w_hh = w_ih + (size_t)G * in, *b_ih = w_hh + (size_t)G * H, *b_hh = b_ih + G;
    const size_t rows = (size_t)B * L;
    const int th = ref ? 1 : threads;
    (void)th;
    for (int j = 0; j < G; j++) bsum[j] = b_ih[j] + b_hh[j]; /* added in the cell */
    /* gates = x W_ih^T for all time steps at once: [B*L x in] x [in x 4H] */
    qa_nn_cpu_gemm(ref, threads, 0, 1, (int)rows, G, in, 1.0f, xin, in, w_ih, in, 0.0f, gates, G);
    for (int t = 0; t < L; t++) {
        /* rows (b, t) for all b: stride L*G in gates, L*H in h */
        if (t > 0)
            qa_nn_cpu_gemm(ref, threads, 0, 1, B, G, H, 1.0f, h + (size_t)(t - 1) * H, L * H, w_hh, H, 1.0f,
                           gates + (size_t)t * G, L * G);
#pragma omp parallel for num_threads(th) if (th > 1 && (size_t)B * H >= 4096)
        for (int b = 0; b < B; b++) {
            size_t row = (size_t)b * L + t;
            const float *cprev = t > 0 ? c + (row - 1) * H : zero;
            cell_forward(ref, H, gates + row * G, bsum, cprev, c + row * H, tc + row * H, h + row * H);
        }
    }
}

void qa_nn_cpu_lstm_forward(int ref, int threads, const qa_nn_lstm_shape *s, int batch,
                            const float *params, const float *x, float *cache, float *h_last,
                            float *y_seq) {
    lstm_views v = views_of(s, cache);
    const int L = s->seq_len, H = s->hidden;
    memset(v.zero, 0, (size_t)H * sizeof *v.zero); /* c_{-1} = 0 */
    const float *xin = x;
    for (int l = 0; l < s->layers; l++) {
        const float *p = params + qa_nn_lstm_param_offset(s, l, QA_NN_LSTM_W_IH);
        layer_forward(ref, threads, batch, L, in_size(s, l), H, xin, p, gates_of(&v, l), c_of(&v, l), tc_of(&v, l),
                      h_of(&v, l), v.zero, v.gsum);
        xin = h_of(&v, l);
    }
    const float *top = h_of(&v, s->layers - 1);
    for (int b = 0; b < batch; b++)
        memcpy(h_last + (size_t)b * H, top + ((size_t)b * L + (L - 1)) * H, (size_t)H * sizeof *h_last);
    if (y_seq) memcpy(y_seq, top, (size_t)batch * L * H * sizeof *y_seq);
}

/* ---- backward ------------------------------------------------------------------------------------------ */

static void layer_backward(int ref, int threads, int B, int L, int in, int H, const float *xin, const float *p,
                           const float *gates, const float *c, const float *tc, const float *h, const float *dseq,
                           const lstm_views *v, float *dx, float *dp) {
    const int G = 4 * H;
    const float *w_ih = p, *w_hh = w_ih + (size_t)G * in;
    float *dw_ih = dp, *dw_hh = dw_ih + (size_t)G * in, *db_ih = dw_hh + (size_t)G * H, *db_hh = db_ih + G;
    const size_t rows = (size_t)B * L;
    const int th = ref ? 1 : threads;
    (void)th;
    float *dg = v->dg, *dhr = v->dh, *dc = v->dc;
    memset(dhr, 0, (size_t)B * H * sizeof *dhr);
    memset(dc, 0, (size_t)B * H * sizeof *dc);
    for (int t = L - 1; t >= 0; t--) {
#pragma omp parallel for num_threads(th) if (th > 1 && (size_t)B * H >= 4096)
        for (int b = 0; b < B; b++) {
            size_t row = (size_t)b * L + t;
            const float *cprev = t > 0 ? c + (row - 1) * H : v->zero;
            cell_backward(H, gates + row * G, cprev, tc + row * H, dseq + row * H, dhr + (size_t)b * H,
                          dc + (size_t)b * H, dg + row * G);
        }
        if (t > 0) /* dh_{t-1} from the recurrence: dG[:, t] W_hh, [B x 4H] x [4H x H] */
            qa_nn_cpu_gemm(ref, threads, 0, 0, B, H, G, 1.0f, dg + (size_t)t * G, L * G, w_hh, H, 0.0f, dhr, H);
    }
    /* dW_ih += dG^T X and dW_hh += dG^T Hprev, each one GEMM over all (b, t) rows;
     * Hprev row (b, t) = h_{t-1} (0 at t = 0): h shifted down one row within each b */
    qa_nn_cpu_gemm(ref, threads, 1, 0, G, in, (int)rows, 1.0f, dg, G, xin, in, 1.0f, dw_ih, in);
    for (int b = 0; b < B; b++) {
        float *hp = v->hprev + (size_t)b * L * H;
        memset(hp, 0, (size_t)H * sizeof *hp);
        memcpy(hp + H, h + (size_t)b * L * H, (size_t)(L - 1) * H * sizeof *hp);
    }
    qa_nn_cpu_gemm(ref, threads, 1, 0, G, H, (int)rows, 1.0f, dg, G, v->hprev, H, 1.0f, dw_hh, H);
    /* both biases enter z the same way: db_ih = db_hh = column sums of dG */
    qa_nn_cpu_colsum(ref, threads, (int)rows, G, dg, v->gsum, 0);
    for (int j = 0; j < G; j++) {
        db_ih[j] += v->gsum[j];
        db_hh[j] += v->gsum[j];
    }
    if (dx) qa_nn_cpu_gemm(ref, threads, 0, 0, (int)rows, in, G, 1.0f, dg, G, w_ih, in, 0.0f, dx, in);
}

void qa_nn_cpu_lstm_backward(int ref, int threads, const qa_nn_lstm_shape *s, int batch,
                             const float *params, const float *x, const float *dh_last,
                             const float *dy_seq, float *dx, float *dparams, int accumulate,
                             float *cache) {
    lstm_views v = views_of(s, cache);
    const int L = s->seq_len, H = s->hidden, top = s->layers - 1;
    const size_t blh = (size_t)batch * L * H;
    if (!accumulate) memset(dparams, 0, qa_nn_lstm_param_count(s) * sizeof *dparams);
    memset(v.zero, 0, (size_t)H * sizeof *v.zero);
    /* incoming gradient on the top layer's output sequence */
    float *dseq = v.dseq[0];
    if (dy_seq) memcpy(dseq, dy_seq, blh * sizeof *dseq);
    else memset(dseq, 0, blh * sizeof *dseq);
    if (dh_last)
        for (int b = 0; b < batch; b++) {
            float *row = dseq + ((size_t)b * L + (L - 1)) * H;
            for (int j = 0; j < H; j++) row[j] += dh_last[(size_t)b * H + j];
        }
    for (int l = top; l >= 0; l--) {
        const float *xin = l == 0 ? x : h_of(&v, l - 1);
        float *dxl = l == 0 ? dx : v.dseq[(top - l + 1) % 2]; /* becomes layer l-1's dseq */
        size_t off = qa_nn_lstm_param_offset(s, l, QA_NN_LSTM_W_IH);
        layer_backward(ref, threads, batch, L, in_size(s, l), H, xin, params + off, gates_of(&v, l), c_of(&v, l),
                       tc_of(&v, l), h_of(&v, l), dseq, &v, dxl, dparams + off);
        dseq = dxl;
    }
}
