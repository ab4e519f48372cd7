/* `qa predict`: a model's scores over a market file (predict.h). */
#include "pipeline/predict/predict.h"

#include <math.h>    /* NAN */
#include <stdlib.h>  /* malloc, free */
#include <string.h>  /* strcmp */

#include "common/log.h"          /* lineage warnings, progress */
#include "common/timer.h"        /* scoring time, created stamp */
#include "registry/predict.h"    /* the CPU predictor */
#include "registry/registry.h"   /* models:/ URIs */

qa_status qa_predict_data(const qa_model *m, const qa_train_data *d, double *score, size_t *scored) {
    const size_t S = d->nsym, T = d->ntime, K = (size_t)m->arch.outputs;
    const size_t W = (size_t)d->spec.window * (size_t)d->spec.ninputs;
    qa_status st = QA_OK;
    qa_model_predictor_t *p = NULL;
    uint32_t *rows = malloc(QA_PREDICT_CHUNK * sizeof *rows);
    float *x = malloc(QA_PREDICT_CHUNK * W * sizeof *x);
    double *out = malloc(QA_PREDICT_CHUNK * K * sizeof *out);
    if (!rows || !x || !out) QA_TRY_FAIL(QA_ERR_NOMEM, "prediction buffers");
    QA_TRY(qa_model_predictor_create(m, QA_PREDICT_CHUNK, &p));
    for (size_t i = 0; i < S * T; i++) score[i] = NAN;
    *scored = 0;
    size_t n = 0;
    for (size_t r = 0; r <= d->nrows; r++) {
        if (r < d->nrows && d->valid[r]) rows[n++] = (uint32_t)r;
        if (n == QA_PREDICT_CHUNK || (r == d->nrows && n)) {
            qa_train_data_gather(d, rows, n, x, NULL, NULL);
            QA_TRY(qa_model_predictor_run_normalized(p, (int)n, x, out));
            for (size_t i = 0; i < n; i++)
                score[(size_t)d->row_sym[rows[i]] * T + (size_t)d->row_t[rows[i]]] = qa_model_output_score(m, out + i * K);
            *scored += n;
            n = 0;
        }
    }
cleanup:
    qa_model_predictor_free(p);
    free(rows);
    free(x);
    free(out);
    return st;
}

qa_status qa_predict_store(const qa_model *m, const char *label, qa_store_t *store, double **score, size_t *scored) {
    *score = NULL;
    qa_status st = QA_OK;
    qa_train_data d;
    memset(&d, 0, sizeof d);
    int changed = 0;
    st = qa_train_check_store(m, store, &changed);
    if (st != QA_OK) {
        qa_err_prefix("%s: ", label);
        return st;
    }
    if (changed)
        qa_log_warn("predict: %d feature(s) of %s have other lineage hashes than at training of %s (other or newer "
                    "data under the same definitions)",
                    changed, qa_store_path(store), label);
    QA_TRY(qa_train_data_load(store, &m->data, &m->norm, &d));
    const size_t cells = d.nsym * d.ntime;
    *score = malloc((cells ? cells : 1) * sizeof **score);
    if (!*score) QA_TRY_FAIL(QA_ERR_NOMEM, "prediction panel %zu x %zu", d.nsym, d.ntime);
    QA_TRY(qa_predict_data(m, &d, *score, scored));
cleanup:
    if (st != QA_OK) {
        free(*score);
        *score = NULL;
    }
    qa_train_data_free(&d);
    return st;
}

/* The panel and its attributes into `dst` (replacing an older panel of that name only
 * once the new one is complete). */
