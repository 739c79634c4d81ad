/* Realistic FHIR R4 content for `parcha demo`: prescriptions with dose,
 * frequency and duration, diagnoses with ICD-10 codes, lab results with UCUM
 * units and reference ranges, imaging reports, immunisations and discharge
 * summary document Bundles, all consistent with a patient's conditions.
 * Deterministic: the same generator state gives the same resources, so the
 * demo has a fixed structure while its keys are real and random. Pure (no
 * I/O); tests/unit/test_cli_fhirgen.c checks every resource passes
 * pc_fhir_validate. */
#ifndef PARCHA_CLI_FHIRGEN_H
#define PARCHA_CLI_FHIRGEN_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* A small deterministic generator (splitmix64). */
typedef struct cli_rng {
    uint64_t s;
} cli_rng;
void cli_rng_seed(cli_rng *r, uint64_t seed);
uint64_t cli_rng_next(cli_rng *r);
/* Uniform in [0, n); n > 0. */
uint32_t cli_rng_below(cli_rng *r, uint32_t n);

/* Who and where a resource is about. Strings are borrowed. */
typedef struct cli_fhir_ctx {
    const char *patient_ref;   /* "Patient/<Health ID>" */
    const char *patient_name;  /* shown as the reference display */
    const char *author_name;   /* e.g. "Dr. Anjali Mehta" */
    const char *author_regno;  /* registration number */
    const char *hospital_name; /* e.g. "City General Hospital" */
    int32_t day;               /* clinical date, days since 1970-01-01 */
} cli_fhir_ctx;

/* Number of chronic and acute conditions in the generator's table. */
size_t cli_fhirgen_condition_count(void);
/* True if condition i is chronic (diabetes, hypertension, ...). */
int cli_fhirgen_condition_chronic(size_t i);

/* The kinds of resource the demo makes. */
typedef enum cli_fhir_kind {
    CLI_FHIR_CONDITION = 1,
    CLI_FHIR_PRESCRIPTION,
    CLI_FHIR_LAB,
    CLI_FHIR_IMAGING,
    CLI_FHIR_IMMUNIZATION,
    CLI_FHIR_DISCHARGE
} cli_fhir_kind;

/* Make one resource of a kind for condition `cond` (an index below
 * cli_fhirgen_condition_count; CLI_FHIR_DISCHARGE wants an acute one, and
 * falls back to the first acute condition otherwise). New reference, or NULL
 * on out of memory. */
json_t *cli_fhirgen_make(cli_rng *r, cli_fhir_kind kind, size_t cond,
                         const cli_fhir_ctx *ctx);

/* Name of patient i of the demo (Indian first name and surname), into out. */
void cli_fhirgen_patient_name(size_t i, char *out, size_t outlen);

#endif
