/* Networks, model files and inference: parameter layout, gradients of the assembled
 * networks against central differences, the CPU predictor against the training forward,
 * save -> load -> predict identity, refusal of corrupted / truncated / wrong-kind files,
 * checkpoints, and no allocation per prediction. */
#include <malloc.h> /* mallinfo2: allocation count around predictor calls */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/philox.h"
#include "harness.h"
#include "registry/model.h"
#include "registry/predict.h"
#include "pipeline/train/train_net.h"
#include "train_test.h"

static char dir[256];

static qa_nn_arch mlp_arch(int F, int L, int outs, int nh, const int *h, qa_nn_act act, int ln, float drop) {
    qa_nn_arch a;
    memset(&a, 0, sizeof a);
    a.type = QA_NN_ARCH_MLP;
    a.input = F, a.window = L, a.outputs = outs, a.nhidden = nh, a.act = act, a.layer_norm = ln, a.dropout = drop;
    for (int i = 0; i < nh; i++) a.hidden[i] = h[i];
    return a;
}

static qa_nn_arch lstm_arch(int F, int L, int outs, int H, int layers, float drop) {
    qa_nn_arch a;
    memset(&a, 0, sizeof a);
    a.type = QA_NN_ARCH_LSTM;
    a.input = F, a.window = L, a.outputs = outs, a.nhidden = layers, a.act = QA_NN_ACT_NONE, a.dropout = drop;
    for (int i = 0; i < layers; i++) a.hidden[i] = H;
    return a;
}

static void test_layout(void) {
    int h[2] = {7, 5};
    qa_nn_arch a = mlp_arch(3, 2, 1, 2, h, QA_NN_ACT_GELU, 1, 0.0f);
    /* (6x7 + 7 + 7 + 7) + (7x5 + 5 + 5 + 5) + (5 + 1) by hand */
    QA_CHECK_INT(qa_nn_arch_param_count(&a), 42 + 21 + 35 + 15 + 6);
    qa_nn_seg s[QA_NN_MAX_SEGMENTS];
    int n = qa_nn_arch_segments(&a, s);
    QA_CHECK_INT(n, 10);
    QA_CHECK_STR(s[0].name, "l0.weight");
    QA_CHECK(s[0].decay && !s[1].decay && !s[2].decay && s[4].decay && s[8].decay && !s[9].decay);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        QA_CHECK_INT(s[i].offset, off);
        off += s[i].count;
    }
    qa_nn_arch l = lstm_arch(4, 5, 3, 6, 2, 0.0f);
    /* layer 0: 24x4 + 24x6 + 24 + 24; layer 1: 24x6 + 24x6 + 48; head 3x6 + 3 */
    QA_CHECK_INT(qa_nn_arch_param_count(&l), (96 + 144 + 48) + (144 + 144 + 48) + 21);
    float *p = malloc(qa_nn_arch_param_count(&a) * sizeof *p);
    qa_train_arch_init_params(&a, 5, p);
    QA_CHECK(p[s[2].offset] == 1.0f && p[s[3].offset] == 0.0f); /* LayerNorm gamma 1, beta 0 */
    double bound = 1.0 / sqrt(6.0);
    int out = 0;
    for (size_t i = 0; i < s[0].count; i++) out += fabs(p[i]) > bound;
    QA_CHECK_INT(out, 0);
    free(p);
    a.nhidden = 9;
    QA_CHECK_ERR(qa_nn_arch_check(&a), QA_ERR_CONFIG, "hidden layers");
    l.hidden[1] = 7;
    QA_CHECK_ERR(qa_nn_arch_check(&l), QA_ERR_CONFIG, "one width");
}

typedef struct hook_log {
    size_t calls, last, bad;
} hook_log;

static qa_status on_ready(void *user, size_t first) {
    hook_log *h = user;
    if (h->calls && first >= h->last) h->bad++;
    h->last = first;
    h->calls++;
    return QA_OK;
}

/* d(loss)/d(params) of the assembled network against central differences of the loss,
 * on the CPU reference backend. Loss is float: with step h = 1e-3 max(1, |p|) the
 * difference quotient is accurate to ~|L| 2^-23 / h ~ 1e-4 plus O(h^2) curvature terms,
 * so the budget is 3e-3 of the largest gradient plus 3e-2 relative. */
