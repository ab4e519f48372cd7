/* Slurm client costs through libslurm, against the cluster in $SLURM_CONF (for example
 * the test cluster: tests/jobs/slurm_cluster.sh start /tmp/qa-slurm):
 *   submit   one slurm_submit_batch_job RPC (a trivial script), median of 20
 *   load     one slurm_load_job RPC of a finished job, median of 50
 *   array    submit a 16-task array of trivial tasks and wait (polling every 0.05 s)
 *            until every task is COMPLETED: tasks/s end to end, dominated by the
 *            scheduler and job launch, not by the client
 * Model: items are RPCs (or tasks); no bytes or flops. Skips (exit 0) without a cluster. */
#include "bench.h"
#include "jobs/slurm.h"       /* qa_slurm_submit, qa_slurm_job_load, qa_slurm_job_wait */
#include "jobs/slurm_spec.h"  /* qa_slurm_spec */

static const char *const script = "#!/bin/sh\ntrue\n";

static int submit(qa_slurm_spec *spec, uint32_t *id) {
    if (qa_slurm_submit(spec, "bench.sbatch", script, 0, NULL, id) != QA_OK) {
        fprintf(stderr, "bench_slurm: submit: %s\n", qa_err_msg());
        return -1;
    }
    return 0;
}

static int wait_ok(uint32_t id, double poll_s) {
    char text[32];
    snprintf(text, sizeof text, "%u", id);
    qa_slurm_job job = {NULL, 0};
    int ok = qa_slurm_job_wait(text, 120.0, poll_s, &job) == QA_OK && qa_slurm_job_succeeded(&job);
    if (!ok) fprintf(stderr, "bench_slurm: job %u did not complete: %s\n", id, qa_err_msg());
    qa_slurm_job_free(&job);
    return ok ? 0 : -1;
}

int main(void) {
    char conf[4096];
    if (!qa_slurm_compiled() || qa_slurm_conf_path(conf, sizeof conf) != QA_OK) {
        printf("bench_slurm: skipped (%s)\n", qa_slurm_compiled() ? qa_err_msg() : "built without libslurm");
        return 0;
    }
    qa_bench_header("Slurm client (libslurm)");
    int rc = 1;
    qa_slurm_spec spec;
    qa_slurm_spec_init(&spec);
    if (qa_slurm_spec_set(&spec, "output", "/dev/null") != QA_OK) goto done;

    /* Warm-up and correctness: one job runs and completes. */
    uint32_t id = 0, prev = 0;
    if (submit(&spec, &id) || wait_ok(id, 0.05)) goto done;

    enum { N_SUBMIT = 20, N_LOAD = 50, N_TASKS = 16 };
    double t[N_LOAD];
    for (int i = 0; i < N_SUBMIT; i++) {
        prev = id;
        uint64_t t0 = qa_time_ns();
        if (submit(&spec, &id)) goto done;
        t[i] = qa_time_since(t0);
        if (id <= prev) {
            fprintf(stderr, "bench_slurm: job ids not increasing (%u after %u)\n", id, prev);
            goto done;
        }
    }
    qa_bench_result r = {"slurm_submit", "rpc", "trivial script", qa_bench_median(t, N_SUBMIT), 1.0, "submits", 0, 0};
    qa_bench_report(&r);
    if (wait_ok(id, 0.05)) goto done; /* the last one; the others are done by then too */

    char text[32];
    snprintf(text, sizeof text, "%u", id);
    for (int i = 0; i < N_LOAD; i++) {
        qa_slurm_job job = {NULL, 0};
        uint64_t t0 = qa_time_ns();
        qa_status st = qa_slurm_job_load(text, &job);
        t[i] = qa_time_since(t0);
        int done_ok = st == QA_OK && qa_slurm_job_succeeded(&job);
        qa_slurm_job_free(&job);
        if (!done_ok) {
            fprintf(stderr, "bench_slurm: load %s: %s\n", text, qa_err_msg());
            goto done;
        }
    }
    qa_bench_result l = {"slurm_load_job", "rpc", "1 finished job", qa_bench_median(t, N_LOAD), 1.0, "loads", 0, 0};
    qa_bench_report(&l);

    if (qa_slurm_spec_set(&spec, "array", "0-15") != QA_OK) goto done;
    uint64_t t0 = qa_time_ns();
    if (submit(&spec, &id) || wait_ok(id, 0.05)) goto done;
    qa_bench_result a = {"slurm_array_e2e", "cluster", "16 trivial tasks", qa_time_since(t0), N_TASKS, "tasks", 0, 0};
    qa_bench_report(&a);
    rc = 0;
done:
    qa_slurm_spec_free(&spec);
    qa_slurm_fini();
    return rc;
}
