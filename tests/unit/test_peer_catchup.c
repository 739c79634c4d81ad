/* Catch-up from peers (node_catchup.h) against a real parchad.
 *
 * Fixture: node A (a parchad process over `parcha init --hospitals 2`, solo
 * orderer) commits a few dozen blocks. Node B runs in this process over a
 * fresh folder with the same genesis (hosting hospital-2 only), its peers
 * pointing at A or at a lying proxy of A served by this test; a catch-up is
 * triggered by hand (what the etcd compaction hook does).
 *
 * Cases: an honest peer (B reaches A's height and head, then takes writes);
 * a peer that swaps proposals (nothing applied, the reason kept, writes
 * refused); a peer whose whole chain of headers is forged consistently, with
 * an honest second peer beside it (the second peer contradicts it, B ends on
 * A's chain and does not stop). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node_fixture.h"
#include "parcha/crypto.h"
#include "parcha/encode.h"
#include "parcha/jcs.h"
#include "node/node_catchup.h"
#include "node/node_config.h"
#include "node/node_core.h"
#include "node/node_log.h"

#define NET "catchup-net"
#define NBLOCKS 24

/* ---------------------------------------------------------------- fixture */

typedef enum lie { LIE_NONE, LIE_SWAP, LIE_FORGE } lie;

typedef struct liar {
    struct MHD_Daemon *d;
    int port;
    lie mode;
} liar;

static tnode A;
static uint64_t a_height;
static char a_head[65];
static liar L_swap, L_forge;

/* Sleep ms (between polls of a condition with a deadline). */
static void nap(long ms)
{
    usleep((useconds_t)ms * 1000);
}

static size_t collect(char *p, size_t sz, size_t nm, void *ctx)
{
    return pc_buf_append(ctx, p, sz * nm) == PC_OK ? sz * nm : 0;
}

/* GET A's url (path + query); returns status, body in out. */
static long get_a(const char *target, pc_buf *out)
{
    char url[600];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", A.port, target);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    long st = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    curl_easy_cleanup(c);
    return st;
}

/* Recompute a header's hash after changing it; returns the hex hash. */
static void rehash(json_t *header, char hex[65])
{
    pc_buf b;
    pc_buf_init(&b);
    pc_error err;
    assert_int_equal(pc_jcs_dump(header, &b, &err), PC_OK);
    uint8_t h[32];
    pc_sha256_tagged(h, PC_DOMAIN_BLOCK, b.data, b.len);
    pc_buf_free(&b);
    pc_hex_encode(hex, 65, h, 32);
}

/* Falsify a batch answer as the liar's mode says. */
static char *falsify(const liar *l, const pc_buf *body)
{
    json_error_t je;
    json_t *o = json_loadb((const char *)body->data, body->len, 0, &je);
    json_t *blocks = json_object_get(o, "blocks");
    size_t n = json_array_size(blocks);
    if (l->mode == LIE_SWAP && n >= 2) {
        /* Two proposals change places: each header now names the other's. */
        json_t *p0 = json_incref(json_object_get(json_array_get(blocks, 0), "proposal"));
        json_t *p1 = json_incref(json_object_get(json_array_get(blocks, 1), "proposal"));
        json_object_set_new(json_array_get(blocks, 0), "proposal", p1);
        json_object_set_new(json_array_get(blocks, 1), "proposal", p0);
    } else if (l->mode == LIE_FORGE && n >= 1) {
        /* Other verdicts in every block, every header re-hashed and linked:
         * a chain that checks in itself but is not A's. */
        char prev[65] = "";
        for (size_t i = 0; i < n; i++) {
            json_t *b = json_array_get(blocks, i);
            json_t *h = json_object_get(b, "header");
            if (prev[0] != '\0')
                json_object_set_new(h, "prev", json_string(prev));
            json_object_set_new(h, "results", json_string("00000000000000000000000000000000"
                                                          "00000000000000000000000000000000"));
            rehash(h, prev);
            json_object_set_new(b, "hash", json_string(prev));
        }
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* The liar: everything is A's answer, except the catch-up batches. */
static enum MHD_Result liar_answer(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *up,
                                   size_t *uplen, void **state)
{
    (void)method;
    (void)version;
    (void)up;
    (void)uplen;
    liar *l = cls;
    if (*state == NULL) {
        *state = l;
        return MHD_YES;
    }
    char target[512];
    const char *from = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from");
    const char *limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    if (from != NULL && limit != NULL)
        snprintf(target, sizeof target, "%s?from=%s&limit=%s", url, from, limit);
    else
        snprintf(target, sizeof target, "%s", url);
    pc_buf body;
    pc_buf_init(&body);
    long st = get_a(target, &body);
    char *text = NULL;
    if (st == 200 && strncmp(url, "/v1/blocks/proposals", 20) == 0)
        text = falsify(l, &body);
    else
        text = strndup(body.len ? (const char *)body.data : "", body.len);
    pc_buf_free(&body);
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, st ? (unsigned)st : 502, r);
    MHD_destroy_response(r);
    return ret;
}

static void liar_start(liar *l, lie mode)
{
    l->mode = mode;
    l->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
                            liar_answer, l, MHD_OPTION_END);
    assert_non_null(l->d);
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT);
    l->port = i->port;
}

