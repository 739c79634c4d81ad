/* Wire encodings: base64url without padding (keys, signatures, blobs) on
 * libsodium's constant-time codec, and lowercase hex (hashes, txids). Each
 * value has exactly one accepted text form: decoders refuse padding,
 * whitespace, non-zero leftover bits and (for hex) uppercase, so a signed
 * object cannot be re-spelled into different bytes that mean the same thing.
 * Buffer sizes are checked before libsodium is called, because libsodium
 * aborts the process on an undersized output buffer. The `_public` codecs at
 * the end write and accept the same forms, faster, for bytes that are not
 * secret. */
#include "parcha/encode.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
/* Largest inputs the encoders take: above them the encoded length overflows. */
#define B64_MAX_IN (SIZE_MAX / 4 * 3 - 3)
#define HEX_MAX_IN ((SIZE_MAX - 1) / 2)

/* Every encoder's argument check: n is at most max, in is there and out has
 * room for len characters and a NUL. Otherwise out is emptied (when it has
 * room for the NUL) and the answer is false. */
static bool encode_fits(char *out, size_t outlen, const uint8_t *in, size_t n, size_t max,
                        size_t len)
{
    if (out == NULL)
        return false;
    if (n > max || outlen < len + 1 || (in == NULL && n > 0)) {
        if (outlen > 0)
            out[0] = '\0';
        return false;
    }
    return true;
}

/* The base64url of in[0..n) written by `encode` into a new string the
 * caller frees; NULL on ENOMEM. */
static char *b64_dup_with(char *(*encode)(char *, size_t, const uint8_t *, size_t),
                          const uint8_t *in, size_t n)
{
    if (n > B64_MAX_IN)
        return NULL;
    size_t len = pc_b64_len(n) + 1;
    char *s = malloc(len);
    if (s != NULL && encode(s, len, in, n) == NULL) {
        free(s);
        s = NULL;
    }
    return s;
}

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
    if (!encode_fits(out, outlen, in, n, B64_MAX_IN, pc_b64_len(n)))
        return NULL;
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
    return b64_dup_with(pc_b64_encode, in, n);
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
    if (n > B64_MAX_IN)
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
    if (!encode_fits(out, outlen, in, n, HEX_MAX_IN, 2 * n))
        return NULL;
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
    if (in == NULL || (out == NULL && n > 0) || n > HEX_MAX_IN)
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

/* ---- Public bytes: table-driven codecs ----------------------------------
 * libsodium's codec above is constant-time, as secrets need, at a cost of a
 * function call and ~50 instructions per character: base64 and hex were 39%
 * of the instructions of a 1,000-record timeline (docs/performance.md).
 * Public bytes cannot leak through timing, so the hot paths that carry only
 * them use these. The decoders take exactly what sodium_base642bin takes
 * with no ignore set (tests/unit/test_encode_public.c compares the two on
 * random and mutated inputs). */

static const char B64_URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char B64_STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Character -> 6-bit value for each alphabet ([0] standard, [1] URL-safe),
 * 0xFF for characters outside it: one load per character, no branches to
 * mispredict on random data. Built once, on first use. */
static uint8_t b64_rev[2][256];
static pthread_once_t b64_rev_once = PTHREAD_ONCE_INIT;

static void b64_rev_build(void)
{
    memset(b64_rev, 0xFF, sizeof b64_rev);
    for (unsigned i = 0; i < 64; i++) {
        b64_rev[0][(unsigned char)B64_STD[i]] = (uint8_t)i;
        b64_rev[1][(unsigned char)B64_URL[i]] = (uint8_t)i;
    }
}

/* Write the base64 of in[0..n) and a NUL to out (room checked by the
 * caller); returns the length. */
