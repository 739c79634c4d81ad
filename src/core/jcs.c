/* RFC 8785 (JCS) canonical JSON for parcha's signed bytes, restricted to
 * integers: every signature and txid covers the output of pc_jcs_dump, so two
 * nodes must produce the same bytes for the same tree or they disagree about
 * what was signed. Object members are ordered by UTF-16 code units, which is
 * computed directly on the UTF-8 keys (no conversion), strings are escaped
 * exactly as ECMAScript's JSON.stringify does, and numbers must be integers of
 * magnitude at most 2^53 so that no float formatting is ever involved. The
 * dump is on the hot path of every transaction: it makes one pass, allocates
 * nothing for objects of modest size, and builds JSON paths for error
 * messages only when an error is actually reported. */
#include "parcha/jcs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deepest nesting accepted; the same as jansson's parser limit, so anything
 * pc_json_parse accepts can be canonicalised, and a tree built by hand with a
 * cycle fails cleanly instead of overflowing the stack. */
#define JCS_MAX_DEPTH JSON_PARSER_MAX_DEPTH

/* Member slots shared by all open objects along the current path, held in
 * pc_jcs_dump's frame. An object that does not fit falls back to malloc. */
#define JCS_SCRATCH_MEMBERS 128

/* Objects this small are sorted by insertion sort; larger ones by qsort. */
#define JCS_INSERTION_MAX 16

/* Longest JSON path rendered into an error message. */
#define JCS_PATH_MAX 160

/* One object member being sorted. The pointers borrow from the json_t. */
typedef struct jcs_member {
    const char *key;
    size_t keylen;
    json_t *value;
} jcs_member;

/* Where a value sits: a chain from the value up to the root, living on the C
 * stack of the recursive walk. key != NULL for an object member, otherwise
 * index names an array element. The root has up == NULL and no key. */
typedef struct jcs_frame {
    const struct jcs_frame *up;
    const char *key;
    size_t keylen;
    size_t index;
} jcs_frame;

/* State of one pc_jcs_dump call. out == NULL means "scan only": nothing is
 * written, strings are not checked and only non-integral numbers are errors
 * (used to honour "non-integral before out-of-range"). */
typedef struct jcs_ctx {
    pc_buf *out;
    pc_error *err;
    const json_t *root;
    jcs_member *scratch;
    size_t scratch_used;
    const char *skip; /* a member of the root object left out, or NULL */
} jcs_ctx;

static int jcs_value(jcs_ctx *c, const json_t *v, const jcs_frame *at,
                     unsigned depth);

/* ------------------------------------------------------------------------ */
/* UTF-8 helpers                                                             */

/* Length (1-4) of the well-formed UTF-8 sequence at p, which has n > 0 bytes
 * left; 0 if it is ill-formed (overlong, surrogate, above U+10FFFF or
 * truncated). Follows the table in Unicode 15, section 3.9. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned char b0 = p[0];
    if (b0 < 0x80)
        return 1;
    if (b0 < 0xC2)
        return 0;
    if (b0 < 0xE0)
        return (n >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    if (b0 < 0xF0) {
        if (n < 3 || (p[2] & 0xC0) != 0x80)
            return 0;
        unsigned char lo = 0x80;
        unsigned char hi = 0xBF;
        if (b0 == 0xE0)
            lo = 0xA0;
        else if (b0 == 0xED)
            hi = 0x9F;
        return (p[1] >= lo && p[1] <= hi) ? 3 : 0;
    }
    if (b0 < 0xF5) {
        if (n < 4 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        unsigned char lo = 0x80;
        unsigned char hi = 0xBF;
        if (b0 == 0xF0)
            lo = 0x90;
        else if (b0 == 0xF4)
            hi = 0x8F;
        return (p[1] >= lo && p[1] <= hi) ? 4 : 0;
    }
    return 0;
}

/* Rank of a UTF-8 byte for UTF-16 ordering. UTF-8 byte order is code point
 * order; UTF-16 order differs only in putting U+E000..U+FFFF (lead bytes EE
 * and EF) after the supplementary planes (lead bytes F0..F4, which become
 * surrogates D800..DBFF). At the first differing byte of two strings with a
 * common prefix, either both bytes are lead bytes (so this ranking decides)
 * or both are continuation bytes under the same lead byte (so both code
 * points are in the same UTF-16 class and byte order is right). Continuation
 * bytes (80..BF) are never EE/EF. The map is injective, so even ill-formed
 * input gets a consistent total order (and is refused when written). */
