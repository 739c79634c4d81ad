/* parchad's log: one line per event on stderr, each with a UTC timestamp and
 * a level. Never pass keys, passphrases or record content. */
#ifndef PARCHA_NODE_LOG_H
#define PARCHA_NODE_LOG_H

#include "parcha/common.h"

/* Write "2024-03-15T10:00:00.123Z parchad <level>: <message>\n" to stderr in
 * one write, so lines from several threads never interleave. level is "info",
 * "warn" or "error". */
void pc_node_log(const char *level, const char *fmt, ...) PC_PRINTF(2, 3);

/* When set to 1, info lines are not written (tests). */
void pc_node_log_quiet(int quiet);

#endif
