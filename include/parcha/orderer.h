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

#endif
