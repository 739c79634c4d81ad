/* RFC 9421 HTTP Message Signatures in the single profile parcha uses for
 * signed read requests (include/parcha/httpsig.h): building the signature
 * base, signing it with Ed25519, strictly parsing and verifying the two
 * header values, and a small thread-safe replay cache of (key, nonce) pairs.
 * The parser accepts exactly the profile and nothing looser, so every header a
 * client can send either verifies against one well-defined base or is refused
 * with a sentence naming what was wrong. */
#include "parcha/httpsig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#define LABEL "sig1"
#define COMPONENTS "(\"@method\" \"@path\" \"@query\")"

/* True if s is a non-empty run of visible ASCII (0x21..0x7e) no longer than
 * max: nothing that could end a line of the signature base or smuggle a second
 * component into it. */
static bool visible_ascii(const char *s, size_t max)
{
    if (s == NULL || s[0] == '\0')
        return false;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c < 0x21 || c > 0x7e || n >= max)
            return false;
    }
    return true;
}

/* True if s is an HTTP method token of upper-case letters. */
static bool method_ok(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 16)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < 'A' || *p > 'Z')
            return false;
    return true;
}

/* True if s is a nonce: PC_HTTPSIG_NONCE_MIN..MAX base64url characters. */
static bool nonce_ok(const char *s, size_t len)
{
    if (len < PC_HTTPSIG_NONCE_MIN || len > PC_HTTPSIG_NONCE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

/* Check method, path and query; on failure sets err and returns PC_EINVAL. */
static int check_components(const char *method, const char *path,
                            const char *query, pc_error *err)
{
    if (!method_ok(method))
        return pc_error_set(err, PC_EINVAL, "request method is not an upper-case HTTP method");
    if (!visible_ascii(path, 4096) || path[0] != '/')
        return pc_error_set(err, PC_EINVAL, "request path must start with '/' and hold only visible ASCII");
    if (query != NULL && query[0] != '\0' && !visible_ascii(query, 8192))
        return pc_error_set(err, PC_EINVAL, "request query holds characters that are not visible ASCII");
    return PC_OK;
}

int pc_httpsig_base(const char *method, const char *path, const char *query,
                    const char *params, pc_buf *out)
{
    if (method == NULL || path == NULL || params == NULL || out == NULL)
        return PC_EINVAL;
    const char *q = (query == NULL) ? "" : query;
    if (q[0] == '?')
        q++;
    int rc = pc_buf_printf(out, "\"@method\": %s\n\"@path\": %s\n\"@query\": ?%s\n"
                                "\"@signature-params\": %s",
                           method, path, q, params);
    return rc;
}

int pc_httpsig_sign_nonce(const pc_keypair *kp, const char *method,
                          const char *path, const char *query, int64_t created,
                          const char *nonce, char **sig_input, char **signature,
                          pc_error *err)
{
    if (sig_input == NULL || signature == NULL || kp == NULL)
        return pc_error_set(err, PC_EINVAL, "missing argument to pc_httpsig_sign");
    *sig_input = NULL;
    *signature = NULL;
    int rc = check_components(method, path, query, err);
    if (rc != PC_OK)
        return rc;
    if (nonce == NULL || !nonce_ok(nonce, strlen(nonce)))
        return pc_error_set(err, PC_EINVAL, "nonce must be 8 to 64 base64url characters");
    if (created < 0 || created > 999999999999LL)
        return pc_error_set(err, PC_EINVAL, "created time %lld is out of range",
                            (long long)created);

    char keyid[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(keyid, sizeof keyid, kp->pk, 32,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);

    pc_buf params, base;
    pc_buf_init(&params);
    pc_buf_init(&base);
    uint8_t sig[64];
    char sigb64[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)];
    rc = pc_buf_printf(&params, COMPONENTS ";created=%lld;nonce=\"%s\";keyid=\"%s\";alg=\"ed25519\"",
                       (long long)created, nonce, keyid);
    if (rc == PC_OK)
        rc = pc_httpsig_base(method, path, query, (const char *)params.data, &base);
    if (rc != PC_OK) {
        rc = pc_error_set(err, PC_ENOMEM, "out of memory building the signature base");
        goto out;
    }
    if (crypto_sign_ed25519_detached(sig, NULL, base.data, base.len, kp->sk) != 0) {
        rc = pc_error_set(err, PC_ECRYPTO, "signing the request failed");
        goto out;
    }
    sodium_bin2base64(sigb64, sizeof sigb64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);

    size_t ilen = strlen(LABEL) + 1 + params.len + 1;
    size_t slen = strlen(LABEL) + 3 + strlen(sigb64) + 1;
    *sig_input = malloc(ilen);
    *signature = malloc(slen);
    if (*sig_input == NULL || *signature == NULL) {
        free(*sig_input);
        free(*signature);
        *sig_input = NULL;
        *signature = NULL;
        rc = pc_error_set(err, PC_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(*sig_input, ilen, LABEL "=%s", (const char *)params.data);
    snprintf(*signature, slen, LABEL "=:%s:", sigb64);
    rc = PC_OK;
out:
    pc_buf_free(&params);
    pc_buf_free(&base);
    return rc;
}

int pc_httpsig_sign(const pc_keypair *kp, const char *method, const char *path,
                    const char *query, int64_t created, char **sig_input,
                    char **signature, pc_error *err)
{
    uint8_t raw[16];
    char nonce[sodium_base64_ENCODED_LEN(16, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(nonce, sizeof nonce, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return pc_httpsig_sign_nonce(kp, method, path, query, created, nonce,
                                 sig_input, signature, err);
}

/* Parsed Signature-Input parameters. Pointers index into the header text. */
typedef struct sig_params {
    const char *params; /* the @signature-params value: after "sig1=" */
    int64_t created;
    bool has_created, has_nonce, has_keyid, has_alg;
    const char *nonce;
    size_t nonce_len;
    uint8_t keyid[32];
} sig_params;

/* Parse one `name=value` parameter at *pp (just past its ';'). Advances *pp to
 * the next ';' or the end. Returns PC_OK or PC_EINVAL with err set. */
static int parse_param(const char **pp, sig_params *sp, pc_error *err)
{
    const char *p = *pp;
    const char *name = p;
    while (*p >= 'a' && *p <= 'z')
        p++;
    size_t nlen = (size_t)(p - name);
    if (nlen == 0 || *p != '=')
        return pc_error_set(err, PC_EINVAL, "Signature-Input: expected name=value after ';'");
    p++;
    const char *val = p;
    size_t vlen;
    bool quoted = false;
    if (*p == '"') {
        quoted = true;
        val = ++p;
        while (*p != '\0' && *p != '"') {
            if (*p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                return pc_error_set(err, PC_EINVAL, "Signature-Input: bad character in a quoted value");
            p++;
        }
        if (*p != '"')
            return pc_error_set(err, PC_EINVAL, "Signature-Input: unterminated quoted value");
        vlen = (size_t)(p - val);
        p++;
    } else {
        if (*p == '-')
            p++;
        while (*p >= '0' && *p <= '9')
            p++;
        vlen = (size_t)(p - val);
    }
    if (*p != '\0' && *p != ';')
        return pc_error_set(err, PC_EINVAL, "Signature-Input: unexpected text after a parameter value");
    *pp = p;

    if (nlen == 7 && memcmp(name, "created", 7) == 0) {
        if (quoted || vlen == 0 || vlen > 15 || val[0] == '-')
            return pc_error_set(err, PC_EINVAL, "Signature-Input: created must be a non-negative integer");
        if (sp->has_created)
            return pc_error_set(err, PC_EINVAL, "Signature-Input: created given twice");
        int64_t v = 0;
        for (size_t i = 0; i < vlen; i++)
            v = v * 10 + (val[i] - '0');
        sp->created = v;
        sp->has_created = true;
    } else if (nlen == 5 && memcmp(name, "nonce", 5) == 0) {
        if (!quoted || !nonce_ok(val, vlen))
            return pc_error_set(err, PC_EINVAL, "Signature-Input: nonce must be a quoted string of 8 to 64 base64url characters");
        if (sp->has_nonce)
            return pc_error_set(err, PC_EINVAL, "Signature-Input: nonce given twice");
        sp->nonce = val;
        sp->nonce_len = vlen;
        sp->has_nonce = true;
    } else if (nlen == 5 && memcmp(name, "keyid", 5) == 0) {
        size_t binlen = 0;
        const char *end = NULL;
        if (!quoted || vlen != 43 ||
            sodium_base642bin(sp->keyid, sizeof sp->keyid, val, vlen, NULL, &binlen,
                              &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
            binlen != 32 || end != val + vlen)
            return pc_error_set(err, PC_EINVAL, "Signature-Input: keyid must be a quoted base64url Ed25519 public key (43 characters)");
        if (sp->has_keyid)
            return pc_error_set(err, PC_EINVAL, "Signature-Input: keyid given twice");
        sp->has_keyid = true;
    } else if (nlen == 3 && memcmp(name, "alg", 3) == 0) {
        if (!quoted || vlen != 7 || memcmp(val, "ed25519", 7) != 0)
            return pc_error_set(err, PC_EINVAL, "Signature-Input: alg must be \"ed25519\"");
        if (sp->has_alg)
            return pc_error_set(err, PC_EINVAL, "Signature-Input: alg given twice");
        sp->has_alg = true;
    } else {
        return pc_error_set(err, PC_EINVAL, "Signature-Input: unsupported parameter '%.*s'",
                            (int)(nlen > 32 ? 32 : nlen), name);
    }
    return PC_OK;
}

/* Parse the Signature-Input value (leading/trailing spaces allowed). */
static int parse_sig_input(const char *hdr, sig_params *sp, pc_error *err)
{
    memset(sp, 0, sizeof *sp);
    if (hdr == NULL)
        return pc_error_set(err, PC_EINVAL, "missing Signature-Input header");
    while (*hdr == ' ' || *hdr == '\t')
        hdr++;
    if (strlen(hdr) > PC_HTTPSIG_HEADER_MAX)
        return pc_error_set(err, PC_EINVAL, "Signature-Input header too long");
    if (strncmp(hdr, LABEL "=", strlen(LABEL) + 1) != 0)
        return pc_error_set(err, PC_EINVAL, "Signature-Input must hold exactly one signature labelled sig1");
    const char *p = hdr + strlen(LABEL) + 1;
    sp->params = p;
    if (strncmp(p, COMPONENTS, strlen(COMPONENTS)) != 0)
        return pc_error_set(err, PC_EINVAL, "Signature-Input must cover exactly (\"@method\" \"@path\" \"@query\")");
    p += strlen(COMPONENTS);
    while (*p == ';') {
        p++;
        int rc = parse_param(&p, sp, err);
        if (rc != PC_OK)
            return rc;
    }
    if (*p != '\0')
        return pc_error_set(err, PC_EINVAL, "Signature-Input: unexpected text after the parameters (one signature only)");
    if (!sp->has_created)
        return pc_error_set(err, PC_EINVAL, "Signature-Input: created is missing");
    if (!sp->has_nonce)
        return pc_error_set(err, PC_EINVAL, "Signature-Input: nonce is missing");
    if (!sp->has_keyid)
        return pc_error_set(err, PC_EINVAL, "Signature-Input: keyid is missing");
    return PC_OK;
}

/* Parse `sig1=:<base64>:` into sig. */
static int parse_signature(const char *hdr, uint8_t sig[64], pc_error *err)
{
    if (hdr == NULL)
        return pc_error_set(err, PC_EINVAL, "missing Signature header");
    while (*hdr == ' ' || *hdr == '\t')
        hdr++;
    size_t len = strlen(hdr);
    while (len > 0 && (hdr[len - 1] == ' ' || hdr[len - 1] == '\t'))
        len--;
    size_t pre = strlen(LABEL) + 2; /* "sig1=:" */
    if (len > PC_HTTPSIG_HEADER_MAX || len < pre + 2 ||
        strncmp(hdr, LABEL "=:", pre) != 0 || hdr[len - 1] != ':')
        return pc_error_set(err, PC_EINVAL, "Signature header must be sig1=:<base64>:");
    const char *b = hdr + pre;
    size_t blen = len - pre - 1;
    size_t binlen = 0;
    const char *end = NULL;
    if (blen != 88 ||
        sodium_base642bin(sig, 64, b, blen, NULL, &binlen, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        binlen != 64 || end != b + blen)
        return pc_error_set(err, PC_EINVAL, "Signature header does not hold a base64 64-byte signature");
    return PC_OK;
}

int pc_httpsig_verify(const char *method, const char *path, const char *query,
                      const char *sig_input_hdr, const char *signature_hdr,
                      int64_t now_s, int window_s, uint8_t keyid_out[32],
                      char nonce_out[PC_HTTPSIG_NONCE_MAX + 1], pc_error *err)
{
    sig_params sp;
    uint8_t sig[64];
    int rc = check_components(method, path, query, err);
    if (rc != PC_OK)
        return rc;
    rc = parse_sig_input(sig_input_hdr, &sp, err);
    if (rc != PC_OK)
        return rc;
    rc = parse_signature(signature_hdr, sig, err);
    if (rc != PC_OK)
        return rc;
    int64_t skew = sp.created - now_s;
    if (skew > window_s || skew < -(int64_t)window_s)
        return pc_error_set(err, PC_EDENIED,
                            "signature created %lld s %s the node's clock; allowed ±%d s",
                            (long long)(skew < 0 ? -skew : skew),
                            skew < 0 ? "before" : "after", window_s);

    /* The base covers the params exactly as sent, trailing spaces removed. */
    size_t plen = strlen(sp.params);
    while (plen > 0 && (sp.params[plen - 1] == ' ' || sp.params[plen - 1] == '\t'))
        plen--;
    pc_buf params, base;
    pc_buf_init(&params);
    pc_buf_init(&base);
    if (pc_buf_append(&params, sp.params, plen) != PC_OK ||
        pc_httpsig_base(method, path, query, (const char *)params.data, &base) != PC_OK) {
        rc = pc_error_set(err, PC_ENOMEM, "out of memory building the signature base");
        goto out;
    }
    if (crypto_sign_ed25519_verify_detached(sig, base.data, base.len, sp.keyid) != 0) {
        rc = pc_error_set(err, PC_ECRYPTO,
                          "request signature does not verify for this key, method, path and query");
        goto out;
    }
    memcpy(keyid_out, sp.keyid, 32);
    memcpy(nonce_out, sp.nonce, sp.nonce_len);
    nonce_out[sp.nonce_len] = '\0';
    rc = PC_OK;
out:
    pc_buf_free(&params);
    pc_buf_free(&base);
    return rc;
}

/* ---- replay cache ---- */

struct pc_httpsig_replay_entry {
    pc_httpsig_replay_entry *next;
    int64_t expires;
    uint8_t key[32];
    char nonce[PC_HTTPSIG_NONCE_MAX + 1];
};

int pc_httpsig_replay_init(pc_httpsig_replay *r, size_t max, int window_s)
{
    memset(r, 0, sizeof *r);
    if (max == 0 || window_s <= 0)
        return PC_EINVAL;
    size_t nb = 64;
    while (nb < max / 2 && nb < ((size_t)1 << 24))
        nb *= 2;
    r->buckets = calloc(nb, sizeof *r->buckets);
    if (r->buckets == NULL)
        return PC_ENOMEM;
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        free(r->buckets);
        r->buckets = NULL;
        return PC_ENOMEM;
    }
    r->nbuckets = nb;
    r->max = max;
    r->ttl_s = 2 * (int64_t)window_s;
    randombytes_buf(r->hashkey, sizeof r->hashkey);
    return PC_OK;
}

/* Bucket of (key, nonce): SipHash under the cache's random key. */
static size_t replay_bucket(const pc_httpsig_replay *r, const uint8_t key[32],
                            const char *nonce)
{
    uint8_t msg[32 + PC_HTTPSIG_NONCE_MAX];
    size_t nlen = strlen(nonce);
    memcpy(msg, key, 32);
    memcpy(msg + 32, nonce, nlen);
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, msg, 32 + nlen, r->hashkey);
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof h; i++)
        v = (v << 8) | h[i];
    return (size_t)(v & (r->nbuckets - 1));
}

/* Drop every expired entry. Caller holds r->mu. O(entries + buckets). */
static void replay_purge(pc_httpsig_replay *r, int64_t now_s)
{
    for (size_t b = 0; b < r->nbuckets; b++) {
        pc_httpsig_replay_entry **pe = &r->buckets[b];
        while (*pe != NULL) {
            if ((*pe)->expires <= now_s) {
                pc_httpsig_replay_entry *dead = *pe;
                *pe = dead->next;
                free(dead);
                r->count--;
            } else {
                pe = &(*pe)->next;
            }
        }
    }
    r->last_purge_s = now_s;
}

int pc_httpsig_replay_check(pc_httpsig_replay *r, const uint8_t key[32],
                            const char *nonce, int64_t now_s, pc_error *err)
{
    if (nonce == NULL || !nonce_ok(nonce, strlen(nonce)))
        return pc_error_set(err, PC_EINVAL, "nonce must be 8 to 64 base64url characters");
    pthread_mutex_lock(&r->mu);
    int rc = PC_OK;
    if (now_s > r->last_purge_s || r->count >= r->max)
        replay_purge(r, now_s);
    size_t b = replay_bucket(r, key, nonce);
    for (pc_httpsig_replay_entry *e = r->buckets[b]; e != NULL; e = e->next) {
        if (e->expires > now_s && memcmp(e->key, key, 32) == 0 &&
            strcmp(e->nonce, nonce) == 0) {
            rc = pc_error_set(err, PC_EEXIST, "this signed request was already used (nonce replayed)");
            goto out;
        }
    }
    if (r->count >= r->max) {
        rc = pc_error_set(err, PC_EUNAVAIL, "too many signed requests in the last %lld s; try again shortly",
                          (long long)r->ttl_s);
        goto out;
    }
    pc_httpsig_replay_entry *e = calloc(1, sizeof *e);
    if (e == NULL) {
        rc = pc_error_set(err, PC_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(e->key, key, 32);
    snprintf(e->nonce, sizeof e->nonce, "%s", nonce);
    e->expires = now_s + r->ttl_s;
    e->next = r->buckets[b];
    r->buckets[b] = e;
    r->count++;
out:
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void pc_httpsig_replay_free(pc_httpsig_replay *r)
{
    if (r == NULL || r->buckets == NULL)
        return;
    for (size_t b = 0; b < r->nbuckets; b++) {
        pc_httpsig_replay_entry *e = r->buckets[b];
        while (e != NULL) {
            pc_httpsig_replay_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    free(r->buckets);
    pthread_mutex_destroy(&r->mu);
    memset(r, 0, sizeof *r);
}
