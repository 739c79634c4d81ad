/* parcha devnet: a whole consortium across "machines" on one computer, for
 * development and the cluster tests. `up` starts N etcd members (one
 * cluster) and N parchad (one per hospital, each with its own data folder,
 * key and vault, ordering through etcd), makes the genesis with N founding
 * hospitals, waits until everything answers and may load the demo's data
 * through the nodes. Everything it started is written to DIR/devnet.json
 * (URLs, pids, folders, key and passphrase files, and the exact command line
 * of each process), so `down`, `status`, `start` and `stop` act on exactly
 * those processes: a pid is only signalled while /proc/<pid>/cmdline is still
 * the command we started, with a path inside DIR.
 *
 * Layout of DIR: devnet.json; etcd/<id>/ (member data) and etcd/<id>.log;
 * nodes/<id>/ (a node's data folder, parchad.log inside); demo-keys/. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <curl/curl.h>
#include <sodium.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/demo.h"
#include "cli/build.h"
#include "cli/keys.h"
#include "cli/multipost.h"
#include "cli/offline.h"
#include "parcha/encode.h"

static const char HELP[] =
    "usage: parcha devnet up     --dir DIR [--hospitals N] [--base-port P] [--demo]\n"
    "                            [--patients N] [--etcd-auth] [--network NAME]\n"
    "                            [--parchad PATH] [--etcd PATH] [--checkpoint-every B]\n"
    "                            [--json]\n"
    "       parcha devnet down   --dir DIR [--purge]\n"
    "       parcha devnet status --dir DIR [--json]\n"
    "       parcha devnet start  --dir DIR (--node ID | --etcd ID)\n"
    "       parcha devnet stop   --dir DIR (--node ID | --etcd ID) [--kill]\n"
    "       parcha devnet load   --dir DIR [--node ID ...] [--count N] [--seconds S]\n"
    "                            [--concurrency C] [--acked FILE] [--cacert F] [--json]\n"
    "\n"
    "A local consortium for development and tests: N hospitals, each with its\n"
    "own etcd member and its own parchad on 127.0.0.1, ordering blocks through\n"
    "one etcd cluster exactly as hospitals on separate machines do.\n"
    "\n"
    "up      starts N etcd members (--pre-vote, watch progress every 500 ms) and\n"
    "        N parchad (default 3 of each), each hospital with its own data\n"
    "        folder DIR/nodes/<id>/ (its key, vault.db, ledger.db), the genesis\n"
    "        signed by all N founders, etcd endpoints (its own member first) and\n"
    "        the other nodes as peers. Ports are free ones on 127.0.0.1 unless\n"
    "        --base-port P gives P, P+1, ... (3 per hospital). Waits until every\n"
    "        member is healthy and every node serves. --demo loads the demo's\n"
    "        staff, patients, records, consents and emergency through the nodes\n"
    "        (needs N >= 3; --patients, default 20). --etcd-auth turns on etcd\n"
    "        authentication (JWT tokens) with a root user and one user and role\n"
    "        per hospital that may write only under its own key prefix.\n"
    "        --checkpoint-every B: nodes sign a checkpoint every B blocks\n"
    "        (default 10, so audits have checkpoints quickly; parchad's own\n"
    "        default is 100; 0 = only timed ones).\n"
    "        Writes DIR/devnet.json with every URL, pid, folder, key file and\n"
    "        passphrase file. DIR must be new or empty; on a DIR that already\n"
    "        holds a stopped devnet, up starts its processes again (data kept).\n"
    "down    stops exactly the processes up started (parchad first, then etcd;\n"
    "        SIGTERM, SIGKILL after 20 s). Data stays unless --purge, which\n"
    "        removes what up made and the folder.\n"
    "status  each member's and node's state, height and head; exit 1 if\n"
    "        anything is down.\n"
    "start   starts one stopped process again (same command line), waits until\n"
    "        it answers.\n"
    "stop    stops one process (SIGTERM and wait; --kill sends SIGKILL).\n"
    "load    writes at the nodes (all, or each --node) concurrently: staff.enroll\n"
    "        transactions signed by each node's own hospital key, C in flight per\n"
    "        node (default 4), each waiting for its commit, until N per node\n"
    "        (default 100) or S seconds. No retries: every 200 is appended as\n"
    "        \"<txid> <hospital>\" to FILE (--acked), so a test can check that no\n"
    "        acknowledged transaction is lost. Prints what was acknowledged,\n"
    "        refused (by status) and left without an answer; exit 1 if nothing\n"
    "        was acknowledged. --cacert F trusts the CA in F for https nodes.\n"
    "\n"
    "examples:\n"
    "  parcha devnet up --dir ./devnet --hospitals 3 --demo\n"
    "  parcha devnet status --dir ./devnet\n"
    "  parcha devnet stop --dir ./devnet --node sunrise-clinic --kill\n"
    "  parcha devnet start --dir ./devnet --node sunrise-clinic\n"
    "  parcha devnet down --dir ./devnet --purge\n";

static const cli_optspec UP_OPTS[] = {
    {"dir", true, false},       {"hospitals", true, false}, {"base-port", true, false},
    {"demo", false, false},     {"patients", true, false},  {"etcd-auth", false, false},
    {"network", true, false},   {"parchad", true, false},   {"etcd", true, false},
    {"checkpoint-every", true, false},
    {NULL, false, false}};
static const cli_optspec DOWN_OPTS[] = {
    {"dir", true, false}, {"purge", false, false}, {NULL, false, false}};
static const cli_optspec STATUS_OPTS[] = {{"dir", true, false}, {NULL, false, false}};
static const cli_optspec LOAD_OPTS[] = {
    {"dir", true, false},   {"node", true, true},    {"count", true, false},
    {"seconds", true, false}, {"concurrency", true, false}, {"acked", true, false},
    {"cacert", true, false}, {NULL, false, false}};
static const cli_optspec ONE_OPTS[] = {{"dir", true, false}, {"node", true, false},
                                       {"etcd", true, false}, {"kill", false, false},
                                       {NULL, false, false}};

#define DN_MAX CLI_MAX_FOUNDERS
#define DN_ETCD_READY_MS 30000
#define DN_NODE_READY_MS 60000
#define DN_STOP_MS 20000
#define DN_CONVERGE_MS 60000

/* ---- small helpers ---- */

