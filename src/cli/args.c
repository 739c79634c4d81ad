/* Command-line parsing and the small value parsers every parcha command
 * shares. Everything here is pure (no I/O, no clock except the now_ms the
 * caller passes), so each rule is unit-tested in tests/unit/test_cli_args.c. */
#include "cli/args.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "parcha/access.h"

#define MS_PER_DAY ((int64_t)86400000)
#define MAX_DURATION_MS ((int64_t)100 * 366 * MS_PER_DAY)

/* Options every command accepts. */
static const cli_optspec global_opts[] = {
    {"help", false, false},
    {"json", false, false},
    {"node", true, false},
    {NULL, false, false},
};

/* Find name (length n) in spec, then in global_opts. NULL if unknown. */
static const cli_optspec *find_spec(const cli_optspec *spec, const char *name,
                                    size_t n)
{
    for (int pass = 0; pass < 2; pass++) {
        const cli_optspec *s = pass == 0 ? spec : global_opts;
        for (; s != NULL && s->name != NULL; s++) {
            if (strlen(s->name) == n && strncmp(s->name, name, n) == 0)
                return s;
        }
    }
    return NULL;
}

/* Count how many times a spec'd option already appears in a. */
static size_t count_opt(const cli_args *a, const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < a->nopts; i++) {
        if (strcmp(a->opts[i].name, name) == 0)
            c++;
    }
    return c;
}

int cli_args_parse(int argc, char **argv, const cli_optspec *spec, cli_args *out,
                   pc_error *err)
{
    memset(out, 0, sizeof *out);
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        if (!options_done && strcmp(w, "--") == 0) {
            options_done = true;
            continue;
        }
        bool is_opt = !options_done && w[0] == '-' && w[1] != '\0';
        if (!is_opt) {
            if (out->npos >= CLI_ARGS_MAX_POS)
                return pc_error_set(err, PC_EINVAL, "too many arguments (at '%s')", w);
            out->pos[out->npos++] = w;
            continue;
        }
        const char *name;
        size_t nlen;
        const char *inline_val = NULL;
        if (strcmp(w, "-h") == 0) {
            name = "help";
            nlen = 4;
        } else if (w[1] != '-') {
            return pc_error_set(err, PC_EINVAL,
                                "unknown option %s (options are written --name)", w);
        } else {
            name = w + 2;
            const char *eq = strchr(name, '=');
            nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
            if (eq != NULL)
                inline_val = eq + 1;
        }
        const cli_optspec *s = find_spec(spec, name, nlen);
        if (s == NULL)
            return pc_error_set(err, PC_EINVAL, "unknown option --%.*s", (int)nlen,
                                name);
        if (!s->repeatable && count_opt(out, s->name) > 0)
            return pc_error_set(err, PC_EINVAL, "option --%s given twice", s->name);
        const char *val = NULL;
        if (s->takes_value) {
            if (inline_val != NULL) {
                val = inline_val;
            } else {
                if (i + 1 >= argc)
                    return pc_error_set(err, PC_EINVAL, "option --%s needs a value",
                                        s->name);
                val = argv[++i];
            }
        } else if (inline_val != NULL) {
            return pc_error_set(err, PC_EINVAL, "option --%s takes no value",
                                s->name);
        }
        if (out->nopts >= CLI_ARGS_MAX_OPTS)
            return pc_error_set(err, PC_EINVAL, "too many options");
        out->opts[out->nopts].name = s->name;
        out->opts[out->nopts].value = val;
        out->nopts++;
    }
    return PC_OK;
}

const char *cli_arg(const cli_args *a, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; i < a->nopts; i++) {
        if (strcmp(a->opts[i].name, name) == 0)
            v = a->opts[i].value;
    }
    return v;
}

bool cli_flag(const cli_args *a, const char *name)
{
    return count_opt(a, name) > 0;
}

