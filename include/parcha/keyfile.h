/* Key files: JSON holding a public key in clear and the secret key encrypted
 * with XChaCha20-Poly1305 under a key from Argon2id of the owner's passphrase.
 *
 * Format (all binary fields base64url, no padding):
 *   {"v":1,"kind":"parcha-key","label":"...","public":"<32 bytes>",
 *    "kdf":{"alg":"argon2id13","ops":N,"mem":N,"salt":"<16 bytes>"},
 *    "nonce":"<24 bytes>","secret":"<64+16 bytes ciphertext>"}
 * The AEAD associated data is the 32-byte public key. The browser UI reads and
 * writes the same format with libsodium-wrappers. */
#ifndef PARCHA_KEYFILE_H
#define PARCHA_KEYFILE_H

#include <jansson.h>
#include "parcha/common.h"
#include "parcha/crypto.h"

/* Argon2id cost. INTERACTIVE is libsodium's interactive limits (default);
 * FAST is for tests and demo data only (ops 1, 8 MiB). */
typedef enum { PC_KDF_INTERACTIVE = 1, PC_KDF_FAST = 2 } pc_kdf_cost;

/* Encrypt kp under pass into a new JSON object (*out, caller decrefs). */
int pc_keyfile_seal(const pc_keypair *kp, const char *label, const char *pass,
                    size_t passlen, pc_kdf_cost cost, json_t **out,
                    pc_error *err) PC_MUST_USE;
/* Decrypt. PC_EPASS ("wrong passphrase for key file") when the passphrase is
 * wrong; PC_EINVAL for a malformed file. kp is wiped on failure. */
int pc_keyfile_open(const json_t *file, const char *pass, size_t passlen,
                    pc_keypair *kp, pc_error *err) PC_MUST_USE;

/* The same, to and from a file on disk (written with mode 0600). */
int pc_keyfile_write(const char *path, const pc_keypair *kp, const char *label,
                     const char *pass, size_t passlen, pc_kdf_cost cost,
                     pc_error *err) PC_MUST_USE;
int pc_keyfile_read(const char *path, const char *pass, size_t passlen,
                    pc_keypair *kp, pc_error *err) PC_MUST_USE;
/* Read only the public key and label (no passphrase needed). label may be
 * NULL; otherwise receives a malloc'd string. */
int pc_keyfile_public(const char *path, uint8_t pk[32], char **label,
                      pc_error *err) PC_MUST_USE;

/* Read a passphrase from a file (first line, trailing newline dropped) into a
 * sodium_malloc'd... plain malloc'd buffer the caller wipes and frees with
 * pc_pass_free. */
int pc_pass_read_file(const char *path, char **pass, size_t *passlen,
                      pc_error *err) PC_MUST_USE;
/* Prompt on the terminal without echo. */
int pc_pass_prompt(const char *prompt, char **pass, size_t *passlen,
                   pc_error *err) PC_MUST_USE;
void pc_pass_free(char *pass, size_t passlen);

#endif
