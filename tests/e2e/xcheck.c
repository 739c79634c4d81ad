/* Cross-implementation check between the C core and the browser library
 * (web/js/parcha.js), with no node running.
 *
 *   xcheck make    prints, as one JSON object, values the C core made: a key
 *                  pair from a fixed seed and its Health ID, a key file, a
 *                  signed transaction, an encrypted record with its key sealed
 *                  to the patient, a signed read request and Merkle proofs.
 *                  The JS test must reproduce or open each of them.
 *   xcheck check   reads a JSON object the JS library made (same fields) on
 *                  stdin and checks each with the C core; prints "ok" lines
 *                  and exits non-zero on the first mismatch.
 *
 * Test-only code: errors go to stderr with the failing item's name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <sodium.h>

#include "parcha/crypto.h"
#include "parcha/encode.h"
#include "parcha/healthid.h"
#include "parcha/httpsig.h"
#include "parcha/jcs.h"
#include "parcha/keyfile.h"
#include "parcha/merkle.h"
#include "parcha/tx.h"

#define XC_PASS "correct horse battery"
#define XC_RECORD_ID "rec-xcheck-1"
#define XC_FHIR "{\"resourceType\":\"Condition\",\"code\":{\"text\":\"Type 2 diabetes\"}}"

/* Print msg and exit 1. */
static void die(const char *what, const char *msg)
{
    fprintf(stderr, "xcheck: %s: %s\n", what, msg);
    exit(1);
}

/* A base64url string of n bytes as a new json string. */
static json_t *b64j(const uint8_t *in, size_t n)
{
    char *s = pc_b64_dup(in, n);
    if (s == NULL)
        die("b64", "out of memory");
    json_t *j = json_string(s);
    free(s);
    return j;
}

static json_t *hexj(const uint8_t *in, size_t n)
{
    char buf[2 * 64 + 1];
    if (n > 64)
        die("hex", "too long");
    pc_hex_encode(buf, sizeof buf, in, n);
    return json_string(buf);
}

/* The fixed key pairs: patient from seed 1..., doctor from seed 2... */
static void seed_key(pc_keypair *kp, uint8_t fill)
{
    uint8_t seed[32];
    memset(seed, fill, sizeof seed);
    if (pc_key_from_seed(kp, seed) != PC_OK)
        die("seed", "key_from_seed failed");
}

