/* Text encodings used on the wire: base64url without padding for keys,
 * signatures and blobs; lowercase hex for hashes and txids. */
#ifndef PARCHA_ENCODE_H
#define PARCHA_ENCODE_H

#include "parcha/common.h"

/* Encoded length (without NUL) of n bytes in base64url, no padding. */
size_t pc_b64_len(size_t n);
/* Encode into out (size at least pc_b64_len(n)+1). Returns out. */
char *pc_b64_encode(char *out, size_t outlen, const uint8_t *in, size_t n);
/* Encode into a new malloc'd string (NULL on ENOMEM). */
char *pc_b64_dup(const uint8_t *in, size_t n);
/* Decode base64url (no padding, no whitespace). Returns 0 and sets *outlen,
 * or -1 on bad characters or if the result does not fit outmax. */
int pc_b64_decode(uint8_t *out, size_t outmax, size_t *outlen, const char *in,
                  size_t inlen) PC_MUST_USE;
/* Decode exactly n bytes; -1 if the text decodes to any other length. */
int pc_b64_decode_exact(uint8_t *out, size_t n, const char *in) PC_MUST_USE;

/* Lowercase hex. out must hold 2n+1. Returns out. */
char *pc_hex_encode(char *out, size_t outlen, const uint8_t *in, size_t n);
/* Decode exactly n bytes from 2n hex characters; -1 otherwise. */
int pc_hex_decode_exact(uint8_t *out, size_t n, const char *in) PC_MUST_USE;

/* The same text forms for public bytes only (keys, signatures, hashes,
 * txids, sealed keys, proposals): table-driven, so their time depends on
 * the data, and several times faster than the functions above, which use
 * libsodium's constant-time codec. Never pass a secret (a private key, a
 * session token, a passphrase) to these. Same contracts as above; the
 * decoders accept exactly what libsodium accepts. */
char *pc_b64_encode_public(char *out, size_t outlen, const uint8_t *in, size_t n);
char *pc_b64_dup_public(const uint8_t *in, size_t n);
int pc_b64_decode_public(uint8_t *out, size_t outmax, size_t *outlen, const char *in,
                         size_t inlen) PC_MUST_USE;
int pc_b64_decode_exact_public(uint8_t *out, size_t n, const char *in) PC_MUST_USE;
char *pc_hex_encode_public(char *out, size_t outlen, const uint8_t *in, size_t n);

/* Standard base64 (RFC 4648 section 4: '+' and '/', padded with '='), as
 * etcd's JSON gateway carries bytes; public bytes only. pc_b64std_len is
 * the length without NUL; the encoder writes it and a NUL and returns the
 * length, or 0 with out emptied if outlen is too small. The decoder takes
 * exactly the one padded spelling (no whitespace, zero leftover bits) and
 * returns 0 with the byte count in *outlen, or -1. */
size_t pc_b64std_len(size_t n);
size_t pc_b64std_encode_public(char *out, size_t outlen, const uint8_t *in, size_t n);
int pc_b64std_decode_public(uint8_t *out, size_t outmax, size_t *outlen, const char *in,
                            size_t inlen) PC_MUST_USE;

#endif
