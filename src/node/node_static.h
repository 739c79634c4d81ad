/* Static files of the web UI: mapping a request path to a file under the web
 * folder (never outside it) and its Content-Type. Pure except
 * pc_static_open. */
#ifndef PARCHA_NODE_STATIC_H
#define PARCHA_NODE_STATIC_H

#include <stddef.h>
#include <stdint.h>
#include "parcha/common.h"

/* Map a raw request path to a path relative to the web folder:
 *   "/" and "/ui" and "/ui/"  -> "index.html"
 *   "/ui/<p>"                 -> "<p>"
 *   "/<p>"                    -> "<p>"
 *   a path ending in '/'      -> that folder's "index.html"
 * Percent-escapes are decoded. Refused (PC_EINVAL): ".." or "." segments,
 * empty segments, segments starting with '.', backslashes, control
 * characters, NUL, and results longer than outlen - 1. */
int pc_static_resolve(const char *path, char *out, size_t outlen) PC_MUST_USE;

/* Content-Type for a file name by its extension ("text/html; charset=utf-8",
 * "application/javascript", ...); "application/octet-stream" when unknown. */
const char *pc_static_mime(const char *name);

/* Open rel (from pc_static_resolve) under webdir, refusing anything whose
 * real path is not inside webdir's real path, and anything but a regular
 * file. Returns an open fd and its size, or -1 (not found or refused). */
int pc_static_open(const char *webdir, const char *rel, uint64_t *size);

#endif
