/* The handlers of qa serve that act on its own state rather than on the platform's data:
 * logging in and out, the caller's identity and permissions, users and the audit log. */
#ifndef QA_API_SESSION_H
#define QA_API_SESSION_H

#include "api/api.h"
#include "api/audit.h"
#include "api/auth.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_session {
    qa_auth_t *auth;
    qa_audit_t *audit;
    char state_dir[512];
    const char *version; /* qa's version, for the OpenAPI document */
} qa_session;

qa_status qa_session_login(const qa_api_req *req, qa_api_resp *resp);   /* POST /api/login */
qa_status qa_session_refresh(const qa_api_req *req, qa_api_resp *resp); /* POST /api/refresh */
qa_status qa_session_logout(const qa_api_req *req, qa_api_resp *resp);  /* POST /api/logout */
qa_status qa_session_me(const qa_api_req *req, qa_api_resp *resp);      /* GET /api/me */
qa_status qa_session_users(const qa_api_req *req, qa_api_resp *resp);   /* GET /api/users */
qa_status qa_session_user_add(const qa_api_req *req, qa_api_resp *resp);/* POST /api/users */
qa_status qa_session_revoke(const qa_api_req *req, qa_api_resp *resp);  /* POST /api/users/{name}/revoke */
qa_status qa_session_audit(const qa_api_req *req, qa_api_resp *resp);   /* GET /api/audit */
qa_status qa_session_verify(const qa_api_req *req, qa_api_resp *resp);  /* GET /api/audit/verify */
qa_status qa_session_openapi(const qa_api_req *req, qa_api_resp *resp); /* GET /api/openapi.json */
qa_status qa_session_health(const qa_api_req *req, qa_api_resp *resp);  /* GET /health */

#ifdef __cplusplus
}
#endif
#endif
