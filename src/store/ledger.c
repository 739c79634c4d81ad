/* ledger.db: the schema, apply(proposal) -> block in one SQLite transaction
 * per block (with the applied position, so a restart resumes exactly), the
 * queries the API and the CLI make, the state digest and `parcha verify`.
 * Transactions are stored as their exact signed bytes (canonical JSON) plus
 * their binary signatures; proposals as their signed header and signature. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "parcha/encode.h"
#include "parcha/healthid.h"
#include "parcha/jcs.h"
#include "parcha/merkle.h"
#include "store/ledger_internal.h"

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS head("
    " id INTEGER PRIMARY KEY CHECK (id = 1), net TEXT NOT NULL, height INTEGER NOT NULL,"
    " hash BLOB NOT NULL, time INTEGER NOT NULL, pos INTEGER NOT NULL, ntx INTEGER NOT NULL,"
    " emergency_max_hours INTEGER NOT NULL, clock_window_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS blocks("
    " height INTEGER PRIMARY KEY, hash BLOB NOT NULL, header BLOB NOT NULL,"
    " proposal BLOB NOT NULL, proposal_sig BLOB NOT NULL, pos INTEGER NOT NULL,"
    " time INTEGER NOT NULL, ntx INTEGER NOT NULL, first_tx INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS txs("
    " seq INTEGER PRIMARY KEY, txid BLOB NOT NULL, height INTEGER NOT NULL,"
    " idx INTEGER NOT NULL, type INTEGER NOT NULL, verdict INTEGER NOT NULL,"
    " canon BLOB NOT NULL, sigs BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS txs_txid ON txs(txid);"
    "CREATE TABLE IF NOT EXISTS hospitals("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, key BLOB NOT NULL UNIQUE,"
    " endpoint TEXT NOT NULL, active INTEGER NOT NULL, since INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS staff("
    " key BLOB PRIMARY KEY, hospital TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,"
    " regno TEXT NOT NULL, active INTEGER NOT NULL, since INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS patients("
    " key BLOB PRIMARY KEY, health_id TEXT NOT NULL UNIQUE, hospital TEXT NOT NULL,"
    " height INTEGER NOT NULL, time INTEGER NOT NULL);"
    /* Records stay a rowid table with a (patient, date) index. Clustering
     * them by patient (WITHOUT ROWID) was measured: timeline 10% faster,
     * apply 40-80% slower (random inserts of whole rows); not worth it. */
    "CREATE TABLE IF NOT EXISTS records("
    " id TEXT PRIMARY KEY, patient BLOB NOT NULL, hi_type TEXT NOT NULL, date INTEGER NOT NULL,"
    " fhir TEXT NOT NULL, custodian TEXT NOT NULL, author BLOB NOT NULL, hash BLOB NOT NULL,"
    " size INTEGER NOT NULL, sealed_key BLOB NOT NULL, txid BLOB NOT NULL,"
    " height INTEGER NOT NULL, time INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS consents("
    " txid BLOB PRIMARY KEY, patient BLOB NOT NULL, grantee_staff BLOB, grantee_hospital TEXT,"
    " hi_types INTEGER NOT NULL, date_from INTEGER, date_to INTEGER, expires INTEGER NOT NULL,"
    " purpose TEXT NOT NULL, time INTEGER NOT NULL, revoked_txid BLOB, revoked_time INTEGER);"
    "CREATE TABLE IF NOT EXISTS emergencies("
    " txid BLOB PRIMARY KEY, patient BLOB NOT NULL, doctor BLOB NOT NULL, hospital TEXT NOT NULL,"
    " reason TEXT NOT NULL, opened INTEGER NOT NULL, expires INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS access_log("
    " txid BLOB PRIMARY KEY, patient BLOB NOT NULL, reader BLOB NOT NULL, custodian TEXT NOT NULL,"
    " records TEXT NOT NULL, basis TEXT NOT NULL, ref BLOB, time INTEGER NOT NULL,"
    " height INTEGER NOT NULL);";

/* Indexes only the API's queries use (timeline, consents, emergencies and
 * access log by patient). The rules never read through them and the state
 * digest orders by primary keys, so verify's scratch replay skips them: each
 * is one more random-key B-tree insert per transaction. */
static const char QUERY_INDEXES[] =
    "CREATE INDEX IF NOT EXISTS records_patient ON records(patient, date);"
    "CREATE INDEX IF NOT EXISTS consents_patient ON consents(patient);"
    "CREATE INDEX IF NOT EXISTS emergencies_patient ON emergencies(patient);"
    "CREATE INDEX IF NOT EXISTS access_patient ON access_log(patient, time);";

/* State tables and their ordering, for the digest. */
static const char *const STATE_TABLES[] = {
    "SELECT * FROM hospitals ORDER BY id", "SELECT * FROM staff ORDER BY key",
    "SELECT * FROM patients ORDER BY key", "SELECT * FROM records ORDER BY id",
    "SELECT * FROM consents ORDER BY txid", "SELECT * FROM emergencies ORDER BY txid",
    "SELECT * FROM access_log ORDER BY txid",
    "SELECT net, height, hash, time, ntx, emergency_max_hours, clock_window_ms FROM head",
    NULL};

/* The columns of a record's chain metadata, joined with its author and
 * custodian names. */
#define RECORD_SELECT                                                                    \
    "SELECT r.id, r.hi_type, r.date, r.fhir, r.custodian, r.author, r.hash, r.size,"   \
    " r.sealed_key, r.txid, r.height, r.time, s.name, s.role, h.name FROM records r"   \
    " LEFT JOIN staff s ON s.key = r.author LEFT JOIN hospitals h ON h.id = r.custodian"

static const char *const STMT_SQL[S_COUNT] = {
    [S_HEAD_GET] = "SELECT net, height, hash, time, pos, ntx, emergency_max_hours,"
                   " clock_window_ms FROM head WHERE id = 1",
    [S_HEAD_PUT] = "INSERT OR REPLACE INTO head(id, net, height, hash, time, pos, ntx,"
                   " emergency_max_hours, clock_window_ms) VALUES (1,?,?,?,?,?,?,?,?)",
    [S_BLOCK_PUT] = "INSERT INTO blocks(height, hash, header, proposal, proposal_sig, pos,"
                    " time, ntx, first_tx) VALUES (?,?,?,?,?,?,?,?,?)",
    [S_TX_PUT] = "INSERT INTO txs(seq, txid, height, idx, type, verdict, canon, sigs)"
                 " VALUES (?,?,?,?,?,?,?,?)",
    [S_TX_EXISTS] = "SELECT 1 FROM txs WHERE txid = ? LIMIT 1",
    [S_HOSP_GET] = "SELECT key, active FROM hospitals WHERE id = ?",
    [S_HOSP_BY_KEY] = "SELECT id, active FROM hospitals WHERE key = ?",
    [S_HOSP_PUT] = "INSERT INTO hospitals(id, name, key, endpoint, active, since)"
                   " VALUES (?,?,?,?,1,?)",
    [S_HOSP_SET_ACTIVE] = "UPDATE hospitals SET active = ? WHERE id = ?",
    [S_HOSP_COUNT_ACTIVE] = "SELECT count(*) FROM hospitals WHERE active = 1",
    [S_STAFF_GET] = "SELECT hospital, role, active FROM staff WHERE key = ?",
    [S_STAFF_PUT] = "INSERT INTO staff(key, hospital, name, role, regno, active, since)"
                    " VALUES (?,?,?,?,?,1,?)",
    [S_STAFF_SET_ACTIVE] = "UPDATE staff SET active = ? WHERE key = ?",
    [S_PATIENT_EXISTS] = "SELECT 1 FROM patients WHERE key = ?",
    [S_PATIENT_PUT] = "INSERT INTO patients(key, health_id, hospital, height, time)"
                      " VALUES (?,?,?,?,?)",
    [S_RECORD_GET] = "SELECT patient, custodian, hi_type, date, fhir, hash, size, sealed_key"
                     " FROM records WHERE id = ?",
    [S_RECORD_PUT] = "INSERT INTO records(id, patient, hi_type, date, fhir, custodian, author,"
                     " hash, size, sealed_key, txid, height, time)"
                     " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_CONSENT_GET] = "SELECT patient, revoked_txid FROM consents WHERE txid = ?",
    [S_CONSENT_PUT] = "INSERT INTO consents(txid, patient, grantee_staff, grantee_hospital,"
                      " hi_types, date_from, date_to, expires, purpose, time)"
                      " VALUES (?,?,?,?,?,?,?,?,?,?)",
    [S_CONSENT_REVOKE] = "UPDATE consents SET revoked_txid = ?, revoked_time = ? WHERE txid = ?",
    [S_EMERGENCY_PUT] = "INSERT INTO emergencies(txid, patient, doctor, hospital, reason,"
                        " opened, expires) VALUES (?,?,?,?,?,?,?)",
    /* No join: names come from a per-timeline cache (tl_names). Ties
     * on the date go newest first by rowid, which records takes in chain
     * order, so the (patient, date) index gives the order and no sort runs. */
    [S_TIMELINE] = "SELECT r.id, r.hi_type, r.date, r.fhir, r.custodian, r.author, r.hash,"
                   " r.size, r.sealed_key, r.txid, r.height, r.time FROM records r"
                   " WHERE r.patient = ? ORDER BY r.date DESC, r.rowid DESC LIMIT ?",
    [S_STAFF_NAME] = "SELECT name, role FROM staff WHERE key = ?",
    [S_HOSP_NAME] = "SELECT name FROM hospitals WHERE id = ?",
    [S_PATIENT_KEY] = "SELECT key FROM patients WHERE health_id = ?",
    [S_ACCESS_PUT] = "INSERT INTO access_log(txid, patient, reader, custodian, records, basis,"
                     " ref, time, height) VALUES (?,?,?,?,?,?,?,?,?)",
};

static const char *const VERDICTS[PC_V_COUNT] = {
    "ok", "bad_signature", "duplicate", "wrong_network", "time_window", "malformed",
    "unknown_signer", "not_authorised", "hospital_inactive", "staff_inactive",
    "unknown_patient", "unknown_hospital", "unknown_staff", "already_exists",
    "unknown_grant", "not_owner", "already_revoked", "expired", "too_long",
    "genesis_only", "no_majority", "unknown_record"};

const char *pc_verdict_name(int v)
{
    return v >= 0 && v < PC_V_COUNT ? VERDICTS[v] : "unknown";
}

void pc_block_result_free(pc_block_result *r)
{
    if (r == NULL)
        return;
    free(r->verdicts);
    free(r->txids);
    memset(r, 0, sizeof *r);
}

void pc_stmt_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

sqlite3_stmt *pc_ledger_stmt(pc_ledger *l, stmt_id id)
{
    if (l->stmts[id] == NULL &&
        sqlite3_prepare_v3(l->db, STMT_SQL[id], -1, SQLITE_PREPARE_PERSISTENT,
                           &l->stmts[id], NULL) != SQLITE_OK)
        return NULL;
    return l->stmts[id];
}

static int db_error(pc_ledger *l, pc_error *err, const char *what)
{
    return pc_error_set(err, PC_EIO, "%s: %s", what, sqlite3_errmsg(l->db));
}

/* WAL checkpointing. SQLite's automatic checkpoint runs inside the COMMIT of
 * whichever block crosses the threshold, so that block's apply also copies
 * every frame back into ledger.db and fsyncs it: measured at 300k tx, about a
 * third of the applying thread's time (docs/performance.md). Instead, a
 * writable handle keeps a checkpointer thread with its own connection. The
 * writer's WAL hook wakes it once the WAL holds CKPT_TRIGGER frames; it runs a
 * PASSIVE checkpoint (never blocks the writer or readers) and, if the WAL has
 * still grown past CKPT_HARD frames (readers kept it from finishing), one
 * RESTART attempt without waiting: SQLite holds the writer lock for the whole
 * of a non-passive checkpoint and blocks writers while it waits for readers,
 * which would stall apply past its busy timeout (seen at 1M tx under load), so
 * the checkpointer has no busy handler at all and simply tries again after a
 * later commit. Once a checkpoint has copied every frame, the writer's next
 * block starts the WAL file from its beginning. The interval is large so that
 * an index page rewritten by many consecutive blocks is copied back once.
 * Durability is unchanged: each block's COMMIT is still fsynced in the WAL
 * (synchronous=FULL) before apply returns. */
