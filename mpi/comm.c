/* MPI context and the few collectives the pipeline uses, with a one-rank fallback. */
#include "mpi/comm.h"

#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, malloc */
#include <string.h>  /* memcpy */

#include "common/log.h"       /* rank prefix, device choice */
#include "common/mem.h"
#include "kernels/backend.h"  /* qa_cuda_device_count */

#ifdef QA_HAVE_MPI
#include <mpi.h>  /* the MPI library */

/* Records the MPI error string and returns QA_ERR_MPI from the enclosing function. */
#define QA_MPI_CHECK(stmt)                                                              \
    do {                                                                                \
        int rc_ = (stmt);                                                               \
        if (rc_ != MPI_SUCCESS) {                                                       \
            char msg_[MPI_MAX_ERROR_STRING];                                            \
            int len_ = 0;                                                               \
            MPI_Error_string(rc_, msg_, &len_);                                         \
            return qa_err_set(QA_ERR_MPI, __FILE__, __LINE__, "%s: %s", #stmt, msg_);   \
        }                                                                               \
    } while (0)
#endif

struct qa_comm {
    int rank, size, local_rank, local_size, device;
    int owns_mpi;
    int owns_comm; /* a communicator made by qa_comm_split: freed with the context */
    int use_mpi; /* 0: one process started without a launcher, MPI never initialised */
#ifdef QA_HAVE_MPI
    MPI_Comm world;
#endif
};

int qa_comm_mpi_compiled(void) {
#ifdef QA_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

const char *qa_comm_library_version(char *buf, size_t size) {
#ifdef QA_HAVE_MPI
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(v, &len) == MPI_SUCCESS) {
        char *nl = strchr(v, '\n');
        if (nl) *nl = '\0';
        snprintf(buf, size, "%s", v);
        return buf;
    }
#endif
    snprintf(buf, size, "none");
    return buf;
}

/* Started by mpirun/mpiexec (Open MPI), srun --mpi=pmix/pmi2, or asked explicitly. A
 * plain command-line run skips MPI_Init: an Open MPI singleton init costs ~1 s (it starts
 * a runtime daemon) and a one-rank run needs none of it. */
static int launched_by_mpi(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "QA_MPI_INIT"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

#ifdef QA_HAVE_MPI
/* Initialises MPI when needed and learns the rank layout. */
static qa_status mpi_setup(qa_comm_t *c, int *argc, char ***argv) {
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    c->use_mpi = inited || launched_by_mpi();
    if (!c->use_mpi) return QA_OK;
    if (!inited) {
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return QA_FAIL(QA_ERR_MPI, "MPI_Init_thread failed");
        c->owns_mpi = 1;
    }
    c->world = MPI_COMM_WORLD;
    MPI_Comm node = MPI_COMM_NULL;
    if (MPI_Comm_rank(c->world, &c->rank) != MPI_SUCCESS || MPI_Comm_size(c->world, &c->size) != MPI_SUCCESS ||
        MPI_Comm_split_type(c->world, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node) != MPI_SUCCESS ||
        MPI_Comm_rank(node, &c->local_rank) != MPI_SUCCESS || MPI_Comm_size(node, &c->local_size) != MPI_SUCCESS) {
        if (node != MPI_COMM_NULL) MPI_Comm_free(&node);
        return QA_FAIL(QA_ERR_MPI, "cannot determine MPI rank layout");
    }
    MPI_Comm_free(&node);
    return QA_OK;
}
#endif

qa_status qa_comm_create(int *argc, char ***argv, qa_comm_t **out) {
    qa_comm_t *c = calloc(1, sizeof *c);
    if (!c) return QA_FAIL(QA_ERR_NOMEM, "comm");
    c->size = c->local_size = 1;
#ifdef QA_HAVE_MPI
    qa_status st = mpi_setup(c, argc, argv);
    if (st != QA_OK) {
        qa_comm_free(c);
        return st;
    }
#else
    (void)argc, (void)argv;
#endif
    int gpus = 0;
    qa_cuda_device_count(&gpus);
    c->device = gpus > 0 ? c->local_rank % gpus : -1;
    qa_log_set_rank(c->rank, c->size);
    qa_log_debug("comm: rank %d/%d, local %d/%d, gpu %d, mpi %s", c->rank, c->size, c->local_rank, c->local_size,
                 c->device, c->use_mpi ? "initialised" : "not used (no launcher)");
    *out = c;
    return QA_OK;
}

void qa_comm_free(qa_comm_t *c) {
    if (!c) return;
#ifdef QA_HAVE_MPI
    if (c->owns_comm) MPI_Comm_free(&c->world);
    if (c->owns_mpi) {
        int fin = 0;
        MPI_Finalized(&fin);
        if (!fin) MPI_Finalize();
    }
#endif
    free(c);
}

qa_status qa_comm_split(const qa_comm_t *c, int color, qa_comm_t **out) {
    *out = NULL;
#ifdef QA_HAVE_MPI
    if (c->use_mpi) {
        MPI_Comm sub = MPI_COMM_NULL, node = MPI_COMM_NULL;
        QA_MPI_CHECK(MPI_Comm_split(c->world, color < 0 ? MPI_UNDEFINED : color, c->rank, &sub));
        if (sub == MPI_COMM_NULL) return QA_OK;
        qa_comm_t *n = calloc(1, sizeof *n);
        if (!n) {
            MPI_Comm_free(&sub);
            return QA_FAIL(QA_ERR_NOMEM, "comm");
        }
        *n = *c;
        n->owns_mpi = 0;
        n->owns_comm = 1;
        n->world = sub;
        if (MPI_Comm_rank(sub, &n->rank) != MPI_SUCCESS || MPI_Comm_size(sub, &n->size) != MPI_SUCCESS ||
            MPI_Comm_split_type(sub, MPI_COMM_TYPE_SHARED, n->rank, MPI_INFO_NULL, &node) != MPI_SUCCESS ||
            MPI_Comm_rank(node, &n->local_rank) != MPI_SUCCESS || MPI_Comm_size(node, &n->local_size) != MPI_SUCCESS) {
            if (node != MPI_COMM_NULL) MPI_Comm_free(&node);
            qa_comm_free(n);
            return QA_FAIL(QA_ERR_MPI, "cannot determine the split communicator's layout");
        }
        MPI_Comm_free(&node);
        *out = n;
        return QA_OK;
    }
#endif
    if (color < 0) return QA_OK;
    qa_comm_t *n = calloc(1, sizeof *n);
    if (!n) return QA_FAIL(QA_ERR_NOMEM, "comm");
    *n = *c;
    n->owns_mpi = 0;
    *out = n;
    return QA_OK;
}

/* NULL is one process: rank 0 of 1, no GPU assigned by rank, every collective the identity. */
int qa_comm_rank(const qa_comm_t *c) { return c ? c->rank : 0; }
int qa_comm_size(const qa_comm_t *c) { return c ? c->size : 1; }
int qa_comm_local_rank(const qa_comm_t *c) { return c ? c->local_rank : 0; }
int qa_comm_local_size(const qa_comm_t *c) { return c ? c->local_size : 1; }
int qa_comm_device(const qa_comm_t *c) { return c ? c->device : -1; }
#ifdef QA_HAVE_MPI
MPI_Comm qa_comm_mpi(const qa_comm_t *c) { return c && c->use_mpi ? c->world : MPI_COMM_SELF; }
#endif

qa_status qa_comm_barrier(const qa_comm_t *c) {
#ifdef QA_HAVE_MPI
    if (c && c->use_mpi) QA_MPI_CHECK(MPI_Barrier(c->world));
#else
    (void)c;
#endif
    return QA_OK;
}

qa_status qa_comm_bcast(const qa_comm_t *c, void *buf, size_t bytes, int root) {
#ifdef QA_HAVE_MPI
    if (!c || !c->use_mpi) return QA_OK;
    /* MPI counts are int: send large buffers in pieces. */
    const size_t piece = (size_t)1 << 30;
    for (size_t off = 0; off < bytes; off += piece) {
        size_t n = bytes - off < piece ? bytes - off : piece;
        QA_MPI_CHECK(MPI_Bcast((char *)buf + off, (int)n, MPI_BYTE, root, c->world));
    }
#else
    (void)c, (void)buf, (void)bytes, (void)root;
#endif
    return QA_OK;
}

#ifdef QA_HAVE_MPI
static qa_status allreduce(const qa_comm_t *c, void *inout, size_t n, MPI_Datatype t, MPI_Op op) {
    if (!c || !c->use_mpi) return QA_OK;
    const size_t piece = (size_t)1 << 28;
    int tsize = 0;
    MPI_Type_size(t, &tsize);
    for (size_t off = 0; off < n; off += piece) {
        size_t k = n - off < piece ? n - off : piece;
        QA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, (char *)inout + off * (size_t)tsize, (int)k, t, op,
                                   c->world));
    }
    return QA_OK;
}
#define ALLREDUCE(c, p, n, t, op) allreduce((c), (p), (n), (t), (op))
#else
#define ALLREDUCE(c, p, n, t, op) ((void)(c), (void)(p), (void)(n), QA_OK)
#endif

