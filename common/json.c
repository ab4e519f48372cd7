/* jansson helpers: atomic JSON files and schema-driven config dumps. */
#include "common/json.h"

#include <math.h>    /* isfinite */
#include <stdint.h>  /* int64_t */
#include <stdlib.h>  /* free, realloc */
#include <string.h>  /* strlen */

#include "common/fs.h"  /* qa_fs_write_all */

qa_status qa_json_write_file(const json_t *j, const char *path) {
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    if (!text) return QA_FAIL(QA_ERR_NOMEM, "%s: cannot serialise JSON", path);
    size_t len = strlen(text);
    char *with_nl = realloc(text, len + 2);
    if (!with_nl) {
        free(text);
        return QA_FAIL(QA_ERR_NOMEM, "%s: cannot serialise JSON", path);
    }
    with_nl[len] = '\n';
    with_nl[len + 1] = '\0';
    qa_status st = qa_fs_write_all(path, with_nl, len + 1);
    free(with_nl);
    return st;
}

qa_status qa_json_read_file(const char *path, json_t **out) {
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) return QA_FAIL(QA_ERR_FORMAT, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    *out = j;
    return QA_OK;
}

json_t *qa_json_real(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *qa_json_path(const json_t *j, const char *path) {
    char key[128];
    while (j && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof key) return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        j = json_object_get(j, key);
        path += n + (dot ? 1 : 0);
    }
    return (json_t *)j;
}

static json_t *list_json(const qa_cfg_field *f, const qa_cfg_list *l) {
    json_t *a = json_array();
    if (!a) return NULL;
    for (size_t i = 0; i < l->n; i++) {
        json_t *v = f->type == QA_CFG_T_INT_LIST      ? json_integer(((const long long *)l->items)[i])
                    : f->type == QA_CFG_T_DOUBLE_LIST ? qa_json_real(((const double *)l->items)[i])
                                                      : json_string(((const char *const *)l->items)[i]);
        if (!v || json_array_append_new(a, v) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *qa_json_from_schema(const qa_cfg_field *schema, const void *src) {
    json_t *o = json_object();
    if (!o) return NULL;
    for (const qa_cfg_field *f = schema; f->key; f++) {
        if (f->flags & QA_CFG_ALIAS) continue;
        const char *p = (const char *)src + f->offset;
        json_t *v = NULL;
        switch (f->type) {
        case QA_CFG_T_INT: v = json_integer(*(const long long *)p); break;
        case QA_CFG_T_I32: v = json_integer(*(const int *)p); break;
        case QA_CFG_T_I64: v = json_integer((json_int_t) * (const int64_t *)p); break;
        case QA_CFG_T_SIZE: v = json_integer((json_int_t) * (const size_t *)p); break;
        case QA_CFG_T_DOUBLE: v = qa_json_real(*(const double *)p); break;
        case QA_CFG_T_BOOL: v = json_boolean(*(const int *)p); break;
        case QA_CFG_T_STRING: {
            const char *s = *(const char *const *)p;
            v = s ? json_string(s) : json_null();
            break;
        }
        case QA_CFG_T_ENUM: v = json_string(f->choices[*(const int *)p]); break;
        case QA_CFG_T_INT_LIST:
        case QA_CFG_T_DOUBLE_LIST:
        case QA_CFG_T_STRING_LIST: v = list_json(f, (const qa_cfg_list *)p); break;
        case QA_CFG_T_SECTION: v = qa_json_from_schema(f->sub, p); break;
        case QA_CFG_T_INLINE: {
            if (f->flags & QA_CFG_ALIAS) continue;
            json_t *in = qa_json_from_schema(f->sub, p);
            if (!in || json_object_update(o, in) != 0) {
                json_decref(in);
                json_decref(o);
                return NULL;
            }
            json_decref(in);
            continue;
        }
        case QA_CFG_T_NODE: continue; /* modules describe their own free-form parts */
        default: v = json_null(); break;
        }
        if (!v || json_object_set_new(o, f->key, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}
