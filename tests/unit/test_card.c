/* Tests of the patient card: the QR payload against an independent
 * base64url encoder, the SVG's text and escaping, refusal of text that cannot
 * go on a card, and a module-by-module check that the SVG's QR path is the
 * symbol libqrencode makes for the payload. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <qrencode.h>

#include "parcha/card.h"

/* ---- fixture ----------------------------------------------------------- */

static const char HEALTH_ID[] = "7M2Q-K9XD-4TNP-R";
static const char HOSPITAL[] = "King George's Medical University, Lucknow";

/* A key with every byte value pattern that exercises '-' and '_'. */
static void test_key(uint8_t pk[32])
{
    for (int i = 0; i < 32; i++)
        pk[i] = (uint8_t)(0xfb + i * 37);
}

/* ---- helpers ----------------------------------------------------------- */

/* RFC 4648 §5 base64url without padding, written out longhand so the test
 * does not trust the encoder it checks. */
static void b64url(const uint8_t *in, size_t n, char *out)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = tbl[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = tbl[v & 63];
    }
    out[o] = '\0';
}

/* Make a card; fails the test on error. Caller frees the buffer. */
static void make_card(const char *name, pc_buf *b)
{
    uint8_t pk[32];
    test_key(pk);
    pc_buf_init(b);
    pc_error err;
    int rc = pc_card_svg(name, HEALTH_ID, pk, HOSPITAL, b, &err);
    if (rc != PC_OK)
        fail_msg("pc_card_svg: %s", err.msg);
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0, len = strlen(needle);
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + len, needle))
        n++;
    return n;
}

/* A copy of the <text> line of the SVG whose content starts with `text`;
 * fails the test if there is none. Caller frees. */
static char *name_line(const char *svg, const char *text)
{
    char needle[128];
    snprintf(needle, sizeof needle, ">%s", text);
    const char *hit = strstr(svg, needle);
    assert_non_null(hit);
    const char *start = hit;
    while (start > svg && start[-1] != '\n')
        start--;
    const char *end = strchr(hit, '\n');
    assert_non_null(end);
    char *line = strndup(start, (size_t)(end - start));
    assert_non_null(line);
    assert_int_equal(strncmp(line, "<text ", 6), 0);
    return line;
}

/* ---- payload ----------------------------------------------------------- */

static void test_payload(void **state)
{
    (void)state;
    uint8_t pk[32];
    test_key(pk);
    char want[64] = "parcha:";
    b64url(pk, 32, want + 7);
    char got[64];
    pc_card_qr_payload(pk, got, sizeof got);
    assert_string_equal(got, want);
    assert_int_equal(strlen(got), 7 + 43);
    assert_null(strchr(got, '='));
    assert_null(strchr(got, '+'));
    assert_null(strchr(got, '/'));

    /* All-zero and all-0xff keys. */
    memset(pk, 0, 32);
    pc_card_qr_payload(pk, got, sizeof got);
    assert_string_equal(got, "parcha:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    memset(pk, 0xff, 32);
    pc_card_qr_payload(pk, got, sizeof got);
    assert_string_equal(got, "parcha:__________________________________________8");

    /* Exactly enough room, and one byte short (nothing half-written). */
    char tight[51];
    pc_card_qr_payload(pk, tight, sizeof tight);
    assert_int_equal(strlen(tight), 50);
    char shorter[50];
    memset(shorter, 'x', sizeof shorter);
    pc_card_qr_payload(pk, shorter, sizeof shorter);
    assert_string_equal(shorter, "");
    pc_card_qr_payload(pk, NULL, 64); /* tolerated */
}

/* ---- SVG content ------------------------------------------------------- */

static void test_svg_content(void **state)
{
    (void)state;
    pc_buf b;
    make_card("Sunita Devi", &b);
    const char *svg = (const char *)b.data;
    assert_int_equal(strncmp(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 38), 0);
    assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(svg, "width=\"85.6mm\" height=\"54mm\" viewBox=\"0 0 85.6 54\""));
    assert_non_null(strstr(svg, ">parcha</text>"));
    assert_non_null(strstr(svg, ">Sunita Devi</text>"));
    assert_non_null(strstr(svg, ">7M2Q-K9XD-4TNP-R</text>"));
    assert_non_null(strstr(svg, "monospace"));
    assert_non_null(strstr(svg, ">King George&#39;s Medical University, Lucknow</text>"));
    assert_non_null(strstr(svg, ">Keep this card. Show it at any parcha hospital.</text>"));
    assert_int_equal(count_of(svg, "<path fill=\"#000\""), 1);
    assert_int_equal(strcmp(svg + b.len - 7, "</svg>\n"), 0);
    assert_int_equal(strlen(svg), b.len);
    pc_buf_free(&b);
}

