/* Policy models (qa rl train) in the model file (registry/model.h): a discrete and a
 * portfolio policy round trip bit for bit (fields, statistics, parameters, a stable
 * SHA-256), checkpoints keep the section, inconsistent policies are refused when set and
 * when saved, corrupted or inconsistent files are refused naming the field, predictor files
 * are written and read exactly as before policies existed (a digest recorded with the
 * unchanged writer, and a file it wrote: tests/registry/data/model_v1.qam), a policy
 * publishes to a registry with its signature and an RL run directory's metrics, and every
 * return-predicting consumer refuses it. */
#include <math.h>    /* NAN, sin */
#include <stdlib.h>  /* free */
#include <string.h>  /* memcmp, strstr */

#include "common/container.h" /* rewriting a model file's metadata under a valid checksum */
#include "common/fs.h"        /* qa_fs_read_all, qa_fs_write_all */
#include "common/hash.h"      /* the predictor digest */
#include "harness.h"
#include "registry/predict.h"       /* the refusal of policies */
#include "registry/registry.h"      /* publishing and the signature */
#include "registry/registry_test.h" /* the synthetic predictor */

static char g_dir[256];
static const char *g_fixture; /* a predictor file written before policies existed */

static const unsigned char MAGIC[8] = {0x89, 'Q', 'A', 'M', 'O', 'D', 'L', '\n'};

/* The digest of a predictor file written by the writer before policies existed (this
 * test's predictor() through qa_model_save at commit a60ec38): every byte but the
 * build's version and git hash (written_by, the last key) and the header's lengths that
 * depend on them. */
#define PREDICTOR_DIGEST "790eddbae4f6ce3c5f1874f5dfd6ab19fcac6b11f44e313753b1e6c21e1efa42"

static void path_of(const char *file, char *out) { snprintf(out, QA_PATH_MAX, "%s/%s", g_dir, file); }

/* ---- models ------------------------------------------------------------------------------------ */

/* The predictor the fixture holds: an MLP with LayerNorm and dropout over 3 inputs x 4 bars,
 * a standardised return target. */
static void predictor(qa_model *m) {
    qa_nn_arch a;
    memset(&a, 0, sizeof a);
    a.type = QA_NN_ARCH_MLP, a.input = 3, a.window = 4, a.outputs = 1;
    a.nhidden = 2, a.hidden[0] = 6, a.hidden[1] = 5, a.act = QA_NN_ACT_GELU, a.layer_norm = 1, a.dropout = 0.1f;
    static const char *const names[3] = {"rsi_close_14", "logret", "zscore_close_20"};
    QA_CHECK_OK(qa_test_registry_model(m, &a, names, 7));
    m->info = json_pack("{s:i, s:f}", "steps", 120, "best_val_loss", 0.015625);
}

/* Observation statistics with values that print with 17 digits (exact round trip is the
 * point) and a zero variance (a constant observation). */
static void stats(int dim, double *mean, double *var, int salt) {
    for (int i = 0; i < dim; i++) {
        mean[i] = sin(0.7 * i + salt) / 3.0;
        var[i] = i == 1 ? 0.0 : 1e-3 + (double)(i + salt) / 7.0;
    }
}

/* A policy over `ninputs` inputs ("logret", then features) x `window` bars:
 * discrete: one asset, 3 logits; else `assets` assets with continuous outputs and the
 * weight map `weights`. The arrays of *p are the caller's (mean, var: >= dim). */
static void policy(qa_model *m, int discrete, int assets, int weights, int ninputs, int window, double *mean,
                   double *var, qa_model_policy *p) {
    memset(p, 0, sizeof *p);
    p->action = discrete ? QA_MODEL_POLICY_DISCRETE : QA_MODEL_POLICY_CONTINUOUS;
    p->assets = assets, p->weights = weights;
    p->extras = assets == 1 ? 3 : assets + 2;
    p->dim = assets * ninputs * window + p->extras;
    p->obs_clip = 10.0;
    stats(p->dim, mean, var, assets);
    p->obs_mean = mean, p->obs_var = var;
    qa_nn_arch a;
    memset(&a, 0, sizeof a);
    a.type = QA_NN_ARCH_MLP, a.input = p->dim, a.window = 1, a.outputs = discrete ? 3 : assets;
    a.nhidden = 2, a.hidden[0] = 16, a.hidden[1] = 12, a.act = QA_NN_ACT_RELU;
    qa_model_spec s;
    memset(&s, 0, sizeof s);
    s.ninputs = ninputs;
    for (int f = 0; f < ninputs; f++) {
        qa_model_input *in = &s.inputs[f];
        if (f == 0) {
            snprintf(in->name, sizeof in->name, "logret");
            in->bar = QA_MODEL_BAR_LOGRET;
        } else {
            snprintf(in->name, sizeof in->name, "rsi_close_%d", 10 + f);
            in->bar = -1;
            snprintf(in->input_hash, sizeof in->input_hash, "%064d", 40 + f);
            snprintf(in->params, sizeof in->params, "{\"field\":\"close\",\"kind\":\"rsi\",\"window\":%d}", 10 + f);
        }
    }
    s.window = window, s.horizon = 256, s.target = QA_MODEL_TARGET_POLICY, s.classes = a.outputs;
    s.start = 1000, s.train_end = 5000, s.val_end = 7000, s.end = 9000, s.embargo = 3;
    QA_CHECK_OK(qa_model_init(m, &a, &s, NULL));
    for (size_t i = 0; i < m->nparams; i++) m->params[i] = (float)(0.2 * sin(0.11 * (double)i + assets));
    m->info = json_pack("{s:s}", "trainer", "qa rl train (PPO)");
}

