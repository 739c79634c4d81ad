/* Tests of the FHIR R4 structural checks and of what parcha reads out of a
 * resource (HI type, clinical date, summary). The fixtures are realistic
 * records from an Indian hospital, written inline: a Metformin prescription,
 * a Type 2 diabetes diagnosis, an HbA1c result, a haemoglobin value, a lab
 * report, a Covishield dose, a penicillin allergy, an admission, a scanned
 * document and a discharge-summary Bundle. Each case parses its own copy, so
 * cases may mutate freely. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "parcha/access.h"
#include "parcha/fhir.h"

/* ---- fixture ----------------------------------------------------------- */

static const char MED_REQUEST[] =
    "{\"resourceType\":\"MedicationRequest\",\"id\":\"rx-2024-0311-17\","
    "\"status\":\"active\",\"intent\":\"order\","
    "\"medicationCodeableConcept\":{\"coding\":[{\"system\":\"http://snomed.info/sct\","
    "\"code\":\"372567009\",\"display\":\"Metformin\"}],\"text\":\"Metformin 500 mg tablet\"},"
    "\"subject\":{\"reference\":\"Patient/ramesh-kumar\",\"display\":\"Ramesh Kumar\"},"
    "\"authoredOn\":\"2024-03-11T10:42:00+05:30\","
    "\"requester\":{\"reference\":\"Practitioner/dr-anjali-sharma\","
    "\"display\":\"Dr. Anjali Sharma\"},"
    "\"reasonCode\":[{\"text\":\"Type 2 diabetes mellitus\"}],"
    "\"dosageInstruction\":[{\"text\":\"1 tablet twice a day after meals\","
    "\"timing\":{\"repeat\":{\"frequency\":2,\"period\":1,\"periodUnit\":\"d\"}},"
    "\"route\":{\"text\":\"Oral\"},"
    "\"doseAndRate\":[{\"doseQuantity\":{\"value\":1,\"unit\":\"tablet\"}}]}],"
    "\"dispenseRequest\":{\"expectedSupplyDuration\":{\"value\":30,\"unit\":\"days\","
    "\"system\":\"http://unitsofmeasure.org\",\"code\":\"d\"}}}";

/* The same drug written with structured dosage only (no free text). */
static const char MED_REQUEST_STRUCTURED[] =
    "{\"resourceType\":\"MedicationRequest\",\"status\":\"active\",\"intent\":\"order\","
    "\"medicationCodeableConcept\":{\"coding\":[{\"system\":\"http://snomed.info/sct\","
    "\"code\":\"372567009\",\"display\":\"Metformin 500 mg\"}]},"
    "\"subject\":{\"reference\":\"Patient/ramesh-kumar\"},"
    "\"authoredOn\":\"2024-03-11\","
    "\"dosageInstruction\":[{"
    "\"timing\":{\"repeat\":{\"frequency\":2,\"period\":1,\"periodUnit\":\"d\"}},"
    "\"additionalInstruction\":[{\"text\":\"after meals\"}],"
    "\"doseAndRate\":[{\"doseQuantity\":{\"value\":1,\"unit\":\"tablet\"}}]}],"
    "\"dispenseRequest\":{\"expectedSupplyDuration\":{\"value\":30,\"code\":\"d\"}}}";

static const char CONDITION[] =
    "{\"resourceType\":\"Condition\",\"id\":\"dx-t2dm\","
    "\"clinicalStatus\":{\"coding\":[{\"system\":"
    "\"http://terminology.hl7.org/CodeSystem/condition-clinical\",\"code\":\"active\"}]},"
    "\"verificationStatus\":{\"coding\":[{\"system\":"
    "\"http://terminology.hl7.org/CodeSystem/condition-ver-status\",\"code\":\"confirmed\"}]},"
    "\"category\":[{\"coding\":[{\"code\":\"problem-list-item\"}]}],"
    "\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"44054006\","
    "\"display\":\"Diabetes mellitus type 2\"}],\"text\":\"Type 2 diabetes mellitus\"},"
    "\"subject\":{\"reference\":\"Patient/ramesh-kumar\"},"
    "\"onsetDateTime\":\"2019-05-10\",\"recordedDate\":\"2024-03-11T10:30:00+05:30\"}";

static const char OBS_HBA1C[] =
    "{\"resourceType\":\"Observation\",\"id\":\"lab-hba1c\",\"status\":\"final\","
    "\"category\":[{\"coding\":[{\"system\":"
    "\"http://terminology.hl7.org/CodeSystem/observation-category\",\"code\":\"laboratory\"}]}],"
    "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"4548-4\","
    "\"display\":\"Hemoglobin A1c/Hemoglobin.total in Blood\"}],\"text\":\"HbA1c\"},"
    "\"subject\":{\"reference\":\"Patient/ramesh-kumar\"},"
    "\"effectiveDateTime\":\"2024-03-09T08:15:00+05:30\",\"issued\":\"2024-03-09T14:02:11+05:30\","
    "\"valueQuantity\":{\"value\":8.4,\"unit\":\"%\",\"system\":\"http://unitsofmeasure.org\","
    "\"code\":\"%\"},"
    "\"interpretation\":[{\"coding\":[{\"code\":\"H\"}]}],"
    "\"referenceRange\":[{\"high\":{\"value\":5.7,\"unit\":\"%\"},"
    "\"text\":\"below 5.7 % (non-diabetic)\"}]}";

