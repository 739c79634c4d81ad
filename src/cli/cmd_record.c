/* parcha record add: a doctor or nurse adds a FHIR R4 resource to a
 * patient's history. The content is checked (pc_fhir_validate), encrypted
 * under a fresh record key bound to the record id and patient, the key is
 * sealed to the patient and to the custodian hospital (the author's own),
 * and the node stores the blob before committing record.add. Only the hash,
 * size and pointers go on the chain. */
#include <stdlib.h>
#include <string.h>
#include "cli/build.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/keys.h"
#include "parcha/access.h"
#include "parcha/encode.h"
#include "parcha/fhir.h"
#include "parcha/healthid.h"

#define MAX_FHIR_FILE (16 * 1024 * 1024)

static const char HELP_ADD[] =
    "usage: parcha record add --patient HEALTH-ID --fhir FILE.json\n"
    "                         --author KEYFILE [--pass-file F]\n"
    "                         [--hi-type TYPE] [--date YYYY-MM-DD] [--node URL] [--json]\n"
    "\n"
    "Add a FHIR R4 resource (MedicationRequest, Condition, Observation,\n"
    "DiagnosticReport, Immunization, AllergyIntolerance, Encounter,\n"
    "DocumentReference or a document Bundle) to a patient's history. The file\n"
    "is checked first; a missing required element is named. The content is\n"
    "encrypted and stays at the author's hospital; the chain gets its hash.\n"
    "\n"
    "options:\n"
    "  --patient HEALTH-ID  the patient, e.g. 7KQ2-M4XD-9P3A-H (typos are caught)\n"
    "  --fhir FILE.json     the FHIR resource\n"
    "  --author KEYFILE     the doctor's or nurse's key file\n"
    "  --pass-file F        its passphrase (asked otherwise)\n"
    "  --hi-type TYPE       ABDM HI type; default from the resource (MedicationRequest\n"
    "                       -> Prescription, Observation -> DiagnosticReport, ...)\n"
    "  --date YYYY-MM-DD    clinical date when the resource carries none\n"
    "\n"
    "example:\n"
    "  parcha record add --patient 7KQ2-M4XD-9P3A-H --fhir metformin.json \\\n"
    "      --author mehta.key\n";

static const char HELP[] =
    "usage: parcha record add ...   add an encrypted FHIR record to a patient's history\n"
    "(parcha record add --help for details)\n";

static const cli_optspec ADD_OPTS[] = {
    {"patient", true, false}, {"fhir", true, false},   {"author", true, false},
    {"pass-file", true, false}, {"hi-type", true, false}, {"date", true, false},
    {NULL, false, false}};

/* POST /v1/records {tx, blob, sealed_custodian}. */
static int post_record(cli_client *c, const cli_record *rec, json_t **reply, pc_error *err)
{
    size_t len = 0;
    char *text = cli_record_request_json(rec, &len);
    if (text == NULL)
        return pc_error_set(err, PC_ENOMEM, "out of memory");
    int rc = cli_post(c, "/v1/records", text, len, reply, err);
    free(text);
    return rc;
}

