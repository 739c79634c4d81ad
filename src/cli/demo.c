/* parcha demo: a whole demonstration network built offline, with no node
 * running. Three hospitals, their staff, patients with key files and printable
 * cards, a few hundred realistic FHIR R4 records spread over the last three
 * years, consents (one expired, one revoked), an emergency opening and some
 * audit entries. Transactions come from the same builders the online
 * commands use (build.c); they are batched into proposals signed by the first
 * hospital and applied straight to DIR/ledger.db, with record contents put in
 * DIR/vault.db before each record.add is applied, exactly as a node would.
 * The structure (who, what, when) is fixed by a seeded generator; the keys
 * are real and random. Transaction and proposal times are the wall clock
 * (the ledger checks them against block time); history lives only in the
 * FHIR clinical dates. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sodium.h>
#include "cli/build.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/demo.h"
#include "cli/fhirgen.h"
#include "cli/keys.h"
#include "cli/multipost.h"
#include "cli/offline.h"
#include "parcha/card.h"
#include "parcha/encode.h"
#include "parcha/fhir.h"
#include "parcha/healthid.h"
#include "parcha/vault.h"

static const char HELP[] =
    "usage: parcha demo --data DIR [--patients N] [--listen HOST:PORT] [--json]\n"
    "\n"
    "Build a complete demonstration network in DIR without a running node:\n"
    "  - 3 hospitals (City General Hospital, Sunrise Multispeciality Clinic,\n"
    "    District Government Hospital) hosted by one node\n"
    "  - 5 staff each (2 doctors, 1 nurse, 1 clerk, 1 admin) with key files\n"
    "  - N patients (default 50) with key files and printable SVG cards\n"
    "  - a few hundred FHIR R4 records over the last 3 years: prescriptions,\n"
    "    diagnoses, lab results, imaging, immunisations, discharge summaries\n"
    "  - consents to hospitals and doctors (one expired, one revoked), one\n"
    "    emergency opening and a few audit entries\n"
    "Keys are real (PC_KDF_FAST passphrases, printed and kept beside each key\n"
    "as a .pass file); DIR/demo-keys/index.json lists every key file.\n"
    "Then start the node with: parchad --data DIR\n"
    "\n"
    "options:\n"
    "  --data DIR          a new folder (refused if it already holds a network)\n"
    "  --patients N        number of patients, 1 to 500 (default 50)\n"
    "  --listen HOST:PORT  where the node will listen (default 127.0.0.1:8080)\n"
    "\n"
    "example:\n"
    "  parcha demo --data ./demo && parchad --data ./demo\n";

static const cli_optspec OPTS[] = {
    {"data", true, false}, {"patients", true, false}, {"listen", true, false},
    {"seed", true, false}, {NULL, false, false}};

#define NHOSP 3
#define STAFF_PER_HOSP 5
#define NSTAFF (NHOSP * STAFF_PER_HOSP)
#define BATCH 100
#define MAX_RECORDS_PER_PATIENT 16
#define DEMO_SEED 20240917u

static const cli_hospital_spec HOSPITALS_TEMPLATE[NHOSP] = {
    {"city-general", "City General Hospital", ""},
    {"sunrise-clinic", "Sunrise Multispeciality Clinic", ""},
    {"district-hospital", "District Government Hospital", ""},
};

/* One staff member: fixed facts, then the key made for them. */
typedef struct demo_staff {
    const char *username;
    const char *name;
    const char *role;
    const char *regno;
    int hospital;
    pc_keypair kp;
    char pass[64];
    char key_path[1100];
} demo_staff;

/* Per hospital: doctor, doctor, nurse, clerk, admin (index order matters). */
static const struct {
    const char *username, *name, *role, *regno;
} STAFF_FACTS[NSTAFF] = {
    {"anjali.mehta", "Dr. Anjali Mehta", "doctor", "MMC-2009-04512"},
    {"rakesh.iyer", "Dr. Rakesh Iyer", "doctor", "MMC-2014-11873"},
    {"mary.thomas", "Mary Thomas", "nurse", "MNC-118204"},
    {"sanjay.patil", "Sanjay Patil", "clerk", "CGH-EMP-0311"},
    {"kavita.deshmukh", "Kavita Deshmukh", "admin", "CGH-EMP-0007"},
    {"farah.siddiqui", "Dr. Farah Siddiqui", "doctor", "KMC-2011-66120"},
    {"venkat.raman", "Dr. Venkat Raman", "doctor", "KMC-2006-20931"},
    {"lalitha.krishnan", "Lalitha Krishnan", "nurse", "KNC-204417"},
    {"amit.joshi", "Amit Joshi", "clerk", "SMC-EMP-0142"},
    {"neelam.kaur", "Neelam Kaur", "admin", "SMC-EMP-0003"},
    {"suresh.yadav", "Dr. Suresh Yadav", "doctor", "UPMC-2003-31877"},
    {"priyanka.bose", "Dr. Priyanka Bose", "doctor", "WBMC-2016-70254"},
    {"rekha.pawar", "Rekha Pawar", "nurse", "UPNC-339025"},
    {"mohan.lal", "Mohan Lal", "clerk", "DGH-EMP-0520"},
    {"asha.verma", "Asha Verma", "admin", "DGH-EMP-0011"},
};

#define STAFF_DOCTOR(h, k) ((h) * STAFF_PER_HOSP + (k)) /* k = 0 or 1 */
#define STAFF_NURSE(h) ((h) * STAFF_PER_HOSP + 2)
#define STAFF_CLERK(h) ((h) * STAFF_PER_HOSP + 3)

typedef struct demo_record {
    char id[65];
    int custodian;
} demo_record;

typedef struct demo_patient {
    char name[64];
    char hid[PC_HEALTHID_LEN + 1];
    int hospital;
    pc_keypair kp;
    char pass[64];
    char key_path[1100];
    char card_path[1100];
    demo_record records[MAX_RECORDS_PER_PATIENT];
    size_t nrecords;
} demo_patient;

/* A transaction for a node (online mode) whose commit is not yet seen. */
typedef struct demo_pending {
    uint8_t txid[32];
    int node;          /* index of the hospital whose node takes it */
    pc_tx_type type;
    const char *route; /* "/v1/tx" or "/v1/records" */
    char *body;        /* the request body (owned) */
    size_t len;
} demo_pending;