static int utf16_rank(unsigned char b)
{
    return (b == 0xEE || b == 0xEF) ? (int)b + 0x100 : (int)b;
}

/* Compare two UTF-8 strings (with lengths; NUL is an ordinary byte) in the
 * order of their UTF-16 code units, as RFC 8785 section 3.2.3 requires.
 * Returns <0, 0 or >0. A proper prefix sorts first. O(min length). */
static int utf16_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    const unsigned char *x = (const unsigned char *)a;
    const unsigned char *y = (const unsigned char *)b;
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i])
            return utf16_rank(x[i]) - utf16_rank(y[i]);
    }
    return (alen > blen) - (alen < blen);
}

/* qsort adapter for utf16_cmp over jcs_member. */
static int member_cmp(const void *pa, const void *pb)
{
    const jcs_member *a = pa;
    const jcs_member *b = pb;
    return utf16_cmp(a->key, a->keylen, b->key, b->keylen);
}

/* Sort n members in place by key in UTF-16 order. Keys in one object are
 * distinct, so stability does not matter. */
static void members_sort(jcs_member *m, size_t n)
{
    if (n > JCS_INSERTION_MAX) {
        qsort(m, n, sizeof *m, member_cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        jcs_member t = m[i];
        size_t j = i;
        while (j > 0 && utf16_cmp(m[j - 1].key, m[j - 1].keylen, t.key, t.keylen) > 0) {
            m[j] = m[j - 1];
            j--;
        }
        m[j] = t;
    }
}

/* ------------------------------------------------------------------------ */
/* Error messages                                                            */

/* Bounded text writer for error messages: never overflows, marks truncation
 * with "..." and always leaves a NUL-terminated string. */
typedef struct text_out {
    char *s;
    size_t cap;
    size_t len;
    int truncated;
} text_out;

/* Append n bytes to t, truncating (and remembering it) if full. */
static void text_put(text_out *t, const char *p, size_t n)
{
    if (t->truncated)
        return;
    if (n > t->cap - 1 - t->len) {
        t->truncated = 1;
        size_t keep = t->cap - 1 - t->len;
        memcpy(t->s + t->len, p, keep);
        t->len += keep;
        if (t->cap >= 4)
            memcpy(t->s + t->cap - 4, "...", 3);
        t->s[t->cap - 1] = '\0';
        return;
    }
    memcpy(t->s + t->len, p, n);
    t->len += n;
    t->s[t->len] = '\0';
}

/* Append the JSON Pointer segments from the root down to f (RFC 6901: '~' is
 * written ~0 and '/' is ~1). Control bytes are shown as \u00XX so that the
 * message stays printable. Recursion depth is bounded by JCS_MAX_DEPTH. */
static void path_put(text_out *t, const jcs_frame *f)
{
    static const char hex[] = "0123456789abcdef";
    if (f == NULL || f->up == NULL)
        return;
    path_put(t, f->up);
    text_put(t, "/", 1);
    if (f->key == NULL) {
        char num[24];
        int n = snprintf(num, sizeof num, "%zu", f->index);
        if (n > 0)
            text_put(t, num, (size_t)n);
        return;
    }
    for (size_t i = 0; i < f->keylen; i++) {
        unsigned char ch = (unsigned char)f->key[i];
        if (ch == '~') {
            text_put(t, "~0", 2);
        } else if (ch == '/') {
            text_put(t, "~1", 2);
        } else if (ch < 0x20 || ch == 0x7F) {
            char esc[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            text_put(t, esc, sizeof esc);
        } else {
            text_put(t, (const char *)&ch, 1);
        }
    }
}

/* Render the location of f into buf[cap] ("/numbers/1", or "the top level"
 * for the root). Returns buf. */
static const char *path_text(char *buf, size_t cap, const jcs_frame *f)
{
    text_out t = {buf, cap, 0, 0};
    buf[0] = '\0';
    if (f->up == NULL) {
        text_put(&t, "the top level", 13);
        return buf;
    }
    path_put(&t, f);
    return buf;
}

/* Shortest %g form of d that reads back as d (at most 17 digits), into
 * buf[cap], so "4.50" in the input is named "4.5" in the message. */
static const char *number_text(char *buf, size_t cap, double d)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return buf;
}

/* Report a non-integral number d at f. Returns PC_EINVAL. */
static int err_nonintegral(jcs_ctx *c, double d, const jcs_frame *f)
{
    char num[40];
    char path[JCS_PATH_MAX];
    return pc_error_set(c->err, PC_EINVAL,
                        "non-integral number %s at %s: signed JSON carries "
                        "integers only",
                        number_text(num, sizeof num, d),
                        path_text(path, sizeof path, f));
}

/* An out-of-range number (given as text) was met at f while writing. A
 * non-integral number anywhere in the tree takes precedence, so the whole tree
 * is scanned for one first (this is the rare error path, so the hot path stays
 * a single pass). Returns PC_EINVAL with the message of whichever wins. */
static int err_out_of_range(jcs_ctx *c, const char *num, const jcs_frame *f)
{
    jcs_ctx scan = {NULL, c->err, c->root, NULL, 0, c->skip};
    jcs_frame root = {NULL, NULL, 0, 0};
    int rc = jcs_value(&scan, c->root, &root, 0);
    if (rc != PC_OK)
        return rc;
    char path[JCS_PATH_MAX];
    return pc_error_set(c->err, PC_EINVAL, "integer %s at %s is beyond \u00b12^53",
                        num, path_text(path, sizeof path, f));
}

/* ------------------------------------------------------------------------ */
/* Writers                                                                   */

/* Append a signed integer with |n| <= 2^53 in decimal. No locale, no printf. */
static int put_int(pc_buf *out, long long n)
{
    char buf[24];
    char *p = buf + sizeof buf;
    unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (n < 0)
        *--p = '-';
    return pc_buf_append(out, p, (size_t)(buf + sizeof buf - p));
}

/* Bytes that must be escaped inside a JSON string: controls, '"' and '\'. */
static int needs_escape(unsigned char ch)
{
    return ch < 0x20 || ch == '"' || ch == '\\';
}

/* The letter of the two-character escape for ch (b t n f r " \\), or 0 if
 * ch has none and must be written as \u00xx. */
static char short_escape(unsigned char ch)
{
    switch (ch) {
    case '\b': return 'b';
    case '\t': return 't';
    case '\n': return 'n';
    case '\f': return 'f';
    case '\r': return 'r';
    case '"': return '"';
    case '\\': return '\\';
    default: return 0;
    }
}

/* Append s[0..n) as a JSON string with RFC 8785 escaping: the two-character
 * forms for \b \t \n \f \r \" \\, \u00xx (lowercase) for other controls, and
 * everything else (including '/', DEL and non-ASCII) as literal UTF-8. Runs of
 * plain bytes are copied in one append. Ill-formed UTF-8 is refused, since no
 * other implementation could reproduce the bytes. */
static int put_string(jcs_ctx *c, const char *s, size_t n, const jcs_frame *f,
                      const char *what)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + n;
    const unsigned char *run = p;
    if (pc_buf_append(c->out, "\"", 1) != PC_OK)
        goto nomem;
    while (p < end) {
        unsigned char ch = *p;
        if (ch >= 0x80) {
            size_t len = utf8_seq_len(p, (size_t)(end - p));
            if (len == 0) {
                char path[JCS_PATH_MAX];
                return pc_error_set(c->err, PC_EINVAL, "invalid UTF-8 in %s at %s",
                                    what, path_text(path, sizeof path, f));
            }
            p += len;
            continue;
        }
        if (!needs_escape(ch)) {
            p++;
            continue;
        }
        if (p > run && pc_buf_append(c->out, run, (size_t)(p - run)) != PC_OK)
            goto nomem;
        char esc[6] = {'\\', short_escape(ch), 0, 0, 0, 0};
        size_t elen = 2;
        if (esc[1] == 0) {
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            elen = 6;
        }
        if (pc_buf_append(c->out, esc, elen) != PC_OK)
            goto nomem;
        p++;
        run = p;
    }
    if (p > run && pc_buf_append(c->out, run, (size_t)(p - run)) != PC_OK)
        goto nomem;
    if (pc_buf_append(c->out, "\"", 1) != PC_OK)
        goto nomem;
    return PC_OK;
nomem:
    return pc_error_set(c->err, PC_ENOMEM, "canonical JSON is over the buffer limit");
}

