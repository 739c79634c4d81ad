/* Tests of the access rule (DESIGN §5) and of the calendar helpers beside it.
 * The rule is pure, so every case builds its facts on the stack: a patient,
 * a custodian hospital "h-cust", a reading hospital "h-read" with two doctors,
 * and a third hospital "h-other". Times are ms, dates are days since epoch. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "parcha/access.h"

/* ---- fixture ----------------------------------------------------------- */

enum {
    K_PATIENT = 0x11,
    K_OTHER_PATIENT = 0x12,
    K_CUST_DOC = 0x21, /* staff of the custodian */
    K_DOC_A = 0x31,    /* staff of h-read */
    K_DOC_B = 0x32,    /* another staff member of h-read */
    K_DOC_X = 0x41     /* staff of h-other */
};

#define NOW ((int64_t)1710000000000) /* 2024-03-09T16:00:00Z */
#define HOUR ((int64_t)3600000)

static const unsigned all_types[PC_HI_TYPE_COUNT] = {
    PC_HI_OPCONSULTATION,     PC_HI_PRESCRIPTION,         PC_HI_DISCHARGESUMMARY,
    PC_HI_DIAGNOSTICREPORT,   PC_HI_IMMUNIZATIONRECORD,   PC_HI_HEALTHDOCUMENTRECORD,
    PC_HI_WELLNESSRECORD,
};

/* ---- helpers ----------------------------------------------------------- */

/* Copy a hospital id into a fixed field; ids in tests are short literals. */
static void set_hosp(char dst[PC_HOSPITAL_ID_MAX + 1], const char *src)
{
    memset(dst, 0, PC_HOSPITAL_ID_MAX + 1);
    size_t n = strlen(src);
    assert_true(n <= PC_HOSPITAL_ID_MAX);
    memcpy(dst, src, n);
}

/* An active staff member of an active hospital, key filled with byte k. */
static pc_access_reader staff(uint8_t k, const char *hospital)
{
    pc_access_reader r;
    memset(&r, 0, sizeof r);
    memset(r.key, k, 32);
    r.is_staff = true;
    r.staff_active = true;
    r.hospital_active = true;
    set_hosp(r.hospital, hospital);
    return r;
}

/* A patient (not staff) reading with key byte k. */
static pc_access_reader patient(uint8_t k)
{
    pc_access_reader r;
    memset(&r, 0, sizeof r);
    memset(r.key, k, 32);
    return r;
}

/* A record of K_PATIENT held at h-cust. */
static pc_access_record record(unsigned type, int32_t date)
{
    pc_access_record rec;
    memset(&rec, 0, sizeof rec);
    memset(rec.patient, K_PATIENT, 32);
    set_hosp(rec.custodian, "h-cust");
    rec.hi_type = type;
    rec.date = date;
    return rec;
}

/* A live grant of all types, no date range, expiring in a day, txid byte t. */
static pc_access_grant grant_to_hospital(const char *hospital, uint8_t t)
{
    pc_access_grant g;
    memset(&g, 0, sizeof g);
    memset(g.txid, t, 32);
    set_hosp(g.grantee_hospital, hospital);
    g.hi_types = PC_HI_ALL;
    g.expires = NOW + 24 * HOUR;
    return g;
}

static pc_access_grant grant_to_staff(uint8_t k, uint8_t t)
{
    pc_access_grant g;
    memset(&g, 0, sizeof g);
    memset(g.txid, t, 32);
    g.to_staff = true;
    memset(g.grantee_key, k, 32);
    g.hi_types = PC_HI_ALL;
    g.expires = NOW + 24 * HOUR;
    return g;
}

static pc_access_emergency emergency(uint8_t doctor, uint8_t t, int64_t opened,
                                     int64_t expires)
{
    pc_access_emergency e;
    memset(&e, 0, sizeof e);
    memset(e.txid, t, 32);
    memset(e.doctor, doctor, 32);
    e.opened = opened;
    e.expires = expires;
    return e;
}

static int32_t day(const char *s)
{
    int32_t d = 0;
    assert_int_equal(pc_date_parse(s, &d), PC_OK);
    return d;
}

/* Check a decision's basis and, when given, its reason and ref byte. */
static void expect(pc_access_decision d, pc_access_basis basis, const char *reason,
                   int ref_byte)
{
    if (d.basis != basis)
        fail_msg("basis %s, expected %s (reason: %s)", pc_access_basis_name(d.basis),
                 pc_access_basis_name(basis), d.reason ? d.reason : "(null)");
    assert_non_null(d.reason);
    if (reason != NULL)
        assert_string_equal(d.reason, reason);
    if (ref_byte < 0) {
        assert_false(d.has_ref);
    } else {
        uint8_t want[32];
        memset(want, ref_byte, 32);
        assert_true(d.has_ref);
        assert_memory_equal(d.ref, want, 32);
    }
}

static pc_access_decision decide1(const pc_access_reader *r, const pc_access_record *rec,
                                  const pc_access_grant *g, const pc_access_emergency *e,
                                  int64_t now)
{
    return pc_access_decide(r, rec, g, g ? 1 : 0, e, e ? 1 : 0, now);
}

/* ---- names ------------------------------------------------------------- */

