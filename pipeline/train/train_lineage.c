/* What a finished training run records for the registry: lineage.json (run id, config
 * hash, the data read and its digest, the features' lineage, the date range, code and
 * build) and predictions.h5 (the best model's scores over the whole market file, the
 * reference a published version must reproduce bit for bit). Contracts in
 * train_internal.h; fields in docs/registry.md. */
#include "pipeline/train/train_internal.h"

#include <stdio.h>     /* snprintf */
#include <stdlib.h>    /* realpath, malloc, free */
#include <string.h>    /* strlen */
#include <sys/stat.h>  /* stat: the market file's time */
#include <time.h>      /* gmtime_r */

#include <cblas.h>      /* openblas_get_config */

#include "build_info.h"               /* version, git, build options */
#include "common/json.h"              /* lineage.json */
#include "common/timeparse.h"         /* ISO dates */
#include "common/timer.h"             /* created stamp */
#include "pipeline/predict/predict.h" /* the scores */
#include "pipeline/run/rundir.h"       /* qa_rundir_new_id */
#include "pipeline/train/train.h"     /* qa_train_cfg */

static json_t *iso_or_null(int64_t t) {
    char buf[40];
    if (t == INT64_MIN || t == INT64_MAX) return json_null();
    return json_string(qa_time_format_iso(t, buf, sizeof buf));
}

static json_t *data_json(const qa_train_data *d, const char *data_path) {
    char abs[QA_PATH_MAX], mtime[40] = "";
    if (!realpath(data_path, abs)) snprintf(abs, sizeof abs, "%s", data_path);
    struct stat sb;
    if (stat(data_path, &sb) == 0) {
        struct tm tm;
        time_t t = sb.st_mtime;
        gmtime_r(&t, &tm);
        if (strftime(mtime, sizeof mtime, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) mtime[0] = '\0'; /* cannot happen: 20 chars */
    }
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o}", "path", abs, "modified", mtime, "data_sha256",
                     d->data_sha256, "symbols", (json_int_t)d->nsym, "bars", (json_int_t)d->ntime, "rows",
                     (json_int_t)d->nrows, "first_bar", d->ntime ? iso_or_null(d->time[0]) : json_null(), "last_bar",
                     d->ntime ? iso_or_null(d->time[d->ntime - 1]) : json_null());
}

qa_status qa_train_write_provenance(const char *run_dir, const qa_train_cfg *c, qa_store_t *store,
                                    const qa_train_data *d, const qa_model *best, const char *cfg_hash, const char *backend, int ranks,
                                    char *run_id_out) {
    qa_status st = QA_OK;
    json_t *lin = NULL, *feats = json_array();
    double *score = NULL;
    char id[17], path[QA_PATH_MAX], created[40], abs[QA_PATH_MAX];
    QA_TRY(qa_rundir_new_id(run_dir, id));
    if (!realpath(run_dir, abs)) snprintf(abs, sizeof abs, "%s", run_dir);
    for (int f = 0; f < best->data.ninputs; f++) {
        const qa_model_input *in = &best->data.inputs[f];
        json_array_append_new(feats, json_pack("{s:s, s:s, s:s, s:s}", "name", in->name, "kind",
                                               in->bar >= 0 ? "bar" : "feature", "input_hash", in->input_hash, "params",
                                               in->params));
    }
    qa_time_utc_iso(created, sizeof created);
    lin = json_pack("{s:s, s:s, s:s, s:o, s:O, s:{s:o, s:o, s:o, s:o, s:o, s:o}, s:{s:s, s:s}, "
                    "s:{s:s, s:s, s:s, s:s, s:s, s:i}, s:s}",
                    "run_id", id, "run_dir", abs, "config_hash", cfg_hash, "data", data_json(d, c->data), "features",
                    feats, "range", "start", iso_or_null(best->data.start), "train_end", iso_or_null(best->data.train_end),
                    "val_end", iso_or_null(best->data.val_end), "end", iso_or_null(best->data.end), "first_row",
                    iso_or_null(d->first_time), "last_row", iso_or_null(d->last_time), "code", "version", QA_VERSION,
                    "git", QA_GIT_HASH, "build", "backend", backend, "build_type", QA_BUILD_TYPE, "cuda", QA_BUILD_CUDA,
                    "mpi", QA_BUILD_MPI, "nccl", QA_BUILD_NCCL, "ranks", ranks, "created", created);
    if (!lin) QA_TRY_FAIL(QA_ERR_NOMEM, "lineage");
    /* the numerical libraries the run linked: another BLAS or HDF5 can change the last bits */
    char h5v[64], mpv[256];
    json_object_set_new(json_object_get(lin, "build"), "libraries",
                        json_pack("{s:s, s:s, s:s}", "hdf5", qa_store_hdf5_version(h5v, sizeof h5v), "openblas",
                                  openblas_get_config(), "mpi", qa_comm_library_version(mpv, sizeof mpv)));
    QA_TRY(qa_path_join(path, run_dir, "lineage.json"));
    QA_TRY(qa_json_write_file(lin, path));
    /* The run's own predictions, by the registry's predictor on the data as loaded. */
    const size_t cells = d->nsym * d->ntime;
    size_t scored = 0;
    score = malloc((cells ? cells : 1) * sizeof *score);
    if (!score) QA_TRY_FAIL(QA_ERR_NOMEM, "prediction panel");
    QA_TRY(qa_predict_data(best, d, score, &scored));
    QA_TRY(qa_path_join(path, run_dir, "predictions.h5"));
    QA_TRY(qa_predict_write_file(store, path, "predictions/run/best", score, best, abs));
    if (run_id_out) snprintf(run_id_out, 17, "%s", id);
cleanup:
    free(score);
    json_decref(feats);
    json_decref(lin);
    return st;
}
