/* Staff sessions of the web UI and the endpoints under /v1/ui/ that act with
 * the logged-in staff member's key (docs/ui.md).
 *
 * A member of staff logs in with a username and password; the password
 * unlocks their key file from the node's keystore (vault.h) and the key stays
 * in this process's memory for that session only. The session cookie is
 * HttpOnly and SameSite=Strict; every state-changing request must carry the
 * session's CSRF token in X-CSRF-Token; a session ends after a period without
 * activity and its key is wiped; failed log-ins are rate-limited per username
 * and per client address.
 *
 * The endpoints build and sign transactions with the session's key and then
 * call this node's own public API (POST /v1/tx, POST /v1/records, and an
 * RFC 9421 signed GET /v1/records/{id}/content) over loopback HTTP, so the
 * access rule, admission checks and access.log are exactly those of the
 * public API. The node must therefore answer other requests while one /v1/ui/
 * request waits (parchad: a pool of several HTTP threads per core).
 *
 * parchad's hook is one dispatch line (node_http.c):
 *   if (strncmp(path, "/v1/ui/", 7) == 0)
 *       return pc_session_dispatch(data_dir, conn, method, path, body, len, too_big);
 * which opens the process-wide service at first use. Programs that want
 * their own instance use pc_session_open / pc_session_answer / _close.
 */
#ifndef PARCHA_NODE_SESSION_H
#define PARCHA_NODE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <microhttpd.h>
#include "parcha/common.h"

#define PC_SESSION_IDLE_S 900       /* idle log-out: 15 minutes */
#define PC_SESSION_MAX_AGE_S 43200  /* a session never outlives 12 hours */
#define PC_SESSION_MAX 256          /* live sessions per node */
#define PC_SESSION_FAIL_MAX 5       /* failed log-ins before a lock-out ... */
#define PC_SESSION_FAIL_WINDOW_S 900 /* ... counted within this window */
#define PC_SESSION_LOCK_S 60        /* first lock-out; doubles per further failure */
#define PC_SESSION_COOKIE "parcha_session"

typedef struct pc_session_server pc_session_server;

typedef struct pc_session_config {
    const char *data_dir; /* DIR: vault.db, ledger.db, keys/, ui-users.json */
    /* Base URL of this node's API for the sessions' own calls, e.g.
     * "http://127.0.0.1:8080". NULL: learnt from each request's local
     * address (the address and port the request came in on). */
    const char *self_url;
    int idle_s; /* 0: PC_SESSION_IDLE_S */
} pc_session_config;

/* Open the session service over DIR: its own handles on vault.db (keystore,
 * read-write) and ledger.db (read-only, opened when first needed), and an
 * import of DIR/ui-users.json into the keystore if that file exists
 * (docs/ui.md). Returns PC_OK, or an error naming what is wrong. */
int pc_session_open(const pc_session_config *cfg, pc_session_server **out,
                    pc_error *err) PC_MUST_USE;

/* Wipe every session's key and free everything. NULL is a no-op. */
void pc_session_close(pc_session_server *s);

/* Answer one request whose path starts with /v1/ui/ and queue the response
 * on conn. body/len is the whole request body (may be NULL/0). s may be NULL
 * (the service failed to open): the answer is then a 503 in words. */
enum MHD_Result pc_session_answer(pc_session_server *s, struct MHD_Connection *conn,
                                  const char *method, const char *path,
                                  const char *body, size_t len);

/* The process-wide service over data_dir, opened at first use (and its
 * keys wiped at exit), answering one /v1/ui/ request on conn. too_big: the
 * body was over the node's limit and was dropped (answered 413). */
enum MHD_Result pc_session_dispatch(const char *data_dir, struct MHD_Connection *conn,
                                    const char *method, const char *path,
                                    const char *body, size_t len, bool too_big);

/* ---- the transport-free core, for tests and other front ends ---- */

typedef struct pc_session_request {
    const char *method;       /* "GET", "POST" ... */
    const char *path;         /* "/v1/ui/login" (no query) */
    const char *cookie;       /* Cookie header or NULL */
    const char *csrf;         /* X-CSRF-Token header or NULL */
    const char *content_type; /* Content-Type header or NULL */
    const char *origin;       /* Origin header or NULL */
    const char *host;         /* Host header or NULL */
    const char *client;       /* client address, e.g. "127.0.0.1" */
    const char *self_url;     /* base URL of this node's API, or NULL */
    bool tls;                 /* arrived over HTTPS: the cookie gets Secure */
    const char *body;
    size_t len;
} pc_session_request;

typedef struct pc_session_response {
    int status;
    json_t *body;            /* owned by the caller after the call */
    char set_cookie[200];    /* Set-Cookie value, or "" */
    int retry_after_s;       /* > 0: send a Retry-After header */
} pc_session_response;

/* Handle one request. Always fills rs (status and a JSON body). */
void pc_session_handle(pc_session_server *s, const pc_session_request *rq,
                       pc_session_response *rs);

/* Tests: replace the clock (milliseconds) used for idle and lock-out times. */
void pc_session_set_clock(pc_session_server *s, int64_t (*now_ms)(void));

/* Drop sessions past their idle or age limit now, wiping their keys. A
 * thread of the service does this every 30 seconds by itself. */
void pc_session_sweep(pc_session_server *s);

/* Number of live sessions (tests). */
size_t pc_session_count(pc_session_server *s);

#endif
