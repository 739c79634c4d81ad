/* Tests for flow control across the consortium (src/node/node_flow.c): lag
 * measured on this node's clock, which peers are waited for (live, not
 * catching up, not silent), the hold decision, and the status figures. Time
 * is passed in, so nothing here sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "node/node_flow.h"

static const pc_flow_options OPT = {.max_lag_ms = 500, .dead_after_ms = 2000, .catchup_lag_ms = 5000};

static pc_flow *open_flow(const pc_flow_options *opt)
{
    pc_flow *f = NULL;
    assert_int_equal(pc_flow_open("city-general", opt, &f), PC_OK);
    assert_non_null(f);
    return f;
}

/* This node applied positions 10, 20, ..., 10*n at 1000, 1100, ... ms. */
static void apply_blocks(pc_flow *f, int n)
{
    for (int i = 1; i <= n; i++)
        pc_flow_applied(f, (uint64_t)(10 * i), 1000 + 100 * (i - 1));
}

static void test_lag_is_age_of_first_missing_block(void **state)
{
    (void)state;
    pc_flow *f = open_flow(&OPT);
    assert_int_equal(pc_flow_lag_ms(f, 0, 5000), 0); /* nothing applied yet */
    apply_blocks(f, 50);                               /* last: pos 500 at 5900 ms */
    /* Has everything, or more: no lag however old our last block is. */
    assert_int_equal(pc_flow_lag_ms(f, 500, 9000), 0);
    assert_int_equal(pc_flow_lag_ms(f, 900, 9000), 0);
    /* At 490: misses 500, applied here at 5900. */
    assert_int_equal(pc_flow_lag_ms(f, 490, 6000), 100);
    /* Between marks: at 455 it misses 460 (applied at 5500). */
    assert_int_equal(pc_flow_lag_ms(f, 455, 6000), 500);
    /* Before the first mark: the first block's age. */
    assert_int_equal(pc_flow_lag_ms(f, 3, 6000), 5000);
    /* A clock reading before the mark never gives a negative lag. */
    assert_int_equal(pc_flow_lag_ms(f, 490, 5000), 0);
    /* Positions that do not grow (a replayed block) add no mark. */
    pc_flow_applied(f, 400, 7000);
    assert_int_equal(pc_flow_lag_ms(f, 490, 6000), 100);
    pc_flow_close(f);
}

static void test_holds_for_a_live_slow_peer_only(void **state)
{
    (void)state;
    pc_flow *f = open_flow(&OPT);
    apply_blocks(f, 50);
    char who[PC_FLOW_ID_MAX] = "";
    int64_t lag = -1;
    /* No peer has published: nothing to wait for. */
    assert_false(pc_flow_should_hold(f, 6000, who, &lag));
    /* A peer 100 ms behind: within max_lag. */
    pc_flow_peer(f, "sunrise-clinic", 490, 5990);
    assert_false(pc_flow_should_hold(f, 6000, who, &lag));
    assert_int_equal(lag, 0);
    /* Another 1,000 ms behind (misses 410, applied at 5000): hold for it. */
    pc_flow_peer(f, "district-hospital", 400, 5990);
    assert_true(pc_flow_should_hold(f, 6000, who, &lag));
    assert_string_equal(who, "district-hospital");
    assert_int_equal(lag, 1000);
    /* It moves on to within max_lag: no more hold. */
    pc_flow_peer(f, "district-hospital", 470, 6050);
    assert_false(pc_flow_should_hold(f, 6100, who, &lag));
    /* Our own published position is never a peer's. */
    pc_flow_peer(f, "city-general", 10, 6100);
    assert_false(pc_flow_should_hold(f, 6100, NULL, NULL));
    pc_flow_close(f);
}

static void test_silent_peer_is_not_waited_for(void **state)
{
    (void)state;
    pc_flow *f = open_flow(&OPT);
    apply_blocks(f, 50);
    pc_flow_peer(f, "sunrise-clinic", 400, 5000); /* 1,000 ms behind at 6000 */
    assert_true(pc_flow_should_hold(f, 6000, NULL, NULL));
    /* The same position again is not a sign of life. */
    pc_flow_peer(f, "sunrise-clinic", 400, 6500);
    assert_true(pc_flow_should_hold(f, 7000, NULL, NULL));
    /* Silent for more than dead_after_ms since it last moved (5000): let go. */
    assert_false(pc_flow_should_hold(f, 7001, NULL, NULL));
    pc_flow_info fi;
    pc_flow_get(f, 7001, &fi);
    assert_int_equal(fi.peers, 1);
    assert_int_equal(fi.waited_for, 0);
    /* It comes back and moves: waited for again. */
    pc_flow_peer(f, "sunrise-clinic", 410, 7100);
    assert_true(pc_flow_should_hold(f, 7100, NULL, NULL));
    pc_flow_close(f);
}

