/* Market-store I/O: write (generate) and read bandwidth of panels, by symbol blocks and
 * by time blocks, against a plain sequential read of the same file (the ceiling, like
 * `cat file > /dev/null`), uncompressed and deflate-compressed. Runs under mpirun: every
 * rank reads its shard collectively and the aggregate bandwidth is reported.
 *
 * usage: bench_store [symbols] [bars] [dir]     (default 512 x 20000 in /tmp) */
#include <fcntl.h>
#include <unistd.h>

#include "bench.h"
#include "datasets/store.h"
#include "datasets/synth.h"
#include "mpi/comm.h"
#include "mpi/shard.h"

static double cat_seconds(const char *path, double *bytes) {
    static char buf[8 << 20];
    uint64_t t0 = qa_time_ns();
    int fd = open(path, O_RDONLY);
    double n = 0;
    ssize_t got;
    while (fd >= 0 && (got = read(fd, buf, sizeof buf)) > 0) n += (double)got;
    if (fd >= 0) close(fd);
    *bytes = n;
    return qa_time_since(t0);
}

/* Reads all five panels; mode 0 = blocks of 64 symbols x all times (this rank's
 * symbol shard), mode 1 = all symbols x blocks of 2048 times (this rank's time shard). */
static double read_all(qa_store_t *st, const qa_comm_t *comm, int mode, double *buf) {
    size_t S = qa_store_nsym(st), T = qa_store_ntime(st);
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    qa_comm_barrier(comm);
    uint64_t t0 = qa_time_ns();
    if (mode == 0) {
        qa_shard sh = qa_shard_block((S + 63) / 64, size, rank);
        size_t rounds = ((S + 63) / 64 + (size_t)size - 1) / (size_t)size;
        for (size_t r = 0; r < rounds; r++) {
            size_t g = sh.begin + r, s0 = g * 64, ns = g < sh.end ? (S - s0 < 64 ? S - s0 : 64) : 0;
            for (int f = 0; f < 5; f++) qa_store_read(st, qa_bar_field_path((qa_bar_field)f), ns ? s0 : 0, ns, 0, ns ? T : 0, buf);
        }
    } else {
        qa_shard sh = qa_shard_block((T + 2047) / 2048, size, rank);
        size_t rounds = ((T + 2047) / 2048 + (size_t)size - 1) / (size_t)size;
        for (size_t r = 0; r < rounds; r++) {
            size_t b = sh.begin + r, t0b = b * 2048, nt = b < sh.end ? (T - t0b < 2048 ? T - t0b : 2048) : 0;
            for (int f = 0; f < 5; f++) qa_store_read(st, qa_bar_field_path((qa_bar_field)f), 0, nt ? S : 0, nt ? t0b : 0, nt, buf);
        }
    }
    qa_comm_barrier(comm);
    return qa_time_since(t0);
}

int main(int argc, char **argv) {
    qa_comm_t *comm = NULL;
    if (qa_comm_create(&argc, &argv, &comm) != QA_OK) return 1;
    long long S = argc > 1 ? atoll(argv[1]) : 512, T = argc > 2 ? atoll(argv[2]) : 20000;
    const char *dir = argc > 3 ? argv[3] : "/tmp";
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    if (rank == 0) qa_bench_header("market store I/O");
    char size_s[64], backend[32];
    snprintf(size_s, sizeof size_s, "%lldx%lld", S, T);
    snprintf(backend, sizeof backend, "mpi-%d", size);
    double *buf = malloc((size_t)(64 * T > S * 2048 ? 64 * T : S * 2048) * sizeof *buf);
    for (int level = 0; level <= 4; level += 4) {
        char path[512];
        snprintf(path, sizeof path, "%s/qa_bench_store_%d.h5", dir, level);
        qa_synth_cfg cfg;
        qa_synth_cfg_default(&cfg);
        cfg.output = path;
        cfg.symbols = S;
        cfg.bars = T;
        cfg.deflate = level;
        double secs = 0;
        if (qa_synth_run(&cfg, comm, &secs) != QA_OK) {
            if (rank == 0) printf("generate failed: %s\n", qa_err_msg());
            return 1;
        }
        double raw = 5.0 * (double)S * (double)T * 8.0; /* bytes of the panels in memory */
        char name[48];
        snprintf(name, sizeof name, "generate+write z%d", level);
        if (rank == 0) {
            qa_bench_result r = {name, backend, size_s, secs, (double)S * (double)T, "bars", raw, 0};
            qa_bench_report(&r);
        }
        double file_bytes = 0, tc[3];
        for (int k = 0; k < 3; k++) tc[k] = cat_seconds(path, &file_bytes);
        double tcat = qa_bench_median(tc, 3);
        if (rank == 0) {
            snprintf(name, sizeof name, "cat (ceiling) z%d", level);
            qa_bench_result r = {name, "1 proc", size_s, tcat, file_bytes, "bytes", file_bytes, 0};
            qa_bench_report(&r);
        }
        qa_store_t *st = NULL;
        if (qa_store_open(path, comm, QA_STORE_READ, &st) != QA_OK) return 1;
        for (int mode = 0; mode < 2; mode++) {
            double t[3];
            for (int k = 0; k < 3; k++) t[k] = read_all(st, comm, mode, buf);
            double med = qa_bench_median(t, 3);
            snprintf(name, sizeof name, "read %s z%d", mode ? "time-blocks" : "symbol-blocks", level);
            if (rank == 0) {
                qa_bench_result r = {name, backend, size_s, med, (double)S * (double)T * 5, "values", raw, 0};
                qa_bench_report(&r);
                printf("# %s: %.1f%% of the cat ceiling (file %.1f MB for %.1f MB of doubles)\n", name,
                       100.0 * (raw / med) / (file_bytes / tcat), file_bytes / 1e6, raw / 1e6);
            }
        }
        qa_store_close(st);
        if (rank == 0) remove(path);
    }
    free(buf);
    qa_comm_free(comm);
    return 0;
}