/* Progress on stderr. */
static void say(const char *fmt, ...) PC_PRINTF(1, 2);
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("parcha devnet: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Sleep ms milliseconds between polls. */
static void nap(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A string member of o, or "" (never NULL). */
static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* An executable for name: the option's value when given; else, for
 * parchad, the one beside this parcha; else the first on $PATH; else
 * /usr/bin/name. Absolute path into out. */
static int find_program(const char *name, const char *given, char *out, size_t outlen,
                        pc_error *err)
{
    char buf[PATH_MAX];
    if (given != NULL) {
        if (realpath(given, buf) == NULL || access(buf, X_OK) != 0)
            return pc_error_set(err, PC_ENOTFOUND, "%s is not an executable program", given);
        if (!cli_pathf(out, outlen, "%s", buf))
            return pc_error_set(err, PC_EINVAL, "path of %s is too long", given);
        return PC_OK;
    }
    if (strcmp(name, "parchad") == 0) {
        ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
        if (n > 0) {
            buf[n] = '\0';
            char *slash = strrchr(buf, '/');
            if (slash != NULL) {
                *slash = '\0';
                if (cli_pathf(out, outlen, "%s/parchad", buf) && access(out, X_OK) == 0)
                    return PC_OK;
            }
        }
    }
    const char *path = getenv("PATH");
    while (path != NULL && *path != '\0') {
        const char *colon = strchr(path, ':');
        size_t len = colon != NULL ? (size_t)(colon - path) : strlen(path);
        if (len > 0 && len < sizeof buf - 64) {
            memcpy(buf, path, len);
            buf[len] = '\0';
            if (buf[0] == '/' && cli_pathf(out, outlen, "%s/%s", buf, name) &&
                access(out, X_OK) == 0)
                return PC_OK;
        }
        path = colon != NULL ? colon + 1 : NULL;
    }
    if (cli_pathf(out, outlen, "/usr/bin/%s", name) && access(out, X_OK) == 0)
        return PC_OK;
    if (strcmp(name, "etcd") == 0)
        return pc_error_set(err, PC_ENOTFOUND,
                            "etcd is not installed (apt-get install etcd-server, or --etcd PATH)");
    return pc_error_set(err, PC_ENOTFOUND, "cannot find %s (give --%s PATH)", name, name);
}

/* n distinct TCP ports on 127.0.0.1: from base on (each checked free) when
 * base > 0, else chosen by the kernel (all sockets stay open until every
 * port is known, so they differ). A port may still be taken by someone else
 * before our process binds it; the start-up then fails with a clear log. */
static int pick_ports(int *ports, size_t n, long base, pc_error *err)
{
    int fds[3 * DN_MAX];
    int rc = PC_OK;
    for (size_t i = 0; i < n; i++)
        fds[i] = -1;
    for (size_t i = 0; i < n && rc == PC_OK; i++) {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons((uint16_t)(base > 0 ? base + (long)i : 0));
        socklen_t al = sizeof a;
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(fds[i], (struct sockaddr *)&a, &al) != 0) {
            if (base > 0)
                rc = pc_error_set(err, PC_EEXIST, "port %ld on 127.0.0.1 is in use; pick another --base-port",
                                  base + (long)i);
            else
                rc = pc_error_set(err, PC_EIO, "cannot find a free port on 127.0.0.1: %s",
                                  strerror(errno));
        } else {
            ports[i] = ntohs(a.sin_port);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return rc;
}

/* ---- processes ---- */

/* Start argv[0] (an absolute path) in a session of its own, stdin from
 * /dev/null, stdout and stderr appended to logpath, so it outlives this
 * command. *pid receives its pid. */
static int spawn(char *const argv[], const char *logpath, pid_t *pid, pc_error *err)
{
    int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return pc_error_set(err, PC_EIO, "cannot open %s: %s", logpath, strerror(errno));
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nul < 0) {
        close(fd);
        return pc_error_set(err, PC_EIO, "cannot open /dev/null: %s", strerror(errno));
    }
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        /* Only async-signal-safe calls until exec. */
        setsid();
        dup2(nul, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        for (int i = 3; i < 1024; i++)
            close(i);
        execv(argv[0], argv);
        _exit(127);
    }
    int saved = errno;
    close(fd);
    close(nul);
    if (p < 0)
        return pc_error_set(err, PC_EIO, "cannot start %s: %s", argv[0], strerror(saved));
    *pid = p;
    return PC_OK;
}

/* Is pid still the process described by entry (its "argv")? True only if
 * it is alive (not a zombie), its first word is the same program and one of
 * its words lies inside dir; or if it is a living child of this command. A
 * child of ours that ended is reaped here. */
static bool proc_is_ours(pid_t pid, const json_t *entry, const char *dir)
{
    if (pid <= 0)
        return false;
    /* A child of this very command (started by up or start) is judged by
     * waitpid alone: between fork and exec its cmdline is still ours. */
    int st;
    pid_t child = waitpid(pid, &st, WNOHANG);
    if (child == pid)
        return false;
    if (child == 0)
        return true;
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')');
    if (close_paren == NULL || close_paren[1] != ' ' || close_paren[2] == 'Z' ||
        close_paren[2] == 'X')
        return false;
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    if (n == 0)
        return false;
    buf[n] = '\0';
    const char *prog = json_string_value(json_array_get(json_object_get(entry, "argv"), 0));
    if (prog == NULL || strcmp(buf, prog) != 0)
        return false;
    size_t dl = strlen(dir);
    for (size_t off = 0; off < n; off += strlen(buf + off) + 1) {
        const char *w = buf + off;
        const char *at = strstr(w, dir);
        if (at != NULL && (at[dl] == '/' || at[dl] == '\0' || at[dl] == ','))
            return true;
    }
    return false;
}

/* The pid recorded in entry (0 if none). */
static pid_t entry_pid(const json_t *entry)
{
    return (pid_t)json_integer_value(json_object_get(entry, "pid"));
}

/* Start the process of entry with its recorded argv and log; records the
 * new pid in entry. */
static int start_entry(json_t *entry, pc_error *err)
{
    const json_t *av = json_object_get(entry, "argv");
    size_t n = json_array_size(av);
    if (n == 0 || n > 64)
        return pc_error_set(err, PC_EINVAL, "devnet.json: a process has no command line");
    char *argv[65];
    for (size_t i = 0; i < n; i++) {
        argv[i] = (char *)json_string_value(json_array_get(av, i));
        if (argv[i] == NULL)
            return pc_error_set(err, PC_EINVAL, "devnet.json: a command line holds a non-string");
    }
    argv[n] = NULL;
    pid_t pid = 0;
    int rc = spawn(argv, jstr(entry, "log"), &pid, err);
    if (rc == PC_OK)
        json_object_set_new(entry, "pid", json_integer(pid));
    return rc;
}

/* Stop entry's process if it is still ours: sig (SIGTERM or SIGKILL), then
 * wait for it to end; after DN_STOP_MS a SIGTERM is followed by SIGKILL.
 * *was_running (may be NULL) tells whether there was anything to stop. */
static int stop_entry(const json_t *entry, const char *dir, int sig, bool *was_running,
                      pc_error *err)
{
    pid_t pid = entry_pid(entry);
    if (was_running != NULL)
        *was_running = false;
    if (!proc_is_ours(pid, entry, dir))
        return PC_OK;
    if (was_running != NULL)
        *was_running = true;
    if (kill(pid, sig) != 0 && errno != ESRCH)
        return pc_error_set(err, PC_EIO, "cannot signal pid %ld: %s", (long)pid, strerror(errno));
    int64_t deadline = pc_mono_ms() + DN_STOP_MS;
    bool killed = sig == SIGKILL;
    while (proc_is_ours(pid, entry, dir)) {
        if (!killed && pc_mono_ms() > deadline) {
            say("pid %ld did not stop within %d s; sending SIGKILL", (long)pid, DN_STOP_MS / 1000);
            kill(pid, SIGKILL);
            killed = true;
            deadline = pc_mono_ms() + DN_STOP_MS;
        } else if (killed && pc_mono_ms() > deadline) {
            return pc_error_set(err, PC_EIO, "pid %ld does not end even after SIGKILL", (long)pid);
        }
        nap(20);
    }
    return PC_OK;
}

/* ---- HTTP to etcd and the nodes ---- */

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    return pc_buf_append(ud, ptr, size * nmemb) == PC_OK ? size * nmemb : 0;
}

/* One request (POST when body is not NULL) with a 3 s limit. Returns the
 * HTTP status, 0 when there was no answer; *out (may be NULL) receives the
 * parsed JSON body when there is one. token: etcd auth token or NULL. */