/* Everything the demo builds, freed and wiped by demo_free. Offline, the
 * transactions go into batch[] and become blocks of net->ledger; online
 * (net->ledger is NULL), each is posted at once to the node of the hospital
 * it concerns and remembered in pending[] until a flush sees it committed. */
typedef struct demo {
    cli_offline *net;
    cli_offline own_net; /* net points here when the demo made the network */
    bool net_open;
    bool online;
    pc_vault *vault;           /* offline: DIR/vault.db */
    pc_vault *vaults[NHOSP];   /* online: each hospital's node's vault (keystore) */
    cli_client clients[NHOSP]; /* online: each hospital's node */
    bool client_open[NHOSP];
    demo_pending pending[BATCH];
    size_t npending;
    int64_t expiring_ms;       /* lifetime of the grant meant to expire */
    cli_rng rng;
    demo_staff staff[NSTAFF];
    demo_patient *patients;
    size_t npatients;
    pc_tx batch[BATCH];
    size_t nbatch;
    size_t nrecords, nconsents, nrevoked, nexpired, nemergencies, naccess;
    char keys_dir[1100];
    int32_t today;
} demo;

static void clear_pending(demo *d);

static void demo_free(demo *d)
{
    for (size_t i = 0; i < d->nbatch; i++)
        pc_tx_free(&d->batch[i]);
    d->nbatch = 0;
    clear_pending(d);
    for (size_t i = 0; i < NSTAFF; i++)
        pc_key_wipe(&d->staff[i].kp);
    sodium_memzero(d->staff, sizeof d->staff);
    if (d->patients != NULL) {
        sodium_memzero(d->patients, d->npatients * sizeof *d->patients);
        free(d->patients);
    }
    if (d->vault != NULL)
        pc_vault_close(d->vault);
    for (size_t h = 0; h < NHOSP; h++) {
        if (d->vaults[h] != NULL)
            pc_vault_close(d->vaults[h]);
        if (d->client_open[h])
            cli_client_close(&d->clients[h]);
    }
    if (d->net_open)
        cli_offline_close(&d->own_net);
}

/* Progress on stderr. */
static void step(const char *what)
{
    fprintf(stderr, "parcha demo: %s\n", what);
}

/* The vault holding hospital h's staff keystore (and, offline, all content). */
static pc_vault *vault_of(demo *d, int h)
{
    return d->online ? d->vaults[h] : d->vault;
}

