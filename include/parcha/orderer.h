/* The orderer interface (DESIGN §6): something that takes proposals and hands
 * back one total order of them. `solo` does this in-process; `etcd` does it
 * through an etcd cluster. The node does not know which one it has.
 *
 * A proposal is an opaque byte string to the orderer. Positions are strictly
 * increasing 64-bit numbers (for etcd, the revision of the put); they need not
 * be contiguous. Every proposal submitted by any node is delivered exactly once
 * and in the same order to every node. */
#ifndef PARCHA_ORDERER_H
#define PARCHA_ORDERER_H

#include "parcha/common.h"

/* Called for each ordered proposal, in order, from the orderer's own delivery
 * thread. The bytes are only valid during the call. Return PC_OK to go on;
 * any other code stops delivery (the orderer will redeliver from the last
 * acknowledged position after a restart). */
typedef int (*pc_deliver_fn)(void *ctx, uint64_t position, const uint8_t *proposal,
                             size_t len);

typedef struct pc_orderer pc_orderer;

typedef struct pc_orderer_ops {
    /* Start delivering every proposal with position > after. */
    int (*start)(pc_orderer *o, uint64_t after, pc_deliver_fn fn, void *ctx);
    /* Submit a proposal under this node's own sequence number `seq` (unique per
     * node; resubmitting the same seq is a no-op, which makes retries safe).
     * Returns once the orderer has durably accepted it (PC_OK), or an error:
     * PC_EUNAVAIL when no quorum is reachable. Thread-safe. */
    int (*submit)(pc_orderer *o, uint64_t seq, const uint8_t *proposal, size_t len);
    /* Stop delivery and free everything. */
    void (*close)(pc_orderer *o);
    /* Optional: publish the position this node has applied (for retention).
     * May be NULL. */
    int (*applied)(pc_orderer *o, uint64_t position);
} pc_orderer_ops;

struct pc_orderer {
    const pc_orderer_ops *ops;
    char name[16]; /* "solo", "etcd" */
};

/* The in-process orderer: positions 1, 2, 3, ... continuing from `after`
 * given to start. Delivery happens on a thread of its own. */
int pc_solo_open(pc_orderer **out, pc_error *err) PC_MUST_USE;

/* Options for the etcd orderer. */
typedef struct pc_etcd_options {
    const char *const *endpoints; /* e.g. "http://127.0.0.1:2379" */
    size_t nendpoints;
    const char *prefix;  /* "/parcha/<net>/p/" : all proposals live below it */
    const char *node_id; /* this node's key segment: prefix + node_id + "/" + seq */
    const char *cacert, *cert, *key; /* optional TLS files */
    const char *user, *password;     /* optional etcd auth (JWT tokens) */
    int stall_timeout_ms;            /* watch silence before switching member */
} pc_etcd_options;

/* The etcd orderer (libcurl + the v3 JSON gateway). */
int pc_etcd_open(const pc_etcd_options *opt, pc_orderer **out, pc_error *err)
    PC_MUST_USE;

/* ---- etcd-specific additions (only valid on an orderer from pc_etcd_open;
 * on any other they return PC_EINVAL). ---- */

/* Called once, from the delivery thread, when etcd has compacted away the
 * revisions the watch still needed (the watch was answered `canceled` with
 * `compact_revision`). Delivery has stopped for good at that point: the node
 * must catch up by fetching blocks from a peer, then close this orderer and
 * open a new one that starts after the position in its last block. */
typedef void (*pc_etcd_compacted_fn)(void *ctx, uint64_t compact_revision);

/* Install the compaction hook. Call before start(); fn may be NULL. */
int pc_etcd_on_compacted(pc_orderer *o, pc_etcd_compacted_fn fn, void *ctx);

/* What the etcd orderer is doing, for /status pages, logs and tests. */
typedef struct pc_etcd_stats {
    size_t watch_member;      /* index in endpoints[] the watch uses now */
    size_t request_member;    /* index in endpoints[] submit()/applied() use */
    int watching;             /* 1 while a watch stream is established */
    int delivery_code;        /* PC_OK while delivering; PC_ENOTFOUND after a
                                 compaction overtook the watch; the refusing code
                                 after deliver() refused; PC_EDENIED if etcd
                                 denied the watch; PC_EINVAL if the TLS files
                                 or endpoint URLs are unusable */
    uint64_t last_delivered;  /* highest position handed to deliver() */
    uint64_t compact_revision;/* set with delivery_code == PC_ENOTFOUND */
    uint64_t member_switches; /* watch and request moves to another member */
    uint64_t watch_streams;   /* watch streams opened (1 + reconnects) */
    uint64_t stalls;          /* watch silences longer than stall_timeout_ms */
    uint64_t retries;         /* request attempts beyond the first */
    uint64_t reauths;         /* tokens fetched from /v3/auth/authenticate */
    uint64_t duplicates_skipped; /* watch events at or below last_delivered */
    uint64_t resubmits_matched;  /* submits whose key already held our bytes */
    size_t largest_message;   /* longest watch message seen, in bytes */
    char last_error[256];     /* latest failure a person may want to read */
} pc_etcd_stats;

/* Copy the current statistics into *out. */
int pc_etcd_get_stats(const pc_orderer *o, pc_etcd_stats *out);

/* Retention: read every node's published applied revision (see applied())
 * under the "/parcha/<net>/applied/" sibling of the prefix, and compact etcd
 * to (their minimum - margin). A node that never published is not counted
 * (it will catch up from a peer). *compacted_to (may be NULL) receives the
 * revision compacted to, or 0 when there was nothing to do. Returns PC_OK
 * (also when etcd was already compacted that far), PC_ENOTFOUND when no node
 * has published, PC_EINVAL for a malformed published value, PC_EUNAVAIL
 * when etcd cannot be reached. */
int pc_etcd_compact_retained(pc_orderer *o, uint64_t margin, uint64_t *compacted_to,
                             pc_error *err) PC_MUST_USE;

#endif
