/* The access rule of DESIGN §5 as one pure function, with the small
 * vocabularies it speaks: ABDM health-information type names, the names of
 * the bases of access, and calendar dates as days since 1970-01-01. Nothing
 * here reads a clock, a file or global state, so every node, the CLI and the
 * UI reach the same verdict from the same facts. */
#include "parcha/access.h"

#include <string.h>

/* Names in bit order: entry i names the type 1 << i. */
static const char *const hi_type_names[PC_HI_TYPE_COUNT] = {
    "OPConsultation",      "Prescription",         "DischargeSummary",
    "DiagnosticReport",    "ImmunizationRecord",   "HealthDocumentRecord",
    "WellnessRecord",
};

/* Exact, case-sensitive match of a name against the ABDM list. NULL and
 * unknown names give 0, which no grant and no record may carry. */
unsigned pc_hi_type_from_name(const char *name)
{
    if (name == NULL)
        return 0;
    for (unsigned i = 0; i < PC_HI_TYPE_COUNT; i++) {
        if (strcmp(name, hi_type_names[i]) == 0)
            return 1u << i;
    }
    return 0;
}

/* The name of exactly one type bit; sets of types, 0 and unknown bits give
 * NULL so a caller cannot print a set as if it were one type. */
const char *pc_hi_type_name(unsigned type)
{
    for (unsigned i = 0; i < PC_HI_TYPE_COUNT; i++) {
        if (type == (1u << i))
            return hi_type_names[i];
    }
    return NULL;
}

/* Lowercase names as written in access.log bodies. Never NULL: an
 * out-of-range value is reported as "denied", the safe reading. */
const char *pc_access_basis_name(pc_access_basis b)
{
    switch (b) {
    case PC_ACCESS_PATIENT: return "patient";
    case PC_ACCESS_CUSTODIAN: return "custodian";
    case PC_ACCESS_CONSENT: return "consent";
    case PC_ACCESS_EMERGENCY: return "emergency";
    case PC_ACCESS_DENIED: return "denied";
    }
    return "denied";
}

/* Compare two hospital ids held in PC_HOSPITAL_ID_MAX+1 arrays. Reads no
 * further than the array even if a caller forgot the NUL, and an empty id
 * matches nothing, so a zeroed struct never counts as "same hospital". */
static bool hospital_eq(const char a[PC_HOSPITAL_ID_MAX + 1],
                        const char b[PC_HOSPITAL_ID_MAX + 1])
{
    if (a[0] == '\0' || b[0] == '\0')
        return false;
    return strncmp(a, b, PC_HOSPITAL_ID_MAX + 1) == 0;
}

/* Whether a grant names this reader, either as the one staff member or as
 * the reader's hospital. Says nothing about whether the grant is live. */
static bool grant_names_reader(const pc_access_grant *g, const pc_access_reader *r)
{
    if (g->to_staff)
        return memcmp(g->grantee_key, r->key, 32) == 0;
    return hospital_eq(g->grantee_hospital, r->hospital);
}

/* Why a grant that names the reader still does not let them in. The values
 * are ordered by how close the grant came (a grant failing only on the date
 * passed every other check), so the denial reports the nearest miss, which is
 * what the reader needs to ask the patient for. GRANT_OK means it covers. */
typedef enum grant_miss {
    GRANT_MISS_NONE = 0, /* no grant names the reader */
    GRANT_MISS_REVOKED,
    GRANT_MISS_EXPIRED,
    GRANT_MISS_TYPE,
    GRANT_MISS_DATE,
    GRANT_OK
} grant_miss;

/* Check one grant, already known to name the reader, against the record and
 * the time. A record whose type is not exactly one known bit is covered by no
 * grant (a 0 type would otherwise pass any mask test). */
static grant_miss grant_check(const pc_access_grant *g, const pc_access_record *rec,
                              int64_t now_ms)
{
    if (g->revoked)
        return GRANT_MISS_REVOKED;
    if (now_ms >= g->expires)
        return GRANT_MISS_EXPIRED;
    if (pc_hi_type_name(rec->hi_type) == NULL ||
        (g->hi_types & PC_HI_ALL & rec->hi_type) == 0)
        return GRANT_MISS_TYPE;
    if (g->has_from && rec->date < g->date_from)
        return GRANT_MISS_DATE;
    if (g->has_to && rec->date > g->date_to)
        return GRANT_MISS_DATE;
    return GRANT_OK;
}

/* The denial sentence for the nearest grant miss; NULL when no grant named
 * the reader, so the caller can fall back to the emergency reason. */
static const char *grant_miss_reason(grant_miss m)
{
    switch (m) {
    case GRANT_MISS_REVOKED: return "consent revoked";
    case GRANT_MISS_EXPIRED: return "consent expired";
    case GRANT_MISS_TYPE: return "consent does not cover this record type";
    case GRANT_MISS_DATE: return "consent does not cover this date";
    case GRANT_MISS_NONE:
    case GRANT_OK: break;
    }
    return NULL;
}

/* A decision with the given basis and reason and no reference. */
static pc_access_decision decision(pc_access_basis basis, const char *reason)
{
    pc_access_decision d;
    memset(&d, 0, sizeof d);
    d.basis = basis;
    d.reason = reason;
    return d;
}

/* See access.h. Walks the bases in precedence order and returns at the first
 * that admits the reader; grants and emergencies are scanned in array order
 * so the same arrays always yield the same reference txid. The denial reason
 * prefers what the reader's grants lacked over what their emergency windows
 * lacked, since consent is the ordinary path. */
