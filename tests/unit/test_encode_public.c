/* Tests for the table-driven codecs for public bytes (encode.h, "_public"):
 * they must write exactly what libsodium's constant-time codec writes, and
 * accept exactly the texts libsodium accepts (no ignore set, whole text),
 * with the same bytes. libsodium is the independent reference here: every
 * length up to a few hundred bytes, then random valid texts and mutations of
 * them (one character replaced, dropped or added, padding changed, cut
 * short) compared verdict by verdict. Plus RFC 4648 section 10's vectors in
 * the standard padded form etcd uses, and undersized buffers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "parcha/encode.h"

static uint32_t rng(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static void fill(uint8_t *b, size_t n, uint32_t *s)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(rng(s) >> 24);
}

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static void test_encoders_match_libsodium(void **state)
{
    (void)state;
    uint32_t s = 0x9e3779b9u;
    uint8_t in[400];
    char want[700], got[700];
    for (size_t n = 0; n <= 300; n++) {
        for (int rep = 0; rep < 4; rep++) {
            fill(in, n, &s);
            sodium_bin2base64(want, sizeof want, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
            assert_ptr_equal(pc_b64_encode_public(got, sizeof got, in, n), got);
            assert_string_equal(got, want);
            assert_int_equal(strlen(got), pc_b64_len(n));
            char *dup = pc_b64_dup_public(in, n);
            assert_non_null(dup);
            assert_string_equal(dup, want);
            free(dup);

            sodium_bin2base64(want, sizeof want, in, n, sodium_base64_VARIANT_ORIGINAL);
            assert_int_equal(pc_b64std_encode_public(got, sizeof got, in, n), strlen(want));
            assert_string_equal(got, want);
            assert_int_equal(pc_b64std_len(n), strlen(want));

            sodium_bin2hex(want, sizeof want, in, n);
            assert_ptr_equal(pc_hex_encode_public(got, sizeof got, in, n), got);
            assert_string_equal(got, want);
        }
    }
}

static void test_b64std_rfc4648(void **state)
{
    (void)state;
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char enc[16];
        uint8_t dec[16];
        size_t n = strlen(plain[i]), got = 99;
        assert_int_equal(pc_b64std_encode_public(enc, sizeof enc, (const uint8_t *)plain[i], n),
                         strlen(coded[i]));
        assert_string_equal(enc, coded[i]);
        assert_int_equal(pc_b64std_decode_public(dec, sizeof dec, &got, coded[i], strlen(coded[i])), 0);
        assert_int_equal(got, n);
        assert_memory_equal(dec, plain[i], n);
    }
}

/* libsodium's verdict on text t (length tl) decoded into outmax bytes. */
static int sodium_decode(uint8_t *out, size_t outmax, size_t *outlen, const char *t, size_t tl,
                         int variant)
{
    *outlen = 0;
    return sodium_base642bin(out, outmax, t, tl, NULL, outlen, NULL, variant) == 0 ? 0 : -1;
}

/* Decode t with both codecs into outmax bytes and require the same verdict
 * and, when accepted, the same bytes. */
static void same_verdict(const char *t, size_t tl, size_t outmax, int std)
{
    uint8_t a[512], b[512];
    size_t la = 0, lb = 0;
    int variant = std ? sodium_base64_VARIANT_ORIGINAL : sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    int ra = sodium_decode(a, outmax, &la, t, tl, variant);
    int rb = std ? pc_b64std_decode_public(b, outmax, &lb, t, tl)
                 : pc_b64_decode_public(b, outmax, &lb, t, tl);
    if (ra != rb)
        fail_msg("%s text \"%.*s\" (room %zu): libsodium %s, public codec %s", std ? "standard" : "url",
                 (int)tl, t, outmax, ra == 0 ? "accepts" : "refuses", rb == 0 ? "accepts" : "refuses");
    if (ra == 0) {
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
    } else {
        assert_int_equal(lb, 0);
    }
}

