/* Opening and creating key files for the parcha commands: where passphrases
 * come from (a --pass-file, a no-echo prompt, or a generator for keys that a
 * machine holds) and the checks a person needs when choosing one. Every
 * passphrase is wiped when it is no longer needed. */
#include "cli/keys.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>
#include "parcha/encode.h"

/* Short, distinct, easy-to-type words for demo passphrases (64 of them). */
static const char *const WORDS[64] = {
    "amber", "anchor", "banyan", "basil", "bison", "brook", "cedar", "chai",
    "cloud", "cobalt", "comet", "coral", "cumin", "delta", "dosa", "eagle",
    "ember", "fern", "ginger", "guava", "harbor", "hazel", "indigo", "jasmine",
    "jade", "kite", "lotus", "lime", "mango", "maple", "meadow", "mint",
    "monsoon", "neem", "nutmeg", "ocean", "olive", "onyx", "orbit", "papaya",
    "pebble", "pepper", "pine", "plum", "quartz", "raven", "river", "saffron",
    "sage", "sitar", "spice", "stone", "tabla", "teak", "tiger", "tulsi",
    "umber", "valley", "violet", "willow", "yak", "zebra", "zinc", "orchid"};

int cli_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int cli_key_load(const char *path, const char *pass_file, pc_keypair *kp,
                 pc_error *err)
{
    char *pass = NULL;
    size_t passlen = 0;
    int rc;
    if (!cli_path_exists(path))
        return pc_error_set(err, PC_ENOTFOUND, "key file %s does not exist", path);
    if (pass_file != NULL) {
        rc = pc_pass_read_file(pass_file, &pass, &passlen, err);
    } else {
        char prompt[512];
        snprintf(prompt, sizeof prompt, "Passphrase for %s: ", path);
        rc = pc_pass_prompt(prompt, &pass, &passlen, err);
    }
    if (rc != PC_OK)
        return rc;
    rc = pc_keyfile_read(path, pass, passlen, kp, err);
    pc_pass_free(pass, passlen);
    if (rc == PC_EPASS)
        return pc_error_set(err, PC_EPASS, "wrong passphrase for key file %s", path);
    return rc;
}

int cli_pass_new(const char *pass_file, const char *what, char **pass,
                 size_t *passlen, pc_error *err)
{
    *pass = NULL;
    *passlen = 0;
    if (pass_file != NULL)
        return pc_pass_read_file(pass_file, pass, passlen, err);

    char prompt[256];
    char *again = NULL;
    size_t againlen = 0;
    snprintf(prompt, sizeof prompt, "New passphrase for %s: ", what);
    int rc = pc_pass_prompt(prompt, pass, passlen, err);
    if (rc != PC_OK)
        return rc;
    if (*passlen < 8) {
        rc = pc_error_set(err, PC_EINVAL,
                          "the passphrase is too short: use at least 8 characters");
        goto fail;
    }
    snprintf(prompt, sizeof prompt, "Repeat the passphrase for %s: ", what);
    rc = pc_pass_prompt(prompt, &again, &againlen, err);
    if (rc != PC_OK)
        goto fail;
    if (againlen != *passlen || sodium_memcmp(again, *pass, againlen) != 0) {
        pc_pass_free(again, againlen);
        rc = pc_error_set(err, PC_EINVAL, "the two passphrases differ; nothing was written");
        goto fail;
    }
    pc_pass_free(again, againlen);
    return PC_OK;
fail:
    pc_pass_free(*pass, *passlen);
    *pass = NULL;
    *passlen = 0;
    return rc;
}

void cli_pass_generate(char *out, size_t outlen, int readable)
{
    if (outlen < 64) {
        if (outlen > 0)
            out[0] = '\0';
        return;
    }
    if (!readable) {
        uint8_t raw[18];
        pc_random(raw, sizeof raw);
        pc_b64_encode(out, outlen, raw, sizeof raw);
        sodium_memzero(raw, sizeof raw);
        return;
    }
    uint8_t r[4];
    pc_random(r, sizeof r);
    uint32_t num = randombytes_uniform(9000) + 1000;
    snprintf(out, outlen, "%s-%s-%s-%s-%u", WORDS[r[0] & 63], WORDS[r[1] & 63],
             WORDS[r[2] & 63], WORDS[r[3] & 63], (unsigned)num);
    sodium_memzero(r, sizeof r);
}

int cli_key_create_with_pass(const char *key_path, const char *pass_path,
                             const char *label, int readable, pc_kdf_cost cost,
                             pc_keypair *kp, char *pass_out, pc_error *err)
{
    char pass[64];
    char line[66];
    int rc;
    if (cli_path_exists(key_path))
        return pc_error_set(err, PC_EEXIST, "%s already exists; refusing to overwrite a key",
                            key_path);
    if (cli_path_exists(pass_path))
        return pc_error_set(err, PC_EEXIST, "%s already exists; refusing to overwrite it",
                            pass_path);
    if (pc_key_generate(kp) != PC_OK)
        return pc_error_set(err, PC_ECRYPTO, "could not generate a key pair");
    cli_pass_generate(pass, sizeof pass, readable);
    size_t passlen = strlen(pass);
    rc = pc_keyfile_write(key_path, kp, label, pass, passlen, cost, err);
    if (rc != PC_OK)
        goto out;
    snprintf(line, sizeof line, "%s\n", pass);
    rc = pc_file_write(pass_path, line, passlen + 1, 0600, err);
    if (rc != PC_OK)
        goto out;
    if (pass_out != NULL)
        memcpy(pass_out, pass, passlen + 1);
out:
    sodium_memzero(pass, sizeof pass);
    sodium_memzero(line, sizeof line);
    if (rc != PC_OK)
        pc_key_wipe(kp);
    return rc;
}
