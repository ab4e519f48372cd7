/* Run directory lifecycle: create, lock, log, manifest, close. */
#include "pipeline/run/rundir.h"

#include <errno.h>     /* EWOULDBLOCK */
#include <fcntl.h>     /* open: the lock file */
#include <stdio.h>     /* snprintf */
#include <string.h>    /* memset */
#include <sys/file.h>  /* flock */
#include <sys/time.h>  /* gettimeofday */
#include <unistd.h>    /* gethostname, getpid, pwrite */

#include "build_info.h"  /* version and git hash */
#include "common/fs.h"   /* mkdirs */
#include "common/hash.h" /* the run id */
#include "common/json.h" /* atomic JSON files */
#include "common/log.h"  /* the run log */
#include "common/timer.h" /* qa_time_ns */

static double now_s(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

/* <run>/.lock, locked without waiting; our pid in it, so the refusal can say who holds it. */
static qa_status take_lock(qa_rundir *rd) {
    char p[QA_PATH_MAX];
    QA_TRY_RET(qa_path_join(p, rd->path, ".lock"));
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return QA_FAIL(QA_ERR_IO, "%s: cannot open the run directory's lock: %s", p, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char holder[32] = "";
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK)
            return QA_FAIL(QA_ERR_STATE, "run directory %s is in use by another run (pid %s holds %s): wait for it "
                           "or choose another --run-dir", rd->path, holder[0] ? holder : "?", p);
        return QA_FAIL(QA_ERR_IO, "%s: flock: %s", p, strerror(e));
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        int e = errno;
        close(fd);
        return QA_FAIL(QA_ERR_IO, "%s: cannot record our pid: %s", p, strerror(e));
    }
    rd->lock_fd = fd;
    return QA_OK;
}

static void release_lock(qa_rundir *rd) {
    if (rd->lock_fd >= 0) close(rd->lock_fd); /* closing the descriptor releases the flock */
    rd->lock_fd = -1;
}

qa_status qa_rundir_open(qa_rundir *rd, const char *path, const qa_comm_t *comm, const char *command, int argc,
                         char **argv) {
    memset(rd, 0, sizeof *rd);
    if (!path || !*path) return QA_FAIL(QA_ERR_CONFIG, "no run directory given");
    if (strlen(path) >= sizeof rd->path) return QA_FAIL(QA_ERR_INVALID_ARG, "run directory path too long");
    snprintf(rd->path, sizeof rd->path, "%s", path);
    rd->comm = comm;
    rd->root = qa_comm_rank(comm) == 0;
    rd->start_time = now_s();
    rd->lock_fd = -1;
    qa_status st = QA_OK;
    if (rd->root) {
        st = qa_fs_mkdirs(path);
        if (st == QA_OK) st = take_lock(rd);
        char log[QA_PATH_MAX];
        if (st == QA_OK && (st = qa_rundir_file(rd, "run.log", log)) == QA_OK) st = qa_log_open_file(log);
    }
    st = qa_comm_agree(comm, st);
    if (st != QA_OK) {
        release_lock(rd);
        return st;
    }
    rd->run = json_object();
    json_t *args = json_array();
    for (int i = 0; i < argc; i++) json_array_append_new(args, json_string(argv[i]));
    char host[256] = "";
    gethostname(host, sizeof host);
    json_object_set_new(rd->run, "command", json_string(command));
    json_object_set_new(rd->run, "argv", args);
    json_object_set_new(rd->run, "version", json_string(QA_VERSION));
    json_object_set_new(rd->run, "git", json_string(QA_GIT_HASH));
    json_object_set_new(rd->run, "ranks", json_integer(qa_comm_size(comm)));
    json_object_set_new(rd->run, "host", json_string(host));
    json_object_set_new(rd->run, "start_unix", json_real(rd->start_time));
    return QA_OK;
}

qa_status qa_rundir_file(const qa_rundir *rd, const char *name, char *buf) {
    return qa_path_join(buf, rd->path, "%s", name);
}

qa_status qa_rundir_write_json(qa_rundir *rd, const char *name, const json_t *doc) {
    if (!rd->root) return QA_OK;
    char p[QA_PATH_MAX];
    qa_status st = qa_rundir_file(rd, name, p);
    if (st != QA_OK) return st;
    return qa_json_write_file(doc, p);
}

void qa_rundir_note(qa_rundir *rd, const char *key, json_t *value) {
    if (rd->run) json_object_set_new(rd->run, key, value);
    else json_decref(value);
}

qa_status qa_rundir_close(qa_rundir *rd, qa_status status) {
    if (!rd->run) return QA_OK;
    qa_status st = QA_OK;
    if (rd->root) {
        double end = now_s();
        json_object_set_new(rd->run, "end_unix", json_real(end));
        json_object_set_new(rd->run, "seconds", json_real(end - rd->start_time));
        json_object_set_new(rd->run, "status", json_string(status == QA_OK ? "ok" : qa_status_name(status)));
        if (status != QA_OK) json_object_set_new(rd->run, "error", json_string(qa_err_msg()));
        st = qa_rundir_write_json(rd, "run.json", rd->run);
        qa_log_close_file();
    }
    json_decref(rd->run);
    rd->run = NULL;
    release_lock(rd);
    return st;
}

qa_status qa_rundir_new_id(const char *dir, char *out) {
    char seed[QA_PATH_MAX + 400], host[256] = "", hex[65];
    gethostname(host, sizeof host);
    snprintf(seed, sizeof seed, "%s|%ld|%llu|%s", host, (long)getpid(), (unsigned long long)qa_time_ns(), dir);
    QA_TRY_RET(qa_sha256_hex(seed, strlen(seed), hex));
    snprintf(out, 17, "%.16s", hex);
    return QA_OK;
}
