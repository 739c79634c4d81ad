/* Unit tests for src/core/crypto.c: domain-tagged signatures, SHA-256, key
 * sealing and record encryption. Known answers come from RFC 8032 (Ed25519
 * test 1) and FIPS 180-2 (SHA-256 of "abc"); the rest are round trips and
 * every way a check should fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "parcha/crypto.h"

/* ---- helpers ----------------------------------------------------------- */

/* Decodes exactly n bytes of hex into out; fails the test otherwise. */
static void hex(uint8_t *out, size_t n, const char *text)
{
    size_t got = 0;
    assert_int_equal(sodium_hex2bin(out, n, text, strlen(text), NULL, &got, NULL), 0);
    assert_int_equal(got, n);
}

/* True if needle[0..nlen) occurs anywhere in hay[0..hlen). */
static int contains(const uint8_t *hay, size_t hlen, const char *needle)
{
    size_t nlen = strlen(needle);
    for (size_t i = 0; nlen <= hlen && i <= hlen - nlen; i++) {
        if (memcmp(hay + i, needle, nlen) == 0)
            return 1;
    }
    return 0;
}

/* A fresh random key pair. */
static void keypair(pc_keypair *kp)
{
    assert_int_equal(pc_key_generate(kp), PC_OK);
}

static const char RECORD_ID[] = "rec-2026-000123";
static const char CONTENT[] =
    "{\"resourceType\":\"MedicationRequest\",\"status\":\"active\"}";

/* ---- fixture ------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    return pc_crypto_init();
}

/* ---- known answers ------------------------------------------------------ */

/* RFC 8032 §7.1 TEST 1: the key pair derived from the seed and the signature
 * of the empty message, with no domain tag (raw Ed25519). */
static void test_rfc8032_vector1(void **state)
{
    uint8_t seed[32], pk[32], sig[64], got[64];
    pc_keypair kp;
    (void)state;

    hex(seed, 32, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    hex(pk, 32, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    hex(sig, 64, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                 "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    assert_int_equal(pc_key_from_seed(&kp, seed), PC_OK);
    assert_memory_equal(kp.pk, pk, 32);
    assert_int_equal(crypto_sign_detached(got, NULL, (const uint8_t *)"", 0, kp.sk), 0);
    assert_memory_equal(got, sig, 64);
    assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)"", 0, kp.pk), 0);
    pc_key_wipe(&kp);
}