static void test_peer_far_behind_is_catching_up(void **state)
{
    (void)state;
    pc_flow *f = open_flow(&OPT);
    apply_blocks(f, 100); /* pos 10..1000 at 1000..10900 ms */
    /* 6,900 ms behind (misses 50, applied at 1400; now 8300), but moving:
     * it is replaying etcd's window after a downtime, not waited for. */
    pc_flow_peer(f, "sunrise-clinic", 40, 8300);
    assert_false(pc_flow_should_hold(f, 8300, NULL, NULL));
    /* Once within catchup_lag_ms but beyond max_lag_ms: waited for. */
    pc_flow_peer(f, "sunrise-clinic", 600, 8310); /* misses 610, applied at 7000 */
    assert_true(pc_flow_should_hold(f, 8310, NULL, NULL));
    /* catchup_lag_ms 0: every live peer is waited for, however far behind. */
    pc_flow_options all = OPT;
    all.catchup_lag_ms = 0;
    pc_flow *g = open_flow(&all);
    apply_blocks(g, 100);
    pc_flow_peer(g, "sunrise-clinic", 40, 8300);
    assert_true(pc_flow_should_hold(g, 8300, NULL, NULL));
    pc_flow_close(g);
    pc_flow_close(f);
}

static void test_disabled_and_counts(void **state)
{
    (void)state;
    pc_flow_options off = OPT;
    off.max_lag_ms = 0;
    pc_flow *f = open_flow(&off);
    apply_blocks(f, 50);
    pc_flow_peer(f, "sunrise-clinic", 10, 5900);
    assert_false(pc_flow_should_hold(f, 6000, NULL, NULL)); /* off: never holds */
    pc_flow_close(f);

    f = open_flow(&OPT);
    apply_blocks(f, 50);
    pc_flow_peer(f, "sunrise-clinic", 300, 5950);
    pc_flow_peer(f, "district-hospital", 480, 5950);
    pc_flow_count_hold(f, 40);
    pc_flow_count_hold(f, 60);
    pc_flow_info fi;
    pc_flow_get(f, 6000, &fi);
    assert_true(fi.enabled);
    assert_int_equal(fi.max_lag_ms, 500);
    assert_int_equal(fi.peers, 2);
    assert_int_equal(fi.waited_for, 2);
    assert_string_equal(fi.slowest, "sunrise-clinic");
    assert_int_equal(fi.slowest_lag_ms, 2000); /* misses 310, applied at 4000 */
    assert_int_equal(fi.holds, 2);
    assert_int_equal(fi.held_ms, 100);
    /* NULL-safe, and a closed-off flow reports disabled. */
    pc_flow_get(NULL, 6000, &fi);
    assert_false(fi.enabled);
    assert_false(pc_flow_should_hold(NULL, 6000, NULL, NULL));
    pc_flow_close(f);
    pc_flow_close(NULL);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    pc_flow *f = NULL, *unset = open_flow(&OPT);
    f = unset;
    char longid[PC_FLOW_ID_MAX + 8];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(pc_flow_open(longid, &OPT, &f), PC_EINVAL);
    assert_null(f);
    assert_int_equal(pc_flow_open(NULL, &OPT, &f), PC_EINVAL);
    pc_flow_close(unset);
    f = open_flow(&OPT);
    apply_blocks(f, 10);
    pc_flow_peer(f, longid, 1, 1000); /* too long: ignored */
    /* More peers than the table holds: the rest are ignored, no overflow. */
    for (int i = 0; i < PC_FLOW_MAX_PEERS + 10; i++) {
        char id[32];
        snprintf(id, sizeof id, "h%d", i);
        pc_flow_peer(f, id, 100, 1900);
    }
    pc_flow_info fi;
    pc_flow_get(f, 2000, &fi);
    assert_int_equal(fi.peers, PC_FLOW_MAX_PEERS);
    pc_flow_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lag_is_age_of_first_missing_block),
        cmocka_unit_test(test_holds_for_a_live_slow_peer_only),
        cmocka_unit_test(test_silent_peer_is_not_waited_for),
        cmocka_unit_test(test_peer_far_behind_is_catching_up),
        cmocka_unit_test(test_disabled_and_counts),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
