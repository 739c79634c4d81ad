/* Keys, signatures with a domain tag, hashing, key sealing and per-record
 * encryption, all on libsodium. Secret material is wiped by the *_wipe
 * functions and on every error path. */
#ifndef PARCHA_CRYPTO_H
#define PARCHA_CRYPTO_H

#include "parcha/common.h"

/* Domain tags: signed bytes are tag || 0x00 || message. */
#define PC_DOMAIN_TX "parcha/tx/v1"
#define PC_DOMAIN_PROPOSAL "parcha/proposal/v1"
#define PC_DOMAIN_BLOCK "parcha/block/v1"
#define PC_DOMAIN_CHECKPOINT "parcha/checkpoint/v1"

#define PC_SEALED_KEY_LEN 80 /* crypto_box_SEALBYTES + 32 */
#define PC_RECORD_NONCE_LEN 24

/* One actor's Ed25519 key pair. sk is libsodium's 64-byte form. */
typedef struct pc_keypair {
    uint8_t pk[32];
    uint8_t sk[64];
} pc_keypair;

/* Call once at start (wraps sodium_init). Returns 0 or -1. */
int pc_crypto_init(void) PC_MUST_USE;

int pc_key_generate(pc_keypair *kp) PC_MUST_USE;
/* Derive a key pair from a 32-byte seed (tests and deterministic demos). */
int pc_key_from_seed(pc_keypair *kp, const uint8_t seed[32]) PC_MUST_USE;
void pc_key_wipe(pc_keypair *kp);

void pc_sha256(uint8_t out[32], const void *data, size_t len);
/* SHA-256 over domain || 0x00 || data (how txids and block hashes are made). */
void pc_sha256_tagged(uint8_t out[32], const char *domain, const void *data,
                      size_t len);

/* Sign domain || 0x00 || msg. */
int pc_sign(const pc_keypair *kp, const char *domain, const uint8_t *msg,
            size_t len, uint8_t sig[64]) PC_MUST_USE;
/* Returns PC_OK or PC_ECRYPTO. */
int pc_verify(const uint8_t pk[32], const char *domain, const uint8_t *msg,
              size_t len, const uint8_t sig[64]) PC_MUST_USE;

/* Seal a 32-byte record key to the X25519 twin of an Ed25519 public key. */
int pc_seal_key(const uint8_t key[32], const uint8_t ed_pk[32],
                uint8_t sealed[PC_SEALED_KEY_LEN]) PC_MUST_USE;
/* Open a sealed key with the holder's Ed25519 key pair (converted to its
 * X25519 twin internally). PC_ECRYPTO if it was not sealed to this key. */
int pc_unseal_key(const uint8_t sealed[PC_SEALED_KEY_LEN], const pc_keypair *kp,
                  uint8_t key[32]) PC_MUST_USE;

/* Encrypt record content with a fresh random key. The associated data is
 * record_id || 0x00 || patient_pk, so a blob cannot be moved to another record
 * or patient. blob receives nonce(24) || ciphertext. key receives the record
 * key (wipe it after sealing). */
int pc_record_encrypt(const uint8_t *plain, size_t len, const char *record_id,
                      const uint8_t patient_pk[32], uint8_t key[32],
                      pc_buf *blob) PC_MUST_USE;
/* Decrypt a blob made by pc_record_encrypt. PC_ECRYPTO if tampered or the
 * wrong key, record or patient. */
int pc_record_decrypt(const uint8_t *blob, size_t bloblen, const char *record_id,
                      const uint8_t patient_pk[32], const uint8_t key[32],
                      pc_buf *plain) PC_MUST_USE;

/* Fill buf with n random bytes. */
void pc_random(void *buf, size_t n);

#endif
