/* HDF5 errors, attributes, datasets, strings and atomic files (contracts in
 * datasets/h5.h). */
#include "datasets/h5.h"

#include <errno.h>         /* EAGAIN, EWOULDBLOCK: a lock held by another process */
#include <fcntl.h>         /* open: fsync of the finished file */
#include <limits.h>        /* INT_MAX */
#include <math.h>          /* NAN */
#include <stdio.h>         /* snprintf, remove, /proc/locks */
#include <stdlib.h>        /* malloc, free, strtol, strtoul */
#include <string.h>        /* strlen, strcmp, strstr */
#include <sys/mman.h>      /* memfd_create: the sink of a discarded file's last writes */
#include <sys/stat.h>      /* stat: the locked file's device and inode */
#include <sys/sysmacros.h> /* major, minor */
#include <unistd.h>        /* fsync, close, dup2 */

#include "common/fs.h" /* temporary names, rename */

/* ---- errors ----------------------------------------------------------------------------------- */

/* What one walk of HDF5's error stack keeps: the outermost and innermost messages (each
 * cut before the system details HDF5 appends), the C library's message of the innermost
 * system error ("No space left on device") with its errno, and whether HDF5 failed to
 * lock the file. */
struct err_walk {
    char first[256];
    char last[256];
    char sys[128];
    int err;
    int lock;
};

/* HDF5's messages for failed system calls append ", errno = N, error message = 'TEXT'",
 * and its write errors first ": time = ..., filename = ..., file descriptor = ...,": the
 * text before those details, and the errno and TEXT. */
static void walk_keep(char *dst, size_t size, const char *desc) {
    size_t n = strlen(desc);
    const char *cuts[] = {": time = ", ", errno = ", ", filename = "};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        const char *c = strstr(desc, cuts[i]);
        if (c && (size_t)(c - desc) < n) n = (size_t)(c - desc);
    }
    snprintf(dst, size, "%.*s", (int)n, desc);
}

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    struct err_walk *w = data;
    if (!e->desc) return 0;
    if (n == 0) walk_keep(w->first, sizeof w->first, e->desc);
    walk_keep(w->last, sizeof w->last, e->desc);
    if (strstr(e->desc, "unable to lock")) w->lock = 1;
    const char *en = strstr(e->desc, "errno = ");
    if (en) {
        char *end = NULL;
        long v = strtol(en + 8, &end, 10);
        w->err = end != en + 8 && v > 0 && v <= INT_MAX ? (int)v : 0; /* 0: not given */
        const char *m = strstr(en, "error message = '");
        if (m) {
            m += 17;
            const char *q = strchr(m, '\'');
            snprintf(w->sys, sizeof w->sys, "%.*s", q ? (int)(q - m) : (int)strlen(m), m);
        }
    }
    return 0;
}

void qa_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

void qa_h5_process_init(void) {
    H5dont_atexit();
    if (H5open() >= 0) qa_h5_quiet();
}

