/* qa info: what this binary was built with and what it finds on this machine. Builds
 * one JSON document and prints it either as text or, with --json, as is. */
#include <stdio.h>    /* printf */
#include <string.h>   /* strcmp */
#include <unistd.h>   /* sysconf */

#include <hdf5.h>            /* H5get_libversion */
#include <jansson.h>         /* JSON document */
#include <lapacke.h>         /* LAPACK_ilaver */
#include <cblas.h>           /* openblas_get_config */
#include <microhttpd.h>      /* MHD_get_version */
#include <openssl/crypto.h>  /* OpenSSL_version */
#include <librdkafka/rdkafka.h> /* rd_kafka_version_str */
#include <sqlite3.h>         /* sqlite3_libversion */
#include <yaml.h>            /* yaml_get_version_string */
#include <zlib.h>            /* zlibVersion */
#ifdef QA_HAVE_SLURM
#include <slurm/slurm.h>     /* slurm_api_version */
#endif
#ifdef QA_HAVE_CUDA
#include <cuda_runtime_api.h> /* runtime and driver versions */
#endif
#ifdef _OPENMP
#include <omp.h>             /* omp_get_max_threads */
#endif

#include "build_info.h"       /* compile-time options */
#include "cli/args.h"   /* the option table */
#include "cli/cli.h"          /* exit codes */
#include "kernels/backend.h"  /* GPU discovery */
#include "mpi/comm.h"         /* MPI library version */
#include "mpi/nccl.h"         /* NCCL version */

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa info [--json]\n\n"
            "Shows the build (version, git hash, backends, options), the libraries linked\n"
            "with their versions, the CPU and the GPUs this process can use.\n\n"
            "  --json   print the same information as one JSON object\n");
}

static int on(const char *flag) { return strcmp(flag, "ON") == 0 || strcmp(flag, "TRUE") == 0 || strcmp(flag, "1") == 0; }

static void cpu_model(char *buf, size_t size) {
    snprintf(buf, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon += 2;
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(buf, size, "%s", colon);
            }
            break;
        }
    }
    (void)fclose(f); /* read-only stream: a close error loses nothing */
}

