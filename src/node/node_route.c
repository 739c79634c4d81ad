/* The routing table of parchad's HTTP API (docs/api.md) and its matcher.
 * Patterns are '/'-separated literal segments with "{}" standing for one path
 * parameter; matching walks the raw path segment by segment, so an encoded
 * slash inside a parameter can never change which route is chosen. */
#include "node/node_route.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct route_def {
    const char *method;
    const char *pattern;
    pc_route_id id;
    const char *name;
} route_def;

static const route_def ROUTES[] = {
    {"POST", "/v1/tx", PC_ROUTE_TX_POST, "tx_post"},
    {"POST", "/v1/txs", PC_ROUTE_TXS_POST, "txs_post"},
    {"GET", "/v1/tx/{}", PC_ROUTE_TX_GET, "tx_get"},
    {"GET", "/v1/tx/{}/raw", PC_ROUTE_TX_RAW, "tx_raw"},
    {"POST", "/v1/records", PC_ROUTE_RECORDS_POST, "records_post"},
    {"GET", "/v1/records/{}", PC_ROUTE_RECORD_GET, "record_get"},
    {"GET", "/v1/records/{}/content", PC_ROUTE_RECORD_CONTENT, "record_content"},
    {"GET", "/v1/blocks", PC_ROUTE_BLOCKS, "blocks"},
    {"GET", "/v1/blocks/proposals", PC_ROUTE_BLOCK_PROPOSALS, "block_proposals"},
    {"GET", "/v1/blocks/{}", PC_ROUTE_BLOCK_GET, "block_get"},
    {"GET", "/v1/blocks/{}/proposal", PC_ROUTE_BLOCK_PROPOSAL, "block_proposal"},
    {"GET", "/v1/patients/{}", PC_ROUTE_PATIENT_GET, "patient_get"},
    {"GET", "/v1/patients/{}/timeline", PC_ROUTE_PATIENT_TIMELINE, "patient_timeline"},
    {"GET", "/v1/patients/{}/consents", PC_ROUTE_PATIENT_CONSENTS, "patient_consents"},
    {"GET", "/v1/patients/{}/emergencies", PC_ROUTE_PATIENT_EMERGENCIES, "patient_emergencies"},
    {"GET", "/v1/patients/{}/access-log", PC_ROUTE_PATIENT_ACCESS_LOG, "patient_access_log"},
    {"GET", "/v1/hospitals", PC_ROUTE_HOSPITALS, "hospitals"},
    {"GET", "/v1/staff", PC_ROUTE_STAFF, "staff"},
    {"GET", "/v1/status", PC_ROUTE_STATUS, "status"},
    {"GET", "/metrics", PC_ROUTE_METRICS, "metrics"},
    {"GET", "/v1/checkpoints", PC_ROUTE_CHECKPOINTS, "checkpoints"},
    {"POST", "/v1/checkpoints", PC_ROUTE_CHECKPOINT_TAKE, "checkpoint_take"},
    {"GET", "/v1/checkpoints/{}", PC_ROUTE_CHECKPOINT_GET, "checkpoint_get"},
};
#define NROUTES (sizeof ROUTES / sizeof ROUTES[0])

const char *pc_route_name(pc_route_id id)
{
    switch (id) {
    case PC_ROUTE_NOT_FOUND: return "not_found";
    case PC_ROUTE_METHOD_NOT_ALLOWED: return "method_not_allowed";
    case PC_ROUTE_STATIC: return "static";
    default: break;
    }
    for (size_t i = 0; i < NROUTES; i++)
        if (ROUTES[i].id == id)
            return ROUTES[i].name;
    return "unknown";
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode seg[0..len) into out (PC_ROUTE_PARAM_MAX + 1 bytes). Returns
 * false if empty, too long, badly encoded, or if it decodes to '/' or a
 * control character. */
static bool decode_param(const char *seg, size_t len, char *out)
{
    size_t o = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)seg[i];
        if (c == '%') {
            if (i + 2 >= len)
                return false;
            int hi = hexval(seg[i + 1]), lo = hexval(seg[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || c == '/')
            return false;
        if (o >= PC_ROUTE_PARAM_MAX)
            return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return true;
}

/* Match path against one pattern; fills params on success. */
static bool match_pattern(const char *pattern, const char *path, pc_route_match *m)
{
    const char *p = pattern, *s = path;
    size_t np = 0;
    while (*p != '\0' && *s != '\0') {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        const char *pend = strchr(p, '/');
        const char *send = strchr(s, '/');
        size_t plen = pend ? (size_t)(pend - p) : strlen(p);
        size_t slen = send ? (size_t)(send - s) : strlen(s);
        if (plen == 2 && p[0] == '{' && p[1] == '}') {
            if (np >= PC_ROUTE_MAX_PARAMS || !decode_param(s, slen, m->params[np]))
                return false;
            np++;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return false;
        }
        p += plen;
        s += slen;
    }
    if (*p != '\0' || *s != '\0')
        return false;
    m->nparams = np;
    return true;
}

/* Append a method to the Allow list unless already there. */
static void allow_add(char *allow, size_t cap, const char *method)
{
    size_t n = strlen(method);
    for (const char *a = allow; (a = strstr(a, method)) != NULL; a += n)
        if ((a == allow || a[-1] == ' ') && (a[n] == '\0' || a[n] == ','))
            return;
    size_t used = strlen(allow);
    snprintf(allow + used, cap - used, "%s%s", used ? ", " : "", method);
}

pc_route_id pc_route_find(const char *method, const char *path, pc_route_match *m)
{
    memset(m, 0, sizeof *m);
    m->id = PC_ROUTE_NOT_FOUND;
    if (method == NULL || path == NULL || path[0] != '/')
        return m->id;
    bool is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool path_known = false;
    pc_route_match tmp;
    for (size_t i = 0; i < NROUTES; i++) {
        memset(&tmp, 0, sizeof tmp);
        if (!match_pattern(ROUTES[i].pattern, path, &tmp))
            continue;
        path_known = true;
        bool getlike = strcmp(ROUTES[i].method, "GET") == 0;
        allow_add(m->allow, sizeof m->allow, ROUTES[i].method);
        if (getlike)
            allow_add(m->allow, sizeof m->allow, "HEAD");
        if (strcmp(ROUTES[i].method, method) == 0 || (getlike && is_get)) {
            memcpy(m->params, tmp.params, sizeof m->params);
            m->nparams = tmp.nparams;
            m->id = ROUTES[i].id;
            m->allow[0] = '\0';
            return m->id;
        }
    }
    if (path_known) {
        m->id = PC_ROUTE_METHOD_NOT_ALLOWED;
        return m->id;
    }
    /* Everything outside the API is the web UI's static files. */
    bool api = strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0 ||
               strncmp(path, "/metrics", 8) == 0;
    if (api)
        return m->id;
    if (!is_get) {
        snprintf(m->allow, sizeof m->allow, "GET, HEAD");
        m->id = PC_ROUTE_METHOD_NOT_ALLOWED;
        return m->id;
    }
    m->id = PC_ROUTE_STATIC;
    return m->id;
}
