/* Tests for base64url (no padding) and lowercase hex: RFC 4648 section 10
 * vectors (base64 ones rewritten in the URL alphabet without '='), round trips
 * of every length up to a few blocks, and refusal of every alternative
 * spelling: padding, whitespace, the standard alphabet, non-zero leftover
 * bits, impossible lengths, uppercase hex and undersized buffers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "parcha/encode.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* Deterministic byte source so failures reproduce. */
static uint8_t rng_byte(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return (uint8_t)(x >> 24);
}

/* Assert that decoding the NUL-terminated text fails, with room to spare. */
static void expect_b64_refused(const char *text)
{
    uint8_t out[64];
    size_t n = 99;
    if (pc_b64_decode(out, sizeof out, &n, text, strlen(text)) != -1)
        fail_msg("\"%s\" was accepted", text);
    assert_int_equal(n, 0);
}

/* ------------------------------------------------------------------------ */
/* base64url                                                                 */

static void test_b64_rfc4648(void **state)
{
    (void)state;
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *coded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE",
                                  "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        size_t n = strlen(plain[i]);
        char enc[16];
        assert_int_equal(pc_b64_len(n), strlen(coded[i]));
        assert_ptr_equal(pc_b64_encode(enc, sizeof enc, (const uint8_t *)plain[i], n),
                         enc);
        assert_string_equal(enc, coded[i]);
        char *dup = pc_b64_dup((const uint8_t *)plain[i], n);
        assert_non_null(dup);
        assert_string_equal(dup, coded[i]);
        free(dup);
        uint8_t dec[16];
        size_t got = 99;
        assert_int_equal(pc_b64_decode(dec, sizeof dec, &got, coded[i],
                                       strlen(coded[i])), 0);
        assert_int_equal(got, n);
        assert_memory_equal(dec, plain[i], n);
        assert_int_equal(pc_b64_decode_exact(dec, n, coded[i]), 0);
        assert_memory_equal(dec, plain[i], n);
    }
}

/* The two characters where base64url differs from base64: 62 is '-' and
 * 63 is '_' (standard "+" and "/"). */
static void test_b64_url_alphabet(void **state)
{
    (void)state;
    static const uint8_t all62[3] = {0xfb, 0xef, 0xbe};
    static const uint8_t all63[3] = {0xff, 0xff, 0xff};
    static const uint8_t mixed[2] = {0xfb, 0xff};
    char enc[8];
    assert_string_equal(pc_b64_encode(enc, sizeof enc, all62, 3), "----");
    assert_string_equal(pc_b64_encode(enc, sizeof enc, all63, 3), "____");
    assert_string_equal(pc_b64_encode(enc, sizeof enc, mixed, 2), "-_8");
    uint8_t dec[3];
    assert_int_equal(pc_b64_decode_exact(dec, 2, "-_8"), 0);
    assert_memory_equal(dec, mixed, 2);
    expect_b64_refused("+/8");
    expect_b64_refused("++++");
    expect_b64_refused("////");
}

static void test_b64_round_trip(void **state)
{
    (void)state;
    uint32_t rng = 12345;
    for (size_t n = 0; n <= 200; n++) {
        uint8_t in[200];
        for (size_t i = 0; i < n; i++)
            in[i] = rng_byte(&rng);
        char enc[300];
        assert_non_null(pc_b64_encode(enc, sizeof enc, in, n));
        assert_int_equal(strlen(enc), pc_b64_len(n));
        assert_int_equal(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                     "qrstuvwxyz0123456789-_"),
                         strlen(enc));
        uint8_t dec[200];
        size_t got = 0;
        assert_int_equal(pc_b64_decode(dec, sizeof dec, &got, enc, strlen(enc)), 0);
        assert_int_equal(got, n);
        assert_memory_equal(dec, in, n);
        assert_int_equal(pc_b64_decode_exact(dec, n, enc), 0);
        assert_memory_equal(dec, in, n);
        /* Exactly-sized output buffers suffice. */
        char tight[300];
        assert_non_null(pc_b64_encode(tight, pc_b64_len(n) + 1, in, n));
        assert_null(pc_b64_encode(tight, pc_b64_len(n), in, n));
    }
}

