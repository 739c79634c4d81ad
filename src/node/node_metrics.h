/* parchad's Prometheus metrics: lock-free counters and fixed-bucket
 * histograms updated from any thread, rendered as Prometheus text format
 * 0.0.4 for GET /metrics. All names are prefixed parcha_. */
#ifndef PARCHA_NODE_METRICS_H
#define PARCHA_NODE_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include "parcha/common.h"
#include "parcha/ledger.h"

#define PC_HIST_BUCKETS 14

/* A histogram of durations in seconds with fixed upper bounds. */
typedef struct pc_hist {
    atomic_uint_fast64_t counts[PC_HIST_BUCKETS]; /* non-cumulative */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_ns;
} pc_hist;

/* Reasons a transaction is refused at admission (before the mempool). */
typedef enum pc_admit_reason {
    PC_AR_BAD_JSON = 0,
    PC_AR_BAD_FIELD,
    PC_AR_UNKNOWN_FIELD,
    PC_AR_NON_INTEGRAL,
    PC_AR_WRONG_NETWORK,
    PC_AR_TIME_WINDOW,
    PC_AR_BAD_SIGNATURE,
    PC_AR_DUPLICATE,
    PC_AR_TOO_BIG,
    PC_AR_UNAVAILABLE,
    PC_AR_COUNT
} pc_admit_reason;

#define PC_METRICS_NCODES 16

typedef struct pc_metrics {
    atomic_uint_fast64_t txs_committed;      /* verdict ok */
    atomic_uint_fast64_t rejected_ledger[PC_V_COUNT]; /* by verdict (ok unused) */
    atomic_uint_fast64_t rejected_admission[PC_AR_COUNT];
    atomic_uint_fast64_t http_codes[PC_METRICS_NCODES];
    atomic_uint_fast64_t blocks_applied;
    atomic_uint_fast64_t proposals_submitted;
    atomic_uint_fast64_t proposals_failed;
    atomic_uint_fast64_t catchup_blocks;     /* blocks applied from peers */
    atomic_uint_fast64_t catchup_rounds;     /* catch-ups started */
    atomic_uint_fast64_t catchup_failures;   /* rounds that could not finish */
    atomic_uint_fast64_t forwarded_reads;    /* content reads sent to the custodian */
    atomic_uint_fast64_t checkpoints_taken;
    atomic_uint_fast64_t retention_compactions; /* compactions this node asked for */
    pc_hist commit_latency; /* POST received -> commit known */
    pc_hist block_apply;    /* pc_ledger_apply duration */
    pc_hist verify_batch;   /* one signature-verification batch */
} pc_metrics;

/* Values read at render time, owned by the node. */
typedef struct pc_metrics_gauges {
    uint64_t height;
    uint64_t mempool;
    uint64_t txs_total;       /* transactions stored in the ledger */
    uint64_t connections;     /* open HTTP connections */
    int64_t uptime_s;
} pc_metrics_gauges;

/* Cluster values read at render time (docs/cluster.md). */
typedef struct pc_metrics_cluster {
    int orderer_connected;      /* 1 or 0 */
    int catching_up;            /* 1 or 0 */
    uint64_t last_delivered;    /* orderer position */
    uint64_t etcd_member_switches;
    uint64_t etcd_stalls;
    uint64_t applied_published; /* position last published for retention */
    uint64_t compacted_revision;/* revision this node last compacted etcd to */
    uint64_t checkpoint_height; /* height of the newest signed checkpoint */
    uint64_t flow_holds;        /* proposer holds for a lagging node */
    uint64_t flow_held_ms;      /* their total length */
    uint64_t flow_slowest_lag_ms; /* lag of the waited-for node lagging most */
    int64_t orderer_down_s;     /* -1 when not down */
} pc_metrics_cluster;

/* Append the cluster metrics and counters to out. */
int pc_metrics_render_cluster(pc_metrics *m, const pc_metrics_cluster *c, pc_buf *out)
    PC_MUST_USE;

void pc_metrics_init(pc_metrics *m);
void pc_metrics_http(pc_metrics *m, unsigned status);
void pc_metrics_admission_reject(pc_metrics *m, pc_admit_reason r);
/* Count one applied transaction's verdict (ok or a rejection). */
void pc_metrics_verdict(pc_metrics *m, int verdict);
void pc_hist_observe(pc_hist *h, int64_t ns);

/* Name of an admission reason: "bad_json", ... Never NULL. */
const char *pc_admit_reason_name(pc_admit_reason r);

/* Render everything as Prometheus text into out. */
int pc_metrics_render(pc_metrics *m, const pc_metrics_gauges *g, pc_buf *out)
    PC_MUST_USE;

#endif
