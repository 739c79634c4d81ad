/* The load generator's HTTP client (loadgen, single node and --cluster): one
 * thread, epoll, plain sockets and keep-alive connections (no HTTP library),
 * so that it takes as little of the machine's CPU from the nodes as it can.
 *
 * An engine holds C connections to each of one or more nodes (127.0.0.1
 * ports). A job is one request for one node; each connection has at most one
 * request in flight and takes the next job of its own node. A job carries
 * either one item (its own status and latency) or, for POST /v1/txs, a batch
 * of items whose per-item results are read from the answer (the batch
 * contract: {"results":[...]} in order). */
#ifndef PARCHA_BENCH_HTTP_H
#define PARCHA_BENCH_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "bench_common.h"
#include "parcha/tx.h"

#define BH_MAX_NODES 8
/* The node refuses bodies over 1 MiB (413). */
#define BH_MAX_BODY (1024 * 1024)

/* One request: method and path, optional extra header lines (each ending in
 * \r\n), optional body; node: index of the node it goes to. batch != 0: a
 * POST /v1/txs whose items are first .. first+items-1 of the item arrays. */
typedef struct hreq {
    const char *method;
    char *path;
    char *headers;
    char *body;
    size_t blen;
    int node;
    int batch;
    size_t first, items;
} hreq;

typedef struct bh_conn {
    int fd;
    int node;
    int busy;
    size_t job;
    double t0;
    char *out;
    size_t olen, ocap, sent;
    char *in;
    size_t ilen, icap;
} bh_conn;

typedef struct bh_engine {
    int port[BH_MAX_NODES];
    int nnodes;
    int ep;
    bh_conn *c;
    int n;
    char *last_body; /* body of the last completed response (malloc'd) */
    size_t last_len;
} bh_engine;

/* Open conns connections to each of the nnodes ports. 0 or -1 (message on
 * stderr); bh_close in both cases. */
int bh_open(bh_engine *e, const int *ports, int nnodes, int conns);
void bh_close(bh_engine *e);

/* Run jobs. rate == 0: closed loop (each connection sends its node's next job
 * as soon as its answer arrives). rate > 0: job i is due at start + i/rate
 * (jobs per second) and latency counts from that time. Item results: status
 * (HTTP status for a single job; for a batch item 200 committed ok, 422
 * committed but rejected, 202 pending, else the status POST /v1/tx gives for
 * the item's error code; -1 on a broken connection or an unreadable answer)
 * and latency in seconds. Single jobs use item index = job index. Returns
 * the time from the first send to the last answer. */
double bh_run(bh_engine *e, const hreq *jobs, size_t n, double rate, int *status, double *lat);

/* One request on a fresh single connection; status or -1 (quietly, also
 * when nothing listens on port). *body (if body is
 * not NULL) receives the answer's body (malloc'd, or NULL). */
int bh_once(int port, const hreq *r, char **body);

/* Send reqs closed-loop on conns connections per node; every item must be
 * 200. Returns 0, or -1 with the first failure described. */
int bh_send_all(const int *ports, int nnodes, hreq *reqs, size_t n, int conns, const char *what);

/* Free n requests and the array. */
void bh_free_reqs(hreq *r, size_t n);

/* POST /v1/tx requests for txs (freed here); route[i] (or 0 when route is
 * NULL) is the node of tx i. */
hreq *bh_tx_reqs(pc_tx *txs, size_t n, const uint8_t *route);

/* Turn n single POST /v1/tx requests (taken over and freed) into POST /v1/txs
 * batches of up to per items, each batch for one node (items keep their
 * order within a node). *nout receives the number of batches. NULL on
 * failure (a batch body over 1 MiB is a failure, with a message). */
hreq *bh_batch_reqs(hreq *single, size_t n, size_t per, size_t *nout);

/* n pre-signed transactions of the mix (references only to what the
 * generator was told is committed) as POST /v1/tx requests, each for the node
 * of its hospital (bw_world.route) when nnodes > 1, else all for node 0. */
hreq *bh_mix_reqs(bw_world *w, size_t n, int nnodes);

/* Over the items: how many have status want or want2 (use 0 for none), and
 * the p50/p99 of their latencies in ms. */
void bh_stats(const int *st, const double *lat, size_t n, int want, int want2, size_t *count,
              double *p50, double *p99);
/* "200 x123, 409 x2" over the items. */
void bh_status_summary(const int *st, size_t n, char *out, size_t outlen);

/* GET /v1/status of the node at port: 0 with its height, head (hex) and txs
 * (any may be NULL), or -1. */
int bh_node_status(int port, long long *height, char *head, size_t headlen, long long *txs);

/* The node's flow-control counters (GET /v1/status, ordering.flow_control):
 * proposer holds and their total ms. 0, or -1 when the node has none. */
int bh_node_flow(int port, long long *holds, long long *held_ms);

#endif