static long http_json(const char *url, const char *body, const char *token, json_t **out)
{
    if (out != NULL)
        *out = NULL;
    CURL *h = curl_easy_init();
    if (h == NULL)
        return 0;
    pc_buf resp;
    pc_buf_init(&resp);
    resp.cap_limit = 8 << 20;
    struct curl_slist *hd = curl_slist_append(NULL, "Expect:");
    char auth[2048];
    if (token != NULL && cli_pathf(auth, sizeof auth, "Authorization: %s", token))
        hd = curl_slist_append(hd, auth);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (body != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 0 && out != NULL && resp.len > 0) {
        json_error_t je;
        *out = json_loadb((const char *)resp.data, resp.len, 0, &je);
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    pc_buf_free(&resp);
    return status;
}

/* True when the etcd member at client_url says it is healthy. */
static bool etcd_healthy(const char *client_url)
{
    char url[300];
    json_t *j = NULL;
    if (!cli_pathf(url, sizeof url, "%s/health", client_url))
        return false;
    long st = http_json(url, NULL, NULL, &j);
    bool ok = st == 200 && strcmp(jstr(j, "health"), "true") == 0;
    json_decref(j);
    return ok;
}

/* The member's own id and the leader's id from /v3/maintenance/status, into
 * member and leader (both "" when unknown). */
static void etcd_status(const char *client_url, const char *token, char member[32],
                        char leader[32])
{
    char url[300];
    json_t *j = NULL;
    member[0] = leader[0] = '\0';
    if (!cli_pathf(url, sizeof url, "%s/v3/maintenance/status", client_url))
        return;
    if (http_json(url, "{}", token, &j) == 200) {
        snprintf(member, 32, "%s", jstr(json_object_get(j, "header"), "member_id"));
        snprintf(leader, 32, "%s", jstr(j, "leader"));
    }
    json_decref(j);
}

/* GET base/v1/status; *out receives it on 200. */
static bool node_status(const char *base, json_t **out)
{
    char url[300];
    *out = NULL;
    if (!cli_pathf(url, sizeof url, "%s/v1/status", base))
        return false;
    long st = http_json(url, NULL, NULL, out);
    if (st != 200) {
        json_decref(*out);
        *out = NULL;
    }
    return *out != NULL;
}

/* ---- devnet.json ---- */

/* Read DIR/devnet.json. */
static int load_state(const char *dir, json_t **out, pc_error *err)
{
    char path[1100];
    if (!cli_pathf(path, sizeof path, "%s/devnet.json", dir))
        return pc_error_set(err, PC_EINVAL, "folder path is too long");
    if (!cli_path_exists(path))
        return pc_error_set(err, PC_ENOTFOUND, "%s holds no devnet (no devnet.json); start one with parcha devnet up --dir %s",
                            dir, dir);
    int rc = cli_read_json_file(path, 1 << 20, out, err);
    if (rc != PC_OK)
        return rc;
    if (!json_is_array(json_object_get(*out, "etcd")) ||
        !json_is_array(json_object_get(*out, "nodes"))) {
        json_decref(*out);
        *out = NULL;
        return pc_error_set(err, PC_EINVAL, "%s is not a devnet description", path);
    }
    return PC_OK;
}

/* Write DIR/devnet.json atomically (mode 0600: it names passphrase files). */
static int save_state(const char *dir, const json_t *state, pc_error *err)
{
    char path[1100];
    if (!cli_pathf(path, sizeof path, "%s/devnet.json", dir))
        return pc_error_set(err, PC_EINVAL, "folder path is too long");
    char *text = json_dumps(state, JSON_INDENT(2));
    if (text == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory writing devnet.json");
    size_t len = strlen(text);
    int rc = PC_OK;
    char *withnl = malloc(len + 2);
    if (withnl == NULL) {
        rc = pc_error_set(err, PC_ENOMEM, "out of memory writing devnet.json");
    } else {
        memcpy(withnl, text, len);
        withnl[len] = '\n';
        rc = pc_file_write(path, withnl, len + 1, 0600, err);
    }
    free(withnl);
    free(text);
    return rc;
}

/* The DIR given on the command line made absolute (it must exist). */
static int abs_dir(const char *given, char out[PATH_MAX], pc_error *err)
{
    if (realpath(given, out) == NULL)
        return pc_error_set(err, PC_ENOTFOUND, "cannot open folder %s: %s", given,
                            strerror(errno));
    return PC_OK;
}

/* The entry in list (the state's "etcd" or "nodes") whose key equals id. */
static json_t *find_entry(json_t *list, const char *key, const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        if (strcmp(jstr(e, key), id) == 0)
            return e;
    }
    return NULL;
}

/* ---- readiness ---- */

/* Wait until every etcd member is healthy (DN_ETCD_READY_MS), failing early
 * when one of the processes ends. */
static int wait_etcd(json_t *members, const char *dir, pc_error *err)
{
    int64_t start = pc_mono_ms();
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m) {
        for (;;) {
            if (etcd_healthy(jstr(m, "client_url")))
                break;
            if (!proc_is_ours(entry_pid(m), m, dir))
                return pc_error_set(err, PC_EIO, "etcd member %s ended during start; see %s",
                                    jstr(m, "id"), jstr(m, "log"));
            if (pc_mono_ms() - start > DN_ETCD_READY_MS)
                return pc_error_set(err, PC_EUNAVAIL,
                                    "etcd member %s not healthy within %d s; see %s",
                                    jstr(m, "id"), DN_ETCD_READY_MS / 1000, jstr(m, "log"));
            nap(50);
        }
    }
    say("etcd cluster healthy after %.1f s", (double)(pc_mono_ms() - start) / 1000.0);
    return PC_OK;
}

/* Wait until the node of entry answers GET /v1/status. */
static int wait_node(json_t *node, const char *dir, int64_t start, pc_error *err)
{
    for (;;) {
        json_t *st = NULL;
        if (node_status(jstr(node, "url"), &st)) {
            json_decref(st);
            return PC_OK;
        }
        if (!proc_is_ours(entry_pid(node), node, dir))
            return pc_error_set(err, PC_EIO, "parchad for %s ended during start; see %s",
                                jstr(node, "hospital"), jstr(node, "log"));
        if (pc_mono_ms() - start > DN_NODE_READY_MS)
            return pc_error_set(err, PC_EUNAVAIL, "parchad for %s not serving within %d s; see %s",
                                jstr(node, "hospital"), DN_NODE_READY_MS / 1000,
                                jstr(node, "log"));
        nap(50);
    }
}

/* Wait until every node reports the same height and head; *height gets it. */
static int wait_converged(json_t *nodes, uint64_t *height, pc_error *err)
{
    int64_t start = pc_mono_ms();
    for (;;) {
        char head[65] = "";
        bool same = true;
        uint64_t h = 0;
        size_t i;
        json_t *n;
        json_array_foreach(nodes, i, n) {
            json_t *st = NULL;
            if (!node_status(jstr(n, "url"), &st)) {
                same = false;
                break;
            }
            const char *hd = jstr(st, "head");
            uint64_t hh = (uint64_t)json_integer_value(json_object_get(st, "height"));
            if (i == 0) {
                snprintf(head, sizeof head, "%s", hd);
                h = hh;
            } else if (hh != h || strcmp(hd, head) != 0) {
                same = false;
            }
            json_decref(st);
            if (!same)
                break;
        }
        if (same) {
            *height = h;
            return PC_OK;
        }
        if (pc_mono_ms() - start > DN_CONVERGE_MS)
            return pc_error_set(err, PC_EUNAVAIL,
                                "the nodes did not reach the same head within %d s (parcha devnet status)",
                                DN_CONVERGE_MS / 1000);
        nap(100);
    }
}

/* ---- etcd authentication ---- */

/* POST body to the etcd gateway path at base with token; PC_OK on 200. */
static int etcd_call(const char *base, const char *path, const char *body, const char *token,
                     pc_error *err)
{
    char url[300];
    json_t *j = NULL;
    if (!cli_pathf(url, sizeof url, "%s%s", base, path))
        return pc_error_set(err, PC_EINVAL, "URL too long");
    long st = http_json(url, body, token, &j);
    int rc = PC_OK;
    if (st != 200)
        rc = pc_error_set(err, PC_EIO, "etcd %s answered %ld: %s", path, st,
                          j != NULL ? jstr(j, "message") : "no answer");
    json_decref(j);
    return rc;
}

/* Standard base64 with padding (what the etcd gateway decodes) of n bytes
 * into out. */
static void b64_std(char *out, size_t outlen, const char *in, size_t n)
{
    sodium_bin2base64(out, outlen, (const unsigned char *)in, n,
                      sodium_base64_VARIANT_ORIGINAL);
}

/* Grant role `role` perm (READ or READWRITE) on key alone, or with
 * prefix on every key starting with it (key ends in '/': the range ends
 * before key with its last byte raised by one). */
static int etcd_grant(const char *base, const char *role, const char *perm, const char *key,
                      bool prefix, pc_error *err)
{
    size_t n = strlen(key);
    char end[256], kb[400], eb[400];
    if (n == 0 || n > 250)
        return pc_error_set(err, PC_EINVAL, "key too long");
    memcpy(end, key, n + 1);
    end[n - 1] = (char)(end[n - 1] + 1);
    b64_std(kb, sizeof kb, key, n);
    b64_std(eb, sizeof eb, end, n);
    json_t *body = json_pack("{s:s,s:{s:s,s:s}}", "name", role, "perm", "permType", perm,
                             "key", kb);
    if (body != NULL && prefix)
        json_object_set_new(json_object_get(body, "perm"), "range_end", json_string(eb));
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    int rc = text != NULL ? etcd_call(base, "/v3/auth/role/grant", text, NULL, err)
                          : pc_error_set(err, PC_ENOMEM, "out of memory");
    free(text);
    json_decref(body);
    return rc;
}

/* Add user with password and a role of the same name. */
static int etcd_user_role(const char *base, const char *user, const char *password,
                          pc_error *err)
{
    json_t *u = json_pack("{s:s,s:s}", "name", user, "password", password);
    json_t *r = json_pack("{s:s}", "name", user);
    json_t *g = json_pack("{s:s,s:s}", "user", user, "role", user);
    char *tu = u ? json_dumps(u, JSON_COMPACT) : NULL;
    char *tr = r ? json_dumps(r, JSON_COMPACT) : NULL;
    char *tg = g ? json_dumps(g, JSON_COMPACT) : NULL;
    int rc = tu && tr && tg ? PC_OK : pc_error_set(err, PC_ENOMEM, "out of memory");
    if (rc == PC_OK)
        rc = etcd_call(base, "/v3/auth/user/add", tu, NULL, err);
    if (rc == PC_OK)
        rc = etcd_call(base, "/v3/auth/role/add", tr, NULL, err);
    if (rc == PC_OK)
        rc = etcd_call(base, "/v3/auth/user/grant", tg, NULL, err);
    if (tu != NULL)
        sodium_memzero(tu, strlen(tu));
    free(tu);
    free(tr);
    free(tg);
    json_decref(u);
    json_decref(r);
    json_decref(g);
    return rc;
}

