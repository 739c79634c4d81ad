/* Tests for pc_jcs_dump and pc_json_parse: the RFC 8785 test vectors from
 * ../shared/testdata/jcs (every file in input/ must canonicalise to the file
 * of the same name in output/, except values.json, whose non-integral numbers
 * must be refused), then parcha's integer rules, strict parsing, escapes and
 * UTF-16 member order checked against an independent reference that really
 * converts keys to UTF-16. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parcha/jcs.h"

#define VECTOR_DIR PARCHA_SHARED_DIR "/testdata/jcs"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* Canonicalise text; assert success and that the result equals want. */
static void expect_canon(const char *text, const char *want)
{
    pc_buf out;
    pc_error err;
    pc_buf_init(&out);
    pc_error_clear(&err);
    int rc = pc_jcs_from_text(text, strlen(text), &out, &err);
    if (rc != PC_OK)
        fail_msg("%s: unexpected error %d: %s", text, rc, err.msg);
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    pc_buf_free(&out);
}

/* Canonicalise text; assert it fails with code and a message holding each of
 * the NULL-terminated fragments. */
static void expect_refused(const char *text, int code, ...)
{
    pc_buf out;
    pc_error err;
    pc_buf_init(&out);
    pc_error_clear(&err);
    int rc = pc_jcs_from_text(text, strlen(text), &out, &err);
    if (rc != code)
        fail_msg("%s: got %d (%s), wanted %d", text, rc, err.msg, code);
    assert_int_equal(err.code, code);
    assert_int_equal(out.len, 0);
    va_list ap;
    va_start(ap, code);
    for (const char *frag = va_arg(ap, const char *); frag != NULL;
         frag = va_arg(ap, const char *)) {
        if (strstr(err.msg, frag) == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", text, err.msg, frag);
    }
    va_end(ap);
    pc_buf_free(&out);
}

/* Dump a tree (stealing the reference) and compare with want. */
static void expect_dump(json_t *v, const char *want)
{
    pc_buf out;
    pc_error err;
    pc_buf_init(&out);
    assert_non_null(v);
    int rc = pc_jcs_dump(v, &out, &err);
    if (rc != PC_OK)
        fail_msg("unexpected error %d: %s", rc, err.msg);
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    pc_buf_free(&out);
    json_decref(v);
}

/* Reference: decode UTF-8 s[0..n) (assumed valid) into UTF-16 units in u
 * (room for 2n). Returns the number of units. */
static size_t to_utf16(const char *s, size_t n, uint16_t *u)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t k = 0;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        if (p[i] < 0x80) {
            cp = p[i];
            i += 1;
        } else if (p[i] < 0xE0) {
            cp = (uint32_t)(p[i] & 0x1F) << 6 | (p[i + 1] & 0x3F);
            i += 2;
        } else if (p[i] < 0xF0) {
            cp = (uint32_t)(p[i] & 0x0F) << 12 | (uint32_t)(p[i + 1] & 0x3F) << 6 |
                 (p[i + 2] & 0x3F);
            i += 3;
        } else {
            cp = (uint32_t)(p[i] & 0x07) << 18 | (uint32_t)(p[i + 1] & 0x3F) << 12 |
                 (uint32_t)(p[i + 2] & 0x3F) << 6 | (p[i + 3] & 0x3F);
            i += 4;
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            u[k++] = (uint16_t)(0xD800 + (cp >> 10));
            u[k++] = (uint16_t)(0xDC00 + (cp & 0x3FF));
        } else {
            u[k++] = (uint16_t)cp;
        }
    }
    return k;
}

/* Reference order: lexicographic over UTF-16 code units. */
static int ref_cmp(const char *a, const char *b)
{
    uint16_t ua[64];
    uint16_t ub[64];
    size_t na = to_utf16(a, strlen(a), ua);
    size_t nb = to_utf16(b, strlen(b), ub);
    for (size_t i = 0; i < na && i < nb; i++) {
        if (ua[i] != ub[i])
            return ua[i] < ub[i] ? -1 : 1;
    }
    return (na > nb) - (na < nb);
}

/* qsort adapter for ref_cmp over an array of char *. */
static int ref_cmp_ptr(const void *a, const void *b)
{
    return ref_cmp(*(char *const *)a, *(char *const *)b);
}