static void test_escaping(void **state)
{
    (void)state;
    pc_buf b;
    make_card("Ramesh & Sons <Kumar> \"RK\" 'Bittu'", &b);
    const char *svg = (const char *)b.data;
    assert_non_null(strstr(svg, ">Ramesh &amp; Sons &lt;Kumar&gt; &quot;RK&quot; "
                                "&#39;Bittu&#39;</text>"));
    assert_null(strstr(svg, "Sons <Kumar>"));
    pc_buf_free(&b);

    make_card("<script>alert(1)</script>", &b);
    svg = (const char *)b.data;
    assert_null(strstr(svg, "<script"));
    assert_non_null(strstr(svg, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    /* The <title> carries the name too, escaped. */
    assert_non_null(strstr(svg, "<title>parcha card: &lt;script&gt;"));
    pc_buf_free(&b);

    /* An attribute-breaking name stays inside the text node. */
    make_card("x\" onload=\"alert(1)", &b);
    assert_null(strstr((const char *)b.data, "onload=\""));
    pc_buf_free(&b);
}

static void test_unicode_and_long_names(void **state)
{
    (void)state;
    pc_buf b;
    /* Devanagari passes through as UTF-8. */
    make_card("\xe0\xa4\xb8\xe0\xa5\x81\xe0\xa4\xa8\xe0\xa5\x80\xe0\xa4\xa4\xe0\xa4\xbe "
              "\xe0\xa4\xa6\xe0\xa5\x87\xe0\xa4\xb5\xe0\xa5\x80", &b); /* सुनीता देवी */
    char *line = name_line((const char *)b.data, "\xe0\xa4\xb8\xe0\xa5\x81");
    /* 11 characters (not 31 bytes) fit at full size. */
    assert_non_null(strstr(line, "font-size=\"4.40\""));
    assert_null(strstr(line, "textLength"));
    free(line);
    pc_buf_free(&b);

    /* A longer name gets smaller type, in proportion, and is never cut. */
    const char *longer = "Venkata Satya Sai Lakshmi Rao"; /* 29 characters */
    make_card(longer, &b);
    line = name_line((const char *)b.data, longer);
    assert_non_null(strstr(line, "font-size=\"2.58\"")); /* 4.4 * 17 / 29 */
    assert_null(strstr(line, "textLength"));
    free(line);
    pc_buf_free(&b);

    /* Past the smallest legible size it is squeezed as well. */
    const char *longname = "Venkata Satya Sai Lakshmi Narasimha Subrahmanyam";
    make_card(longname, &b);
    line = name_line((const char *)b.data, longname);
    assert_non_null(strstr(line, "font-size=\"2.00\""));
    assert_non_null(strstr(line, "textLength=\"44.0\""));
    free(line);
    pc_buf_free(&b);
}

static void test_refused_text(void **state)
{
    (void)state;
    uint8_t pk[32];
    test_key(pk);
    const struct {
        const char *name;
        const char *id;
        const char *hospital;
        const char *want;
    } rows[] = {
        {NULL, HEALTH_ID, HOSPITAL, "patient name"},
        {"", HEALTH_ID, HOSPITAL, "patient name"},
        {"Line\nbreak", HEALTH_ID, HOSPITAL, "control character"},
        {"Bell\x07", HEALTH_ID, HOSPITAL, "control character"},
        {"Del\x7f", HEALTH_ID, HOSPITAL, "control character"},
        {"C1\xc2\x85", HEALTH_ID, HOSPITAL, "control character"},
        {"Bad\xff", HEALTH_ID, HOSPITAL, "UTF-8"},
        {"Overlong\xc0\xaf", HEALTH_ID, HOSPITAL, "UTF-8"},
        {"Surrogate\xed\xa0\x80", HEALTH_ID, HOSPITAL, "UTF-8"},
        {"Cut\xe0\xa4", HEALTH_ID, HOSPITAL, "UTF-8"},
        {"Nonchar\xef\xbf\xbf", HEALTH_ID, HOSPITAL, "control character"},
        {"Asha", NULL, HOSPITAL, "Health ID"},
        {"Asha", "", HOSPITAL, "Health ID"},
        {"Asha", HEALTH_ID, NULL, "hospital name"},
        {"Asha", HEALTH_ID, "Tab\tHospital", "control character"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        pc_buf b;
        pc_buf_init(&b);
        assert_int_equal(pc_buf_append_str(&b, "keep"), PC_OK);
        pc_error err;
        int rc = pc_card_svg(rows[i].name, rows[i].id, pk, rows[i].hospital, &b, &err);
        if (rc != PC_EINVAL || strstr(err.msg, rows[i].want) == NULL)
            fail_msg("row %zu: rc %d message '%s', wanted '%s'", i, rc, err.msg, rows[i].want);
        assert_int_equal(b.len, 4); /* untouched */
        assert_string_equal((const char *)b.data, "keep");
        pc_buf_free(&b);
    }
    /* Over-long name. */
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    pc_buf b;
    pc_buf_init(&b);
    pc_error err;
    assert_int_equal(pc_card_svg(big, HEALTH_ID, pk, HOSPITAL, &b, &err), PC_EINVAL);
    assert_non_null(strstr(err.msg, "longer than"));
    assert_int_equal(pc_card_svg("Asha", HEALTH_ID, NULL, HOSPITAL, &b, &err), PC_EINVAL);
    assert_int_equal(pc_card_svg("Asha", HEALTH_ID, pk, HOSPITAL, NULL, &err), PC_EINVAL);
    pc_buf_free(&b);
}

static void test_appends_and_cap(void **state)
{
    (void)state;
    uint8_t pk[32];
    test_key(pk);
    pc_buf b;
    pc_buf_init(&b);
    assert_int_equal(pc_buf_append_str(&b, "<!-- before -->"), PC_OK);
    pc_error err;
    assert_int_equal(pc_card_svg("Asha", HEALTH_ID, pk, HOSPITAL, &b, &err), PC_OK);
    assert_int_equal(strncmp((const char *)b.data, "<!-- before --><?xml", 20), 0);
    pc_buf_free(&b);

    /* A cap too small for the card: ENOMEM and the buffer as it was. */
    pc_buf_init(&b);
    b.cap_limit = 2000;
    assert_int_equal(pc_buf_append_str(&b, "head"), PC_OK);
    assert_int_equal(pc_card_svg("Asha", HEALTH_ID, pk, HOSPITAL, &b, &err), PC_ENOMEM);
    assert_int_equal(b.len, 4);
    assert_string_equal((const char *)b.data, "head");
    pc_buf_free(&b);
}

/* ---- QR matrix --------------------------------------------------------- */

/* Parse the one QR <path>'s "Mx yh1v1h-1z" squares back into a grid and
 * compare it, module by module, with the symbol libqrencode makes for the
 * payload; also check the group is scaled for a 4-module quiet zone. */
static void test_qr_matches_libqrencode(void **state)
{
    (void)state;
    uint8_t pk[32];
    test_key(pk);
    char payload[64];
    pc_card_qr_payload(pk, payload, sizeof payload);
    QRcode *qr = QRcode_encodeString(payload, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    assert_non_null(qr);
    int w = qr->width;
    size_t dark = 0;
    for (int i = 0; i < w * w; i++)
        dark += qr->data[i] & 1;

    pc_buf b;
    make_card("Sunita Devi", &b);
    const char *svg = (const char *)b.data;

    char rect[64];
    snprintf(rect, sizeof rect, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>", w + 8, w + 8);
    assert_non_null(strstr(svg, rect));

    const char *d = strstr(svg, "<path fill=\"#000\"");
    assert_non_null(d);
    d = strstr(d, " d=\"");
    assert_non_null(d);
    d += 4;
    const char *end = strchr(d, '"');
    assert_non_null(end);

    unsigned char *seen = calloc((size_t)w * (size_t)w, 1);
    assert_non_null(seen);
    size_t squares = 0;
    while (d < end) {
        int x, y, n = 0;
        if (sscanf(d, "M%d %dh1v1h-1z%n", &x, &y, &n) != 2 || n == 0)
            fail_msg("unexpected path text at '%.20s'", d);
        x -= 4;
        y -= 4;
        assert_true(x >= 0 && x < w && y >= 0 && y < w);
        assert_int_equal(seen[y * w + x], 0); /* each module once */
        seen[y * w + x] = 1;
        assert_true(qr->data[y * w + x] & 1);
        squares++;
        d += n;
    }
    assert_int_equal(squares, dark);
    assert_int_equal(count_of(svg, "h1v1h-1z"), dark);
    for (int i = 0; i < w * w; i++)
        assert_int_equal(seen[i], qr->data[i] & 1);

    free(seen);
    pc_buf_free(&b);
    QRcode_free(qr);
}

static void test_different_keys_different_qr(void **state)
{
    (void)state;
    uint8_t a[32], c[32];
    test_key(a);
    memcpy(c, a, 32);
    c[31] ^= 1;
    pc_buf ba, bc;
    pc_buf_init(&ba);
    pc_buf_init(&bc);
    pc_error err;
    assert_int_equal(pc_card_svg("Asha", HEALTH_ID, a, HOSPITAL, &ba, &err), PC_OK);
    assert_int_equal(pc_card_svg("Asha", HEALTH_ID, c, HOSPITAL, &bc, &err), PC_OK);
    assert_true(ba.len != bc.len || memcmp(ba.data, bc.data, ba.len) != 0);
    /* Deterministic for the same inputs. */
    pc_buf again;
    pc_buf_init(&again);
    assert_int_equal(pc_card_svg("Asha", HEALTH_ID, a, HOSPITAL, &again, &err), PC_OK);
    assert_int_equal(again.len, ba.len);
    assert_memory_equal(again.data, ba.data, ba.len);
    pc_buf_free(&ba);
    pc_buf_free(&bc);
    pc_buf_free(&again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload),
        cmocka_unit_test(test_svg_content),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_unicode_and_long_names),
        cmocka_unit_test(test_refused_text),
        cmocka_unit_test(test_appends_and_cap),
        cmocka_unit_test(test_qr_matches_libqrencode),
        cmocka_unit_test(test_different_keys_different_qr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
