/* CPU cross-sectional features: per timestamp t, over the symbols whose x is non-NaN,
 *   xs_rank   = (rank - 1)/(n - 1), average ranks for ties, 0.5 when n == 1;
 *   xs_zscore = (x - mean)/std (ddof 1), NaN when n < 2 or std == 0.
 * Reference: ranks by counting (rank - 1 = #less + (#equal - 1)/2, O(n^2)), the
 * definition itself. Optimised: an LSD radix sort of order-preserving 64-bit keys (on
 * their upper halves, with exact fix-up of equal halves), then tie groups; tiles of 8 timestamps (one cache line per symbol row) gathered into a
 * column buffer, OpenMP over tiles. Both produce the same doubles: ranks are exact small
 * integers and halves, and the z-score uses the same two-pass formula in symbol order. */
#include <math.h>    /* isnan, sqrt, NAN */
#include <stdint.h>  /* uint64_t, uint32_t */
#include <stdlib.h>  /* malloc, free */
#include <string.h>  /* memcpy */

#include "kernels/features_impl.h" /* qa_feat_xs_cpu */

enum { XS_TILE = 8 }; /* timestamps per gathered tile: 8 doubles = one cache line */

/* Sorts a[0..n) by their upper 32 bits (stable LSD radix, 8 bits a pass; passes whose
 * digit is the same for every word are skipped). tmp holds n words. */
