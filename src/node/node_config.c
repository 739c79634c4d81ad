/* Reading parchad's settings. node.json is written by `parcha init` and
 * `parcha demo`; flags given on the command line win over it. Unknown keys in
 * node.json are ignored (newer tools may add some), but every key we use is
 * type-checked and a wrong one stops the node with a sentence naming it. */
#include "node/node_config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

const char pc_node_usage[] =
    "usage: parchad --data DIR [--listen HOST:PORT] [--threads N] [--batch-ms N]\n"
    "               [--batch-max N] [--web DIR] [--max-connections N] [--help]\n"
    "\n"
    "Runs one parcha node from the data folder DIR (made by `parcha init` or\n"
    "`parcha demo`): DIR/node.json, DIR/genesis.bin, DIR/keys/, DIR/ledger.db,\n"
    "DIR/vault.db.\n"
    "\n"
    "  --data DIR           the node's data folder (required)\n"
    "  --listen HOST:PORT   address to serve HTTP on (default: node.json's \"listen\");\n"
    "                       port 0 picks a free port, written to DIR/parchad.port\n"
    "  --threads N          signature-checking threads (default: number of cores)\n"
    "  --batch-ms N         cut a proposal once the oldest waiting transaction is\n"
    "                       N ms old (default 2); with no proposal in flight and\n"
    "                       nothing else arriving, at once\n"
    "  --batch-max N        ... or once N transactions wait (default 2000)\n"
    "  --web DIR            folder of the web UI (default: " PARCHA_WEB_DIR ")\n"
    "  --max-connections N  open HTTP connections allowed (default 1024)\n"
    "  --help               this text\n"
    "\n"
    "A consortium node's settings (etcd, peers, TLS, retention, flow control,\n"
    "checkpoints, catch-up) are keys of node.json: see docs/cluster.md.\n"
    "\n"
    "Prints \"parchad ready on http://HOST:PORT\" on stderr once serving. SIGTERM or\n"
    "SIGINT stops it cleanly: the block in flight is committed, then it exits 0.\n";

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return PC_EINVAL;
    *out = v;
    return PC_OK;
}

int pc_node_parse_listen(const char *s, char *host, size_t hostlen, int *port,
                         pc_error *err)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (s == NULL || s[0] == '\0')
        return pc_error_set(err, PC_EINVAL, "listen address is empty; use HOST:PORT");
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return pc_error_set(err, PC_EINVAL, "listen address '%s': use [IPV6]:PORT", s);
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return pc_error_set(err, PC_EINVAL, "listen address '%s' has no port; use HOST:PORT", s);
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= hostlen)
        return pc_error_set(err, PC_EINVAL, "listen address '%s' has no usable host", s);
    long p;
    if (parse_int(colon + 1, 0, 65535, &p) != PC_OK)
        return pc_error_set(err, PC_EINVAL, "listen address '%s': port must be 0 to 65535", s);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return PC_OK;
}