#define CKPT_TRIGGER 16384 /* frames (64 MiB of 4 KiB pages) */
#define CKPT_HARD 131072   /* frames (512 MiB) */

/* Called by SQLite in the writer's thread after each commit, with the number
 * of frames now in the WAL. Only signals; never does I/O. */
static int on_wal_commit(void *ctx, sqlite3 *db, const char *name, int frames)
{
    pc_ckpt *c = ctx;
    (void)db;
    (void)name;
    if (frames >= CKPT_TRIGGER) {
        pthread_mutex_lock(&c->mu);
        c->wanted = 1;
        c->log_frames = frames;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    pc_ckpt *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (!c->wanted && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        int stop = c->stop;
        c->wanted = 0;
        pthread_mutex_unlock(&c->mu);
        if (stop)
            break;
        int log = 0, done = 0;
        /* Errors (SQLITE_BUSY while a reader pins old frames) are harmless:
         * the next commit past the trigger asks again. */
        sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (log >= CKPT_HARD && done < log)
            sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_RESTART, &log, &done);
    }
    return NULL;
}

/* Start the checkpointer of a writable handle. On failure SQLite's own
 * automatic checkpoint stays in place (slower, still correct). */
static void ckpt_start(pc_ledger *l, const char *path)
{
    pc_ckpt *c = &l->ckpt;
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sqlite3_close(c->db);
        c->db = NULL;
        return;
    }
    /* No busy handler: see above. */
    sqlite3_busy_timeout(c->db, 0);
    /* A connection opens the file lazily; until it has read the header it
     * does not know the database is in WAL mode and checkpoints nothing. */
    if (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK)
        goto fail_db;
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        goto fail_db;
    if (pthread_cond_init(&c->cv, NULL) != 0)
        goto fail_mu;
    if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0)
        goto fail_cv;
    c->running = 1;
    /* Replaces SQLite's autocheckpoint hook on the writer connection. */
    sqlite3_wal_hook(l->db, on_wal_commit, c);
    return;
fail_cv:
    pthread_cond_destroy(&c->cv);
fail_mu:
    pthread_mutex_destroy(&c->mu);
fail_db:
    sqlite3_close(c->db);
    c->db = NULL;
}

static void ckpt_stop(pc_ledger *l)
{
    pc_ckpt *c = &l->ckpt;
    if (c->running) {
        sqlite3_wal_hook(l->db, NULL, NULL);
        pthread_mutex_lock(&c->mu);
        c->stop = 1;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        c->running = 0;
    }
    sqlite3_close(c->db);
    c->db = NULL;
}

/* Open flags beyond the public ones: a scratch ledger for verify's replay. */
#define LEDGER_SCRATCH 0x100

static int ledger_open(const char *path, int flags, pc_ledger **out, pc_error *err)
{
    *out = NULL;
    pc_ledger *l = calloc(1, sizeof *l);
    if (l == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    l->readonly = (flags & PC_LEDGER_READONLY) != 0;
    int scratch = (flags & LEDGER_SCRATCH) != 0;
    l->scratch = scratch;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    l->verify_threads = ncpu > 0 ? (int)ncpu : 1;
    int oflags = l->readonly ? SQLITE_OPEN_READONLY
                             : SQLITE_OPEN_READWRITE |
                                   ((flags & PC_LEDGER_CREATE) ? SQLITE_OPEN_CREATE : 0);
    oflags |= SQLITE_OPEN_NOMUTEX; /* one handle per thread */
    if (sqlite3_open_v2(path, &l->db, oflags, NULL) != SQLITE_OK) {
        int rc = pc_error_set(err, PC_EIO, "cannot open ledger %s: %s", path,
                              l->db ? sqlite3_errmsg(l->db) : "out of memory");
        pc_ledger_close(l);
        return rc;
    }
    sqlite3_busy_timeout(l->db, 5000);
    /* WAL: readers never block the writer. synchronous=FULL: every block's
     * commit is fsynced before apply returns, so an acknowledged tx survives a
     * power cut, not only a process crash (NORMAL would skip the per-commit
     * WAL fsync). A scratch ledger (verify's replay, deleted afterwards) needs
     * neither a journal nor fsyncs: it is rebuilt from scratch on any failure. */
    const char *pragmas = l->readonly
                              ? "PRAGMA query_only=1; PRAGMA cache_size=-32768;"
                          : scratch ? "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                                      " PRAGMA cache_size=-131072; PRAGMA temp_store=MEMORY;"
                                    : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                      " PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;";
    char *msg = NULL;
    if (sqlite3_exec(l->db, pragmas, NULL, NULL, &msg) != SQLITE_OK ||
        (!l->readonly && sqlite3_exec(l->db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) ||
        (!l->readonly && !scratch && sqlite3_exec(l->db, QUERY_INDEXES, NULL, NULL, &msg) != SQLITE_OK)) {
        int rc = pc_error_set(err, PC_EIO, "cannot prepare ledger %s: %s", path,
                              msg ? msg : "unknown error");
        sqlite3_free(msg);
        pc_ledger_close(l);
        return rc;
    }
    if (!l->readonly && !scratch)
        ckpt_start(l, path);
    *out = l;
    return PC_OK;
}

int pc_ledger_open(const char *path, int flags, pc_ledger **out, pc_error *err)
{
    return ledger_open(path, flags & (PC_LEDGER_READONLY | PC_LEDGER_CREATE), out, err);
}

void pc_ledger_close(pc_ledger *l)
{
    if (l == NULL)
        return;
    ckpt_stop(l);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(l->stmts[i]);
    sqlite3_close(l->db);
    free(l);
}

/* Read head and policy in one go. */
static int load_head(pc_ledger *l, pc_head *h, pc_policy *pol, pc_error *err)
{
    memset(h, 0, sizeof *h);
    if (pol != NULL)
        memset(pol, 0, sizeof *pol);
    sqlite3_stmt *s = pc_ledger_stmt(l, S_HEAD_GET);
    if (s == NULL) {
        /* A read-only handle on an empty file has no tables yet. */
        return PC_OK;
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        h->has_genesis = true;
        snprintf(h->net, sizeof h->net, "%s", (const char *)sqlite3_column_text(s, 0));
        h->height = (uint64_t)sqlite3_column_int64(s, 1);
        if (sqlite3_column_bytes(s, 2) == 32)
            memcpy(h->hash, sqlite3_column_blob(s, 2), 32);
        h->time = sqlite3_column_int64(s, 3);
        h->pos = (uint64_t)sqlite3_column_int64(s, 4);
        h->ntx = (uint64_t)sqlite3_column_int64(s, 5);
        if (pol != NULL) {
            pol->emergency_max_hours = sqlite3_column_int64(s, 6);
            pol->clock_window_ms = sqlite3_column_int64(s, 7);
        }
    }
    pc_stmt_done(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_error(l, err, "reading the ledger head");
    return PC_OK;
}

int pc_ledger_head(pc_ledger *l, pc_head *out, pc_error *err)
{
    return load_head(l, out, NULL, err);
}

int pc_ledger_policy(pc_ledger *l, pc_policy *out, pc_error *err)
{
    pc_head h;
    return load_head(l, &h, out, err);
}

/* ------------------------------------------------------------------------ */
/* Apply                                                                     */
/* ------------------------------------------------------------------------ */

/* Canonical block header bytes; *hash gets the block hash. */
static int block_header(uint64_t height, const uint8_t prev[32], int64_t time,
                        const pc_proposal *p, uint64_t pos, const uint8_t *verdicts,
                        pc_buf *out, uint8_t hash[32], pc_error *err)
{
    char prevhex[65], prophex[65], roothex[65], reshex[65];
    uint8_t results[32];
    pc_sha256(results, verdicts, p->ntx);
    pc_hex_encode_public(prevhex, sizeof prevhex, prev, 32);
    pc_hex_encode_public(prophex, sizeof prophex, p->hash, 32);
    pc_hex_encode_public(roothex, sizeof roothex, p->txroot, 32);
    pc_hex_encode_public(reshex, sizeof reshex, results, 32);
    json_t *h = json_pack("{s:i,s:I,s:s,s:I,s:s,s:s,s:I,s:I,s:s,s:s}", "v", 1,
                          "height", (json_int_t)height, "prev", prevhex,
                          "time", (json_int_t)time, "proposer", p->proposer,
                          "proposal", prophex, "pos", (json_int_t)pos,
                          "count", (json_int_t)p->ntx, "txroot", roothex,
                          "results", reshex);
    if (h == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    int rc = pc_jcs_dump(h, out, err);
    json_decref(h);
    if (rc == PC_OK)
        pc_sha256_tagged(hash, PC_DOMAIN_BLOCK, out->data, out->len);
    return rc;
}

/* The proposer's key: from state, or for the genesis proposal from its body. */
static int proposer_key(pc_ledger *l, const pc_head *head, const pc_proposal *p,
                        uint8_t key[32], pc_error *err)
{
    if (!head->has_genesis) {
        const json_t *hs = json_object_get(p->txs[0].body, "hospitals");
        size_t i;
        const json_t *h;
        json_array_foreach(hs, i, h) {
            const char *id = json_string_value(json_object_get(h, "id"));
            if (id != NULL && strcmp(id, p->proposer) == 0 &&
                pc_b64_decode_exact_public(key, 32, json_string_value(json_object_get(h, "key"))) == 0)
                return PC_OK;
        }
        return pc_error_set(err, PC_EINVAL, "genesis proposer %s is not a founding hospital",
                            p->proposer);
    }
    bool active = false;
    int rc = pc_ledger_hospital_key(l, p->proposer, key, &active, err);
    if (rc == PC_ENOTFOUND)
        return pc_error_set(err, PC_EINVAL, "proposer %s is not a member hospital", p->proposer);
    if (rc != PC_OK)
        return rc;
    if (!active)
        return pc_error_set(err, PC_EDENIED, "proposer %s is suspended", p->proposer);
    return PC_OK;
}

/* Check that p may become the next block at pos. */
static int check_proposal(pc_ledger *l, const pc_head *head, const pc_proposal *p,
                          uint64_t pos, pc_error *err)
{
    if (!head->has_genesis) {
        if (pos != 0 || p->ntx != 1 || p->txs[0].type != PC_TX_GENESIS)
            return pc_error_set(err, PC_EINVAL,
                                "the first block must be the genesis proposal at position 0");
        if (strcmp(p->net, p->txs[0].net) != 0)
            return pc_error_set(err, PC_EINVAL, "genesis proposal and transaction disagree on the network");
    } else {
        if (pos <= head->pos)
            return pc_error_set(err, PC_EINVAL, "position %llu is not after the last applied %llu",
                                (unsigned long long)pos, (unsigned long long)head->pos);
        if (strcmp(p->net, head->net) != 0)
            return pc_error_set(err, PC_EINVAL, "proposal is for network %s, not %s", p->net, head->net);
    }
    uint8_t key[32];
    int rc = proposer_key(l, head, p, key, err);
    if (rc != PC_OK)
        return rc;
    if (pc_verify(key, PC_DOMAIN_PROPOSAL, p->header, p->header_len, p->sig) != PC_OK)
        return pc_error_set(err, PC_ECRYPTO, "proposal %llu from %s has a bad signature",
                            (unsigned long long)p->seq, p->proposer);
    return PC_OK;
}

/* Pack binary signatures for storage: nsig * (key 32 | sig 64). */
static void pack_sigs(const pc_tx *tx, uint8_t *out)
{
    for (size_t i = 0; i < tx->nsigs; i++) {
        memcpy(out + i * 96, tx->sigs[i].key, 32);
        memcpy(out + i * 96 + 32, tx->sigs[i].sig, 64);
    }
}

int pc_ledger_apply(pc_ledger *l, pc_proposal *p, uint64_t pos,
                    pc_block_result *res, pc_error *err)
{
    memset(res, 0, sizeof *res);
    if (l->readonly)
        return pc_error_set(err, PC_EINVAL, "ledger is open read-only");
    pc_head head;
    pc_policy pol;
    int rc = load_head(l, &head, &pol, err);
    if (rc != PC_OK)
        return rc;
    rc = check_proposal(l, &head, p, pos, err);
    if (rc != PC_OK)
        return rc;
    pc_proposal_verify_txs(p, l->verify_threads);

    uint64_t height = head.has_genesis ? head.height + 1 : 0;
    int64_t bt = head.has_genesis && head.time > p->time ? head.time : p->time;
    if (!head.has_genesis) {
        const json_t *policy = json_object_get(p->txs[0].body, "policy");
        pol.emergency_max_hours = json_integer_value(json_object_get(policy, "emergency_max_hours"));
        pol.clock_window_ms = json_integer_value(json_object_get(policy, "clock_window_ms"));
        snprintf(head.net, sizeof head.net, "%s", p->txs[0].net);
    }
    res->verdicts = calloc(p->ntx ? p->ntx : 1, 1);
    res->txids = calloc(p->ntx ? p->ntx : 1, 32);
    if (res->verdicts == NULL || res->txids == NULL) {
        pc_block_result_free(res);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    if (sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        pc_block_result_free(res);
        return db_error(l, err, "starting a block");
    }
    uint8_t sigbuf[PC_TX_MAX_SIGS * 96];
    for (size_t i = 0; i < p->ntx; i++) {
        pc_tx *tx = &p->txs[i];
        int v = pc_apply_tx(l, tx, &head, &pol, bt, height, err);
        if (v < 0)
            goto rollback;
        if (v != PC_V_OK)
            pc_error_clear(err);
        res->verdicts[i] = (uint8_t)v;
        memcpy(res->txids[i], tx->txid, 32);
        sqlite3_stmt *s = pc_ledger_stmt(l, S_TX_PUT);
        if (s == NULL)
            goto dberr;
        pack_sigs(tx, sigbuf);
        sqlite3_bind_int64(s, 1, (sqlite3_int64)(head.ntx + i + 1));
        sqlite3_bind_blob(s, 2, tx->txid, 32, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)height);
        sqlite3_bind_int64(s, 4, (sqlite3_int64)i);
        sqlite3_bind_int(s, 5, (int)tx->type);
        sqlite3_bind_int(s, 6, v);
        /* A scratch replay keeps only what apply and the comparison read
         * (txids for the duplicate rule); the bytes are in the ledger being
         * verified. */
        sqlite3_bind_blob(s, 7, tx->canon, l->scratch ? 0 : (int)tx->canon_len, SQLITE_STATIC);
        sqlite3_bind_blob(s, 8, sigbuf, l->scratch ? 0 : (int)(tx->nsigs * 96), SQLITE_STATIC);
        int step = sqlite3_step(s);
        pc_stmt_done(s);
        if (step != SQLITE_DONE)
            goto dberr;
    }
    pc_buf header;
    pc_buf_init(&header);
    rc = block_header(height, head.hash, bt, p, pos, res->verdicts, &header, res->hash, err);
    if (rc != PC_OK) {
        pc_buf_free(&header);
        goto rollback;
    }
    sqlite3_stmt *s = pc_ledger_stmt(l, S_BLOCK_PUT);
    if (s == NULL) {
        pc_buf_free(&header);
        goto dberr;
    }
    sqlite3_bind_int64(s, 1, (sqlite3_int64)height);
    sqlite3_bind_blob(s, 2, res->hash, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, header.data, (int)header.len, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, p->header, (int)p->header_len, SQLITE_STATIC);
    sqlite3_bind_blob(s, 5, p->sig, 64, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)pos);
    sqlite3_bind_int64(s, 7, bt);
    sqlite3_bind_int64(s, 8, (sqlite3_int64)p->ntx);
    sqlite3_bind_int64(s, 9, (sqlite3_int64)(head.ntx + 1));
    int step = sqlite3_step(s);
    pc_stmt_done(s);
    pc_buf_free(&header);
    if (step != SQLITE_DONE)
        goto dberr;
    s = pc_ledger_stmt(l, S_HEAD_PUT);
    if (s == NULL)
        goto dberr;
    sqlite3_bind_text(s, 1, head.net, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)height);
    sqlite3_bind_blob(s, 3, res->hash, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, bt);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)pos);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)(head.ntx + p->ntx));
    sqlite3_bind_int64(s, 7, pol.emergency_max_hours);
    sqlite3_bind_int64(s, 8, pol.clock_window_ms);
    step = sqlite3_step(s);
    pc_stmt_done(s);
    if (step != SQLITE_DONE)
        goto dberr;
    if (sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto dberr;
    res->height = height;
    res->time = bt;
    res->ntx = p->ntx;
    return PC_OK;
dberr:
    db_error(l, err, "writing a block");
rollback:
    sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    pc_block_result_free(res);
    return err && err->code != PC_OK ? err->code : PC_EIO;
}

