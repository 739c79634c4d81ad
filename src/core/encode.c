/* Wire encodings: base64url without padding (keys, signatures, blobs) on
 * libsodium's constant-time codec, and lowercase hex (hashes, txids). Each
 * value has exactly one accepted text form: decoders refuse padding,
 * whitespace, non-zero leftover bits and (for hex) uppercase, so a signed
 * object cannot be re-spelled into different bytes that mean the same thing.
 * Buffer sizes are checked before libsodium is called, because libsodium
 * aborts the process on an undersized output buffer. */
#include "parcha/encode.h"

#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* Characters (no NUL) of n bytes in base64url without padding. O(1). */
size_t pc_b64_len(size_t n)
{
    /* 4 characters per 3 bytes; a tail of 1 or 2 bytes takes 2 or 3. */
    return (n / 3) * 4 + ((n % 3) == 0 ? 0 : (n % 3) + 1);
}

/* Encode into out[outlen]. Returns out, or NULL (with out emptied when it
 * has room for a NUL) if outlen < pc_b64_len(n) + 1 or in is missing. */
char *pc_b64_encode(char *out, size_t outlen, const uint8_t *in, size_t n)
{
    if (out == NULL)
        return NULL;
    /* n above SIZE_MAX/4*3 would overflow pc_b64_len. */
    if (n > SIZE_MAX / 4 * 3 - 3 || outlen < pc_b64_len(n) + 1 ||
        (in == NULL && n > 0)) {
        if (outlen > 0)
            out[0] = '\0';
        return NULL;
    }
    if (n == 0) {
        out[0] = '\0';
        return out;
    }
    sodium_bin2base64(out, outlen, in, n, B64_VARIANT);
    return out;
}

/* Encode into a new string the caller frees; NULL on ENOMEM. */
char *pc_b64_dup(const uint8_t *in, size_t n)
{
    if (n > SIZE_MAX / 4 * 3 - 3)
        return NULL;
    size_t len = pc_b64_len(n) + 1;
    char *s = malloc(len);
    if (s == NULL)
        return NULL;
    if (pc_b64_encode(s, len, in, n) == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

/* Decode in[0..inlen) into out[outmax]. Returns 0 and the byte count in
 * *outlen, or -1 with *outlen = 0 and out wiped (it may hold part of a key). */
int pc_b64_decode(uint8_t *out, size_t outmax, size_t *outlen, const char *in,
                  size_t inlen)
{
    size_t got = 0;
    if (outlen != NULL)
        *outlen = 0;
    if (in == NULL || (out == NULL && outmax > 0))
        return -1;
    if (inlen == 0)
        return 0;
    if (out == NULL)
        return -1;
    /* No ignore set and b64_end == NULL: any character outside the alphabet
     * (whitespace, '=', '+', '/', NUL) fails the whole decode, as do a
     * length of 4k+1 and non-zero bits after the last byte. */
    if (sodium_base642bin(out, outmax, in, inlen, NULL, &got, NULL, B64_VARIANT) != 0) {
        sodium_memzero(out, outmax);
        return -1;
    }
    if (outlen != NULL)
        *outlen = got;
    return 0;
}

/* Decode the NUL-terminated in into exactly n bytes; -1 (out wiped) if it
 * is not the one base64url spelling of n bytes. */
int pc_b64_decode_exact(uint8_t *out, size_t n, const char *in)
{
    if (in == NULL || (out == NULL && n > 0))
        return -1;
    if (n > SIZE_MAX / 4 * 3 - 3)
        return -1;
    size_t want = pc_b64_len(n);
    /* strnlen bounds the scan: text longer than expected is wrong anyway. */
    size_t inlen = strnlen(in, want + 1);
    size_t got = 0;
    if (inlen != want || pc_b64_decode(out, n, &got, in, inlen) != 0 || got != n) {
        if (n > 0)
            sodium_memzero(out, n);
        return -1;
    }
    return 0;
}

/* Lowercase hex of in[0..n) into out[outlen]. Returns out, or NULL (with
 * out emptied when possible) if outlen < 2n + 1 or in is missing. */
char *pc_hex_encode(char *out, size_t outlen, const uint8_t *in, size_t n)
{
    if (out == NULL)
        return NULL;
    if (n > (SIZE_MAX - 1) / 2 || outlen < 2 * n + 1 || (in == NULL && n > 0)) {
        if (outlen > 0)
            out[0] = '\0';
        return NULL;
    }
    if (n == 0) {
        out[0] = '\0';
        return out;
    }
    sodium_bin2hex(out, outlen, in, n);
    return out;
}

/* Value of a lowercase hex digit, or -1 for anything else (uppercase too,
 * so that each hash has one spelling). */
static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Decode exactly 2n lowercase hex digits from the NUL-terminated in. Returns
 * 0, or -1 (out wiped if it was touched) on any other length or character. */
int pc_hex_decode_exact(uint8_t *out, size_t n, const char *in)
{
    if (in == NULL || (out == NULL && n > 0) || n > (SIZE_MAX - 1) / 2)
        return -1;
    if (strnlen(in, 2 * n + 1) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(in[2 * i]);
        int lo = hex_digit(in[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            sodium_memzero(out, n);
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