static const char OBS_HB[] =
    "{\"resourceType\":\"Observation\",\"status\":\"final\","
    "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"718-7\","
    "\"display\":\"Hemoglobin [Mass/volume] in Blood\"}],\"text\":\"Haemoglobin\"},"
    "\"subject\":{\"reference\":\"Patient/sunita-devi\"},"
    "\"effectiveDateTime\":\"2024-02-20\","
    "\"valueQuantity\":{\"value\":11.2,\"unit\":\"g/dL\"},"
    "\"interpretation\":[{\"coding\":[{\"code\":\"L\"}]}],"
    "\"referenceRange\":[{\"low\":{\"value\":12,\"unit\":\"g/dL\"},"
    "\"high\":{\"value\":16,\"unit\":\"g/dL\"}}]}";

static const char OBS_BP[] =
    "{\"resourceType\":\"Observation\",\"status\":\"final\","
    "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"85354-9\"}],"
    "\"text\":\"Blood pressure\"},\"subject\":{\"reference\":\"Patient/ramesh-kumar\"},"
    "\"effectivePeriod\":{\"start\":\"2024-03-11T10:20:00+05:30\"},"
    "\"component\":["
    "{\"code\":{\"text\":\"Systolic\"},\"valueQuantity\":{\"value\":138,\"unit\":\"mmHg\"}},"
    "{\"code\":{\"text\":\"Diastolic\"},\"valueQuantity\":{\"value\":88,\"unit\":\"mmHg\"}}]}";

static const char DIAG_REPORT[] =
    "{\"resourceType\":\"DiagnosticReport\",\"id\":\"rep-lipid\",\"status\":\"final\","
    "\"category\":[{\"coding\":[{\"code\":\"LAB\"}]}],"
    "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"57698-3\"}],"
    "\"text\":\"Lipid profile\"},"
    "\"subject\":{\"reference\":\"Patient/ramesh-kumar\"},"
    "\"effectiveDateTime\":\"2024-03-09T08:15:00+05:30\",\"issued\":\"2024-03-09T16:40:00+05:30\","
    "\"performer\":[{\"display\":\"Dr. Lal PathLabs, Lucknow\"}],"
    "\"result\":[{\"reference\":\"Observation/ldl\"},{\"reference\":\"Observation/hdl\"}],"
    "\"conclusion\":\"Raised LDL cholesterol (162 mg/dL); start statin and recheck in 3 months\"}";

static const char IMMUNIZATION[] =
    "{\"resourceType\":\"Immunization\",\"status\":\"completed\","
    "\"vaccineCode\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/sid/cvx\",\"code\":\"210\"}],"
    "\"text\":\"Covishield (ChAdOx1 nCoV-19)\"},"
    "\"patient\":{\"reference\":\"Patient/sunita-devi\"},"
    "\"occurrenceDateTime\":\"2021-06-14T11:05:00+05:30\",\"lotNumber\":\"4121Z025\","
    "\"performer\":[{\"actor\":{\"display\":\"PHC Chinhat\"}}],"
    "\"protocolApplied\":[{\"doseNumberPositiveInt\":2,\"seriesDosesPositiveInt\":2}]}";

static const char ALLERGY[] =
    "{\"resourceType\":\"AllergyIntolerance\","
    "\"clinicalStatus\":{\"coding\":[{\"code\":\"active\"}]},"
    "\"type\":\"allergy\",\"category\":[\"medication\"],\"criticality\":\"high\","
    "\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"764146007\","
    "\"display\":\"Penicillin\"}]},"
    "\"patient\":{\"reference\":\"Patient/ramesh-kumar\"},"
    "\"recordedDate\":\"2015-08-02\","
    "\"reaction\":[{\"manifestation\":[{\"text\":\"Urticaria and facial swelling\"}]}]}";

static const char ENCOUNTER[] =
    "{\"resourceType\":\"Encounter\",\"status\":\"finished\","
    "\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\","
    "\"code\":\"IMP\",\"display\":\"inpatient encounter\"},"
    "\"subject\":{\"reference\":\"Patient/sunita-devi\"},"
    "\"reasonCode\":[{\"text\":\"Dengue fever with thrombocytopenia\"}],"
    "\"period\":{\"start\":\"2024-01-04T22:10:00+05:30\",\"end\":\"2024-01-09T12:00:00+05:30\"},"
    "\"hospitalization\":{\"dischargeDisposition\":{\"text\":\"home\"}}}";

static const char DOC_REF[] =
    "{\"resourceType\":\"DocumentReference\",\"status\":\"current\","
    "\"type\":{\"text\":\"Chest X-ray report\"},"
    "\"subject\":{\"reference\":\"Patient/ramesh-kumar\"},"
    "\"date\":\"2023-11-20T09:30:00+05:30\","
    "\"content\":[{\"attachment\":{\"contentType\":\"application/pdf\","
    "\"title\":\"cxr-2023-11-20.pdf\",\"data\":\"JVBERi0xLjQK\"}}]}";

