/* The event-driven simulator's bar loop over in-memory panels: strategy decisions,
 * orders, fills, costs, accounting and the recorded curves. Rules: docs/simulator.md. */
#include "pipeline/sim/sim.h"

#include <math.h>    /* fabs, isnan, isfinite, NAN */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* memset */

#include "common/mem.h"
#include "common/timer.h"          /* loop timing */
#include "kernels/backtest_rules.h" /* qa_bt_series_metrics */
#include "trading/costs.h"         /* cost model */
#include "trading/portfolio.h"     /* accounting */
#include "trading/sizing.h"        /* weights -> shares */
#include "trading/strategy.h"      /* decisions */


/* Target changes below this fraction of the sleeve's equity are rounding noise (a
 * weight-1 position re-targeted at an unchanged weight gives |q| ~ 1e-16 x holding). */
#define QA_SIM_NOISE 1e-12

const char *const qa_sim_size_on_names[] = {"equity", "capital", NULL};

void qa_sim_settings_init(qa_sim_settings *s) {
    memset(s, 0, sizeof *s);
    s->strategy = QA_BT_SMA_CROSS;
    s->params.p[0] = 10;
    s->params.p[1] = 50;
    qa_rules_init(&s->rules);
    s->rules.bars_per_year = 252.0;
    s->order_type = QA_ORDER_MOC;
    s->tif = QA_TIF_DAY;
    s->price_offset = 0.0;
    s->participation = 0.0;
    s->rebalance_band = 0.0;
    s->min_order_value = 0.0;
    s->replace = 1;
    s->pretrade_on = 0;
    qa_pretrade_limits_default(&s->pretrade);
    s->record_blotter = 1;
}

void qa_sim_result_free(qa_sim_result *r) {
    if (!r) return;
    free(r->equity); /* one block for the [L] and [S*L] arrays */
    free(r->sleeve_metrics);
    qa_blotter_free(&r->blotter);
    memset(r, 0, sizeof *r);
}

/* ---- validation ----------------------------------------------------------------------------- */

/* Checks the settings against the data and derives the rules of one sleeve. Messages
 * carry no command prefix: qa_sim_execute adds "simulate: " to any failure of the run. */
static qa_status check(const qa_sim_data *d, const qa_sim_settings *s, qa_rules *sleeve) {
    if (d->symbols == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "no symbols");
    qa_status st = qa_rules_validate(&s->rules);
    if (st != QA_OK) return st;
    if (s->pretrade_on && (st = qa_pretrade_limits_validate(&s->pretrade)) != QA_OK) return st;
    if ((int)s->order_type < 0 || s->order_type >= QA_ORDER_TYPE_COUNT || (int)s->tif < 0 || s->tif >= QA_TIF_COUNT)
        return QA_FAIL(QA_ERR_CONFIG, "unknown order type %d or time in force %d", (int)s->order_type, (int)s->tif);
    if (!(isfinite(s->price_offset) && s->price_offset >= 0.0 && s->price_offset < 1.0))
        return QA_FAIL(QA_ERR_CONFIG, "price_offset %g must lie in [0, 1)", s->price_offset);
    if (!(isfinite(s->participation) && s->participation >= 0.0))
        return QA_FAIL(QA_ERR_CONFIG, "participation %g must be >= 0 (0 = no cap)", s->participation);
    if (!(isfinite(s->rebalance_band) && s->rebalance_band >= 0.0) ||
        !(isfinite(s->min_order_value) && s->min_order_value >= 0.0))
        return QA_FAIL(QA_ERR_CONFIG, "rebalance_band %g and min_order_value %g must be >= 0", s->rebalance_band,
                       s->min_order_value);
    if (s->participation > 0.0 && !d->volume)
        return QA_FAIL(QA_ERR_INVALID_ARG, "a participation cap needs the volume panel");
    if ((int)s->size_on < 0 || s->size_on > QA_SIM_SIZE_CAPITAL)
        return QA_FAIL(QA_ERR_CONFIG, "unknown size_on %d", (int)s->size_on);
    if (s->rules.costs.convention == QA_RULES_VECTORIZED &&
        (s->order_type != QA_ORDER_MOC || s->participation > 0.0 || s->rebalance_band > 0.0 || s->min_order_value > 0.0 ||
         s->whole_shares || s->size_on != QA_SIM_SIZE_EQUITY))
        return QA_FAIL(QA_ERR_CONFIG,
                       "the vectorized cost convention is the vectorized engine's accounting and needs "
                       "market-on-close orders without participation cap, rebalance band, minimum order value, "
                       "whole shares or capital sizing (use convention: traded for %s orders)",
                       qa_order_type_name(s->order_type));
    *sleeve = s->rules;
    sleeve->capital = s->rules.capital / (double)d->symbols; /* each sleeve is a vectorized run of this capital */
    qa_bt_rules bt;
    qa_rules_to_bt(sleeve, &bt);
    qa_bt_data bd = {d->close, d->high, d->low, d->volume, d->signal, d->symbols, d->bars, d->t_begin, d->t_end};
    qa_bt_grid g = {s->strategy, &s->params, 1};
    return qa_bt_validate(&bd, &g, &bt);
}

