/* A synthetic model for the registry's tests and its benchmark (benchmarks/bench_registry.c):
 * no training, no market file. */
#ifndef QA_TESTS_REGISTRY_TEST_H
#define QA_TESTS_REGISTRY_TEST_H

#include <math.h>    /* sin */
#include <stdint.h>  /* INT64_MIN */
#include <stdio.h>   /* snprintf */
#include <string.h>  /* memset */

#include "registry/model.h"

/* A model of architecture `a` (a->input inputs, a->window bars, a->outputs: 1 = a return
 * target, else sign classes). Input f is names[f] (a bar input when it names one,
 * "ret"), else "feature_<f>"; features get a made-up definition and lineage hash. The
 * parameters are 0.3 sin(0.37 i + salt): other salts, other artifacts. */
static inline qa_status qa_test_registry_model(qa_model *m, const qa_nn_arch *a, const char *const *names, int salt) {
    qa_model_spec s;
    memset(&s, 0, sizeof s);
    s.ninputs = a->input;
    for (int f = 0; f < a->input; f++) {
        qa_model_input *in = &s.inputs[f];
        if (names) snprintf(in->name, sizeof in->name, "%s", names[f]);
        else snprintf(in->name, sizeof in->name, "feature_%d", f);
        qa_model_bar_input b;
        in->bar = qa_model_bar_input_parse(in->name, &b) == QA_OK ? (int)b : -1;
        qa_err_clear();
        if (in->bar < 0) {
            snprintf(in->input_hash, sizeof in->input_hash, "%064d", f + 1);
            snprintf(in->params, sizeof in->params, "{\"kind\":\"k%d\"}", f);
        }
    }
    s.window = a->window, s.horizon = 5, s.classes = a->outputs;
    s.target = a->outputs == 1 ? QA_MODEL_TARGET_RETURN : QA_MODEL_TARGET_SIGN, s.standardize = a->outputs == 1;
    s.start = INT64_MIN, s.train_end = 1000, s.val_end = 2000, s.end = INT64_MAX, s.clip = 5.0;
    qa_model_norm n;
    memset(&n, 0, sizeof n);
    for (int f = 0; f < a->input; f++) n.mean[f] = 0.1 * f, n.std[f] = 1.0 + f;
    n.target_mean = 0.001, n.target_std = 0.02;
    qa_status st = qa_model_init(m, a, &s, &n);
    if (st != QA_OK) return st;
    for (size_t i = 0; i < m->nparams; i++) m->params[i] = (float)(0.3 * sin(0.37 * (double)i + salt));
    return QA_OK;
}

#endif