static qa_status write_panel(qa_store_t *dst, const char *dataset, const double *score, const qa_model *m,
                             const char *label) {
    const size_t S = qa_store_nsym(dst), T = qa_store_ntime(dst);
    char tmp[QA_PATH_MAX], created[40];
    QA_TRY_RET(qa_path_join(tmp, NULL, "%s.partial", dataset));
    if (qa_store_exists(dst, tmp)) QA_TRY_RET(qa_store_delete(dst, tmp));
    QA_TRY_RET(qa_store_panel_create(dst, tmp));
    QA_TRY_RET(qa_store_write(dst, tmp, 0, S, 0, T, score));
    if (qa_store_exists(dst, dataset)) QA_TRY_RET(qa_store_delete(dst, dataset));
    QA_TRY_RET(qa_store_move(dst, tmp, dataset));
    qa_time_utc_iso(created, sizeof created);
    QA_TRY_RET(qa_store_attr_set_str(dst, dataset, "model", label));
    QA_TRY_RET(qa_store_attr_set_str(dst, dataset, "model_sha256", m->sha256));
    QA_TRY_RET(qa_store_attr_set_str(dst, dataset, "target", qa_model_target_name(m->data.target)));
    QA_TRY_RET(qa_store_attr_set_i64(dst, dataset, "classes", m->data.classes));
    QA_TRY_RET(qa_store_attr_set_i64(dst, dataset, "horizon", m->data.horizon));
    QA_TRY_RET(qa_store_attr_set_i64(dst, dataset, "window", m->data.window));
    QA_TRY_RET(qa_store_attr_set_str(dst, dataset, "meaning",
                                     m->data.target == QA_MODEL_TARGET_RETURN ? "predicted forward return"
                                     : m->data.target == QA_MODEL_TARGET_SIGN ? "P(forward return > 0)"
                                                                              : "expected quantile bucket - (K-1)/2"));
    return qa_store_attr_set_str(dst, dataset, "created", created);
}

qa_status qa_predict_write_file(qa_store_t *src, const char *path, const char *dataset, const double *score,
                                const qa_model *m, const char *label) {
    const size_t S = qa_store_nsym(src);
    qa_store_t *dst = NULL;
    const char **names = malloc((S ? S : 1) * sizeof *names);
    if (!names) return QA_FAIL(QA_ERR_NOMEM, "symbol list");
    for (size_t i = 0; i < S; i++) names[i] = qa_store_symbol(src, i);
    qa_status st = qa_store_create(path, NULL, qa_store_get_meta(src), S, names, qa_store_ntime(src), qa_store_time(src), &dst);
    free(names);
    if (st != QA_OK) return st;
    st = write_panel(dst, dataset, score, m, label);
    if (st != QA_OK) {
        qa_store_close(dst); /* an uncommitted file is removed */
        return st;
    }
    return qa_store_commit(dst);
}

qa_status qa_predict_run(const qa_predict_opts *o, qa_predict_report *rep) {
    memset(rep, 0, sizeof *rep);
    qa_status st = QA_OK;
    qa_model m;
    memset(&m, 0, sizeof m);
    qa_registry_version v;
    qa_store_t *store = NULL;
    double *score = NULL;
    const int inplace = !o->out || strcmp(o->out, o->data) == 0;
    QA_TRY(qa_registry_load_ref(o->registry, o->model, &m, rep->label, &v));
    if (v.name[0]) QA_TRY(qa_path_join(rep->dataset, NULL, "predictions/%s/%ld", v.name, v.version));
    else QA_TRY(qa_path_join(rep->dataset, NULL, "predictions/file/%.12s", m.sha256));
    QA_TRY(qa_store_open(o->data, NULL, inplace ? QA_STORE_RDWR : QA_STORE_READ, &store));
    uint64_t t0 = qa_time_ns();
    QA_TRY(qa_predict_store(&m, rep->label, store, &score, &rep->scored));
    rep->seconds = qa_time_since(t0);
    rep->rows_per_s = rep->seconds > 0 ? (double)rep->scored / rep->seconds : 0.0;
    rep->symbols = qa_store_nsym(store);
    rep->bars = qa_store_ntime(store);
    if (inplace) {
        QA_TRY(write_panel(store, rep->dataset, score, &m, rep->label));
    } else {
        QA_TRY(qa_predict_write_file(store, o->out, rep->dataset, score, &m, rep->label));
    }
cleanup:
    qa_store_close(store);
    free(score);
    qa_model_free(&m);
    return st;
}