/* ---- the loop --------------------------------------------------------------------------------- */

typedef struct sleeve {
    qa_strategy strat;
    qa_strategy_step step; /* of the current bar */
    double alloc;          /* capital / S */
    double E_prev;         /* sleeve equity after its previous observation */
    int alive;             /* E_prev > 0 */
    double pending_cost;   /* vectorized convention: the bar's cost, charged with its fill */
    double traded;         /* notional filled during the current bar */
    int64_t trades;
} sleeve;

typedef struct sim {
    const qa_sim_data *d;
    const qa_sim_settings *s;
    qa_sim_result *out;
    qa_portfolio pf;
    qa_order_book book;
    const qa_rules_costs *cm; /* the settings' costs */
    sleeve *sl;
    qa_order_bar *bars; /* [S] this bar's prices, close NaN when the symbol has no observation */
    int64_t t;
    /* metric series over the range: sleeves [S*L], account [L] */
    double *sR, *sT, *aT;
    unsigned char *sH, *aH;
    double A_prev;      /* account equity at the last decision */
    int64_t trades;     /* entries over all sleeves */
    qa_pretrade_guard *guard; /* the account's accepted orders (with pretrade_on) */
} sim;

static const char *sym_name(const sim *m, size_t s, char *buf, size_t n) {
    if (m->d->names && m->d->names[s]) return m->d->names[s];
    snprintf(buf, n, "symbol %zu", s);
    return buf;
}

static qa_status log_event(sim *m, const qa_order *o, qa_order_event ev, double fq, double fp, double cost,
                           const char *reason) {
    if (!m->s->record_blotter) return QA_OK;
    qa_blotter_row r;
    memset(&r, 0, sizeof r);
    r.order_id = o->id;
    r.t = m->t;
    r.symbol = (int32_t)o->symbol;
    r.event = (uint8_t)ev;
    r.type = (uint8_t)o->type;
    r.tif = (uint8_t)o->tif;
    r.qty = o->qty;
    r.price = o->type == QA_ORDER_LIMIT ? o->limit : o->type == QA_ORDER_STOP ? o->stop : NAN;
    r.fill_qty = fq;
    r.fill_price = fp;
    r.cost = cost;
    r.remaining = o->status == QA_ORDER_WORKING ? o->qty - o->filled : 0.0;
    r.position = m->pf.pos[o->symbol].qty;
    r.cash = qa_portfolio_cash(&m->pf);
    return qa_blotter_add(&m->out->blotter, &r, reason);
}