/* Write (or, in scan mode, check) a json integer: must lie within ±2^53. */
static int jcs_integer(jcs_ctx *c, const json_t *v, const jcs_frame *at)
{
    json_int_t n = json_integer_value(v);
    if (n > PC_JCS_MAX_INT || n < -PC_JCS_MAX_INT) {
        if (c->out == NULL)
            return PC_OK;
        char num[32];
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, n);
        return err_out_of_range(c, num, at);
    }
    if (c->out == NULL)
        return PC_OK;
    if (put_int(c->out, (long long)n) != PC_OK)
        return pc_error_set(c->err, PC_ENOMEM, "canonical JSON is over the buffer limit");
    return PC_OK;
}

/* Write (or check) a json real: it must be integral (56.0 is written 56, and
 * -0.0 is written 0 as RFC 8785 says) and within ±2^53. */
static int jcs_real(jcs_ctx *c, const json_t *v, const jcs_frame *at)
{
    double d = json_real_value(v);
    if (!isfinite(d) || floor(d) != d)
        return err_nonintegral(c, d, at);
    if (c->out == NULL)
        return PC_OK;
    if (fabs(d) > (double)PC_JCS_MAX_INT) {
        char num[40];
        return err_out_of_range(c, number_text(num, sizeof num, d), at);
    }
    if (put_int(c->out, (long long)d) != PC_OK)
        return pc_error_set(c->err, PC_ENOMEM, "canonical JSON is over the buffer limit");
    return PC_OK;
}

