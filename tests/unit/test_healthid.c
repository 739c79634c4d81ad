/* Tests for Health IDs: known answers computed independently (Python's
 * hashlib over the same rule), the printed shape, the forgiving parse (case,
 * spaces, hyphens, O/I/L), and the promise in healthid.h checked exhaustively:
 * every single-symbol substitution at every one of the 13 positions, and every
 * swap of two neighbouring symbols, is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <string.h>

#include "parcha/healthid.h"

/* All 37 symbols: 0..31 may appear anywhere, 32..36 only as the check. */
static const char symbols[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* A test key: byte 0 and 1 from i, the rest zero or a ramp. */
static void make_key(uint8_t pk[32], unsigned i, int ramp)
{
    for (int k = 0; k < 32; k++)
        pk[k] = ramp ? (uint8_t)k : 0;
    pk[0] = (uint8_t)(i & 255);
    pk[1] = (uint8_t)(i >> 8);
}

/* Assert id has the printed shape XXXX-XXXX-XXXX-C. */
static void check_shape(const char *id)
{
    assert_int_equal(strlen(id), PC_HEALTHID_LEN);
    for (int i = 0; i < PC_HEALTHID_LEN; i++) {
        if (i == 4 || i == 9 || i == 14) {
            assert_int_equal(id[i], '-');
        } else if (i < 14) {
            assert_non_null(memchr(symbols, id[i], 32));
        } else {
            assert_non_null(memchr(symbols, id[i], 37));
        }
    }
}

/* Index in the printed form of symbol position p (0..12). */
static int printed_index(int p)
{
    return p + p / 4;
}

/* Parse text and assert it is refused with PC_EINVAL, out left empty, and a
 * message containing frag (if not NULL). */
static void expect_refused(const char *text, const char *frag)
{
    char out[PC_HEALTHID_LEN + 1];
    pc_error err;
    memset(out, 'x', sizeof out);
    pc_error_clear(&err);
    int rc = pc_healthid_parse(text, out, &err);
    if (rc != PC_EINVAL)
        fail_msg("\"%s\" was not refused (rc %d, out %s)", text, rc, out);
    assert_int_equal(out[0], '\0');
    if (frag != NULL && strstr(err.msg, frag) == NULL)
        fail_msg("\"%s\": message \"%s\" lacks \"%s\"", text, err.msg, frag);
}

/* Parse text and assert it gives the canonical ID want. */
static void expect_parsed(const char *text, const char *want)
{
    char out[PC_HEALTHID_LEN + 1];
    pc_error err;
    int rc = pc_healthid_parse(text, out, &err);
    if (rc != PC_OK)
        fail_msg("\"%s\" refused: %s", text, err.msg);
    assert_string_equal(out, want);
}

/* Value of an uppercase symbol, counting Crockford's aliases. */
static int symbol_value(char ch)
{
    if (ch == 'O')
        return 0;
    if (ch == 'I' || ch == 'L')
        return 1;
    const char *p = memchr(symbols, ch, 37);
    return p == NULL ? -1 : (int)(p - symbols);
}

/* Every substitution of one symbol of id (by any of the 37 symbols or an
 * alias, upper or lower case) that changes its value is refused, and those
 * that do not change it are accepted. */
static void check_substitutions(const char *id)
{
    static const char extra[] = "OIL";
    char alts[sizeof symbols + sizeof extra];
    memcpy(alts, symbols, sizeof symbols - 1);
    memcpy(alts + sizeof symbols - 1, extra, sizeof extra);
    size_t nalts = strlen(alts);
    for (int p = 0; p < 13; p++) {
        int at = printed_index(p);
        for (size_t a = 0; a < nalts; a++) {
            for (int lower = 0; lower < 2; lower++) {
                char typo[PC_HEALTHID_LEN + 1];
                memcpy(typo, id, sizeof typo);
                typo[at] = lower ? (char)tolower((unsigned char)alts[a]) : alts[a];
                if (symbol_value(alts[a]) == symbol_value(id[at]))
                    expect_parsed(typo, id);
                else
                    expect_refused(typo, NULL);
            }
        }
    }
}

/* Every swap of two neighbouring, different symbols is refused. */
static void check_transpositions(const char *id)
{
    for (int p = 0; p < 12; p++) {
        int a = printed_index(p);
        int b = printed_index(p + 1);
        if (id[a] == id[b])
            continue;
        char typo[PC_HEALTHID_LEN + 1];
        memcpy(typo, id, sizeof typo);
        typo[a] = id[b];
        typo[b] = id[a];
        expect_refused(typo, NULL);
    }
}

/* ------------------------------------------------------------------------ */
/* Cases                                                                     */

/* Known answers from an independent implementation (Python hashlib). */
static void test_known_ids(void **state)
{
    (void)state;
    uint8_t pk[32];
    char id[PC_HEALTHID_LEN + 1];
    make_key(pk, 0x0100, 1); /* bytes 0, 1, 2, ..., 31 */
    pc_healthid_from_key(pk, id);
    assert_string_equal(id, "CC6W-TAB6-RGSP-X");
    make_key(pk, 0, 0);
    pc_healthid_from_key(pk, id);
    assert_string_equal(id, "CSM7-NBFR-CAYQ-W");
    make_key(pk, 2, 0); /* check symbol 32 */
    pc_healthid_from_key(pk, id);
    assert_string_equal(id, "AXWF-K1EV-EN66-*");
    make_key(pk, 47, 0); /* check symbol 36 */
    pc_healthid_from_key(pk, id);
    assert_string_equal(id, "QWGH-PRD8-ZGTP-U");
    make_key(pk, 574, 0);
    pc_healthid_from_key(pk, id);
    assert_string_equal(id, "1006-PQA4-G98C-$");
    /* Stable: the same key always gives the same ID. */
    char again[PC_HEALTHID_LEN + 1];
    pc_healthid_from_key(pk, again);
    assert_string_equal(id, again);
}

static void test_shape_and_round_trip(void **state)
{
    (void)state;
    for (unsigned i = 0; i < 600; i++) {
        uint8_t pk[32];
        char id[PC_HEALTHID_LEN + 1];
        make_key(pk, i, 1);
        pc_healthid_from_key(pk, id);
        check_shape(id);
        expect_parsed(id, id);
    }
}

static void test_forgiving_parse(void **state)
{
    (void)state;
    expect_parsed("cc6w-tab6-rgsp-x", "CC6W-TAB6-RGSP-X");
    expect_parsed("CC6WTAB6RGSPX", "CC6W-TAB6-RGSP-X");
    expect_parsed(" cc6w tab6 rgsp x ", "CC6W-TAB6-RGSP-X");
    expect_parsed("C-C-6-W--TAB6RGSP  -X", "CC6W-TAB6-RGSP-X");
    expect_parsed("1OO6-PQA4-G98C-$", "1006-PQA4-G98C-$");
    expect_parsed("loo6pqa4g98c$", "1006-PQA4-G98C-$");
    expect_parsed("I0o6 PQA4 G98C $", "1006-PQA4-G98C-$");
    expect_parsed("qwgh-prd8-zgtp-u", "QWGH-PRD8-ZGTP-U");
}

static void test_wrong_length(void **state)
{
    (void)state;
    expect_refused("", "13 characters");
    expect_refused("CC6W-TAB6-RGSP", "12 were given");
    expect_refused("CC6W-TAB6-RGS-X", "12 were given");
    expect_refused("CC6W-TAB6-RGSP-XX", "14 were given");
    expect_refused("CC6W-TAB6-RGSP-X-CC6W-TAB6-RGSP-X", "26 were given");
    expect_refused("- - -", "0 were given");
}

static void test_bad_characters(void **state)
{
    (void)state;
    expect_refused("CC6W-TAB6-RGS!-X", "'!'");
    expect_refused("CC6W_TAB6-RGSP-X", "'_'");
    expect_refused("CC6W-TAB6-RGSP-\xc3\xa9", "byte 0xc3");
    expect_refused("CC6W\tTAB6-RGSP-X", "byte 0x09");
    /* Check-only symbols in a data position. */
    expect_refused("CC6W-TAB6-RGS*-X", "character 12");
    expect_refused("UC6W-TAB6-RGSP-X", "character 1 is 'U'");
    expect_refused("CC6W-TAB6-RGSP-Y", "a character was mistyped");
    char out[PC_HEALTHID_LEN + 1];
    pc_error err;
    assert_int_equal(pc_healthid_parse(NULL, out, &err), PC_EINVAL);
    assert_int_equal(pc_healthid_parse("CC6W-TAB6-RGSP-X", NULL, &err), PC_EINVAL);
}

/* The promise in healthid.h, checked exhaustively for IDs covering every
 * check symbol. */
static void test_typos_detected(void **state)
{
    (void)state;
    int seen_check[37] = {0};
    for (unsigned i = 0; i < 400; i++) {
        uint8_t pk[32];
        char id[PC_HEALTHID_LEN + 1];
        make_key(pk, i, 0);
        pc_healthid_from_key(pk, id);
        seen_check[symbol_value(id[PC_HEALTHID_LEN - 1])] = 1;
        check_substitutions(id);
        check_transpositions(id);
    }
    for (int v = 0; v < 37; v++)
        assert_true(seen_check[v]);
    expect_refused("CC6W-TAB6-RGSP-Z", "check character does not match");
    expect_refused("CC6W-TAB6-RGPS-X", "a character was mistyped");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_ids),
        cmocka_unit_test(test_shape_and_round_trip),
        cmocka_unit_test(test_forgiving_parse),
        cmocka_unit_test(test_wrong_length),
        cmocka_unit_test(test_bad_characters),
        cmocka_unit_test(test_typos_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
