/* nn context, argument checks and backend dispatch (CPU reference / optimised CPU /
 * CUDA), the learning-rate schedule and the dropout seed helper. */
#include "kernels/nn.h"

#include <limits.h>  /* INT_MAX */
#include <math.h>    /* cos, pow, isfinite */
#include <stdlib.h>  /* calloc, free, aligned_alloc */
#include <string.h>  /* strcmp */

#include "common/philox.h"       /* qa_rng_block (dropout seeds, masks) */
#include "kernels/nn_impl.h" /* backend implementations */

struct qa_nn_ctx {
    qa_backend_t *be;
    qa_nn_math math;
    qa_nn_gpu *gpu; /* CUDA backend only */
    /* CPU backend: the scratch arena of BF16 GEMMs (packed or rounded operand copies),
     * 64-byte aligned, grown (never shrunk) when a call needs more. */
    void *cpu_scratch;
    size_t cpu_scratch_bytes;
    int cpu_scratch_allocs;
};

static const char *const math_names[] = {"fp32", "tf32", "bf16"};
_Static_assert(sizeof math_names / sizeof math_names[0] == QA_NN_MATH_COUNT, "math mode names");
static const char *const act_names[] = {"none", "relu", "gelu"};
_Static_assert(sizeof act_names / sizeof act_names[0] == QA_NN_ACT_COUNT, "activation names");

const char *qa_nn_math_name(qa_nn_math math) {
    return (math >= 0 && math < QA_NN_MATH_COUNT) ? math_names[math] : "?";
}

const char *qa_nn_act_name(qa_nn_act act) {
    return (act >= 0 && act < QA_NN_ACT_COUNT) ? act_names[act] : "?";
}

qa_status qa_nn_math_parse(const char *name, qa_nn_math *out) {
    for (int i = 0; i < QA_NN_MATH_COUNT; i++)
        if (name && strcmp(name, math_names[i]) == 0) {
            *out = (qa_nn_math)i;
            return QA_OK;
        }
    return QA_FAIL(QA_ERR_INVALID_ARG, "unknown math mode '%s' (expected fp32, tf32 or bf16)", name ? name : "(null)");
}

/* ---- context ------------------------------------------------------------------------------ */

qa_status qa_nn_ctx_create(qa_backend_t *be, qa_nn_ctx_t **out) {
    if (!be || !out) return QA_FAIL(QA_ERR_INVALID_ARG, "nn ctx: NULL backend or output");
    qa_nn_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return QA_FAIL(QA_ERR_NOMEM, "nn ctx");
    ctx->be = be;
    ctx->math = QA_NN_MATH_FP32;
    if (qa_backend_kind_of(be) == QA_BACKEND_CUDA) {
        qa_status st = qa_nn_cuda_create(qa_backend_stream(be), &ctx->gpu);
        if (st != QA_OK) {
            free(ctx);
            return st;
        }
    }
    *out = ctx;
    return QA_OK;
}

void qa_nn_ctx_free(qa_nn_ctx_t *ctx) {
    if (!ctx) return;
    qa_nn_cuda_free(ctx->gpu);
    free(ctx->cpu_scratch);
    free(ctx);
}

qa_backend_t *qa_nn_ctx_backend(const qa_nn_ctx_t *ctx) { return ctx->be; }
qa_nn_math qa_nn_ctx_math(const qa_nn_ctx_t *ctx) { return ctx->math; }
qa_nn_gpu *qa_nn_ctx_gpu_(const qa_nn_ctx_t *ctx) { return ctx->gpu; }

qa_status qa_nn_ctx_set_math(qa_nn_ctx_t *ctx, qa_nn_math math) {
    if (math < 0 || math >= QA_NN_MATH_COUNT) return QA_FAIL(QA_ERR_INVALID_ARG, "unknown math mode %d", (int)math);
    ctx->math = math;
    return QA_OK;
}

/* Grows the CPU arena to `bytes` (old contents are not kept: it only holds per-call
 * copies). */
