/* The training loop end to end on a small synthetic store: a run stopped part-way and
 * resumed equals an uninterrupted run bit for bit (MLP with dropout and LayerNorm, and an
 * LSTM), early stopping, corrupted / mismatched checkpoints refused, and every class of
 * bad configuration refused with file:line:key before training starts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "harness.h"
#include "mpi/comm.h"
#include "pipeline/train/train.h"
#include "registry/model.h"
#include "train_test.h"

static tt_fixture fx;
static qa_comm_t *comm;

static const char *const MLP_CFG =
    "backend: cpu\n"
    "seed: 3\n"
    "threads: 1\n"
    "inputs:\n"
    "  features: [f_signal, f_noise, f_mom]\n"
    "  bars: [logret, range]\n"
    "  window: 2\n"
    "  clip: 5\n"
    "target: {kind: return, horizon: 5}\n"
    "split: {train_end: 2001-01-01, val_end: 2001-05-01, embargo: 5}\n"
    "model: {type: mlp, hidden: [16, 8], activation: gelu, layer_norm: true, dropout: 0.2}\n"
    "train: {batch_size: 64, steps: 60, lr: 3e-3, warmup_steps: 5, eval_every: 20, log_every: 5, patience: 0}\n"
    "parallel: {shards: 2}\n";

static const char *const LSTM_CFG =
    "backend: cpu\n"
    "seed: 5\n"
    "threads: 1\n"
    "inputs: {features: [f_signal, f_mom], bars: [ret], window: 6}\n"
    "target: {kind: sign, horizon: 5}\n"
    "split: {train_end: 2001-01-01, val_end: 2001-05-01, embargo: 5}\n"
    "model: {type: lstm, hidden: [8], dropout: 0.1}\n"
    "train: {batch_size: 32, steps: 40, lr: 1e-2, warmup_steps: 4, eval_every: 10, patience: 0}\n"
    "parallel: {shards: 4}\n";

/* Trains `yaml` (+ overrides) into `run`; returns the status. */
static qa_status train(const char *yaml, const char *name, const char *const *sets, size_t nsets, const char *run,
                       int resume, long long max_steps, qa_train_result *res) {
    tt_run o = {.name = name, .sets = sets, .nsets = nsets, .data = fx.store, .run_dir = run, .max_steps = max_steps,
                .resume = resume};
    return tt_train(yaml, &o, comm, res);
}

static void run_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%.40s", fx.dir, name); }

static int same_floats(const float *a, const float *b, size_t n, const char *what) {
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) diff += memcmp(&a[i], &b[i], sizeof *a) != 0;
    if (diff) printf("  %s: %zu of %zu values differ\n", what, diff, n);
    return diff == 0;
}

/* train/val losses of every metrics line, in order */
static size_t losses(const char *run, double *out, size_t cap) {
    char p[400], *text = NULL;
    size_t len = 0, n = 0;
    snprintf(p, sizeof p, "%s/metrics.jsonl", run);
    if (qa_fs_read_all(p, &text, &len) != QA_OK) return 0;
    for (char *line = text; line && *line && n + 3 <= cap;) {
        char *nl = strchr(line, '\n');
        json_t *j = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line), 0, NULL);
        json_t *v = json_object_get(j, "val_loss");
        out[n++] = (double)json_integer_value(json_object_get(j, "step"));
        out[n++] = json_number_value(json_object_get(j, "train_loss"));
        out[n++] = json_is_number(v) ? json_number_value(v) : -1.0;
        json_decref(j);
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return n;
}