static json_t *build_json(void) {
    char buf[512];
    json_t *root = json_object();

    json_t *b = json_object();
    json_object_set_new(b, "version", json_string(QA_VERSION));
    json_object_set_new(b, "git", json_string(QA_GIT_HASH));
    json_object_set_new(b, "build_type", json_string(QA_BUILD_TYPE));
    json_object_set_new(b, "c_compiler", json_string(QA_C_COMPILER));
    json_t *backends = json_array();
    json_array_append_new(backends, json_string("cpu"));
    if (qa_backend_cuda_compiled()) json_array_append_new(backends, json_string("cuda"));
    json_object_set_new(b, "backends", backends);
    json_object_set_new(b, "cuda", json_boolean(on(QA_BUILD_CUDA)));
    if (on(QA_BUILD_CUDA)) {
        json_object_set_new(b, "cuda_compiler", json_string(QA_CUDA_COMPILER));
        json_object_set_new(b, "cuda_architectures", json_string(QA_CUDA_ARCHS));
    }
    json_object_set_new(b, "mpi", json_boolean(on(QA_BUILD_MPI)));
    json_object_set_new(b, "nccl", json_boolean(qa_nccl_compiled()));
    json_object_set_new(b, "cudnn", json_boolean(on(QA_BUILD_CUDNN)));
    json_object_set_new(b, "openmp", json_boolean(on(QA_BUILD_OPENMP)));
    json_object_set_new(b, "sanitizers", json_boolean(on(QA_BUILD_SANITIZE)));
    json_object_set_new(b, "slurm", json_boolean(on(QA_BUILD_SLURM)));
    json_object_set_new(root, "build", b);

    json_t *libs = json_object();
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
#ifdef H5_HAVE_PARALLEL
    snprintf(buf, sizeof buf, "%u.%u.%u (parallel)", maj, min, rel);
#else
    snprintf(buf, sizeof buf, "%u.%u.%u (serial)", maj, min, rel);
#endif
    json_object_set_new(libs, "hdf5", json_string(buf));
    json_object_set_new(libs, "mpi", json_string(qa_comm_library_version(buf, sizeof buf)));
    json_object_set_new(libs, "openblas", json_string(openblas_get_config()));
    lapack_int lmaj = 0, lmin = 0, lpatch = 0;
    LAPACK_ilaver(&lmaj, &lmin, &lpatch);
    snprintf(buf, sizeof buf, "%d.%d.%d", (int)lmaj, (int)lmin, (int)lpatch);
    json_object_set_new(libs, "lapack", json_string(buf));
    json_object_set_new(libs, "libyaml", json_string(yaml_get_version_string()));
    json_object_set_new(libs, "jansson", json_string(jansson_version_str()));
    json_object_set_new(libs, "openssl", json_string(OpenSSL_version(OPENSSL_VERSION)));
    json_object_set_new(libs, "sqlite", json_string(sqlite3_libversion()));
    json_object_set_new(libs, "librdkafka", json_string(rd_kafka_version_str()));
    json_object_set_new(libs, "libmicrohttpd", json_string(MHD_get_version()));
    json_object_set_new(libs, "zlib", json_string(zlibVersion()));
#ifdef QA_HAVE_SLURM
    long sv = slurm_api_version();
    snprintf(buf, sizeof buf, "%ld.%ld.%ld", SLURM_VERSION_MAJOR(sv), SLURM_VERSION_MINOR(sv),
             SLURM_VERSION_MICRO(sv));
    json_object_set_new(libs, "libslurm", json_string(buf));
#endif
#ifdef QA_HAVE_CUDA
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    snprintf(buf, sizeof buf, "%d.%d", rt / 1000, (rt % 1000) / 10);
    json_object_set_new(libs, "cuda_runtime", json_string(buf));
    if (drv > 0) snprintf(buf, sizeof buf, "%d.%d", drv / 1000, (drv % 1000) / 10);
    else snprintf(buf, sizeof buf, "none (no NVIDIA driver)");
    json_object_set_new(libs, "cuda_driver", json_string(buf));
#endif
    if (qa_nccl_compiled()) json_object_set_new(libs, "nccl", json_string(qa_nccl_version(buf, sizeof buf)));
    json_object_set_new(root, "libraries", libs);

    json_t *cpu = json_object();
    cpu_model(buf, sizeof buf);
    json_object_set_new(cpu, "model", json_string(buf));
    json_object_set_new(cpu, "cores_online", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
#ifdef _OPENMP
    json_object_set_new(cpu, "openmp_threads", json_integer(omp_get_max_threads()));
#else
    json_object_set_new(cpu, "openmp_threads", json_integer(1));
#endif
    double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    json_object_set_new(cpu, "memory_gib", json_real(mem / (1024.0 * 1024.0 * 1024.0)));
    json_object_set_new(root, "cpu", cpu);

    json_t *gpus = json_array();
    int n = 0;
    qa_cuda_device_count(&n);
    for (int d = 0; d < n; d++) {
        if (qa_cuda_device_describe(d, buf, sizeof buf) == QA_OK) json_array_append_new(gpus, json_string(buf));
    }
    json_object_set_new(root, "gpus", gpus);
    return root;
}

static void print_text(const json_t *root) {
    const json_t *b = json_object_get(root, "build");
    printf("QuantumAlpha %s (git %s, %s)\n", json_string_value(json_object_get(b, "version")),
           json_string_value(json_object_get(b, "git")),
           json_string_value(json_object_get(b, "build_type")));
    printf("\nbuild\n");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)b, key, v) {
        if (!strcmp(key, "version") || !strcmp(key, "git") || !strcmp(key, "build_type")) continue;
        if (json_is_array(v)) {
            printf("  %-20s", key);
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) printf("%s%s", i ? ", " : "", json_string_value(e));
            printf("\n");
        } else if (json_is_boolean(v)) {
            printf("  %-20s%s\n", key, json_is_true(v) ? "on" : "off");
        } else {
            printf("  %-20s%s\n", key, json_string_value(v));
        }
    }
    printf("\nlibraries\n");
    json_object_foreach(json_object_get(root, "libraries"), key, v) printf("  %-20s%s\n", key, json_string_value(v));
    const json_t *cpu = json_object_get(root, "cpu");
    printf("\ncpu\n  %-20s%s\n  %-20s%lld\n  %-20s%lld\n  %-20s%.1f GiB\n", "model",
           json_string_value(json_object_get(cpu, "model")), "cores online",
           (long long)json_integer_value(json_object_get(cpu, "cores_online")), "openmp threads",
           (long long)json_integer_value(json_object_get(cpu, "openmp_threads")), "memory",
           json_real_value(json_object_get(cpu, "memory_gib")));
    const json_t *gpus = json_object_get(root, "gpus");
    printf("\ngpus\n");
    if (json_array_size(gpus) == 0) printf("  none usable (CPU backend only at run time)\n");
    size_t i;
    json_t *e;
    json_array_foreach(gpus, i, e) printf("  [%zu] %s\n", i, json_string_value(e));
}

int qa_cmd_info(int argc, char **argv) {
    int as_json = 0;
    const qa_cli_opt opts[] = {QA_OPT_FLAG("json", &as_json), QA_OPT_END};
    int rc = qa_cli_parse("info", argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    json_t *root = build_json();
    if (!root) return QA_EXIT_FAILURE;
    if (as_json) {
        char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s) puts(s);
        free(s);
    } else {
        print_text(root);
    }
    json_decref(root);
    return QA_EXIT_OK;
}
