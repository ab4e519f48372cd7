/* The live HDF5 store, replaced whole at each checkpoint (live/livestore.h). */
#include "live/livestore.h"

#include <math.h>    /* NAN */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, realloc */
#include <string.h>  /* strcmp */

#include <fcntl.h>   /* open: durability */
#include <libgen.h>  /* dirname */
#include <unistd.h>  /* fsync */

#include "common/fs.h" /* qa_path_join */

struct qa_livestore {
    char path[QA_PATH_MAX];
    qa_store_meta meta;
    size_t S;
    const char *const *symbols;
    size_t T, cap;     /* timestamps held, capacity */
    int64_t *time;     /* [cap] */
    double *f[5];      /* [QA_BAR_FIELD_COUNT][cap x S]: time-major while in memory */
    int dirty;
};

static qa_status grow(qa_livestore_t *s, size_t need) {
    if (need <= s->cap) return QA_OK;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < need) cap *= 2;
    int64_t *t = realloc(s->time, cap * sizeof *t);
    if (!t) return QA_FAIL(QA_ERR_NOMEM, "live store of %zu timestamps", cap);
    s->time = t;
    for (int k = 0; k < QA_BAR_FIELD_COUNT; k++) {
        double *p = realloc(s->f[k], cap * s->S * sizeof *p);
        if (!p) return QA_FAIL(QA_ERR_NOMEM, "live store of %zu timestamps x %zu symbols", cap, s->S);
        s->f[k] = p;
    }
    s->cap = cap;
    return QA_OK;
}

void qa_livestore_free(qa_livestore_t *s) {
    if (!s) return;
    free(s->time);
    for (int k = 0; k < QA_BAR_FIELD_COUNT; k++) free(s->f[k]);
    free(s);
}

/* Reads an existing file back (timestamps <= upto). */
static qa_status load(qa_livestore_t *s, int64_t upto) {
    qa_store_t *st = NULL;
    double *panel = NULL;
    qa_status rc = qa_store_open(s->path, NULL, QA_STORE_READ, &st);
    if (rc != QA_OK) return rc;
    size_t T = qa_store_ntime(st), n = 0;
    const int64_t *time = qa_store_time(st);
    if (qa_store_nsym(st) != s->S) {
        rc = QA_FAIL(QA_ERR_STATE, "%s holds %zu symbols, the universe %zu: move it away or use another state directory",
                     s->path, qa_store_nsym(st), s->S);
        goto done;
    }
    for (size_t i = 0; i < s->S; i++)
        if (strcmp(qa_store_symbol(st, i), s->symbols[i]) != 0) {
            rc = QA_FAIL(QA_ERR_STATE, "%s: symbol %zu is '%s', the universe's '%s'", s->path, i, qa_store_symbol(st, i),
                         s->symbols[i]);
            goto done;
        }
    while (n < T && time[n] <= upto) n++;
    if ((rc = grow(s, n)) != QA_OK) goto done;
    panel = malloc(s->S * (n ? n : 1) * sizeof *panel);
    if (!panel) {
        rc = QA_FAIL(QA_ERR_NOMEM, "reading %s", s->path);
        goto done;
    }
    for (int k = 0; k < QA_BAR_FIELD_COUNT && rc == QA_OK && n; k++) {
        rc = qa_store_read(st, qa_bar_field_path((qa_bar_field)k), 0, s->S, 0, n, panel);
        for (size_t i = 0; rc == QA_OK && i < s->S; i++) /* symbol-major file -> time-major memory */
            for (size_t t = 0; t < n; t++) s->f[k][t * s->S + i] = panel[i * n + t];
    }
    if (rc == QA_OK) {
        memcpy(s->time, time, n * sizeof *time);
        s->T = n;
        s->dirty = n != T; /* cut: the file must be rewritten at the next commit */
    }
done:
    free(panel);
    qa_store_close(st);
    return rc;
}

qa_status qa_livestore_open(const char *dir, const qa_store_meta *meta, size_t nsym, const char *const *symbols,
                            int64_t upto, qa_livestore_t **out) {
    qa_livestore_t *s = calloc(1, sizeof *s);
    if (!s) return QA_FAIL(QA_ERR_NOMEM, "live store");
    s->meta = *meta;
    snprintf(s->meta.source, sizeof s->meta.source, "qa live: bars accepted from market.data");
    s->S = nsym, s->symbols = symbols;
    qa_status rc = qa_fs_mkdirs(dir);
    if (rc == QA_OK) rc = qa_path_join(s->path, dir, "live.h5");
    if (rc == QA_OK && qa_fs_exists(s->path)) rc = load(s, upto);
    if (rc != QA_OK) {
        qa_livestore_free(s);
        return rc;
    }
    *out = s;
    return QA_OK;
}

qa_status qa_livestore_append(qa_livestore_t *s, int64_t time, const qa_msg_bar *bars, const unsigned char *present) {
    QA_TRY_RET(grow(s, s->T + 1));
    const size_t t = s->T;
    s->time[t] = time;
    for (size_t i = 0; i < s->S; i++) {
        const qa_msg_bar *b = &bars[i];
        const double v[5] = {b->open, b->high, b->low, b->close, b->volume};
        for (int k = 0; k < QA_BAR_FIELD_COUNT; k++) s->f[k][t * s->S + i] = present[i] ? v[k] : NAN;
    }
    s->T++;
    s->dirty = 1;
    return QA_OK;
}

/* The checkpoint row that follows must never be on disk before the file it covers: fsync
 * the file and its directory entry (the rename). */
static qa_status make_durable(const char *path) {
    char dir[QA_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    const char *targets[2] = {path, dirname(dir)};
    for (int i = 0; i < 2; i++) {
        int fd = open(targets[i], O_RDONLY);
        if (fd < 0 || fsync(fd) != 0) {
            if (fd >= 0) close(fd);
            return QA_FAIL(QA_ERR_IO, "fsync %s", targets[i]);
        }
        close(fd);
    }
    return QA_OK;
}

qa_status qa_livestore_commit(qa_livestore_t *s) {
    if (!s->dirty || s->T == 0) return QA_OK;
    qa_store_t *st = NULL;
    double *panel = malloc(s->S * s->T * sizeof *panel);
    if (!panel) return QA_FAIL(QA_ERR_NOMEM, "writing %s", s->path);
    qa_status rc = qa_store_create(s->path, NULL, &s->meta, s->S, s->symbols, s->T, s->time, &st);
    for (int k = 0; k < QA_BAR_FIELD_COUNT && rc == QA_OK; k++) {
        for (size_t i = 0; i < s->S; i++)
            for (size_t t = 0; t < s->T; t++) panel[i * s->T + t] = s->f[k][t * s->S + i];
        rc = qa_store_write(st, qa_bar_field_path((qa_bar_field)k), 0, s->S, 0, s->T, panel);
    }
    if (rc == QA_OK) rc = qa_store_commit(st); /* the rename: all or nothing */
    else qa_store_close(st);                    /* an uncommitted file is removed */
    free(panel);
    if (rc == QA_OK) rc = make_durable(s->path);
    if (rc == QA_OK) s->dirty = 0;
    return rc;
}
