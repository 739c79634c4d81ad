/* Key files and passphrases: an actor's Ed25519 key pair at rest, as the JSON
 * described in keyfile.h. The secret key is encrypted with XChaCha20-Poly1305
 * under a key that Argon2id derives from the owner's passphrase, with the
 * public key as associated data so the two halves cannot be swapped between
 * files. Everything read from a file is treated as hostile: each field is
 * checked for type, length and sane cost before any work is done, and error
 * messages never echo file content, passphrases or key bytes (a user who
 * points at the wrong file must not see a passphrase in a log). Passphrases
 * come from a file's first line or from the terminal with echo off. */
#include "parcha/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sodium.h>

#define KF_VERSION 1
#define KF_KIND "parcha-key"
#define KF_ALG "argon2id13"
#define KF_SALT_LEN crypto_pwhash_SALTBYTES                  /* 16 */
#define KF_NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES /* 24 */
#define KF_SECRET_LEN (64 + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define KF_KEY_LEN crypto_aead_xchacha20poly1305_ietf_KEYBYTES

/* Costs a file may ask for. Above these an attacker-supplied file could make
 * us allocate or spin for minutes; below them libsodium refuses anyway. */
#define KF_OPS_MIN crypto_pwhash_argon2id_OPSLIMIT_MIN
#define KF_OPS_MAX 16
#define KF_MEM_MIN crypto_pwhash_argon2id_MEMLIMIT_MIN
#define KF_MEM_MAX ((size_t)1 << 30)
#define KF_FAST_OPS 1
#define KF_FAST_MEM ((size_t)8 << 20)

/* Labels are short, printable names shown in prompts and errors. */
#define KF_LABEL_MAX 200
/* Key files are a few hundred bytes; refuse to slurp anything big. */
#define KF_FILE_MAX ((size_t)64 * 1024)
/* Passphrases longer than this are refused rather than silently cut. */
#define PASS_MAX 1024
#define PASS_FILE_MAX ((size_t)64 * 1024)

/* Base64url without padding, libsodium's URL-safe variant. */
#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define B64_SIZE(n) sodium_base64_ENCODED_LEN((n), B64_VARIANT)

/* The fields of a key file after checking; pointers borrow from the json_t. */
typedef struct kf_fields {
    uint8_t pk[32];
    const char *label;
    unsigned long long ops;
    size_t mem;
    uint8_t salt[KF_SALT_LEN];
    uint8_t nonce[KF_NONCE_LEN];
    uint8_t secret[KF_SECRET_LEN];
} kf_fields;

/* Returns true if label is acceptable: at most KF_LABEL_MAX bytes, no
 * embedded NUL (len is the JSON string's length) and no control characters,
 * so printing it in a message cannot drive a terminal. UTF-8 validity is
 * jansson's job. */
