/* Retention of etcd's window (DESIGN §6, docs/cluster.md), etcd orderer only.
 *
 * A thread that, about once a second:
 *   - publishes the position this node has applied (orderer ops->applied),
 *     when it moved and either retention.publish_interval_ms passed or
 *     retention.publish_every_blocks blocks were applied since the last one;
 *   - every retention.interval_ms (with up to 20 % random jitter, so nodes do
 *     not all ask at once) compacts etcd to the lowest published position
 *     minus retention.margin (pc_etcd_compact_retained; idempotent, so every
 *     node may do it);
 *   - lets the node check the orderer's health (pc_node_health_tick). */
#ifndef PARCHA_NODE_RETENTION_H
#define PARCHA_NODE_RETENTION_H

#include "node/node_core.h"

int pc_retention_open(pc_node *n, pc_retention **out, pc_error *err) PC_MUST_USE;

typedef struct pc_retention_info {
    uint64_t published;      /* last position published */
    uint64_t compacted_to;   /* last revision compacted to by this node (0 = none) */
    int64_t last_compact_ms; /* wall clock of the last successful compaction request */
    char last_error[256];
} pc_retention_info;
/* NULL-safe (zeros). */
void pc_retention_get(pc_retention *r, pc_retention_info *out);

/* Stop and join (NULL-safe, idempotent), then free. */
void pc_retention_stop(pc_retention *r);
void pc_retention_close(pc_retention *r);

#endif
