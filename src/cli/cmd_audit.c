/* parcha access-log and parcha emergency open: the audit trail a patient
 * reads (every read of their records, by whom and on what basis, emergency
 * reads highlighted), and the break-glass window a doctor opens when the
 * patient cannot consent. */
#include <string.h>
#include "cli/build.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/keys.h"
#include "parcha/healthid.h"

static const char HELP_LOG[] =
    "usage: parcha access-log --patient HEALTH-ID [--node URL] [--json]\n"
    "\n"
    "Every read of a patient's records, newest first: when, who (name and\n"
    "hospital), which hospital served it, how many records, and the basis\n"
    "(patient, custodian, consent or emergency). Emergency reads are marked\n"
    "\"!! EMERGENCY\" (and shown in red on a terminal); open emergency windows\n"
    "are listed first.\n"
    "\n"
    "example:\n"
    "  parcha access-log --patient 7KQ2-M4XD-9P3A-H\n";

static const char HELP_EMERGENCY[] =
    "usage: parcha emergency open --patient HEALTH-ID --doctor KEYFILE [--pass-file F]\n"
    "                             --reason TEXT --hours N [--node URL] [--json]\n"
    "\n"
    "Break the glass: open an emergency window in which this doctor may read\n"
    "all of the patient's records without consent, for N hours (at most the\n"
    "network's policy, 24 by default). The reason is recorded on the chain and\n"
    "every emergency read is shown to the patient in the access log.\n"
    "\n"
    "example:\n"
    "  parcha emergency open --patient 7KQ2-M4XD-9P3A-H --doctor yadav.key \\\n"
    "      --reason \"unconscious after a road accident\" --hours 12\n";

static const char HELP_E[] =
    "usage: parcha emergency open ...   open a break-glass window for a patient\n"
    "(parcha emergency open --help for details)\n";

static const cli_optspec LOG_OPTS[] = {{"patient", true, false}, {NULL, false, false}};
static const cli_optspec OPEN_OPTS[] = {
    {"patient", true, false}, {"doctor", true, false}, {"pass-file", true, false},
    {"reason", true, false},  {"hours", true, false},  {NULL, false, false}};

int cli_cmd_access_log(int argc, char **argv)
{
    static const char NAME[] = "access-log";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP_LOG, LOG_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *patient;
    char hid[PC_HEALTHID_LEN + 1];
    if (cli_arg_required(&a, "patient", &patient, &err) != PC_OK ||
        pc_healthid_parse(patient, hid, &err) != PC_OK)
        return cli_usage(NAME, &err);
    cli_client c;
    if (cli_client_init(&c, cli_arg(&a, "node"), &err) != PC_OK)
        return cli_fail(NAME, &err);
    char path[80];
    json_t *log = NULL, *em = NULL;
    snprintf(path, sizeof path, "/v1/patients/%s/access-log", hid);
    rc = cli_get(&c, path, &log, &err);
    if (rc == PC_OK) {
        snprintf(path, sizeof path, "/v1/patients/%s/emergencies", hid);
        rc = cli_get(&c, path, &em, &err);
    }
    cli_client_close(&c);
    if (rc != PC_OK) {
        json_decref(log);
        return cli_fail(NAME, &err);
    }
    if (cli_flag(&a, "json")) {
        json_t *j = json_pack("{s:s,s:O,s:O}", "patient", hid, "access_log", log,
                              "emergencies", em);
        cli_print_json(j);
        json_decref(j);
        json_decref(log);
        json_decref(em);
        return CLI_EXIT_OK;
    }
    bool tty = cli_stdout_tty();
    const char *red = tty ? "\033[1;31m" : "", *off = tty ? "\033[0m" : "";
    const json_t *ems = json_is_array(em) ? em : json_object_get(em, "emergencies");
    const json_t *rows = json_is_array(log) ? log : json_object_get(log, "access_log");
    size_t i;
    const json_t *r;
    json_array_foreach(ems, i, r) {
        if (!json_is_true(json_object_get(r, "open")))
            continue;
        char until[24];
        cli_format_time(json_integer_value(json_object_get(r, "expires")), until);
        printf("%s!! EMERGENCY WINDOW OPEN until %s: %s (%s), reason: %s%s\n", red, until,
               cli_str(r, "doctor_name"), cli_str(r, "hospital"), cli_str(r, "reason"), off);
    }
    printf("access log of %s: %zu read%s\n", hid, json_array_size(rows),
           json_array_size(rows) == 1 ? "" : "s");
    json_array_foreach(rows, i, r) {
        char when[24];
        cli_format_time(json_integer_value(json_object_get(r, "time")), when);
        bool emergency = json_is_true(json_object_get(r, "emergency")) ||
                         strcmp(cli_str(r, "basis"), "emergency") == 0;
        size_t nrec = json_array_size(json_object_get(r, "records"));
        const char *who = json_string_value(json_object_get(r, "reader_name"));
        bool by_patient = strcmp(cli_str(r, "basis"), "patient") == 0;
        char whobuf[64];
        if (who == NULL && by_patient) {
            who = "the patient";
        } else if (who == NULL) {
            snprintf(whobuf, sizeof whobuf, "key %.10s...", cli_str(r, "reader"));
            who = whobuf;
        }
        const json_t *rh = json_object_get(r, "reader_hospital");
        printf("%s%s  %-12s  %-22s %-18s read %zu record%s at %s%s\n", emergency ? red : "",
               when, emergency ? "!! EMERGENCY" : cli_str(r, "basis"), who,
               json_is_string(rh) ? json_string_value(rh) : "-", nrec, nrec == 1 ? "" : "s",
               cli_str(r, "custodian"), emergency ? off : "");
    }
    json_decref(log);
    json_decref(em);
    return CLI_EXIT_OK;
}