static bool label_ok(const char *label, size_t len)
{
    if (label == NULL || len > KF_LABEL_MAX || strlen(label) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)label[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* Decodes the JSON string v as base64url into exactly n bytes of out.
 * Returns false if v is not a string, has characters outside the alphabet or
 * non-zero trailing bits, or decodes to any length other than n. */
static bool b64_field(uint8_t *out, size_t n, const json_t *v)
{
    size_t binlen = 0;
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t slen = json_string_length(v);
    if (slen != B64_SIZE(n) - 1)
        return false;
    if (sodium_base642bin(out, n, s, slen, NULL, &binlen, NULL, B64_VARIANT) != 0)
        return false;
    return binlen == n;
}

/* Encodes in[0..n) as base64url into out, which must hold B64_SIZE(n). */
static void b64_put(char *out, size_t outlen, const uint8_t *in, size_t n)
{
    sodium_bin2base64(out, outlen, in, n, B64_VARIANT);
}

/* Returns true if sk (libsodium's seed || pk form) really is the secret half
 * of pk: the pair is re-derived from the seed and compared whole, in constant
 * time. The seed and derived pair are wiped. */
static bool pair_matches(const uint8_t pk[32], const uint8_t sk[64])
{
    uint8_t seed[32];
    pc_keypair again;
    bool ok = false;

    crypto_sign_ed25519_sk_to_seed(seed, sk);
    if (crypto_sign_seed_keypair(again.pk, again.sk, seed) == 0)
        ok = sodium_memcmp(again.pk, pk, 32) == 0 &&
             sodium_memcmp(again.sk, sk, 64) == 0;
    sodium_memzero(seed, sizeof seed);
    pc_key_wipe(&again);
    return ok;
}

/* Checks the parts of a key file needed to learn its public key and label:
 * an object with "v" 1, "kind" "parcha-key", a printable "label" and a 32-byte
 * "public". what names the file in messages. Fills f->pk and f->label (which
 * borrows from file). Returns PC_OK or PC_EINVAL with a message. */
static int parse_public(const json_t *file, const char *what, kf_fields *f,
                        pc_error *err)
{
    const json_t *v;

    if (!json_is_object(file))
        return pc_error_set(err, PC_EINVAL, "%s: not a key file (not a JSON object)",
                            what);
    v = json_object_get(file, "v");
    if (!json_is_integer(v) || json_integer_value(v) != KF_VERSION)
        return pc_error_set(err, PC_EINVAL,
                            "%s: unsupported key file version (\"v\" must be %d)",
                            what, KF_VERSION);
    v = json_object_get(file, "kind");
    if (!json_is_string(v) || strcmp(json_string_value(v), KF_KIND) != 0)
        return pc_error_set(err, PC_EINVAL,
                            "%s: not a parcha key file (\"kind\" must be \"%s\")",
                            what, KF_KIND);
    v = json_object_get(file, "label");
    if (!json_is_string(v) ||
        !label_ok(json_string_value(v), json_string_length(v)))
        return pc_error_set(err, PC_EINVAL,
                            "%s: \"label\" must be a string of at most %d "
                            "printable bytes",
                            what, KF_LABEL_MAX);
    f->label = json_string_value(v);
    if (!b64_field(f->pk, sizeof f->pk, json_object_get(file, "public")))
        return pc_error_set(err, PC_EINVAL,
                            "%s: \"public\" must be a 32-byte key in base64url",
                            what);
    return PC_OK;
}

/* Checks every field of a key file (see parse_public for the first ones):
 * "kdf" with "alg" "argon2id13", "ops" and "mem" within the caps above and a
 * 16-byte "salt"; a 24-byte "nonce"; an 80-byte "secret". Unknown extra
 * members are ignored so later writers can add informational fields. Returns
 * PC_OK or PC_EINVAL with a message. f borrows from file. */
static int parse_all(const json_t *file, const char *what, kf_fields *f,
                     pc_error *err)
{
    const json_t *kdf, *v;
    int rc = parse_public(file, what, f, err);
    if (rc != PC_OK)
        return rc;

    kdf = json_object_get(file, "kdf");
    if (!json_is_object(kdf))
        return pc_error_set(err, PC_EINVAL, "%s: \"kdf\" must be an object", what);
    v = json_object_get(kdf, "alg");
    if (!json_is_string(v) || strcmp(json_string_value(v), KF_ALG) != 0)
        return pc_error_set(err, PC_EINVAL,
                            "%s: unknown key derivation (\"kdf.alg\" must be \"%s\")",
                            what, KF_ALG);
    v = json_object_get(kdf, "ops");
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)KF_OPS_MIN ||
        json_integer_value(v) > KF_OPS_MAX)
        return pc_error_set(err, PC_EINVAL,
                            "%s: \"kdf.ops\" must be an integer from %d to %d",
                            what, (int)KF_OPS_MIN, KF_OPS_MAX);
    f->ops = (unsigned long long)json_integer_value(v);
    v = json_object_get(kdf, "mem");
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)KF_MEM_MIN ||
        json_integer_value(v) > (json_int_t)KF_MEM_MAX)
        return pc_error_set(err, PC_EINVAL,
                            "%s: \"kdf.mem\" must be an integer from %zu to %zu bytes",
                            what, (size_t)KF_MEM_MIN, KF_MEM_MAX);
    f->mem = (size_t)json_integer_value(v);
    if (!b64_field(f->salt, sizeof f->salt, json_object_get(kdf, "salt")))
        return pc_error_set(err, PC_EINVAL,
                            "%s: \"kdf.salt\" must be %d bytes in base64url",
                            what, (int)KF_SALT_LEN);
    if (!b64_field(f->nonce, sizeof f->nonce, json_object_get(file, "nonce")))
        return pc_error_set(err, PC_EINVAL,
                            "%s: \"nonce\" must be %d bytes in base64url",
                            what, (int)KF_NONCE_LEN);
    if (!b64_field(f->secret, sizeof f->secret, json_object_get(file, "secret")))
        return pc_error_set(err, PC_EINVAL,
                            "%s: \"secret\" must be %d bytes in base64url",
                            what, (int)KF_SECRET_LEN);
    return PC_OK;
}

