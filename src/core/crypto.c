/* The cryptographic primitives parcha is built on, each a thin, checked layer
 * over libsodium: Ed25519 keys and signatures whose signed bytes always begin
 * with a domain tag (so a signature made for one purpose can never be replayed
 * as another), SHA-256 with and without a tag, sealing 32-byte record keys to
 * the X25519 twin of an actor's Ed25519 key, and XChaCha20-Poly1305 encryption
 * of record content bound to its record id and patient. Every secret that
 * passes through a local variable is wiped before the function returns, on
 * success and failure alike. */
#include "parcha/crypto.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

/* Messages up to this size are joined on the stack; larger ones on the heap. */
#define JOIN_STACK_MAX 4096

/* A contiguous copy of head || 0x00 || tail, which is what Ed25519 signs and
 * what the record AEAD takes as associated data (libsodium wants one span). */
typedef struct joined {
    uint8_t stack[JOIN_STACK_MAX];
    uint8_t *data; /* either stack or a malloc'd block */
    size_t len;
} joined;

/* Build j from head (a NUL-terminated tag) and tail[0..taillen). tail may be
 * NULL when taillen is 0. Returns PC_OK, PC_EINVAL (NULL head or tail, or a
 * length that overflows) or PC_ENOMEM. On success the caller must call
 * joined_free(j); on failure nothing needs freeing. */
static int joined_init(joined *j, const char *head, const uint8_t *tail,
                       size_t taillen)
{
    j->data = NULL;
    j->len = 0;
    if (head == NULL || (tail == NULL && taillen > 0))
        return PC_EINVAL;
    size_t headlen = strlen(head);
    if (taillen > SIZE_MAX - headlen - 1)
        return PC_EINVAL;
    size_t total = headlen + 1 + taillen;
    if (total <= sizeof j->stack) {
        j->data = j->stack;
    } else {
        j->data = malloc(total);
        if (j->data == NULL)
            return PC_ENOMEM;
    }
    memcpy(j->data, head, headlen);
    j->data[headlen] = 0x00;
    if (taillen > 0)
        memcpy(j->data + headlen + 1, tail, taillen);
    j->len = total;
    return PC_OK;
}

/* Release what joined_init took. The bytes are not secret (messages and
 * associated data), so they are only freed, not wiped. */
static void joined_free(joined *j)
{
    if (j->data != NULL && j->data != j->stack)
        free(j->data);
    j->data = NULL;
    j->len = 0;
}

/* Returns 0 when libsodium is ready (first or repeated call), -1 if it could
 * not initialise (no usable randomness source). */
int pc_crypto_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

/* Fills *kp with a fresh random key pair. PC_EINVAL if kp is NULL. */
int pc_key_generate(pc_keypair *kp)
{
    if (kp == NULL)
        return PC_EINVAL;
    if (crypto_sign_keypair(kp->pk, kp->sk) != 0) {
        pc_key_wipe(kp);
        return PC_ECRYPTO;
    }
    return PC_OK;
}

/* Fills *kp with the key pair RFC 8032 derives from seed. The caller keeps
 * ownership of seed and should wipe it. PC_EINVAL on NULL arguments. */
int pc_key_from_seed(pc_keypair *kp, const uint8_t seed[32])
{
    if (kp == NULL || seed == NULL)
        return PC_EINVAL;
    if (crypto_sign_seed_keypair(kp->pk, kp->sk, seed) != 0) {
        pc_key_wipe(kp);
        return PC_ECRYPTO;
    }
    return PC_OK;
}

/* Zeroes the whole key pair (public half too, so a wiped pair is obviously
 * unusable). NULL is a no-op. */
void pc_key_wipe(pc_keypair *kp)
{
    if (kp != NULL)
        sodium_memzero(kp, sizeof *kp);
}

/* out = SHA-256(data[0..len)). data may be NULL only when len is 0. */
void pc_sha256(uint8_t out[32], const void *data, size_t len)
{
    assert(out != NULL && (data != NULL || len == 0));
    crypto_hash_sha256(out, data, (unsigned long long)len);
}

/* out = SHA-256(domain || 0x00 || data), hashed piecewise so large data is
 * never copied. domain must be a NUL-terminated tag; data may be NULL only
 * when len is 0. */
void pc_sha256_tagged(uint8_t out[32], const char *domain, const void *data,
                      size_t len)
{
    static const uint8_t zero = 0x00;
    crypto_hash_sha256_state st;

    assert(out != NULL && domain != NULL && (data != NULL || len == 0));
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)domain,
                              (unsigned long long)strlen(domain));
    crypto_hash_sha256_update(&st, &zero, 1);
    if (len > 0)
        crypto_hash_sha256_update(&st, data, (unsigned long long)len);
    crypto_hash_sha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* Writes to sig the Ed25519 signature of domain || 0x00 || msg under kp.
 * Returns PC_OK, PC_EINVAL (NULL argument) or PC_ENOMEM (a message over 4 KiB
 * could not be copied). sig is zeroed on failure. */