/* Write a fresh random password to path (mode 0600) and into pw[64]. */
static int make_password(const char *path, char pw[64], pc_error *err)
{
    cli_pass_generate(pw, 64, 0);
    char line[80];
    int n = snprintf(line, sizeof line, "%s\n", pw);
    int rc = pc_file_write(path, line, (size_t)n, 0600, err);
    sodium_memzero(line, sizeof line);
    return rc;
}

/* Turn on etcd authentication: a root user (password in DIR/etcd/root.pass)
 * and per hospital a user and role <id> that may read every proposal and
 * published position of the network but write only its own:
 *   readwrite the prefix /parcha/<net>/p/<id>/ and the key /parcha/<net>/applied/<id>,
 *   read      the prefixes /parcha/<net>/p/ and /parcha/<net>/applied/.
 * Passwords go to DIR/nodes/<id>/etcd.pass (the node's etcd.password_file). */
static int setup_auth(json_t *state, const char *dir, pc_error *err)
{
    const char *net = jstr(state, "network");
    json_t *members = json_object_get(state, "etcd");
    const char *base = jstr(json_array_get(members, 0), "client_url");
    char path[1100], pw[64], prefix[200];
    int rc;
    if (!cli_pathf(path, sizeof path, "%s/etcd/root.pass", dir))
        return pc_error_set(err, PC_EINVAL, "folder path is too long");
    rc = make_password(path, pw, err);
    if (rc == PC_OK)
        rc = etcd_user_role(base, "root", pw, err);
    sodium_memzero(pw, sizeof pw);
    if (rc != PC_OK)
        return rc;
    json_object_set_new(state, "etcd_auth",
                        json_pack("{s:s,s:s}", "root_user", "root", "root_pass_file", path));
    size_t i;
    json_t *node;
    json_array_foreach(json_object_get(state, "nodes"), i, node) {
        const char *id = jstr(node, "hospital");
        if (!cli_pathf(path, sizeof path, "%s/etcd.pass", jstr(node, "data_dir")))
            return pc_error_set(err, PC_EINVAL, "folder path is too long");
        rc = make_password(path, pw, err);
        if (rc == PC_OK)
            rc = etcd_user_role(base, id, pw, err);
        sodium_memzero(pw, sizeof pw);
        if (rc == PC_OK && cli_pathf(prefix, sizeof prefix, "/parcha/%s/p/%s/", net, id))
            rc = etcd_grant(base, id, "READWRITE", prefix, true, err);
        if (rc == PC_OK && cli_pathf(prefix, sizeof prefix, "/parcha/%s/p/", net))
            rc = etcd_grant(base, id, "READ", prefix, true, err);
        if (rc == PC_OK && cli_pathf(prefix, sizeof prefix, "/parcha/%s/applied/%s", net, id))
            rc = etcd_grant(base, id, "READWRITE", prefix, false, err);
        if (rc == PC_OK && cli_pathf(prefix, sizeof prefix, "/parcha/%s/applied/", net))
            rc = etcd_grant(base, id, "READ", prefix, true, err);
        if (rc != PC_OK)
            return rc;
        json_object_set_new(node, "etcd_user", json_string(id));
        json_object_set_new(node, "etcd_pass_file", json_string(path));
    }
    return etcd_call(base, "/v3/auth/enable", "{}", NULL, err);
}

/* ---- up ---- */

/* node.json settings of hospital i (everything but network, hospital and
 * hosted, which cli_offline_create_split fills in). */
static json_t *node_config(size_t i, size_t n, const cli_hospital_spec *hosp,
                           const int *ports, bool auth, long ckpt_every)
{
    json_t *eps = json_array(), *peers = json_object();
    char url[64];
    for (size_t k = 0; k < n; k++) {
        size_t j = (i + k) % n; /* its own member first */
        snprintf(url, sizeof url, "http://127.0.0.1:%d", ports[3 * j]);
        json_array_append_new(eps, json_string(url));
        if (j != i)
            json_object_set_new(peers, hosp[j].id, json_string(hosp[j].endpoint));
    }
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", ports[3 * i + 2]);
    json_t *etcd = json_pack("{s:o,s:i}", "endpoints", eps, "stall_timeout_ms", 2000);
    if (etcd != NULL && auth) {
        json_object_set_new(etcd, "user", json_string(hosp[i].id));
        json_object_set_new(etcd, "password_file", json_string("etcd.pass"));
    }
    return json_pack("{s:s,s:s,s:o,s:o,s:{s:i,s:i}}", "listen", listen, "orderer", "etcd",
                     "etcd", etcd, "peers", peers, "checkpoints", "every_blocks", (int)ckpt_every,
                     "interval_ms", 2000);
}

/* argv of etcd member i as a JSON array. */
static json_t *etcd_argv(const char *etcd_bin, const char *dir, size_t i, size_t n,
                         const cli_hospital_spec *hosp, const int *ports, const char *token,
                         bool auth)
{
    char data[1100], client[64], peer[64], cluster[DN_MAX * 80] = "";
    size_t off = 0;
    cli_pathf(data, sizeof data, "%s/etcd/%s", dir, hosp[i].id);
    snprintf(client, sizeof client, "http://127.0.0.1:%d", ports[3 * i]);
    snprintf(peer, sizeof peer, "http://127.0.0.1:%d", ports[3 * i + 1]);
    for (size_t j = 0; j < n; j++) {
        int w = snprintf(cluster + off, sizeof cluster - off, "%s%s=http://127.0.0.1:%d",
                         j ? "," : "", hosp[j].id, ports[3 * j + 1]);
        if (w > 0 && (size_t)w < sizeof cluster - off)
            off += (size_t)w;
    }
    char opt[1200];
    cli_pathf(opt, sizeof opt, "jwt,priv-key=%s/etcd/jwt.key,sign-method=HS256,ttl=10m", dir);
    const char *words[] = {etcd_bin,
                           "--name", hosp[i].id,
                           "--data-dir", data,
                           "--listen-client-urls", client,
                           "--advertise-client-urls", client,
                           "--listen-peer-urls", peer,
                           "--initial-advertise-peer-urls", peer,
                           "--initial-cluster", cluster,
                           "--initial-cluster-token", token,
                           "--initial-cluster-state", "new",
                           "--pre-vote",
                           "--experimental-watch-progress-notify-interval", "500ms",
                           "--logger", "zap",
                           "--log-outputs", "stderr",
                           auth ? "--auth-token" : NULL, opt,
                           NULL};
    json_t *a = json_array();
    for (size_t k = 0; a != NULL && words[k] != NULL; k++)
        json_array_append_new(a, json_string(words[k]));
    return a;
}

/* Stop everything recorded in state (nodes first), for down and for a
 * failed up. Returns the number of processes stopped. */
static size_t stop_all(json_t *state, const char *dir, pc_error *err)
{
    size_t stopped = 0;
    const char *lists[] = {"nodes", "etcd"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(state, lists[l]), i, e) {
            bool was = false;
            pc_error serr;
            if (stop_entry(e, dir, SIGTERM, &was, &serr) != PC_OK) {
                *err = serr;
                say("%s", serr.msg);
            }
            if (was) {
                stopped++;
                say("stopped %s %s (pid %lld)", l == 0 ? "parchad" : "etcd member",
                    jstr(e, l == 0 ? "hospital" : "id"),
                    (long long)json_integer_value(json_object_get(e, "pid")));
            }
        }
    }
    return stopped;
}

/* Start every etcd member of state that is not running, saving the pids,
 * and wait until the cluster is healthy. */
static int start_etcd(json_t *state, const char *dir, pc_error *err)
{
    json_t *members = json_object_get(state, "etcd");
    size_t i;
    json_t *e;
    int rc = PC_OK;
    json_array_foreach(members, i, e) {
        if (proc_is_ours(entry_pid(e), e, dir))
            continue;
        say("starting etcd member %s on %s", jstr(e, "id"), jstr(e, "client_url"));
        rc = start_entry(e, err);
        if (rc == PC_OK)
            rc = save_state(dir, state, err);
        if (rc != PC_OK)
            return rc;
    }
    return wait_etcd(members, dir, err);
}