/* ------------------------------------------------------------------------ */
/* Point lookups                                                             */
/* ------------------------------------------------------------------------ */

/* Prepare an ad-hoc query (queries off the hot path). */
static sqlite3_stmt *prep(pc_ledger *l, const char *sql, pc_error *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(l->db, sql, -1, &s, NULL) != SQLITE_OK) {
        db_error(l, err, "preparing a query");
        return NULL;
    }
    return s;
}

int pc_ledger_hospital_key(pc_ledger *l, const char *id, uint8_t key[32],
                           bool *active, pc_error *err)
{
    sqlite3_stmt *s = pc_ledger_stmt(l, S_HOSP_GET);
    if (s == NULL)
        return db_error(l, err, "looking up a hospital");
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memcpy(key, sqlite3_column_blob(s, 0), 32);
        *active = sqlite3_column_int(s, 1) != 0;
    }
    pc_stmt_done(s);
    if (rc == SQLITE_ROW)
        return PC_OK;
    if (rc == SQLITE_DONE)
        return pc_error_set(err, PC_ENOTFOUND, "no hospital %s", id);
    return db_error(l, err, "looking up a hospital");
}

int pc_ledger_tx_exists(pc_ledger *l, const uint8_t txid[32], bool *exists,
                        pc_error *err)
{
    sqlite3_stmt *s = pc_ledger_stmt(l, S_TX_EXISTS);
    if (s == NULL)
        return db_error(l, err, "looking up a transaction");
    sqlite3_bind_blob(s, 1, txid, 32, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    pc_stmt_done(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_error(l, err, "looking up a transaction");
    *exists = rc == SQLITE_ROW;
    return PC_OK;
}

int pc_ledger_staff_info(pc_ledger *l, const uint8_t key[32], pc_staff_info *out,
                         pc_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = prep(l, "SELECT s.hospital, s.role, s.name, s.active, h.active"
                              " FROM staff s JOIN hospitals h ON h.id = s.hospital"
                              " WHERE s.key = ?", err);
    if (s == NULL)
        return PC_EIO;
    sqlite3_bind_blob(s, 1, key, 32, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->found = true;
        snprintf(out->hospital, sizeof out->hospital, "%s", (const char *)sqlite3_column_text(s, 0));
        snprintf(out->role, sizeof out->role, "%s", (const char *)sqlite3_column_text(s, 1));
        snprintf(out->name, sizeof out->name, "%s", (const char *)sqlite3_column_text(s, 2));
        out->active = sqlite3_column_int(s, 3) != 0;
        out->hospital_active = sqlite3_column_int(s, 4) != 0;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_error(l, err, "looking up staff");
    return PC_OK;
}

int pc_ledger_record_info(pc_ledger *l, const char *record_id, pc_record_info *out,
                          pc_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = pc_ledger_stmt(l, S_RECORD_GET);
    if (s == NULL)
        return db_error(l, err, "looking up a record");
    sqlite3_bind_text(s, 1, record_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        snprintf(out->id, sizeof out->id, "%s", record_id);
        memcpy(out->patient, sqlite3_column_blob(s, 0), 32);
        snprintf(out->custodian, sizeof out->custodian, "%s", (const char *)sqlite3_column_text(s, 1));
        snprintf(out->hi_type, sizeof out->hi_type, "%s", (const char *)sqlite3_column_text(s, 2));
        out->date = sqlite3_column_int(s, 3);
        snprintf(out->fhir, sizeof out->fhir, "%s", (const char *)sqlite3_column_text(s, 4));
        memcpy(out->hash, sqlite3_column_blob(s, 5), 32);
        out->size = sqlite3_column_int64(s, 6);
        memcpy(out->sealed_key, sqlite3_column_blob(s, 7), PC_SEALED_KEY_LEN);
    }
    pc_stmt_done(s);
    if (rc == SQLITE_ROW)
        return PC_OK;
    if (rc == SQLITE_DONE)
        return pc_error_set(err, PC_ENOTFOUND, "no record %s", record_id);
    return db_error(l, err, "looking up a record");
}

int pc_ledger_patient_key(pc_ledger *l, const char *health_id, uint8_t key[32],
                          pc_error *err)
{
    sqlite3_stmt *s = pc_ledger_stmt(l, S_PATIENT_KEY);
    if (s == NULL)
        return db_error(l, err, "preparing a query");
    sqlite3_bind_text(s, 1, health_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        memcpy(key, sqlite3_column_blob(s, 0), 32);
    pc_stmt_done(s);
    if (rc == SQLITE_ROW)
        return PC_OK;
    if (rc == SQLITE_DONE)
        return pc_error_set(err, PC_ENOTFOUND, "no patient with Health ID %s", health_id);
    return db_error(l, err, "looking up a patient");
}

/* ------------------------------------------------------------------------ */
/* The access rule against state                                             */
/* ------------------------------------------------------------------------ */

int pc_ledger_access_check(pc_ledger *l, const uint8_t reader[32],
                           const pc_record_info *rec, int64_t now_ms,
                           pc_access_decision *out, pc_error *err)
{
    pc_access_reader rd;
    pc_access_record ar;
    memset(&rd, 0, sizeof rd);
    memset(&ar, 0, sizeof ar);
    memcpy(rd.key, reader, 32);
    pc_staff_info st;
    int rc = pc_ledger_staff_info(l, reader, &st, err);
    if (rc != PC_OK)
        return rc;
    if (st.found) {
        rd.is_staff = true;
        rd.staff_active = st.active;
        rd.hospital_active = st.hospital_active;
        snprintf(rd.hospital, sizeof rd.hospital, "%s", st.hospital);
    }
    memcpy(ar.patient, rec->patient, 32);
    snprintf(ar.custodian, sizeof ar.custodian, "%s", rec->custodian);
    ar.hi_type = pc_hi_type_from_name(rec->hi_type);
    ar.date = rec->date;

    enum { MAX_ROWS = 256 };
    pc_access_grant *grants = calloc(MAX_ROWS, sizeof *grants);
    pc_access_emergency *ems = calloc(MAX_ROWS, sizeof *ems);
    size_t ng = 0, ne = 0;
    if (grants == NULL || ems == NULL) {
        free(grants);
        free(ems);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    /* Only grants that name this reader or the reader's hospital matter. */
    sqlite3_stmt *s = prep(l, "SELECT txid, grantee_staff, grantee_hospital, hi_types,"
                              " date_from, date_to, expires, revoked_txid FROM consents"
                              " WHERE patient = ?1 AND (grantee_staff = ?2 OR grantee_hospital = ?3)"
                              " ORDER BY time DESC LIMIT 256", err);
    if (s == NULL)
        goto fail;
    sqlite3_bind_blob(s, 1, rec->patient, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, reader, 32, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, st.found ? st.hospital : "", -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && ng < MAX_ROWS) {
        pc_access_grant *g = &grants[ng++];
        memcpy(g->txid, sqlite3_column_blob(s, 0), 32);
        g->to_staff = sqlite3_column_type(s, 1) != SQLITE_NULL;
        if (g->to_staff)
            memcpy(g->grantee_key, sqlite3_column_blob(s, 1), 32);
        else
            snprintf(g->grantee_hospital, sizeof g->grantee_hospital, "%s",
                     (const char *)sqlite3_column_text(s, 2));
        g->hi_types = (unsigned)sqlite3_column_int(s, 3);
        g->has_from = sqlite3_column_type(s, 4) != SQLITE_NULL;
        g->date_from = sqlite3_column_int(s, 4);
        g->has_to = sqlite3_column_type(s, 5) != SQLITE_NULL;
        g->date_to = sqlite3_column_int(s, 5);
        g->expires = sqlite3_column_int64(s, 6);
        g->revoked = sqlite3_column_type(s, 7) != SQLITE_NULL;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        goto dberr;
    s = prep(l, "SELECT txid, doctor, opened, expires FROM emergencies"
                " WHERE patient = ?1 AND doctor = ?2 ORDER BY opened DESC LIMIT 256", err);
    if (s == NULL)
        goto fail;
    sqlite3_bind_blob(s, 1, rec->patient, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, reader, 32, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && ne < MAX_ROWS) {
        pc_access_emergency *e = &ems[ne++];
        memcpy(e->txid, sqlite3_column_blob(s, 0), 32);
        memcpy(e->doctor, sqlite3_column_blob(s, 1), 32);
        e->opened = sqlite3_column_int64(s, 2);
        e->expires = sqlite3_column_int64(s, 3);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        goto dberr;
    *out = pc_access_decide(&rd, &ar, grants, ng, ems, ne, now_ms);
    free(grants);
    free(ems);
    return PC_OK;
dberr:
    db_error(l, err, "checking access");
fail:
    free(grants);
    free(ems);
    return PC_EIO;
}

/* ------------------------------------------------------------------------ */
/* JSON queries                                                              */
/* ------------------------------------------------------------------------ */

/* Column helpers: base64url / hex strings or null from blobs. */
static json_t *col_b64(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return json_null();
    char buf[160];
    int n = sqlite3_column_bytes(s, i);
    if (n <= 0 || (size_t)n > 100)
        return json_null();
    return json_string(pc_b64_encode_public(buf, sizeof buf, sqlite3_column_blob(s, i), (size_t)n));
}

static json_t *col_hex(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) != SQLITE_BLOB || sqlite3_column_bytes(s, i) != 32)
        return json_null();
    char buf[65];
    return json_string(pc_hex_encode_public(buf, sizeof buf, sqlite3_column_blob(s, i), 32));
}

static json_t *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? json_string((const char *)t) : json_null();
}

static json_t *col_date(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return json_null();
    char d[11];
    pc_date_format(sqlite3_column_int(s, i), d);
    return json_string(d);
}

static json_t *hi_types_json(unsigned types)
{
    json_t *a = json_array();
    if (types == PC_HI_ALL) {
        json_array_append_new(a, json_string("*"));
        return a;
    }
    for (unsigned b = 1; b <= PC_HI_WELLNESSRECORD; b <<= 1)
        if (types & b)
            json_array_append_new(a, json_string(pc_hi_type_name(b)));
    return a;
}

int pc_ledger_tx_json(pc_ledger *l, const uint8_t txid[32], json_t **out,
                      pc_error *err)
{
    *out = NULL;
    sqlite3_stmt *s = prep(l, "SELECT t.height, t.idx, t.type, t.verdict, b.time, b.hash,"
                              " b.first_tx, b.ntx, b.header FROM txs t JOIN blocks b ON b.height = t.height"
                              " WHERE t.txid = ? ORDER BY t.seq LIMIT 1", err);
    if (s == NULL)
        return PC_EIO;
    sqlite3_bind_blob(s, 1, txid, 32, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return rc == SQLITE_DONE ? pc_error_set(err, PC_ENOTFOUND, "no such transaction")
                                 : db_error(l, err, "looking up a transaction");
    }
    uint64_t height = (uint64_t)sqlite3_column_int64(s, 0);
    size_t idx = (size_t)sqlite3_column_int64(s, 1);
    int type = sqlite3_column_int(s, 2), verdict = sqlite3_column_int(s, 3);
    int64_t time = sqlite3_column_int64(s, 4);
    json_t *block = col_hex(s, 5);
    int64_t first = sqlite3_column_int64(s, 6);
    size_t ntx = (size_t)sqlite3_column_int64(s, 7);
    json_t *header = NULL;
    pc_error perr;
    if (pc_json_parse(sqlite3_column_blob(s, 8), (size_t)sqlite3_column_bytes(s, 8), &header, &perr) != PC_OK)
        header = json_null();
    sqlite3_finalize(s);

    /* The inclusion proof: all txids of the block, in order. */
    uint8_t (*ids)[32] = malloc((ntx ? ntx : 1) * 32);
    if (ids == NULL) {
        json_decref(block);
        json_decref(header);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    s = prep(l, "SELECT txid FROM txs WHERE seq >= ? AND seq < ? ORDER BY seq", err);
    size_t n = 0;
    if (s != NULL) {
        sqlite3_bind_int64(s, 1, first);
        sqlite3_bind_int64(s, 2, first + (int64_t)ntx);
        while (sqlite3_step(s) == SQLITE_ROW && n < ntx)
            memcpy(ids[n++], sqlite3_column_blob(s, 0), 32);
        sqlite3_finalize(s);
    }
    uint8_t path[PC_MERKLE_MAX_PATH][32], root[32];
    size_t plen = 0;
    json_t *proof = json_null();
    if (n == ntx && pc_merkle_root((const uint8_t(*)[32])ids, n, root) == PC_OK &&
        pc_merkle_proof((const uint8_t(*)[32])ids, n, idx, path, &plen) == PC_OK) {
        char hex[65];
        json_t *p = json_array();
        for (size_t i = 0; i < plen; i++)
            json_array_append_new(p, json_string(pc_hex_encode_public(hex, sizeof hex, path[i], 32)));
        proof = json_pack("{s:s,s:I,s:I,s:o}", "root", pc_hex_encode_public(hex, sizeof hex, root, 32),
                          "index", (json_int_t)idx, "size", (json_int_t)n, "path", p);
    }
    free(ids);
    char hex[65];
    *out = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:I,s:o,s:o,s:o}",
                     "txid", pc_hex_encode_public(hex, sizeof hex, txid, 32), "status", "committed",
                     "type", pc_tx_type_name((pc_tx_type)type), "height", (json_int_t)height,
                     "index", (json_int_t)idx, "verdict", pc_verdict_name(verdict),
                     "time", (json_int_t)time, "block", block, "header", header,
                     "proof", proof);
    return *out ? PC_OK : pc_error_set(err, PC_ENOMEM, "out of memory");
}

/* Rebuild a parsed tx from a stored row's canon and packed sigs columns. */
static int tx_from_row(sqlite3_stmt *s, int canon_col, int sigs_col, pc_tx *tx,
                       pc_error *err)
{
    pc_txsig sigs[PC_TX_MAX_SIGS];
    int slen = sqlite3_column_bytes(s, sigs_col);
    if (slen <= 0 || slen % 96 != 0 || slen / 96 > PC_TX_MAX_SIGS)
        return pc_error_set(err, PC_ESTATE, "stored signatures are malformed");
    const uint8_t *sb = sqlite3_column_blob(s, sigs_col);
    for (int i = 0; i < slen / 96; i++) {
        memcpy(sigs[i].key, sb + i * 96, 32);
        memcpy(sigs[i].sig, sb + i * 96 + 32, 64);
    }
    return pc_tx_parse_canon(sqlite3_column_blob(s, canon_col),
                             (size_t)sqlite3_column_bytes(s, canon_col), sigs,
                             (size_t)(slen / 96), tx, err);
}

int pc_ledger_tx_raw(pc_ledger *l, const uint8_t txid[32], json_t **out,
                     pc_error *err)
{
    *out = NULL;
    sqlite3_stmt *s = prep(l, "SELECT canon, sigs FROM txs WHERE txid = ? ORDER BY seq LIMIT 1", err);
    if (s == NULL)
        return PC_EIO;
    sqlite3_bind_blob(s, 1, txid, 32, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return rc == SQLITE_DONE ? pc_error_set(err, PC_ENOTFOUND, "no such transaction")
                                 : db_error(l, err, "looking up a transaction");
    }
    pc_tx tx;
    rc = tx_from_row(s, 0, 1, &tx, err);
    sqlite3_finalize(s);
    if (rc != PC_OK)
        return rc;
    char *text = pc_tx_to_json(&tx, NULL);
    pc_tx_free(&tx);
    if (text == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    json_error_t je;
    *out = json_loads(text, 0, &je);
    free(text);
    return *out ? PC_OK : pc_error_set(err, PC_ENOMEM, "out of memory");
}

void pc_ledger_interrupt(pc_ledger *l)
{
    if (l != NULL && l->db != NULL)
        sqlite3_interrupt(l->db);
}

int pc_ledger_block_time(pc_ledger *l, uint64_t height, int64_t *time, pc_error *err)
{
    *time = 0;
    sqlite3_stmt *s = prep(l, "SELECT time FROM blocks WHERE height = ?", err);
    if (s == NULL)
        return PC_EIO;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)height);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *time = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW)
        return PC_OK;
    return rc == SQLITE_DONE ? pc_error_set(err, PC_ENOTFOUND, "no block at height %llu",
                                            (unsigned long long)height)
                             : db_error(l, err, "looking up a block's time");
}

int pc_ledger_block_json(pc_ledger *l, uint64_t height, json_t **out, pc_error *err)
{
    *out = NULL;
    sqlite3_stmt *s = prep(l, "SELECT hash, header, first_tx, ntx FROM blocks WHERE height = ?", err);
    if (s == NULL)
        return PC_EIO;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)height);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return rc == SQLITE_DONE ? pc_error_set(err, PC_ENOTFOUND, "no block at height %llu",
                                                (unsigned long long)height)
                                 : db_error(l, err, "looking up a block");
    }
    json_t *hash = col_hex(s, 0);
    json_t *header = NULL;
    if (pc_json_parse(sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1), &header, err) != PC_OK)
        header = json_null();
    int64_t first = sqlite3_column_int64(s, 2), ntx = sqlite3_column_int64(s, 3);
    sqlite3_finalize(s);
    json_t *txs = json_array();
    s = prep(l, "SELECT txid, type, verdict FROM txs WHERE seq >= ? AND seq < ? ORDER BY seq", err);
    if (s != NULL) {
        sqlite3_bind_int64(s, 1, first);
        sqlite3_bind_int64(s, 2, first + ntx);
        while (sqlite3_step(s) == SQLITE_ROW)
            json_array_append_new(txs, json_pack("{s:o,s:s,s:s}", "txid", col_hex(s, 0),
                                                 "type", pc_tx_type_name((pc_tx_type)sqlite3_column_int(s, 1)),
                                                 "verdict", pc_verdict_name(sqlite3_column_int(s, 2))));
        sqlite3_finalize(s);
    }
    *out = json_pack("{s:I,s:o,s:o,s:o}", "height", (json_int_t)height, "hash", hash,
                     "header", header, "txs", txs);
    return *out ? PC_OK : pc_error_set(err, PC_ENOMEM, "out of memory");
}

