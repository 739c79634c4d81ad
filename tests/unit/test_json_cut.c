/* Tests for pc_json_cut_text (src/order/json_cut.h): long "value" strings
 * are cut out and everything else reaches the JSON parser unchanged. The
 * property test builds random documents with jansson (strings full of quotes,
 * backslashes and control characters, compact and indented) and checks that
 * the cut text, with each "#k" put back from its span, parses to the same
 * document as the original. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "order/json_cut.h"

/* A base64-looking string of n characters. */
static char *b64ish(size_t n, unsigned seed)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *s = malloc(n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = abc[(i * 7 + seed) % 64];
    s[n] = '\0';
    return s;
}

/* Parse c->out; assert it is valid JSON. */
static json_t *parse_out(const pc_json_cut *c)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)c->out.data, c->out.len, 0, &je);
    if (j == NULL)
        fail_msg("cut text is not JSON: %s: %.*s", je.text, (int)c->out.len, (const char *)c->out.data);
    return j;
}

static void test_cuts_long_values_only(void **state)
{
    (void)state;
    char *big = b64ish(300, 1), *big2 = b64ish(1000, 2), *small = b64ish(255, 3);
    size_t cap = 4000;
    char *text = malloc(cap);
    assert_non_null(text);
    snprintf(text, cap,
             "{\"result\":{\"events\":[{\"kv\":{\"key\":\"%s\",\"value\":\"%s\"}},"
             "{\"kv\":{\"value\" :\t\"%s\",\"xvalue\":\"%s\"}},{\"kv\":{\"value\":\"%s\"}}]}}",
             big, big, big2, big, small);
    pc_json_cut c;
    pc_json_cut_init(&c);
    assert_int_equal(pc_json_cut_text(&c, text, strlen(text), "value", 256), PC_OK);
    assert_int_equal(c.nspans, 2);
    assert_int_equal(c.spans[0].n, 300);
    assert_memory_equal(c.spans[0].p, big, 300);
    assert_ptr_equal(c.spans[0].p, strstr(text, "\"value\":\"") + 9); /* in the text itself */
    assert_int_equal(c.spans[1].n, 1000);
    assert_memory_equal(c.spans[1].p, big2, 1000);
    assert_true(c.out.len < strlen(text) - 1000);

    json_t *j = parse_out(&c);
    json_t *evs = json_object_get(json_object_get(j, "result"), "events");
    const char *v0 = json_string_value(json_object_get(json_object_get(json_array_get(evs, 0), "kv"), "value"));
    const char *k0 = json_string_value(json_object_get(json_object_get(json_array_get(evs, 0), "kv"), "key"));
    json_t *kv1 = json_object_get(json_array_get(evs, 1), "kv");
    const char *v2 = json_string_value(json_object_get(json_object_get(json_array_get(evs, 2), "kv"), "value"));
    assert_string_equal(v0, "#0");
    assert_ptr_equal(pc_json_cut_span(&c, v0), &c.spans[0]);
    assert_string_equal(k0, big); /* a long "key" is not cut */
    assert_string_equal(json_string_value(json_object_get(kv1, "value")), "#1");
    assert_string_equal(json_string_value(json_object_get(kv1, "xvalue")), big);
    assert_string_equal(v2, small); /* under the minimum */
    assert_null(pc_json_cut_span(&c, v2));
    assert_null(pc_json_cut_span(&c, "#2")); /* no such span */
    assert_null(pc_json_cut_span(&c, "#0x"));
    assert_null(pc_json_cut_span(&c, "#"));
    assert_null(pc_json_cut_span(&c, "#-1"));
    assert_null(pc_json_cut_span(&c, NULL));
    json_decref(j);

    /* Reused for a second message: spans start again from 0. */
    const char *again = "{\"value\":\"short\"}";
    assert_int_equal(pc_json_cut_text(&c, again, strlen(again), "value", 256), PC_OK);
    assert_int_equal(c.nspans, 0);
    assert_int_equal(c.out.len, strlen(again));
    assert_memory_equal(c.out.data, again, c.out.len);
    pc_json_cut_free(&c);
    free(text);
    free(big);
    free(big2);
    free(small);
}

/* Strings with escapes are never cut, and quotes inside strings (escaped,
 * or after runs of backslashes) do not confuse where a string ends. */