static int setup(void **state)
{
    (void)state;
    signal(SIGUSR1, SIG_IGN); /* pc_node_fail signals the main thread */
    signal(SIGPIPE, SIG_IGN);
    pc_node_log_quiet(1);
    if (tnode_create(&A, NET) != 0 || tnode_start(&A) != 0)
        return -1;
    for (int i = 0; i < NBLOCKS; i++) {
        char *tx = tnode_staff_tx(&A, NET, pc_now_ms(), NULL);
        treply r;
        if (tx == NULL || tnode_request(&A, "POST", "/v1/tx", tx, strlen(tx), &r) != 0 || r.status != 200)
            return -1;
        free(tx);
        treply_free(&r);
    }
    treply r;
    if (tnode_request(&A, "GET", "/v1/status", NULL, 0, &r) != 0)
        return -1;
    a_height = (uint64_t)json_integer_value(json_object_get(r.json, "height"));
    snprintf(a_head, sizeof a_head, "%s", json_string_value(json_object_get(r.json, "head")));
    treply_free(&r);
    liar_start(&L_swap, LIE_SWAP);
    liar_start(&L_forge, LIE_FORGE);
    return a_height >= NBLOCKS ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (L_swap.d != NULL)
        MHD_stop_daemon(L_swap.d);
    if (L_forge.d != NULL)
        MHD_stop_daemon(L_forge.d);
    tnode_destroy(&A);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

typedef struct bnode {
    char dir[128];
    pc_node_config cfg;
    pc_node *n;
} bnode;

static void copy_file(const char *from, const char *to)
{
    pc_buf b;
    pc_buf_init(&b);
    pc_error err;
    assert_int_equal(pc_file_read(from, 16 * 1024 * 1024, &b, &err), PC_OK);
    assert_int_equal(pc_file_write(to, b.data, b.len, 0600, &err), PC_OK);
    pc_buf_free(&b);
}

/* A node hosting hospital-2 over a fresh folder with A's genesis, its peers
 * as given (a JSON object text), started in this process. */
static void b_open(bnode *b, const char *name, const char *peers)
{
    memset(b, 0, sizeof *b);
    snprintf(b->dir, sizeof b->dir, "%s/%s", A.dir, name);
    char p1[256], p2[256];
    snprintf(p1, sizeof p1, "%s/keys", b->dir);
    assert_int_equal(mkdir(b->dir, 0700), 0);
    assert_int_equal(mkdir(p1, 0700), 0);
    const char *files[] = {"genesis.bin", "keys/hospital-2.key", "keys/hospital-2.pass"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p1, sizeof p1, "%s/%s", A.data, files[i]);
        snprintf(p2, sizeof p2, "%s/%s", b->dir, files[i]);
        copy_file(p1, p2);
    }
    char json[1024];
    int len = snprintf(json, sizeof json,
                       "{\"network\":\"%s\",\"hospital\":\"hospital-2\",\"hosted\":[\"hospital-2\"],"
                       "\"listen\":\"127.0.0.1:0\",\"orderer\":\"solo\",\"peers\":%s,"
                       "\"catchup\":{\"batch\":5},\"peer_timeout_ms\":3000}",
                       NET, peers);
    snprintf(p1, sizeof p1, "%s/node.json", b->dir);
    pc_error err;
    assert_int_equal(pc_file_write(p1, json, (size_t)len, 0600, &err), PC_OK);
    char *argv[] = {"parchad", "--data", b->dir, "--threads", "1", NULL};
    assert_int_equal(pc_node_config_args(&b->cfg, 5, argv, &err), PC_OK);
    assert_int_equal(pc_node_config_load(&b->cfg, &err), PC_OK);
    int rc = pc_node_open(&b->cfg, &b->n, &err);
    if (rc != PC_OK)
        fail_msg("node B: %s", err.msg);
}

