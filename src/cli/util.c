/* Helpers shared by every parcha command: starting a command, reporting
 * errors in one sentence, JSON output, and reading a node's data folder. */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/keys.h"
#include "parcha/encode.h"
#include "parcha/jcs.h"
#include "parcha/keyfile.h"

int cli_start(const char *name, const char *help, const cli_optspec *opts,
              size_t min_pos, size_t max_pos, int argc, char **argv, cli_args *a)
{
    pc_error err;
    if (cli_args_parse(argc, argv, opts, a, &err) != PC_OK)
        return cli_usage(name, &err);
    if (cli_flag(a, "help")) {
        fputs(help, stdout);
        return CLI_EXIT_OK;
    }
    if (a->npos < min_pos) {
        pc_error_set(&err, PC_EINVAL, "missing argument");
        return cli_usage(name, &err);
    }
    if (a->npos > max_pos) {
        pc_error_set(&err, PC_EINVAL, "unexpected argument '%s'", a->pos[max_pos]);
        return cli_usage(name, &err);
    }
    return CLI_CONTINUE;
}

int cli_fail(const char *name, const pc_error *err)
{
    fprintf(stderr, "parcha %s: %s\n", name,
            err->msg[0] ? err->msg : pc_strerror(err->code));
    return CLI_EXIT_FAIL;
}

int cli_usage(const char *name, const pc_error *err)
{
    fprintf(stderr, "parcha %s: %s (see parcha %s --help)\n", name,
            err->msg[0] ? err->msg : pc_strerror(err->code), name);
    return CLI_EXIT_USAGE;
}

void cli_print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    if (s != NULL) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
}

int cli_read_json_file(const char *path, size_t max, json_t **out, pc_error *err)
{
    pc_buf b;
    pc_buf_init(&b);
    *out = NULL;
    int rc = pc_file_read(path, max, &b, err);
    if (rc != PC_OK) {
        pc_buf_free(&b);
        return rc;
    }
    pc_error perr;
    rc = pc_json_parse((const char *)b.data, b.len, out, &perr);
    pc_buf_free(&b);
    if (rc != PC_OK)
        return pc_error_set(err, rc, "%s is not valid JSON: %s", path, perr.msg);
    return PC_OK;
}

int cli_data_network(const char *dir, char *net, size_t netlen, pc_error *err)
{
    char path[1100];
    json_t *cfg = NULL;
    if (!cli_pathf(path, sizeof path, "%s/node.json", dir))
        return pc_error_set(err, PC_EINVAL, "folder path is too long");
    if (!cli_path_exists(path))
        return pc_error_set(err, PC_ENOTFOUND,
                            "%s has no node.json: is it a folder made by parcha init?", dir);
    int rc = cli_read_json_file(path, 1 << 20, &cfg, err);
    if (rc != PC_OK)
        return rc;
    const char *n = json_string_value(json_object_get(cfg, "network"));
    if (n == NULL || strlen(n) + 1 > netlen) {
        json_decref(cfg);
        return pc_error_set(err, PC_EINVAL, "%s does not name a network", path);
    }
    memcpy(net, n, strlen(n) + 1);
    json_decref(cfg);
    return PC_OK;
}

int cli_data_hospital_key(const char *dir, const char *hospital, pc_keypair *kp,
                          pc_error *err)
{
    char key[1100], pass[1100];
    if (!cli_valid_hospital_id(hospital))
        return pc_error_set(err, PC_EINVAL, "bad hospital id '%s'", hospital);
    if (!cli_pathf(key, sizeof key, "%s/keys/%s.key", dir, hospital) ||
        !cli_pathf(pass, sizeof pass, "%s/keys/%s.pass", dir, hospital))
        return pc_error_set(err, PC_EINVAL, "folder path is too long");
    if (!cli_path_exists(key))
        return pc_error_set(err, PC_ENOTFOUND, "%s holds no key for hospital '%s' (%s)", dir,
                            hospital, key);
    return cli_key_load(key, cli_path_exists(pass) ? pass : NULL, kp, err);
}

bool cli_pathf(char *out, size_t outlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, outlen, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= outlen) {
        if (outlen > 0)
            out[0] = '\0';
        return false;
    }
    return true;
}

bool cli_stdout_tty(void)
{
    return isatty(STDOUT_FILENO) != 0;
}

void cli_format_time(int64_t ms, char out[24])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 24, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(out, 24, "?");
}

void cli_print_committed(const char *what, const json_t *reply, bool as_json)
{
    if (as_json) {
        cli_print_json(reply);
        return;
    }
    const char *txid = json_string_value(json_object_get(reply, "txid"));
    const json_t *h = json_object_get(reply, "height");
    if (json_is_integer(h))
        printf("%s: committed in block %lld (txid %s)\n", what,
               (long long)json_integer_value(h), txid != NULL ? txid : "?");
    else
        printf("%s: accepted (txid %s)\n", what, txid != NULL ? txid : "?");
}

int cli_read_pubkey(const char *arg, uint8_t pk[32], pc_error *err)
{
    if (arg == NULL)
        return pc_error_set(err, PC_EINVAL, "no public key given");
    if (strlen(arg) == 43 && pc_b64_decode_exact(pk, 32, arg) == 0)
        return PC_OK;
    if (cli_path_exists(arg))
        return pc_keyfile_public(arg, pk, NULL, err);
    return pc_error_set(err, PC_EINVAL,
                        "'%s' is neither a public key (43 base64url characters) nor a key file",
                        arg);
}

void cli_discard_on_refusal(const char *name, const char *path, int rc)
{
    if (rc == PC_EUNAVAIL || rc == PC_EIO) {
        fprintf(stderr, "parcha %s: kept %s: the transaction may still commit; check before "
                        "trying again\n", name, path);
        return;
    }
    unlink(path);
}

const char *cli_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "-";
}