static int record_add(int argc, char **argv)
{
    static const char NAME[] = "record add";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP_ADD, ADD_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *patient, *fhir_path, *author;
    if (cli_arg_required(&a, "patient", &patient, &err) != PC_OK ||
        cli_arg_required(&a, "fhir", &fhir_path, &err) != PC_OK ||
        cli_arg_required(&a, "author", &author, &err) != PC_OK)
        return cli_usage(NAME, &err);
    char hid[PC_HEALTHID_LEN + 1];
    if (pc_healthid_parse(patient, hid, &err) != PC_OK)
        return cli_usage(NAME, &err);

    /* The content first: bad input is refused before any key is opened. */
    json_t *res = NULL;
    if (cli_read_json_file(fhir_path, MAX_FHIR_FILE, &res, &err) != PC_OK)
        return cli_fail(NAME, &err);
    if (pc_fhir_validate(res, &err) != PC_OK) {
        json_decref(res);
        return cli_fail(NAME, &err);
    }
    const char *hi = cli_arg(&a, "hi-type");
    if (hi != NULL && pc_hi_type_from_name(hi) == 0) {
        json_decref(res);
        pc_error_set(&err, PC_EINVAL,
                     "unknown HI type '%s': use OPConsultation, Prescription, DischargeSummary, "
                     "DiagnosticReport, ImmunizationRecord, HealthDocumentRecord or "
                     "WellnessRecord", hi);
        return cli_usage(NAME, &err);
    }
    if (hi == NULL)
        hi = pc_fhir_default_hi_type(res);
    if (hi == NULL) {
        json_decref(res);
        pc_error_set(&err, PC_EINVAL, "no default HI type for this resource: give --hi-type");
        return cli_usage(NAME, &err);
    }
    char date[11];
    const char *given_date = cli_arg(&a, "date");
    int32_t days;
    if (given_date != NULL) {
        if (pc_date_parse(given_date, &days) != PC_OK) {
            json_decref(res);
            pc_error_set(&err, PC_EINVAL, "--date must be a real date YYYY-MM-DD");
            return cli_usage(NAME, &err);
        }
        memcpy(date, given_date, 11);
    } else if (pc_fhir_clinical_date(res, date) != PC_OK) {
        json_decref(res);
        pc_error_set(&err, PC_EINVAL,
                     "%s carries no clinical date (authoredOn, effectiveDateTime, ...): "
                     "add one or give --date", fhir_path);
        return cli_fail(NAME, &err);
    }

    cli_client c;
    pc_keypair akp;
    uint8_t ppk[32], hpk[32];
    char custodian[33], role[16], net[PC_NET_MAX + 1], id[65];
    cli_record rec;
    json_t *reply = NULL;
    bool have_rec = false;
    memset(&akp, 0, sizeof akp);
    if (cli_client_init(&c, cli_arg(&a, "node"), &err) != PC_OK) {
        json_decref(res);
        return cli_fail(NAME, &err);
    }
    rc = cli_key_load(author, cli_arg(&a, "pass-file"), &akp, &err);
    if (rc == PC_OK)
        rc = cli_network(&c, net, &err);
    if (rc == PC_OK)
        rc = cli_patient_key(&c, hid, ppk, NULL, &err);
    if (rc == PC_OK)
        rc = cli_staff_lookup(&c, akp.pk, custodian, role, sizeof role, NULL, 0, &err);
    if (rc == PC_OK && strcmp(role, "doctor") != 0 && strcmp(role, "nurse") != 0)
        rc = pc_error_set(&err, PC_EDENIED, "only a doctor or nurse may add records; this key is a %s",
                          role);
    if (rc == PC_OK)
        rc = cli_hospital_lookup(&c, custodian, hpk, NULL, 0, &err);
    if (rc == PC_OK) {
        cli_record_id_new(id);
        rc = cli_build_record(net, &akp, custodian, hpk, ppk, id, hi, date, res, pc_now_ms(),
                              &rec, &err);
        have_rec = rc == PC_OK;
    }
    if (rc == PC_OK)
        rc = post_record(&c, &rec, &reply, &err);
    if (rc == PC_OK) {
        if (cli_flag(&a, "json")) {
            json_object_set_new(reply, "record", json_string(id));
            json_object_set_new(reply, "hi_type", json_string(hi));
            json_object_set_new(reply, "date", json_string(date));
            json_object_set_new(reply, "custodian", json_string(custodian));
            cli_print_json(reply);
        } else {
            printf("record %s (%s, %s) added for %s; content kept at %s\n", id, hi, date, hid,
                   custodian);
            cli_print_committed("record.add", reply, false);
        }
    }
    if (have_rec)
        cli_record_free(&rec);
    pc_key_wipe(&akp);
    json_decref(res);
    json_decref(reply);
    cli_client_close(&c);
    return rc == PC_OK ? CLI_EXIT_OK : cli_fail(NAME, &err);
}

int cli_cmd_record(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "add") == 0)
        return record_add(argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fputs(HELP, stdout);
        return CLI_EXIT_OK;
    }
    fputs(HELP, stderr);
    return CLI_EXIT_USAGE;
}