/* " (pid N: NAME)" of a process holding a lock on `path` (from /proc/locks), or "". */
static void lock_holder(const char *path, char *out, size_t size) {
    out[0] = '\0';
    struct stat sb;
    FILE *f = path ? fopen("/proc/locks", "r") : NULL;
    if (!f) return;
    if (stat(path, &sb) != 0) {
        (void)fclose(f); /* read-only stream: a close error loses nothing */
        return;
    }
    char line[256];
    while (fgets(line, sizeof line, f)) {
        /* "1: FLOCK  ADVISORY  WRITE 3344 08:01:1234567 0 EOF"; waiters ("1: -> FLOCK ...") are skipped */
        char *tok[6], *save = NULL, *end = NULL;
        int nt = 0;
        for (char *t = strtok_r(line, " \t\n", &save); t && nt < 6; t = strtok_r(NULL, " \t\n", &save)) tok[nt++] = t;
        if (nt < 6 || strcmp(tok[1], "->") == 0) continue;
        long lpid = strtol(tok[4], &end, 10);
        if (end == tok[4] || *end || lpid <= 0 || lpid > INT_MAX || lpid == (long)getpid()) continue;
        const int pid = (int)lpid;
        unsigned long maj = strtoul(tok[5], &end, 16), min = 0, ino = 0; /* "MAJ:MIN:INODE", hex:hex:decimal */
        if (*end == ':') min = strtoul(end + 1, &end, 16);
        if (*end == ':') ino = strtoul(end + 1, &end, 10);
        if (*end) continue;
        if (maj != major(sb.st_dev) || min != minor(sb.st_dev) || ino != (unsigned long)sb.st_ino) continue;
        char comm_path[64], name[64] = "";
        snprintf(comm_path, sizeof comm_path, "/proc/%d/comm", pid);
        FILE *c = fopen(comm_path, "r");
        if (c) {
            if (fgets(name, sizeof name, c)) name[strcspn(name, "\n")] = '\0';
            (void)fclose(c); /* read-only stream: a close error loses nothing */
        }
        snprintf(out, size, " (pid %d%s%s)", pid, name[0] ? ": " : "", name);
        break;
    }
    (void)fclose(f); /* read-only stream: a close error loses nothing */
}

/* The name a file written under a temporary name ("<dir>/.<base>.tmp-<pid>",
 * qa_fs_tmp_name) will have: errors name the output, not its temporary. */
static void final_name(char *name) {
    char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    char *t = strstr(base, ".tmp-");
    if (base[0] != '.' || !t || t == base || t[5] == '\0' || strspn(t + 5, "0123456789") != strlen(t + 5)) return;
    *t = '\0';
    memmove(base, base + 1, strlen(base + 1) + 1);
}

qa_status qa_h5_fail(const char *src, int line, hid_t loc, const char *path, const char *what) {
    struct err_walk w = {"", "", "", 0, 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    char where[1200];
    if (loc < 0) {
        snprintf(where, sizeof where, "%s: %s", path ? path : "?", what);
    } else {
        char file[1024] = "?";
        if (H5Fget_name(loc, file, sizeof file) < 0) H5Eclear2(H5E_DEFAULT);
        final_name(file);
        if (path && *path) snprintf(where, sizeof where, "%s: %s '%s'", file, what, path);
        else snprintf(where, sizeof where, "%s: %s", file, what);
    }
    /* HDF5 locks every file it opens (shared to read, exclusive to write) and fails at
     * once when another process holds a conflicting lock: say so, not "damaged". */
    if (w.lock && (w.err == EAGAIN || w.err == EWOULDBLOCK)) {
        char holder[128];
        lock_holder(loc < 0 ? path : NULL, holder, sizeof holder);
        return qa_err_set(QA_ERR_HDF5, src, line,
                          "%s: the file is locked by another process%s that has it open (HDF5 file lock); wait "
                          "for that process to finish or stop it, then run this again",
                          loc < 0 && path ? path : where, holder);
    }
    if (w.lock)
        return qa_err_set(QA_ERR_HDF5, src, line,
                          "%s: cannot lock the file (%s); on a file system without file locks set "
                          "HDF5_USE_FILE_LOCKING=FALSE",
                          where, w.sys[0] ? w.sys : "unknown reason");
    char detail[600] = "";
    if (w.first[0] && strcmp(w.first, w.last) != 0) snprintf(detail, sizeof detail, ": %s (%s)", w.first, w.last);
    else if (w.first[0]) snprintf(detail, sizeof detail, ": %s", w.first);
    if (w.sys[0]) return qa_err_set(QA_ERR_HDF5, src, line, "%s%s: %s", where, detail, w.sys);
    return qa_err_set(QA_ERR_HDF5, src, line, "%s%s", where, detail);
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
    /* One value: the readers read into a single number or string, and H5Aread writes
     * every element (an array attribute would overrun the caller's buffer). */
    hid_t space = H5Aget_space(*attr);
    hssize_t npoints = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    if (space >= 0) H5Sclose(space);
    if (npoints != 1) {
        H5Eclear2(H5E_DEFAULT);
        H5Aclose(*attr);
        H5Oclose(*obj);
        return QA_FAIL(QA_ERR_FORMAT, "attribute '%s' of '%s' holds %lld values, expected one", name, obj_path(path),
                       (long long)npoints);
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
    hsize_t off[2] = {o0, o1}, cnt[2] = {n0, n1};
    hid_t fs = -1, ms = -1;
    QA_H5_TRY(fs = H5Dget_space(ds), ds, NULL, "cannot get the dataspace of a dataset");
    const int rank = H5Sget_simple_extent_ndims(fs);
    QA_H5_TRY(H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL), ds, NULL, "cannot select a block");
    /* The memory space has the block's own shape: against a flat one HDF5 maps the
     * selections element by element (a third of the sweep merge's time on 358k runs);
     * with equal shapes it copies whole rows. */
    if (rank == 2) {
        QA_H5_TRY(ms = H5Screate_simple(2, cnt, NULL), ds, NULL, "cannot make a memory space");
    } else {
        hsize_t mn = (hsize_t)n0 * n1;
        QA_H5_TRY(ms = H5Screate_simple(1, &mn, NULL), ds, NULL, "cannot make a memory space");
    }
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
        if (f->id < 0) st = QA_H5_FAIL(-1, f->path, "cannot create");
    }
    if (st != QA_OK) qa_h5_file_abort(f);
    return st;
}

