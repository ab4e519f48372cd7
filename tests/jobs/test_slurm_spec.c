/* Job options without a cluster: time/memory/signal/job-id parsers against hand-computed
 * values, #SBATCH directive reading (sbatch's rules, file:line errors), the shipped
 * templates' headers, state helpers, template lookup, and the configuration check that
 * keeps libslurm from exiting the process. */
#include <signal.h>  /* SIGUSR1, SIGTERM */
#include <stdlib.h>  /* setenv, unsetenv */
#include <string.h>  /* strstr */

#include "common/fs.h"        /* qa_fs_read_all */
#include "harness.h"          /* QA_CHECK*, QA_RUN */
#include "jobs/slurm.h"       /* states, conf check, find_template */
#include "jobs/slurm_spec.h"  /* qa_slurm_spec, parsers */

static long time_of(const char *text) {
    long m = -2;
    if (qa_slurm_parse_time(text, &m) != QA_OK) return -3;
    return m;
}

static void test_time(void) {
    /* Hand-computed minutes; seconds round up to a minute, 0 means no limit (Slurm's rules). */
    QA_CHECK_INT(time_of("90"), 90);
    QA_CHECK_INT(time_of("5:00"), 5);          /* MM:SS */
    QA_CHECK_INT(time_of("5:01"), 6);          /* rounds up */
    QA_CHECK_INT(time_of("0:30"), 1);
    QA_CHECK_INT(time_of("1:30:00"), 90);      /* HH:MM:SS */
    QA_CHECK_INT(time_of("24:00:00"), 1440);
    QA_CHECK_INT(time_of("2-0"), 2880);        /* D-HH */
    QA_CHECK_INT(time_of("1-12"), 2160);
    QA_CHECK_INT(time_of("1-02:30"), 1590);    /* D-HH:MM = 1440 + 120 + 30 */
    QA_CHECK_INT(time_of("1-00:00:01"), 1441); /* D-HH:MM:SS */
    QA_CHECK_INT(time_of("0"), QA_SLURM_TIME_INFINITE);
    QA_CHECK_INT(time_of("infinite"), QA_SLURM_TIME_INFINITE);
    QA_CHECK_INT(time_of("UNLIMITED"), QA_SLURM_TIME_INFINITE);
    const char *bad[] = {"", "x", "-5", "5:", "1:60", "1:60:00", "1-24", "1:2:3:4", "5m", "1--2", "1-2-3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) QA_CHECK_MSG(time_of(bad[i]) == -3, "time '%s' accepted", bad[i]);
    long m;
    QA_CHECK_ERR(qa_slurm_parse_time("2h", &m), QA_ERR_INVALID_ARG, "bad time limit '2h'");
}

static void test_mem(void) {
    long long mb = 0;
    QA_CHECK_OK(qa_slurm_parse_mem("4000", &mb));
    QA_CHECK_INT(mb, 4000);
    QA_CHECK_OK(qa_slurm_parse_mem("16G", &mb));
    QA_CHECK_INT(mb, 16384);
    QA_CHECK_OK(qa_slurm_parse_mem("2T", &mb));
    QA_CHECK_INT(mb, 2097152);
    QA_CHECK_OK(qa_slurm_parse_mem("1536K", &mb));
    QA_CHECK_INT(mb, 2); /* 1.5 MiB rounds up */
    QA_CHECK_OK(qa_slurm_parse_mem("512MB", &mb));
    QA_CHECK_INT(mb, 512);
    QA_CHECK_OK(qa_slurm_parse_mem("0", &mb)); /* Slurm: all the node's memory */
    QA_CHECK_INT(mb, 0);
    QA_CHECK_ERR(qa_slurm_parse_mem("4X", &mb), QA_ERR_INVALID_ARG, "bad memory size '4X'");
    QA_CHECK_ERR(qa_slurm_parse_mem("G", &mb), QA_ERR_INVALID_ARG, "bad memory size");
    QA_CHECK_ERR(qa_slurm_parse_mem("4GiB", &mb), QA_ERR_INVALID_ARG, "bad memory size");
}

static void test_signal(void) {
    int s = 0, secs = 0, b = 0, r = 0;
    QA_CHECK_OK(qa_slurm_parse_signal("B:USR1@120", &s, &secs, &b, &r));
    QA_CHECK_INT(s, SIGUSR1);
    QA_CHECK_INT(secs, 120);
    QA_CHECK_INT(b, 1);
    QA_CHECK_INT(r, 0);
    QA_CHECK_OK(qa_slurm_parse_signal("SIGTERM", &s, &secs, &b, &r));
    QA_CHECK_INT(s, SIGTERM);
    QA_CHECK_INT(secs, 60); /* sbatch's default lead time */
    QA_CHECK_INT(b, 0);
    QA_CHECK_OK(qa_slurm_parse_signal("R:10@30", &s, &secs, &b, &r));
    QA_CHECK_INT(s, 10);
    QA_CHECK_INT(secs, 30);
    QA_CHECK_INT(r, 1);
    QA_CHECK_OK(qa_slurm_parse_signal_name("kill", &s));
    QA_CHECK_INT(s, SIGKILL);
    QA_CHECK_ERR(qa_slurm_parse_signal("X:USR1", &s, &secs, &b, &r), QA_ERR_INVALID_ARG, "prefix");
    QA_CHECK_ERR(qa_slurm_parse_signal("USR9", &s, &secs, &b, &r), QA_ERR_INVALID_ARG, "unknown signal 'USR9'");
    QA_CHECK_ERR(qa_slurm_parse_signal("USR1@", &s, &secs, &b, &r), QA_ERR_INVALID_ARG, "seconds");
    QA_CHECK_ERR(qa_slurm_parse_signal_name("0", &s), QA_ERR_INVALID_ARG, "bad signal number");
}

static void test_job_id(void) {
    uint32_t j = 0, t = 0;
    QA_CHECK_OK(qa_slurm_parse_job_id("123", &j, &t));
    QA_CHECK_INT(j, 123);
    QA_CHECK(t == QA_SLURM_NO_TASK);
    QA_CHECK_OK(qa_slurm_parse_job_id("123_0", &j, &t));
    QA_CHECK_INT(j, 123);
    QA_CHECK_INT(t, 0);
    const char *bad[] = {"", "0", "12a", "_3", "123_", "123_x", "-1", "99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        QA_CHECK_MSG(qa_slurm_parse_job_id(bad[i], &j, &t) == QA_ERR_INVALID_ARG, "job id '%s' accepted", bad[i]);
}

static void test_set(void) {
    qa_slurm_spec s;
    qa_slurm_spec_init(&s);
    QA_CHECK_INT(s.nodes, QA_SLURM_UNSET);
    QA_CHECK_INT(s.requeue, QA_SLURM_UNSET);
    QA_CHECK_OK(qa_slurm_spec_set(&s, "partition", "gpu"));
    QA_CHECK_OK(qa_slurm_spec_set(&s, "partition", "h100")); /* later wins */
    QA_CHECK_STR(s.partition, "h100");
    QA_CHECK_OK(qa_slurm_spec_set(&s, "gpus_per_node", "0")); /* '_' for '-'; 0 allowed */
    QA_CHECK_INT(s.gpus_per_node, 0);
    QA_CHECK_ERR(qa_slurm_spec_set(&s, "nodes", "0"), QA_ERR_INVALID_ARG, "bad --nodes '0'");
    QA_CHECK_ERR(qa_slurm_spec_set(&s, "nodes", "2-4"), QA_ERR_INVALID_ARG, "bad --nodes");
    QA_CHECK_ERR(qa_slurm_spec_set(&s, "exclusive", NULL), QA_ERR_INVALID_ARG, "unsupported option '--exclusive'");
    QA_CHECK_ERR(qa_slurm_spec_set(&s, "requeue", "yes"), QA_ERR_INVALID_ARG, "takes no value");
    QA_CHECK_ERR(qa_slurm_spec_set(&s, "time", NULL), QA_ERR_INVALID_ARG, "needs a value");
    QA_CHECK_ERR(qa_slurm_spec_set(&s, "array", "0-3;rm"), QA_ERR_INVALID_ARG, "bad --array");
    QA_CHECK_OK(qa_slurm_spec_set(&s, "array", "0-63%8"));
    QA_CHECK_OK(qa_slurm_spec_set(&s, "no-requeue", NULL));
    QA_CHECK_INT(s.requeue, 0);
    QA_CHECK_OK(qa_slurm_spec_set(&s, "open-mode", "truncate"));
    QA_CHECK_INT(s.open_mode, QA_SLURM_OPEN_TRUNCATE);
    QA_CHECK_ERR(qa_slurm_spec_set(&s, "open-mode", "overwrite"), QA_ERR_INVALID_ARG, "append or truncate");
    QA_CHECK_OK(qa_slurm_spec_add_env(&s, "QA_SEED=7"));
    QA_CHECK_OK(qa_slurm_spec_add_env(&s, "EMPTY="));
    QA_CHECK_ERR(qa_slurm_spec_add_env(&s, "1BAD=x"), QA_ERR_INVALID_ARG, "KEY=VALUE");
    QA_CHECK_ERR(qa_slurm_spec_add_env(&s, "NOVALUE"), QA_ERR_INVALID_ARG, "KEY=VALUE");
    QA_CHECK_INT(s.n_env, 2);
    QA_CHECK_STR(s.env[0], "QA_SEED=7");
    qa_slurm_spec_free(&s);
    QA_CHECK(s.partition == NULL && s.n_env == 0 && s.env == NULL);
    qa_slurm_spec_free(NULL);
}

static void test_script(void) {
    const char *script =
        "#!/bin/bash\n"
        "# a comment before the directives\n"
        "\n"
        "#SBATCH --job-name=my-job -p gpu\n"
        "#SBATCH -N 2 --ntasks-per-node 4\t--gpus-per-node=4\n"
        "#SBATCH --time 1-00:00:00 # a trailing comment is ignored\n"
        "#SBATCH -o \"out dir/%j.log\" -e='err.log'\n"
        "#SBATCH --signal=B:USR1@120 --requeue --open-mode=append\n"
        "#SBATCH -a0-3 -c8 --mem=16G\n"
        "#SBATCH --dependency afterok:42\n"
        "  #SBATCH --partition=ignored-indented\n"
        "#SBATCHX --partition=ignored-not-a-directive\n"
        "echo first command\n"
        "#SBATCH --partition=ignored-after-first-command\n";
    qa_slurm_spec s;
    qa_slurm_spec_init(&s);
    QA_CHECK_OK(qa_slurm_spec_parse_script(&s, "job.sbatch", script));
    QA_CHECK_STR(s.job_name, "my-job");
    QA_CHECK_STR(s.partition, "gpu");
    QA_CHECK_INT(s.nodes, 2);
    QA_CHECK_INT(s.ntasks_per_node, 4);
    QA_CHECK_INT(s.gpus_per_node, 4);
    QA_CHECK_INT(s.time_minutes, 1440);
    QA_CHECK_STR(s.output, "out dir/%j.log");
    QA_CHECK_STR(s.error, "err.log");
    QA_CHECK_INT(s.signal_num, SIGUSR1);
    QA_CHECK_INT(s.signal_seconds, 120);
    QA_CHECK_INT(s.signal_batch_only, 1);
    QA_CHECK_INT(s.requeue, 1);
    QA_CHECK_INT(s.open_mode, QA_SLURM_OPEN_APPEND);
    QA_CHECK_STR(s.array, "0-3");
    QA_CHECK_INT(s.cpus_per_task, 8);
    QA_CHECK_INT(s.mem_mb, 16384);
    QA_CHECK_STR(s.dependency, "afterok:42");
    QA_CHECK_INT(s.ntasks, QA_SLURM_UNSET);
    QA_CHECK(s.account == NULL);
    /* The command line applied after the script overrides it. */
    QA_CHECK_OK(qa_slurm_spec_set(&s, "partition", "debug"));
    QA_CHECK_STR(s.partition, "debug");
    qa_slurm_spec_free(&s);

    qa_slurm_spec_init(&s);
    QA_CHECK_ERR(qa_slurm_spec_parse_script(&s, "t.sbatch", "#!/bin/sh\n#SBATCH --time=5\n#SBATCH --exclusive\n"),
                 QA_ERR_INVALID_ARG, "t.sbatch:3: unsupported #SBATCH option '--exclusive'");
    QA_CHECK_ERR(qa_slurm_spec_parse_script(&s, "t.sbatch", "#!/bin/sh\n\n#SBATCH --nodes=x\n"),
                 QA_ERR_INVALID_ARG, "t.sbatch:3: bad --nodes 'x'");
    QA_CHECK_ERR(qa_slurm_spec_parse_script(&s, "t.sbatch", "#SBATCH -J\n"), QA_ERR_INVALID_ARG,
                 "t.sbatch:1: option -J needs a value");
    QA_CHECK_ERR(qa_slurm_spec_parse_script(&s, "t.sbatch", "#SBATCH -o 'unterminated\n"), QA_ERR_FORMAT,
                 "t.sbatch:1: unterminated ' quote");
    QA_CHECK_ERR(qa_slurm_spec_parse_script(&s, "t.sbatch", "#SBATCH stray\n"), QA_ERR_INVALID_ARG,
                 "unexpected word 'stray'");
    /* CRLF line ends and a last line without newline. */
    QA_CHECK_OK(qa_slurm_spec_parse_script(&s, "t.sbatch", "#!/bin/sh\r\n#SBATCH --time=7\r\n#SBATCH -n 3"));
    QA_CHECK_INT(s.time_minutes, 7);
    QA_CHECK_INT(s.ntasks, 3);
    QA_CHECK_OK(qa_slurm_spec_parse_script(&s, "empty", ""));
    qa_slurm_spec_free(&s);
}

/* The shipped templates: their headers parse, with the values written in them. */
static void test_templates(void) {
    const char *src = getenv("QA_SOURCE_DIR");
    if (!src) src = ".";
    struct {
        const char *name;
        long nodes, gpus, ntasks_per_node, time;
        int requeue, signal;
    } want[] = {
        {"train", 1, 4, 4, 1440, 1, SIGUSR1},
        {"sweep", 1, 4, 4, 240, 1, 0},
        {"merge", 1, QA_SLURM_UNSET, QA_SLURM_UNSET, 60, 1, 0},
        {"stress", 1, QA_SLURM_UNSET, QA_SLURM_UNSET, 120, QA_SLURM_UNSET, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char path[4096], *text = NULL;
        size_t len;
        snprintf(path, sizeof path, "%s/jobs/slurm/%s.sbatch", src, want[i].name);
        qa_slurm_spec s;
        qa_slurm_spec_init(&s);
        QA_CHECK_OK(qa_fs_read_all(path, &text, &len));
        if (text) {
            QA_CHECK_OK(qa_slurm_spec_parse_script(&s, path, text));
            QA_CHECK_MSG(s.nodes == want[i].nodes, "%s nodes %ld", want[i].name, s.nodes);
            QA_CHECK_MSG(s.gpus_per_node == want[i].gpus, "%s gpus %ld", want[i].name, s.gpus_per_node);
            QA_CHECK_MSG(s.ntasks_per_node == want[i].ntasks_per_node, "%s ntasks-per-node", want[i].name);
            QA_CHECK_MSG(s.time_minutes == want[i].time, "%s time %ld", want[i].name, s.time_minutes);
            QA_CHECK_MSG(s.requeue == want[i].requeue, "%s requeue %d", want[i].name, s.requeue);
            QA_CHECK_MSG(s.signal_num == want[i].signal, "%s signal %d", want[i].name, s.signal_num);
            QA_CHECK_MSG(s.output != NULL, "%s has an --output", want[i].name);
        }
        if (!strcmp(want[i].name, "train")) {
            QA_CHECK_INT(s.signal_seconds, 120);
            QA_CHECK_INT(s.signal_batch_only, 1);
            QA_CHECK_INT(s.open_mode, QA_SLURM_OPEN_APPEND);
        }
        if (!strcmp(want[i].name, "sweep")) QA_CHECK_STR(s.array, "0-15");
        free(text);
        qa_slurm_spec_free(&s);
    }
}

static qa_slurm_record rec(qa_slurm_state st, unsigned flags, int exit_code) {
    qa_slurm_record r;
    memset(&r, 0, sizeof r);
    r.job_id = 7;
    r.array_task_id = QA_SLURM_NO_TASK;
    r.state = st;
    r.flags = flags;
    r.exit_code = exit_code;
    return r;
}

static void test_states(void) {
    QA_CHECK_STR(qa_slurm_state_name(QA_SLURM_COMPLETED), "COMPLETED");
    QA_CHECK_STR(qa_slurm_state_name(QA_SLURM_OUT_OF_MEMORY), "OUT_OF_MEMORY");
    QA_CHECK_STR(qa_slurm_state_name(QA_SLURM_STATE_COUNT), "UNKNOWN");
    qa_slurm_record r = rec(QA_SLURM_RUNNING, 0, -1);
    QA_CHECK(!qa_slurm_record_final(&r));
    r = rec(QA_SLURM_COMPLETED, QA_SLURM_F_COMPLETING, 0);
    QA_CHECK(!qa_slurm_record_final(&r)); /* epilog still running */
    r = rec(QA_SLURM_CANCELLED, QA_SLURM_F_REQUEUED, -1);
    QA_CHECK(!qa_slurm_record_final(&r)); /* goes back to PENDING */
    r = rec(QA_SLURM_TIMEOUT, 0, 0);
    QA_CHECK(qa_slurm_record_final(&r));

    qa_slurm_record three[3] = {rec(QA_SLURM_COMPLETED, 0, 0), rec(QA_SLURM_COMPLETED, 0, 0), rec(QA_SLURM_PENDING, 0, -1)};
    qa_slurm_job job = {three, 3};
    QA_CHECK(!qa_slurm_job_done(&job));
    QA_CHECK(!qa_slurm_job_succeeded(&job));
    three[2] = rec(QA_SLURM_COMPLETED, 0, 0);
    QA_CHECK(qa_slurm_job_done(&job));
    QA_CHECK(qa_slurm_job_succeeded(&job));
    three[1] = rec(QA_SLURM_FAILED, 0, 3);
    QA_CHECK(qa_slurm_job_done(&job));
    QA_CHECK(!qa_slurm_job_succeeded(&job));
    qa_slurm_job empty = {NULL, 0};
    QA_CHECK(!qa_slurm_job_done(&empty));

    char id[64];
    r = rec(QA_SLURM_PENDING, 0, -1);
    qa_slurm_record_id(&r, id, sizeof id);
    QA_CHECK_STR(id, "7");
    r.array_job_id = 5;
    r.array_task_id = 3;
    qa_slurm_record_id(&r, id, sizeof id);
    QA_CHECK_STR(id, "5_3");
    r.array_task_id = QA_SLURM_NO_TASK;
    snprintf(r.pending_tasks, sizeof r.pending_tasks, "4-7");
    qa_slurm_record_id(&r, id, sizeof id);
    QA_CHECK_STR(id, "5_[4-7]");
}

static void test_find_template(void) {
    char path[4096];
    QA_CHECK_OK(qa_slurm_find_template("train", path, sizeof path));
    QA_CHECK(strstr(path, "/jobs/slurm/train.sbatch") != NULL);
    QA_CHECK_OK(qa_slurm_find_template("sweep.sbatch", path, sizeof path));
    QA_CHECK(strstr(path, "/jobs/slurm/sweep.sbatch") != NULL);
    QA_CHECK_ERR(qa_slurm_find_template("no-such-template", path, sizeof path), QA_ERR_NOT_FOUND,
                 "template 'no-such-template' not found");
    QA_CHECK_ERR(qa_slurm_find_template("/no/such/file.sbatch", path, sizeof path), QA_ERR_NOT_FOUND,
                 "/no/such/file.sbatch");
}

/* Without a configuration every call fails cleanly, before libslurm could exit(1). */
static void test_no_controller(void) {
    const char *saved = getenv("SLURM_CONF");
    char *copy = saved ? strdup(saved) : NULL;
    setenv("SLURM_CONF", "/nonexistent/qa-test/slurm.conf", 1);
    char path[256];
    QA_CHECK_ERR(qa_slurm_conf_path(path, sizeof path), QA_ERR_CONFIG,
                 "no Slurm controller configured (SLURM_CONF=/nonexistent/qa-test/slurm.conf");
    qa_slurm_job job = {NULL, 0};
    qa_status want = qa_slurm_compiled() ? QA_ERR_CONFIG : QA_ERR_UNSUPPORTED;
    QA_CHECK_INT(qa_slurm_job_load("1", &job), want);
    QA_CHECK(job.rec == NULL);
    QA_CHECK_INT(qa_slurm_cancel("1"), want);
    QA_CHECK_INT(qa_slurm_signal("1", SIGUSR1, 1), want);
    qa_slurm_spec s;
    qa_slurm_spec_init(&s);
    uint32_t id = 0;
    QA_CHECK_INT(qa_slurm_submit(&s, "x.sbatch", "#!/bin/sh\ntrue\n", 0, NULL, &id), want);
    QA_CHECK_INT(id, 0);
    if (qa_slurm_compiled())
        QA_CHECK_ERR(qa_slurm_submit(&s, "x.sbatch", "echo no shebang\n", 0, NULL, &id), QA_ERR_FORMAT, "must start with '#!'");
    /* Bad ids are rejected before any Slurm call. */
    if (qa_slurm_compiled()) QA_CHECK_INT(qa_slurm_job_load("abc", &job), QA_ERR_INVALID_ARG);
    qa_slurm_fini();
    if (copy) setenv("SLURM_CONF", copy, 1);
    else unsetenv("SLURM_CONF");
    free(copy);
}

int main(void) {
    QA_RUN(test_time);
    QA_RUN(test_mem);
    QA_RUN(test_signal);
    QA_RUN(test_job_id);
    QA_RUN(test_set);
    QA_RUN(test_script);
    QA_RUN(test_templates);
    QA_RUN(test_states);
    QA_RUN(test_find_template);
    QA_RUN(test_no_controller);
    return qa_test_finish();
}