size_t cli_arg_all(const cli_args *a, const char *name, const char **vals,
                   size_t max)
{
    size_t c = 0;
    for (size_t i = 0; i < a->nopts; i++) {
        if (strcmp(a->opts[i].name, name) != 0)
            continue;
        if (c < max)
            vals[c] = a->opts[i].value;
        c++;
    }
    return c;
}

int cli_arg_required(const cli_args *a, const char *name, const char **val,
                     pc_error *err)
{
    *val = cli_arg(a, name);
    if (*val == NULL || (*val)[0] == '\0')
        return pc_error_set(err, PC_EINVAL, "missing required option --%s", name);
    return PC_OK;
}

int cli_parse_int(const char *s, const char *what, int64_t min, int64_t max,
                  int64_t *out, pc_error *err)
{
    if (s == NULL || s[0] == '\0' || !isdigit((unsigned char)s[0]))
        return pc_error_set(err, PC_EINVAL, "%s must be a whole number from %lld to %lld",
                            what, (long long)min, (long long)max);
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == NULL || *end != '\0' || v < min || v > max)
        return pc_error_set(err, PC_EINVAL, "%s must be a whole number from %lld to %lld",
                            what, (long long)min, (long long)max);
    *out = v;
    return PC_OK;
}

int cli_parse_duration(const char *s, int64_t *ms, pc_error *err)
{
    static const char hint[] =
        "a duration is a number and a unit: s, m (minutes), h, d, w or y, e.g. 30d";
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return pc_error_set(err, PC_EINVAL, "bad duration '%s': %s", s ? s : "", hint);
    size_t len = strlen(s);
    size_t digits = 0;
    while (digits < len && isdigit((unsigned char)s[digits]))
        digits++;
    if (digits == 0 || digits > 9 || len != digits + 1)
        return pc_error_set(err, PC_EINVAL, "bad duration '%s': %s", s, hint);
    int64_t n = 0;
    for (size_t i = 0; i < digits; i++)
        n = n * 10 + (s[i] - '0');
    int64_t unit;
    switch (s[digits]) {
    case 's': unit = 1000; break;
    case 'm': unit = 60000; break;
    case 'h': unit = 3600000; break;
    case 'd': unit = MS_PER_DAY; break;
    case 'w': unit = 7 * MS_PER_DAY; break;
    case 'y': unit = 365 * MS_PER_DAY; break;
    default:
        return pc_error_set(err, PC_EINVAL, "bad duration '%s': %s", s, hint);
    }
    if (n == 0)
        return pc_error_set(err, PC_EINVAL, "duration '%s' must be longer than zero", s);
    if (n > MAX_DURATION_MS / unit)
        return pc_error_set(err, PC_EINVAL, "duration '%s' is longer than 100 years", s);
    *ms = n * unit;
    return PC_OK;
}

int cli_parse_expiry(const char *s, int64_t now_ms, int64_t *out, pc_error *err)
{
    if (s == NULL || s[0] == '\0')
        return pc_error_set(err, PC_EINVAL, "empty expiry: give a duration such as 30d or a date YYYY-MM-DD");
    int32_t days;
    if (strlen(s) == 10 && s[4] == '-') {
        if (pc_date_parse(s, &days) != PC_OK)
            return pc_error_set(err, PC_EINVAL,
                                "bad expiry date '%s': use a real date YYYY-MM-DD", s);
        int64_t t = ((int64_t)days + 1) * MS_PER_DAY;
        if (t <= now_ms)
            return pc_error_set(err, PC_EINVAL, "expiry date %s is already past", s);
        *out = t;
        return PC_OK;
    }
    int64_t d;
    pc_error e;
    if (cli_parse_duration(s, &d, &e) != PC_OK)
        return pc_error_set(err, PC_EINVAL,
                            "bad expiry '%s': give a duration such as 30d, 12h, 1y or a date YYYY-MM-DD",
                            s);
    *out = now_ms + d;
    return PC_OK;
}