static void test_decoders_match_libsodium(void **state)
{
    (void)state;
    static const char MUTANTS[] = "AZaz09-_+/= \n\t.*";
    uint32_t s = 12345;
    uint8_t in[300];
    char text[600];
    size_t checked = 0;
    for (int std = 0; std <= 1; std++) {
        for (int iter = 0; iter < 6000; iter++) {
            size_t n = rng(&s) % 40;
            fill(in, n, &s);
            size_t tl = std ? pc_b64std_encode_public(text, sizeof text, in, n)
                            : strlen(pc_b64_encode_public(text, sizeof text, in, n));
            /* As written, with exact room, with one byte too few. */
            same_verdict(text, tl, n, std);
            same_verdict(text, tl, n + 7, std);
            if (n > 0)
                same_verdict(text, tl, n - 1, std);
            /* One character replaced, dropped or added, at random. */
            char m[600];
            size_t pos = tl > 0 ? rng(&s) % tl : 0;
            char c = MUTANTS[rng(&s) % (sizeof MUTANTS - 1)];
            memcpy(m, text, tl);
            if (tl > 0) {
                m[pos] = c;
                same_verdict(m, tl, n + 3, std);
                memmove(m + pos, text + pos + 1, tl - pos - 1); /* dropped */
                same_verdict(m, tl - 1, n + 3, std);
            }
            memcpy(m, text, pos);
            m[pos] = c;
            memcpy(m + pos + 1, text + pos, tl - pos); /* added */
            same_verdict(m, tl + 1, n + 3, std);
            /* Cut short, and padding taken off or put on. */
            size_t cut = tl > 0 ? rng(&s) % tl : 0;
            same_verdict(text, cut, n + 3, std);
            memcpy(m, text, tl);
            memcpy(m + tl, "==", 2);
            same_verdict(m, tl + 1, n + 3, std);
            same_verdict(m, tl + 2, n + 3, std);
            size_t bare = tl;
            while (bare > 0 && text[bare - 1] == '=')
                bare--;
            same_verdict(text, bare, n + 3, std);
            /* The last data character with its leftover bits flipped. */
            if (bare > 0) {
                memcpy(m, text, tl);
                m[bare - 1] = (char)(m[bare - 1] == 'A' ? 'B' : 'A');
                same_verdict(m, tl, n + 3, std);
            }
            checked += 10;
        }
    }
    assert_true(checked > 100000);
}

static void test_exact_and_buffers(void **state)
{
    (void)state;
    uint8_t key[32], out[32];
    char b64[64], hex[65];
    uint32_t s = 7;
    fill(key, sizeof key, &s);
    assert_non_null(pc_b64_encode_public(b64, sizeof b64, key, 32));
    assert_int_equal(pc_b64_decode_exact_public(out, 32, b64), 0);
    assert_memory_equal(out, key, 32);
    /* Any other length, or a valid text of 31 bytes, is refused. */
    assert_int_equal(pc_b64_decode_exact_public(out, 31, b64), -1);
    assert_int_equal(pc_b64_decode_exact_public(out, 33, b64), -1);
    b64[42] = '\0';
    assert_int_equal(pc_b64_decode_exact_public(out, 32, b64), -1);
    assert_int_equal(pc_b64_decode_exact_public(out, 32, NULL), -1);
    /* Undersized output buffers: refused, emptied, nothing overrun. */
    char small[8] = "xxxxxxx";
    assert_null(pc_b64_encode_public(small, sizeof small, key, 32));
    assert_string_equal(small, "");
    assert_null(pc_hex_encode_public(hex, 64, key, 32));
    assert_string_equal(hex, "");
    assert_int_equal(pc_b64std_encode_public(small, sizeof small, key, 32), 0);
    assert_string_equal(small, "");
    assert_non_null(pc_hex_encode_public(hex, sizeof hex, key, 32));
    assert_int_equal(pc_hex_decode_exact(out, 32, hex), 0);
    assert_memory_equal(out, key, 32);
    size_t got = 99;
    assert_int_equal(pc_b64_decode_public(NULL, 4, &got, "Zm9v", 4), -1);
    assert_int_equal(got, 0);
    assert_int_equal(pc_b64std_decode_public(out, 4, &got, NULL, 0), -1);
    assert_int_equal(pc_b64std_decode_public(NULL, 0, &got, "", 0), 0);
    assert_int_equal(got, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoders_match_libsodium),
        cmocka_unit_test(test_b64std_rfc4648),
        cmocka_unit_test(test_decoders_match_libsodium),
        cmocka_unit_test(test_exact_and_buffers),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