static size_t b64_put(char *out, const uint8_t *in, size_t n, const char *abc, int pad)
{
    size_t o = 0, i = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
        out[o++] = abc[v & 63];
    }
    size_t rest = n - i;
    if (rest > 0) {
        uint32_t v = (uint32_t)in[i] << 16 | (rest == 2 ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        if (rest == 2)
            out[o++] = abc[(v >> 6) & 63];
        else if (pad)
            out[o++] = '=';
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

/* Decode in[0..inlen): data characters, then (padded) exactly the '='s that
 * complete the last group of four, as sodium_base642bin reads it (it stops
 * at the first character outside the alphabet, which must then start
 * exactly that padding and end the text). On failure out may hold part of
 * the bytes: they are wiped, as pc_b64_decode does. */
static int b64_get(uint8_t *out, size_t outmax, size_t *outlen, const char *in, size_t inlen,
                   int url, int padded)
{
    pthread_once(&b64_rev_once, b64_rev_build);
    const uint8_t *rev = b64_rev[url ? 1 : 0];
    const unsigned char *t = (const unsigned char *)in;
    size_t nd = inlen;
    while (padded && nd > 0 && inlen - nd < 2 && t[nd - 1] == '=')
        nd--;
    size_t rem = nd % 4;
    if (rem == 1 || inlen - nd != (padded && rem != 0 ? 4 - rem : 0))
        return -1; /* 6 bits cannot end a byte; padding must complete the group */
    size_t need = nd / 4 * 3 + (rem != 0 ? rem - 1 : 0);
    if (need > outmax || (need > 0 && out == NULL))
        return -1;
    size_t full = nd - rem;
    uint32_t tail = 0, bad = 0;
    if (rem != 0) {
        uint32_t a = rev[t[full]], b = rev[t[full + 1]], c = rem == 3 ? rev[t[full + 2]] : 0;
        bad = a | b | c;
        tail = a << 18 | b << 12 | c << 6;
        /* The bits after the last byte must be zero: one spelling per value. */
        if ((bad & 0xC0) != 0 || (rem == 2 && (tail & 0xFFFF) != 0) ||
            (rem == 3 && (tail & 0xFF) != 0))
            return -1;
    }
    size_t o = 0;
    for (size_t i = 0; i < full; i += 4) {
        uint32_t a = rev[t[i]], b = rev[t[i + 1]], c = rev[t[i + 2]], d = rev[t[i + 3]];
        bad |= a | b | c | d;
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    if ((bad & 0xC0) != 0) {
        memset(out, 0, o);
        return -1;
    }
    if (rem >= 2)
        out[o++] = (uint8_t)(tail >> 16);
    if (rem == 3)
        out[o++] = (uint8_t)(tail >> 8);
    *outlen = o;
    return 0;
}

char *pc_b64_encode_public(char *out, size_t outlen, const uint8_t *in, size_t n)
{
    if (!encode_fits(out, outlen, in, n, B64_MAX_IN, pc_b64_len(n)))
        return NULL;
    b64_put(out, in, n, B64_URL, 0);
    return out;
}

char *pc_b64_dup_public(const uint8_t *in, size_t n)
{
    return b64_dup_with(pc_b64_encode_public, in, n);
}

/* The public decoders' contract around b64_get: *outlen (when given) is 0
 * unless the whole text decodes. */
static int b64_decode_checked(uint8_t *out, size_t outmax, size_t *outlen, const char *in,
                              size_t inlen, int url, int padded)
{
    size_t got = 0;
    if (outlen != NULL)
        *outlen = 0;
    if (in == NULL || (out == NULL && outmax > 0))
        return -1;
    if (b64_get(out, outmax, &got, in, inlen, url, padded) != 0)
        return -1;
    if (outlen != NULL)
        *outlen = got;
    return 0;
}

int pc_b64_decode_public(uint8_t *out, size_t outmax, size_t *outlen, const char *in,
                         size_t inlen)
{
    return b64_decode_checked(out, outmax, outlen, in, inlen, 1, 0);
}

int pc_b64_decode_exact_public(uint8_t *out, size_t n, const char *in)
{
    if (in == NULL || (out == NULL && n > 0) || n > B64_MAX_IN)
        return -1;
    size_t want = pc_b64_len(n), got = 0;
    if (strnlen(in, want + 1) != want || b64_get(out, n, &got, in, want, 1, 0) != 0 || got != n)
        return -1;
    return 0;
}

/* The two lowercase hex digits of every byte value, built once: one 2-byte
 * copy per byte. */
static char hex_pairs[256][2];
static pthread_once_t hex_pairs_once = PTHREAD_ONCE_INIT;

static void hex_pairs_build(void)
{
    static const char HEX[] = "0123456789abcdef";
    for (unsigned i = 0; i < 256; i++) {
        hex_pairs[i][0] = HEX[i >> 4];
        hex_pairs[i][1] = HEX[i & 15];
    }
}

char *pc_hex_encode_public(char *out, size_t outlen, const uint8_t *in, size_t n)
{
    if (!encode_fits(out, outlen, in, n, HEX_MAX_IN, 2 * n))
        return NULL;
    pthread_once(&hex_pairs_once, hex_pairs_build);
    for (size_t i = 0; i < n; i++)
        memcpy(out + 2 * i, hex_pairs[in[i]], 2);
    out[2 * n] = '\0';
    return out;
}

size_t pc_b64std_len(size_t n)
{
    return (n / 3 + (n % 3 != 0)) * 4;
}

size_t pc_b64std_encode_public(char *out, size_t outlen, const uint8_t *in, size_t n)
{
    if (!encode_fits(out, outlen, in, n, B64_MAX_IN, pc_b64std_len(n)))
        return 0;
    return b64_put(out, in, n, B64_STD, 1);
}

int pc_b64std_decode_public(uint8_t *out, size_t outmax, size_t *outlen, const char *in,
                            size_t inlen)
{
    return b64_decode_checked(out, outmax, outlen, in, inlen, 0, 1);
}
