/* The reference: every environment in turn, one thread. */
#include "kernels/rlenv_impl.h"

void qa_rlenv_reset_ref(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s, float *obs) {
    size_t d = (size_t)qa_rlenv_d(c, m->nsym);
    for (int i = 0; i < c->nenv; i++) {
        qa_rlenv_begin(c, m, s, i, 0u);
        if (obs) qa_rlenv_obs1(c, m, s, i, obs + (size_t)i * d);
    }
}

void qa_rlenv_step_ref(const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *s,
                       const void *action, const qa_rlenv_out *out) {
    float p[QA_RLENV_MAX_ASSETS];
    for (int i = 0; i < c->nenv; i++) qa_rlenv_step1(c, m, s, i, action, out, p);
}

void qa_rlenv_observe_ref(const qa_rlenv_cfg *c, const qa_rlenv_market *m, const qa_rlenv_state *s,
                          float *obs) {
    size_t d = (size_t)qa_rlenv_d(c, m->nsym);
    for (int i = 0; i < c->nenv; i++) qa_rlenv_obs1(c, m, s, i, obs + (size_t)i * d);
}
