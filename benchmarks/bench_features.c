/* Feature throughput: the default feature set (qa_feat_default_set: ret, logret,
 * mean/std/zscore 20, ema 12/26, rsi 14, macd line/signal/hist, atr 14, bbpct 20,
 * donchian 20 upper/lower/mid/pos, volz 20, xs_rank and xs_zscore of ret) on S symbols x
 * T bars, per feature and for the whole set, CPU 1 thread, CPU all threads and CUDA.
 *
 * Usage: bench_features [S T]   (default: 500 x 5040, then 2000 x 5040)
 * Unit: symbol-bars (one symbol at one timestamp) per second for the whole set.
 * Byte model (compulsory traffic): each spec reads its input fields once and writes its
 * output once, 8 bytes each per symbol-bar; state traffic (a few doubles per symbol) is
 * ignored. xs of a derived return really moves its output twice (source pass, then the
 * cross-section), so its GB/s is a lower bound.
 * Correctness first: the optimised CPU path and CUDA are compared with the CPU reference
 * on a sub-panel before anything is timed. */
#include <math.h>
#include <time.h> /* clock_gettime(CLOCK_THREAD_CPUTIME_ID) */

#include "bench.h"
#include "common/philox.h"    /* synthetic bars */
#include "kernels/backend.h"  /* backends, device buffers */
#include "kernels/features.h" /* the kernels under test */
#ifdef QA_HAVE_CUDA
#include <cuda_runtime_api.h> /* peak memory bandwidth of the device */
#endif

enum { MAX_SPECS = 32 };

typedef struct bench_panel {
    size_t S, T;
    double *f[QA_FEAT_BAR_FIELDS];
} bench_panel;

/* Log-normal random walks with 2% missing bars and late listings. */
static bench_panel gen_panel(size_t S, size_t T, uint64_t seed) {
    bench_panel p = {S, T, {0}};
    for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) p.f[f] = malloc(S * T * sizeof(double));
    for (size_t s = 0; s < S; s++) {
        double price = 50.0 + 100.0 * qa_rng_uniform(seed, 1, s);
        size_t list = qa_rng_uniform(seed, 2, s) < 0.2 ? (size_t)(qa_rng_uniform(seed, 3, s) * (double)T / 4) : 0;
        for (size_t t = 0; t < T; t++) {
            size_t i = s * T + t;
            double c = price * exp(0.015 * qa_rng_normal(seed, 4, i));
            double h = fmax(price, c) * (1.0 + 0.003 * fabs(qa_rng_normal(seed, 5, i)));
            double l = fmin(price, c) * (1.0 - 0.003 * fabs(qa_rng_normal(seed, 6, i)));
            int miss = t < list || qa_rng_uniform(seed, 7, i) < 0.02;
            p.f[QA_FEAT_FIELD_OPEN][i] = miss ? NAN : price;
            p.f[QA_FEAT_FIELD_HIGH][i] = miss ? NAN : h;
            p.f[QA_FEAT_FIELD_LOW][i] = miss ? NAN : l;
            p.f[QA_FEAT_FIELD_CLOSE][i] = miss ? NAN : c;
            p.f[QA_FEAT_FIELD_VOLUME][i] = miss ? NAN : 1e6 * exp(0.5 * qa_rng_normal(seed, 8, i));
            price = c;
        }
    }
    return p;
}

static qa_feat_panel panel_view(double *const *f, size_t T, size_t t0, size_t nbar, size_t nsym) {
    qa_feat_panel v = {{NULL}, nsym, nbar, T};
    for (int k = 0; k < QA_FEAT_BAR_FIELDS; k++) v.field[k] = f[k] + t0;
    return v;
}

static double spec_bytes(const qa_feat_spec *s, size_t n) {
    return (double)(__builtin_popcount(qa_feat_spec_inputs(s)) + 1) * 8.0 * (double)n;
}

/* CPU time of the calling thread: on a shared machine the 1-thread figure that does not
 * count time stolen by other processes. */
static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Per-spec medians (state reset then one compute over the panel) and the median of whole
 * set passes (wall clock, and thread CPU time in *cpu_set). Returns 0 on a kernel error. */
static int time_set(qa_backend_t *be, const qa_feat_spec *specs, size_t ns, qa_feat_state_t **st,
                    const qa_feat_panel *in, double *out, int repeats, double *t_spec, double *cpu_spec,
                    double *t_set, double *cpu_set) {
    double t[64], c[64];
    for (size_t i = 0; i < ns; i++) {
        for (int r = -1; r < repeats; r++) { /* r = -1: warm-up */
            uint64_t t0 = qa_time_ns();
            double c0 = thread_cpu_s();
            if (qa_feat_state_reset(be, st[i]) != QA_OK || qa_feat_compute(be, &specs[i], in, st[i], out, 0) != QA_OK ||
                qa_backend_sync(be) != QA_OK)
                return 0;
            if (r >= 0) {
                t[r] = qa_time_since(t0);
                c[r] = thread_cpu_s() - c0;
            }
        }
        t_spec[i] = qa_bench_median(t, repeats);
        cpu_spec[i] = qa_bench_median(c, repeats);
    }
    for (int r = 0; r < repeats; r++) {
        uint64_t t0 = qa_time_ns();
        double c0 = thread_cpu_s();
        for (size_t i = 0; i < ns; i++) {
            if (qa_feat_state_reset(be, st[i]) != QA_OK || qa_feat_compute(be, &specs[i], in, st[i], out, 0) != QA_OK)
                return 0;
        }
        if (qa_backend_sync(be) != QA_OK) return 0;
        t[r] = qa_time_since(t0);
        c[r] = thread_cpu_s() - c0;
    }
    *t_set = qa_bench_median(t, repeats);
    *cpu_set = qa_bench_median(c, repeats);
    return 1;
}

