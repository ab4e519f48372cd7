/* Argument checks and backend dispatch for the trading environments. */
#include "kernels/rlenv_impl.h"

#include <math.h>

int qa_rlenv_assets(const qa_rlenv_cfg *cfg, int nsym) { return qa_rlenv_k(cfg, nsym); }

int qa_rlenv_action_dim(const qa_rlenv_cfg *cfg, int nsym) {
    return cfg->action == QA_RLENV_DISCRETE ? 1 : qa_rlenv_k(cfg, nsym);
}

int qa_rlenv_obs_dim(const qa_rlenv_cfg *cfg, int nsym) { return qa_rlenv_d(cfg, nsym); }

int qa_rlenv_time_steps(const qa_rlenv_cfg *cfg) { return qa_rlenv_time_scale(cfg); }

#define BAD(...) QA_FAIL(QA_ERR_INVALID_ARG, "rlenv: " __VA_ARGS__)

qa_status qa_rlenv_check(const qa_rlenv_cfg *c, const qa_rlenv_market *m) {
    if (!c || !m) return BAD("NULL configuration or market");
    if ((unsigned)c->kind >= QA_RLENV_KIND_COUNT) return BAD("kind %d is not single (0) or portfolio (1)", (int)c->kind);
    if ((unsigned)c->action >= QA_RLENV_ACTION_COUNT) return BAD("action %d is not discrete (0) or continuous (1)", (int)c->action);
    if ((unsigned)c->weights >= QA_RLENV_WEIGHTS_COUNT) return BAD("weights %d is not softmax (0) or long_short (1)", (int)c->weights);
    if (c->kind == QA_RLENV_PORTFOLIO && c->action == QA_RLENV_DISCRETE)
        return BAD("a portfolio env takes continuous actions (target weights), not discrete ones");
    if (c->kind == QA_RLENV_PORTFOLIO && m->nsym > QA_RLENV_MAX_ASSETS)
        return BAD("portfolio of %d assets: at most %d", m->nsym, QA_RLENV_MAX_ASSETS);
    if (c->nenv < 1) return BAD("nenv = %d, expected >= 1", c->nenv);
    if (c->window < 1) return BAD("window = %d, expected >= 1", c->window);
    if (c->horizon < 1) return BAD("horizon = %d, expected >= 1", c->horizon);
    if (c->time_scale < 0) return BAD("time_scale = %d, expected >= 0 (0: the horizon)", c->time_scale);
    if (c->nfeat < 1) return BAD("nfeat = %d, expected >= 1", c->nfeat);
    if (!(c->pos_lo >= -1.0f && c->pos_lo <= 0.0f && c->pos_hi >= 0.0f && c->pos_hi <= 1.0f))
        return BAD("direction range [%g, %g] is not inside [-1, 1] around 0", (double)c->pos_lo, (double)c->pos_hi);
    if (!(c->cost >= 0.0 && c->cost < 1.0)) return BAD("cost rate %g, expected in [0, 1)", c->cost);
    if (c->kind == QA_RLENV_PORTFOLIO && c->weights == QA_RLENV_LONG_SHORT && !(c->gross > 0.0 && isfinite(c->gross)))
        return BAD("gross limit %g, expected > 0", c->gross);
    if (!(c->dd_penalty >= 0.0 && c->vol_penalty >= 0.0 && c->turnover_penalty >= 0.0) ||
        !isfinite(c->dd_penalty + c->vol_penalty + c->turnover_penalty))
        return BAD("penalties (drawdown %g, volatility %g, turnover %g) must be finite and >= 0", c->dd_penalty,
                   c->vol_penalty, c->turnover_penalty);
    if (!(c->min_equity >= 0.0 && c->min_equity < 1.0)) return BAD("min_equity %g, expected in [0, 1)", c->min_equity);
    if (!(c->max_drawdown >= 0.0 && c->max_drawdown <= 1.0)) return BAD("max_drawdown %g, expected in [0, 1] (0 = off)", c->max_drawdown);
    if (!(c->reward_scale > 0.0 && isfinite(c->reward_scale))) return BAD("reward_scale %g, expected > 0", c->reward_scale);
    if (m->nsym < 1 || m->ntime < 2) return BAD("market of %d symbols x %d bars: need >= 1 x 2", m->nsym, m->ntime);
    if (m->ngroup != (c->kind == QA_RLENV_PORTFOLIO ? 1 : m->nsym))
        return BAD("%d start groups for a %s env over %d symbols", m->ngroup,
                   c->kind == QA_RLENV_PORTFOLIO ? "portfolio" : "single-asset", m->nsym);
    if (!m->ret || !m->feat || !m->start_lo || !m->start_cum) return BAD("NULL market array");
    return QA_OK;
}

