/* parcha keygen: make one key file (an Ed25519 key pair whose secret half is
 * encrypted under the owner's passphrase) and print its public key. */
#include <string.h>
#include "cli/cli.h"
#include "cli/keys.h"
#include "parcha/encode.h"
#include "parcha/healthid.h"
#include "parcha/keyfile.h"

static const char HELP[] =
    "usage: parcha keygen --out FILE --label NAME [--pass-file F] [--kdf fast] [--json]\n"
    "\n"
    "Make a new Ed25519 key pair and write it to FILE (mode 0600). The secret\n"
    "key is encrypted with XChaCha20-Poly1305 under a key derived from your\n"
    "passphrase with Argon2id; the public key stays readable. Without\n"
    "--pass-file you are asked for the passphrase twice (nothing is echoed).\n"
    "An existing FILE is never overwritten.\n"
    "\n"
    "options:\n"
    "  --out FILE        where to write the key file\n"
    "  --label NAME      a name for the key, stored in clear (e.g. \"Dr. Mehta\")\n"
    "  --pass-file F     read the passphrase from the first line of F\n"
    "  --kdf fast        cheap Argon2id (tests and demos only; default interactive)\n"
    "  --json            print {\"public\",\"health_id\",\"file\"}\n"
    "\n"
    "example:\n"
    "  parcha keygen --out dr-mehta.key --label \"Dr. Anjali Mehta\"\n";

static const cli_optspec OPTS[] = {
    {"out", true, false}, {"label", true, false}, {"pass-file", true, false},
    {"kdf", true, false}, {NULL, false, false}};

int cli_cmd_keygen(int argc, char **argv)
{
    static const char NAME[] = "keygen";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP, OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *out, *label;
    if (cli_arg_required(&a, "out", &out, &err) != PC_OK ||
        cli_arg_required(&a, "label", &label, &err) != PC_OK)
        return cli_usage(NAME, &err);
    pc_kdf_cost cost = PC_KDF_INTERACTIVE;
    const char *kdf = cli_arg(&a, "kdf");
    if (kdf != NULL && strcmp(kdf, "fast") == 0) {
        cost = PC_KDF_FAST;
    } else if (kdf != NULL && strcmp(kdf, "interactive") != 0) {
        pc_error_set(&err, PC_EINVAL, "--kdf must be fast or interactive");
        return cli_usage(NAME, &err);
    }
    if (cli_path_exists(out)) {
        pc_error_set(&err, PC_EEXIST, "%s already exists; refusing to overwrite a key", out);
        return cli_fail(NAME, &err);
    }
    char *pass = NULL;
    size_t passlen = 0;
    if (cli_pass_new(cli_arg(&a, "pass-file"), out, &pass, &passlen, &err) != PC_OK)
        return cli_fail(NAME, &err);
    pc_keypair kp;
    if (pc_key_generate(&kp) != PC_OK) {
        pc_pass_free(pass, passlen);
        pc_error_set(&err, PC_ECRYPTO, "could not generate a key pair");
        return cli_fail(NAME, &err);
    }
    rc = pc_keyfile_write(out, &kp, label, pass, passlen, cost, &err);
    pc_pass_free(pass, passlen);
    uint8_t pk[32];
    memcpy(pk, kp.pk, 32);
    pc_key_wipe(&kp);
    if (rc != PC_OK)
        return cli_fail(NAME, &err);
    char b64[48], hid[PC_HEALTHID_LEN + 1];
    pc_b64_encode(b64, sizeof b64, pk, 32);
    pc_healthid_from_key(pk, hid);
    if (cli_flag(&a, "json")) {
        json_t *j = json_pack("{s:s,s:s,s:s}", "public", b64, "health_id", hid, "file", out);
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("wrote %s\npublic key: %s\n(as a patient this key's Health ID would be %s)\n",
               out, b64, hid);
    }
    return CLI_EXIT_OK;
}