static const char DISCHARGE_BUNDLE[] =
    "{\"resourceType\":\"Bundle\",\"id\":\"ds-2024-0109\",\"type\":\"document\","
    "\"identifier\":{\"system\":\"https://kgmu.example.in/docs\",\"value\":\"DS-24-0109\"},"
    "\"timestamp\":\"2024-01-09T13:00:00+05:30\","
    "\"entry\":["
    "{\"fullUrl\":\"urn:uuid:c1\",\"resource\":{\"resourceType\":\"Composition\","
    "\"status\":\"final\",\"type\":{\"coding\":[{\"system\":\"http://snomed.info/sct\","
    "\"code\":\"373942005\",\"display\":\"Discharge summary\"}]},"
    "\"subject\":{\"reference\":\"urn:uuid:p1\"},\"date\":\"2024-01-09T12:30:00+05:30\","
    "\"author\":[{\"reference\":\"urn:uuid:d1\",\"display\":\"Dr. Vikram Singh\"}],"
    "\"title\":\"Discharge Summary\","
    "\"section\":[{\"title\":\"Diagnosis\",\"entry\":[{\"reference\":\"urn:uuid:x1\"}]},"
    "{\"title\":\"Medications on discharge\",\"entry\":[{\"reference\":\"urn:uuid:m1\"}]}]}},"
    "{\"fullUrl\":\"urn:uuid:p1\",\"resource\":{\"resourceType\":\"Patient\","
    "\"name\":[{\"text\":\"Sunita Devi\"}],\"gender\":\"female\",\"birthDate\":\"1981-07-15\"}},"
    "{\"fullUrl\":\"urn:uuid:d1\",\"resource\":{\"resourceType\":\"Practitioner\","
    "\"name\":[{\"text\":\"Dr. Vikram Singh\"}]}},"
    "{\"fullUrl\":\"urn:uuid:e1\",\"resource\":{\"resourceType\":\"Encounter\","
    "\"status\":\"finished\",\"class\":{\"code\":\"IMP\"},"
    "\"period\":{\"start\":\"2024-01-04\",\"end\":\"2024-01-09\"}}},"
    "{\"fullUrl\":\"urn:uuid:x1\",\"resource\":{\"resourceType\":\"Condition\","
    "\"code\":{\"text\":\"Dengue fever with thrombocytopenia\"},"
    "\"subject\":{\"reference\":\"urn:uuid:p1\"}}},"
    "{\"fullUrl\":\"urn:uuid:m1\",\"resource\":{\"resourceType\":\"MedicationRequest\","
    "\"status\":\"active\",\"intent\":\"order\","
    "\"medicationCodeableConcept\":{\"text\":\"Paracetamol 650 mg tablet\"},"
    "\"subject\":{\"reference\":\"urn:uuid:p1\"},"
    "\"dosageInstruction\":[{\"text\":\"1 tablet every 6 hours if fever\"}]}}]}";

typedef struct example {
    const char *name;
    const char *json;
    const char *hi_type;
    const char *date;
} example;

static const example examples[] = {
    {"MedicationRequest", MED_REQUEST, "Prescription", "2024-03-11"},
    {"MedicationRequest (structured)", MED_REQUEST_STRUCTURED, "Prescription", "2024-03-11"},
    {"Condition", CONDITION, "OPConsultation", "2024-03-11"},
    {"Observation HbA1c", OBS_HBA1C, "DiagnosticReport", "2024-03-09"},
    {"Observation Hb", OBS_HB, "DiagnosticReport", "2024-02-20"},
    {"Observation BP", OBS_BP, "DiagnosticReport", "2024-03-11"},
    {"DiagnosticReport", DIAG_REPORT, "DiagnosticReport", "2024-03-09"},
    {"Immunization", IMMUNIZATION, "ImmunizationRecord", "2021-06-14"},
    {"AllergyIntolerance", ALLERGY, "OPConsultation", "2015-08-02"},
    {"Encounter", ENCOUNTER, "DischargeSummary", "2024-01-04"},
    {"DocumentReference", DOC_REF, "HealthDocumentRecord", "2023-11-20"},
    {"Bundle", DISCHARGE_BUNDLE, "DischargeSummary", "2024-01-09"},
};
#define N_EXAMPLES (sizeof examples / sizeof examples[0])

/* ---- helpers ----------------------------------------------------------- */

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (j == NULL)
        fail_msg("fixture does not parse: %s (line %d col %d)", je.text, je.line, je.column);
    return j;
}

/* Walk "a/0/b" to the parent of the last segment; returns the parent and
 * points *last at the final segment. Digits index arrays. */
static json_t *walk_parent(json_t *root, const char *path, char *last, size_t lastlen)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = root;
    char *save = NULL;
    char *seg = strtok_r(buf, "/", &save);
    while (seg != NULL) {
        char *next = strtok_r(NULL, "/", &save);
        if (next == NULL) {
            snprintf(last, lastlen, "%s", seg);
            return cur;
        }
        if (json_is_array(cur))
            cur = json_array_get(cur, strtoul(seg, NULL, 10));
        else
            cur = json_object_get(cur, seg);
        assert_non_null(cur);
        seg = next;
    }
    fail_msg("empty path");
    return NULL;
}

static void remove_path(json_t *root, const char *path)
{
    char last[64];
    json_t *parent = walk_parent(root, path, last, sizeof last);
    if (json_is_array(parent))
        assert_int_equal(json_array_remove(parent, strtoul(last, NULL, 10)), 0);
    else
        assert_int_equal(json_object_del(parent, last), 0);
}

/* Set the element at path to v (stealing the reference). */
static void set_path(json_t *root, const char *path, json_t *v)
{
    char last[64];
    json_t *parent = walk_parent(root, path, last, sizeof last);
    if (json_is_array(parent))
        assert_int_equal(json_array_set_new(parent, strtoul(last, NULL, 10), v), 0);
    else
        assert_int_equal(json_object_set_new(parent, last, v), 0);
}

