/* Tests for the CLI's pure helpers (src/cli/args.c): option parsing against
 * a command's table (values, flags, repeats, "--name=value", "--", unknown
 * and missing options), and the value parsers every command shares:
 * durations, expiries, whole numbers, HI type lists, hospital specs,
 * network and hospital ids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cli/args.h"

/* ------------------------------------------------------------------------ */
/* Fixture                                                                   */

static const cli_optspec SPEC[] = {
    {"out", true, false},
    {"key", true, true},
    {"quiet", false, false},
    {NULL, false, false},
};

/* Parse a NULL-terminated list of words; returns the pc code. */
static int parse_words(cli_args *a, pc_error *err, ...)
{
    char *words[32];
    int n = 0;
    va_list ap;
    va_start(ap, err);
    for (char *w = va_arg(ap, char *); w != NULL && n < 32; w = va_arg(ap, char *))
        words[n++] = w;
    va_end(ap);
    return cli_args_parse(n, words, SPEC, a, err);
}

#define MS_DAY 86400000LL

/* ------------------------------------------------------------------------ */
/* Option parsing                                                            */

static void test_values_flags_positionals(void **state)
{
    (void)state;
    cli_args a;
    pc_error err;
    assert_int_equal(parse_words(&a, &err, "block", "--out", "f.key", "--quiet", "7",
                                 "--json", NULL),
                     PC_OK);
    assert_int_equal(a.npos, 2);
    assert_string_equal(a.pos[0], "block");
    assert_string_equal(a.pos[1], "7");
    assert_string_equal(cli_arg(&a, "out"), "f.key");
    assert_true(cli_flag(&a, "quiet"));
    assert_true(cli_flag(&a, "json"));
    assert_false(cli_flag(&a, "help"));
    assert_null(cli_arg(&a, "key"));
}

static void test_inline_value_and_dashdash(void **state)
{
    (void)state;
    cli_args a;
    pc_error err;
    assert_int_equal(parse_words(&a, &err, "--out=a=b", "--", "--not-an-option", NULL), PC_OK);
    assert_string_equal(cli_arg(&a, "out"), "a=b");
    assert_int_equal(a.npos, 1);
    assert_string_equal(a.pos[0], "--not-an-option");
    /* An empty inline value is a value, caught later by cli_arg_required. */
    assert_int_equal(parse_words(&a, &err, "--out=", NULL), PC_OK);
    const char *v;
    assert_int_equal(cli_arg_required(&a, "out", &v, &err), PC_EINVAL);
    assert_string_equal(err.msg, "missing required option --out");
}

static void test_repeated(void **state)
{
    (void)state;
    cli_args a;
    pc_error err;
    const char *vals[4];
    assert_int_equal(parse_words(&a, &err, "--key", "a", "--key", "b", "--key", "c", NULL),
                     PC_OK);
    assert_int_equal(cli_arg_all(&a, "key", vals, 4), 3);
    assert_string_equal(vals[0], "a");
    assert_string_equal(vals[2], "c");
    assert_string_equal(cli_arg(&a, "key"), "c");
    /* More than max: the count says so, only max are stored. */
    assert_int_equal(cli_arg_all(&a, "key", vals, 2), 3);
    assert_int_equal(parse_words(&a, &err, "--out", "a", "--out", "b", NULL), PC_EINVAL);
    assert_string_equal(err.msg, "option --out given twice");
}

static void test_errors_name_the_option(void **state)
{
    (void)state;
    cli_args a;
    pc_error err;
    assert_int_equal(parse_words(&a, &err, "--outt", "x", NULL), PC_EINVAL);
    assert_string_equal(err.msg, "unknown option --outt");
    assert_int_equal(parse_words(&a, &err, "--out", NULL), PC_EINVAL);
    assert_string_equal(err.msg, "option --out needs a value");
    assert_int_equal(parse_words(&a, &err, "--quiet=yes", NULL), PC_EINVAL);
    assert_string_equal(err.msg, "option --quiet takes no value");
    assert_int_equal(parse_words(&a, &err, "-o", "x", NULL), PC_EINVAL);
    assert_non_null(strstr(err.msg, "-o"));
    assert_int_equal(parse_words(&a, &err, "-h", NULL), PC_OK);
    assert_true(cli_flag(&a, "help"));
    /* A lone "-" is a word (conventionally stdin), not an option. */
    assert_int_equal(parse_words(&a, &err, "-", NULL), PC_OK);
    assert_int_equal(a.npos, 1);
}

static void test_global_node_option(void **state)
{
    (void)state;
    cli_args a;
    pc_error err;
    assert_int_equal(parse_words(&a, &err, "--node", "http://10.0.0.2:8080", NULL), PC_OK);
    assert_string_equal(cli_arg(&a, "node"), "http://10.0.0.2:8080");
}

/* ------------------------------------------------------------------------ */
/* Numbers, durations, expiries                                              */

static void test_parse_int(void **state)
{
    (void)state;
    int64_t v;
    pc_error err;
    assert_int_equal(cli_parse_int("24", "--hours", 1, 168, &v, &err), PC_OK);
    assert_int_equal(v, 24);
    static const char *bad[] = {"0", "169", "-1", "+3", "3h", "", " 3", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cli_parse_int(bad[i], "--hours", 1, 168, &v, &err) != PC_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_string_equal(err.msg, "--hours must be a whole number from 1 to 168");
    }
}

