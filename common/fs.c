/* Directory creation, atomic writes and whole-file reads. */
#include "common/fs.h"

#include <dirent.h>    /* opendir: stale temporary files */
#include <errno.h>     /* errno, EEXIST, ESRCH */
#include <pthread.h>   /* the temporary-name ring is shared by threads */
#include <signal.h>    /* kill(pid, 0): is a writer alive */
#include <stdarg.h>    /* va_list */
#include <stdlib.h>    /* malloc */
#include <string.h>    /* strerror, strrchr */
#include <sys/stat.h>  /* mkdir, stat */
#include <unistd.h>    /* getpid, fsync, unlink */

qa_status qa_fs_mkdirs(const char *path) {
    char buf[QA_PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf) return QA_FAIL(QA_ERR_INVALID_ARG, "bad directory path '%s'", path);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return QA_FAIL(QA_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
        buf[i] = saved;
    }
    if (!qa_fs_is_dir(path)) return QA_FAIL(QA_ERR_IO, "'%s' exists and is not a directory", path);
    return QA_OK;
}

int qa_fs_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

int qa_fs_is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

long long qa_fs_size(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return -1;
    return (long long)sb.st_size;
}

int qa_fs_tmp_clean(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[QA_PATH_MAX], prefix[QA_PATH_MAX], file[QA_PATH_MAX];
    const char *base = slash ? slash + 1 : path;
    int n = slash ? snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path) : snprintf(dir, sizeof dir, ".");
    if (slash == path) snprintf(dir, sizeof dir, "/");
    int m = snprintf(prefix, sizeof prefix, ".%s.tmp-", base);
    if (n < 0 || (size_t)n >= sizeof dir || m < 0 || (size_t)m >= sizeof prefix || !*base) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    long self = (long)getpid();
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, prefix, (size_t)m) != 0) continue;
        const char *digits = e->d_name + m;
        size_t nd = strspn(digits, "0123456789");
        if (nd == 0 || nd > 9 || digits[nd] != '\0') continue; /* not a pid we wrote */
        long pid = strtol(digits, NULL, 10);
        if (pid <= 0 || pid == self) continue; /* kill(0 or -1) would signal groups: never */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        if (snprintf(file, sizeof file, "%s/%s", dir, e->d_name) >= (int)sizeof file) continue;
        struct stat sb;
        if (lstat(file, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (unlink(file) == 0) removed++;
    }
    closedir(d);
    return removed;
}

/* The temporary files this process has named, for the stop handler below. A ring: slot k is
 * reused after TMP_SLOTS newer names, by which time its file has long been renamed into place
 * or removed (unlinking its name then finds nothing; the pid in the name keeps it ours). */
enum { TMP_SLOTS = 64 };
static char tmp_slot[TMP_SLOTS][QA_PATH_MAX];
static volatile sig_atomic_t tmp_used[TMP_SLOTS];
static unsigned tmp_next;
static pthread_mutex_t tmp_mu = PTHREAD_MUTEX_INITIALIZER;

static void tmp_track(const char *name) {
    (void)pthread_mutex_lock(&tmp_mu); /* cannot fail: a default mutex, not held here */
    unsigned k = tmp_next++ % TMP_SLOTS;
    tmp_used[k] = 0; /* the handler skips the slot while it is rewritten */
    (void)snprintf(tmp_slot[k], QA_PATH_MAX, "%s", name); /* fits: the caller built it in QA_PATH_MAX */
    tmp_used[k] = 1;
    (void)pthread_mutex_unlock(&tmp_mu);
}

void qa_fs_tmp_remove_all(void) {
    for (unsigned k = 0; k < TMP_SLOTS; k++)
        if (tmp_used[k]) (void)unlink(tmp_slot[k]); /* async-signal-safe; ENOENT once committed */
}

static void on_stop_remove_tmp(int sig) {
    qa_fs_tmp_remove_all();
    (void)signal(sig, SIG_DFL); /* then die of the signal as before (exit status 128 + sig) */
    (void)raise(sig);
}

qa_status qa_fs_tmp_remove_on_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_remove_tmp;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction old;
        /* An ignored signal stays ignored: nohup's SIGHUP, SIGINT of a background job. */
        if (sigaction(sigs[i], NULL, &old) != 0 || (old.sa_handler != SIG_IGN && sigaction(sigs[i], &sa, NULL) != 0))
            return QA_FAIL(QA_ERR_IO, "cannot install the temporary-file handler for signal %d: %s", sigs[i],
                           strerror(errno));
    }
    return QA_OK;
}

