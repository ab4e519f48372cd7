/* qa serve: the model registry over HTTP (docs/api-desk.md, "Models"), through
 * registry/registry.h on ctx->registry. Alias moves are made as the caller (req->user),
 * so the registry's alias protection applies to API users as it does to `--who`. */
#ifndef QA_API_MODELS_H
#define QA_API_MODELS_H

#include "api/api.h"
#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GET /api/models: {"models": [{"name", "versions" (count), "latest" (highest live
 * version), "aliases": {alias: version}, "updated" (newest version or alias move, UTC)}]}
 * by name. */
qa_status qa_apimodels_list(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/models/{name}: {"name", "created", "created_by", "tags", "versions": [{"version",
 * "created", "who", "sha256", "size", "metrics", "tags", "aliases"}], "aliases": [{"alias",
 * "version", "updated", "updated_by", "protected_for"}], "alias_history": [{"alias",
 * "from", "to", "at", "who", "why"}]}. */
qa_status qa_apimodels_show(const qa_api_req *req, qa_api_resp *resp);
/* GET /api/models/{name}/versions/{version} (a number or "latest"): the version's record
 * (qa_registry_show): uri, created, created_by, description, artifact {sha256, size},
 * aliases, tags, metrics, signature, lineage, config. */
qa_status qa_apimodels_version(const qa_api_req *req, qa_api_resp *resp);
/* POST /api/models/{name}/aliases/{alias} {"version": N, "why": text}: moves (or creates)
 * the alias; {"name", "alias", "version", "from"}. A protected alias the caller may not move
 * answers 403 with the registry's message (resp->code, status QA_OK: api.h maps no status
 * to 403). */
qa_status qa_apimodels_alias(const qa_api_req *req, qa_api_resp *resp);

#ifdef __cplusplus
}
#endif
#endif