static void check_resume(const char *yaml, const char *tag, long long stop_at) {
    char a[300], b[300], p[400], q[400];
    snprintf(p, sizeof p, "%s_full", tag);
    run_path(a, sizeof a, p);
    snprintf(p, sizeof p, "%s_resumed", tag);
    run_path(b, sizeof b, p);
    qa_train_result ra, rb;
    QA_CHECK_OK(train(yaml, "cfg.yaml", NULL, 0, a, 0, 0, &ra));
    QA_CHECK_OK(train(yaml, "cfg.yaml", NULL, 0, b, 0, stop_at, &rb));
    QA_CHECK_STR(rb.stop_reason, "max-steps");
    QA_CHECK_INT(rb.steps, stop_at);
    snprintf(p, sizeof p, "%s/summary.json", b);
    QA_CHECK(!qa_fs_exists(p)); /* paused: no final evaluation yet */
    QA_CHECK_ERR(train(yaml, "cfg.yaml", NULL, 0, b, 0, 0, NULL), QA_ERR_EXISTS, "pass --resume");
    QA_CHECK_OK(train(yaml, "cfg.yaml", NULL, 0, b, 1, 0, &rb));
    QA_CHECK_INT(rb.steps, ra.steps);
    QA_CHECK(ra.best_val_loss == rb.best_val_loss && ra.best_step == rb.best_step);
    QA_CHECK(ra.test_ic == rb.test_ic);
    /* final checkpoints and best models: identical parameters and optimiser state */
    qa_model ma, mb;
    qa_model_ckpt ca, cb;
    snprintf(p, sizeof p, "%s/checkpoint.qac", a);
    snprintf(q, sizeof q, "%s/checkpoint.qac", b);
    QA_CHECK_OK(qa_model_ckpt_load(p, &ma, &ca));
    QA_CHECK_OK(qa_model_ckpt_load(q, &mb, &cb));
    if (ma.params && mb.params) {
        QA_CHECK(ma.nparams == mb.nparams && ca.step == cb.step);
        QA_CHECK(same_floats(ma.params, mb.params, ma.nparams, "params"));
        QA_CHECK(same_floats(ca.adam_m, cb.adam_m, ma.nparams, "adam m"));
        QA_CHECK(same_floats(ca.adam_v, cb.adam_v, ma.nparams, "adam v"));
    }
    qa_model_free(&ma), qa_model_free(&mb);
    qa_model_ckpt_free(&ca), qa_model_ckpt_free(&cb);
    snprintf(p, sizeof p, "%s/model.qam", a);
    snprintf(q, sizeof q, "%s/model.qam", b);
    QA_CHECK_OK(qa_model_load(p, &ma));
    QA_CHECK_OK(qa_model_load(q, &mb));
    if (ma.params && mb.params) QA_CHECK(same_floats(ma.params, mb.params, ma.nparams, "best model"));
    qa_model_free(&ma), qa_model_free(&mb);
    /* the metrics file continues where the checkpoint was: same losses, same steps */
    double la[600], lb[600];
    size_t na = losses(a, la, 600), nb = losses(b, lb, 600);
    QA_CHECK_INT(na, nb);
    QA_CHECK(na > 0 && memcmp(la, lb, na * sizeof *la) == 0);
    /* learning happened (the signal feature is predictive): the last train loss is
     * below the first */
    QA_CHECK_MSG(na >= 6 && la[na - 2] < la[1], "train loss %g -> %g", na >= 6 ? la[1] : 0, na >= 6 ? la[na - 2] : 0);
}

static void test_resume_mlp(void) { check_resume(MLP_CFG, "mlp", 30); }
static void test_resume_lstm(void) { check_resume(LSTM_CFG, "lstm", 20); }

static void test_checkpoint_refusals(void) {
    char b[300], p[400];
    run_path(b, sizeof b, "refuse");
    QA_CHECK_OK(train(MLP_CFG, "cfg.yaml", NULL, 0, b, 0, 20, NULL));
    /* another config: refused */
    const char *lr[] = {"train.lr=1e-3"};
    QA_CHECK_ERR(train(MLP_CFG, "cfg.yaml", lr, 1, b, 1, 0, NULL), QA_ERR_STATE, "the configuration differs");
    /* a corrupted checkpoint: refused */
    snprintf(p, sizeof p, "%s/checkpoint.qac", b);
    char *data = NULL;
    size_t len = 0;
    QA_CHECK_OK(qa_fs_read_all(p, &data, &len));
    if (data) {
        data[len / 2] ^= 4;
        QA_CHECK_OK(qa_fs_write_all(p, data, len));
        QA_CHECK_ERR(train(MLP_CFG, "cfg.yaml", NULL, 0, b, 1, 0, NULL), QA_ERR_INTEGRITY, "SHA-256 mismatch");
        QA_CHECK_OK(qa_fs_write_all(p, data, len / 2));
        QA_CHECK_ERR(train(MLP_CFG, "cfg.yaml", NULL, 0, b, 1, 0, NULL), QA_ERR_FORMAT, "truncated");
    }
    free(data);
    /* --resume without a checkpoint starts from scratch (a requeued job that died early) */
    char c[300];
    qa_train_result r;
    run_path(c, sizeof c, "nothing");
    QA_CHECK_OK(train(MLP_CFG, "cfg.yaml", NULL, 0, c, 1, 10, &r));
    QA_CHECK_INT(r.steps, 10);
}

static void test_early_stopping(void) {
    char b[300];
    run_path(b, sizeof b, "early");
    const char *sets[] = {"train.lr=0", "train.lr_min=0", "train.patience=2", "train.steps=200", "train.eval_every=10"};
    qa_train_result r;
    QA_CHECK_OK(train(MLP_CFG, "cfg.yaml", sets, 5, b, 0, 0, &r));
    /* lr 0: the validation loss never improves after the first evaluation */
    QA_CHECK_STR(r.stop_reason, "early stopping");
    QA_CHECK_INT(r.steps, 30);
    QA_CHECK_INT(r.best_step, 10);
}

