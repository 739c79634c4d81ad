/* A network's data folder made without a node (see offline.h): founders'
 * keys, the genesis proposal, node.json and the first block, then any number
 * of further blocks committed straight into ledger.db by the demo. */
#include "cli/offline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "cli/build.h"
#include "cli/cli.h"
#include "cli/keys.h"

/* Files this run created, removed again if creation fails half-way. */
typedef struct created {
    char paths[6 * CLI_MAX_FOUNDERS + 8][1100];
    size_t n;
} created;

/* Note path as created (best effort: a full list just stops recording). */
static void note(created *c, const char *path)
{
    if (c->n < sizeof c->paths / sizeof c->paths[0])
        snprintf(c->paths[c->n++], sizeof c->paths[0], "%s", path);
}

/* Remove everything noted, newest first (directories last since they were
 * noted first). */
static void undo(created *c)
{
    while (c->n > 0) {
        const char *p = c->paths[--c->n];
        if (unlink(p) != 0)
            rmdir(p);
    }
}

/* dir/name into out; false if it does not fit. */
static bool join(char *out, size_t outlen, const char *dir, const char *name)
{
    return cli_pathf(out, outlen, "%s/%s", dir, name);
}

/* mkdir that accepts an existing directory. Notes it when made. */
static int make_dir(const char *path, created *c, pc_error *err)
{
    if (mkdir(path, 0700) == 0) {
        note(c, path);
        return PC_OK;
    }
    struct stat st;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return PC_OK;
    return pc_error_set(err, PC_EIO, "cannot create folder %s: %s", path, strerror(errno));
}

/* Write cfg as indented JSON with a final newline to path (mode 0644). */
static int write_json_file(const char *path, const json_t *cfg, pc_error *err)
{
    char *text = cfg != NULL ? json_dumps(cfg, JSON_INDENT(2)) : NULL;
    if (text == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory writing %s", path);
    pc_buf b;
    pc_buf_init(&b);
    int rc = pc_buf_append_str(&b, text);
    rc = rc ? rc : pc_buf_append_str(&b, "\n");
    free(text);
    if (rc != PC_OK) {
        pc_buf_free(&b);
        return pc_error_set(err, PC_ENOMEM, "out of memory writing %s", path);
    }
    rc = pc_file_write(path, b.data, b.len, 0644, err);
    pc_buf_free(&b);
    return rc;
}

/* node.json for a single node hosting every founder. */
static int write_node_json(const char *path, const cli_offline *o, const char *listen,
                           pc_error *err)
{
    json_t *hosted = json_array();
    for (size_t i = 0; hosted != NULL && i < o->n; i++)
        json_array_append_new(hosted, json_string(o->hospitals[i].id));
    json_t *cfg = json_pack("{s:s,s:s,s:o,s:s,s:s,s:{}}", "network", o->net, "hospital",
                            o->hospitals[0].id, "hosted", hosted, "listen", listen,
                            "orderer", "solo", "peers");
    int rc = write_json_file(path, cfg, err);
    json_decref(cfg);
    return rc;
}

int cli_offline_find(const cli_offline *o, const char *id)
{
    for (size_t i = 0; i < o->n; i++) {
        if (strcmp(o->hospitals[i].id, id) == 0)
            return (int)i;
    }
    return -1;
}

/* Check everything a new network needs before the first file is written:
 * the folder path fits, the network name and hospital ids are well formed
 * and distinct. Bad input changes nothing. */
static int validate_network(const char *dir, const char *net,
                            const cli_hospital_spec *hospitals, size_t n, pc_error *err)
{
    if (strlen(dir) >= sizeof ((cli_offline *)0)->dir - 64)
        return pc_error_set(err, PC_EINVAL, "folder path is too long");
    if (!cli_valid_network(net))
        return pc_error_set(err, PC_EINVAL,
                            "bad network name '%s': use 2 to 64 of a-z, 0-9, '-' and '.'", net);
    if (n == 0 || n > CLI_MAX_FOUNDERS)
        return pc_error_set(err, PC_EINVAL, "a network needs 1 to %d founding hospitals",
                            CLI_MAX_FOUNDERS);
    for (size_t i = 0; i < n; i++) {
        if (!cli_valid_hospital_id(hospitals[i].id))
            return pc_error_set(err, PC_EINVAL, "bad hospital id '%s'", hospitals[i].id);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(hospitals[i].id, hospitals[j].id) == 0)
                return pc_error_set(err, PC_EINVAL, "hospital id '%s' is given twice",
                                    hospitals[i].id);
        }
    }
    return PC_OK;
}

