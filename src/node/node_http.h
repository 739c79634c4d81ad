/* parchad's HTTP API (docs/api.md) on libmicrohttpd: a pool of threads
 * (several per core); a write is suspended while its transaction commits, so
 * no pool thread sleeps on a commit (node_http.c explains the design). */
#ifndef PARCHA_NODE_HTTP_H
#define PARCHA_NODE_HTTP_H

#include <stdint.h>
#include "parcha/common.h"
#include "node/node_core.h"

#define PC_HTTP_BODY_MAX ((size_t)1024 * 1024) /* 1 MiB: larger bodies get 413 */

typedef struct pc_http pc_http;

/* Start serving on cfg's listen address. *port receives the bound port (the
 * chosen one when the configured port is 0). */
int pc_http_start(pc_node *n, pc_http **out, uint16_t *port, pc_error *err)
    PC_MUST_USE;
/* Stop accepting connections; open ones carry on. */
void pc_http_quiesce(pc_http *h);
/* Resume what is suspended, close every connection, join the pool and free. */
void pc_http_stop(pc_http *h);

#endif
