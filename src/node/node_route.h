/* parchad's routing table: maps (method, raw request path) to a route and its
 * path parameters, or says "no such route" (404) or "wrong method" (405, with
 * the Allow list). Pure: no I/O, no allocation. */
#ifndef PARCHA_NODE_ROUTE_H
#define PARCHA_NODE_ROUTE_H

#include <stddef.h>

typedef enum pc_route_id {
    PC_ROUTE_NOT_FOUND = 0,
    PC_ROUTE_METHOD_NOT_ALLOWED,
    PC_ROUTE_STATIC, /* a file of the web UI (GET/HEAD outside /v1 and /metrics) */
    PC_ROUTE_TX_POST,
    PC_ROUTE_TXS_POST, /* POST /v1/txs: a batch of transactions */
    PC_ROUTE_TX_GET,
    PC_ROUTE_TX_RAW,
    PC_ROUTE_RECORDS_POST,
    PC_ROUTE_RECORD_GET,
    PC_ROUTE_RECORD_CONTENT,
    PC_ROUTE_BLOCKS,
    PC_ROUTE_BLOCK_GET,
    PC_ROUTE_BLOCK_PROPOSAL,
    PC_ROUTE_PATIENT_GET,
    PC_ROUTE_PATIENT_TIMELINE,
    PC_ROUTE_PATIENT_CONSENTS,
    PC_ROUTE_PATIENT_EMERGENCIES,
    PC_ROUTE_PATIENT_ACCESS_LOG,
    PC_ROUTE_HOSPITALS,
    PC_ROUTE_STAFF,
    PC_ROUTE_STATUS,
    PC_ROUTE_METRICS,
    PC_ROUTE_BLOCK_PROPOSALS,  /* GET /v1/blocks/proposals?from=&limit= (catch-up) */
    PC_ROUTE_CHECKPOINTS,      /* GET /v1/checkpoints */
    PC_ROUTE_CHECKPOINT_TAKE,  /* POST /v1/checkpoints */
    PC_ROUTE_CHECKPOINT_GET,   /* GET /v1/checkpoints/{height} */
    PC_ROUTE_COUNT
} pc_route_id;

#define PC_ROUTE_MAX_PARAMS 2
#define PC_ROUTE_PARAM_MAX 128 /* longest decoded path parameter */

typedef struct pc_route_match {
    pc_route_id id;
    size_t nparams;
    /* Percent-decoded path parameters, NUL-ended (e.g. the txid, record id). */
    char params[PC_ROUTE_MAX_PARAMS][PC_ROUTE_PARAM_MAX + 1];
    /* For PC_ROUTE_METHOD_NOT_ALLOWED: the Allow header value, "GET, HEAD". */
    char allow[64];
} pc_route_match;

/* Match method ("GET", ...) and path (the raw path of the request line, with
 * no query). HEAD is accepted wherever GET is. A parameter that is empty,
 * longer than PC_ROUTE_PARAM_MAX once decoded, badly percent-encoded, or that
 * decodes to '/', a control character or NUL makes the path not found.
 * Returns m->id. */
pc_route_id pc_route_find(const char *method, const char *path, pc_route_match *m);

/* A short stable name for metrics and logs ("tx_post", "static", ...). */
const char *pc_route_name(pc_route_id id);

#endif