static void grad_check(const char *name, qa_nn_arch a, qa_train_loss loss) {
    qa_backend_t *be = NULL;
    qa_nn_ctx_t *ctx = NULL;
    qa_train_net_t *net = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    qa_backend_set_reference(be, 1);
    QA_CHECK_OK(qa_nn_ctx_create(be, &ctx));
    const int rows = 6;
    QA_CHECK_OK(qa_train_net_create(ctx, &a, rows, &net));
    if (!net) return;
    size_t P = qa_nn_arch_param_count(&a), W = (size_t)a.input * (size_t)a.window;
    float *p = malloc(P * sizeof *p), *g = malloc(P * sizeof *g), *g2 = malloc(P * sizeof *g2);
    float *x = malloc(rows * W * sizeof *x), y[6], l = 0;
    int32_t cls[6];
    qa_train_arch_init_params(&a, 9, p);
    for (size_t i = 0; i < P; i++) p[i] += (float)(0.05 * qa_rng_normal(3, 1, i)); /* off the LN gamma = 1 point */
    for (size_t i = 0; i < rows * W; i++) x[i] = (float)qa_rng_normal(3, 2, i);
    for (int i = 0; i < rows; i++) y[i] = (float)qa_rng_normal(3, 3, (uint64_t)i), cls[i] = i % a.outputs;
    hook_log hl = {0, 0, 0};
    QA_CHECK_OK(qa_train_net_step(net, rows, p, x, loss, 0.7f, y, cls, NULL, &l, g, 0, on_ready, &hl));
    QA_CHECK(hl.calls >= (size_t)(a.type == QA_NN_ARCH_LSTM ? 2 : 1 + a.nhidden) && hl.bad == 0 && hl.last == 0);
    double gmax = 0.0;
    for (size_t i = 0; i < P; i++) gmax = fmax(gmax, fabs(g[i]));
    QA_CHECK(gmax > 0.0);
    size_t bad = 0, checked = 0;
    double worst = 0.0;
    qa_nn_seg s[QA_NN_MAX_SEGMENTS];
    int ns = qa_nn_arch_segments(&a, s);
    for (int k = 0; k < ns; k++)
        for (size_t j = 0; j < s[k].count; j += 1 + s[k].count / 5) {
            size_t i = s[k].offset + j;
            float keep = p[i], h = 1e-3f * fmaxf(1.0f, fabsf(keep)), lp = 0, lm = 0;
            p[i] = keep + h;
            qa_train_net_loss(net, rows, p, x, loss, 0.7f, y, cls, &lp);
            p[i] = keep - h;
            qa_train_net_loss(net, rows, p, x, loss, 0.7f, y, cls, &lm);
            p[i] = keep;
            double fd = ((double)lp - (double)lm) / (2.0 * (double)h), err = fabs(fd - g[i]);
            checked++;
            if (err > 3e-3 * gmax + 3e-2 * fabs(fd)) {
                if (bad < 3) printf("  %s: %s[%zu] analytic %.6g numeric %.6g\n", name, s[k].name, j, g[i], fd);
                bad++;
            }
            worst = fmax(worst, err / gmax);
        }
    printf("  %s: %zu parameters checked, worst |g - fd| / max|g| = %.2e\n", name, checked, worst);
    QA_CHECK_MSG(bad == 0, "%s: %zu gradients off", name, bad);
    /* accumulate adds: a second pass into the same gradient doubles it exactly */
    memcpy(g2, g, P * sizeof *g);
    QA_CHECK_OK(qa_train_net_step(net, rows, p, x, loss, 0.7f, y, cls, NULL, &l, g2, 1, NULL, NULL));
    size_t nd = 0;
    for (size_t i = 0; i < P; i++) nd += g2[i] != 2.0f * g[i];
    QA_CHECK_MSG(nd == 0, "%s: accumulate: %zu of %zu differ from 2g", name, nd, P);
    free(p), free(g), free(g2), free(x);
    qa_train_net_free(net);
    qa_nn_ctx_free(ctx);
    qa_backend_free(be);
}