int pc_node_config_args(pc_node_config *c, int argc, char **argv, pc_error *err)
{
    memset(c, 0, sizeof *c);
    c->batch_ms = 2;
    c->batch_max = 2000;
    c->max_connections = 1024;
    c->conn_timeout_s = 30;
    c->peer_timeout_ms = 5000;
    c->peer_read_timeout_ms = 6000;
    c->retention_margin = 2000;
    c->retention_max_lag = 100000;
    c->retention_interval_ms = 10000;
    c->publish_interval_ms = 2000;
    c->publish_every_blocks = 100;
    c->flow_max_lag_ms = 500;
    c->flow_interval_ms = 100;
    c->flow_dead_after_ms = 2000;
    c->flow_catchup_lag_ms = 5000;
    c->ckpt_every_blocks = 100;
    c->ckpt_interval_ms = 30000;
    c->ckpt_keep = 256;
    c->catchup_batch = 200;
    snprintf(c->web_dir, sizeof c->web_dir, "%s", PARCHA_WEB_DIR);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return PC_NODE_CONFIG_HELP;
        const char *flags[] = {"--data", "--listen", "--threads", "--batch-ms",
                               "--batch-max", "--web", "--max-connections"};
        size_t f = 0;
        while (f < sizeof flags / sizeof flags[0] && strcmp(a, flags[f]) != 0)
            f++;
        if (f == sizeof flags / sizeof flags[0])
            return pc_error_set(err, PC_EINVAL, "unknown option '%s' (see --help)", a);
        if (i + 1 >= argc)
            return pc_error_set(err, PC_EINVAL, "%s needs a value (see --help)", a);
        const char *v = argv[++i];
        long n = 0;
        switch (f) {
        case 0:
            if (strlen(v) == 0 || strlen(v) >= sizeof c->data_dir - 64)
                return pc_error_set(err, PC_EINVAL, "--data: folder path is empty or too long");
            snprintf(c->data_dir, sizeof c->data_dir, "%s", v);
            break;
        case 1:
            if (pc_node_parse_listen(v, c->listen_host, sizeof c->listen_host,
                                     &c->listen_port, err) != PC_OK)
                return PC_EINVAL;
            c->listen_set = true;
            break;
        case 2:
            if (parse_int(v, 1, 256, &n) != PC_OK)
                return pc_error_set(err, PC_EINVAL, "--threads must be 1 to 256");
            c->threads = (int)n;
            break;
        case 3:
            if (parse_int(v, 0, 10000, &n) != PC_OK)
                return pc_error_set(err, PC_EINVAL, "--batch-ms must be 0 to 10000");
            c->batch_ms = (int)n;
            break;
        case 4:
            if (parse_int(v, 1, 100000, &n) != PC_OK)
                return pc_error_set(err, PC_EINVAL, "--batch-max must be 1 to 100000");
            c->batch_max = (size_t)n;
            break;
        case 5:
            if (strlen(v) == 0 || strlen(v) >= sizeof c->web_dir)
                return pc_error_set(err, PC_EINVAL, "--web: folder path is empty or too long");
            snprintf(c->web_dir, sizeof c->web_dir, "%s", v);
            break;
        default:
            if (parse_int(v, 1, 100000, &n) != PC_OK)
                return pc_error_set(err, PC_EINVAL, "--max-connections must be 1 to 100000");
            c->max_connections = (int)n;
            break;
        }
    }
    if (c->data_dir[0] == '\0')
        return pc_error_set(err, PC_EINVAL, "--data DIR is required (see --help)");
    if (c->threads == 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        c->threads = nc < 1 ? 1 : (nc > 64 ? 64 : (int)nc);
    }
    return PC_OK;
}

/* True for a hospital id: [a-z0-9-]{2,32}. */
static bool hospital_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* Borrow an optional string member; PC_EINVAL if present and not a string. */
static int opt_string(const json_t *o, const char *key, const char *where,
                      const char **out, pc_error *err)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return PC_OK;
    if (!json_is_string(v))
        return pc_error_set(err, PC_EINVAL, "node.json: %s%s must be a string", where, key);
    *out = json_string_value(v);
    return PC_OK;
}

/* An optional file path member, resolved against the data folder when
 * relative, into out (left "" when absent). */
static int opt_path(const pc_node_config *c, const json_t *o, const char *key,
                    const char *where, char out[PC_NODE_PATH_MAX], pc_error *err)
{
    const char *s = NULL;
    out[0] = '\0';
    if (opt_string(o, key, where, &s, err) != PC_OK)
        return PC_EINVAL;
    if (s == NULL)
        return PC_OK;
    if (s[0] == '\0')
        return pc_error_set(err, PC_EINVAL, "node.json: %s%s is an empty path", where, key);
    int w = s[0] == '/' ? snprintf(out, PC_NODE_PATH_MAX, "%s", s)
                        : snprintf(out, PC_NODE_PATH_MAX, "%s/%s", c->data_dir, s);
    if (w < 0 || w >= PC_NODE_PATH_MAX)
        return pc_error_set(err, PC_EINVAL, "node.json: %s%s: path too long", where, key);
    if (access(out, R_OK) != 0)
        return pc_error_set(err, PC_EINVAL, "node.json: %s%s: cannot read %s: %s", where, key,
                            out, strerror(errno));
    return PC_OK;
}

