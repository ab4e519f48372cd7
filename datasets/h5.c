/* HDF5 errors, attributes, datasets, strings and atomic files (contracts in
 * datasets/h5.h). */
#include "datasets/h5.h"

#include <fcntl.h>   /* open: fsync of the finished file */
#include <math.h>    /* NAN */
#include <stdio.h>   /* snprintf, remove */
#include <stdlib.h>  /* malloc, free */
#include <string.h>  /* strlen, strcmp */
#include <unistd.h>  /* fsync, close */

#include "common/fs.h" /* temporary names, rename */

/* ---- errors ----------------------------------------------------------------------------------- */

struct err_walk {
    char first[256];
    char last[256];
};

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    struct err_walk *w = data;
    if (n == 0 && e->desc) snprintf(w->first, sizeof w->first, "%s", e->desc);
    if (e->desc) snprintf(w->last, sizeof w->last, "%s", e->desc);
    return 0;
}

void qa_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

qa_status qa_h5_fail(const char *src, int line, hid_t loc, const char *path, const char *what) {
    struct err_walk w = {"", ""};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    char where[1200];
    if (loc < 0) {
        snprintf(where, sizeof where, "%s: %s", path ? path : "?", what);
    } else {
        char file[1024] = "?";
        if (H5Fget_name(loc, file, sizeof file) < 0) H5Eclear2(H5E_DEFAULT);
        if (path && *path) snprintf(where, sizeof where, "%s: %s '%s'", file, what, path);
        else snprintf(where, sizeof where, "%s: %s", file, what);
    }
    if (w.first[0] && strcmp(w.first, w.last) != 0)
        return qa_err_set(QA_ERR_HDF5, src, line, "%s: %s (%s)", where, w.first, w.last);
    if (w.first[0]) return qa_err_set(QA_ERR_HDF5, src, line, "%s: %s", where, w.first);
    return qa_err_set(QA_ERR_HDF5, src, line, "%s", where);
}

/* ---- attributes ----------------------------------------------------------------------------------- */

static const char *obj_path(const char *path) { return path && *path ? path : "."; }

static hid_t vlen_utf8(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

static qa_status attr_write(hid_t loc, const char *path, const char *name, hid_t type, const void *value) {
    qa_status st = QA_OK;
    hid_t obj = -1, space = -1, attr = -1;
    qa_h5_quiet();
    QA_H5_TRY(obj = H5Oopen(loc, obj_path(path), H5P_DEFAULT), loc, path, "cannot open object for attribute");
    if (H5Aexists(obj, name) > 0) QA_H5_TRY(H5Adelete(obj, name), loc, path, "cannot replace attribute");
    QA_H5_TRY(space = H5Screate(H5S_SCALAR), loc, path, "cannot make a scalar space");
    QA_H5_TRY(attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), loc, path, "cannot create attribute");
    QA_H5_TRY(H5Awrite(attr, type, value), loc, path, "cannot write attribute");
cleanup:
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    if (obj >= 0) H5Oclose(obj);
    if (st != QA_OK) qa_err_prefix("attribute '%s': ", name);
    return st;
}

qa_status qa_h5_attr_set_str(hid_t loc, const char *path, const char *name, const char *value) {
    hid_t t = vlen_utf8();
    if (t < 0) return QA_H5_FAIL(loc, path, "cannot make a string type");
    qa_status st = attr_write(loc, path, name, t, &value);
    H5Tclose(t);
    return st;
}

qa_status qa_h5_attr_set_i64(hid_t loc, const char *path, const char *name, int64_t value) {
    return attr_write(loc, path, name, H5T_STD_I64LE, &value);
}

qa_status qa_h5_attr_set_f64(hid_t loc, const char *path, const char *name, double value) {
    return attr_write(loc, path, name, H5T_IEEE_F64LE, &value);
}

/* Opens attribute `name` of `path`; QA_ERR_NOT_FOUND when either does not exist. */
static qa_status attr_open(hid_t loc, const char *path, const char *name, hid_t *obj, hid_t *attr) {
    qa_h5_quiet();
    *obj = H5Oopen(loc, obj_path(path), H5P_DEFAULT);
    if (*obj < 0) {
        H5Eclear2(H5E_DEFAULT);
        return QA_FAIL(QA_ERR_NOT_FOUND, "no object '%s'", obj_path(path));
    }
    if (H5Aexists(*obj, name) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        H5Oclose(*obj);
        return QA_FAIL(QA_ERR_NOT_FOUND, "'%s' has no attribute '%s'", obj_path(path), name);
    }
    *attr = H5Aopen(*obj, name, H5P_DEFAULT);
    if (*attr < 0) {
        H5Oclose(*obj);
        return QA_H5_FAIL(loc, path, "cannot open attribute");
    }
    return QA_OK;
}