static void test_gradients(void) {
    int h2[2] = {7, 5}, h1[1] = {6};
    grad_check("mlp gelu + layernorm, mse", mlp_arch(3, 2, 1, 2, h2, QA_NN_ACT_GELU, 1, 0.0f), QA_TRAIN_LOSS_MSE);
    grad_check("mlp relu, huber", mlp_arch(4, 1, 1, 1, h1, QA_NN_ACT_RELU, 0, 0.0f), QA_TRAIN_LOSS_HUBER);
    grad_check("mlp gelu, 3-class cross-entropy", mlp_arch(3, 2, 3, 1, h1, QA_NN_ACT_GELU, 0, 0.0f),
               QA_TRAIN_LOSS_CROSS_ENTROPY);
    grad_check("linear model", mlp_arch(5, 1, 1, 0, NULL, QA_NN_ACT_NONE, 0, 0.0f), QA_TRAIN_LOSS_MSE);
    grad_check("lstm 2 layers, mse", lstm_arch(3, 4, 1, 5, 2, 0.0f), QA_TRAIN_LOSS_MSE);
    grad_check("lstm, 2-class cross-entropy", lstm_arch(2, 3, 2, 4, 1, 0.0f), QA_TRAIN_LOSS_CROSS_ENTROPY);
}

/* Dropout: same key -> same gradient; another step -> another mask; eval has none. */
static void test_dropout(void) {
    qa_backend_t *be = NULL;
    qa_nn_ctx_t *ctx = NULL;
    qa_train_net_t *net = NULL;
    int h[1] = {32};
    qa_nn_arch a = mlp_arch(4, 1, 1, 1, h, QA_NN_ACT_RELU, 0, 0.5f);
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    QA_CHECK_OK(qa_nn_ctx_create(be, &ctx));
    QA_CHECK_OK(qa_train_net_create(ctx, &a, 8, &net));
    size_t P = qa_nn_arch_param_count(&a);
    float *p = malloc(P * sizeof *p), *g1 = malloc(P * sizeof *g1), *g2 = malloc(P * sizeof *g2), x[32], y[8];
    float l1, l2, l3, l0;
    qa_train_arch_init_params(&a, 1, p);
    for (int i = 0; i < 32; i++) x[i] = (float)qa_rng_normal(4, 1, (uint64_t)i);
    for (int i = 0; i < 8; i++) y[i] = (float)qa_rng_normal(4, 2, (uint64_t)i);
    qa_train_drop d = {123, 7};
    QA_CHECK_OK(qa_train_net_step(net, 8, p, x, QA_TRAIN_LOSS_MSE, 1, y, NULL, &d, &l1, g1, 0, NULL, NULL));
    QA_CHECK_OK(qa_train_net_step(net, 8, p, x, QA_TRAIN_LOSS_MSE, 1, y, NULL, &d, &l2, g2, 0, NULL, NULL));
    QA_CHECK(l1 == l2 && memcmp(g1, g2, P * sizeof *g1) == 0);
    d.step = 8;
    QA_CHECK_OK(qa_train_net_step(net, 8, p, x, QA_TRAIN_LOSS_MSE, 1, y, NULL, &d, &l3, g2, 0, NULL, NULL));
    QA_CHECK(l3 != l1);
    QA_CHECK_OK(qa_train_net_loss(net, 8, p, x, QA_TRAIN_LOSS_MSE, 1, y, NULL, &l0));
    QA_CHECK(l0 != l1 && l0 != l3);
    free(p), free(g1), free(g2);
    qa_train_net_free(net);
    qa_nn_ctx_free(ctx);
    qa_backend_free(be);
}

