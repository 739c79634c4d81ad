/* Building a network's data folder without a running node: `parcha init`
 * (hospital keys, genesis proposal, node.json, block 0) and `parcha demo`
 * (which then commits more blocks straight into ledger.db). The proposals
 * made here are ordinary signed proposals applied with pc_ledger_apply, so a
 * node started later on the folder re-verifies and continues the same chain. */
#ifndef PARCHA_CLI_OFFLINE_H
#define PARCHA_CLI_OFFLINE_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "cli/args.h"
#include "parcha/keyfile.h"
#include "parcha/ledger.h"
#include "parcha/tx.h"

#define CLI_MAX_FOUNDERS 16

/* An open offline network: the founders' keys (the folder's node hosts them
 * all) and the ledger the blocks go into. */
typedef struct cli_offline {
    char dir[1024];
    char net[PC_NET_MAX + 1];
    size_t n;
    cli_hospital_spec hospitals[CLI_MAX_FOUNDERS];
    pc_keypair keys[CLI_MAX_FOUNDERS];
    char passes[CLI_MAX_FOUNDERS][64]; /* generated passphrases (wiped on close) */
    pc_ledger *ledger;
    uint64_t next_pos;   /* orderer position of the next block */
    uint64_t next_seq;   /* proposal sequence of hospital 0 */
    uint64_t blocks, txs;/* committed so far (including genesis) */
} cli_offline;

/* Create DIR (if missing) and in it: keys/<id>.key and .pass (mode 0600),
 * genesis.bin (the genesis proposal by hospital 0, seq 0, signed by every
 * founder), node.json (hosting every founder, solo orderer, listen) and
 * ledger.db with block 0 applied. Refuses a folder that already holds any of
 * these. Everything is validated before the first file is written; on a
 * later failure the files written so far are removed. */
int cli_offline_create(const char *dir, const char *net,
                       const cli_hospital_spec *hospitals, size_t n,
                       const char *listen, pc_kdf_cost cost, cli_offline *out,
                       pc_error *err) PC_MUST_USE;

/* A network whose founders each run their own node (a consortium across
 * machines, or `parcha devnet`): one folder per founder, DIR/<id>/, holding
 * only that hospital's key (keys/<id>.key and .pass, mode 0600), the same
 * genesis.bin (signed by every founder, proposed by the first) and a
 * node.json made from configs[i] (the orderer, etcd, listen and peers
 * settings; not stolen) with "network", "hospital" and "hosted" set here.
 * No ledger.db is written: each node applies genesis.bin when it first
 * starts, at position 0. o receives every founder's key as with
 * cli_offline_create, but o->ledger is NULL (no offline commits: later
 * blocks must come through the nodes' orderer). Validation and clean-up on
 * failure are as for cli_offline_create. */
int cli_offline_create_split(const char *dir, const char *net,
                             const cli_hospital_spec *hospitals, size_t n,
                             json_t *const *configs, pc_kdf_cost cost, cli_offline *o,
                             pc_error *err) PC_MUST_USE;

/* Commit txs (ownership moves in; the array is emptied) as one block: a
 * proposal by hospital 0 at the next seq and the current time, applied at the
 * next position. Fails, naming the transaction, if any verdict is not "ok".
 * txids (may be NULL) receives the committed txids in order. */
int cli_offline_commit(cli_offline *o, pc_tx *txs, size_t ntx, uint8_t (*txids)[32],
                       pc_error *err) PC_MUST_USE;

/* Wipe keys and passphrases and close the ledger. */
void cli_offline_close(cli_offline *o);

/* Index of hospital id in o, or -1. */
int cli_offline_find(const cli_offline *o, const char *id);

#endif
