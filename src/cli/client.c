/* HTTP calls from the parcha CLI to a parchad node, with libcurl for the
 * transport and jansson for bodies. One easy handle per client (connections
 * are reused between calls). Errors become one sentence: the node's own
 * message when it sent one, or what to check when it could not be reached. */
#include "cli/client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include "parcha/encode.h"
#include "parcha/healthid.h"
#include "parcha/httpsig.h"

/* Collects a response body, refusing more than CLI_MAX_RESPONSE bytes. */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    pc_buf *b = ud;
    size_t n = size * nmemb;
    if (pc_buf_append(b, ptr, n) != PC_OK)
        return 0;
    return n;
}

int cli_client_init(cli_client *c, const char *node_opt, pc_error *err)
{
    memset(c, 0, sizeof *c);
    const char *base = node_opt;
    if (base == NULL || base[0] == '\0')
        base = getenv("PARCHA_NODE");
    if (base == NULL || base[0] == '\0')
        base = CLI_DEFAULT_NODE;
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof c->base ||
        (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0))
        return pc_error_set(err, PC_EINVAL,
                            "node address '%s' must be an http:// or https:// URL, e.g. %s",
                            base, CLI_DEFAULT_NODE);
    memcpy(c->base, base, n);
    c->base[n] = '\0';
    static int global_done = 0;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return pc_error_set(err, PC_EIO, "could not initialise libcurl");
        global_done = 1;
    }
    c->curl = curl_easy_init();
    if (c->curl == NULL)
        return pc_error_set(err, PC_ENOMEM, "could not create an HTTP handle");
    return PC_OK;
}

void cli_client_close(cli_client *c)
{
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
    json_decref(c->error_body);
    c->error_body = NULL;
}

/* The path part the base URL adds before every request path ("" for
 * "http://host:8080"), needed because the signed @path is the full path. */
static const char *base_path(const cli_client *c)
{
    const char *p = strstr(c->base, "://");
    p = p != NULL ? p + 3 : c->base;
    const char *slash = strchr(p, '/');
    return slash != NULL ? slash : "";
}

/* Map an HTTP status to a pc_code. */
static int code_for_status(long status)
{
    switch (status) {
    case 400: return PC_EINVAL;
    case 401: return PC_ECRYPTO;
    case 403: return PC_EDENIED;
    case 404: return PC_ENOTFOUND;
    case 409: return PC_EEXIST;
    case 413: return PC_ETOOBIG;
    case 422: return PC_EINVAL;
    case 503: return PC_EUNAVAIL;
    case 504: return PC_EUNAVAIL;
    default: return PC_EIO;
    }
}

/* A sentence for a ledger verdict (docs/protocol.md), or NULL if unknown. */
static const char *verdict_sentence(const char *v)
{
    static const char *const table[][2] = {
        {"bad_signature", "a signature does not verify"},
        {"duplicate", "this exact transaction was already committed"},
        {"wrong_network", "it was made for another network"},
        {"time_window", "its time is too far from the ledger's clock (check this computer's clock)"},
        {"malformed", "it is malformed"},
        {"unknown_signer", "a signer is not known to the ledger"},
        {"not_authorised", "the signer is not allowed to do this"},
        {"hospital_inactive", "the hospital is not an active member"},
        {"staff_inactive", "the staff member is revoked or their hospital suspended"},
        {"unknown_patient", "no such patient is registered"},
        {"unknown_hospital", "no such hospital is a member"},
        {"unknown_staff", "no such staff member is enrolled"},
        {"already_exists", "it already exists (already registered, enrolled or admitted)"},
        {"unknown_grant", "no such consent grant"},
        {"not_owner", "the grant belongs to another patient"},
        {"already_revoked", "the grant is already revoked"},
        {"expired", "its expiry is already past"},
        {"too_long", "the window is longer than the network's policy allows"},
        {"genesis_only", "it is allowed only in the genesis block"},
        {"no_majority", "more than half of the active hospitals must sign"},
        {"unknown_record", "a record it names does not exist"},
    };
    for (size_t i = 0; v != NULL && i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(v, table[i][0]) == 0)
            return table[i][1];
    }
    return NULL;
}

/* Perform one request. method "GET" or "POST"; body NULL for GET; extra
 * headers (NULL-terminated list, may be NULL). Parses a JSON answer into
 * *out on 2xx; on other statuses sets err from the node's error object. */