/* A model with a synthetic spec and normalisation (no store needed). */
static qa_status make_model(qa_model *m, qa_nn_arch a, qa_model_target tgt, int classes) {
    qa_model_spec s;
    memset(&s, 0, sizeof s);
    s.ninputs = a.input;
    for (int f = 0; f < a.input; f++) {
        snprintf(s.inputs[f].name, sizeof s.inputs[f].name, f == a.input - 1 ? "ret" : "feat_%d", f);
        s.inputs[f].bar = f == a.input - 1 ? QA_MODEL_BAR_RET : -1;
        if (s.inputs[f].bar < 0) {
            snprintf(s.inputs[f].input_hash, sizeof s.inputs[f].input_hash, "%064d", f);
            snprintf(s.inputs[f].params, sizeof s.inputs[f].params, "{\"kind\":\"k%d\"}", f);
        }
    }
    s.window = a.window, s.horizon = 3, s.target = tgt, s.classes = classes, s.standardize = 1;
    s.start = INT64_MIN, s.train_end = TT_T0, s.val_end = TT_T0 + 100 * TT_DAY, s.end = INT64_MAX;
    s.embargo = 2, s.clip = 4.0;
    qa_model_norm n;
    memset(&n, 0, sizeof n);
    for (int f = 0; f < a.input; f++) n.mean[f] = 0.1 * qa_rng_normal(6, 1, (uint64_t)f), n.std[f] = 0.5 + f * 0.25;
    n.target_mean = 0.0012345678901234567, n.target_std = 0.0213;
    if (tgt == QA_MODEL_TARGET_QUANTILE) {
        n.nedges = classes - 1;
        for (int k = 0; k < n.nedges; k++) n.edges[k] = -0.02 + 0.01 * k;
    }
    qa_status st = qa_model_init(m, &a, &s, &n);
    if (st == QA_OK) {
        qa_train_arch_init_params(&a, 17, m->params);
        m->info = json_pack("{s:s, s:i}", "loss", "mse", "steps", 12);
    }
    return st;
}

/* The predictor (the inference forward pass, kernels/nn_infer.h) against the training
 * net's optimised forward: float sums in other orders over <= 64 terms per output, fast
 * activations on both sides: |diff| <= 2e-5 + 2e-5 |ref| (a few float ulps per layer,
 * times the depth). */
