/* Atomic files, directories, SHA-256 known answers, JSON files. */
#include <dirent.h>
#include <signal.h>    /* kill: the live writer */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>  /* mkdir */
#include <sys/wait.h>  /* waitpid: a pid that is surely dead */
#include <unistd.h>

#include "common/fs.h"
#include "common/hash.h"
#include "common/json.h"
#include "harness.h"

static char tmpdir[256];

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    if (d) closedir(d);
    return n;
}

static void test_atomic_commit_and_abort(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/out.txt", tmpdir);
    qa_atomic_file af;
    QA_CHECK_OK(qa_atomic_open(&af, path));
    fputs("half", af.f);
    QA_CHECK(!qa_fs_exists(path)); /* nothing under the final name while writing */
    qa_atomic_abort(&af);
    QA_CHECK(!qa_fs_exists(path));
    QA_CHECK_INT(count_entries(tmpdir), 0); /* temp file removed too */

    QA_CHECK_OK(qa_fs_write_all(path, "hello\n", 6));
    char *back = NULL;
    size_t len = 0;
    QA_CHECK_OK(qa_fs_read_all(path, &back, &len));
    QA_CHECK_INT(len, 6);
    QA_CHECK_STR(back, "hello\n");
    free(back);
    QA_CHECK_INT(count_entries(tmpdir), 1);
    QA_CHECK_INT(qa_fs_size(path), 6);
}

static void touch(const char *dir, const char *name) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    QA_CHECK(f != NULL);
    if (f) fclose(f);
}

static int present(const char *dir, const char *name) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return qa_fs_exists(p);
}

/* Stale temporary files: a killed writer's ".<base>.tmp-<pid>" is removed by the next
 * writer of the same path; a live writer's, this process's, other names and other
 * bases are kept. The dead pid is a child that has exited and been reaped; the live one
 * a child that sleeps until it is killed at the end. */
static void test_tmp_clean_stale(void) {
    char dir[300], path[320], name[128], tmp[1024];
    snprintf(dir, sizeof dir, "%s/stale", tmpdir);
    QA_CHECK_OK(qa_fs_mkdirs(dir));
    snprintf(path, sizeof path, "%s/out.h5", dir);
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    pid_t live = fork();
    if (live == 0) {
        pause();
        _exit(0);
    }
    QA_CHECK(dead > 0 && live > 0);
    snprintf(name, sizeof name, ".out.h5.tmp-%ld", (long)dead);
    touch(dir, name);
    snprintf(name, sizeof name, ".out.h5.tmp-%ld", (long)live);
    touch(dir, name);
    snprintf(name, sizeof name, ".out.h5.tmp-%ld", (long)getpid());
    touch(dir, name);
    snprintf(name, sizeof name, ".other.h5.tmp-%ld", (long)dead); /* another path's: not ours to clean */
    touch(dir, name);
    snprintf(name, sizeof name, ".out.h5.tmp-%ldx", (long)dead);  /* not a pid suffix */
    touch(dir, name);
    touch(dir, ".out.h5.tmp-0");                                   /* kill(0) would signal our group */
    snprintf(tmp, sizeof tmp, "%s/.out.h5.tmp-999999999", dir);   /* a directory named like one (no such pid) */
    QA_CHECK(mkdir(tmp, 0755) == 0);
    QA_CHECK_INT(count_entries(dir), 7);

    QA_CHECK_OK(qa_fs_tmp_name(path, tmp, sizeof tmp)); /* the writer of out.h5 starts */
    snprintf(name, sizeof name, ".out.h5.tmp-%ld", (long)dead);
    QA_CHECK(!present(dir, name));
    snprintf(name, sizeof name, ".out.h5.tmp-%ld", (long)live);
    QA_CHECK(present(dir, name));
    snprintf(name, sizeof name, ".out.h5.tmp-%ld", (long)getpid());
    QA_CHECK(present(dir, name));
    snprintf(name, sizeof name, ".other.h5.tmp-%ld", (long)dead);
    QA_CHECK(present(dir, name));
    QA_CHECK(present(dir, ".out.h5.tmp-0"));
    QA_CHECK(present(dir, ".out.h5.tmp-999999999"));
    QA_CHECK_INT(count_entries(dir), 6);
    QA_CHECK_INT(qa_fs_tmp_clean(path), 0); /* nothing stale is left */

    kill(live, SIGKILL); /* now the live writer dies too: its file becomes stale */
    waitpid(live, NULL, 0);
    QA_CHECK_INT(qa_fs_tmp_clean(path), 1);
    snprintf(name, sizeof name, ".out.h5.tmp-%ld", (long)live);
    QA_CHECK(!present(dir, name));
    QA_CHECK_INT(qa_fs_tmp_clean("/nonexistent-dir-qa/x.h5"), 0);
}

static void test_mkdirs(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/a/b/c", tmpdir);
    QA_CHECK_OK(qa_fs_mkdirs(path));
    QA_CHECK(qa_fs_is_dir(path));
    QA_CHECK_OK(qa_fs_mkdirs(path)); /* idempotent */
    char file[512];
    snprintf(file, sizeof file, "%s/out.txt", tmpdir);
    QA_CHECK_ERR(qa_fs_mkdirs(file), QA_ERR_IO, "not a directory");
}

static void test_sha256(void) {
    char hex[65];
    /* FIPS 180-2 examples. */
    QA_CHECK_OK(qa_sha256_hex("abc", 3, hex));
    QA_CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    QA_CHECK_OK(qa_sha256_hex("", 0, hex));
    QA_CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    char path[512];
    snprintf(path, sizeof path, "%s/abc.bin", tmpdir);
    QA_CHECK_OK(qa_fs_write_all(path, "abc", 3));
    QA_CHECK_OK(qa_sha256_file_hex(path, hex));
    QA_CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_json_roundtrip(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/s.json", tmpdir);
    json_t *o = json_pack("{s:i, s:o, s:o}", "n", 3, "x", qa_json_real(0.1), "bad", qa_json_real(NAN));
    QA_CHECK_OK(qa_json_write_file(o, path));
    json_decref(o);
    json_t *back = NULL;
    QA_CHECK_OK(qa_json_read_file(path, &back));
    QA_CHECK_INT(json_integer_value(json_object_get(back, "n")), 3);
    QA_CHECK(json_real_value(json_object_get(back, "x")) == 0.1); /* 17 digits round-trip */
    QA_CHECK(json_is_null(json_object_get(back, "bad")));
    json_decref(back);
    QA_CHECK_OK(qa_fs_write_all(path, "{\"a\": 1,\n oops}", 15));
    QA_CHECK_ERR(qa_json_read_file(path, &back), QA_ERR_FORMAT, "s.json:2:");
}

int main(void) {
    if (qa_test_tmpdir(tmpdir, sizeof tmpdir, "test_fs")) qa_test_skip("cannot create a temp dir");
    QA_RUN(test_atomic_commit_and_abort);
    QA_RUN(test_mkdirs);
    QA_RUN(test_tmp_clean_stale);
    QA_RUN(test_sha256);
    QA_RUN(test_json_roundtrip);
    qa_test_rmtree(tmpdir);
    return qa_test_finish();
}
