/* The model registry's event log onto the bus (`qa registry watch --publish`): every
 * event (registry/registry.h: version_created, alias_set, ...) becomes one message on
 * `registry.events`, keyed by model, in sequence order, each acknowledged before the
 * next is sent. On start the bridge reads the last message of every partition, so after
 * a crash it continues after the highest sequence the topic holds: no event is published
 * twice or skipped. The live service follows this topic to hot-reload its model. */
#ifndef QA_LIVE_REGBRIDGE_H
#define QA_LIVE_REGBRIDGE_H

#include <signal.h>  /* sig_atomic_t */

#include "common/status.h"
#include "live/bus.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Publishes the events of the registry in reg_dir (NULL: the default) not yet on the
 * topic; with follow, keeps polling every interval_ms until *stop. *published receives
 * the number sent. */
qa_status qa_regbridge_run(const qa_bus_cfg *cfg, const char *reg_dir, int follow, int interval_ms,
                           volatile sig_atomic_t *stop, long long *published);

#ifdef __cplusplus
}
#endif
#endif