/* The starts live in backend memory, so they are checked where they are built (rl/env.c);
 * here only the state pointers. */
static qa_status check_state(const qa_rlenv_state *s) {
    if (!s || !s->sym || !s->t || !s->steps || !s->entry_step || !s->episode || !s->pos || !s->equity ||
        !s->peak || !s->entry_equity || !s->base)
        return BAD("NULL state array");
    return QA_OK;
}

#ifndef QA_HAVE_CUDA
qa_status qa_rlenv_reset_cuda(void *stream, const qa_rlenv_cfg *c, const qa_rlenv_market *m,
                              qa_rlenv_state *s, float *obs) {
    (void)stream, (void)c, (void)m, (void)s, (void)obs;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
qa_status qa_rlenv_step_cuda(void *stream, const qa_rlenv_cfg *c, const qa_rlenv_market *m,
                             qa_rlenv_state *s, const void *action, const qa_rlenv_out *out) {
    (void)stream, (void)c, (void)m, (void)s, (void)action, (void)out;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
qa_status qa_rlenv_observe_cuda(void *stream, const qa_rlenv_cfg *c, const qa_rlenv_market *m,
                                const qa_rlenv_state *s, float *obs) {
    (void)stream, (void)c, (void)m, (void)s, (void)obs;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
#endif

qa_status qa_rlenv_reset(qa_backend_t *be, const qa_rlenv_cfg *cfg, const qa_rlenv_market *mkt,
                         qa_rlenv_state *st, float *obs) {
    QA_TRY_RET(qa_rlenv_check(cfg, mkt));
    QA_TRY_RET(check_state(st));
    if (qa_backend_kind_of(be) == QA_BACKEND_CUDA) return qa_rlenv_reset_cuda(qa_backend_stream(be), cfg, mkt, st, obs);
    if (qa_backend_reference(be)) qa_rlenv_reset_ref(cfg, mkt, st, obs);
    else qa_rlenv_reset_cpu(cfg, mkt, st, obs, qa_backend_threads(be));
    return QA_OK;
}

qa_status qa_rlenv_step(qa_backend_t *be, const qa_rlenv_cfg *cfg, const qa_rlenv_market *mkt,
                        qa_rlenv_state *st, const void *action, const qa_rlenv_out *out) {
    QA_TRY_RET(qa_rlenv_check(cfg, mkt));
    QA_TRY_RET(check_state(st));
    if (!action || !out) return BAD("NULL action or output");
    if (qa_backend_kind_of(be) == QA_BACKEND_CUDA)
        return qa_rlenv_step_cuda(qa_backend_stream(be), cfg, mkt, st, action, out);
    if (qa_backend_reference(be)) qa_rlenv_step_ref(cfg, mkt, st, action, out);
    else qa_rlenv_step_cpu(cfg, mkt, st, action, out, qa_backend_threads(be));
    return QA_OK;
}

qa_status qa_rlenv_observe(qa_backend_t *be, const qa_rlenv_cfg *cfg, const qa_rlenv_market *mkt,
                           const qa_rlenv_state *st, float *obs) {
    QA_TRY_RET(qa_rlenv_check(cfg, mkt));
    QA_TRY_RET(check_state(st));
    if (!obs) return BAD("NULL observation buffer");
    if (qa_backend_kind_of(be) == QA_BACKEND_CUDA) return qa_rlenv_observe_cuda(qa_backend_stream(be), cfg, mkt, st, obs);
    if (qa_backend_reference(be)) qa_rlenv_observe_ref(cfg, mkt, st, obs);
    else qa_rlenv_observe_cpu(cfg, mkt, st, obs, qa_backend_threads(be));
    return QA_OK;
}
