// CUDA trading environments: one thread per environment running the per-environment
// code of rlenv_impl.h (the same functions as the CPU paths). The market, state and
// output structs travel by value: they hold device pointers only, so a step is one
// launch with no host round trip, and the observations stay on the device for the
// policy.
#include "kernels/rlenv_impl.h"

#include "kernels/check.h"  // QA_CUDA_LAUNCH_CHECK

namespace {

constexpr int kBlock = 128;

unsigned blocks_for(int n) { return (unsigned)((n + kBlock - 1) / kBlock); }

__global__ void reset_kernel(qa_rlenv_cfg c, qa_rlenv_market m, qa_rlenv_state s, float *obs) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= c.nenv) return;
    qa_rlenv_begin(&c, &m, &s, i, 0u);
    if (obs) qa_rlenv_obs1(&c, &m, &s, i, obs + (size_t)i * qa_rlenv_d(&c, m.nsym));
}

__global__ void step_kernel(qa_rlenv_cfg c, qa_rlenv_market m, qa_rlenv_state s, const void *action,
                            qa_rlenv_out out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= c.nenv) return;
    // Single-asset envs need one target; the portfolio's K targets live in local memory.
    float p[QA_RLENV_MAX_ASSETS];
    qa_rlenv_step1(&c, &m, &s, i, action, &out, p);
}

__global__ void observe_kernel(qa_rlenv_cfg c, qa_rlenv_market m, qa_rlenv_state s, float *obs) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= c.nenv) return;
    qa_rlenv_obs1(&c, &m, &s, i, obs + (size_t)i * qa_rlenv_d(&c, m.nsym));
}

}  // namespace

qa_status qa_rlenv_reset_cuda(void *stream, const qa_rlenv_cfg *c, const qa_rlenv_market *m,
                              qa_rlenv_state *s, float *obs) {
    reset_kernel<<<blocks_for(c->nenv), kBlock, 0, (cudaStream_t)stream>>>(*c, *m, *s, obs);
    QA_CUDA_LAUNCH_CHECK("rlenv reset_kernel");
    return QA_OK;
}

qa_status qa_rlenv_step_cuda(void *stream, const qa_rlenv_cfg *c, const qa_rlenv_market *m,
                             qa_rlenv_state *s, const void *action, const qa_rlenv_out *out) {
    step_kernel<<<blocks_for(c->nenv), kBlock, 0, (cudaStream_t)stream>>>(*c, *m, *s, action, *out);
    QA_CUDA_LAUNCH_CHECK("rlenv step_kernel");
    return QA_OK;
}

qa_status qa_rlenv_observe_cuda(void *stream, const qa_rlenv_cfg *c, const qa_rlenv_market *m,
                                const qa_rlenv_state *s, float *obs) {
    observe_kernel<<<blocks_for(c->nenv), kBlock, 0, (cudaStream_t)stream>>>(*c, *m, *s, obs);
    QA_CUDA_LAUNCH_CHECK("rlenv observe_kernel");
    return QA_OK;
}