static qa_status on_event(void *ctx, const qa_order *o, qa_order_event ev, double qty, double px) {
    sim *m = ctx;
    sleeve *sl = &m->sl[o->symbol];
    qa_sim_counts *n = &m->out->counts;
    double cost = 0.0;
    switch (ev) {
    case QA_ORDER_EV_FILL: {
        double notional = fabs(qty) * px;
        if (m->s->rules.costs.convention == QA_RULES_VECTORIZED) {
            cost = sl->pending_cost;
            sl->pending_cost = 0.0;
        } else {
            /* impact inputs of the fill's bar; the fixed fee once per order */
            cost = qa_cost_of(m->cm, notional, fabs(qty), sl->step.sigma, sl->step.adv, o->nfills == 1);
        }
        sl->traded += notional;
        qa_status st = qa_portfolio_fill(&m->pf, o->symbol, qty, px, cost);
        if (st != QA_OK) return st;
        n->fills++;
        if (o->status == QA_ORDER_WORKING) n->partial_fills++;
        break;
    }
    case QA_ORDER_EV_NEW: n->orders++; break;
    case QA_ORDER_EV_EXPIRED: n->expired++; break;
    case QA_ORDER_EV_CANCELLED: n->cancelled++; break;
    default: break;
    }
    return log_event(m, o, ev, ev == QA_ORDER_EV_FILL ? qty : 0.0, ev == QA_ORDER_EV_FILL ? px : NAN, cost, NULL);
}

/* The decision of symbol s at this bar's close: target shares, the order, the gate and
 * (for MOC) the fill. */
static qa_status decide(sim *m, size_t s) {
    const qa_sim_settings *set = m->s;
    sleeve *sl = &m->sl[s];
    const qa_strategy_step *x = &sl->step;
    const double c = x->close;
    const double E_pre = qa_portfolio_sleeve_equity(&m->pf, s, sl->alloc);
    double cost = 0.0, base = E_pre;
    if (set->rules.costs.convention == QA_RULES_VECTORIZED) {
        /* docs/backtest.md: the bar's cost is charged on |delta weight| x E(i-1), and the
         * holding after the bar is pos(i) x E(i) with E(i) net of that cost */
        if (x->delta != 0.0 && sl->alive) {
            double notional = x->delta * sl->E_prev;
            cost = qa_cost_of(m->cm, notional, notional / c, x->sigma, x->adv, 1);
        }
        base = E_pre - cost;
    }
    double target = 0.0;
    if (sl->alive && base > 0.0) {
        if (set->size_on == QA_SIM_SIZE_CAPITAL) /* the live engine's expression, term for term */
            target = qa_sizing_shares(x->pos * (1.0 / (double)m->d->symbols), set->rules.capital, c);
        else
            target = qa_sizing_shares(x->pos, base, c);
        if (set->whole_shares) target = qa_sizing_whole(target);
    }
    qa_status st = QA_OK;
    double cur = m->pf.pos[s].qty, working = 0.0;
    if (m->book.n) {
        if (set->replace) {
            QA_TRY(qa_order_book_cancel_symbol(&m->book, s, on_event, m));
        } else {
            /* keep working orders that move toward the target, never ones that point away
             * or that would overshoot it (stale orders filling later would) */
            double need = target - cur;
            QA_TRY(qa_order_book_cancel_side(&m->book, s, need > 0.0 ? -1 : 1, on_event, m));
            if (need == 0.0) QA_TRY(qa_order_book_cancel_side(&m->book, s, 1, on_event, m));
            working = qa_order_book_working_qty(&m->book, s);
            if (fabs(working) > fabs(need)) {
                QA_TRY(qa_order_book_cancel_symbol(&m->book, s, on_event, m));
                working = 0.0;
            }
        }
    }
    double q = target - (cur + working);
    double after = cur + working;
    double size = fabs(q) * c, scale = fabs(base);
    int resize = target != 0.0 && after != 0.0 && (target > 0.0) == (after > 0.0) && !x->entry;
    int skip = size <= QA_SIM_NOISE * scale ||
               (resize && (size < set->rebalance_band * scale || size < set->min_order_value));
    if (q == 0.0 || skip) {
        if (cost > 0.0) QA_TRY(qa_portfolio_charge(&m->pf, s, cost));
        return QA_OK;
    }
    int buy = q > 0.0;
    double px = NAN, off = set->price_offset;
    if (set->order_type == QA_ORDER_LIMIT) px = buy ? c * (1.0 - off) : c * (1.0 + off);
    else if (set->order_type == QA_ORDER_STOP) px = buy ? c * (1.0 + off) : c * (1.0 - off);
    qa_order o;
    QA_TRY(qa_order_make(&o, s, set->order_type, set->tif, q, px, m->t));
    qa_pretrade_order po = {0};
    char nb[32]; /* po.symbol points here until the order is recorded below */
    if (set->pretrade_on) {
        char why[256];
        double gross;
        qa_portfolio_exposure(&m->pf, &gross, NULL);
        const qa_rules_costs *cm = &set->rules.costs;
        po.symbol = sym_name(m, s, nb, sizeof nb);
        po.qty = q;
        po.limit = set->order_type == QA_ORDER_LIMIT ? px : NAN;
        po.ref_price = c;
        po.time = m->d->time ? m->d->time[m->t] : m->t;
        qa_pretrade_account acct = {QA_STATE_ACTIVE, cur, working, c, qa_portfolio_equity(&m->pf), gross,
                                    qa_portfolio_cash(&m->pf), (cm->commission_bps + cm->half_spread_bps) * 1e-4};
        if (qa_pretrade_check(&set->pretrade, m->guard, &acct, &po, why, sizeof why) != QA_PRETRADE_OK) {
            /* rejected: no order, no trade, no cost; the reason goes to the blotter */
            m->out->counts.rejected++;
            o.id = 0;
            o.status = QA_ORDER_REJECTED;
            return log_event(m, &o, QA_ORDER_EV_REJECTED, 0.0, NAN, 0.0, why);
        }
    }
    sl->pending_cost = cost;
    int64_t id;
    QA_TRY(qa_order_book_submit(&m->book, &o, on_event, m, &id));
    if (set->pretrade_on) qa_pretrade_record(m->guard, &po);
    if (set->order_type == QA_ORDER_MOC) QA_TRY(qa_order_book_match(&m->book, m->t, m->bars, set->participation, id, on_event, m));
    sl->pending_cost = 0.0;
cleanup:
    return st;
}

