/* The SQLite store: migrations, calls, notes, settings, and the claim/lease protocol that
 * makes "logged at most once" hold. Each test works in its own temp dir. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/mem.h"
#include "store/store.h"

struct fx {
    char dir[64];
    char path[128];
    store *st;
    struct user user;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/crmlog-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    char err[ERR_LEN];
    assert_int_equal(store_open(f->path, &f->st, err), 0);
    assert_int_equal(store_user_get(f->st, NULL, &f->user, err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

static struct call_rec mk_call(int64_t user, const char *session, int status)
{
    struct call_rec c;
    memset(&c, 0, sizeof c);
    c.user_id = user;
    c.type = CALL_VOICE;
    c.direction = DIR_INBOUND;
    snprintf(c.session_id, sizeof c.session_id, "%s", session);
    snprintf(c.number, sizeof c.number, "+16505550101");
    c.start_ms = 1700000000000;
    c.duration = 42;
    snprintf(c.result, sizeof c.result, "Accepted");
    c.status = status;
    return c;
}

static int64_t put(struct fx *f, const char *session, int status, int want_changed)
{
    char err[ERR_LEN];
    struct call_rec c = mk_call(f->user.id, session, status), got;
    int changed = -1;
    assert_int_equal(store_call_put(f->st, &c, &changed, err), 0);
    assert_int_equal(changed, want_changed);
    assert_int_equal(store_call_get(f->st, f->user.id, session, &got, err), 0);
    return got.id;
}

static void test_fresh_store_has_one_user(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    assert_string_equal(f->user.name, "agent");
    struct user u;
    assert_int_equal(store_user_get(f->st, "nobody", &u, err), ERR_NOTFOUND);
    /* reopening migrates nothing twice and keeps the user */
    store_close(f->st);
    assert_int_equal(store_open(f->path, &f->st, err), 0);
    assert_int_equal(store_user_get(f->st, "agent", &u, err), 0);
    assert_int_equal(u.id, f->user.id);
}

static void test_open_errors(void **state)
{
    (void)state;
    store *st = (store *)1;
    char err[ERR_LEN] = "";
    assert_int_equal(store_open("postgres://x/y", &st, err), ERR_UNSUPPORTED);
    assert_null(st);
    assert_int_equal(store_open("/nonexistent-dir/x/t.db", &st, err), ERR_IO);
    assert_null(st);
    assert_int_equal(store_open("", &st, err), ERR_INVAL);
}

static void test_put_is_idempotent_and_active_calls_take_news(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    put(f, "s1", ST_UNLOGGED, 1);
    put(f, "s1", ST_UNLOGGED, 0); /* the same record again: nothing */
    int64_t id = put(f, "s2", ST_ACTIVE, 1);
    put(f, "s2", ST_ACTIVE, 2); /* still active: refreshed */
    assert_int_equal(store_note_set(f->st, f->user.id, id, "typed during the call", err), 0);
    struct call_rec ended = mk_call(f->user.id, "s2", ST_UNLOGGED), got;
    ended.duration = 300;
    int changed;
    assert_int_equal(store_call_put(f->st, &ended, &changed, err), 0);
    assert_int_equal(changed, 2);
    assert_int_equal(store_call_get(f->st, f->user.id, "s2", &got, err), 0);
    assert_int_equal(got.status, ST_UNLOGGED);
    assert_int_equal(got.duration, 300);
    char *note = NULL;
    assert_int_equal(store_note_get(f->st, f->user.id, id, &note, err), 0);
    assert_string_equal(note, "typed during the call");
    mem_free(note);
    /* an ended call does not go back to active */
    assert_int_equal(store_call_put(f->st, &ended, &changed, err), 0);
    assert_int_equal(changed, 0);
    int64_t n;
    assert_int_equal(store_calls_count(f->st, f->user.id, -1, &n, err), 0);
    assert_int_equal(n, 2);
}

static void test_get_by_id_or_session(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN], ref[32];
    int64_t id = put(f, "abc-session", ST_UNLOGGED, 1);
    struct call_rec got;
    snprintf(ref, sizeof ref, "%lld", (long long)id);
    assert_int_equal(store_call_get(f->st, f->user.id, ref, &got, err), 0);
    assert_string_equal(got.session_id, "abc-session");
    /* an all-digit session id that is not a crmlog id is found by session */
    put(f, "987654321", ST_UNLOGGED, 1);
    assert_int_equal(store_call_get(f->st, f->user.id, "987654321", &got, err), 0);
    assert_string_equal(got.session_id, "987654321");
    assert_int_equal(store_call_get(f->st, f->user.id, "nope", &got, err), ERR_NOTFOUND);
    assert_non_null(strstr(err, "nope"));
    /* another user sees nothing */
    assert_int_equal(store_call_get(f->st, f->user.id + 1, ref, &got, err), ERR_NOTFOUND);
}