/* Validate and expect PC_EINVAL with every given substring in the message. */
static void expect_invalid(const json_t *res, const char *want1, const char *want2)
{
    pc_error err;
    pc_error_clear(&err);
    int rc = pc_fhir_validate(res, &err);
    if (rc != PC_EINVAL)
        fail_msg("expected PC_EINVAL (wanted '%s'), got %d", want1, rc);
    assert_int_equal(err.code, PC_EINVAL);
    if (want1 != NULL && strstr(err.msg, want1) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, want1);
    if (want2 != NULL && strstr(err.msg, want2) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, want2);
}

static void expect_valid(const json_t *res, const char *label)
{
    pc_error err;
    pc_error_set(&err, PC_EIO, "stale");
    int rc = pc_fhir_validate(res, &err);
    if (rc != PC_OK)
        fail_msg("%s: %s", label, err.msg);
    assert_int_equal(err.code, PC_OK);
    assert_string_equal(err.msg, "");
}

static void summary_of(const char *text, char *out, size_t outlen)
{
    json_t *j = parse(text);
    pc_fhir_summary(j, out, outlen);
    json_decref(j);
}

static void expect_summary_has(const char *text, const char *want)
{
    char out[512];
    summary_of(text, out, sizeof out);
    if (strstr(out, want) == NULL)
        fail_msg("summary '%s' lacks '%s'", out, want);
}

/* ---- validation: valid examples ---------------------------------------- */

static void test_valid_examples(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_EXAMPLES; i++) {
        json_t *j = parse(examples[i].json);
        expect_valid(j, examples[i].name);
        json_decref(j);
    }
}

static void test_valid_alternatives(void **state)
{
    (void)state;
    /* medicationReference in place of medicationCodeableConcept. */
    json_t *j = parse(MED_REQUEST);
    remove_path(j, "medicationCodeableConcept");
    set_path(j, "medicationReference",
             json_pack("{s:s, s:s}", "reference", "Medication/metformin-500",
                       "display", "Metformin 500 mg"));
    expect_valid(j, "medicationReference");
    json_decref(j);
    /* occurrenceString in place of occurrenceDateTime. */
    j = parse(IMMUNIZATION);
    remove_path(j, "occurrenceDateTime");
    set_path(j, "occurrenceString", json_string("June 2021, Pulse Polio camp"));
    expect_valid(j, "occurrenceString");
    json_decref(j);
    /* A collection Bundle with no entries, and one holding a Condition. */
    j = parse("{\"resourceType\":\"Bundle\",\"type\":\"collection\"}");
    expect_valid(j, "empty collection");
    json_decref(j);
    /* Context resources of a document are accepted with their type only. */
    j = parse(DISCHARGE_BUNDLE);
    set_path(j, "entry/2/resource/resourceType", json_string("Organization"));
    expect_valid(j, "Organization in a document");
    json_decref(j);
}

/* ---- validation: each required element removed ------------------------- */

