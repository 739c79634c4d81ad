/* Structural FHIR R4 checks for record content (DESIGN §8) and the three
 * facts parcha lifts out of a resource: its default ABDM HI type, its
 * clinical date and a one-line summary a doctor can read in a timeline. The
 * checks follow R4 cardinalities and JSON types of the elements parcha and a
 * reading hospital rely on; terminology (which codes are used) is not
 * checked. All functions only read the jansson tree they are given. */
#include "parcha/fhir.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "parcha/access.h"

/* Bundles may nest (a document inside a collection); this caps recursion on
 * hostile input well above any real record. */
#define FHIR_MAX_DEPTH 4

/* ---- validation helpers ------------------------------------------------ */

typedef enum jkind { J_STRING, J_OBJECT, J_ARRAY } jkind;

/* "a string", "an object", "an array": the noun phrase for messages. */
static const char *jkind_name(jkind k)
{
    switch (k) {
    case J_STRING: return "a string";
    case J_OBJECT: return "an object";
    case J_ARRAY: return "an array";
    }
    return "?";
}

/* The JSON type of v as a phrase for error messages. */
static const char *json_type_phrase(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "something else";
}

/* Check that a present element v (named elem within `who`) has kind k and
 * is not empty: FHIR strings carry content and repeating elements are
 * omitted rather than written as []. Returns PC_OK or PC_EINVAL. */
static int check_kind(const json_t *v, const char *who, const char *elem, jkind k,
                      pc_error *err)
{
    bool ok = (k == J_STRING && json_is_string(v)) ||
              (k == J_OBJECT && json_is_object(v)) || (k == J_ARRAY && json_is_array(v));
    if (!ok)
        return pc_error_set(err, PC_EINVAL, "%s: element '%s' must be %s, not %s", who,
                            elem, jkind_name(k), json_type_phrase(v));
    if (k == J_STRING && json_string_length(v) == 0)
        return pc_error_set(err, PC_EINVAL, "%s: element '%s' must not be empty", who, elem);
    if (k == J_ARRAY && json_array_size(v) == 0)
        return pc_error_set(err, PC_EINVAL, "%s: element '%s' must have at least one item",
                            who, elem);
    return PC_OK;
}

/* A 1..1 (or 1..*) element: present and of kind k. */
static int require(const json_t *res, const char *who, const char *elem, jkind k,
                   pc_error *err)
{
    const json_t *v = json_object_get(res, elem);
    if (v == NULL)
        return pc_error_set(err, PC_EINVAL, "%s: missing required element '%s'", who, elem);
    return check_kind(v, who, elem, k, err);
}

/* A 0..1 element: if present, of kind k. */
static int optional(const json_t *res, const char *who, const char *elem, jkind k,
                    pc_error *err)
{
    const json_t *v = json_object_get(res, elem);
    if (v == NULL)
        return PC_OK;
    return check_kind(v, who, elem, k, err);
}

/* Every item of a present array element is an object (a list of
 * Reference, CodeableConcept, BackboneElement...). */
static int items_are_objects(const json_t *res, const char *who, const char *elem,
                             pc_error *err)
{
    const json_t *arr = json_object_get(res, elem);
    size_t i;
    const json_t *it;
    json_array_foreach(arr, i, it) {
        if (!json_is_object(it))
            return pc_error_set(err, PC_EINVAL, "%s: %s[%zu] must be an object, not %s", who,
                                elem, i, json_type_phrase(it));
    }
    return PC_OK;
}

/* A required choice element such as medication[x]: exactly one of the
 * listed names (NULL-terminated, all of kind k) is present. */
static int require_choice(const json_t *res, const char *who, const char *label,
                          const char *const *names, jkind k, pc_error *err)
{
    const char *found = NULL;
    for (size_t i = 0; names[i] != NULL; i++) {
        if (json_object_get(res, names[i]) == NULL)
            continue;
        if (found != NULL)
            return pc_error_set(err, PC_EINVAL,
                                "%s: element '%s' appears twice ('%s' and '%s')", who, label,
                                found, names[i]);
        found = names[i];
    }
    if (found == NULL)
        return pc_error_set(err, PC_EINVAL,
                            "%s: missing required element '%s' (%s%s%s)", who, label,
                            names[0], names[1] ? " or " : "", names[1] ? names[1] : "");
    return check_kind(json_object_get(res, found), who, found, k, err);
}

/* ---- per-type rules ---------------------------------------------------- */

typedef struct elem_spec {
    const char *name;
    jkind kind;
} elem_spec;

/* What one resource type must carry, checked in this order: required
 * elements, then an optional choice element, then optional elements whose
 * type parcha relies on when reading, then a type-specific rule. Every array
 * listed holds complex types, so its items must be objects. */
typedef struct type_spec {
    const char *type;
    elem_spec required[6];   /* ends at name == NULL */
    const char *choice_label; /* NULL when the type has no required choice */
    const char *choice[3];
    jkind choice_kind;
    elem_spec typed[6];      /* optional, type-checked if present */
    int (*extra)(const json_t *res, const char *who, int depth, pc_error *err);
} type_spec;

static int extra_document_reference(const json_t *res, const char *who, int depth,
                                    pc_error *err);
static int extra_bundle(const json_t *res, const char *who, int depth, pc_error *err);