static void test_transactions_roll_back(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    assert_int_equal(store_begin(f->st, err), 0);
    put(f, "t1", ST_UNLOGGED, 1);
    assert_int_equal(store_rollback(f->st), 0);
    struct call_rec got;
    assert_int_equal(store_call_get(f->st, f->user.id, "t1", &got, err), ERR_NOTFOUND);
}

static void test_claim_log_once(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    int64_t id = put(f, "c1", ST_UNLOGGED, 1);
    assert_int_equal(store_call_claim(f->st, f->user.id, id, 60000, err), 0);
    /* a second claimer, and notes, wait while the lease is live */
    assert_int_equal(store_call_claim(f->st, f->user.id, id, 60000, err), ERR_BUSY);
    assert_int_equal(store_note_set(f->st, f->user.id, id, "late", err), ERR_BUSY);
    assert_int_equal(
        store_call_set_logged(f->st, f->user.id, id, "act-1", "7", "Alice", "9", "Renewal", err),
        0);
    assert_int_equal(store_call_claim(f->st, f->user.id, id, 60000, err), ERR_ALREADY);
    assert_int_equal(store_call_set_logged(f->st, f->user.id, id, "act-2", "8", "Bob", "", "", err),
                     ERR_ALREADY);
    assert_int_equal(store_call_release(f->st, f->user.id, id, ST_UNLOGGED, 0, NULL, err),
                     ERR_ALREADY);
    assert_int_equal(store_note_set(f->st, f->user.id, id, "edit", err), ERR_ALREADY);
    struct call_rec got;
    assert_int_equal(store_call_get(f->st, f->user.id, "c1", &got, err), 0);
    assert_int_equal(got.status, ST_LOGGED);
    assert_string_equal(got.log_id, "act-1");
    assert_string_equal(got.contact_name, "Alice");
    assert_string_equal(got.association_id, "9");
    assert_string_equal(got.association_name, "Renewal");
    assert_int_equal(store_call_claim(f->st, f->user.id, 999999, 60000, err), ERR_NOTFOUND);
}

static void test_expired_lease_is_taken_over(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    int64_t id = put(f, "c2", ST_UNLOGGED, 1);
    assert_int_equal(store_call_claim(f->st, f->user.id, id, -1, err), 0); /* already expired */
    assert_int_equal(store_call_claim(f->st, f->user.id, id, 60000, err), 0);
}

static void test_claim_batch_and_release(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    for (int i = 0; i < 10; i++) {
        char s[16];
        snprintf(s, sizeof s, "b%d", i);
        put(f, s, i == 9 ? ST_ACTIVE : ST_UNLOGGED, 1);
    }
    struct call_rec internal = mk_call(f->user.id, "internal", ST_UNLOGGED);
    internal.internal = 1;
    int changed;
    assert_int_equal(store_call_put(f->st, &internal, &changed, err), 0);
    struct call_rec batch[16];
    size_t n = 0;
    assert_int_equal(store_claim_unlogged(f->st, f->user.id, 4, 60000, batch, &n, err), 0);
    assert_int_equal(n, 4);
    size_t more = 0;
    assert_int_equal(store_claim_unlogged(f->st, f->user.id, 16, 60000, batch + 4, &more, err), 0);
    assert_int_equal(more, 5); /* not the active one, not the internal one, not claimed twice */
    size_t none = 0;
    assert_int_equal(store_claim_unlogged(f->st, f->user.id, 16, 60000, batch, &none, err), 0);
    assert_int_equal(none, 0);
    /* an unresolved call keeps its reason and candidates */
    assert_int_equal(store_call_release(f->st, f->user.id, batch[0].id, ST_UNRESOLVED,
                                        CONFLICT_MULTIPLE_CONTACTS,
                                        "[{\"id\":\"1\",\"name\":\"A\"}]", err),
                     0);
    char *cands = NULL;
    assert_int_equal(store_call_candidates(f->st, f->user.id, batch[0].id, &cands, err), 0);
    assert_string_equal(cands, "[{\"id\":\"1\",\"name\":\"A\"}]");
    mem_free(cands);
    struct call_rec got;
    char ref[32];
    snprintf(ref, sizeof ref, "%lld", (long long)batch[0].id);
    assert_int_equal(store_call_get(f->st, f->user.id, ref, &got, err), 0);
    assert_int_equal(got.status, ST_UNRESOLVED);
    assert_int_equal(got.reason, CONFLICT_MULTIPLE_CONTACTS);
    /* a failed one comes back after its retry delay, not before */
    assert_int_equal(store_call_unclaim(f->st, f->user.id, batch[1].id, 60000, err), 0);
    assert_int_equal(store_call_unclaim(f->st, f->user.id, batch[2].id, 0, err), 0);
    assert_int_equal(store_claim_unlogged(f->st, f->user.id, 16, 60000, batch, &n, err), 0);
    assert_int_equal(n, 1);
}