/* Checks a passphrase given as (pass, passlen). Returns PC_OK or PC_EINVAL. */
static int pass_ok(const char *pass, size_t passlen, pc_error *err)
{
    if (pass == NULL)
        return pc_error_set(err, PC_EINVAL, "no passphrase given");
    if (passlen > crypto_pwhash_PASSWD_MAX)
        return pc_error_set(err, PC_EINVAL, "passphrase is too long");
    return PC_OK;
}

/* Derives the file key from pass with Argon2id. Returns PC_OK or PC_ENOMEM
 * (libsodium could not get the memory the cost asks for). key is zeroed on
 * failure; on success the caller wipes it. */
static int derive_key(uint8_t key[KF_KEY_LEN], const char *pass, size_t passlen,
                      const uint8_t salt[KF_SALT_LEN], unsigned long long ops,
                      size_t mem, pc_error *err)
{
    if (crypto_pwhash(key, KF_KEY_LEN, pass, (unsigned long long)passlen, salt,
                      ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        sodium_memzero(key, KF_KEY_LEN);
        return pc_error_set(err, PC_ENOMEM,
                            "cannot derive the key file key: Argon2id needs %zu "
                            "bytes of memory",
                            mem);
    }
    return PC_OK;
}

/* Builds a key file object for kp. Returns PC_OK with *out owned by the
 * caller, or PC_EINVAL (bad argument, unknown cost, a label that is not
 * short printable UTF-8, an empty passphrase, or a key pair whose halves do
 * not match), PC_ENOMEM. *out is NULL on failure. The derived key is wiped on
 * every path; the secret key is only ever copied by libsodium's encryption. */
int pc_keyfile_seal(const pc_keypair *kp, const char *label, const char *pass,
                    size_t passlen, pc_kdf_cost cost, json_t **out,
                    pc_error *err)
{
    uint8_t salt[KF_SALT_LEN], nonce[KF_NONCE_LEN], secret[KF_SECRET_LEN];
    uint8_t key[KF_KEY_LEN];
    char pk_b64[B64_SIZE(32)], salt_b64[B64_SIZE(KF_SALT_LEN)];
    char nonce_b64[B64_SIZE(KF_NONCE_LEN)], secret_b64[B64_SIZE(KF_SECRET_LEN)];
    unsigned long long ops;
    size_t mem;
    json_t *jlabel;
    int rc;

    if (out == NULL)
        return pc_error_set(err, PC_EINVAL, "no place to put the key file");
    *out = NULL;
    if (kp == NULL || label == NULL)
        return pc_error_set(err, PC_EINVAL, "key pair and label are required");
    rc = pass_ok(pass, passlen, err);
    if (rc != PC_OK)
        return rc;
    if (passlen == 0)
        return pc_error_set(err, PC_EINVAL, "refusing to protect a key with an "
                                            "empty passphrase");
    if (cost == PC_KDF_INTERACTIVE) {
        ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
        mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    } else if (cost == PC_KDF_FAST) {
        ops = KF_FAST_OPS;
        mem = KF_FAST_MEM;
    } else {
        return pc_error_set(err, PC_EINVAL, "unknown key derivation cost %d",
                            (int)cost);
    }
    if (!label_ok(label, strlen(label)))
        return pc_error_set(err, PC_EINVAL,
                            "key label must be at most %d printable bytes",
                            KF_LABEL_MAX);
    jlabel = json_string(label);
    if (jlabel == NULL)
        return pc_error_set(err, PC_EINVAL, "key label is not valid UTF-8");
    if (!pair_matches(kp->pk, kp->sk)) {
        json_decref(jlabel);
        return pc_error_set(err, PC_EINVAL,
                            "key pair is inconsistent: its secret key does not "
                            "match its public key");
    }

    randombytes_buf(salt, sizeof salt);
    randombytes_buf(nonce, sizeof nonce);
    rc = derive_key(key, pass, passlen, salt, ops, mem, err);
    if (rc != PC_OK)
        goto err_after_label;
    crypto_aead_xchacha20poly1305_ietf_encrypt(secret, NULL, kp->sk, 64, kp->pk,
                                               32, NULL, nonce, key);
    sodium_memzero(key, sizeof key);

    b64_put(pk_b64, sizeof pk_b64, kp->pk, 32);
    b64_put(salt_b64, sizeof salt_b64, salt, sizeof salt);
    b64_put(nonce_b64, sizeof nonce_b64, nonce, sizeof nonce);
    b64_put(secret_b64, sizeof secret_b64, secret, sizeof secret);
    /* "o" hands jlabel's reference to the new object, even on failure. */
    *out = json_pack("{s:i, s:s, s:o, s:s, s:{s:s, s:I, s:I, s:s}, s:s, s:s}",
                     "v", KF_VERSION, "kind", KF_KIND, "label", jlabel,
                     "public", pk_b64, "kdf", "alg", KF_ALG, "ops",
                     (json_int_t)ops, "mem", (json_int_t)mem, "salt", salt_b64,
                     "nonce", nonce_b64, "secret", secret_b64);
    if (*out == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory building key file");
    return PC_OK;

err_after_label:
    json_decref(jlabel);
    return rc;
}

/* Decrypts a checked key file into kp. what names the file in messages about
 * its format. Returns PC_OK, PC_EINVAL (malformed, or a secret key that does
 * not belong to "public"), PC_EPASS (the AEAD did not open: wrong passphrase,
 * or a tampered file, which cannot be told apart) or PC_ENOMEM. kp is wiped
 * on every failure; the derived key always. */
static int keyfile_open(const json_t *file, const char *what, const char *pass,
                        size_t passlen, pc_keypair *kp, pc_error *err)
{
    uint8_t key[KF_KEY_LEN];
    kf_fields f;
    int rc;

    if (kp == NULL)
        return pc_error_set(err, PC_EINVAL, "no key pair to fill");
    pc_key_wipe(kp);
    rc = pass_ok(pass, passlen, err);
    if (rc != PC_OK)
        return rc;
    rc = parse_all(file, what, &f, err);
    if (rc != PC_OK)
        return rc;

    rc = derive_key(key, pass, passlen, f.salt, f.ops, f.mem, err);
    if (rc != PC_OK)
        goto out;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(kp->sk, NULL, NULL, f.secret,
                                                   sizeof f.secret, f.pk, 32,
                                                   f.nonce, key) != 0) {
        rc = pc_error_set(err, PC_EPASS, "wrong passphrase for key file \"%s\"",
                          f.label);
        goto out;
    }
    if (!pair_matches(f.pk, kp->sk)) {
        rc = pc_error_set(err, PC_EINVAL,
                          "key file \"%s\" is corrupt: its secret key does not "
                          "match its public key",
                          f.label);
        goto out;
    }
    memcpy(kp->pk, f.pk, 32);
    rc = PC_OK;
out:
    sodium_memzero(key, sizeof key);
    if (rc != PC_OK)
        pc_key_wipe(kp);
    return rc;
}

/* Decrypts a key file object; see keyfile_open. */
int pc_keyfile_open(const json_t *file, const char *pass, size_t passlen,
                    pc_keypair *kp, pc_error *err)
{
    return keyfile_open(file, "key file", pass, passlen, kp, err);
}

/* Reads and parses the key file at path into *out (caller decrefs). Returns
 * PC_OK, PC_ENOTFOUND / PC_EIO / PC_ETOOBIG from reading, or PC_EINVAL when it
 * is not JSON. The parse error gives only a position, never the text around
 * it, in case the file holds something secret. */
static int load_json(const char *path, json_t **out, pc_error *err)
{
    json_error_t jerr;
    pc_buf text;
    int rc;

    *out = NULL;
    if (path == NULL)
        return pc_error_set(err, PC_EINVAL, "no key file path given");
    pc_buf_init(&text);
    rc = pc_file_read(path, KF_FILE_MAX, &text, err);
    if (rc != PC_OK)
        goto out;
    *out = json_loadb((const char *)text.data, text.len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (*out == NULL)
        rc = pc_error_set(err, PC_EINVAL,
                          "%s: not a key file (invalid JSON at line %d, column %d)",
                          path, jerr.line, jerr.column);
out:
    pc_buf_free(&text);
    sodium_memzero(&jerr, sizeof jerr);
    return rc;
}

/* Seals kp and writes it to path atomically with mode 0600, replacing any
 * file already there (which is how a passphrase is changed). Returns what
 * pc_keyfile_seal or pc_file_write return. */
int pc_keyfile_write(const char *path, const pc_keypair *kp, const char *label,
                     const char *pass, size_t passlen, pc_kdf_cost cost,
                     pc_error *err)
{
    json_t *obj = NULL;
    char *text = NULL;
    pc_buf out;
    int rc;

    if (path == NULL)
        return pc_error_set(err, PC_EINVAL, "no key file path given");
    pc_buf_init(&out);
    rc = pc_keyfile_seal(kp, label, pass, passlen, cost, &obj, err);
    if (rc != PC_OK)
        return rc;
    text = json_dumps(obj, JSON_COMPACT);
    if (text == NULL) {
        rc = pc_error_set(err, PC_ENOMEM, "out of memory writing %s", path);
        goto out;
    }
    if (pc_buf_append_str(&out, text) != PC_OK ||
        pc_buf_append_str(&out, "\n") != PC_OK) {
        rc = pc_error_set(err, PC_ENOMEM, "out of memory writing %s", path);
        goto out;
    }
    rc = pc_file_write(path, out.data, out.len, 0600, err);
out:
    pc_buf_free(&out);
    free(text);
    json_decref(obj);
    return rc;
}

/* Reads the key file at path and decrypts it into kp. Format errors name the
 * path. kp is wiped on failure. */
int pc_keyfile_read(const char *path, const char *pass, size_t passlen,
                    pc_keypair *kp, pc_error *err)
{
    json_t *obj = NULL;
    int rc;

    if (kp == NULL)
        return pc_error_set(err, PC_EINVAL, "no key pair to fill");
    pc_key_wipe(kp);
    rc = load_json(path, &obj, err);
    if (rc != PC_OK)
        return rc;
    rc = keyfile_open(obj, path, pass, passlen, kp, err);
    json_decref(obj);
    return rc;
}

/* Reads the public key and label of the key file at path without decrypting
 * anything. Only the fields needed for that are checked. On success *label
 * (if label is not NULL) is a malloc'd copy the caller frees. On failure pk is
 * zeroed and *label is NULL. */
int pc_keyfile_public(const char *path, uint8_t pk[32], char **label,
                      pc_error *err)
{
    json_t *obj = NULL;
    kf_fields f;
    int rc;

    if (label != NULL)
        *label = NULL;
    if (pk == NULL)
        return pc_error_set(err, PC_EINVAL, "no place for the public key");
    memset(pk, 0, 32);
    rc = load_json(path, &obj, err);
    if (rc != PC_OK)
        return rc;
    rc = parse_public(obj, path, &f, err);
    if (rc != PC_OK)
        goto out;
    if (label != NULL) {
        *label = strdup(f.label);
        if (*label == NULL) {
            rc = pc_error_set(err, PC_ENOMEM, "out of memory");
            goto out;
        }
    }
    memcpy(pk, f.pk, 32);
out:
    json_decref(obj);
    return rc;
}

/* Hands (p, n) to the caller as a new NUL-terminated malloc'd passphrase.
 * Returns PC_OK or PC_ENOMEM; *pass is NULL and *passlen 0 on failure. */
static int pass_dup(const char *p, size_t n, char **pass, size_t *passlen,
                    pc_error *err)
{
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    memcpy(copy, p, n);
    copy[n] = '\0';
    *pass = copy;
    *passlen = n;
    return PC_OK;
}

/* Reads the first line of the file at path as a passphrase: everything up to
 * the first '\n' (or the end), without a trailing '\r'. An empty first line is
 * refused (PC_EINVAL). The file's bytes are wiped after use. On success the
 * caller owns *pass and releases it with pc_pass_free(*pass, *passlen). */
int pc_pass_read_file(const char *path, char **pass, size_t *passlen,
                      pc_error *err)
{
    const uint8_t *nl;
    pc_buf text;
    size_t n;
    int rc;

    if (pass == NULL || passlen == NULL)
        return pc_error_set(err, PC_EINVAL, "no place for the passphrase");
    *pass = NULL;
    *passlen = 0;
    if (path == NULL)
        return pc_error_set(err, PC_EINVAL, "no passphrase file given");
    pc_buf_init(&text);
    rc = pc_file_read(path, PASS_FILE_MAX, &text, err);
    if (rc != PC_OK)
        goto out;
    nl = memchr(text.data, '\n', text.len);
    n = nl != NULL ? (size_t)(nl - text.data) : text.len;
    if (n > 0 && text.data[n - 1] == '\r')
        n--;
    if (n == 0) {
        rc = pc_error_set(err, PC_EINVAL,
                          "passphrase file %s is empty (its first line has no "
                          "characters)",
                          path);
        goto out;
    }
    if (n > PASS_MAX) {
        rc = pc_error_set(err, PC_EINVAL,
                          "passphrase in %s is longer than %d bytes", path,
                          PASS_MAX);
        goto out;
    }
    rc = pass_dup((const char *)text.data, n, pass, passlen, err);
out:
    pc_buf_free(&text);
    return rc;
}

/* The signal that interrupted a prompt, or 0. Written only by on_signal. */
static volatile sig_atomic_t prompt_signal;

/* Records which signal arrived; the prompt then restores the terminal and
 * re-raises it. */
static void on_signal(int sig)
{
    prompt_signal = sig;
}

/* Writes all of s to fd, ignoring errors (a prompt that cannot be shown is
 * not a reason to refuse the input). */
static void write_all(int fd, const char *s)
{
    size_t left = strlen(s);
    while (left > 0) {
        ssize_t w = write(fd, s, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        left -= (size_t)w;
    }
}

/* How a line read from the terminal ended, besides its length. */
typedef struct line_end {
    bool eof;      /* input ended before any newline */
    bool too_long; /* more than PASS_MAX bytes came before the newline */
} line_end;

/* Reads bytes from fd into line[0..PASS_MAX) up to a newline (not stored) or
 * end of input, one byte at a time so nothing past the line is consumed and no
 * stdio buffer keeps a copy. Bytes past PASS_MAX are read and dropped so the
 * rest of an over-long line is not left for the next reader. Stops early when
 * a prompt signal has arrived. Returns PC_OK (with *n and *end set) or PC_EIO
 * on a read error. The single-byte scratch is wiped. */
static int read_line(int fd, char line[PASS_MAX], size_t *n, line_end *end,
                     pc_error *err)
{
    int rc = PC_OK;
    char c = 0;

    *n = 0;
    end->eof = false;
    end->too_long = false;
    while (prompt_signal == 0) {
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = pc_error_set(err, PC_EIO, "cannot read the passphrase: %s",
                              strerror(errno));
            break;
        }
        if (r == 0) {
            end->eof = true;
            break;
        }
        if (c == '\n')
            break;
        if (*n < PASS_MAX) {
            line[*n] = c;
            (*n)++;
        } else {
            end->too_long = true;
        }
    }
    sodium_memzero(&c, sizeof c);
    return rc;
}

/* Signals that would otherwise kill us with the terminal's echo still off. */
static const int prompt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
#define N_PROMPT_SIGNALS (sizeof prompt_signals / sizeof prompt_signals[0])

/* Shows prompt and reads one line without echo from /dev/tty, or from stdin
 * (prompt on stderr) when there is no terminal. SIGINT, SIGTERM, SIGHUP,
 * SIGQUIT and SIGTSTP are caught for the duration so the terminal is never
 * left silent. A trailing '\r' is dropped. Returns PC_OK; PC_EINVAL for an
 * empty or over-long line; PC_EIO at end of input, on a read error, or when a
 * signal interrupted the prompt (the terminal is restored first and the
 * signal then re-raised). On success the caller owns *pass and releases it
 * with pc_pass_free(*pass, *passlen). */
int pc_pass_prompt(const char *prompt, char **pass, size_t *passlen,
                   pc_error *err)
{
    struct sigaction quiet_sa, saved_sa[N_PROMPT_SIGNALS];
    bool saved_ok[N_PROMPT_SIGNALS];
    struct termios saved_tio, quiet_tio;
    char line[PASS_MAX];
    line_end end = {false, false};
    size_t n = 0;
    bool own_fd = false, echo_off = false;
    int in_fd, out_fd, rc = PC_OK;

    if (pass == NULL || passlen == NULL)
        return pc_error_set(err, PC_EINVAL, "no place for the passphrase");
    *pass = NULL;
    *passlen = 0;

    in_fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (in_fd >= 0) {
        own_fd = true;
        out_fd = in_fd;
    } else {
        in_fd = STDIN_FILENO;
        out_fd = STDERR_FILENO;
    }

    prompt_signal = 0;
    memset(&quiet_sa, 0, sizeof quiet_sa);
    quiet_sa.sa_handler = on_signal;
    sigemptyset(&quiet_sa.sa_mask);
    quiet_sa.sa_flags = 0; /* no SA_RESTART: read() must return EINTR */
    for (size_t i = 0; i < N_PROMPT_SIGNALS; i++)
        saved_ok[i] = sigaction(prompt_signals[i], &quiet_sa, &saved_sa[i]) == 0;

    if (isatty(in_fd) && tcgetattr(in_fd, &saved_tio) == 0) {
        quiet_tio = saved_tio;
        quiet_tio.c_lflag &= ~(tcflag_t)ECHO;
        quiet_tio.c_lflag |= ECHONL;
        echo_off = tcsetattr(in_fd, TCSAFLUSH, &quiet_tio) == 0;
    }
    write_all(out_fd, prompt != NULL ? prompt : "Passphrase: ");

    rc = read_line(in_fd, line, &n, &end, err);
    if (echo_off)
        tcsetattr(in_fd, TCSAFLUSH, &saved_tio);
    for (size_t i = 0; i < N_PROMPT_SIGNALS; i++) {
        if (saved_ok[i])
            sigaction(prompt_signals[i], &saved_sa[i], NULL);
    }
    if (own_fd)
        close(in_fd);

    if (rc == PC_OK && prompt_signal != 0) {
        int sig = prompt_signal;
        prompt_signal = 0;
        raise(sig);
        rc = pc_error_set(err, PC_EIO, "passphrase prompt interrupted");
    }
    if (rc == PC_OK && n > 0 && line[n - 1] == '\r')
        n--;
    if (rc == PC_OK && end.too_long)
        rc = pc_error_set(err, PC_EINVAL, "passphrase is longer than %d bytes",
                          PASS_MAX);
    else if (rc == PC_OK && end.eof && n == 0)
        rc = pc_error_set(err, PC_EIO, "no passphrase given (end of input)");
    else if (rc == PC_OK && n == 0)
        rc = pc_error_set(err, PC_EINVAL, "empty passphrase");
    if (rc == PC_OK)
        rc = pass_dup(line, n, pass, passlen, err);
    sodium_memzero(line, sizeof line);
    return rc;
}

/* Wipes and frees a passphrase from pc_pass_read_file or pc_pass_prompt
 * (passlen bytes plus the NUL). NULL is a no-op. */
void pc_pass_free(char *pass, size_t passlen)
{
    if (pass == NULL)
        return;
    sodium_memzero(pass, passlen + 1);
    free(pass);
}
