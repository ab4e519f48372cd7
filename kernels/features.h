/* Feature kernels: technical indicators on S x T panels of bars, with carried
 * per-symbol state so that a history can be processed in time blocks (streaming,
 * sharding by symbols) or one bar at a time (live), with the same results.
 *
 * Semantics are binding and defined in docs/features.md:
 * every per-symbol computation runs on the symbol's observation sequence, the bars
 * where all inputs it uses are non-NaN; missing bars give NaN and change no state;
 * windows count observations; outputs are NaN until their window is full.
 *
 * Panels are row-major, symbol s and bar t at [s*ld + t] (ld >= nbar), float64, NaN
 * where a symbol has no bar. On the CUDA backend every array passed here is device
 * memory and results stay there; only the state object and outputs are written.
 *
 * Typical use (batch):
 *     qa_feat_spec spec = qa_feat_spec_default(QA_FEAT_RSI);      // rsi(close, 14)
 *     qa_feat_state_t *st; qa_feat_state_create(be, &spec, nsym, &st);
 *     for each time block: qa_feat_compute(be, &spec, &panel_block, st, out_block, ld_out);
 *     qa_feat_state_free(st);
 * and live, per symbol: double *s = calloc(qa_feat_state_doubles(&spec), sizeof *s);
 *     for each bar: y = qa_feat_update(&spec, s, &bar); */
#ifndef QA_KERNELS_FEATURES_H
#define QA_KERNELS_FEATURES_H

#include <stddef.h>  /* size_t */

#include "common/status.h"
#include "kernels/backend.h"  /* qa_backend_t */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- feature definitions ------------------------------------------------------------ */

/* Version of the feature definitions; part of every lineage hash (batch `qa features`
 * and the live service), bumped when a definition's numbers change. */
#define QA_FEATURES_CODE_VERSION "features-1"

/* What is computed. Names (for configs) in parentheses. */
typedef enum qa_feat_kind {
    QA_FEAT_RET = 0,       /* "ret": p/p_prev - 1 of the field (default close) */
    QA_FEAT_LOGRET = 1,    /* "logret": ln(p/p_prev) */
    QA_FEAT_MEAN = 2,      /* "mean": rolling mean of the last `window` observations */
    QA_FEAT_STD = 3,       /* "std": rolling sample std (ddof 1), window >= 2 */
    QA_FEAT_ZSCORE = 4,    /* "zscore": (x - mean)/std over `window` */
    QA_FEAT_EMA = 5,       /* "ema": span `window`, seeded with the mean of the first span obs */
    QA_FEAT_RSI = 6,       /* "rsi": Wilder RSI over `window` */
    QA_FEAT_MACD = 7,      /* "macd": ema(window) - ema(slow), signal ema(signal); output line/signal/hist */
    QA_FEAT_ATR = 8,       /* "atr": Wilder average true range of high/low/close over `window` */
    QA_FEAT_BBPCT = 9,     /* "bbpct": Bollinger %B, mean/std over `window`, width k */
    QA_FEAT_DONCHIAN = 10, /* "donchian": channel of high/low over `window`; output upper/lower/mid/pos */
    QA_FEAT_VOLZ = 11,     /* "volz": zscore of volume over `window` */
    QA_FEAT_XS_RANK = 12,  /* "xs_rank": per timestamp, (rank-1)/(n-1) over non-NaN symbols */
    QA_FEAT_XS_ZSCORE = 13,/* "xs_zscore": per timestamp, (x - mean)/std over non-NaN symbols */
    QA_FEAT_KIND_COUNT = 14
} qa_feat_kind;

/* The input series x. The first five are the panel's bar fields (indices into
 * qa_feat_panel.field); ret/logret are derived from close with their own carried state
 * (the previous observed close), so e.g. zscore of ret windows over return observations. */
typedef enum qa_feat_field {
    QA_FEAT_FIELD_OPEN = 0,   /* "open" */
    QA_FEAT_FIELD_HIGH = 1,   /* "high" */
    QA_FEAT_FIELD_LOW = 2,    /* "low" */
    QA_FEAT_FIELD_CLOSE = 3,  /* "close" */
    QA_FEAT_FIELD_VOLUME = 4, /* "volume" */
    QA_FEAT_FIELD_RET = 5,    /* "ret": close/close_prev - 1 */
    QA_FEAT_FIELD_LOGRET = 6, /* "logret": ln(close/close_prev) */
    QA_FEAT_FIELD_COUNT = 7
} qa_feat_field;
#define QA_FEAT_BAR_FIELDS 5 /* open, high, low, close, volume */

