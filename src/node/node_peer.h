/* Talking to other hospitals' nodes (DESIGN §3 "peers"): where each one is
 * (node.json "peers", else the endpoint its hospital.admit or genesis entry
 * put on the chain), and plain HTTP(S) GETs to them with libcurl, bounded by
 * a timeout, counted for /metrics by peer and status.
 *
 * Used by the content-read forwarding (node_http.c), catch-up
 * (node_catchup.c) and anyone else who needs a peer's answer. Thread-safe. */
#ifndef PARCHA_NODE_PEER_H
#define PARCHA_NODE_PEER_H

#include <stdbool.h>
#include "parcha/common.h"
#include "parcha/ledger.h"
#include "node/node_config.h"

#define PC_PEER_URL_MAX 256
#define PC_PEER_MAX 64
#define PC_PEER_BODY_MAX ((size_t)96 * 1024 * 1024) /* largest answer accepted */

typedef struct pc_peers pc_peers;

/* One peer: hospital id and base URL (no trailing slash). */
typedef struct pc_peer {
    char id[33];
    char url[PC_PEER_URL_MAX];
} pc_peer;

/* An answer from a peer. */
typedef struct pc_peer_reply {
    long status;          /* HTTP status */
    pc_buf body;
    char ctype[96];       /* Content-Type, "" if none */
    char position[24];    /* X-Parcha-Position, "" if none */
} pc_peer_reply;

void pc_peer_reply_init(pc_peer_reply *r);
void pc_peer_reply_free(pc_peer_reply *r);

/* Read what the config says about peers and TLS; contacts nobody. cfg must
 * outlive the handle. */
int pc_peers_open(const pc_node_config *cfg, pc_peers **out, pc_error *err) PC_MUST_USE;
void pc_peers_close(pc_peers *p);

/* The base URL of hospital's node into url: node.json's "peers" entry, else
 * the endpoint on the chain (l is a reader handle). PC_ENOTFOUND when
 * neither knows the hospital. */
int pc_peers_url(pc_peers *p, pc_ledger *l, const char *hospital,
                 char url[PC_PEER_URL_MAX], pc_error *err) PC_MUST_USE;

/* Every other hospital's node (this node's hosted hospitals left out), from
 * node.json and the chain, at most max, in a stable order starting at a
 * random place (so load spreads over peers). Returns the count. */
size_t pc_peers_list(pc_peers *p, pc_ledger *l, pc_peer *out, size_t max);

/* The name of a hospital on the chain into name ("" if unknown). */
void pc_peers_hospital_name(pc_ledger *l, const char *hospital, char *name, size_t len);

/* GET base_url + target (a path with its query, sent as is) with the extra
 * header lines given ("Name: value"), within timeout_ms (connect included).
 * PC_OK when any HTTP answer came (look at r->status); PC_EUNAVAIL when the
 * peer could not be reached or did not answer in time; PC_EINVAL when the
 * request cannot be made here (bad TLS files or URL); PC_ETOOBIG when the
 * answer exceeds max_body. err says which in words. `peer` names the
 * hospital for the metrics. */
int pc_peers_get(pc_peers *p, const char *peer, const char *base_url, const char *target,
                 const char *const *headers, size_t nheaders, int timeout_ms,
                 size_t max_body, pc_peer_reply *r, pc_error *err) PC_MUST_USE;

/* Remember that hospital's node did not answer (now), or forget it. */
void pc_peers_mark_down(pc_peers *p, const char *hospital, bool down);
/* Did hospital's node fail to answer within the last ms milliseconds? */
bool pc_peers_recently_down(pc_peers *p, const char *hospital, int64_t ms);

/* Append parcha_peer_requests_total{peer,code} to out (Prometheus text). */
int pc_peers_render_metrics(pc_peers *p, pc_buf *out) PC_MUST_USE;

#endif