static qa_status alloc_result(qa_sim_result *r, size_t S, size_t L) {
    r->symbols = S;
    r->L = L;
    size_t nl = L ? L : 1;
    double *b = malloc((5 * nl + 3 * S * nl) * sizeof *b);
    r->sleeve_metrics = calloc(S, sizeof *r->sleeve_metrics);
    if (!b || !r->sleeve_metrics) {
        free(b);
        return QA_FAIL(QA_ERR_NOMEM, "simulation results for %zu symbols x %zu bars", S, L);
    }
    r->equity = b;
    r->cash = b + nl;
    r->gross = b + 2 * nl;
    r->net = b + 3 * nl;
    r->ret = b + 4 * nl;
    r->sleeve = b + 5 * nl;
    r->qty = r->sleeve + S * nl;
    r->value = r->qty + S * nl;
    return QA_OK;
}

static double at(const double *p, size_t S, size_t T, size_t s, size_t t) {
    (void)S;
    return p ? p[s * T + t] : NAN;
}

static void sim_free(sim *m) {
    if (m->sl)
        for (size_t s = 0; s < m->d->symbols; s++) qa_strategy_free(&m->sl[s].strat);
    QA_FREE_ALL(m->sl, m->bars, m->sR, m->sH, m->guard);
    qa_order_book_free(&m->book);
    qa_portfolio_free(&m->pf);
}

/* The account, the result arrays, the metric series and one strategy per sleeve with an
 * equal share of the capital. */
