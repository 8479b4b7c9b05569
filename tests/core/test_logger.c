/* The logger and the auto-log worker, against a fake exact-string CRM (to see formats
 * tried, failures retried and idempotent rewrites) and against the embedded CRM with two
 * processes racing to log the same call. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "core/logger.h"
#include "core/mem.h"
#include "core/worker.h"
#include "crm/crm.h"
#include "store/store.h"

/* ---- a fake CRM whose phone search compares strings exactly ---- */

#define FAKE_MAX 64
struct fake {
    struct crm base;
    int ncontacts;
    struct {
        char id[16], name[32], phone[32];
        int nassocs;
    } contacts[FAKE_MAX];
    int nlogs;
    struct {
        char key[128], contact[16], assoc[16], body[1024];
    } logs[FAKE_MAX];
    int writes;      /* log_call invocations */
    int fail_writes; /* the next N writes fail with ERR_RETRY */
    char searched[8][32];
    int nsearched;
};

static struct fake fake;

static int f_open(crm **out, const char *config, char *err)
{
    (void)config, (void)err;
    fake.base.ops = NULL; /* set by the test */
    *out = &fake.base;
    return 0;
}

static void f_close(crm *c)
{
    (void)c;
}

static void fill(struct crm_contact *out, int i)
{
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", fake.contacts[i].id);
    snprintf(out->name, sizeof out->name, "%s", fake.contacts[i].name);
}

static int f_find(crm *c, const char *number, struct crm_contact_list *out, char *err)
{
    (void)c, (void)err;
    memset(out, 0, sizeof *out);
    if (fake.nsearched < 8) snprintf(fake.searched[fake.nsearched++], 32, "%s", number);
    for (int i = 0; i < fake.ncontacts; i++)
        if (strcmp(fake.contacts[i].phone, number) == 0) {
            fill(&out->items[out->n++], i);
            out->total++;
        }
    return 0;
}

static int f_get(crm *c, const char *id, struct crm_contact *out, char *err)
{
    (void)c;
    for (int i = 0; i < fake.ncontacts; i++)
        if (strcmp(fake.contacts[i].id, id) == 0) {
            fill(out, i);
            return 0;
        }
    return err_set(err, ERR_NOTFOUND, "no contact %s", id);
}

static int f_create(crm *c, const char *name, const char *e164, struct crm_contact *out, char *err)
{
    (void)c, (void)err;
    int i = fake.ncontacts++;
    snprintf(fake.contacts[i].id, 16, "%d", i + 1);
    snprintf(fake.contacts[i].name, 32, "%s", name);
    snprintf(fake.contacts[i].phone, 32, "%s", e164);
    fill(out, i);
    return 0;
}

static int f_assocs(crm *c, const char *id, struct crm_assoc_list *out, char *err)
{
    (void)c, (void)err;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < fake.ncontacts; i++)
        if (strcmp(fake.contacts[i].id, id) == 0)
            for (int k = 0; k < fake.contacts[i].nassocs; k++) {
                snprintf(out->items[k].id, sizeof out->items[k].id, "%s%d", id, k);
                snprintf(out->items[k].name, sizeof out->items[k].name, "deal %d", k);
                out->n = out->total = (size_t)k + 1;
            }
    return 0;
}

static int f_log(crm *c, const struct crm_log *log, char *id, char *err)
{
    (void)c;
    fake.writes++;
    if (fake.fail_writes > 0) {
        fake.fail_writes--;
        return err_set(err, ERR_RETRY, "rate limited (429)");
    }
    for (int i = 0; i < fake.nlogs; i++)
        if (strcmp(fake.logs[i].key, log->key) == 0) {
            snprintf(id, CALL_ID_LEN, "log%d", i);
            return 0;
        }
    int i = fake.nlogs++;
    snprintf(fake.logs[i].key, 128, "%s", log->key);
    snprintf(fake.logs[i].contact, 16, "%s", log->contact_id);
    snprintf(fake.logs[i].assoc, 16, "%s", log->association_id ? log->association_id : "");
    snprintf(fake.logs[i].body, 1024, "%s", log->body);
    snprintf(id, CALL_ID_LEN, "log%d", i);
    return 0;
}