/* Which series a multi-output kind produces (one spec = one output series). */
typedef enum qa_feat_output {
    QA_FEAT_OUT_VALUE = 0,  /* "value": the only output of single-output kinds */
    QA_FEAT_OUT_LINE = 1,   /* "line": macd */
    QA_FEAT_OUT_SIGNAL = 2, /* "signal": macd */
    QA_FEAT_OUT_HIST = 3,   /* "hist": macd */
    QA_FEAT_OUT_UPPER = 4,  /* "upper": donchian */
    QA_FEAT_OUT_LOWER = 5,  /* "lower": donchian */
    QA_FEAT_OUT_MID = 6,    /* "mid": donchian */
    QA_FEAT_OUT_POS = 7,    /* "pos": donchian */
    QA_FEAT_OUT_COUNT = 8
} qa_feat_output;

/* One feature. Parameters a kind does not use are ignored (and zeroed by
 * qa_feat_spec_normalize). atr and donchian always read high/low/close and volz always
 * reads volume: their `field` is ignored. */
typedef struct qa_feat_spec {
    qa_feat_kind kind;
    qa_feat_field field;   /* input x (default close) */
    int window;            /* w: mean/std/zscore/rsi/atr/bbpct/donchian/volz; span: ema; fast span: macd */
    int slow;              /* macd slow span (> window) */
    int signal;            /* macd signal span */
    double k;              /* bbpct band width in standard deviations (> 0) */
    qa_feat_output output; /* macd: line/signal/hist; donchian: upper/lower/mid/pos; else value */
} qa_feat_spec;

/* Config names: "ret", "close", "hist", ...; NULL/"?" for out-of-range values. */
const char *qa_feat_kind_name(qa_feat_kind kind);
const char *qa_feat_field_name(qa_feat_field field);
const char *qa_feat_output_name(qa_feat_output output);
/* Parse a config name (exact, lower case). QA_ERR_CONFIG listing the valid names when
 * unknown; *out is unchanged on failure. */
qa_status qa_feat_kind_parse(const char *name, qa_feat_kind *out);
qa_status qa_feat_field_parse(const char *name, qa_feat_field *out);
qa_status qa_feat_output_parse(const char *name, qa_feat_output *out);

/* The conventional parameters of a kind: field close (volume for volz), window 20
 * (ema 12, rsi/atr 14), macd 12/26/9 line, bbpct k = 2, donchian pos. */
qa_feat_spec qa_feat_spec_default(qa_feat_kind kind);
/* QA_OK, or QA_ERR_CONFIG naming the offending parameter: window >= 1 (>= 2 where a
 * std is involved: std, zscore, bbpct, volz), 1 <= window < slow and signal >= 1 for
 * macd, k > 0 finite for bbpct, an output the kind has, ret/logret of a bar field
 * (not of a derived one). */
qa_status qa_feat_spec_validate(const qa_feat_spec *spec);
/* Copy with unused parameters zeroed and fixed inputs set, so that two specs that
 * compute the same series compare equal field by field. `spec` must be valid. */
qa_feat_spec qa_feat_spec_normalize(const qa_feat_spec *spec);
/* 1 when the two specs are equal member by member (k with ==; no NaN reaches a valid
 * spec), else 0. Compare normalized specs to ask whether they compute the same series. */
int qa_feat_spec_equal(const qa_feat_spec *a, const qa_feat_spec *b);
/* Canonical name usable as a dataset name, e.g. "rsi_close_14", "macd_close_12_26_9_hist",
 * "atr_14", "donchian_20_upper", "bbpct_close_20_2", "xs_rank_ret". snprintf semantics. */
int qa_feat_spec_format(const qa_feat_spec *spec, char *buf, size_t size);
/* 1 for xs_rank/xs_zscore (need the whole cross-section at each timestamp). */
int qa_feat_spec_is_xs(const qa_feat_spec *spec);
/* Bit mask of the bar fields read (1 << QA_FEAT_FIELD_CLOSE, ...). */
unsigned qa_feat_spec_inputs(const qa_feat_spec *spec);

/* The default feature set (benchmarks, `qa features` default): ret, logret,
 * mean/std/zscore 20, ema 12 and 26, rsi 14, macd line/signal/hist, atr 14, bbpct 20,
 * donchian 20 upper/lower/mid/pos, volz 20, xs_rank and xs_zscore of ret. Writes up to
 * `cap` specs and returns the total count. */
size_t qa_feat_default_set(qa_feat_spec *out, size_t cap);

/* ---- per-symbol state --------------------------------------------------------------- */

/* Doubles of carried state per symbol for a valid spec (layout in docs/features.md):
 * e.g. 6 + w for rolling moments, 4 + 4w for donchian, a few for recursive kinds, plus 2
 * when the input is a derived return. All zero bytes = a fresh symbol (no history). */