static qa_status cpu_reserve(qa_nn_ctx_t *ctx, size_t bytes) {
    if (bytes <= ctx->cpu_scratch_bytes) return QA_OK;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded);
    if (!p) return QA_FAIL(QA_ERR_NOMEM, "nn ctx: %zu bytes of BF16 GEMM scratch", rounded);
    free(ctx->cpu_scratch);
    ctx->cpu_scratch = p;
    ctx->cpu_scratch_bytes = rounded;
    ctx->cpu_scratch_allocs++;
    return QA_OK;
}

qa_status qa_nn_ctx_reserve(qa_nn_ctx_t *ctx, size_t bytes) {
    return ctx->gpu ? qa_nn_cuda_reserve(ctx->gpu, bytes) : cpu_reserve(ctx, bytes);
}

int qa_nn_ctx_scratch_allocs(const qa_nn_ctx_t *ctx) {
    return ctx->gpu ? qa_nn_cuda_scratch_allocs(ctx->gpu) : ctx->cpu_scratch_allocs;
}

/* The BF16 path converts each operand's whole strided block: rows x ld elements of 2
 * bytes, each copy rounded up to 256 bytes for alignment. */
size_t qa_nn_gemm_scratch_bytes(qa_nn_math math, int trans_a, int trans_b, int m, int n, int k,
                                int lda, int ldb) {
    if (math != QA_NN_MATH_BF16 || m <= 0 || n <= 0 || k <= 0) return 0;
    size_t rows_a = (size_t)(trans_a ? k : m), rows_b = (size_t)(trans_b ? n : k);
    size_t ba = (rows_a * (size_t)lda * 2 + 255) & ~(size_t)255;
    size_t bb = (rows_b * (size_t)ldb * 2 + 255) & ~(size_t)255;
    return ba + bb;
}

/* ---- helpers --------------------------------------------------------------------------------- */

static int on_gpu(const qa_nn_ctx_t *ctx) { return ctx->gpu != NULL; }
static int ref_of(const qa_nn_ctx_t *ctx) { return qa_backend_reference(ctx->be); }
static int threads_of(const qa_nn_ctx_t *ctx) { return qa_backend_threads(ctx->be); }

static qa_status check_dims(const char *what, int a, int b) {
    if (a < 0 || b < 0) return QA_FAIL(QA_ERR_INVALID_ARG, "%s: negative size (%d x %d)", what, a, b);
    if ((size_t)a * (size_t)b > (size_t)INT_MAX * 64)
        return QA_FAIL(QA_ERR_INVALID_ARG, "%s: %d x %d elements is too large", what, a, b);
    return QA_OK;
}

static qa_status check_dropout(const qa_nn_dropout *d) {
    if (d && !(d->p >= 0.0f && d->p < 1.0f))
        return QA_FAIL(QA_ERR_INVALID_ARG, "dropout probability %g outside [0, 1)", (double)d->p);
    return QA_OK;
}

#define NEED(ptr, what)                                                   \
    do {                                                                  \
        if (!(ptr)) return QA_FAIL(QA_ERR_INVALID_ARG, "%s: NULL %s", fn, what); \
    } while (0)

/* ---- GEMM ---------------------------------------------------------------------------------- */