int pc_ledger_patient_json(pc_ledger *l, const char *health_id, json_t **out,
                           pc_error *err)
{
    *out = NULL;
    sqlite3_stmt *s = prep(l, "SELECT key, hospital, height, time,"
                              " (SELECT count(*) FROM records r WHERE r.patient = p.key)"
                              " FROM patients p WHERE health_id = ?", err);
    if (s == NULL)
        return PC_EIO;
    sqlite3_bind_text(s, 1, health_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = json_pack("{s:s,s:o,s:o,s:I,s:I,s:I}", "health_id", health_id, "key", col_b64(s, 0),
                         "hospital", col_text(s, 1), "height", (json_int_t)sqlite3_column_int64(s, 2),
                         "time", (json_int_t)sqlite3_column_int64(s, 3),
                         "records", (json_int_t)sqlite3_column_int64(s, 4));
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE)
        return pc_error_set(err, PC_ENOTFOUND, "no patient with Health ID %s", health_id);
    if (rc != SQLITE_ROW)
        return db_error(l, err, "looking up a patient");
    return *out ? PC_OK : pc_error_set(err, PC_ENOMEM, "out of memory");
}

/* The columns of a record's chain metadata (RECORD_SELECT, defined with
 * the statements above); record_row() turns one row into JSON. */