int pc_sign(const pc_keypair *kp, const char *domain, const uint8_t *msg,
            size_t len, uint8_t sig[64])
{
    joined j;
    int rc;

    if (sig == NULL)
        return PC_EINVAL;
    memset(sig, 0, 64);
    if (kp == NULL)
        return PC_EINVAL;
    rc = joined_init(&j, domain, msg, len);
    if (rc != PC_OK)
        return rc;
    if (crypto_sign_detached(sig, NULL, j.data, (unsigned long long)j.len,
                             kp->sk) != 0) {
        memset(sig, 0, 64);
        rc = PC_ECRYPTO;
    }
    joined_free(&j);
    return rc;
}

/* Checks sig over domain || 0x00 || msg under pk. Returns PC_OK, PC_ECRYPTO
 * (bad signature, wrong key, wrong domain or a malformed key), PC_EINVAL (NULL
 * argument) or PC_ENOMEM. */
int pc_verify(const uint8_t pk[32], const char *domain, const uint8_t *msg,
              size_t len, const uint8_t sig[64])
{
    joined j;
    int rc;

    if (pk == NULL || sig == NULL)
        return PC_EINVAL;
    rc = joined_init(&j, domain, msg, len);
    if (rc != PC_OK)
        return rc;
    if (crypto_sign_verify_detached(sig, j.data, (unsigned long long)j.len,
                                    pk) != 0)
        rc = PC_ECRYPTO;
    joined_free(&j);
    return rc;
}

/* Seals key to the X25519 twin of ed_pk (anonymous sender, crypto_box_seal).
 * Returns PC_OK, PC_EINVAL (NULL argument, or ed_pk is not a valid Ed25519
 * point) or PC_ECRYPTO. sealed is zeroed on failure. */
int pc_seal_key(const uint8_t key[32], const uint8_t ed_pk[32],
                uint8_t sealed[PC_SEALED_KEY_LEN])
{
    uint8_t x_pk[crypto_box_PUBLICKEYBYTES];

    if (sealed == NULL)
        return PC_EINVAL;
    memset(sealed, 0, PC_SEALED_KEY_LEN);
    if (key == NULL || ed_pk == NULL)
        return PC_EINVAL;
    if (crypto_sign_ed25519_pk_to_curve25519(x_pk, ed_pk) != 0)
        return PC_EINVAL;
    if (crypto_box_seal(sealed, key, 32, x_pk) != 0) {
        memset(sealed, 0, PC_SEALED_KEY_LEN);
        return PC_ECRYPTO;
    }
    return PC_OK;
}

/* Opens sealed with the X25519 twin of kp. Returns PC_OK, PC_EINVAL (NULL
 * argument) or PC_ECRYPTO (not sealed to this key, or tampered). key is zeroed
 * on failure; the converted X25519 secret never outlives the call. */
int pc_unseal_key(const uint8_t sealed[PC_SEALED_KEY_LEN], const pc_keypair *kp,
                  uint8_t key[32])
{
    uint8_t x_pk[crypto_box_PUBLICKEYBYTES];
    uint8_t x_sk[crypto_box_SECRETKEYBYTES];
    int rc = PC_OK;

    if (key == NULL)
        return PC_EINVAL;
    sodium_memzero(key, 32);
    if (sealed == NULL || kp == NULL)
        return PC_EINVAL;
    if (crypto_sign_ed25519_pk_to_curve25519(x_pk, kp->pk) != 0) {
        rc = PC_ECRYPTO;
        goto out;
    }
    if (crypto_sign_ed25519_sk_to_curve25519(x_sk, kp->sk) != 0) {
        rc = PC_ECRYPTO;
        goto out;
    }
    if (crypto_box_seal_open(key, sealed, PC_SEALED_KEY_LEN, x_pk, x_sk) != 0) {
        sodium_memzero(key, 32);
        rc = PC_ECRYPTO;
    }
out:
    sodium_memzero(x_sk, sizeof x_sk);
    return rc;
}

/* Builds the record AEAD's associated data, record_id || 0x00 || patient_pk.
 * Same return values and ownership as joined_init. */
static int record_ad(joined *ad, const char *record_id,
                     const uint8_t patient_pk[32])
{
    if (record_id == NULL || patient_pk == NULL)
        return PC_EINVAL;
    return joined_init(ad, record_id, patient_pk, 32);
}

