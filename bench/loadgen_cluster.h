/* loadgen --cluster: the same pre-signed mix driven at a consortium of three
 * hospitals, each with its own parchad ordering through one etcd cluster,
 * all on this machine (started with `parcha devnet up`). See
 * loadgen_cluster.c. */
#ifndef PARCHA_LOADGEN_CLUSTER_H
#define PARCHA_LOADGEN_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

/* loadgen's options (parsed in loadgen.c, shared by both modes). */
typedef struct lg_opts {
    const char *parchad, *dir;
    size_t txs, reads, timeline;
    int conns, conns_set;
    uint32_t patients, records;
    double half_s;
    int keep;
    size_t batch;      /* 0: one tx per POST /v1/tx; N: POST /v1/txs of N */
    int full_only;     /* only the full-load figures (no half load, reads,
                        * timeline, memory or restart) */
    int cluster;       /* 0, or the number of hospitals (3) */
    const char *parcha, *etcd;
    char *extra[32];
    int nextra;
} lg_opts;

/* "1 tx per request" or "batches of N" into out. */
const char *lg_mode(const lg_opts *o, char *out, size_t outlen);

/* Run the cluster benchmark; exit status (0 ok). */
int lg_cluster(const lg_opts *o);

#endif
