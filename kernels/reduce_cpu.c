/* CPU row moments: the reference's two-pass rows spread over OpenMP threads (a row is
 * read twice from cache-sized chunks; one pass would trade accuracy for a bandwidth gain
 * the callers have not needed), and a host replay of the CUDA kernels' order. */
#include "kernels/reduce_impl.h"

void qa_reduce_moments_cpu(const double *x, size_t rows, size_t cols, qa_moments *out, int threads) {
    long long nr = (long long)rows;
    (void)threads;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1 && rows > 1)
    for (long long r = 0; r < nr; r++) qa_reduce_row_ref(x + (size_t)r * cols, cols, &out[r]);
}

/* One block of the chunk kernel: thread t pushes elements begin + t, begin + t + 256,
 * ...; each warp folds its lanes with the shuffle tree (lane i takes lane i + off for
 * off = 16, 8, 4, 2, 1; only lane 0's chain matters and it reads in-range lanes only);
 * thread 0 merges the warps in order. */
static qa_reduce_acc block_acc(const double *xr, size_t begin, size_t end) {
    qa_reduce_acc lane[QA_REDUCE_BLOCK];
    for (int t = 0; t < QA_REDUCE_BLOCK; t++) {
        lane[t] = qa_reduce_empty();
        for (size_t j = begin + (size_t)t; j < end; j += QA_REDUCE_BLOCK) qa_reduce_push(&lane[t], xr[j]);
    }
    qa_reduce_acc warp[QA_REDUCE_BLOCK / 32];
    for (int w = 0; w < QA_REDUCE_BLOCK / 32; w++) {
        qa_reduce_acc *l = lane + 32 * (size_t)w;
        for (int off = 16; off > 0; off >>= 1)
            for (int i = 0; i + off < 32; i++) l[i] = qa_reduce_merge(l[i], l[i + off]);
        warp[w] = l[0];
    }
    qa_reduce_acc t = warp[0];
    for (int w = 1; w < QA_REDUCE_BLOCK / 32; w++) t = qa_reduce_merge(t, warp[w]);
    return t;
}

void qa_reduce_moments_gpu_order(const double *x, size_t rows, size_t cols, qa_moments *out) {
    size_t chunks, chunk;
    qa_reduce_chunks(rows, cols, &chunks, &chunk);
    for (size_t r = 0; r < rows; r++) {
        qa_reduce_acc t = qa_reduce_empty();
        for (size_t c = 0; c < chunks; c++) {
            size_t begin = c * chunk, end = begin + chunk < cols ? begin + chunk : cols;
            t = qa_reduce_merge(t, block_acc(x + r * cols, begin, begin < end ? end : begin));
        }
        out[r] = qa_reduce_finish(t);
    }
}
