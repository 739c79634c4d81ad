/* parchad's settings: DIR/node.json, then command-line flags over it. */
#ifndef PARCHA_NODE_CONFIG_H
#define PARCHA_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "parcha/common.h"
#include "parcha/tx.h"

#define PC_NODE_MAX_HOSTED 64
#define PC_NODE_MAX_ETCD 16
#define PC_NODE_PATH_MAX 1100

typedef struct pc_node_config {
    /* From the command line. */
    char data_dir[1024];
    char web_dir[1024];
    bool listen_set;      /* --listen given */
    int threads;          /* signature verifier threads; 0 = number of cores */
    int batch_ms;         /* cut a proposal after this many ms */
    size_t batch_max;     /* ... or at this many transactions */
    int max_connections;
    int conn_timeout_s;

    /* From node.json (listen may be overridden by --listen). */
    char network[PC_NET_MAX + 1];
    char hospital[33];
    char hosted[PC_NODE_MAX_HOSTED][33];
    size_t nhosted;
    char listen_host[256];
    int listen_port;      /* 0 = pick a free port */
    char orderer[16];     /* "solo" or "etcd" */
    const char *etcd_endpoints[PC_NODE_MAX_ETCD];
    size_t netcd;
    const char *etcd_prefix; /* NULL = "/parcha/<net>/p/" */
    const char *etcd_cacert, *etcd_cert, *etcd_key, *etcd_user, *etcd_password;
    int etcd_stall_ms;
    char *etcd_password_buf; /* read from etcd.password_file (wiped at free) */
    json_t *peers;        /* {"<hospital id>": "<base URL>"} (owned, may be NULL) */
    json_t *json;         /* the parsed node.json; owns the borrowed strings */

    /* Files, resolved against data_dir when relative ("" = not set). */
    char etcd_cacert_path[PC_NODE_PATH_MAX], etcd_cert_path[PC_NODE_PATH_MAX],
        etcd_key_path[PC_NODE_PATH_MAX];
    char tls_cert[PC_NODE_PATH_MAX], tls_key[PC_NODE_PATH_MAX]; /* HTTPS for parchad */
    char peer_cacert[PC_NODE_PATH_MAX]; /* CA for calling peers over HTTPS */
    char peer_cert[PC_NODE_PATH_MAX], peer_key[PC_NODE_PATH_MAX]; /* optional client cert */
    int peer_timeout_ms;         /* a whole peer request (default 5000) */
    int peer_read_timeout_ms;    /* a forwarded content read (default 6000) */

    /* Retention of etcd's window (etcd orderer only). */
    uint64_t retention_margin;   /* revisions kept below the lowest applied */
    uint64_t retention_max_lag;  /* positions further behind are not counted (0 = all) */
    int retention_interval_ms;   /* how often to compact (0 = never) */
    int publish_interval_ms;     /* publish the applied position at most this often */
    uint64_t publish_every_blocks; /* ... or after this many blocks */

    /* Flow control across the consortium (etcd orderer only, node_flow.h). */
    int flow_max_lag_ms;         /* hold proposals while a live node lags more (0 = off) */
    int flow_interval_ms;        /* publish and read applied positions this often */
    int flow_dead_after_ms;      /* a node behind and silent this long is not waited for */
    int flow_catchup_lag_ms;     /* a node further behind is catching up: not waited for */

    /* Signed checkpoints. */
    uint64_t ckpt_every_blocks;  /* at every height divisible by this (0 = off) */
    int ckpt_interval_ms;        /* and this often when the head moved (0 = off) */
    size_t ckpt_keep;            /* how many to keep */

    /* Catch-up from peers. */
    size_t catchup_batch;        /* blocks per request */
} pc_node_config;

/* Results of pc_node_config_args besides PC_OK / errors. */
#define PC_NODE_CONFIG_HELP 100

/* Fill defaults, then read flags: --data DIR (required), --listen HOST:PORT,
 * --threads N, --batch-ms N, --batch-max N, --web DIR, --max-connections N,
 * --help. Returns PC_OK, PC_NODE_CONFIG_HELP, or PC_EINVAL with err saying
 * which flag is wrong. */
int pc_node_config_args(pc_node_config *c, int argc, char **argv, pc_error *err)
    PC_MUST_USE;

/* Read DIR/node.json into c (flags already given win). */
int pc_node_config_load(pc_node_config *c, pc_error *err) PC_MUST_USE;

/* Parse "HOST:PORT" or "[V6]:PORT". PC_OK or PC_EINVAL. */
int pc_node_parse_listen(const char *s, char *host, size_t hostlen, int *port,
                         pc_error *err) PC_MUST_USE;

/* Is id among the hosted hospitals? */
bool pc_node_config_hosts(const pc_node_config *c, const char *id);

void pc_node_config_free(pc_node_config *c);

/* The usage text for --help. */
extern const char pc_node_usage[];

#endif
