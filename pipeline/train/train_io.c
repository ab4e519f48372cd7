/* Batch staging to the backend and the rank-invariant chunked loss of the training
 * pipeline (contracts in train_internal.h). */
#include "pipeline/train/train_internal.h"

#include <math.h>    /* NAN */
#include <stdlib.h>  /* malloc, calloc, free */
#include <string.h>  /* memset */

qa_status qa_train_io_init(qa_train_io *io, qa_backend_t *be, int rows, size_t width) {
    memset(io, 0, sizeof *io);
    io->be = be;
    io->rows = rows;
    io->width = width;
    qa_status st = QA_OK;
    const size_t R = (size_t)rows;
    QA_TRY(qa_buf_alloc(be, R * width * sizeof(float), &io->x));
    QA_TRY(qa_buf_alloc(be, R * sizeof(float), &io->y));
    QA_TRY(qa_buf_alloc(be, R * sizeof(int32_t), &io->cls));
    if (qa_backend_kind_of(be) == QA_BACKEND_CPU) {
        io->hx = io->x.ptr, io->hy = io->y.ptr, io->hcls = io->cls.ptr;
    } else {
        io->host_owned = 1;
        io->hx = malloc(R * width * sizeof *io->hx);
        io->hy = malloc(R * sizeof *io->hy);
        io->hcls = malloc(R * sizeof *io->hcls);
        if (!io->hx || !io->hy || !io->hcls) QA_TRY_FAIL(QA_ERR_NOMEM, "batch staging: %d rows", rows);
    }
    return QA_OK;
cleanup:
    qa_train_io_free(io);
    return st;
}

void qa_train_io_free(qa_train_io *io) {
    if (!io) return;
    if (io->host_owned) {
        free(io->hx);
        free(io->hy);
        free(io->hcls);
    }
    qa_buf_free(&io->x);
    qa_buf_free(&io->y);
    qa_buf_free(&io->cls);
    memset(io, 0, sizeof *io);
}

qa_status qa_train_io_load(qa_train_io *io, const qa_train_data *d, const uint32_t *rows, size_t n) {
    if (n > (size_t)io->rows) return QA_FAIL(QA_ERR_INVALID_ARG, "batch of %zu rows, staging holds %d", n, io->rows);
    qa_train_data_gather(d, rows, n, io->hx, io->hy, io->hcls);
    if (!io->host_owned) return QA_OK;
    qa_status st = qa_buf_upload(io->be, &io->x, 0, io->hx, n * io->width * sizeof(float));
    if (st == QA_OK) st = qa_buf_upload(io->be, &io->y, 0, io->hy, n * sizeof(float));
    if (st == QA_OK) st = qa_buf_upload(io->be, &io->cls, 0, io->hcls, n * sizeof(int32_t));
    return st;
}

qa_status qa_train_loss_rows(qa_train_net_t *net, qa_train_io *io, const float *params, const qa_train_data *d,
                             const uint32_t *rows, size_t n, qa_train_loss loss, float huber_delta, int chunk,
                             const qa_comm_t *comm, double *mean_loss) {
    *mean_loss = NAN;
    if (n == 0) return QA_OK;
    if (chunk < 1 || chunk > io->rows || chunk > qa_train_net_max_rows(net))
        return QA_FAIL(QA_ERR_INVALID_ARG, "loss chunk %d exceeds the buffers", chunk);
    const int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    const size_t nchunks = (n + (size_t)chunk - 1) / (size_t)chunk;
    double *sums = calloc(nchunks, sizeof *sums);
    if (!sums) return QA_FAIL(QA_ERR_NOMEM, "loss chunks");
    qa_status st = QA_OK;
    qa_buf scalar = {0};
    QA_TRY(qa_buf_alloc(io->be, sizeof(float), &scalar));
    for (size_t c = (size_t)rank; c < nchunks; c += (size_t)size) {
        size_t lo = c * (size_t)chunk, m = n - lo < (size_t)chunk ? n - lo : (size_t)chunk;
        QA_TRY(qa_train_io_load(io, d, rows + lo, m));
        QA_TRY(qa_train_net_loss(net, (int)m, params, io->x.ptr, loss, huber_delta, io->y.ptr, io->cls.ptr, scalar.ptr));
        float l = 0.0f;
        QA_TRY(qa_buf_download(io->be, &l, &scalar, 0, sizeof l));
        sums[c] = (double)l * (double)m;
    }
cleanup:
    qa_buf_free(&scalar);
    st = qa_comm_agree(comm, st);
    if (st == QA_OK) st = qa_comm_allreduce_sum_f64(comm, sums, nchunks);
    if (st == QA_OK) {
        double total = 0.0;
        for (size_t c = 0; c < nchunks; c++) total += sums[c];
        *mean_loss = total / (double)n;
    }
    free(sums);
    return st;
}