static const type_spec specs[] = {
    {"MedicationRequest",
     {{"status", J_STRING}, {"intent", J_STRING}, {"subject", J_OBJECT}},
     "medication[x]",
     {"medicationCodeableConcept", "medicationReference", NULL},
     J_OBJECT,
     {{"authoredOn", J_STRING}, {"dosageInstruction", J_ARRAY},
      {"dispenseRequest", J_OBJECT}},
     NULL},
    {"Condition",
     {{"subject", J_OBJECT}, {"code", J_OBJECT}},
     NULL, {NULL}, J_OBJECT,
     {{"clinicalStatus", J_OBJECT}, {"verificationStatus", J_OBJECT},
      {"recordedDate", J_STRING}, {"onsetDateTime", J_STRING}},
     NULL},
    {"Observation",
     {{"status", J_STRING}, {"code", J_OBJECT}},
     NULL, {NULL}, J_OBJECT,
     {{"effectiveDateTime", J_STRING}, {"issued", J_STRING}, {"valueQuantity", J_OBJECT},
      {"referenceRange", J_ARRAY}, {"component", J_ARRAY}},
     NULL},
    {"DiagnosticReport",
     {{"status", J_STRING}, {"code", J_OBJECT}},
     NULL, {NULL}, J_OBJECT,
     {{"effectiveDateTime", J_STRING}, {"issued", J_STRING}, {"conclusion", J_STRING},
      {"result", J_ARRAY}},
     NULL},
    {"Immunization",
     {{"status", J_STRING}, {"vaccineCode", J_OBJECT}, {"patient", J_OBJECT}},
     "occurrence[x]",
     {"occurrenceDateTime", "occurrenceString", NULL},
     J_STRING,
     {{"protocolApplied", J_ARRAY}},
     NULL},
    {"AllergyIntolerance",
     {{"patient", J_OBJECT}},
     NULL, {NULL}, J_OBJECT,
     {{"code", J_OBJECT}, {"recordedDate", J_STRING}, {"onsetDateTime", J_STRING},
      {"reaction", J_ARRAY}},
     NULL},
    {"Encounter",
     {{"status", J_STRING}, {"class", J_OBJECT}},
     NULL, {NULL}, J_OBJECT,
     {{"period", J_OBJECT}, {"type", J_ARRAY}, {"reasonCode", J_ARRAY}},
     NULL},
    {"DocumentReference",
     {{"status", J_STRING}, {"content", J_ARRAY}},
     NULL, {NULL}, J_OBJECT,
     {{"date", J_STRING}, {"type", J_OBJECT}, {"description", J_STRING}},
     extra_document_reference},
    {"Bundle",
     {{"type", J_STRING}},
     NULL, {NULL}, J_OBJECT,
     {{"entry", J_ARRAY}, {"timestamp", J_STRING}},
     extra_bundle},
    /* Only inside a Bundle: the document's table of contents. */
    {"Composition",
     {{"status", J_STRING}, {"type", J_OBJECT}, {"date", J_STRING}, {"author", J_ARRAY},
      {"title", J_STRING}},
     NULL, {NULL}, J_OBJECT,
     {{"section", J_ARRAY}},
     NULL},
};

/* Types accepted as record content on their own (all but Composition). */
#define TOP_LEVEL_SPECS (sizeof specs / sizeof specs[0] - 1)

/* Resources a document Bundle carries for context (who, where, what
 * product). They are accepted inside a Bundle with only their resourceType
 * checked; parcha reads nothing from them. */
static const char *const supporting_types[] = {
    "Patient",      "Practitioner",   "PractitionerRole", "Organization",
    "Location",     "Medication",     "Specimen",         "Procedure",
    "CarePlan",     "ServiceRequest", "Appointment",      "FamilyMemberHistory",
    "Binary",       "Device",         "Media",            "ImagingStudy",
    "MedicationStatement", "DocumentManifest", NULL,
};

/* The rules for a resourceType, or NULL. Composition is found only when
 * nested, since on its own it is not record content. */
static const type_spec *find_spec(const char *type, bool nested)
{
    size_t n = nested ? sizeof specs / sizeof specs[0] : TOP_LEVEL_SPECS;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(specs[i].type, type) == 0)
            return &specs[i];
    }
    return NULL;
}

/* Whether type is one of supporting_types (exact, case-sensitive). */
static bool is_supporting_type(const char *type)
{
    for (size_t i = 0; supporting_types[i] != NULL; i++) {
        if (strcmp(supporting_types[i], type) == 0)
            return true;
    }
    return false;
}

static int validate_at(const json_t *res, const char *where, int depth, pc_error *err);

/* DocumentReference.content is 1..*, and each content carries exactly one
 * attachment (1..1). */
static int extra_document_reference(const json_t *res, const char *who, int depth,
                                    pc_error *err)
{
    (void)depth;
    const json_t *content = json_object_get(res, "content");
    size_t i;
    const json_t *c;
    json_array_foreach(content, i, c) {
        const json_t *att = json_object_get(c, "attachment");
        if (att == NULL)
            return pc_error_set(err, PC_EINVAL,
                                "%s: missing required element 'content[%zu].attachment'", who,
                                i);
        if (!json_is_object(att))
            return pc_error_set(err, PC_EINVAL,
                                "%s: element 'content[%zu].attachment' must be an object, not %s",
                                who, i, json_type_phrase(att));
    }
    return PC_OK;
}

/* Bundle entries: each an object; each resource validated with the same
 * rules one level deeper. A document must have entries, each with a
 * resource, the first being its Composition (FHIR invariant bdl-11). */
