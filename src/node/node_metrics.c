/* Counters and histograms behind GET /metrics. Updates are relaxed atomic
 * adds (a scrape may see one counter a moment ahead of another, which
 * Prometheus tolerates); rendering reads each value once. */
#include "node/node_metrics.h"

#include <string.h>

/* Upper bounds in seconds of the histogram buckets (the last is +Inf). */
static const double BOUNDS[PC_HIST_BUCKETS - 1] = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 10.0};

/* HTTP status codes with their own series; others count as "other". */
static const unsigned CODES[PC_METRICS_NCODES - 1] = {
    200, 202, 206, 304, 400, 401, 403, 404, 405, 409, 413, 422, 500, 503, 504};

static const char *const ADMIT_NAMES[PC_AR_COUNT] = {
    "bad_json", "bad_field", "unknown_field", "non_integral", "wrong_network",
    "time_window", "bad_signature", "duplicate", "too_big", "unavailable"};

const char *pc_admit_reason_name(pc_admit_reason r)
{
    if ((int)r < 0 || r >= PC_AR_COUNT)
        return "unknown";
    return ADMIT_NAMES[r];
}

void pc_metrics_init(pc_metrics *m)
{
    memset(m, 0, sizeof *m);
}

void pc_metrics_http(pc_metrics *m, unsigned status)
{
    size_t i = 0;
    while (i < PC_METRICS_NCODES - 1 && CODES[i] != status)
        i++;
    atomic_fetch_add_explicit(&m->http_codes[i], 1, memory_order_relaxed);
}

void pc_metrics_admission_reject(pc_metrics *m, pc_admit_reason r)
{
    if ((int)r >= 0 && r < PC_AR_COUNT)
        atomic_fetch_add_explicit(&m->rejected_admission[r], 1, memory_order_relaxed);
}

void pc_metrics_verdict(pc_metrics *m, int verdict)
{
    if (verdict == PC_V_OK)
        atomic_fetch_add_explicit(&m->txs_committed, 1, memory_order_relaxed);
    else if (verdict > 0 && verdict < PC_V_COUNT)
        atomic_fetch_add_explicit(&m->rejected_ledger[verdict], 1, memory_order_relaxed);
}

void pc_hist_observe(pc_hist *h, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    double s = (double)ns / 1e9;
    size_t i = 0;
    while (i < PC_HIST_BUCKETS - 1 && s > BOUNDS[i])
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, (uint_fast64_t)ns, memory_order_relaxed);
}

static uint64_t ld(atomic_uint_fast64_t *v)
{
    return (uint64_t)atomic_load_explicit(v, memory_order_relaxed);
}

/* Render one histogram with cumulative buckets. */
static int render_hist(pc_buf *out, const char *name, const char *help, pc_hist *h)
{
    int rc = pc_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; rc == PC_OK && i < PC_HIST_BUCKETS - 1; i++) {
        cum += ld(&h->counts[i]);
        rc = pc_buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, BOUNDS[i],
                           (unsigned long long)cum);
    }
    cum += ld(&h->counts[PC_HIST_BUCKETS - 1]);
    if (rc == PC_OK)
        rc = pc_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n",
                           name, (unsigned long long)cum, name,
                           (double)ld(&h->sum_ns) / 1e9, name, (unsigned long long)cum);
    return rc;
}

