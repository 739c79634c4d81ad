/* Internal view of a pc_ledger shared by the store (ledger.c: schema, queries,
 * verify) and the rules (ledger/apply.c). Not a public header. */
#ifndef PARCHA_LEDGER_INTERNAL_H
#define PARCHA_LEDGER_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include "parcha/ledger.h"

/* Prepared statements, made once per handle on first use. */
typedef enum stmt_id {
    S_HEAD_GET, S_HEAD_PUT, S_BLOCK_PUT, S_TX_PUT, S_TX_EXISTS,
    S_HOSP_GET, S_HOSP_BY_KEY, S_HOSP_PUT, S_HOSP_SET_ACTIVE, S_HOSP_COUNT_ACTIVE,
    S_STAFF_GET, S_STAFF_PUT, S_STAFF_SET_ACTIVE,
    S_PATIENT_EXISTS, S_PATIENT_PUT,
    S_RECORD_GET, S_RECORD_PUT,
    S_CONSENT_GET, S_CONSENT_PUT, S_CONSENT_REVOKE,
    S_EMERGENCY_PUT, S_ACCESS_PUT,
    /* read side: made once per reader handle */
    S_TIMELINE, S_PATIENT_KEY, S_STAFF_NAME, S_HOSP_NAME,
    S_COUNT
} stmt_id;

/* The writer's WAL checkpointer (ledger.c): a thread with its own connection
 * that copies committed WAL frames into ledger.db, so that apply never stops
 * to do it. Only writable handles have one. */
typedef struct pc_ckpt {
    sqlite3 *db;           /* its own connection to the same file */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running;           /* thread started (join on close) */
    int wanted;            /* the WAL passed the trigger size */
    int stop;
    int log_frames;        /* WAL size reported by the last commit */
} pc_ckpt;

struct pc_ledger {
    sqlite3 *db;
    sqlite3_stmt *stmts[S_COUNT];
    int readonly;
    int verify_threads; /* threads for signature checks in apply */
    int scratch;        /* verify's replay: no journal, tx bytes not kept */
    pc_ckpt ckpt;
};

/* The prepared statement for id (NULL on a prepare failure, logged in err). */
sqlite3_stmt *pc_ledger_stmt(pc_ledger *l, stmt_id id);

/* Apply the rule of one transaction against state inside the open SQLite
 * transaction. Returns a pc_verdict (PC_V_OK when applied), or -1 on a
 * database failure (err set): the caller rolls the block back. */
int pc_apply_tx(pc_ledger *l, const pc_tx *tx, const pc_head *head,
                const pc_policy *pol, int64_t block_time, uint64_t height,
                pc_error *err);

/* Reset and clear bindings of a statement after use. */
void pc_stmt_done(sqlite3_stmt *s);

#endif