static void radix_sort_hi32(uint64_t *a, uint64_t *tmp, size_t n) {
    size_t hist[4][256];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 4; b++) hist[b][(a[i] >> (32 + 8 * b)) & 255u]++;
    uint64_t *src = a, *dst = tmp;
    for (int b = 0; b < 4; b++) {
        size_t *h = hist[b];
        const int shift = 32 + 8 * b;
        if (n == 0 || h[(src[0] >> shift) & 255u] == n) continue;
        size_t off = 0;
        for (int d = 0; d < 256; d++) {
            size_t c = h[d];
            h[d] = off;
            off += c;
        }
        for (size_t i = 0; i < n; i++) dst[h[(src[i] >> shift) & 255u]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

/* Mean shifted by the first value (a constant cross-section gives exactly std 0), then
 * the two-pass sum of squares, both in symbol order. Returns n; NaN mean/std when n < 2. */
static size_t xs_moments(const double *x, size_t n_all, double *mean, double *sd) {
    size_t n = 0;
    double K = NAN, s = 0.0;
    for (size_t i = 0; i < n_all; i++) {
        if (isnan(x[i])) continue;
        if (n++ == 0) K = x[i];
        s += x[i] - K;
    }
    *mean = *sd = NAN;
    if (n < 2) return n;
    double m = K + s / (double)n, q = 0.0;
    for (size_t i = 0; i < n_all; i++)
        if (!isnan(x[i])) q += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = sqrt(q / (double)(n - 1));
    return n;
}

static void zscore_row(const double *x, size_t n_all, double *out) {
    double mean, sd;
    xs_moments(x, n_all, &mean, &sd);
    int ok = sd > 0.0; /* false for NaN (n < 2) and 0 */
    for (size_t i = 0; i < n_all; i++) out[i] = (ok && !isnan(x[i])) ? (x[i] - mean) / sd : NAN;
}

/* Optimised row; out may equal x. `scratch` holds 3*n_all words. Items are
 * (upper 32 bits of the order key) << 32 | symbol, radix-sorted on the upper half (4
 * passes over 8-byte words instead of 8 over full keys); runs of equal upper halves
 * (values within ~1e-6 relative of each other, rare) are then ordered by the full key,
 * and ties are runs of equal full keys. */
static void xs_row_opt(int kind, const double *x, size_t n_all, double *out, uint64_t *scratch) {
    if (kind == QA_FEAT_XS_ZSCORE) {
        zscore_row(x, n_all, out);
        return;
    }
    uint64_t *keys = scratch, *items = scratch + n_all, *tmp = items + n_all;
    size_t n = 0;
    for (size_t i = 0; i < n_all; i++) {
        if (isnan(x[i])) continue;
        keys[i] = qa_feat_order_key(x[i]);
        items[n++] = (keys[i] & 0xffffffff00000000ull) | (uint64_t)i;
    }
    for (size_t i = 0; i < n_all; i++)
        if (isnan(x[i])) out[i] = NAN;
    radix_sort_hi32(items, tmp, n);
    for (size_t i = 0; i < n;) { /* order runs of equal upper halves by the full key */
        size_t j = i + 1;
        while (j < n && (items[j] >> 32) == (items[i] >> 32)) j++;
        for (size_t a = i + 1; a < j; a++) {
            uint64_t it = items[a], k = keys[(uint32_t)it];
            size_t b = a;
            for (; b > i && keys[(uint32_t)items[b - 1]] > k; b--) items[b] = items[b - 1];
            items[b] = it;
        }
        i = j;
    }
    for (size_t i = 0; i < n;) {
        uint64_t k = keys[(uint32_t)items[i]];
        size_t j = i + 1;
        while (j < n && keys[(uint32_t)items[j]] == k) j++;
        double r = qa_feat_rank_value(i, j - i, n);
        for (size_t q = i; q < j; q++) out[(uint32_t)items[q]] = r;
        i = j;
    }
}

/* Reference row (out != x). */
static void xs_row_ref(int kind, const double *x, size_t n_all, double *out) {
    if (kind == QA_FEAT_XS_ZSCORE) {
        zscore_row(x, n_all, out);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < n_all; i++) n += !isnan(x[i]);
    for (size_t i = 0; i < n_all; i++) {
        out[i] = NAN;
        if (isnan(x[i])) continue;
        size_t less = 0, eq = 0;
        for (size_t j = 0; j < n_all; j++) {
            if (isnan(x[j])) continue;
            less += x[j] < x[i];
            eq += x[j] == x[i];
        }
        out[i] = qa_feat_rank_value(less, eq, n);
    }
}

size_t qa_feat_xs_scratch_bytes(size_t n) { return 3 * (n ? n : 1) * sizeof(uint64_t); }

qa_status qa_feat_xs_row(qa_feat_kind kind, const double *x, size_t n, double *out, void *scratch) {
    if (kind != QA_FEAT_XS_RANK && kind != QA_FEAT_XS_ZSCORE)
        return QA_FAIL(QA_ERR_INVALID_ARG, "qa_feat_xs_row: '%s' is not a cross-sectional kind",
                       qa_feat_kind_name(kind));
    if (n == 0) return QA_OK;
    if (!x || !out || !scratch) return QA_FAIL(QA_ERR_INVALID_ARG, "qa_feat_xs_row: NULL argument");
    if (n > UINT32_MAX) return QA_FAIL(QA_ERR_LIMIT, "qa_feat_xs_row: %zu symbols (at most 2^32)", n);
    xs_row_opt(kind, x, n, out, (uint64_t *)scratch);
    return QA_OK;
}

qa_status qa_feat_xs_cpu(int kind, const double *x, size_t ldx, size_t nsym, size_t nbar, double *out,
                         size_t ld_out, int threads, int reference) {
    const long long tiles = (long long)((nbar + XS_TILE - 1) / XS_TILE);
    qa_status st = QA_OK;
    if (nsym > UINT32_MAX) return QA_FAIL(QA_ERR_LIMIT, "cross-section of %zu symbols (at most 2^32)", nsym);
    (void)threads;
#pragma omp parallel num_threads(threads) if (threads > 1 && tiles > 1 && !reference)
    {
        /* Per thread: the tile's columns [XS_TILE][nsym], a result column, sort items. */
        double *cols = malloc((XS_TILE + 1) * nsym * sizeof *cols);
        uint64_t *items = malloc(3 * nsym * sizeof *items);
        int ok = cols && items;
        if (!ok) {
#pragma omp critical(qa_feat_xs_nomem)
            st = QA_FAIL(QA_ERR_NOMEM, "cross-section buffers for %zu symbols", nsym);
        }
#pragma omp for schedule(dynamic, 1)
        for (long long tile = 0; tile < tiles; tile++) {
            if (!ok) continue;
            size_t t0 = (size_t)tile * XS_TILE, tb = nbar - t0 < XS_TILE ? nbar - t0 : XS_TILE;
            for (size_t s = 0; s < nsym; s++) {
                const double *row = x + s * ldx + t0;
                for (size_t j = 0; j < tb; j++) cols[j * nsym + s] = row[j];
            }
            double *res = cols + XS_TILE * nsym;
            for (size_t j = 0; j < tb; j++) {
                double *col = cols + j * nsym;
                if (reference) {
                    xs_row_ref(kind, col, nsym, res);
                    memcpy(col, res, nsym * sizeof *col);
                } else {
                    xs_row_opt(kind, col, nsym, col, items);
                }
            }
            for (size_t s = 0; s < nsym; s++) {
                double *row = out + s * ld_out + t0;
                for (size_t j = 0; j < tb; j++) row[j] = cols[j * nsym + s];
            }
        }
        free(cols);
        free(items);
    }
    return st;
}