/* Appends nonce || ciphertext of plain to blob under a fresh random key, which
 * is written to key. Returns PC_OK, PC_EINVAL (NULL argument), PC_ETOOBIG
 * (over libsodium's message limit) or PC_ENOMEM (malloc failed or blob's cap
 * was reached). On failure key is zeroed and blob is back at its old length.
 * plain may be NULL when len is 0. The ciphertext is made in a scratch block
 * and then appended, so no copy of the plaintext is ever left behind in heap
 * memory that a growing blob gives back to malloc. */
int pc_record_encrypt(const uint8_t *plain, size_t len, const char *record_id,
                      const uint8_t patient_pk[32], uint8_t key[32],
                      pc_buf *blob)
{
    const size_t tlen = crypto_aead_xchacha20poly1305_ietf_ABYTES;
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    unsigned long long clen = 0;
    uint8_t *c = NULL;
    joined ad;
    size_t start;
    int rc;

    if (key == NULL)
        return PC_EINVAL;
    sodium_memzero(key, 32);
    if (blob == NULL || (plain == NULL && len > 0))
        return PC_EINVAL;
    if (len > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX)
        return PC_ETOOBIG;
    rc = record_ad(&ad, record_id, patient_pk);
    if (rc != PC_OK)
        return rc;
    c = malloc(len + tlen);
    if (c == NULL) {
        rc = PC_ENOMEM;
        goto err_after_ad;
    }

    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    randombytes_buf(nonce, sizeof nonce);
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(
            c, &clen, plain, (unsigned long long)len, ad.data,
            (unsigned long long)ad.len, NULL, nonce, key) != 0) {
        rc = PC_ECRYPTO;
        goto err_after_c;
    }
    assert(clen == len + tlen);
    start = blob->len;
    if (pc_buf_append(blob, nonce, sizeof nonce) != PC_OK ||
        pc_buf_append(blob, c, (size_t)clen) != PC_OK) {
        blob->len = start;
        if (blob->data != NULL)
            blob->data[start] = '\0';
        rc = PC_ENOMEM;
        goto err_after_c;
    }
    free(c);
    joined_free(&ad);
    return PC_OK;

err_after_c:
    free(c);
err_after_ad:
    joined_free(&ad);
    sodium_memzero(key, 32);
    return rc;
}

/* Appends to plain the content of a blob made by pc_record_encrypt. Returns
 * PC_OK, PC_EINVAL (NULL argument), PC_ECRYPTO (too short, tampered, or the
 * wrong key, record id or patient) or PC_ENOMEM (malloc failed or plain's cap
 * was reached). On failure plain is back at
 * its old length and the bytes this call added are wiped. The ciphertext is
 * copied into plain and decrypted in place; libsodium checks the tag before
 * writing any plaintext. */
int pc_record_decrypt(const uint8_t *blob, size_t bloblen, const char *record_id,
                      const uint8_t patient_pk[32], const uint8_t key[32],
                      pc_buf *plain)
{
    const size_t nlen = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    const size_t tlen = crypto_aead_xchacha20poly1305_ietf_ABYTES;
    unsigned long long mlen = 0;
    joined ad;
    uint8_t *m;
    size_t start;
    int rc;

    if (blob == NULL || key == NULL || plain == NULL)
        return PC_EINVAL;
    if (bloblen < nlen + tlen)
        return PC_ECRYPTO;
    rc = record_ad(&ad, record_id, patient_pk);
    if (rc != PC_OK)
        return rc;

    start = plain->len;
    if (pc_buf_append(plain, blob + nlen, bloblen - nlen) != PC_OK) {
        rc = PC_ENOMEM;
        goto err;
    }
    m = plain->data + start;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            m, &mlen, NULL, m, (unsigned long long)(bloblen - nlen), ad.data,
            (unsigned long long)ad.len, blob, key) != 0) {
        rc = PC_ECRYPTO;
        goto err;
    }
    assert(mlen == bloblen - nlen - tlen);
    /* Drop the tag bytes left behind the plaintext. */
    sodium_memzero(m + mlen, tlen);
    plain->len = start + (size_t)mlen;
    plain->data[plain->len] = '\0';
    joined_free(&ad);
    return PC_OK;

err:
    if (plain->data != NULL) {
        sodium_memzero(plain->data + start, plain->len - start);
        plain->len = start;
        plain->data[start] = '\0';
    }
    joined_free(&ad);
    return rc;
}

/* Fills buf[0..n) from the operating system's randomness (libsodium's
 * randombytes). buf may be NULL only when n is 0. */
void pc_random(void *buf, size_t n)
{
    assert(buf != NULL || n == 0);
    if (n > 0)
        randombytes_buf(buf, n);
}