/* PC_EEXIST naming the first of dir/names[] that already exists. */
static int refuse_existing(const char *dir, const char *const *names, size_t nnames,
                           pc_error *err)
{
    char path[1100];
    for (size_t i = 0; i < nnames; i++) {
        if (!join(path, sizeof path, dir, names[i]))
            return pc_error_set(err, PC_EINVAL, "folder path is too long");
        if (cli_path_exists(path))
            return pc_error_set(err, PC_EEXIST,
                                "%s already holds a network (%s exists); use a new folder",
                                dir, names[i]);
    }
    return PC_OK;
}

/* Make founder i's key file keys_dir/<id>.key with its passphrase beside it
 * (<id>.pass, mode 0600) into o->keys[i] and o->passes[i]; notes both files. */
static int make_founder_key(cli_offline *o, size_t i, const char *keys_dir, pc_kdf_cost cost,
                            created *made, pc_error *err)
{
    char path[1100], pass_path[1100], label[96];
    const char *id = o->hospitals[i].id;
    if (!cli_pathf(path, sizeof path, "%s/%s.key", keys_dir, id) ||
        !cli_pathf(pass_path, sizeof pass_path, "%s/%s.pass", keys_dir, id))
        return pc_error_set(err, PC_EINVAL, "folder path is too long");
    if (cli_path_exists(path))
        return pc_error_set(err, PC_EEXIST, "%s already exists; use a new folder", path);
    snprintf(label, sizeof label, "hospital %s", id);
    int rc = cli_key_create_with_pass(path, pass_path, label, 0, cost, &o->keys[i],
                                      o->passes[i], err);
    if (rc != PC_OK)
        return rc;
    note(made, path);
    note(made, pass_path);
    return PC_OK;
}

/* The genesis transaction over o's founders, signed by every one of them, as
 * proposal seq 0 by founder 0 at now: into *prop (caller frees) and its wire
 * form into wire. */
static int make_genesis(const cli_offline *o, int64_t now, pc_proposal *prop, pc_buf *wire,
                        pc_error *err)
{
    cli_hospital founders[CLI_MAX_FOUNDERS];
    const pc_keypair *signers[CLI_MAX_FOUNDERS];
    pc_tx genesis;
    memset(&genesis, 0, sizeof genesis);
    for (size_t i = 0; i < o->n; i++) {
        founders[i].id = o->hospitals[i].id;
        founders[i].name = o->hospitals[i].name;
        founders[i].endpoint = o->hospitals[i].endpoint;
        founders[i].key = o->keys[i].pk;
        signers[i] = &o->keys[i];
    }
    int rc = cli_build_genesis(o->net, founders, signers, o->n, CLI_POLICY_EMERGENCY_MAX_HOURS,
                               CLI_POLICY_CLOCK_WINDOW_MS, now, &genesis, err);
    if (rc != PC_OK)
        return rc;
    /* pc_proposal_make takes the transaction over and empties it; freeing
     * afterwards releases it only when the proposal could not be made. */
    rc = pc_proposal_make(prop, o->net, o->hospitals[0].id, 0, now, &genesis, 1, &o->keys[0],
                          err);
    pc_tx_free(&genesis);
    if (rc != PC_OK)
        return rc;
    if (pc_proposal_encode(prop, wire) != PC_OK)
        return pc_error_set(err, PC_ENOMEM, "out of memory encoding the genesis proposal");
    return PC_OK;
}