/* Sleep ms milliseconds (between polls of a node). */
static void nap(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Remember body (ownership moves in) for route at hospital h's node; it is
 * sent by the next flush. */
static void add_pending(demo *d, int h, const char *route, char *body, size_t len,
                        const uint8_t txid[32], pc_tx_type type)
{
    demo_pending *p = &d->pending[d->npending++];
    memcpy(p->txid, txid, 32);
    p->node = h;
    p->type = type;
    p->route = route;
    p->body = body;
    p->len = len;
}

/* Drop every pending transaction. */
static void clear_pending(demo *d)
{
    for (size_t i = 0; i < d->npending; i++) {
        free(d->pending[i].body);
        d->pending[i].body = NULL;
    }
    d->npending = 0;
}

/* Poll GET /v1/tx/{txid} at the node of p until it is committed (60 s);
 * PC_OK only with verdict ok. For answers whose outcome was unknown (a
 * timeout, or a duplicate after a retry of a lost answer). */
static int confirm_committed(demo *d, const demo_pending *p, pc_error *err)
{
    char path[96], hex[65];
    pc_hex_encode(hex, sizeof hex, p->txid, 32);
    snprintf(path, sizeof path, "/v1/tx/%s", hex);
    int64_t deadline = pc_mono_ms() + 60000;
    for (int wait = 5;; wait = wait < 200 ? wait * 2 : 200) {
        json_t *j = NULL;
        pc_error gerr;
        int grc = cli_get(&d->clients[p->node], path, &j, &gerr);
        const char *status = json_string_value(json_object_get(j, "status"));
        if (grc == PC_OK && status != NULL && strcmp(status, "committed") == 0) {
            const char *verdict = json_string_value(json_object_get(j, "verdict"));
            int rc = verdict != NULL && strcmp(verdict, "ok") == 0
                         ? PC_OK
                         : pc_error_set(err, PC_ESTATE, "%s %.16s... was refused by the ledger (%s)",
                                        pc_tx_type_name(p->type), hex,
                                        verdict != NULL ? verdict : "no verdict");
            json_decref(j);
            return rc;
        }
        json_decref(j);
        if (grc != PC_OK && grc != PC_ENOTFOUND && grc != PC_EUNAVAIL)
            return pc_error_set(err, grc, "%s %.16s...: %s", pc_tx_type_name(p->type), hex,
                                gerr.msg);
        if (pc_mono_ms() > deadline)
            return pc_error_set(err, PC_EUNAVAIL,
                                "%s %.16s... was not committed within 60 s at %s's node",
                                pc_tx_type_name(p->type), hex, d->net->hospitals[p->node].id);
        nap(wait);
    }
}

#define DEMO_INFLIGHT 32
#define DEMO_TRIES 30

/* Online: send every pending transaction to its node, DEMO_INFLIGHT at a
 * time, each request waiting for its commit (200 = committed with verdict
 * ok). No answer or 503 (the orderer briefly without a leader) is retried:
 * a repeat of a transaction that did get in is refused as a duplicate (409)
 * and then confirmed with GET /v1/tx, as is a 504. The pending list is
 * emptied. */
static int send_pending(demo *d, pc_error *err)
{
    size_t n = d->npending;
    cli_mpost *reqs = calloc(n > 0 ? n : 1, sizeof *reqs);
    char (*urls)[600] = calloc(n > 0 ? n : 1, sizeof *urls);
    int rc = reqs != NULL && urls != NULL ? PC_OK
                                          : pc_error_set(err, PC_ENOMEM, "out of memory");
    for (size_t i = 0; rc == PC_OK && i < n; i++) {
        const demo_pending *p = &d->pending[i];
        if (!cli_pathf(urls[i], sizeof urls[i], "%s%s", d->clients[p->node].base, p->route))
            rc = pc_error_set(err, PC_EINVAL, "node URL too long");
        reqs[i].url = urls[i];
        reqs[i].body = p->body;
        reqs[i].len = p->len;
    }
    if (rc == PC_OK)
        rc = cli_multipost(reqs, n, DEMO_INFLIGHT, DEMO_TRIES, 30, err);
    for (size_t i = 0; rc == PC_OK && i < n; i++) {
        const demo_pending *p = &d->pending[i];
        const cli_mpost *r = &reqs[i];
        if (r->status == 200)
            continue;
        if (r->status == 504 || (r->status == 409 && r->tries > 1)) {
            rc = confirm_committed(d, p, err);
            continue;
        }
        json_error_t je;
        json_t *j = r->answer != NULL ? json_loads(r->answer, 0, &je) : NULL;
        const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        rc = pc_error_set(err, r->status == 422 ? PC_ESTATE : PC_EIO, "%s at %s: %s",
                          pc_tx_type_name(p->type), d->net->hospitals[p->node].id,
                          msg != NULL ? msg
                                      : (r->status == 0 ? "no answer from the node" : "refused"));
        json_decref(j);
    }
    if (reqs != NULL)
        cli_mpost_free(reqs, n);
    free(reqs);
    free(urls);
    clear_pending(d);
    return rc;
}

/* Commit what is queued: offline as one block, online by waiting for the
 * pending transactions. txids (may be NULL) receives the txids in order. */
static int flush(demo *d, uint8_t (*txids)[32], pc_error *err)
{
    if (d->online) {
        for (size_t i = 0; txids != NULL && i < d->npending; i++)
            memcpy(txids[i], d->pending[i].txid, 32);
        return send_pending(d, err);
    }
    if (d->nbatch == 0)
        return PC_OK;
    size_t n = d->nbatch;
    d->nbatch = 0;
    return cli_offline_commit(d->net, d->batch, n, txids, err);
}

/* Queue tx (moved in and freed) for hospital h's node; commit when the
 * batch is full. */
static int queue(demo *d, pc_tx *tx, int h, pc_error *err)
{
    if (d->online) {
        size_t len = 0;
        char *text = pc_tx_to_json(tx, &len);
        int rc = PC_OK;
        if (text != NULL)
            add_pending(d, h, "/v1/tx", text, len, tx->txid, tx->type);
        else
            rc = pc_error_set(err, PC_ENOMEM, "out of memory");
        pc_tx_free(tx);
        if (rc == PC_OK && d->npending == BATCH)
            rc = flush(d, NULL, err);
        return rc;
    }
    d->batch[d->nbatch++] = *tx;
    memset(tx, 0, sizeof *tx);
    return d->nbatch == BATCH ? flush(d, NULL, err) : PC_OK;
}

/* Commit one transaction (for hospital h's node) on its own and return its
 * txid. */
static int commit_one(demo *d, pc_tx *tx, int h, uint8_t txid[32], pc_error *err)
{
    int rc = flush(d, NULL, err);
    if (rc != PC_OK) {
        pc_tx_free(tx);
        return rc;
    }
    uint8_t ids[1][32];
    rc = queue(d, tx, h, err);
    if (rc == PC_OK)
        rc = flush(d, ids, err);
    if (rc == PC_OK && txid != NULL)
        memcpy(txid, ids[0], 32);
    return rc;
}

/* Store record content and queue its record.add: offline into the vault
 * then the batch; online through POST /v1/records at the custodian's node,
 * which keeps the content in its own vault. rec->tx is consumed. */
static int queue_record(demo *d, cli_record *rec, int h, const uint8_t patient[32],
                        pc_error *err)
{
    if (d->online) {
        size_t len = 0;
        char *text = cli_record_request_json(rec, &len);
        int rc = PC_OK;
        if (text != NULL)
            add_pending(d, h, "/v1/records", text, len, rec->tx.txid, rec->tx.type);
        else
            rc = pc_error_set(err, PC_ENOMEM, "out of memory");
        pc_tx_free(&rec->tx);
        if (rc == PC_OK && d->npending == BATCH)
            rc = flush(d, NULL, err);
        return rc;
    }
    int rc = pc_vault_put(d->vault, rec->id, d->net->hospitals[h].id, patient, rec->blob.data,
                          rec->blob.len, rec->sealed_custodian, err);
    if (rc == PC_OK)
        rc = queue(d, &rec->tx, h, err);
    return rc;
}

/* "Aarav Sharma" -> "01-aarav-sharma" into out. */
static void slug(size_t i, const char *name, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%02zu-", i + 1);
    size_t j = n > 0 ? (size_t)n : 0;
    for (const char *p = name; *p != '\0' && j + 1 < outlen; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            out[j++] = c;
        else if (j > 0 && out[j - 1] != '-')
            out[j++] = '-';
    }
    out[j] = '\0';
}

/* Staff keys (key file + .pass + the node's keystore) and staff.enroll txs. */
static int make_staff(demo *d, pc_error *err)
{
    char dir[1100], pass_path[1100];
    if (!cli_pathf(dir, sizeof dir, "%s/staff", d->keys_dir))
        return pc_error_set(err, PC_EINVAL, "folder path is too long");
    if (mkdir(dir, 0700) != 0)
        return pc_error_set(err, PC_EIO, "cannot create folder %s", dir);
    int64_t now = pc_now_ms();
    for (size_t i = 0; i < NSTAFF; i++) {
        demo_staff *s = &d->staff[i];
        s->username = STAFF_FACTS[i].username;
        s->name = STAFF_FACTS[i].name;
        s->role = STAFF_FACTS[i].role;
        s->regno = STAFF_FACTS[i].regno;
        s->hospital = (int)(i / STAFF_PER_HOSP);
        if (!cli_pathf(s->key_path, sizeof s->key_path, "%s/%s.key", dir, s->username) ||
            !cli_pathf(pass_path, sizeof pass_path, "%s/%s.pass", dir, s->username))
            return pc_error_set(err, PC_EINVAL, "folder path is too long");
        int rc = cli_key_create_with_pass(s->key_path, pass_path, s->name, 1, PC_KDF_FAST,
                                          &s->kp, s->pass, err);
        if (rc != PC_OK)
            return rc;
        pc_buf text;
        pc_buf_init(&text);
        rc = pc_file_read(s->key_path, 1 << 16, &text, err);
        if (rc == PC_OK)
            rc = pc_vault_keystore_put(vault_of(d, s->hospital), s->username,
                                       d->net->hospitals[s->hospital].id,
                                       (const char *)text.data, err);
        pc_buf_free(&text);
        if (rc != PC_OK)
            return rc;
        pc_tx tx;
        rc = cli_build_staff_enroll(d->net->net, d->net->hospitals[s->hospital].id,
                                    &d->net->keys[s->hospital], s->kp.pk, s->name, s->role,
                                    s->regno, now, &tx, err);
        if (rc == PC_OK)
            rc = queue(d, &tx, s->hospital, err);
        if (rc != PC_OK)
            return rc;
    }
    return flush(d, NULL, err);
}

/* Patient keys, cards and patient.register txs (signed by the home clerk). */
static int make_patients(demo *d, pc_error *err)
{
    char dir[1100], pass_path[1100], base[96];
    if (!cli_pathf(dir, sizeof dir, "%s/patients", d->keys_dir))
        return pc_error_set(err, PC_EINVAL, "folder path is too long");
    if (mkdir(dir, 0700) != 0)
        return pc_error_set(err, PC_EIO, "cannot create folder %s", dir);
    int64_t now = pc_now_ms();
    for (size_t i = 0; i < d->npatients; i++) {
        demo_patient *p = &d->patients[i];
        cli_fhirgen_patient_name(i, p->name, sizeof p->name);
        p->hospital = (int)(i % NHOSP);
        slug(i, p->name, base, sizeof base);
        if (!cli_pathf(p->key_path, sizeof p->key_path, "%s/%s.key", dir, base) ||
            !cli_pathf(pass_path, sizeof pass_path, "%s/%s.pass", dir, base) ||
            !cli_pathf(p->card_path, sizeof p->card_path, "%s/%s.svg", dir, base))
            return pc_error_set(err, PC_EINVAL, "folder path is too long");
        int rc = cli_key_create_with_pass(p->key_path, pass_path, p->name, 1, PC_KDF_FAST,
                                          &p->kp, p->pass, err);
        if (rc != PC_OK)
            return rc;
        pc_healthid_from_key(p->kp.pk, p->hid);
        pc_buf svg;
        pc_buf_init(&svg);
        rc = pc_card_svg(p->name, p->hid, p->kp.pk, d->net->hospitals[p->hospital].name, &svg,
                         err);
        if (rc == PC_OK)
            rc = pc_file_write(p->card_path, svg.data, svg.len, 0600, err);
        pc_buf_free(&svg);
        if (rc != PC_OK)
            return rc;
        pc_tx tx;
        rc = cli_build_patient_register(d->net->net, &p->kp,
                                        &d->staff[STAFF_CLERK(p->hospital)].kp,
                                        d->net->hospitals[p->hospital].id, now, &tx, err);
        if (rc == PC_OK)
            rc = queue(d, &tx, p->hospital, err);
        if (rc != PC_OK)
            return rc;
    }
    return flush(d, NULL, err);
}

/* One record for patient p at hospital h on day, of kind for condition cond:
 * generate, validate, encrypt, store in the vault, queue the record.add. */
static int add_record(demo *d, demo_patient *p, int h, int32_t day, cli_fhir_kind kind,
                      size_t cond, pc_error *err)
{
    if (p->nrecords >= MAX_RECORDS_PER_PATIENT || day > d->today)
        return PC_OK;
    bool nurse_ok = kind == CLI_FHIR_LAB || kind == CLI_FHIR_IMMUNIZATION;
    int author = nurse_ok && cli_rng_below(&d->rng, 2) == 0
                     ? STAFF_NURSE(h)
                     : STAFF_DOCTOR(h, (int)cli_rng_below(&d->rng, 2));
    const demo_staff *s = &d->staff[author];
    char ref[64];
    snprintf(ref, sizeof ref, "Patient/%s", p->hid);
    cli_fhir_ctx ctx = {ref, p->name, s->name, s->regno, d->net->hospitals[h].name, day};
    json_t *res = cli_fhirgen_make(&d->rng, kind, cond, &ctx);
    if (res == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory generating a record");
    pc_error verr;
    char date[11];
    const char *hi = pc_fhir_default_hi_type(res);
    int rc = pc_fhir_validate(res, &verr);
    if (rc != PC_OK) {
        json_decref(res);
        return pc_error_set(err, PC_ESTATE, "generated record is not valid FHIR: %s", verr.msg);
    }
    if (hi == NULL || pc_fhir_clinical_date(res, date) != PC_OK) {
        json_decref(res);
        return pc_error_set(err, PC_ESTATE, "generated record has no HI type or clinical date");
    }
    cli_record rec;
    char id[65];
    cli_record_id_new(id);
    rc = cli_build_record(d->net->net, &s->kp, d->net->hospitals[h].id, d->net->keys[h].pk,
                          p->kp.pk, id, hi, date, res, pc_now_ms(), &rec, err);
    json_decref(res);
    if (rc != PC_OK)
        return rc;
    rc = queue_record(d, &rec, h, p->kp.pk, err);
    if (rc == PC_OK) {
        demo_record *r = &p->records[p->nrecords++];
        memcpy(r->id, rec.id, sizeof r->id);
        r->custodian = h;
        d->nrecords++;
    }
    cli_record_free(&rec);
    return rc;
}

/* A hospital for a visit: mostly the patient's own, sometimes another. */
static int visit_hospital(demo *d, const demo_patient *p)
{
    return cli_rng_below(&d->rng, 10) < 6 ? p->hospital
                                           : (int)cli_rng_below(&d->rng, NHOSP);
}

/* The clinical story of one patient: chronic conditions with follow-ups,
 * acute episodes (out-patient or admitted), perhaps a vaccination. */
static int make_history(demo *d, demo_patient *p, pc_error *err)
{
    cli_rng *r = &d->rng;
    size_t ncond = cli_fhirgen_condition_count();
    size_t chronic[16], acute[16], nch = 0, nac = 0;
    for (size_t i = 0; i < ncond && i < 16; i++) {
        if (cli_fhirgen_condition_chronic(i))
            chronic[nch++] = i;
        else
            acute[nac++] = i;
    }
    int rc = PC_OK;
    uint32_t want_chronic = cli_rng_below(r, 3);
    size_t first = cli_rng_below(r, (uint32_t)nch);
    for (uint32_t k = 0; rc == PC_OK && k < want_chronic; k++) {
        size_t cond = chronic[(first + k * 3) % nch];
        int h = visit_hospital(d, p);
        int32_t day = d->today - 200 - (int32_t)cli_rng_below(r, 880);
        rc = add_record(d, p, h, day, CLI_FHIR_CONDITION, cond, err);
        if (rc == PC_OK)
            rc = add_record(d, p, h, day, CLI_FHIR_PRESCRIPTION, cond, err);
        if (rc == PC_OK)
            rc = add_record(d, p, h, day, CLI_FHIR_LAB, cond, err);
        if (rc == PC_OK && cli_rng_below(r, 3) == 0)
            rc = add_record(d, p, h, day + 2, CLI_FHIR_IMAGING, cond, err);
        uint32_t followups = 1 + cli_rng_below(r, 2);
        for (uint32_t f = 0; rc == PC_OK && f < followups; f++) {
            day += 90 + (int32_t)cli_rng_below(r, 90);
            h = visit_hospital(d, p);
            rc = add_record(d, p, h, day, CLI_FHIR_LAB, cond, err);
            if (rc == PC_OK)
                rc = add_record(d, p, h, day, CLI_FHIR_PRESCRIPTION, cond, err);
        }
    }
    uint32_t want_acute = cli_rng_below(r, 3);
    for (uint32_t k = 0; rc == PC_OK && k < want_acute; k++) {
        size_t cond = acute[cli_rng_below(r, (uint32_t)nac)];
        int h = (int)cli_rng_below(r, NHOSP);
        int32_t day = d->today - 1 - (int32_t)cli_rng_below(r, 1090);
        if (cli_rng_below(r, 2) == 0) {
            rc = add_record(d, p, h, day, CLI_FHIR_DISCHARGE, cond, err);
            if (rc == PC_OK && cli_rng_below(r, 2) == 0)
                rc = add_record(d, p, h, day - 1, CLI_FHIR_IMAGING, cond, err);
        } else {
            rc = add_record(d, p, h, day, CLI_FHIR_CONDITION, cond, err);
            if (rc == PC_OK)
                rc = add_record(d, p, h, day, CLI_FHIR_PRESCRIPTION, cond, err);
            if (rc == PC_OK && cli_rng_below(r, 2) == 0)
                rc = add_record(d, p, h, day, CLI_FHIR_LAB, cond, err);
        }
    }
    if (rc == PC_OK && (p->nrecords == 0 || cli_rng_below(r, 3) == 0))
        rc = add_record(d, p, visit_hospital(d, p), d->today - (int32_t)cli_rng_below(r, 1000),
                        CLI_FHIR_IMMUNIZATION, 0, err);
    return rc;
}

static int make_records(demo *d, pc_error *err)
{
    for (size_t i = 0; i < d->npatients; i++) {
        int rc = make_history(d, &d->patients[i], err);
        if (rc != PC_OK)
            return rc;
        if ((i + 1) % 10 == 0 || i + 1 == d->npatients)
            fprintf(stderr, "parcha demo:   records for %zu of %zu patients (%zu records)\n",
                    i + 1, d->npatients, d->nrecords);
    }
    return flush(d, NULL, err);
}

/* A grant by patient pi; to a hospital (hosp >= 0) or a staff member. */
static int grant(demo *d, size_t pi, int hosp, int staff, const char *types,
                 const char *from, const char *to, int64_t expires, const char *purpose,
                 pc_tx *tx, pc_error *err)
{
    json_t *arr = NULL;
    int rc = cli_parse_hi_types(types, &arr, NULL, err);
    if (rc != PC_OK)
        return rc;
    rc = cli_build_consent_grant(d->net->net, &d->patients[pi].kp,
                                 hosp >= 0 ? d->net->hospitals[hosp].id : NULL,
                                 hosp >= 0 ? NULL : d->staff[staff].kp.pk, arr, from, to,
                                 expires, purpose, pc_now_ms(), tx, err);
    json_decref(arr);
    return rc;
}

/* A hospital other than the patient's own. */
static int other_hospital(const demo_patient *p, int k)
{
    return (p->hospital + 1 + k) % NHOSP;
}

/* Consents of several kinds: to hospitals and to single staff members, over
 * various HI types and date ranges, one revoked and one that expires seconds
 * after it is committed. The first (patient 0 to another hospital, all
 * types) is returned in consent_read with the reader and patient an audited
 * consent read will use. */
static int make_consents(demo *d, uint8_t consent_read[32], int *consent_reader,
                         size_t *consent_patient, pc_error *err)
{
    int64_t now = pc_now_ms();
    const int64_t day_ms = 86400000;
    char from[11], to[11];
    pc_date_format(d->today - 730, from);
    pc_date_format(d->today, to);
    size_t np = d->npatients;
    pc_tx tx;
    int rc;

    /* Patient 0: all records to another hospital for six months (used below
     * for a consent-based read). */
    int h0 = other_hospital(&d->patients[0], 0);
    rc = grant(d, 0, h0, -1, "all", NULL, NULL, now + 180 * day_ms, "CAREMGT", &tx, err);
    if (rc != PC_OK)
        return rc;
    rc = commit_one(d, &tx, d->patients[0].hospital, consent_read, err);
    if (rc != PC_OK)
        return rc;
    *consent_reader = STAFF_DOCTOR(h0, 0);
    *consent_patient = 0;
    d->nconsents++;

    /* Grants of various shapes, by patients 1..11 (as many as exist). */
    for (size_t i = 1; i < np && i < 12; i++) {
        const demo_patient *p = &d->patients[i];
        int oh = other_hospital(p, (int)(i % 2));
        switch (i % 5) {
        case 0:
            rc = grant(d, i, oh, -1, "all", NULL, NULL, now + 90 * day_ms, "CAREMGT", &tx, err);
            break;
        case 1:
            rc = grant(d, i, -1, STAFF_DOCTOR(oh, 0), "Prescription,DiagnosticReport", from,
                       NULL, now + 30 * day_ms, "CAREMGT", &tx, err);
            break;
        case 2:
            rc = grant(d, i, oh, -1, "DischargeSummary,DiagnosticReport", NULL, NULL,
                       now + 365 * day_ms, "CAREMGT", &tx, err);
            break;
        case 3:
            rc = grant(d, i, -1, STAFF_NURSE(oh), "DiagnosticReport", from, to,
                       now + 7 * day_ms, "CAREMGT", &tx, err);
            break;
        default:
            rc = grant(d, i, -1, STAFF_DOCTOR(oh, 1), "all", NULL, NULL, now + 14 * day_ms,
                       "PATRQT", &tx, err);
            break;
        }
        if (rc == PC_OK)
            rc = queue(d, &tx, p->hospital, err);
        if (rc != PC_OK)
            return rc;
        d->nconsents++;
    }
    rc = flush(d, NULL, err);
    if (rc != PC_OK)
        return rc;

    /* One grant revoked by its patient. */
    size_t rp = np > 12 ? 12 : np - 1;
    uint8_t revoked[32];
    rc = grant(d, rp, other_hospital(&d->patients[rp], 0), -1, "all", NULL, NULL,
               now + 60 * day_ms, "CAREMGT", &tx, err);
    if (rc == PC_OK)
        rc = commit_one(d, &tx, d->patients[rp].hospital, revoked, err);
    if (rc == PC_OK)
        rc = cli_build_consent_revoke(d->net->net, &d->patients[rp].kp, revoked, pc_now_ms(),
                                      &tx, err);
    if (rc == PC_OK)
        rc = commit_one(d, &tx, d->patients[rp].hospital, NULL, err);
    if (rc != PC_OK)
        return rc;
    d->nconsents++;
    d->nrevoked++;

    /* One grant that expires a few seconds from now, so it shows as expired
     * by the time anyone looks (a grant must be live when committed). */
    size_t ep = np > 13 ? 13 : 0;
    rc = grant(d, ep, -1, STAFF_DOCTOR(other_hospital(&d->patients[ep], 1), 1),
               "Prescription", NULL, NULL, pc_now_ms() + d->expiring_ms, "CAREMGT", &tx, err);
    if (rc == PC_OK)
        rc = commit_one(d, &tx, d->patients[ep].hospital, NULL, err);
    if (rc != PC_OK)
        return rc;
    d->nconsents++;
    d->nexpired++;
    return PC_OK;
}

/* Queue an access.log for reader over patient pi's records at custodians
 * other than skip_hospital (one entry per custodian). */
static int log_reads(demo *d, size_t pi, const uint8_t reader[32], int skip_hospital,
                     const char *basis, const uint8_t *ref, pc_error *err)
{
    demo_patient *p = &d->patients[pi];
    for (int h = 0; h < NHOSP; h++) {
        if (h == skip_hospital)
            continue;
        const char *ids[MAX_RECORDS_PER_PATIENT];
        size_t n = 0;
        for (size_t i = 0; i < p->nrecords; i++) {
            if (p->records[i].custodian == h)
                ids[n++] = p->records[i].id;
        }
        if (n == 0)
            continue;
        pc_tx tx;
        int rc = cli_build_access_log(d->net->net, &d->net->keys[h], d->net->hospitals[h].id,
                                      reader, p->kp.pk, ids, n, basis, ref, pc_now_ms(), &tx,
                                      err);
        if (rc == PC_OK)
            rc = queue(d, &tx, h, err);
        if (rc != PC_OK)
            return rc;
        d->naccess++;
    }
    return PC_OK;
}

/* The emergency opening and the audit trail of a few reads. */
static int make_emergency_and_reads(demo *d, const uint8_t consent_grant[32],
                                    int consent_reader, size_t consent_patient,
                                    pc_error *err)
{
    /* A patient of another hospital brought unconscious to the district
     * hospital's casualty. */
    size_t ep = d->npatients > 6 ? 6 : 0;
    int doctor = STAFF_DOCTOR(2, 0);
    if (d->patients[ep].hospital == 2 && d->npatients > 7)
        ep = 7;
    pc_tx tx;
    uint8_t etxid[32];
    int rc = cli_build_emergency_open(
        d->net->net, &d->staff[doctor].kp, d->patients[ep].kp.pk, d->net->hospitals[2].id,
        "Brought unconscious to casualty after a road traffic accident; patient cannot consent",
        24, pc_now_ms(), &tx, err);
    if (rc == PC_OK)
        rc = commit_one(d, &tx, 2, etxid, err);
    if (rc != PC_OK)
        return rc;
    d->nemergencies++;

    rc = log_reads(d, ep, d->staff[doctor].kp.pk, 2, "emergency", etxid, err);
    if (rc == PC_OK)
        rc = log_reads(d, consent_patient, d->staff[consent_reader].kp.pk,
                       d->staff[consent_reader].hospital, "consent", consent_grant, err);
    /* Patient 1 reads their own records; a doctor reads at their hospital. */
    if (rc == PC_OK && d->npatients > 1)
        rc = log_reads(d, 1, d->patients[1].kp.pk, -1, "patient", NULL, err);
    if (rc == PC_OK && d->npatients > 2) {
        int h = d->patients[2].hospital;
        demo_patient *p = &d->patients[2];
        const char *ids[MAX_RECORDS_PER_PATIENT];
        size_t n = 0;
        for (size_t i = 0; i < p->nrecords; i++) {
            if (p->records[i].custodian == h)
                ids[n++] = p->records[i].id;
        }
        if (n > 0) {
            rc = cli_build_access_log(d->net->net, &d->net->keys[h], d->net->hospitals[h].id,
                                      d->staff[STAFF_DOCTOR(h, 1)].kp.pk, p->kp.pk, ids, n,
                                      "custodian", NULL, pc_now_ms(), &tx, err);
            if (rc == PC_OK)
                rc = queue(d, &tx, h, err);
            if (rc == PC_OK)
                d->naccess++;
        }
    }
    if (rc == PC_OK)
        rc = flush(d, NULL, err);
    return rc;
}

/* DIR/demo-keys/index.json: every key file, for people and scripts.
 * node_urls[h] is the base URL of hospital h's node (all the same offline). */
static int write_index(demo *d, const char *const *node_urls, pc_error *err)
{
    json_t *staff = json_array(), *patients = json_array(), *hosp = json_array();
    char pk[48], path[1100];
    for (size_t i = 0; i < NSTAFF; i++) {
        const demo_staff *s = &d->staff[i];
        char pass_path[1100];
        if (!cli_pathf(pass_path, sizeof pass_path, "%s/staff/%s.pass", d->keys_dir,
                       s->username))
            continue;
        json_array_append_new(
            staff, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "username", s->username,
                             "name", s->name, "role", s->role, "regno", s->regno, "hospital",
                             d->net->hospitals[s->hospital].id, "public",
                             pc_b64_encode(pk, sizeof pk, s->kp.pk, 32), "key_file",
                             s->key_path, "pass_file", pass_path));
    }
    for (size_t i = 0; i < d->npatients; i++) {
        const demo_patient *p = &d->patients[i];
        char pass_path[1100];
        size_t n = strlen(p->key_path);
        if (n < 4 || n + 2 > sizeof pass_path)
            continue;
        memcpy(pass_path, p->key_path, n - 4);
        memcpy(pass_path + n - 4, ".pass", 6);
        json_array_append_new(
            patients,
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i}", "name", p->name, "health_id", p->hid,
                      "hospital", d->net->hospitals[p->hospital].id, "public",
                      pc_b64_encode(pk, sizeof pk, p->kp.pk, 32), "key_file", p->key_path,
                      "pass_file", pass_path, "card", p->card_path, "records",
                      (int)p->nrecords));
    }
    for (size_t h = 0; h < NHOSP; h++) {
        json_array_append_new(hosp, json_pack("{s:s,s:s,s:s,s:s}", "id", d->net->hospitals[h].id,
                                              "name", d->net->hospitals[h].name, "public",
                                              pc_b64_encode(pk, sizeof pk, d->net->keys[h].pk,
                                                            32),
                                              "node", node_urls[h]));
    }
    json_t *idx = json_pack("{s:s,s:s,s:o,s:o,s:o}", "network", d->net->net, "node", node_urls[0],
                            "hospitals", hosp, "staff", staff, "patients", patients);
    char *text = idx != NULL ? json_dumps(idx, JSON_INDENT(2)) : NULL;
    json_decref(idx);
    if (text == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory writing index.json");
    if (!cli_pathf(path, sizeof path, "%s/index.json", d->keys_dir)) {
        free(text);
        return pc_error_set(err, PC_EINVAL, "folder path is too long");
    }
    int rc = pc_file_write(path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

/* The demo's figures as JSON (caller decrefs): network, data folder, counts
 * and the path of index.json. */
static json_t *summary_json(const demo *d, const char *dir)
{
    char idx[1100];
    if (!cli_pathf(idx, sizeof idx, "%s/index.json", d->keys_dir))
        idx[0] = '\0';
    return json_pack("{s:s,s:s,s:I,s:I,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:s}", "network",
                     d->net->net, "data", dir, "blocks", (json_int_t)d->net->blocks,
                     "transactions", (json_int_t)d->net->txs, "hospitals", NHOSP, "staff",
                     NSTAFF, "patients", (int)d->npatients, "records", (int)d->nrecords,
                     "consents", (int)d->nconsents, "emergencies", (int)d->nemergencies,
                     "access_logs", (int)d->naccess, "index", idx);
}

static void print_summary(demo *d, const char *dir, const char *listen, bool as_json)
{
    if (as_json) {
        json_t *j = summary_json(d, dir);
        cli_print_json(j);
        json_decref(j);
        return;
    }
    printf("\nDemo network '%s' is ready in %s\n", d->net->net, dir);
    printf("  %d hospitals, %d staff, %zu patients, %zu records, %zu consents "
           "(%zu revoked, %zu expiring within seconds),\n"
           "  %zu emergency opening, %zu audit entries; %llu blocks, %llu transactions\n\n",
           NHOSP, NSTAFF, d->npatients, d->nrecords, d->nconsents, d->nrevoked, d->nexpired,
           d->nemergencies, d->naccess, (unsigned long long)d->net->blocks,
           (unsigned long long)d->net->txs);
    printf("Start the node:   parchad --data %s\n", dir);
    printf("Web UI:           http://%s/\n", listen);
    printf("Check the chain:  parcha verify --data %s\n\n", dir);
    printf("Staff key files (log in to the web UI with the username and passphrase):\n");
    printf("  %-17s %-20s %-7s %-18s %s\n", "username", "name", "role", "hospital",
           "passphrase");
    for (size_t i = 0; i < NSTAFF; i++) {
        const demo_staff *s = &d->staff[i];
        printf("  %-17s %-20s %-7s %-18s %s\n", s->username, s->name, s->role,
               d->net->hospitals[s->hospital].id, s->pass);
    }
    printf("  (key files: %s/staff/<username>.key, passphrase in <username>.pass)\n\n",
           d->keys_dir);
    printf("Some patients (all %zu are listed in %s/index.json):\n", d->npatients,
           d->keys_dir);
    printf("  %-20s %-17s %-18s %s\n", "name", "Health ID", "registered at", "passphrase");
    for (size_t i = 0; i < d->npatients && i < 5; i++) {
        const demo_patient *p = &d->patients[i];
        printf("  %-20s %-17s %-18s %s\n", p->name, p->hid, d->net->hospitals[p->hospital].id,
               p->pass);
    }
    if (d->npatients > 0) {
        const demo_patient *p = &d->patients[0];
        printf("\nTry (with the node running):\n"
               "  parcha history --patient '%s' --key %s \\\n"
               "      --pass-file %.*s.pass\n"
               "  parcha access-log --patient '%s'\n",
               p->hid, p->key_path, (int)(strlen(p->key_path) - 4), p->key_path, p->hid);
    }
}

void cli_demo_hospital(size_t i, cli_hospital_spec *out)
{
    memset(out, 0, sizeof *out);
    if (i < NHOSP) {
        *out = HOSPITALS_TEMPLATE[i];
        return;
    }
    snprintf(out->id, sizeof out->id, "hospital-%zu", i + 1);
    snprintf(out->name, sizeof out->name, "Hospital %zu", i + 1);
}

/* Everything after the network exists, in dependency order (each phase is
 * committed before the next starts): staff, patients, consents, records,
 * the emergency and audited reads, then index.json. d->net, the vault(s)
 * (and online, the clients) are open; d->keys_dir is set and must not exist. */
static int demo_build(demo *d, const char *const *node_urls, pc_error *err)
{
    uint8_t consent_grant[32];
    int consent_reader = 0;
    size_t consent_patient = 0;
    if (mkdir(d->keys_dir, 0700) != 0)
        return pc_error_set(err, PC_EIO, "cannot create folder %s: %s", d->keys_dir,
                            strerror(errno));
    d->patients = calloc(d->npatients, sizeof *d->patients);
    if (d->patients == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    step("enrolling staff: 2 doctors, 1 nurse, 1 clerk, 1 admin per hospital");
    int rc = make_staff(d, err);
    if (rc != PC_OK)
        return rc;
    fprintf(stderr, "parcha demo: registering %zu patients (key files and cards)\n",
            d->npatients);
    rc = make_patients(d, err);
    if (rc != PC_OK)
        return rc;
    step("recording consents");
    rc = make_consents(d, consent_grant, &consent_reader, &consent_patient, err);
    if (rc != PC_OK)
        return rc;
    step("writing encrypted FHIR records");
    rc = make_records(d, err);
    if (rc != PC_OK)
        return rc;
    step("opening an emergency window and logging reads");
    rc = make_emergency_and_reads(d, consent_grant, consent_reader, consent_patient, err);
    if (rc != PC_OK)
        return rc;
    return write_index(d, node_urls, err);
}

int cli_cmd_demo(int argc, char **argv)
{
    static const char NAME[] = "demo";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP, OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *dir;
    if (cli_arg_required(&a, "data", &dir, &err) != PC_OK)
        return cli_usage(NAME, &err);
    int64_t npatients = 50, seed = DEMO_SEED;
    if (cli_arg(&a, "patients") != NULL &&
        cli_parse_int(cli_arg(&a, "patients"), "--patients", 1, 500, &npatients, &err) != PC_OK)
        return cli_usage(NAME, &err);
    if (cli_arg(&a, "seed") != NULL &&
        cli_parse_int(cli_arg(&a, "seed"), "--seed", 0, INT32_MAX, &seed, &err) != PC_OK)
        return cli_usage(NAME, &err);
    const char *listen = cli_arg(&a, "listen");
    if (listen == NULL)
        listen = "127.0.0.1:8080";
    if (strchr(listen, ':') == NULL || strlen(listen) > 200) {
        pc_error_set(&err, PC_EINVAL, "--listen must be HOST:PORT, e.g. 127.0.0.1:8080");
        return cli_usage(NAME, &err);
    }

    demo *d = calloc(1, sizeof *d);
    if (d == NULL) {
        pc_error_set(&err, PC_ENOMEM, "out of memory");
        return cli_fail(NAME, &err);
    }
    cli_rng_seed(&d->rng, (uint64_t)seed);
    d->npatients = (size_t)npatients;
    d->today = (int32_t)(pc_now_ms() / 86400000);
    d->expiring_ms = 3000;

    cli_hospital_spec hosp[NHOSP];
    memcpy(hosp, HOSPITALS_TEMPLATE, sizeof hosp);
    for (size_t i = 0; i < NHOSP; i++)
        snprintf(hosp[i].endpoint, sizeof hosp[i].endpoint, "http://%s", listen);

    char path[1100], url[300];
    const char *urls[NHOSP];
    snprintf(url, sizeof url, "http://%s", listen);
    for (size_t i = 0; i < NHOSP; i++)
        urls[i] = url;

    step("creating the network: 3 hospitals, genesis block");
    rc = cli_offline_create(dir, "parcha-demo", hosp, NHOSP, listen, PC_KDF_FAST, &d->own_net,
                            &err);
    if (rc != PC_OK)
        goto fail;
    d->net = &d->own_net;
    d->net_open = true;
    if (!cli_pathf(path, sizeof path, "%s/vault.db", dir) ||
        !cli_pathf(d->keys_dir, sizeof d->keys_dir, "%s/demo-keys", dir)) {
        rc = pc_error_set(&err, PC_EINVAL, "folder path is too long");
        goto fail;
    }
    rc = pc_vault_open(path, &d->vault, &err);
    if (rc == PC_OK)
        rc = demo_build(d, urls, &err);
    if (rc != PC_OK)
        goto fail;
    print_summary(d, dir, listen, cli_flag(&a, "json"));
    demo_free(d);
    free(d);
    return CLI_EXIT_OK;
fail:
    demo_free(d);
    free(d);
    return cli_fail(NAME, &err);
}

int cli_demo_online(cli_offline *net, const char *const *node_urls,
                    const char *const *vault_paths, const char *keys_dir,
                    size_t npatients, json_t **summary, pc_error *err)
{
    if (summary != NULL)
        *summary = NULL;
    if (net->n < NHOSP)
        return pc_error_set(err, PC_EINVAL, "the demo needs at least %d hospitals", NHOSP);
    if (npatients < 1 || npatients > 500)
        return pc_error_set(err, PC_EINVAL, "the demo takes 1 to 500 patients");
    for (size_t h = 0; h < NHOSP; h++) {
        cli_hospital_spec want;
        cli_demo_hospital(h, &want);
        if (strcmp(net->hospitals[h].id, want.id) != 0)
            return pc_error_set(err, PC_EINVAL, "founder %zu must be the demo's '%s', not '%s'",
                                h + 1, want.id, net->hospitals[h].id);
    }
    demo *d = calloc(1, sizeof *d);
    if (d == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    d->net = net;
    d->online = true;
    /* Long enough to commit through the orderer on a busy machine. */
    d->expiring_ms = 20000;
    cli_rng_seed(&d->rng, DEMO_SEED);
    d->npatients = npatients;
    d->today = (int32_t)(pc_now_ms() / 86400000);
    int rc = PC_OK;
    if (!cli_pathf(d->keys_dir, sizeof d->keys_dir, "%s", keys_dir))
        rc = pc_error_set(err, PC_EINVAL, "folder path is too long");
    for (size_t h = 0; rc == PC_OK && h < NHOSP; h++) {
        rc = cli_client_init(&d->clients[h], node_urls[h], err);
        if (rc != PC_OK)
            break;
        d->client_open[h] = true;
        rc = pc_vault_open(vault_paths[h], &d->vaults[h], err);
    }
    if (rc == PC_OK)
        rc = demo_build(d, node_urls, err);
    if (rc == PC_OK && summary != NULL)
        *summary = summary_json(d, keys_dir);
    demo_free(d);
    free(d);
    return rc;
}