static qa_status sim_init(sim *m, const qa_rules *sleeve_rules) {
    const qa_sim_data *d = m->d;
    const qa_sim_settings *set = m->s;
    const size_t S = d->symbols, L = d->t_end - d->t_begin;
    m->cm = &set->rules.costs;
    qa_order_book_init(&m->book);
    QA_TRY_RET(alloc_result(m->out, S, L));
    QA_TRY_RET(qa_portfolio_init(&m->pf, S, set->rules.capital));
    m->sl = calloc(S, sizeof *m->sl);
    m->bars = calloc(S, sizeof *m->bars);
    m->sR = malloc((2 * S * L + L + 1) * sizeof *m->sR);
    m->sH = calloc(S * L + L + 1, 1);
    if (!m->sl || !m->bars || !m->sR || !m->sH) return QA_FAIL(QA_ERR_NOMEM, "simulation state for %zu symbols", S);
    if (set->pretrade_on) {
        if (!(m->guard = malloc(sizeof *m->guard))) return QA_FAIL(QA_ERR_NOMEM, "pre-trade guard");
        qa_pretrade_guard_init(m->guard);
    }
    m->sT = m->sR + S * L;
    m->aT = m->sT + S * L;
    m->aH = m->sH + S * L;
    for (size_t i = 0; i < S * L; i++) {
        m->sR[i] = NAN;
        m->sT[i] = 0.0;
    }
    for (size_t s = 0; s < S; s++) {
        QA_TRY_RET(qa_strategy_init(&m->sl[s].strat, set->strategy, &set->params, sleeve_rules, d->t_end));
        m->sl[s].alloc = set->rules.capital / (double)S;
        m->sl[s].E_prev = m->sl[s].alloc;
        m->sl[s].alive = 1;
    }
    m->A_prev = set->rules.capital;
    return QA_OK;
}

/* Step 1: bar t reaches every symbol's strategy (decisions depend on prices only). */
static qa_status bar_push(sim *m, size_t t, int in_range) {
    const qa_sim_data *d = m->d;
    const size_t S = d->symbols, T = d->bars;
    for (size_t s = 0; s < S; s++) {
        sleeve *sl = &m->sl[s];
        qa_strategy_bar sb = {at(d->close, S, T, s, t), at(d->high, S, T, s, t), at(d->low, S, T, s, t),
                              at(d->volume, S, T, s, t), at(d->signal, S, T, s, t)};
        QA_TRY_RET(qa_strategy_push(&sl->strat, &sb, in_range, sl->alive, &sl->step));
        qa_order_bar *b = &m->bars[s];
        if (sl->step.observed) {
            b->open = at(d->open, S, T, s, t);
            b->high = sb.high;
            b->low = sb.low;
            b->close = sb.close;
            b->volume = sb.volume;
        } else {
            b->open = b->high = b->low = b->close = b->volume = NAN;
        }
        sl->traded = 0.0;
    }
    m->out->counts.bars += (int64_t)S;
    return QA_OK;
}

/* Step 6: per-sleeve and account P&L of bar j of the range, and the recorded state. */
static void bar_record(sim *m, size_t j) {
    const size_t S = m->d->symbols, L = m->d->t_end - m->d->t_begin;
    qa_sim_result *out = m->out;
    int any = 0;
    double notional = 0.0;
    m->aH[j] = 0;
    for (size_t s = 0; s < S; s++) {
        sleeve *sl = &m->sl[s];
        const qa_strategy_step *x = &sl->step;
        if (x->decision) {
            double E = qa_portfolio_sleeve_equity(&m->pf, s, sl->alloc);
            double base = sl->E_prev;
            double turn_cash = m->s->rules.costs.convention == QA_RULES_VECTORIZED ? x->delta * base : sl->traded;
            m->sR[s * L + j] = base > 0.0 ? E / base - 1.0 : 0.0;
            m->sT[s * L + j] = base > 0.0 ? turn_cash / base : 0.0;
            m->sH[s * L + j] = (unsigned char)x->held;
            sl->trades += x->entry;
            m->trades += x->entry;
            notional += base > 0.0 ? turn_cash : 0.0;
            sl->E_prev = E;
            sl->alive = E > 0.0;
            any = 1;
            m->aH[j] |= (unsigned char)x->held;
        }
        out->sleeve[s * L + j] = qa_portfolio_sleeve_equity(&m->pf, s, sl->alloc) / sl->alloc;
        out->qty[s * L + j] = m->pf.pos[s].qty;
        out->value[s * L + j] = qa_portfolio_value(&m->pf, s);
    }
    double A = qa_portfolio_equity(&m->pf);
    out->equity[j] = A;
    out->cash[j] = qa_portfolio_cash(&m->pf);
    qa_portfolio_exposure(&m->pf, &out->gross[j], &out->net[j]);
    out->ret[j] = NAN;
    m->aT[j] = 0.0;
    if (any) {
        out->ret[j] = m->A_prev > 0.0 ? A / m->A_prev - 1.0 : 0.0;
        m->aT[j] = m->A_prev > 0.0 ? notional / m->A_prev : 0.0;
        m->A_prev = A;
    }
}