static int do_request(cli_client *c, const char *method, const char *path,
                      const char *body, size_t bodylen, const char *const *hdrs,
                      json_t **out, pc_error *err)
{
    CURL *h = c->curl;
    pc_buf url, resp;
    struct curl_slist *list = NULL;
    int rc = PC_OK;
    *out = NULL;
    c->status = 0;
    c->code[0] = '\0';
    json_decref(c->error_body);
    c->error_body = NULL;
    pc_buf_init(&url);
    pc_buf_init(&resp);
    resp.cap_limit = CLI_MAX_RESPONSE;
    if (pc_buf_printf(&url, "%s%s", c->base, path) != PC_OK)
        return pc_error_set(err, PC_ENOMEM, "out of memory");

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, (const char *)url.data);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "parcha-cli/1");
    /* Nodes on HTTPS with the consortium's own CA (docs/security.md). */
    const char *cacert = getenv("PARCHA_CACERT");
    if (cacert != NULL && cacert[0] != '\0')
        curl_easy_setopt(h, CURLOPT_CAINFO, cacert);
    list = curl_slist_append(list, "Accept: application/json");
    list = curl_slist_append(list, "Expect:");
    if (body != NULL) {
        list = curl_slist_append(list, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    for (size_t i = 0; hdrs != NULL && hdrs[i] != NULL; i++)
        list = curl_slist_append(list, hdrs[i]);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);

    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
            rc = pc_error_set(err, PC_EUNAVAIL,
                              "cannot reach the parcha node at %s: is parchad running? "
                              "(set --node or PARCHA_NODE)", c->base);
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            rc = pc_error_set(err, PC_EUNAVAIL, "the parcha node at %s did not answer in time",
                              c->base);
        else if (cc == CURLE_WRITE_ERROR)
            rc = pc_error_set(err, PC_ETOOBIG, "the answer from %s is larger than %d MiB",
                              c->base, CLI_MAX_RESPONSE >> 20);
        else
            rc = pc_error_set(err, PC_EIO, "request to %s failed: %s", c->base,
                              curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
    json_t *j = NULL;
    if (resp.len > 0) {
        json_error_t je;
        j = json_loadb((const char *)resp.data, resp.len, 0, &je);
    }
    if (c->status >= 200 && c->status < 300) {
        if (j == NULL) {
            rc = pc_error_set(err, PC_EIO, "the node at %s sent an answer that is not JSON",
                              c->base);
            goto out;
        }
        *out = j;
        goto out;
    }
    const json_t *e = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (code != NULL)
        snprintf(c->code, sizeof c->code, "%s", code);
    c->error_body = j;
    if (c->status == 422) {
        const char *verdict = json_string_value(json_object_get(j, "verdict"));
        if (verdict == NULL)
            verdict = json_string_value(json_object_get(e, "verdict"));
        const char *why = verdict_sentence(verdict);
        if (why != NULL)
            rc = pc_error_set(err, PC_EINVAL, "the ledger refused the transaction: %s (%s)", why,
                              verdict);
        else
            rc = pc_error_set(err, PC_EINVAL, "the ledger refused the transaction%s%s",
                              msg ? ": " : "", msg ? msg : "");
    } else if (msg != NULL) {
        rc = pc_error_set(err, code_for_status(c->status), "%s", msg);
    } else {
        rc = pc_error_set(err, code_for_status(c->status),
                          "the node answered HTTP %ld for %s %s", c->status, method, path);
    }
out:
    curl_slist_free_all(list);
    pc_buf_free(&url);
    pc_buf_free(&resp);
    return rc;
}

int cli_get(cli_client *c, const char *path, json_t **out, pc_error *err)
{
    return do_request(c, "GET", path, NULL, 0, NULL, out, err);
}

int cli_post(cli_client *c, const char *path, const char *body, size_t len,
             json_t **out, pc_error *err)
{
    return do_request(c, "POST", path, body, len, NULL, out, err);
}

int cli_get_signed(cli_client *c, const char *path, const pc_keypair *kp,
                   json_t **out, pc_error *err)
{
    pc_buf full;
    char *sig_input = NULL, *signature = NULL;
    char *h1 = NULL, *h2 = NULL;
    int rc;
    *out = NULL;
    pc_buf_init(&full);
    if (pc_buf_printf(&full, "%s%s", base_path(c), path) != PC_OK)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    char *q = strchr((char *)full.data, '?');
    const char *query = NULL;
    if (q != NULL) {
        *q = '\0';
        query = q + 1;
    }
    rc = pc_httpsig_sign(kp, "GET", (const char *)full.data, query,
                         (int64_t)time(NULL), &sig_input, &signature, err);
    if (rc != PC_OK)
        goto out;
    size_t n1 = strlen(sig_input) + 32, n2 = strlen(signature) + 32;
    h1 = malloc(n1);
    h2 = malloc(n2);
    if (h1 == NULL || h2 == NULL) {
        rc = pc_error_set(err, PC_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(h1, n1, "Signature-Input: %s", sig_input);
    snprintf(h2, n2, "Signature: %s", signature);
    const char *hdrs[] = {h1, h2, NULL};
    rc = do_request(c, "GET", path, NULL, 0, hdrs, out, err);
out:
    free(h1);
    free(h2);
    free(sig_input);
    free(signature);
    pc_buf_free(&full);
    return rc;
}

int cli_submit_tx(cli_client *c, const pc_tx *tx, json_t **out, pc_error *err)
{
    size_t len = 0;
    char *text = pc_tx_to_json(tx, &len);
    json_t *reply = NULL;
    if (text == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    int rc = cli_post(c, "/v1/tx", text, len, &reply, err);
    free(text);
    if (rc != PC_OK)
        return rc;
    if (out != NULL)
        *out = reply;
    else
        json_decref(reply);
    return PC_OK;
}

int cli_network(cli_client *c, char net[PC_NET_MAX + 1], pc_error *err)
{
    json_t *st = NULL;
    int rc = cli_get(c, "/v1/status", &st, err);
    if (rc != PC_OK)
        return rc;
    const char *n = json_string_value(json_object_get(st, "network"));
    if (n == NULL || strlen(n) > PC_NET_MAX) {
        json_decref(st);
        return pc_error_set(err, PC_EIO, "the node's status does not name its network");
    }
    memcpy(net, n, strlen(n) + 1);
    json_decref(st);
    return PC_OK;
}

/* A list answer may be a bare array or an object holding it under `name`. */
static const json_t *as_array(const json_t *j, const char *name)
{
    if (json_is_array(j))
        return j;
    const json_t *a = json_object_get(j, name);
    return json_is_array(a) ? a : NULL;
}

int cli_hospital_lookup(cli_client *c, const char *id, uint8_t key[32], char *name,
                        size_t namelen, pc_error *err)
{
    json_t *all = NULL;
    int rc = cli_get(c, "/v1/hospitals", &all, err);
    if (rc != PC_OK)
        return rc;
    const json_t *arr = as_array(all, "hospitals");
    size_t i;
    const json_t *h;
    rc = pc_error_set(err, PC_ENOTFOUND, "hospital '%s' is not a member of this network", id);
    json_array_foreach(arr, i, h) {
        const char *hid = json_string_value(json_object_get(h, "id"));
        if (hid == NULL || strcmp(hid, id) != 0)
            continue;
        const char *k = json_string_value(json_object_get(h, "key"));
        if (k == NULL || pc_b64_decode_exact(key, 32, k) != 0) {
            rc = pc_error_set(err, PC_EIO, "the node sent a bad key for hospital '%s'", id);
            break;
        }
        if (name != NULL && namelen > 0) {
            const char *nm = json_string_value(json_object_get(h, "name"));
            snprintf(name, namelen, "%s", nm != NULL ? nm : id);
        }
        rc = PC_OK;
        pc_error_clear(err);
        break;
    }
    json_decref(all);
    return rc;
}

int cli_staff_lookup(cli_client *c, const uint8_t key[32], char hospital[33],
                     char *role, size_t rolelen, char *name, size_t namelen,
                     pc_error *err)
{
    json_t *all = NULL;
    char kb[64];
    pc_b64_encode(kb, sizeof kb, key, 32);
    int rc = cli_get(c, "/v1/staff", &all, err);
    if (rc != PC_OK)
        return rc;
    const json_t *arr = as_array(all, "staff");
    size_t i;
    const json_t *s;
    rc = pc_error_set(err, PC_ENOTFOUND,
                      "key %.12s... is not enrolled as staff of any hospital", kb);
    json_array_foreach(arr, i, s) {
        const char *k = json_string_value(json_object_get(s, "key"));
        if (k == NULL || strcmp(k, kb) != 0)
            continue;
        const char *hid = json_string_value(json_object_get(s, "hospital"));
        if (hid == NULL || strlen(hid) > 32) {
            rc = pc_error_set(err, PC_EIO, "the node sent a staff entry without a hospital");
            break;
        }
        memcpy(hospital, hid, strlen(hid) + 1);
        if (role != NULL && rolelen > 0) {
            const char *r = json_string_value(json_object_get(s, "role"));
            snprintf(role, rolelen, "%s", r != NULL ? r : "");
        }
        if (name != NULL && namelen > 0) {
            const char *nm = json_string_value(json_object_get(s, "name"));
            snprintf(name, namelen, "%s", nm != NULL ? nm : "");
        }
        const char *status = json_string_value(json_object_get(s, "status"));
        if (status != NULL && strcmp(status, "active") != 0) {
            rc = pc_error_set(err, PC_EDENIED, "this staff key is %s at %s", status, hid);
            break;
        }
        rc = PC_OK;
        pc_error_clear(err);
        break;
    }
    json_decref(all);
    return rc;
}

int cli_patient_key(cli_client *c, const char *health_id, uint8_t key[32],
                    char canon_out[17], pc_error *err)
{
    char canon[PC_HEALTHID_LEN + 1];
    int rc = pc_healthid_parse(health_id, canon, err);
    if (rc != PC_OK)
        return rc;
    char path[64];
    snprintf(path, sizeof path, "/v1/patients/%s", canon);
    json_t *p = NULL;
    rc = cli_get(c, path, &p, err);
    if (rc == PC_ENOTFOUND)
        return pc_error_set(err, PC_ENOTFOUND, "no patient with Health ID %s is registered",
                            canon);
    if (rc != PC_OK)
        return rc;
    const char *k = json_string_value(json_object_get(p, "key"));
    if (k == NULL || pc_b64_decode_exact(key, 32, k) != 0) {
        json_decref(p);
        return pc_error_set(err, PC_EIO, "the node sent a bad key for patient %s", canon);
    }
    json_decref(p);
    if (canon_out != NULL)
        memcpy(canon_out, canon, sizeof canon);
    return PC_OK;
}