static int extra_bundle(const json_t *res, const char *who, int depth, pc_error *err)
{
    const char *type = json_string_value(json_object_get(res, "type"));
    bool document = strcmp(type, "document") == 0;
    const json_t *entries = json_object_get(res, "entry");
    if (document && entries == NULL)
        return pc_error_set(err, PC_EINVAL,
                            "%s: missing required element 'entry' (a document has entries)",
                            who);
    size_t i;
    const json_t *e;
    json_array_foreach(entries, i, e) {
        char where[224];
        snprintf(where, sizeof where, "%s entry[%zu]", who, i);
        if (!json_is_object(e))
            return pc_error_set(err, PC_EINVAL, "%s: entry[%zu] must be an object, not %s", who,
                                i, json_type_phrase(e));
        const json_t *r = json_object_get(e, "resource");
        if (r == NULL && !document)
            continue;
        if (r == NULL)
            return pc_error_set(err, PC_EINVAL,
                                "%s: missing required element 'entry[%zu].resource'", who, i);
        if (!json_is_object(r))
            return pc_error_set(err, PC_EINVAL,
                                "%s: element 'entry[%zu].resource' must be an object, not %s",
                                who, i, json_type_phrase(r));
        int rc = validate_at(r, where, depth + 1, err);
        if (rc != PC_OK)
            return rc;
        if (document && i == 0) {
            const char *rt = json_string_value(json_object_get(r, "resourceType"));
            if (rt == NULL || strcmp(rt, "Composition") != 0)
                return pc_error_set(err, PC_EINVAL,
                                    "%s: the first entry of a document must be a Composition, "
                                    "not '%s'",
                                    who, rt != NULL ? rt : "(none)");
        }
    }
    return PC_OK;
}

/* Validate res as found at `where` ("" at the top, "Bundle entry[2]" inside a
 * Bundle). Messages begin with the resource type, prefixed by where. */
static int validate_at(const json_t *res, const char *where, int depth, pc_error *err)
{
    bool nested = where[0] != '\0';
    if (depth > FHIR_MAX_DEPTH)
        return pc_error_set(err, PC_EINVAL, "%s: Bundles nested more than %d deep", where,
                            FHIR_MAX_DEPTH);
    if (!json_is_object(res))
        return pc_error_set(err, PC_EINVAL, "%s%sa FHIR resource must be a JSON object, not %s",
                            where, nested ? ": " : "", res ? json_type_phrase(res) : "nothing");
    const json_t *rtv = json_object_get(res, "resourceType");
    if (rtv == NULL)
        return pc_error_set(err, PC_EINVAL, "%s%smissing required element 'resourceType'",
                            where, nested ? ": " : "");
    if (!json_is_string(rtv))
        return pc_error_set(err, PC_EINVAL,
                            "%s%selement 'resourceType' must be a string, not %s", where,
                            nested ? ": " : "", json_type_phrase(rtv));
    const char *rt = json_string_value(rtv);
    if (strlen(rt) != json_string_length(rtv))
        return pc_error_set(err, PC_EINVAL, "%s%selement 'resourceType' contains a NUL byte",
                            where, nested ? ": " : "");

    char who[192];
    if (nested)
        snprintf(who, sizeof who, "%s (%.40s)", where, rt);
    else
        snprintf(who, sizeof who, "%.40s", rt);

    const type_spec *spec = find_spec(rt, nested);
    if (spec == NULL && nested && is_supporting_type(rt))
        return PC_OK;
    if (spec == NULL)
        return pc_error_set(err, PC_EINVAL,
                            "%s%sunsupported resourceType '%.40s' (parcha stores "
                            "MedicationRequest, Condition, Observation, DiagnosticReport, "
                            "Immunization, AllergyIntolerance, Encounter, DocumentReference "
                            "or a document Bundle)",
                            where, nested ? ": " : "", rt);

    int rc;
    for (size_t i = 0; i < 6 && spec->required[i].name != NULL; i++) {
        rc = require(res, who, spec->required[i].name, spec->required[i].kind, err);
        if (rc == PC_OK && spec->required[i].kind == J_ARRAY)
            rc = items_are_objects(res, who, spec->required[i].name, err);
        if (rc != PC_OK)
            return rc;
    }
    if (spec->choice_label != NULL) {
        rc = require_choice(res, who, spec->choice_label, spec->choice, spec->choice_kind, err);
        if (rc != PC_OK)
            return rc;
    }
    for (size_t i = 0; i < 6 && spec->typed[i].name != NULL; i++) {
        rc = optional(res, who, spec->typed[i].name, spec->typed[i].kind, err);
        if (rc == PC_OK && spec->typed[i].kind == J_ARRAY)
            rc = items_are_objects(res, who, spec->typed[i].name, err);
        if (rc != PC_OK)
            return rc;
    }
    if (spec->extra != NULL) {
        rc = spec->extra(res, who, depth, err);
        if (rc != PC_OK)
            return rc;
    }
    return PC_OK;
}

/* See fhir.h. Clears err on success. */
int pc_fhir_validate(const json_t *res, pc_error *err)
{
    int rc = validate_at(res, "", 0, err);
    if (rc == PC_OK)
        pc_error_clear(err);
    return rc;
}

/* ---- reading helpers --------------------------------------------------- */

/* A string member or NULL; never an empty string. */
static const char *str_of(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* Member k1 of obj, then its member k2 unless k2 is NULL; NULL when any
 * step is missing or not an object. */
static const json_t *get_path(const json_t *obj, const char *k1, const char *k2)
{
    const json_t *v = json_object_get(obj, k1);
    return k2 != NULL ? json_object_get(v, k2) : v;
}

/* Item 0 of an array member, or NULL. */
static const json_t *first(const json_t *obj, const char *key)
{
    return json_array_get(json_object_get(obj, key), 0);
}

/* The words a person would use for a CodeableConcept: its text, else the
 * first coding display, else the first coding code. NULL if none. */
static const char *cc_text(const json_t *cc)
{
    const char *t = str_of(cc, "text");
    if (t != NULL)
        return t;
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(cc, "coding"), i, c) {
        t = str_of(c, "display");
        if (t != NULL)
            return t;
    }
    return str_of(json_array_get(json_object_get(cc, "coding"), 0), "code");
}

/* Whether any coding of a CodeableConcept has this code. */
static bool cc_has_code(const json_t *cc, const char *code)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(cc, "coding"), i, c) {
        const char *k = str_of(c, "code");
        if (k != NULL && strcmp(k, code) == 0)
            return true;
    }
    return false;
}