/* Start every node that is not running and wait until all serve. */
static int start_nodes(json_t *state, const char *dir, pc_error *err)
{
    json_t *nodes = json_object_get(state, "nodes");
    size_t i;
    json_t *e;
    int64_t start = pc_mono_ms();
    json_array_foreach(nodes, i, e) {
        if (proc_is_ours(entry_pid(e), e, dir))
            continue;
        say("starting parchad for %s on %s", jstr(e, "hospital"), jstr(e, "url"));
        int rc = start_entry(e, err);
        if (rc == PC_OK)
            rc = save_state(dir, state, err);
        if (rc != PC_OK)
            return rc;
    }
    json_array_foreach(nodes, i, e) {
        int rc = wait_node(e, dir, start, err);
        if (rc != PC_OK)
            return rc;
    }
    say("%zu node%s serving after %.1f s", json_array_size(nodes),
        json_array_size(nodes) == 1 ? "" : "s", (double)(pc_mono_ms() - start) / 1000.0);
    return PC_OK;
}

/* The final table of up (and of status without the state column). */
static void print_up_summary(const json_t *state, uint64_t height)
{
    printf("devnet '%s' is up in %s (%s/devnet.json)\n", jstr(state, "network"),
           jstr(state, "dir"), jstr(state, "dir"));
    printf("  %-18s %-24s %-24s %s\n", "hospital", "node", "etcd member", "pids (node/etcd)");
    size_t i;
    const json_t *n;
    json_array_foreach(json_object_get(state, "nodes"), i, n) {
        const json_t *m = json_array_get(json_object_get(state, "etcd"), i);
        printf("  %-18s %-24s %-24s %lld/%lld\n", jstr(n, "hospital"), jstr(n, "url"),
               jstr(m, "client_url"), (long long)json_integer_value(json_object_get(n, "pid")),
               (long long)json_integer_value(json_object_get(m, "pid")));
    }
    printf("  all nodes at height %llu with the same head\n", (unsigned long long)height);
    const json_t *demo = json_object_get(state, "demo");
    if (json_is_object(demo))
        printf("  demo: %lld patients, %lld records, %lld consents; key files in %s\n",
               (long long)json_integer_value(json_object_get(demo, "patients")),
               (long long)json_integer_value(json_object_get(demo, "records")),
               (long long)json_integer_value(json_object_get(demo, "consents")),
               jstr(demo, "index"));
    if (json_is_object(json_object_get(state, "etcd_auth")))
        printf("  etcd authentication on: root passphrase in %s\n",
               jstr(json_object_get(state, "etcd_auth"), "root_pass_file"));
    printf("status: parcha devnet status --dir %s\n", jstr(state, "dir"));
    printf("stop:   parcha devnet down --dir %s\n", jstr(state, "dir"));
}

/* up on a folder that already holds a devnet: start what is stopped. */
static int resume(const char *dir, bool as_json, pc_error *err)
{
    json_t *state = NULL;
    int rc = load_state(dir, &state, err);
    if (rc != PC_OK)
        return rc;
    say("%s already holds devnet '%s': starting what is stopped", dir, jstr(state, "network"));
    uint64_t height = 0;
    rc = start_etcd(state, dir, err);
    if (rc == PC_OK)
        rc = start_nodes(state, dir, err);
    if (rc == PC_OK)
        rc = wait_converged(json_object_get(state, "nodes"), &height, err);
    if (rc == PC_OK) {
        if (as_json)
            cli_print_json(state);
        else
            print_up_summary(state, height);
    }
    json_decref(state);
    return rc;
}

/* Options of up, checked. */
typedef struct up_opts {
    const char *dir_arg;
    size_t n;
    long base_port;
    bool demo, auth, as_json;
    size_t patients;
    long ckpt_every; /* checkpoints.every_blocks of every node */
    const char *network;
    char parchad[PATH_MAX], etcd[PATH_MAX];
} up_opts;

/* A new devnet in dir (absolute, exists, holds no devnet). */
static int up_new(const up_opts *o, const char *dir, pc_error *err)
{
    int ports[3 * DN_MAX];
    cli_hospital_spec hosp[DN_MAX];
    json_t *configs[DN_MAX];
    cli_offline net;
    bool net_open = false;
    json_t *state = NULL;
    char path[1100], token[64];
    int rc;

    memset(configs, 0, sizeof configs);
    say("choosing %zu ports on 127.0.0.1", 3 * o->n);
    rc = pick_ports(ports, 3 * o->n, o->base_port, err);
    if (rc != PC_OK)
        return rc;
    for (size_t i = 0; i < o->n; i++) {
        cli_demo_hospital(i, &hosp[i]);
        snprintf(hosp[i].endpoint, sizeof hosp[i].endpoint, "http://127.0.0.1:%d",
                 ports[3 * i + 2]);
    }
    for (size_t i = 0; i < o->n; i++) {
        configs[i] = node_config(i, o->n, hosp, ports, o->auth, o->ckpt_every);
        if (configs[i] == NULL) {
            rc = pc_error_set(err, PC_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (!cli_pathf(path, sizeof path, "%s/nodes", dir)) {
        rc = pc_error_set(err, PC_EINVAL, "folder path is too long");
        goto out;
    }
    say("creating %zu hospitals, their keys and the genesis in %s", o->n, path);
    rc = cli_offline_create_split(path, o->network, hosp, o->n, configs, PC_KDF_FAST, &net, err);
    if (rc != PC_OK)
        goto out;
    net_open = true;

    /* devnet.json first, so that down can stop whatever starts. */
    char tok_rand[64];
    cli_pass_generate(tok_rand, sizeof tok_rand, 0);
    snprintf(token, sizeof token, "%s-%.12s", o->network, tok_rand);
    state = json_pack("{s:i,s:s,s:s,s:s,s:s,s:I,s:[],s:[],s:n}", "version", 1, "network",
                      o->network, "dir", dir, "parchad", o->parchad, "etcd_binary", o->etcd,
                      "created", (json_int_t)pc_now_ms(), "etcd", "nodes", "demo");
    if (state == NULL) {
        rc = pc_error_set(err, PC_ENOMEM, "out of memory");
        goto out;
    }
    if (!cli_pathf(path, sizeof path, "%s/etcd", dir) || mkdir(path, 0700) != 0) {
        rc = pc_error_set(err, PC_EIO, "cannot create folder %s/etcd: %s", dir, strerror(errno));
        goto out;
    }
    if (o->auth) {
        uint8_t key[32];
        randombytes_buf(key, sizeof key);
        rc = cli_pathf(path, sizeof path, "%s/etcd/jwt.key", dir)
                 ? pc_file_write(path, key, sizeof key, 0600, err)
                 : pc_error_set(err, PC_EINVAL, "folder path is too long");
        sodium_memzero(key, sizeof key);
        if (rc != PC_OK)
            goto out;
    }
    for (size_t i = 0; i < o->n; i++) {
        char client[64], peer[64], url[64], ddir[1100], edir[1100], elog[1100], nlog[1100],
            keyf[1100], passf[1100];
        snprintf(client, sizeof client, "http://127.0.0.1:%d", ports[3 * i]);
        snprintf(peer, sizeof peer, "http://127.0.0.1:%d", ports[3 * i + 1]);
        snprintf(url, sizeof url, "http://127.0.0.1:%d", ports[3 * i + 2]);
        if (!cli_pathf(ddir, sizeof ddir, "%s/nodes/%s", dir, hosp[i].id) ||
            !cli_pathf(edir, sizeof edir, "%s/etcd/%s", dir, hosp[i].id) ||
            !cli_pathf(elog, sizeof elog, "%s/etcd/%s.log", dir, hosp[i].id) ||
            !cli_pathf(nlog, sizeof nlog, "%s/parchad.log", ddir) ||
            !cli_pathf(keyf, sizeof keyf, "%s/keys/%s.key", ddir, hosp[i].id) ||
            !cli_pathf(passf, sizeof passf, "%s/keys/%s.pass", ddir, hosp[i].id)) {
            rc = pc_error_set(err, PC_EINVAL, "folder path is too long");
            goto out;
        }
        json_t *eargv = etcd_argv(o->etcd, dir, i, o->n, hosp, ports, token, o->auth);
        json_array_append_new(json_object_get(state, "etcd"),
                              json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:o}", "id", hosp[i].id,
                                        "client_url", client, "peer_url", peer, "data_dir",
                                        edir, "log", elog, "pid", 0, "argv", eargv));
        json_array_append_new(
            json_object_get(state, "nodes"),
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:[s,s,s]}", "hospital", hosp[i].id,
                      "name", hosp[i].name, "url", url, "data_dir", ddir, "key_file", keyf,
                      "pass_file", passf, "log", nlog, "etcd_member", hosp[i].id, "pid", 0,
                      "argv", o->parchad, "--data", ddir));
    }
    rc = save_state(dir, state, err);
    if (rc != PC_OK)
        goto out;

    rc = start_etcd(state, dir, err);
    if (rc == PC_OK && o->auth) {
        say("turning on etcd authentication: root user, one user and role per hospital");
        rc = setup_auth(state, dir, err);
        if (rc == PC_OK)
            rc = save_state(dir, state, err);
    }
    if (rc == PC_OK)
        rc = start_nodes(state, dir, err);
    if (rc == PC_OK && o->demo) {
        const char *urls[DN_MAX], *vaults[DN_MAX];
        char vpaths[CLI_DEMO_HOSPITALS][1100], keys_dir[1100];
        json_t *nodes = json_object_get(state, "nodes");
        for (size_t i = 0; i < CLI_DEMO_HOSPITALS; i++) {
            const json_t *nd = json_array_get(nodes, i);
            urls[i] = jstr(nd, "url");
            cli_pathf(vpaths[i], sizeof vpaths[i], "%s/vault.db", jstr(nd, "data_dir"));
            vaults[i] = vpaths[i];
        }
        cli_pathf(keys_dir, sizeof keys_dir, "%s/demo-keys", dir);
        say("loading the demo through the nodes: %zu patients", o->patients);
        json_t *summary = NULL;
        rc = cli_demo_online(&net, urls, vaults, keys_dir, o->patients, &summary, err);
        if (rc == PC_OK) {
            json_object_del(summary, "blocks");
            json_object_del(summary, "transactions");
            json_object_set_new(state, "demo", summary);
            rc = save_state(dir, state, err);
        } else {
            json_decref(summary);
        }
    }
    uint64_t height = 0;
    if (rc == PC_OK)
        rc = wait_converged(json_object_get(state, "nodes"), &height, err);
    if (rc == PC_OK) {
        json_object_set_new(state, "ready", json_integer(pc_now_ms()));
        rc = save_state(dir, state, err);
    }
    if (rc == PC_OK) {
        if (o->as_json)
            cli_print_json(state);
        else
            print_up_summary(state, height);
    }
