/* The access rule (DESIGN §5): one pure function deciding whether a reader may
 * read one record. No I/O, no clock: the caller gathers the facts from the
 * chain state and passes the current block time. Used by the custodian node,
 * the CLI, the UI's "locked" markers and the tests. */
#ifndef PARCHA_ACCESS_H
#define PARCHA_ACCESS_H

#include <stdbool.h>
#include "parcha/common.h"

#define PC_HOSPITAL_ID_MAX 32
#define PC_HI_TYPE_COUNT 7

/* ABDM health-information types, as bit flags so a grant can cover several. */
typedef enum pc_hi_type {
    PC_HI_OPCONSULTATION = 1 << 0,
    PC_HI_PRESCRIPTION = 1 << 1,
    PC_HI_DISCHARGESUMMARY = 1 << 2,
    PC_HI_DIAGNOSTICREPORT = 1 << 3,
    PC_HI_IMMUNIZATIONRECORD = 1 << 4,
    PC_HI_HEALTHDOCUMENTRECORD = 1 << 5,
    PC_HI_WELLNESSRECORD = 1 << 6
} pc_hi_type;
#define PC_HI_ALL 0x7f

/* "Prescription" -> PC_HI_PRESCRIPTION; 0 if unknown. */
unsigned pc_hi_type_from_name(const char *name);
/* PC_HI_PRESCRIPTION -> "Prescription"; NULL if not exactly one known bit. */
const char *pc_hi_type_name(unsigned type);

/* Why access was allowed (or that it was not). */
typedef enum pc_access_basis {
    PC_ACCESS_DENIED = 0,
    PC_ACCESS_PATIENT = 1,   /* the reader is the patient */
    PC_ACCESS_CUSTODIAN = 2, /* active staff of the custodian hospital */
    PC_ACCESS_CONSENT = 3,   /* a live grant covers the reader and record */
    PC_ACCESS_EMERGENCY = 4  /* the reader holds an open emergency window */
} pc_access_basis;

const char *pc_access_basis_name(pc_access_basis b); /* "patient", ... "denied" */

/* Dates are days since 1970-01-01 (from the record's clinical date). Times are
 * milliseconds since the epoch (block time). */

/* Who is reading. For a patient reading their own records, is_staff is false. */
typedef struct pc_access_reader {
    uint8_t key[32];
    bool is_staff;
    bool staff_active;    /* enrolled and not revoked */
    char hospital[PC_HOSPITAL_ID_MAX + 1]; /* staff's hospital id */
    bool hospital_active; /* staff's hospital admitted and not suspended */
} pc_access_reader;

/* The record being read (metadata from the chain). */
typedef struct pc_access_record {
    uint8_t patient[32];
    char custodian[PC_HOSPITAL_ID_MAX + 1];
    unsigned hi_type; /* exactly one pc_hi_type bit */
    int32_t date;     /* clinical date, days since epoch */
} pc_access_record;

/* A consent grant of the record's patient. */
typedef struct pc_access_grant {
    uint8_t txid[32];
    bool to_staff;             /* grantee is one staff member ... */
    uint8_t grantee_key[32];   /* ... with this key */
    char grantee_hospital[PC_HOSPITAL_ID_MAX + 1]; /* ... else this hospital */
    unsigned hi_types;         /* bit set; PC_HI_ALL for all */
    bool has_from, has_to;     /* optional record date range, inclusive */
    int32_t date_from, date_to;
    int64_t expires;           /* ms; grant is dead at time >= expires */
    bool revoked;
} pc_access_grant;

/* An emergency ("break-glass") window opened by a doctor for the patient. */
typedef struct pc_access_emergency {
    uint8_t txid[32];
    uint8_t doctor[32];
    int64_t opened;  /* ms */
    int64_t expires; /* ms; closed at time >= expires */
} pc_access_emergency;

typedef struct pc_access_decision {
    pc_access_basis basis;   /* PC_ACCESS_DENIED if refused */
    uint8_t ref[32];         /* grant or emergency txid when basis uses one */
    bool has_ref;
    const char *reason;      /* static English sentence, also when denied */
} pc_access_decision;

/* Decide. Order of precedence: patient, custodian staff, consent, emergency.
 * Staff who are revoked, or whose hospital is suspended, are refused on every
 * basis. Only grants and emergencies for rec->patient must be passed; others
 * are ignored defensively (patient mismatch is checked by the caller, since
 * the structs do not carry the patient). Pure: same inputs, same answer. */
pc_access_decision pc_access_decide(const pc_access_reader *reader,
                                    const pc_access_record *rec,
                                    const pc_access_grant *grants, size_t ngrants,
                                    const pc_access_emergency *emergencies,
                                    size_t nemergencies, int64_t now_ms);

/* "2024-03-15" -> days since epoch. Returns PC_OK or PC_EINVAL (must be a real
 * calendar date between 1900-01-01 and 2199-12-31, exactly YYYY-MM-DD). */
int pc_date_parse(const char *s, int32_t *days) PC_MUST_USE;
/* days -> "YYYY-MM-DD" into out[11]. */
void pc_date_format(int32_t days, char out[11]);

#endif