/* Case-insensitive ASCII substring test. */
static bool contains_ci(const char *hay, const char *needle)
{
    if (hay == NULL)
        return false;
    size_t n = strlen(needle);
    for (; *hay != '\0'; hay++) {
        size_t i = 0;
        while (i < n && hay[i] != '\0' &&
               (hay[i] | 0x20) == (needle[i] | 0x20))
            i++;
        if (i == n)
            return true;
    }
    return false;
}

/* The resource of entry 0 of a Bundle when it is a Composition. */
static const json_t *bundle_composition(const json_t *bundle)
{
    const json_t *r = json_object_get(json_array_get(json_object_get(bundle, "entry"), 0),
                                      "resource");
    const char *rt = str_of(r, "resourceType");
    return rt != NULL && strcmp(rt, "Composition") == 0 ? r : NULL;
}

/* ---- default HI type --------------------------------------------------- */

/* ABDM's document profiles name their Composition.type with these SNOMED CT
 * codes (and some senders use the LOINC document codes beside them). */
static const struct {
    const char *code;
    const char *hi_type;
} composition_codes[] = {
    {"373942005", "DischargeSummary"},   {"18842-5", "DischargeSummary"},
    {"440545006", "Prescription"},       {"57833-6", "Prescription"},
    {"371530004", "OPConsultation"},     {"11488-4", "OPConsultation"},
    {"721981007", "DiagnosticReport"},   {"11502-2", "DiagnosticReport"},
    {"41000179103", "ImmunizationRecord"}, {"11369-6", "ImmunizationRecord"},
    {"419891008", "HealthDocumentRecord"},
};

/* HI type of a document Bundle from its Composition's type, falling back to
 * words in the type text or title; a document parcha cannot place is a
 * HealthDocumentRecord. */
static const char *bundle_hi_type(const json_t *bundle)
{
    const json_t *comp = bundle_composition(bundle);
    const json_t *type = json_object_get(comp, "type");
    for (size_t i = 0; i < sizeof composition_codes / sizeof composition_codes[0]; i++) {
        if (cc_has_code(type, composition_codes[i].code))
            return composition_codes[i].hi_type;
    }
    const char *words[2] = {cc_text(type), str_of(comp, "title")};
    for (size_t i = 0; i < 2; i++) {
        if (contains_ci(words[i], "discharge"))
            return "DischargeSummary";
        if (contains_ci(words[i], "wellness"))
            return "WellnessRecord";
        if (contains_ci(words[i], "prescription"))
            return "Prescription";
        if (contains_ci(words[i], "immuni") || contains_ci(words[i], "vaccin"))
            return "ImmunizationRecord";
        if (contains_ci(words[i], "consultation"))
            return "OPConsultation";
    }
    return "HealthDocumentRecord";
}

/* See fhir.h. NULL for anything that is not a supported resource. */
const char *pc_fhir_default_hi_type(const json_t *res)
{
    const char *rt = str_of(res, "resourceType");
    if (rt == NULL)
        return NULL;
    if (strcmp(rt, "MedicationRequest") == 0)
        return "Prescription";
    if (strcmp(rt, "Observation") == 0 || strcmp(rt, "DiagnosticReport") == 0)
        return "DiagnosticReport";
    if (strcmp(rt, "Encounter") == 0)
        return "DischargeSummary";
    if (strcmp(rt, "Immunization") == 0)
        return "ImmunizationRecord";
    if (strcmp(rt, "Condition") == 0 || strcmp(rt, "AllergyIntolerance") == 0)
        return "OPConsultation";
    if (strcmp(rt, "DocumentReference") == 0)
        return "HealthDocumentRecord";
    if (strcmp(rt, "Bundle") == 0)
        return bundle_hi_type(res);
    return NULL;
}

/* ---- clinical date ----------------------------------------------------- */

/* Take the date part of a FHIR date/dateTime/instant: exactly YYYY-MM-DD,
 * then the end or a 'T'. Partial dates ("2024", "2024-03") do not qualify. */
static int date_of(const char *s, char out[11])
{
    if (s == NULL || strnlen(s, 11) < 10 || (s[10] != '\0' && s[10] != 'T'))
        return PC_EINVAL;
    char d[11];
    memcpy(d, s, 10);
    d[10] = '\0';
    int32_t days;
    if (pc_date_parse(d, &days) != PC_OK)
        return PC_EINVAL;
    memcpy(out, d, 11);
    return PC_OK;
}

/* See fhir.h. Tries each type's date elements in order of clinical meaning
 * and takes the first usable one. PC_EINVAL if the only dates present are
 * malformed or partial, PC_ENOTFOUND if there are none; out is "" then. */