qa_status qa_nn_gemm(qa_nn_ctx_t *ctx, int trans_a, int trans_b, int m, int n, int k, float alpha,
                     const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    const char *fn = "gemm";
    if (m < 0 || n < 0 || k < 0) return QA_FAIL(QA_ERR_INVALID_ARG, "gemm: negative size m=%d n=%d k=%d", m, n, k);
    int acols = trans_a ? m : k, bcols = trans_b ? k : n;
    if (lda < (acols > 1 ? acols : 1) || ldb < (bcols > 1 ? bcols : 1) || ldc < (n > 1 ? n : 1))
        return QA_FAIL(QA_ERR_INVALID_ARG, "gemm: leading dimensions lda=%d ldb=%d ldc=%d too small for m=%d n=%d k=%d",
                       lda, ldb, ldc, m, n, k);
    if (m == 0 || n == 0) return QA_OK;
    NEED(c, "C");
    if (k > 0) {
        NEED(a, "A");
        NEED(b, "B");
    }
    if (on_gpu(ctx))
        return qa_nn_cuda_gemm(ctx->gpu, ctx->math, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    /* TF32 on the CPU computes in FP32: x86 has no TF32 arithmetic, and emulating it
     * would only lose accuracy, not gain speed. */
    if (ctx->math == QA_NN_MATH_BF16) {
        QA_TRY_RET(cpu_reserve(ctx, qa_nn_cpu_gemm_bf16_scratch(ref_of(ctx), threads_of(ctx), m, n, k)));
        qa_nn_cpu_gemm_bf16(ref_of(ctx), threads_of(ctx), ctx->cpu_scratch, trans_a, trans_b, m, n, k, alpha, a, lda,
                            b, ldb, beta, c, ldc);
        return QA_OK;
    }
    qa_nn_cpu_gemm(ref_of(ctx), threads_of(ctx), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return QA_OK;
}

/* ---- column sums -------------------------------------------------------------------------------- */

static qa_status colsum(qa_nn_ctx_t *ctx, int rows, int cols, const float *x, float *out, int accumulate) {
    if (cols == 0) return QA_OK;
    if (on_gpu(ctx)) return qa_nn_cuda_colsum(ctx->gpu, rows, cols, x, out, accumulate);
    qa_nn_cpu_colsum(ref_of(ctx), threads_of(ctx), rows, cols, x, out, accumulate);
    return QA_OK;
}

/* ---- linear ----------------------------------------------------------------------------------- */

qa_status qa_nn_linear_forward(qa_nn_ctx_t *ctx, int batch, int in, int out, const float *x,
                               const float *w, const float *b, float *y) {
    const char *fn = "linear forward";
    qa_status st = check_dims(fn, batch, in);
    if (st == QA_OK) st = check_dims(fn, in, out);
    if (st != QA_OK) return st;
    if (batch == 0 || out == 0) return QA_OK;
    NEED(y, "y");
    if (b) {
        if (on_gpu(ctx)) st = qa_nn_cuda_broadcast_rows(ctx->gpu, batch, out, b, y);
        else qa_nn_cpu_broadcast_rows(ref_of(ctx) ? 1 : threads_of(ctx), batch, out, b, y);
        if (st != QA_OK) return st;
    }
    /* y = x * w^T (+ y): m = batch, n = out, k = in */
    return qa_nn_gemm(ctx, 0, 1, batch, out, in, 1.0f, x, in > 0 ? in : 1, w, in > 0 ? in : 1, b ? 1.0f : 0.0f, y, out);
}

qa_status qa_nn_linear_backward(qa_nn_ctx_t *ctx, int batch, int in, int out, const float *x,
                                const float *w, const float *dy, float *dx, float *dw, float *db,
                                int accumulate) {
    const char *fn = "linear backward";
    qa_status st = check_dims(fn, batch, in);
    if (st == QA_OK) st = check_dims(fn, in, out);
    if (st != QA_OK) return st;
    NEED(dw, "dw");
    int ld_in = in > 0 ? in : 1, ld_out = out > 0 ? out : 1;
    if (dx) /* dx[batch x in] = dy[batch x out] * w[out x in] */
        QA_TRY(qa_nn_gemm(ctx, 0, 0, batch, in, out, 1.0f, dy, ld_out, w, ld_in, 0.0f, dx, ld_in));
    /* dw[out x in] (+)= dy^T * x */
    QA_TRY(qa_nn_gemm(ctx, 1, 0, out, in, batch, 1.0f, dy, ld_out, x, ld_in, accumulate ? 1.0f : 0.0f, dw, ld_in));
    if (db) QA_TRY(colsum(ctx, batch, out, dy, db, accumulate));
cleanup:
    return st;
}

/* ---- bias + activation + dropout ------------------------------------------------------------ */

uint64_t qa_nn_dropout_seed(uint64_t run_seed, uint32_t layer) {
    /* stream 0x6e6e64726f70 spells "nndrop": reserved for this derivation */
    qa_philox_block b = qa_rng_block(run_seed, 0x6e6e64726f70ull, layer);
    return ((uint64_t)b.v[1] << 32) | b.v[0];
}

int qa_nn_dropout_kept(const qa_nn_dropout *d, uint64_t index) {
    if (!d || d->p <= 0.0f) return 1;
    return qa_rng_uniformf(d->seed, d->step, index) >= d->p;
}

static qa_status check_act(qa_nn_act act) {
    if (act < 0 || act >= QA_NN_ACT_COUNT) return QA_FAIL(QA_ERR_INVALID_ARG, "unknown activation %d", (int)act);
    return QA_OK;
}

qa_status qa_nn_bias_act_forward(qa_nn_ctx_t *ctx, qa_nn_act act, int rows, int cols,
                                 const float *x, const float *bias, const qa_nn_dropout *drop,
                                 float *y) {
    const char *fn = "bias+act forward";
    qa_status st = check_act(act);
    if (st == QA_OK) st = check_dims(fn, rows, cols);
    if (st == QA_OK) st = check_dropout(drop);
    if (st != QA_OK || rows == 0 || cols == 0) return st;
    NEED(x, "x");
    NEED(y, "y");
    if (on_gpu(ctx)) return qa_nn_cuda_bias_act_forward(ctx->gpu, act, rows, cols, x, bias, drop, y);
    qa_nn_cpu_bias_act_forward(ref_of(ctx), threads_of(ctx), act, rows, cols, x, bias, drop, y);
    return QA_OK;
}

qa_status qa_nn_bias_act_backward(qa_nn_ctx_t *ctx, qa_nn_act act, int rows, int cols,
                                  const float *x, const float *bias, const qa_nn_dropout *drop,
                                  const float *dy, float *dx, float *dbias, int accumulate) {
    const char *fn = "bias+act backward";
    qa_status st = check_act(act);
    if (st == QA_OK) st = check_dims(fn, rows, cols);
    if (st == QA_OK) st = check_dropout(drop);
    if (st != QA_OK || cols == 0) return st;
    if (rows > 0) {
        NEED(x, "x");
        NEED(dy, "dy");
        NEED(dx, "dx");
        if (on_gpu(ctx)) st = qa_nn_cuda_bias_act_backward(ctx->gpu, act, rows, cols, x, bias, drop, dy, dx);
        else qa_nn_cpu_bias_act_backward(ref_of(ctx), threads_of(ctx), act, rows, cols, x, bias, drop, dy, dx);
        if (st != QA_OK) return st;
    }
    return dbias ? colsum(ctx, rows, cols, dx, dbias, accumulate) : QA_OK;
}

/* ---- LayerNorm -------------------------------------------------------------------------------- */

qa_status qa_nn_layernorm_forward(qa_nn_ctx_t *ctx, int rows, int cols, float eps, const float *x,
                                  const float *gamma, const float *beta, float *y, float *mean,
                                  float *rstd) {
    const char *fn = "layernorm forward";
    qa_status st = check_dims(fn, rows, cols);
    if (st != QA_OK || rows == 0) return st;
    if (cols == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "%s: rows of zero features", fn);
    if (!(eps > 0.0f)) return QA_FAIL(QA_ERR_INVALID_ARG, "%s: eps %g must be > 0", fn, (double)eps);
    NEED(x, "x");
    NEED(gamma, "gamma");
    NEED(beta, "beta");
    NEED(y, "y");
    NEED(mean, "mean");
    NEED(rstd, "rstd");
    if (on_gpu(ctx)) return qa_nn_cuda_layernorm_forward(ctx->gpu, rows, cols, eps, x, gamma, beta, y, mean, rstd);
    qa_nn_cpu_layernorm_forward(ref_of(ctx), threads_of(ctx), rows, cols, eps, x, gamma, beta, y, mean, rstd);
    return QA_OK;
}

qa_status qa_nn_layernorm_backward(qa_nn_ctx_t *ctx, int rows, int cols, const float *x,
                                   const float *gamma, const float *mean, const float *rstd,
                                   const float *dy, float *dx, float *dgamma, float *dbeta,
                                   int accumulate) {
    const char *fn = "layernorm backward";
    qa_status st = check_dims(fn, rows, cols);
    if (st != QA_OK || cols == 0) return st;
    if (rows > 0) {
        NEED(x, "x");
        NEED(gamma, "gamma");
        NEED(mean, "mean");
        NEED(rstd, "rstd");
        NEED(dy, "dy");
        NEED(dx, "dx");
        if (dx == x) return QA_FAIL(QA_ERR_INVALID_ARG, "%s: dx may not alias x", fn);
    }
    if (on_gpu(ctx))
        return qa_nn_cuda_layernorm_backward(ctx->gpu, rows, cols, x, gamma, mean, rstd, dy, dx, dgamma, dbeta,
                                             accumulate);
    qa_nn_cpu_layernorm_backward(ref_of(ctx), threads_of(ctx), rows, cols, x, gamma, mean, rstd, dy, dx, dgamma,
                                 dbeta, accumulate);
    return QA_OK;
}

/* ---- losses ---------------------------------------------------------------------------------- */

qa_status qa_nn_loss_mse(qa_nn_ctx_t *ctx, size_t n, const float *pred, const float *target,
                         float *loss, float *dpred) {
    const char *fn = "mse loss";
    NEED(loss, "loss");
    if (n > 0) {
        NEED(pred, "pred");
        NEED(target, "target");
    }
    if (on_gpu(ctx)) return qa_nn_cuda_loss_mse(ctx->gpu, n, pred, target, loss, dpred);
    qa_nn_cpu_loss_mse(ref_of(ctx) ? 1 : threads_of(ctx), n, pred, target, loss, dpred);
    return QA_OK;
}

qa_status qa_nn_loss_huber(qa_nn_ctx_t *ctx, size_t n, float delta, const float *pred,
                           const float *target, float *loss, float *dpred) {
    const char *fn = "huber loss";
    if (!(delta > 0.0f) || !isfinite(delta)) return QA_FAIL(QA_ERR_INVALID_ARG, "%s: delta %g must be > 0", fn, (double)delta);
    NEED(loss, "loss");
    if (n > 0) {
        NEED(pred, "pred");
        NEED(target, "target");
    }
    if (on_gpu(ctx)) return qa_nn_cuda_loss_huber(ctx->gpu, n, delta, pred, target, loss, dpred);
    qa_nn_cpu_loss_huber(ref_of(ctx) ? 1 : threads_of(ctx), n, delta, pred, target, loss, dpred);
    return QA_OK;
}

qa_status qa_nn_loss_cross_entropy(qa_nn_ctx_t *ctx, int rows, int classes, const float *logits,
                                   const int32_t *labels, float *loss, float *dlogits) {
    const char *fn = "cross-entropy loss";
    qa_status st = check_dims(fn, rows, classes);
    if (st != QA_OK) return st;
    if (classes < 1) return QA_FAIL(QA_ERR_INVALID_ARG, "%s: %d classes", fn, classes);
    NEED(loss, "loss");
    if (rows > 0) {
        NEED(logits, "logits");
        NEED(labels, "labels");
    }
    if (on_gpu(ctx)) return qa_nn_cuda_loss_cross_entropy(ctx->gpu, rows, classes, logits, labels, loss, dlogits);
    qa_nn_cpu_loss_cross_entropy(ref_of(ctx) ? 1 : threads_of(ctx), rows, classes, logits, labels, loss, dlogits);
    return QA_OK;
}

/* ---- optimiser -------------------------------------------------------------------------------- */

qa_status qa_nn_grad_norm(qa_nn_ctx_t *ctx, size_t n, const float *grad, float *norm) {
    const char *fn = "grad norm";
    NEED(norm, "norm");
    if (n > 0) NEED(grad, "grad");
    if (on_gpu(ctx)) return qa_nn_cuda_grad_norm(ctx->gpu, n, grad, norm);
    qa_nn_cpu_grad_norm(ref_of(ctx) ? 1 : threads_of(ctx), n, grad, norm);
    return QA_OK;
}

qa_status qa_nn_adamw_update(qa_nn_ctx_t *ctx, const qa_nn_adamw_cfg *cfg, int64_t step, size_t n,
                             float *param, const float *grad, float *m, float *v,
                             const float *norm) {
    const char *fn = "adamw";
    NEED(cfg, "config");
    if (step < 1) return QA_FAIL(QA_ERR_INVALID_ARG, "%s: step %lld must be >= 1", fn, (long long)step);
    if (!(cfg->lr >= 0.0) || !(cfg->beta1 >= 0.0 && cfg->beta1 < 1.0) || !(cfg->beta2 >= 0.0 && cfg->beta2 < 1.0) ||
        !(cfg->eps > 0.0) || !(cfg->weight_decay >= 0.0) || !isfinite(cfg->lr))
        return QA_FAIL(QA_ERR_INVALID_ARG, "%s: lr %g, betas (%g, %g), eps %g, weight decay %g out of range", fn,
                       cfg->lr, cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay);
    if (n == 0) return QA_OK;
    NEED(param, "param");
    NEED(grad, "grad");
    NEED(m, "m");
    NEED(v, "v");
    /* Constants in double, rounded to float once: 1 - beta and the bias corrections
     * 1 - beta^t lose nothing for beta near 1 or large t. */
    qa_nn_adamw_f a;
    a.lr = (float)cfg->lr;
    a.b1 = (float)cfg->beta1;
    a.omb1 = (float)(1.0 - cfg->beta1);
    a.b2 = (float)cfg->beta2;
    a.omb2 = (float)(1.0 - cfg->beta2);
    a.eps = (float)cfg->eps;
    a.decay = (float)(1.0 - cfg->lr * cfg->weight_decay);
    a.bc1 = (float)(1.0 - pow(cfg->beta1, (double)step));
    a.bc2 = (float)(1.0 - pow(cfg->beta2, (double)step));
    a.max_norm = (float)cfg->max_norm;
    if (on_gpu(ctx)) return qa_nn_cuda_adamw_update(ctx->gpu, &a, n, param, grad, m, v, norm);
    qa_nn_cpu_adamw_update(ref_of(ctx) ? 1 : threads_of(ctx), &a, n, param, grad, m, v, norm);
    return QA_OK;
}

double qa_nn_lr_at(const qa_nn_lr_schedule *s, int64_t step) {
    if (step < 0) step = 0;
    if (step < s->warmup_steps) return s->lr_max * (double)(step + 1) / (double)s->warmup_steps;
    if (step >= s->total_steps) return s->lr_min;
    double q = (double)(step - s->warmup_steps) / (double)(s->total_steps - s->warmup_steps);
    return s->lr_min + (s->lr_max - s->lr_min) * 0.5 * (1.0 + cos(3.14159265358979323846 * q));
}

#ifndef QA_HAVE_CUDA
/* ---- CPU-only build: the CUDA entry points report that this build has no CUDA. ----------- */

#define NO_CUDA return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend")

qa_status qa_nn_cuda_create(void *stream, qa_nn_gpu **out) {
    (void)stream, (void)out;
    NO_CUDA;
}
void qa_nn_cuda_free(qa_nn_gpu *g) { (void)g; }
qa_status qa_nn_cuda_reserve(qa_nn_gpu *g, size_t bytes) {
    (void)g, (void)bytes;
    NO_CUDA;
}
int qa_nn_cuda_scratch_allocs(const qa_nn_gpu *g) {
    (void)g;
    return 0;
}
qa_status qa_nn_cuda_gemm(qa_nn_gpu *g, qa_nn_math math, int trans_a, int trans_b, int m, int n, int k,
                          float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                          float *c, int ldc) {
    (void)g, (void)math, (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda;
    (void)b, (void)ldb, (void)beta, (void)c, (void)ldc;
    NO_CUDA;
}
qa_status qa_nn_cuda_colsum(qa_nn_gpu *g, int rows, int cols, const float *x, float *out, int accumulate) {
    (void)g, (void)rows, (void)cols, (void)x, (void)out, (void)accumulate;
    NO_CUDA;
}
qa_status qa_nn_cuda_broadcast_rows(qa_nn_gpu *g, int rows, int cols, const float *b, float *y) {
    (void)g, (void)rows, (void)cols, (void)b, (void)y;
    NO_CUDA;
}
qa_status qa_nn_cuda_bias_act_forward(qa_nn_gpu *g, qa_nn_act act, int rows, int cols, const float *x,
                                      const float *bias, const qa_nn_dropout *drop, float *y) {
    (void)g, (void)act, (void)rows, (void)cols, (void)x, (void)bias, (void)drop, (void)y;
    NO_CUDA;
}
qa_status qa_nn_cuda_bias_act_backward(qa_nn_gpu *g, qa_nn_act act, int rows, int cols, const float *x,
                                       const float *bias, const qa_nn_dropout *drop, const float *dy, float *dx) {
    (void)g, (void)act, (void)rows, (void)cols, (void)x, (void)bias, (void)drop, (void)dy, (void)dx;
    NO_CUDA;
}
qa_status qa_nn_cuda_layernorm_forward(qa_nn_gpu *g, int rows, int cols, float eps, const float *x,
                                       const float *gamma, const float *beta, float *y, float *mean, float *rstd) {
    (void)g, (void)rows, (void)cols, (void)eps, (void)x, (void)gamma, (void)beta, (void)y, (void)mean, (void)rstd;
    NO_CUDA;
}
qa_status qa_nn_cuda_layernorm_backward(qa_nn_gpu *g, int rows, int cols, const float *x, const float *gamma,
                                        const float *mean, const float *rstd, const float *dy, float *dx,
                                        float *dgamma, float *dbeta, int accumulate) {
    (void)g, (void)rows, (void)cols, (void)x, (void)gamma, (void)mean, (void)rstd, (void)dy, (void)dx;
    (void)dgamma, (void)dbeta, (void)accumulate;
    NO_CUDA;
}
qa_status qa_nn_cuda_loss_mse(qa_nn_gpu *g, size_t n, const float *pred, const float *target, float *loss,
                              float *dpred) {
    (void)g, (void)n, (void)pred, (void)target, (void)loss, (void)dpred;
    NO_CUDA;
}
qa_status qa_nn_cuda_loss_huber(qa_nn_gpu *g, size_t n, float delta, const float *pred, const float *target,
                                float *loss, float *dpred) {
    (void)g, (void)n, (void)delta, (void)pred, (void)target, (void)loss, (void)dpred;
    NO_CUDA;
}
qa_status qa_nn_cuda_loss_cross_entropy(qa_nn_gpu *g, int rows, int classes, const float *logits,
                                        const int32_t *labels, float *loss, float *dlogits) {
    (void)g, (void)rows, (void)classes, (void)logits, (void)labels, (void)loss, (void)dlogits;
    NO_CUDA;
}
qa_status qa_nn_cuda_grad_norm(qa_nn_gpu *g, size_t n, const float *grad, float *norm) {
    (void)g, (void)n, (void)grad, (void)norm;
    NO_CUDA;
}
qa_status qa_nn_cuda_adamw_update(qa_nn_gpu *g, const qa_nn_adamw_f *a, size_t n, float *param,
                                  const float *grad, float *m, float *v, const float *norm) {
    (void)g, (void)a, (void)n, (void)param, (void)grad, (void)m, (void)v, (void)norm;
    NO_CUDA;
}
qa_status qa_nn_cuda_zero(qa_nn_gpu *g, size_t n, float *x) {
    (void)g, (void)n, (void)x;
    NO_CUDA;
}
#endif