/* Append code point cp as UTF-8 to s (which has room). */
static void put_utf8(char *s, uint32_t cp)
{
    size_t n = strlen(s);
    unsigned char *p = (unsigned char *)s + n;
    if (cp < 0x80) {
        p[0] = (unsigned char)cp;
        p[1] = 0;
    } else if (cp < 0x800) {
        p[0] = (unsigned char)(0xC0 | cp >> 6);
        p[1] = (unsigned char)(0x80 | (cp & 0x3F));
        p[2] = 0;
    } else if (cp < 0x10000) {
        p[0] = (unsigned char)(0xE0 | cp >> 12);
        p[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        p[2] = (unsigned char)(0x80 | (cp & 0x3F));
        p[3] = 0;
    } else {
        p[0] = (unsigned char)(0xF0 | cp >> 18);
        p[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        p[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        p[3] = (unsigned char)(0x80 | (cp & 0x3F));
        p[4] = 0;
    }
}

/* Deterministic xorshift so failures reproduce. */
static uint32_t rng_next(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

/* A random key of 0..3 code points drawn from the places where UTF-8 and
 * UTF-16 orders meet or differ (none needs escaping). */
static void random_key(char *s, uint32_t *rng)
{
    static const uint32_t pool[] = {
        'a', 'b', 'z', 0x7E, 0x7F, 0x80, 0xE9, 0x7FF, 0x800, 0xD7FF, 0xE000,
        0xE001, 0xEFFF, 0xF000, 0xFB33, 0xFFFD, 0xFFFF, 0x10000, 0x1F600,
        0x1F602, 0x10FFFF, 0x10FC00, 0x20000};
    s[0] = '\0';
    uint32_t len = rng_next(rng) % 4;
    for (uint32_t i = 0; i < len; i++)
        put_utf8(s, pool[rng_next(rng) % (sizeof pool / sizeof pool[0])]);
}

/* Build {"k0":0,"k1":0,...} from keys, dump it and check members come out in
 * the reference UTF-16 order. keys is reordered. */
static void check_order(char **keys, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        assert_int_equal(json_object_set_new(o, keys[i], json_integer(0)), 0);
    assert_int_equal(json_object_size(o), n);
    qsort(keys, n, sizeof *keys, ref_cmp_ptr);
    pc_buf want;
    pc_buf_init(&want);
    assert_int_equal(pc_buf_append_str(&want, "{"), PC_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pc_buf_printf(&want, "%s\"%s\":0", i ? "," : "", keys[i]),
                         PC_OK);
    assert_int_equal(pc_buf_append_str(&want, "}"), PC_OK);
    expect_dump(o, (const char *)want.data);
    pc_buf_free(&want);
}

/* ------------------------------------------------------------------------ */
/* RFC 8785 vectors                                                          */

/* Every input/X.json gives output/X.json byte for byte; values.json, which
 * holds non-integral numbers, is refused naming 4.5 (reported before the
 * out-of-range 1e30 that precedes it). */
static void test_vectors(void **state)
{
    (void)state;
    DIR *d = opendir(VECTOR_DIR "/input");
    assert_non_null(d);
    int seen = 0;
    int saw_values = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 6 || strcmp(e->d_name + nl - 5, ".json") != 0)
            continue;
        char in_path[1024];
        char out_path[1024];
        snprintf(in_path, sizeof in_path, "%s/input/%s", VECTOR_DIR, e->d_name);
        snprintf(out_path, sizeof out_path, "%s/output/%s", VECTOR_DIR, e->d_name);
        pc_buf in;
        pc_buf want;
        pc_buf got;
        pc_error err;
        pc_buf_init(&in);
        pc_buf_init(&want);
        pc_buf_init(&got);
        assert_int_equal(pc_file_read(in_path, 1 << 20, &in, &err), PC_OK);
        int rc = pc_jcs_from_text((const char *)in.data, in.len, &got, &err);
        if (strcmp(e->d_name, "values.json") == 0) {
            saw_values = 1;
            assert_int_equal(rc, PC_EINVAL);
            assert_non_null(strstr(err.msg, "non-integral number 4.5 at /numbers/1"));
            assert_int_equal(got.len, 0);
        } else {
            if (rc != PC_OK)
                fail_msg("%s: %s", e->d_name, err.msg);
            assert_int_equal(pc_file_read(out_path, 1 << 20, &want, &err), PC_OK);
            if (got.len != want.len || memcmp(got.data, want.data, got.len) != 0)
                fail_msg("%s: got %s, want %s", e->d_name, (char *)got.data,
                         (char *)want.data);
        }
        seen++;
        pc_buf_free(&in);
        pc_buf_free(&want);
        pc_buf_free(&got);
    }
    closedir(d);
    assert_true(seen >= 7);
    assert_true(saw_values);
}

/* ------------------------------------------------------------------------ */
/* Numbers                                                                   */

static void test_integral_reals(void **state)
{
    (void)state;
    expect_canon("56.0", "56");
    expect_canon("[5e2, -0.0, 0, -0, 1.0E1]", "[500,0,0,0,10]");
    expect_dump(json_real(56.0), "56");
    expect_dump(json_real(-0.0), "0");
    expect_dump(json_real(-9007199254740992.0), "-9007199254740992");
}

static void test_integer_range(void **state)
{
    (void)state;
    expect_canon("9007199254740992", "9007199254740992");
    expect_canon("-9007199254740992", "-9007199254740992");
    expect_canon("[9007199254740991,-1,0]", "[9007199254740991,-1,0]");
    expect_refused("9007199254740993", PC_EINVAL,
                   "integer 9007199254740993 at the top level is beyond", NULL);
    expect_refused("{\"a\":[-9007199254740993]}", PC_EINVAL,
                   "integer -9007199254740993 at /a/0 is beyond \u00b12^53", NULL);
    expect_refused("{\"numbers\":[1E30]}", PC_EINVAL,
                   "integer 1e+30 at /numbers/0 is beyond \u00b12^53", NULL);
    expect_refused("9007199254740994.0", PC_EINVAL, "beyond", NULL);
    expect_dump(json_integer(PC_JCS_MAX_INT), "9007199254740992");
}

/* Non-integral numbers are named (shortest form) with their path, and are
 * reported even when an out-of-range number comes first. */
static void test_nonintegral(void **state)
{
    (void)state;
    expect_refused("4.50", PC_EINVAL, "non-integral number 4.5 at the top level",
                   NULL);
    expect_refused("{\"x\":{\"y\":[0,1,0.002]}}", PC_EINVAL,
                   "non-integral number 0.002 at /x/y/2", NULL);
    expect_refused("[1e30, 4.5]", PC_EINVAL, "non-integral number 4.5 at /1", NULL);
    expect_refused("{\"a\":9007199254740993,\"b\":{\"c\":0.5}}", PC_EINVAL,
                   "non-integral number 0.5 at /b/c", NULL);
    expect_refused("{\"a/b~c\":1.5}", PC_EINVAL, "at /a~1b~0c", NULL);
    expect_refused("[333333333.33333329]", PC_EINVAL, "333333333.3333333 at /0",
                   NULL);
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */

static void test_strict_parse(void **state)
{
    (void)state;
    expect_refused("{\"a\":1,\"a\":2}", PC_EINVAL, "line 1", "duplicate", NULL);
    expect_refused("{} x", PC_EINVAL, "line 1", NULL);
    expect_refused("1 2", PC_EINVAL, "column", NULL);
    expect_refused("{\"a\":\"\\u0000\"}", PC_EINVAL, "line", NULL);
    expect_refused("{\n\"a\":\n}", PC_EINVAL, "line 3", NULL);
    expect_refused("", PC_EINVAL, "line", NULL);
    expect_refused("[1,]", PC_EINVAL, "column", NULL);

    /* A raw NUL byte inside the text is refused too. */
    static const char raw[] = "\"a\0b\"";
    json_t *v = (json_t *)1;
    pc_error err;
    assert_int_equal(pc_json_parse(raw, sizeof raw - 1, &v, &err), PC_EINVAL);
    assert_null(v);

    /* Parsing honours the length, not a NUL terminator. */
    assert_int_equal(pc_json_parse("[1]xyz", 3, &v, &err), PC_OK);
    assert_true(json_is_array(v));
    json_decref(v);

    assert_int_equal(pc_json_parse(NULL, 0, &v, &err), PC_EINVAL);
    assert_int_equal(pc_json_parse("1", 1, NULL, &err), PC_EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Strings                                                                   */

static void test_escapes(void **state)
{
    (void)state;
    char raw[32];
    for (int i = 0; i < 32; i++)
        raw[i] = (char)i;
    expect_dump(json_stringn(raw, sizeof raw),
                "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007"
                "\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
                "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
                "\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\"");
    expect_canon("\"\\/ \\\" \\\\ \\u007f \\u00e9 \\u20ac \\ud83d\\ude02 </script>\"",
                 "\"/ \\\" \\\\ \x7f \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x82 </script>\"");
    expect_canon("{\"\\n\\u001F\":\"\\t\"}", "{\"\\n\\u001f\":\"\\t\"}");
    expect_canon("\"\"", "\"\"");
}

/* Trees built by hand can hold ill-formed UTF-8 (jansson's _nocheck calls);
 * no other implementation could reproduce those bytes, so they are refused. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char *bad[] = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80",
                                "\xf4\x90\x80\x80", "\xe0\x80\xaf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *s = json_string_nocheck(bad[i]);
        json_t *o = json_object();
        json_t *k = json_object();
        assert_int_equal(json_object_set_new(o, "s", s), 0);
        assert_int_equal(json_object_set_new_nocheck(k, bad[i], json_true()), 0);
        pc_buf out;
        pc_error err;
        pc_buf_init(&out);
        assert_int_equal(pc_jcs_dump(o, &out, &err), PC_EINVAL);
        assert_non_null(strstr(err.msg, "invalid UTF-8 in a string at /s"));
        assert_int_equal(pc_jcs_dump(k, &out, &err), PC_EINVAL);
        assert_non_null(strstr(err.msg, "invalid UTF-8 in a key"));
        assert_int_equal(out.len, 0);
        pc_buf_free(&out);
        json_decref(o);
        json_decref(k);
    }
}

/* ------------------------------------------------------------------------ */
/* Member order                                                              */

static void test_utf16_order(void **state)
{
    (void)state;
    /* U+E000 is above U+1F600 as a code point but below it in UTF-16
     * (0xE000 > 0xD83D), so the emoji sorts first. */
    expect_canon("{\"\\ue000\":1,\"\\ud83d\\ude00\":2}",
                 "{\"\xf0\x9f\x98\x80\":2,\"\xee\x80\x80\":1}");
    expect_canon("{\"\\uffff\":1,\"\\ud800\\udc00\":2,\"\\ud7ff\":3}",
                 "{\"\xed\x9f\xbf\":3,\"\xf0\x90\x80\x80\":2,\"\xef\xbf\xbf\":1}");
    expect_canon("{\"b\":1,\"a\":2,\"ab\":3,\"\":4,\"B\":5}",
                 "{\"\":4,\"B\":5,\"a\":2,\"ab\":3,\"b\":1}");
    /* Same lead byte, differing continuation bytes. */
    expect_canon("{\"\\uefff\":1,\"\\ue001\":2}",
                 "{\"\xee\x80\x81\":2,\"\xee\xbf\xbf\":1}");
    /* Keys with an embedded NUL sort by their full length. */
    json_t *o = json_object();
    assert_int_equal(json_object_setn_new(o, "a\0b", 3, json_integer(1)), 0);
    assert_int_equal(json_object_setn_new(o, "a", 1, json_integer(2)), 0);
    expect_dump(o, "{\"a\":2,\"a\\u0000b\":1}");
}

/* Random keys around the UTF-8/UTF-16 divergence, in pairs and in objects
 * large enough for the qsort path, against the reference order. */
static void test_utf16_order_random(void **state)
{
    (void)state;
    uint32_t rng = 0x9E3779B9u;
    char buf[40][32];
    char *keys[40];
    for (int round = 0; round < 3000; round++) {
        size_t n = round < 2000 ? 2 : 40;
        size_t k = 0;
        while (k < n) {
            random_key(buf[k], &rng);
            int dup = 0;
            for (size_t j = 0; j < k; j++)
                dup |= strcmp(buf[j], buf[k]) == 0;
            if (!dup) {
                keys[k] = buf[k];
                k++;
            }
        }
        check_order(keys, n);
    }
}

/* ------------------------------------------------------------------------ */
/* Structure                                                                 */

static void test_structure(void **state)
{
    (void)state;
    expect_canon("{}", "{}");
    expect_canon("[]", "[]");
    expect_canon(" [ { } , [ ] , null , true , false ] ", "[{},[],null,true,false]");
    expect_canon("{\"z\":{\"y\":{\"x\":[1,{\"b\":[],\"a\":{}}]}},\"a\":null}",
                 "{\"a\":null,\"z\":{\"y\":{\"x\":[1,{\"a\":{},\"b\":[]}]}}}");
    expect_canon("\"x\"", "\"x\"");
    expect_canon("true", "true");
}

/* Objects past the shared scratch slots (alone and nested inside one
 * another) take the malloc path and still sort correctly. */
static void test_large_objects(void **state)
{
    (void)state;
    static char names[300][8];
    char *keys[300];
    for (int i = 0; i < 300; i++) {
        snprintf(names[i], sizeof names[i], "k%d", (i * 7919) % 300);
        keys[i] = names[i];
    }
    check_order(keys, 300);

    /* 100 + 100 members along one path exceed 128 scratch slots. */
    json_t *outer = json_object();
    json_t *inner = json_object();
    for (int i = 0; i < 100; i++) {
        char k[8];
        snprintf(k, sizeof k, "%03d", 99 - i);
        assert_int_equal(json_object_set_new(outer, k, json_integer(i)), 0);
        assert_int_equal(json_object_set_new(inner, k, json_integer(i)), 0);
    }
    assert_int_equal(json_object_set_new(outer, "050", inner), 0);
    pc_buf out;
    pc_error err;
    pc_buf_init(&out);
    assert_int_equal(pc_jcs_dump(outer, &out, &err), PC_OK);
    assert_non_null(strstr((char *)out.data, "{\"000\":99,\"001\":98,"));
    assert_non_null(strstr((char *)out.data, "\"050\":{\"000\":99,"));
    assert_non_null(strstr((char *)out.data, "\"099\":0}"));
    assert_int_equal(((char *)out.data)[out.len - 1], '}');
    pc_buf_free(&out);
    json_decref(outer);
}

/* A failed dump leaves what was already in the buffer untouched. */
static void test_failure_keeps_buffer(void **state)
{
    (void)state;
    pc_buf out;
    pc_error err;
    pc_buf_init(&out);
    assert_int_equal(pc_buf_append_str(&out, "prefix:"), PC_OK);
    json_t *v = json_pack("{s:[i,f]}", "a", 1, 2.5);
    assert_int_equal(pc_jcs_dump(v, &out, &err), PC_EINVAL);
    assert_string_equal((char *)out.data, "prefix:");
    json_decref(v);
    v = json_pack("[s,i]", "x", 1);
    assert_int_equal(pc_jcs_dump(v, &out, &err), PC_OK);
    assert_string_equal((char *)out.data, "prefix:[\"x\",1]");
    json_decref(v);
    assert_int_equal(pc_jcs_dump(NULL, &out, &err), PC_EINVAL);
    pc_buf_free(&out);
}

/* Nesting beyond the parser's limit (only possible by hand) is refused
 * cleanly rather than exhausting the stack. */
static void test_depth_limit(void **state)
{
    (void)state;
    json_t *root = json_array();
    json_t *cur = root;
    for (int i = 0; i < 5000; i++) {
        json_t *next = json_array();
        assert_int_equal(json_array_append_new(cur, next), 0);
        cur = next;
    }
    pc_buf out;
    pc_error err;
    pc_buf_init(&out);
    assert_int_equal(pc_jcs_dump(root, &out, &err), PC_EINVAL);
    assert_non_null(strstr(err.msg, "nested deeper"));
    assert_int_equal(out.len, 0);
    pc_buf_free(&out);
    json_decref(root);
}

/* pc_jcs_dump_without leaves out one top-level member only (a transaction's
 * "sigs"): the same bytes as deleting it first, nested members of that name
 * kept, and the tree itself untouched. */
static void test_dump_without(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"{\"z\":1,\"sigs\":[{\"k\":\"x\"}],\"a\":{\"sigs\":2}}", "{\"a\":{\"sigs\":2},\"z\":1}"},
        {"{\"sigs\":1}", "{}"},
        {"{\"sig\":1,\"sigsx\":2}", "{\"sig\":1,\"sigsx\":2}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = NULL;
        pc_buf out, ref;
        pc_error err;
        pc_buf_init(&out);
        pc_buf_init(&ref);
        assert_int_equal(pc_json_parse(cases[i][0], strlen(cases[i][0]), &v, &err), PC_OK);
        size_t before = json_object_size(v);
        assert_int_equal(pc_jcs_dump_without(v, "sigs", &out, &err), PC_OK);
        assert_int_equal(json_object_size(v), before);
        assert_int_equal(out.len, strlen(cases[i][1]));
        assert_memory_equal(out.data, cases[i][1], out.len);
        json_t *copy = json_deep_copy(v);
        json_object_del(copy, "sigs");
        assert_int_equal(pc_jcs_dump(copy, &ref, &err), PC_OK);
        assert_int_equal(ref.len, out.len);
        assert_memory_equal(ref.data, out.data, out.len);
        json_decref(copy);
        json_decref(v);
        pc_buf_free(&out);
        pc_buf_free(&ref);
    }
    /* Not an object: refused, nothing written. */
    json_t *arr = json_array();
    pc_buf out;
    pc_error err;
    pc_buf_init(&out);
    assert_int_equal(pc_jcs_dump_without(arr, "sigs", &out, &err), PC_EINVAL);
    assert_int_equal(out.len, 0);
    json_decref(arr);
    pc_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_integral_reals),
        cmocka_unit_test(test_integer_range),
        cmocka_unit_test(test_nonintegral),
        cmocka_unit_test(test_strict_parse),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_utf16_order),
        cmocka_unit_test(test_utf16_order_random),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_large_objects),
        cmocka_unit_test(test_failure_keeps_buffer),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_dump_without),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
