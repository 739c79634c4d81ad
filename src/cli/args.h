/* Command-line parsing for parcha: `--name value`, `--name=value`, flags,
 * repeated options and positional words, checked against a per-command table
 * so a typo gets a clear error instead of being ignored. Also the small value
 * parsers the commands share (durations, dates, HI type lists, hospital
 * specs). Pure functions: no I/O, so they are unit-tested directly. */
#ifndef PARCHA_CLI_ARGS_H
#define PARCHA_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "parcha/common.h"

#define CLI_ARGS_MAX_OPTS 64
#define CLI_ARGS_MAX_POS 8

/* One accepted option of a command. A NULL name ends a table. */
typedef struct cli_optspec {
    const char *name;  /* without the leading "--" */
    bool takes_value;  /* false: a flag */
    bool repeatable;   /* may be given more than once */
} cli_optspec;

/* The parsed command line. Values point into argv (not copied). */
typedef struct cli_args {
    const char *pos[CLI_ARGS_MAX_POS];
    size_t npos;
    struct {
        const char *name; /* the spec's name (static) */
        const char *value; /* NULL for a flag */
    } opts[CLI_ARGS_MAX_OPTS];
    size_t nopts;
} cli_args;

/* Parse argv[0..argc) (the words after the command name) against spec. The
 * options "help", "json" and "node" are always accepted ("-h" means "--help").
 * A word "--" ends options. Errors (PC_EINVAL) name the option: "unknown
 * option --foo", "option --out needs a value", "option --out given twice". */
int cli_args_parse(int argc, char **argv, const cli_optspec *spec, cli_args *out,
                   pc_error *err) PC_MUST_USE;

/* The value of an option (the last one if repeated), or NULL if absent. */
const char *cli_arg(const cli_args *a, const char *name);
/* True if the flag or option was given. */
bool cli_flag(const cli_args *a, const char *name);
/* All values of a repeatable option, in order, up to max; returns the count
 * found (which may exceed max: only max are stored). */
size_t cli_arg_all(const cli_args *a, const char *name, const char **vals,
                   size_t max);
/* PC_EINVAL "missing required option --NAME" if absent; else PC_OK and *val. */
int cli_arg_required(const cli_args *a, const char *name, const char **val,
                     pc_error *err) PC_MUST_USE;

/* Parse a positive integer in [min, max]; the message names the option. */
int cli_parse_int(const char *s, const char *what, int64_t min, int64_t max,
                  int64_t *out, pc_error *err) PC_MUST_USE;

/* Parse a duration such as "30d", "12h", "90m", "45s", "2w" or "1y" (365 d)
 * into milliseconds (> 0, at most 100 years). */
int cli_parse_duration(const char *s, int64_t *ms, pc_error *err) PC_MUST_USE;

/* An expiry: a duration from now_ms ("30d") or a date "YYYY-MM-DD", meaning
 * the end of that day (UTC), i.e. the grant works through that whole day.
 * The result must be after now_ms. */
int cli_parse_expiry(const char *s, int64_t now_ms, int64_t *out,
                     pc_error *err) PC_MUST_USE;

/* "Prescription,DiagnosticReport" or "all" into a JSON array of names (["*"]
 * for all) in *out (caller decrefs) and the bit set in *mask (may be NULL).
 * Spaces around names are ignored; unknown or repeated names are refused. */
int cli_parse_hi_types(const char *s, json_t **out, unsigned *mask,
                       pc_error *err) PC_MUST_USE;

/* A hospital id: [a-z0-9-]{2,32}. */
bool cli_valid_hospital_id(const char *id);
/* A network name: [a-z0-9][a-z0-9.-]{1,63}. */
bool cli_valid_network(const char *net);

/* A founding hospital given as "id:name:endpoint" (the endpoint may itself
 * contain colons, as URLs do). Copies into the caller's arrays. */
typedef struct cli_hospital_spec {
    char id[33];
    char name[128];
    char endpoint[256];
} cli_hospital_spec;
int cli_parse_hospital_spec(const char *s, cli_hospital_spec *out,
                            pc_error *err) PC_MUST_USE;

#endif