/* The discrete single-asset policy: logret and one feature, 8 bars: D = 2 x 8 + 3 = 19. */
#define D1 19
static void policy1(qa_model *m) {
    static double mean[D1], var[D1];
    qa_model_policy p;
    policy(m, 1, 1, 0, 2, 8, mean, var, &p);
    QA_CHECK_INT(p.dim, D1);
    QA_CHECK_OK(qa_model_set_policy(m, &p));
}

static int same_doubles(const double *a, const double *b, int n) {
    return n == 0 || memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* Every field a file carries. */
static void check_same(const qa_model *a, const qa_model *b) {
    QA_CHECK(memcmp(&a->arch, &b->arch, sizeof a->arch) == 0);
    QA_CHECK(memcmp(&a->data, &b->data, sizeof a->data) == 0);
    QA_CHECK(memcmp(&a->norm, &b->norm, sizeof a->norm) == 0);
    QA_CHECK(a->nparams == b->nparams && memcmp(a->params, b->params, a->nparams * sizeof *a->params) == 0);
    const qa_model_policy *p = &a->policy, *q = &b->policy;
    QA_CHECK(p->action == q->action && p->assets == q->assets && p->weights == q->weights && p->extras == q->extras &&
             p->dim == q->dim && p->obs_clip == q->obs_clip);
    if (p->dim) {
        QA_CHECK(same_doubles(p->obs_mean, q->obs_mean, p->dim));
        QA_CHECK(same_doubles(p->obs_var, q->obs_var, p->dim));
    } else {
        QA_CHECK(!q->obs_mean && !q->obs_var && !p->obs_mean && !p->obs_var);
    }
    QA_CHECK(json_equal(a->info, b->info));
}

/* ---- file helpers ------------------------------------------------------------------------------- */

/* SHA-256 of a model file without its writer stamp: bytes [8, 16) of the header (container
 * version, flags), the JSON text up to "written_by" and the blobs. */
static void digest(const char *path, char *hex) {
    char *b = NULL;
    size_t n = 0;
    QA_CHECK_OK(qa_fs_read_all(path, &b, &n));
    uint64_t J = 0, B = 0;
    memcpy(&J, b + 16, 8), memcpy(&B, b + 24, 8);
    QA_CHECK(n == 32 + J + B + 32);
    const char *js = b + 32;
    size_t cut = 0;
    for (size_t i = 0; i + 12 <= J; i++)
        if (memcmp(js + i, "\"written_by\"", 12) == 0) cut = i;
    QA_CHECK(cut > 0);
    qa_sha256_t *h = NULL;
    QA_CHECK_OK(qa_sha256_create(&h));
    QA_CHECK_OK(qa_sha256_update(h, b + 8, 8));
    QA_CHECK_OK(qa_sha256_update(h, js, cut));
    QA_CHECK_OK(qa_sha256_update(h, js + J, B));
    QA_CHECK_OK(qa_sha256_final_hex(h, hex));
    qa_sha256_free(h);
    free(b);
}

/* The metadata of a model file (new reference). */
static json_t *metadata(const char *path) {
    json_t *doc = NULL;
    unsigned char *file = NULL;
    const unsigned char *pay = NULL;
    size_t B = 0;
    QA_CHECK_OK(qa_container_read(path, MAGIC, 1, "model", &doc, &file, &pay, &B, NULL));
    free(file);
    return doc;
}

/* Copies model file `src` to `dst` with its metadata changed by `edit`, under a valid
 * checksum: only the loader's own checks can refuse it. */
static void rewrite(const char *src, const char *dst, void (*edit)(json_t *doc)) {
    json_t *doc = NULL;
    unsigned char *file = NULL;
    const unsigned char *pay = NULL;
    size_t B = 0;
    QA_CHECK_OK(qa_container_read(src, MAGIC, 1, "model", &doc, &file, &pay, &B, NULL));
    edit(doc);
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    QA_REQUIRE(text != NULL);
    QA_CHECK_OK(qa_container_write(dst, MAGIC, 1, text, strlen(text), pay, B, NULL));
    free(text);
    free(file);
    json_decref(doc);
}

/* Loading `path` fails with QA_ERR_FORMAT naming `needle` and returns nothing. */
static void refused(const char *path, const char *needle) {
    qa_model m;
    QA_CHECK_ERR(qa_model_load(path, &m), QA_ERR_FORMAT, needle);
    QA_CHECK(m.params == NULL && m.policy.obs_mean == NULL && m.info == NULL);
    QA_CHECK_ERR(qa_model_verify(path, NULL), QA_ERR_FORMAT, needle);
}

/* ---- predictors as before ----------------------------------------------------------------------- */

static void test_predictor_unchanged(void) {
    qa_model m, f, again;
    char p[QA_PATH_MAX], q[QA_PATH_MAX], hex[65];
    predictor(&m);
    path_of("predictor.qam", p);
    QA_CHECK_OK(qa_model_save(&m, p));
    digest(p, hex);
    QA_CHECK_STR(hex, PREDICTOR_DIGEST);
    json_t *doc = metadata(p);
    QA_CHECK_INT((int)json_integer_value(json_object_get(doc, "format_version")), QA_MODEL_VERSION_PREDICTOR);
    QA_CHECK(json_object_get(doc, "policy") == NULL);
    json_decref(doc);
    /* the file the old writer wrote: loads to the same model, and writing it back gives
     * the same bytes (but the writer stamp) */
    digest(g_fixture, hex);
    QA_CHECK_STR(hex, PREDICTOR_DIGEST);
    QA_CHECK_OK(qa_model_load(g_fixture, &f));
    QA_CHECK(f.policy.dim == 0 && f.policy.obs_mean == NULL);
    check_same(&m, &f);
    path_of("predictor_again.qam", q);
    QA_CHECK_OK(qa_model_save(&f, q));
    digest(q, hex);
    QA_CHECK_STR(hex, PREDICTOR_DIGEST);
    QA_CHECK_STR(f.sha256, m.sha256); /* same build: the stamp too */
    QA_CHECK_OK(qa_model_load(q, &again));
    check_same(&m, &again);
    qa_model_free(&again);
    qa_model_free(&f);
    qa_model_free(&m);
}

static void add_policy_key(json_t *doc) { json_object_set_new(doc, "policy", json_object()); }

static void test_predictor_with_policy_section(void) {
    qa_model m;
    char p[QA_PATH_MAX], bad[QA_PATH_MAX];
    predictor(&m);
    path_of("predictor2.qam", p);
    QA_CHECK_OK(qa_model_save(&m, p));
    path_of("predictor_policy_key.qam", bad);
    rewrite(p, bad, add_policy_key);
    refused(bad, "field 'policy' belongs to policy models, but target.kind is 'return'");
    qa_model_free(&m);
}

static const char *g_loss; /* the training.loss set_loss writes */
static void set_loss(json_t *doc) { json_object_set_new(json_object_get(doc, "training"), "loss", json_string(g_loss)); }
static void set_loss_number(json_t *doc) { json_object_set_new(json_object_get(doc, "training"), "loss", json_integer(3)); }

/* training.loss names how qa evaluate recomputes the loss: each known name loads, any
 * other value is refused naming the file, the field, the value and the known names. */
static void test_predictor_loss_names(void) {
    qa_model m, l;
    char p[QA_PATH_MAX], q[QA_PATH_MAX];
    predictor(&m);
    path_of("predictor_loss.qam", p);
    QA_CHECK_OK(qa_model_save(&m, p));
    path_of("predictor_loss_edit.qam", q);
    static const char *const known[] = {"mse", "huber", "cross_entropy"};
    for (int i = 0; i < 3; i++) {
        g_loss = known[i];
        rewrite(p, q, set_loss);
        QA_CHECK_OK(qa_model_load(q, &l));
        QA_CHECK_STR(json_string_value(json_object_get(l.info, "loss")), known[i]);
        qa_model_free(&l);
    }
    g_loss = "l1";
    rewrite(p, q, set_loss);
    refused(q, "predictor_loss_edit.qam: field 'training.loss': unknown loss 'l1' (expected one of: mse, huber, "
               "cross_entropy)");
    g_loss = "MSE"; /* names are exact, as qa evaluate compares them */
    rewrite(p, q, set_loss);
    refused(q, "field 'training.loss': unknown loss 'MSE'");
    rewrite(p, q, set_loss_number);
    refused(q, "predictor_loss_edit.qam: field 'training.loss' is not a string (expected one of: mse, huber, "
               "cross_entropy)");
    qa_model_free(&m);
}

/* ---- policies ------------------------------------------------------------------------------------ */

static void test_policy_round_trip(void) {
    qa_model m, l, l2;
    char p[QA_PATH_MAX], q[QA_PATH_MAX], sha[65];
    policy1(&m);
    QA_CHECK(m.norm.std[0] == 1.0 && m.norm.mean[1] == 0.0 && m.norm.target_std == 1.0); /* the identity */
    path_of("policy.qam", p);
    QA_CHECK_OK(qa_model_save(&m, p));
    QA_CHECK_OK(qa_model_load(p, &l));
    check_same(&m, &l);
    QA_CHECK_STR(l.sha256, m.sha256);
    QA_CHECK_OK(qa_model_verify(p, sha));
    QA_CHECK_STR(sha, m.sha256);
    /* stable: the loaded model writes the same bytes */
    path_of("policy_again.qam", q);
    QA_CHECK_OK(qa_model_save(&l, q));
    QA_CHECK_STR(l.sha256, m.sha256);
    QA_CHECK_OK(qa_model_load(q, &l2));
    check_same(&m, &l2);
    /* the section as docs/models.md shows it */
    json_t *doc = metadata(p);
    QA_CHECK_INT((int)json_integer_value(json_object_get(doc, "format_version")), QA_MODEL_VERSION_POLICY);
    QA_CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "target"), "kind")), "policy");
    json_t *po = json_object_get(doc, "policy");
    QA_CHECK_STR(json_string_value(json_object_get(po, "action")), "discrete");
    QA_CHECK_INT((int)json_integer_value(json_object_get(po, "dim")), D1);
    QA_CHECK_STR(json_string_value(json_object_get(po, "layout")), QA_MODEL_POLICY_LAYOUT);
    json_t *ex = json_object_get(po, "extras");
    QA_CHECK(json_array_size(ex) == 3);
    QA_CHECK_STR(json_string_value(json_array_get(ex, 0)), "position");
    QA_CHECK_STR(json_string_value(json_array_get(ex, 2)), "time_in_trade");
    QA_CHECK(json_array_size(json_object_get(po, "obs_var")) == D1);
    json_decref(doc);
    qa_model_free(&l2);
    qa_model_free(&l);
    qa_model_free(&m);
}

