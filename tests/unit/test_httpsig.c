/* Tests for RFC 9421 signed requests (src/core/httpsig.c): the signature base
 * layout against a hand-written expectation, sign/verify round trips, every
 * covered component tampered, the created window on both sides, wrong keys,
 * malformed headers, and the replay cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "parcha/crypto.h"
#include "parcha/httpsig.h"

/* ---- fixture ---- */

#define NOW 1700000000LL
#define PATH "/v1/records/rx-1/content"

static pc_keypair alice, bob;

static int setup(void **state)
{
    (void)state;
    uint8_t seed[32];
    if (pc_crypto_init() != 0)
        return -1;
    memset(seed, 1, sizeof seed);
    if (pc_key_from_seed(&alice, seed) != 0)
        return -1;
    memset(seed, 2, sizeof seed);
    if (pc_key_from_seed(&bob, seed) != 0)
        return -1;
    return 0;
}

/* ---- helpers ---- */

typedef struct signed_req {
    char *input;
    char *sig;
} signed_req;

static signed_req sign_req(const pc_keypair *kp, const char *method,
                           const char *path, const char *query, int64_t created)
{
    signed_req r = {NULL, NULL};
    pc_error err;
    assert_int_equal(pc_httpsig_sign(kp, method, path, query, created, &r.input,
                                     &r.sig, &err),
                     PC_OK);
    return r;
}

static void free_req(signed_req *r)
{
    free(r->input);
    free(r->sig);
}

static int verify(const char *method, const char *path, const char *query,
                  const char *input, const char *sig, int64_t now,
                  uint8_t key[32], char nonce[PC_HTTPSIG_NONCE_MAX + 1])
{
    pc_error err;
    pc_error_clear(&err);
    int rc = pc_httpsig_verify(method, path, query, input, sig, now,
                               PC_HTTPSIG_WINDOW_S, key, nonce, &err);
    if (rc != PC_OK)
        assert_true(strlen(err.msg) > 0);
    return rc;
}

/* ---- cases ---- */

static void test_base_layout(void **state)
{
    (void)state;
    pc_buf b;
    pc_buf_init(&b);
    const char *params = "(\"@method\" \"@path\" \"@query\");created=1;nonce=\"abcdefgh\";keyid=\"k\";alg=\"ed25519\"";
    assert_int_equal(pc_httpsig_base("GET", "/x", NULL, params, &b), PC_OK);
    const char *want =
        "\"@method\": GET\n\"@path\": /x\n\"@query\": ?\n"
        "\"@signature-params\": (\"@method\" \"@path\" \"@query\");created=1;"
        "nonce=\"abcdefgh\";keyid=\"k\";alg=\"ed25519\"";
    assert_string_equal((const char *)b.data, want);
    pc_buf_free(&b);

    /* With or without the leading '?', the query line is the same. */
    pc_buf_init(&b);
    assert_int_equal(pc_httpsig_base("GET", "/x", "?a=1", params, &b), PC_OK);
    assert_non_null(strstr((const char *)b.data, "\"@query\": ?a=1\n"));
    pc_buf_free(&b);
    pc_buf_init(&b);
    assert_int_equal(pc_httpsig_base("GET", "/x", "a=1", params, &b), PC_OK);
    assert_non_null(strstr((const char *)b.data, "\"@query\": ?a=1\n"));
    pc_buf_free(&b);
}

/* The header values have the documented shape, and an independent
 * Ed25519 check over a hand-built base accepts the signature. */