static int cmd_make(void)
{
    pc_error err;
    pc_keypair pat, doc;
    seed_key(&pat, 1);
    seed_key(&doc, 2);
    json_t *out = json_object();

    /* Key pair and Health ID. */
    char hid[PC_HEALTHID_LEN + 1];
    pc_healthid_from_key(pat.pk, hid);
    json_object_set_new(out, "patient_pk", b64j(pat.pk, 32));
    json_object_set_new(out, "health_id", json_string(hid));

    /* Key file sealed by C (fast cost), opened by JS with XC_PASS. */
    json_t *kf = NULL;
    if (pc_keyfile_seal(&pat, "xcheck patient", XC_PASS, strlen(XC_PASS), PC_KDF_FAST,
                        &kf, &err) != PC_OK)
        die("keyfile", err.msg);
    json_object_set_new(out, "keyfile", kf);
    json_object_set_new(out, "pass", json_string(XC_PASS));

    /* A consent.grant signed by the patient. */
    char pk64[64];
    pc_b64_encode(pk64, sizeof pk64, pat.pk, 32);
    json_t *body = json_pack("{s:s,s:{s:s},s:[s,s],s:s,s:n,s:I,s:s}", "patient", pk64,
                             "grantee", "hospital", "city-general", "hi_types",
                             "Prescription", "DiagnosticReport", "from", "2024-01-01",
                             "to", "expires", (json_int_t)1900000000000LL,
                             "purpose", "CAREMGT");
    json_t *utx = pc_tx_build("xcheck-net", "consent.grant", 1800000000000LL, body);
    pc_tx tx;
    const pc_keypair *keys[1] = {&pat};
    if (utx == NULL || pc_tx_sign(utx, keys, 1, &tx, &err) != PC_OK)
        die("tx", err.msg);
    char *txt = pc_tx_to_json(&tx, NULL);
    json_object_set_new(out, "tx", json_loads(txt, 0, NULL));
    json_object_set_new(out, "txid", hexj(tx.txid, 32));
    free(txt);
    pc_tx_free(&tx);
    json_decref(utx);

    /* A record encrypted by C, its key sealed to the patient. */
    uint8_t key[32], sealed[PC_SEALED_KEY_LEN];
    pc_buf blob;
    pc_buf_init(&blob);
    if (pc_record_encrypt((const uint8_t *)XC_FHIR, strlen(XC_FHIR), XC_RECORD_ID,
                          pat.pk, key, &blob) != PC_OK ||
        pc_seal_key(key, pat.pk, sealed) != PC_OK)
        die("record", "encrypt failed");
    sodium_memzero(key, sizeof key);
    json_object_set_new(out, "record_id", json_string(XC_RECORD_ID));
    json_object_set_new(out, "record_plain", json_string(XC_FHIR));
    json_object_set_new(out, "record_blob", b64j(blob.data, blob.len));
    json_object_set_new(out, "record_sealed", b64j(sealed, sizeof sealed));
    pc_buf_free(&blob);

    /* A signed read with a fixed time and nonce: Ed25519 is deterministic, so
     * JS must produce the same two header values. */
    char *si = NULL, *sg = NULL;
    if (pc_httpsig_sign_nonce(&doc, "GET", "/v1/records/rec-1/content", "", 1800000000,
                              "xcheck-nonce-1", &si, &sg, &err) != PC_OK)
        die("httpsig", err.msg);
    json_object_set_new(out, "doctor_pk", b64j(doc.pk, 32));
    json_object_set_new(out, "sig_input", json_string(si));
    json_object_set_new(out, "signature", json_string(sg));
    free(si);
    free(sg);

    /* Merkle proofs for trees of 1..17 leaves. */
    json_t *trees = json_array();
    for (size_t n = 1; n <= 17; n++) {
        uint8_t (*leaves)[32] = calloc(n, 32);
        uint8_t root[32];
        if (leaves == NULL)
            die("merkle", "out of memory");
        for (size_t i = 0; i < n; i++)
            pc_sha256(leaves[i], &i, sizeof i);
        if (pc_merkle_root((const uint8_t(*)[32])leaves, n, root) != PC_OK)
            die("merkle", "root failed");
        json_t *proofs = json_array();
        for (size_t i = 0; i < n; i++) {
            uint8_t path[PC_MERKLE_MAX_PATH][32];
            size_t plen = 0;
            if (pc_merkle_proof((const uint8_t(*)[32])leaves, n, i, path, &plen) != PC_OK)
                die("merkle", "proof failed");
            json_t *pj = json_array();
            for (size_t k = 0; k < plen; k++)
                json_array_append_new(pj, hexj(path[k], 32));
            json_array_append_new(proofs, json_pack("{s:o,s:I,s:o}", "leaf", hexj(leaves[i], 32),
                                                    "index", (json_int_t)i, "path", pj));
        }
        json_array_append_new(trees, json_pack("{s:I,s:o,s:o}", "size", (json_int_t)n,
                                               "root", hexj(root, 32), "proofs", proofs));
        free(leaves);
    }
    json_object_set_new(out, "merkle", trees);

    pc_key_wipe(&pat);
    pc_key_wipe(&doc);
    char *s = json_dumps(out, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(out);
    return 0;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    if (s == NULL)
        die(k, "missing string");
    return s;
}

static int cmd_check(void)
{
    pc_error err;
    json_error_t jerr;
    json_t *in = json_loadf(stdin, 0, &jerr);
    if (in == NULL)
        die("stdin", jerr.text);

    /* Key file sealed by JS (INTERACTIVE or given cost) opens in C. */
    pc_keypair kp;
    const char *pass = str(in, "pass");
    if (pc_keyfile_open(json_object_get(in, "keyfile"), pass, strlen(pass), &kp, &err) != PC_OK)
        die("keyfile", err.msg);
    printf("ok keyfile opens in C\n");
    pc_keypair bad;
    if (pc_keyfile_open(json_object_get(in, "keyfile"), "wrong", 5, &bad, &err) != PC_EPASS)
        die("keyfile", "a wrong passphrase was not reported as such");
    printf("ok wrong passphrase refused: %s\n", err.msg);

    /* Health ID computed by JS equals C's. */
    char hid[PC_HEALTHID_LEN + 1];
    pc_healthid_from_key(kp.pk, hid);
    if (strcmp(hid, str(in, "health_id")) != 0)
        die("health_id", "JS and C disagree");
    printf("ok health id %s\n", hid);

    /* Transactions signed in JS parse, canonicalise to the same txid and
     * verify in C. */
    const json_t *txs = json_object_get(in, "txs");
    size_t i;
    const json_t *t;
    json_array_foreach(txs, i, t) {
        pc_tx tx;
        char *text = json_dumps(json_object_get(t, "tx"), JSON_COMPACT);
        if (text == NULL || pc_tx_parse_json(text, strlen(text), &tx, &err) != PC_OK)
            die("tx", err.msg);
        free(text);
        char id[65];
        pc_hex_encode(id, sizeof id, tx.txid, 32);
        if (strcmp(id, str(t, "txid")) != 0)
            die("txid", "JS and C disagree");
        if (pc_tx_verify(&tx) != PC_OK)
            die("tx", "signature does not verify in C");
        printf("ok %s txid %s verifies in C\n", pc_tx_type_name(tx.type), id);
        pc_tx_free(&tx);
    }

    /* A record encrypted and sealed in JS opens in C. */
    uint8_t sealed[PC_SEALED_KEY_LEN], key[32];
    size_t blen = 0;
    const char *b64 = str(in, "record_blob");
    uint8_t *blob = malloc(strlen(b64) + 1);
    pc_buf plain;
    pc_buf_init(&plain);
    if (blob == NULL || pc_b64_decode(blob, strlen(b64) + 1, &blen, b64, strlen(b64)) != 0 ||
        pc_b64_decode_exact(sealed, sizeof sealed, str(in, "record_sealed")) != 0)
        die("record", "bad encoding");
    if (pc_unseal_key(sealed, &kp, key) != PC_OK)
        die("record", "sealed key does not open in C");
    if (pc_record_decrypt(blob, blen, str(in, "record_id"), kp.pk, key, &plain) != PC_OK)
        die("record", "blob does not decrypt in C");
    if (plain.len != strlen(str(in, "record_plain")) ||
        memcmp(plain.data, str(in, "record_plain"), plain.len) != 0)
        die("record", "plaintext differs");
    printf("ok record sealed in JS opens in C\n");
    sodium_memzero(key, sizeof key);
    pc_buf_free(&plain);
    free(blob);

    /* A signed read made in JS verifies in C. */
    uint8_t keyid[32];
    char nonce[PC_HTTPSIG_NONCE_MAX + 1];
    const json_t *h = json_object_get(in, "httpsig");
    if (pc_httpsig_verify("GET", str(h, "path"), str(h, "query"), str(h, "sig_input"),
                          str(h, "signature"), (int64_t)json_integer_value(json_object_get(h, "created")),
                          PC_HTTPSIG_WINDOW_S, keyid, nonce, &err) != PC_OK)
        die("httpsig", err.msg);
    if (memcmp(keyid, kp.pk, 32) != 0)
        die("httpsig", "keyid differs");
    printf("ok signed read made in JS verifies in C\n");

    pc_key_wipe(&kp);
    json_decref(in);
    return 0;
}

int main(int argc, char **argv)
{
    if (pc_crypto_init() != 0)
        die("init", "libsodium failed to start");
    if (argc == 2 && strcmp(argv[1], "make") == 0)
        return cmd_make();
    if (argc == 2 && strcmp(argv[1], "check") == 0)
        return cmd_check();
    fprintf(stderr, "usage: xcheck make | xcheck check < js.json\n");
    return 2;
}