out:
    if (rc != PC_OK && state != NULL) {
        pc_error serr;
        say("%s", err->msg);
        say("start-up failed: stopping what was started (logs stay in %s)", dir);
        stop_all(state, dir, &serr);
    }
    json_decref(state);
    for (size_t i = 0; i < o->n; i++)
        json_decref(configs[i]);
    if (net_open)
        cli_offline_close(&net);
    return rc;
}

/* True if dir holds nothing (besides . and ..). */
static bool dir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    bool empty = true;
    struct dirent *e;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

static int cmd_up(int argc, char **argv)
{
    static const char NAME[] = "devnet up";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP, UP_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    up_opts o;
    memset(&o, 0, sizeof o);
    int64_t v = 3;
    if (cli_arg_required(&a, "dir", &o.dir_arg, &err) != PC_OK ||
        (cli_arg(&a, "hospitals") != NULL &&
         cli_parse_int(cli_arg(&a, "hospitals"), "--hospitals", 1, DN_MAX, &v, &err) != PC_OK))
        return cli_usage(NAME, &err);
    o.n = (size_t)v;
    v = 0;
    if (cli_arg(&a, "base-port") != NULL &&
        cli_parse_int(cli_arg(&a, "base-port"), "--base-port", 1024, 65535 - 3 * DN_MAX, &v,
                      &err) != PC_OK)
        return cli_usage(NAME, &err);
    o.base_port = (long)v;
    v = 20;
    if (cli_arg(&a, "patients") != NULL &&
        cli_parse_int(cli_arg(&a, "patients"), "--patients", 1, 500, &v, &err) != PC_OK)
        return cli_usage(NAME, &err);
    o.patients = (size_t)v;
    v = 10; /* small on purpose: tests and audits get checkpoints quickly */
    if (cli_arg(&a, "checkpoint-every") != NULL &&
        cli_parse_int(cli_arg(&a, "checkpoint-every"), "--checkpoint-every", 0, 1000000, &v, &err) != PC_OK)
        return cli_usage(NAME, &err);
    o.ckpt_every = (long)v;
    o.demo = cli_flag(&a, "demo");
    o.auth = cli_flag(&a, "etcd-auth");
    o.as_json = cli_flag(&a, "json");
    o.network = cli_arg(&a, "network") != NULL ? cli_arg(&a, "network") : "parcha-devnet";
    if (!cli_valid_network(o.network)) {
        pc_error_set(&err, PC_EINVAL, "bad network name '%s': use 2 to 64 of a-z, 0-9, '-' and '.'",
                     o.network);
        return cli_usage(NAME, &err);
    }
    if (o.demo && o.n < CLI_DEMO_HOSPITALS) {
        pc_error_set(&err, PC_EINVAL, "--demo needs at least %d hospitals", CLI_DEMO_HOSPITALS);
        return cli_usage(NAME, &err);
    }
    char dir[PATH_MAX], path[PATH_MAX + 32];
    if (mkdir(o.dir_arg, 0700) != 0 && errno != EEXIST) {
        pc_error_set(&err, PC_EIO, "cannot create folder %s: %s", o.dir_arg, strerror(errno));
        return cli_fail(NAME, &err);
    }
    if (abs_dir(o.dir_arg, dir, &err) != PC_OK)
        return cli_fail(NAME, &err);
    if (strlen(dir) > 900) {
        pc_error_set(&err, PC_EINVAL, "folder path is too long");
        return cli_fail(NAME, &err);
    }
    snprintf(path, sizeof path, "%s/devnet.json", dir);
    if (cli_path_exists(path)) {
        if (a.nopts > 1 + (o.as_json ? 1 : 0))
            say("%s already holds a devnet: only --dir is used, its settings stay", dir);
        rc = resume(dir, o.as_json, &err);
    } else {
        if (!dir_empty(dir)) {
            pc_error_set(&err, PC_EEXIST, "%s is not empty and holds no devnet; use a new or empty folder",
                         dir);
            return cli_fail(NAME, &err);
        }
        if (find_program("parchad", cli_arg(&a, "parchad"), o.parchad, sizeof o.parchad, &err) !=
                PC_OK ||
            find_program("etcd", cli_arg(&a, "etcd"), o.etcd, sizeof o.etcd, &err) != PC_OK)
            return cli_fail(NAME, &err);
        rc = up_new(&o, dir, &err);
    }
    return rc == PC_OK ? CLI_EXIT_OK : cli_fail(NAME, &err);
}

/* ---- down, status, start, stop ---- */

/* nftw callback for --purge. */
static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

static int cmd_down(int argc, char **argv)
{
    static const char NAME[] = "devnet down";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP, DOWN_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *given;
    char dir[PATH_MAX];
    json_t *state = NULL;
    if (cli_arg_required(&a, "dir", &given, &err) != PC_OK)
        return cli_usage(NAME, &err);
    if (abs_dir(given, dir, &err) != PC_OK || load_state(dir, &state, &err) != PC_OK)
        return cli_fail(NAME, &err);
    pc_error_clear(&err);
    size_t n = stop_all(state, dir, &err);
    json_decref(state);
    if (err.code != PC_OK)
        return cli_fail(NAME, &err);
    printf("stopped %zu process%s of the devnet in %s\n", n, n == 1 ? "" : "es", dir);
    if (cli_flag(&a, "purge")) {
        /* Only what up made (up insists on an empty folder), then the folder. */
        static const char *const MADE[] = {"nodes", "etcd", "demo-keys", "devnet.json"};
        char path[PATH_MAX + 32];
        for (size_t i = 0; i < sizeof MADE / sizeof MADE[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, MADE[i]);
            if (cli_path_exists(path) && nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS) != 0) {
                pc_error_set(&err, PC_EIO, "could not remove all of %s: %s", path,
                             strerror(errno));
                return cli_fail(NAME, &err);
            }
        }
        if (rmdir(dir) == 0)
            printf("removed %s\n", dir);
        else
            printf("removed the devnet from %s (other files there were left)\n", dir);
    } else {
        printf("data kept; start again with: parcha devnet up --dir %s\n", dir);
    }
    return CLI_EXIT_OK;
}