int pc_metrics_render(pc_metrics *m, const pc_metrics_gauges *g, pc_buf *out)
{
    int rc = pc_buf_printf(out,
        "# HELP parcha_height Height of the last applied block.\n"
        "# TYPE parcha_height gauge\nparcha_height %llu\n"
        "# HELP parcha_mempool_size Transactions admitted but not yet committed.\n"
        "# TYPE parcha_mempool_size gauge\nparcha_mempool_size %llu\n"
        "# HELP parcha_ledger_txs Transactions stored in the ledger.\n"
        "# TYPE parcha_ledger_txs gauge\nparcha_ledger_txs %llu\n"
        "# HELP parcha_http_connections Open HTTP connections.\n"
        "# TYPE parcha_http_connections gauge\nparcha_http_connections %llu\n"
        "# HELP parcha_uptime_seconds Seconds since parchad started.\n"
        "# TYPE parcha_uptime_seconds gauge\nparcha_uptime_seconds %lld\n"
        "# HELP parcha_txs_committed_total Transactions committed with verdict ok.\n"
        "# TYPE parcha_txs_committed_total counter\nparcha_txs_committed_total %llu\n"
        "# HELP parcha_blocks_applied_total Blocks applied since start.\n"
        "# TYPE parcha_blocks_applied_total counter\nparcha_blocks_applied_total %llu\n"
        "# HELP parcha_proposals_submitted_total Proposals this node submitted to the orderer.\n"
        "# TYPE parcha_proposals_submitted_total counter\nparcha_proposals_submitted_total %llu\n"
        "# HELP parcha_proposals_failed_total Proposals the orderer did not accept.\n"
        "# TYPE parcha_proposals_failed_total counter\nparcha_proposals_failed_total %llu\n"
        "# HELP parcha_txs_rejected_total Transactions refused at admission or rejected by the ledger rules.\n"
        "# TYPE parcha_txs_rejected_total counter\n",
        (unsigned long long)g->height, (unsigned long long)g->mempool,
        (unsigned long long)g->txs_total, (unsigned long long)g->connections,
        (long long)g->uptime_s, (unsigned long long)ld(&m->txs_committed),
        (unsigned long long)ld(&m->blocks_applied),
        (unsigned long long)ld(&m->proposals_submitted),
        (unsigned long long)ld(&m->proposals_failed));
    for (int r = 0; rc == PC_OK && r < PC_AR_COUNT; r++)
        rc = pc_buf_printf(out, "parcha_txs_rejected_total{stage=\"admission\",reason=\"%s\"} %llu\n",
                           ADMIT_NAMES[r], (unsigned long long)ld(&m->rejected_admission[r]));
    for (int v = 1; rc == PC_OK && v < PC_V_COUNT; v++)
        rc = pc_buf_printf(out, "parcha_txs_rejected_total{stage=\"ledger\",reason=\"%s\"} %llu\n",
                           pc_verdict_name(v), (unsigned long long)ld(&m->rejected_ledger[v]));
    if (rc == PC_OK)
        rc = pc_buf_printf(out, "# HELP parcha_http_requests_total HTTP responses by status code.\n"
                                "# TYPE parcha_http_requests_total counter\n");
    for (size_t i = 0; rc == PC_OK && i < PC_METRICS_NCODES; i++) {
        uint64_t n = ld(&m->http_codes[i]);
        if (i < PC_METRICS_NCODES - 1)
            rc = pc_buf_printf(out, "parcha_http_requests_total{code=\"%u\"} %llu\n", CODES[i],
                               (unsigned long long)n);
        else
            rc = pc_buf_printf(out, "parcha_http_requests_total{code=\"other\"} %llu\n",
                               (unsigned long long)n);
    }
    if (rc == PC_OK)
        rc = render_hist(out, "parcha_commit_latency_seconds",
                         "Time from receiving a transaction to knowing its block.",
                         &m->commit_latency);
    if (rc == PC_OK)
        rc = render_hist(out, "parcha_block_apply_seconds",
                         "Time to apply one block to ledger.db, fsync included.",
                         &m->block_apply);
    if (rc == PC_OK)
        rc = render_hist(out, "parcha_verify_batch_seconds",
                         "Time to verify one batch of admitted transaction signatures.",
                         &m->verify_batch);
    return rc;
}

