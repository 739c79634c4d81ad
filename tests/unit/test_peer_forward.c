/* Reading a record that another hospital keeps (docs/cluster.md): the reader
 * asks its own hospital's node, which passes the signed request on unchanged
 * to the custodian's node and relays the answer.
 *
 * Fixture: `parcha demo` (offline) makes a network whose node A (a parchad
 * process) hosts all three hospitals and keeps every record. Node B runs in
 * this process over a fresh folder with the same genesis, hosting
 * sunrise-clinic only, with city-general's node at A; it catches up from A
 * (so it knows every record's metadata) and serves HTTP itself.
 *
 * Cases: a patient reads a city-general record through B (200, access.log
 * committed at A); the same signed request again is refused by A as a replay
 * and B relays the 401; with A stopped the reader gets a 503 naming the
 * custodian, at once for a while after the first failure, and a request that
 * got that 503 still works once A is back (B did not use up its nonce); a
 * record sent to B for city-general is refused with A's URL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parcha/encode.h"
#include "parcha/httpsig.h"
#include "parcha/keyfile.h"
#include "parcha/tx.h"
#include "node/node_catchup.h"
#include "node/node_config.h"
#include "node/node_core.h"
#include "node/node_http.h"
#include "node/node_log.h"

/* ---------------------------------------------------------------- fixture */

static char dir[64];
static char demo[128];
static pid_t a_pid = -1;
static int a_port;
static pc_node_config bcfg;
static pc_node *B;
static pc_http *bhttp;
static uint16_t b_port;
static pc_keypair patient;
static char health_id[32];
static char record_id[80]; /* a record of the patient kept by city-general */

static void nap(long ms)
{
    usleep((useconds_t)ms * 1000);
}