static void test_list_newest_first_and_by_status(void **state);

struct walk {
    int n;
    int64_t last;
    int ordered;
};

static int walk_cb(const struct call_rec *c, void *p)
{
    struct walk *w = p;
    if (w->n && c->start_ms > w->last) w->ordered = 0;
    w->last = c->start_ms;
    w->n++;
    return 0;
}

static void test_list_newest_first_and_by_status(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    for (int i = 0; i < 5; i++) {
        struct call_rec c = mk_call(f->user.id, "", ST_UNLOGGED);
        snprintf(c.session_id, sizeof c.session_id, "l%d", i);
        c.start_ms = 1700000000000 + (i * 7919 % 5) * 1000;
        c.status = i == 0 ? ST_ACTIVE : ST_UNLOGGED;
        int changed;
        assert_int_equal(store_call_put(f->st, &c, &changed, err), 0);
    }
    struct walk w = {.ordered = 1};
    assert_int_equal(store_calls_list(f->st, f->user.id, -1, walk_cb, &w, err), 0);
    assert_int_equal(w.n, 5);
    assert_true(w.ordered);
    struct walk a = {.ordered = 1};
    assert_int_equal(store_calls_list(f->st, f->user.id, ST_ACTIVE, walk_cb, &a, err), 0);
    assert_int_equal(a.n, 1);
}

struct page_walk {
    int n;
    int64_t ids[32];
    int64_t last_ms, last_id;
};

static int page_cb(const struct call_rec *c, const char *note, void *p)
{
    struct page_walk *w = p;
    (void)note;
    if (w->n < 32) w->ids[w->n] = c->id;
    w->n++;
    w->last_ms = c->start_ms;
    w->last_id = c->id;
    return 0;
}

/* Every status is found by its own filter, newest first, page by page, and counted: the
 * index of calls not yet logged leaves logged ones out (migration 6), which are then found
 * by time. */
static void test_pages_and_counts_by_every_status(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    /* 20 calls, start times shuffled; statuses by i % 5. */
    int64_t id_of[20], ms_of[20];
    int status_of[20];
    for (int i = 0; i < 20; i++) {
        char s[16];
        snprintf(s, sizeof s, "p%d", i);
        struct call_rec c = mk_call(f->user.id, s, i % 5 == 0 ? ST_ACTIVE : ST_UNLOGGED);
        c.start_ms = 1700000000000 + (i * 7 % 20) * 1000;
        int changed;
        assert_int_equal(store_call_put(f->st, &c, &changed, err), 0);
        struct call_rec got;
        assert_int_equal(store_call_get(f->st, f->user.id, s, &got, err), 0);
        id_of[i] = got.id;
        ms_of[i] = c.start_ms;
        status_of[i] = c.status;
        if (i % 5 <= 1) continue;
        assert_int_equal(store_call_claim(f->st, f->user.id, got.id, 60000, err), 0);
        if (i % 5 == 2) {
            assert_int_equal(
                store_call_set_logged(f->st, f->user.id, got.id, "a", "1", "A", "", "", err), 0);
            status_of[i] = ST_LOGGED;
        } else {
            status_of[i] = i % 5 == 3 ? ST_UNRESOLVED : ST_REVIEW;
            assert_int_equal(store_call_release(f->st, f->user.id, got.id, status_of[i],
                                                CONFLICT_NO_CONTACT, NULL, err),
                             0);
        }
    }
    const int statuses[] = {ST_ACTIVE, ST_UNLOGGED, ST_LOGGED, ST_UNRESOLVED, ST_REVIEW};
    for (size_t k = 0; k < sizeof statuses / sizeof *statuses; k++) {
        int st = statuses[k];
        int64_t n = -1;
        assert_int_equal(store_calls_count(f->st, f->user.id, st, &n, err), 0);
        assert_int_equal(n, 4);
        /* Two pages of 2 and an empty third, each after the last of the one before. */
        struct page_walk all = {0};
        int64_t before_ms = 0, before_id = 0;
        for (int page = 0; page < 3; page++) {
            struct page_walk w = {0};
            assert_int_equal(
                store_calls_page(f->st, f->user.id, st, before_ms, before_id, 2, page_cb, &w, err),
                0);
            assert_int_equal(w.n, page < 2 ? 2 : 0);
            for (int j = 0; j < w.n; j++)
                all.ids[all.n++] = w.ids[j];
            before_ms = w.last_ms;
            before_id = w.last_id;
        }
        /* Exactly the calls of that status, newest first. */
        int64_t prev_ms = INT64_MAX;
        for (int j = 0; j < all.n; j++) {
            int i = -1;
            for (int x = 0; x < 20; x++)
                if (id_of[x] == all.ids[j]) i = x;
            assert_true(i >= 0);
            assert_int_equal(status_of[i], st);
            assert_true(ms_of[i] < prev_ms);
            prev_ms = ms_of[i];
        }
    }
}

