/* FHIR R4 resources for the demo network, built from a small clinical table:
 * each condition knows its ICD-10 code, the medicines usually prescribed for
 * it (dose, frequency, duration) and the lab tests that follow it (LOINC code,
 * UCUM unit, reference range, the values seen when the condition is present).
 * Resources are consistent with that table, dated on the day the caller
 * gives, and deterministic for a given generator state. */
#include "cli/fhirgen.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "parcha/access.h"

#define UCUM "http://unitsofmeasure.org"
#define LOINC "http://loinc.org"
#define ICD10 "http://hl7.org/fhir/sid/icd-10"
#define SNOMED "http://snomed.info/sct"
#define CVX "http://hl7.org/fhir/sid/cvx"
#define XHTML_OPEN "<div xmlns=\"http://www.w3.org/1999/xhtml\">"

/* ---- generator --------------------------------------------------------- */

void cli_rng_seed(cli_rng *r, uint64_t seed)
{
    r->s = seed;
}

/* splitmix64: tiny, fast, and good enough for picking demo data. */
uint64_t cli_rng_next(cli_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint32_t cli_rng_below(cli_rng *r, uint32_t n)
{
    return n == 0 ? 0 : (uint32_t)(cli_rng_next(r) % n);
}

/* A value in [lo, hi] rounded to `decimals` places. */
static double rng_value(cli_rng *r, double lo, double hi, int decimals)
{
    double u = (double)(cli_rng_next(r) >> 11) / 9007199254740992.0;
    double scale = pow(10.0, decimals);
    return round((lo + u * (hi - lo)) * scale) / scale;
}

/* ---- the clinical table ------------------------------------------------ */

typedef struct med {
    const char *name;     /* "Metformin 500 mg tablet" */
    const char *unit;     /* dose unit: "tablet", "puff", ... */
    const char *form;     /* v3-orderableDrugForm code */
    int dose;             /* units per dose */
    int per_period;       /* doses per period */
    const char *period;   /* "d" or "wk" */
    int days;             /* duration of the course */
    const char *advice;   /* patient instruction */
    const char *route;    /* SNOMED route code */
    const char *route_display;
} med;

typedef struct lab {
    const char *loinc;
    const char *display;
    const char *text;
    const char *unit;      /* UCUM code, also shown */
    double low, high;      /* reference range; low < 0 means "no lower limit" */
    double sick_lo, sick_hi; /* values seen with the condition */
    int decimals;
} lab;

typedef struct imaging {
    const char *text;
    const char *conclusion;
} imaging;

typedef struct condition {
    const char *icd;
    const char *display;
    const char *text;
    int chronic;
    med meds[2];
    lab labs[2];
    imaging img;
    const char *complaints; /* for a discharge summary */
    const char *course;
    int stay_days;
} condition;

#define ORAL "26643006", "Oral route"
#define INHALED "447694001", "Respiratory tract route"

#define HBA1C \
    {"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "HbA1c", "%", \
     4.0, 5.6, 6.6, 9.4, 1}
#define FBG \
    {"1558-6", "Fasting glucose [Mass/volume] in Serum or Plasma", "Fasting blood sugar", "mg/dL", \
     70, 100, 118, 210, 0}
#define CREAT \
    {"2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "Serum creatinine", "mg/dL", \
     0.6, 1.2, 0.8, 1.5, 1}
#define POTASSIUM \
    {"2823-3", "Potassium [Moles/volume] in Serum or Plasma", "Serum potassium", "mmol/L", \
     3.5, 5.1, 3.1, 4.9, 1}
#define TSH \
    {"3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "TSH", "m[IU]/L", \
     0.4, 4.0, 5.2, 11.8, 2}
#define HB \
    {"718-7", "Hemoglobin [Mass/volume] in Blood", "Haemoglobin", "g/dL", \
     12.0, 15.5, 8.2, 11.4, 1}
#define FERRITIN \
    {"2276-4", "Ferritin [Mass/volume] in Serum or Plasma", "Serum ferritin", "ng/mL", \
     15, 150, 4, 13, 0}
#define LDL \
    {"13457-7", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation", "LDL cholesterol", "mg/dL", \
     -1, 100, 128, 190, 0}
#define TCHOL \
    {"2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "Total cholesterol", "mg/dL", \
     -1, 200, 215, 280, 0}
#define PLT \
    {"777-3", "Platelets [#/volume] in Blood by Automated count", "Platelet count", "10*3/uL", \
     150, 410, 38, 118, 0}
#define WBC \
    {"6690-2", "Leukocytes [#/volume] in Blood by Automated count", "Total leucocyte count", "10*3/uL", \
     4.0, 11.0, 11.8, 17.6, 1}
#define VITD \
    {"1989-3", "25-hydroxyvitamin D3 [Mass/volume] in Serum or Plasma", "Vitamin D (25-OH)", "ng/mL", \
     30, 100, 7, 19, 1}
#define EOS \
    {"713-8", "Eosinophils/100 leukocytes in Blood by Automated count", "Eosinophils", "%", \
     1, 6, 6.5, 11.5, 1}
#define CRP \
    {"1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "C-reactive protein", "mg/L", \
     -1, 5, 24, 118, 1}
#define SODIUM \
    {"2951-2", "Sodium [Moles/volume] in Serum or Plasma", "Serum sodium", "mmol/L", \
     135, 145, 127, 134, 0}
#define URINE_WBC \
    {"5821-4", "Leukocytes [#/area] in Urine sediment by Microscopy high power field", "Urine pus cells", "/[HPF]", \
     0, 5, 18, 45, 0}

static const condition CONDITIONS[] = {
    {"E11.9", "Type 2 diabetes mellitus without complications", "Type 2 diabetes mellitus", 1,
     {{"Metformin 500 mg tablet", "tablet", "TAB", 1, 2, "d", 30, "after meals", ORAL},
      {"Glimepiride 1 mg tablet", "tablet", "TAB", 1, 1, "d", 30, "before breakfast", ORAL}},
     {HBA1C, FBG},
     {"Ultrasound abdomen", "Grade I fatty liver. No other abnormality detected."},
     NULL, NULL, 0},
    {"I10", "Essential (primary) hypertension", "Hypertension", 1,
     {{"Amlodipine 5 mg tablet", "tablet", "TAB", 1, 1, "d", 30, "in the morning", ORAL},
      {"Telmisartan 40 mg tablet", "tablet", "TAB", 1, 1, "d", 30, "in the morning", ORAL}},
     {CREAT, POTASSIUM},
     {"12-lead ECG", "Normal sinus rhythm. Left ventricular hypertrophy by voltage criteria."},
     NULL, NULL, 0},
    {"E03.9", "Hypothyroidism, unspecified", "Hypothyroidism", 1,
     {{"Levothyroxine 50 mcg tablet", "tablet", "TAB", 1, 1, "d", 90,
       "on an empty stomach, 30 minutes before breakfast", ORAL},
      {"Levothyroxine 75 mcg tablet", "tablet", "TAB", 1, 1, "d", 90,
       "on an empty stomach, 30 minutes before breakfast", ORAL}},
     {TSH, TCHOL},
     {"Ultrasound neck (thyroid)", "Diffusely enlarged thyroid with heterogeneous echotexture, "
                                   "suggestive of thyroiditis. No nodules."},
     NULL, NULL, 0},
    {"J45.9", "Asthma, unspecified", "Bronchial asthma", 1,
     {{"Salbutamol 100 mcg inhaler", "puff", "INHL", 2, 4, "d", 30,
       "when breathless; up to four times a day", INHALED},
      {"Budesonide 200 mcg + Formoterol 6 mcg inhaler", "puff", "INHL", 2, 2, "d", 30,
       "rinse the mouth after use", INHALED}},
     {EOS, WBC},
     {"Chest X-ray PA view", "Hyperinflated lung fields. No consolidation or effusion."},
     NULL, NULL, 0},
    {"D50.9", "Iron deficiency anaemia, unspecified", "Iron deficiency anaemia", 1,
     {{"Ferrous sulphate 200 mg tablet", "tablet", "TAB", 1, 1, "d", 90, "after food", ORAL},
      {"Folic acid 5 mg tablet", "tablet", "TAB", 1, 1, "d", 90, "after food", ORAL}},
     {HB, FERRITIN},
     {"Ultrasound abdomen", "No organomegaly. No free fluid."},
     NULL, NULL, 0},
    {"E78.5", "Hyperlipidaemia, unspecified", "Dyslipidaemia", 1,
     {{"Atorvastatin 10 mg tablet", "tablet", "TAB", 1, 1, "d", 30, "at bedtime", ORAL},
      {"Atorvastatin 20 mg tablet", "tablet", "TAB", 1, 1, "d", 30, "at bedtime", ORAL}},
     {LDL, TCHOL},
     {"12-lead ECG", "Normal sinus rhythm. No ST-T changes."},
     NULL, NULL, 0},
    {"E55.9", "Vitamin D deficiency, unspecified", "Vitamin D deficiency", 1,
     {{"Cholecalciferol 60000 IU sachet", "sachet", "PWD", 1, 1, "wk", 56,
       "dissolve in milk or water", ORAL},
      {"Calcium carbonate 500 mg tablet", "tablet", "TAB", 1, 1, "d", 60, "after lunch", ORAL}},
     {VITD, TCHOL},
     {"X-ray both knees AP view", "Mild reduction of medial joint space. No fracture."},
     NULL, NULL, 0},
    {"A01.0", "Typhoid fever", "Enteric fever", 0,
     {{"Azithromycin 500 mg tablet", "tablet", "TAB", 1, 1, "d", 7, "one hour before food", ORAL},
      {"Paracetamol 650 mg tablet", "tablet", "TAB", 1, 3, "d", 5, "if temperature above 100 F", ORAL}},
     {CRP, HB},
     {"Ultrasound abdomen", "Mild splenomegaly (12.8 cm). No free fluid."},
     "Fever for 7 days with headache and loss of appetite.",
     "Widal and blood culture positive for Salmonella Typhi. Treated with intravenous "
     "ceftriaxone, switched to oral azithromycin. Afebrile for 48 hours before discharge.",
     5},
    {"A90", "Dengue fever [classical dengue]", "Dengue fever", 0,
     {{"Paracetamol 650 mg tablet", "tablet", "TAB", 1, 3, "d", 5, "if temperature above 100 F; no painkillers other than paracetamol", ORAL},
      {"Oral rehydration salts sachet", "sachet", "PWD", 1, 3, "d", 5,
       "one sachet in one litre of water, sip through the day", ORAL}},
     {PLT, WBC},
     {"Ultrasound abdomen", "Gall bladder wall oedema and minimal ascites, consistent with dengue."},
     "High fever, body ache and retro-orbital pain for 4 days.",
     "NS1 antigen positive. Platelet count fell to a nadir on day 5 and recovered with "
     "oral and intravenous fluids. No bleeding. No transfusion needed.",
     4},
    {"A09", "Infectious gastroenteritis and colitis, unspecified", "Acute gastroenteritis", 0,
     {{"Oral rehydration salts sachet", "sachet", "PWD", 1, 3, "d", 3,
       "one sachet in one litre of water, sip after every loose stool", ORAL},
      {"Ondansetron 4 mg tablet", "tablet", "TAB", 1, 3, "d", 3, "before food if nauseated", ORAL}},
     {SODIUM, POTASSIUM},
     {"Ultrasound abdomen", "Fluid-filled bowel loops. No other abnormality detected."},
     "Loose stools and vomiting since the previous night, with dizziness.",
     "Moderate dehydration corrected with intravenous Ringer lactate. Stools settled by "
     "day 2 and oral intake resumed.",
     2},
    {"J18.9", "Pneumonia, unspecified organism", "Community-acquired pneumonia", 0,
     {{"Amoxicillin 500 mg + Clavulanic acid 125 mg tablet", "tablet", "TAB", 1, 3, "d", 7,
       "after food; complete the course", ORAL},
      {"Paracetamol 650 mg tablet", "tablet", "TAB", 1, 3, "d", 5, "if temperature above 100 F", ORAL}},
     {WBC, CRP},
     {"Chest X-ray PA view", "Right lower zone consolidation with air bronchogram."},
     "Cough with sputum, fever and breathlessness for 5 days.",
     "Right lower lobe pneumonia on X-ray. Treated with intravenous amoxicillin-clavulanate "
     "and oxygen for 2 days. Saturation 97% on room air at discharge.",
     6},
    {"N39.0", "Urinary tract infection, site not specified", "Urinary tract infection", 0,
     {{"Nitrofurantoin 100 mg capsule", "capsule", "CAP", 1, 2, "d", 5, "after food", ORAL},
      {"Paracetamol 500 mg tablet", "tablet", "TAB", 1, 3, "d", 3, "if feverish", ORAL}},
     {URINE_WBC, CRP},
     {"Ultrasound kidneys, ureters and bladder", "Normal kidneys. No calculi. Post-void residue 20 mL."},
     "Burning micturition and fever with chills for 3 days.",
     "Urine culture grew E. coli sensitive to nitrofurantoin. Fever settled on day 2 of "
     "antibiotics.",
     3},
};

#define NCOND (sizeof CONDITIONS / sizeof CONDITIONS[0])

size_t cli_fhirgen_condition_count(void)
{
    return NCOND;
}

int cli_fhirgen_condition_chronic(size_t i)
{
    return i < NCOND && CONDITIONS[i].chronic;
}

typedef struct vaccine {
    const char *cvx;
    const char *display;
    const char *text;
} vaccine;

static const vaccine VACCINES[] = {
    {"210", "COVID-19 vaccine, vector-nr, rS-ChAdOx1, PF, 0.5 mL", "COVID-19 vaccine (Covishield)"},
    {"139", "Td (adult), unspecified formulation", "Tetanus and diphtheria toxoid (Td)"},
    {"150", "Influenza, injectable, quadrivalent, preservative free", "Influenza vaccine"},
    {"43", "Hepatitis B vaccine, adult dosage", "Hepatitis B vaccine"},
};

/* ---- small builders ---------------------------------------------------- */

/* "YYYY-MM-DDTHH:MM:00+05:30" for day at a clinic hour into out[32]. */
static void date_time(int32_t day, int hour, int minute, char out[32])
{
    char d[11];
    pc_date_format(day, d);
    snprintf(out, 32, "%sT%02d:%02d:00+05:30", d, hour, minute);
}

/* A random clinic time on day. */
static void clinic_time(cli_rng *r, int32_t day, char out[32])
{
    date_time(day, 9 + (int)cli_rng_below(r, 9), (int)cli_rng_below(r, 4) * 15, out);
}

/* A version-4 shaped UUID drawn from r, as "urn:uuid:..." into out[48]. */
static void urn_uuid(cli_rng *r, char out[48])
{
    uint64_t a = cli_rng_next(r), b = cli_rng_next(r);
    snprintf(out, 48, "urn:uuid:%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)((a >> 16) & 0xffff), (unsigned)(a & 0xfff),
             (unsigned)(0x8000 | ((b >> 48) & 0x3fff)),
             (unsigned long long)(b & 0xffffffffffffULL));
}

static json_t *coding1(const char *system, const char *code, const char *display)
{
    return json_pack("{s:s,s:s,s:s}", "system", system, "code", code, "display", display);
}

static json_t *concept(const char *system, const char *code, const char *display,
                       const char *text)
{
    return json_pack("{s:[o],s:s}", "coding", coding1(system, code, display), "text", text);
}

static json_t *subject_ref(const cli_fhir_ctx *c)
{
    return json_pack("{s:s,s:s}", "reference", c->patient_ref, "display", c->patient_name);
}

static json_t *quantity(double v, const char *unit)
{
    return json_pack("{s:f,s:s,s:s,s:s}", "value", v, "unit", unit, "system", UCUM, "code",
                     unit);
}

/* The XHTML narrative div FHIR expects in text.div. */
static json_t *narrative(const char *text)
{
    char div[1024];
    snprintf(div, sizeof div, XHTML_OPEN "%s</div>", text);
    return json_pack("{s:s,s:s}", "status", "generated", "div", div);
}

/* ---- resources --------------------------------------------------------- */

static json_t *make_condition(const condition *cd, const cli_fhir_ctx *c, int resolved,
                              const char *when)
{
    json_t *res = json_pack(
        "{s:s,s:{s:[o]},s:{s:[o]},s:[{s:[o]}],s:o,s:o,s:s,s:s,s:{s:s}}", "resourceType",
        "Condition", "clinicalStatus", "coding",
        coding1("http://terminology.hl7.org/CodeSystem/condition-clinical",
                resolved ? "resolved" : "active", resolved ? "Resolved" : "Active"),
        "verificationStatus", "coding",
        coding1("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed",
                "Confirmed"),
        "category", "coding",
        coding1("http://terminology.hl7.org/CodeSystem/condition-category",
                "encounter-diagnosis", "Encounter Diagnosis"),
        "code", concept(ICD10, cd->icd, cd->display, cd->text), "subject", subject_ref(c),
        "onsetDateTime", when, "recordedDate", when, "recorder", "display", c->author_name);
    if (res != NULL && resolved)
        json_object_set_new(res, "abatementDateTime", json_string(when));
    return res;
}

/* Dose words: "1 tablet", "2 puffs". */
static void dose_words(const med *m, char *out, size_t outlen)
{
    snprintf(out, outlen, "%d %s%s", m->dose, m->unit, m->dose > 1 ? "s" : "");
}

/* "twice a day", "three times a day", "once a week". */
static void frequency_words(const med *m, char *out, size_t outlen)
{
    static const char *const times[] = {"", "once", "twice", "three times", "four times"};
    const char *t = m->per_period >= 1 && m->per_period <= 4 ? times[m->per_period] : "";
    snprintf(out, outlen, "%s a %s", t, strcmp(m->period, "wk") == 0 ? "week" : "day");
}

static json_t *make_prescription(cli_rng *r, const med *m, const cli_fhir_ctx *c,
                                 const char *when)
{
    (void)r;
    char dose[48], freq[48], text[512];
    dose_words(m, dose, sizeof dose);
    frequency_words(m, freq, sizeof freq);
    snprintf(text, sizeof text, "%s %s for %d days, %s", dose, freq, m->days, m->advice);
    int per_week = strcmp(m->period, "wk") == 0;
    int total = m->dose * m->per_period * (per_week ? (m->days + 6) / 7 : m->days);
    json_t *timing = json_pack(
        "{s:{s:i,s:i,s:s,s:{s:i,s:s,s:s,s:s}}}", "repeat", "frequency", m->per_period,
        "period", 1, "periodUnit", m->period, "boundsDuration", "value", m->days, "unit",
        "days", "system", UCUM, "code", "d");
    json_t *dosage = json_pack(
        "{s:i,s:s,s:[{s:s}],s:o,s:o,s:[{s:{s:i,s:s,s:s,s:s}}]}", "sequence", 1, "text",
        text, "additionalInstruction", "text", m->advice, "timing", timing, "route",
        concept(SNOMED, m->route, m->route_display, m->route_display), "doseAndRate",
        "doseQuantity", "value", m->dose, "unit", m->unit, "system",
        "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm", "code", m->form);
    return json_pack(
        "{s:s,s:s,s:s,s:{s:s},s:o,s:s,s:{s:s,s:{s:s}},s:[o],"
        "s:{s:{s:i,s:s},s:{s:i,s:s,s:s,s:s}}}",
        "resourceType", "MedicationRequest", "status", "active", "intent", "order",
        "medicationCodeableConcept", "text", m->name, "subject", subject_ref(c), "authoredOn",
        when, "requester", "display", c->author_name, "identifier", "value", c->author_regno,
        "dosageInstruction", dosage, "dispenseRequest", "quantity", "value", total, "unit",
        m->unit, "expectedSupplyDuration", "value", m->days, "unit", "days", "system", UCUM,
        "code", "d");
}

static json_t *make_lab(cli_rng *r, const lab *l, int sick, const cli_fhir_ctx *c,
                        const char *when)
{
    double lo = sick ? l->sick_lo : (l->low < 0 ? l->high * 0.5 : l->low);
    double hi = sick ? l->sick_hi : l->high;
    double v = rng_value(r, lo, hi, l->decimals);
    const char *flag = "N", *flag_text = "Normal";
    if (l->low >= 0 && v < l->low) {
        flag = "L";
        flag_text = "Low";
    } else if (v > l->high) {
        flag = "H";
        flag_text = "High";
    }
    char range[96];
    if (l->low < 0)
        snprintf(range, sizeof range, "below %.*f %s", l->decimals, l->high, l->unit);
    else
        snprintf(range, sizeof range, "%.*f-%.*f %s", l->decimals, l->low, l->decimals, l->high,
                 l->unit);
    json_t *rr = json_pack("{s:o,s:s}", "high", quantity(l->high, l->unit), "text", range);
    if (rr != NULL && l->low >= 0)
        json_object_set_new(rr, "low", quantity(l->low, l->unit));
    char lab_name[160];
    snprintf(lab_name, sizeof lab_name, "%s laboratory", c->hospital_name);
    return json_pack(
        "{s:s,s:s,s:[{s:[o]}],s:o,s:o,s:s,s:s,s:[{s:s}],s:o,s:[{s:[o],s:s}],s:[o]}",
        "resourceType", "Observation", "status", "final", "category", "coding",
        coding1("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory",
                "Laboratory"),
        "code", concept(LOINC, l->loinc, l->display, l->text), "subject", subject_ref(c),
        "effectiveDateTime", when, "issued", when, "performer", "display", lab_name,
        "valueQuantity", quantity(v, l->unit), "interpretation", "coding",
        coding1("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", flag,
                flag_text),
        "text", flag_text, "referenceRange", rr);
}

static json_t *make_imaging(const condition *cd, const cli_fhir_ctx *c, const char *when)
{
    return json_pack(
        "{s:s,s:s,s:[{s:[o]}],s:{s:s},s:o,s:s,s:s,s:[{s:s}],s:s}", "resourceType",
        "DiagnosticReport", "status", "final", "category", "coding",
        coding1("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD", "Radiology"), "code",
        "text", cd->img.text, "subject", subject_ref(c), "effectiveDateTime", when, "issued",
        when, "performer", "display", c->hospital_name, "conclusion", cd->img.conclusion);
}

static json_t *make_immunization(cli_rng *r, const cli_fhir_ctx *c, const char *when)
{
    const vaccine *v = &VACCINES[cli_rng_below(r, sizeof VACCINES / sizeof VACCINES[0])];
    char lot[16];
    snprintf(lot, sizeof lot, "%c%c%05u", 'A' + (int)cli_rng_below(r, 26),
             'A' + (int)cli_rng_below(r, 26), (unsigned)cli_rng_below(r, 100000));
    return json_pack(
        "{s:s,s:s,s:o,s:{s:s,s:s},s:s,s:b,s:s,s:{s:f,s:s,s:s,s:s},s:[{s:{s:s}}],"
        "s:[{s:i}]}",
        "resourceType", "Immunization", "status", "completed", "vaccineCode",
        concept(CVX, v->cvx, v->display, v->text), "patient", "reference", c->patient_ref,
        "display", c->patient_name, "occurrenceDateTime", when, "primarySource", 1,
        "lotNumber", lot, "doseQuantity", "value", 0.5, "unit", "mL", "system", UCUM, "code",
        "mL", "performer", "actor", "display", c->author_name, "protocolApplied",
        "doseNumberPositiveInt", 1 + (int)cli_rng_below(r, 2));
}

/* Append {fullUrl, resource} (resource stolen) to the entries. */
static void add_entry(json_t *entries, const char *url, json_t *res)
{
    json_array_append_new(entries, json_pack("{s:s,s:o}", "fullUrl", url, "resource", res));
}

/* A section {title, text, entry:[refs]} (refs stolen, may be NULL). */
static json_t *section(const char *title, const char *text, json_t *refs)
{
    json_t *s = json_pack("{s:s,s:o}", "title", title, "text", narrative(text));
    if (s != NULL && refs != NULL)
        json_object_set_new(s, "entry", refs);
    else
        json_decref(refs);
    return s;
}

static json_t *ref_list(const char *const *urls, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_pack("{s:s}", "reference", urls[i]));
    return a;
}

static json_t *make_discharge(cli_rng *r, const condition *cd, const cli_fhir_ctx *c)
{
    int32_t out_day = c->day;
    int32_t in_day = c->day - cd->stay_days;
    char admitted[32], discharged[32], lab_time[32];
    date_time(in_day, 8 + (int)cli_rng_below(r, 12), 0, admitted);
    date_time(out_day, 11 + (int)cli_rng_below(r, 5), 30, discharged);
    date_time(in_day, 22, 30, lab_time);
    char u_comp[48], u_enc[48], u_cond[48], u_lab[2][48], u_med[2][48], ident[48];
    urn_uuid(r, ident);
    urn_uuid(r, u_comp);
    urn_uuid(r, u_enc);
    urn_uuid(r, u_cond);
    for (int i = 0; i < 2; i++) {
        urn_uuid(r, u_lab[i]);
        urn_uuid(r, u_med[i]);
    }

    json_t *entries = json_array();
    if (entries == NULL)
        return NULL;
    const char *lab_urls[2] = {u_lab[0], u_lab[1]};
    const char *med_urls[2] = {u_med[0], u_med[1]};
    const char *cond_url[1] = {u_cond};
    json_t *sections = json_pack(
        "[o,o,o,o,o,o]", section("Chief complaints", cd->complaints, NULL),
        section("Diagnosis", cd->display, ref_list(cond_url, 1)),
        section("Investigations", "Admission blood tests.", ref_list(lab_urls, 2)),
        section("Hospital course", cd->course, NULL),
        section("Medications on discharge", "Continue the medicines below.",
                ref_list(med_urls, 2)),
        section("Advice on discharge",
                "Oral fluids, soft diet, rest for one week. Review in the out-patient "
                "clinic after 7 days or earlier if fever returns.",
                NULL));
    char title[160];
    snprintf(title, sizeof title, "Discharge summary - %s", c->hospital_name);
    json_t *comp = json_pack(
        "{s:s,s:s,s:{s:[o,o],s:s},s:o,s:{s:s},s:s,s:[{s:s}],s:s,s:{s:s},s:o}", "resourceType",
        "Composition", "status", "final", "type", "coding",
        coding1(SNOMED, "373942005", "Discharge summary"),
        coding1(LOINC, "18842-5", "Discharge summary"), "text", "Discharge summary", "subject",
        subject_ref(c), "encounter", "reference", u_enc, "date", discharged, "author",
        "display", c->author_name, "title", title, "custodian", "display", c->hospital_name,
        "section", sections);
    add_entry(entries, u_comp, comp);
    json_t *enc = json_pack(
        "{s:s,s:s,s:o,s:o,s:{s:s,s:s},s:[o],s:{s:s},s:{s:{s:s}}}", "resourceType", "Encounter",
        "status", "finished", "class",
        coding1("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP",
                "inpatient encounter"),
        "subject", subject_ref(c), "period", "start", admitted, "end", discharged,
        "reasonCode", concept(ICD10, cd->icd, cd->display, cd->text), "serviceProvider",
        "display", c->hospital_name, "hospitalization", "dischargeDisposition", "text",
        "Discharged home");
    add_entry(entries, u_enc, enc);
    add_entry(entries, u_cond, make_condition(cd, c, 1, discharged));
    for (int i = 0; i < 2; i++)
        add_entry(entries, u_lab[i], make_lab(r, &cd->labs[i], 1, c, lab_time));
    for (int i = 0; i < 2; i++)
        add_entry(entries, u_med[i], make_prescription(r, &cd->meds[i], c, discharged));
    return json_pack("{s:s,s:{s:s,s:s},s:s,s:s,s:o}", "resourceType", "Bundle", "identifier",
                     "system", "urn:ietf:rfc:3986", "value", ident, "type", "document",
                     "timestamp", discharged, "entry", entries);
}

json_t *cli_fhirgen_make(cli_rng *r, cli_fhir_kind kind, size_t cond,
                         const cli_fhir_ctx *ctx)
{
    if (cond >= NCOND)
        cond = 0;
    const condition *cd = &CONDITIONS[cond];
    char when[32];
    clinic_time(r, ctx->day, when);
    switch (kind) {
    case CLI_FHIR_CONDITION:
        return make_condition(cd, ctx, 0, when);
    case CLI_FHIR_PRESCRIPTION:
        return make_prescription(r, &cd->meds[cli_rng_below(r, 2)], ctx, when);
    case CLI_FHIR_LAB:
        return make_lab(r, &cd->labs[cli_rng_below(r, 2)], cli_rng_below(r, 4) != 0, ctx,
                        when);
    case CLI_FHIR_IMAGING:
        return make_imaging(cd, ctx, when);
    case CLI_FHIR_IMMUNIZATION:
        return make_immunization(r, ctx, when);
    case CLI_FHIR_DISCHARGE:
        if (cd->chronic) {
            for (size_t i = 0; i < NCOND; i++) {
                if (!CONDITIONS[i].chronic) {
                    cd = &CONDITIONS[i];
                    break;
                }
            }
        }
        return make_discharge(r, cd, ctx);
    }
    return NULL;
}

/* ---- names -------------------------------------------------------------- */

static const char *const FIRST[] = {
    "Aarav",   "Ananya",  "Vihaan",  "Diya",     "Arjun",   "Ishita",  "Kabir",   "Meera",
    "Rohan",   "Saanvi",  "Aditya",  "Kavya",    "Siddharth", "Priya", "Rahul",   "Nandini",
    "Vikram",  "Lakshmi", "Farhan",  "Zoya",     "Harpreet", "Simran", "Karthik", "Divya",
    "Manoj",   "Sunita",  "Arnav",   "Pooja",    "Rajesh",  "Shreya",  "Imran",   "Fatima",
    "Gaurav",  "Neha",    "Suresh",  "Radha",    "Aniket",  "Tanvi",   "Deepak",  "Swati",
    "Abhishek", "Rekha",  "Nikhil",  "Anjali",   "Yash",    "Bhavana", "Prakash", "Geeta",
    "Varun",   "Madhuri",
};
static const char *const SURNAME[] = {
    "Sharma",  "Iyer",    "Reddy",   "Patel",    "Banerjee", "Nair",   "Singh",   "Khan",
    "Das",     "Joshi",   "Kulkarni", "Menon",   "Gupta",   "Chatterjee", "Rao",  "Pillai",
    "Desai",   "Mukherjee", "Verma", "Bhat",     "Naidu",   "Ghosh",   "Shetty",  "Mishra",
    "Fernandes", "Thakur", "Chauhan", "Pandey",  "Saxena",  "Agarwal", "Kapoor",  "Hegde",
    "Gowda",   "Yadav",   "Sinha",   "Dutta",    "Bose",    "Qureshi", "Gill",    "Krishnan",
    "Jain",
};

void cli_fhirgen_patient_name(size_t i, char *out, size_t outlen)
{
    size_t nf = sizeof FIRST / sizeof FIRST[0], ns = sizeof SURNAME / sizeof SURNAME[0];
    snprintf(out, outlen, "%s %s", FIRST[i % nf], SURNAME[(i * 7 + 3 + i / nf) % ns]);
}