pc_access_decision pc_access_decide(const pc_access_reader *reader,
                                    const pc_access_record *rec,
                                    const pc_access_grant *grants, size_t ngrants,
                                    const pc_access_emergency *emergencies,
                                    size_t nemergencies, int64_t now_ms)
{
    if (reader == NULL || rec == NULL)
        return decision(PC_ACCESS_DENIED, "no reader or record given");
    if (grants == NULL)
        ngrants = 0;
    if (emergencies == NULL)
        nemergencies = 0;

    if (!reader->is_staff) {
        if (memcmp(reader->key, rec->patient, 32) == 0)
            return decision(PC_ACCESS_PATIENT, "reader is the patient");
        return decision(PC_ACCESS_DENIED,
                        "only the patient or hospital staff may read a record");
    }
    if (!reader->staff_active)
        return decision(PC_ACCESS_DENIED, "staff member is revoked");
    if (!reader->hospital_active)
        return decision(PC_ACCESS_DENIED, "hospital is suspended");

    if (hospital_eq(reader->hospital, rec->custodian))
        return decision(PC_ACCESS_CUSTODIAN,
                        "reader is staff of the custodian hospital");

    grant_miss nearest = GRANT_MISS_NONE;
    for (size_t i = 0; i < ngrants; i++) {
        const pc_access_grant *g = &grants[i];
        if (!grant_names_reader(g, reader))
            continue;
        grant_miss m = grant_check(g, rec, now_ms);
        if (m == GRANT_OK) {
            pc_access_decision d =
                decision(PC_ACCESS_CONSENT, "a consent of the patient covers this record");
            memcpy(d.ref, g->txid, 32);
            d.has_ref = true;
            return d;
        }
        if (m > nearest)
            nearest = m;
    }

    bool saw_expired = false, saw_early = false;
    for (size_t i = 0; i < nemergencies; i++) {
        const pc_access_emergency *e = &emergencies[i];
        if (memcmp(e->doctor, reader->key, 32) != 0)
            continue;
        if (now_ms < e->opened) {
            saw_early = true;
            continue;
        }
        if (now_ms >= e->expires) {
            saw_expired = true;
            continue;
        }
        pc_access_decision d =
            decision(PC_ACCESS_EMERGENCY, "reader holds an open emergency window");
        memcpy(d.ref, e->txid, 32);
        d.has_ref = true;
        return d;
    }

    const char *why = grant_miss_reason(nearest);
    if (why == NULL && saw_expired)
        why = "emergency window has expired";
    if (why == NULL && saw_early)
        why = "emergency window is not open yet";
    if (why == NULL)
        why = "no consent covers this record";
    return decision(PC_ACCESS_DENIED, why);
}

/* ---- dates ------------------------------------------------------------- */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard
 * Hinnant's days_from_civil). Assumes m in 1..12, d in 1..31; valid for any
 * year an int32 day count can reach. */
static int32_t days_from_civil(int32_t y, int32_t m, int32_t d)
{
    y -= m <= 2;
    int32_t era = (y >= 0 ? y : y - 399) / 400;
    int32_t yoe = y - era * 400;                                  /* [0, 399] */
    int32_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
    int32_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* Inverse of days_from_civil. Computed in 64 bits so that every int32 input
 * is safe from overflow. */
static void civil_from_days(int32_t days, int64_t *y, int *m, int *d)
{
    int64_t z = (int64_t)days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                       /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                     /* [0, 11] */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Gregorian leap year, for any year including negative ones. */
static bool is_leap(int32_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days in month m (1..12) of year y. */
static int32_t days_in_month(int32_t y, int32_t m)
{
    static const int32_t dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Read n ASCII digits at s into *v; false if any is not a digit. */
static bool read_digits(const char *s, int n, int32_t *v)
{
    int32_t acc = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        acc = acc * 10 + (s[i] - '0');
    }
    *v = acc;
    return true;
}

/* See access.h. Exactly ten characters; no signs, spaces or times. *days is
 * written only on success. */
int pc_date_parse(const char *s, int32_t *days)
{
    if (s == NULL || days == NULL)
        return PC_EINVAL;
    if (strnlen(s, 11) != 10 || s[4] != '-' || s[7] != '-')
        return PC_EINVAL;
    int32_t y, m, d;
    if (!read_digits(s, 4, &y) || !read_digits(s + 5, 2, &m) ||
        !read_digits(s + 8, 2, &d))
        return PC_EINVAL;
    if (y < 1900 || y > 2199 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return PC_EINVAL;
    *days = days_from_civil(y, m, d);
    return PC_OK;
}

/* See access.h. Formats any day in years 0000..9999, wider than the range
 * pc_date_parse accepts so that stored values can always be shown; days
 * outside that give "0000-00-00", which no parser accepts as a date. */
void pc_date_format(int32_t days, char out[11])
{
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) {
        memcpy(out, "0000-00-00", 11);
        return;
    }
    int yy = (int)y;
    out[0] = (char)('0' + yy / 1000);
    out[1] = (char)('0' + yy / 100 % 10);
    out[2] = (char)('0' + yy / 10 % 10);
    out[3] = (char)('0' + yy % 10);
    out[4] = '-';
    out[5] = (char)('0' + m / 10);
    out[6] = (char)('0' + m % 10);
    out[7] = '-';
    out[8] = (char)('0' + d / 10);
    out[9] = (char)('0' + d % 10);
    out[10] = '\0';
}