int pc_fhir_clinical_date(const json_t *res, char out[11])
{
    if (out == NULL)
        return PC_EINVAL;
    out[0] = '\0';
    const char *rt = str_of(res, "resourceType");
    if (rt == NULL)
        return PC_EINVAL;
    const json_t *r = res;
    /* Up to four candidate (element, member) pairs per type. */
    const char *cand[4][2] = {{NULL, NULL}};
    if (strcmp(rt, "MedicationRequest") == 0) {
        cand[0][0] = "authoredOn";
    } else if (strcmp(rt, "Condition") == 0 || strcmp(rt, "AllergyIntolerance") == 0) {
        cand[0][0] = "recordedDate";
        cand[1][0] = "onsetDateTime";
        cand[2][0] = "onsetPeriod";
        cand[2][1] = "start";
    } else if (strcmp(rt, "Observation") == 0 || strcmp(rt, "DiagnosticReport") == 0) {
        cand[0][0] = "effectiveDateTime";
        cand[1][0] = "effectivePeriod";
        cand[1][1] = "start";
        cand[2][0] = "effectiveInstant";
        cand[3][0] = "issued";
    } else if (strcmp(rt, "Immunization") == 0) {
        cand[0][0] = "occurrenceDateTime";
        cand[1][0] = "recorded";
    } else if (strcmp(rt, "Encounter") == 0) {
        cand[0][0] = "period";
        cand[0][1] = "start";
    } else if (strcmp(rt, "DocumentReference") == 0 || strcmp(rt, "Composition") == 0) {
        cand[0][0] = "date";
    } else if (strcmp(rt, "Bundle") == 0) {
        const json_t *comp = bundle_composition(res);
        if (comp != NULL) {
            r = comp;
            cand[0][0] = "date";
        } else {
            cand[0][0] = "timestamp";
        }
    } else {
        return PC_EINVAL;
    }
    bool saw_bad = false;
    for (size_t i = 0; i < 4 && cand[i][0] != NULL; i++) {
        const json_t *v = get_path(r, cand[i][0], cand[i][1]);
        if (v == NULL)
            continue;
        if (date_of(json_string_value(v), out) == PC_OK)
            return PC_OK;
        saw_bad = true;
    }
    return saw_bad ? PC_EINVAL : PC_ENOTFOUND;
}

/* ---- summary ----------------------------------------------------------- */

/* A bounded text writer over the caller's buffer. Appends never overrun, cut
 * on a UTF-8 character boundary, and turn control characters into spaces so
 * a hostile record cannot drive the reader's terminal. */
typedef struct sbuf {
    char *p;
    size_t cap; /* bytes available including the NUL; > 0 */
    size_t len;
    bool full;  /* something was cut: write nothing more, so the text is a
                   true prefix of the full summary */
} sbuf;

/* Append n bytes of t (NULL appends nothing), cutting as described above. */
static void sb_putn(sbuf *s, const char *t, size_t n)
{
    if (t == NULL || s->full)
        return;
    size_t room = s->cap - 1 - s->len;
    if (n > room) {
        s->full = true;
        n = room;
        while (n > 0 && ((unsigned char)t[n] & 0xc0) == 0x80)
            n--; /* do not split a multibyte character */
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        unsigned char next = i + 1 < n ? (unsigned char)t[i + 1] : 0;
        if (c == 0xc2 && next >= 0x80 && next <= 0x9f) {
            /* U+0080..U+009F: C1 controls, e.g. a one-byte CSI. */
            s->p[s->len++] = ' ';
            i++;
            continue;
        }
        s->p[s->len++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    s->p[s->len] = '\0';
}

/* Empty the writer for reuse. */
static void sb_reset(sbuf *s)
{
    s->len = 0;
    s->full = false;
    s->p[0] = '\0';
}

/* Append the C string t; NULL appends nothing. */
static void sb_put(sbuf *s, const char *t)
{
    if (t != NULL)
        sb_putn(s, t, strlen(t));
}

/* Put sep then t, but only when t is present; sep is skipped at the start. */
static void sb_item(sbuf *s, const char *sep, const char *t)
{
    if (t == NULL)
        return;
    if (s->len > 0)
        sb_put(s, sep);
    sb_put(s, t);
}

/* A JSON number as a person writes it: integers plainly, reals with up to
 * 15 significant digits (11.2, not 11.199999999999999). */
static void sb_num(sbuf *s, const json_t *v)
{
    char tmp[40];
    if (json_is_integer(v))
        snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(tmp, sizeof tmp, "%.15g", json_real_value(v));
    else
        return;
    sb_put(s, tmp);
}

/* A Quantity: "< 5 mg/dL". Unit text preferred over its UCUM code. */
static void sb_quantity(sbuf *s, const json_t *q)
{
    if (!json_is_number(json_object_get(q, "value")))
        return;
    const char *cmp = str_of(q, "comparator");
    if (cmp != NULL) {
        sb_put(s, cmp);
        sb_put(s, " ");
    }
    sb_num(s, json_object_get(q, "value"));
    const char *unit = str_of(q, "unit");
    if (unit == NULL)
        unit = str_of(q, "code");
    if (unit != NULL) {
        sb_put(s, " ");
        sb_put(s, unit);
    }
}

/* A Duration such as "30 days"; UCUM codes spelled out when no unit. */
static void sb_duration(sbuf *s, const json_t *d)
{
    const json_t *v = json_object_get(d, "value");
    if (!json_is_number(v))
        return;
    sb_num(s, v);
    const char *unit = str_of(d, "unit");
    const char *code = str_of(d, "code");
    if (unit == NULL && code != NULL) {
        static const char *const map[][2] = {{"d", "days"},   {"wk", "weeks"},
                                             {"mo", "months"}, {"h", "hours"},
                                             {"a", "years"},  {"min", "minutes"}};
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
            if (strcmp(code, map[i][0]) == 0)
                unit = map[i][1];
        }
        if (unit == NULL)
            unit = code;
    }
    if (unit != NULL) {
        sb_put(s, " ");
        sb_put(s, unit);
    }
}

/* Timing.repeat in words: "twice a day", "every 8 hours", "once a week",
 * "3 times every 2 days". Writes nothing it cannot say plainly. */
static void sb_timing(sbuf *s, const json_t *timing)
{
    const char *code_text = cc_text(json_object_get(timing, "code"));
    const json_t *rep = json_object_get(timing, "repeat");
    json_int_t freq = json_integer_value(json_object_get(rep, "frequency"));
    const json_t *pv = json_object_get(rep, "period");
    const char *unit = str_of(rep, "periodUnit");
    static const char *const units[][2] = {{"s", "second"}, {"min", "minute"}, {"h", "hour"},
                                           {"d", "day"},    {"wk", "week"},    {"mo", "month"},
                                           {"a", "year"}};
    const char *uname = NULL;
    for (size_t i = 0; unit != NULL && i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(unit, units[i][0]) == 0)
            uname = units[i][1];
    }
    if (!json_is_number(pv) || json_number_value(pv) <= 0 || uname == NULL || freq < 1) {
        sb_put(s, code_text);
        return;
    }
    bool one_period = json_number_value(pv) == 1.0;
    char tmp[48];
    if (freq == 1 && !one_period) {
        sb_put(s, "every ");
        sb_num(s, pv);
        snprintf(tmp, sizeof tmp, " %ss", uname);
        sb_put(s, tmp);
        return;
    }
    static const char *const words[] = {"", "once", "twice", "three times", "four times"};
    if (freq < 5)
        sb_put(s, words[freq]);
    else {
        snprintf(tmp, sizeof tmp, "%lld times", (long long)freq);
        sb_put(s, tmp);
    }
    if (one_period) {
        snprintf(tmp, sizeof tmp, " a %s", uname);
        sb_put(s, tmp);
    } else {
        sb_put(s, " every ");
        sb_num(s, pv);
        snprintf(tmp, sizeof tmp, " %ss", uname);
        sb_put(s, tmp);
    }
}

