/* parchad: one parcha node. Reads DIR/node.json, opens the ledger and vault,
 * loads the hosted hospitals' keys, starts the pipeline (node_core.h) and the
 * HTTP API (node_http.h), then waits for SIGTERM/SIGINT (clean stop, exit 0)
 * or for the node to report a fatal error (exit 1).
 *
 * Signals are blocked in every thread and taken synchronously by the main
 * thread with sigwait(), so no work happens in a signal handler. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/node_config.h"
#include "node/node_core.h"
#include "node/node_http.h"
#include "node/node_log.h"

int main(int argc, char **argv)
{
    static pc_node_config cfg;
    pc_error err;
    pc_error_clear(&err);

    int rc = pc_node_config_args(&cfg, argc, argv, &err);
    if (rc == PC_NODE_CONFIG_HELP) {
        fputs(pc_node_usage, stdout);
        return 0;
    }
    if (rc != PC_OK) {
        fprintf(stderr, "parchad: %s\n", err.msg);
        return 2;
    }

    /* Before any thread exists: every thread inherits this mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char portfile[1100];
    snprintf(portfile, sizeof portfile, "%s/parchad.port", cfg.data_dir);
    unlink(portfile); /* never leave a stale port for a test to find */

    if (pc_node_config_load(&cfg, &err) != PC_OK) {
        pc_node_log("error", "%s", err.msg);
        pc_node_config_free(&cfg);
        return 1;
    }
    pc_node_log("info", "starting (data %s, version %s)", cfg.data_dir, PC_NODE_VERSION);

    pc_node *node = NULL;
    if (pc_node_open(&cfg, &node, &err) != PC_OK) {
        pc_node_log("error", "cannot start: %s", err.msg);
        pc_node_config_free(&cfg);
        return 1;
    }
    pc_http *http = NULL;
    uint16_t port = 0;
    if (pc_http_start(node, &http, &port, &err) != PC_OK) {
        pc_node_log("error", "cannot start HTTP: %s", err.msg);
        pc_node_close(node);
        pc_node_config_free(&cfg);
        return 1;
    }
    char text[16];
    int tl = snprintf(text, sizeof text, "%u\n", (unsigned)port);
    pc_error perr;
    if (pc_file_write(portfile, text, (size_t)tl, 0644, &perr) != PC_OK)
        pc_node_log("warn", "cannot write %s: %s", portfile, perr.msg);
    bool v6 = strchr(cfg.listen_host, ':') != NULL;
    pc_node_log("info", "parchad ready on %s://%s%s%s:%u", cfg.tls_cert[0] ? "https" : "http",
                v6 ? "[" : "", cfg.listen_host, v6 ? "]" : "", (unsigned)port);

    int sig = 0;
    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGTERM || sig == SIGINT || sig == SIGUSR1)
            break;
    }
    bool failed = pc_node_failed(node);
    pc_node_log(failed ? "error" : "info", "stopping (%s)",
                failed ? "fatal error, see above" : (sig == SIGINT ? "SIGINT" : "SIGTERM"));
    pc_http_quiesce(http);
    pc_node_stop(node);
    pc_http_stop(http);
    pc_node_close(node);
    unlink(portfile);
    pc_node_log("info", "stopped");
    pc_node_config_free(&cfg);
    return failed ? 1 : 0;
}
