/* Flow control across the consortium (docs/design-changes.md §15), etcd
 * orderer only.
 *
 * Every node applies every block, but each node's proposer used to limit
 * only its own proposals in flight. A node the CPU or its disk slows down
 * therefore fell further and further behind the others, and its clients
 * waited for all the blocks before theirs (seconds; past the 10 s deadline
 * in the 3-hospital benchmark). Now each node learns how far behind the
 * others are, from the applied positions they publish in etcd, and its
 * proposer holds back while a live node lags more than max_lag_ms.
 *
 * Lag is measured in time, on this node's clock: a peer that published
 * position Q lags by how long ago this node applied the first block past Q
 * (0 when the peer has everything this node has). Peers that are not
 * waited for:
 *   - a peer whose published position has not moved for dead_after_ms while
 *     behind (down, stopped, cut off, or catching up from a peer);
 *   - a peer more than catchup_lag_ms behind (it came back from a downtime
 *     and is replaying etcd's window; the consortium does not stop for it);
 *   - a peer that never published.
 * So a dead or returning node never stalls the others; a slow live node sets
 * the consortium's pace instead of falling behind without bound. */
#ifndef PARCHA_NODE_FLOW_H
#define PARCHA_NODE_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "parcha/common.h"

typedef struct pc_flow pc_flow;

typedef struct pc_flow_options {
    int64_t max_lag_ms;     /* hold while a live peer lags more (0 = never hold) */
    int64_t dead_after_ms;  /* a peer behind and silent this long is not waited for */
    int64_t catchup_lag_ms; /* a peer further behind is catching up: not waited for */
} pc_flow_options;

/* self: this node's id (its own published position is not a peer's). */
int pc_flow_open(const char *self, const pc_flow_options *opt, pc_flow **out) PC_MUST_USE;
void pc_flow_close(pc_flow *f); /* NULL-safe */

/* This node applied the block at etcd position pos at now_ms (monotonic). */
void pc_flow_applied(pc_flow *f, uint64_t pos, int64_t now_ms);

/* Peer id was seen publishing position pos at now_ms (monotonic). Ids past
 * PC_FLOW_MAX_PEERS distinct ones are ignored. */
#define PC_FLOW_MAX_PEERS 64
void pc_flow_peer(pc_flow *f, const char *id, uint64_t pos, int64_t now_ms);

/* How far a peer at position pos lags this node, in ms (see above). */
int64_t pc_flow_lag_ms(pc_flow *f, uint64_t pos, int64_t now_ms);

/* True while some live peer lags more than max_lag_ms; *who (may be NULL,
 * PC_FLOW_ID_MAX bytes) gets the slowest such peer's id and *lag_ms its lag. */
#define PC_FLOW_ID_MAX 64
bool pc_flow_should_hold(pc_flow *f, int64_t now_ms, char *who, int64_t *lag_ms);

/* Count one hold of the proposer that lasted held_ms. */
void pc_flow_count_hold(pc_flow *f, int64_t held_ms);

typedef struct pc_flow_info {
    bool enabled;
    int64_t max_lag_ms;
    size_t peers;         /* peers that have published */
    size_t waited_for;    /* of them, live and not catching up */
    char slowest[PC_FLOW_ID_MAX]; /* the waited-for peer lagging most ("" = none) */
    int64_t slowest_lag_ms;
    uint64_t holds;       /* proposer holds so far */
    int64_t held_ms;      /* their total length */
} pc_flow_info;

/* NULL-safe (enabled = false). */
void pc_flow_get(pc_flow *f, int64_t now_ms, pc_flow_info *out);

#endif