static void test_required_elements_removed(void **state)
{
    (void)state;
    const struct {
        const char *json;
        const char *remove;
        const char *who;
        const char *elem;
    } rows[] = {
        {MED_REQUEST, "status", "MedicationRequest", "'status'"},
        {MED_REQUEST, "intent", "MedicationRequest", "'intent'"},
        {MED_REQUEST, "medicationCodeableConcept", "MedicationRequest", "'medication[x]'"},
        {MED_REQUEST, "subject", "MedicationRequest", "'subject'"},
        {CONDITION, "subject", "Condition", "'subject'"},
        {CONDITION, "code", "Condition", "'code'"},
        {OBS_HBA1C, "status", "Observation", "'status'"},
        {OBS_HBA1C, "code", "Observation", "'code'"},
        {DIAG_REPORT, "status", "DiagnosticReport", "'status'"},
        {DIAG_REPORT, "code", "DiagnosticReport", "'code'"},
        {IMMUNIZATION, "status", "Immunization", "'status'"},
        {IMMUNIZATION, "vaccineCode", "Immunization", "'vaccineCode'"},
        {IMMUNIZATION, "patient", "Immunization", "'patient'"},
        {IMMUNIZATION, "occurrenceDateTime", "Immunization", "'occurrence[x]'"},
        {ALLERGY, "patient", "AllergyIntolerance", "'patient'"},
        {ENCOUNTER, "status", "Encounter", "'status'"},
        {ENCOUNTER, "class", "Encounter", "'class'"},
        {DOC_REF, "status", "DocumentReference", "'status'"},
        {DOC_REF, "content", "DocumentReference", "'content'"},
        {DOC_REF, "content/0/attachment", "DocumentReference", "'content[0].attachment'"},
        {DISCHARGE_BUNDLE, "type", "Bundle", "'type'"},
        {DISCHARGE_BUNDLE, "entry", "Bundle", "'entry'"},
        {DISCHARGE_BUNDLE, "entry/0/resource/status", "Composition", "'status'"},
        {DISCHARGE_BUNDLE, "entry/0/resource/type", "Composition", "'type'"},
        {DISCHARGE_BUNDLE, "entry/0/resource/date", "Composition", "'date'"},
        {DISCHARGE_BUNDLE, "entry/0/resource/author", "Composition", "'author'"},
        {DISCHARGE_BUNDLE, "entry/0/resource/title", "Composition", "'title'"},
        {DISCHARGE_BUNDLE, "entry/4/resource", "Bundle", "'entry[4].resource'"},
        {DISCHARGE_BUNDLE, "entry/4/resource/code", "entry[4] (Condition)", "'code'"},
        {DISCHARGE_BUNDLE, "entry/5/resource/intent", "entry[5] (MedicationRequest)",
         "'intent'"},
        {DISCHARGE_BUNDLE, "entry/3/resource/class", "entry[3] (Encounter)", "'class'"},
        {DISCHARGE_BUNDLE, "entry/0/resource/resourceType", "entry[0]", "'resourceType'"},
        {OBS_HB, "resourceType", "", "'resourceType'"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        json_t *j = parse(rows[i].json);
        remove_path(j, rows[i].remove);
        pc_error err;
        pc_error_clear(&err);
        if (pc_fhir_validate(j, &err) != PC_EINVAL)
            fail_msg("removing %s from %s was accepted", rows[i].remove, rows[i].who);
        if (strstr(err.msg, rows[i].who) == NULL || strstr(err.msg, rows[i].elem) == NULL)
            fail_msg("removing %s: message '%s' does not name %s and %s", rows[i].remove,
                     err.msg, rows[i].who, rows[i].elem);
        json_decref(j);
    }
    /* The message reads as the header promises. */
    json_t *j = parse(MED_REQUEST);
    remove_path(j, "subject");
    pc_error err;
    assert_int_equal(pc_fhir_validate(j, &err), PC_EINVAL);
    assert_string_equal(err.msg, "MedicationRequest: missing required element 'subject'");
    json_decref(j);
}

/* ---- validation: wrong types ------------------------------------------- */

static void test_wrong_types(void **state)
{
    (void)state;
    const struct {
        const char *json;
        const char *path;
        const char *value; /* JSON text, parsed with JSON_DECODE_ANY */
        const char *want;
    } rows[] = {
        {MED_REQUEST, "status", "5", "'status' must be a string, not a number"},
        {MED_REQUEST, "status", "\"\"", "'status' must not be empty"},
        {MED_REQUEST, "intent", "null", "'intent' must be a string, not null"},
        {MED_REQUEST, "subject", "\"Patient/ramesh-kumar\"", "'subject' must be an object"},
        {MED_REQUEST, "medicationCodeableConcept", "\"Metformin\"",
         "'medicationCodeableConcept' must be an object"},
        {MED_REQUEST, "dosageInstruction", "{\"text\":\"bd\"}",
         "'dosageInstruction' must be an array"},
        {MED_REQUEST, "dosageInstruction", "[]", "'dosageInstruction' must have at least one"},
        {MED_REQUEST, "dosageInstruction/0", "\"1 tab bd\"", "dosageInstruction[0] must be an object"},
        {MED_REQUEST, "authoredOn", "20240311", "'authoredOn' must be a string"},
        {CONDITION, "code", "[\"44054006\"]", "'code' must be an object, not an array"},
        {CONDITION, "clinicalStatus", "\"active\"", "'clinicalStatus' must be an object"},
        {OBS_HBA1C, "code", "\"4548-4\"", "'code' must be an object"},
        {OBS_HBA1C, "status", "true", "'status' must be a string, not a boolean"},
        {OBS_HBA1C, "valueQuantity", "8.4", "'valueQuantity' must be an object"},
        {DIAG_REPORT, "conclusion", "{\"text\":\"x\"}", "'conclusion' must be a string"},
        {DIAG_REPORT, "result", "{\"reference\":\"Observation/ldl\"}", "'result' must be an array"},
        {IMMUNIZATION, "occurrenceDateTime", "{\"start\":\"2021-06-14\"}",
         "'occurrenceDateTime' must be a string"},
        {IMMUNIZATION, "patient", "\"Patient/sunita-devi\"", "'patient' must be an object"},
        {IMMUNIZATION, "vaccineCode", "\"210\"", "'vaccineCode' must be an object"},
        {ALLERGY, "patient", "[]", "'patient' must be an object"},
        {ENCOUNTER, "class", "[{\"code\":\"IMP\"}]", "'class' must be an object"},
        {ENCOUNTER, "period", "\"2024-01-04\"", "'period' must be an object"},
        {DOC_REF, "content", "{\"attachment\":{}}", "'content' must be an array"},
        {DOC_REF, "content", "[]", "'content' must have at least one item"},
        {DOC_REF, "content/0", "\"file.pdf\"", "content[0] must be an object"},
        {DOC_REF, "content/0/attachment", "\"file.pdf\"", "'content[0].attachment' must be an object"},
        {DISCHARGE_BUNDLE, "type", "[\"document\"]", "'type' must be a string"},
        {DISCHARGE_BUNDLE, "entry", "{}", "'entry' must be an array"},
        {DISCHARGE_BUNDLE, "entry/2", "\"urn:uuid:d1\"", "entry[2] must be an object"},
        {DISCHARGE_BUNDLE, "entry/2/resource", "\"Practitioner\"",
         "'entry[2].resource' must be an object"},
        {DISCHARGE_BUNDLE, "entry/0/resource/author", "{\"reference\":\"urn:uuid:d1\"}",
         "'author' must be an array"},
        {DISCHARGE_BUNDLE, "entry/0/resource/author/0", "\"Dr. Vikram Singh\"",
         "author[0] must be an object"},
        {DISCHARGE_BUNDLE, "entry/0/resource/title", "42", "'title' must be a string"},
        {DISCHARGE_BUNDLE, "resourceType", "7", "'resourceType' must be a string"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        json_t *j = parse(rows[i].json);
        json_error_t je;
        json_t *v = json_loads(rows[i].value, JSON_DECODE_ANY, &je);
        assert_non_null(v);
        set_path(j, rows[i].path, v);
        expect_invalid(j, rows[i].want, NULL);
        json_decref(j);
    }
}

static void test_choice_given_twice(void **state)
{
    (void)state;
    json_t *j = parse(MED_REQUEST);
    set_path(j, "medicationReference", json_pack("{s:s}", "reference", "Medication/m1"));
    expect_invalid(j, "MedicationRequest", "'medication[x]' appears twice");
    json_decref(j);
    j = parse(IMMUNIZATION);
    set_path(j, "occurrenceString", json_string("June 2021"));
    expect_invalid(j, "Immunization", "'occurrence[x]'");
    json_decref(j);
}

/* ---- validation: resource types ---------------------------------------- */

static void test_unknown_resource_types(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"resourceType\":\"Patient\",\"name\":[{\"text\":\"Ramesh Kumar\"}]}",
        "{\"resourceType\":\"Composition\",\"status\":\"final\"}",
        "{\"resourceType\":\"medicationrequest\"}",
        "{\"resourceType\":\"\"}",
        "{\"resourceType\":\"NotAThing\",\"status\":\"active\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = parse(bad[i]);
        expect_invalid(j, "unsupported resourceType", NULL);
        json_decref(j);
    }
    json_t *j = parse("{\"status\":\"active\"}");
    expect_invalid(j, "missing required element 'resourceType'", NULL);
    json_decref(j);
    j = parse("[{\"resourceType\":\"Condition\"}]");
    expect_invalid(j, "must be a JSON object", NULL);
    json_decref(j);
    expect_invalid(NULL, "JSON object", NULL);
    /* A resourceType with a NUL inside is not "Condition". */
    j = parse(CONDITION);
    set_path(j, "resourceType", json_stringn("Condition\0Evil", 14));
    expect_invalid(j, "'resourceType' contains a NUL byte", NULL);
    json_decref(j);
    /* NULL err is allowed. */
    j = parse("{\"resourceType\":\"Nope\"}");
    assert_int_equal(pc_fhir_validate(j, NULL), PC_EINVAL);
    json_decref(j);
}

static void test_bundle_rules(void **state)
{
    (void)state;
    /* First entry must be the Composition. */
    json_t *j = parse(DISCHARGE_BUNDLE);
    json_t *entries = json_object_get(j, "entry");
    json_t *comp = json_incref(json_array_get(entries, 0));
    assert_int_equal(json_array_remove(entries, 0), 0);
    assert_int_equal(json_array_append_new(entries, comp), 0);
    expect_invalid(j, "first entry of a document must be a Composition", "Patient");
    json_decref(j);

    /* An unknown resource inside a document is refused, naming the entry. */
    j = parse(DISCHARGE_BUNDLE);
    set_path(j, "entry/2/resource/resourceType", json_string("Spaceship"));
    expect_invalid(j, "entry[2]", "unsupported resourceType 'Spaceship'");
    json_decref(j);

    /* A supported resource inside is checked with its own rules. */
    j = parse(DISCHARGE_BUNDLE);
    set_path(j, "entry/5/resource/subject", json_string("urn:uuid:p1"));
    expect_invalid(j, "entry[5] (MedicationRequest)", "'subject' must be an object");
    json_decref(j);

    /* An empty document. */
    j = parse(DISCHARGE_BUNDLE);
    set_path(j, "entry", json_array());
    expect_invalid(j, "Bundle", "'entry' must have at least one item");
    json_decref(j);

    /* Non-document Bundles: entries optional, resources still checked. */
    j = parse("{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
              "{\"fullUrl\":\"urn:uuid:a\"},"
              "{\"resource\":{\"resourceType\":\"Observation\",\"status\":\"final\"}}]}");
    expect_invalid(j, "entry[1] (Observation)", "'code'");
    json_decref(j);

    /* Nesting is bounded. */
    json_t *inner = parse(CONDITION);
    for (int depth = 0; depth < 10; depth++)
        inner = json_pack("{s:s, s:s, s:[{s:o}]}", "resourceType", "Bundle", "type",
                          "collection", "entry", "resource", inner);
    expect_invalid(inner, "nested more than", NULL);
    json_decref(inner);
    inner = parse(CONDITION);
    for (int depth = 0; depth < 3; depth++)
        inner = json_pack("{s:s, s:s, s:[{s:o}]}", "resourceType", "Bundle", "type",
                          "collection", "entry", "resource", inner);
    expect_valid(inner, "3 nested collections");
    json_decref(inner);
}

/* ---- HI type ----------------------------------------------------------- */

static void test_default_hi_type(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_EXAMPLES; i++) {
        json_t *j = parse(examples[i].json);
        const char *t = pc_fhir_default_hi_type(j);
        assert_non_null(t);
        if (strcmp(t, examples[i].hi_type) != 0)
            fail_msg("%s: HI type %s, expected %s", examples[i].name, t, examples[i].hi_type);
        assert_int_not_equal(pc_hi_type_from_name(t), 0); /* a name access.h knows */
        json_decref(j);
    }
    json_t *j = parse("{\"resourceType\":\"Patient\"}");
    assert_null(pc_fhir_default_hi_type(j));
    json_decref(j);
    assert_null(pc_fhir_default_hi_type(NULL));

    /* Bundles are typed by their Composition. */
    const struct {
        const char *code;
        const char *title;
        const char *want;
    } rows[] = {
        {"440545006", "Prescription", "Prescription"},
        {"371530004", "OP consultation", "OPConsultation"},
        {"721981007", "Lab report", "DiagnosticReport"},
        {"41000179103", "Vaccination card", "ImmunizationRecord"},
        {"419891008", "Scanned record", "HealthDocumentRecord"},
        {"18842-5", "Summary", "DischargeSummary"},
        {"000000", "Wellness Record", "WellnessRecord"},
        {"000000", "Discharge note", "DischargeSummary"},
        {"000000", "Misc", "HealthDocumentRecord"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        j = parse(DISCHARGE_BUNDLE);
        set_path(j, "entry/0/resource/type",
                 json_pack("{s:[{s:s}]}", "coding", "code", rows[i].code));
        set_path(j, "entry/0/resource/title", json_string(rows[i].title));
        assert_string_equal(pc_fhir_default_hi_type(j), rows[i].want);
        json_decref(j);
    }
}

/* ---- clinical date ----------------------------------------------------- */

static void test_clinical_dates(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_EXAMPLES; i++) {
        json_t *j = parse(examples[i].json);
        char out[11];
        int rc = pc_fhir_clinical_date(j, out);
        if (rc != PC_OK || strcmp(out, examples[i].date) != 0)
            fail_msg("%s: rc %d date '%s', expected %s", examples[i].name, rc, out,
                     examples[i].date);
        json_decref(j);
    }
}