/* Append " (status)" when the status is not one a reader can take for
 * granted, listed in `usual` (NULL-terminated). */
static void sb_unusual_status(sbuf *s, const json_t *res, const char *const *usual)
{
    const char *st = str_of(res, "status");
    if (st == NULL)
        return;
    for (size_t i = 0; usual[i] != NULL; i++) {
        if (strcmp(st, usual[i]) == 0)
            return;
    }
    sb_put(s, " (");
    sb_put(s, st);
    sb_put(s, ")");
}

/* "Metformin 500 mg tablet, 1 tablet twice a day after meals, for 30 days". */
static void summary_medication_request(sbuf *s, const json_t *res)
{
    const char *drug = cc_text(json_object_get(res, "medicationCodeableConcept"));
    if (drug == NULL)
        drug = str_of(json_object_get(res, "medicationReference"), "display");
    sb_put(s, drug != NULL ? drug : "Medication");

    /* The dosage as the prescriber wrote it, else built from its parts. */
    const json_t *dose = first(res, "dosageInstruction");
    const json_t *timing = json_object_get(dose, "timing");
    const json_t *bounds = get_path(timing, "repeat", "boundsDuration");
    char dbuf[256], tbuf[96];
    sbuf d = {dbuf, sizeof dbuf, 0, false};
    sbuf t = {tbuf, sizeof tbuf, 0, false};
    dbuf[0] = tbuf[0] = '\0';
    if (str_of(dose, "text") != NULL) {
        sb_put(&d, str_of(dose, "text"));
    } else if (dose != NULL) {
        sb_quantity(&d, json_object_get(first(dose, "doseAndRate"), "doseQuantity"));
        sb_timing(&t, timing);
        sb_item(&d, " ", t.len > 0 ? tbuf : NULL);
        if (json_is_true(json_object_get(dose, "asNeededBoolean")))
            sb_item(&d, " ", "as needed");
        sb_item(&d, " ", cc_text(first(dose, "additionalInstruction")));
        if (bounds != NULL) {
            sb_reset(&t);
            sb_duration(&t, bounds);
            sb_item(&d, " for ", t.len > 0 ? tbuf : NULL);
        }
    }
    const json_t *supply = get_path(res, "dispenseRequest", "expectedSupplyDuration");
    if (supply != NULL && bounds == NULL) {
        sb_reset(&t);
        sb_duration(&t, supply);
        if (t.len > 0) {
            sb_put(&d, d.len > 0 ? " for " : "for ");
            sb_put(&d, tbuf);
        }
    }
    sb_item(s, ", ", d.len > 0 ? dbuf : NULL);
    static const char *const usual[] = {"active", "completed", "draft", NULL};
    sb_unusual_status(s, res, usual);
}

/* " (ref 12–16)" from the first reference range. */
static void sb_reference_range(sbuf *s, const json_t *rr)
{
    if (rr == NULL)
        return;
    const json_t *lo = get_path(rr, "low", "value");
    const json_t *hi = get_path(rr, "high", "value");
    const char *text = str_of(rr, "text");
    if (json_is_number(lo) && json_is_number(hi)) {
        sb_put(s, " (ref ");
        sb_num(s, lo);
        sb_put(s, "\xe2\x80\x93"); /* en dash */
        sb_num(s, hi);
        sb_put(s, ")");
    } else if (json_is_number(lo)) {
        sb_put(s, " (ref \xe2\x89\xa5 "); /* ≥ */
        sb_num(s, lo);
        sb_put(s, ")");
    } else if (json_is_number(hi)) {
        sb_put(s, " (ref \xe2\x89\xa4 "); /* ≤ */
        sb_num(s, hi);
        sb_put(s, ")");
    } else if (text != NULL) {
        sb_put(s, " (ref ");
        sb_put(s, text);
        sb_put(s, ")");
    }
}

/* The value[x] of an Observation or of one of its components into a
 * separate writer; leaves it empty when there is no value parcha can show. */
static void sb_obs_value(sbuf *s, const json_t *o)
{
    const json_t *q = json_object_get(o, "valueQuantity");
    const json_t *cc = json_object_get(o, "valueCodeableConcept");
    const json_t *b = json_object_get(o, "valueBoolean");
    const json_t *n = json_object_get(o, "valueInteger");
    if (q != NULL)
        sb_quantity(s, q);
    else if (cc != NULL)
        sb_put(s, cc_text(cc));
    else if (json_is_boolean(b))
        sb_put(s, json_is_true(b) ? "yes" : "no");
    else if (n != NULL)
        sb_num(s, n);
    else if (str_of(o, "valueString") != NULL)
        sb_put(s, str_of(o, "valueString"));
    else
        sb_put(s, str_of(o, "valueDateTime"));
}