/* Start A over the demo folder; waits for DIR/parchad.port. */
static int a_start(void)
{
    char portf[200];
    snprintf(portf, sizeof portf, "%s/parchad.port", demo);
    unlink(portf);
    a_pid = fork();
    if (a_pid < 0)
        return -1;
    if (a_pid == 0) {
        char bin[256], log[200], listen[64];
        snprintf(bin, sizeof bin, "%s/parchad", PARCHA_BINARY_DIR);
        snprintf(log, sizeof log, "%s/a.log", dir);
        snprintf(listen, sizeof listen, "127.0.0.1:%d", a_port);
        if (freopen(log, "a", stderr) == NULL)
            _exit(127);
        execl(bin, bin, "--data", demo, "--listen", listen, "--threads", "1", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1200; i++) {
        FILE *f = fopen(portf, "r");
        int p = 0;
        if (f != NULL) {
            if (fscanf(f, "%d", &p) != 1)
                p = 0;
            fclose(f);
        }
        if (p > 0) {
            a_port = p;
            return 0;
        }
        if (waitpid(a_pid, NULL, WNOHANG) != 0)
            return -1;
        nap(25);
    }
    return -1;
}

static void a_stop(void)
{
    if (a_pid > 0) {
        kill(a_pid, SIGTERM);
        waitpid(a_pid, NULL, 0);
        a_pid = -1;
    }
}

static size_t collect(char *p, size_t sz, size_t nm, void *ctx)
{
    return pc_buf_append(ctx, p, sz * nm) == PC_OK ? sz * nm : 0;
}

typedef struct answer {
    long status;
    json_t *json;
    char custodian[40];
} answer;

static size_t on_header(char *d, size_t sz, size_t nm, void *ctx)
{
    answer *a = ctx;
    size_t n = sz * nm;
    if (n > 20 && strncasecmp(d, "X-Parcha-Custodian: ", 20) == 0) {
        size_t l = n - 20;
        while (l > 0 && (d[20 + l - 1] == '\r' || d[20 + l - 1] == '\n'))
            l--;
        if (l >= sizeof a->custodian)
            l = sizeof a->custodian - 1;
        memcpy(a->custodian, d + 20, l);
        a->custodian[l] = '\0';
    }
    return n;
}

/* A request to port with optional extra headers and body. */
static answer req(int port, const char *method, const char *path, const char *h1, const char *h2,
                  const char *body)
{
    answer a;
    memset(&a, 0, sizeof a);
    char url[400];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    pc_buf out;
    pc_buf_init(&out);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
    if (h1 != NULL)
        hl = curl_slist_append(hl, h1);
    if (h2 != NULL)
        hl = curl_slist_append(hl, h2);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    a.json = json_loadb((const char *)out.data, out.len, 0, NULL);
    pc_buf_free(&out);
    return a;
}

/* Signed GET headers for path (malloc'd "Name: value" lines). */
static void sign(const char *path, char **h1, char **h2)
{
    char *si = NULL, *sg = NULL;
    pc_error err;
    assert_int_equal(pc_httpsig_sign(&patient, "GET", path, NULL, pc_now_ms() / 1000, &si, &sg, &err), PC_OK);
    size_t l1 = strlen(si) + 40, l2 = strlen(sg) + 40;
    *h1 = malloc(l1);
    *h2 = malloc(l2);
    snprintf(*h1, l1, "Signature-Input: %s", si);
    snprintf(*h2, l2, "Signature: %s", sg);
    free(si);
    free(sg);
}

static const char *err_code(const answer *a)
{
    return json_string_value(json_object_get(json_object_get(a->json, "error"), "code"));
}

static const char *err_msg(const answer *a)
{
    return json_string_value(json_object_get(json_object_get(a->json, "error"), "message"));
}

static void copy_file(const char *from, const char *to)
{
    pc_buf b;
    pc_buf_init(&b);
    pc_error err;
    assert_int_equal(pc_file_read(from, 16 * 1024 * 1024, &b, &err), PC_OK);
    assert_int_equal(pc_file_write(to, b.data, b.len, 0600, &err), PC_OK);
    pc_buf_free(&b);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGUSR1, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    pc_node_log_quiet(1);
    if (pc_crypto_init() != 0)
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(dir, sizeof dir, "/tmp/parcha-fwd-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(demo, sizeof demo, "%s/demo", dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/parcha demo --data %s --patients 2 >/dev/null 2>&1", PARCHA_BINARY_DIR, demo);
    if (system(cmd) != 0)
        return -1;
    a_port = 0;
    if (a_start() != 0)
        return -1;

    /* The patient's key. */
    char p[300];
    snprintf(p, sizeof p, "%s/demo-keys/index.json", demo);
    json_t *idx = json_load_file(p, 0, NULL);
    json_t *pt = json_array_get(json_object_get(idx, "patients"), 0);
    const char *kf = json_string_value(json_object_get(pt, "key_file"));
    const char *pf = json_string_value(json_object_get(pt, "pass_file"));
    snprintf(health_id, sizeof health_id, "%s", json_string_value(json_object_get(pt, "health_id")));
    char *pass = NULL;
    size_t plen = 0;
    pc_error err;
    int rc = kf != NULL && pf != NULL && pc_pass_read_file(pf, &pass, &plen, &err) == PC_OK
                 ? pc_keyfile_read(kf, pass, plen, &patient, &err)
                 : PC_EINVAL;
    pc_pass_free(pass, plen);
    json_decref(idx);
    if (rc != PC_OK)
        return -1;

    /* Node B: sunrise-clinic only, city-general at A. */
    char bdir[128];
    snprintf(bdir, sizeof bdir, "%s/b", dir);
    snprintf(p, sizeof p, "%s/keys", bdir);
    if (mkdir(bdir, 0700) != 0 || mkdir(p, 0700) != 0)
        return -1;
    const char *files[] = {"genesis.bin", "keys/sunrise-clinic.key", "keys/sunrise-clinic.pass"};
    for (size_t i = 0; i < 3; i++) {
        char from[300], to[300];
        snprintf(from, sizeof from, "%s/%s", demo, files[i]);
        snprintf(to, sizeof to, "%s/%s", bdir, files[i]);
        copy_file(from, to);
    }
    char json[1024];
    snprintf(p, sizeof p, "%s/node.json", demo);
    json_t *anode = json_load_file(p, 0, NULL);
    int len = snprintf(json, sizeof json,
                       "{\"network\":\"%s\",\"hospital\":\"sunrise-clinic\",\"hosted\":[\"sunrise-clinic\"],"
                       "\"listen\":\"127.0.0.1:0\",\"orderer\":\"solo\","
                       "\"peers\":{\"city-general\":\"http://127.0.0.1:%d\"},\"peer_read_timeout_ms\":3000}",
                       json_string_value(json_object_get(anode, "network")), a_port);
    json_decref(anode);
    snprintf(p, sizeof p, "%s/node.json", bdir);
    if (pc_file_write(p, json, (size_t)len, 0600, &err) != PC_OK)
        return -1;
    char *argv[] = {"parchad", "--data", bdir, "--threads", "1", NULL};
    if (pc_node_config_args(&bcfg, 5, argv, &err) != PC_OK || pc_node_config_load(&bcfg, &err) != PC_OK ||
        pc_node_open(&bcfg, &B, &err) != PC_OK) {
        fprintf(stderr, "node B: %s\n", err.msg);
        return -1;
    }
    pc_catchup_trigger(pc_node_catchup(B), 0);
    pc_catchup_info ci;
    for (int i = 0; i < 600; i++) {
        nap(50);
        pc_catchup_get(pc_node_catchup(B), &ci);
        if (ci.rounds > 0 && !ci.active)
            break;
    }
    if (ci.active || ci.blocks == 0 || pc_http_start(B, &bhttp, &b_port, &err) != PC_OK)
        return -1;

    /* A record of the patient that city-general keeps, as B sees it. */
    snprintf(p, sizeof p, "/v1/patients/%s/timeline", health_id);
    answer t = req(b_port, "GET", p, NULL, NULL, NULL);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(t.json, "records"), i, r) {
        if (strcmp(json_string_value(json_object_get(r, "custodian")), "city-general") == 0) {
            snprintf(record_id, sizeof record_id, "%s", json_string_value(json_object_get(r, "id")));
            break;
        }
    }
    json_decref(t.json);
    return record_id[0] != '\0' ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pc_http_quiesce(bhttp);
    pc_node_stop(B);
    pc_http_stop(bhttp);
    pc_node_close(B);
    pc_node_config_free(&bcfg);
    a_stop();
    pc_key_wipe(&patient);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- cases */

static void test_read_through_own_node(void **state)
{
    (void)state;
    char path[160], *h1, *h2;
    snprintf(path, sizeof path, "/v1/records/%s/content", record_id);
    sign(path, &h1, &h2);
    answer a = req(b_port, "GET", path, h1, h2, NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.custodian, "city-general");
    const char *atx = json_string_value(json_object_get(a.json, "access_txid"));
    assert_non_null(atx);
    assert_non_null(json_string_value(json_object_get(a.json, "blob")));
    assert_string_equal(json_string_value(json_object_get(a.json, "basis")), "patient");
    /* The access.log was committed at the custodian. */
    char tpath[128];
    snprintf(tpath, sizeof tpath, "/v1/tx/%s", atx);
    answer t = req(a_port, "GET", tpath, NULL, NULL, NULL);
    assert_int_equal(t.status, 200);
    assert_string_equal(json_string_value(json_object_get(t.json, "verdict")), "ok");
    json_decref(t.json);

    /* The same signed request again: the custodian refuses the replay. */
    answer again = req(b_port, "GET", path, h1, h2, NULL);
    assert_int_equal(again.status, 401);
    assert_string_equal(err_code(&again), "bad_signature");
    assert_non_null(strstr(err_msg(&again), "already used"));
    json_decref(again.json);
    json_decref(a.json);
    free(h1);
    free(h2);

    /* A bad signature is refused at B without asking A. */
    answer bad = req(b_port, "GET", path, "Signature-Input: sig1=()", "Signature: sig1=:AA==:", NULL);
    assert_int_equal(bad.status, 401);
    json_decref(bad.json);
}

static void test_custodian_down(void **state)
{
    (void)state;
    char path[160], *h1, *h2;
    snprintf(path, sizeof path, "/v1/records/%s/content", record_id);
    sign(path, &h1, &h2);
    a_stop();
    answer a = req(b_port, "GET", path, h1, h2, NULL);
    assert_int_equal(a.status, 503);
    assert_string_equal(err_code(&a), "unavailable");
    assert_non_null(strstr(err_msg(&a), "(city-general, City General Hospital) cannot be reached"));
    assert_non_null(strstr(err_msg(&a), "other records still show"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(a.json, "error"), "custodian")),
                        "city-general");
    json_decref(a.json);

    /* Other data still answers from B's own copy of the chain. */
    char tl[96];
    snprintf(tl, sizeof tl, "/v1/patients/%s/timeline", health_id);
    answer t = req(b_port, "GET", tl, NULL, NULL, NULL);
    assert_int_equal(t.status, 200);
    json_decref(t.json);

    /* A is back on the same port; after B's 5 s memory of the failure the
     * request that got the 503 goes through: B did not use up its nonce. */
    assert_int_equal(a_start(), 0);
    answer quick = req(b_port, "GET", path, h1, h2, NULL);
    assert_int_equal(quick.status, 503); /* remembered for 5 s */
    json_decref(quick.json);
    nap(5200);
    answer ok = req(b_port, "GET", path, h1, h2, NULL);
    assert_int_equal(ok.status, 200);
    json_decref(ok.json);
    free(h1);
    free(h2);
}