static void test_portfolio_round_trip(void) {
    /* continuous, 3 assets, long/short, one input x 4 bars: D = 3 x 1 x 4 + 5 = 17 */
    static double mean[17], var[17];
    qa_model m, l;
    qa_model_policy pol;
    policy(&m, 0, 3, QA_MODEL_POLICY_LONG_SHORT, 1, 4, mean, var, &pol);
    QA_CHECK_INT(pol.dim, 17);
    QA_CHECK_OK(qa_model_set_policy(&m, &pol));
    /* deep copy: the caller's arrays stay the caller's */
    mean[0] = 99.0;
    QA_CHECK(m.policy.obs_mean != mean && m.policy.obs_mean[0] != 99.0);
    char p[QA_PATH_MAX], buf[32];
    path_of("portfolio.qam", p);
    QA_CHECK_OK(qa_model_save(&m, p));
    QA_CHECK_OK(qa_model_load(p, &l));
    check_same(&m, &l);
    QA_CHECK_INT(l.policy.extras, 5);
    QA_CHECK_STR(qa_model_policy_extra_name(&l.policy, 0, buf, sizeof buf), "weight_0");
    QA_CHECK_STR(qa_model_policy_extra_name(&l.policy, 3, buf, sizeof buf), "episode_pnl");
    QA_CHECK_STR(qa_model_policy_extra_name(&l.policy, 4, buf, sizeof buf), "time");
    qa_model_free(&l);
    qa_model_free(&m);
}

