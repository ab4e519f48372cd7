/* cuBLAS, cuSOLVER, cuDNN and NCCL open on first use (kernels/cudalib.h): none is mapped
 * before qa_cudalib_load, each is after it with every listed entry point resolved, and a
 * build without them says so. Needs no GPU: dlopen does not touch the driver. */
#include <stdio.h>   /* fopen, fgets */
#include <string.h>  /* strstr */

#include "kernel_test.h"
#include "kernels/backend.h"
#include "kernels/cudalib.h"

/* The library-file prefix that shows in /proc/self/maps for each library. */
static const char *const map_names[QA_CUDALIB_COUNT] = {"libcublas.so", "libcusolver.so", "libcudnn.so",
                                                         "libnccl.so"};

/* The library each entry point belongs to, from the same list the loader uses. */
#define QA_CUDALIB_OWNER_(lib, name) QA_CUDALIB_##lib,
static const qa_cudalib owner[QA_CUDALIB_FN_COUNT] = {QA_CUDALIB_FNS(QA_CUDALIB_OWNER_)};
#undef QA_CUDALIB_OWNER_

/* 1 when a file whose name contains `needle` is mapped into this process. */
static int mapped(const char *needle) {
    FILE *f = fopen("/proc/self/maps", "r");
    QA_REQUIRE(f != NULL);
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        if (strstr(line, needle)) found = 1;
    fclose(f);
    return found;
}

static void test_lazy_load(void) {
    if (!qa_backend_cuda_compiled()) {
        for (int l = 0; l < QA_CUDALIB_COUNT; l++) {
            QA_CHECK(qa_cudalib_load((qa_cudalib)l) == QA_ERR_UNSUPPORTED);
            QA_CHECK(strstr(qa_err_msg(), "not part of this build") != NULL);
        }
        return;
    }
    for (int l = 0; l < QA_CUDALIB_COUNT; l++) {
        const char *file = qa_cudalib_file((qa_cudalib)l);
        /* the point of the module: nothing of the library is in the process yet */
        QA_CHECK_MSG(!mapped(map_names[l]), "%s is mapped before its first use", map_names[l]);
        if (!file[0]) { /* not found at configure time: a clear refusal */
            QA_CHECK(qa_cudalib_load((qa_cudalib)l) == QA_ERR_UNSUPPORTED);
            printf("  %s: not in this build\n", map_names[l]);
            continue;
        }
        qa_status st = qa_cudalib_load((qa_cudalib)l);
        QA_CHECK_MSG(st == QA_OK, "%s: %s", file, qa_err_msg());
        if (st != QA_OK) continue;
        QA_CHECK_MSG(mapped(map_names[l]), "%s loaded but not mapped", file);
        for (int i = 0; i < QA_CUDALIB_FN_COUNT; i++)
            if (owner[i] == (qa_cudalib)l) QA_CHECK_MSG(qa_cudalib_fn[i] != NULL, "entry point %d of %s", i, file);
        QA_CHECK(qa_cudalib_load((qa_cudalib)l) == QA_OK); /* once per process, then the same answer */
        printf("  %s: loaded on first use\n", file);
    }
    QA_CHECK(qa_cudalib_load((qa_cudalib)QA_CUDALIB_COUNT) == QA_ERR_INVALID_ARG);
}

/* Loading needs no device: the GPU run has nothing more to check. */
static void test_gpu_nothing_more(void) { qa_test_skip("loading needs no GPU: test_cudalib_cpu covers it"); }

int main(int argc, char **argv) {
    static const qa_test_case gpu[] = {QA_CASE(test_gpu_nothing_more)};
    static const qa_test_case cpu[] = {QA_CASE(test_lazy_load)};
    return qa_kernel_test_main(argc, argv, QA_CASES(gpu), QA_CASES(cpu));
}
