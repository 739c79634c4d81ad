/* Unit tests for src/core/keyfile.c: key files round trip through JSON and
 * disk, refuse wrong passphrases and malformed or hostile fields with clear
 * errors, are written 0600, and passphrases are read from files and from
 * stdin when there is no terminal. Most cases use PC_KDF_FAST; one uses the
 * real interactive cost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "parcha/keyfile.h"

#define PASS "correct horse battery staple"
#define LABEL "Dr. Asha Rao (City Hospital)"

/* ---- fixture ------------------------------------------------------------ */

typedef struct fixture {
    char dir[64];
    char path[128];
    pc_keypair kp;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL || pc_crypto_init() != 0)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/parcha-keyfile-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/key.json", f->dir);
    if (pc_key_generate(&f->kp) != PC_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char p[192];
    unlink(f->path);
    snprintf(p, sizeof p, "%s/pass.txt", f->dir);
    unlink(p);
    rmdir(f->dir);
    pc_key_wipe(&f->kp);
    free(f);
    return 0;
}

/* ---- helpers ----------------------------------------------------------- */

/* A sealed key file object for f->kp (fast KDF). */
static json_t *sealed(fixture *f)
{
    json_t *obj = NULL;
    pc_error err;
    assert_int_equal(pc_keyfile_seal(&f->kp, LABEL, PASS, strlen(PASS), PC_KDF_FAST, &obj,
                                     &err),
                     PC_OK);
    assert_non_null(obj);
    return obj;
}

/* True if all n bytes at p are zero. */
static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0)
            return 0;
    }
    return 1;
}

/* Opens obj with PASS and expects code, a wiped key pair, and (if want is not
 * NULL) a message containing want. */