static qa_status fsync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return QA_FAIL(QA_ERR_IO, "%s: cannot reopen for fsync: %s", path, strerror(errno));
    int rc = fsync(fd), err = errno;
    close(fd);
    return rc == 0 ? QA_OK : QA_FAIL(QA_ERR_IO, "%s: fsync failed: %s", path, strerror(err));
}

void qa_h5_close_discard(hid_t file) {
    if (file < 0) return;
    hid_t fapl = H5Fget_access_plist(file);
    int *fd = NULL;
    if (fapl >= 0 && H5Pget_driver(fapl) == H5FD_SEC2 && H5Fget_vfd_handle(file, fapl, (void **)&fd) >= 0 && fd &&
        *fd >= 0) {
        int sink = memfd_create("qa-discarded-hdf5", 0);
        if (sink >= 0) {
            dup2(sink, *fd);
            close(sink);
        }
    }
    if (fapl >= 0) H5Pclose(fapl);
    if (H5Fclose(file) < 0) H5Eclear2(H5E_DEFAULT);
}

qa_status qa_h5_file_commit(qa_h5_file *f, int fsync_it) {
    /* Flushed first: when that fails (a full disk) the file is discarded, whose close
     * cannot fail. */
    qa_status st = QA_OK;
    if (H5Fflush(f->id, H5F_SCOPE_GLOBAL) < 0) {
        st = QA_H5_FAIL(-1, f->path, "cannot write");
        qa_h5_close_discard(f->id);
    } else if (H5Fclose(f->id) < 0) {
        st = QA_H5_FAIL(-1, f->path, "cannot close");
    }
    f->id = -1;
    if (st == QA_OK && fsync_it) st = fsync_path(f->tmp);
    if (st == QA_OK) st = qa_fs_rename(f->tmp, f->path);
    qa_h5_file_abort(f); /* removes the temporary name when it is still there */
    return st;
}

void qa_h5_file_abort(qa_h5_file *f) {
    if (!f) return;
    qa_h5_close_discard(f->id);
    if (f->tmp) (void)remove(f->tmp); /* an abandoned temporary: nothing to report it to */
    free(f->path);
    free(f->tmp);
    f->id = -1;
    f->path = f->tmp = NULL;
}
