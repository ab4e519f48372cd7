/* The HDF5 market store: round trips, attributes, panels, atomic creation, and the
 * errors for bad grids and bad files. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h> /* WEXITSTATUS of the h5py check */
#include <unistd.h>

#include <hdf5.h>
#include <zlib.h> /* uncompress: the stored chunks compared once inflated */

#include "common/fs.h"
#include "datasets/store.h"
#include "harness.h"
#include "store_test.h" /* qa_test_daily_meta */

static char dir[256];

static void path_of(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", dir, name); }

static qa_store_meta test_meta(void) { return qa_test_daily_meta("NYSE", "unit test", 4); }

static void test_round_trip(void) {
    char p[512];
    path_of(p, sizeof p, "rt.h5");
    const char *syms[] = {"AAA", "BBB", "CCC"};
    int64_t time[5] = {0, 86400000000000LL, 2 * 86400000000000LL, 5 * 86400000000000LL, 6 * 86400000000000LL};
    qa_store_meta m = test_meta();
    qa_store_t *st = NULL;
    QA_CHECK_OK(qa_store_create(p, NULL, &m, 3, syms, 5, time, &st));
    QA_CHECK(!qa_fs_exists(p)); /* only the temporary exists until commit */
    double close[15];
    for (int i = 0; i < 15; i++) close[i] = i == 7 ? NAN : 100.0 + i;
    QA_CHECK_OK(qa_store_write(st, "bars/close", 0, 3, 0, 5, close));
    double part[2] = {1.5, 2.5};
    QA_CHECK_OK(qa_store_write(st, "bars/volume", 1, 1, 3, 2, part));
    QA_CHECK_OK(qa_store_panel_create(st, "alt/sentiment"));
    QA_CHECK_ERR(qa_store_panel_create(st, "alt/sentiment"), QA_ERR_EXISTS, "already exists");
    QA_CHECK_OK(qa_store_attr_set_str(st, "alt/sentiment", "description", "news tone"));
    QA_CHECK_OK(qa_store_commit(st));
    QA_CHECK(qa_fs_exists(p));

    QA_CHECK_OK(qa_store_open(p, NULL, QA_STORE_READ, &st));
    if (!st) return;
    QA_CHECK_INT(qa_store_nsym(st), 3);
    QA_CHECK_INT(qa_store_ntime(st), 5);
    QA_CHECK_STR(qa_store_symbol(st, 2), "CCC");
    QA_CHECK_INT(qa_store_find_symbol(st, "BBB"), 1);
    QA_CHECK_INT(qa_store_find_symbol(st, "ZZZ"), -1);
    QA_CHECK(qa_store_time(st)[3] == 5 * 86400000000000LL);
    QA_CHECK_STR(qa_store_get_meta(st)->calendar, "NYSE");
    QA_CHECK_NEAR(qa_store_get_meta(st)->bars_per_year, 252, 0, 0);
    double back[15];
    QA_CHECK_OK(qa_store_read(st, "bars/close", 0, 3, 0, 5, back));
    for (int i = 0; i < 15; i++) QA_CHECK(i == 7 ? isnan(back[i]) : back[i] == 100.0 + i);
    double blk[4];
    QA_CHECK_OK(qa_store_read(st, "bars/close", 1, 2, 2, 2, blk)); /* rows 1-2, cols 2-3 */
    QA_CHECK(isnan(blk[0]) && blk[1] == 108 && blk[2] == 112 && blk[3] == 113);
    double vol[5];
    QA_CHECK_OK(qa_store_read(st, "bars/volume", 1, 1, 0, 5, vol));
    QA_CHECK(isnan(vol[0]) && isnan(vol[2]) && vol[3] == 1.5 && vol[4] == 2.5); /* unwritten = NaN fill */
    char desc[64];
    QA_CHECK_OK(qa_store_attr_get_str(st, "alt/sentiment", "description", desc, sizeof desc));
    QA_CHECK_STR(desc, "news tone");
    QA_CHECK_ERR(qa_store_attr_get_str(st, "alt/sentiment", "nope", desc, sizeof desc), QA_ERR_NOT_FOUND, "no attribute 'nope'");
    QA_CHECK_ERR(qa_store_read(st, "bars/close", 2, 2, 0, 5, back), QA_ERR_INVALID_ARG, "outside the 3 x 5 panel");
    QA_CHECK_ERR(qa_store_read(st, "features/none", 0, 1, 0, 1, back), QA_ERR_NOT_FOUND, "no panel 'features/none'");
    QA_CHECK_ERR(qa_store_write(st, "bars/close", 0, 1, 0, 1, back), QA_ERR_STATE, "read-only");
    char **names = NULL;
    size_t n = 0;
    QA_CHECK_OK(qa_store_list(st, "alt", &names, &n));
    QA_CHECK(n == 1 && strcmp(names[0], "sentiment") == 0);
    qa_store_free_names(names, n);
    QA_CHECK_OK(qa_store_list(st, "features", &names, &n));
    QA_CHECK_INT(n, 0);
    qa_store_close(st);
}

static void test_move_delete(void) {
    char p[512];
    path_of(p, sizeof p, "rt.h5");
    qa_store_t *st = NULL;
    QA_CHECK_OK(qa_store_open(p, NULL, QA_STORE_RDWR, &st));
    if (!st) return;
    QA_CHECK_OK(qa_store_panel_create(st, "features/.tmp.x"));
    double v[5] = {1, 2, 3, 4, 5};
    QA_CHECK_OK(qa_store_write(st, "features/.tmp.x", 0, 1, 0, 5, v));
    char **names = NULL;
    size_t n = 0;
    QA_CHECK_OK(qa_store_list(st, "features", &names, &n));
    QA_CHECK_INT(n, 0); /* temporaries are hidden */
    qa_store_free_names(names, n);
    QA_CHECK_OK(qa_store_move(st, "features/.tmp.x", "features/x"));
    QA_CHECK(qa_store_exists(st, "features/x") && !qa_store_exists(st, "features/.tmp.x"));
    QA_CHECK_OK(qa_store_delete(st, "features/x"));
    QA_CHECK(!qa_store_exists(st, "features/x"));
    QA_CHECK_ERR(qa_store_delete(st, "features/x"), QA_ERR_NOT_FOUND, "no 'features/x'");
    qa_store_close(st);
}

static void test_uncommitted_leaves_nothing(void) {
    char p[512];
    path_of(p, sizeof p, "aborted.h5");
    const char *syms[] = {"A"};
    int64_t t[1] = {0};
    qa_store_meta m = test_meta();
    qa_store_t *st = NULL;
    QA_CHECK_OK(qa_store_create(p, NULL, &m, 1, syms, 1, t, &st));
    qa_store_close(st);
    QA_CHECK(!qa_fs_exists(p));
    char tmp[600];
    qa_fs_tmp_name(p, tmp, sizeof tmp);
    QA_CHECK(!qa_fs_exists(tmp));
}

static void test_bad_grids(void) {
    char p[512];
    path_of(p, sizeof p, "bad.h5");
    qa_store_meta m = test_meta();
    qa_store_t *st = NULL;
    const char *syms[] = {"A", "B", "A"};
    int64_t t[3] = {0, 10, 5};
    QA_CHECK_ERR(qa_store_create(p, NULL, &m, 2, syms, 3, t, &st), QA_ERR_INVALID_ARG, "time[2] = 5 is not after time[1] = 10");
    int64_t ok[3] = {0, 10, 20};
    QA_CHECK_ERR(qa_store_create(p, NULL, &m, 3, syms, 3, ok, &st), QA_ERR_INVALID_ARG, "symbol 'A' appears twice");
    const char *empty[] = {""};
    QA_CHECK_ERR(qa_store_create(p, NULL, &m, 1, empty, 3, ok, &st), QA_ERR_INVALID_ARG, "must have 1 to 31 characters");
    QA_CHECK_ERR(qa_store_create(p, NULL, &m, 0, syms, 3, ok, &st), QA_ERR_INVALID_ARG, "at least one symbol");
    QA_CHECK_ERR(qa_store_create(p, NULL, &m, 2, syms, 0, ok, &st), QA_ERR_INVALID_ARG, "the store has no bars");
    /* Metadata a reader would divide by: a file open would refuse is not written either. */
    qa_store_meta bad = m;
    bad.bars_per_year = 0;
    QA_CHECK_ERR(qa_store_create(p, NULL, &bad, 2, syms, 3, ok, &st), QA_ERR_INVALID_ARG,
                 "attribute bars_per_year = 0: expected a finite number > 0");
    bad.bars_per_year = NAN;
    QA_CHECK_ERR(qa_store_create(p, NULL, &bad, 2, syms, 3, ok, &st), QA_ERR_INVALID_ARG, "bars_per_year = nan");
    bad = m;
    bad.bar_seconds = -60;
    QA_CHECK_ERR(qa_store_create(p, NULL, &bad, 2, syms, 3, ok, &st), QA_ERR_INVALID_ARG,
                 "attribute bar_seconds = -60: expected the bar length in seconds, > 0");
    QA_CHECK(!qa_fs_exists(p));
}

static void test_bad_files(void) {
    char p[512];
    qa_store_t *st = NULL;
    path_of(p, sizeof p, "text.h5");
    qa_fs_write_all(p, "hello\n", 6);
    QA_CHECK_ERR(qa_store_open(p, NULL, QA_STORE_READ, &st), QA_ERR_FORMAT, "not an HDF5 file");
    path_of(p, sizeof p, "missing.h5");
    QA_CHECK_ERR(qa_store_open(p, NULL, QA_STORE_READ, &st), QA_ERR_IO, "no such file");
    /* A valid HDF5 file that is not ours. */
    path_of(p, sizeof p, "foreign.h5");
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    QA_CHECK_ERR(qa_store_open(p, NULL, QA_STORE_READ, &st), QA_ERR_FORMAT, "not a QuantumAlpha market file");
    /* Array attributes where one value belongs (found by fuzz_store: H5Aread wrote all of
     * them into the reader's one-value buffer). */
    char src[512];
    path_of(src, sizeof src, "rt.h5");
    char *buf = NULL;
    size_t len = 0;
    QA_CHECK_OK(qa_fs_read_all(src, &buf, &len));
    path_of(p, sizeof p, "array_attr.h5");
    qa_fs_write_all(p, buf, len);
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    hsize_t three[1] = {3};
    double bpy[3] = {252, 252, 252};
    hid_t sp = H5Screate_simple(1, three, NULL);
    H5Adelete(f, "bars_per_year");
    hid_t a = H5Acreate2(f, "bars_per_year", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    QA_CHECK(a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, bpy) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Fclose(f);
    QA_CHECK_ERR(qa_store_open(p, NULL, QA_STORE_READ, &st), QA_ERR_FORMAT, "holds 3 values, expected one");
    /* A truncated copy of a real store. */
    path_of(p, sizeof p, "trunc.h5");
    qa_fs_write_all(p, buf, len / 3);
    free(buf);
    qa_status s = qa_store_open(p, NULL, QA_STORE_READ, &st);
    QA_CHECK_MSG(s == QA_ERR_FORMAT || s == QA_ERR_HDF5, "truncated file gave %s: %s", qa_status_name(s), qa_err_msg());
    QA_CHECK(strstr(qa_err_msg(), "trunc.h5") != NULL);
}

/* ---- direct chunk writes ----------------------------------------------------------------
 * The same panels written through the store's own chunk encoder (threads, H5Dwrite_chunk)
 * and through H5Dwrite with HDF5's filters (QA_STORE_DIRECT_CHUNKS=0) must read back bit
 * for bit equal to what was written, and the files must store the same chunks (the same
 * allocation, filter mask 0, the same bytes once inflated: the DEFLATE streams differ, as
 * libdeflate and zlib encode differently). 130 x 4101 is 3 x 3 chunks of 64 x 2048 with an
 * edge chunk of 2 x 5. */
enum { DS = 130, DT = 4101, DCS = 64, DCT = 2048 };

static uint64_t rng_next(uint64_t *x) {
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17; /* xorshift64 */
    return *x;
}

/* Prices with the values a naive encoder breaks: NaN (quiet, and with a payload), +-0,
 * +-Inf, a subnormal, and runs of one value (what deflate compresses best). */
static double special_value(uint64_t *x) {
    uint64_t r = rng_next(x), bits;
    double v;
    switch (r % 16) {
    case 0: v = NAN; break;
    case 1: bits = 0x7ff8000000000123ULL; memcpy(&v, &bits, sizeof v); break;
    case 2: v = -0.0; break;
    case 3: v = 0.0; break;
    case 4: v = (r >> 8) & 1 ? INFINITY : -INFINITY; break;
    case 5: v = 4.9e-324; break;
    case 6: case 7: v = 100.0; break;
    default: v = 50.0 + (double)(r >> 11) * 0x1.0p-53 * 100.0;
    }
    return v;
}

/* Writes the test's panels into a new store at `p`, through the direct path or not;
 * `want` gets what each panel must hold (fill = NaN where nothing was written). */
static void write_direct_store(const char *p, int direct, const double *vals, double *want[QA_BAR_FIELD_COUNT],
                               size_t *nchunks) {
    setenv("QA_STORE_DIRECT_CHUNKS", direct ? "1" : "0", 1);
    static const char *syms[DS];
    static char names[DS][8];
    int64_t *time = malloc(DT * sizeof *time);
    QA_REQUIRE(time != NULL);
    for (int i = 0; i < DS; i++) snprintf(names[i], sizeof names[i], "S%03d", i), syms[i] = names[i];
    for (int t = 0; t < DT; t++) time[t] = (int64_t)t * 86400000000000LL;
    qa_store_meta m = test_meta();
    qa_store_t *st = NULL;
    QA_CHECK_OK(qa_store_create(p, NULL, &m, DS, syms, DT, time, &st));
    free(time);
    QA_REQUIRE(st != NULL);
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++)
        for (size_t i = 0; i < (size_t)DS * DT; i++) want[f][i] = NAN;
    /* close: the whole panel in one call (9 chunks). */
    QA_CHECK_OK(qa_store_write(st, "bars/close", 0, DS, 0, DT, vals));
    memcpy(want[QA_BAR_CLOSE], vals, (size_t)DS * DT * sizeof *vals);
    /* open: blocks of 64 rows over all times, as the importer writes (3 x 3 chunks). */
    for (size_t s0 = 0; s0 < DS; s0 += DCS) {
        size_t ns = DS - s0 < DCS ? DS - s0 : DCS;
        QA_CHECK_OK(qa_store_write(st, "bars/open", s0, ns, 0, DT, vals + s0 * DT));
    }
    memcpy(want[QA_BAR_OPEN], vals, (size_t)DS * DT * sizeof *vals);
    /* high: the lower right block [64, 130) x [2048, 4101), aligned in both (2 x 2 chunks). */
    double *blk = malloc((size_t)(DS - DCS) * (DT - DCT) * sizeof *blk);
    QA_REQUIRE(blk != NULL);
    for (size_t i = 0; i < DS - DCS; i++)
        for (size_t j = 0; j < DT - DCT; j++)
            blk[i * (DT - DCT) + j] = want[QA_BAR_HIGH][(DCS + i) * DT + DCT + j] = vals[(DCS + i) * DT + DCT + j];
    QA_CHECK_OK(qa_store_write(st, "bars/high", DCS, DS - DCS, DCT, DT - DCT, blk));
    /* low: the whole panel (9 chunks), then a block inside one chunk: HDF5 reads the chunk
     * back through its filters, merges the block and writes it again; and one across
     * chunks: neither is whole chunks, so both take H5Dwrite. */
    QA_CHECK_OK(qa_store_write(st, "bars/low", 0, DS, 0, DT, vals));
    memcpy(want[QA_BAR_LOW], vals, (size_t)DS * DT * sizeof *vals);
    size_t before = qa_store_direct_chunks(st);
    for (size_t i = 0; i < 10 * 100; i++) blk[i] = -(double)i;
    QA_CHECK_OK(qa_store_write(st, "bars/low", 10, 10, 100, 100, blk));
    QA_CHECK_OK(qa_store_write(st, "bars/low", 60, 10, 2040, 100, blk));
    for (size_t i = 0; i < 10; i++)
        for (size_t j = 0; j < 100; j++) {
            want[QA_BAR_LOW][(10 + i) * DT + 100 + j] = -(double)(i * 100 + j);
            want[QA_BAR_LOW][(60 + i) * DT + 2040 + j] = -(double)(i * 100 + j);
        }
    QA_CHECK_INT(qa_store_direct_chunks(st), before);
    free(blk);
    /* volume: never written. */
    *nchunks = qa_store_direct_chunks(st);
    QA_CHECK_OK(qa_store_commit(st));
    unsetenv("QA_STORE_DIRECT_CHUNKS");
}

/* 1 when the two files store every chunk of `dset` with filter mask 0 and the same bytes
 * once inflated (shuffled doubles, edge padding included). */
static int same_stored_chunks(const char *pa, const char *pb, const char *dset) {
    hid_t fa = H5Fopen(pa, H5F_ACC_RDONLY, H5P_DEFAULT), fb = H5Fopen(pb, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t da = H5Dopen2(fa, dset, H5P_DEFAULT), db = H5Dopen2(fb, dset, H5P_DEFAULT);
    int same = fa >= 0 && fb >= 0 && da >= 0 && db >= 0;
    size_t cap = 2u << 20, raw = (size_t)DCS * DCT * sizeof(double);
    unsigned char *ba = malloc(cap), *bb = malloc(cap), *ra = malloc(raw), *rb = malloc(raw);
    same = same && ba && bb && ra && rb;
    for (hsize_t r = 0; r < DS && same; r += DCS)
        for (hsize_t c = 0; c < DT && same; c += DCT) {
            hsize_t off[2] = {r, c}, na = 0, nb = 0;
            unsigned ma = 1, mb = 2; /* filter masks: 0 = every filter applied */
            haddr_t aa, ab;          /* HADDR_UNDEF (and size 0) for an unallocated chunk */
            same = H5Dget_chunk_info_by_coord(da, off, &ma, &aa, &na) >= 0 &&
                   H5Dget_chunk_info_by_coord(db, off, &mb, &ab, &nb) >= 0 && na <= cap && nb <= cap &&
                   (aa == HADDR_UNDEF) == (ab == HADDR_UNDEF);
            if (same && aa != HADDR_UNDEF) {
                uint32_t fa32 = 1, fb32 = 2;
                uLongf la = (uLongf)raw, lb = (uLongf)raw;
                same = H5Dread_chunk(da, H5P_DEFAULT, off, &fa32, ba) >= 0 &&
                       H5Dread_chunk(db, H5P_DEFAULT, off, &fb32, bb) >= 0 && fa32 == 0 && fb32 == 0 &&
                       uncompress(ra, &la, ba, (uLong)na) == Z_OK && uncompress(rb, &lb, bb, (uLong)nb) == Z_OK &&
                       la == raw && lb == raw && memcmp(ra, rb, raw) == 0;
            }
            if (!same) printf("  %s: chunk [%llu, %llu] differs (%llu vs %llu bytes)\n", dset, (unsigned long long)r,
                              (unsigned long long)c, (unsigned long long)na, (unsigned long long)nb);
        }
    free(ba);
    free(bb);
    free(ra);
    free(rb);
    if (da >= 0) H5Dclose(da);
    if (db >= 0) H5Dclose(db);
    if (fa >= 0) H5Fclose(fa);
    if (fb >= 0) H5Fclose(fb);
    return same;
}

static const char *py_check[2]; /* python3 and store_compare.py, from the command line */

static void test_direct_chunks(void) {
    uint64_t x = qa_test_seed() | 1;
    const size_t n = (size_t)DS * DT;
    double *vals = malloc(n * sizeof *vals), *back = malloc(n * sizeof *back), *want[2][QA_BAR_FIELD_COUNT];
    QA_REQUIRE(vals && back);
    for (int k = 0; k < 2; k++)
        for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) QA_REQUIRE((want[k][f] = malloc(n * sizeof(double))) != NULL);
    for (size_t i = 0; i < n; i++) vals[i] = special_value(&x);
    char pd[512], pr[512];
    path_of(pd, sizeof pd, "direct.h5");
    path_of(pr, sizeof pr, "reference.h5");
    size_t nd = 0, nr = 0;
    write_direct_store(pd, 1, vals, want[0], &nd);
    write_direct_store(pr, 0, vals, want[1], &nr);
    QA_CHECK_INT(nd, 9 + 9 + 4 + 9); /* close, open, high, low: every whole-chunk write */
    QA_CHECK_INT(nr, 0);
    for (int k = 0; k < 2; k++) {
        qa_store_t *st = NULL;
        QA_CHECK_OK(qa_store_open(k ? pr : pd, NULL, QA_STORE_READ, &st));
        if (!st) continue;
        for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) {
            QA_CHECK_OK(qa_store_read(st, qa_bar_field_path((qa_bar_field)f), 0, DS, 0, DT, back));
            size_t bad = 0, first = 0;
            for (size_t i = 0; i < n; i++)
                if (memcmp(&back[i], &want[k][f][i], sizeof *back) != 0 && bad++ == 0) first = i;
            QA_CHECK_MSG(bad == 0, "%s %s: %zu values differ in their bits, first [%zu, %zu]: %a vs %a",
                         k ? "reference" : "direct", qa_bar_field_path((qa_bar_field)f), bad, first / DT, first % DT,
                         back[first], want[k][f][first]);
        }
        qa_store_close(st);
    }
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++)
        QA_CHECK_MSG(same_stored_chunks(pd, pr, qa_bar_field_path((qa_bar_field)f)), "%s: stored chunks differ",
                     qa_bar_field_path((qa_bar_field)f));
    /* A foreign reader (h5py, HDF5's filters through libhdf5's Python binding) decodes the
     * directly written file to the same bits. */
    if (!py_check[0]) {
        printf("  skipped: h5py check (no python3 / store_compare.py given)\n");
    } else {
        char bin[512], cmd[2048];
        path_of(bin, sizeof bin, "want.bin");
        FILE *fp = fopen(bin, "wb");
        QA_REQUIRE(fp != NULL);
        for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) QA_CHECK(fwrite(want[0][f], sizeof(double), n, fp) == n);
        QA_CHECK(fclose(fp) == 0);
        snprintf(cmd, sizeof cmd, "'%s' '%s' --values '%s' '%s' bars/open bars/high bars/low bars/close bars/volume",
                 py_check[0], py_check[1], pd, bin);
        int rc = system(cmd);
        if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) printf("  skipped: h5py check (no h5py)\n");
        else QA_CHECK_MSG(rc == 0, "h5py read-back of %s failed (exit %d)", pd, rc);
    }
    for (int k = 0; k < 2; k++)
        for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) free(want[k][f]);
    free(vals);
    free(back);
}

int main(int argc, char **argv) {
    if (argc > 2) py_check[0] = argv[1], py_check[1] = argv[2];
    if (qa_test_tmpdir(dir, sizeof dir, "test_store")) qa_test_skip("no temp dir");
    QA_RUN(test_round_trip);
    QA_RUN(test_move_delete);
    QA_RUN(test_uncommitted_leaves_nothing);
    QA_RUN(test_bad_grids);
    QA_RUN(test_bad_files);
    QA_RUN(test_direct_chunks);
    qa_test_rmtree(dir);
    return qa_test_finish();
}