static void test_b64_refused(void **state)
{
    (void)state;
    expect_b64_refused("Zg==");  /* padding */
    expect_b64_refused("Zm8=");
    expect_b64_refused("Zm9v\n"); /* whitespace anywhere */
    expect_b64_refused(" Zm9v");
    expect_b64_refused("Zm 9v");
    expect_b64_refused("Zm9\tv");
    expect_b64_refused("Z");     /* 4k+1 characters cannot be base64 */
    expect_b64_refused("Zm9vY");
    expect_b64_refused("Zh");    /* non-zero leftover bits: "Zg" is canonical */
    expect_b64_refused("Zm9");   /* "Zm8" is canonical */
    expect_b64_refused("Zm9v!");
    expect_b64_refused("Zm9v.");
    expect_b64_refused("Zé");

    /* An embedded NUL within the given length is a bad character. */
    uint8_t out[8];
    size_t n = 0;
    assert_int_equal(pc_b64_decode(out, sizeof out, &n, "Zm\0v", 4), -1);

    /* Output that does not fit is refused, not truncated. */
    assert_int_equal(pc_b64_decode(out, 2, &n, "Zm9v", 4), -1);
    assert_int_equal(pc_b64_decode(out, 3, &n, "Zm9v", 4), 0);
    assert_int_equal(n, 3);

    /* Exact decoding wants exactly n bytes and wipes out on failure. */
    memset(out, 0xAA, sizeof out);
    assert_int_equal(pc_b64_decode_exact(out, 2, "Zm9v"), -1);
    assert_int_equal(pc_b64_decode_exact(out, 4, "Zm9v"), -1);
    assert_int_equal(pc_b64_decode_exact(out, 3, "Zm9vYg"), -1);
    assert_int_equal(pc_b64_decode_exact(out, 3, "Zm9"), -1);
    assert_int_equal(pc_b64_decode_exact(out, 3, "Zm9!"), -1);
    static const uint8_t zero[3] = {0, 0, 0};
    assert_memory_equal(out, zero, 3);
    assert_int_equal(pc_b64_decode_exact(out, 0, ""), 0);
    assert_int_equal(pc_b64_decode_exact(out, 0, "Zg"), -1);
    assert_int_equal(pc_b64_decode_exact(out, 3, NULL), -1);

    /* A 32-byte key is 43 characters. */
    assert_int_equal(pc_b64_len(32), 43);
    assert_int_equal(pc_b64_len(64), 86);
}

/* ------------------------------------------------------------------------ */
/* hex                                                                       */

static void test_hex(void **state)
{
    (void)state;
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *coded[] = {"", "66", "666f", "666f6f", "666f6f62",
                                  "666f6f6261", "666f6f626172"};
    for (size_t i = 0; i < 7; i++) {
        size_t n = strlen(plain[i]);
        char enc[16];
        assert_ptr_equal(pc_hex_encode(enc, sizeof enc, (const uint8_t *)plain[i], n),
                         enc);
        assert_string_equal(enc, coded[i]);
        uint8_t dec[8];
        assert_int_equal(pc_hex_decode_exact(dec, n, coded[i]), 0);
        assert_memory_equal(dec, plain[i], n);
    }
    static const uint8_t bytes[4] = {0x00, 0xab, 0xcd, 0xff};
    char enc[9];
    assert_string_equal(pc_hex_encode(enc, sizeof enc, bytes, 4), "00abcdff");
    assert_null(pc_hex_encode(enc, 8, bytes, 4));
    assert_string_equal(enc, "");

    uint8_t dec[4];
    assert_int_equal(pc_hex_decode_exact(dec, 4, "00abcdff"), 0);
    assert_memory_equal(dec, bytes, 4);
    assert_int_equal(pc_hex_decode_exact(dec, 4, "00ABCDFF"), -1); /* one spelling */
    assert_int_equal(pc_hex_decode_exact(dec, 4, "00abcdf"), -1);
    assert_int_equal(pc_hex_decode_exact(dec, 4, "00abcdff0"), -1);
    assert_int_equal(pc_hex_decode_exact(dec, 4, "00abcdfg"), -1);
    assert_int_equal(pc_hex_decode_exact(dec, 4, "00ab cdf"), -1);
    assert_int_equal(pc_hex_decode_exact(dec, 4, "0xabcdff"), -1);
    assert_int_equal(pc_hex_decode_exact(dec, 3, "00abcdff"), -1);
    assert_int_equal(pc_hex_decode_exact(dec, 4, NULL), -1);

    uint32_t rng = 777;
    uint8_t in[64];
    char text[129];
    uint8_t back[64];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = rng_byte(&rng);
    assert_non_null(pc_hex_encode(text, sizeof text, in, sizeof in));
    assert_int_equal(strlen(text), 128);
    assert_int_equal(pc_hex_decode_exact(back, sizeof back, text), 0);
    assert_memory_equal(back, in, sizeof in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64_rfc4648),
        cmocka_unit_test(test_b64_url_alphabet),
        cmocka_unit_test(test_b64_round_trip),
        cmocka_unit_test(test_b64_refused),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