size_t qa_feat_state_doubles(const qa_feat_spec *spec);

/* State of nsym symbols for one spec, on a backend (host or device memory),
 * symbol-major: symbol s at [s * qa_feat_state_doubles(spec)]. */
typedef struct qa_feat_state qa_feat_state_t;

/* Validates the spec, allocates and resets. Caller frees with qa_feat_state_free. */
qa_status qa_feat_state_create(qa_backend_t *be, const qa_feat_spec *spec, size_t nsym,
                               qa_feat_state_t **out);
/* Forgets all history (queued on the backend stream for CUDA). */
qa_status qa_feat_state_reset(qa_backend_t *be, qa_feat_state_t *st);
/* Accepts NULL. Waits for nothing: callers sync the backend before freeing state in use. */
void qa_feat_state_free(qa_feat_state_t *st);
size_t qa_feat_state_bytes(const qa_feat_state_t *st);
size_t qa_feat_state_nsym(const qa_feat_state_t *st);
/* The normalized spec the state was created for. */
const qa_feat_spec *qa_feat_state_spec(const qa_feat_state_t *st);
/* Backend array of nsym x qa_feat_state_doubles(spec) doubles. */
double *qa_feat_state_data(qa_feat_state_t *st);
/* Whole-state copies to/from host memory of qa_feat_state_bytes(st) bytes (checkpoints,
 * handing a GPU-computed history to the CPU live path, MPI transfers). The layout is the
 * same on every backend. */
qa_status qa_feat_state_download(qa_backend_t *be, const qa_feat_state_t *st, double *host);
qa_status qa_feat_state_upload(qa_backend_t *be, qa_feat_state_t *st, const double *host);

/* ---- batch / streaming -------------------------------------------------------------- */

/* A time block of bars: nsym rows of nbar bars. field[f] is a backend array (NULL when
 * the spec does not read it, see qa_feat_spec_inputs); row s starts at field[f] + s*ld. */
typedef struct qa_feat_panel {
    const double *field[QA_FEAT_BAR_FIELDS];
    size_t nsym;
    size_t nbar;
    size_t ld; /* row stride in doubles, >= nbar; 0 means nbar */
} qa_feat_panel;

/* Computes one feature on a time block and advances the state: out[s*ld_out + t] for
 * s < nsym, t < nbar (ld_out 0 means nbar). Calling it on consecutive blocks
 * [0,T1), [T1,T2), ... with the same state gives bit-for-bit the result of one call on
 * [0,T) for the CPU paths (reference and optimised); on CUDA the same within the
 * tolerances of docs/features.md. The state must have been created for an equal spec and
 * nsym symbols on the same backend kind. `out` may not alias an input; CUDA work is
 * queued on the backend stream (sync before reading). Cross-sectional kinds need the
 * whole cross-section in one call (all symbols of a timestamp).
 * CPU: reference path when the backend's reference flag is set, else the optimised
 * path on qa_backend_threads(be) OpenMP threads (symbols, or timestamps for xs). */
qa_status qa_feat_compute(qa_backend_t *be, const qa_feat_spec *spec, const qa_feat_panel *in,
                          qa_feat_state_t *state, double *out, size_t ld_out);

/* ---- incremental (live) --------------------------------------------------------------- */

typedef struct qa_feat_bar {
    double open, high, low, close, volume; /* NaN = missing */
} qa_feat_bar;

/* Advances one symbol's state (host memory, qa_feat_state_doubles(spec) doubles, zero
 * for a fresh symbol, or the symbol's slice of a downloaded state) by one bar and
 * returns the feature value at that bar (NaN when the bar is not an observation or in
 * warm-up). Runs the optimised CPU step code itself, so a series fed bar by bar equals
 * the optimised batch result bit for bit. No allocation, no error path: `spec` must be
 * valid (qa_feat_spec_validate) and normalized or equal to the state's spec. For
 * cross-sectional kinds it returns the symbol's input x at this bar (e.g. its return);
 * combine the symbols' values with qa_feat_xs_row. */
double qa_feat_update(const qa_feat_spec *spec, double *state, const qa_feat_bar *bar);

/* Cross-sectional transform of one timestamp: out[i] from x[0..n) for kind xs_rank or
 * xs_zscore (NaN x -> NaN out). `scratch` holds qa_feat_xs_scratch_bytes(n) bytes (any
 * alignment of malloc). out may equal x. The same code as the optimised batch path. */
size_t qa_feat_xs_scratch_bytes(size_t n);
qa_status qa_feat_xs_row(qa_feat_kind kind, const double *x, size_t n, double *out, void *scratch);

#ifdef __cplusplus
}
#endif
#endif
