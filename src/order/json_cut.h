/* Long string values cut out of a JSON text before jansson parses it.
 *
 * Why: etcd's JSON gateway sends each proposal as one base64 string of up to
 * ~1.4 MB, and jansson reads a string byte by byte (UTF-8 checks, then a
 * copy). On a node of three under load that parse was 7% of the node's CPU
 * (perf, docs/performance.md). pc_json_cut copies the text with every
 * escape-free string of at least `min` bytes that is the value of a member
 * named `member` replaced by "#k", k indexing the spans of the cut strings
 * in the original text; jansson then parses the small rest and the caller
 * reads the value from the span. Callers must only cut members whose real
 * values cannot start with '#' (base64 cannot), so "#k" is unambiguous. */
#ifndef PARCHA_ORDER_JSON_CUT_H
#define PARCHA_ORDER_JSON_CUT_H

#include "parcha/common.h"

typedef struct pc_json_span {
    const char *p; /* inside the text given to pc_json_cut, without quotes */
    size_t n;
} pc_json_span;

typedef struct pc_json_cut {
    pc_buf out;          /* the text with the cut strings replaced */
    pc_json_span *spans; /* cut strings, in text order */
    size_t nspans, cap;
} pc_json_cut;

void pc_json_cut_init(pc_json_cut *c);
void pc_json_cut_free(pc_json_cut *c);

/* Copy text[0..n) into c->out, cutting as above. Only the strings are
 * scanned; the rest is copied as it is and left for the JSON parser to judge.
 * Returns PC_OK, PC_EINVAL if the text ends inside a string, or PC_ENOMEM. */
int pc_json_cut_text(pc_json_cut *c, const char *text, size_t n, const char *member,
                     size_t min) PC_MUST_USE;

/* The span that v (a string value read from the parsed c->out) stands for,
 * or NULL if v is not a "#k" of this cut. */
const pc_json_span *pc_json_cut_span(const pc_json_cut *c, const char *v);

#endif
