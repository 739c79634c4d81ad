/* RFC 8785 JSON Canonicalization Scheme, restricted to integers: the bytes
 * every signature in parcha covers. */
#ifndef PARCHA_JCS_H
#define PARCHA_JCS_H

#include <jansson.h>
#include "parcha/common.h"

/* Largest integer magnitude accepted in signed JSON (2^53). */
#define PC_JCS_MAX_INT 9007199254740992LL

/* Append the canonical form of v to out. Object members are sorted by their
 * UTF-16 code units; strings use the RFC 8785 escapes; numbers must be
 * integral with |n| <= 2^53 (a real like 56.0 is written 56). On a
 * non-integral or out-of-range number returns PC_EINVAL with a message that
 * names the number and its JSON path (e.g. "non-integral number 4.5 at
 * /numbers/1"). Non-integral numbers are reported before out-of-range ones. */
int pc_jcs_dump(const json_t *v, pc_buf *out, pc_error *err) PC_MUST_USE;

/* The canonical form of object obj as if its top-level member `skip` were
 * deleted (a transaction without its "sigs"), without copying the tree. */
int pc_jcs_dump_without(const json_t *obj, const char *skip, pc_buf *out,
                        pc_error *err) PC_MUST_USE;

/* Parse text strictly (duplicate keys refused, NUL in strings refused, any
 * trailing garbage refused) and return the tree in *out (caller decrefs).
 * Errors name line and column. */
int pc_json_parse(const char *text, size_t len, json_t **out, pc_error *err)
    PC_MUST_USE;

/* Parse then canonicalise in one step. */
int pc_jcs_from_text(const char *text, size_t len, pc_buf *out, pc_error *err)
    PC_MUST_USE;

#endif