static void test_hi_type_names(void **state)
{
    (void)state;
    static const char *const names[PC_HI_TYPE_COUNT] = {
        "OPConsultation",     "Prescription",         "DischargeSummary",
        "DiagnosticReport",   "ImmunizationRecord",   "HealthDocumentRecord",
        "WellnessRecord",
    };
    for (int i = 0; i < PC_HI_TYPE_COUNT; i++) {
        assert_int_equal(pc_hi_type_from_name(names[i]), all_types[i]);
        assert_string_equal(pc_hi_type_name(all_types[i]), names[i]);
    }
    assert_int_equal(pc_hi_type_from_name("prescription"), 0);
    assert_int_equal(pc_hi_type_from_name(""), 0);
    assert_int_equal(pc_hi_type_from_name(NULL), 0);
    assert_int_equal(pc_hi_type_from_name("Prescription "), 0);
    assert_null(pc_hi_type_name(0));
    assert_null(pc_hi_type_name(PC_HI_ALL));
    assert_null(pc_hi_type_name(PC_HI_PRESCRIPTION | PC_HI_OPCONSULTATION));
    assert_null(pc_hi_type_name(1u << 7));
}

static void test_basis_names(void **state)
{
    (void)state;
    assert_string_equal(pc_access_basis_name(PC_ACCESS_DENIED), "denied");
    assert_string_equal(pc_access_basis_name(PC_ACCESS_PATIENT), "patient");
    assert_string_equal(pc_access_basis_name(PC_ACCESS_CUSTODIAN), "custodian");
    assert_string_equal(pc_access_basis_name(PC_ACCESS_CONSENT), "consent");
    assert_string_equal(pc_access_basis_name(PC_ACCESS_EMERGENCY), "emergency");
    assert_string_equal(pc_access_basis_name((pc_access_basis)99), "denied");
}

/* ---- patient and custodian --------------------------------------------- */

static void test_patient_reads_own(void **state)
{
    (void)state;
    pc_access_reader r = patient(K_PATIENT);
    pc_access_record rec = record(PC_HI_PRESCRIPTION, day("2024-01-01"));
    expect(decide1(&r, &rec, NULL, NULL, NOW), PC_ACCESS_PATIENT, NULL, -1);
    /* Even with nothing else true: no grants, hospital fields empty. */
    rec.hi_type = 0;
    expect(decide1(&r, &rec, NULL, NULL, NOW), PC_ACCESS_PATIENT, NULL, -1);
}

static void test_other_patient_denied(void **state)
{
    (void)state;
    pc_access_reader r = patient(K_OTHER_PATIENT);
    pc_access_record rec = record(PC_HI_PRESCRIPTION, day("2024-01-01"));
    /* A hospital grant does not make a non-staff reader a grantee, even if
     * the reader's (unused) hospital field happens to match. */
    set_hosp(r.hospital, "h-read");
    pc_access_grant g = grant_to_hospital("h-read", 0xa1);
    pc_access_decision d = decide1(&r, &rec, &g, NULL, NOW);
    expect(d, PC_ACCESS_DENIED, NULL, -1);
    /* A non-staff reader also gets nothing from a staff grant to their key. */
    pc_access_grant gs = grant_to_staff(K_OTHER_PATIENT, 0xa2);
    expect(decide1(&r, &rec, &gs, NULL, NOW), PC_ACCESS_DENIED, NULL, -1);
}

static void test_custodian(void **state)
{
    (void)state;
    pc_access_reader r = staff(K_CUST_DOC, "h-cust");
    for (int i = 0; i < PC_HI_TYPE_COUNT; i++) {
        pc_access_record rec = record(all_types[i], day("1990-06-30"));
        expect(decide1(&r, &rec, NULL, NULL, NOW), PC_ACCESS_CUSTODIAN, NULL, -1);
    }
    /* Staff of another hospital with no grant: denied. */
    pc_access_reader x = staff(K_DOC_X, "h-other");
    pc_access_record rec = record(PC_HI_PRESCRIPTION, day("2024-01-01"));
    expect(decide1(&x, &rec, NULL, NULL, NOW), PC_ACCESS_DENIED,
           "no consent covers this record", -1);
    /* A hospital id that only shares a prefix is another hospital. */
    pc_access_reader p = staff(K_DOC_X, "h-cus");
    expect(decide1(&p, &rec, NULL, NULL, NOW), PC_ACCESS_DENIED, NULL, -1);
    /* Empty ids never match each other. */
    pc_access_reader e = staff(K_DOC_X, "");
    pc_access_record erec = record(PC_HI_PRESCRIPTION, 0);
    memset(erec.custodian, 0, sizeof erec.custodian);
    expect(decide1(&e, &erec, NULL, NULL, NOW), PC_ACCESS_DENIED, NULL, -1);
}

static void test_suspended_hospital_refused(void **state)
{
    (void)state;
    pc_access_record rec = record(PC_HI_PRESCRIPTION, day("2024-01-01"));
    pc_access_reader cust = staff(K_CUST_DOC, "h-cust");
    cust.hospital_active = false;
    expect(decide1(&cust, &rec, NULL, NULL, NOW), PC_ACCESS_DENIED,
           "hospital is suspended", -1);

    pc_access_reader r = staff(K_DOC_A, "h-read");
    r.hospital_active = false;
    pc_access_grant g = grant_to_hospital("h-read", 0xa1);
    pc_access_emergency e = emergency(K_DOC_A, 0xe1, NOW - HOUR, NOW + HOUR);
    expect(decide1(&r, &rec, &g, &e, NOW), PC_ACCESS_DENIED, "hospital is suspended", -1);
}

