/* Test support: start a real parchad over a fresh `parcha init` folder on a
 * free port, talk HTTP to it, sign simple transactions, and stop it. Used by
 * the API error and crash-recovery tests. */
#ifndef PARCHA_TEST_NODE_FIXTURE_H
#define PARCHA_TEST_NODE_FIXTURE_H

#include <jansson.h>
#include <sys/types.h>
#include "parcha/common.h"
#include "parcha/crypto.h"
#include "parcha/tx.h"

typedef struct tnode {
    char dir[64];       /* temp folder; the network is dir/net */
    char data[96];      /* dir/net */
    pid_t pid;
    int port;
    pc_keypair hosp;    /* hospital-1's key, for signing */
} tnode;

typedef struct treply {
    long status;
    pc_buf body;
    json_t *json;       /* parsed body, or NULL */
} treply;

/* Make the folder (`parcha init --hospitals 2`, network `net`) and load
 * hospital-1's key. Returns 0 or -1. */
int tnode_create(tnode *n, const char *net);
/* Start parchad and wait (polling) until DIR/parchad.port appears. */
int tnode_start(tnode *n);
/* Signal the node and wait for it; returns its wait status. */
int tnode_stop(tnode *n, int sig);
/* Stop if running, delete the folder, wipe keys. */
void tnode_destroy(tnode *n);

/* One request; body may be NULL. Returns 0 when an HTTP answer came. */
int tnode_request(const tnode *n, const char *method, const char *path,
                  const char *body, size_t len, treply *r);
void treply_free(treply *r);
/* error.code / error.message of an error reply, or NULL. */
const char *treply_code(const treply *r);
const char *treply_message(const treply *r);

/* A valid staff.enroll signed by hospital-1 in client form (malloc'd);
 * txid receives its txid. */
char *tnode_staff_tx(const tnode *n, const char *net, int64_t time_ms, uint8_t txid[32]);

#endif