static void test_header_shape_and_independent_check(void **state)
{
    (void)state;
    char *in = NULL, *sig = NULL;
    pc_error err;
    assert_int_equal(pc_httpsig_sign_nonce(&alice, "GET", PATH, NULL, NOW,
                                           "nonce-123_ABC", &in, &sig, &err),
                     PC_OK);
    char keyid[64];
    sodium_bin2base64(keyid, sizeof keyid, alice.pk, 32,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char want[512];
    snprintf(want, sizeof want,
             "sig1=(\"@method\" \"@path\" \"@query\");created=%lld;"
             "nonce=\"nonce-123_ABC\";keyid=\"%s\";alg=\"ed25519\"",
             (long long)NOW, keyid);
    assert_string_equal(in, want);
    assert_true(strncmp(sig, "sig1=:", 6) == 0);
    assert_int_equal(sig[strlen(sig) - 1], ':');

    char base[1024];
    snprintf(base, sizeof base,
             "\"@method\": GET\n\"@path\": " PATH "\n\"@query\": ?\n"
             "\"@signature-params\": %s", in + 5);
    uint8_t raw[64];
    size_t rawlen = 0;
    assert_int_equal(sodium_base642bin(raw, sizeof raw, sig + 6, strlen(sig) - 7,
                                       NULL, &rawlen, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(rawlen, 64);
    assert_int_equal(crypto_sign_ed25519_verify_detached(
                         raw, (const uint8_t *)base, strlen(base), alice.pk),
                     0);
    free(in);
    free(sig);
}

static void test_round_trip(void **state)
{
    (void)state;
    signed_req r = sign_req(&alice, "GET", PATH, "?x=1&y=2", NOW);
    uint8_t key[32];
    char nonce[PC_HTTPSIG_NONCE_MAX + 1];
    assert_int_equal(verify("GET", PATH, "x=1&y=2", r.input, r.sig, NOW, key, nonce), PC_OK);
    assert_memory_equal(key, alice.pk, 32);
    assert_true(strlen(nonce) >= PC_HTTPSIG_NONCE_MIN);
    assert_non_null(strstr(r.input, nonce));
    free_req(&r);

    r = sign_req(&alice, "GET", PATH, NULL, NOW);
    assert_int_equal(verify("GET", PATH, "", r.input, r.sig, NOW, key, nonce), PC_OK);
    assert_int_equal(verify("GET", PATH, "?", r.input, r.sig, NOW, key, nonce), PC_OK);
    free_req(&r);
}

static void test_tampered(void **state)
{
    (void)state;
    signed_req r = sign_req(&alice, "GET", PATH, "a=1", NOW);
    uint8_t key[32];
    char nonce[PC_HTTPSIG_NONCE_MAX + 1];
    assert_int_equal(verify("POST", PATH, "a=1", r.input, r.sig, NOW, key, nonce), PC_ECRYPTO);
    assert_int_equal(verify("GET", "/v1/records/rx-2/content", "a=1", r.input, r.sig, NOW, key, nonce), PC_ECRYPTO);
    assert_int_equal(verify("GET", PATH, "a=2", r.input, r.sig, NOW, key, nonce), PC_ECRYPTO);
    assert_int_equal(verify("GET", PATH, NULL, r.input, r.sig, NOW, key, nonce), PC_ECRYPTO);

    /* Changing created inside the header breaks the signature. */
    char *in2 = strdup(r.input);
    char *c = strstr(in2, "created=");
    assert_non_null(c);
    c[strlen("created=") + 9] = (char)(c[strlen("created=") + 9] == '0' ? '1' : '0');
    assert_int_equal(verify("GET", PATH, "a=1", in2, r.sig, NOW, key, nonce), PC_ECRYPTO);
    free(in2);

    /* A flipped signature byte. */
    char *sig2 = strdup(r.sig);
    sig2[10] = (char)(sig2[10] == 'A' ? 'B' : 'A');
    assert_int_not_equal(verify("GET", PATH, "a=1", r.input, sig2, NOW, key, nonce), PC_OK);
    free(sig2);
    free_req(&r);
}

static void test_window(void **state)
{
    (void)state;
    uint8_t key[32];
    char nonce[PC_HTTPSIG_NONCE_MAX + 1];
    signed_req r = sign_req(&alice, "GET", PATH, NULL, NOW - 60);
    assert_int_equal(verify("GET", PATH, NULL, r.input, r.sig, NOW, key, nonce), PC_OK);
    free_req(&r);
    r = sign_req(&alice, "GET", PATH, NULL, NOW - 61);
    assert_int_equal(verify("GET", PATH, NULL, r.input, r.sig, NOW, key, nonce), PC_EDENIED);
    free_req(&r);
    r = sign_req(&alice, "GET", PATH, NULL, NOW + 60);
    assert_int_equal(verify("GET", PATH, NULL, r.input, r.sig, NOW, key, nonce), PC_OK);
    free_req(&r);
    r = sign_req(&alice, "GET", PATH, NULL, NOW + 61);
    assert_int_equal(verify("GET", PATH, NULL, r.input, r.sig, NOW, key, nonce), PC_EDENIED);
    free_req(&r);
}

/* Bob signs but the header claims Alice's key. */
static void test_wrong_key(void **state)
{
    (void)state;
    char *in = NULL, *sig = NULL;
    pc_error err;
    assert_int_equal(pc_httpsig_sign_nonce(&bob, "GET", PATH, NULL, NOW,
                                           "nnnnnnnnnn", &in, &sig, &err),
                     PC_OK);
    char akey[64], bkey[64];
    sodium_bin2base64(akey, sizeof akey, alice.pk, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_bin2base64(bkey, sizeof bkey, bob.pk, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *k = strstr(in, bkey);
    assert_non_null(k);
    memcpy(k, akey, strlen(akey));
    uint8_t key[32];
    char nonce[PC_HTTPSIG_NONCE_MAX + 1];
    assert_int_equal(verify("GET", PATH, NULL, in, sig, NOW, key, nonce), PC_ECRYPTO);
    free(in);
    free(sig);
}

static void test_malformed(void **state)
{
    (void)state;
    signed_req r = sign_req(&alice, "GET", PATH, NULL, NOW);
    uint8_t key[32];
    char nonce[PC_HTTPSIG_NONCE_MAX + 1];
    char keyid[64];
    sodium_bin2base64(keyid, sizeof keyid, alice.pk, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char buf[1024];

    assert_int_equal(verify("GET", PATH, NULL, NULL, r.sig, NOW, key, nonce), PC_EINVAL);
    assert_int_equal(verify("GET", PATH, NULL, r.input, NULL, NOW, key, nonce), PC_EINVAL);
    assert_int_equal(verify("GET", PATH, NULL, "", r.sig, NOW, key, nonce), PC_EINVAL);
    assert_int_equal(verify("GET", PATH, NULL, r.input, "", NOW, key, nonce), PC_EINVAL);
    assert_int_equal(verify("GET", PATH, NULL, r.input, "sig1=:AAAA:", NOW, key, nonce), PC_EINVAL);
    assert_int_equal(verify("GET", PATH, NULL, r.input, "sig2=:AAAA:", NOW, key, nonce), PC_EINVAL);

    const char *bad_inputs[] = {
        "sig2=(\"@method\" \"@path\" \"@query\");created=1700000000;nonce=\"abcdefgh\";keyid=\"%s\"",
        "sig1=(\"@method\" \"@path\");created=1700000000;nonce=\"abcdefgh\";keyid=\"%s\"",
        "sig1=(\"@method\" \"@path\" \"@query\" \"@authority\");created=1700000000;nonce=\"abcdefgh\";keyid=\"%s\"",
        "sig1=(\"@method\" \"@path\" \"@query\");nonce=\"abcdefgh\";keyid=\"%s\"",
        "sig1=(\"@method\" \"@path\" \"@query\");created=1700000000;keyid=\"%s\"",
        "sig1=(\"@method\" \"@path\" \"@query\");created=1700000000;nonce=\"abcdefgh\"%s",
        "sig1=(\"@method\" \"@path\" \"@query\");created=-1;nonce=\"abcdefgh\";keyid=\"%s\"",
        "sig1=(\"@method\" \"@path\" \"@query\");created=\"1\";nonce=\"abcdefgh\";keyid=\"%s\"",
        "sig1=(\"@method\" \"@path\" \"@query\");created=1700000000;nonce=\"short\";keyid=\"%s\"",
        "sig1=(\"@method\" \"@path\" \"@query\");created=1700000000;nonce=\"abc\\\"defgh\";keyid=\"%s\"",
        "sig1=(\"@method\" \"@path\" \"@query\");created=1700000000;nonce=\"abcdefgh\";keyid=\"%sA\"",
        "sig1=(\"@method\" \"@path\" \"@query\");created=1700000000;nonce=\"abcdefgh\";keyid=\"%s\";alg=\"rsa-pss-sha512\"",
        "sig1=(\"@method\" \"@path\" \"@query\");created=1700000000;nonce=\"abcdefgh\";keyid=\"%s\";expires=1",
        "sig1=(\"@method\" \"@path\" \"@query\");created=1700000000;created=1700000000;nonce=\"abcdefgh\";keyid=\"%s\"",
        "sig1=(\"@method\" \"@path\" \"@query\");created=1700000000;nonce=\"abcdefgh\";keyid=\"%s\", sig2=()",
        "sig1=(\"@method\" \"@path\" \"@query\");created=1700000000;nonce=\"abcdefgh;keyid=\"%s\"",
    };
    for (size_t i = 0; i < sizeof bad_inputs / sizeof bad_inputs[0]; i++) {
        snprintf(buf, sizeof buf, bad_inputs[i], keyid);
        if (verify("GET", PATH, NULL, buf, r.sig, NOW, key, nonce) != PC_EINVAL)
            fail_msg("accepted malformed Signature-Input #%zu: %s", i, buf);
    }

    /* A newline in the path or a bad method never reaches the base. */
    assert_int_equal(verify("GET", "/v1/x\n\"@method\": POST", NULL, r.input, r.sig, NOW, key, nonce), PC_EINVAL);
    assert_int_equal(verify("get", PATH, NULL, r.input, r.sig, NOW, key, nonce), PC_EINVAL);
    assert_int_equal(verify("GET", "relative", NULL, r.input, r.sig, NOW, key, nonce), PC_EINVAL);

    /* Signing refuses the same. */
    char *in = NULL, *sig = NULL;
    pc_error err;
    assert_int_equal(pc_httpsig_sign_nonce(&alice, "GET", PATH, NULL, NOW, "bad nonce!", &in, &sig, &err), PC_EINVAL);
    assert_null(in);
    assert_null(sig);
    assert_int_equal(pc_httpsig_sign(&alice, "GET", "/a b", NULL, NOW, &in, &sig, &err), PC_EINVAL);
    assert_null(in);
    free_req(&r);
}

static void test_replay_cache(void **state)
{
    (void)state;
    pc_httpsig_replay rc;
    pc_error err;
    assert_int_equal(pc_httpsig_replay_init(&rc, 4, 60), PC_OK);
    assert_int_equal(pc_httpsig_replay_check(&rc, alice.pk, "nonce-aaaa", NOW, &err), PC_OK);
    assert_int_equal(pc_httpsig_replay_check(&rc, alice.pk, "nonce-aaaa", NOW + 1, &err), PC_EEXIST);
    /* Same nonce, other key: a different request. */
    assert_int_equal(pc_httpsig_replay_check(&rc, bob.pk, "nonce-aaaa", NOW + 1, &err), PC_OK);
    assert_int_equal(pc_httpsig_replay_check(&rc, alice.pk, "nonce-bbbb", NOW + 1, &err), PC_OK);
    assert_int_equal(pc_httpsig_replay_check(&rc, alice.pk, "nonce-cccc", NOW + 1, &err), PC_OK);
    /* Full: refused, not silently forgotten. */
    assert_int_equal(pc_httpsig_replay_check(&rc, alice.pk, "nonce-dddd", NOW + 2, &err), PC_EUNAVAIL);
    /* Still a replay just before expiry (2 * window after first use). */
    assert_int_equal(pc_httpsig_replay_check(&rc, alice.pk, "nonce-aaaa", NOW + 119, &err), PC_EEXIST);
    /* After expiry the slot frees up. */
    assert_int_equal(pc_httpsig_replay_check(&rc, alice.pk, "nonce-dddd", NOW + 121, &err), PC_OK);
    assert_int_equal(pc_httpsig_replay_check(&rc, alice.pk, "bad", NOW + 121, &err), PC_EINVAL);
    pc_httpsig_replay_free(&rc);

    /* Many entries spread over buckets. */
    assert_int_equal(pc_httpsig_replay_init(&rc, 10000, 60), PC_OK);
    char n[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(n, sizeof n, "nonce-%05d", i);
        assert_int_equal(pc_httpsig_replay_check(&rc, alice.pk, n, NOW, &err), PC_OK);
    }
    for (int i = 0; i < 5000; i += 97) {
        snprintf(n, sizeof n, "nonce-%05d", i);
        assert_int_equal(pc_httpsig_replay_check(&rc, alice.pk, n, NOW, &err), PC_EEXIST);
    }
    pc_httpsig_replay_free(&rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_layout),
        cmocka_unit_test(test_header_shape_and_independent_check),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_replay_cache),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