static void test_clinical_date_fallbacks(void **state)
{
    (void)state;
    char out[11];
    /* Condition without recordedDate falls back to onset. */
    json_t *j = parse(CONDITION);
    remove_path(j, "recordedDate");
    assert_int_equal(pc_fhir_clinical_date(j, out), PC_OK);
    assert_string_equal(out, "2019-05-10");
    remove_path(j, "onsetDateTime");
    assert_int_equal(pc_fhir_clinical_date(j, out), PC_ENOTFOUND);
    assert_string_equal(out, "");
    json_decref(j);

    /* Observation without effective[x] uses issued. */
    j = parse(OBS_HBA1C);
    remove_path(j, "effectiveDateTime");
    set_path(j, "issued", json_string("2024-03-10T09:00:00.000Z"));
    assert_int_equal(pc_fhir_clinical_date(j, out), PC_OK);
    assert_string_equal(out, "2024-03-10");
    json_decref(j);

    /* A partial date alone is not a clinical date. */
    j = parse(MED_REQUEST);
    set_path(j, "authoredOn", json_string("2024-03"));
    assert_int_equal(pc_fhir_clinical_date(j, out), PC_EINVAL);
    set_path(j, "authoredOn", json_string("2023-02-29"));
    assert_int_equal(pc_fhir_clinical_date(j, out), PC_EINVAL);
    set_path(j, "authoredOn", json_string("2024-03-11garbage"));
    assert_int_equal(pc_fhir_clinical_date(j, out), PC_EINVAL);
    set_path(j, "authoredOn", json_integer(20240311));
    assert_int_equal(pc_fhir_clinical_date(j, out), PC_EINVAL);
    remove_path(j, "authoredOn");
    assert_int_equal(pc_fhir_clinical_date(j, out), PC_ENOTFOUND);
    json_decref(j);

    /* A partial recordedDate is skipped in favour of a full onset. */
    j = parse(CONDITION);
    set_path(j, "recordedDate", json_string("2024"));
    assert_int_equal(pc_fhir_clinical_date(j, out), PC_OK);
    assert_string_equal(out, "2019-05-10");
    json_decref(j);

    /* Bundle without a Composition: its timestamp. */
    j = parse("{\"resourceType\":\"Bundle\",\"type\":\"collection\","
              "\"timestamp\":\"2024-05-01T10:00:00+05:30\"}");
    assert_int_equal(pc_fhir_clinical_date(j, out), PC_OK);
    assert_string_equal(out, "2024-05-01");
    json_decref(j);

    j = parse("{\"resourceType\":\"Patient\",\"birthDate\":\"1980-01-01\"}");
    assert_int_equal(pc_fhir_clinical_date(j, out), PC_EINVAL);
    json_decref(j);
}

