/* FHIR R4 checks for record content, and the facts parcha lifts out of a
 * resource: its HI type, clinical date and a one-line summary for timelines
 * kept off chain. Only structure is checked, not terminology. */
#ifndef PARCHA_FHIR_H
#define PARCHA_FHIR_H

#include <jansson.h>
#include "parcha/common.h"

/* Supported resourceType values: MedicationRequest, Condition, Observation,
 * DiagnosticReport, Immunization, AllergyIntolerance, Encounter,
 * DocumentReference, Bundle (type "document", whose entries are checked too). */

/* Check a resource. Returns PC_OK, or PC_EINVAL with a message naming the
 * missing or wrong element, e.g. "MedicationRequest: missing required element
 * 'subject'". Required elements follow the R4 cardinalities (1..1) of each
 * type, e.g. MedicationRequest: status, intent, medication[x], subject. */
int pc_fhir_validate(const json_t *res, pc_error *err) PC_MUST_USE;

/* The ABDM HI type a resource maps to by default (name as in access.h, e.g.
 * "Prescription" for MedicationRequest, "DiagnosticReport" for Observation and
 * DiagnosticReport, "DischargeSummary" for a Bundle whose Composition is a
 * discharge summary or an Encounter, "ImmunizationRecord" for Immunization,
 * "OPConsultation" for Condition and AllergyIntolerance,
 * "HealthDocumentRecord" for DocumentReference). */
const char *pc_fhir_default_hi_type(const json_t *res);

/* The clinical date (YYYY-MM-DD) into out[11], from the element each type uses
 * (authoredOn, recordedDate/onsetDateTime, effectiveDateTime/issued,
 * occurrenceDateTime, period.start, date). PC_ENOTFOUND if none. */
int pc_fhir_clinical_date(const json_t *res, char out[11]) PC_MUST_USE;

/* A short human summary into out (e.g. "Metformin 500 mg, 1 tablet twice a
 * day for 30 days"). Used for CLI timelines after decryption. */
void pc_fhir_summary(const json_t *res, char *out, size_t outlen);

#endif