int pc_metrics_render_cluster(pc_metrics *m, const pc_metrics_cluster *c, pc_buf *out)
{
    return pc_buf_printf(out,
        "# HELP parcha_orderer_connected 1 while the orderer delivers and takes proposals.\n"
        "# TYPE parcha_orderer_connected gauge\nparcha_orderer_connected %d\n"
        "# HELP parcha_catching_up 1 while the node fetches blocks from a peer (writes refused).\n"
        "# TYPE parcha_catching_up gauge\nparcha_catching_up %d\n"
        "# HELP parcha_orderer_down_seconds Seconds since submits to the orderer started failing (-1: they do not).\n"
        "# TYPE parcha_orderer_down_seconds gauge\nparcha_orderer_down_seconds %lld\n"
        "# HELP parcha_orderer_position Last orderer position delivered to the node.\n"
        "# TYPE parcha_orderer_position gauge\nparcha_orderer_position %llu\n"
        "# HELP parcha_etcd_member_switches_total Times the etcd watch or requests moved to another member.\n"
        "# TYPE parcha_etcd_member_switches_total counter\nparcha_etcd_member_switches_total %llu\n"
        "# HELP parcha_etcd_stalls_total Times the etcd watch stayed silent past the stall timeout.\n"
        "# TYPE parcha_etcd_stalls_total counter\nparcha_etcd_stalls_total %llu\n"
        "# HELP parcha_applied_published Position this node last published to etcd for retention.\n"
        "# TYPE parcha_applied_published gauge\nparcha_applied_published %llu\n"
        "# HELP parcha_etcd_compacted_revision Revision this node last compacted etcd to (0: never).\n"
        "# TYPE parcha_etcd_compacted_revision gauge\nparcha_etcd_compacted_revision %llu\n"
        "# HELP parcha_etcd_compactions_total Compactions of etcd this node asked for.\n"
        "# TYPE parcha_etcd_compactions_total counter\nparcha_etcd_compactions_total %llu\n"
        "# HELP parcha_catchup_blocks_total Blocks fetched from peers, re-verified and applied.\n"
        "# TYPE parcha_catchup_blocks_total counter\nparcha_catchup_blocks_total %llu\n"
        "# HELP parcha_catchup_rounds_total Catch-ups from peers started.\n"
        "# TYPE parcha_catchup_rounds_total counter\nparcha_catchup_rounds_total %llu\n"
        "# HELP parcha_catchup_failures_total Catch-up attempts that could not finish (retried).\n"
        "# TYPE parcha_catchup_failures_total counter\nparcha_catchup_failures_total %llu\n"
        "# HELP parcha_forwarded_reads_total Record content reads sent on to the custodian's node.\n"
        "# TYPE parcha_forwarded_reads_total counter\nparcha_forwarded_reads_total %llu\n"
        "# HELP parcha_checkpoint_height Height of this node's newest signed checkpoint.\n"
        "# TYPE parcha_checkpoint_height gauge\nparcha_checkpoint_height %llu\n"
        "# HELP parcha_checkpoints_total Signed checkpoints taken since start.\n"
        "# TYPE parcha_checkpoints_total counter\nparcha_checkpoints_total %llu\n"
        "# HELP parcha_flow_holds_total Times the proposer held back for a lagging node (flow control).\n"
        "# TYPE parcha_flow_holds_total counter\nparcha_flow_holds_total %llu\n"
        "# HELP parcha_flow_held_ms_total Milliseconds the proposer held back for lagging nodes.\n"
        "# TYPE parcha_flow_held_ms_total counter\nparcha_flow_held_ms_total %llu\n"
        "# HELP parcha_flow_slowest_lag_ms Lag of the node this one waits for that lags most, in ms.\n"
        "# TYPE parcha_flow_slowest_lag_ms gauge\nparcha_flow_slowest_lag_ms %llu\n",
        c->orderer_connected, c->catching_up, (long long)c->orderer_down_s,
        (unsigned long long)c->last_delivered, (unsigned long long)c->etcd_member_switches,
        (unsigned long long)c->etcd_stalls, (unsigned long long)c->applied_published,
        (unsigned long long)c->compacted_revision,
        (unsigned long long)ld(&m->retention_compactions),
        (unsigned long long)ld(&m->catchup_blocks), (unsigned long long)ld(&m->catchup_rounds),
        (unsigned long long)ld(&m->catchup_failures), (unsigned long long)ld(&m->forwarded_reads),
        (unsigned long long)c->checkpoint_height, (unsigned long long)ld(&m->checkpoints_taken),
        (unsigned long long)c->flow_holds, (unsigned long long)c->flow_held_ms,
        (unsigned long long)c->flow_slowest_lag_ms);
}