static void test_sha256_known(void **state)
{
    uint8_t want[32], got[32];
    (void)state;

    hex(want, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    pc_sha256(got, "abc", 3);
    assert_memory_equal(got, want, 32);

    hex(want, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    pc_sha256(got, NULL, 0);
    assert_memory_equal(got, want, 32);
}

/* The tagged hash is SHA-256 of the joined bytes, computed independently. */
static void test_sha256_tagged(void **state)
{
    static const uint8_t joined[] = "parcha/tx/v1\0abc";
    uint8_t want[32], got[32], untagged[32];
    (void)state;

    crypto_hash_sha256(want, joined, sizeof joined - 1);
    pc_sha256_tagged(got, PC_DOMAIN_TX, "abc", 3);
    assert_memory_equal(got, want, 32);

    pc_sha256(untagged, "abc", 3);
    assert_memory_not_equal(got, untagged, 32);
    pc_sha256_tagged(untagged, PC_DOMAIN_BLOCK, "abc", 3);
    assert_memory_not_equal(got, untagged, 32);

    /* Empty data: just the tag and the NUL. */
    crypto_hash_sha256(want, joined, sizeof PC_DOMAIN_TX);
    pc_sha256_tagged(got, PC_DOMAIN_TX, NULL, 0);
    assert_memory_equal(got, want, 32);
}

/* ---- signatures --------------------------------------------------------- */

static void test_sign_round_trip(void **state)
{
    static const uint8_t msg[] = "{\"type\":\"record.add\"}";
    pc_keypair kp;
    uint8_t sig[64];
    (void)state;

    keypair(&kp);
    assert_int_equal(pc_sign(&kp, PC_DOMAIN_TX, msg, sizeof msg - 1, sig), PC_OK);
    assert_int_equal(pc_verify(kp.pk, PC_DOMAIN_TX, msg, sizeof msg - 1, sig), PC_OK);

    /* The signed bytes really are domain || 0x00 || msg. */
    static const uint8_t joined[] = "parcha/tx/v1\0{\"type\":\"record.add\"}";
    assert_int_equal(crypto_sign_verify_detached(sig, joined, sizeof joined - 1, kp.pk), 0);

    /* Empty message. */
    assert_int_equal(pc_sign(&kp, PC_DOMAIN_BLOCK, NULL, 0, sig), PC_OK);
    assert_int_equal(pc_verify(kp.pk, PC_DOMAIN_BLOCK, NULL, 0, sig), PC_OK);
    pc_key_wipe(&kp);
}

static void test_sign_failures(void **state)
{
    uint8_t msg[100], sig[64], bad[64], badmsg[100];
    pc_keypair kp, other;
    (void)state;

    pc_random(msg, sizeof msg);
    keypair(&kp);
    keypair(&other);
    assert_int_equal(pc_sign(&kp, PC_DOMAIN_TX, msg, sizeof msg, sig), PC_OK);

    /* Wrong domain. */
    assert_int_equal(pc_verify(kp.pk, PC_DOMAIN_PROPOSAL, msg, sizeof msg, sig),
                     PC_ECRYPTO);
    /* A tag that is a prefix of the right one cannot absorb message bytes. */
    assert_int_equal(pc_verify(kp.pk, "parcha/tx/v", msg, sizeof msg, sig), PC_ECRYPTO);
    /* Every flipped message bit. */
    for (size_t bit = 0; bit < sizeof msg * 8; bit++) {
        memcpy(badmsg, msg, sizeof msg);
        badmsg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(pc_verify(kp.pk, PC_DOMAIN_TX, badmsg, sizeof msg, sig),
                         PC_ECRYPTO);
    }
    /* Every flipped signature bit. */
    for (size_t bit = 0; bit < 64 * 8; bit++) {
        memcpy(bad, sig, 64);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(pc_verify(kp.pk, PC_DOMAIN_TX, msg, sizeof msg, bad),
                         PC_ECRYPTO);
    }
    /* Truncated message. */
    assert_int_equal(pc_verify(kp.pk, PC_DOMAIN_TX, msg, sizeof msg - 1, sig),
                     PC_ECRYPTO);
    /* Another key. */
    assert_int_equal(pc_verify(other.pk, PC_DOMAIN_TX, msg, sizeof msg, sig),
                     PC_ECRYPTO);
    /* NULL arguments are refused, not crashed on. */
    assert_int_equal(pc_sign(&kp, NULL, msg, sizeof msg, bad), PC_EINVAL);
    assert_int_equal(pc_sign(NULL, PC_DOMAIN_TX, msg, sizeof msg, bad), PC_EINVAL);
    assert_int_equal(pc_sign(&kp, PC_DOMAIN_TX, NULL, 1, bad), PC_EINVAL);
    assert_int_equal(pc_verify(kp.pk, NULL, msg, sizeof msg, sig), PC_EINVAL);
    pc_key_wipe(&kp);
    pc_key_wipe(&other);
}

/* Messages over the 4 KiB stack buffer take the heap path; both sides of the
 * boundary must sign the same bytes. */
static void test_sign_large(void **state)
{
    const size_t sizes[] = {4096 - sizeof PC_DOMAIN_TX, 4096 - sizeof PC_DOMAIN_TX + 1,
                            100000};
    pc_keypair kp;
    uint8_t sig[64];
    (void)state;

    keypair(&kp);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *msg = test_malloc(n);
        uint8_t *joined = test_malloc(sizeof PC_DOMAIN_TX + n);
        pc_random(msg, n);
        memcpy(joined, PC_DOMAIN_TX, sizeof PC_DOMAIN_TX);
        memcpy(joined + sizeof PC_DOMAIN_TX, msg, n);

        assert_int_equal(pc_sign(&kp, PC_DOMAIN_TX, msg, n, sig), PC_OK);
        assert_int_equal(pc_verify(kp.pk, PC_DOMAIN_TX, msg, n, sig), PC_OK);
        assert_int_equal(crypto_sign_verify_detached(sig, joined, sizeof PC_DOMAIN_TX + n,
                                                     kp.pk),
                         0);
        msg[n - 1] ^= 1;
        assert_int_equal(pc_verify(kp.pk, PC_DOMAIN_TX, msg, n, sig), PC_ECRYPTO);
        test_free(joined);
        test_free(msg);
    }
    pc_key_wipe(&kp);
}

static void test_key_from_seed_deterministic(void **state)
{
    uint8_t seed[32];
    pc_keypair a, b;
    (void)state;

    pc_random(seed, sizeof seed);
    assert_int_equal(pc_key_from_seed(&a, seed), PC_OK);
    assert_int_equal(pc_key_from_seed(&b, seed), PC_OK);
    assert_memory_equal(&a, &b, sizeof a);
    pc_key_wipe(&a);
    uint8_t zero[sizeof a];
    memset(zero, 0, sizeof zero);
    assert_memory_equal(&a, zero, sizeof a);
    pc_key_wipe(&b);
    assert_int_equal(pc_key_from_seed(NULL, seed), PC_EINVAL);
    assert_int_equal(pc_key_generate(NULL), PC_EINVAL);
}

/* ---- sealing ------------------------------------------------------------ */

static void test_seal_round_trip(void **state)
{
    uint8_t key[32], got[32], sealed[PC_SEALED_KEY_LEN], again[PC_SEALED_KEY_LEN];
    pc_keypair patient, other;
    (void)state;

    keypair(&patient);
    keypair(&other);
    pc_random(key, sizeof key);
    assert_int_equal(pc_seal_key(key, patient.pk, sealed), PC_OK);
    assert_int_equal(pc_unseal_key(sealed, &patient, got), PC_OK);
    assert_memory_equal(got, key, 32);

    /* Sealing is randomised (ephemeral sender key). */
    assert_int_equal(pc_seal_key(key, patient.pk, again), PC_OK);
    assert_memory_not_equal(sealed, again, sizeof sealed);

    /* Another key cannot open it, and the output is zeroed. */
    uint8_t zero[32] = {0};
    memset(got, 0xAA, sizeof got);
    assert_int_equal(pc_unseal_key(sealed, &other, got), PC_ECRYPTO);
    assert_memory_equal(got, zero, 32);

    /* Every flipped bit of the sealed box is caught. */
    for (size_t bit = 0; bit < sizeof sealed * 8; bit++) {
        memcpy(again, sealed, sizeof sealed);
        again[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(pc_unseal_key(again, &patient, got), PC_ECRYPTO);
    }
    pc_key_wipe(&patient);
    pc_key_wipe(&other);
    sodium_memzero(key, sizeof key);
}

/* An Ed25519 public key that is not a valid point has no X25519 twin. */
static void test_seal_bad_public_key(void **state)
{
    uint8_t key[32] = {1}, sealed[PC_SEALED_KEY_LEN], bad_pk[32];
    (void)state;

    memset(bad_pk, 0, sizeof bad_pk); /* small-order point: refused */
    assert_int_equal(pc_seal_key(key, bad_pk, sealed), PC_EINVAL);
    assert_int_equal(pc_seal_key(NULL, bad_pk, sealed), PC_EINVAL);
}

/* ---- record encryption -------------------------------------------------- */

static void test_record_round_trip(void **state)
{
    pc_keypair patient;
    uint8_t key[32], key2[32];
    pc_buf blob, blob2, plain;
    (void)state;

    keypair(&patient);
    pc_buf_init(&blob);
    pc_buf_init(&blob2);
    pc_buf_init(&plain);
    assert_int_equal(pc_record_encrypt((const uint8_t *)CONTENT, strlen(CONTENT),
                                       RECORD_ID, patient.pk, key, &blob),
                     PC_OK);
    assert_int_equal(blob.len, PC_RECORD_NONCE_LEN + strlen(CONTENT) + 16);
    /* The content does not appear in the clear. */
    assert_false(contains(blob.data, blob.len, "MedicationRequest"));

    assert_int_equal(pc_record_decrypt(blob.data, blob.len, RECORD_ID, patient.pk, key,
                                       &plain),
                     PC_OK);
    assert_int_equal(plain.len, strlen(CONTENT));
    assert_memory_equal(plain.data, CONTENT, plain.len);
    assert_int_equal(plain.data[plain.len], '\0');

    /* A second encryption uses a new key and nonce. */
    assert_int_equal(pc_record_encrypt((const uint8_t *)CONTENT, strlen(CONTENT),
                                       RECORD_ID, patient.pk, key2, &blob2),
                     PC_OK);
    assert_memory_not_equal(key, key2, 32);
    assert_memory_not_equal(blob.data, blob2.data, PC_RECORD_NONCE_LEN);

    pc_buf_free(&blob);
    pc_buf_free(&blob2);
    pc_buf_free(&plain);
    pc_key_wipe(&patient);
}

static void test_record_empty(void **state)
{
    pc_keypair patient;
    uint8_t key[32];
    pc_buf blob, plain;
    (void)state;

    keypair(&patient);
    pc_buf_init(&blob);
    pc_buf_init(&plain);
    assert_int_equal(pc_record_encrypt(NULL, 0, RECORD_ID, patient.pk, key, &blob), PC_OK);
    assert_int_equal(blob.len, PC_RECORD_NONCE_LEN + 16);
    assert_int_equal(pc_record_decrypt(blob.data, blob.len, RECORD_ID, patient.pk, key,
                                       &plain),
                     PC_OK);
    assert_int_equal(plain.len, 0);
    pc_buf_free(&blob);
    pc_buf_free(&plain);
    pc_key_wipe(&patient);
}

static void test_record_failures(void **state)
{
    pc_keypair patient, other;
    uint8_t key[32], wrong_key[32];
    pc_buf blob, plain;
    (void)state;

    keypair(&patient);
    keypair(&other);
    pc_buf_init(&blob);
    pc_buf_init(&plain);
    assert_int_equal(pc_record_encrypt((const uint8_t *)CONTENT, strlen(CONTENT),
                                       RECORD_ID, patient.pk, key, &blob),
                     PC_OK);

    /* Every flipped bit of the blob: nonce, ciphertext and tag. */
    for (size_t bit = 0; bit < blob.len * 8; bit++) {
        blob.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(pc_record_decrypt(blob.data, blob.len, RECORD_ID, patient.pk,
                                           key, &plain),
                         PC_ECRYPTO);
        blob.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(plain.len, 0);
    }
    /* Truncated blobs, down to less than a nonce and a tag. */
    assert_int_equal(pc_record_decrypt(blob.data, blob.len - 1, RECORD_ID, patient.pk,
                                       key, &plain),
                     PC_ECRYPTO);
    assert_int_equal(pc_record_decrypt(blob.data, PC_RECORD_NONCE_LEN + 15, RECORD_ID,
                                       patient.pk, key, &plain),
                     PC_ECRYPTO);
    assert_int_equal(pc_record_decrypt(blob.data, 0, RECORD_ID, patient.pk, key, &plain),
                     PC_ECRYPTO);
    /* Wrong record id, including a prefix of the right one. */
    assert_int_equal(pc_record_decrypt(blob.data, blob.len, "rec-2026-000124", patient.pk,
                                       key, &plain),
                     PC_ECRYPTO);
    assert_int_equal(pc_record_decrypt(blob.data, blob.len, "rec-2026-00012", patient.pk,
                                       key, &plain),
                     PC_ECRYPTO);
    /* Wrong patient. */
    assert_int_equal(pc_record_decrypt(blob.data, blob.len, RECORD_ID, other.pk, key,
                                       &plain),
                     PC_ECRYPTO);
    /* Wrong key. */
    memcpy(wrong_key, key, 32);
    wrong_key[0] ^= 1;
    assert_int_equal(pc_record_decrypt(blob.data, blob.len, RECORD_ID, patient.pk,
                                       wrong_key, &plain),
                     PC_ECRYPTO);
    assert_int_equal(plain.len, 0);

    /* Nothing usable comes out of a failed encrypt either. */
    uint8_t zero[32] = {0};
    memset(key, 0xAA, sizeof key);
    assert_int_equal(pc_record_encrypt((const uint8_t *)CONTENT, strlen(CONTENT), NULL,
                                       patient.pk, key, &blob),
                     PC_EINVAL);
    assert_memory_equal(key, zero, 32);

    pc_buf_free(&blob);
    pc_buf_free(&plain);
    pc_key_wipe(&patient);
    pc_key_wipe(&other);
}

/* Decryption appends to a buffer that already holds text and leaves that text
 * alone when it fails. */
static void test_record_appends(void **state)
{
    pc_keypair patient;
    uint8_t key[32];
    pc_buf blob, plain;
    (void)state;

    keypair(&patient);
    pc_buf_init(&blob);
    pc_buf_init(&plain);
    assert_int_equal(pc_buf_append_str(&plain, "head:"), PC_OK);
    assert_int_equal(pc_record_encrypt((const uint8_t *)"body", 4, RECORD_ID, patient.pk,
                                       key, &blob),
                     PC_OK);
    assert_int_equal(pc_record_decrypt(blob.data, blob.len, "other", patient.pk, key,
                                       &plain),
                     PC_ECRYPTO);
    assert_string_equal((const char *)plain.data, "head:");
    assert_int_equal(pc_record_decrypt(blob.data, blob.len, RECORD_ID, patient.pk, key,
                                       &plain),
                     PC_OK);
    assert_string_equal((const char *)plain.data, "head:body");
    pc_buf_free(&blob);
    pc_buf_free(&plain);
    pc_key_wipe(&patient);
}

/* The whole path a record key takes: encrypt, seal to the patient, unseal,
 * decrypt. */
static void test_record_with_sealed_key(void **state)
{
    pc_keypair patient;
    uint8_t key[32], opened[32], sealed[PC_SEALED_KEY_LEN];
    pc_buf blob, plain;
    (void)state;

    keypair(&patient);
    pc_buf_init(&blob);
    pc_buf_init(&plain);
    assert_int_equal(pc_record_encrypt((const uint8_t *)CONTENT, strlen(CONTENT),
                                       RECORD_ID, patient.pk, key, &blob),
                     PC_OK);
    assert_int_equal(pc_seal_key(key, patient.pk, sealed), PC_OK);
    sodium_memzero(key, sizeof key);
    assert_int_equal(pc_unseal_key(sealed, &patient, opened), PC_OK);
    assert_int_equal(pc_record_decrypt(blob.data, blob.len, RECORD_ID, patient.pk, opened,
                                       &plain),
                     PC_OK);
    assert_memory_equal(plain.data, CONTENT, strlen(CONTENT));
    sodium_memzero(opened, sizeof opened);
    pc_buf_free(&blob);
    pc_buf_free(&plain);
    pc_key_wipe(&patient);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8032_vector1),
        cmocka_unit_test(test_sha256_known),
        cmocka_unit_test(test_sha256_tagged),
        cmocka_unit_test(test_sign_round_trip),
        cmocka_unit_test(test_sign_failures),
        cmocka_unit_test(test_sign_large),
        cmocka_unit_test(test_key_from_seed_deterministic),
        cmocka_unit_test(test_seal_round_trip),
        cmocka_unit_test(test_seal_bad_public_key),
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_record_empty),
        cmocka_unit_test(test_record_failures),
        cmocka_unit_test(test_record_appends),
        cmocka_unit_test(test_record_with_sealed_key),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
