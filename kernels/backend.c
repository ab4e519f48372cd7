/* Backend objects, device discovery and buffers (CUDA runtime API from plain C). */
#include "kernels/backend.h"

#include <stdlib.h>  /* aligned_alloc, free */
#include <string.h>  /* memcpy, memset, strcmp */
#ifdef _OPENMP
#include <omp.h>     /* omp_get_max_threads */
#endif

#include "common/log.h"  /* device choice at debug level */

#ifdef QA_HAVE_CUDA
#include <cuda_runtime_api.h>  /* streams, cudaMalloc, cudaMemcpyAsync */

#include "kernels/check.h"
#endif

struct qa_backend {
    qa_backend_kind kind;
    int device;
    int reference;
    int threads;
    void *stream; /* cudaStream_t */
};

static const char *const backend_names[] = {"cpu", "cuda"};
_Static_assert(sizeof backend_names / sizeof backend_names[0] == QA_BACKEND_KIND_COUNT,
               "backend name table");

const char *const qa_backend_choices[] = {"cpu", "cuda", "auto", NULL};

const char *qa_backend_name(qa_backend_kind kind) {
    return (kind >= 0 && kind < QA_BACKEND_KIND_COUNT) ? backend_names[kind] : "?";
}

int qa_backend_cuda_compiled(void) {
#ifdef QA_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

qa_status qa_cuda_device_count(int *count) {
    *count = 0;
#ifdef QA_HAVE_CUDA
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaSuccess) *count = n;
    else (void)cudaGetLastError(); /* no driver / no device: report zero, clear the error */
#endif
    return QA_OK;
}

qa_status qa_cuda_device_describe(int device, char *buf, size_t size) {
#ifdef QA_HAVE_CUDA
    struct cudaDeviceProp prop;
    QA_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    snprintf(buf, size, "%s, %d SMs, %.1f GiB, cc %d.%d", prop.name, prop.multiProcessorCount,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), prop.major, prop.minor);
    return QA_OK;
#else
    (void)device;
    snprintf(buf, size, "(no CUDA in this build)");
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
#endif
}

static int default_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

qa_status qa_backend_create(qa_backend_kind kind, int device, qa_backend_t **out) {
    if (kind != QA_BACKEND_CPU && kind != QA_BACKEND_CUDA)
        return QA_FAIL(QA_ERR_INVALID_ARG, "unknown backend kind %d", (int)kind);
    qa_backend_t *be = calloc(1, sizeof *be);
    if (!be) return QA_FAIL(QA_ERR_NOMEM, "backend");
    be->kind = kind;
    be->device = device;
    be->threads = default_threads();
    if (kind == QA_BACKEND_CUDA) {
#ifdef QA_HAVE_CUDA
        qa_status st = QA_OK;
        int n = 0;
        qa_cuda_device_count(&n);
        if (n == 0) QA_TRY_FAIL(QA_ERR_NO_DEVICE, "no CUDA device is available (driver missing or no GPU)");
        if (device < 0 || device >= n)
            QA_TRY_FAIL(QA_ERR_NO_DEVICE, "CUDA device %d requested but only %d present", device, n);
        QA_CUDA_TRY(cudaSetDevice(device));
        cudaStream_t s;
        QA_CUDA_TRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
        be->stream = s;
        qa_log_debug("backend: CUDA device %d", device);
        *out = be;
        return QA_OK;
    cleanup:
        free(be);
        return st;
#else
        free(be);
        return QA_FAIL(QA_ERR_UNSUPPORTED,
                       "this build has no CUDA backend (configure with -DQA_CUDA=ON where nvcc exists)");
#endif
    }
    *out = be;
    return QA_OK;
}

qa_status qa_backend_create_named(const char *name, int device, qa_backend_t **out) {
    if (strcmp(name, "cpu") == 0) return qa_backend_create(QA_BACKEND_CPU, device, out);
    if (strcmp(name, "cuda") == 0 || strcmp(name, "gpu") == 0)
        return qa_backend_create(QA_BACKEND_CUDA, device, out);
    if (strcmp(name, "auto") == 0) {
        int n = 0;
        qa_cuda_device_count(&n);
        if (n > 0 && qa_backend_create(QA_BACKEND_CUDA, device % n, out) == QA_OK) return QA_OK;
        return qa_backend_create(QA_BACKEND_CPU, device, out);
    }
    return QA_FAIL(QA_ERR_INVALID_ARG, "unknown backend '%s' (expected cpu, cuda or auto)", name);
}

void qa_backend_free(qa_backend_t *be) {
    if (!be) return;
#ifdef QA_HAVE_CUDA
    if (be->kind == QA_BACKEND_CUDA && be->stream) {
        cudaStreamSynchronize((cudaStream_t)be->stream);
        cudaStreamDestroy((cudaStream_t)be->stream);
    }
#endif
    free(be);
}

