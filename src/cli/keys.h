/* Key files and passphrases as the parcha commands use them: open a key file
 * with a passphrase from --pass-file or a no-echo prompt, choose a new
 * passphrase (prompted twice), and generate readable random passphrases for
 * machine-held keys (hospital keys, demo keys). */
#ifndef PARCHA_CLI_KEYS_H
#define PARCHA_CLI_KEYS_H

#include <stddef.h>
#include "parcha/common.h"
#include "parcha/crypto.h"
#include "parcha/keyfile.h"

/* Open the key file at path. The passphrase comes from pass_file when not
 * NULL, otherwise from a prompt naming the file. kp is wiped on failure. The
 * error names the file ("wrong passphrase for key file doctor.key"). */
int cli_key_load(const char *path, const char *pass_file, pc_keypair *kp,
                 pc_error *err) PC_MUST_USE;

/* A passphrase for a new key file: read from pass_file when not NULL, else
 * prompted twice ("what" names the key in the prompt) and compared. Refuses
 * an empty passphrase and one shorter than 8 characters when prompted.
 * Caller frees with pc_pass_free. */
int cli_pass_new(const char *pass_file, const char *what, char **pass,
                 size_t *passlen, pc_error *err) PC_MUST_USE;

/* A random passphrase into out (at least 64 bytes). readable: four words and
 * a number such as "mango-river-tulsi-kite-4821" (about 37 bits: demo keys a
 * person types); otherwise 24 base64url characters (144 bits: keys only a
 * machine reads, such as hospital keys beside their .pass file). */
void cli_pass_generate(char *out, size_t outlen, int readable);

/* Generate a key pair, write it to key_path under a generated passphrase
 * (readable as in cli_pass_generate; Argon2id cost), and write that passphrase to pass_path (mode 0600, one line). The
 * passphrase is copied to pass_out (64 bytes) when not NULL. Refuses to
 * overwrite either file. */
int cli_key_create_with_pass(const char *key_path, const char *pass_path,
                             const char *label, int readable, pc_kdf_cost cost,
                             pc_keypair *kp,
                             char *pass_out, pc_error *err) PC_MUST_USE;

/* True if a file (or anything) exists at path. */
int cli_path_exists(const char *path);

#endif