/* "high", "low"... for the v3 ObservationInterpretation codes doctors see
 * most; otherwise the concept's own words. */
static const char *interpretation_text(const json_t *cc)
{
    static const char *const map[][2] = {
        {"H", "high"},           {"L", "low"},        {"HH", "critically high"},
        {"LL", "critically low"}, {"A", "abnormal"},  {"AA", "critically abnormal"},
        {"N", "normal"},         {"POS", "positive"}, {"NEG", "negative"},
    };
    const char *t = str_of(cc, "text");
    if (t != NULL)
        return t;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (cc_has_code(cc, map[i][0]))
            return map[i][1];
    }
    return cc_text(cc);
}

/* "Haemoglobin 11.2 g/dL (ref 12–16), low"; blood pressure and other
 * panels list their components: "Blood pressure: systolic 130 mmHg, ...". */
static void summary_observation(sbuf *s, const json_t *res)
{
    const char *name = cc_text(json_object_get(res, "code"));
    sb_put(s, name != NULL ? name : "Observation");
    char vbuf[128];
    sbuf v = {vbuf, sizeof vbuf, 0, false};
    vbuf[0] = '\0';
    sb_obs_value(&v, res);
    if (v.len > 0) {
        sb_put(s, " ");
        sb_put(s, vbuf);
        sb_reference_range(s, first(res, "referenceRange"));
    } else {
        size_t i;
        const json_t *c;
        bool any = false;
        json_array_foreach(json_object_get(res, "component"), i, c) {
            sb_put(s, any ? ", " : ": ");
            sb_put(s, cc_text(json_object_get(c, "code")));
            sb_reset(&v);
            sb_obs_value(&v, c);
            sb_item(s, " ", v.len > 0 ? vbuf : NULL);
            any = true;
        }
        if (!any) {
            const char *absent = cc_text(json_object_get(res, "dataAbsentReason"));
            if (absent != NULL) {
                sb_put(s, ": no value (");
                sb_put(s, absent);
                sb_put(s, ")");
            }
        }
    }
    sb_item(s, ", ", interpretation_text(first(res, "interpretation")));
    static const char *const usual[] = {"final", "amended", "corrected", NULL};
    sb_unusual_status(s, res, usual);
}

/* "Type 2 diabetes mellitus (active, confirmed), since 2019-05-10". */
static void summary_condition(sbuf *s, const json_t *res)
{
    const char *name = cc_text(json_object_get(res, "code"));
    sb_put(s, name != NULL ? name : "Condition");
    const char *clin = cc_text(json_object_get(res, "clinicalStatus"));
    const char *ver = cc_text(json_object_get(res, "verificationStatus"));
    const char *sev = cc_text(json_object_get(res, "severity"));
    if (clin != NULL || ver != NULL || sev != NULL) {
        sb_put(s, " (");
        size_t start = s->len;
        const char *parts[3] = {clin, ver, sev};
        for (size_t i = 0; i < 3; i++) {
            if (parts[i] == NULL)
                continue;
            if (s->len > start)
                sb_put(s, ", ");
            sb_put(s, parts[i]);
        }
        sb_put(s, ")");
    }
    char onset[11];
    if (date_of(str_of(res, "onsetDateTime"), onset) == PC_OK) {
        sb_put(s, ", since ");
        sb_put(s, onset);
    }
}

/* "HbA1c: Poorly controlled diabetes" or "Lipid profile (4 results)". */
static void summary_diagnostic_report(sbuf *s, const json_t *res)
{
    const char *name = cc_text(json_object_get(res, "code"));
    sb_put(s, name != NULL ? name : "Diagnostic report");
    const char *concl = str_of(res, "conclusion");
    if (concl == NULL)
        concl = cc_text(first(res, "conclusionCode"));
    if (concl != NULL) {
        sb_put(s, ": ");
        sb_put(s, concl);
    } else if (json_array_size(json_object_get(res, "result")) > 0) {
        char tmp[40];
        size_t n = json_array_size(json_object_get(res, "result"));
        snprintf(tmp, sizeof tmp, " (%zu result%s)", n, n == 1 ? "" : "s");
        sb_put(s, tmp);
    }
    static const char *const usual[] = {"final", "amended", "corrected", "appended", NULL};
    sb_unusual_status(s, res, usual);
}

/* "Covishield (COVID-19 vaccine), dose 2, lot 4121Z005". */
static void summary_immunization(sbuf *s, const json_t *res)
{
    const char *name = cc_text(json_object_get(res, "vaccineCode"));
    sb_put(s, name != NULL ? name : "Vaccine");
    const json_t *pa = first(res, "protocolApplied");
    const json_t *dose = json_object_get(pa, "doseNumberPositiveInt");
    if (json_is_integer(dose)) {
        sb_put(s, ", dose ");
        sb_num(s, dose);
    } else if (str_of(pa, "doseNumberString") != NULL) {
        sb_put(s, ", dose ");
        sb_put(s, str_of(pa, "doseNumberString"));
    }
    sb_item(s, ", lot ", str_of(res, "lotNumber"));
    const char *st = str_of(res, "status");
    if (st != NULL && strcmp(st, "not-done") == 0) {
        sb_put(s, " (not given");
        sb_item(s, ": ", cc_text(json_object_get(res, "statusReason")));
        sb_put(s, ")");
    } else {
        static const char *const usual[] = {"completed", NULL};
        sb_unusual_status(s, res, usual);
    }
}

