/* libFuzzer harness: opening market files (datasets/store.h) as the CLI does.
 *
 * Structure-aware: Debian's libhdf5 (1.10) itself crashes on raw mutated files, which is
 * not ours to fix, so the input is not an HDF5 file. It describes one: every root
 * attribute (present or not, its type: variable or fixed string, int64, int32, double,
 * float, a 3-element array, its value: NaN, 0, negative, huge, long strings), the
 * /symbols and /time datasets (absent, wrong type, 2-D, names empty, duplicated or
 * without NUL, times unsorted, zero, INT64_MIN/MAX) and the five /bars panels (absent,
 * shapes that disagree with /symbols and /time, float32 or integer types, any values).
 * The harness writes that file with the HDF5 C API into /dev/shm, opens it with
 * qa_store_open and reads it as `qa data describe` and the engines do: metadata, the
 * symbol table, the time grid, qa_describe_store and a bounded read of every panel. What
 * is fuzzed is our validation of what a valid HDF5 file may hold.
 *
 * Decoding takes bytes off the front (fuzz_util.h); an exhausted input reads as zeros,
 * and zeros decode to the well-formed choice, so short inputs describe valid files. */
#include <hdf5.h>    /* the writer */
#include <jansson.h> /* json_decref */
#include <math.h>    /* isnan */
#include <stdint.h>  /* int64_t */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* abort */
#include <string.h>  /* strlen */
#include <unistd.h>  /* unlink */

#include "datasets/describe.h" /* qa_describe_store */
#include "datasets/store.h"    /* qa_store_open and readers */
#include "fuzz_util.h"         /* input cursor, scratch files */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    qa_fuzz_quiet();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return 0;
}

enum { KIND_STR, KIND_I64, KIND_F64 };

typedef struct root_attr {
    const char *name;
    int kind;          /* the type the store writes */
    const char *str;   /* its well-formed value */
    double num;
} root_attr;

static const root_attr ROOT[] = {
    {"format", KIND_STR, QA_STORE_FORMAT, 0},  {"format_version", KIND_I64, NULL, 1},
    {"frequency", KIND_STR, "1d", 0},          {"bar_seconds", KIND_I64, NULL, 86400},
    {"bars_per_year", KIND_F64, NULL, 252},    {"calendar", KIND_STR, "NYSE", 0},
    {"currency", KIND_STR, "USD", 0},          {"adjustment", KIND_STR, "none", 0},
    {"source", KIND_STR, "fuzz", 0},           {"deflate_level", KIND_I64, NULL, 4},
};

static void fail_h5(const char *what) {
    fprintf(stderr, "fuzz_store: HDF5 writer failed: %s\n", what);
    abort();
}

/* Writes attribute `name` on loc with file type ftype (memory type mtype), n elements
 * (n == 0: scalar). */
static void put_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, size_t n, const void *v) {
    hsize_t d[1] = {n};
    hid_t sp = n ? H5Screate_simple(1, d, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (sp < 0 || a < 0 || H5Awrite(a, mtype, v) < 0) fail_h5(name);
    H5Aclose(a);
    H5Sclose(sp);
}

static void put_str_attr(hid_t loc, const char *name, const char *s, int vlen, size_t n) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (vlen) {
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8);
        const char *v[3] = {s, s, s};
        put_attr(loc, name, t, t, n, v);
    } else {
        size_t len = strlen(s) ? strlen(s) : 1;
        H5Tset_size(t, len);
        char buf[3 * 300];
        for (size_t i = 0; i < (n ? n : 1); i++) memcpy(buf + i * len, s, len); /* s holds len bytes or a NUL */
        put_attr(loc, name, t, t, n, buf);
    }
    H5Tclose(t);
}

static void write_attrs(qa_fuzz_in *in, hid_t file) {
    for (size_t i = 0; i < sizeof ROOT / sizeof *ROOT; i++) {
        const root_attr *r = &ROOT[i];
        unsigned k = qa_fuzz_u8(in) % 16;
        char s[300];
        if (k <= 8) { /* as the store writes it */
            if (r->kind == KIND_STR) put_str_attr(file, r->name, r->str, 1, 0);
            else if (r->kind == KIND_I64) {
                int64_t v = (int64_t)r->num;
                put_attr(file, r->name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, &v);
            } else
                put_attr(file, r->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, &r->num);
            continue;
        }
        switch (k) {
        case 9: break; /* absent */
        case 10: qa_fuzz_str(in, s, 290); put_str_attr(file, r->name, s, 1, 0); break;
        case 11: qa_fuzz_str(in, s, 290); put_str_attr(file, r->name, s, 0, 0); break;
        case 12: {
            int64_t v = (int64_t)qa_fuzz_u64(in);
            put_attr(file, r->name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, &v);
            break;
        }
        case 13: {
            double v = qa_fuzz_double(in);
            put_attr(file, r->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, &v);
            break;
        }
        case 14: {
            if (qa_fuzz_u8(in) & 1) {
                int32_t v = (int32_t)qa_fuzz_u32(in);
                put_attr(file, r->name, H5T_STD_I32LE, H5T_NATIVE_INT32, 0, &v);
            } else {
                float v = (float)qa_fuzz_double(in);
                put_attr(file, r->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 0, &v);
            }
            break;
        }
        default: { /* a 3-element array of the right type */
            if (r->kind == KIND_STR) put_str_attr(file, r->name, r->str, qa_fuzz_u8(in) & 1, 3);
            else {
                double v[3] = {r->num, r->num, r->num};
                put_attr(file, r->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, v);
            }
            break;
        }
        }
    }
}