static void expect_open_fails(const json_t *obj, int code, const char *want)
{
    pc_keypair kp;
    pc_error err;
    memset(&kp, 0xAA, sizeof kp);
    pc_error_clear(&err);
    assert_int_equal(pc_keyfile_open(obj, PASS, strlen(PASS), &kp, &err), code);
    assert_int_equal(err.code, code);
    assert_true(all_zero(&kp, sizeof kp));
    if (want != NULL && strstr(err.msg, want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
}

/* Writes text to path. */
static void put_file(const char *path, const char *text, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* base64url (no padding) of in[0..n) into out. */
static void b64(char *out, size_t outlen, const uint8_t *in, size_t n)
{
    sodium_bin2base64(out, outlen, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* ---- round trips -------------------------------------------------------- */

static void test_seal_open_round_trip(void **state)
{
    fixture *f = *state;
    pc_keypair kp;
    pc_error err;
    json_t *obj = sealed(f);

    /* The format the header promises. */
    assert_int_equal(json_integer_value(json_object_get(obj, "v")), 1);
    assert_string_equal(json_string_value(json_object_get(obj, "kind")), "parcha-key");
    assert_string_equal(json_string_value(json_object_get(obj, "label")), LABEL);
    json_t *kdf = json_object_get(obj, "kdf");
    assert_string_equal(json_string_value(json_object_get(kdf, "alg")), "argon2id13");
    assert_int_equal(json_integer_value(json_object_get(kdf, "ops")), 1);
    assert_int_equal(json_integer_value(json_object_get(kdf, "mem")), 8388608);
    assert_int_equal(strlen(json_string_value(json_object_get(kdf, "salt"))), 22);
    assert_int_equal(strlen(json_string_value(json_object_get(obj, "nonce"))), 32);
    assert_int_equal(strlen(json_string_value(json_object_get(obj, "secret"))), 107);
    char pk_b64[64];
    b64(pk_b64, sizeof pk_b64, f->kp.pk, 32);
    assert_string_equal(json_string_value(json_object_get(obj, "public")), pk_b64);

    assert_int_equal(pc_keyfile_open(obj, PASS, strlen(PASS), &kp, &err), PC_OK);
    assert_memory_equal(&kp, &f->kp, sizeof kp);
    pc_key_wipe(&kp);
    json_decref(obj);
}

static void test_write_read_round_trip(void **state)
{
    fixture *f = *state;
    pc_keypair kp;
    pc_error err;
    struct stat st;

    assert_int_equal(pc_keyfile_write(f->path, &f->kp, LABEL, PASS, strlen(PASS),
                                      PC_KDF_FAST, &err),
                     PC_OK);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(pc_keyfile_read(f->path, PASS, strlen(PASS), &kp, &err), PC_OK);
    assert_memory_equal(&kp, &f->kp, sizeof kp);

    /* Rewriting (a passphrase change) replaces the file and keeps 0600. */
    assert_int_equal(pc_keyfile_write(f->path, &f->kp, LABEL, "new pass", 8, PC_KDF_FAST,
                                      &err),
                     PC_OK);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(pc_keyfile_read(f->path, PASS, strlen(PASS), &kp, &err), PC_EPASS);
    assert_int_equal(pc_keyfile_read(f->path, "new pass", 8, &kp, &err), PC_OK);
    assert_memory_equal(&kp, &f->kp, sizeof kp);
    pc_key_wipe(&kp);
}

static void test_interactive_cost(void **state)
{
    fixture *f = *state;
    pc_keypair kp;
    pc_error err;
    json_t *obj = NULL;

    assert_int_equal(pc_keyfile_seal(&f->kp, LABEL, PASS, strlen(PASS),
                                     PC_KDF_INTERACTIVE, &obj, &err),
                     PC_OK);
    json_t *kdf = json_object_get(obj, "kdf");
    assert_int_equal(json_integer_value(json_object_get(kdf, "ops")),
                     crypto_pwhash_OPSLIMIT_INTERACTIVE);
    assert_int_equal(json_integer_value(json_object_get(kdf, "mem")),
                     crypto_pwhash_MEMLIMIT_INTERACTIVE);
    assert_int_equal(pc_keyfile_open(obj, PASS, strlen(PASS), &kp, &err), PC_OK);
    assert_memory_equal(&kp, &f->kp, sizeof kp);
    pc_key_wipe(&kp);
    json_decref(obj);
}

/* A passphrase is bytes, not a C string: embedded NULs count. */
static void test_binary_passphrase(void **state)
{
    fixture *f = *state;
    static const char pass[] = {'a', '\0', 'b'};
    pc_keypair kp;
    pc_error err;
    json_t *obj = NULL;

    assert_int_equal(pc_keyfile_seal(&f->kp, "x", pass, sizeof pass, PC_KDF_FAST, &obj,
                                     &err),
                     PC_OK);
    assert_int_equal(pc_keyfile_open(obj, pass, 1, &kp, &err), PC_EPASS);
    assert_int_equal(pc_keyfile_open(obj, pass, sizeof pass, &kp, &err), PC_OK);
    pc_key_wipe(&kp);
    json_decref(obj);
}

/* ---- wrong passphrase ---------------------------------------------------- */

static void test_wrong_passphrase(void **state)
{
    fixture *f = *state;
    pc_keypair kp;
    pc_error err;
    json_t *obj = sealed(f);

    memset(&kp, 0xAA, sizeof kp);
    assert_int_equal(pc_keyfile_open(obj, "Correct horse battery staple",
                                     strlen(PASS), &kp, &err),
                     PC_EPASS);
    assert_int_equal(err.code, PC_EPASS);
    assert_string_equal(err.msg, "wrong passphrase for key file \"" LABEL "\"");
    assert_true(all_zero(&kp, sizeof kp));
    /* Empty passphrase: simply wrong. */
    memset(&kp, 0xAA, sizeof kp);
    assert_int_equal(pc_keyfile_open(obj, "", 0, &kp, &err), PC_EPASS);
    assert_true(all_zero(&kp, sizeof kp));
    /* The message never carries the passphrase. */
    assert_null(strstr(err.msg, "horse"));

    /* Through a file too. */
    assert_int_equal(pc_keyfile_write(f->path, &f->kp, LABEL, PASS, strlen(PASS),
                                      PC_KDF_FAST, &err),
                     PC_OK);
    memset(&kp, 0xAA, sizeof kp);
    assert_int_equal(pc_keyfile_read(f->path, "nope", 4, &kp, &err), PC_EPASS);
    assert_true(all_zero(&kp, sizeof kp));
    assert_non_null(strstr(err.msg, "wrong passphrase for key file"));
    json_decref(obj);
}

/* ---- malformed files ----------------------------------------------------- */

/* Each case replaces one member of a good file (a NULL value removes it). */
typedef struct field_case {
    const char *parent; /* NULL for top level, else "kdf" */
    const char *key;
    const char *json; /* replacement value as JSON text, or NULL to delete */
    const char *want; /* expected part of the message */
} field_case;

static void test_corrupt_fields(void **state)
{
    static const field_case cases[] = {
        {NULL, "v", "2", "version"},
        {NULL, "v", "\"1\"", "version"},
        {NULL, "v", NULL, "version"},
        {NULL, "kind", "\"parcha-keys\"", "kind"},
        {NULL, "kind", "7", "kind"},
        {NULL, "label", "5", "label"},
        {NULL, "label", "\"bell\\u0007\"", "label"},
        {NULL, "label", "\"nul\\u0000x\"", "label"},
        {NULL, "public", "\"AAAA\"", "public"},
        {NULL, "public", "\"d75a980182b10ab7d54bfed3c964073a0ee172f3daa\"", "public"},
        {NULL, "public", "\"++++++++++++++++++++++++++++++++++++++++++8\"", "public"},
        {NULL, "public", NULL, "public"},
        {NULL, "kdf", "\"argon2id13\"", "kdf"},
        {NULL, "kdf", NULL, "kdf"},
        {"kdf", "alg", "\"argon2i13\"", "kdf.alg"},
        {"kdf", "alg", "\"scrypt\"", "kdf.alg"},
        {"kdf", "ops", "0", "kdf.ops"},
        {"kdf", "ops", "17", "kdf.ops"},
        {"kdf", "ops", "-1", "kdf.ops"},
        {"kdf", "ops", "1.0", "kdf.ops"},
        {"kdf", "ops", "9223372036854775807", "kdf.ops"},
        {"kdf", "mem", "1024", "kdf.mem"},
        {"kdf", "mem", "1073741825", "kdf.mem"},
        {"kdf", "mem", "4294967296", "kdf.mem"},
        {"kdf", "mem", NULL, "kdf.mem"},
        {"kdf", "salt", "\"AAAAAAAAAAAAAAAAAAAAAA\"", NULL}, /* valid: wrong pass */
        {"kdf", "salt", "\"AAAAAAAAAAAAAAAAAAAA\"", "kdf.salt"},
        {"kdf", "salt", "\"AAAAAAAAAAAAAAAAAAAAAA==\"", "kdf.salt"},
        {NULL, "nonce", "\"AAAA\"", "nonce"},
        {NULL, "nonce", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/\"", "nonce"},
        {NULL, "secret", "\"AAAA\"", "secret"},
        {NULL, "secret", "[]", "secret"},
    };
    fixture *f = *state;
    json_t *good = sealed(f);
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const field_case *c = &cases[i];
        json_t *obj = json_deep_copy(good);
        json_t *where = c->parent != NULL ? json_object_get(obj, c->parent) : obj;
        if (c->json == NULL) {
            assert_int_equal(json_object_del(where, c->key), 0);
        } else {
            json_t *v = json_loads(c->json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            assert_non_null(v);
            assert_int_equal(json_object_set_new(where, c->key, v), 0);
        }
        print_message("case %zu: %s = %s\n", i, c->key, c->json ? c->json : "(deleted)");
        expect_open_fails(obj, c->want != NULL ? PC_EINVAL : PC_EPASS, c->want);
        json_decref(obj);
    }

    /* Not an object at all. */
    json_t *arr = json_array();
    expect_open_fails(arr, PC_EINVAL, "not a key file");
    json_decref(arr);
    expect_open_fails(NULL, PC_EINVAL, "not a key file");
    json_decref(good);
}

/* Every flipped character of the secret, nonce or public key is caught by the
 * AEAD (and reported as a wrong passphrase: the two cannot be told apart). */
static void test_tampered_ciphertext(void **state)
{
    fixture *f = *state;
    json_t *good = sealed(f);
    const char *fields[] = {"secret", "nonce"};

    for (size_t i = 0; i < 2; i++) {
        json_t *obj = json_deep_copy(good);
        char text[200];
        snprintf(text, sizeof text, "%s", json_string_value(json_object_get(obj, fields[i])));
        text[3] = text[3] == 'A' ? 'B' : 'A';
        json_object_set_new(obj, fields[i], json_string(text));
        expect_open_fails(obj, PC_EPASS, "wrong passphrase");
        json_decref(obj);
    }
    /* Swapping in another valid public key breaks the associated data. */
    pc_keypair other;
    char pk_b64[64];
    assert_int_equal(pc_key_generate(&other), PC_OK);
    b64(pk_b64, sizeof pk_b64, other.pk, 32);
    json_t *obj = json_deep_copy(good);
    json_object_set_new(obj, "public", json_string(pk_b64));
    expect_open_fails(obj, PC_EPASS, "wrong passphrase");
    json_decref(obj);
    pc_key_wipe(&other);
    json_decref(good);
}

/* A file whose AEAD opens but whose secret key belongs to another public key
 * (made here by hand with the right passphrase) is corrupt, not accepted. */
static void test_secret_does_not_match_public(void **state)
{
    fixture *f = *state;
    json_t *obj = sealed(f);
    json_t *kdf = json_object_get(obj, "kdf");
    uint8_t salt[16], nonce[24], key[32], secret[80];
    char nonce_b64[64], secret_b64[128];
    pc_keypair other;
    size_t len;

    assert_int_equal(sodium_base642bin(salt, sizeof salt,
                                       json_string_value(json_object_get(kdf, "salt")),
                                       22, NULL, &len, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    assert_int_equal(crypto_pwhash(key, 32, PASS, strlen(PASS), salt, 1, 8388608,
                                   crypto_pwhash_ALG_ARGON2ID13),
                     0);
    assert_int_equal(pc_key_generate(&other), PC_OK);
    randombytes_buf(nonce, sizeof nonce);
    /* Associated data is f's public key, so only the key check can object. */
    crypto_aead_xchacha20poly1305_ietf_encrypt(secret, NULL, other.sk, 64, f->kp.pk, 32,
                                               NULL, nonce, key);
    b64(nonce_b64, sizeof nonce_b64, nonce, sizeof nonce);
    b64(secret_b64, sizeof secret_b64, secret, sizeof secret);
    json_object_set_new(obj, "nonce", json_string(nonce_b64));
    json_object_set_new(obj, "secret", json_string(secret_b64));
    expect_open_fails(obj, PC_EINVAL, "is corrupt");

    /* Same with only the public half of sk changed (seed still f's). */
    memcpy(other.sk, f->kp.sk, 32);
    randombytes_buf(nonce, sizeof nonce);
    crypto_aead_xchacha20poly1305_ietf_encrypt(secret, NULL, other.sk, 64, f->kp.pk, 32,
                                               NULL, nonce, key);
    b64(nonce_b64, sizeof nonce_b64, nonce, sizeof nonce);
    b64(secret_b64, sizeof secret_b64, secret, sizeof secret);
    json_object_set_new(obj, "nonce", json_string(nonce_b64));
    json_object_set_new(obj, "secret", json_string(secret_b64));
    expect_open_fails(obj, PC_EINVAL, "is corrupt");

    sodium_memzero(key, sizeof key);
    pc_key_wipe(&other);
    json_decref(obj);
}

static void test_bad_files_on_disk(void **state)
{
    fixture *f = *state;
    pc_keypair kp;
    pc_error err;
    uint8_t pk[32];
    char *label = (char *)1;

    /* Missing. */
    assert_int_equal(pc_keyfile_read("/nonexistent/parcha/key.json", PASS, strlen(PASS),
                                     &kp, &err),
                     PC_ENOTFOUND);
    /* Not JSON: the message gives a position but never the file's text (this
     * one is someone's passphrase file given by mistake). */
    put_file(f->path, "hunter2-secret\n", 15);
    memset(&kp, 0xAA, sizeof kp);
    assert_int_equal(pc_keyfile_read(f->path, PASS, strlen(PASS), &kp, &err), PC_EINVAL);
    assert_true(all_zero(&kp, sizeof kp));
    assert_null(strstr(err.msg, "hunter2"));
    assert_non_null(strstr(err.msg, "invalid JSON"));
    assert_int_equal(pc_keyfile_public(f->path, pk, &label, &err), PC_EINVAL);
    assert_null(label);
    assert_true(all_zero(pk, sizeof pk));
    /* Duplicate members are refused rather than resolved silently. */
    put_file(f->path, "{\"v\":1,\"v\":1}", 13);
    assert_int_equal(pc_keyfile_read(f->path, PASS, strlen(PASS), &kp, &err), PC_EINVAL);
    /* A malformed field names the file. */
    put_file(f->path, "{\"v\":3}", 7);
    assert_int_equal(pc_keyfile_read(f->path, PASS, strlen(PASS), &kp, &err), PC_EINVAL);
    assert_non_null(strstr(err.msg, f->path));
    assert_non_null(strstr(err.msg, "version"));
}

/* ---- sealing refuses bad input ------------------------------------------- */

static void test_seal_refuses(void **state)
{
    fixture *f = *state;
    json_t *obj = (json_t *)1;
    pc_keypair bad;
    pc_error err;

    assert_int_equal(pc_keyfile_seal(&f->kp, LABEL, "", 0, PC_KDF_FAST, &obj, &err),
                     PC_EINVAL);
    assert_null(obj);
    assert_int_equal(pc_keyfile_seal(&f->kp, LABEL, NULL, 3, PC_KDF_FAST, &obj, &err),
                     PC_EINVAL);
    assert_int_equal(pc_keyfile_seal(&f->kp, LABEL, PASS, strlen(PASS), (pc_kdf_cost)9,
                                     &obj, &err),
                     PC_EINVAL);
    assert_int_equal(pc_keyfile_seal(&f->kp, "line\nbreak", PASS, strlen(PASS),
                                     PC_KDF_FAST, &obj, &err),
                     PC_EINVAL);
    assert_int_equal(pc_keyfile_seal(&f->kp, "\xff\xfe", PASS, strlen(PASS), PC_KDF_FAST,
                                     &obj, &err),
                     PC_EINVAL);
    assert_int_equal(pc_keyfile_seal(NULL, LABEL, PASS, strlen(PASS), PC_KDF_FAST, &obj,
                                     &err),
                     PC_EINVAL);
    /* A pair whose halves do not belong together. */
    bad = f->kp;
    bad.pk[0] ^= 1;
    assert_int_equal(pc_keyfile_seal(&bad, LABEL, PASS, strlen(PASS), PC_KDF_FAST, &obj,
                                     &err),
                     PC_EINVAL);
    assert_non_null(strstr(err.msg, "inconsistent"));
    assert_null(obj);
    pc_key_wipe(&bad);
    assert_int_equal(pc_keyfile_write(f->path, &bad, LABEL, PASS, strlen(PASS),
                                      PC_KDF_FAST, &err),
                     PC_EINVAL);
    assert_int_equal(access(f->path, F_OK), -1);
}

/* ---- public key without passphrase --------------------------------------- */

static void test_public_only(void **state)
{
    fixture *f = *state;
    uint8_t pk[32];
    char *label = NULL;
    pc_error err;

    assert_int_equal(pc_keyfile_write(f->path, &f->kp, LABEL, PASS, strlen(PASS),
                                      PC_KDF_FAST, &err),
                     PC_OK);
    assert_int_equal(pc_keyfile_public(f->path, pk, &label, &err), PC_OK);
    assert_memory_equal(pk, f->kp.pk, 32);
    assert_string_equal(label, LABEL);
    free(label);
    memset(pk, 0, sizeof pk);
    assert_int_equal(pc_keyfile_public(f->path, pk, NULL, &err), PC_OK);
    assert_memory_equal(pk, f->kp.pk, 32);
}

/* ---- passphrase files ----------------------------------------------------- */

static void test_pass_file(void **state)
{
    static const struct {
        const char *text;
        size_t len;
        const char *want; /* NULL: refused */
        size_t wantlen;
    } cases[] = {
        {"hunter2\n", 8, "hunter2", 7},
        {"hunter2\r\n", 9, "hunter2", 7},
        {"hunter2", 7, "hunter2", 7},
        {"first line\nsecond line\n", 23, "first line", 10},
        {"  spaced  \n", 11, "  spaced  ", 10},
        {"", 0, NULL, 0},
        {"\n", 1, NULL, 0},
        {"\r\n", 2, NULL, 0},
        {"\nsecond\n", 8, NULL, 0},
    };
    fixture *f = *state;
    char path[192];
    pc_error err;

    snprintf(path, sizeof path, "%s/pass.txt", f->dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *pass = (char *)1;
        size_t passlen = 99;
        put_file(path, cases[i].text, cases[i].len);
        int rc = pc_pass_read_file(path, &pass, &passlen, &err);
        if (cases[i].want == NULL) {
            assert_int_equal(rc, PC_EINVAL);
            assert_non_null(strstr(err.msg, "empty"));
            assert_null(pass);
            assert_int_equal(passlen, 0);
        } else {
            assert_int_equal(rc, PC_OK);
            assert_int_equal(passlen, cases[i].wantlen);
            assert_memory_equal(pass, cases[i].want, passlen);
            assert_int_equal(pass[passlen], '\0');
            pc_pass_free(pass, passlen);
        }
    }
    char *pass = NULL;
    size_t passlen = 0;
    assert_int_equal(pc_pass_read_file("/nonexistent/parcha/pass", &pass, &passlen, &err),
                     PC_ENOTFOUND);
    assert_null(pass);

    /* A pass file unlocks a key file written with the same passphrase. */
    put_file(path, PASS "\n", strlen(PASS) + 1);
    assert_int_equal(pc_pass_read_file(path, &pass, &passlen, &err), PC_OK);
    assert_int_equal(pc_keyfile_write(f->path, &f->kp, LABEL, pass, passlen, PC_KDF_FAST,
                                      &err),
                     PC_OK);
    pc_keypair kp;
    assert_int_equal(pc_keyfile_read(f->path, PASS, strlen(PASS), &kp, &err), PC_OK);
    pc_key_wipe(&kp);
    pc_pass_free(pass, passlen);
    pc_pass_free(NULL, 0);
}

/* Runs pc_pass_prompt in a child with no controlling terminal and stdin fed
 * from a pipe; returns the child's exit code (0 when it read want). */
static int prompt_child(const char *input, const char *want, int want_rc)
{
    int in[2];
    pid_t pid;
    int status;

    assert_int_equal(pipe(in), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *pass = NULL;
        size_t passlen = 0;
        pc_error err;
        close(in[1]);
        if (setsid() < 0 || dup2(in[0], STDIN_FILENO) < 0)
            _exit(10);
        if (freopen("/dev/null", "w", stderr) == NULL)
            _exit(11);
        int rc = pc_pass_prompt("Passphrase: ", &pass, &passlen, &err);
        if (rc != want_rc)
            _exit(12);
        if (want != NULL && (passlen != strlen(want) || memcmp(pass, want, passlen) != 0))
            _exit(13);
        pc_pass_free(pass, passlen);
        _exit(0);
    }
    close(in[0]);
    assert_int_equal(write(in[1], input, strlen(input)), (ssize_t)strlen(input));
    close(in[1]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_prompt_without_tty(void **state)
{
    (void)state;
    assert_int_equal(prompt_child("typed secret\nrest\n", "typed secret", PC_OK), 0);
    assert_int_equal(prompt_child("dos line\r\n", "dos line", PC_OK), 0);
    assert_int_equal(prompt_child("\n", NULL, PC_EINVAL), 0);
    assert_int_equal(prompt_child("", NULL, PC_EIO), 0);
    /* 1024 bytes is the most accepted; one more is refused, not cut. */
    char want[1025], input[1027];
    memset(want, 'p', 1024);
    want[1024] = '\0';
    memset(input, 'p', 1024);
    memcpy(input + 1024, "\n", 2);
    assert_int_equal(prompt_child(input, want, PC_OK), 0);
    memcpy(input + 1024, "p\n", 3);
    assert_int_equal(prompt_child(input, NULL, PC_EINVAL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seal_open_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_read_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interactive_cost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_passphrase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_passphrase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_ciphertext, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_does_not_match_public, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_public_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pass_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prompt_without_tty, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
