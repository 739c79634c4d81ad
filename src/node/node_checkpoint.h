/* Signed checkpoints of this node (checkpoint.h, docs/cluster.md).
 *
 * A thread takes a consistent snapshot of ledger.db (head and state digest in
 * one read transaction, on a read handle of its own), signs
 * {v, net, hospital, height, head, state, time} with this node's hospital
 * key, and keeps the newest ones in memory and in DIR/checkpoints.json.
 * It does so:
 *   - at every height divisible by checkpoints.every_blocks: the delivery
 *     thread pins the snapshot right after applying that block (cheap: a
 *     BEGIN and one read) and the digest is computed here, so every node
 *     signs the same heights and `parcha audit` can compare them;
 *   - every checkpoints.interval_ms, and once at start, at the current head;
 *   - on demand (POST /v1/checkpoints).
 * A new snapshot at a height already kept replaces it only if it differs, and
 * that is logged as an error: the stored state changed under the node. */
#ifndef PARCHA_NODE_CHECKPOINT_H
#define PARCHA_NODE_CHECKPOINT_H

#include <jansson.h>
#include "parcha/checkpoint.h"
#include "node/node_core.h"

int pc_ckpts_open(pc_node *n, pc_ckpts **out, pc_error *err) PC_MUST_USE;

/* Heights between aligned checkpoints for a chain of ntx transactions:
 * every x 2^floor(log2(ntx / 65,536)), every itself below 131,072. ntx at a
 * height is the same on every node, so every node picks the same heights. */
uint64_t pc_ckpts_grid_step(uint64_t every, uint64_t ntx);

/* The block-time period of aligned checkpoints for a chain of ntx
 * transactions: 40 us of block time per stored transaction (a digest costs
 * about 2-3.5 us per stored transaction here, so digests stay near 5-9% of
 * one core however small the blocks), at most an hour; 0 (every grid height
 * counts) below 16,384 transactions, where a digest takes a few ms. */
int64_t pc_ckpts_period_ms(uint64_t ntx);

/* Whether a height on the grid is aligned by block time: a multiple of the
 * period (pc_ckpts_period_ms(ntx)) lies in (time_before, time_now], where
 * time_before is the time of the block one grid step earlier. Block times
 * are in the block headers, so every node decides the same. */
bool pc_ckpts_time_aligned(int64_t time_before, int64_t time_now, uint64_t ntx);

/* The delivery thread applied the block at height. NULL-safe. */
void pc_ckpts_on_block(pc_ckpts *c, uint64_t height);

/* Take one now at the current head and return it (waits up to 30 s). */
int pc_ckpts_take(pc_ckpts *c, pc_checkpoint *out, pc_error *err) PC_MUST_USE;

/* The newest `limit` checkpoints as wire objects, newest first (new
 * reference). */
json_t *pc_ckpts_list(pc_ckpts *c, size_t limit);

/* The kept checkpoint at height; PC_ENOTFOUND if none. */
int pc_ckpts_get(pc_ckpts *c, uint64_t height, pc_checkpoint *out) PC_MUST_USE;

/* Height of the newest checkpoint (0 if none). NULL-safe. */
uint64_t pc_ckpts_latest_height(pc_ckpts *c);

/* Stop and join the thread (NULL-safe, idempotent); then free. */
void pc_ckpts_stop(pc_ckpts *c);
void pc_ckpts_close(pc_ckpts *c);

#endif
