/* Shared pieces of the parcha benchmarks: a deterministic benchmark network
 * (keys derived from fixed seeds, so every benchmark program can rebuild them
 * for a ledger another one made), a generator of a realistic transaction mix,
 * timing and percentile helpers, and the machine's own Ed25519 verification
 * rate, against which every figure is given as a ratio.
 *
 * Nothing here is part of the node: it drives the library the way a node does,
 * so that the figures isolate the ledger from HTTP and the mempool. */
#ifndef PARCHA_BENCH_COMMON_H
#define PARCHA_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "parcha/crypto.h"
#include "parcha/ledger.h"
#include "parcha/tx.h"

#define BW_NET "benchnet"
#define BW_NHOSP 3
#define BW_STAFF_PER 10 /* per hospital: 0 clerk, 1 nurse, 2.. doctors */

/* Transaction kinds the generator makes (one per pc_tx_type it uses). */
typedef enum bw_kind {
    BW_RECORD = 1,
    BW_GRANT,
    BW_REVOKE,
    BW_ACCESS,
    BW_REGISTER
} bw_kind;

/* A record the chain holds (for access.log and reads). */
typedef struct bw_rec {
    uint64_t no;    /* record id is bw_rec_id(no) */
    uint32_t pat;   /* patient index */
    uint8_t hosp;   /* custodian hospital index */
} bw_rec;

/* A live grant (for consent.revoke). */
typedef struct bw_grant {
    uint8_t txid[32];
    uint32_t pat;
} bw_grant;

/* The benchmark network and the generator's memory of what it committed. */
typedef struct bw_world {
    /* The network id and the three hospitals' ids: BW_NET and BW_HOSP_ID
     * unless the caller points them elsewhere after bw_init (loadgen
     * --cluster uses the ids of a `parcha devnet` and its key files). */
    const char *net;
    const char *hid[BW_NHOSP];
    /* If not NULL, bw_gen writes route[i] = the hospital whose node the i-th
     * transaction goes to: the signer's hospital for record.add, the
     * custodian for access.log, the patient's registering hospital
     * (patient % BW_NHOSP) for consent.grant/revoke. */
    uint8_t *route;
    char dir[200];
    char ledger_path[240];
    pc_ledger *l;
    pc_keypair hosp[BW_NHOSP];
    pc_keypair staff[BW_NHOSP * BW_STAFF_PER];
    pc_keypair *pat;
    uint32_t npat;
    uint64_t seq, pos;
    int started;           /* genesis applied */
    int64_t clock;         /* synthetic block clock, ms */
    uint64_t rng;
    uint64_t next_rec;     /* next record number */
    uint64_t made;         /* transactions generated so far (mix ones) */
    uint64_t special_every;/* every Nth generated tx is a record of patient 0 */
    /* committed records and live grants (rings; newest overwrite oldest) */
    bw_rec *recs;
    size_t nrecs, rec_head;
    bw_grant *grants;
    size_t ngrants;
    /* generated in the current block, moved to the rings after it commits */
    bw_rec *pend_recs;
    size_t npend_recs;
    bw_grant *pend_grants;
    size_t npend_grants;
    size_t block_cap;
} bw_world;

extern const char *const BW_HOSP_ID[BW_NHOSP];

/* Monotonic seconds. */
double bw_now(void);
/* CPU seconds used by the calling thread (user + system). */
double bw_thread_cpu(void);
/* Sort v (n values) and return the q-quantile (0..1), nearest rank. */
double bw_quantile(double *v, size_t n, double q);
/* Print the machine line (cores, memory, CPU, date, kernel) to stdout. */
void bw_print_machine(void);
/* Resident set size of a process in KiB (pid 0 = self); -1 if unknown. */
long bw_rss_kib(int pid);
/* CPU seconds (user + system) used so far by process pid (0 = self); -1 if
 * unknown. */
double bw_proc_cpu(int pid);

/* Measure Ed25519 verifications per second on `threads` threads for about
 * `seconds` seconds, over real transaction signed bytes (tag + canon). */
double bw_verify_rate(int threads, double seconds);

/* Derive all keys from fixed seeds. npat patients. Returns 0 or -1. */
int bw_keys(bw_world *w, uint32_t npat);
/* Keys and generator state without a ledger (the load generator's side);
 * the clock starts at the wall clock. Returns 0 or -1. */
int bw_init(bw_world *w, uint32_t npat, int block);
/* The network's set-up transactions, signed: genesis (by the 3 hospitals),
 * staff s (0 .. BW_NHOSP*BW_STAFF_PER-1) and patient p's registration. */
int bw_genesis_tx(bw_world *w, pc_tx *tx);
int bw_staff_tx(bw_world *w, int s, pc_tx *tx);
int bw_register_tx(bw_world *w, uint32_t p, pc_tx *tx);

/* Create dir/ledger.db with genesis, staff and npat registered patients.
 * special_every: see bw_world. Returns 0 or -1 (message on stderr). */
int bw_create(bw_world *w, const char *dir, uint32_t npat, int block);
/* Reopen an existing benchmark ledger made by bw_create (keys rebuilt). */
int bw_open(bw_world *w, const char *dir, uint32_t npat);
void bw_close(bw_world *w);

/* Generate n signed transactions of the mix into txs (caller frees each with
 * pc_tx_free). Signing runs on `threads` threads. Returns 0 or -1. */
int bw_gen(bw_world *w, pc_tx *txs, size_t n, int threads);
/* Tell the generator the block just generated was committed. */
void bw_committed(bw_world *w);

/* Make and sign a proposal over txs (ownership moves) by hospital 0 and encode
 * it to wire; advances seq and the clock. Returns 0 or -1. */
int bw_wire(bw_world *w, pc_tx *txs, size_t n, pc_buf *wire);
/* Apply txs as one block (setup path; verdicts must be ok). Returns 0/-1. */
int bw_apply(bw_world *w, pc_tx *txs, size_t n);

/* Seed-derived key of an actor ("hosp", "staff", "patient") number i. */
void bw_key(pc_keypair *kp, const char *role, uint64_t i);

/* Record id of record number no into out[32]: 22 base64url characters of a
 * hash of the number (random-looking, like the CLI's ids). */
void bw_rec_id(char out[32], uint64_t no);

#endif
