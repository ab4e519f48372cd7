/* Request helpers shared by every handler: bounded query parameters, typed body members
 * and the name check that keeps path parameters inside their folders. */
#include <errno.h>   /* strtol's range errors */
#include <limits.h>  /* LLONG_MIN */
#include <stdlib.h>  /* strtol */
#include <string.h>  /* strlen, strcmp */

#include "api/api.h"
#include "common/timeparse.h"  /* ISO times in queries */

qa_status qa_api_query_long(const qa_api_req *req, const char *name, long def, long lo, long hi, long *out) {
    const char *v = req->query ? req->query(req, name) : NULL;
    if (!v) {
        *out = def;
        return QA_OK;
    }
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || errno == ERANGE || x < lo || x > hi)
        return QA_FAIL(QA_ERR_INVALID_ARG, "query parameter %s=%.64s: expected an integer in [%ld, %ld]", name, v,
                       lo, hi);
    *out = x;
    return QA_OK;
}

qa_status qa_api_query_time(const qa_api_req *req, const char *name, long long def, long long *out) {
    const char *v = req->query ? req->query(req, name) : NULL;
    if (!v) {
        *out = def;
        return QA_OK;
    }
    int64_t ns = 0;
    if (!qa_time_parse(v, QA_TIME_ISO, NULL, &ns))
        return QA_FAIL(QA_ERR_INVALID_ARG, "query parameter %s=%.64s: expected an ISO-8601 time (2020-01-31 or "
                       "2020-01-31T14:30:00Z)%s", name, v, qa_time_parse_why());
    *out = ns;
    return QA_OK;
}

qa_status qa_api_body_string(const qa_api_req *req, const char *name, int required, const char **out) {
    json_t *v = req->body ? json_object_get(req->body, name) : NULL;
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required) return QA_FAIL(QA_ERR_INVALID_ARG, "body: member \"%s\" is required (a string)", name);
        return QA_OK;
    }
    if (!json_is_string(v)) return QA_FAIL(QA_ERR_INVALID_ARG, "body: member \"%s\" must be a string", name);
    *out = json_string_value(v);
    return QA_OK;
}

qa_status qa_api_body_long(const qa_api_req *req, const char *name, int required, long lo, long hi, long *out) {
    json_t *v = req->body ? json_object_get(req->body, name) : NULL;
    if (!v || json_is_null(v)) {
        if (required) return QA_FAIL(QA_ERR_INVALID_ARG, "body: member \"%s\" is required (an integer)", name);
        return QA_OK;
    }
    if (!json_is_integer(v)) return QA_FAIL(QA_ERR_INVALID_ARG, "body: member \"%s\" must be an integer", name);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return QA_FAIL(QA_ERR_INVALID_ARG, "body: member \"%s\" = %lld is outside [%ld, %ld]", name, (long long)x,
                       lo, hi);
    *out = (long)x;
    return QA_OK;
}

qa_status qa_api_safe_name(const char *s, const char *what) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 200) return QA_FAIL(QA_ERR_INVALID_ARG, "%s: expected 1 to 200 bytes", what);
    if (s[0] == '.') return QA_FAIL(QA_ERR_INVALID_ARG, "%s '%.64s' starts with '.'", what, s);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f)
            return QA_FAIL(QA_ERR_INVALID_ARG, "%s '%.64s': byte %zu is not allowed in a name", what, s, i);
    }
    return QA_OK;
}
