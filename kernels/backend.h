/* Compute backends: where a kernel runs and where its arrays live.
 *
 * Every kernel takes a qa_backend_t. On the CPU backend arrays are ordinary host
 * memory; on the CUDA backend they are device memory (qa_buf), work is queued on the
 * backend's stream, and results stay on the device for the next kernel: only
 * qa_buf_upload/qa_buf_download cross the bus. A CPU backend with the reference flag
 * set runs the plain reference code (single thread, no SIMD tricks), the oracle that
 * tests compare everything else against. */
#ifndef QA_KERNELS_BACKEND_H
#define QA_KERNELS_BACKEND_H

#include <stddef.h>  /* size_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_backend_kind {
    QA_BACKEND_CPU = 0,
    QA_BACKEND_CUDA = 1,
    QA_BACKEND_KIND_COUNT = 2
} qa_backend_kind;

typedef struct qa_backend qa_backend_t;

/* 1 when this build contains the CUDA backend. */
int qa_backend_cuda_compiled(void);
/* Number of usable CUDA devices; 0 (and QA_OK) when the build has no CUDA, the driver
 * is missing or no GPU is present. */
qa_status qa_cuda_device_count(int *count);
/* "NVIDIA H100 80GB HBM3, 132 SMs, 79.1 GiB, cc 9.0" for `device`. */
qa_status qa_cuda_device_describe(int device, char *buf, size_t size);

/* Creates a backend. For CUDA, `device` selects the GPU (e.g. by MPI local rank) and a
 * stream is created; QA_ERR_NO_DEVICE when there is none, QA_ERR_UNSUPPORTED when the
 * build has no CUDA. Caller frees. */
qa_status qa_backend_create(qa_backend_kind kind, int device, qa_backend_t **out);
/* Parses "cpu", "cuda" or "auto" (CUDA when a GPU is usable, else CPU) and creates it. */
qa_status qa_backend_create_named(const char *name, int device, qa_backend_t **out);
/* The names qa_backend_create_named takes: "cpu", "cuda", "auto" (NULL-terminated; the
 * choice list of every config key and option that names a backend). */
extern const char *const qa_backend_choices[];
/* Waits for queued work, then releases the stream and handles. Accepts NULL. */
void qa_backend_free(qa_backend_t *be);

qa_backend_kind qa_backend_kind_of(const qa_backend_t *be);
const char *qa_backend_name(qa_backend_kind kind);
int qa_backend_device(const qa_backend_t *be);
/* cudaStream_t of a CUDA backend (NULL for CPU). */
void *qa_backend_stream(const qa_backend_t *be);
/* Blocks until all queued work finished; reports asynchronous CUDA errors. */
qa_status qa_backend_sync(qa_backend_t *be);

/* Forces the CPU reference path (tests, and `--reference` on the CLI). */
void qa_backend_set_reference(qa_backend_t *be, int on);
int qa_backend_reference(const qa_backend_t *be);
/* CPU worker threads used by optimised CPU kernels (OpenMP); 1 in reference mode. */
int qa_backend_threads(const qa_backend_t *be);
void qa_backend_set_threads(qa_backend_t *be, int threads);

/* ---- buffers --------------------------------------------------------------------- */

/* A contiguous array on a backend. Caller-allocated; qa_buf_free accepts a zeroed or
 * freed buffer. */
typedef struct qa_buf {
    void *ptr;
    size_t bytes;
    qa_backend_kind kind;
} qa_buf;

/* Allocates `bytes` (64-byte aligned on the CPU). Contents are undefined. */
qa_status qa_buf_alloc(qa_backend_t *be, size_t bytes, qa_buf *buf);
void qa_buf_free(qa_buf *buf);
/* Copies host memory into the buffer at byte offset `off` and waits for completion. */
qa_status qa_buf_upload(qa_backend_t *be, qa_buf *dst, size_t off, const void *src, size_t bytes);
/* Copies from the buffer at `off` into host memory, waiting for queued work first. */
qa_status qa_buf_download(qa_backend_t *be, void *dst, const qa_buf *src, size_t off, size_t bytes);
/* Sets every byte to `value` (asynchronous on CUDA). */
qa_status qa_buf_memset(qa_backend_t *be, qa_buf *buf, int value);

#ifdef __cplusplus
}
#endif
#endif
