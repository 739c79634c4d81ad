/* Health IDs: a short, printable, typo-detecting name for a patient's public
 * key. 12 Crockford base32 digits of SHA-256(public key) (60 bits) and one
 * Crockford mod-37 check symbol, shown as XXXX-XXXX-XXXX-C. Any single
 * mistyped character and any swap of two adjacent characters is detected. */
#ifndef PARCHA_HEALTHID_H
#define PARCHA_HEALTHID_H

#include "parcha/common.h"

#define PC_HEALTHID_LEN 16 /* "XXXX-XXXX-XXXX-C" */

/* Health ID of a 32-byte Ed25519 public key into out[PC_HEALTHID_LEN+1]. */
void pc_healthid_from_key(const uint8_t pk[32], char out[PC_HEALTHID_LEN + 1]);

/* Normalise what a person typed (case-insensitive; hyphens and spaces
 * ignored; O->0, I/L->1) and check the check symbol. On success writes the
 * canonical form to out and returns PC_OK; otherwise PC_EINVAL with a message
 * such as "Health ID check character does not match: a character was
 * mistyped". */
int pc_healthid_parse(const char *typed, char out[PC_HEALTHID_LEN + 1],
                      pc_error *err) PC_MUST_USE;

#endif