/* An optional integer member in [lo, hi] into *out (unchanged when absent). */
static int opt_int(const json_t *o, const char *key, const char *where, long long lo,
                   long long hi, long long *out, pc_error *err)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return PC_OK;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return pc_error_set(err, PC_EINVAL, "node.json: %s%s must be an integer %lld to %lld",
                            where, key, lo, hi);
    *out = (long long)json_integer_value(v);
    return PC_OK;
}

/* An optional object member; PC_EINVAL if present and not an object. */
static int opt_object(const json_t *o, const char *key, const json_t **out, pc_error *err)
{
    *out = json_object_get(o, key);
    if (*out != NULL && json_is_null(*out))
        *out = NULL;
    if (*out != NULL && !json_is_object(*out))
        return pc_error_set(err, PC_EINVAL, "node.json: \"%s\" must be an object", key);
    return PC_OK;
}

/* Read the etcd password from a file (first line; mode must not let others
 * read it). */
static int read_password_file(pc_node_config *c, const char *path, pc_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return pc_error_set(err, PC_EINVAL, "node.json: etcd.password_file: cannot read %s: %s",
                            path, strerror(errno));
    if ((st.st_mode & 077) != 0)
        return pc_error_set(err, PC_EINVAL,
                            "node.json: etcd.password_file %s is readable by others; chmod 600 it",
                            path);
    pc_buf b;
    pc_buf_init(&b);
    if (pc_file_read(path, 4096, &b, err) != PC_OK) {
        pc_buf_free(&b);
        return PC_EINVAL;
    }
    size_t n = 0;
    while (n < b.len && b.data[n] != '\n' && b.data[n] != '\r')
        n++;
    if (n == 0) {
        pc_buf_free(&b);
        return pc_error_set(err, PC_EINVAL, "node.json: etcd.password_file %s is empty", path);
    }
    c->etcd_password_buf = malloc(n + 1);
    if (c->etcd_password_buf == NULL) {
        pc_buf_free(&b);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    memcpy(c->etcd_password_buf, b.data, n);
    c->etcd_password_buf[n] = '\0';
    pc_buf_free(&b); /* wipes */
    c->etcd_password = c->etcd_password_buf;
    return PC_OK;
}

static int load_cluster(pc_node_config *c, const json_t *j, pc_error *err);

int pc_node_config_load(pc_node_config *c, pc_error *err)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/node.json", c->data_dir);
    json_error_t jerr;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        return pc_error_set(err, PC_EINVAL, "cannot read %s: %s (line %d)", path, jerr.text,
                            jerr.line);
    c->json = j;
    if (!json_is_object(j))
        return pc_error_set(err, PC_EINVAL, "%s must hold a JSON object", path);

    const char *s = NULL;
    if (opt_string(j, "network", "", &s, err) != PC_OK)
        return PC_EINVAL;
    if (s == NULL || strlen(s) == 0 || strlen(s) > PC_NET_MAX)
        return pc_error_set(err, PC_EINVAL, "node.json: \"network\" is missing or longer than %d characters",
                            PC_NET_MAX);
    snprintf(c->network, sizeof c->network, "%s", s);

    if (opt_string(j, "hospital", "", &s, err) != PC_OK)
        return PC_EINVAL;
    if (s == NULL || !hospital_id_ok(s))
        return pc_error_set(err, PC_EINVAL, "node.json: \"hospital\" is missing or not a hospital id ([a-z0-9-]{2,32})");
    snprintf(c->hospital, sizeof c->hospital, "%s", s);

    const json_t *hosted = json_object_get(j, "hosted");
    if (hosted != NULL && !json_is_array(hosted))
        return pc_error_set(err, PC_EINVAL, "node.json: \"hosted\" must be a list of hospital ids");
    snprintf(c->hosted[0], sizeof c->hosted[0], "%s", c->hospital);
    c->nhosted = 1;
    for (size_t i = 0; hosted != NULL && i < json_array_size(hosted); i++) {
        const json_t *h = json_array_get(hosted, i);
        if (!json_is_string(h) || !hospital_id_ok(json_string_value(h)))
            return pc_error_set(err, PC_EINVAL, "node.json: hosted[%zu] is not a hospital id", i);
        if (pc_node_config_hosts(c, json_string_value(h)))
            continue;
        if (c->nhosted >= PC_NODE_MAX_HOSTED)
            return pc_error_set(err, PC_EINVAL, "node.json: more than %d hosted hospitals",
                                PC_NODE_MAX_HOSTED);
        snprintf(c->hosted[c->nhosted++], sizeof c->hosted[0], "%s", json_string_value(h));
    }

    if (!c->listen_set) {
        if (opt_string(j, "listen", "", &s, err) != PC_OK)
            return PC_EINVAL;
        if (pc_node_parse_listen(s != NULL ? s : "127.0.0.1:8080", c->listen_host,
                                 sizeof c->listen_host, &c->listen_port, err) != PC_OK)
            return PC_EINVAL;
    }

    if (opt_string(j, "orderer", "", &s, err) != PC_OK)
        return PC_EINVAL;
    if (s == NULL)
        s = "solo";
    if (strcmp(s, "solo") != 0 && strcmp(s, "etcd") != 0)
        return pc_error_set(err, PC_EINVAL, "node.json: \"orderer\" must be \"solo\" or \"etcd\", not '%.32s'", s);
    snprintf(c->orderer, sizeof c->orderer, "%s", s);

    const json_t *etcd = json_object_get(j, "etcd");
    if (etcd != NULL && !json_is_null(etcd)) {
        if (!json_is_object(etcd))
            return pc_error_set(err, PC_EINVAL, "node.json: \"etcd\" must be an object");
        const json_t *eps = json_object_get(etcd, "endpoints");
        if (eps != NULL && !json_is_array(eps))
            return pc_error_set(err, PC_EINVAL, "node.json: etcd.endpoints must be a list of URLs");
        for (size_t i = 0; eps != NULL && i < json_array_size(eps); i++) {
            const json_t *e = json_array_get(eps, i);
            if (!json_is_string(e) || c->netcd >= PC_NODE_MAX_ETCD)
                return pc_error_set(err, PC_EINVAL, "node.json: etcd.endpoints[%zu] must be a URL string (at most %d)",
                                    i, PC_NODE_MAX_ETCD);
            c->etcd_endpoints[c->netcd++] = json_string_value(e);
        }
        if (opt_string(etcd, "prefix", "etcd.", &c->etcd_prefix, err) != PC_OK ||
            opt_path(c, etcd, "cacert", "etcd.", c->etcd_cacert_path, err) != PC_OK ||
            opt_path(c, etcd, "cert", "etcd.", c->etcd_cert_path, err) != PC_OK ||
            opt_path(c, etcd, "key", "etcd.", c->etcd_key_path, err) != PC_OK ||
            opt_string(etcd, "user", "etcd.", &c->etcd_user, err) != PC_OK ||
            opt_string(etcd, "password", "etcd.", &c->etcd_password, err) != PC_OK)
            return PC_EINVAL;
        c->etcd_cacert = c->etcd_cacert_path[0] ? c->etcd_cacert_path : NULL;
        c->etcd_cert = c->etcd_cert_path[0] ? c->etcd_cert_path : NULL;
        c->etcd_key = c->etcd_key_path[0] ? c->etcd_key_path : NULL;
        if ((c->etcd_cert == NULL) != (c->etcd_key == NULL))
            return pc_error_set(err, PC_EINVAL, "node.json: etcd.cert and etcd.key go together (client certificate and its key)");
        char pwfile[PC_NODE_PATH_MAX];
        if (opt_path(c, etcd, "password_file", "etcd.", pwfile, err) != PC_OK)
            return PC_EINVAL;
        if (pwfile[0] != '\0') {
            if (c->etcd_password != NULL)
                return pc_error_set(err, PC_EINVAL, "node.json: give etcd.password or etcd.password_file, not both");
            if (read_password_file(c, pwfile, err) != PC_OK)
                return PC_EINVAL;
        }
        if (c->etcd_password != NULL && c->etcd_user == NULL)
            return pc_error_set(err, PC_EINVAL, "node.json: an etcd password needs etcd.user");
        if (c->etcd_prefix != NULL) {
            size_t pl = strlen(c->etcd_prefix);
            if (pl < 3 || c->etcd_prefix[0] != '/' || strcmp(c->etcd_prefix + pl - 2, "p/") != 0)
                return pc_error_set(err, PC_EINVAL, "node.json: etcd.prefix must look like \"/parcha/<net>/p/\"");
        }
        const json_t *st = json_object_get(etcd, "stall_timeout_ms");
        if (st != NULL && (!json_is_integer(st) || json_integer_value(st) < 0 ||
                           json_integer_value(st) > 600000))
            return pc_error_set(err, PC_EINVAL, "node.json: etcd.stall_timeout_ms must be an integer 0 to 600000");
        c->etcd_stall_ms = st != NULL ? (int)json_integer_value(st) : 0;
    }
    if (strcmp(c->orderer, "etcd") == 0 && c->netcd == 0)
        return pc_error_set(err, PC_EINVAL, "node.json: orderer \"etcd\" needs etcd.endpoints");

    const json_t *peers = json_object_get(j, "peers");
    if (peers != NULL && !json_is_null(peers)) {
        if (!json_is_object(peers))
            return pc_error_set(err, PC_EINVAL, "node.json: \"peers\" must map hospital ids to base URLs");
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)peers, k, v) {
            if (!json_is_string(v))
                return pc_error_set(err, PC_EINVAL, "node.json: peers.%s must be a URL string", k);
        }
        c->peers = json_incref((json_t *)peers);
    }
    return load_cluster(c, j, err);
}