qa_status qa_comm_allreduce_sum_f64(const qa_comm_t *c, double *inout, size_t n) {
    return ALLREDUCE(c, inout, n, MPI_DOUBLE, MPI_SUM);
}
qa_status qa_comm_allreduce_sum_i64(const qa_comm_t *c, int64_t *inout, size_t n) {
    return ALLREDUCE(c, inout, n, MPI_INT64_T, MPI_SUM);
}
qa_status qa_comm_allreduce_sum_f32(const qa_comm_t *c, float *inout, size_t n) {
    return ALLREDUCE(c, inout, n, MPI_FLOAT, MPI_SUM);
}
qa_status qa_comm_allreduce_max_i64(const qa_comm_t *c, int64_t *inout, size_t n) {
    return ALLREDUCE(c, inout, n, MPI_INT64_T, MPI_MAX);
}
qa_status qa_comm_allreduce_min_f64(const qa_comm_t *c, double *inout, size_t n) {
    return ALLREDUCE(c, inout, n, MPI_DOUBLE, MPI_MIN);
}
qa_status qa_comm_allreduce_max_f64(const qa_comm_t *c, double *inout, size_t n) {
    return ALLREDUCE(c, inout, n, MPI_DOUBLE, MPI_MAX);
}

#ifdef QA_HAVE_MPI
static qa_status gatherv_mpi(const qa_comm_t *c, const void *buf, size_t bytes, int root, void **all, size_t **counts) {
    if (bytes > (size_t)0x7fffffff)
        return QA_FAIL(QA_ERR_LIMIT, "gatherv: %zu bytes from one rank exceed 2 GiB", bytes);
    long long mine = (long long)bytes;
    long long *sizes = NULL;
    int *icounts = NULL, *displs = NULL;
    char *recv = NULL;
    qa_status st = QA_OK;
    if (c->rank == root) {
        /* One block, three views (long long first for alignment): sizes[size], icounts[size],
         * displs[size]; so icounts is non-NULL exactly when displs is. */
        size_t n = (size_t)c->size;
        sizes = malloc(n * (sizeof *sizes + sizeof *icounts + sizeof *displs));
        if (!sizes) st = QA_FAIL(QA_ERR_NOMEM, "gatherv");
        else {
            icounts = (int *)(sizes + n);
            displs = icounts + n;
        }
    }
    int rc = MPI_Gather(&mine, 1, MPI_LONG_LONG, sizes, 1, MPI_LONG_LONG, root, c->world);
    if (rc != MPI_SUCCESS && st == QA_OK) st = QA_FAIL(QA_ERR_MPI, "MPI_Gather of sizes failed");
    long long total = 0;
    if (c->rank == root && st == QA_OK) {
        for (int r = 0; r < c->size; r++) {
            if (total + sizes[r] > 0x7fffffffLL) {
                st = QA_FAIL(QA_ERR_LIMIT, "gatherv: total exceeds 2 GiB");
                break;
            }
            icounts[r] = (int)sizes[r];
            displs[r] = (int)total;
            total += sizes[r];
        }
        if (st == QA_OK && !(recv = malloc(total ? (size_t)total : 1)))
            st = QA_FAIL(QA_ERR_NOMEM, "gatherv: %lld bytes", total);
    }
    /* Every rank must join the collective even if root failed to allocate: root then
     * receives nothing (counts of 0) and reports its error afterwards. */
    if (c->rank == root && st != QA_OK && icounts) {
        for (int r = 0; r < c->size; r++) icounts[r] = displs[r] = 0;
    }
    int send_n = (c->rank == root && st != QA_OK) ? 0 : (int)bytes;
    rc = MPI_Gatherv(buf, send_n, MPI_BYTE, recv, icounts, displs, MPI_BYTE, root, c->world);
    if (rc != MPI_SUCCESS && st == QA_OK) st = QA_FAIL(QA_ERR_MPI, "MPI_Gatherv failed");
    if (c->rank == root && st == QA_OK) {
        size_t *cnt = malloc((size_t)c->size * sizeof *cnt);
        if (!cnt) st = QA_FAIL(QA_ERR_NOMEM, "gatherv counts");
        else {
            for (int r = 0; r < c->size; r++) cnt[r] = (size_t)sizes[r];
            *all = recv;
            *counts = cnt;
            recv = NULL;
        }
    }
    QA_FREE_ALL(recv, sizes); /* icounts and displs are views into sizes */
    return st;
}
#endif