static void test_policy_checkpoint(void) {
    qa_model m, l;
    qa_model_ckpt c, lc;
    policy1(&m);
    memset(&c, 0, sizeof c);
    c.step = 7, c.best_val = 0.5, c.best_step = -1, c.seed = 42;
    c.adam_m = calloc(m.nparams, sizeof(float)), c.adam_v = calloc(m.nparams, sizeof(float));
    char p[QA_PATH_MAX];
    path_of("policy.qac", p);
    QA_CHECK_OK(qa_model_ckpt_save(&m, &c, p));
    QA_CHECK_OK(qa_model_ckpt_load(p, &l, &lc));
    QA_CHECK(lc.step == 7 && lc.seed == 42);
    check_same(&m, &l);
    qa_model_ckpt_free(&lc);
    qa_model_ckpt_free(&c);
    qa_model_free(&l);
    qa_model_free(&m);
}

/* set_policy refuses p (QA_ERR_CONFIG naming `needle`) and leaves m as it was. */
static void set_refused(qa_model *m, const qa_model_policy *p, const char *needle) {
    QA_CHECK_ERR(qa_model_set_policy(m, p), QA_ERR_CONFIG, needle);
    QA_CHECK(m->policy.obs_mean == NULL && m->policy.dim == 0);
}

static void test_set_policy_refusals(void) {
    static double mean[D1], var[D1];
    qa_model m;
    qa_model_policy p, b;
    policy(&m, 1, 1, 0, 2, 8, mean, var, &p);
    b = p, b.dim = D1 + 1;
    set_refused(&m, &b, "policy.dim = 20 but assets x inputs x window + extras = 1 x 2 x 8 + 3 = 19");
    b = p, b.extras = 4;
    set_refused(&m, &b, "policy.extras = 4; the layout of 1 asset(s) has 3");
    b = p, b.assets = 2;
    set_refused(&m, &b, "policy.action discrete trades one asset");
    b = p, b.action = QA_MODEL_POLICY_CONTINUOUS; /* 3 outputs, one asset */
    set_refused(&m, &b, "architecture.outputs = 3; a continuous policy over 1 asset(s) has 1");
    b = p, b.action = 5;
    set_refused(&m, &b, "policy.action 5");
    b = p, b.obs_clip = -1.0;
    set_refused(&m, &b, "policy.obs_clip");
    mean[4] = NAN;
    set_refused(&m, &p, "policy.obs_mean[4] = nan is not finite");
    mean[4] = 0.0, var[2] = -1e-9;
    set_refused(&m, &p, "policy.obs_var[2]");
    var[2] = 0.5;
    m.data.standardize = 1;
    set_refused(&m, &p, "target.standardize");
    m.data.standardize = 0, m.data.clip = 3.0;
    set_refused(&m, &p, "inputs.clip = 3 but policy.obs_clip = 10");
    m.data.clip = 10.0; /* the same clip is allowed */
    QA_CHECK_OK(qa_model_set_policy(&m, &p));
    /* NaN put in after the checks: the writer refuses rather than write a broken file */
    m.policy.obs_mean[3] = NAN;
    char path[QA_PATH_MAX];
    path_of("never.qam", path);
    QA_CHECK_ERR(qa_model_save(&m, path), QA_ERR_CONFIG, "policy.obs_mean[3]");
    QA_CHECK(!qa_fs_exists(path));
    qa_model_free(&m);
    /* a window over the architecture */
    policy(&m, 1, 1, 0, 2, 8, mean, var, &p);
    m.arch.window = 2;
    set_refused(&m, &p, "architecture.window = 2");
    m.arch.window = 1, m.data.target = QA_MODEL_TARGET_SIGN;
    set_refused(&m, &p, "target.kind is 'sign'");
    qa_model_free(&m);
}