qa_backend_kind qa_backend_kind_of(const qa_backend_t *be) { return be->kind; }
int qa_backend_device(const qa_backend_t *be) { return be->device; }
void *qa_backend_stream(const qa_backend_t *be) { return be->stream; }
void qa_backend_set_reference(qa_backend_t *be, int on) { be->reference = on; }
int qa_backend_reference(const qa_backend_t *be) { return be->reference; }
int qa_backend_threads(const qa_backend_t *be) { return be->reference ? 1 : be->threads; }
void qa_backend_set_threads(qa_backend_t *be, int threads) {
    be->threads = threads > 0 ? threads : default_threads();
}

qa_status qa_backend_sync(qa_backend_t *be) {
#ifdef QA_HAVE_CUDA
    if (be->kind == QA_BACKEND_CUDA) QA_CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)be->stream));
#else
    (void)be;
#endif
    return QA_OK;
}

/* ---- buffers ---------------------------------------------------------------------- */

qa_status qa_buf_alloc(qa_backend_t *be, size_t bytes, qa_buf *buf) {
    buf->ptr = NULL;
    buf->bytes = 0;
    buf->kind = be->kind;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded == 0) rounded = 64;
    if (be->kind == QA_BACKEND_CPU) {
        buf->ptr = aligned_alloc(64, rounded);
        if (!buf->ptr) return QA_FAIL(QA_ERR_NOMEM, "cannot allocate %zu bytes", bytes);
    } else {
#ifdef QA_HAVE_CUDA
        void *p = NULL;
        cudaError_t e = cudaMalloc(&p, rounded);
        if (e != cudaSuccess)
            return QA_FAIL(QA_ERR_NOMEM, "cudaMalloc of %zu bytes on device %d: %s", bytes, be->device,
                           cudaGetErrorString(e));
        buf->ptr = p;
#else
        return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
#endif
    }
    buf->bytes = bytes;
    return QA_OK;
}

void qa_buf_free(qa_buf *buf) {
    if (!buf || !buf->ptr) return;
    if (buf->kind == QA_BACKEND_CPU) free(buf->ptr);
#ifdef QA_HAVE_CUDA
    else cudaFree(buf->ptr);
#endif
    buf->ptr = NULL;
    buf->bytes = 0;
}

static qa_status check_range(const qa_buf *b, size_t off, size_t bytes, const char *what) {
    if (off > b->bytes || bytes > b->bytes - off)
        return QA_FAIL(QA_ERR_INVALID_ARG, "%s of %zu bytes at offset %zu overruns a %zu-byte buffer",
                       what, bytes, off, b->bytes);
    return QA_OK;
}

/* A host<->device copy on the backend's stream, complete on return. */
static qa_status copy_sync(qa_backend_t *be, void *dst, const void *src, size_t bytes, int to_device) {
#ifdef QA_HAVE_CUDA
    cudaStream_t s = (cudaStream_t)be->stream;
    QA_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, s));
    QA_CUDA_CHECK(cudaStreamSynchronize(s));
    return QA_OK;
#else
    (void)be, (void)dst, (void)src, (void)bytes, (void)to_device;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
#endif
}

qa_status qa_buf_upload(qa_backend_t *be, qa_buf *dst, size_t off, const void *src, size_t bytes) {
    qa_status st = check_range(dst, off, bytes, "upload");
    if (st != QA_OK || bytes == 0) return st;
    if (dst->kind == QA_BACKEND_CPU) {
        memcpy((char *)dst->ptr + off, src, bytes);
        return QA_OK;
    }
    return copy_sync(be, (char *)dst->ptr + off, src, bytes, 1);
}

qa_status qa_buf_download(qa_backend_t *be, void *dst, const qa_buf *src, size_t off, size_t bytes) {
    qa_status st = check_range(src, off, bytes, "download");
    if (st != QA_OK || bytes == 0) return st;
    if (src->kind == QA_BACKEND_CPU) {
        memcpy(dst, (const char *)src->ptr + off, bytes);
        return QA_OK;
    }
    return copy_sync(be, dst, (const char *)src->ptr + off, bytes, 0);
}

qa_status qa_buf_memset(qa_backend_t *be, qa_buf *buf, int value) {
    if (buf->kind == QA_BACKEND_CPU) {
        memset(buf->ptr, value, buf->bytes);
        return QA_OK;
    }
#ifdef QA_HAVE_CUDA
    QA_CUDA_CHECK(cudaMemsetAsync(buf->ptr, value, buf->bytes, (cudaStream_t)be->stream));
    return QA_OK;
#else
    (void)be;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
#endif
}