/* One bar: strategies, fills of working orders, marks, decisions, expiries, records. */
static qa_status sim_bar(sim *m, size_t t) {
    const qa_sim_data *d = m->d;
    const size_t S = d->symbols;
    const int in_range = t >= d->t_begin;
    m->t = (int64_t)t;
    QA_TRY_RET(bar_push(m, t, in_range));
    /* 2. working orders from earlier bars fill during this bar; the unfilled rest of DAY
     *    orders expires with the bar, before the decisions at its close */
    if (m->book.n) {
        QA_TRY_RET(qa_order_book_match(&m->book, m->t, m->bars, m->s->participation, 0, on_event, m));
        QA_TRY_RET(qa_order_book_expire(&m->book, m->t, m->bars, on_event, m));
    }
    /* 3. marks at the close */
    for (size_t s = 0; s < S; s++)
        if (m->sl[s].step.observed) qa_portfolio_mark(&m->pf, s, m->bars[s].close);
    /* 4. decisions at the close, symbols in ascending order */
    for (size_t s = 0; s < S; s++) {
        sleeve *sl = &m->sl[s];
        if (sl->step.base) sl->E_prev = qa_portfolio_sleeve_equity(&m->pf, s, sl->alloc);
        if (sl->step.decision) QA_TRY_RET(decide(m, s));
    }
    /* 5. the rest of this close's DAY market-on-close orders (participation cap) expires */
    if (m->book.n) QA_TRY_RET(qa_order_book_expire(&m->book, m->t, m->bars, on_event, m));
    if (in_range) bar_record(m, t - d->t_begin);
    return QA_OK;
}

/* Metrics of every sleeve and of the account, and the final account state. */
static void sim_finish(sim *m, const qa_rules *sleeve_rules) {
    const size_t S = m->d->symbols, L = m->d->t_end - m->d->t_begin;
    qa_sim_result *out = m->out;
    for (size_t s = 0; s < S; s++)
        qa_bt_series_metrics(m->sR + s * L, m->sT + s * L, m->sH + s * L, (long)L, m->sl[s].trades,
                             sleeve_rules->bars_per_year, &out->sleeve_metrics[s]);
    qa_bt_series_metrics(out->ret, m->aT, m->aH, (long)L, m->trades, sleeve_rules->bars_per_year, &out->metrics);
    out->costs = m->pf.costs;
    out->realized = qa_portfolio_total_realized(&m->pf);
    out->unrealized = qa_portfolio_total_unrealized(&m->pf);
    out->final_equity = qa_portfolio_equity(&m->pf);
    out->final_cash = qa_portfolio_cash(&m->pf);
}

qa_status qa_sim_run(const qa_sim_data *d, const qa_sim_settings *set, qa_sim_result *out) {
    memset(out, 0, sizeof *out);
    qa_blotter_init(&out->blotter);
    qa_rules sleeve_rules;
    QA_TRY_RET(check(d, set, &sleeve_rules));
    sim m;
    memset(&m, 0, sizeof m);
    m.d = d;
    m.s = set;
    m.out = out;
    qa_status st = sim_init(&m, &sleeve_rules);
    uint64_t t0 = qa_time_ns();
    for (size_t t = 0; st == QA_OK && t < d->t_end; t++) st = sim_bar(&m, t);
    out->seconds = qa_time_since(t0);
    if (st == QA_OK) sim_finish(&m, &sleeve_rules);
    sim_free(&m);
    return st;
}