/* ---- corrupted and inconsistent files ------------------------------------------------------------ */

static json_t *pol_of(json_t *doc) { return json_object_get(doc, "policy"); }
static void drop_obs_var(json_t *doc) { json_object_del(pol_of(doc), "obs_var"); }
static void short_mean(json_t *doc) { json_array_remove(json_object_get(pol_of(doc), "obs_mean"), D1 - 1); }
static void wrong_dim(json_t *doc) { /* 20 values each and dim 20: consistent arrays, wrong layout */
    json_object_set_new(pol_of(doc), "dim", json_integer(D1 + 1));
    json_array_append_new(json_object_get(pol_of(doc), "obs_mean"), json_real(0.0));
    json_array_append_new(json_object_get(pol_of(doc), "obs_var"), json_real(1.0));
}
static void null_mean(json_t *doc) { json_array_set_new(json_object_get(pol_of(doc), "obs_mean"), 4, json_null()); }
static void negative_var(json_t *doc) { json_array_set_new(json_object_get(pol_of(doc), "obs_var"), 2, json_real(-0.5)); }
static void no_policy(json_t *doc) { json_object_del(doc, "policy"); }
static void version_1(json_t *doc) { json_object_set_new(doc, "format_version", json_integer(1)); }
static void version_3(json_t *doc) { json_object_set_new(doc, "format_version", json_integer(3)); }
static void bad_extra(json_t *doc) { json_array_set_new(json_object_get(pol_of(doc), "extras"), 1, json_string("pnl")); }
static void bad_action(json_t *doc) { json_object_set_new(pol_of(doc), "action", json_string("greedy")); }
static void bad_layout(json_t *doc) { json_object_set_new(pol_of(doc), "layout", json_string("[window, inputs]")); }
static void two_outputs(json_t *doc) { /* classes, outputs and parameters agree; the action does not */
    json_t *a = json_object_get(doc, "architecture");
    json_object_set_new(json_object_get(doc, "target"), "classes", json_integer(2));
    json_object_set_new(a, "outputs", json_integer(2));
    const json_int_t np = json_integer_value(json_object_get(a, "parameters"));
    json_object_set_new(a, "parameters", json_integer(np - 12 - 1)); /* one head row: 12 weights, 1 bias */
}