static void predictor_parity(const char *name, qa_nn_arch a, qa_model_target tgt, int classes) {
    qa_model m;
    QA_CHECK_OK(make_model(&m, a, tgt, classes));
    qa_backend_t *be = NULL;
    qa_nn_ctx_t *ctx = NULL;
    qa_train_net_t *net = NULL;
    qa_model_predictor_t *pr = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    QA_CHECK_OK(qa_nn_ctx_create(be, &ctx));
    const int rows = 5, K = a.outputs;
    QA_CHECK_OK(qa_train_net_create(ctx, &a, rows, &net));
    QA_CHECK_OK(qa_model_predictor_create(&m, rows, &pr));
    size_t W = (size_t)a.input * (size_t)a.window;
    float *x = malloc(rows * W * sizeof *x);
    for (size_t i = 0; i < rows * W; i++) x[i] = (float)qa_rng_normal(8, 1, i);
    const float *y = NULL;
    QA_CHECK_OK(qa_train_net_forward(net, rows, m.params, x, &y));
    double ref[5 * QA_MODEL_MAX_CLASSES], got[5 * QA_MODEL_MAX_CLASSES], score_net[5], score_pred[5];
    for (int r = 0; r < rows; r++) {
        score_net[r] = qa_model_score(&m, y + (size_t)r * (size_t)K);
        if (tgt == QA_MODEL_TARGET_RETURN) ref[r] = (double)y[r] * m.norm.target_std + m.norm.target_mean;
        else { /* softmax of the net's logits */
            double mx = -INFINITY, sum = 0.0;
            for (int k = 0; k < K; k++) mx = fmax(mx, y[r * K + k]);
            for (int k = 0; k < K; k++) sum += ref[r * K + k] = exp(y[r * K + k] - mx);
            for (int k = 0; k < K; k++) ref[r * K + k] /= sum;
        }
    }
    QA_CHECK_OK(qa_model_predictor_run_normalized(pr, rows, x, got));
    qa_test_near_arrays(name, got, ref, (size_t)rows * (size_t)K, 2e-5 * (tgt == QA_MODEL_TARGET_RETURN ? m.norm.target_std : 1.0),
                        2e-5);
    /* raw inputs: normalised and clipped exactly as in training */
    double *raw = malloc(rows * W * sizeof *raw), got2[5 * QA_MODEL_MAX_CLASSES];
    float *xn = malloc(rows * W * sizeof *xn);
    for (size_t i = 0; i < rows * W; i++) {
        size_t f = i % (size_t)a.input;
        raw[i] = m.norm.mean[f] + m.norm.std[f] * 1.5 * qa_rng_normal(8, 2, i);
        double z = (raw[i] - m.norm.mean[f]) / m.norm.std[f];
        xn[i] = (float)(z > 4 ? 4 : z < -4 ? -4 : z);
    }
    QA_CHECK_OK(qa_model_predictor_run(pr, rows, raw, got2));
    QA_CHECK_OK(qa_model_predictor_run_normalized(pr, rows, xn, got));
    QA_CHECK(memcmp(got, got2, (size_t)rows * (size_t)K * sizeof *got) == 0);
    raw[W + 1] = NAN; /* row 1 */
    QA_CHECK_OK(qa_model_predictor_run(pr, rows, raw, got2));
    QA_CHECK(isnan(got2[K]) && !isnan(got2[0]));
    /* no allocation per call */
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < 50; i++) qa_model_predictor_run(pr, 1, raw, got2);
    struct mallinfo2 after = mallinfo2();
    QA_CHECK_INT(after.uordblks, before.uordblks);
    /* the stream predictor: a reset symbol fed a row's L bars gives the windowed result
     * bit for bit, for every symbol independently; an MLP has no state to stream */
    qa_model_stream_t *sm = NULL;
    if (a.type == QA_NN_ARCH_LSTM) {
        QA_CHECK_OK(qa_model_stream_create(&m, 3, 0, &sm));
        QA_CHECK_OK(qa_model_predictor_run(pr, rows, raw, got2)); /* row 1 has a NaN: skipped below */
        double so[QA_MODEL_MAX_CLASSES];
        for (int r = 0; r < rows; r++) {
            if (r == 1) continue;
            size_t sym = (size_t)r % 3;
            qa_model_stream_reset(sm, sym);
            for (int t = 0; t < a.window; t++)
                QA_CHECK_OK(qa_model_stream_push(sm, sym, raw + (size_t)r * W + (size_t)t * a.input, so));
            QA_CHECK_INT(qa_model_stream_bars(sm, sym), a.window);
            QA_CHECK_MSG(memcmp(so, got2 + (size_t)r * K, (size_t)K * sizeof *so) == 0, "%s: stream row %d differs", name, r);
        }
        /* a period of L resets before bar L+1: the next L bars give the window of those bars */
        qa_model_stream_t *sp = NULL;
        QA_CHECK_OK(qa_model_stream_create(&m, 1, a.window, &sp));
        for (int t = 0; t < 2 * a.window; t++)
            QA_CHECK_OK(qa_model_stream_push(sp, 0, raw + (size_t)(t < a.window ? 0 : 2) * W + (size_t)(t % a.window) * a.input, so));
        QA_CHECK(memcmp(so, got2 + 2 * (size_t)K, (size_t)K * sizeof *so) == 0);
        qa_model_stream_free(sp);
        qa_model_stream_free(sm);
    } else {
        QA_CHECK_ERR(qa_model_stream_create(&m, 3, 0, &sm), QA_ERR_INVALID_ARG, "carries no state");
    }
    /* save -> load -> predict: identical */
    char path[300];
    snprintf(path, sizeof path, "%s/%s.qam", dir, a.type == QA_NN_ARCH_LSTM ? "lstm" : "mlp");
    QA_CHECK_OK(qa_model_save(&m, path));
    qa_model l;
    QA_CHECK_OK(qa_model_load(path, &l));
    QA_CHECK(memcmp(&l.arch, &m.arch, sizeof l.arch) == 0);
    QA_CHECK(l.nparams == m.nparams && memcmp(l.params, m.params, m.nparams * sizeof *m.params) == 0);
    QA_CHECK(memcmp(&l.norm, &m.norm, sizeof l.norm) == 0);
    QA_CHECK(memcmp(&l.data, &m.data, sizeof l.data) == 0);
    QA_CHECK_STR(l.sha256, m.sha256);
    QA_CHECK_INT(json_integer_value(json_object_get(l.info, "steps")), 12);
    qa_model_predictor_t *pl = NULL;
    QA_CHECK_OK(qa_model_predictor_create(&l, rows, &pl));
    double a1[5 * QA_MODEL_MAX_CLASSES], a2[5 * QA_MODEL_MAX_CLASSES];
    QA_CHECK_OK(qa_model_predictor_run_normalized(pr, rows, x, a1));
    QA_CHECK_OK(qa_model_predictor_run_normalized(pl, rows, x, a2));
    QA_CHECK(memcmp(a1, a2, (size_t)rows * (size_t)K * sizeof *a1) == 0);
    for (int r = 0; r < rows; r++) score_pred[r] = qa_model_score(&l, y + (size_t)r * (size_t)K);
    QA_CHECK(memcmp(score_net, score_pred, sizeof score_net) == 0);
    qa_model_predictor_free(pl);
    qa_model_free(&l);
    free(x), free(raw), free(xn);
    qa_model_predictor_free(pr);
    qa_train_net_free(net);
    qa_nn_ctx_free(ctx);
    qa_backend_free(be);
    qa_model_free(&m);
}

