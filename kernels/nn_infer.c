/* CPU inference of a small dense MLP for the live service: one row (or a few) through
 * all layers on the calling thread, in a caller-sized workspace, with no allocation,
 * no locks and no BLAS threading. Same parameter layout and activation math (the fast
 * vectorised forms) as the training layers. */
#include "kernels/nn.h"

#include "kernels/nn_act.h"      /* QA_NN_SIMD_DISPATCH */
#include "kernels/nn_internal.h" /* qa_nn_cpu_bias_act_forward */

qa_status qa_nn_mlp_check(const qa_nn_mlp_spec *spec) {
    if (!spec) return QA_FAIL(QA_ERR_INVALID_ARG, "mlp: NULL spec");
    if (spec->n_layers < 1 || spec->n_layers > QA_NN_MLP_MAX_LAYERS)
        return QA_FAIL(QA_ERR_INVALID_ARG, "mlp: %d layers (expected 1..%d)", spec->n_layers, QA_NN_MLP_MAX_LAYERS);
    for (int l = 0; l <= spec->n_layers; l++)
        if (spec->sizes[l] < 1 || spec->sizes[l] > (1 << 20))
            return QA_FAIL(QA_ERR_INVALID_ARG, "mlp: layer width sizes[%d] = %d out of range", l, spec->sizes[l]);
    if (spec->act < 0 || spec->act >= QA_NN_ACT_COUNT)
        return QA_FAIL(QA_ERR_INVALID_ARG, "mlp: unknown activation %d", (int)spec->act);
    return QA_OK;
}

size_t qa_nn_mlp_weight_offset(const qa_nn_mlp_spec *spec, int layer) {
    size_t off = 0;
    for (int l = 0; l < layer; l++) off += (size_t)spec->sizes[l + 1] * ((size_t)spec->sizes[l] + 1);
    return off;
}

size_t qa_nn_mlp_param_count(const qa_nn_mlp_spec *spec) { return qa_nn_mlp_weight_offset(spec, spec->n_layers); }

/* Two ping-pong activation buffers of the widest hidden layer. */
size_t qa_nn_mlp_workspace_floats(const qa_nn_mlp_spec *spec, int max_batch) {
    int widest = 1;
    for (int l = 1; l < spec->n_layers; l++) widest = spec->sizes[l] > widest ? spec->sizes[l] : widest;
    return 2 * (size_t)widest * (size_t)(max_batch > 0 ? max_batch : 1);
}

/* out[r][o] = sum_i w[o][i] * x[r][i], four outputs at a time (four independent vector
 * accumulators sharing each load of x: as fast as OpenBLAS sgemv for one row, without
 * its call overhead). Each group of weight rows is read once for all rows of the batch.
 * The vectorised sums' order depends on the SIMD width (AVX-512, AVX2 or SSE2 version), so results
 * can differ in the last bits between machines. */
QA_NN_SIMD_BODY void dense_body(int batch, int in, int out, const float *x, const float *w, float *y) {
    int o = 0;
    for (; o + 4 <= out; o += 4) {
        const float *w0 = w + (size_t)o * in, *w1 = w0 + in, *w2 = w1 + in, *w3 = w2 + in;
        for (int r = 0; r < batch; r++) {
            const float *xr = x + (size_t)r * in;
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
            for (int i = 0; i < in; i++) {
                float xi = xr[i];
                a0 += w0[i] * xi;
                a1 += w1[i] * xi;
                a2 += w2[i] * xi;
                a3 += w3[i] * xi;
            }
            float *yr = y + (size_t)r * out + o;
            yr[0] = a0, yr[1] = a1, yr[2] = a2, yr[3] = a3;
        }
    }
    for (; o < out; o++) {
        const float *wo = w + (size_t)o * in;
        for (int r = 0; r < batch; r++) {
            const float *xr = x + (size_t)r * in;
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int i = 0; i < in; i++) acc += wo[i] * xr[i];
            y[(size_t)r * out + o] = acc;
        }
    }
}
QA_NN_SIMD_DISPATCH(dense, (int batch, int in, int out, const float *x, const float *w, float *y), (batch, in, out, x, w, y))

qa_status qa_nn_mlp_infer(const qa_nn_mlp_spec *spec, const float *params, int batch,
                          const float *x, float *y, float *work, size_t work_floats) {
    qa_status st = qa_nn_mlp_check(spec);
    if (st != QA_OK) return st;
    if (batch < 0) return QA_FAIL(QA_ERR_INVALID_ARG, "mlp: batch %d", batch);
    if (batch == 0) return QA_OK;
    if (!params || !x || !y) return QA_FAIL(QA_ERR_INVALID_ARG, "mlp: NULL params, input or output");
    size_t need = qa_nn_mlp_workspace_floats(spec, batch);
    if (spec->n_layers > 1 && (!work || work_floats < need))
        return QA_FAIL(QA_ERR_INVALID_ARG, "mlp: workspace of %zu floats, %zu needed for %d rows", work_floats, need,
                       batch);
    size_t half = need / 2;
    const float *in = x;
    const float *p = params;
    for (int l = 0; l < spec->n_layers; l++) {
        int ni = spec->sizes[l], no = spec->sizes[l + 1];
        int last = l == spec->n_layers - 1;
        float *out = last ? y : work + (size_t)(l % 2) * half;
        const float *w = p, *b = p + (size_t)no * ni;
        dense(batch, ni, no, in, w, out);
        /* bias + activation in place (the last layer is linear) */
        qa_nn_cpu_bias_act_forward(0, 1, last ? QA_NN_ACT_NONE : spec->act, batch, no, out, b, NULL, out);
        p = b + no;
        in = out;
    }
    return QA_OK;
}