/* One member into o (value stolen); -1 on failure. No key check: the names
 * are constants. Faster than json_pack's format parsing for 1,000 rows. */
static int put(json_t *o, const char *k, json_t *v)
{
    return v == NULL ? -1 : json_object_set_new_nocheck(o, k, v);
}

static json_t *record_row(sqlite3_stmt *s)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    /* || evaluates left to right: members keep this order in the output. */
    int bad = put(o, "id", col_text(s, 0)) || put(o, "hi_type", col_text(s, 1)) ||
              put(o, "date", col_date(s, 2)) || put(o, "fhir", col_text(s, 3)) ||
              put(o, "custodian", col_text(s, 4)) || put(o, "author", col_b64(s, 5)) ||
              put(o, "hash", col_hex(s, 6)) ||
              put(o, "size", json_integer(sqlite3_column_int64(s, 7))) ||
              put(o, "sealed_key", col_b64(s, 8)) || put(o, "txid", col_hex(s, 9)) ||
              put(o, "height", json_integer(sqlite3_column_int64(s, 10))) ||
              put(o, "time", json_integer(sqlite3_column_int64(s, 11))) ||
              put(o, "author_name", col_text(s, 12)) || put(o, "author_role", col_text(s, 13)) ||
              put(o, "custodian_name", col_text(s, 14));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int pc_ledger_record_json(pc_ledger *l, const char *record_id, json_t **out,
                          pc_error *err)
{
    *out = NULL;
    sqlite3_stmt *s = prep(l, RECORD_SELECT " WHERE r.id = ?", err);
    if (s == NULL)
        return PC_EIO;
    sqlite3_bind_text(s, 1, record_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = record_row(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE)
        return pc_error_set(err, PC_ENOTFOUND, "no record %s", record_id);
    if (rc != SQLITE_ROW)
        return db_error(l, err, "looking up a record");
    return *out ? PC_OK : pc_error_set(err, PC_ENOMEM, "out of memory");
}

/* The cached timeline statement with its parameters bound (reset by the
 * caller with pc_stmt_done), or NULL with err set. */
static sqlite3_stmt *timeline_stmt(pc_ledger *l, const uint8_t patient[32], size_t limit,
                                   pc_error *err)
{
    sqlite3_stmt *s = pc_ledger_stmt(l, S_TIMELINE);
    if (s == NULL) {
        db_error(l, err, "preparing a query");
        return NULL;
    }
    sqlite3_bind_blob(s, 1, patient, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, limit ? (sqlite3_int64)limit : -1);
    return s;
}

/* The author and custodian names of one timeline. A patient's records come
 * from a few dozen staff of a few hospitals, so each name is looked up once
 * per timeline instead of joined on every row (two B-tree descents per table
 * per row), and each author's base64 key is written once. */
#define TIMELINE_NAMES 64

typedef struct tl_author {
    uint8_t key[32];
    char b64[48];
    char *name, *role; /* NULL when the key is not a staff member */
} tl_author;

typedef struct tl_hosp {
    char *id;
    char *name; /* NULL when the id is not a hospital */
} tl_hosp;

typedef struct tl_names {
    pc_ledger *l;
    size_t na, nh;
    tl_author a[TIMELINE_NAMES + 1]; /* the last slot is scratch when full */
    tl_hosp h[TIMELINE_NAMES + 1];
} tl_names;

static char *dup_col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

static void names_free(tl_names *nm)
{
    for (size_t i = 0; i <= TIMELINE_NAMES; i++) {
        free(nm->a[i].name);
        free(nm->a[i].role);
        free(nm->h[i].id);
        free(nm->h[i].name);
    }
}

/* The author entry for column i of row s, or NULL (a NULL or odd-sized key,
 * a database error or no memory). */
static const tl_author *names_author(tl_names *nm, sqlite3_stmt *row, int i)
{
    if (sqlite3_column_type(row, i) != SQLITE_BLOB || sqlite3_column_bytes(row, i) != 32)
        return NULL;
    const uint8_t *key = sqlite3_column_blob(row, i);
    for (size_t k = 0; k < nm->na; k++)
        if (memcmp(nm->a[k].key, key, 32) == 0)
            return &nm->a[k];
    tl_author *a = &nm->a[nm->na < TIMELINE_NAMES ? nm->na : TIMELINE_NAMES];
    free(a->name);
    free(a->role);
    memset(a, 0, sizeof *a);
    memcpy(a->key, key, 32);
    pc_b64_encode_public(a->b64, sizeof a->b64, key, 32);
    sqlite3_stmt *s = pc_ledger_stmt(nm->l, S_STAFF_NAME);
    if (s == NULL)
        return NULL;
    sqlite3_bind_blob(s, 1, a->key, 32, SQLITE_STATIC); /* our copy, not the row's */
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        a->name = dup_col(s, 0);
        a->role = dup_col(s, 1);
    }
    pc_stmt_done(s);
    if ((rc != SQLITE_ROW && rc != SQLITE_DONE) ||
        (rc == SQLITE_ROW && (a->name == NULL || a->role == NULL)))
        return NULL;
    if (nm->na < TIMELINE_NAMES)
        nm->na++;
    return a;
}

/* The hospital entry for column i of row s, or NULL as names_author. */
static const tl_hosp *names_hosp(tl_names *nm, sqlite3_stmt *row, int i)
{
    const char *id = (const char *)sqlite3_column_text(row, i);
    if (id == NULL)
        return NULL;
    for (size_t k = 0; k < nm->nh; k++)
        if (strcmp(nm->h[k].id, id) == 0)
            return &nm->h[k];
    tl_hosp *h = &nm->h[nm->nh < TIMELINE_NAMES ? nm->nh : TIMELINE_NAMES];
    free(h->id);
    free(h->name);
    h->name = NULL;
    h->id = strdup(id);
    sqlite3_stmt *s = pc_ledger_stmt(nm->l, S_HOSP_NAME);
    if (h->id == NULL || s == NULL)
        return NULL;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        h->name = dup_col(s, 0);
    pc_stmt_done(s);
    if ((rc != SQLITE_ROW && rc != SQLITE_DONE) || (rc == SQLITE_ROW && h->name == NULL))
        return NULL;
    if (nm->nh < TIMELINE_NAMES)
        nm->nh++;
    return h;
}

/* The author (column 5) and custodian (column 4) entries of timeline row s.
 * False if either column holds a value whose entry could not be made. */
static bool names_of_row(tl_names *nm, sqlite3_stmt *s, const tl_author **a,
                         const tl_hosp **h)
{
    *a = names_author(nm, s, 5);
    *h = names_hosp(nm, s, 4);
    return (*a != NULL || sqlite3_column_type(s, 5) == SQLITE_NULL) &&
           (*h != NULL || sqlite3_column_type(s, 4) == SQLITE_NULL);
}

/* A row the timeline could not write: no memory, or its author's or
 * custodian's name could not be read. */