/* ---- summaries --------------------------------------------------------- */

static void test_summaries(void **state)
{
    (void)state;
    char out[512];
    summary_of(MED_REQUEST, out, sizeof out);
    assert_string_equal(out, "Metformin 500 mg tablet, 1 tablet twice a day after meals "
                             "for 30 days");
    summary_of(MED_REQUEST_STRUCTURED, out, sizeof out);
    assert_string_equal(out, "Metformin 500 mg, 1 tablet twice a day after meals for 30 days");
    summary_of(OBS_HB, out, sizeof out);
    assert_string_equal(out, "Haemoglobin 11.2 g/dL (ref 12\xe2\x80\x93" "16), low");
    summary_of(OBS_HBA1C, out, sizeof out);
    assert_string_equal(out, "HbA1c 8.4 % (ref \xe2\x89\xa4 5.7), high");
    summary_of(OBS_BP, out, sizeof out);
    assert_string_equal(out, "Blood pressure: Systolic 138 mmHg, Diastolic 88 mmHg");
    summary_of(CONDITION, out, sizeof out);
    assert_string_equal(out, "Type 2 diabetes mellitus (active, confirmed), since 2019-05-10");
    summary_of(DIAG_REPORT, out, sizeof out);
    assert_string_equal(out, "Lipid profile: Raised LDL cholesterol (162 mg/dL); start statin "
                             "and recheck in 3 months");
    summary_of(IMMUNIZATION, out, sizeof out);
    assert_string_equal(out, "Covishield (ChAdOx1 nCoV-19), dose 2, lot 4121Z025");
    summary_of(ALLERGY, out, sizeof out);
    assert_string_equal(out, "Allergy to Penicillin (high criticality), reaction: Urticaria "
                             "and facial swelling");
    summary_of(ENCOUNTER, out, sizeof out);
    assert_string_equal(out, "Inpatient admission: Dengue fever with thrombocytopenia, "
                             "2024-01-04 to 2024-01-09, discharged home");
    summary_of(DOC_REF, out, sizeof out);
    assert_string_equal(out, "Chest X-ray report (cxr-2023-11-20.pdf)");
    summary_of(DISCHARGE_BUNDLE, out, sizeof out);
    assert_string_equal(out, "Discharge Summary: Dengue fever with thrombocytopenia");
}

