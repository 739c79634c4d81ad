/* Tests for the demo's FHIR generator (src/cli/fhirgen.c): every resource of
 * every kind for every condition, over many generator states, passes
 * pc_fhir_validate, maps to the expected ABDM HI type, carries the clinical
 * date it was made for, summarises to something readable and serialises
 * without float noise; the generator is deterministic; patient names are
 * distinct across the demo's 50 patients. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cli/fhirgen.h"
#include "parcha/access.h"
#include "parcha/fhir.h"

/* ------------------------------------------------------------------------ */
/* Fixture                                                                   */

static const cli_fhir_ctx CTX = {"Patient/5TT5-S8AW-40JH-*", "Aarav Patel",
                                 "Dr. Anjali Mehta", "MMC-2009-04512",
                                 "City General Hospital", 19800 /* 2024-03-18 */};

static const cli_fhir_kind KINDS[] = {CLI_FHIR_CONDITION, CLI_FHIR_PRESCRIPTION,
                                      CLI_FHIR_LAB,       CLI_FHIR_IMAGING,
                                      CLI_FHIR_IMMUNIZATION, CLI_FHIR_DISCHARGE};

static const char *expected_hi(cli_fhir_kind k)
{
    switch (k) {
    case CLI_FHIR_CONDITION: return "OPConsultation";
    case CLI_FHIR_PRESCRIPTION: return "Prescription";
    case CLI_FHIR_LAB: return "DiagnosticReport";
    case CLI_FHIR_IMAGING: return "DiagnosticReport";
    case CLI_FHIR_IMMUNIZATION: return "ImmunizationRecord";
    case CLI_FHIR_DISCHARGE: return "DischargeSummary";
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Cases                                                                     */

static void test_every_resource_validates(void **state)
{
    (void)state;
    size_t ncond = cli_fhirgen_condition_count();
    assert_true(ncond >= 8);
    char want_date[11];
    size_t made = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        cli_rng r;
        cli_rng_seed(&r, seed);
        for (size_t c = 0; c < ncond; c++) {
            for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++) {
                cli_fhir_ctx ctx = CTX;
                ctx.day = CTX.day + (int32_t)(seed * 17 + c);
                json_t *res = cli_fhirgen_make(&r, KINDS[k], c, &ctx);
                assert_non_null(res);
                pc_error err;
                if (pc_fhir_validate(res, &err) != PC_OK) {
                    char *s = json_dumps(res, JSON_INDENT(1));
                    fail_msg("kind %d condition %zu: %s\n%s", (int)KINDS[k], c, err.msg, s);
                }
                const char *hi = pc_fhir_default_hi_type(res);
                assert_non_null(hi);
                assert_string_equal(hi, expected_hi(KINDS[k]));
                assert_true(pc_hi_type_from_name(hi) != 0);
                char date[11];
                assert_int_equal(pc_fhir_clinical_date(res, date), PC_OK);
                pc_date_format(ctx.day, want_date);
                if (KINDS[k] != CLI_FHIR_DISCHARGE) {
                    assert_string_equal(date, want_date);
                } else {
                    /* A discharge summary is dated by its stay: admission to
                     * discharge, ending on the given day. */
                    int32_t d;
                    assert_int_equal(pc_date_parse(date, &d), PC_OK);
                    assert_true(d <= ctx.day && d >= ctx.day - 10);
                }
                char summary[512];
                pc_fhir_summary(res, summary, sizeof summary);
                assert_true(strlen(summary) > 5);
                json_decref(res);
                made++;
            }
        }
    }
    assert_true(made >= 40 * 8 * 6);
}

static void test_deterministic(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++) {
        cli_rng a, b;
        cli_rng_seed(&a, 42);
        cli_rng_seed(&b, 42);
        json_t *x = cli_fhirgen_make(&a, KINDS[k], 7, &CTX);
        json_t *y = cli_fhirgen_make(&b, KINDS[k], 7, &CTX);
        assert_true(json_equal(x, y));
        json_decref(x);
        json_decref(y);
    }
    cli_rng a, b;
    cli_rng_seed(&a, 1);
    cli_rng_seed(&b, 2);
    assert_true(cli_rng_next(&a) != cli_rng_next(&b));
    for (int i = 0; i < 1000; i++)
        assert_true(cli_rng_below(&a, 7) < 7);
    assert_int_equal(cli_rng_below(&a, 0), 0);
}

/* Lab values are written as a person would (one or two decimals), which is
 * how the record is serialised before encryption. */
static void test_lab_values_print_cleanly(void **state)
{
    (void)state;
    cli_rng r;
    cli_rng_seed(&r, 7);
    for (int i = 0; i < 200; i++) {
        json_t *res = cli_fhirgen_make(&r, CLI_FHIR_LAB, (size_t)i % cli_fhirgen_condition_count(),
                                       &CTX);
        char *s = json_dumps(json_object_get(res, "valueQuantity"),
                             JSON_COMPACT | JSON_REAL_PRECISION(10));
        assert_non_null(s);
        assert_null(strstr(s, "00000"));
        assert_null(strstr(s, "99999"));
        free(s);
        json_decref(res);
    }
}

static void test_chronic_and_acute(void **state)
{
    (void)state;
    size_t chronic = 0, acute = 0;
    for (size_t i = 0; i < cli_fhirgen_condition_count(); i++) {
        if (cli_fhirgen_condition_chronic(i))
            chronic++;
        else
            acute++;
    }
    assert_true(chronic >= 3);
    assert_true(acute >= 3);
    assert_false(cli_fhirgen_condition_chronic(9999));
}

static void test_patient_names_distinct(void **state)
{
    (void)state;
    char names[50][64];
    for (size_t i = 0; i < 50; i++) {
        cli_fhirgen_patient_name(i, names[i], sizeof names[i]);
        assert_non_null(strchr(names[i], ' '));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(names[i], names[j]);
    }
    char small[8];
    cli_fhirgen_patient_name(3, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_resource_validates),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_lab_values_print_cleanly),
        cmocka_unit_test(test_chronic_and_acute),
        cmocka_unit_test(test_patient_names_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