static int cmd_status(int argc, char **argv)
{
    static const char NAME[] = "devnet status";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP, STATUS_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *given;
    char dir[PATH_MAX];
    json_t *state = NULL;
    if (cli_arg_required(&a, "dir", &given, &err) != PC_OK)
        return cli_usage(NAME, &err);
    if (abs_dir(given, dir, &err) != PC_OK || load_state(dir, &state, &err) != PC_OK)
        return cli_fail(NAME, &err);
    bool all_up = true;
    json_t *out_members = json_array(), *out_nodes = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(state, "etcd"), i, e) {
        bool running = proc_is_ours(entry_pid(e), e, dir);
        bool healthy = running && etcd_healthy(jstr(e, "client_url"));
        char member[32] = "", leader[32] = "";
        if (healthy)
            etcd_status(jstr(e, "client_url"), NULL, member, leader);
        all_up = all_up && healthy;
        json_array_append_new(out_members,
                              json_pack("{s:s,s:s,s:O,s:b,s:b,s:b}", "id", jstr(e, "id"),
                                        "client_url", jstr(e, "client_url"), "pid",
                                        json_object_get(e, "pid"), "running", running,
                                        "healthy", healthy, "leader",
                                        member[0] != '\0' && strcmp(member, leader) == 0));
    }
    json_array_foreach(json_object_get(state, "nodes"), i, e) {
        bool running = proc_is_ours(entry_pid(e), e, dir);
        json_t *st = NULL;
        bool serving = running && node_status(jstr(e, "url"), &st);
        all_up = all_up && serving;
        json_t *o = json_pack("{s:s,s:s,s:O,s:b,s:b}", "hospital", jstr(e, "hospital"), "url",
                              jstr(e, "url"), "pid", json_object_get(e, "pid"), "running",
                              running, "serving", serving);
        if (st != NULL) {
            json_object_set(o, "height", json_object_get(st, "height"));
            json_object_set(o, "head", json_object_get(st, "head"));
            json_object_set(o, "mempool", json_object_get(st, "mempool"));
        }
        json_decref(st);
        json_array_append_new(out_nodes, o);
    }
    if (cli_flag(&a, "json")) {
        json_t *j = json_pack("{s:s,s:s,s:o,s:o,s:b}", "network", jstr(state, "network"), "dir",
                              dir, "etcd", out_members, "nodes", out_nodes, "up", all_up);
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("devnet '%s' in %s\n\netcd members\n", jstr(state, "network"), dir);
        printf("  %-18s %-24s %-8s %s\n", "id", "client URL", "pid", "state");
        json_array_foreach(out_members, i, e) {
            bool run = json_is_true(json_object_get(e, "running"));
            bool ok = json_is_true(json_object_get(e, "healthy"));
            printf("  %-18s %-24s %-8lld %s%s\n", jstr(e, "id"), jstr(e, "client_url"),
                   (long long)json_integer_value(json_object_get(e, "pid")),
                   !run ? "stopped" : (ok ? "healthy" : "not healthy"),
                   json_is_true(json_object_get(e, "leader")) ? ", leader" : "");
        }
        printf("\nnodes\n  %-18s %-24s %-8s %-11s %-8s %s\n", "hospital", "URL", "pid",
               "state", "height", "head");
        json_array_foreach(out_nodes, i, e) {
            bool run = json_is_true(json_object_get(e, "running"));
            bool ok = json_is_true(json_object_get(e, "serving"));
            char height[24] = "-";
            if (json_is_integer(json_object_get(e, "height")))
                snprintf(height, sizeof height, "%lld",
                         (long long)json_integer_value(json_object_get(e, "height")));
            printf("  %-18s %-24s %-8lld %-11s %-8s %.16s\n", jstr(e, "hospital"),
                   jstr(e, "url"), (long long)json_integer_value(json_object_get(e, "pid")),
                   !run ? "stopped" : (ok ? "serving" : "no answer"), height,
                   ok ? jstr(e, "head") : "");
        }
        printf("\n%s\n", all_up ? "everything is up" : "something is down");
        json_decref(out_members);
        json_decref(out_nodes);
    }
    json_decref(state);
    return all_up ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* start / stop of one process: --node ID or --etcd ID. */