static void test_escapes_and_quotes(void **state)
{
    (void)state;
    char *big = b64ish(400, 4);
    char text[4096];
    snprintf(text, sizeof text,
             "{\"note\":\"\\\"value\\\":\\\"%.300s\\\"\",\"path\":\"C:\\\\\\\\\","
             "\"value\":\"%s\",\"esc\":{\"value\":\"%.300s\\/x\"},\"x\\\"value\":\"%s\","
             "\"list\":[\"value\",\"%s\"],\"k\":\"value\",\"z\":\"%s\"}",
             big, big, big, big, big, big);
    pc_json_cut c;
    pc_json_cut_init(&c);
    assert_int_equal(pc_json_cut_text(&c, text, strlen(text), "value", 256), PC_OK);
    assert_int_equal(c.nspans, 1);
    assert_int_equal(c.spans[0].n, 400);
    json_t *j = parse_out(&c);
    json_t *orig = json_loads(text, 0, NULL);
    assert_non_null(orig);
    assert_string_equal(json_string_value(json_object_get(j, "value")), "#0");
    assert_true(json_equal(json_object_get(j, "note"), json_object_get(orig, "note")));
    assert_true(json_equal(json_object_get(j, "path"), json_object_get(orig, "path")));
    assert_true(json_equal(json_object_get(j, "esc"), json_object_get(orig, "esc")));
    assert_string_equal(json_string_value(json_object_get(j, "x\"value")), big);
    assert_true(json_equal(json_object_get(j, "list"), json_object_get(orig, "list")));
    assert_string_equal(json_string_value(json_object_get(j, "z")), big);
    json_decref(j);
    json_decref(orig);

    /* Ends inside a string: refused (the caller then parses it whole). */
    const char *open1 = "{\"value\":\"abc";
    const char *open2 = "{\"value\":\"abc\\\"}";
    assert_int_equal(pc_json_cut_text(&c, open1, strlen(open1), "value", 1), PC_EINVAL);
    assert_int_equal(pc_json_cut_text(&c, open2, strlen(open2), "value", 1), PC_EINVAL);
    /* Not JSON outside strings: copied as is, for the parser to refuse. */
    const char *junk = "{value: [1,2,}";
    assert_int_equal(pc_json_cut_text(&c, junk, strlen(junk), "value", 1), PC_OK);
    assert_int_equal(c.out.len, strlen(junk));
    assert_memory_equal(c.out.data, junk, c.out.len);
    pc_json_cut_free(&c);
    free(big);
}

/* Random strings: mostly base64, sometimes quotes, backslashes, control
 * characters and non-ASCII text, short or long. */
static json_t *random_string(unsigned *seed)
{
    static const char *const odd[] = {"\"", "\\", "\\\"", "\n", "\t", "\x01", "/", "\xc3\xa9",
                                      "\xe0\xa4\xb9", "\"value\":\""};
    size_t n = (size_t)(rand_r(seed) % 3 == 0 ? 200 + rand_r(seed) % 600 : rand_r(seed) % 40);
    bool weird = rand_r(seed) % 3 == 0;
    char *s = malloc(n * 12 + 1);
    assert_non_null(s);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (weird && rand_r(seed) % 20 == 0) {
            const char *o = odd[(size_t)rand_r(seed) % (sizeof odd / sizeof *odd)];
            memcpy(s + len, o, strlen(o));
            len += strlen(o);
        } else {
            s[len++] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="[rand_r(seed) % 65];
        }
    }
    s[len] = '\0';
    json_t *j = json_string(s);
    free(s);
    assert_non_null(j);
    return j;
}

static json_t *random_doc(unsigned *seed, int depth)
{
    static const char *const names[] = {"value", "key", "kv", "events", "Value", "value2", "\"value\""};
    json_t *o = json_object();
    int members = 1 + rand_r(seed) % 5;
    for (int m = 0; m < members; m++) {
        const char *name = names[(size_t)rand_r(seed) % (sizeof names / sizeof *names)];
        int kind = rand_r(seed) % 6;
        json_t *v;
        if (kind == 0 && depth < 3)
            v = random_doc(seed, depth + 1);
        else if (kind == 1 && depth < 3) {
            v = json_array();
            int items = rand_r(seed) % 4;
            for (int i = 0; i < items; i++)
                json_array_append_new(v, rand_r(seed) % 2 ? random_doc(seed, depth + 1)
                                                          : random_string(seed));
        } else if (kind == 2)
            v = json_integer(rand_r(seed));
        else
            v = random_string(seed);
        json_object_set_new(o, name, v);
    }
    return o;
}

/* Put every "#k" member value of j back from its span (escape-free, so the
 * span's bytes are the string). */
static void restore(json_t *j, const pc_json_cut *c, size_t *restored)
{
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
            restore(v, c, restored);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        const pc_json_span *sp = json_is_string(v) ? pc_json_cut_span(c, json_string_value(v)) : NULL;
        if (sp != NULL) {
            assert_string_equal(k, "value");
            json_object_set_new(j, k, json_stringn(sp->p, sp->n));
            (*restored)++;
        } else {
            restore(v, c, restored);
        }
    }
}

static void test_random_documents_round_trip(void **state)
{
    (void)state;
    unsigned seed = 20261206;
    size_t cut_total = 0;
    pc_json_cut c;
    pc_json_cut_init(&c);
    for (int round = 0; round < 1000; round++) {
        json_t *doc = random_doc(&seed, 0);
        size_t flags = round % 2 ? JSON_COMPACT : JSON_INDENT(round % 5);
        if (round % 3 == 0)
            flags |= JSON_ESCAPE_SLASH;
        char *text = json_dumps(doc, flags);
        assert_non_null(text);
        assert_int_equal(pc_json_cut_text(&c, text, strlen(text), "value", 200), PC_OK);
        json_t *back = parse_out(&c);
        size_t restored = 0;
        restore(back, &c, &restored);
        assert_int_equal(restored, c.nspans);
        if (!json_equal(back, doc))
            fail_msg("round %d: cut and restored document differs from %s", round, text);
        cut_total += c.nspans;
        json_decref(back);
        json_decref(doc);
        free(text);
    }
    if (cut_total < 40) /* the property was exercised, not vacuous */
        fail_msg("only %zu values were cut", cut_total);
    pc_json_cut_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cuts_long_values_only),
        cmocka_unit_test(test_escapes_and_quotes),
        cmocka_unit_test(test_random_documents_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