static void test_revoked_staff_refused(void **state)
{
    (void)state;
    pc_access_record rec = record(PC_HI_PRESCRIPTION, day("2024-01-01"));
    pc_access_reader cust = staff(K_CUST_DOC, "h-cust");
    cust.staff_active = false;
    expect(decide1(&cust, &rec, NULL, NULL, NOW), PC_ACCESS_DENIED,
           "staff member is revoked", -1);

    pc_access_reader r = staff(K_DOC_A, "h-read");
    r.staff_active = false;
    pc_access_grant g = grant_to_staff(K_DOC_A, 0xa1);
    pc_access_emergency e = emergency(K_DOC_A, 0xe1, NOW - HOUR, NOW + HOUR);
    expect(decide1(&r, &rec, &g, &e, NOW), PC_ACCESS_DENIED, "staff member is revoked", -1);
    /* Revoked staff at a suspended hospital: the staff reason comes first. */
    r.hospital_active = false;
    expect(decide1(&r, &rec, &g, &e, NOW), PC_ACCESS_DENIED, "staff member is revoked", -1);
}

/* ---- grantees ---------------------------------------------------------- */

static void test_grant_to_hospital_covers_all_its_staff(void **state)
{
    (void)state;
    pc_access_record rec = record(PC_HI_DIAGNOSTICREPORT, day("2024-02-01"));
    pc_access_grant g = grant_to_hospital("h-read", 0xa1);
    pc_access_reader a = staff(K_DOC_A, "h-read");
    pc_access_reader b = staff(K_DOC_B, "h-read");
    pc_access_reader x = staff(K_DOC_X, "h-other");
    expect(decide1(&a, &rec, &g, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa1);
    expect(decide1(&b, &rec, &g, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa1);
    expect(decide1(&x, &rec, &g, NULL, NOW), PC_ACCESS_DENIED,
           "no consent covers this record", -1);
}

static void test_grant_to_staff_covers_only_that_person(void **state)
{
    (void)state;
    pc_access_record rec = record(PC_HI_DIAGNOSTICREPORT, day("2024-02-01"));
    pc_access_grant g = grant_to_staff(K_DOC_A, 0xa1);
    /* The grantee_hospital field of a staff grant is ignored even if set. */
    set_hosp(g.grantee_hospital, "h-read");
    pc_access_reader a = staff(K_DOC_A, "h-read");
    pc_access_reader b = staff(K_DOC_B, "h-read");
    expect(decide1(&a, &rec, &g, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa1);
    expect(decide1(&b, &rec, &g, NULL, NOW), PC_ACCESS_DENIED,
           "no consent covers this record", -1);
    /* The grantee moved hospitals: a staff grant follows the person. */
    pc_access_reader moved = staff(K_DOC_A, "h-other");
    expect(decide1(&moved, &rec, &g, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa1);
}

/* ---- record types ------------------------------------------------------ */

static void test_each_hi_type_in_and_out(void **state)
{
    (void)state;
    pc_access_reader a = staff(K_DOC_A, "h-read");
    for (int gi = 0; gi < PC_HI_TYPE_COUNT; gi++) {
        pc_access_grant g = grant_to_hospital("h-read", 0xa1);
        g.hi_types = all_types[gi];
        for (int ri = 0; ri < PC_HI_TYPE_COUNT; ri++) {
            pc_access_record rec = record(all_types[ri], day("2024-02-01"));
            pc_access_decision d = decide1(&a, &rec, &g, NULL, NOW);
            if (gi == ri)
                expect(d, PC_ACCESS_CONSENT, NULL, 0xa1);
            else
                expect(d, PC_ACCESS_DENIED, "consent does not cover this record type", -1);
        }
    }
}

static void test_hi_all_and_sets(void **state)
{
    (void)state;
    pc_access_reader a = staff(K_DOC_A, "h-read");
    pc_access_grant g = grant_to_hospital("h-read", 0xa1);
    g.hi_types = PC_HI_ALL;
    for (int ri = 0; ri < PC_HI_TYPE_COUNT; ri++) {
        pc_access_record rec = record(all_types[ri], day("2024-02-01"));
        expect(decide1(&a, &rec, &g, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa1);
    }
    g.hi_types = PC_HI_PRESCRIPTION | PC_HI_DIAGNOSTICREPORT;
    pc_access_record rx = record(PC_HI_PRESCRIPTION, day("2024-02-01"));
    pc_access_record lab = record(PC_HI_DIAGNOSTICREPORT, day("2024-02-01"));
    pc_access_record dis = record(PC_HI_DISCHARGESUMMARY, day("2024-02-01"));
    expect(decide1(&a, &rx, &g, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa1);
    expect(decide1(&a, &lab, &g, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa1);
    expect(decide1(&a, &dis, &g, NULL, NOW), PC_ACCESS_DENIED, NULL, -1);
    /* An empty type set covers nothing. */
    g.hi_types = 0;
    expect(decide1(&a, &rx, &g, NULL, NOW), PC_ACCESS_DENIED,
           "consent does not cover this record type", -1);
}

static void test_malformed_record_type_not_covered(void **state)
{
    (void)state;
    pc_access_reader a = staff(K_DOC_A, "h-read");
    pc_access_grant g = grant_to_hospital("h-read", 0xa1);
    static const unsigned bad[] = {0, PC_HI_ALL, PC_HI_PRESCRIPTION | PC_HI_OPCONSULTATION,
                                   1u << 7, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pc_access_record rec = record(bad[i], day("2024-02-01"));
        expect(decide1(&a, &rec, &g, NULL, NOW), PC_ACCESS_DENIED,
               "consent does not cover this record type", -1);
    }
    /* ...while the custodian still reads it. */
    pc_access_reader c = staff(K_CUST_DOC, "h-cust");
    pc_access_record rec = record(0, day("2024-02-01"));
    expect(decide1(&c, &rec, &g, NULL, NOW), PC_ACCESS_CUSTODIAN, NULL, -1);
}

/* ---- date ranges ------------------------------------------------------- */

static void test_date_range_boundaries(void **state)
{
    (void)state;
    pc_access_reader a = staff(K_DOC_A, "h-read");
    int32_t from = day("2023-01-01"), to = day("2023-12-31");
    pc_access_grant g = grant_to_hospital("h-read", 0xa1);
    g.has_from = g.has_to = true;
    g.date_from = from;
    g.date_to = to;
    const struct {
        int32_t date;
        bool ok;
    } rows[] = {
        {from - 1, false}, {from, true}, {from + 1, true}, {day("2023-06-15"), true},
        {to - 1, true},    {to, true},   {to + 1, false},  {day("1900-01-01"), false},
        {day("2199-12-31"), false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        pc_access_record rec = record(PC_HI_PRESCRIPTION, rows[i].date);
        pc_access_decision d = decide1(&a, &rec, &g, NULL, NOW);
        if (rows[i].ok)
            expect(d, PC_ACCESS_CONSENT, NULL, 0xa1);
        else
            expect(d, PC_ACCESS_DENIED, "consent does not cover this date", -1);
    }
}

static void test_date_range_open_ended(void **state)
{
    (void)state;
    pc_access_reader a = staff(K_DOC_A, "h-read");
    int32_t pivot = day("2020-03-25");
    pc_access_record before = record(PC_HI_PRESCRIPTION, pivot - 1);
    pc_access_record at = record(PC_HI_PRESCRIPTION, pivot);
    pc_access_record after = record(PC_HI_PRESCRIPTION, pivot + 1);
    pc_access_record ancient = record(PC_HI_PRESCRIPTION, day("1900-01-01"));
    pc_access_record future = record(PC_HI_PRESCRIPTION, day("2199-12-31"));

    pc_access_grant from_only = grant_to_hospital("h-read", 0xa1);
    from_only.has_from = true;
    from_only.date_from = pivot;
    from_only.date_to = pivot - 1000; /* ignored: has_to is false */
    expect(decide1(&a, &before, &from_only, NULL, NOW), PC_ACCESS_DENIED,
           "consent does not cover this date", -1);
    expect(decide1(&a, &at, &from_only, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa1);
    expect(decide1(&a, &future, &from_only, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa1);

    pc_access_grant to_only = grant_to_hospital("h-read", 0xa2);
    to_only.has_to = true;
    to_only.date_to = pivot;
    to_only.date_from = pivot + 1000; /* ignored: has_from is false */
    expect(decide1(&a, &ancient, &to_only, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa2);
    expect(decide1(&a, &at, &to_only, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa2);
    expect(decide1(&a, &after, &to_only, NULL, NOW), PC_ACCESS_DENIED,
           "consent does not cover this date", -1);

    pc_access_grant open = grant_to_hospital("h-read", 0xa3);
    expect(decide1(&a, &ancient, &open, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa3);
    expect(decide1(&a, &future, &open, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa3);

    /* A single-day range. */
    pc_access_grant one = grant_to_hospital("h-read", 0xa4);
    one.has_from = one.has_to = true;
    one.date_from = one.date_to = pivot;
    expect(decide1(&a, &at, &one, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa4);
    expect(decide1(&a, &before, &one, NULL, NOW), PC_ACCESS_DENIED, NULL, -1);
    expect(decide1(&a, &after, &one, NULL, NOW), PC_ACCESS_DENIED, NULL, -1);
}

/* ---- expiry and revocation --------------------------------------------- */

static void test_grant_expiry_boundary(void **state)
{
    (void)state;
    pc_access_reader a = staff(K_DOC_A, "h-read");
    pc_access_record rec = record(PC_HI_PRESCRIPTION, day("2024-02-01"));
    pc_access_grant g = grant_to_hospital("h-read", 0xa1);
    g.expires = NOW;
    expect(decide1(&a, &rec, &g, NULL, NOW), PC_ACCESS_DENIED, "consent expired", -1);
    expect(decide1(&a, &rec, &g, NULL, NOW - 1), PC_ACCESS_CONSENT, NULL, 0xa1);
    expect(decide1(&a, &rec, &g, NULL, NOW + 1), PC_ACCESS_DENIED, "consent expired", -1);
    g.expires = INT64_MIN;
    expect(decide1(&a, &rec, &g, NULL, NOW), PC_ACCESS_DENIED, "consent expired", -1);
    g.expires = INT64_MAX;
    expect(decide1(&a, &rec, &g, NULL, NOW), PC_ACCESS_CONSENT, NULL, 0xa1);
}

static void test_grant_revoked(void **state)
{
    (void)state;
    pc_access_reader a = staff(K_DOC_A, "h-read");
    pc_access_record rec = record(PC_HI_PRESCRIPTION, day("2024-02-01"));
    pc_access_grant g = grant_to_staff(K_DOC_A, 0xa1);
    g.revoked = true;
    expect(decide1(&a, &rec, &g, NULL, NOW), PC_ACCESS_DENIED, "consent revoked", -1);
    /* A second, live grant still works. */
    pc_access_grant gs[2] = {g, grant_to_hospital("h-read", 0xa2)};
    expect(pc_access_decide(&a, &rec, gs, 2, NULL, 0, NOW), PC_ACCESS_CONSENT, NULL, 0xa2);
}

/* ---- emergencies ------------------------------------------------------- */

static void test_emergency_window(void **state)
{
    (void)state;
    pc_access_reader a = staff(K_DOC_A, "h-read");
    pc_access_record rec = record(PC_HI_DISCHARGESUMMARY, day("2024-02-01"));
    int64_t opened = NOW - HOUR, expires = NOW + 3 * HOUR;
    pc_access_emergency e = emergency(K_DOC_A, 0xe1, opened, expires);

    expect(decide1(&a, &rec, NULL, &e, NOW), PC_ACCESS_EMERGENCY, NULL, 0xe1);
    expect(decide1(&a, &rec, NULL, &e, opened), PC_ACCESS_EMERGENCY, NULL, 0xe1);
    expect(decide1(&a, &rec, NULL, &e, expires - 1), PC_ACCESS_EMERGENCY, NULL, 0xe1);
    expect(decide1(&a, &rec, NULL, &e, expires), PC_ACCESS_DENIED,
           "emergency window has expired", -1);
    expect(decide1(&a, &rec, NULL, &e, expires + HOUR), PC_ACCESS_DENIED,
           "emergency window has expired", -1);
    expect(decide1(&a, &rec, NULL, &e, opened - 1), PC_ACCESS_DENIED,
           "emergency window is not open yet", -1);

    /* The window is the opening doctor's alone, not their colleagues'. */
    pc_access_reader b = staff(K_DOC_B, "h-read");
    expect(decide1(&b, &rec, NULL, &e, NOW), PC_ACCESS_DENIED,
           "no consent covers this record", -1);
    /* The patient cannot "break glass" on their own record either. */
    pc_access_reader p = patient(K_OTHER_PATIENT);
    pc_access_emergency pe = emergency(K_OTHER_PATIENT, 0xe2, opened, expires);
    expect(decide1(&p, &rec, NULL, &pe, NOW), PC_ACCESS_DENIED, NULL, -1);
}

static void test_emergency_covers_every_type_and_date(void **state)
{
    (void)state;
    pc_access_reader a = staff(K_DOC_A, "h-read");
    pc_access_emergency e = emergency(K_DOC_A, 0xe1, NOW - HOUR, NOW + HOUR);
    for (int i = 0; i < PC_HI_TYPE_COUNT; i++) {
        pc_access_record rec = record(all_types[i], day("1901-01-01") + i * 10000);
        expect(decide1(&a, &rec, NULL, &e, NOW), PC_ACCESS_EMERGENCY, NULL, 0xe1);
    }
}

static void test_second_emergency_open(void **state)
{
    (void)state;
    pc_access_reader a = staff(K_DOC_A, "h-read");
    pc_access_record rec = record(PC_HI_PRESCRIPTION, day("2024-02-01"));
    pc_access_emergency es[3] = {
        emergency(K_DOC_A, 0xe1, NOW - 10 * HOUR, NOW - 5 * HOUR),
        emergency(K_DOC_B, 0xe2, NOW - HOUR, NOW + HOUR),
        emergency(K_DOC_A, 0xe3, NOW - HOUR, NOW + HOUR),
    };
    expect(pc_access_decide(&a, &rec, NULL, 0, es, 3, NOW), PC_ACCESS_EMERGENCY, NULL, 0xe3);
}

/* ---- precedence -------------------------------------------------------- */

static void test_precedence(void **state)
{
    (void)state;
    pc_access_record rec = record(PC_HI_PRESCRIPTION, day("2024-02-01"));

    /* The patient beats everything, whatever else is passed. */
    pc_access_reader p = patient(K_PATIENT);
    pc_access_grant g = grant_to_staff(K_PATIENT, 0xa1);
    pc_access_emergency e = emergency(K_PATIENT, 0xe1, NOW - HOUR, NOW + HOUR);
    expect(decide1(&p, &rec, &g, &e, NOW), PC_ACCESS_PATIENT, NULL, -1);

    /* Custodian before consent and emergency. */
    pc_access_reader c = staff(K_CUST_DOC, "h-cust");
    pc_access_grant gc = grant_to_hospital("h-cust", 0xa2);
    pc_access_emergency ec = emergency(K_CUST_DOC, 0xe2, NOW - HOUR, NOW + HOUR);
    expect(decide1(&c, &rec, &gc, &ec, NOW), PC_ACCESS_CUSTODIAN, NULL, -1);

    /* Consent before emergency. */
    pc_access_reader a = staff(K_DOC_A, "h-read");
    pc_access_grant ga = grant_to_staff(K_DOC_A, 0xa3);
    pc_access_emergency ea = emergency(K_DOC_A, 0xe3, NOW - HOUR, NOW + HOUR);
    expect(decide1(&a, &rec, &ga, &ea, NOW), PC_ACCESS_CONSENT, NULL, 0xa3);
    /* ...and the emergency when the grant lapses. */
    ga.expires = NOW;
    expect(decide1(&a, &rec, &ga, &ea, NOW), PC_ACCESS_EMERGENCY, NULL, 0xe3);

    /* A doctor who is also this patient reads as staff, by the staff rules. */
    pc_access_reader sp = staff(K_PATIENT, "h-read");
    expect(decide1(&sp, &rec, NULL, NULL, NOW), PC_ACCESS_DENIED, NULL, -1);
}

static void test_first_matching_grant_wins(void **state)
{
    (void)state;
    pc_access_reader a = staff(K_DOC_A, "h-read");
    pc_access_record rec = record(PC_HI_PRESCRIPTION, day("2024-02-01"));
    pc_access_grant gs[5] = {
        grant_to_hospital("h-other", 0xb1),   /* not the reader */
        grant_to_staff(K_DOC_B, 0xb2),        /* a colleague */
        grant_to_hospital("h-read", 0xb3),    /* revoked below */
        grant_to_staff(K_DOC_A, 0xb4),        /* first match */
        grant_to_hospital("h-read", 0xb5),    /* also matches */
    };
    gs[2].revoked = true;
    expect(pc_access_decide(&a, &rec, gs, 5, NULL, 0, NOW), PC_ACCESS_CONSENT, NULL, 0xb4);
    /* Swap the last two: order, not kind, decides. */
    pc_access_grant t = gs[3];
    gs[3] = gs[4];
    gs[4] = t;
    expect(pc_access_decide(&a, &rec, gs, 5, NULL, 0, NOW), PC_ACCESS_CONSENT, NULL, 0xb5);
}

static void test_most_specific_denial(void **state)
{
    (void)state;
    pc_access_reader a = staff(K_DOC_A, "h-read");
    pc_access_record rec = record(PC_HI_PRESCRIPTION, day("2024-02-01"));

    pc_access_grant revoked = grant_to_hospital("h-read", 0xc1);
    revoked.revoked = true;
    pc_access_grant expired = grant_to_hospital("h-read", 0xc2);
    expired.expires = NOW - 1;
    pc_access_grant wrong_type = grant_to_hospital("h-read", 0xc3);
    wrong_type.hi_types = PC_HI_IMMUNIZATIONRECORD;
    pc_access_grant wrong_date = grant_to_hospital("h-read", 0xc4);
    wrong_date.has_to = true;
    wrong_date.date_to = rec.date - 1;
    pc_access_grant other = grant_to_hospital("h-other", 0xc5); /* does not name reader */
    pc_access_emergency old = emergency(K_DOC_A, 0xe1, NOW - 10 * HOUR, NOW - HOUR);

    pc_access_grant set1[] = {revoked, expired};
    expect(pc_access_decide(&a, &rec, set1, 2, NULL, 0, NOW), PC_ACCESS_DENIED,
           "consent expired", -1);
    pc_access_grant set2[] = {wrong_type, revoked, expired};
    expect(pc_access_decide(&a, &rec, set2, 3, NULL, 0, NOW), PC_ACCESS_DENIED,
           "consent does not cover this record type", -1);
    pc_access_grant set3[] = {revoked, wrong_date, wrong_type};
    expect(pc_access_decide(&a, &rec, set3, 3, NULL, 0, NOW), PC_ACCESS_DENIED,
           "consent does not cover this date", -1);
    /* Grants to someone else do not shape the reason. */
    pc_access_grant set4[] = {other};
    expect(pc_access_decide(&a, &rec, set4, 1, &old, 1, NOW), PC_ACCESS_DENIED,
           "emergency window has expired", -1);
    /* A grant reason is preferred over an emergency reason. */
    expect(pc_access_decide(&a, &rec, set1, 2, &old, 1, NOW), PC_ACCESS_DENIED,
           "consent expired", -1);
    /* A revoked grant wins over an expired when it is the only kind. */
    expect(pc_access_decide(&a, &rec, &revoked, 1, NULL, 0, NOW), PC_ACCESS_DENIED,
           "consent revoked", -1);
    /* Revoked and expired: revocation is checked first. */
    pc_access_grant both = revoked;
    both.expires = NOW - 1;
    expect(pc_access_decide(&a, &rec, &both, 1, NULL, 0, NOW), PC_ACCESS_DENIED,
           "consent revoked", -1);
}

static void test_null_and_empty_inputs(void **state)
{
    (void)state;
    pc_access_reader a = staff(K_DOC_A, "h-read");
    pc_access_record rec = record(PC_HI_PRESCRIPTION, day("2024-02-01"));
    pc_access_decision d = pc_access_decide(NULL, &rec, NULL, 0, NULL, 0, NOW);
    expect(d, PC_ACCESS_DENIED, NULL, -1);
    d = pc_access_decide(&a, NULL, NULL, 0, NULL, 0, NOW);
    expect(d, PC_ACCESS_DENIED, NULL, -1);
    /* NULL arrays with a count are treated as empty, not dereferenced. */
    d = pc_access_decide(&a, &rec, NULL, 5, NULL, 5, NOW);
    expect(d, PC_ACCESS_DENIED, "no consent covers this record", -1);
}

static void test_determinism(void **state)
{
    (void)state;
    pc_access_reader a = staff(K_DOC_A, "h-read");
    pc_access_record rec = record(PC_HI_PRESCRIPTION, day("2024-02-01"));
    pc_access_grant gs[3] = {grant_to_hospital("h-read", 0xd1),
                             grant_to_staff(K_DOC_A, 0xd2),
                             grant_to_hospital("h-other", 0xd3)};
    gs[0].expires = NOW;
    pc_access_emergency e = emergency(K_DOC_A, 0xe1, NOW - HOUR, NOW + HOUR);
    pc_access_grant copy[3];
    memcpy(copy, gs, sizeof gs);
    pc_access_decision first = pc_access_decide(&a, &rec, gs, 3, &e, 1, NOW);
    for (int i = 0; i < 1000; i++) {
        pc_access_decision d = pc_access_decide(&a, &rec, gs, 3, &e, 1, NOW);
        assert_int_equal(d.basis, first.basis);
        assert_int_equal(d.has_ref, first.has_ref);
        assert_memory_equal(d.ref, first.ref, 32);
        assert_string_equal(d.reason, first.reason);
    }
    /* Inputs are not modified. */
    assert_memory_equal(copy, gs, sizeof gs);
    expect(first, PC_ACCESS_CONSENT, NULL, 0xd2);
}

/* ---- combinations ------------------------------------------------------ */

/* Every combination of reader kind, grantee kind, grant type set, date range,
 * grant time state and emergency state, with the expected basis derived from
 * the rule as written in DESIGN §5 (a direct boolean formula, not the
 * nearest-miss bookkeeping of the implementation). */
static void test_combinations(void **state)
{
    (void)state;
    enum { R_PATIENT, R_CUST, R_GRANTEE, R_COLLEAGUE, R_STRANGER, R_OTHER_PATIENT, R_N };
    enum { G_NONE, G_STAFF, G_HOSPITAL, G_N };
    enum { T_EXPIRED, T_LIVE, T_REVOKED, T_N };
    enum { E_NONE, E_OPEN, E_CLOSED, E_N };
    enum { D_NONE, D_FROM, D_TO, D_BOTH, D_N };
    static const unsigned type_sets[] = {PC_HI_PRESCRIPTION, PC_HI_DIAGNOSTICREPORT,
                                         PC_HI_PRESCRIPTION | PC_HI_WELLNESSRECORD, PC_HI_ALL};
    const int32_t rec_dates[] = {day("2022-12-31"), day("2023-01-01"), day("2023-06-01"),
                                 day("2023-12-31"), day("2024-01-01")};
    const int32_t from = day("2023-01-01"), to = day("2023-12-31");
    size_t cases = 0;

    for (int rk = 0; rk < R_N; rk++)
    for (int gk = 0; gk < G_N; gk++)
    for (size_t ts = 0; ts < sizeof type_sets / sizeof type_sets[0]; ts++)
    for (int tk = 0; tk < T_N; tk++)
    for (int dk = 0; dk < D_N; dk++)
    for (int ek = 0; ek < E_N; ek++)
    for (int ri = 0; ri < PC_HI_TYPE_COUNT; ri++)
    for (size_t di = 0; di < sizeof rec_dates / sizeof rec_dates[0]; di++) {
        pc_access_reader r;
        switch (rk) {
        case R_PATIENT: r = patient(K_PATIENT); break;
        case R_CUST: r = staff(K_CUST_DOC, "h-cust"); break;
        case R_GRANTEE: r = staff(K_DOC_A, "h-read"); break;
        case R_COLLEAGUE: r = staff(K_DOC_B, "h-read"); break;
        case R_STRANGER: r = staff(K_DOC_X, "h-other"); break;
        default: r = patient(K_OTHER_PATIENT); break;
        }
        pc_access_record rec = record(all_types[ri], rec_dates[di]);
        pc_access_grant g = gk == G_STAFF ? grant_to_staff(K_DOC_A, 0xaa)
                                          : grant_to_hospital("h-read", 0xaa);
        g.hi_types = type_sets[ts];
        g.has_from = dk == D_FROM || dk == D_BOTH;
        g.has_to = dk == D_TO || dk == D_BOTH;
        g.date_from = from;
        g.date_to = to;
        g.expires = tk == T_EXPIRED ? NOW : NOW + 1;
        g.revoked = tk == T_REVOKED;
        pc_access_emergency e = emergency(K_DOC_A, 0xee, NOW - HOUR,
                                          ek == E_OPEN ? NOW + 1 : NOW);

        bool names_reader =
            gk == G_STAFF ? rk == R_GRANTEE : gk == G_HOSPITAL && (rk == R_GRANTEE || rk == R_COLLEAGUE);
        bool grant_ok = gk != G_NONE && names_reader && tk == T_LIVE &&
                        (type_sets[ts] & all_types[ri]) != 0 &&
                        (!g.has_from || rec.date >= from) && (!g.has_to || rec.date <= to);
        bool emerg_ok = ek == E_OPEN && rk == R_GRANTEE;
        pc_access_basis want;
        if (rk == R_PATIENT)
            want = PC_ACCESS_PATIENT;
        else if (rk == R_CUST)
            want = PC_ACCESS_CUSTODIAN;
        else if (rk == R_OTHER_PATIENT)
            want = PC_ACCESS_DENIED;
        else if (grant_ok)
            want = PC_ACCESS_CONSENT;
        else if (emerg_ok)
            want = PC_ACCESS_EMERGENCY;
        else
            want = PC_ACCESS_DENIED;

        pc_access_decision d = pc_access_decide(&r, &rec, gk == G_NONE ? NULL : &g,
                                                gk == G_NONE ? 0 : 1,
                                                ek == E_NONE ? NULL : &e,
                                                ek == E_NONE ? 0 : 1, NOW);
        if (d.basis != want)
            fail_msg("case r%d g%d ts%zu t%d d%d e%d type%d date%zu: got %s want %s (%s)",
                     rk, gk, ts, tk, dk, ek, ri, di, pc_access_basis_name(d.basis),
                     pc_access_basis_name(want), d.reason);
        assert_non_null(d.reason);
        assert_int_equal(d.has_ref, want == PC_ACCESS_CONSENT || want == PC_ACCESS_EMERGENCY);
        if (want == PC_ACCESS_CONSENT)
            assert_int_equal(d.ref[0], 0xaa);
        if (want == PC_ACCESS_EMERGENCY)
            assert_int_equal(d.ref[0], 0xee);
        cases++;
    }
    assert_int_equal(cases, (size_t)R_N * G_N * 4 * T_N * D_N * E_N * PC_HI_TYPE_COUNT * 5);
}

/* ---- dates ------------------------------------------------------------- */

static void test_date_known_values(void **state)
{
    (void)state;
    const struct {
        const char *s;
        int32_t days;
    } rows[] = {
        {"1970-01-01", 0},      {"1970-01-02", 1},       {"1969-12-31", -1},
        {"2000-01-01", 10957},  {"2000-02-29", 11016},   {"2000-03-01", 11017},
        {"2024-02-29", 19782},  {"2024-03-15", 19797},   {"1900-01-01", -25567},
        {"1900-02-28", -25509}, {"1900-03-01", -25508},  {"2038-01-19", 24855},
        {"2199-12-31", 84005},  {"2100-02-28", 47540},   {"2100-03-01", 47541},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int32_t d = 123456;
        assert_int_equal(pc_date_parse(rows[i].s, &d), PC_OK);
        if (d != rows[i].days)
            fail_msg("%s: got %d want %d", rows[i].s, (int)d, (int)rows[i].days);
        char out[11];
        pc_date_format(rows[i].days, out);
        assert_string_equal(out, rows[i].s);
    }
}

static void test_date_leap_years(void **state)
{
    (void)state;
    const char *ok[] = {"1904-02-29", "1996-02-29", "2000-02-29", "2004-02-29",
                        "2024-02-29", "2196-02-29"};
    const char *bad[] = {"1900-02-29", "2023-02-29", "2100-02-29", "2001-02-29",
                         "2024-02-30", "2000-02-30"};
    int32_t d;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(pc_date_parse(ok[i], &d), PC_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = 777;
        if (pc_date_parse(bad[i], &d) != PC_EINVAL)
            fail_msg("%s accepted", bad[i]);
        assert_int_equal(d, 777); /* untouched on failure */
    }
}

static void test_date_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "",            "2024",        "2024-03",     "2024-3-15",    "2024-03-5",
        "24-03-15",    "2024/03/15",  "2024-03-15 ", " 2024-03-15",  "2024-03-15T00:00:00",
        "2024-00-10",  "2024-13-01",  "2024-01-00",  "2024-01-32",   "2024-04-31",
        "2024-06-31",  "2024-09-31",  "2024-11-31",  "1899-12-31",   "2200-01-01",
        "0000-01-01",  "9999-12-31",  "+024-03-15",  "2024-+3-15",   "2024-03--1",
        "２０２４-03-15", "2024-03-1a", "abcd-ef-gh",  "2024_03_15",   "20240315",
    };
    int32_t d;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (pc_date_parse(bad[i], &d) != PC_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
    }
    assert_int_equal(pc_date_parse(NULL, &d), PC_EINVAL);
    assert_int_equal(pc_date_parse("2024-03-15", NULL), PC_EINVAL);
    /* An embedded NUL ends the string early. */
    assert_int_equal(pc_date_parse("2024-03\0-15", &d), PC_EINVAL);
}

/* Walk every day of 1900..2199 by an independent calendar count, checking
 * that parse and format agree with it and with each other. */
static void test_date_round_trip_every_day(void **state)
{
    (void)state;
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int32_t expect_days = -25567; /* 1900-01-01 */
    int count = 0;
    for (int y = 1900; y <= 2199; y++) {
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for (int m = 1; m <= 12; m++) {
            int n = dim[m - 1] + (m == 2 && leap);
            for (int dd = 1; dd <= n; dd++) {
                char s[48];
                snprintf(s, sizeof s, "%04d-%02d-%02d", y, m, dd);
                int32_t got;
                if (pc_date_parse(s, &got) != PC_OK || got != expect_days)
                    fail_msg("%s: parse gave %d want %d", s, (int)got, (int)expect_days);
                char out[11];
                pc_date_format(got, out);
                if (strcmp(out, s) != 0)
                    fail_msg("%d: format gave %s want %s", (int)got, out, s);
                expect_days++;
                count++;
            }
            /* The day after the last of the month is refused. */
            char s[48];
            snprintf(s, sizeof s, "%04d-%02d-%02d", y, m, n + 1);
            int32_t got;
            if (pc_date_parse(s, &got) != PC_EINVAL)
                fail_msg("%s accepted", s);
        }
    }
    assert_int_equal(count, 300 * 365 + 73); /* 75 multiples of 4, less 1900 and 2100 */
    assert_int_equal(expect_days - 1, 84005);  /* 2199-12-31 */
}

static void test_date_format_out_of_range(void **state)
{
    (void)state;
    char out[11];
    pc_date_format(INT32_MAX, out);
    assert_string_equal(out, "0000-00-00");
    pc_date_format(INT32_MIN, out);
    assert_string_equal(out, "0000-00-00");
    pc_date_format(-719528, out); /* 0000-01-01 */
    assert_string_equal(out, "0000-01-01");
    pc_date_format(2932896, out); /* 9999-12-31 */
    assert_string_equal(out, "9999-12-31");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hi_type_names),
        cmocka_unit_test(test_basis_names),
        cmocka_unit_test(test_patient_reads_own),
        cmocka_unit_test(test_other_patient_denied),
        cmocka_unit_test(test_custodian),
        cmocka_unit_test(test_suspended_hospital_refused),
        cmocka_unit_test(test_revoked_staff_refused),
        cmocka_unit_test(test_grant_to_hospital_covers_all_its_staff),
        cmocka_unit_test(test_grant_to_staff_covers_only_that_person),
        cmocka_unit_test(test_each_hi_type_in_and_out),
        cmocka_unit_test(test_hi_all_and_sets),
        cmocka_unit_test(test_malformed_record_type_not_covered),
        cmocka_unit_test(test_date_range_boundaries),
        cmocka_unit_test(test_date_range_open_ended),
        cmocka_unit_test(test_grant_expiry_boundary),
        cmocka_unit_test(test_grant_revoked),
        cmocka_unit_test(test_emergency_window),
        cmocka_unit_test(test_emergency_covers_every_type_and_date),
        cmocka_unit_test(test_second_emergency_open),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_first_matching_grant_wins),
        cmocka_unit_test(test_most_specific_denial),
        cmocka_unit_test(test_null_and_empty_inputs),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_combinations),
        cmocka_unit_test(test_date_known_values),
        cmocka_unit_test(test_date_leap_years),
        cmocka_unit_test(test_date_malformed),
        cmocka_unit_test(test_date_round_trip_every_day),
        cmocka_unit_test(test_date_format_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