static void test_summary_variants(void **state)
{
    (void)state;
    expect_summary_has(MED_REQUEST, "Metformin 500 mg");
    expect_summary_has(OBS_HBA1C, "8.4 %");
    /* Drug name from coding display when there is no text. */
    json_t *j = parse(MED_REQUEST);
    json_object_del(json_object_get(j, "medicationCodeableConcept"), "text");
    char out[256];
    pc_fhir_summary(j, out, sizeof out);
    assert_non_null(strstr(out, "Metformin, 1 tablet twice a day"));
    /* A stopped prescription says so. */
    set_path(j, "status", json_string("stopped"));
    pc_fhir_summary(j, out, sizeof out);
    assert_non_null(strstr(out, "(stopped)"));
    json_decref(j);

    /* Timing in words. */
    j = parse(MED_REQUEST_STRUCTURED);
    set_path(j, "dosageInstruction/0/timing/repeat/frequency", json_integer(1));
    set_path(j, "dosageInstruction/0/timing/repeat/period", json_integer(8));
    set_path(j, "dosageInstruction/0/timing/repeat/periodUnit", json_string("h"));
    pc_fhir_summary(j, out, sizeof out);
    assert_non_null(strstr(out, "1 tablet every 8 hours"));
    set_path(j, "dosageInstruction/0/timing/repeat/frequency", json_integer(3));
    set_path(j, "dosageInstruction/0/timing/repeat/period", json_integer(1));
    set_path(j, "dosageInstruction/0/timing/repeat/periodUnit", json_string("d"));
    pc_fhir_summary(j, out, sizeof out);
    assert_non_null(strstr(out, "three times a day"));
    json_decref(j);

    /* Report without conclusion counts results; preliminary is flagged. */
    j = parse(DIAG_REPORT);
    remove_path(j, "conclusion");
    set_path(j, "status", json_string("preliminary"));
    pc_fhir_summary(j, out, sizeof out);
    assert_string_equal(out, "Lipid profile (2 results) (preliminary)");
    json_decref(j);

    /* Vaccine not given. */
    j = parse(IMMUNIZATION);
    set_path(j, "status", json_string("not-done"));
    set_path(j, "statusReason", json_pack("{s:s}", "text", "patient had fever"));
    pc_fhir_summary(j, out, sizeof out);
    assert_non_null(strstr(out, "(not given: patient had fever)"));
    json_decref(j);

    /* Unknown and non-resources. */
    j = parse("{\"resourceType\":\"Patient\"}");
    pc_fhir_summary(j, out, sizeof out);
    assert_string_equal(out, "Patient");
    json_decref(j);
    pc_fhir_summary(NULL, out, sizeof out);
    assert_string_equal(out, "(not a FHIR resource)");
}

static void test_summary_bounds_and_safety(void **state)
{
    (void)state;
    /* Every prefix length: NUL-terminated, never overruns, UTF-8 kept whole. */
    char full[512];
    summary_of(OBS_HB, full, sizeof full);
    json_t *j = parse(OBS_HB);
    for (size_t n = 1; n <= strlen(full) + 1; n++) {
        char out[600];
        memset(out, 'Z', sizeof out);
        pc_fhir_summary(j, out, n);
        size_t len = strlen(out);
        assert_true(len < n);
        assert_int_equal(out[n], 'Z');
        assert_memory_equal(out, full, len);
        /* Never ends inside a multibyte character. */
        if (len > 0 && ((unsigned char)out[len - 1] & 0x80)) {
            size_t k = len;
            while (k > 0 && ((unsigned char)out[k - 1] & 0xc0) == 0x80)
                k--;
            assert_true(k > 0);
            unsigned char lead = (unsigned char)out[k - 1];
            size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
            assert_int_equal(len - (k - 1), want);
        }
    }
    pc_fhir_summary(j, NULL, 10); /* tolerated */
    json_decref(j);

    /* Terminal control sequences in record text are neutralised. */
    j = parse(CONDITION);
    set_path(j, "code", json_pack("{s:s}", "text", "Fever\x1b[2J\r\n\xc2\x9b" "31m"));
    char out[128];
    pc_fhir_summary(j, out, sizeof out);
    for (const char *p = out; *p != '\0'; p++)
        assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
    assert_null(strstr(out, "\xc2\x9b"));
    assert_non_null(strstr(out, "Fever"));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_examples),
        cmocka_unit_test(test_valid_alternatives),
        cmocka_unit_test(test_required_elements_removed),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_choice_given_twice),
        cmocka_unit_test(test_unknown_resource_types),
        cmocka_unit_test(test_bundle_rules),
        cmocka_unit_test(test_default_hi_type),
        cmocka_unit_test(test_clinical_dates),
        cmocka_unit_test(test_clinical_date_fallbacks),
        cmocka_unit_test(test_summaries),
        cmocka_unit_test(test_summary_variants),
        cmocka_unit_test(test_summary_bounds_and_safety),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