static void test_policy_corrupt(void) {
    qa_model m;
    char p[QA_PATH_MAX], bad[QA_PATH_MAX];
    policy1(&m);
    path_of("policy_src.qam", p);
    QA_CHECK_OK(qa_model_save(&m, p));
    static const struct {
        void (*edit)(json_t *);
        const char *needle;
    } cases[] = {
        {drop_obs_var, "field 'policy.obs_var' is missing or not a list"},
        {short_mean, "field 'policy.obs_mean' has 18 values but policy.dim is 19"},
        {wrong_dim, "policy.dim = 20 but assets x inputs x window + extras = 1 x 2 x 8 + 3 = 19"},
        {null_mean, "field 'policy.obs_mean[4]' is not a finite number"},
        {negative_var, "policy.obs_var[2] = -0.5 (expected finite and >= 0)"},
        {no_policy, "field 'policy' is missing"},
        {version_1, "field 'format_version' is 1; a policy model is format_version 2"},
        {version_3, "format version 3 is newer than this build supports (2)"},
        {bad_extra, "field 'policy.extras[1]' is 'pnl'; the layout of 1 asset(s) has 'unrealised_pnl'"},
        {bad_action, "field 'policy.action' is 'greedy'"},
        {bad_layout, "field 'policy.layout'"},
        {two_outputs, "architecture.outputs = 2; a discrete policy over 1 asset(s) has 3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(bad, sizeof bad, "%s/corrupt_%zu.qam", g_dir, i);
        rewrite(p, bad, cases[i].edit);
        refused(bad, cases[i].needle);
        QA_CHECK(strstr(qa_err_msg(), bad) != NULL); /* and the file */
    }
    /* NaN is no JSON number: written as text it fails the metadata's parse */
    char *b = NULL;
    size_t n = 0;
    QA_CHECK_OK(qa_fs_read_all(p, &b, &n));
    json_t *doc = metadata(p);
    json_array_set_new(json_object_get(pol_of(doc), "obs_mean"), 4, json_real(123.25));
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    QA_REQUIRE(text != NULL);
    char *at = strstr(text, "123.25");
    QA_REQUIRE(at != NULL);
    memcpy(at, "NaN   ", 6); // NOLINT(bugprone-not-null-terminated-result): overwrites 6 bytes inside the JSON text
    uint64_t J = 0, B = 0;
    memcpy(&J, b + 16, 8), memcpy(&B, b + 24, 8);
    path_of("corrupt_nan.qam", bad);
    QA_CHECK_OK(qa_container_write(bad, MAGIC, 1, text, strlen(text), b + 32 + J, B, NULL));
    qa_model l;
    const char *named = bad;
    QA_CHECK_ERR(qa_model_load(bad, &l), QA_ERR_FORMAT, named);
    QA_CHECK(strstr(qa_err_msg(), "is not valid JSON") && strstr(qa_err_msg(), "column"));
    /* valid JSON that is not an object: the message names what it is (it said "(, line -1)") */
    QA_CHECK_OK(qa_container_write(bad, MAGIC, 1, "[1, 2]", 6, b + 32 + J, B, NULL));
    QA_CHECK_ERR(qa_model_load(bad, &l), QA_ERR_FORMAT, "metadata is an array, expected a JSON object");
    QA_CHECK(strstr(qa_err_msg(), "line -1") == NULL);
    free(text);
    json_decref(doc);
    /* truncated inside the policy section: the container's length check */
    const char *sec = strstr(b + 32, "\"obs_var\"");
    QA_REQUIRE(sec != NULL && (size_t)(sec - b) < 32 + J);
    path_of("truncated.qam", bad);
    QA_CHECK_OK(qa_fs_write_all(bad, b, (size_t)(sec - b)));
    QA_CHECK_ERR(qa_model_load(bad, &l), QA_ERR_FORMAT, "length mismatch");
    /* one flipped byte in the statistics: the checksum */
    b[sec - b + 12] ^= 1;
    path_of("flipped.qam", bad);
    QA_CHECK_OK(qa_fs_write_all(bad, b, n));
    QA_CHECK(qa_model_load(bad, &l) != QA_OK);
    free(b);
    qa_model_free(&m);
}

/* ---- consumers ------------------------------------------------------------------------------------- */

static void test_predictor_refuses_policy(void) {
    qa_model m;
    char p[QA_PATH_MAX], label[QA_PATH_MAX];
    policy1(&m);
    path_of("policy_pred.qam", p);
    QA_CHECK_OK(qa_model_save(&m, p));
    qa_model_predictor_t *pr = NULL;
    QA_CHECK_ERR(qa_model_predictor_create(&m, 4, &pr), QA_ERR_CONFIG,
                 "a policy model (qa rl train) is not a return predictor");
    char who[32];
    snprintf(who, sizeof who, "model %.12s: ", m.sha256); /* the model by its content identity */
    QA_CHECK(pr == NULL && strstr(qa_err_msg(), who) != NULL);
    qa_model_stream_t *s = NULL;
    QA_CHECK_ERR(qa_model_stream_create(&m, 2, 0, &s), QA_ERR_CONFIG, "is not a return predictor");
    QA_CHECK(s == NULL);
    /* by path: the message names the file */
    qa_model l;
    char want[QA_PATH_MAX + 64];
    snprintf(want, sizeof want, "%s: a policy model (qa rl train) is not a return predictor", p);
    const char *needle = want;
    QA_CHECK_ERR(qa_registry_load_ref(NULL, p, &l, label, NULL), QA_ERR_CONFIG, needle);
    QA_CHECK(l.params == NULL && l.policy.obs_mean == NULL);
    QA_CHECK_OK(qa_registry_load_policy_ref(NULL, p, &l, label, NULL));
    QA_CHECK_STR(label, p);
    check_same(&m, &l);
    qa_model_free(&l);
    /* and the other way round */
    qa_model pm;
    char pp[QA_PATH_MAX];
    predictor(&pm);
    path_of("predictor_ref.qam", pp);
    QA_CHECK_OK(qa_model_save(&pm, pp));
    QA_CHECK_ERR(qa_registry_load_policy_ref(NULL, pp, &l, NULL, NULL), QA_ERR_CONFIG,
                 "a return predictor (target return, qa train), not a policy model");
    QA_CHECK_OK(qa_registry_load_ref(NULL, pp, &l, NULL, NULL));
    QA_CHECK_OK(qa_model_predictor_create(&l, 4, &pr));
    qa_model_predictor_free(pr);
    qa_model_free(&l);
    qa_model_free(&pm);
    qa_model_free(&m);
}

/* An RL run directory as qa rl train leaves it. */
static void rl_run_dir(const char *dir, const qa_model *m) {
    char p[QA_PATH_MAX + 32];
    QA_CHECK_OK(qa_fs_mkdirs(dir));
    snprintf(p, sizeof p, "%s/model.qam", dir);
    QA_CHECK_OK(qa_model_save((qa_model *)m, p));
    static const struct {
        const char *file, *text;
    } files[] = {
        {"summary.json", "{\"updates\": 40, \"seconds\": 12.5, \"stop_reason\": \"steps\", \"best_val_reward_per_step\": "
                         "0.0004, \"evaluation\": {\"split\": \"test\", \"policy_sharpe\": 0.8}, \"val_reward_per_step\": "
                         "0.0004, \"test_sharpe\": 0.75, \"test_total_return\": 0.125, \"metrics\": {\"train_ep_return\": "
                         "0.03, \"eval\": {\"test\": {\"sharpe\": 0.75, \"total_return\": 0.125}}, \"note\": \"x\"}}"},
        {"config.resolved.json", "{\"agent\": {\"algo\": \"ppo\"}, \"env\": {\"window\": 8}}"},
        {"lineage.json", "{\"run_id\": \"rl-0001\", \"data\": {\"sha256\": \"abc\"}}"},
        {"run.json", "{\"status\": \"ok\", \"argv\": [\"qa\", \"rl\", \"train\"], \"host\": \"h\"}"},
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i].file);
        QA_CHECK_OK(qa_fs_write_all(p, files[i].text, strlen(files[i].text)));
    }
}