typedef struct bad_case {
    const char *find, *replace; /* an edit of MLP_CFG's text that breaks it */
    const char *needle;         /* expected in the message: file:line: key */
} bad_case;

/* MLP_CFG with the first `find` replaced. */
static void edit(char *out, size_t n, const char *find, const char *replace) {
    const char *at = strstr(MLP_CFG, find);
    if (!at) {
        snprintf(out, n, "%s", MLP_CFG);
        return;
    }
    snprintf(out, n, "%.*s%s%s", (int)(at - MLP_CFG), MLP_CFG, replace, at + strlen(find));
}

static void test_bad_configs(void) {
    const bad_case cases[] = {
        {"type: mlp", "type: transformer", "cfg.yaml:11: key 'model.type': 'transformer' is not one of"},
        {"activation: gelu", "activation: swish", "cfg.yaml:11: key 'model.activation'"},
        {"f_noise, f_mom]", "no_such, f_mom]", "cfg.yaml:5: key 'inputs.features[1]': feature 'no_such' is not in /features"},
        {"[logret, range]", "[logret, vwap]", "cfg.yaml:6: key 'inputs.bars[1]': unknown bar input 'vwap'"},
        {"horizon: 5}", "horizon: 5000}", "cfg.yaml:9: key 'target.horizon': 5000 bars ahead exceeds the data"},
        {"val_end: 2001-05-01", "val_end: 2001-01-02", "cfg.yaml:10: key 'split.val_end': the val split"},
        {"batch_size: 64", "batch_size: 100000", "cfg.yaml:12: key 'train.batch_size': 100000 is larger than the training set"},
        {"batch_size: 64", "batch_size: 63", "cfg.yaml:12: key 'train.batch_size': 63 is not divisible"},
        {"train: {", "train: {loss: cross_entropy, ", "cfg.yaml:12: key 'train.loss'"},
        {"train_end: 2001-01-01", "train_end: 2001-13-45", "cfg.yaml:10: key 'split.train_end': '2001-13-45' is not a date"},
        {"val_end: 2001-05-01", "val_end: 2000-06-01", "cfg.yaml:10: key 'split.val_end': must be after split.train_end"},
        {"dropout: 0.2", "dropout: 1.5", "cfg.yaml:11: key 'model.dropout'"},
        {"train: {", "trian: {", "cfg.yaml:12: unknown key 'trian'"},
        {"shards: 2", "shards: 3", "not divisible into parallel.shards = 3"},
        {"hidden: [16, 8]", "hidden: [16, 0]", "cfg.yaml:11: key 'model.hidden"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char b[300], yaml[2048], p[400];
        snprintf(b, sizeof b, "%s/bad%zu", fx.dir, i);
        edit(yaml, sizeof yaml, cases[i].find, cases[i].replace);
        QA_CHECK(strcmp(yaml, MLP_CFG) != 0);
        qa_status s = train(yaml, "cfg.yaml", NULL, 0, b, 0, 0, NULL);
        QA_CHECK_MSG(s == QA_ERR_CONFIG, "'%s' -> %s (%s)", cases[i].replace, qa_status_name(s), qa_err_msg());
        QA_CHECK_MSG(strstr(qa_err_msg(), cases[i].needle) != NULL, "'%s': message '%s' lacks '%s'", cases[i].replace,
                     qa_err_msg(), cases[i].needle);
        snprintf(p, sizeof p, "%s/checkpoint.qac", b);
        QA_CHECK(!qa_fs_exists(p)); /* refused before any training */
    }
    /* a value from the command line (no line) names the --set that gave it and its key */
    const char *sets[] = {"target.kind=quantile", "target.classes=1"};
    QA_CHECK_ERR(train(MLP_CFG, "cfg.yaml", sets, 2, NULL, 0, 0, NULL), QA_ERR_CONFIG,
                 "--set target.classes=1: key 'target.classes'");
}

int main(int argc, char **argv) {
    if (qa_comm_create(&argc, &argv, &comm) != QA_OK) return 1;
    if (tt_setup(&fx, "train_loop", 8, 600, 21)) return 1;
    qa_log_set_level(QA_LOG_WARN);
    QA_RUN(test_resume_mlp);
    QA_RUN(test_resume_lstm);
    QA_RUN(test_checkpoint_refusals);
    QA_RUN(test_early_stopping);
    QA_RUN(test_bad_configs);
    qa_test_rmtree(fx.dir);
    qa_comm_free(comm);
    return qa_test_finish();
}