/* Write (or check) an array: elements in order, comma separated. */
static int jcs_array(jcs_ctx *c, const json_t *v, const jcs_frame *at,
                     unsigned depth)
{
    size_t n = json_array_size(v);
    if (c->out != NULL && pc_buf_append(c->out, "[", 1) != PC_OK)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        jcs_frame f = {at, NULL, 0, i};
        if (i > 0 && c->out != NULL && pc_buf_append(c->out, ",", 1) != PC_OK)
            goto nomem;
        int rc = jcs_value(c, json_array_get(v, i), &f, depth + 1);
        if (rc != PC_OK)
            return rc;
    }
    if (c->out != NULL && pc_buf_append(c->out, "]", 1) != PC_OK)
        goto nomem;
    return PC_OK;
nomem:
    return pc_error_set(c->err, PC_ENOMEM, "canonical JSON is over the buffer limit");
}

/* Write (or check) an object: members sorted by UTF-16 code units of their
 * keys. The member list takes a slice of the shared scratch array when it
 * fits (released on return, so siblings reuse it) and is malloc'd
 * otherwise; it is freed on every path. */
static int jcs_object(jcs_ctx *c, const json_t *v, const jcs_frame *at,
                      unsigned depth)
{
    size_t n = json_object_size(v);
    size_t mark = c->scratch_used;
    jcs_member *m = NULL;
    jcs_member *heap = NULL;
    int rc = PC_OK;

    if (c->scratch != NULL && n <= JCS_SCRATCH_MEMBERS - mark) {
        m = c->scratch + mark;
        c->scratch_used = mark + n;
    } else if (n > 0) {
        if (n > SIZE_MAX / sizeof *heap)
            return pc_error_set(c->err, PC_ENOMEM, "object too large");
        heap = malloc(n * sizeof *heap);
        if (heap == NULL)
            return pc_error_set(c->err, PC_ENOMEM, "out of memory sorting an object");
        m = heap;
    }

    size_t k = 0;
    for (void *it = json_object_iter((json_t *)v); it != NULL && k < n;
         it = json_object_iter_next((json_t *)v, it)) {
        m[k].key = json_object_iter_key(it);
#if JANSSON_VERSION_HEX >= 0x020e00
        m[k].keylen = json_object_iter_key_len(it);
#else
        m[k].keylen = strlen(m[k].key);
#endif
        m[k].value = json_object_iter_value(it);
        if (depth == 0 && c->skip != NULL && m[k].keylen == strlen(c->skip) &&
            memcmp(m[k].key, c->skip, m[k].keylen) == 0)
            continue;
        k++;
    }
    members_sort(m, k);

    if (c->out != NULL && pc_buf_append(c->out, "{", 1) != PC_OK)
        goto nomem;
    for (size_t i = 0; i < k; i++) {
        jcs_frame f = {at, m[i].key, m[i].keylen, 0};
        if (c->out != NULL) {
            if (i > 0 && pc_buf_append(c->out, ",", 1) != PC_OK)
                goto nomem;
            rc = put_string(c, m[i].key, m[i].keylen, &f, "a key");
            if (rc != PC_OK)
                goto done;
            if (pc_buf_append(c->out, ":", 1) != PC_OK)
                goto nomem;
        }
        rc = jcs_value(c, m[i].value, &f, depth + 1);
        if (rc != PC_OK)
            goto done;
    }
    if (c->out != NULL && pc_buf_append(c->out, "}", 1) != PC_OK)
        goto nomem;
    goto done;
nomem:
    rc = pc_error_set(c->err, PC_ENOMEM, "canonical JSON is over the buffer limit");
done:
    free(heap);
    c->scratch_used = mark;
    return rc;
}