static double metric(json_t *metrics, const char *k) {
    json_t *v = json_object_get(metrics, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void test_policy_registry(void) {
    qa_model m, l;
    char run[QA_PATH_MAX], reg[QA_PATH_MAX];
    policy1(&m);
    path_of("rl_run", run);
    rl_run_dir(run, &m);
    path_of("reg", reg);
    qa_registry_t *r = NULL;
    QA_CHECK_OK(qa_registry_open(reg, 1, &r));
    long v = 0;
    QA_CHECK_OK(qa_registry_publish_path(r, run, "ppo-spy", NULL, "a policy", "tester", &v));
    QA_CHECK(v == 1);
    json_t *show = NULL;
    QA_CHECK_OK(qa_registry_show(r, "models:/ppo-spy/1", &show));
    /* metrics of an RL run: top level numbers and the metrics object, flattened */
    json_t *met = json_object_get(show, "metrics");
    QA_CHECK(metric(met, "test_sharpe") == 0.75 && metric(met, "test_total_return") == 0.125);
    QA_CHECK(metric(met, "val_reward_per_step") == 0.0004 && metric(met, "updates") == 40.0);
    QA_CHECK(metric(met, "eval_test_sharpe") == 0.75 && metric(met, "eval_test_total_return") == 0.125);
    QA_CHECK(metric(met, "train_ep_return") == 0.03);
    QA_CHECK(!json_object_get(met, "note") && !json_object_get(met, "stop_reason") &&
             !json_object_get(met, "evaluation_policy_sharpe"));
    QA_CHECK_STR(json_string_value(json_object_get(json_object_get(show, "lineage"), "run_id")), "rl-0001");
    /* the signature */
    json_t *sig = json_object_get(show, "signature");
    QA_CHECK_STR(json_string_value(json_object_get(sig, "layout")), QA_MODEL_POLICY_LAYOUT);
    QA_CHECK_STR(json_string_value(json_object_get(sig, "dtype")), "float32");
    QA_CHECK_INT((int)json_integer_value(json_object_get(sig, "window")), 8);
    QA_CHECK_INT((int)json_integer_value(json_object_get(sig, "dim")), D1);
    json_t *in = json_object_get(sig, "inputs");
    QA_CHECK(json_array_size(in) == 2);
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(in, 0), "name")), "logret");
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(in, 1), "kind")), "feature");
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(in, 1), "input_hash")), m.data.inputs[1].input_hash);
    json_t *ex = json_object_get(sig, "extras");
    QA_CHECK(json_array_size(ex) == 3);
    QA_CHECK_STR(json_string_value(json_array_get(ex, 1)), "unrealised_pnl");
    json_t *nm = json_object_get(sig, "normalisation");
    QA_CHECK(json_number_value(json_object_get(nm, "obs_clip")) == 10.0);
    QA_CHECK_STR(json_string_value(json_object_get(nm, "formula")), QA_MODEL_POLICY_FORMULA);
    json_t *om = json_object_get(nm, "obs_mean"), *ov = json_object_get(nm, "obs_var");
    QA_CHECK(json_array_size(om) == D1 && json_array_size(ov) == D1);
    for (int i = 0; i < D1; i++) { /* 17 significant digits: the doubles exactly */
        QA_CHECK(json_number_value(json_array_get(om, (size_t)i)) == m.policy.obs_mean[i]);
        QA_CHECK(json_number_value(json_array_get(ov, (size_t)i)) == m.policy.obs_var[i]);
    }
    json_t *out = json_object_get(sig, "output");
    QA_CHECK_STR(json_string_value(json_object_get(out, "target")), "policy");
    QA_CHECK_STR(json_string_value(json_object_get(out, "action")), "discrete");
    json_t *acts = json_object_get(out, "actions");
    QA_CHECK(json_array_size(acts) == 3);
    QA_CHECK_STR(json_string_value(json_array_get(acts, 0)), "short");
    QA_CHECK_STR(json_string_value(json_array_get(acts, 2)), "long");
    QA_CHECK(json_is_null(json_object_get(out, "weights")));
    QA_CHECK_INT((int)json_integer_value(json_object_get(out, "classes")), 3);
    QA_CHECK_INT((int)json_integer_value(json_object_get(out, "horizon")), 256);
    QA_CHECK(strstr(json_string_value(json_object_get(out, "meaning")), "logits") != NULL);
    QA_CHECK_STR(json_string_value(json_object_get(json_object_get(sig, "architecture"), "type")), "mlp");
    json_decref(show);
    /* loading it back: the registry hands out the policy; return predictors refuse it */
    qa_registry_version info;
    QA_CHECK_OK(qa_registry_load(r, "models:/ppo-spy/1", &l, &info));
    check_same(&m, &l);
    const char *names[2] = {"logret", "rsi_close_11"}, *swapped[2] = {"rsi_close_11", "logret"};
    QA_CHECK_OK(qa_registry_check_inputs(&l, "models:/ppo-spy/1", names, NULL, 2));
    QA_CHECK_ERR(qa_registry_check_inputs(&l, "models:/ppo-spy/1", swapped, NULL, 2), QA_ERR_CONFIG, "reordered");
    qa_model_free(&l);
    char label[QA_PATH_MAX];
    QA_CHECK_ERR(qa_registry_load_ref(reg, "models:/ppo-spy/1", &l, label, NULL), QA_ERR_CONFIG,
                 "models:/ppo-spy/1: a policy model (qa rl train) is not a return predictor");
    QA_CHECK_OK(qa_registry_load_policy_ref(reg, "models:/ppo-spy/latest", &l, label, &info));
    QA_CHECK_STR(label, "models:/ppo-spy/1");
    QA_CHECK(info.version == 1);
    qa_model_free(&l);
    /* a continuous portfolio's output */
    static double mean[14], var[14];
    qa_model pm;
    qa_model_policy pol;
    policy(&pm, 0, 4, QA_MODEL_POLICY_SOFTMAX, 1, 2, mean, var, &pol); /* 4 x 1 x 2 + 6 = 14 */
    QA_CHECK_OK(qa_model_set_policy(&pm, &pol));
    json_t *s2 = qa_registry_signature(&pm);
    json_t *o2 = json_object_get(s2, "output");
    QA_CHECK_STR(json_string_value(json_object_get(o2, "action")), "continuous");
    QA_CHECK_STR(json_string_value(json_object_get(o2, "weights")), "softmax");
    QA_CHECK(json_is_string(json_object_get(o2, "actions")));
    QA_CHECK_STR(json_string_value(json_array_get(json_object_get(s2, "extras"), 3)), "weight_3");
    QA_CHECK_INT((int)json_integer_value(json_object_get(s2, "assets")), 4);
    json_decref(s2);
    qa_model_free(&pm);
    qa_registry_close(r);
    qa_model_free(&m);
}