/* A dataset `name` of file type ft, rank 1 or 2, written from memory type mt. */
static void put_dataset(hid_t file, const char *name, hid_t ft, hid_t mt, int rank, hsize_t d0, hsize_t d1,
                        const void *v) {
    hsize_t d[2] = {d0, d1};
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t sp = H5Screate_simple(rank, d, NULL);
    hid_t ds = H5Dcreate2(file, name, ft, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (sp < 0 || ds < 0) fail_h5(name);
    if (d0 && (rank == 1 || d1) && H5Dwrite(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) fail_h5(name);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Pclose(lcpl);
}

#define MAX_S 8
#define MAX_T 16

static size_t write_symbols(qa_fuzz_in *in, hid_t file) {
    size_t S = (qa_fuzz_u8(in) + 3) % (MAX_S + 1); /* zero byte: 3 symbols; 0 symbols possible */
    unsigned mode = qa_fuzz_u8(in) % 8;
    static char names[MAX_S][QA_STORE_SYMBOL_LEN * 2 + 1];
    for (size_t i = 0; i < S; i++) {
        switch (qa_fuzz_u8(in) % 4) {
        case 0: snprintf(names[i], sizeof names[i], "S%zu", i); break;
        case 1: qa_fuzz_str(in, names[i], QA_STORE_SYMBOL_LEN * 2); break; /* may be too long, hold anything */
        case 2: snprintf(names[i], sizeof names[i], "%s", i ? names[i - 1] : "S0"); break;
        default: names[i][0] = '\0'; break;
        }
    }
    if (mode == 5) return S; /* absent */
    if (mode == 6) { /* variable-length strings */
        const char *v[MAX_S];
        for (size_t i = 0; i < S; i++) v[i] = names[i];
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        put_dataset(file, "symbols", t, t, 1, S, 1, v);
        H5Tclose(t);
        return S;
    }
    size_t w = mode == 7 ? 1 + qa_fuzz_u8(in) % 64 : QA_STORE_SYMBOL_LEN; /* fixed width */
    static char buf[MAX_S * 64];
    memset(buf, 0, sizeof buf);
    for (size_t i = 0; i < S; i++) {
        size_t n = strlen(names[i]);
        memcpy(buf + i * w, names[i], n < w ? n : w); /* a name of w bytes has no NUL */
    }
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, w);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    int two_d = mode == 4 && S % 2 == 0 && S > 0;
    put_dataset(file, "symbols", t, t, two_d ? 2 : 1, two_d ? 2 : S, two_d ? S / 2 : 1, buf);
    H5Tclose(t);
    return S;
}

static size_t write_time(qa_fuzz_in *in, hid_t file) {
    size_t T = (qa_fuzz_u8(in) + 5) % (MAX_T + 1); /* zero byte: 5 times */
    unsigned mode = qa_fuzz_u8(in) % 8;
    int64_t v[MAX_T];
    for (size_t t = 0; t < T; t++) {
        int64_t day = (int64_t)(10957 + t) * 86400 * 1000000000LL;
        switch (qa_fuzz_u8(in) % 5) {
        case 0: v[t] = day; break;
        case 1: v[t] = (int64_t)qa_fuzz_u64(in); break;
        case 2: v[t] = t ? v[t - 1] : 0; break;
        case 3: {
            static const int64_t edge[] = {0, INT64_MIN, INT64_MAX, -1, 1};
            v[t] = edge[qa_fuzz_u8(in) % 5];
            break;
        }
        default: v[t] = day - 2 * 86400 * 1000000000LL; break; /* earlier than the previous */
        }
    }
    if (mode == 5) return T;
    if (mode == 6) {
        double d[MAX_T];
        for (size_t t = 0; t < T; t++) d[t] = (double)v[t];
        put_dataset(file, "time", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, T, 1, d);
    } else if (mode == 7) {
        int32_t d[MAX_T];
        for (size_t t = 0; t < T; t++) d[t] = (int32_t)v[t];
        put_dataset(file, "time", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, T, 1, d);
    } else
        put_dataset(file, "time", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, T, 1, v);
    return T;
}

static void write_bars(qa_fuzz_in *in, hid_t file, size_t S, size_t T) {
    static double v[(MAX_S + 1) * (MAX_T + 1)];
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) {
        unsigned mode = qa_fuzz_u8(in) % 8;
        size_t nv = (S + 1) * (T + 1);
        for (size_t i = 0; i < nv; i++) v[i] = 100.0 + (double)i;
        for (unsigned k = qa_fuzz_u8(in) % 4; k > 0; k--) v[qa_fuzz_u8(in) % nv] = qa_fuzz_double(in);
        const char *path = qa_bar_field_path((qa_bar_field)f);
        switch (mode) {
        case 5: break; /* absent */
        case 6: {      /* a shape that disagrees with /symbols and /time */
            unsigned how = qa_fuzz_u8(in) % 4;
            if (how == 0) put_dataset(file, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, S + 1, T, v);
            else if (how == 1) put_dataset(file, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, T, S, v);
            else if (how == 2) put_dataset(file, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, S * T, 1, v);
            else put_dataset(file, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, S, T + 1, v);
            break;
        }
        case 7:
            if (qa_fuzz_u8(in) & 1) put_dataset(file, path, H5T_IEEE_F32LE, H5T_NATIVE_DOUBLE, 2, S, T, v);
            else {
                static int64_t iv[(MAX_S + 1) * (MAX_T + 1)];
                for (size_t i = 0; i < nv; i++) iv[i] = (int64_t)i;
                put_dataset(file, path, H5T_STD_I64LE, H5T_NATIVE_INT64, 2, S, T, iv);
            }
            break;
        default: put_dataset(file, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, S, T, v); break;
        }
    }
    if (qa_fuzz_u8(in) % 4 == 1) /* a feature panel, listed by describe */
        put_dataset(file, "features/rsi_14", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, S, T, v);
}