static void b_close(bnode *b)
{
    pc_node_close(b->n);
    pc_node_config_free(&b->cfg);
}

/* Wait until B's catch-up is idle again (or ms pass); returns its info. */
static pc_catchup_info b_wait(bnode *b, long ms)
{
    pc_catchup_info ci;
    for (long t = 0; t < ms; t += 50) {
        pc_catchup_get(pc_node_catchup(b->n), &ci);
        pc_head h;
        pc_node_head(b->n, &h);
        if (!ci.active && ci.rounds > 0)
            break;
        if (ci.last_error[0] != '\0' && h.height == 0)
            break; /* failing and retrying */
        nap(50);
    }
    pc_catchup_get(pc_node_catchup(b->n), &ci);
    return ci;
}

static void head_hex(bnode *b, uint64_t *height, char hex[65])
{
    pc_head h;
    pc_node_head(b->n, &h);
    *height = h.height;
    pc_hex_encode(hex, 65, h.hash, 32);
}

/* ---------------------------------------------------------------- cases */

static void test_honest_peer(void **state)
{
    (void)state;
    bnode b;
    char peers[128];
    snprintf(peers, sizeof peers, "{\"hospital-1\":\"http://127.0.0.1:%d\"}", A.port);
    b_open(&b, "b-honest", peers);
    pc_catchup_trigger(pc_node_catchup(b.n), 0);
    pc_catchup_info ci = b_wait(&b, 20000);
    uint64_t h;
    char hex[65];
    head_hex(&b, &h, hex);
    assert_string_equal(ci.last_error, "");
    assert_int_equal(h, a_height);
    assert_string_equal(hex, a_head);
    assert_int_equal(ci.blocks, a_height);
    assert_false(pc_node_catching_up(b.n));
    assert_false(pc_node_failed(b.n));
    pc_error err;
    assert_int_equal(pc_node_writable(b.n, &err), PC_OK);
    b_close(&b);
}

static void test_swapping_peer_applies_nothing(void **state)
{
    (void)state;
    bnode b;
    char peers[128];
    snprintf(peers, sizeof peers, "{\"hospital-1\":\"http://127.0.0.1:%d\"}", L_swap.port);
    b_open(&b, "b-swap", peers);
    pc_catchup_trigger(pc_node_catchup(b.n), 0);
    pc_catchup_info ci = b_wait(&b, 20000);
    uint64_t h;
    char hex[65];
    head_hex(&b, &h, hex);
    assert_int_equal(h, 0);
    assert_non_null(strstr(ci.last_error, "do not check"));
    assert_true(pc_node_catching_up(b.n));
    assert_false(pc_node_failed(b.n));
    pc_error err;
    assert_int_equal(pc_node_writable(b.n, &err), PC_EUNAVAIL);
    assert_non_null(strstr(err.msg, "catching up"));
    b_close(&b);
}

static void test_forged_chain_is_contradicted(void **state)
{
    (void)state;
    bnode b;
    char peers[192];
    snprintf(peers, sizeof peers,
             "{\"hospital-1\":\"http://127.0.0.1:%d\",\"mirror\":\"http://127.0.0.1:%d\"}", L_forge.port,
             A.port);
    b_open(&b, "b-forge", peers);
    pc_catchup_trigger(pc_node_catchup(b.n), 0);
    uint64_t h = 0;
    char hex[65] = "";
    for (int t = 0; t < 400 && h < a_height; t++) {
        nap(50);
        head_hex(&b, &h, hex);
    }
    pc_catchup_info ci = b_wait(&b, 20000);
    head_hex(&b, &h, hex);
    assert_int_equal(h, a_height);
    assert_string_equal(hex, a_head);
    assert_false(pc_node_failed(b.n));
    assert_false(ci.active);
    b_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest_peer),
        cmocka_unit_test(test_swapping_peer_applies_nothing),
        cmocka_unit_test(test_forged_chain_is_contradicted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