static void test_record_for_another_custodian(void **state)
{
    (void)state;
    pc_keypair author;
    assert_int_equal(pc_key_generate(&author), 0);
    uint8_t sealed[PC_SEALED_KEY_LEN] = {0}, hash[32] = {0};
    char pk[64], sk[160], hx[65];
    pc_random(sealed, sizeof sealed);
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s}", "id", "fwd-test-1", "patient",
                             pc_b64_encode(pk, sizeof pk, patient.pk, 32), "hi_type", "Prescription", "date",
                             "2026-01-02", "hash", pc_hex_encode(hx, sizeof hx, hash, 32), "size", 40,
                             "custodian", "city-general", "sealed_key",
                             pc_b64_encode(sk, sizeof sk, sealed, sizeof sealed), "fhir", "MedicationRequest");
    json_t *u = pc_tx_build(bcfg.network, "record.add", pc_now_ms(), body);
    const pc_keypair *keys[1] = {&author};
    pc_tx tx;
    pc_error err;
    assert_int_equal(pc_tx_sign(u, keys, 1, &tx, &err), PC_OK);
    json_decref(u);
    char *txt = pc_tx_to_json(&tx, NULL);
    pc_tx_free(&tx);
    size_t n = strlen(txt) + 300;
    char *post = malloc(n);
    snprintf(post, n, "{\"tx\":%s,\"blob\":\"AAAA\",\"sealed_custodian\":\"%s\"}", txt, sk);
    free(txt);
    answer a = req(b_port, "POST", "/v1/records", "Content-Type: application/json", NULL, post);
    free(post);
    assert_int_equal(a.status, 503);
    assert_string_equal(err_code(&a), "unavailable");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", a_port);
    assert_non_null(strstr(err_msg(&a), url));
    assert_non_null(strstr(err_msg(&a), "City General Hospital"));
    json_decref(a.json);
    pc_key_wipe(&author);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_through_own_node),
        cmocka_unit_test(test_custodian_down),
        cmocka_unit_test(test_record_for_another_custodian),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
