/* Test support for tests that need a running parchad; see node_fixture.h. */
#include "node_fixture.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parcha/encode.h"
#include "parcha/keyfile.h"

int tnode_create(tnode *n, const char *net)
{
    memset(n, 0, sizeof *n);
    n->pid = -1;
    if (pc_crypto_init() != 0)
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(n->dir, sizeof n->dir, "/tmp/parcha-node-XXXXXX");
    if (mkdtemp(n->dir) == NULL)
        return -1;
    snprintf(n->data, sizeof n->data, "%s/net", n->dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/parcha init --data %s --network %s --hospitals 2 >/dev/null",
             PARCHA_BINARY_DIR, n->data, net);
    if (system(cmd) != 0)
        return -1;
    char key[160], passf[160], *pass = NULL;
    size_t plen = 0;
    pc_error err;
    snprintf(key, sizeof key, "%s/keys/hospital-1.key", n->data);
    snprintf(passf, sizeof passf, "%s/keys/hospital-1.pass", n->data);
    if (pc_pass_read_file(passf, &pass, &plen, &err) != PC_OK)
        return -1;
    int rc = pc_keyfile_read(key, pass, plen, &n->hosp, &err);
    pc_pass_free(pass, plen);
    return rc == PC_OK ? 0 : -1;
}

int tnode_start(tnode *n)
{
    char portf[160];
    snprintf(portf, sizeof portf, "%s/parchad.port", n->data);
    unlink(portf);
    n->port = 0;
    n->pid = fork();
    if (n->pid < 0)
        return -1;
    if (n->pid == 0) {
        char bin[256], log[160];
        snprintf(bin, sizeof bin, "%s/parchad", PARCHA_BINARY_DIR);
        snprintf(log, sizeof log, "%s/parchad.log", n->dir);
        if (freopen(log, "a", stderr) == NULL)
            _exit(127);
        execl(bin, bin, "--data", n->data, "--listen", "127.0.0.1:0", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1200 && n->port == 0; i++) {
        FILE *f = fopen(portf, "r");
        if (f != NULL) {
            if (fscanf(f, "%d", &n->port) != 1)
                n->port = 0;
            fclose(f);
        }
        if (n->port == 0) {
            if (waitpid(n->pid, NULL, WNOHANG) != 0) {
                n->pid = -1;
                return -1;
            }
            usleep(25000);
        }
    }
    return n->port > 0 ? 0 : -1;
}

int tnode_stop(tnode *n, int sig)
{
    int status = 0;
    if (n->pid > 0) {
        kill(n->pid, sig);
        waitpid(n->pid, &status, 0);
        n->pid = -1;
    }
    return status;
}

void tnode_destroy(tnode *n)
{
    tnode_stop(n, SIGKILL);
    if (n->dir[0] != '\0' && getenv("KEEP_TMP") == NULL) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", n->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", n->dir);
    }
    pc_key_wipe(&n->hosp);
    curl_global_cleanup();
}

static size_t on_body(char *p, size_t sz, size_t nm, void *ctx)
{
    return pc_buf_append(ctx, p, sz * nm) == PC_OK ? sz * nm : 0;
}

int tnode_request(const tnode *n, const char *method, const char *path,
                  const char *body, size_t len, treply *r)
{
    memset(r, 0, sizeof *r);
    pc_buf_init(&r->body);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", n->port, path);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return -1;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK)
        return -1;
    json_error_t je;
    r->json = json_loadb((const char *)r->body.data, r->body.len, 0, &je);
    return 0;
}

void treply_free(treply *r)
{
    pc_buf_free(&r->body);
    json_decref(r->json);
    r->json = NULL;
}

const char *treply_code(const treply *r)
{
    return json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
}

const char *treply_message(const treply *r)
{
    return json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
}

char *tnode_staff_tx(const tnode *n, const char *net, int64_t time_ms, uint8_t txid[32])
{
    pc_keypair staff;
    if (pc_key_generate(&staff) != 0)
        return NULL;
    char k[64];
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s}", "hospital", "hospital-1",
                             "key", pc_b64_encode(k, sizeof k, staff.pk, 32), "name", "Dr. Test",
                             "role", "doctor", "regno", "R-1");
    pc_key_wipe(&staff);
    json_t *u = pc_tx_build(net, "staff.enroll", time_ms, body);
    const pc_keypair *keys[1] = {&n->hosp};
    pc_error err;
    pc_tx tx;
    int rc = pc_tx_sign(u, keys, 1, &tx, &err);
    json_decref(u);
    if (rc != PC_OK)
        return NULL;
    char *text = pc_tx_to_json(&tx, NULL);
    if (txid != NULL)
        memcpy(txid, tx.txid, 32);
    pc_tx_free(&tx);
    return text;
}
