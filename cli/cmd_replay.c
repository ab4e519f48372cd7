/* qa replay: publish a market file's history on market.data (live/replay.h). */
#include <limits.h>  /* LLONG_MAX */
#include <stdint.h>  /* INT64_MIN */
#include <stdio.h>   /* printf */

#include "cli/args.h"           /* option table */
#include "cli/cli.h"            /* exit codes */
#include "common/timeparse.h"   /* qa_time_parse_why */
#include "live/replay.h"        /* the replay */

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa replay --data FILE [--speed X] [--start DATE] [--end DATE] [--max-times N]\n"
            "                 [--bootstrap B] [--prefix P] [--partitions N] [--alt-db FILE [--alt-source S]]\n\n"
            "Publishes the bars of a market file on market.data in event-time order, one bar message per\n"
            "symbol and timestamp (keyed by symbol) and one watermark per partition after each timestamp,\n"
            "so `qa live` closes timestamps exactly as it would on a live feed. --speed 0 (default) sends\n"
            "as fast as the bus takes it; --speed N sends one timestamp every bar_seconds/N seconds.\n"
            "Without --bootstrap it uses the embedded cluster (`qa bus run`), starting one if none runs.\n"
            "docs/live.md.\n\n"
            "  --data FILE       market file (qa data import)\n"
            "  --speed X         x real time; 0 = as fast as possible\n"
            "  --start DATE      first timestamp (YYYY-MM-DD or ISO time, UTC)\n"
            "  --end DATE        end (exclusive)\n"
            "  --max-times N     stop after N timestamps\n"
            "  --bootstrap B     Kafka bootstrap.servers (a real cluster)\n"
            "  --prefix P        topic name prefix\n"
            "  --partitions N    partitions when this command starts the embedded cluster (default 6)\n"
            "  --alt-db FILE     also publish the documents of this store (qa alt import) on alt.data, each\n"
            "                    after the bars of the timestamp it becomes available for (docs/alt-data.md)\n"
            "  --alt-source S    only this source's documents (reuters, stocknet)\n");
}

int qa_cmd_replay(int argc, char **argv) {
    qa_replay_opts o = {NULL, 0.0, INT64_MIN, INT64_MAX, 0, 1, NULL, NULL};
    const char *bootstrap = NULL, *prefix = NULL, *start = NULL, *end = NULL;
    long long max_times = 0, partitions = 6;
    const qa_cli_opt opts[] = {QA_OPT_STR("data", &o.data),         QA_OPT_NUM("speed", &o.speed, 0, 1e9),
                               QA_OPT_STR("start", &start),         QA_OPT_STR("end", &end),
                               QA_OPT_INT("max-times", &max_times, 0, 1e12), QA_OPT_STR("bootstrap", &bootstrap),
                               QA_OPT_STR("prefix", &prefix),       QA_OPT_INT("partitions", &partitions, 1, 1024),
                               QA_OPT_STR("alt-db", &o.alt_db),     QA_OPT_STR("alt-source", &o.alt_source),
                               QA_OPT_END};
    int rc = qa_cli_parse("replay", argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!o.data) return qa_cli_usage_error("replay", "give --data FILE");
    if (!qa_cli_time_opt(start, &o.start))
        return qa_cli_usage_error("replay", "--start '%s': expected a date or ISO time%s", start, qa_time_parse_why());
    if (!qa_cli_time_opt(end, &o.end))
        return qa_cli_usage_error("replay", "--end '%s': expected a date or ISO time%s", end, qa_time_parse_why());
    o.max_times = (long)max_times;
    qa_bus_cfg cfg;
    qa_bus_cfg_default(&cfg);
    cfg.partitions = (int)partitions;
    if (bootstrap) snprintf(cfg.bootstrap, sizeof cfg.bootstrap, "%s", bootstrap);
    if (prefix) snprintf(cfg.prefix, sizeof cfg.prefix, "%s", prefix);
    int started = 0;
    if (qa_bus_mock_ensure(&cfg, "/proc/self/exe", &started) != QA_OK) return qa_cli_fail("replay");
    qa_replay_report rep;
    if (qa_replay_run(&cfg, &o, &rep) != QA_OK) return qa_cli_fail("replay");
    printf("replayed %zu timestamps: %zu bars, %zu documents and %zu watermarks to %s in %.2f s (%.0f msg/s acknowledged)\n",
           rep.times, rep.bars, rep.docs, rep.watermarks, cfg.bootstrap, rep.seconds, rep.msgs_per_s);
    return QA_EXIT_OK;
}