/* True for an http:// or https:// URL with something after the scheme. */
static bool url_ok(const char *u)
{
    return (strncmp(u, "http://", 7) == 0 && u[7] != '\0') ||
           (strncmp(u, "https://", 8) == 0 && u[8] != '\0');
}

/* The settings of a node in a consortium across machines: HTTPS, peers,
 * retention, checkpoints, catch-up (docs/cluster.md). */
static int load_cluster(pc_node_config *c, const json_t *j, pc_error *err)
{
    const char *k;
    json_t *v;
    if (c->peers != NULL) {
        json_object_foreach(c->peers, k, v) {
            if (!hospital_id_ok(k))
                return pc_error_set(err, PC_EINVAL, "node.json: peers: '%.40s' is not a hospital id", k);
            if (!url_ok(json_string_value(v)) || strlen(json_string_value(v)) > 200)
                return pc_error_set(err, PC_EINVAL, "node.json: peers.%s must be an http:// or https:// base URL", k);
        }
    }
    const json_t *tls = NULL, *ptls = NULL, *ret = NULL, *ck = NULL, *cu = NULL, *fl = NULL;
    if (opt_object(j, "tls", &tls, err) != PC_OK || opt_object(j, "peer_tls", &ptls, err) != PC_OK ||
        opt_object(j, "retention", &ret, err) != PC_OK || opt_object(j, "flow_control", &fl, err) != PC_OK ||
        opt_object(j, "checkpoints", &ck, err) != PC_OK || opt_object(j, "catchup", &cu, err) != PC_OK)
        return PC_EINVAL;
    if (tls != NULL) {
        if (opt_path(c, tls, "cert", "tls.", c->tls_cert, err) != PC_OK ||
            opt_path(c, tls, "key", "tls.", c->tls_key, err) != PC_OK)
            return PC_EINVAL;
        if (c->tls_cert[0] == '\0' || c->tls_key[0] == '\0')
            return pc_error_set(err, PC_EINVAL, "node.json: tls needs both \"cert\" and \"key\" (PEM files)");
    }
    if (ptls != NULL) {
        if (opt_path(c, ptls, "cacert", "peer_tls.", c->peer_cacert, err) != PC_OK ||
            opt_path(c, ptls, "cert", "peer_tls.", c->peer_cert, err) != PC_OK ||
            opt_path(c, ptls, "key", "peer_tls.", c->peer_key, err) != PC_OK)
            return PC_EINVAL;
        if ((c->peer_cert[0] == '\0') != (c->peer_key[0] == '\0'))
            return pc_error_set(err, PC_EINVAL, "node.json: peer_tls.cert and peer_tls.key go together");
    }
    long long x;
    x = c->peer_timeout_ms;
    if (opt_int(j, "peer_timeout_ms", "", 100, 600000, &x, err) != PC_OK)
        return PC_EINVAL;
    c->peer_timeout_ms = (int)x;
    x = c->peer_read_timeout_ms;
    if (opt_int(j, "peer_read_timeout_ms", "", 100, 600000, &x, err) != PC_OK)
        return PC_EINVAL;
    c->peer_read_timeout_ms = (int)x;
    if (ret != NULL) {
        long long lag = (long long)c->retention_max_lag;
        if (opt_int(ret, "max_lag", "retention.", 0, 1000000000000LL, &lag, err) != PC_OK)
            return PC_EINVAL;
        c->retention_max_lag = (uint64_t)lag;
        long long m = (long long)c->retention_margin, iv = c->retention_interval_ms,
                  pi = c->publish_interval_ms, pb = (long long)c->publish_every_blocks;
        if (opt_int(ret, "margin", "retention.", 0, 1000000000000LL, &m, err) != PC_OK ||
            opt_int(ret, "interval_ms", "retention.", 0, 86400000, &iv, err) != PC_OK ||
            opt_int(ret, "publish_interval_ms", "retention.", 100, 3600000, &pi, err) != PC_OK ||
            opt_int(ret, "publish_every_blocks", "retention.", 1, 1000000000, &pb, err) != PC_OK)
            return PC_EINVAL;
        c->retention_margin = (uint64_t)m;
        c->retention_interval_ms = (int)iv;
        c->publish_interval_ms = (int)pi;
        c->publish_every_blocks = (uint64_t)pb;
    }
    if (fl != NULL) {
        long long ml = c->flow_max_lag_ms, iv = c->flow_interval_ms, da = c->flow_dead_after_ms,
                  cl = c->flow_catchup_lag_ms;
        if (opt_int(fl, "max_lag_ms", "flow_control.", 0, 3600000, &ml, err) != PC_OK ||
            opt_int(fl, "interval_ms", "flow_control.", 10, 10000, &iv, err) != PC_OK ||
            opt_int(fl, "dead_after_ms", "flow_control.", 100, 3600000, &da, err) != PC_OK ||
            opt_int(fl, "catchup_lag_ms", "flow_control.", 0, 86400000, &cl, err) != PC_OK)
            return PC_EINVAL;
        if (ml > 0 && cl > 0 && cl <= ml)
            return pc_error_set(err, PC_EINVAL, "node.json: flow_control.catchup_lag_ms must be above max_lag_ms "
                                                "(or 0 to wait for every live node however far behind)");
        if (ml > 0 && da <= iv)
            return pc_error_set(err, PC_EINVAL, "node.json: flow_control.dead_after_ms must be above interval_ms");
        c->flow_max_lag_ms = (int)ml;
        c->flow_interval_ms = (int)iv;
        c->flow_dead_after_ms = (int)da;
        c->flow_catchup_lag_ms = (int)cl;
    }
    if (ck != NULL) {
        long long eb = (long long)c->ckpt_every_blocks, iv = c->ckpt_interval_ms,
                  keep = (long long)c->ckpt_keep;
        if (opt_int(ck, "every_blocks", "checkpoints.", 0, 1000000000, &eb, err) != PC_OK ||
            opt_int(ck, "interval_ms", "checkpoints.", 0, 86400000, &iv, err) != PC_OK ||
            opt_int(ck, "keep", "checkpoints.", 1, 100000, &keep, err) != PC_OK)
            return PC_EINVAL;
        c->ckpt_every_blocks = (uint64_t)eb;
        c->ckpt_interval_ms = (int)iv;
        c->ckpt_keep = (size_t)keep;
    }
    if (cu != NULL) {
        long long b = (long long)c->catchup_batch;
        if (opt_int(cu, "batch", "catchup.", 1, 10000, &b, err) != PC_OK)
            return PC_EINVAL;
        c->catchup_batch = (size_t)b;
    }
    return PC_OK;
}

bool pc_node_config_hosts(const pc_node_config *c, const char *id)
{
    for (size_t i = 0; i < c->nhosted; i++)
        if (strcmp(c->hosted[i], id) == 0)
            return true;
    return false;
}

void pc_node_config_free(pc_node_config *c)
{
    if (c->etcd_password_buf != NULL) {
        sodium_memzero(c->etcd_password_buf, strlen(c->etcd_password_buf));
        free(c->etcd_password_buf);
        c->etcd_password_buf = NULL;
        c->etcd_password = NULL;
    }
    json_decref(c->peers);
    json_decref(c->json);
    c->peers = NULL;
    c->json = NULL;
}