static void test_predictor(void) {
    int h2[2] = {16, 8};
    predictor_parity("mlp (inference kernel)", mlp_arch(4, 3, 1, 2, h2, QA_NN_ACT_GELU, 0, 0.1f), QA_MODEL_TARGET_RETURN, 1);
    predictor_parity("mlp + layernorm, 4 quantiles", mlp_arch(4, 2, 4, 2, h2, QA_NN_ACT_RELU, 1, 0.0f),
                     QA_MODEL_TARGET_QUANTILE, 4);
    predictor_parity("lstm 2 layers", lstm_arch(3, 6, 1, 8, 2, 0.0f), QA_MODEL_TARGET_RETURN, 1);
    predictor_parity("lstm, sign", lstm_arch(3, 5, 2, 8, 1, 0.2f), QA_MODEL_TARGET_SIGN, 2);
}

static int write_bytes(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    size_t w = fwrite(data, 1, n, f);
    fclose(f);
    return w != n;
}

/* Every flipped byte and every truncation is refused with a message naming the cause. */
static void test_corruption(void) {
    int h[1] = {8};
    qa_model m;
    QA_CHECK_OK(make_model(&m, mlp_arch(3, 2, 1, 1, h, QA_NN_ACT_GELU, 0, 0.0f), QA_MODEL_TARGET_RETURN, 1));
    char path[300], bad[300];
    snprintf(path, sizeof path, "%s/c.qam", dir);
    snprintf(bad, sizeof bad, "%s/bad.qam", dir);
    QA_CHECK_OK(qa_model_save(&m, path));
    char *data = NULL;
    size_t len = 0;
    QA_CHECK_OK(qa_fs_read_all(path, &data, &len));
    if (!data) return;
    uint64_t J;
    memcpy(&J, data + 16, 8);
    size_t where[] = {0, 3, 8, 12, 17, 25, 40, 32 + (size_t)J / 2, 32 + (size_t)J + 5, len - 40, len - 1};
    qa_model l;
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        data[where[i]] ^= 0x10;
        QA_CHECK(write_bytes(bad, data, len) == 0);
        qa_status s = qa_model_load(bad, &l);
        QA_CHECK_MSG(s == QA_ERR_INTEGRITY || s == QA_ERR_FORMAT, "flip at %zu: %s", where[i], qa_status_name(s));
        if (where[i] < 8) QA_CHECK(strstr(qa_err_msg(), "bad magic") != NULL);
        else if (where[i] >= 32 && where[i] != 40) QA_CHECK(strstr(qa_err_msg(), "SHA-256 mismatch") != NULL);
        data[where[i]] ^= 0x10;
    }
    size_t cuts[] = {0, 5, 31, 63, 64, len / 2, len - 33, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        QA_CHECK(write_bytes(bad, data, cuts[i]) == 0);
        qa_status s = qa_model_load(bad, &l);
        QA_CHECK_MSG(s == QA_ERR_FORMAT, "truncated to %zu: %s (%s)", cuts[i], qa_status_name(s), qa_err_msg());
        if (cuts[i] >= 8) QA_CHECK_MSG(strstr(qa_err_msg(), "truncated") != NULL, "%zu: %s", cuts[i], qa_err_msg());
    }
    char *longer = malloc(len + 1);
    memcpy(longer, data, len);
    longer[len] = 'x';
    QA_CHECK(write_bytes(bad, longer, len + 1) == 0);
    QA_CHECK_ERR(qa_model_load(bad, &l), QA_ERR_FORMAT, "length mismatch");
    QA_CHECK(write_bytes(bad, data, len) == 0);
    QA_CHECK_OK(qa_model_load(bad, &l));
    qa_model_free(&l);
    QA_CHECK_ERR(qa_model_load("/nonexistent/x.qam", &l), QA_ERR_IO, "x.qam");

    /* checkpoints: round trip, kinds are not interchangeable, corruption refused */
    qa_model_ckpt c, c2;
    memset(&c, 0, sizeof c);
    c.step = 77, c.best_val = 0.25, c.best_step = 60, c.bad_evals = 1, c.seed = 18446744073709551615ULL;
    snprintf(c.config_hash, sizeof c.config_hash, "%064d", 5);
    c.adam_m = malloc(m.nparams * sizeof(float));
    c.adam_v = malloc(m.nparams * sizeof(float));
    c.best_params = malloc(m.nparams * sizeof(float));
    for (size_t i = 0; i < m.nparams; i++)
        c.adam_m[i] = (float)i * 1e-3f, c.adam_v[i] = (float)i * 1e-6f, c.best_params[i] = -(float)i;
    char cp[300];
    snprintf(cp, sizeof cp, "%s/c.qac", dir);
    QA_CHECK_OK(qa_model_ckpt_save(&m, &c, cp));
    qa_model cm;
    QA_CHECK_OK(qa_model_ckpt_load(cp, &cm, &c2));
    QA_CHECK(c2.step == 77 && c2.best_val == 0.25 && c2.best_step == 60 && c2.bad_evals == 1 && c2.seed == c.seed);
    QA_CHECK_STR(c2.config_hash, c.config_hash);
    QA_CHECK(memcmp(c2.adam_m, c.adam_m, m.nparams * sizeof(float)) == 0 &&
             memcmp(c2.adam_v, c.adam_v, m.nparams * sizeof(float)) == 0 &&
             memcmp(c2.best_params, c.best_params, m.nparams * sizeof(float)) == 0 &&
             memcmp(cm.params, m.params, m.nparams * sizeof(float)) == 0);
    qa_model_free(&cm);
    qa_model_ckpt_free(&c2);
    QA_CHECK_ERR(qa_model_load(cp, &l), QA_ERR_FORMAT, "is a checkpoint file, expected a model");
    QA_CHECK_ERR(qa_model_ckpt_load(path, &cm, &c2), QA_ERR_FORMAT, "is a model file, expected a checkpoint");
    char *cdata = NULL;
    size_t clen = 0;
    QA_CHECK_OK(qa_fs_read_all(cp, &cdata, &clen));
    if (cdata) {
        cdata[clen - 100] ^= 1;
        QA_CHECK(write_bytes(bad, cdata, clen) == 0);
        QA_CHECK_ERR(qa_model_ckpt_load(bad, &cm, &c2), QA_ERR_INTEGRITY, "SHA-256 mismatch");
        QA_CHECK(write_bytes(bad, cdata, clen / 3) == 0);
        QA_CHECK_ERR(qa_model_ckpt_load(bad, &cm, &c2), QA_ERR_FORMAT, "truncated");
    }
    free(cdata);
    qa_model_ckpt_free(&c);
    free(longer);
    free(data);
    qa_model_free(&m);
}

int main(void) {
    if (qa_test_tmpdir(dir, sizeof dir, "train_model")) return 1;
    QA_RUN(test_layout);
    QA_RUN(test_gradients);
    QA_RUN(test_dropout);
    QA_RUN(test_predictor);
    QA_RUN(test_corruption);
    qa_test_rmtree(dir);
    return qa_test_finish();
}