static int timeline_row_error(pc_error *err)
{
    return pc_error_set(err, PC_EIO, "reading a timeline: out of memory, or a record's author or"
                                     " custodian could not be read");
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* A timeline row as JSON: the same members, in the same order, as
 * record_row gives a RECORD_SELECT row. */
static json_t *timeline_row(sqlite3_stmt *s, tl_names *nm)
{
    const tl_author *a;
    const tl_hosp *h;
    if (!names_of_row(nm, s, &a, &h))
        return NULL;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = put(o, "id", col_text(s, 0)) || put(o, "hi_type", col_text(s, 1)) ||
              put(o, "date", col_date(s, 2)) || put(o, "fhir", col_text(s, 3)) ||
              put(o, "custodian", col_text(s, 4)) ||
              put(o, "author", a ? json_string(a->b64) : json_null()) ||
              put(o, "hash", col_hex(s, 6)) ||
              put(o, "size", json_integer(sqlite3_column_int64(s, 7))) ||
              put(o, "sealed_key", col_b64(s, 8)) || put(o, "txid", col_hex(s, 9)) ||
              put(o, "height", json_integer(sqlite3_column_int64(s, 10))) ||
              put(o, "time", json_integer(sqlite3_column_int64(s, 11))) ||
              put(o, "author_name", str_or_null(a ? a->name : NULL)) ||
              put(o, "author_role", str_or_null(a ? a->role : NULL)) ||
              put(o, "custodian_name", str_or_null(h ? h->name : NULL));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int pc_ledger_timeline_json(pc_ledger *l, const uint8_t patient[32], size_t limit,
                            json_t **out, pc_error *err)
{
    *out = NULL;
    sqlite3_stmt *s = timeline_stmt(l, patient, limit, err);
    if (s == NULL)
        return PC_EIO;
    tl_names *nm = calloc(1, sizeof *nm);
    json_t *recs = json_array();
    if (nm == NULL || recs == NULL) {
        pc_stmt_done(s);
        free(nm);
        json_decref(recs);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    nm->l = l;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *row = timeline_row(s, nm);
        if (row == NULL || json_array_append_new(recs, row) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    pc_stmt_done(s);
    names_free(nm);
    free(nm);
    if (rc != SQLITE_DONE) {
        json_decref(recs);
        return rc == SQLITE_NOMEM ? timeline_row_error(err) : db_error(l, err, "reading a timeline");
    }
    char b64[64];
    *out = json_pack("{s:s,s:o}", "patient", pc_b64_encode_public(b64, sizeof b64, patient, 32),
                     "records", recs);
    return *out ? PC_OK : pc_error_set(err, PC_ENOMEM, "out of memory");
}

/* ---- JSON text written directly (no tree) ---- */

/* Bytes go through a 4 KiB stage and reach the output buffer a stage at a
 * time: a timeline row is ~60 small pieces, and one pc_buf_append call per
 * piece (a call into another unit, a capacity check, a NUL written each
 * time) was 7% of the timeline's time (perf). rc turns PC_ENOMEM on the
 * first failure; later puts do nothing. */
typedef struct text_stage {
    pc_buf *out;
    int rc;
    size_t n;
    char buf[4096];
} text_stage;

static void st_flush(text_stage *st)
{
    if (st->rc == PC_OK && st->n > 0 && pc_buf_append(st->out, st->buf, st->n) != PC_OK)
        st->rc = PC_ENOMEM;
    st->n = 0;
}

static inline void st_put(text_stage *st, const void *p, size_t n)
{
    if (n > sizeof st->buf - st->n) {
        st_flush(st);
        if (n > sizeof st->buf) {
            if (st->rc == PC_OK && pc_buf_append(st->out, p, n) != PC_OK)
                st->rc = PC_ENOMEM;
            return;
        }
    }
    memcpy(st->buf + st->n, p, n);
    st->n += n;
}

/* The JSON escape of byte c ('"', '\\' or a control character) into esc;
 * returns its length. */
static size_t json_escape(unsigned char c, char esc[6])
{
    static const char HEX[] = "0123456789abcdef";
    esc[0] = '\\';
    esc[1] = (char)c;
    switch (c) {
    case '"': case '\\': return 2;
    case '\b': esc[1] = 'b'; return 2;
    case '\f': esc[1] = 'f'; return 2;
    case '\n': esc[1] = 'n'; return 2;
    case '\r': esc[1] = 'r'; return 2;
    case '\t': esc[1] = 't'; return 2;
    }
    memcpy(esc + 1, "u00", 3);
    esc[4] = HEX[c >> 4];
    esc[5] = HEX[c & 15];
    return 6;
}

/* True if byte c goes into a JSON string as it is. */
static inline bool json_plain_byte(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\';
}

/* True if none of the 8 bytes of w needs a JSON escape: no byte below 0x20,
 * no '"' and no '\\'. Bytes above 0x7f (UTF-8) are plain. Each test is the
 * exact "some byte is less than k" word trick (k <= 0x80), on w itself for
 * control characters and on w XOR the character for the other two. */
static inline bool json_word_plain(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    uint64_t ctl = (w - ones * 0x20) & ~w & high;
    uint64_t quote = (q - ones) & ~q & high, slash = (b - ones) & ~b & high;
    return (ctl | quote | slash) == 0;
}

/* A JSON string as jansson's json_dumps writes it: '"' and '\\' escaped,
 * control characters as \b \f \n \r \t or \u00XX, everything else (valid
 * UTF-8, checked when the transaction was parsed) as is. A string that fits
 * the stage even if every byte needed \u00XX is written straight into it,
 * a byte at a time (timeline strings are 5-40 bytes: three st_put calls per
 * string cost more than the copy). */
static void text_str(text_stage *st, const char *s, size_t n)
{
    char esc[6];
    if (n <= (sizeof st->buf - 2) / 6) {
        if (6 * n + 2 > sizeof st->buf - st->n)
            st_flush(st);
        char *o = st->buf + st->n;
        *o++ = '"';
        size_t i = 0;
        for (; n - i >= 8; i += 8) { /* eight plain bytes at a time */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!json_word_plain(w))
                break;
            memcpy(o, &w, 8);
            o += 8;
        }
        for (; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (json_plain_byte(c)) {
                *o++ = (char)c;
            } else {
                size_t el = json_escape(c, esc);
                memcpy(o, esc, el);
                o += el;
            }
        }
        *o++ = '"';
        st->n = (size_t)(o - st->buf);
        return;
    }
    st_put(st, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (json_plain_byte(c))
            continue;
        st_put(st, s + run, i - run);
        run = i + 1;
        st_put(st, esc, json_escape(c, esc));
    }
    st_put(st, s + run, n - run);
    st_put(st, "\"", 1);
}

/* ,"key": then the value of column i in the form col_text/col_b64/col_hex/
 * col_date give it (null when they would). */
enum { T_TEXT, T_B64, T_HEX, T_DATE, T_INT };

/* Decimal text of v into out (at least 21 bytes); returns the length. */
static size_t text_int(char *out, long long v)
{
    char tmp[24];
    size_t n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    size_t len = 0;
    if (v < 0)
        out[len++] = '-';
    while (n > 0)
        out[len++] = tmp[--n];
    return len;
}

/* A string that needs no escaping (base64url, hex) written at buf + 1, of
 * length n, quoted in place: buf must have room for n + 2 bytes. */
static void text_plain(text_stage *st, char *buf, size_t n)
{
    buf[0] = '"';
    buf[n + 1] = '"';
    st_put(st, buf, n + 2);
}

/* `member` is the text ,"key": (or "key": for the first) and then the value
 * of column i as col_text/col_b64/col_hex/col_date would give it, or null. No
 * printf: formatting ran at a third of the whole timeline's time with it. */
static void text_member(text_stage *st, const char *member, size_t mlen, sqlite3_stmt *s, int i,
                        int kind)
{
    char tmp[160];
    st_put(st, member, mlen);
    /* Two SQLite calls per value at most (pointer, then length), none for the
     * type: every column of records is NOT NULL, and a NULL where text or a
     * blob is expected still comes back as a NULL pointer, written as null.
     * The integer columns are NOT NULL too. */
    switch (kind) {
    case T_INT:
        st_put(st, tmp, text_int(tmp, (long long)sqlite3_column_int64(s, i)));
        return;
    case T_TEXT: {
        const unsigned char *p = sqlite3_column_text(s, i);
        if (p == NULL)
            break;
        text_str(st, (const char *)p, (size_t)sqlite3_column_bytes(s, i));
        return;
    }
    case T_B64:
    case T_HEX: {
        const uint8_t *p = sqlite3_column_blob(s, i);
        int n = sqlite3_column_bytes(s, i);
        if (p == NULL || n <= 0 || n > 100 || (kind == T_HEX && n != 32))
            break;
        if (kind == T_B64) {
            pc_b64_encode_public(tmp + 1, sizeof tmp - 2, p, (size_t)n);
            text_plain(st, tmp, pc_b64_len((size_t)n));
        } else {
            pc_hex_encode_public(tmp + 1, sizeof tmp - 2, p, 32);
            text_plain(st, tmp, 64);
        }
        return;
    }
    case T_DATE:
        pc_date_format(sqlite3_column_int(s, i), tmp);
        text_str(st, tmp, strlen(tmp));
        return;
    }
    st_put(st, "null", 4);
}

#define MEMBER(m) m, sizeof m - 1

int pc_ledger_timeline_text(pc_ledger *l, const uint8_t patient[32], size_t limit,
                            pc_buf *out, pc_error *err)
{
    static const struct { const char *member; size_t len; int kind; } COLS[] = {
        {MEMBER("\"id\":"), T_TEXT}, {MEMBER(",\"hi_type\":"), T_TEXT},
        {MEMBER(",\"date\":"), T_DATE}, {MEMBER(",\"fhir\":"), T_TEXT},
        {MEMBER(",\"custodian\":"), T_TEXT}, {MEMBER(",\"author\":"), T_B64},
        {MEMBER(",\"hash\":"), T_HEX}, {MEMBER(",\"size\":"), T_INT},
        {MEMBER(",\"sealed_key\":"), T_B64}, {MEMBER(",\"txid\":"), T_HEX},
        {MEMBER(",\"height\":"), T_INT}, {MEMBER(",\"time\":"), T_INT},
        {MEMBER(",\"author_name\":"), T_TEXT}, {MEMBER(",\"author_role\":"), T_TEXT},
        {MEMBER(",\"custodian_name\":"), T_TEXT}};
    enum { ROW_COLS = 12 }; /* the statement's columns; the three names follow */
    sqlite3_stmt *s = timeline_stmt(l, patient, limit, err);
    if (s == NULL)
        return PC_EIO;
    tl_names *nm = calloc(1, sizeof *nm);
    text_stage *st = malloc(sizeof *st);
    if (nm == NULL || st == NULL) {
        free(nm);
        free(st);
        pc_stmt_done(s);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    nm->l = l;
    st->out = out;
    st->rc = PC_OK;
    st->n = 0;
    char b64[64];
    pc_b64_encode_public(b64, sizeof b64, patient, 32);
    st_put(st, MEMBER("{\"patient\":\""));
    st_put(st, b64, strlen(b64));
    st_put(st, MEMBER("\",\"records\":["));
    int step = SQLITE_DONE, first = 1, unnamed = 0;
    while (st->rc == PC_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        const tl_author *a;
        const tl_hosp *h;
        if (!names_of_row(nm, s, &a, &h)) {
            unnamed = 1;
            break;
        }
        if (first)
            st_put(st, "{", 1);
        else
            st_put(st, ",{", 2);
        for (size_t c = 0; c < ROW_COLS; c++) {
            if (c == 5 && a != NULL) { /* the author's base64, made once per author */
                st_put(st, COLS[c].member, COLS[c].len);
                text_str(st, a->b64, strlen(a->b64));
            } else {
                text_member(st, COLS[c].member, COLS[c].len, s, (int)c, COLS[c].kind);
            }
        }
        const char *names[3] = {a ? a->name : NULL, a ? a->role : NULL, h ? h->name : NULL};
        for (size_t c = ROW_COLS; c < sizeof COLS / sizeof *COLS; c++) {
            const char *v = names[c - ROW_COLS];
            st_put(st, COLS[c].member, COLS[c].len);
            if (v != NULL)
                text_str(st, v, strlen(v));
            else
                st_put(st, "null", 4);
        }
        st_put(st, "}", 1);
        first = 0;
    }
    pc_stmt_done(s);
    names_free(nm);
    free(nm);
    st_put(st, "]}", 2);
    st_flush(st);
    int rc = st->rc;
    free(st);
    if (unnamed)
        return timeline_row_error(err);
    if (rc != PC_OK)
        return pc_error_set(err, PC_ENOMEM, "out of memory writing a timeline");
    if (step != SQLITE_DONE)
        return db_error(l, err, "reading a timeline");
    return PC_OK;
}

#undef MEMBER

/* Turns one result row into JSON; now_ms is the time to judge "active". */
typedef json_t *(*row_json_fn)(sqlite3_stmt *s, int64_t now_ms);

/* Run sql (one parameter: the patient key) and collect row_json of every
 * row into a new array in *out. what names the query in errors. */
static int patient_rows_json(pc_ledger *l, const char *sql, const uint8_t patient[32],
                             int64_t now_ms, row_json_fn row_json, const char *what,
                             json_t **out, pc_error *err)
{
    *out = NULL;
    sqlite3_stmt *s = prep(l, sql, err);
    if (s == NULL)
        return PC_EIO;
    sqlite3_bind_blob(s, 1, patient, 32, SQLITE_STATIC);
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        json_array_append_new(arr, row_json(s, now_ms));
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return db_error(l, err, what);
    }
    *out = arr;
    return PC_OK;
}

static json_t *consent_row(sqlite3_stmt *s, int64_t now_ms)
{
    json_t *grantee = sqlite3_column_type(s, 1) != SQLITE_NULL
                          ? json_pack("{s:o,s:o,s:o}", "staff", col_b64(s, 1),
                                      "name", col_text(s, 11), "hospital", col_text(s, 12))
                          : json_pack("{s:o,s:o}", "hospital", col_text(s, 2),
                                      "name", col_text(s, 13));
    int64_t expires = sqlite3_column_int64(s, 6);
    bool revoked = sqlite3_column_type(s, 9) != SQLITE_NULL;
    return json_pack(
        "{s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:I,s:b,s:o,s:o,s:b,s:b}",
        "txid", col_hex(s, 0), "grantee", grantee,
        "hi_types", hi_types_json((unsigned)sqlite3_column_int(s, 3)),
        "from", col_date(s, 4), "to", col_date(s, 5), "expires", (json_int_t)expires,
        "purpose", col_text(s, 7), "time", (json_int_t)sqlite3_column_int64(s, 8),
        "revoked", revoked, "revoked_txid", col_hex(s, 9),
        "revoked_time", sqlite3_column_type(s, 10) == SQLITE_NULL
                            ? json_null() : json_integer(sqlite3_column_int64(s, 10)),
        "expired", now_ms >= expires, "active", !revoked && now_ms < expires);
}

static const char CONSENTS_SQL[] =
    "SELECT c.txid, c.grantee_staff, c.grantee_hospital, c.hi_types,"
    " c.date_from, c.date_to, c.expires, c.purpose, c.time,"
    " c.revoked_txid, c.revoked_time, s.name, s.hospital, h.name"
    " FROM consents c LEFT JOIN staff s ON s.key = c.grantee_staff"
    " LEFT JOIN hospitals h ON h.id = c.grantee_hospital"
    " WHERE c.patient = ? ORDER BY c.time DESC";

int pc_ledger_consents_json(pc_ledger *l, const uint8_t patient[32], int64_t now_ms,
                            json_t **out, pc_error *err)
{
    return patient_rows_json(l, CONSENTS_SQL, patient, now_ms, consent_row, "reading consents", out, err);
}

static json_t *emergency_row(sqlite3_stmt *s, int64_t now_ms)
{
    int64_t opened = sqlite3_column_int64(s, 5), expires = sqlite3_column_int64(s, 6);
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:b}",
        "txid", col_hex(s, 0), "doctor", col_b64(s, 1), "doctor_name", col_text(s, 2),
        "hospital", col_text(s, 3), "reason", col_text(s, 4), "opened", (json_int_t)opened,
        "expires", (json_int_t)expires, "open", now_ms >= opened && now_ms < expires);
}

static const char EMERGENCIES_SQL[] =
    "SELECT e.txid, e.doctor, s.name, e.hospital, e.reason, e.opened,"
    " e.expires FROM emergencies e LEFT JOIN staff s ON s.key = e.doctor"
    " WHERE e.patient = ? ORDER BY e.opened DESC";

int pc_ledger_emergencies_json(pc_ledger *l, const uint8_t patient[32],
                               int64_t now_ms, json_t **out, pc_error *err)
{
    return patient_rows_json(l, EMERGENCIES_SQL, patient, now_ms, emergency_row, "reading emergencies", out, err);
}

static json_t *access_row(sqlite3_stmt *s, int64_t now_ms)
{
    (void)now_ms;
    const char *basis = (const char *)sqlite3_column_text(s, 7);
    json_error_t je;
    json_t *recs = json_loads((const char *)sqlite3_column_text(s, 6), 0, &je);
    return json_pack("{s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:b}",
        "txid", col_hex(s, 0), "time", (json_int_t)sqlite3_column_int64(s, 1),
        "reader", col_b64(s, 2), "reader_name", col_text(s, 3),
        "reader_hospital", col_text(s, 4), "reader_role", col_text(s, 9),
        "custodian", col_text(s, 5), "records", recs ? recs : json_array(), "basis", basis,
        "ref", col_hex(s, 8), "emergency", strcmp(basis, "emergency") == 0);
}

static const char ACCESS_LOG_SQL[] =
    "SELECT a.txid, a.time, a.reader, s.name, s.hospital, a.custodian,"
    " a.records, a.basis, a.ref, s.role FROM access_log a"
    " LEFT JOIN staff s ON s.key = a.reader"
    " WHERE a.patient = ? ORDER BY a.time DESC, a.height DESC";

int pc_ledger_access_log_json(pc_ledger *l, const uint8_t patient[32],
                              json_t **out, pc_error *err)
{
    return patient_rows_json(l, ACCESS_LOG_SQL, patient, 0, access_row, "reading the access log", out, err);
}

int pc_ledger_hospitals_json(pc_ledger *l, json_t **out, pc_error *err)
{
    *out = NULL;
    sqlite3_stmt *s = prep(l, "SELECT id, name, key, endpoint, active, since,"
                              " (SELECT count(*) FROM staff st WHERE st.hospital = h.id AND st.active = 1)"
                              " FROM hospitals h ORDER BY since, id", err);
    if (s == NULL)
        return PC_EIO;
    json_t *arr = json_array();
    while (sqlite3_step(s) == SQLITE_ROW)
        json_array_append_new(arr, json_pack("{s:o,s:o,s:o,s:o,s:s,s:I,s:I}",
            "id", col_text(s, 0), "name", col_text(s, 1), "key", col_b64(s, 2),
            "endpoint", col_text(s, 3), "status", sqlite3_column_int(s, 4) ? "active" : "suspended",
            "since", (json_int_t)sqlite3_column_int64(s, 5),
            "staff", (json_int_t)sqlite3_column_int64(s, 6)));
    sqlite3_finalize(s);
    *out = arr;
    return PC_OK;
}

int pc_ledger_staff_json(pc_ledger *l, const char *hospital, json_t **out,
                         pc_error *err)
{
    *out = NULL;
    sqlite3_stmt *s = prep(l, "SELECT key, name, role, regno, hospital, active, since FROM staff"
                              " WHERE ?1 IS NULL OR hospital = ?1 ORDER BY hospital, since, name", err);
    if (s == NULL)
        return PC_EIO;
    if (hospital != NULL)
        sqlite3_bind_text(s, 1, hospital, -1, SQLITE_STATIC);
    json_t *arr = json_array();
    while (sqlite3_step(s) == SQLITE_ROW)
        json_array_append_new(arr, json_pack("{s:o,s:o,s:o,s:o,s:o,s:s,s:I}",
            "key", col_b64(s, 0), "name", col_text(s, 1), "role", col_text(s, 2),
            "regno", col_text(s, 3), "hospital", col_text(s, 4),
            "status", sqlite3_column_int(s, 5) ? "active" : "revoked",
            "since", (json_int_t)sqlite3_column_int64(s, 6)));
    sqlite3_finalize(s);
    *out = arr;
    return PC_OK;
}

/* ------------------------------------------------------------------------ */
/* Digest, stored proposals, verify                                          */
/* ------------------------------------------------------------------------ */

/* The state digest is BLAKE2b-256 over every row of STATE_TABLES in their
 * primary-key order, each column as type tag (SQLite's), 4-byte big-endian
 * length and bytes (an integer as 8 bytes big-endian), and "|" after each
 * table. It was SHA-256 with integers as decimal text until checkpoint v2
 * (docs/design-changes.md): libsodium's SHA-256 runs at ~170 MB/s here and
 * was 70% of a digest's instructions; BLAKE2b runs at ~690 MB/s. The input
 * goes through a buffer because each update call has a fixed cost and a row
 * gave it three per column. */
typedef struct digest_writer {
    crypto_generichash_state st;
    size_t n;
    uint8_t buf[16384];
} digest_writer;

static void dw_flush(digest_writer *w)
{
    if (w->n > 0)
        crypto_generichash_update(&w->st, w->buf, w->n);
    w->n = 0;
}

static void dw_put(digest_writer *w, const void *p, size_t n)
{
    if (w->n + n > sizeof w->buf) {
        dw_flush(w);
        if (n >= sizeof w->buf) {
            crypto_generichash_update(&w->st, p, n);
            return;
        }
    }
    memcpy(w->buf + w->n, p, n);
    w->n += n;
}

static void dw_column(digest_writer *w, sqlite3_stmt *s, int c)
{
    int type = sqlite3_column_type(s, c);
    uint8_t num[8];
    const void *p;
    uint32_t n;
    if (type == SQLITE_INTEGER) {
        uint64_t v = (uint64_t)sqlite3_column_int64(s, c);
        for (int i = 7; i >= 0; i--, v >>= 8)
            num[i] = (uint8_t)v;
        p = num;
        n = sizeof num;
    } else {
        p = sqlite3_column_blob(s, c);
        n = (uint32_t)sqlite3_column_bytes(s, c);
    }
    uint8_t head[5] = {(uint8_t)type, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                       (uint8_t)n};
    dw_put(w, head, sizeof head);
    if (n > 0)
        dw_put(w, p, n);
}

int pc_ledger_state_digest(pc_ledger *l, uint8_t out[32], pc_error *err)
{
    digest_writer *w = malloc(sizeof *w);
    if (w == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    crypto_generichash_init(&w->st, NULL, 0, 32);
    w->n = 0;
    int rc = PC_OK;
    for (size_t t = 0; rc == PC_OK && STATE_TABLES[t] != NULL; t++) {
        sqlite3_stmt *s = prep(l, STATE_TABLES[t], err);
        if (s == NULL) {
            rc = PC_EIO;
            break;
        }
        int cols = sqlite3_column_count(s);
        int step;
        while ((step = sqlite3_step(s)) == SQLITE_ROW)
            for (int c = 0; c < cols; c++)
                dw_column(w, s, c);
        sqlite3_finalize(s);
        if (step != SQLITE_DONE)
            rc = db_error(l, err, "hashing the state");
        dw_put(w, "|", 1);
    }
    if (rc == PC_OK) {
        dw_flush(w);
        crypto_generichash_final(&w->st, out, 32);
    }
    free(w);
    return rc;
}

/* Load the stored block at height as a proposal (txs parsed from their stored
 * bytes, signatures unchecked), with its stored hash, header and position. */
static int load_block(pc_ledger *l, sqlite3_stmt *blk, sqlite3_stmt *txq, uint64_t height,
                      int threads, bool verify, pc_proposal *p, uint64_t *pos,
                      uint8_t hash[32], pc_buf *header, uint8_t **verdicts, pc_error *err)
{
    memset(p, 0, sizeof *p);
    sqlite3_bind_int64(blk, 1, (sqlite3_int64)height);
    int rc = sqlite3_step(blk);
    if (rc != SQLITE_ROW) {
        pc_stmt_done(blk);
        return rc == SQLITE_DONE ? pc_error_set(err, PC_ENOTFOUND, "block %llu is missing",
                                                (unsigned long long)height)
                                 : db_error(l, err, "reading a block");
    }
    int hl = sqlite3_column_bytes(blk, 0) == 32;
    if (hl)
        memcpy(hash, sqlite3_column_blob(blk, 0), 32);
    int ok = hl && pc_buf_append(header, sqlite3_column_blob(blk, 1),
                                 (size_t)sqlite3_column_bytes(blk, 1)) == PC_OK;
    size_t plen = (size_t)sqlite3_column_bytes(blk, 2);
    p->header = malloc(plen + 1);
    if (p->header != NULL) {
        memcpy(p->header, sqlite3_column_blob(blk, 2), plen);
        p->header[plen] = '\0';
        p->header_len = plen;
    }
    if (sqlite3_column_bytes(blk, 3) == 64)
        memcpy(p->sig, sqlite3_column_blob(blk, 3), 64);
    *pos = (uint64_t)sqlite3_column_int64(blk, 4);
    int64_t first = sqlite3_column_int64(blk, 5), ntx = sqlite3_column_int64(blk, 6);
    pc_stmt_done(blk);
    if (!ok || p->header == NULL || ntx < 0 || ntx > 10000000) {
        pc_proposal_free(p);
        return pc_error_set(err, PC_ESTATE, "block %llu: stored row is malformed",
                            (unsigned long long)height);
    }
    /* Parse the stored proposal header (count must match the stored rows). */
    json_t *h = NULL;
    rc = pc_json_parse((const char *)p->header, plen, &h, err);
    if (rc == PC_OK) {
        json_int_t seq = -1, time = -1, cnt = -1, v = 0;
        const char *net = NULL, *prop = NULL, *root = NULL;
        json_error_t je;
        if (json_unpack_ex(h, &je, JSON_STRICT, "{s:I,s:s,s:s,s:I,s:I,s:I,s:s}", "v", &v,
                           "net", &net, "proposer", &prop, "seq", &seq, "time", &time,
                           "count", &cnt, "txroot", &root) != 0 ||
            strlen(net) > PC_NET_MAX || strlen(prop) > 32 || cnt != ntx ||
            pc_hex_decode_exact(p->txroot, 32, root) != 0) {
            rc = pc_error_set(err, PC_ESTATE, "block %llu: stored proposal header is malformed",
                              (unsigned long long)height);
        } else {
            snprintf(p->net, sizeof p->net, "%s", net);
            snprintf(p->proposer, sizeof p->proposer, "%s", prop);
            p->seq = (uint64_t)seq;
            p->time = time;
        }
        json_decref(h);
    }
    if (rc != PC_OK) {
        pc_proposal_free(p);
        return rc;
    }
    pc_sha256_tagged(p->hash, PC_DOMAIN_PROPOSAL, p->header, p->header_len);
    p->txs = calloc((size_t)(ntx ? ntx : 1), sizeof *p->txs);
    *verdicts = calloc((size_t)(ntx ? ntx : 1), 1);
    if (p->txs == NULL || *verdicts == NULL) {
        pc_proposal_free(p);
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    }
    sqlite3_bind_int64(txq, 1, first);
    sqlite3_bind_int64(txq, 2, first + ntx);
    /* Copy the stored rows out (SQLite's pointers die at the next step), then
     * parse them, on `threads` threads when asked: parsing is ~10 us per
     * transaction, as much as replaying it. */
    pc_buf bytes;
    pc_buf_init(&bytes);
    size_t(*offs)[3] = calloc((size_t)(ntx ? ntx : 1), sizeof *offs); /* canon off, len, sigs off */
    pc_tx_raw *raw = calloc((size_t)(ntx ? ntx : 1), sizeof *raw);
    int64_t n = 0;
    rc = offs != NULL && raw != NULL ? PC_OK : pc_error_set(err, PC_ENOMEM, "out of memory");
    int step = SQLITE_DONE;
    while (rc == PC_OK && n < ntx && (step = sqlite3_step(txq)) == SQLITE_ROW) {
        (*verdicts)[n] = (uint8_t)sqlite3_column_int(txq, 2);
        int clen = sqlite3_column_bytes(txq, 0), slen = sqlite3_column_bytes(txq, 1);
        if (slen <= 0 || slen % 96 != 0 || slen / 96 > PC_TX_MAX_SIGS) {
            rc = pc_error_set(err, PC_ESTATE, "block %llu: transaction %lld: stored signatures are malformed",
                              (unsigned long long)height, (long long)n);
            break;
        }
        offs[n][0] = bytes.len;
        offs[n][1] = (size_t)clen;
        if (pc_buf_append(&bytes, sqlite3_column_blob(txq, 0), (size_t)clen) != PC_OK ||
            pc_buf_append(&bytes, sqlite3_column_blob(txq, 1), (size_t)slen) != PC_OK) {
            rc = pc_error_set(err, PC_ENOMEM, "out of memory");
            break;
        }
        offs[n][2] = offs[n][0] + (size_t)clen;
        raw[n].nsigs = (size_t)(slen / 96);
        n++;
    }
    if (rc == PC_OK && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = db_error(l, err, "reading a block's transactions");
    pc_stmt_done(txq);
    if (rc == PC_OK && n != ntx)
        rc = pc_error_set(err, PC_ESTATE, "block %llu: %lld of %lld transactions are stored",
                          (unsigned long long)height, (long long)n, (long long)ntx);
    if (rc == PC_OK) {
        for (int64_t i = 0; i < n; i++) {
            raw[i].canon = bytes.data + offs[i][0];
            raw[i].len = offs[i][1];
            raw[i].sigs = bytes.data + offs[i][2];
        }
        size_t bad = 0;
        pc_error perr;
        pc_error_clear(&perr);
        rc = pc_txs_parse_mt(raw, (size_t)n, p->txs, threads, verify, &bad, &perr);
        p->ntx = (size_t)n; /* unparsed entries are zero */
        if (rc != PC_OK)
            rc = pc_error_set(err, PC_ESTATE, "block %llu: transaction %zu is malformed: %s",
                              (unsigned long long)height, bad, perr.msg);
    }
    free(offs);
    free(raw);
    pc_buf_free(&bytes);
    if (rc != PC_OK)
        pc_proposal_free(p);
    return rc;
}

int pc_ledger_block_proposal(pc_ledger *l, uint64_t height, pc_buf *wire,
                             uint64_t *pos, pc_error *err)
{
    sqlite3_stmt *blk = prep(l, "SELECT hash, header, proposal, proposal_sig, pos, first_tx, ntx"
                                " FROM blocks WHERE height = ?", err);
    sqlite3_stmt *txq = prep(l, "SELECT canon, sigs, verdict FROM txs WHERE seq >= ? AND seq < ?"
                                " ORDER BY seq", err);
    int rc = PC_EIO;
    if (blk != NULL && txq != NULL) {
        pc_proposal p;
        uint8_t hash[32], *verdicts = NULL;
        pc_buf header;
        pc_buf_init(&header);
        rc = load_block(l, blk, txq, height, 1, false, &p, pos, hash, &header, &verdicts, err);
        if (rc == PC_OK) {
            rc = pc_proposal_encode(&p, wire);
            pc_proposal_free(&p);
            free(verdicts);
        }
        pc_buf_free(&header);
    }
    sqlite3_finalize(blk);
    sqlite3_finalize(txq);
    return rc;
}

/* One block of verify's pipeline: loaded from the stored rows, its
 * signatures being checked by a verifier thread. */
/* Where verify's loader reads stored blocks: its own read handle, used only
 * by the one loader thread alive at a time. */
typedef struct vsource {
    pc_ledger *l;
    sqlite3_stmt *blk, *txq;
} vsource;

typedef struct vslot {
    const vsource *src;
    uint64_t height;
    pc_proposal p;
    uint64_t pos;
    uint8_t hash[32];
    uint8_t *verdicts;
    pc_buf header;
    int loaded;       /* p, verdicts and header hold a block */
    int rc;           /* load_block's result */
    pc_error err;     /* its message when rc != PC_OK */
    pthread_t thread;
    int running;
    int threads;
} vslot;

/* Load block v->height from its stored rows, parsing its transactions and
 * checking their signatures on v->threads threads. */
static void *vslot_load(void *arg)
{
    vslot *v = arg;
    pc_buf_init(&v->header);
    v->rc = load_block(v->src->l, v->src->blk, v->src->txq, v->height, v->threads, true, &v->p,
                       &v->pos, v->hash, &v->header, &v->verdicts, &v->err);
    v->loaded = v->rc == PC_OK;
    return NULL;
}

/* Load and check block `height` into v in the background (inline if no
 * thread can be started). */
static void vslot_start(vslot *v, const vsource *src, uint64_t height, int threads)
{
    v->src = src;
    v->height = height;
    v->threads = threads > 0 ? threads : 1;
    if (pthread_create(&v->thread, NULL, vslot_load, v) == 0)
        v->running = 1;
    else
        vslot_load(v);
}

static void vslot_join(vslot *v)
{
    if (v->running)
        pthread_join(v->thread, NULL);
    v->running = 0;
}

static void vslot_free(vslot *v)
{
    if (v->loaded)
        pc_proposal_free(&v->p);
    free(v->verdicts); /* load_block may leave it allocated on failure too */
    pc_buf_free(&v->header);
    v->verdicts = NULL;
    v->loaded = 0;
}

/* Check block h's stored header hash and Merkle root, replay it into fresh
 * and compare the result with what is stored. */
static int replay_block(pc_ledger *fresh, uint64_t h, vslot *v, pc_error *err)
{
    uint8_t computed[32];
    pc_proposal *p = &v->p;
    pc_sha256_tagged(computed, PC_DOMAIN_BLOCK, v->header.data, v->header.len);
    if (sodium_memcmp(computed, v->hash, 32) != 0)
        return pc_error_set(err, PC_ECRYPTO,
                            "block %llu: stored header does not hash to the stored block hash",
                            (unsigned long long)h);
    uint8_t root[32];
    uint8_t (*ids)[32] = malloc((p->ntx ? p->ntx : 1) * 32);
    int rc = PC_OK;
    for (size_t i = 0; ids != NULL && i < p->ntx; i++)
        memcpy(ids[i], p->txs[i].txid, 32);
    if (ids == NULL || pc_merkle_root((const uint8_t(*)[32])ids, p->ntx, root) != PC_OK)
        rc = pc_error_set(err, PC_ENOMEM, "out of memory");
    else if (sodium_memcmp(root, p->txroot, 32) != 0)
        rc = pc_error_set(err, PC_ECRYPTO,
                          "block %llu: transactions do not match the Merkle root (a stored transaction was altered)",
                          (unsigned long long)h);
    free(ids);
    if (rc != PC_OK)
        return rc;
    pc_block_result res;
    rc = pc_ledger_apply(fresh, p, v->pos, &res, err);
    if (rc != PC_OK) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err ? err->msg : "");
        return pc_error_set(err, rc, "block %llu: replay refused it: %s", (unsigned long long)h, why);
    }
    if (sodium_memcmp(res.hash, v->hash, 32) != 0) {
        size_t bad = 0;
        while (bad < p->ntx && res.verdicts[bad] == v->verdicts[bad])
            bad++;
        if (bad < p->ntx)
            rc = pc_error_set(err, PC_ECRYPTO,
                              "block %llu: transaction %zu replays to verdict %s but the ledger stored %s",
                              (unsigned long long)h, bad, pc_verdict_name(res.verdicts[bad]),
                              pc_verdict_name(v->verdicts[bad]));
        else
            rc = pc_error_set(err, PC_ECRYPTO,
                              "block %llu: replay gives a different block hash than the one stored",
                              (unsigned long long)h);
    }
    pc_block_result_free(&res);
    return rc;
}

/* A state digest on its own thread (verify hashes both ledgers at once). */
typedef struct digest_job {
    pc_ledger *l;
    uint8_t out[32];
    int rc;
    pc_error err;
} digest_job;

static void *digest_main(void *arg)
{
    digest_job *j = arg;
    j->rc = pc_ledger_state_digest(j->l, j->out, &j->err);
    return NULL;
}

int pc_ledger_verify(const char *path, int threads, pc_progress_fn progress,
                     void *ctx, uint64_t *nblocks, uint64_t *ntx, pc_error *err)
{
    pc_ledger *src = NULL, *fresh = NULL;
    char tmpl[] = "/tmp/parcha-verify-XXXXXX";
    char tmpdb[sizeof tmpl + 16] = "";
    *nblocks = *ntx = 0;
    int rc = pc_ledger_open(path, PC_LEDGER_READONLY, &src, err);
    if (rc != PC_OK)
        return rc;
    pc_head head;
    rc = pc_ledger_head(src, &head, err);
    if (rc != PC_OK)
        goto done;
    if (!head.has_genesis) {
        rc = pc_error_set(err, PC_ESTATE, "ledger %s has no genesis block", path);
        goto done;
    }
    if (mkdtemp(tmpl) == NULL) {
        rc = pc_error_set(err, PC_EIO, "cannot make a temporary folder for the replay");
        goto done;
    }
    snprintf(tmpdb, sizeof tmpdb, "%s/replay.db", tmpl);
    rc = ledger_open(tmpdb, PC_LEDGER_CREATE | LEDGER_SCRATCH, &fresh, err);
    if (rc != PC_OK)
        goto done;
    fresh->verify_threads = threads > 0 ? threads : 1;
    /* Pipeline: while the main thread checks and replays block h, a loader
     * thread reads block h+1 from its own handle, parses it and verifies its
     * signatures on `threads` threads, so both cores stay busy; apply then
     * finds those transactions marked sigs_checked. Blocks are still replayed
     * strictly in order and the first bad one is named. */
    vsource vs = {NULL, NULL, NULL};
    rc = pc_ledger_open(path, PC_LEDGER_READONLY, &vs.l, err);
    if (rc != PC_OK)
        goto done;
    vs.blk = prep(vs.l, "SELECT hash, header, proposal, proposal_sig, pos, first_tx, ntx"
                        " FROM blocks WHERE height = ?", err);
    vs.txq = prep(vs.l, "SELECT canon, sigs, verdict FROM txs WHERE seq >= ? AND seq < ?"
                        " ORDER BY seq", err);
    if (vs.blk == NULL || vs.txq == NULL) {
        rc = PC_EIO;
        goto done_vs;
    }
    vslot slot[2];
    memset(slot, 0, sizeof slot);
    int cur = 0;
    vslot_start(&slot[0], &vs, 0, threads);
    for (uint64_t h = 0; h <= head.height; h++) {
        vslot *v = &slot[cur], *nx = &slot[cur ^ 1];
        vslot_join(v);
        if (h < head.height)
            vslot_start(nx, &vs, h + 1, threads);
        rc = v->rc;
        if (rc != PC_OK) {
            pc_error_set(err, rc, "%s", v->err.msg);
        } else {
            rc = replay_block(fresh, h, v, err);
            if (rc == PC_OK)
                *ntx += v->p.ntx;
        }
        vslot_free(v);
        if (rc != PC_OK) {
            vslot_join(nx);
            vslot_free(nx);
            goto done_vs;
        }
        *nblocks = h + 1;
        if (progress != NULL && (h % 64 == 0 || h == head.height))
            progress(ctx, h + 1, head.height + 1);
        cur ^= 1;
    }
    /* The two state digests read every state row: hash the stored state on
     * a second thread while this one hashes the replayed state (they were
     * ~13% of verify's time one after the other, with a core idle). */
    uint8_t d2[32];
    digest_job dj = {src, {0}, PC_OK, {0, ""}};
    pthread_t dt;
    bool threaded = pthread_create(&dt, NULL, digest_main, &dj) == 0;
    if (!threaded)
        digest_main(&dj);
    rc = pc_ledger_state_digest(fresh, d2, err);
    if (threaded)
        pthread_join(dt, NULL);
    if (rc == PC_OK && dj.rc != PC_OK) {
        rc = dj.rc;
        if (err != NULL)
            *err = dj.err;
    }
    if (rc == PC_OK && sodium_memcmp(dj.out, d2, 32) != 0)
        rc = pc_error_set(err, PC_ESTATE,
                          "the stored state differs from the state replayed from the blocks (state tables were altered)");
done_vs:
    sqlite3_finalize(vs.blk);
    sqlite3_finalize(vs.txq);
    pc_ledger_close(vs.l);
done:
    pc_ledger_close(src);
    pc_ledger_close(fresh);
    if (tmpdb[0] != '\0') {
        char side[sizeof tmpdb + 8];
        unlink(tmpdb);
        snprintf(side, sizeof side, "%s-wal", tmpdb);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", tmpdb);
        unlink(side);
        rmdir(tmpl);
    }
    return rc;
}