static int emergency_open(int argc, char **argv)
{
    static const char NAME[] = "emergency open";
    cli_args a;
    pc_error err;
    int rc = cli_start(NAME, HELP_EMERGENCY, OPEN_OPTS, 0, 0, argc, argv, &a);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *patient, *doctor, *reason, *hours_s;
    char hid[PC_HEALTHID_LEN + 1];
    int64_t hours;
    if (cli_arg_required(&a, "patient", &patient, &err) != PC_OK ||
        cli_arg_required(&a, "doctor", &doctor, &err) != PC_OK ||
        cli_arg_required(&a, "reason", &reason, &err) != PC_OK ||
        cli_arg_required(&a, "hours", &hours_s, &err) != PC_OK ||
        pc_healthid_parse(patient, hid, &err) != PC_OK ||
        cli_parse_int(hours_s, "--hours", 1, 168, &hours, &err) != PC_OK)
        return cli_usage(NAME, &err);
    if (strlen(reason) < 5 || strlen(reason) > 500) {
        pc_error_set(&err, PC_EINVAL, "--reason must say why, in 5 to 500 characters");
        return cli_usage(NAME, &err);
    }
    cli_client c;
    pc_keypair dkp;
    uint8_t ppk[32];
    char net[PC_NET_MAX + 1], hospital[33], role[16];
    pc_tx tx;
    json_t *reply = NULL;
    memset(&dkp, 0, sizeof dkp);
    memset(&tx, 0, sizeof tx);
    if (cli_client_init(&c, cli_arg(&a, "node"), &err) != PC_OK)
        return cli_fail(NAME, &err);
    rc = cli_key_load(doctor, cli_arg(&a, "pass-file"), &dkp, &err);
    if (rc == PC_OK)
        rc = cli_network(&c, net, &err);
    if (rc == PC_OK)
        rc = cli_patient_key(&c, hid, ppk, NULL, &err);
    if (rc == PC_OK)
        rc = cli_staff_lookup(&c, dkp.pk, hospital, role, sizeof role, NULL, 0, &err);
    if (rc == PC_OK && strcmp(role, "doctor") != 0)
        rc = pc_error_set(&err, PC_EDENIED, "only a doctor may open an emergency window; this key is a %s",
                          role);
    if (rc == PC_OK)
        rc = cli_build_emergency_open(net, &dkp, ppk, hospital, reason, hours, pc_now_ms(), &tx,
                                      &err);
    if (rc == PC_OK)
        rc = cli_submit_tx(&c, &tx, &reply, &err);
    if (rc == PC_OK) {
        if (!cli_flag(&a, "json"))
            printf("emergency window opened on %s for %lld hour%s; every read is shown to the "
                   "patient\n", hid, (long long)hours, hours == 1 ? "" : "s");
        cli_print_committed("emergency.open", reply, cli_flag(&a, "json"));
    }
    pc_key_wipe(&dkp);
    pc_tx_free(&tx);
    json_decref(reply);
    cli_client_close(&c);
    return rc == PC_OK ? CLI_EXIT_OK : cli_fail(NAME, &err);
}

int cli_cmd_emergency(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "open") == 0)
        return emergency_open(argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fputs(HELP_E, stdout);
        return CLI_EXIT_OK;
    }
    fputs(HELP_E, stderr);
    return CLI_EXIT_USAGE;
}