/* "Allergy to Penicillin (high criticality), reaction: urticaria". */
static void summary_allergy(sbuf *s, const json_t *res)
{
    const char *type = str_of(res, "type");
    sb_put(s, type != NULL && strcmp(type, "intolerance") == 0 ? "Intolerance to "
                                                                 : "Allergy to ");
    const char *what = cc_text(json_object_get(res, "code"));
    sb_put(s, what != NULL ? what : "unspecified substance");
    const char *crit = str_of(res, "criticality");
    if (crit != NULL) {
        sb_put(s, " (");
        sb_put(s, crit);
        sb_put(s, " criticality)");
    }
    const json_t *m = first(first(res, "reaction"), "manifestation");
    const char *mt = cc_text(m);
    if (mt != NULL) {
        sb_put(s, ", reaction: ");
        sb_put(s, mt);
    }
}

/* "Inpatient admission: Acute appendicitis, 2024-03-10 to 2024-03-14". */
static void summary_encounter(sbuf *s, const json_t *res)
{
    static const char *const classes[][2] = {
        {"AMB", "Outpatient visit"}, {"IMP", "Inpatient admission"},
        {"EMER", "Emergency visit"}, {"ACUTE", "Inpatient admission"},
        {"HH", "Home visit"},        {"VR", "Virtual consultation"},
        {"SS", "Day-care visit"},    {"OBSENC", "Observation stay"},
    };
    const json_t *cls = json_object_get(res, "class");
    const char *code = str_of(cls, "code");
    const char *label = NULL;
    for (size_t i = 0; code != NULL && i < sizeof classes / sizeof classes[0]; i++) {
        if (strcmp(code, classes[i][0]) == 0)
            label = classes[i][1];
    }
    if (label == NULL)
        label = str_of(cls, "display");
    sb_put(s, label != NULL ? label : "Encounter");
    const char *what = cc_text(first(res, "reasonCode"));
    if (what == NULL)
        what = cc_text(first(res, "type"));
    if (what != NULL) {
        sb_put(s, ": ");
        sb_put(s, what);
    }
    char d1[11], d2[11];
    bool has1 = date_of(str_of(json_object_get(res, "period"), "start"), d1) == PC_OK;
    bool has2 = date_of(str_of(json_object_get(res, "period"), "end"), d2) == PC_OK;
    if (has1) {
        sb_put(s, ", ");
        sb_put(s, d1);
        if (has2 && strcmp(d1, d2) != 0) {
            sb_put(s, " to ");
            sb_put(s, d2);
        }
    }
    const char *disp = cc_text(get_path(res, "hospitalization", "dischargeDisposition"));
    sb_item(s, ", discharged ", disp);
    static const char *const usual[] = {"finished", "in-progress", "arrived", NULL};
    sb_unusual_status(s, res, usual);
}

/* "Chest X-ray report (cxr-2024-03-12.pdf)". */
static void summary_document_reference(sbuf *s, const json_t *res)
{
    const char *what = str_of(res, "description");
    if (what == NULL)
        what = cc_text(json_object_get(res, "type"));
    sb_put(s, what != NULL ? what : "Document");
    const char *title = str_of(json_object_get(first(res, "content"), "attachment"), "title");
    if (title != NULL && (what == NULL || strcmp(title, what) != 0)) {
        sb_put(s, " (");
        sb_put(s, title);
        sb_put(s, ")");
    }
}

/* "Discharge Summary: Dengue fever with thrombocytopenia; Dehydration":
 * the Composition's title and the first diagnoses the document carries. */
static void summary_bundle(sbuf *s, const json_t *res)
{
    const json_t *comp = bundle_composition(res);
    if (comp == NULL) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "Bundle of %zu entries",
                 json_array_size(json_object_get(res, "entry")));
        sb_put(s, tmp);
        return;
    }
    const char *title = str_of(comp, "title");
    if (title == NULL)
        title = cc_text(json_object_get(comp, "type"));
    sb_put(s, title != NULL ? title : "Document");
    size_t i, shown = 0;
    const json_t *e;
    json_array_foreach(json_object_get(res, "entry"), i, e) {
        const json_t *r = json_object_get(e, "resource");
        const char *rt = str_of(r, "resourceType");
        if (rt == NULL || strcmp(rt, "Condition") != 0)
            continue;
        const char *dx = cc_text(json_object_get(r, "code"));
        if (dx == NULL)
            continue;
        sb_put(s, shown == 0 ? ": " : "; ");
        sb_put(s, dx);
        if (++shown == 3)
            break;
    }
}

/* See fhir.h. Always NUL-terminates out when outlen > 0; a resource parcha
 * does not know is summarised by its type name. */
void pc_fhir_summary(const json_t *res, char *out, size_t outlen)
{
    if (out == NULL || outlen == 0)
        return;
    sbuf s = {out, outlen, 0, false};
    out[0] = '\0';
    const char *rt = str_of(res, "resourceType");
    if (rt == NULL) {
        sb_put(&s, "(not a FHIR resource)");
        return;
    }
    if (strcmp(rt, "MedicationRequest") == 0)
        summary_medication_request(&s, res);
    else if (strcmp(rt, "Observation") == 0)
        summary_observation(&s, res);
    else if (strcmp(rt, "Condition") == 0)
        summary_condition(&s, res);
    else if (strcmp(rt, "DiagnosticReport") == 0)
        summary_diagnostic_report(&s, res);
    else if (strcmp(rt, "Immunization") == 0)
        summary_immunization(&s, res);
    else if (strcmp(rt, "AllergyIntolerance") == 0)
        summary_allergy(&s, res);
    else if (strcmp(rt, "Encounter") == 0)
        summary_encounter(&s, res);
    else if (strcmp(rt, "DocumentReference") == 0)
        summary_document_reference(&s, res);
    else if (strcmp(rt, "Bundle") == 0)
        summary_bundle(&s, res);
    else if (strcmp(rt, "Composition") == 0)
        sb_put(&s, str_of(res, "title") ? str_of(res, "title") : "Composition");
    else
        sb_put(&s, rt);
}