int cli_offline_create(const char *dir, const char *net,
                       const cli_hospital_spec *hospitals, size_t n,
                       const char *listen, pc_kdf_cost cost, cli_offline *o,
                       pc_error *err)
{
    created *made = NULL;
    char path[1100], keys_dir[1100];
    pc_proposal prop;
    pc_buf wire;
    int rc;

    memset(o, 0, sizeof *o);
    memset(&prop, 0, sizeof prop);
    pc_buf_init(&wire);

    /* Validate everything first: bad input changes nothing. */
    static const char *const existing[] = {"ledger.db", "genesis.bin", "node.json",
                                           "vault.db"};
    rc = validate_network(dir, net, hospitals, n, err);
    if (rc == PC_OK)
        rc = refuse_existing(dir, existing, sizeof existing / sizeof existing[0], err);
    if (rc != PC_OK)
        return rc;
    if (!join(keys_dir, sizeof keys_dir, dir, "keys"))
        return pc_error_set(err, PC_EINVAL, "folder path is too long");
    for (size_t i = 0; i < n; i++) {
        if (!cli_pathf(path, sizeof path, "%s/%s.key", keys_dir, hospitals[i].id))
            return pc_error_set(err, PC_EINVAL, "folder path is too long");
        if (cli_path_exists(path))
            return pc_error_set(err, PC_EEXIST, "%s already exists; use a new folder", path);
    }

    made = calloc(1, sizeof *made);
    if (made == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    snprintf(o->dir, sizeof o->dir, "%s", dir);
    snprintf(o->net, sizeof o->net, "%s", net);
    o->n = n;
    memcpy(o->hospitals, hospitals, n * sizeof *hospitals);

    rc = make_dir(dir, made, err);
    rc = rc ? rc : make_dir(keys_dir, made, err);
    for (size_t i = 0; rc == PC_OK && i < n; i++)
        rc = make_founder_key(o, i, keys_dir, cost, made, err);
    if (rc == PC_OK)
        rc = make_genesis(o, pc_now_ms(), &prop, &wire, err);
    if (rc != PC_OK)
        goto fail;
    if (!join(path, sizeof path, dir, "genesis.bin")) {
        rc = pc_error_set(err, PC_EINVAL, "folder path is too long");
        goto fail;
    }
    rc = pc_file_write(path, wire.data, wire.len, 0644, err);
    if (rc != PC_OK)
        goto fail;
    note(made, path);

    if (!join(path, sizeof path, dir, "node.json")) {
        rc = pc_error_set(err, PC_EINVAL, "folder path is too long");
        goto fail;
    }
    rc = write_node_json(path, o, listen, err);
    if (rc != PC_OK)
        goto fail;
    note(made, path);

    /* Block 0. */
    if (!join(path, sizeof path, dir, "ledger.db")) {
        rc = pc_error_set(err, PC_EINVAL, "folder path is too long");
        goto fail;
    }
    note(made, path);
    for (size_t i = 0; i < 2; i++) {
        char side[1100];
        if (cli_pathf(side, sizeof side, "%s%s", path, i == 0 ? "-wal" : "-shm"))
            note(made, side);
    }
    rc = pc_ledger_open(path, PC_LEDGER_CREATE, &o->ledger, err);
    if (rc != PC_OK)
        goto fail;
    pc_block_result res;
    memset(&res, 0, sizeof res);
    rc = pc_ledger_apply(o->ledger, &prop, 0, &res, err);
    if (rc != PC_OK)
        goto fail;
    if (res.ntx != 1 || res.verdicts[0] != PC_V_OK) {
        rc = pc_error_set(err, PC_ESTATE, "the ledger refused the genesis transaction (%s)",
                          pc_verdict_name(res.ntx ? res.verdicts[0] : -1));
        pc_block_result_free(&res);
        goto fail;
    }
    pc_block_result_free(&res);
    o->next_pos = 1;
    o->next_seq = 1;
    o->blocks = 1;
    o->txs = 1;
    pc_proposal_free(&prop);
    pc_buf_free(&wire);
    free(made);
    return PC_OK;

fail:
    pc_proposal_free(&prop);
    pc_buf_free(&wire);
    if (o->ledger != NULL) {
        pc_ledger_close(o->ledger);
        o->ledger = NULL;
    }
    undo(made);
    free(made);
    cli_offline_close(o);
    return rc;
}

int cli_offline_create_split(const char *dir, const char *net,
                             const cli_hospital_spec *hospitals, size_t n,
                             json_t *const *configs, pc_kdf_cost cost, cli_offline *o,
                             pc_error *err)
{
    created *made = NULL;
    char node_dir[1100], keys_dir[1100], path[1100];
    pc_proposal prop;
    pc_buf wire;
    int rc;

    memset(o, 0, sizeof *o);
    memset(&prop, 0, sizeof prop);
    pc_buf_init(&wire);

    static const char *const existing[] = {"ledger.db", "genesis.bin", "node.json",
                                           "vault.db", "keys"};
    rc = validate_network(dir, net, hospitals, n, err);
    for (size_t i = 0; rc == PC_OK && i < n; i++) {
        if (!json_is_object(configs[i]))
            return pc_error_set(err, PC_EINVAL, "node settings for '%s' are not an object",
                                hospitals[i].id);
        if (!join(node_dir, sizeof node_dir, dir, hospitals[i].id))
            return pc_error_set(err, PC_EINVAL, "folder path is too long");
        rc = refuse_existing(node_dir, existing, sizeof existing / sizeof existing[0], err);
    }
    if (rc != PC_OK)
        return rc;

    made = calloc(1, sizeof *made);
    if (made == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    snprintf(o->dir, sizeof o->dir, "%s", dir);
    snprintf(o->net, sizeof o->net, "%s", net);
    o->n = n;
    memcpy(o->hospitals, hospitals, n * sizeof *hospitals);

    rc = make_dir(dir, made, err);
    for (size_t i = 0; rc == PC_OK && i < n; i++) {
        if (!join(node_dir, sizeof node_dir, dir, hospitals[i].id) ||
            !join(keys_dir, sizeof keys_dir, node_dir, "keys")) {
            rc = pc_error_set(err, PC_EINVAL, "folder path is too long");
            break;
        }
        rc = make_dir(node_dir, made, err);
        rc = rc ? rc : make_dir(keys_dir, made, err);
        rc = rc ? rc : make_founder_key(o, i, keys_dir, cost, made, err);
    }
    if (rc == PC_OK)
        rc = make_genesis(o, pc_now_ms(), &prop, &wire, err);
    for (size_t i = 0; rc == PC_OK && i < n; i++) {
        json_t *cfg = json_deep_copy(configs[i]);
        json_t *hosted = json_pack("[s]", hospitals[i].id);
        if (cfg == NULL || hosted == NULL ||
            json_object_set_new(cfg, "network", json_string(net)) != 0 ||
            json_object_set_new(cfg, "hospital", json_string(hospitals[i].id)) != 0 ||
            json_object_set(cfg, "hosted", hosted) != 0)
            rc = pc_error_set(err, PC_ENOMEM, "out of memory writing node.json");
        if (rc == PC_OK && (!join(node_dir, sizeof node_dir, dir, hospitals[i].id) ||
                            !join(path, sizeof path, node_dir, "genesis.bin")))
            rc = pc_error_set(err, PC_EINVAL, "folder path is too long");
        if (rc == PC_OK)
            rc = pc_file_write(path, wire.data, wire.len, 0644, err);
        if (rc == PC_OK) {
            note(made, path);
            if (!join(path, sizeof path, node_dir, "node.json"))
                rc = pc_error_set(err, PC_EINVAL, "folder path is too long");
        }
        if (rc == PC_OK)
            rc = write_json_file(path, cfg, err);
        if (rc == PC_OK)
            note(made, path);
        json_decref(hosted);
        json_decref(cfg);
    }
    if (rc != PC_OK)
        goto fail;
    o->next_pos = 1;
    o->next_seq = 1;
    o->blocks = 1;
    o->txs = 1;
    pc_proposal_free(&prop);
    pc_buf_free(&wire);
    free(made);
    return PC_OK;

fail:
    pc_proposal_free(&prop);
    pc_buf_free(&wire);
    undo(made);
    free(made);
    cli_offline_close(o);
    return rc;
}

int cli_offline_commit(cli_offline *o, pc_tx *txs, size_t ntx, uint8_t (*txids)[32],
                       pc_error *err)
{
    pc_proposal prop;
    pc_block_result res;
    memset(&res, 0, sizeof res);
    if (o->ledger == NULL) {
        for (size_t i = 0; i < ntx; i++)
            pc_tx_free(&txs[i]);
        return pc_error_set(err, PC_ESTATE,
                            "this network's nodes order their own blocks; submit through a node");
    }
    int rc = pc_proposal_make(&prop, o->net, o->hospitals[0].id, o->next_seq,
                              pc_now_ms(), txs, ntx, &o->keys[0], err);
    if (rc != PC_OK) {
        for (size_t i = 0; i < ntx; i++)
            pc_tx_free(&txs[i]);
        return rc;
    }
    rc = pc_ledger_apply(o->ledger, &prop, o->next_pos, &res, err);
    if (rc != PC_OK)
        goto out;
    o->next_pos++;
    o->next_seq++;
    o->blocks++;
    o->txs += res.ntx;
    for (size_t i = 0; i < res.ntx; i++) {
        if (res.verdicts[i] != PC_V_OK) {
            rc = pc_error_set(err, PC_ESTATE, "block %llu: %s transaction %zu was refused (%s)",
                              (unsigned long long)res.height,
                              pc_tx_type_name(prop.txs[i].type), i,
                              pc_verdict_name(res.verdicts[i]));
            goto out;
        }
        if (txids != NULL)
            memcpy(txids[i], res.txids[i], 32);
    }
out:
    pc_block_result_free(&res);
    pc_proposal_free(&prop);
    return rc;
}

void cli_offline_close(cli_offline *o)
{
    for (size_t i = 0; i < CLI_MAX_FOUNDERS; i++)
        pc_key_wipe(&o->keys[i]);
    sodium_memzero(o->passes, sizeof o->passes);
    if (o->ledger != NULL)
        pc_ledger_close(o->ledger);
    o->ledger = NULL;
}
