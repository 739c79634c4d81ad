/* Catch-up from peers (DESIGN §6, docs/cluster.md): when etcd has compacted
 * away proposals this node still needs (the etcd orderer's compaction hook,
 * at start or while running), the node closes its orderer, refuses writes,
 * fetches the missing blocks from other hospitals' nodes, re-verifies and
 * applies them one by one, checks that it reaches the very block hashes the
 * peers have, and then opens a new orderer that watches etcd from the
 * position in its last block.
 *
 * A peer's blocks are trusted for nothing: every batch's headers must chain
 * from this node's head to a last hash that a second peer confirms (when a
 * second peer can answer) before anything is applied, each header must
 * commit to the proposal that comes with it, and each applied block must
 * hash to its header. A peer that fails, sends what does not check, or is
 * contradicted by another is left for the next one. */
#ifndef PARCHA_NODE_CATCHUP_H
#define PARCHA_NODE_CATCHUP_H

#include <stdbool.h>
#include "node/node_core.h"

/* Start the catch-up thread (idle until triggered). */
int pc_catchup_open(pc_node *n, pc_catchup **out, pc_error *err) PC_MUST_USE;

/* Ask for a catch-up (safe from any thread, the orderer's delivery thread
 * included: this only wakes the catch-up thread). NULL is a no-op. */
void pc_catchup_trigger(pc_catchup *c, uint64_t compact_revision);

/* Height being caught up to (0 when none is known). NULL-safe. */
uint64_t pc_catchup_target(pc_catchup *c);

typedef struct pc_catchup_info {
    bool active;            /* a catch-up is running or waiting to retry */
    uint64_t target;        /* height of the best peer seen */
    char source[33];        /* hospital whose node is being read */
    uint64_t compact_revision; /* what triggered the last catch-up */
    uint64_t rounds;        /* catch-ups started */
    uint64_t blocks;        /* blocks applied from peers since start */
    char last_error[256];   /* why the last attempt failed, "" if it did not */
} pc_catchup_info;
void pc_catchup_get(pc_catchup *c, pc_catchup_info *out);

/* Stop the thread (interrupting a catch-up between requests) and join it.
 * NULL-safe, idempotent. */
void pc_catchup_stop(pc_catchup *c);
void pc_catchup_close(pc_catchup *c);

#endif