/* Everything a reader of an opened store may do without further checks. */
static void read_store(qa_store_t *st) {
    size_t S = qa_store_nsym(st), T = qa_store_ntime(st);
    if (S == 0 || T == 0) __builtin_trap(); /* qa_store_open promises >= 1 of each */
    const int64_t *time = qa_store_time(st);
    for (size_t t = 1; t < T; t++)
        if (time[t] <= time[t - 1]) __builtin_trap(); /* and strictly increasing times */
    const qa_store_meta *m = qa_store_get_meta(st);
    if (!(m->bar_seconds > 0) || !isfinite(m->bars_per_year) || !(m->bars_per_year > 0)) __builtin_trap();
    for (size_t i = 0; i < S; i++) {
        const char *name = qa_store_symbol(st, i);
        if (!name[0] || strlen(name) >= QA_STORE_SYMBOL_LEN) __builtin_trap();
        if (qa_store_find_symbol(st, name) != (long)i) __builtin_trap(); /* unique names */
    }
    json_t *desc = NULL;
    if (qa_describe_store(st, &desc) == QA_OK) json_decref(desc);
    double *buf = malloc(S * (T < 64 ? T : 64) * sizeof *buf);
    if (!buf) return;
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++)
        (void)qa_store_read(st, qa_bar_field_path((qa_bar_field)f), 0, S, 0, T < 64 ? T : 64, buf);
    (void)qa_store_read(st, "features/rsi_14", 0, S, 0, T < 64 ? T : 64, buf);
    free(buf);
    char **names = NULL;
    size_t n = 0;
    if (qa_store_list(st, "features", &names, &n) == QA_OK) qa_store_free_names(names, n);
    char text[64];
    int64_t i64;
    double f64;
    (void)qa_store_attr_get_str(st, "/", "created", text, sizeof text);
    (void)qa_store_attr_get_i64(st, "/", "deflate_level", &i64);
    (void)qa_store_attr_get_f64(st, "/", "bars_per_year", &f64);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qa_fuzz_in in = {data, size};
    char path[512];
    qa_fuzz_path("store.h5", path, sizeof path);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) fail_h5(path);
    write_attrs(&in, file);
    size_t S = write_symbols(&in, file);
    size_t T = write_time(&in, file);
    write_bars(&in, file, S, T);
    if (H5Fclose(file) < 0) fail_h5("close");
    qa_store_t *st = NULL;
    if (qa_store_open(path, NULL, QA_STORE_READ, &st) == QA_OK) {
        read_store(st);
        qa_store_close(st);
    }
    unlink(path);
    return 0;
}