/* Copy s[0..n) trimmed of spaces into out (size cap). False if it does not fit. */
static bool trimmed(const char *s, size_t n, char *out, size_t cap)
{
    while (n > 0 && isspace((unsigned char)s[0])) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n + 1 > cap)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

int cli_parse_hi_types(const char *s, json_t **out, unsigned *mask, pc_error *err)
{
    static const char known[] =
        "OPConsultation, Prescription, DischargeSummary, DiagnosticReport, "
        "ImmunizationRecord, HealthDocumentRecord, WellnessRecord or all";
    *out = NULL;
    if (s == NULL)
        return pc_error_set(err, PC_EINVAL, "no HI types given: use %s", known);
    char one[64];
    if (trimmed(s, strlen(s), one, sizeof one) && (strcmp(one, "all") == 0 ||
                                                   strcmp(one, "*") == 0)) {
        *out = json_pack("[s]", "*");
        if (*out == NULL)
            return pc_error_set(err, PC_ENOMEM, "out of memory");
        if (mask != NULL)
            *mask = 0x7f;
        return PC_OK;
    }
    json_t *arr = json_array();
    if (arr == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    unsigned m = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (!trimmed(p, n, one, sizeof one) || one[0] == '\0') {
            json_decref(arr);
            return pc_error_set(err, PC_EINVAL, "empty or overlong HI type in '%s': use %s",
                                s, known);
        }
        unsigned bit = pc_hi_type_from_name(one);
        if (bit == 0) {
            json_decref(arr);
            return pc_error_set(err, PC_EINVAL, "unknown HI type '%s': use %s", one, known);
        }
        if (m & bit) {
            json_decref(arr);
            return pc_error_set(err, PC_EINVAL, "HI type '%s' given twice", one);
        }
        m |= bit;
        if (json_array_append_new(arr, json_string(pc_hi_type_name(bit))) != 0) {
            json_decref(arr);
            return pc_error_set(err, PC_ENOMEM, "out of memory");
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    *out = arr;
    if (mask != NULL)
        *mask = m;
    return PC_OK;
}

bool cli_valid_hospital_id(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n < 2 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

bool cli_valid_network(const char *net)
{
    size_t n = net != NULL ? strlen(net) : 0;
    if (n < 2 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = net[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (i > 0 && (c == '-' || c == '.'));
        if (!ok)
            return false;
    }
    return true;
}

int cli_parse_hospital_spec(const char *s, cli_hospital_spec *out, pc_error *err)
{
    memset(out, 0, sizeof *out);
    const char *c1 = strchr(s, ':');
    const char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
    if (c1 == NULL || c2 == NULL)
        return pc_error_set(err, PC_EINVAL,
                            "bad --hospital '%s': write id:name:endpoint, e.g. "
                            "city-general:City General Hospital:http://127.0.0.1:8080",
                            s);
    size_t idlen = (size_t)(c1 - s);
    size_t namelen = (size_t)(c2 - c1 - 1);
    const char *ep = c2 + 1;
    if (idlen >= sizeof out->id)
        return pc_error_set(err, PC_EINVAL, "hospital id in '%s' is longer than 32 characters", s);
    memcpy(out->id, s, idlen);
    out->id[idlen] = '\0';
    if (!cli_valid_hospital_id(out->id))
        return pc_error_set(err, PC_EINVAL,
                            "bad hospital id '%s': use 2 to 32 of a-z, 0-9 and '-'", out->id);
    if (namelen == 0 || namelen >= sizeof out->name)
        return pc_error_set(err, PC_EINVAL, "hospital name in '%s' must be 1 to 127 characters", s);
    memcpy(out->name, c1 + 1, namelen);
    out->name[namelen] = '\0';
    size_t eplen = strlen(ep);
    if (eplen == 0 || eplen >= sizeof out->endpoint ||
        (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0))
        return pc_error_set(err, PC_EINVAL,
                            "hospital endpoint in '%s' must be an http:// or https:// URL", s);
    memcpy(out->endpoint, ep, eplen + 1);
    return PC_OK;
}