static int cmd_one(const char *name, bool start, int argc, char **argv)
{
    cli_args a;
    pc_error err;
    int rc = cli_start(name, HELP, ONE_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *given, *node = cli_arg(&a, "node"), *member = cli_arg(&a, "etcd");
    char dir[PATH_MAX];
    json_t *state = NULL;
    if (cli_arg_required(&a, "dir", &given, &err) != PC_OK)
        return cli_usage(name, &err);
    if ((node == NULL) == (member == NULL)) {
        pc_error_set(&err, PC_EINVAL, "give exactly one of --node ID and --etcd ID");
        return cli_usage(name, &err);
    }
    if (start && cli_flag(&a, "kill")) {
        pc_error_set(&err, PC_EINVAL, "--kill goes with stop");
        return cli_usage(name, &err);
    }
    if (abs_dir(given, dir, &err) != PC_OK || load_state(dir, &state, &err) != PC_OK)
        return cli_fail(name, &err);
    json_t *e = node != NULL ? find_entry(json_object_get(state, "nodes"), "hospital", node)
                             : find_entry(json_object_get(state, "etcd"), "id", member);
    if (e == NULL) {
        json_decref(state);
        pc_error_set(&err, PC_ENOTFOUND, "the devnet has no %s '%s'",
                     node != NULL ? "node" : "etcd member", node != NULL ? node : member);
        return cli_usage(name, &err);
    }
    const char *what = node != NULL ? "parchad" : "etcd member";
    const char *id = node != NULL ? node : member;
    if (!start) {
        bool was = false;
        rc = stop_entry(e, dir, cli_flag(&a, "kill") ? SIGKILL : SIGTERM, &was, &err);
        if (rc == PC_OK)
            printf(was ? "stopped %s %s (pid %lld)\n" : "%s %s was not running (pid %lld)\n",
                   what, id, (long long)entry_pid(e));
    } else if (proc_is_ours(entry_pid(e), e, dir)) {
        printf("%s %s is already running (pid %lld)\n", what, id, (long long)entry_pid(e));
    } else {
        rc = start_entry(e, &err);
        if (rc == PC_OK)
            rc = save_state(dir, state, &err);
        if (rc == PC_OK && node != NULL)
            rc = wait_node(e, dir, pc_mono_ms(), &err);
        int64_t t0 = pc_mono_ms();
        while (rc == PC_OK && node == NULL && !etcd_healthy(jstr(e, "client_url"))) {
            if (!proc_is_ours(entry_pid(e), e, dir))
                rc = pc_error_set(&err, PC_EIO, "etcd member %s ended during start; see %s", id,
                                  jstr(e, "log"));
            else if (pc_mono_ms() - t0 > DN_ETCD_READY_MS)
                rc = pc_error_set(&err, PC_EUNAVAIL, "etcd member %s not healthy within %d s; see %s",
                                  id, DN_ETCD_READY_MS / 1000, jstr(e, "log"));
            else
                nap(50);
        }
        if (rc == PC_OK)
            printf("started %s %s (pid %lld)\n", what, id, (long long)entry_pid(e));
    }
    json_decref(state);
    return rc == PC_OK ? CLI_EXIT_OK : cli_fail(name, &err);
}

/* ---- load ---- */

/* One writing node of `load`. */
typedef struct load_node {
    const char *id;
    char url[600];
    pc_keypair kp;
    uint64_t sent, acked;
} load_node;

/* Outcome counts of `load`. */
typedef struct load_counts {
    uint64_t sent, acked, no_answer, rejected;
    uint64_t by_status[6]; /* 4xx/5xx by hundreds: [4] and [5] */
    uint64_t s503, s504;
} load_counts;

/* Build one round: per node, up to per_node staff.enroll transactions in
 * client form into bodies/reqs (txids into txids). */
static int load_round(load_node *ln, size_t nn, const char *net, size_t per_node,
                      const char *cacert,
                      cli_mpost *reqs, char **bodies, uint8_t (*txids)[32], size_t *owner,
                      size_t *nreq, uint64_t serial, pc_error *err)
{
    *nreq = 0;
    for (size_t i = 0; i < nn; i++) {
        for (size_t k = 0; k < per_node; k++) {
            pc_keypair staff;
            pc_tx tx;
            char name[64], regno[32], rnd[64];
            if (pc_key_generate(&staff) != 0)
                return pc_error_set(err, PC_ECRYPTO, "cannot make a key");
            cli_pass_generate(rnd, sizeof rnd, 0);
            snprintf(name, sizeof name, "Load Test %llu", (unsigned long long)(serial + *nreq));
            snprintf(regno, sizeof regno, "LOAD-%.10s", rnd);
            int rc = cli_build_staff_enroll(net, ln[i].id, &ln[i].kp, staff.pk, name, "nurse",
                                            regno, pc_now_ms(), &tx, err);
            pc_key_wipe(&staff);
            if (rc != PC_OK)
                return rc;
            size_t len = 0, j = *nreq;
            bodies[j] = pc_tx_to_json(&tx, &len);
            memcpy(txids[j], tx.txid, 32);
            pc_tx_free(&tx);
            if (bodies[j] == NULL)
                return pc_error_set(err, PC_ENOMEM, "out of memory");
            memset(&reqs[j], 0, sizeof reqs[j]);
            reqs[j].url = ln[i].url;
            reqs[j].body = bodies[j];
            reqs[j].len = len;
            reqs[j].cacert = cacert;
            owner[j] = i;
            (*nreq)++;
        }
    }
    return PC_OK;
}

static int cmd_load(int argc, char **argv)
{
    static const char NAME[] = "devnet load";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP, LOAD_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *given;
    int64_t count = 0, seconds = 0, conc = 4;
    if (cli_arg_required(&a, "dir", &given, &err) != PC_OK ||
        (cli_arg(&a, "count") != NULL &&
         cli_parse_int(cli_arg(&a, "count"), "--count", 1, 10000000, &count, &err) != PC_OK) ||
        (cli_arg(&a, "seconds") != NULL &&
         cli_parse_int(cli_arg(&a, "seconds"), "--seconds", 1, 86400, &seconds, &err) != PC_OK) ||
        (cli_arg(&a, "concurrency") != NULL &&
         cli_parse_int(cli_arg(&a, "concurrency"), "--concurrency", 1, 256, &conc, &err) != PC_OK))
        return cli_usage(NAME, &err);
    if (count == 0 && seconds == 0)
        count = 100;
    char dir[PATH_MAX];
    json_t *state = NULL;
    if (abs_dir(given, dir, &err) != PC_OK || load_state(dir, &state, &err) != PC_OK)
        return cli_fail(NAME, &err);
    const char *only[DN_MAX + 1];
    size_t nonly = cli_arg_all(&a, "node", only, DN_MAX + 1);
    load_node ln[DN_MAX];
    size_t nn = 0;
    memset(ln, 0, sizeof ln);
    size_t i;
    json_t *e;
    rc = PC_OK;
    json_array_foreach(json_object_get(state, "nodes"), i, e) {
        bool want = nonly == 0;
        for (size_t k = 0; k < nonly && k < DN_MAX; k++)
            want = want || strcmp(only[k], jstr(e, "hospital")) == 0;
        if (!want || nn >= DN_MAX)
            continue;
        ln[nn].id = jstr(e, "hospital");
        if (!cli_pathf(ln[nn].url, sizeof ln[nn].url, "%s/v1/tx", jstr(e, "url")))
            rc = pc_error_set(&err, PC_EINVAL, "node URL too long");
        if (rc == PC_OK)
            rc = cli_key_load(jstr(e, "key_file"), jstr(e, "pass_file"), &ln[nn].kp, &err);
        if (rc != PC_OK)
            break;
        nn++;
    }
    if (rc == PC_OK && (nn == 0 || nn < (nonly < DN_MAX ? nonly : DN_MAX)))
        rc = pc_error_set(&err, PC_ENOTFOUND, "no such node in the devnet (see devnet.json)");
    FILE *acked = NULL;
    if (rc == PC_OK && cli_arg(&a, "acked") != NULL) {
        acked = fopen(cli_arg(&a, "acked"), "a");
        if (acked == NULL)
            rc = pc_error_set(&err, PC_EIO, "cannot open %s: %s", cli_arg(&a, "acked"),
                              strerror(errno));
    }
    size_t per_round = (size_t)conc;
    size_t cap = per_round * (nn ? nn : 1);
    cli_mpost *reqs = calloc(cap, sizeof *reqs);
    char **bodies = calloc(cap, sizeof *bodies);
    uint8_t (*txids)[32] = calloc(cap, 32);
    size_t *owner = calloc(cap, sizeof *owner);
    if (rc == PC_OK && (reqs == NULL || bodies == NULL || txids == NULL || owner == NULL))
        rc = pc_error_set(&err, PC_ENOMEM, "out of memory");
    load_counts c;
    memset(&c, 0, sizeof c);
    int64_t start = pc_mono_ms();
    while (rc == PC_OK) {
        if (seconds > 0 && pc_mono_ms() - start >= seconds * 1000)
            break;
        uint64_t per_node = per_round;
        if (count > 0) {
            uint64_t left = (uint64_t)count - ln[0].sent;
            if (left == 0)
                break;
            per_node = left < per_round ? left : per_round;
        }
        size_t nreq = 0;
        rc = load_round(ln, nn, jstr(state, "network"), (size_t)per_node, cli_arg(&a, "cacert"),
                        reqs, bodies, txids,
                        owner, &nreq, c.sent, &err);
        if (rc == PC_OK)
            rc = cli_multipost(reqs, nreq, nreq, 1, 15, &err);
        for (size_t k = 0; rc == PC_OK && k < nreq; k++) {
            load_node *n = &ln[owner[k]];
            n->sent++;
            c.sent++;
            long st = reqs[k].status;
            if (st == 200) {
                n->acked++;
                c.acked++;
                if (acked != NULL) {
                    char hex[65];
                    fprintf(acked, "%s %s\n", pc_hex_encode(hex, sizeof hex, txids[k], 32), n->id);
                }
            } else if (st == 0) {
                c.no_answer++;
            } else {
                if (c.rejected == 0 || (st == 503 && c.s503 == 0)) {
                    /* The node's own words, once per kind, for people and tests. */
                    json_error_t je;
                    json_t *ans = reqs[k].answer ? json_loads(reqs[k].answer, 0, &je) : NULL;
                    const json_t *eo = json_object_get(ans, "error");
                    fprintf(stderr, "parcha devnet load: %s answered %ld %s: %s\n", n->id, st,
                            jstr(eo, "code"), jstr(eo, "message"));
                    json_decref(ans);
                }
                c.rejected++;
                if (st == 503)
                    c.s503++;
                else if (st == 504)
                    c.s504++;
                if (st / 100 < 6)
                    c.by_status[st / 100]++;
            }
        }
        if (acked != NULL)
            fflush(acked);
        for (size_t k = 0; k < nreq; k++) {
            free(bodies[k]);
            bodies[k] = NULL;
        }
        if (reqs != NULL)
            cli_mpost_free(reqs, nreq);
    }
    double secs = (double)(pc_mono_ms() - start) / 1000.0;
    if (acked != NULL && fclose(acked) != 0 && rc == PC_OK)
        rc = pc_error_set(&err, PC_EIO, "cannot write %s", cli_arg(&a, "acked"));
    for (size_t k = 0; k < nn; k++)
        pc_key_wipe(&ln[k].kp);
    free(reqs);
    free(bodies);
    free(txids);
    free(owner);
    if (rc == PC_OK) {
        if (cli_flag(&a, "json")) {
            json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "sent", (json_int_t)c.sent,
                                  "acknowledged", (json_int_t)c.acked, "refused",
                                  (json_int_t)c.rejected, "unavailable_503",
                                  (json_int_t)c.s503, "timeout_504", (json_int_t)c.s504,
                                  "no_answer", (json_int_t)c.no_answer, "seconds", secs);
            cli_print_json(j);
            json_decref(j);
        } else {
            printf("load: %llu sent to %zu node%s in %.1f s: %llu acknowledged (%.0f tx/s), "
                   "%llu refused (%llu unavailable, %llu timed out), %llu without an answer\n",
                   (unsigned long long)c.sent, nn, nn == 1 ? "" : "s", secs,
                   (unsigned long long)c.acked, secs > 0 ? (double)c.acked / secs : 0.0,
                   (unsigned long long)c.rejected, (unsigned long long)c.s503,
                   (unsigned long long)c.s504, (unsigned long long)c.no_answer);
        }
    }
    json_decref(state);
    if (rc != PC_OK)
        return cli_fail(NAME, &err);
    return c.acked > 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cli_cmd_devnet(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "load") == 0)
        return cmd_load(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "up") == 0)
        return cmd_up(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "down") == 0)
        return cmd_down(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "status") == 0)
        return cmd_status(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "start") == 0)
        return cmd_one("devnet start", true, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "stop") == 0)
        return cmd_one("devnet stop", false, argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fputs(HELP, stdout);
        return CLI_EXIT_OK;
    }
    fputs(HELP, stderr);
    return CLI_EXIT_USAGE;
}