/* A request queued with a lease is claimed already (handed to the server's worker): the
 * store's claim skips it until the lease runs out, or until a starting server releases it. */
static void test_requests_claimed_as_queued_and_released(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    int64_t a = put(f, "q1", ST_UNLOGGED, 1), b = put(f, "q2", ST_UNLOGGED, 1);
    assert_int_equal(store_call_request(f->st, f->user.id, a, "{\"note\":\"a\"}", 60000, err), 0);
    assert_int_equal(store_call_request(f->st, f->user.id, b, "{}", 0, err), 0);
    /* queued twice: refused either way */
    assert_int_equal(store_call_request(f->st, f->user.id, a, "{}", 0, err), ERR_BUSY);
    struct call_rec got[4];
    char *texts[4] = {0};
    size_t n = 0;
    assert_int_equal(store_claim_requests(f->st, 4, 60000, got, texts, &n, err), 0);
    assert_int_equal(n, 1); /* b only: a is claimed */
    assert_int_equal(got[0].id, b);
    mem_free(texts[0]);
    assert_int_equal(store_claim_requests(f->st, 4, 60000, got, texts, &n, err), 0);
    assert_int_equal(n, 0);
    /* a server starting takes both back */
    assert_int_equal(store_requests_release(f->st, err), 0);
    assert_int_equal(store_claim_requests(f->st, 4, 60000, got, texts, &n, err), 0);
    assert_int_equal(n, 2);
    int seen_a = 0;
    for (size_t i = 0; i < n; i++) {
        if (got[i].id == a) {
            seen_a = 1;
            assert_string_equal(texts[i], "{\"note\":\"a\"}");
        }
        mem_free(texts[i]);
    }
    assert_true(seen_a);
}

static void test_settings_raw(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN], val[64];
    assert_int_equal(store_setting_get(f->st, f->user.id, "auto_log", val, sizeof val, err),
                     ERR_NOTFOUND);
    assert_int_equal(store_setting_set(f->st, f->user.id, "auto_log", "on", err), 0);
    assert_int_equal(store_setting_set(f->st, f->user.id, "auto_log", "off", err), 0);
    assert_int_equal(store_setting_get(f->st, f->user.id, "auto_log", val, sizeof val, err), 0);
    assert_string_equal(val, "off");
}

static void test_open_survives_allocation_failures(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    for (long n = 0; n < 50; n++) {
        store *st = NULL;
        mem_fail_after(n);
        int rc = store_open(f->path, &st, err);
        mem_fail_after(-1);
        if (rc == 0) {
            store_close(st);
            break;
        }
        assert_int_equal(rc, ERR_NOMEM);
        assert_null(st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_store_has_one_user, setup, teardown),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test_setup_teardown(test_put_is_idempotent_and_active_calls_take_news, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_get_by_id_or_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions_roll_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_log_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_lease_is_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_batch_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_newest_first_and_by_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pages_and_counts_by_every_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests_claimed_as_queued_and_released, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_settings_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_survives_allocation_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
