/* The CLI's HTTP client for parchad (libcurl + jansson). The base URL comes
 * from --node, else $PARCHA_NODE, else http://127.0.0.1:8080. Every call
 * returns PC_OK only for a 2xx answer; otherwise the error carries the node's
 * own sentence ({"error":{"code","message"}}) or says that the node cannot be
 * reached, and the HTTP status is left in the client for callers that treat
 * some statuses specially (history: 403 locked, 503 custodian down). */
#ifndef PARCHA_CLI_CLIENT_H
#define PARCHA_CLI_CLIENT_H

#include <jansson.h>
#include "parcha/common.h"
#include "parcha/crypto.h"
#include "parcha/tx.h"

#define CLI_DEFAULT_NODE "http://127.0.0.1:8080"
#define CLI_MAX_RESPONSE (64 * 1024 * 1024)

typedef struct cli_client {
    char base[512];      /* without a trailing '/' */
    void *curl;          /* CURL * */
    long status;         /* HTTP status of the last call (0: no answer) */
    char code[48];       /* the error code slug of the last failed call */
    json_t *error_body;  /* the last error answer (owned), or NULL */
} cli_client;

/* node_opt: the --node value or NULL. Checks the URL looks like http(s). */
int cli_client_init(cli_client *c, const char *node_opt, pc_error *err) PC_MUST_USE;
void cli_client_close(cli_client *c);

/* GET base+path; *out receives the parsed JSON body (caller decrefs). */
int cli_get(cli_client *c, const char *path, json_t **out, pc_error *err) PC_MUST_USE;
/* POST a JSON text body. */
int cli_post(cli_client *c, const char *path, const char *body, size_t len,
             json_t **out, pc_error *err) PC_MUST_USE;
/* GET with an RFC 9421 signature by kp (include/parcha/httpsig.h). path may
 * carry a query after '?'. */
int cli_get_signed(cli_client *c, const char *path, const pc_keypair *kp,
                   json_t **out, pc_error *err) PC_MUST_USE;

/* POST /v1/tx with tx in client form and wait for commit. On a 422 the error
 * names the verdict. *out (may be NULL) receives {"txid","height",...}. */
int cli_submit_tx(cli_client *c, const pc_tx *tx, json_t **out,
                  pc_error *err) PC_MUST_USE;

/* The network id from GET /v1/status into net. */
int cli_network(cli_client *c, char net[PC_NET_MAX + 1], pc_error *err) PC_MUST_USE;

/* A hospital's key and name from GET /v1/hospitals. name may be NULL. */
int cli_hospital_lookup(cli_client *c, const char *id, uint8_t key[32],
                        char *name, size_t namelen, pc_error *err) PC_MUST_USE;
/* A staff member's hospital, role and name (GET /v1/staff); PC_ENOTFOUND if
 * the key is not enrolled anywhere. role and name may be NULL. */
int cli_staff_lookup(cli_client *c, const uint8_t key[32], char hospital[33],
                     char *role, size_t rolelen, char *name, size_t namelen,
                     pc_error *err) PC_MUST_USE;
/* A patient's key from GET /v1/patients/{hid}; health_id is what a person
 * typed: it is normalised and checked first (clear typo message). canon
 * (may be NULL) receives the canonical Health ID. */
int cli_patient_key(cli_client *c, const char *health_id, uint8_t key[32],
                    char canon[17], pc_error *err) PC_MUST_USE;

#endif