qa_status qa_fs_tmp_name(const char *path, char *out, size_t size) {
    (void)qa_fs_tmp_clean(path);
    const char *slash = strrchr(path, '/');
    int n;
    if (slash)
        n = snprintf(out, size, "%.*s/.%s.tmp-%ld", (int)(slash - path), path, slash + 1,
                     (long)getpid());
    else
        n = snprintf(out, size, ".%s.tmp-%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= size) return QA_FAIL(QA_ERR_INVALID_ARG, "path too long: '%s'", path);
    if ((size_t)n < QA_PATH_MAX) tmp_track(out);
    return QA_OK;
}

qa_status qa_fs_rename(const char *from, const char *to) {
    if (rename(from, to) != 0)
        return QA_FAIL(QA_ERR_IO, "cannot move '%s' to '%s': %s", from, to, strerror(errno));
    return QA_OK;
}

qa_status qa_path_join(char *out, const char *dir, const char *fmt, ...) {
    char name[QA_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof name)
        n = (dir && *dir) ? snprintf(out, QA_PATH_MAX, "%s/%s", dir, name) : snprintf(out, QA_PATH_MAX, "%s", name);
    if (n < 0 || (size_t)n >= QA_PATH_MAX)
        return QA_FAIL(QA_ERR_INVALID_ARG, "path too long (over %d bytes): '%s/%s'", QA_PATH_MAX - 1, dir ? dir : "",
                       name);
    return QA_OK;
}

qa_status qa_fs_read_all(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return QA_FAIL(QA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        (void)fclose(f); /* read-only stream: a close error loses nothing */
        return QA_FAIL(QA_ERR_NOMEM, "%s: reading", path);
    }
    for (;;) {
        if (cap - n < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                (void)fclose(f); /* read-only stream: a close error loses nothing */
                return QA_FAIL(QA_ERR_NOMEM, "%s: reading", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    (void)fclose(f); /* read-only stream: a close error loses nothing */
    if (err) {
        free(buf);
        return QA_FAIL(QA_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return QA_OK;
}

qa_status qa_atomic_open(qa_atomic_file *af, const char *path) {
    af->f = NULL;
    af->tmp[0] = '\0';
    if (strlen(path) >= sizeof af->path) return QA_FAIL(QA_ERR_INVALID_ARG, "path too long: '%s'", path);
    snprintf(af->path, sizeof af->path, "%s", path);
    qa_status st = qa_fs_tmp_name(path, af->tmp, sizeof af->tmp);
    if (st != QA_OK) return st;
    af->f = fopen(af->tmp, "wb");
    if (!af->f) {
        st = QA_FAIL(QA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        af->tmp[0] = '\0';
        return st;
    }
    return QA_OK;
}

qa_status qa_atomic_commit(qa_atomic_file *af) {
    if (!af->f) return QA_FAIL(QA_ERR_STATE, "%s: file is not open", af->path);
    errno = 0;
    int bad = fflush(af->f) != 0 || ferror(af->f) || fsync(fileno(af->f)) != 0;
    int saved = errno ? errno : EIO; /* a stream error of an earlier write keeps no errno */
    if (fclose(af->f) != 0) bad = 1;
    af->f = NULL;
    if (bad) {
        unlink(af->tmp);
        af->tmp[0] = '\0';
        return QA_FAIL(QA_ERR_IO, "%s: write failed: %s", af->path, strerror(saved));
    }
    qa_status st = qa_fs_rename(af->tmp, af->path);
    if (st != QA_OK) unlink(af->tmp);
    af->tmp[0] = '\0';
    return st;
}

void qa_atomic_abort(qa_atomic_file *af) {
    if (af->f) (void)fclose(af->f); /* the temporary is discarded: its write errors do not matter */
    af->f = NULL;
    if (af->tmp[0]) unlink(af->tmp);
    af->tmp[0] = '\0';
}

qa_status qa_fs_write_all(const char *path, const void *data, size_t len) {
    qa_atomic_file af;
    qa_status st = qa_atomic_open(&af, path);
    if (st != QA_OK) return st;
    if (len && fwrite(data, 1, len, af.f) != len) {
        int err = errno;
        qa_atomic_abort(&af);
        return QA_FAIL(QA_ERR_IO, "%s: write failed: %s", path, strerror(err));
    }
    return qa_atomic_commit(&af);
}