/* Write (or check) any value located at `at`, `depth` levels below the root.
 * Returns PC_OK or an error already recorded in c->err. */
static int jcs_value(jcs_ctx *c, const json_t *v, const jcs_frame *at,
                     unsigned depth)
{
    if (v == NULL) {
        char path[JCS_PATH_MAX];
        return pc_error_set(c->err, PC_EINVAL, "missing value at %s",
                            path_text(path, sizeof path, at));
    }
    if (depth > JCS_MAX_DEPTH)
        return pc_error_set(c->err, PC_EINVAL, "JSON nested deeper than %d levels",
                            JCS_MAX_DEPTH);
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return jcs_object(c, v, at, depth);
    case JSON_ARRAY:
        return jcs_array(c, v, at, depth);
    case JSON_STRING:
        if (c->out == NULL)
            return PC_OK;
        return put_string(c, json_string_value(v), json_string_length(v), at,
                          "a string");
    case JSON_INTEGER:
        return jcs_integer(c, v, at);
    case JSON_REAL:
        return jcs_real(c, v, at);
    case JSON_TRUE:
        if (c->out != NULL && pc_buf_append(c->out, "true", 4) != PC_OK)
            break;
        return PC_OK;
    case JSON_FALSE:
        if (c->out != NULL && pc_buf_append(c->out, "false", 5) != PC_OK)
            break;
        return PC_OK;
    case JSON_NULL:
        if (c->out != NULL && pc_buf_append(c->out, "null", 4) != PC_OK)
            break;
        return PC_OK;
    default: {
        char path[JCS_PATH_MAX];
        return pc_error_set(c->err, PC_EINVAL, "unknown JSON value type at %s",
                            path_text(path, sizeof path, at));
    }
    }
    return pc_error_set(c->err, PC_ENOMEM, "canonical JSON is over the buffer limit");
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */

/* Canonical form of v appended to out; see jcs.h. On any error out is
 * restored to its length on entry. Uses about 3 KiB of stack for member
 * slots plus a small frame per nesting level. */
static int jcs_dump(const json_t *v, const char *skip, pc_buf *out, pc_error *err)
{
    if (v == NULL || out == NULL)
        return pc_error_set(err, PC_EINVAL, "pc_jcs_dump: no value or no buffer");
    jcs_member scratch[JCS_SCRATCH_MEMBERS];
    jcs_ctx c = {out, err, v, scratch, 0, skip};
    jcs_frame root = {NULL, NULL, 0, 0};
    size_t start = out->len;
    int rc = jcs_value(&c, v, &root, 0);
    if (rc != PC_OK && out->data != NULL) {
        /* Leave the buffer as it was: no half-written canonical form. */
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}

int pc_jcs_dump(const json_t *v, pc_buf *out, pc_error *err)
{
    return jcs_dump(v, NULL, out, err);
}

int pc_jcs_dump_without(const json_t *obj, const char *skip, pc_buf *out,
                        pc_error *err)
{
    if (skip == NULL || !json_is_object(obj))
        return pc_error_set(err, PC_EINVAL, "pc_jcs_dump_without: needs an object and a member name");
    return jcs_dump(obj, skip, out, err);
}

/* Strict parse of text[0..len) into *out (caller decrefs); *out is NULL on
 * error. Any JSON value is accepted at the top level. */
int pc_json_parse(const char *text, size_t len, json_t **out, pc_error *err)
{
    if (out == NULL)
        return pc_error_set(err, PC_EINVAL, "pc_json_parse: no output");
    *out = NULL;
    if (text == NULL)
        return pc_error_set(err, PC_EINVAL, "pc_json_parse: no text");
    json_error_t jerr;
    /* No JSON_ALLOW_NUL (so "\u0000" is refused) and no
     * JSON_DISABLE_EOF_CHECK (so trailing garbage is refused). */
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (v == NULL)
        return pc_error_set(err, PC_EINVAL, "invalid JSON at line %d, column %d: %s",
                            jerr.line, jerr.column, jerr.text);
    *out = v;
    return PC_OK;
}

/* pc_json_parse then pc_jcs_dump; the tree is freed on every path. */
int pc_jcs_from_text(const char *text, size_t len, pc_buf *out, pc_error *err)
{
    json_t *v = NULL;
    int rc = pc_json_parse(text, len, &v, err);
    if (rc != PC_OK)
        return rc;
    rc = pc_jcs_dump(v, out, err);
    json_decref(v);
    return rc;
}
