/* Feature specs (names, parsing, validation, canonical names), the plan and state layout
 * derived from a spec, state objects on a backend, and backend dispatch. */
#include "kernels/features.h"

#include <math.h>    /* isfinite */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* strcmp, memcmp, memset */

#include "kernels/features_impl.h" /* plan, layout, backend entry points */

/* ---- names ------------------------------------------------------------------------------ */

static const char *const kind_names[] = {"ret",   "logret", "mean",  "std",      "zscore", "ema",     "rsi",
                                         "macd",  "atr",    "bbpct", "donchian", "volz",   "xs_rank", "xs_zscore"};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == QA_FEAT_KIND_COUNT, "feature kind name table");

static const char *const field_names[] = {"open", "high", "low", "close", "volume", "ret", "logret"};
_Static_assert(sizeof field_names / sizeof field_names[0] == QA_FEAT_FIELD_COUNT, "feature field name table");

static const char *const output_names[] = {"value", "line", "signal", "hist", "upper", "lower", "mid", "pos"};
_Static_assert(sizeof output_names / sizeof output_names[0] == QA_FEAT_OUT_COUNT, "feature output name table");

const char *qa_feat_kind_name(qa_feat_kind kind) {
    return (kind >= 0 && kind < QA_FEAT_KIND_COUNT) ? kind_names[kind] : "?";
}
const char *qa_feat_field_name(qa_feat_field field) {
    return (field >= 0 && field < QA_FEAT_FIELD_COUNT) ? field_names[field] : "?";
}
const char *qa_feat_output_name(qa_feat_output output) {
    return (output >= 0 && output < QA_FEAT_OUT_COUNT) ? output_names[output] : "?";
}