static void report(const char *backend, size_t S, size_t T, const qa_feat_spec *specs, size_t ns,
                   const double *t_spec, double t_set) {
    char size[48];
    snprintf(size, sizeof size, "%zux%zu", S, T);
    double n = (double)S * (double)T, set_bytes = 0.0;
    for (size_t i = 0; i < ns; i++) {
        char name[64];
        qa_feat_spec_format(&specs[i], name, sizeof name);
        qa_bench_result r = {name, backend, size, t_spec[i], n, "symbol-bars", spec_bytes(&specs[i], S * T), 0.0};
        qa_bench_report(&r);
        set_bytes += r.bytes;
    }
    qa_bench_result r = {"feature_set", backend, size, t_set, n, "symbol-bars", set_bytes, 0.0};
    qa_bench_report(&r);
}

/* Max |x - ref| / (1e-9 + 1e-9|ref|) over the panel; NaN patterns must match. */
static double check_error(const double *x, const double *ref, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]) || isnan(ref[i])) {
            if (isnan(x[i]) != isnan(ref[i])) return INFINITY;
            continue;
        }
        double e = fabs(x[i] - ref[i]) / (1e-9 + 1e-9 * fabs(ref[i]));
        worst = e > worst ? e : worst;
    }
    return worst;
}

/* Each spec on the first min(S, 64) symbols x min(T, 1000) bars: `be` vs the CPU
 * reference. Returns 1 when every output is within the GPU budget of docs/features.md. */
static int check(qa_backend_t *be, const bench_panel *p, double *const *dev_fields, const qa_feat_spec *specs,
                 size_t ns) {
    size_t S = p->S < 64 ? p->S : 64, T = p->T < 1000 ? p->T : 1000, n = S * T;
    qa_backend_t *ref = NULL;
    qa_backend_create(QA_BACKEND_CPU, 0, &ref);
    qa_backend_set_reference(ref, 1);
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    qa_buf dout = {0};
    int ok = 1, cuda = qa_backend_kind_of(be) == QA_BACKEND_CUDA;
    if (cuda && qa_buf_alloc(be, n * sizeof(double), &dout) != QA_OK) ok = 0;
    for (size_t i = 0; i < ns && ok; i++) {
        qa_feat_panel vr = panel_view(p->f, p->T, 0, T, S), vb = panel_view(dev_fields, p->T, 0, T, S);
        qa_feat_state_t *sr = NULL, *sb = NULL;
        ok = qa_feat_state_create(ref, &specs[i], S, &sr) == QA_OK && qa_feat_state_create(be, &specs[i], S, &sb) == QA_OK &&
             qa_feat_compute(ref, &specs[i], &vr, sr, a, 0) == QA_OK &&
             qa_feat_compute(be, &specs[i], &vb, sb, cuda ? (double *)dout.ptr : b, 0) == QA_OK &&
             (!cuda || qa_buf_download(be, b, &dout, 0, n * sizeof(double)) == QA_OK);
        double e = ok ? check_error(b, a, n) : INFINITY;
        if (!(e <= 1.0)) {
            char name[64];
            qa_feat_spec_format(&specs[i], name, sizeof name);
            printf("# check FAILED: %s on %s: error %g of budget (%s)\n", name, qa_backend_name(qa_backend_kind_of(be)),
                   e, qa_err_msg());
            ok = 0;
        }
        qa_feat_state_free(sr);
        qa_feat_state_free(sb);
    }
    qa_buf_free(&dout);
    free(a);
    free(b);
    qa_backend_free(ref);
    return ok;
}