qa_status qa_h5_attr_get_str(hid_t loc, const char *path, const char *name, char *buf, size_t size) {
    hid_t obj, attr;
    qa_status st = attr_open(loc, path, name, &obj, &attr);
    if (st != QA_OK) return st;
    hid_t ftype = H5Aget_type(attr), mt = -1;
    char *v = NULL;
    if (ftype < 0 || H5Tget_class(ftype) != H5T_STRING) {
        st = QA_FAIL(QA_ERR_FORMAT, "attribute '%s' of '%s' is not a string", name, obj_path(path));
    } else if (H5Tis_variable_str(ftype) > 0) {
        QA_H5_TRY(mt = H5Tcopy(H5T_C_S1), loc, path, "cannot make a string type");
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ftype));
        QA_H5_TRY(H5Aread(attr, mt, &v), loc, path, "cannot read attribute");
        if (!v || strlen(v) + 1 > size) QA_TRY_FAIL(QA_ERR_FORMAT, "attribute '%s' is too long", name);
        snprintf(buf, size, "%s", v);
    } else {
        size_t n = H5Tget_size(ftype);
        if (n + 1 > size) QA_TRY_FAIL(QA_ERR_FORMAT, "attribute '%s' is too long", name);
        QA_H5_TRY(mt = H5Tcopy(H5T_C_S1), loc, path, "cannot make a string type");
        H5Tset_size(mt, n + 1);
        QA_H5_TRY(H5Aread(attr, mt, buf), loc, path, "cannot read attribute");
    }
cleanup:
    if (v) H5free_memory(v);
    if (mt >= 0) H5Tclose(mt);
    if (ftype >= 0) H5Tclose(ftype);
    H5Aclose(attr);
    H5Oclose(obj);
    return st;
}

static qa_status attr_get_num(hid_t loc, const char *path, const char *name, hid_t mtype, void *value) {
    hid_t obj, attr;
    qa_status st = attr_open(loc, path, name, &obj, &attr);
    if (st != QA_OK) return st;
    hid_t ftype = H5Aget_type(attr);
    H5T_class_t c = ftype >= 0 ? H5Tget_class(ftype) : H5T_NO_CLASS;
    if (c != H5T_INTEGER && c != H5T_FLOAT)
        st = QA_FAIL(QA_ERR_FORMAT, "attribute '%s' of '%s' is not a number", name, obj_path(path));
    else if (H5Aread(attr, mtype, value) < 0)
        st = QA_H5_FAIL(loc, path, "cannot read attribute");
    if (ftype >= 0) H5Tclose(ftype);
    H5Aclose(attr);
    H5Oclose(obj);
    return st;
}

qa_status qa_h5_attr_get_i64(hid_t loc, const char *path, const char *name, int64_t *value) {
    return attr_get_num(loc, path, name, H5T_NATIVE_INT64, value);
}

qa_status qa_h5_attr_get_f64(hid_t loc, const char *path, const char *name, double *value) {
    return attr_get_num(loc, path, name, H5T_NATIVE_DOUBLE, value);
}

/* ---- datasets ---------------------------------------------------------------------------------------- */

qa_status qa_h5_create(hid_t loc, const char *path, hid_t type, int rank, const size_t *dims, const size_t *chunk,
                       hid_t *out) {
    qa_status st = QA_OK;
    hsize_t d[2] = {dims[0], rank > 1 ? dims[1] : 1}, c[2] = {1, 1};
    hid_t sp = -1, lcpl = -1, dcpl = -1;
    qa_h5_quiet();
    QA_H5_TRY(sp = H5Screate_simple(rank, d, NULL), loc, path, "cannot make a dataspace for");
    QA_H5_TRY(lcpl = H5Pcreate(H5P_LINK_CREATE), loc, path, "cannot make link properties for");
    QA_H5_TRY(dcpl = H5Pcreate(H5P_DATASET_CREATE), loc, path, "cannot make dataset properties for");
    QA_H5_TRY(H5Pset_create_intermediate_group(lcpl, 1), loc, path, "cannot set parent creation for");
    if (chunk && d[0] > 0 && (rank == 1 || d[1] > 0)) {
        c[0] = chunk[0] < d[0] ? chunk[0] : d[0];
        if (rank > 1) c[1] = chunk[1] < d[1] ? chunk[1] : d[1];
        QA_H5_TRY(H5Pset_chunk(dcpl, rank, c), loc, path, "cannot set the chunk shape of");
    }
    if (H5Tequal(type, H5T_IEEE_F64LE) > 0) {
        double fill = NAN; /* blocks never written read as missing, not 0 */
        QA_H5_TRY(H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &fill), loc, path, "cannot set the fill value of");
    }
    hid_t ds;
    QA_H5_TRY(ds = H5Dcreate2(loc, path, type, sp, lcpl, dcpl, H5P_DEFAULT), loc, path, "cannot create dataset");
    *out = ds;
cleanup:
    if (dcpl >= 0) H5Pclose(dcpl);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (sp >= 0) H5Sclose(sp);
    return st;
}