static const char *const dispositions[] = {"yes", "no", NULL};
static const struct crm_field fake_fields[] = {{"outcome", "Outcome", dispositions, 1}};

static const struct crm_ops fake_ops = {
    .name = "fake",
    .exact_string_search = 1,
    .fields = fake_fields,
    .nfields = 1,
    .open = f_open,
    .close = f_close,
    .find_contacts = f_find,
    .get_contact = f_get,
    .create_contact = f_create,
    .list_associations = f_assocs,
    .log_call = f_log,
    .log_sms = f_log,
};

static const struct worker_opts wopts = {.retry_initial_ms = 60000, .retry_max_ms = 3600000};

/* ---- fixture ---- */

struct fx {
    char dir[64], path[128];
    store *st;
    crm *crm;
    struct logger lg;
};

static void add_fake(const char *phone, const char *name, int nassocs)
{
    int i = fake.ncontacts++;
    snprintf(fake.contacts[i].id, 16, "%d", i + 1);
    snprintf(fake.contacts[i].name, 32, "%s", name);
    snprintf(fake.contacts[i].phone, 32, "%s", phone);
    fake.contacts[i].nassocs = nassocs;
}

static int64_t add_call(struct fx *f, const char *session, const char *number)
{
    struct call_rec c;
    memset(&c, 0, sizeof c);
    c.user_id = f->lg.user.id;
    snprintf(c.session_id, sizeof c.session_id, "%s", session);
    snprintf(c.number, sizeof c.number, "%s", number);
    c.start_ms = 1763000000000;
    c.duration = 125;
    snprintf(c.result, sizeof c.result, "Accepted");
    snprintf(c.recording, sizeof c.recording, "https://media.example/rec/%s", session);
    c.status = ST_UNLOGGED;
    int changed;
    char err[ERR_LEN];
    assert_int_equal(store_call_put(f->st, &c, &changed, err), 0);
    struct call_rec got;
    assert_int_equal(store_call_get(f->st, c.user_id, session, &got, err), 0);
    return got.id;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    memset(&fake, 0, sizeof fake);
    snprintf(f->dir, sizeof f->dir, "/tmp/crmlog-logger-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    char err[ERR_LEN];
    struct user u;
    assert_int_equal(store_open(f->path, &f->st, err), 0);
    assert_int_equal(store_user_get(f->st, NULL, &u, err), 0);
    assert_int_equal(settings_set(f->st, u.id, "phone_formats", "(***) ***-****", err), 0);
    assert_int_equal(settings_set(f->st, u.id, "auto_log", "on", err), 0);
    fake.base.ops = &fake_ops;
    f->crm = &fake.base;
    assert_int_equal(logger_init(&f->lg, f->st, f->crm, &u, err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

static struct log_choice outcome_yes(void)
{
    struct log_choice ch = {.nfields = 1};
    ch.fields[0].name = "outcome";
    ch.fields[0].value = "yes";
    return ch;
}

/* ---- tests ---- */

static void test_formats_tried_on_exact_string_crms(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    add_fake("(650) 555-0101", "Alice", 0);
    struct crm_contact_list l;
    assert_int_equal(logger_match(&f->lg, "+16505550101", &l, err), 0);
    assert_int_equal(l.total, 1);
    assert_string_equal(l.items[0].name, "Alice");
    assert_string_equal(fake.searched[0], "+16505550101");
    assert_string_equal(fake.searched[1], "(650) 555-0101");
    /* a contact found by both forms counts once */
    add_fake("+16505550101", "Alice again", 0);
    assert_int_equal(logger_match(&f->lg, "+16505550101", &l, err), 0);
    assert_int_equal(l.total, 2);
}

static void test_manual_log_composes_and_logs_once(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    add_fake("+16505550101", "Alice", 1);
    int64_t id = add_call(f, "m1", "+16505550101");
    struct log_choice ch = outcome_yes();
    ch.note = "call back Friday";
    struct log_plan plan;
    struct call_rec c;
    assert_int_equal(logger_log(&f->lg, "m1", &ch, &plan, &c, err), 0);
    assert_int_equal(fake.nlogs, 1);
    const char *body = fake.logs[0].body;
    assert_non_null(strstr(body, "Notes: call back Friday"));
    assert_non_null(strstr(body, "Duration: 2m 05s"));
    assert_non_null(strstr(body, "Result: Accepted"));
    assert_non_null(strstr(body, "Recording: https://media.example/rec/m1"));
    assert_non_null(strstr(body, "Date/time: 2025-11-13 02:13:20 UTC"));
    assert_string_equal(fake.logs[0].assoc, "10"); /* the one association, chosen by itself */
    /* again: refused, nothing written */
    assert_int_equal(logger_log(&f->lg, "m1", &ch, &plan, &c, err), ERR_ALREADY);
    assert_int_equal(fake.writes, 1);
    (void)id;
}

static void test_required_and_unknown_fields(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    add_fake("+16505550101", "Alice", 0);
    add_call(f, "r1", "+16505550101");
    struct log_plan plan;
    struct call_rec c;
    assert_int_equal(logger_log(&f->lg, "r1", NULL, &plan, &c, err), ERR_INVAL);
    assert_non_null(strstr(err, "required"));
    struct log_choice ch = outcome_yes();
    ch.fields[0].value = "maybe";
    assert_int_equal(logger_log(&f->lg, "r1", &ch, &plan, &c, err), ERR_INVAL);
    ch.fields[0].name = "mood";
    assert_int_equal(logger_log(&f->lg, "r1", &ch, &plan, &c, err), ERR_INVAL);
    assert_int_equal(fake.writes, 0);
}

static void test_conflicts_and_choices(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    add_fake("+16505550101", "Alice", 0);
    add_fake("+16505550101", "Alan", 3);
    add_call(f, "c1", "+16505550101");
    add_call(f, "c2", "+16505550199");
    struct log_plan plan;
    struct call_rec c;
    struct log_choice ch = outcome_yes();
    assert_int_equal(logger_log(&f->lg, "c1", &ch, &plan, &c, err), ERR_CONFLICT);
    assert_int_equal(plan.reason, CONFLICT_MULTIPLE_CONTACTS);
    assert_int_equal(plan.matches.total, 2);
    char *cands = logger_candidates_json(&plan);
    assert_string_equal(cands,
                        "[{\"id\":\"1\",\"name\":\"Alice\"},{\"id\":\"2\",\"name\":\"Alan\"}]");
    mem_free(cands);
    ch.contact_id = "2";
    assert_int_equal(logger_log(&f->lg, "c1", &ch, &plan, &c, err), ERR_CONFLICT);
    assert_int_equal(plan.reason, CONFLICT_MULTIPLE_ASSOCIATIONS);
    ch.association_id = "99";
    assert_int_equal(logger_log(&f->lg, "c1", &ch, &plan, &c, err), ERR_INVAL);
    ch.association_id = "21";
    assert_int_equal(logger_log(&f->lg, "c1", &ch, &plan, &c, err), 0);
    assert_string_equal(fake.logs[0].assoc, "21");
    /* no contact: a new one only when nobody has the number */
    struct log_choice nc = outcome_yes();
    assert_int_equal(logger_log(&f->lg, "c2", &nc, &plan, &c, err), ERR_CONFLICT);
    assert_int_equal(plan.reason, CONFLICT_NO_CONTACT);
    nc.new_contact = "Walk-in";
    assert_int_equal(logger_log(&f->lg, "c2", &nc, &plan, &c, err), 0);
    assert_string_equal(fake.contacts[2].phone, "+16505550199");
    assert_string_equal(c.contact_name, "Walk-in");
    add_call(f, "c3", "+16505550101");
    assert_int_equal(logger_log(&f->lg, "c3", &nc, &plan, &c, err), ERR_INVAL);
    assert_int_equal(fake.ncontacts, 3);
}

static void test_crash_between_write_and_mark_logs_once(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    add_fake("+16505550101", "Alice", 0);
    int64_t id = add_call(f, "k1", "+16505550101");
    struct call_rec c;
    assert_int_equal(store_call_get(f->st, f->lg.user.id, "k1", &c, err), 0);
    struct log_choice ch = outcome_yes();
    struct log_plan plan;
    /* a process claims and writes, then dies before marking the call logged */
    assert_int_equal(store_call_claim(f->st, f->lg.user.id, id, LOGGER_LEASE_MS, err), 0);
    assert_int_equal(logger_plan(&f->lg, &c, &ch, &plan, err), 0);
    assert_int_equal(logger_write(&f->lg, &c, &ch, &plan, err), 0);
    /* while its lease lives, nobody else may log it */
    assert_int_equal(logger_log(&f->lg, "k1", &ch, &plan, &c, err), ERR_BUSY);
    /* the lease runs out; the retry writes the same key and gets the same activity */
    assert_int_equal(store_call_unclaim(f->st, f->lg.user.id, id, 0, err), 0);
    assert_int_equal(logger_log(&f->lg, "k1", &ch, &plan, &c, err), 0);
    assert_int_equal(fake.writes, 2);
    assert_int_equal(fake.nlogs, 1);
    assert_string_equal(c.log_id, "log0");
}

static void test_worker_pass_outcomes_and_retries(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    struct log_choice none = {0};
    (void)none;
    /* the fake's field is required; auto-logs carry no fields, so use a connector without */
    static struct crm_ops ops;
    ops = fake_ops;
    ops.nfields = 0;
    fake.base.ops = &ops;
    add_fake("+16505550101", "Alice", 0);
    add_fake("+16505550102", "Bob", 2);
    add_call(f, "w1", "+16505550101");
    add_call(f, "w2", "+16505550102"); /* two deals */
    add_call(f, "w3", "+16505550199"); /* nobody */
    add_call(f, "w4", "+16505550101");
    fake.fail_writes = 1; /* the CRM answers 429 once */
    struct worker_counts n;
    assert_int_equal(worker_pass(&f->lg, &wopts, &n, err), 0);
    assert_int_equal(n.logged, 1);
    assert_int_equal(n.failed, 1);
    assert_int_equal(n.unresolved, 2);
    /* the failed call waits its retry delay: a pass right away does nothing */
    assert_int_equal(worker_pass(&f->lg, &wopts, &n, err), 0);
    assert_int_equal(n.logged + n.failed + n.unresolved, 0);
    int64_t unlogged;
    assert_int_equal(store_calls_count(f->st, f->lg.user.id, ST_UNLOGGED, &unlogged, err), 0);
    assert_int_equal(unlogged, 1); /* not dropped */
    struct call_rec c;
    const char *failed = fake.logs[0].key[strlen(fake.logs[0].key) - 1] == '1' ? "w4" : "w1";
    assert_int_equal(store_call_get(f->st, f->lg.user.id, failed, &c, err), 0);
    assert_int_equal(c.status, ST_UNLOGGED);
    assert_int_equal(store_call_unclaim(f->st, f->lg.user.id, c.id, 0, err), 0);
    assert_int_equal(worker_pass(&f->lg, &wopts, &n, err), 0);
    assert_int_equal(n.logged, 1);
    assert_int_equal(fake.nlogs, 2);
    assert_int_equal(store_call_get(f->st, f->lg.user.id, "w2", &c, err), 0);
    assert_int_equal(c.status, ST_UNRESOLVED);
    assert_int_equal(c.reason, CONFLICT_MULTIPLE_ASSOCIATIONS);
}

static void test_worker_form_only_and_off(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN];
    static struct crm_ops ops;
    ops = fake_ops;
    ops.nfields = 0;
    fake.base.ops = &ops;
    add_fake("+16505550101", "Alice", 0);
    add_call(f, "v1", "+16505550101");
    struct worker_counts n;
    assert_int_equal(settings_set(f->st, f->lg.user.id, "auto_log", "off", err), 0);
    assert_int_equal(settings_load(f->st, f->lg.user.id, &f->lg.settings, err), 0);
    assert_int_equal(worker_pass(&f->lg, &wopts, &n, err), 0);
    assert_int_equal(n.logged + n.review, 0);
    assert_int_equal(settings_set(f->st, f->lg.user.id, "auto_log", "on", err), 0);
    assert_int_equal(settings_set(f->st, f->lg.user.id, "auto_log_form_only", "on", err), 0);
    assert_int_equal(settings_load(f->st, f->lg.user.id, &f->lg.settings, err), 0);
    assert_int_equal(worker_pass(&f->lg, &wopts, &n, err), 0);
    assert_int_equal(n.review, 1);
    assert_int_equal(fake.writes, 0);
    struct call_rec c;
    struct log_plan plan;
    assert_int_equal(logger_log(&f->lg, "v1", NULL, &plan, &c, err), 0); /* the person confirms */
    assert_int_equal(c.status, ST_LOGGED);
}

/* Two processes log the same call at once through the embedded CRM: one log. */
static void test_race_two_processes(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN], config[256];
    snprintf(config, sizeof config, "path=%s;region=US", f->path);
    crm *local;
    assert_int_equal(crm_open("local", config, &local, err), 0);
    const char *phones[] = {"650-555-0101"};
    struct crm_contact alice;
    assert_int_equal(local->ops->add_contact(local, "Alice", phones, 1, NULL, 0, &alice, err), 0);
    crm_close(local);
    for (int round = 0; round < 20; round++) {
        char session[16];
        snprintf(session, sizeof session, "race%d", round);
        add_call(f, session, "+16505550101");
        pid_t pids[2];
        for (int k = 0; k < 2; k++) {
            if ((pids[k] = fork()) == 0) {
                store *st;
                crm *cr;
                struct user u;
                struct logger lg;
                struct log_plan plan;
                struct call_rec c;
                if (store_open(f->path, &st, err) || store_user_get(st, NULL, &u, err) ||
                    crm_open("local", config, &cr, err) || logger_init(&lg, st, cr, &u, err))
                    _exit(10);
                int rc = logger_log(&lg, session, NULL, &plan, &c, err);
                _exit(rc == 0 ? 0 : rc == ERR_ALREADY ? 4 : rc == ERR_BUSY ? 5 : 11);
            }
        }
        int ok = 0, lost = 0;
        for (int k = 0; k < 2; k++) {
            int status;
            waitpid(pids[k], &status, 0);
            assert_true(WIFEXITED(status));
            int code = WEXITSTATUS(status);
            assert_true(code == 0 || code == 4 || code == 5);
            ok += code == 0;
            lost += code != 0;
        }
        assert_int_equal(ok, 1);
        assert_int_equal(lost, 1);
    }
    /* exactly 20 activities in the CRM */
    assert_int_equal(crm_open("local", config, &local, err), 0);
    int count = 0;
    struct counter {
        int *n;
    } cnt = {&count};
    int cb(const struct crm_activity *a, void *p);
    assert_int_equal(local->ops->list_activities(local, NULL, cb, &cnt, err), 0);
    crm_close(local);
    assert_int_equal(count, 20);
}

int cb(const struct crm_activity *a, void *p)
{
    (void)a;
    (**(int **)p)++;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_formats_tried_on_exact_string_crms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manual_log_composes_and_logs_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_required_and_unknown_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflicts_and_choices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_write_and_mark_logs_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_worker_pass_outcomes_and_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_form_only_and_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_two_processes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