static int bench_size(size_t S, size_t T) {
    qa_feat_spec specs[MAX_SPECS];
    size_t ns = qa_feat_default_set(specs, MAX_SPECS);
    bench_panel p = gen_panel(S, T, 42);
    double *out = malloc(S * T * sizeof *out);
    qa_feat_state_t *st[MAX_SPECS] = {NULL};
    double t_spec[MAX_SPECS], cpu_spec[MAX_SPECS], t_set = 0.0, cpu_set = 0.0;
    qa_backend_t *cpu = NULL;
    qa_backend_create(QA_BACKEND_CPU, 0, &cpu);
    int threads = qa_backend_threads(cpu), ok = check(cpu, &p, p.f, specs, ns);
    printf("# %zu symbols x %zu bars, %zu features; check vs reference: %s\n", S, T, ns, ok ? "ok" : "FAILED");
    qa_feat_panel in = panel_view(p.f, T, 0, T, S);
    for (size_t i = 0; i < ns && ok; i++) ok = qa_feat_state_create(cpu, &specs[i], S, &st[i]) == QA_OK;
    for (int th = 1; ok && th <= threads; th = th == threads ? threads + 1 : threads) {
        qa_backend_set_threads(cpu, th);
        char name[16];
        snprintf(name, sizeof name, "cpu-%dt", th);
        ok = time_set(cpu, specs, ns, st, &in, out, 5, t_spec, cpu_spec, &t_set, &cpu_set);
        if (ok) report(name, S, T, specs, ns, t_spec, t_set);
        if (ok) printf("# %s: whole set %.3g symbol-bars/s (%.3g per thread)\n", name, (double)(S * T) / t_set,
                       (double)(S * T) / t_set / th);
        if (ok && th == 1) { /* the calling thread did all the work */
            printf("# cpu-1t: thread CPU time %.1f ns per symbol-bar for the set = %.3g symbol-bars/s per busy core\n",
                   cpu_set / (double)(S * T) * 1e9, (double)(S * T) / cpu_set);
            printf("# cpu-1t: thread CPU ns per symbol-bar:");
            for (size_t i = 0; i < ns; i++) {
                char fname[64];
                qa_feat_spec_format(&specs[i], fname, sizeof fname);
                printf(" %s %.2f", fname, cpu_spec[i] / (double)(S * T) * 1e9);
            }
            printf("\n");
        }
    }
    for (size_t i = 0; i < ns; i++) qa_feat_state_free(st[i]);
    qa_backend_free(cpu);

    int gpus = 0;
    qa_cuda_device_count(&gpus);
    if (ok && gpus > 0) {
        qa_backend_t *gpu = NULL;
        qa_buf dfield[QA_FEAT_BAR_FIELDS] = {{0}}, dout = {0};
        double *dptr[QA_FEAT_BAR_FIELDS];
        ok = qa_backend_create(QA_BACKEND_CUDA, 0, &gpu) == QA_OK;
        for (int f = 0; f < QA_FEAT_BAR_FIELDS && ok; f++) {
            ok = qa_buf_alloc(gpu, S * T * sizeof(double), &dfield[f]) == QA_OK &&
                 qa_buf_upload(gpu, &dfield[f], 0, p.f[f], S * T * sizeof(double)) == QA_OK;
            dptr[f] = (double *)dfield[f].ptr;
        }
        ok = ok && qa_buf_alloc(gpu, S * T * sizeof(double), &dout) == QA_OK;
        ok = ok && check(gpu, &p, dptr, specs, ns);
        for (size_t i = 0; i < ns && ok; i++) ok = qa_feat_state_create(gpu, &specs[i], S, &st[i]) == QA_OK;
        qa_feat_panel din = panel_view(dptr, T, 0, T, S);
        if (ok) ok = time_set(gpu, specs, ns, st, &din, (double *)dout.ptr, 20, t_spec, cpu_spec, &t_set, &cpu_set);
        if (ok) {
            char desc[160];
            qa_cuda_device_describe(0, desc, sizeof desc);
            report("cuda", S, T, specs, ns, t_spec, t_set);
            double bytes = 0.0, peak = 0.0;
            for (size_t i = 0; i < ns; i++) bytes += spec_bytes(&specs[i], S * T);
#ifdef QA_HAVE_CUDA
            int clock_khz = 0, bus_bits = 0;
            cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, 0);
            cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0);
            peak = 2.0 * clock_khz * 1e3 * bus_bits / 8.0; /* double data rate */
#endif
            printf("# cuda (%s): whole set %.3g symbol-bars/s, %.1f GB/s of %.0f GB/s peak (%.0f%%)\n", desc,
                   (double)(S * T) / t_set, bytes / t_set * 1e-9, peak * 1e-9, peak > 0 ? 100.0 * bytes / t_set / peak : 0.0);
        }
        if (!ok) printf("# cuda: FAILED: %s\n", qa_err_msg());
        for (size_t i = 0; i < ns; i++) qa_feat_state_free(st[i]);
        for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) qa_buf_free(&dfield[f]);
        qa_buf_free(&dout);
        qa_backend_free(gpu);
    } else if (ok) {
        printf("# cuda: skipped (no GPU)\n");
    }
    for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) free(p.f[f]);
    free(out);
    return ok;
}

int main(int argc, char **argv) {
    qa_bench_header("Feature kernels (default feature set)");
    int ok = 1;
    if (argc > 2) {
        ok = bench_size(strtoull(argv[1], NULL, 10), strtoull(argv[2], NULL, 10));
    } else {
        ok = bench_size(500, 5040) && bench_size(2000, 5040);
    }
    return ok ? 0 : 1;
}