qa_status qa_comm_gatherv(const qa_comm_t *c, const void *buf, size_t bytes, int root, void **all,
                          size_t **counts) {
    *all = NULL;
    *counts = NULL;
#ifdef QA_HAVE_MPI
    if (c && c->use_mpi) return gatherv_mpi(c, buf, bytes, root, all, counts);
#endif
    (void)c, (void)root;
    void *copy = malloc(bytes ? bytes : 1);
    size_t *cnt = malloc(sizeof *cnt);
    if (!copy || !cnt) {
        free(copy);
        free(cnt);
        return QA_FAIL(QA_ERR_NOMEM, "gatherv");
    }
    if (bytes) memcpy(copy, buf, bytes);
    cnt[0] = bytes;
    *all = copy;
    *counts = cnt;
    return QA_OK;
}

qa_status qa_comm_allgather(const qa_comm_t *c, const void *send, size_t bytes, void *recv) {
#ifdef QA_HAVE_MPI
    if (c && c->use_mpi) {
        if (bytes > (size_t)0x7fffffff)
            return QA_FAIL(QA_ERR_LIMIT, "allgather: %zu bytes per rank exceed 2 GiB", bytes);
        QA_MPI_CHECK(MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, c->world));
        return QA_OK;
    }
#endif
    (void)c;
    if (bytes) memcpy(recv, send, bytes);
    return QA_OK;
}

qa_status qa_comm_agree(const qa_comm_t *c, qa_status local) {
#ifdef QA_HAVE_MPI
    if (!c || !c->use_mpi) return local;
    /* MIN over codes picks the most negative (errors are negative); MIN over
     * (code, rank) pairs also says which rank. */
    struct {
        int code;
        int rank;
    } in = {(int)local, c->rank}, out;
    if (MPI_Allreduce(&in, &out, 1, MPI_2INT, MPI_MINLOC, c->world) != MPI_SUCCESS)
        return QA_FAIL(QA_ERR_MPI, "status agreement failed");
    if (out.code == QA_OK) return QA_OK;
    if (local != QA_OK) return local;
    return QA_FAIL((qa_status)out.code, "rank %d failed (%s); see its log", out.rank,
                   qa_status_str((qa_status)out.code));
#else
    (void)c;
    return local;
#endif
}

void qa_comm_abort(const qa_comm_t *c, int code) {
#ifdef QA_HAVE_MPI
    if (c && c->use_mpi && c->size > 1) MPI_Abort(c->world, code);
#else
    (void)c, (void)code;
#endif
}
