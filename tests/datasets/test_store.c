/* The HDF5 market store: round trips, attributes, panels, atomic creation, and the
 * errors for bad grids and bad files. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

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

int main(void) {
    if (qa_test_tmpdir(dir, sizeof dir, "test_store")) qa_test_skip("no temp dir");
    QA_RUN(test_round_trip);
    QA_RUN(test_move_delete);
    QA_RUN(test_uncommitted_leaves_nothing);
    QA_RUN(test_bad_grids);
    QA_RUN(test_bad_files);
    qa_test_rmtree(dir);
    return qa_test_finish();
}
