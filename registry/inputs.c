/* Model inputs shared by batch and live: feature params <-> kernel specs, bar inputs. */
#include "registry/inputs.h"

#include <math.h>    /* log, log1p, isfinite, NAN */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* free */
#include <string.h>  /* strlen */

#include <jansson.h> /* params are JSON */

qa_status qa_inputs_feat_params(const qa_feat_spec *s, char *buf, size_t size) {
    return qa_inputs_feat_params_input(s, NULL, buf, size);
}

qa_status qa_inputs_feat_params_input(const qa_feat_spec *s, const char *input, char *buf, size_t size) {
    json_t *o = json_object();
    if (!o) return QA_FAIL(QA_ERR_NOMEM, "feature params");
    json_object_set_new(o, "kind", json_string(qa_feat_kind_name(s->kind)));
    json_object_set_new(o, "field", json_string(qa_feat_field_name(s->field)));
    if (s->window) json_object_set_new(o, "window", json_integer(s->window));
    if (s->slow) json_object_set_new(o, "slow", json_integer(s->slow));
    if (s->signal) json_object_set_new(o, "signal", json_integer(s->signal));
    if (s->k != 0) json_object_set_new(o, "k", json_real(s->k));
    json_object_set_new(o, "output", json_string(qa_feat_output_name(s->output)));
    if (input && *input) json_object_set_new(o, "input", json_string(input));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!text) return QA_FAIL(QA_ERR_NOMEM, "feature params");
    size_t n = strlen(text);
    qa_status st = QA_OK;
    if (n >= size) st = QA_FAIL(QA_ERR_INVALID_ARG, "feature params '%s' longer than %zu bytes", text, size - 1);
    else memcpy(buf, text, n + 1);
    free(text);
    return st;
}

/* Reads an optional integer key into *v (left 0 when absent). */
static qa_status read_int(json_t *o, const char *params, const char *key, int *v) {
    json_t *j = json_object_get(o, key);
    if (!j) return QA_OK;
    if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) > 1000000)
        return QA_FAIL(QA_ERR_CONFIG, "feature params %s: field '%s' is not an integer in [0, 1e6]", params, key);
    *v = (int)json_integer_value(j);
    return QA_OK;
}

qa_status qa_inputs_feat_spec(const char *params, qa_feat_spec *out) {
    json_error_t err;
    json_t *o = json_loads(params, 0, &err);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return QA_FAIL(QA_ERR_CONFIG, "feature params '%s': not a JSON object (%s)", params, o ? "" : err.text);
    }
    qa_feat_spec s = {0};
    qa_status st = QA_OK;
    const char *input = json_string_value(json_object_get(o, "input"));
    if (input)
        st = QA_FAIL(QA_ERR_UNSUPPORTED, "the feature reads '%s', not the bars; only batch computes it", input);
    const char *kind = json_string_value(json_object_get(o, "kind"));
    const char *field = json_string_value(json_object_get(o, "field"));
    const char *output = json_string_value(json_object_get(o, "output"));
    if (st == QA_OK && !kind) st = QA_FAIL(QA_ERR_CONFIG, "feature params %s: field 'kind' missing", params);
    if (st == QA_OK) st = qa_feat_kind_parse(kind, &s.kind);
    if (st == QA_OK) st = qa_feat_field_parse(field ? field : "close", &s.field);
    if (st == QA_OK) st = qa_feat_output_parse(output ? output : "value", &s.output);
    if (st == QA_OK) st = read_int(o, params, "window", &s.window);
    if (st == QA_OK) st = read_int(o, params, "slow", &s.slow);
    if (st == QA_OK) st = read_int(o, params, "signal", &s.signal);
    json_t *k = json_object_get(o, "k");
    if (st == QA_OK && k) {
        if (!json_is_number(k)) st = QA_FAIL(QA_ERR_CONFIG, "feature params %s: field 'k' is not a number", params);
        else s.k = json_number_value(k);
    }
    json_decref(o);
    if (st == QA_OK) st = qa_feat_spec_validate(&s);
    if (st != QA_OK) {
        qa_err_prefix("feature params %s", params);
        return st;
    }
    *out = qa_feat_spec_normalize(&s);
    return QA_OK;
}

double qa_inputs_bar_value(qa_model_bar_input b, const double ohlcv[5], double prev_close) {
    const double open = ohlcv[0], high = ohlcv[1], low = ohlcv[2], close = ohlcv[3], volume = ohlcv[4];
    double v = NAN;
    switch (b) {
    case QA_MODEL_BAR_RET: v = close / prev_close - 1.0; break;
    case QA_MODEL_BAR_LOGRET: v = log(close / prev_close); break;
    case QA_MODEL_BAR_RANGE: v = (high - low) / close; break;
    case QA_MODEL_BAR_BODY: v = close / open - 1.0; break;
    case QA_MODEL_BAR_LOGVOL: v = volume >= 0.0 ? log1p(volume) : NAN; break;
    default: break;
    }
    return isfinite(v) ? v : NAN;
}
