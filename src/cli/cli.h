/* The parcha command table and the helpers every command uses: starting a
 * command (parse options, answer --help), reporting an error as one sentence
 * on stderr, printing JSON, and reading a node's data folder. Each command is
 * `int cli_cmd_NAME(int argc, char **argv)` over the words after its name and
 * returns the process exit code: 0 done, 1 failed, 2 bad usage. */
#ifndef PARCHA_CLI_CLI_H
#define PARCHA_CLI_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>
#include "cli/args.h"
#include "parcha/common.h"
#include "parcha/crypto.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
/* cli_start's answer when the command should go on. */
#define CLI_CONTINUE (-1)

int cli_cmd_keygen(int argc, char **argv);
int cli_cmd_init(int argc, char **argv);
int cli_cmd_staff(int argc, char **argv);
int cli_cmd_hospital(int argc, char **argv);
int cli_cmd_patient(int argc, char **argv);
int cli_cmd_record(int argc, char **argv);
int cli_cmd_consent(int argc, char **argv);
int cli_cmd_history(int argc, char **argv);
int cli_cmd_export(int argc, char **argv);
int cli_cmd_access_log(int argc, char **argv);
int cli_cmd_emergency(int argc, char **argv);
int cli_cmd_verify(int argc, char **argv);
int cli_cmd_show(int argc, char **argv);
int cli_cmd_status(int argc, char **argv);
int cli_cmd_demo(int argc, char **argv);
int cli_cmd_devnet(int argc, char **argv);
int cli_cmd_consortium_audit(int argc, char **argv);

/* Parse argv for command `name` (e.g. "consent grant") with opts, allowing
 * min_pos..max_pos positional words. Prints help (to stdout) and returns 0 on
 * --help; prints the usage error and returns 2 on bad arguments; otherwise
 * returns CLI_CONTINUE. */
int cli_start(const char *name, const char *help, const cli_optspec *opts,
              size_t min_pos, size_t max_pos, int argc, char **argv, cli_args *a);

/* Print "parcha NAME: MESSAGE" on stderr and return 1 (2 for PC_EINVAL
 * raised by argument checks is the caller's choice: use cli_usage). */
int cli_fail(const char *name, const pc_error *err);
/* The same for a bad argument, with a pointer to --help; returns 2. */
int cli_usage(const char *name, const pc_error *err);

/* Print v as indented JSON on stdout followed by a newline. */
void cli_print_json(const json_t *v);

/* Read and parse a JSON file (up to max bytes) with the strict parser. */
int cli_read_json_file(const char *path, size_t max, json_t **out,
                       pc_error *err) PC_MUST_USE;

/* The network id in DIR/node.json. */
int cli_data_network(const char *dir, char *net, size_t netlen, pc_error *err)
    PC_MUST_USE;
/* Open DIR/keys/<hospital>.key with DIR/keys/<hospital>.pass. */
int cli_data_hospital_key(const char *dir, const char *hospital, pc_keypair *kp,
                          pc_error *err) PC_MUST_USE;

/* After a committed transaction: print {"txid","height",...} with --json,
 * otherwise "WHAT: committed in block H (txid ...)". */
void cli_print_committed(const char *what, const json_t *reply, bool as_json);

/* A public key given on the command line: base64url text, or the path of a
 * key file (only its public half is read, no passphrase needed). */
int cli_read_pubkey(const char *arg, uint8_t pk[32], pc_error *err) PC_MUST_USE;

/* Remove a file this run wrote when the transaction it belonged to was
 * definitely refused (4xx), so bad input leaves nothing behind; keep it when
 * the outcome is unknown (node down, timeout) and say so on stderr. */
void cli_discard_on_refusal(const char *name, const char *path, int rc);

/* The string member key of obj, or "-" when absent or not a string. */
const char *cli_str(const json_t *obj, const char *key);

/* snprintf for paths: false (and out emptied) if the result does not fit. */
bool cli_pathf(char *out, size_t outlen, const char *fmt, ...) PC_PRINTF(3, 4);

/* True when stdout is a terminal (colour and highlighting allowed). */
bool cli_stdout_tty(void);

/* A time in ms as "YYYY-MM-DD HH:MM UTC" into out[24]. */
void cli_format_time(int64_t ms, char out[24]);

#endif
