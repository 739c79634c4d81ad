/* The demo's data (hospitals, staff, patients, records, consents, an
 * emergency, audited reads) for callers other than `parcha demo`: `parcha
 * devnet up --demo` loads the same data into a running multi-node network,
 * through each hospital's own node, so every record's content lands in its
 * custodian's vault and every block is ordered by the network's orderer. */
#ifndef PARCHA_CLI_DEMO_H
#define PARCHA_CLI_DEMO_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "cli/args.h"
#include "cli/offline.h"
#include "parcha/common.h"

/* The demo has this many hospitals: the first CLI_DEMO_HOSPITALS founders of
 * a network carry its staff, patients and records. */
#define CLI_DEMO_HOSPITALS 3

/* Founder i of a demo network: City General Hospital, Sunrise
 * Multispeciality Clinic, District Government Hospital, then "hospital-4",
 * "Hospital 4", ... The endpoint is left empty. */
void cli_demo_hospital(size_t i, cli_hospital_spec *out);

/* Load the demo into a running network. net is an open network whose first
 * CLI_DEMO_HOSPITALS founders are the demo's hospitals (their keys sign
 * staff.enroll and access.log); node_urls[h] is the base URL of founder h's
 * node and vault_paths[h] that node's vault.db, where the staff key files go
 * into the keystore for the web UI's log-in (SQLite allows the running node
 * and this process to share it). Every transaction is posted to the node of
 * the hospital it concerns (records with POST /v1/records at the
 * custodian's node) and each phase waits until its transactions are
 * committed with verdict ok. Key files, passphrases, cards and index.json
 * go into keys_dir, which must not exist. *summary (may be NULL) receives
 * the figures as JSON. Progress goes to stderr. */
int cli_demo_online(cli_offline *net, const char *const *node_urls,
                    const char *const *vault_paths, const char *keys_dir,
                    size_t npatients, json_t **summary, pc_error *err) PC_MUST_USE;

#endif