/* A predictor run's metrics are what they were: the named evaluation and training keys
 * only (its summary has no top-level numbers and no metrics object). */
static void test_predictor_run_metrics(void) {
    qa_model m;
    char run[QA_PATH_MAX], p[QA_PATH_MAX + 32];
    predictor(&m);
    path_of("train_run", run);
    QA_CHECK_OK(qa_fs_mkdirs(run));
    snprintf(p, sizeof p, "%s/model.qam", run);
    QA_CHECK_OK(qa_model_save(&m, p));
    const char *sum = "{\"model\": {\"type\": \"mlp\", \"parameters\": 117, \"inputs\": 3}, \"samples\": {\"train\": "
                      "{\"rows\": 10}}, \"training\": {\"steps\": 120, \"best_val_loss\": 0.5, \"seconds\": 3.0}, "
                      "\"evaluation\": {\"val\": {\"loss\": 0.5, \"ic\": {\"mean\": 0.02, \"t\": 1.5}}, \"test\": "
                      "{\"backtest\": {\"sharpe\": 1.25}}}, \"model_file\": \"model.qam\"}";
    snprintf(p, sizeof p, "%s/summary.json", run);
    QA_CHECK_OK(qa_fs_write_all(p, sum, strlen(sum)));
    snprintf(p, sizeof p, "%s/config.resolved.json", run);
    QA_CHECK_OK(qa_fs_write_all(p, "{}", 2));
    snprintf(p, sizeof p, "%s/lineage.json", run);
    QA_CHECK_OK(qa_fs_write_all(p, "{}", 2));
    qa_registry_run rr;
    QA_CHECK_OK(qa_registry_run_read(run, &rr));
    json_t *want = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}", "val_loss", 0.5, "val_ic", 0.02, "val_ic_t", 1.5,
                             "test_sharpe", 1.25, "best_val_loss", 0.5, "steps", 120.0);
    QA_CHECK_MSG(json_equal(rr.metrics, want), "metrics %s", json_dumps(rr.metrics, JSON_SORT_KEYS));
    json_decref(want);
    qa_registry_run_free(&rr);
    qa_model_free(&m);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        printf("usage: test_model_policy tests/registry/data/model_v1.qam\n");
        return 1;
    }
    g_fixture = argv[1];
    if (qa_test_tmpdir(g_dir, sizeof g_dir, "model_policy")) {
        printf("cannot create a temporary directory\n");
        return 1;
    }
    QA_RUN(test_predictor_unchanged);
    QA_RUN(test_predictor_with_policy_section);
    QA_RUN(test_predictor_loss_names);
    QA_RUN(test_policy_round_trip);
    QA_RUN(test_portfolio_round_trip);
    QA_RUN(test_policy_checkpoint);
    QA_RUN(test_set_policy_refusals);
    QA_RUN(test_policy_corrupt);
    QA_RUN(test_predictor_refuses_policy);
    QA_RUN(test_policy_registry);
    QA_RUN(test_predictor_run_metrics);
    qa_test_rmtree(g_dir);
    return qa_test_finish();
}