/* Index of `name` in `table`, or -1; on failure records the list of valid names. */
static int parse_name(const char *what, const char *name, const char *const *table, int n) {
    for (int i = 0; name && i < n; i++)
        if (strcmp(name, table[i]) == 0) return i;
    char list[256] = "";
    size_t len = 0;
    for (int i = 0; i < n && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", table[i]);
    (void)QA_FAIL(QA_ERR_CONFIG, "unknown feature %s '%s' (expected one of: %s)", what, name ? name : "(null)", list);
    return -1;
}

qa_status qa_feat_kind_parse(const char *name, qa_feat_kind *out) {
    int i = parse_name("kind", name, kind_names, QA_FEAT_KIND_COUNT);
    if (i < 0) return QA_ERR_CONFIG;
    *out = (qa_feat_kind)i;
    return QA_OK;
}
qa_status qa_feat_field_parse(const char *name, qa_feat_field *out) {
    int i = parse_name("field", name, field_names, QA_FEAT_FIELD_COUNT);
    if (i < 0) return QA_ERR_CONFIG;
    *out = (qa_feat_field)i;
    return QA_OK;
}
qa_status qa_feat_output_parse(const char *name, qa_feat_output *out) {
    int i = parse_name("output", name, output_names, QA_FEAT_OUT_COUNT);
    if (i < 0) return QA_ERR_CONFIG;
    *out = (qa_feat_output)i;
    return QA_OK;
}

/* ---- specs ------------------------------------------------------------------------------ */

static int kind_uses_window(qa_feat_kind k) {
    return k != QA_FEAT_RET && k != QA_FEAT_LOGRET && k != QA_FEAT_XS_RANK && k != QA_FEAT_XS_ZSCORE;
}
static int kind_uses_std(qa_feat_kind k) {
    return k == QA_FEAT_STD || k == QA_FEAT_ZSCORE || k == QA_FEAT_BBPCT || k == QA_FEAT_VOLZ;
}
static int kind_fixed_inputs(qa_feat_kind k) {
    return k == QA_FEAT_ATR || k == QA_FEAT_DONCHIAN || k == QA_FEAT_VOLZ;
}

qa_feat_spec qa_feat_spec_default(qa_feat_kind kind) {
    qa_feat_spec s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.field = kind == QA_FEAT_VOLZ ? QA_FEAT_FIELD_VOLUME : QA_FEAT_FIELD_CLOSE;
    s.output = QA_FEAT_OUT_VALUE;
    switch (kind) {
    case QA_FEAT_EMA: s.window = 12; break;
    case QA_FEAT_RSI:
    case QA_FEAT_ATR: s.window = 14; break;
    case QA_FEAT_MACD:
        s.window = 12;
        s.slow = 26;
        s.signal = 9;
        s.output = QA_FEAT_OUT_LINE;
        break;
    case QA_FEAT_BBPCT:
        s.window = 20;
        s.k = 2.0;
        break;
    case QA_FEAT_DONCHIAN:
        s.window = 20;
        s.output = QA_FEAT_OUT_POS;
        break;
    default: s.window = kind_uses_window(kind) ? 20 : 0; break;
    }
    return s;
}

qa_status qa_feat_spec_validate(const qa_feat_spec *s) {
    if (!s) return QA_FAIL(QA_ERR_INVALID_ARG, "feature spec is NULL");
    if (s->kind < 0 || s->kind >= QA_FEAT_KIND_COUNT)
        return QA_FAIL(QA_ERR_CONFIG, "feature kind %d is out of range", (int)s->kind);
    const char *name = kind_names[s->kind];
    if (s->field < 0 || s->field >= QA_FEAT_FIELD_COUNT)
        return QA_FAIL(QA_ERR_CONFIG, "%s: field %d is out of range", name, (int)s->field);
    if ((s->kind == QA_FEAT_RET || s->kind == QA_FEAT_LOGRET) && s->field >= QA_FEAT_BAR_FIELDS)
        return QA_FAIL(QA_ERR_CONFIG, "%s: field must be a bar field (open, high, low, close, volume), not '%s'",
                       name, field_names[s->field]);
    if (kind_uses_window(s->kind)) {
        int min = kind_uses_std(s->kind) ? 2 : 1;
        if (s->window < min)
            return QA_FAIL(QA_ERR_CONFIG, "%s: window must be >= %d%s (got %d)", name, min,
                           min == 2 ? " (a sample standard deviation needs two observations)" : "", s->window);
    }
    if (s->kind == QA_FEAT_MACD) {
        if (s->slow <= s->window)
            return QA_FAIL(QA_ERR_CONFIG, "macd: fast span (window %d) must be < slow span (slow %d)", s->window,
                           s->slow);
        if (s->signal < 1) return QA_FAIL(QA_ERR_CONFIG, "macd: signal span must be >= 1 (got %d)", s->signal);
    }
    if (s->kind == QA_FEAT_BBPCT && !(isfinite(s->k) && s->k > 0.0))
        return QA_FAIL(QA_ERR_CONFIG, "bbpct: k must be a finite number > 0 (got %g)", s->k);
    int out_ok;
    if (s->kind == QA_FEAT_MACD) out_ok = s->output >= QA_FEAT_OUT_LINE && s->output <= QA_FEAT_OUT_HIST;
    else if (s->kind == QA_FEAT_DONCHIAN) out_ok = s->output >= QA_FEAT_OUT_UPPER && s->output <= QA_FEAT_OUT_POS;
    else out_ok = s->output == QA_FEAT_OUT_VALUE;
    if (!out_ok) {
        const char *expect = s->kind == QA_FEAT_MACD       ? "line, signal or hist"
                             : s->kind == QA_FEAT_DONCHIAN ? "upper, lower, mid or pos"
                                                           : "value";
        return QA_FAIL(QA_ERR_CONFIG, "%s: output '%s' is not one of its outputs (%s)", name,
                       qa_feat_output_name(s->output), expect);
    }
    return QA_OK;
}

qa_feat_spec qa_feat_spec_normalize(const qa_feat_spec *s) {
    qa_feat_spec n;
    memset(&n, 0, sizeof n); /* unused parameters are zero: normalized specs compare field by field */
    n.kind = s->kind;
    n.field = s->kind == QA_FEAT_VOLZ ? QA_FEAT_FIELD_VOLUME
              : kind_fixed_inputs(s->kind) ? QA_FEAT_FIELD_CLOSE
                                           : s->field;
    n.window = kind_uses_window(s->kind) ? s->window : 0;
    if (s->kind == QA_FEAT_MACD) {
        n.slow = s->slow;
        n.signal = s->signal;
    }
    if (s->kind == QA_FEAT_BBPCT) n.k = s->k;
    n.output = s->output;
    return n;
}

int qa_feat_spec_equal(const qa_feat_spec *a, const qa_feat_spec *b) {
    return a->kind == b->kind && a->field == b->field && a->window == b->window && a->slow == b->slow &&
           a->signal == b->signal && a->k == b->k && a->output == b->output;
}

int qa_feat_spec_format(const qa_feat_spec *s, char *buf, size_t size) {
    const char *kn = qa_feat_kind_name(s->kind), *fn = qa_feat_field_name(s->field);
    switch (s->kind) {
    case QA_FEAT_RET:
    case QA_FEAT_LOGRET:
    case QA_FEAT_XS_RANK:
    case QA_FEAT_XS_ZSCORE: return snprintf(buf, size, "%s_%s", kn, fn);
    case QA_FEAT_ATR:
    case QA_FEAT_VOLZ: return snprintf(buf, size, "%s_%d", kn, s->window);
    case QA_FEAT_DONCHIAN: return snprintf(buf, size, "%s_%d_%s", kn, s->window, qa_feat_output_name(s->output));
    case QA_FEAT_MACD:
        return snprintf(buf, size, "%s_%s_%d_%d_%d_%s", kn, fn, s->window, s->slow, s->signal,
                        qa_feat_output_name(s->output));
    case QA_FEAT_BBPCT: return snprintf(buf, size, "%s_%s_%d_%g", kn, fn, s->window, s->k);
    default: return snprintf(buf, size, "%s_%s_%d", kn, fn, s->window);
    }
}

int qa_feat_spec_is_xs(const qa_feat_spec *s) { return s->kind == QA_FEAT_XS_RANK || s->kind == QA_FEAT_XS_ZSCORE; }

unsigned qa_feat_spec_inputs(const qa_feat_spec *s) {
    if (s->kind == QA_FEAT_ATR || s->kind == QA_FEAT_DONCHIAN)
        return (1u << QA_FEAT_FIELD_HIGH) | (1u << QA_FEAT_FIELD_LOW) | (1u << QA_FEAT_FIELD_CLOSE);
    if (s->kind == QA_FEAT_VOLZ) return 1u << QA_FEAT_FIELD_VOLUME;
    if (s->field >= QA_FEAT_BAR_FIELDS) return 1u << QA_FEAT_FIELD_CLOSE;
    return 1u << s->field;
}

size_t qa_feat_default_set(qa_feat_spec *out, size_t cap) {
    qa_feat_spec set[22];
    size_t n = 0;
    set[n++] = qa_feat_spec_default(QA_FEAT_RET);
    set[n++] = qa_feat_spec_default(QA_FEAT_LOGRET);
    set[n++] = qa_feat_spec_default(QA_FEAT_MEAN);
    set[n++] = qa_feat_spec_default(QA_FEAT_STD);
    set[n++] = qa_feat_spec_default(QA_FEAT_ZSCORE);
    set[n++] = qa_feat_spec_default(QA_FEAT_EMA);
    set[n] = qa_feat_spec_default(QA_FEAT_EMA);
    set[n++].window = 26;
    set[n++] = qa_feat_spec_default(QA_FEAT_RSI);
    for (int o = QA_FEAT_OUT_LINE; o <= QA_FEAT_OUT_HIST; o++) {
        set[n] = qa_feat_spec_default(QA_FEAT_MACD);
        set[n++].output = (qa_feat_output)o;
    }
    set[n++] = qa_feat_spec_default(QA_FEAT_ATR);
    set[n++] = qa_feat_spec_default(QA_FEAT_BBPCT);
    for (int o = QA_FEAT_OUT_UPPER; o <= QA_FEAT_OUT_POS; o++) {
        set[n] = qa_feat_spec_default(QA_FEAT_DONCHIAN);
        set[n++].output = (qa_feat_output)o;
    }
    set[n++] = qa_feat_spec_default(QA_FEAT_VOLZ);
    set[n] = qa_feat_spec_default(QA_FEAT_XS_RANK);
    set[n++].field = QA_FEAT_FIELD_RET;
    set[n] = qa_feat_spec_default(QA_FEAT_XS_ZSCORE);
    set[n++].field = QA_FEAT_FIELD_RET;
    for (size_t i = 0; i < n && i < cap; i++) out[i] = set[i];
    return n;
}

/* ---- plan and layout -------------------------------------------------------------------- */

void qa_feat_plan_make(const qa_feat_spec *spec, qa_feat_plan *p) {
    qa_feat_spec s = qa_feat_spec_normalize(spec);
    memset(p, 0, sizeof *p);
    p->kind = s.kind;
    p->output = s.output;
    p->w = s.window;
    p->slow = s.slow;
    p->sig = s.signal;
    p->k = s.k;
    /* Source stage: returns of a bar field, or a derived-return input of another kind. */
    if (s.kind == QA_FEAT_RET || s.kind == QA_FEAT_LOGRET) {
        p->src_mode = s.kind == QA_FEAT_RET ? QA_FEAT_SRC_RET : QA_FEAT_SRC_LOGRET;
        p->src_field = s.field;
    } else if (s.field == QA_FEAT_FIELD_RET || s.field == QA_FEAT_FIELD_LOGRET) {
        p->src_mode = s.field == QA_FEAT_FIELD_RET ? QA_FEAT_SRC_RET : QA_FEAT_SRC_LOGRET;
        p->src_field = QA_FEAT_FIELD_CLOSE;
    } else {
        p->src_mode = QA_FEAT_SRC_RAW;
        p->src_field = s.field;
    }
    size_t body = 0;
    switch (s.kind) {
    case QA_FEAT_RET:
    case QA_FEAT_LOGRET: p->body = QA_FEAT_BODY_NONE; break;
    case QA_FEAT_MEAN:
    case QA_FEAT_STD:
    case QA_FEAT_ZSCORE:
    case QA_FEAT_BBPCT:
    case QA_FEAT_VOLZ:
        p->body = QA_FEAT_BODY_WIN;
        body = QA_FEAT_WIN_RING + (size_t)s.window;
        break;
    case QA_FEAT_DONCHIAN:
        p->body = QA_FEAT_BODY_DON;
        body = QA_FEAT_DON_RING + 4 * (size_t)s.window;
        break;
    case QA_FEAT_EMA:
        p->body = QA_FEAT_BODY_EMA;
        body = QA_FEAT_EMA_DOUBLES;
        break;
    case QA_FEAT_RSI:
        p->body = QA_FEAT_BODY_RSI;
        body = QA_FEAT_RSI_DOUBLES;
        break;
    case QA_FEAT_ATR:
        p->body = QA_FEAT_BODY_ATR;
        body = QA_FEAT_ATR_DOUBLES;
        break;
    case QA_FEAT_MACD:
        p->body = QA_FEAT_BODY_MACD;
        body = QA_FEAT_MACD_DOUBLES;
        break;
    default: p->body = QA_FEAT_BODY_XS; break;
    }
    p->src_off = 0;
    p->body_off = p->src_mode == QA_FEAT_SRC_RAW ? 0 : QA_FEAT_SRC_DOUBLES;
    p->doubles = p->body_off + body;
}

size_t qa_feat_state_doubles(const qa_feat_spec *spec) {
    qa_feat_plan p;
    qa_feat_plan_make(spec, &p);
    return p.doubles;
}

/* ---- state objects ------------------------------------------------------------------------ */

struct qa_feat_state {
    qa_feat_spec spec; /* normalized */
    size_t nsym;
    size_t doubles; /* per symbol */
    qa_buf buf;
};

qa_status qa_feat_state_create(qa_backend_t *be, const qa_feat_spec *spec, size_t nsym, qa_feat_state_t **out) {
    qa_status st = qa_feat_spec_validate(spec);
    if (st != QA_OK) return st;
    qa_feat_state_t *s = calloc(1, sizeof *s);
    if (!s) return QA_FAIL(QA_ERR_NOMEM, "feature state");
    s->spec = qa_feat_spec_normalize(spec);
    s->nsym = nsym;
    s->doubles = qa_feat_state_doubles(spec);
    QA_TRY(qa_buf_alloc(be, s->nsym * s->doubles * sizeof(double), &s->buf));
    QA_TRY(qa_feat_state_reset(be, s));
    *out = s;
    return QA_OK;
cleanup:
    qa_feat_state_free(s);
    return st;
}

qa_status qa_feat_state_reset(qa_backend_t *be, qa_feat_state_t *st) { return qa_buf_memset(be, &st->buf, 0); }

void qa_feat_state_free(qa_feat_state_t *st) {
    if (!st) return;
    qa_buf_free(&st->buf);
    free(st);
}

size_t qa_feat_state_bytes(const qa_feat_state_t *st) { return st->nsym * st->doubles * sizeof(double); }
size_t qa_feat_state_nsym(const qa_feat_state_t *st) { return st->nsym; }
const qa_feat_spec *qa_feat_state_spec(const qa_feat_state_t *st) { return &st->spec; }
double *qa_feat_state_data(qa_feat_state_t *st) { return (double *)st->buf.ptr; }

qa_status qa_feat_state_download(qa_backend_t *be, const qa_feat_state_t *st, double *host) {
    return qa_buf_download(be, host, &st->buf, 0, qa_feat_state_bytes(st));
}
qa_status qa_feat_state_upload(qa_backend_t *be, qa_feat_state_t *st, const double *host) {
    return qa_buf_upload(be, &st->buf, 0, host, qa_feat_state_bytes(st));
}

/* ---- dispatch ----------------------------------------------------------------------------- */

qa_status qa_feat_compute(qa_backend_t *be, const qa_feat_spec *spec, const qa_feat_panel *in,
                          qa_feat_state_t *state, double *out, size_t ld_out) {
    if (!be || !spec || !in || !state) return QA_FAIL(QA_ERR_INVALID_ARG, "features: NULL argument");
    qa_status st = qa_feat_spec_validate(spec);
    if (st != QA_OK) return st;
    char name[96];
    qa_feat_spec_format(spec, name, sizeof name);
    qa_feat_spec norm = qa_feat_spec_normalize(spec);
    if (!qa_feat_spec_equal(&norm, &state->spec)) {
        char sname[96];
        qa_feat_spec_format(&state->spec, sname, sizeof sname);
        return QA_FAIL(QA_ERR_INVALID_ARG, "features: state was created for %s, not %s", sname, name);
    }
    if (state->nsym != in->nsym)
        return QA_FAIL(QA_ERR_INVALID_ARG, "features %s: panel has %zu symbols but the state %zu", name, in->nsym,
                       state->nsym);
    if (state->buf.kind != qa_backend_kind_of(be))
        return QA_FAIL(QA_ERR_INVALID_ARG, "features %s: state lives on the %s backend, compute runs on %s", name,
                       qa_backend_name(state->buf.kind), qa_backend_name(qa_backend_kind_of(be)));
    size_t ld = in->ld ? in->ld : in->nbar;
    if (ld_out == 0) ld_out = in->nbar;
    if (ld < in->nbar || ld_out < in->nbar)
        return QA_FAIL(QA_ERR_INVALID_ARG, "features %s: row stride (%zu in, %zu out) below the block length %zu",
                       name, ld, ld_out, in->nbar);
    if (in->nsym == 0 || in->nbar == 0) return QA_OK;
    if (!out) return QA_FAIL(QA_ERR_INVALID_ARG, "features %s: NULL output", name);
    unsigned need = qa_feat_spec_inputs(spec);
    for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++)
        if ((need >> f & 1u) && !in->field[f])
            return QA_FAIL(QA_ERR_INVALID_ARG, "features %s: input field '%s' is NULL", name, field_names[f]);
    qa_feat_plan plan;
    qa_feat_plan_make(spec, &plan);
    qa_feat_panel p = *in;
    p.ld = ld;
    double *sdata = (double *)state->buf.ptr;
    if (qa_backend_kind_of(be) == QA_BACKEND_CUDA) {
        st = qa_feat_compute_cuda(qa_backend_stream(be), &plan, &p, sdata, out, ld_out);
    } else {
        st = qa_backend_reference(be) ? qa_feat_compute_ref(&plan, &p, sdata, out, ld_out)
                                      : qa_feat_compute_cpu(&plan, &p, sdata, out, ld_out, qa_backend_threads(be));
    }
    if (st != QA_OK) qa_err_prefix("features %s: ", name);
    return st;
}

#ifndef QA_HAVE_CUDA
qa_status qa_feat_compute_cuda(void *cuda_stream, const qa_feat_plan *plan, const qa_feat_panel *in, double *state,
                               double *out, size_t ld_out) {
    (void)cuda_stream, (void)plan, (void)in, (void)state, (void)out, (void)ld_out;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
#endif