qa_status qa_h5_write_block(hid_t ds, hid_t memtype, size_t o0, size_t n0, size_t o1, size_t n1, const void *buf) {
    if (n0 == 0 || n1 == 0) return QA_OK;
    qa_status st = QA_OK;
    hsize_t off[2] = {o0, o1}, cnt[2] = {n0, n1}, mn = (hsize_t)n0 * n1;
    hid_t fs = -1, ms = -1;
    QA_H5_TRY(fs = H5Dget_space(ds), ds, NULL, "cannot get the dataspace of a dataset");
    QA_H5_TRY(H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL), ds, NULL, "cannot select a block");
    QA_H5_TRY(ms = H5Screate_simple(1, &mn, NULL), ds, NULL, "cannot make a memory space");
    QA_H5_TRY(H5Dwrite(ds, memtype, ms, fs, H5P_DEFAULT, buf), ds, NULL, "cannot write a block");
cleanup:
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return st;
}

/* The native memory type for a file type. */
static hid_t mem_type(hid_t type) {
    if (H5Tequal(type, H5T_IEEE_F64LE) > 0) return H5T_NATIVE_DOUBLE;
    if (H5Tequal(type, H5T_STD_I64LE) > 0) return H5T_NATIVE_INT64;
    if (H5Tequal(type, H5T_STD_U8LE) > 0) return H5T_NATIVE_UCHAR;
    return type;
}

qa_status qa_h5_put(hid_t loc, const char *path, hid_t type, int rank, const size_t *dims, const void *buf) {
    hid_t ds;
    qa_status st = qa_h5_create(loc, path, type, rank, dims, NULL, &ds);
    if (st != QA_OK) return st;
    if (dims[0] > 0 && (rank == 1 || dims[1] > 0) && H5Dwrite(ds, mem_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        st = QA_H5_FAIL(loc, path, "cannot write dataset");
    H5Dclose(ds);
    return st;
}

qa_status qa_h5_put_f64(hid_t loc, const char *path, const double *v, size_t rows, size_t cols) {
    size_t dims[2] = {rows, cols};
    return qa_h5_put(loc, path, H5T_IEEE_F64LE, cols ? 2 : 1, dims, v);
}

qa_status qa_h5_put_i64(hid_t loc, const char *path, const int64_t *v, size_t n) {
    return qa_h5_put(loc, path, H5T_STD_I64LE, 1, &n, v);
}

qa_status qa_h5_put_u8(hid_t loc, const char *path, const unsigned char *v, size_t n) {
    return qa_h5_put(loc, path, H5T_STD_U8LE, 1, &n, v);
}

qa_status qa_h5_put_strings(hid_t loc, const char *path, const char *const *v, size_t n) {
    hid_t t = vlen_utf8();
    if (t < 0) return QA_H5_FAIL(loc, path, "cannot make a string type for");
    qa_status st = qa_h5_put(loc, path, t, 1, &n, v);
    H5Tclose(t);
    return st;
}

qa_status qa_h5_put_names(hid_t loc, const char *path, const char *names, size_t n, size_t len) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0 || H5Tset_size(t, len) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0) {
        if (t >= 0) H5Tclose(t);
        return QA_H5_FAIL(loc, path, "cannot make a string type for");
    }
    qa_status st = qa_h5_put(loc, path, t, 1, &n, names);
    H5Tclose(t);
    return st;
}

/* ---- files written whole ------------------------------------------------------------------------------ */

qa_status qa_h5_file_create(const char *path, qa_h5_file *f) {
    f->id = -1;
    f->path = strdup(path);
    size_t cap = strlen(path) + 64;
    f->tmp = malloc(cap);
    if (!f->path || !f->tmp) {
        qa_h5_file_abort(f);
        return QA_FAIL(QA_ERR_NOMEM, "%s: file name", path);
    }
    qa_status st = qa_fs_tmp_name(path, f->tmp, cap);
    if (st == QA_OK) {
        qa_h5_quiet();
        f->id = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        if (f->id < 0) st = QA_H5_FAIL(-1, f->tmp, "cannot create");
    }
    if (st != QA_OK) qa_h5_file_abort(f);
    return st;
}

static qa_status fsync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return QA_FAIL(QA_ERR_IO, "%s: cannot reopen for fsync", path);
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? QA_OK : QA_FAIL(QA_ERR_IO, "%s: fsync failed", path);
}

qa_status qa_h5_file_commit(qa_h5_file *f, int fsync_it) {
    qa_status st = H5Fclose(f->id) < 0 ? QA_H5_FAIL(-1, f->tmp, "cannot close") : QA_OK;
    f->id = -1;
    if (st == QA_OK && fsync_it) st = fsync_path(f->tmp);
    if (st == QA_OK) st = qa_fs_rename(f->tmp, f->path);
    qa_h5_file_abort(f); /* removes the temporary name when it is still there */
    return st;
}

void qa_h5_file_abort(qa_h5_file *f) {
    if (!f) return;
    if (f->id >= 0) H5Fclose(f->id);
    if (f->tmp) remove(f->tmp);
    free(f->path);
    free(f->tmp);
    f->id = -1;
    f->path = f->tmp = NULL;
}
