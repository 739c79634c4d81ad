/* node.json for a consortium across machines (docs/cluster.md): every key is
 * read with its default, relative file paths resolve against the data
 * folder, and each wrong value stops the node with a sentence naming it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/node_config.h"

/* ---------------------------------------------------------------- fixture */

static char dir[64];

static void put(const char *name, const char *text, int mode)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    pc_error err;
    assert_int_equal(pc_file_write(p, text, strlen(text), mode, &err), PC_OK);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/parcha-ccfg-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    char p[128];
    snprintf(p, sizeof p, "%s/pki", dir);
    if (mkdir(p, 0700) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- helpers */

/* Load node.json = text; returns the code, err and c filled. */
static int load(const char *text, pc_node_config *c, pc_error *err)
{
    put("node.json", text, 0600);
    char *argv[] = {"parchad", "--data", dir, NULL};
    assert_int_equal(pc_node_config_args(c, 3, argv, err), PC_OK);
    return pc_node_config_load(c, err);
}

#define BASE "\"network\":\"n\",\"hospital\":\"h1\",\"orderer\":\"etcd\",\"etcd\":{\"endpoints\":[\"http://127.0.0.1:1\"]"

/* ---------------------------------------------------------------- cases */

static void test_defaults(void **state)
{
    (void)state;
    pc_node_config c;
    pc_error err;
    assert_int_equal(load("{" BASE "}}", &c, &err), PC_OK);
    assert_string_equal(c.tls_cert, "");
    assert_string_equal(c.peer_cacert, "");
    assert_int_equal(c.peer_timeout_ms, 5000);
    assert_int_equal(c.peer_read_timeout_ms, 6000);
    assert_int_equal(c.retention_margin, 2000);
    assert_int_equal(c.retention_max_lag, 100000);
    assert_int_equal(c.retention_interval_ms, 10000);
    assert_int_equal(c.publish_every_blocks, 100);
    assert_int_equal(c.ckpt_every_blocks, 100);
    assert_int_equal(c.ckpt_keep, 256);
    assert_int_equal(c.catchup_batch, 200);
    assert_int_equal(c.flow_max_lag_ms, 500);
    assert_int_equal(c.flow_interval_ms, 100);
    assert_int_equal(c.flow_dead_after_ms, 2000);
    assert_int_equal(c.flow_catchup_lag_ms, 5000);
    assert_null(c.etcd_cacert);
    assert_null(c.etcd_password);
    pc_node_config_free(&c);
}

static void test_everything_set(void **state)
{
    (void)state;
    put("pki/ca.crt", "x", 0644);
    put("pki/node.crt", "x", 0644);
    put("pki/node.key", "x", 0600);
    put("etcd.pass", "s3cret\n", 0600);
    char abs[256];
    snprintf(abs, sizeof abs, "%s/pki/ca.crt", dir);
    char text[2048];
    snprintf(text, sizeof text,
             "{" BASE ",\"cacert\":\"%s\",\"cert\":\"pki/node.crt\",\"key\":\"pki/node.key\","
             "\"user\":\"h1\",\"password_file\":\"etcd.pass\",\"stall_timeout_ms\":1500,"
             "\"prefix\":\"/parcha/n/p/\"},"
             "\"tls\":{\"cert\":\"pki/node.crt\",\"key\":\"pki/node.key\"},"
             "\"peer_tls\":{\"cacert\":\"pki/ca.crt\"},"
             "\"peers\":{\"h2\":\"https://10.0.0.2:8443/\"},\"peer_timeout_ms\":1000,"
             "\"peer_read_timeout_ms\":9000,"
             "\"retention\":{\"margin\":50,\"max_lag\":0,\"interval_ms\":0,\"publish_interval_ms\":500,"
             "\"publish_every_blocks\":7},"
             "\"flow_control\":{\"max_lag_ms\":250,\"interval_ms\":20,\"dead_after_ms\":900,"
             "\"catchup_lag_ms\":0},"
             "\"checkpoints\":{\"every_blocks\":10,\"interval_ms\":0,\"keep\":5},\"catchup\":{\"batch\":3}}",
             abs);
    pc_node_config c;
    pc_error err;
    int rc = load(text, &c, &err);
    if (rc != PC_OK)
        fail_msg("%s", err.msg);
    char want[256];
    assert_string_equal(c.etcd_cacert, abs);
    snprintf(want, sizeof want, "%s/pki/node.crt", dir);
    assert_string_equal(c.etcd_cert, want);
    assert_string_equal(c.tls_cert, want);
    snprintf(want, sizeof want, "%s/pki/ca.crt", dir);
    assert_string_equal(c.peer_cacert, want);
    assert_string_equal(c.etcd_password, "s3cret");
    assert_string_equal(c.etcd_user, "h1");
    assert_int_equal(c.etcd_stall_ms, 1500);
    assert_int_equal(c.peer_timeout_ms, 1000);
    assert_int_equal(c.peer_read_timeout_ms, 9000);
    assert_int_equal(c.retention_margin, 50);
    assert_int_equal(c.retention_max_lag, 0);
    assert_int_equal(c.retention_interval_ms, 0);
    assert_int_equal(c.flow_max_lag_ms, 250);
    assert_int_equal(c.flow_interval_ms, 20);
    assert_int_equal(c.flow_dead_after_ms, 900);
    assert_int_equal(c.flow_catchup_lag_ms, 0);
    assert_int_equal(c.publish_interval_ms, 500);
    assert_int_equal(c.publish_every_blocks, 7);
    assert_int_equal(c.ckpt_every_blocks, 10);
    assert_int_equal(c.ckpt_interval_ms, 0);
    assert_int_equal(c.ckpt_keep, 5);
    assert_int_equal(c.catchup_batch, 3);
    pc_node_config_free(&c);
    assert_null(c.etcd_password);
}

static void test_bad_values_are_named(void **state)
{
    (void)state;
    put("pki/node.crt", "x", 0644);
    put("open.pass", "pw\n", 0644);
    put("empty.pass", "\n", 0600);
    put("ok.pass", "pw\n", 0600);
    const struct {
        const char *json;
        const char *msg;
    } bad[] = {
        {"{" BASE "},\"tls\":{\"cert\":\"pki/node.crt\"}}", "tls needs both"},
        {"{" BASE "},\"tls\":{\"cert\":\"pki/missing.crt\",\"key\":\"pki/node.crt\"}}", "tls.cert: cannot read"},
        {"{" BASE "},\"tls\":\"yes\"}", "\"tls\" must be an object"},
        {"{" BASE ",\"cert\":\"pki/node.crt\"}}", "etcd.cert and etcd.key go together"},
        {"{" BASE ",\"user\":\"h1\",\"password_file\":\"open.pass\"}}", "readable by others"},
        {"{" BASE ",\"user\":\"h1\",\"password_file\":\"empty.pass\"}}", "is empty"},
        {"{" BASE ",\"user\":\"h1\",\"password\":\"x\",\"password_file\":\"ok.pass\"}}", "not both"},
        {"{" BASE ",\"password\":\"x\"}}", "needs etcd.user"},
        {"{" BASE ",\"prefix\":\"/parcha/n/q/\"}}", "etcd.prefix"},
        {"{" BASE "},\"peers\":{\"h2\":\"ftp://x\"}}", "peers.h2"},
        {"{" BASE "},\"peers\":{\"Bad Id\":\"http://x\"}}", "not a hospital id"},
        {"{" BASE "},\"peer_timeout_ms\":10}", "peer_timeout_ms"},
        {"{" BASE "},\"retention\":{\"margin\":-1}}", "retention.margin"},
        {"{" BASE "},\"retention\":{\"max_lag\":\"big\"}}", "retention.max_lag"},
        {"{" BASE "},\"retention\":{\"publish_every_blocks\":0}}", "retention.publish_every_blocks"},
        {"{" BASE "},\"flow_control\":[]}", "\"flow_control\" must be an object"},
        {"{" BASE "},\"flow_control\":{\"max_lag_ms\":-1}}", "flow_control.max_lag_ms"},
        {"{" BASE "},\"flow_control\":{\"interval_ms\":5}}", "flow_control.interval_ms"},
        {"{" BASE "},\"flow_control\":{\"max_lag_ms\":800,\"catchup_lag_ms\":800}}", "catchup_lag_ms must be above"},
        {"{" BASE "},\"flow_control\":{\"interval_ms\":500,\"dead_after_ms\":400}}", "dead_after_ms must be above"},
        {"{" BASE "},\"checkpoints\":{\"keep\":0}}", "checkpoints.keep"},
        {"{" BASE "},\"checkpoints\":{\"every_blocks\":1.5}}", "checkpoints.every_blocks"},
        {"{" BASE "},\"catchup\":{\"batch\":100000}}", "catchup.batch"},
        {"{" BASE "},\"peer_tls\":{\"cert\":\"pki/node.crt\"}}", "peer_tls.cert and peer_tls.key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pc_node_config c;
        pc_error err;
        pc_error_clear(&err);
        int rc = load(bad[i].json, &c, &err);
        if (rc != PC_EINVAL || strstr(err.msg, bad[i].msg) == NULL)
            fail_msg("case %zu: rc %d, message '%s', wanted '%s'", i, rc, err.msg, bad[i].msg);
        pc_node_config_free(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_everything_set),
        cmocka_unit_test(test_bad_values_are_named),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
