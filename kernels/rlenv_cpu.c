/* The CPU path: environments spread over OpenMP threads in static blocks (each thread
 * owns a contiguous range of the struct-of-arrays state, so no two threads share a cache
 * line except at the block edges). Same per-environment code as the reference. */
#include "kernels/rlenv_impl.h"

void qa_rlenv_reset_cpu(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s, float *obs,
                        int threads) {
    size_t d = (size_t)qa_rlenv_d(c, m->nsym);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int i = 0; i < c->nenv; i++) {
        qa_rlenv_begin(c, m, s, i, 0u);
        if (obs) qa_rlenv_obs1(c, m, s, i, obs + (size_t)i * d);
    }
}

void qa_rlenv_step_cpu(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s,
                       const void *action, const qa_rlenv_out *out, int threads) {
#pragma omp parallel num_threads(threads)
    {
        float p[QA_RLENV_MAX_ASSETS];
#pragma omp for schedule(static)
        for (int i = 0; i < c->nenv; i++) qa_rlenv_step1(c, m, s, i, action, out, p);
    }
}

void qa_rlenv_observe_cpu(const qa_rlenv_cfg *c, const qa_rlenv_market *m, const qa_rlenv_state *s,
                          float *obs, int threads) {
    size_t d = (size_t)qa_rlenv_d(c, m->nsym);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int i = 0; i < c->nenv; i++) qa_rlenv_obs1(c, m, s, i, obs + (size_t)i * d);
}
