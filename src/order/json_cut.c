/* Long string values cut out of a JSON text (json_cut.h). */
#include "order/json_cut.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pc_json_cut_init(pc_json_cut *c)
{
    memset(c, 0, sizeof *c);
    pc_buf_init(&c->out);
}

void pc_json_cut_free(pc_json_cut *c)
{
    size_t limit = c->out.cap_limit;
    pc_buf_free(&c->out);
    free(c->spans);
    pc_json_cut_init(c);
    c->out.cap_limit = limit;
}

static int add_span(pc_json_cut *c, const char *p, size_t n)
{
    if (c->nspans == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        pc_json_span *g = realloc(c->spans, ncap * sizeof *g);
        if (g == NULL)
            return PC_ENOMEM;
        c->spans = g;
        c->cap = ncap;
    }
    c->spans[c->nspans].p = p;
    c->spans[c->nspans].n = n;
    c->nspans++;
    return PC_OK;
}

static bool is_json_space(uint8_t ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Whether out[from..) is a colon with maybe white space around it: what
 * stands between a member's name and its value. */
static bool only_colon(const pc_buf *out, size_t from)
{
    bool colon = false;
    for (size_t i = from; i < out->len; i++) {
        if (out->data[i] == ':' && !colon)
            colon = true;
        else if (!is_json_space(out->data[i]))
            return false;
    }
    return colon;
}

int pc_json_cut_text(pc_json_cut *c, const char *text, size_t n, const char *member,
                     size_t min)
{
    size_t mlen = strlen(member);
    c->out.len = 0;
    c->nspans = 0;
    /* Whether the last string was `member` (escape-free) and where the copy
     * stood after it: the next string is its value if only a colon lies
     * between. */
    bool last_is_member = false;
    size_t last_end = 0;
    size_t i = 0;
    while (i < n) {
        const char *q = memchr(text + i, '"', n - i);
        if (q == NULL)
            return pc_buf_append(&c->out, text + i, n - i);
        size_t open = (size_t)(q - text);
        if (pc_buf_append(&c->out, text + i, open - i) != PC_OK)
            return PC_ENOMEM;
        bool wanted = last_is_member && only_colon(&c->out, last_end);
        /* The closing quote is the first one after an even run of
         * backslashes; a string with any backslash is never cut. */
        size_t j = open + 1;
        bool escaped = false;
        for (;;) {
            const char *e = memchr(text + j, '"', n - j);
            if (e == NULL)
                return PC_EINVAL;
            size_t at = (size_t)(e - text), bs = 0;
            while (at - bs > open + 1 && text[at - bs - 1] == '\\')
                bs++;
            if (!escaped && memchr(text + j, '\\', at - j) != NULL)
                escaped = true;
            j = at;
            if (bs % 2 == 0)
                break;
            j++;
        }
        size_t len = j - open - 1;
        if (wanted && !escaped && len >= min) {
            char tag[32];
            int tl = snprintf(tag, sizeof tag, "\"#%zu\"", c->nspans);
            if (add_span(c, text + open + 1, len) != PC_OK ||
                pc_buf_append(&c->out, tag, (size_t)tl) != PC_OK)
                return PC_ENOMEM;
        } else if (pc_buf_append(&c->out, text + open, len + 2) != PC_OK) {
            return PC_ENOMEM;
        }
        last_is_member = !wanted && !escaped && len == mlen && memcmp(text + open + 1, member, mlen) == 0;
        last_end = c->out.len;
        i = j + 1;
    }
    return PC_OK;
}

const pc_json_span *pc_json_cut_span(const pc_json_cut *c, const char *v)
{
    if (v == NULL || v[0] != '#' || v[1] < '0' || v[1] > '9')
        return NULL;
    char *end = NULL;
    unsigned long long k = strtoull(v + 1, &end, 10);
    return *end == '\0' && k < c->nspans ? &c->spans[k] : NULL;
}
