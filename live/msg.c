/* Binary message envelope and bodies of the bus (layout in live/msg.h). */
#include "live/msg.h"

#include <string.h>  /* memcpy, memset, strlen, memchr */

static const char *const kind_names[QA_MSG_KIND_END] = {
    "?", "bar", "watermark", "features", "signal", "size", "dead_letter", "risk", "alert", "registry", "doc", "order"};

const char *qa_msg_kind_name(int kind) {
    return kind > 0 && kind < QA_MSG_KIND_END ? kind_names[kind] : "?";
}

/* ---- little-endian fields --------------------------------------------------------------- */

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}
static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_f64(uint8_t *p, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_u64(p, u);
}
static uint16_t get_u16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static uint32_t get_u32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static double get_f64(const uint8_t *p) {
    uint64_t u = get_u64(p);
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* A NUL-padded text field of `size` bytes; the text must leave room for one NUL. */
static qa_status put_text(uint8_t *p, size_t size, const char *text, const char *what) {
    size_t n = text ? strlen(text) : 0;
    if (n >= size) return QA_FAIL(QA_ERR_INVALID_ARG, "message field %s: '%s' is longer than %zu bytes", what, text, size - 1);
    memset(p, 0, size);
    if (n) memcpy(p, text, n + 1); /* with its NUL (n < size); the rest is NUL padding */
    return QA_OK;
}
static qa_status get_text(const uint8_t *p, size_t size, char *out, const char *what) {
    const uint8_t *nul = memchr(p, 0, size);
    if (!nul) return QA_FAIL(QA_ERR_FORMAT, "field %s holds no NUL in its %zu bytes", what, size);
    memcpy(out, p, (size_t)(nul - p) + 1);
    return QA_OK;
}

static size_t body_min(int kind) {
    switch (kind) {
    case QA_MSG_BAR: return 48;
    case QA_MSG_WATERMARK: return 8;
    case QA_MSG_FEATURES: return 36;
    case QA_MSG_SIGNAL: return 104;
    case QA_MSG_SIZE: return 72;
    case QA_MSG_RISK: return 120;
    case QA_MSG_ALERT: return 240;
    case QA_MSG_REGISTRY: return 200;
    case QA_MSG_DEAD: return 176;
    case QA_MSG_DOC: return 32;
    case QA_MSG_ORDER: return 400;
    default: return 0;
    }
}

qa_status qa_msg_encode(const qa_msg *m, void *buf, size_t cap, size_t *len) {
    if (m->kind <= 0 || m->kind >= QA_MSG_KIND_END) return QA_FAIL(QA_ERR_INVALID_ARG, "message kind %d", m->kind);
    size_t body = body_min(m->kind);
    if (m->kind == QA_MSG_FEATURES) {
        if (m->u.feat.n > QA_MSG_MAX_FEATURES)
            return QA_FAIL(QA_ERR_INVALID_ARG, "features message: %u features, at most %d", m->u.feat.n, QA_MSG_MAX_FEATURES);
        body += 40 * (size_t)m->u.feat.n;
    }
    if (m->kind == QA_MSG_DEAD) {
        if (m->u.dead.payload_len > QA_MSG_DEAD_PAYLOAD)
            return QA_FAIL(QA_ERR_INVALID_ARG, "dead letter payload of %u bytes, at most %d", m->u.dead.payload_len,
                           QA_MSG_DEAD_PAYLOAD);
        body += m->u.dead.payload_len;
    }
    if (m->kind == QA_MSG_DOC) {
        if (m->u.doc.text_len > QA_MSG_DOC_TEXT)
            return QA_FAIL(QA_ERR_INVALID_ARG, "document text of %u bytes, at most %d", m->u.doc.text_len, QA_MSG_DOC_TEXT);
        body += m->u.doc.text_len;
    }
    if (QA_MSG_HEADER + body > cap) return QA_FAIL(QA_ERR_INVALID_ARG, "message of %zu bytes in a %zu-byte buffer", QA_MSG_HEADER + body, cap);
    uint8_t *p = buf;
    p[0] = 'Q', p[1] = 'A', p[2] = (uint8_t)m->kind, p[3] = QA_MSG_MAJOR;
    put_u16(p + 4, QA_MSG_MINOR);
    put_u16(p + 6, (uint16_t)body);
    put_u64(p + 8, (uint64_t)m->time);
    put_u64(p + 16, m->id);
    QA_TRY_RET(put_text(p + 24, QA_MSG_SYMBOL_LEN, m->symbol, "symbol"));
    uint8_t *b = p + QA_MSG_HEADER;
    switch (m->kind) {
    case QA_MSG_BAR: {
        const qa_msg_bar *x = &m->u.bar;
        put_f64(b, x->open), put_f64(b + 8, x->high), put_f64(b + 16, x->low);
        put_f64(b + 24, x->close), put_f64(b + 32, x->volume);
        put_u32(b + 40, (uint32_t)x->bar_seconds), put_u32(b + 44, 0);
        break;
    }
    case QA_MSG_WATERMARK: put_u32(b, m->u.wm.partition), put_u32(b + 4, m->u.wm.partitions); break;
    case QA_MSG_FEATURES: {
        const qa_msg_features *x = &m->u.feat;
        memcpy(b, x->lineage, 32);
        put_u32(b + 32, x->n);
        for (size_t i = 0; i < x->n; i++) {
            QA_TRY_RET(put_text(b + 36 + 40 * i, QA_MSG_NAME_LEN, x->names[i], "feature name"));
            put_f64(b + 36 + 40 * i + 32, x->values[i]);
        }
        break;
    }
    case QA_MSG_SIGNAL: {
        const qa_msg_signal *x = &m->u.sig;
        QA_TRY_RET(put_text(b, QA_MSG_MODEL_LEN, x->model, "model"));
        put_u32(b + 48, x->version), put_u32(b + 52, 0);
        put_f64(b + 56, x->score), put_f64(b + 64, x->close);
        memcpy(b + 72, x->lineage, 32);
        break;
    }
    case QA_MSG_SIZE: {
        const qa_msg_size *x = &m->u.size;
        put_f64(b, x->weight), put_f64(b + 8, x->shares), put_f64(b + 16, x->price);
        put_f64(b + 24, x->equity), put_f64(b + 32, x->score);
        QA_TRY_RET(put_text(b + 40, 16, x->method, "sizing method"));
        QA_TRY_RET(put_text(b + 56, 16, x->state, "trading state"));
        break;
    }
    case QA_MSG_RISK: {
        const qa_msg_risk *x = &m->u.risk;
        const double v[11] = {x->equity, x->pnl, x->drawdown, x->gross, x->net, x->concentration,
                              x->var_hist, x->es_hist, x->var_param, x->es_param, x->level};
        for (size_t i = 0; i < 11; i++) put_f64(b + 8 * i, v[i]);
        QA_TRY_RET(put_text(b + 88, 16, x->state, "trading state"));
        QA_TRY_RET(put_text(b + 104, 16, x->top, "symbol"));
        break;
    }
    case QA_MSG_ORDER: {
        const qa_msg_order *x = &m->u.order;
        QA_TRY_RET(put_text(b, 64, x->clordid, "client order id"));
        QA_TRY_RET(put_text(b + 64, 64, x->parent, "parent id"));
        put_u32(b + 128, (uint32_t)x->side), put_u32(b + 132, 0);
        QA_TRY_RET(put_text(b + 136, 24, x->event, "event"));
        QA_TRY_RET(put_text(b + 160, 24, x->state, "state"));
        QA_TRY_RET(put_text(b + 184, 16, x->type, "type"));
        QA_TRY_RET(put_text(b + 200, 16, x->algo, "algo"));
        const double f[7] = {x->qty, x->limit, x->last_qty, x->last_price, x->filled, x->avg_price, x->fees};
        for (size_t i = 0; i < 7; i++) put_f64(b + 216 + 8 * i, f[i]);
        QA_TRY_RET(put_text(b + 272, 64, x->trade_id, "trade id"));
        memset(b + 336, 0, 64); /* reasons are cut, never refused */
        size_t rn = strlen(x->reason);
        memcpy(b + 336, x->reason, rn < 64 ? rn : 63);
        break;
    }
    case QA_MSG_ALERT: {
        const qa_msg_alert *x = &m->u.alert;
        QA_TRY_RET(put_text(b, 16, x->severity, "severity"));
        QA_TRY_RET(put_text(b + 16, 48, x->limit, "limit"));
        QA_TRY_RET(put_text(b + 64, 16, x->metric, "metric"));
        put_f64(b + 80, x->value), put_f64(b + 88, x->threshold);
        QA_TRY_RET(put_text(b + 96, 16, x->state, "trading state"));
        memset(b + 112, 0, QA_MSG_REASON_LEN); /* details are cut, never refused */
        size_t dn = strlen(x->detail);
        memcpy(b + 112, x->detail, dn < QA_MSG_REASON_LEN ? dn : QA_MSG_REASON_LEN - 1);
        break;
    }
    case QA_MSG_REGISTRY: {
        const qa_msg_registry *x = &m->u.reg;
        put_u64(b, (uint64_t)x->seq);
        QA_TRY_RET(put_text(b + 8, 24, x->kind, "event kind"));
        QA_TRY_RET(put_text(b + 32, 64, x->model, "model"));
        QA_TRY_RET(put_text(b + 96, 32, x->alias, "alias"));
        put_u64(b + 128, (uint64_t)x->version);
        memset(b + 136, 0, 64); /* who is informational: cut, never refused */
        size_t wn = strlen(x->who);
        memcpy(b + 136, x->who, wn < 64 ? wn : 63);
        break;
    }
    case QA_MSG_DEAD: {
        const qa_msg_dead *x = &m->u.dead;
        QA_TRY_RET(put_text(b, 32, x->topic, "topic"));
        put_u32(b + 32, (uint32_t)x->partition), put_u32(b + 36, x->payload_len);
        put_u64(b + 40, (uint64_t)x->offset);
        /* Reasons are cut rather than refused: a dead letter must always be sendable. */
        memset(b + 48, 0, QA_MSG_REASON_LEN);
        size_t rn = strlen(x->reason);
        memcpy(b + 48, x->reason, rn < QA_MSG_REASON_LEN ? rn : QA_MSG_REASON_LEN - 1);
        if (x->payload_len) memcpy(b + 176, x->payload, x->payload_len);
        break;
    }
    case QA_MSG_DOC: {
        const qa_msg_doc *x = &m->u.doc;
        put_u32(b, x->basis), put_u32(b + 4, x->text_len);
        put_f64(b + 8, x->sentiment);
        QA_TRY_RET(put_text(b + 16, 16, x->source, "source"));
        if (x->text_len) memcpy(b + 32, x->text, x->text_len);
        break;
    }
    default: break;
    }
    *len = QA_MSG_HEADER + body;
    return QA_OK;
}

qa_status qa_msg_decode(const void *buf, size_t len, qa_msg *m) {
    const uint8_t *p = buf;
    if (len < QA_MSG_HEADER) return QA_FAIL(QA_ERR_FORMAT, "truncated: %zu bytes, a header needs %d", len, QA_MSG_HEADER);
    if (p[0] != 'Q' || p[1] != 'A') return QA_FAIL(QA_ERR_FORMAT, "magic 0x%02x%02x, expected \"QA\"", p[0], p[1]);
    if (p[3] != QA_MSG_MAJOR)
        return QA_FAIL(QA_ERR_FORMAT, "schema major %u, this decoder reads %d", p[3], QA_MSG_MAJOR);
    m->kind = p[2];
    if (m->kind <= 0 || m->kind >= QA_MSG_KIND_END) return QA_FAIL(QA_ERR_FORMAT, "unknown kind %d", m->kind);
    size_t body = get_u16(p + 6);
    if (len != QA_MSG_HEADER + body)
        return QA_FAIL(QA_ERR_FORMAT, "%s %s: %zu bytes, the header says %zu", len < QA_MSG_HEADER + body ? "truncated" : "overlong",
                       qa_msg_kind_name(m->kind), len, QA_MSG_HEADER + body);
    if (body < body_min(m->kind))
        return QA_FAIL(QA_ERR_FORMAT, "truncated %s: body of %zu bytes, needs %zu", qa_msg_kind_name(m->kind), body,
                       body_min(m->kind));
    m->minor = get_u16(p + 4);
    m->time = (int64_t)get_u64(p + 8);
    m->id = get_u64(p + 16);
    QA_TRY_RET(get_text(p + 24, QA_MSG_SYMBOL_LEN, m->symbol, "symbol"));
    const uint8_t *b = p + QA_MSG_HEADER;
    switch (m->kind) {
    case QA_MSG_BAR: {
        qa_msg_bar *x = &m->u.bar;
        x->open = get_f64(b), x->high = get_f64(b + 8), x->low = get_f64(b + 16);
        x->close = get_f64(b + 24), x->volume = get_f64(b + 32);
        x->bar_seconds = (int32_t)get_u32(b + 40);
        break;
    }
    case QA_MSG_WATERMARK: m->u.wm.partition = get_u32(b), m->u.wm.partitions = get_u32(b + 4); break;
    case QA_MSG_FEATURES: {
        qa_msg_features *x = &m->u.feat;
        memcpy(x->lineage, b, 32);
        x->n = get_u32(b + 32);
        if (x->n > QA_MSG_MAX_FEATURES || body < 36 + 40 * (size_t)x->n)
            return QA_FAIL(QA_ERR_FORMAT, "features: %u features in a body of %zu bytes", x->n, body);
        for (size_t i = 0; i < x->n; i++) {
            QA_TRY_RET(get_text(b + 36 + 40 * i, QA_MSG_NAME_LEN, x->names[i], "feature name"));
            x->values[i] = get_f64(b + 36 + 40 * i + 32);
        }
        break;
    }
    case QA_MSG_SIGNAL: {
        qa_msg_signal *x = &m->u.sig;
        QA_TRY_RET(get_text(b, QA_MSG_MODEL_LEN, x->model, "model"));
        x->version = get_u32(b + 48);
        x->score = get_f64(b + 56), x->close = get_f64(b + 64);
        memcpy(x->lineage, b + 72, 32);
        break;
    }
    case QA_MSG_SIZE: {
        qa_msg_size *x = &m->u.size;
        x->weight = get_f64(b), x->shares = get_f64(b + 8), x->price = get_f64(b + 16);
        x->equity = get_f64(b + 24), x->score = get_f64(b + 32);
        QA_TRY_RET(get_text(b + 40, 16, x->method, "sizing method"));
        QA_TRY_RET(get_text(b + 56, 16, x->state, "trading state"));
        break;
    }
    case QA_MSG_RISK: {
        qa_msg_risk *x = &m->u.risk;
        double *v[11] = {&x->equity, &x->pnl, &x->drawdown, &x->gross, &x->net, &x->concentration,
                         &x->var_hist, &x->es_hist, &x->var_param, &x->es_param, &x->level};
        for (size_t i = 0; i < 11; i++) *v[i] = get_f64(b + 8 * i);
        QA_TRY_RET(get_text(b + 88, 16, x->state, "trading state"));
        QA_TRY_RET(get_text(b + 104, 16, x->top, "symbol"));
        break;
    }
    case QA_MSG_ORDER: {
        qa_msg_order *x = &m->u.order;
        QA_TRY_RET(get_text(b, 64, x->clordid, "client order id"));
        QA_TRY_RET(get_text(b + 64, 64, x->parent, "parent id"));
        x->side = (int32_t)get_u32(b + 128);
        QA_TRY_RET(get_text(b + 136, 24, x->event, "event"));
        QA_TRY_RET(get_text(b + 160, 24, x->state, "state"));
        QA_TRY_RET(get_text(b + 184, 16, x->type, "type"));
        QA_TRY_RET(get_text(b + 200, 16, x->algo, "algo"));
        double *f[7] = {&x->qty, &x->limit, &x->last_qty, &x->last_price, &x->filled, &x->avg_price, &x->fees};
        for (size_t i = 0; i < 7; i++) *f[i] = get_f64(b + 216 + 8 * i);
        QA_TRY_RET(get_text(b + 272, 64, x->trade_id, "trade id"));
        QA_TRY_RET(get_text(b + 336, 64, x->reason, "reason"));
        break;
    }
    case QA_MSG_ALERT: {
        qa_msg_alert *x = &m->u.alert;
        QA_TRY_RET(get_text(b, 16, x->severity, "severity"));
        QA_TRY_RET(get_text(b + 16, 48, x->limit, "limit"));
        QA_TRY_RET(get_text(b + 64, 16, x->metric, "metric"));
        x->value = get_f64(b + 80), x->threshold = get_f64(b + 88);
        QA_TRY_RET(get_text(b + 96, 16, x->state, "trading state"));
        QA_TRY_RET(get_text(b + 112, QA_MSG_REASON_LEN, x->detail, "detail"));
        break;
    }
    case QA_MSG_REGISTRY: {
        qa_msg_registry *x = &m->u.reg;
        x->seq = (int64_t)get_u64(b);
        QA_TRY_RET(get_text(b + 8, 24, x->kind, "event kind"));
        QA_TRY_RET(get_text(b + 32, 64, x->model, "model"));
        QA_TRY_RET(get_text(b + 96, 32, x->alias, "alias"));
        x->version = (int64_t)get_u64(b + 128);
        QA_TRY_RET(get_text(b + 136, 64, x->who, "who"));
        break;
    }
    case QA_MSG_DEAD: {
        qa_msg_dead *x = &m->u.dead;
        QA_TRY_RET(get_text(b, 32, x->topic, "topic"));
        x->partition = (int32_t)get_u32(b + 32);
        x->payload_len = get_u32(b + 36);
        x->offset = (int64_t)get_u64(b + 40);
        QA_TRY_RET(get_text(b + 48, QA_MSG_REASON_LEN, x->reason, "reason"));
        if (x->payload_len > QA_MSG_DEAD_PAYLOAD || body < 176 + (size_t)x->payload_len)
            return QA_FAIL(QA_ERR_FORMAT, "dead letter: payload of %u bytes in a body of %zu", x->payload_len, body);
        x->payload = b + 176;
        break;
    }
    case QA_MSG_DOC: {
        qa_msg_doc *x = &m->u.doc;
        x->basis = get_u32(b), x->text_len = get_u32(b + 4);
        x->sentiment = get_f64(b + 8);
        QA_TRY_RET(get_text(b + 16, 16, x->source, "source"));
        if (x->basis > 1) return QA_FAIL(QA_ERR_FORMAT, "document: time basis %u, expected 0 or 1", x->basis);
        if (x->text_len > QA_MSG_DOC_TEXT || body < 32 + (size_t)x->text_len)
            return QA_FAIL(QA_ERR_FORMAT, "document: text of %u bytes in a body of %zu", x->text_len, body);
        x->text = (const char *)b + 32;
        break;
    }
    default: break;
    }
    return QA_OK;
}

void qa_msg_printable(const void *key, size_t n, char *out, size_t size) {
    size_t k = 0;
    for (; key && k < n && k + 1 < size; k++) {
        char ch = ((const char *)key)[k];
        if (ch < 32 || ch >= 127) ch = '?';
        out[k] = ch;
    }
    out[k] = '\0';
}

/* FNV-1a 64 over the three fields with separators: stable across builds and hosts. */
uint64_t qa_msg_signal_id(const char *stream, const char *symbol, int64_t time) {
    uint64_t h = 1469598103934665603ull;
    const char *parts[2] = {stream, symbol};
    for (int k = 0; k < 2; k++) {
        for (const char *c = parts[k]; *c; c++) h = (h ^ (uint8_t)*c) * 1099511628211ull;
        h = (h ^ 0xffu) * 1099511628211ull;
    }
    for (int i = 0; i < 8; i++) h = (h ^ (uint8_t)((uint64_t)time >> (8 * i))) * 1099511628211ull;
    return h;
}
