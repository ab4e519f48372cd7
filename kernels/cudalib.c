/* Loading cuBLAS, cuSOLVER, cuDNN and NCCL on first use; see kernels/cudalib.h. */
#include "kernels/cudalib.h"

#include <dlfcn.h>    /* dlopen, dlsym, dlerror */
#include <pthread.h>  /* one loader at a time */
#include <stdio.h>    /* snprintf */

void *qa_cudalib_fn[QA_CUDALIB_FN_COUNT];

typedef struct fn_entry {
    qa_cudalib lib;
    const char *name;
} fn_entry;

#define QA_CUDALIB_ENTRY_(lib, name) {QA_CUDALIB_##lib, #name},
static const fn_entry fns[QA_CUDALIB_FN_COUNT] = {QA_CUDALIB_FNS(QA_CUDALIB_ENTRY_)};
#undef QA_CUDALIB_ENTRY_

/* The library files: their SONAMEs and the same names in the directories they were found
 * in at build time (kernels/CMakeLists.txt). The SONAME goes through the usual search
 * (LD_LIBRARY_PATH, the executable's RUNPATH, ld.so.cache), so an installed package finds
 * the system's copy; the build-time path is the fallback for a CUDA directory that is off
 * the loader's path (/usr/local/cuda/lib64). Empty when the library is not in the build. */
#ifndef QA_CUBLAS_SONAME
#define QA_CUBLAS_SONAME ""
#define QA_CUBLAS_PATH ""
#endif
#ifndef QA_CUSOLVER_SONAME
#define QA_CUSOLVER_SONAME ""
#define QA_CUSOLVER_PATH ""
#endif
#ifndef QA_CUDNN_SONAME
#define QA_CUDNN_SONAME ""
#define QA_CUDNN_PATH ""
#endif
#ifndef QA_NCCL_SONAME
#define QA_NCCL_SONAME ""
#define QA_NCCL_PATH ""
#endif

static const char *const lib_files[QA_CUDALIB_COUNT] = {QA_CUBLAS_SONAME, QA_CUSOLVER_SONAME, QA_CUDNN_SONAME,
                                                         QA_NCCL_SONAME};
static const char *const lib_paths[QA_CUDALIB_COUNT] = {QA_CUBLAS_PATH, QA_CUSOLVER_PATH, QA_CUDNN_PATH,
                                                         QA_NCCL_PATH};
static const char *const lib_names[QA_CUDALIB_COUNT] = {"cuBLAS", "cuSOLVER", "cuDNN", "NCCL"};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int state[QA_CUDALIB_COUNT];         /* 0 not tried, 1 loaded, -1 failed */
static char failure[QA_CUDALIB_COUNT][512]; /* the first failure, repeated to later callers */

const char *qa_cudalib_file(qa_cudalib lib) {
    return (lib >= 0 && lib < QA_CUDALIB_COUNT) ? lib_files[lib] : "?";
}

/* Opens the library (SONAME first, then the build-time directory) and resolves its
 * entry points into qa_cudalib_fn; on failure writes the reason to why. */
static int open_and_resolve(qa_cudalib lib, char *why, size_t size) {
    const char *file = lib_files[lib];
    if (!file[0]) {
        snprintf(why, size, "%s is not part of this build (no CUDA, or the library was not found at configure time)",
                 lib_names[lib]);
        return 0;
    }
    void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        char first[256];
        const char *e = dlerror();
        snprintf(first, sizeof first, "%s", e ? e : "unknown error");
        const char *path = lib_paths[lib];
        if (path[0]) h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            e = path[0] ? dlerror() : NULL;
            snprintf(why, size, "cannot load %s (%s): %s%s%s%s%s", lib_names[lib], file, first,
                     path[0] ? "; nor " : "", path, path[0] ? ": " : "", path[0] ? (e ? e : "unknown error") : "");
            return 0;
        }
    }
    /* Resolve every symbol before publishing any: a partial table never escapes. */
    void *got[QA_CUDALIB_FN_COUNT] = {0};
    for (int i = 0; i < QA_CUDALIB_FN_COUNT; i++) {
        if (fns[i].lib != lib) continue;
        (void)dlerror();
        got[i] = dlsym(h, fns[i].name);
        if (!got[i]) {
            const char *e = dlerror();
            snprintf(why, size, "%s (%s) lacks %s: %s (an older version than the build's headers?)", lib_names[lib],
                     file, fns[i].name, e ? e : "NULL symbol");
            dlclose(h);
            return 0;
        }
    }
    for (int i = 0; i < QA_CUDALIB_FN_COUNT; i++)
        if (fns[i].lib == lib) qa_cudalib_fn[i] = got[i];
    /* the handle stays open for the life of the process: the pointers refer into it */
    return 1;
}

qa_status qa_cudalib_load(qa_cudalib lib) {
    if (lib < 0 || lib >= QA_CUDALIB_COUNT) return QA_FAIL(QA_ERR_INVALID_ARG, "unknown CUDA library %d", (int)lib);
    int rc = pthread_mutex_lock(&lock);
    if (rc != 0) return QA_FAIL(QA_ERR_STATE, "cudalib: pthread_mutex_lock failed (%d)", rc);
    if (state[lib] == 0) state[lib] = open_and_resolve(lib, failure[lib], sizeof failure[lib]) ? 1 : -1;
    int s = state[lib];
    (void)pthread_mutex_unlock(&lock);
    if (s < 0) return QA_FAIL(QA_ERR_UNSUPPORTED, "%s", failure[lib]);
    return QA_OK;
}