static void test_durations(void **state)
{
    (void)state;
    int64_t ms;
    pc_error err;
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {{"45s", 45000},        {"90m", 90 * 60000},     {"12h", 12 * 3600000LL},
              {"30d", 30 * MS_DAY},  {"2w", 14 * MS_DAY},     {"1y", 365 * MS_DAY},
              {"100y", 36500 * MS_DAY}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(cli_parse_duration(ok[i].s, &ms, &err), PC_OK);
        assert_int_equal(ms, ok[i].ms);
    }
    static const char *bad[] = {"", "d", "30", "30 d", "30dd", "30D", "0d", "-3d", "3.5d",
                                "101y", "1000000000d", "2x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cli_parse_duration(bad[i], &ms, &err) != PC_EINVAL)
            fail_msg("duration '%s' accepted", bad[i]);
        assert_true(strlen(err.msg) > 0);
    }
}

static void test_expiry(void **state)
{
    (void)state;
    int64_t now = 1700000000000LL; /* 2023-11-14 22:13:20 UTC */
    int64_t t;
    pc_error err;
    assert_int_equal(cli_parse_expiry("30d", now, &t, &err), PC_OK);
    assert_int_equal(t, now + 30 * MS_DAY);
    /* A date means through the end of that day (UTC). */
    assert_int_equal(cli_parse_expiry("2023-11-15", now, &t, &err), PC_OK);
    assert_int_equal(t, 1700092800000LL); /* 2023-11-16 00:00 UTC */
    assert_int_equal(cli_parse_expiry("2023-11-14", now, &t, &err), PC_OK);
    assert_int_equal(t, 1700006400000LL);
    assert_int_equal(cli_parse_expiry("2023-11-13", now, &t, &err), PC_EINVAL);
    assert_string_equal(err.msg, "expiry date 2023-11-13 is already past");
    assert_int_equal(cli_parse_expiry("2023-02-30", now, &t, &err), PC_EINVAL);
    assert_non_null(strstr(err.msg, "real date"));
    assert_int_equal(cli_parse_expiry("soon", now, &t, &err), PC_EINVAL);
    assert_non_null(strstr(err.msg, "30d"));
    assert_int_equal(cli_parse_expiry("", now, &t, &err), PC_EINVAL);
}

/* ------------------------------------------------------------------------ */
/* HI types, hospitals, networks                                             */

static void test_hi_types(void **state)
{
    (void)state;
    json_t *arr = NULL;
    unsigned mask = 0;
    pc_error err;
    assert_int_equal(cli_parse_hi_types("Prescription, DiagnosticReport", &arr, &mask, &err),
                     PC_OK);
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(json_string_value(json_array_get(arr, 0)), "Prescription");
    assert_string_equal(json_string_value(json_array_get(arr, 1)), "DiagnosticReport");
    assert_int_equal(mask, 2u | 8u);
    json_decref(arr);
    assert_int_equal(cli_parse_hi_types("all", &arr, &mask, &err), PC_OK);
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(json_string_value(json_array_get(arr, 0)), "*");
    assert_int_equal(mask, 0x7fu);
    json_decref(arr);

    assert_int_equal(cli_parse_hi_types("Prescriptions", &arr, &mask, &err), PC_EINVAL);
    assert_null(arr);
    assert_non_null(strstr(err.msg, "unknown HI type 'Prescriptions'"));
    assert_int_equal(cli_parse_hi_types("Prescription,Prescription", &arr, NULL, &err),
                     PC_EINVAL);
    assert_string_equal(err.msg, "HI type 'Prescription' given twice");
    assert_int_equal(cli_parse_hi_types("Prescription,,WellnessRecord", &arr, NULL, &err),
                     PC_EINVAL);
    assert_int_equal(cli_parse_hi_types("", &arr, NULL, &err), PC_EINVAL);
    assert_null(arr);
}

static void test_hospital_spec(void **state)
{
    (void)state;
    cli_hospital_spec h;
    pc_error err;
    assert_int_equal(cli_parse_hospital_spec(
                         "city-general:City General Hospital:http://127.0.0.1:8080", &h, &err),
                     PC_OK);
    assert_string_equal(h.id, "city-general");
    assert_string_equal(h.name, "City General Hospital");
    assert_string_equal(h.endpoint, "http://127.0.0.1:8080");
    static const char *bad[] = {
        "city-general", "city-general:City", "City:Name:http://x", "c:Name:http://x",
        "city::http://x", "city:Name:ftp://x", "city:Name:",
        "a-very-long-hospital-identifier-over-32:N:http://x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cli_parse_hospital_spec(bad[i], &h, &err) != PC_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
    }
}

static void test_ids(void **state)
{
    (void)state;
    assert_true(cli_valid_hospital_id("city-general"));
    assert_true(cli_valid_hospital_id("h1"));
    assert_false(cli_valid_hospital_id("h"));
    assert_false(cli_valid_hospital_id("City"));
    assert_false(cli_valid_hospital_id("city_general"));
    assert_false(cli_valid_hospital_id("abcdefghijklmnopqrstuvwxyz0123456"));
    assert_true(cli_valid_network("pune-east"));
    assert_true(cli_valid_network("net.v2"));
    assert_false(cli_valid_network("-net"));
    assert_false(cli_valid_network("Pune"));
    assert_false(cli_valid_network("n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_flags_positionals),
        cmocka_unit_test(test_inline_value_and_dashdash),
        cmocka_unit_test(test_repeated),
        cmocka_unit_test(test_errors_name_the_option),
        cmocka_unit_test(test_global_node_option),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_hi_types),
        cmocka_unit_test(test_hospital_spec),
        cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
