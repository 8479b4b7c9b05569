/* The embedded `local` CRM connector, through the generic crm_* interface. Each test runs
 * in its own temp dir with a fresh database file. Row counts are read through a separate
 * SQLite connection, so "changes nothing" is checked on what is committed on disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/mem.h"
#include "crm/crm.h"
#include "store/store.h"

struct fx {
    char dir[64];
    char path[128];
    char config[160];
    crm *c;
};

static void fx_remove(struct fx *f)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/crmlog-crm-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/crmlog.db", f->dir);
    snprintf(f->config, sizeof f->config, "path=%s", f->path);
    char err[ERR_LEN] = "";
    if (crm_open("local", f->config, &f->c, err)) {
        fprintf(stderr, "open: %s\n", err);
        fx_remove(f);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    mem_fail_after(-1);
    crm_close(f->c);
    fx_remove(f);
    free(f);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------- */

struct counts {
    long contacts, phones, assocs, activities, messages;
};

static struct counts count_rows(const struct fx *f)
{
    struct counts n = {0};
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT count(*) FROM crm_contacts),"
                                        " (SELECT count(*) FROM crm_phones),"
                                        " (SELECT count(*) FROM crm_associations),"
                                        " (SELECT count(*) FROM crm_activities),"
                                        " (SELECT count(*) FROM crm_sms_messages)",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    n.contacts = sqlite3_column_int64(s, 0);
    n.phones = sqlite3_column_int64(s, 1);
    n.assocs = sqlite3_column_int64(s, 2);
    n.activities = sqlite3_column_int64(s, 3);
    n.messages = sqlite3_column_int64(s, 4);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static void assert_counts_equal(struct counts a, struct counts b)
{
    assert_int_equal(a.contacts, b.contacts);
    assert_int_equal(a.phones, b.phones);
    assert_int_equal(a.assocs, b.assocs);
    assert_int_equal(a.activities, b.activities);
    assert_int_equal(a.messages, b.messages);
}

/* Adds a contact and returns its id in id (CALL_ID_LEN bytes). */
static void add(crm *c, const char *name, const char *phone, char *id)
{
    char err[ERR_LEN] = "";
    struct crm_contact ct;
    const char *phones[] = {phone};
    int rc = c->ops->add_contact(c, name, phones, 1, NULL, 0, &ct, err);
    if (rc) fprintf(stderr, "add_contact: %s\n", err);
    assert_int_equal(rc, 0);
    snprintf(id, CALL_ID_LEN, "%s", ct.id);
}

static void add_with_assocs(crm *c, const char *name, const char *phone, const char *a1,
                            const char *a2, char *id)
{
    char err[ERR_LEN] = "";
    struct crm_contact ct;
    const char *phones[] = {phone};
    const char *assocs[] = {a1, a2};
    assert_int_equal(c->ops->add_contact(c, name, phones, 1, assocs, 2, &ct, err), 0);
    snprintf(id, CALL_ID_LEN, "%s", ct.id);
}

static int64_t at(const char *iso)
{
    int64_t ms = 0;
    assert_int_equal(time_parse(iso, &ms), 0);
    return ms;
}

static struct call_rec *new_call(const char *session, int64_t start_ms)
{
    struct call_rec *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->user_id = 7;
    snprintf(r->session_id, sizeof r->session_id, "%s", session);
    r->start_ms = start_ms;
    return r;
}

/* Collected activities, copied out of the callback. */
#define MAX_SEEN 16
struct seen {
    size_t n;
    int stop_at; /* return this from the callback once n reaches it; 0 never */
    char id[MAX_SEEN][CALL_ID_LEN];
    char contact[MAX_SEEN][CALL_ID_LEN];
    char assoc[MAX_SEEN][CALL_ID_LEN];
    char kind[MAX_SEEN][8];
    char subject[MAX_SEEN][320];
    char body[MAX_SEEN][512];
    char session[MAX_SEEN][CALL_ID_LEN];
    char fields[MAX_SEEN][128];
};

static int collect(const struct crm_activity *a, void *ctx)
{
    struct seen *s = ctx;
    if (s->n < MAX_SEEN) {
        snprintf(s->id[s->n], CALL_ID_LEN, "%s", a->id);
        snprintf(s->contact[s->n], CALL_ID_LEN, "%s", a->contact_id);
        snprintf(s->assoc[s->n], CALL_ID_LEN, "%s", a->association_id);
        snprintf(s->kind[s->n], 8, "%s", a->kind);
        snprintf(s->subject[s->n], 320, "%s", a->subject);
        snprintf(s->body[s->n], 512, "%s", a->body);
        snprintf(s->session[s->n], CALL_ID_LEN, "%s", a->session_id);
        snprintf(s->fields[s->n], 128, "%s", a->fields_json);
    }
    s->n++;
    return s->stop_at && (int)s->n >= s->stop_at ? 42 : 0;
}

static struct seen *list(crm *c, const char *contact_id)
{
    char err[ERR_LEN] = "";
    struct seen *s = calloc(1, sizeof *s);
    assert_non_null(s);
    int rc = c->ops->list_activities(c, contact_id, collect, s, err);
    if (rc) fprintf(stderr, "list_activities: %s\n", err);
    assert_int_equal(rc, 0);
    return s;
}

/* ---- open / close -------------------------------------------------------------------- */

static void test_open_close_reopen(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN] = "", id[CALL_ID_LEN];
    struct crm_contact ct;

    assert_ptr_equal(crm_find("local"), &crm_local);
    assert_null(crm_find("nope"));
    assert_null(crm_find(NULL));
    crm_close(NULL);

    crm *other = f->c; /* must be set to NULL on failure */
    assert_int_equal(crm_open("nope", f->config, &other, err), ERR_INVAL);
    assert_null(other);
    assert_non_null(strstr(err, "local"));

    add(f->c, "Ann Smith", "(650) 555-0101", id);
    crm_close(f->c);
    f->c = NULL;

    /* Reopening migrates nothing and sees the data. */
    assert_int_equal(crm_open("local", f->config, &f->c, err), 0);
    assert_int_equal(f->c->ops->get_contact(f->c, id, &ct, err), 0);
    assert_string_equal(ct.name, "Ann Smith");
    assert_int_equal(ct.nphones, 1);
    assert_string_equal(ct.phones[0], "+16505550101");

    /* Two handles on one file, as the server's worker threads have. */
    assert_int_equal(crm_open("local", f->config, &other, err), 0);
    struct crm_contact_list *l = calloc(1, sizeof *l);
    assert_non_null(l);
    assert_int_equal(other->ops->find_contacts(other, "+16505550101", l, err), 0);
    assert_int_equal(l->total, 1);
    assert_string_equal(l->items[0].id, id);
    crm_close(other);
    free(l);

    sqlite3 *db;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT count(*), max(version) FROM crm_schema", -1, &s, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 2);
    assert_int_equal(sqlite3_column_int(s, 1), 2);
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void test_bad_config(void **state)
{
    struct fx *f = *state;
    char never[128];
    snprintf(never, sizeof never, "%s/never.db", f->dir);
    static const struct {
        const char *config;
        const char *says;
    } cases[] = {
        {"", "path"},
        {"region=US", "path"},
        {"path=", "empty"},
        {"path=%s;colour=blue", "colour"},
        {"path=%s;region=XX", "XX"},
        {"path=%s;region=USA", "USA"},
        {"path=%s;path=%s", "twice"},
        {"path=%s;region", "key=value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[ERR_LEN] = "", cfg[256];
        crm *c = f->c;
        /* %s: a file in the test's dir that must not be created. */
        snprintf(cfg, sizeof cfg, cases[i].config, never, never);
        assert_int_equal(crm_open("local", cfg, &c, err), ERR_INVAL);
        assert_null(c);
        if (!strstr(err, cases[i].says))
            fail_msg("config '%s': message '%s' lacks '%s'", cfg, err, cases[i].says);
    }
    assert_int_equal(access(never, F_OK), -1);

    /* Against an existing file: refused before touching it. */
    char id0[CALL_ID_LEN], bad[200];
    add(f->c, "Existing", "650 555 0100", id0);
    struct counts before = count_rows(f);
    snprintf(bad, sizeof bad, "path=%s;colour=blue", f->path);
    crm *c0 = f->c;
    assert_int_equal(crm_open("local", bad, &c0, NULL), ERR_INVAL);
    assert_null(c0);
    assert_counts_equal(before, count_rows(f));

    /* A good config with a trailing ';' and an explicit region works. */
    char config[200], err[ERR_LEN] = "";
    crm *c = NULL;
    snprintf(config, sizeof config, "region=GB;path=%s;", f->path);
    assert_int_equal(crm_open("local", config, &c, err), 0);
    char id[CALL_ID_LEN];
    add(c, "London office", "020 7946 0958", id);
    struct crm_contact_list *l = calloc(1, sizeof *l);
    assert_non_null(l);
    assert_int_equal(c->ops->find_contacts(c, "+442079460958", l, err), 0);
    assert_int_equal(l->total, 1);
    assert_string_equal(l->items[0].id, id);
    /* A national number given to find_contacts is read in the handle's region. */
    assert_int_equal(c->ops->find_contacts(c, "020 7946 0958", l, err), 0);
    assert_int_equal(l->total, 1);
    free(l);
    crm_close(c);
}

static void test_schema_newer_than_known(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN] = "";
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO crm_schema VALUES (99, 0)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    crm *c = f->c;
    assert_int_equal(crm_open("local", f->config, &c, err), ERR_UNSUPPORTED);
    assert_null(c);
    assert_non_null(strstr(err, "99"));
}

/* Two handles on one file (one per worker thread): the key still writes once. */
static void test_two_handles_log_once(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN] = "", cid[CALL_ID_LEN], id1[CALL_ID_LEN], id2[CALL_ID_LEN];
    crm *other = NULL;
    struct call_rec *call = new_call("sess-1", at("2026-11-20T10:11:12Z"));
    add(f->c, "Ann", "650 555 0101", cid);
    assert_int_equal(crm_open("local", f->config, &other, err), 0);
    struct crm_log log = {.user_id = 7, .key = "call:7:sess-1", .contact_id = cid, .call = call};
    assert_int_equal(f->c->ops->log_call(f->c, &log, id1, err), 0);
    assert_int_equal(other->ops->log_call(other, &log, id2, err), 0);
    assert_string_equal(id1, id2);
    assert_int_equal(count_rows(f).activities, 1);

    /* A batch open on one handle makes the other wait, then see the result. */
    assert_int_equal(f->c->ops->batch_begin(f->c, err), 0);
    log.key = "call:7:sess-2";
    assert_int_equal(f->c->ops->log_call(f->c, &log, id1, err), 0);
    assert_int_equal(f->c->ops->batch_end(f->c, 1, err), 0);
    assert_int_equal(other->ops->log_call(other, &log, id2, err), 0);
    assert_string_equal(id1, id2);
    assert_int_equal(count_rows(f).activities, 2);
    crm_close(other);
    free(call);
}

/* ---- contacts ------------------------------------------------------------------------ */

static void test_number_formats(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *written;
        const char *e164;
    } cases[] = {
        {"(650) 555-0101", "+16505550101"},      {"650.555.0102", "+16505550102"},
        {"650-555-0103", "+16505550103"},        {"6505550104", "+16505550104"},
        {"1 650 555 0105", "+16505550105"},      {"+1 (650) 555-0106", "+16505550106"},
        {"+1-650-555-0107", "+16505550107"},     {"+16505550108", "+16505550108"},
        {"tel:+1-650-555-0109", "+16505550109"}, {"+44 20 7946 0958", "+442079460958"},
        {"+49 30 1234567", "+49301234567"},      {"  (650)555 0110 ", "+16505550110"},
    };
    char err[ERR_LEN] = "";
    struct crm_contact_list *l = calloc(1, sizeof *l);
    assert_non_null(l);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64], id[CALL_ID_LEN];
        struct crm_contact ct;
        const char *phones[] = {cases[i].written};
        snprintf(name, sizeof name, "Contact %zu", i);
        int rc = f->c->ops->add_contact(f->c, name, phones, 1, NULL, 0, &ct, err);
        if (rc) fail_msg("'%s': %s", cases[i].written, err);
        assert_string_equal(ct.phones[0], cases[i].e164);
        snprintf(id, sizeof id, "%s", ct.id);

        assert_int_equal(f->c->ops->find_contacts(f->c, cases[i].e164, l, err), 0);
        if (l->total != 1 || l->n != 1 || strcmp(l->items[0].id, id))
            fail_msg("'%s' not found as %s", cases[i].written, cases[i].e164);
        assert_string_equal(l->items[0].name, name);
        assert_int_equal(l->items[0].nphones, 1);
        assert_string_equal(l->items[0].phones[0], cases[i].e164);

        /* The written form itself is normalized before the lookup. */
        assert_int_equal(f->c->ops->find_contacts(f->c, cases[i].written, l, err), 0);
        if (l->total != 1 || strcmp(l->items[0].id, id))
            fail_msg("'%s' not found as written", cases[i].written);
    }
    assert_int_equal(f->c->ops->find_contacts(f->c, "(650) 555-0101", l, err), 0);
    assert_int_equal(l->total, 1);
    assert_int_equal(f->c->ops->find_contacts(f->c, "+19995550000", l, err), 0);
    assert_int_equal(l->total, 0);
    assert_int_equal(l->n, 0);
    assert_int_equal(f->c->ops->find_contacts(f->c, "not a number", l, err), ERR_INVAL);
    assert_int_equal(f->c->ops->find_contacts(f->c, NULL, l, err), ERR_INVAL);
    free(l);
}

static void test_shared_number(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN] = "", a[CALL_ID_LEN], b[CALL_ID_LEN];
    struct crm_contact_list *l = calloc(1, sizeof *l);
    assert_non_null(l);

    add(f->c, "Front desk", "(650) 555-0101", a);
    add(f->c, "Reception", "+1 650 555 0101", b);
    assert_int_equal(f->c->ops->find_contacts(f->c, "+16505550101", l, err), 0);
    assert_int_equal(l->total, 2);
    assert_int_equal(l->n, 2);
    assert_string_equal(l->items[0].id, a);
    assert_string_equal(l->items[1].id, b);

    /* One contact with the number written twice (and another number) counts once and keeps
     * all its phones. */
    struct crm_contact ct;
    const char *phones[] = {"650-555-0120", "+1 650 555 0120", "+44 20 7946 0958"};
    assert_int_equal(f->c->ops->add_contact(f->c, "Twice", phones, 3, NULL, 0, &ct, err), 0);
    assert_int_equal(f->c->ops->find_contacts(f->c, "+16505550120", l, err), 0);
    assert_int_equal(l->total, 1);
    assert_int_equal(l->n, 1);
    assert_int_equal(l->items[0].nphones, 3);
    assert_string_equal(l->items[0].phones[2], "+442079460958");

    /* More matches than CRM_MAX_MATCHES: items are the first ones by id, total is all. */
    char first[CALL_ID_LEN] = "";
    for (int i = 0; i < CRM_MAX_MATCHES + 4; i++) {
        char id[CALL_ID_LEN], name[32];
        snprintf(name, sizeof name, "Shared %d", i);
        add(f->c, name, "650 555 0199", id);
        if (i == 0) snprintf(first, sizeof first, "%s", id);
    }
    assert_int_equal(f->c->ops->find_contacts(f->c, "+16505550199", l, err), 0);
    assert_int_equal(l->n, CRM_MAX_MATCHES);
    assert_int_equal(l->total, CRM_MAX_MATCHES + 4);
    assert_string_equal(l->items[0].id, first);
    assert_string_equal(l->items[0].name, "Shared 0");
    assert_string_equal(l->items[CRM_MAX_MATCHES - 1].name, "Shared 15");
    free(l);
}

static void test_get_contact(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN] = "", id[CALL_ID_LEN];
    struct crm_contact ct;

    add(f->c, "Ann Smith", "650.555.0101", id);
    assert_int_equal(f->c->ops->get_contact(f->c, id, &ct, err), 0);
    assert_string_equal(ct.id, id);
    assert_string_equal(ct.name, "Ann Smith");
    assert_int_equal(ct.nphones, 1);
    assert_string_equal(ct.phones[0], "+16505550101");

    static const char *const unknown[] = {"999", "abc", "",   "0",
                                          "-1",  "1x",  "01", "99999999999999999999"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_int_equal(f->c->ops->get_contact(f->c, unknown[i], &ct, err), ERR_NOTFOUND);
        char want[128];
        snprintf(want, sizeof want, "no contact with id %s", unknown[i]);
        assert_string_equal(err, want);
    }
    assert_int_equal(f->c->ops->get_contact(f->c, NULL, &ct, err), ERR_NOTFOUND);
}

static void test_create_contact(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN] = "";
    struct crm_contact ct, got;
    struct crm_contact_list *l = calloc(1, sizeof *l);
    assert_non_null(l);

    assert_int_equal(f->c->ops->create_contact(f->c, "Caller 650", "+16505550142", &ct, err), 0);
    assert_string_equal(ct.name, "Caller 650");
    assert_int_equal(ct.nphones, 1);
    assert_string_equal(ct.phones[0], "+16505550142");
    assert_int_equal(f->c->ops->get_contact(f->c, ct.id, &got, err), 0);
    assert_string_equal(got.name, "Caller 650");
    assert_int_equal(f->c->ops->find_contacts(f->c, "+16505550142", l, err), 0);
    assert_int_equal(l->total, 1);
    assert_string_equal(l->items[0].id, ct.id);

    struct counts before = count_rows(f);
    assert_int_equal(f->c->ops->create_contact(f->c, "", "+16505550143", &ct, err), ERR_INVAL);
    assert_int_equal(f->c->ops->create_contact(f->c, "X", "garbage", &ct, err), ERR_INVAL);
    assert_non_null(strstr(err, "garbage"));
    assert_int_equal(f->c->ops->create_contact(f->c, "X", NULL, &ct, err), ERR_INVAL);
    assert_counts_equal(before, count_rows(f));
    free(l);
}

/* The contacts' version moves with every new contact, from this handle or another, and
 * with nothing else (a refused contact, a log). */
static void test_contacts_version(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN] = "", act[CALL_ID_LEN];
    struct crm_contact ct;
    int64_t v0, v1, v2, v3;
    crm *other;
    assert_int_equal(f->c->ops->contacts_version(f->c, &v0, err), 0);
    assert_int_equal(f->c->ops->create_contact(f->c, "Caller", "+16505550142", &ct, err), 0);
    assert_int_equal(f->c->ops->contacts_version(f->c, &v1, err), 0);
    assert_true(v1 != v0);
    assert_int_equal(f->c->ops->create_contact(f->c, "X", "garbage", NULL, err), ERR_INVAL);
    struct call_rec *call = new_call("sess-v", at("2026-11-20T10:11:12Z"));
    struct crm_log log = {.user_id = 7, .key = "call:7:sess-v", .contact_id = ct.id, .call = call};
    assert_int_equal(f->c->ops->log_call(f->c, &log, act, err), 0);
    assert_int_equal(f->c->ops->contacts_version(f->c, &v2, err), 0);
    assert_true(v2 == v1);
    assert_int_equal(crm_open("local", f->config, &other, err), 0);
    assert_int_equal(other->ops->create_contact(other, "Other", "+16505550143", NULL, err), 0);
    crm_close(other);
    assert_int_equal(f->c->ops->contacts_version(f->c, &v3, err), 0);
    assert_true(v3 != v2);
    free(call);
}

static void test_associations(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN] = "", a[CALL_ID_LEN], b[CALL_ID_LEN];
    struct crm_assoc_list *l = calloc(1, sizeof *l);
    assert_non_null(l);

    add_with_assocs(f->c, "Ann", "650 555 0101", "Deal: 40 chairs", "Order 1017", a);
    add(f->c, "Bob", "650 555 0102", b);

    assert_int_equal(f->c->ops->list_associations(f->c, a, l, err), 0);
    assert_int_equal(l->n, 2);
    assert_int_equal(l->total, 2);
    assert_string_equal(l->items[0].name, "Deal: 40 chairs");
    assert_string_equal(l->items[1].name, "Order 1017");
    assert_true(strtol(l->items[0].id, NULL, 10) < strtol(l->items[1].id, NULL, 10));

    assert_int_equal(f->c->ops->list_associations(f->c, b, l, err), 0);
    assert_int_equal(l->n, 0);
    assert_int_equal(l->total, 0);

    assert_int_equal(f->c->ops->list_associations(f->c, "4242", l, err), ERR_NOTFOUND);
    assert_string_equal(err, "no contact with id 4242");
    assert_int_equal(f->c->ops->list_associations(f->c, "x", l, err), ERR_NOTFOUND);
    free(l);
}

static void test_bad_contacts_change_nothing(void **state)
{
    struct fx *f = *state;
    char long_name[CALL_NAME_LEN + 1];
    memset(long_name, 'n', CALL_NAME_LEN);
    long_name[CALL_NAME_LEN] = '\0';
    static const char *const one[] = {"650 555 0101"};
    static const char *const second_bad[] = {"650 555 0101", "(650) 555-01"};
    static const char *const extension[] = {"1234"};
    static const char *const null_phone[] = {NULL};
    static const char *const nine[] = {"650 555 0101", "650 555 0102", "650 555 0103",
                                       "650 555 0104", "650 555 0105", "650 555 0106",
                                       "650 555 0107", "650 555 0108", "650 555 0109"};
    static const char *const empty_assoc[] = {"Deal", ""};
    static const char *const null_assoc[] = {NULL};
    const struct {
        const char *name;
        const char *const *phones;
        size_t nphones;
        const char *const *assocs;
        size_t nassocs;
        const char *says;
    } cases[] = {
        {"", one, 1, NULL, 0, "empty"},
        {"   ", one, 1, NULL, 0, "empty"},
        {NULL, one, 1, NULL, 0, "missing"},
        {long_name, one, 1, NULL, 0, "too long"},
        {"Ann", second_bad, 2, NULL, 0, "(650) 555-01"},
        {"Ann", extension, 1, NULL, 0, "1234"},
        {"Ann", null_phone, 1, NULL, 0, "missing"},
        {"Ann", one, 0, NULL, 0, "1 to 8"},
        {"Ann", NULL, 1, NULL, 0, "1 to 8"},
        {"Ann", nine, 9, NULL, 0, "1 to 8"},
        {"Ann", one, 1, empty_assoc, 2, "association name is empty"},
        {"Ann", one, 1, null_assoc, 1, "association name is missing"},
        {"Ann", one, 1, NULL, 1, "association"},
    };

    char id[CALL_ID_LEN];
    add_with_assocs(f->c, "Existing", "650 555 0100", "A", "B", id);
    struct counts before = count_rows(f);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[ERR_LEN] = "";
        struct crm_contact ct;
        int rc = f->c->ops->add_contact(f->c, cases[i].name, cases[i].phones, cases[i].nphones,
                                        cases[i].assocs, cases[i].nassocs, &ct, err);
        if (rc != ERR_INVAL) fail_msg("case %zu: rc %d (%s)", i, rc, err);
        if (!strstr(err, cases[i].says))
            fail_msg("case %zu: message '%s' lacks '%s'", i, err, cases[i].says);
        assert_counts_equal(before, count_rows(f));
    }
}

/* ---- logs ---------------------------------------------------------------------------- */

static void test_log_call_once(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN] = "", cid[CALL_ID_LEN], id1[CALL_ID_LEN], id2[CALL_ID_LEN];
    struct call_rec *call = new_call("sess-1", at("2026-11-20T10:11:12Z"));
    struct crm_field_value fv[] = {{"disposition", "connected"}};
    struct crm_log log = {
        .kind = CRM_LOG_CALL,
        .user_id = 7,
        .key = "call:7:sess-1",
        .contact_id = cid,
        .subject = "Call with Ann",
        .body = "Notes: wants 40 chairs",
        .call = call,
        .nfields = 1,
        .fields = fv,
    };

    add(f->c, "Ann", "650 555 0101", cid);
    assert_int_equal(f->c->ops->log_call(f->c, &log, id1, err), 0);
    struct counts after_first = count_rows(f);
    assert_int_equal(after_first.activities, 1);

    /* A retry (say after a crash before the caller's bookkeeping) writes nothing, even if
     * the composed text changed meanwhile. */
    log.subject = "Changed";
    log.nfields = 0;
    assert_int_equal(f->c->ops->log_call(f->c, &log, id2, err), 0);
    assert_string_equal(id1, id2);
    assert_counts_equal(after_first, count_rows(f));

    struct seen *s = list(f->c, cid);
    assert_int_equal(s->n, 1);
    assert_string_equal(s->id[0], id1);
    assert_string_equal(s->contact[0], cid);
    assert_string_equal(s->assoc[0], "");
    assert_string_equal(s->kind[0], "call");
    assert_string_equal(s->subject[0], "Call with Ann");
    assert_string_equal(s->body[0], "Notes: wants 40 chairs");
    assert_string_equal(s->session[0], "sess-1");
    assert_string_equal(s->fields[0], "{\"disposition\":\"connected\"}");
    free(s);

    /* No fields: an empty object. Another key: another activity. */
    log.key = "call:7:sess-2";
    snprintf(call->session_id, sizeof call->session_id, "sess-2");
    assert_int_equal(f->c->ops->log_call(f->c, &log, id2, err), 0);
    assert_string_not_equal(id1, id2);
    s = list(f->c, cid);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->fields[1], "{}");
    assert_string_equal(s->subject[1], "Changed");
    free(s);

    /* The key is per user: another agent logging the same call gets their own activity. */
    log.user_id = 8;
    assert_int_equal(f->c->ops->log_call(f->c, &log, id1, err), 0);
    assert_string_not_equal(id1, id2);
    assert_int_equal(count_rows(f).activities, 3);
    free(call);
}

static void test_log_call_rejects(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN] = "", a[CALL_ID_LEN], b[CALL_ID_LEN], id[CALL_ID_LEN] = "unset";
    struct crm_assoc_list *al = calloc(1, sizeof *al);
    assert_non_null(al);
    add_with_assocs(f->c, "Ann", "650 555 0101", "Ann's deal", "Ann's order", a);
    add_with_assocs(f->c, "Bob", "650 555 0102", "Bob's deal", "Bob's order", b);
    assert_int_equal(f->c->ops->list_associations(f->c, b, al, err), 0);
    char bob_assoc[CALL_ID_LEN];
    snprintf(bob_assoc, sizeof bob_assoc, "%s", al->items[0].id);
    assert_int_equal(f->c->ops->list_associations(f->c, a, al, err), 0);
    char ann_assoc[CALL_ID_LEN];
    snprintf(ann_assoc, sizeof ann_assoc, "%s", al->items[1].id);
    free(al);

    struct call_rec *call = new_call("sess-9", at("2026-11-20T10:11:12Z"));
    struct crm_field_value unknown[] = {{"mood", "happy"}};
    struct crm_field_value bad_value[] = {{"disposition", "angry"}};
    struct crm_field_value twice[] = {{"disposition", "busy"}, {"disposition", "busy"}};
    struct crm_field_value no_value[] = {{"disposition", NULL}};
    const struct {
        const char *contact;
        const char *assoc;
        const char *key;
        const struct crm_field_value *fields;
        size_t nfields;
        int rc;
        const char *says;
    } cases[] = {
        {a, bob_assoc, "k1", NULL, 0, ERR_INVAL, "does not belong"},
        {a, "99999", "k1", NULL, 0, ERR_INVAL, "no association with id 99999"},
        {a, "x", "k1", NULL, 0, ERR_INVAL, "no association"},
        {a, NULL, "k1", unknown, 1, ERR_INVAL, "mood"},
        {a, NULL, "k1", bad_value, 1, ERR_INVAL,
         "disposition must be one of 'connected', 'left voicemail', 'no answer', 'busy', "
         "'wrong number' (got 'angry')"},
        {a, NULL, "k1", twice, 2, ERR_INVAL, "twice"},
        {a, NULL, "k1", no_value, 1, ERR_INVAL, "no value"},
        {"777", NULL, "k1", NULL, 0, ERR_NOTFOUND, "no contact with id 777"},
        {a, NULL, "", NULL, 0, ERR_INVAL, "key"},
        {a, NULL, NULL, NULL, 0, ERR_INVAL, "key"},
    };
    struct counts before = count_rows(f);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct crm_log log = {
            .kind = CRM_LOG_CALL,
            .user_id = 7,
            .key = cases[i].key,
            .contact_id = cases[i].contact,
            .association_id = cases[i].assoc,
            .subject = "s",
            .body = "b",
            .call = call,
            .nfields = cases[i].nfields,
            .fields = cases[i].fields,
        };
        int rc = f->c->ops->log_call(f->c, &log, id, err);
        if (rc != cases[i].rc) fail_msg("case %zu: rc %d (%s)", i, rc, err);
        if (!strstr(err, cases[i].says))
            fail_msg("case %zu: message '%s' lacks '%s'", i, err, cases[i].says);
        assert_string_equal(id, "unset");
        assert_counts_equal(before, count_rows(f));
    }
    struct crm_log nocall = {.key = "k", .contact_id = a};
    assert_int_equal(f->c->ops->log_call(f->c, &nocall, id, err), ERR_INVAL);

    /* The contact's own association and an allowed value work. */
    struct crm_field_value ok[] = {{"disposition", "left voicemail"}};
    struct crm_log log = {.user_id = 7,
                          .key = "k1",
                          .contact_id = a,
                          .association_id = ann_assoc,
                          .call = call,
                          .nfields = 1,
                          .fields = ok};
    assert_int_equal(f->c->ops->log_call(f->c, &log, id, err), 0);
    struct seen *s = list(f->c, a);
    assert_int_equal(s->n, 1);
    assert_string_equal(s->assoc[0], ann_assoc);
    assert_string_equal(s->fields[0], "{\"disposition\":\"left voicemail\"}");
    assert_string_equal(s->subject[0], "");
    free(s);
    free(call);
}

static void test_field_helpers(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN] = "";
    const struct crm_field *d = crm_field_find(f->c, "disposition");
    assert_non_null(d);
    assert_string_equal(d->label, "Disposition");
    assert_int_equal(d->required, 0);
    static const char *const want[] = {"connected", "left voicemail", "no answer", "busy",
                                       "wrong number"};
    size_t n = 0;
    for (; d->choices[n]; n++)
        assert_string_equal(d->choices[n], want[n]);
    assert_int_equal(n, 5);
    assert_null(crm_field_find(f->c, "Disposition"));
    assert_null(crm_field_find(f->c, NULL));
    assert_null(crm_field_find(NULL, "disposition"));
    assert_int_equal(crm_field_check(d, "busy", err), 0);
    assert_int_equal(crm_field_check(d, "Busy", err), ERR_INVAL);
    assert_non_null(strstr(err, "'wrong number'"));
    struct crm_field free_text = {.name = "deal", .label = "Deal"};
    assert_int_equal(crm_field_check(&free_text, "anything", err), 0);
    assert_int_equal(crm_field_check(&free_text, NULL, err), ERR_INVAL);
    assert_int_equal(crm_field_check(NULL, "x", err), ERR_INVAL);
    assert_int_equal(f->c->ops->exact_string_search, 0);
}

static int log_sms(crm *c, const char *contact, const char *msg_id, const char *iso, int dir,
                   const char *text, char *id, char *err)
{
    struct call_rec *m = new_call(msg_id, at(iso));
    m->type = CALL_SMS;
    m->direction = dir;
    snprintf(m->text, sizeof m->text, "%s", text);
    struct crm_log log = {
        .kind = CRM_LOG_SMS,
        .user_id = 7,
        .key = msg_id,
        .contact_id = contact,
        .call = m,
    };
    int rc = c->ops->log_sms(c, &log, id, err);
    free(m);
    return rc;
}

static void test_log_sms(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN] = "", ann[CALL_ID_LEN], bob[CALL_ID_LEN];
    char d1a[CALL_ID_LEN], d1b[CALL_ID_LEN], d2[CALL_ID_LEN], again[CALL_ID_LEN],
        other[CALL_ID_LEN];
    add(f->c, "Ann Smith", "650 555 0101", ann);
    add(f->c, "Bob", "650 555 0102", bob);

    /* Written out of order: the body is in time order anyway. */
    assert_int_equal(
        log_sms(f->c, ann, "m2", "2026-11-20T23:59:59Z", DIR_OUTBOUND, "See you then", d1a, err),
        0);
    assert_int_equal(log_sms(f->c, ann, "m1", "2026-11-20T09:05:00.250Z", DIR_INBOUND,
                             "Can we meet?\nTomorrow?", d1b, err),
                     0);
    assert_string_equal(d1a, d1b);
    assert_int_equal(log_sms(f->c, ann, "m3", "2026-11-21T00:00:00Z", DIR_INBOUND, "Here", d2, err),
                     0);
    assert_string_not_equal(d1a, d2);
    assert_int_equal(
        log_sms(f->c, bob, "m4", "2026-11-20T12:00:00Z", DIR_INBOUND, "Hi", other, err), 0);
    assert_string_not_equal(d1a, other);

    /* The same message again adds nothing, and says where it is. */
    struct counts before = count_rows(f);
    assert_int_equal(
        log_sms(f->c, ann, "m1", "2026-11-20T09:05:00Z", DIR_INBOUND, "Can we meet?", again, err),
        0);
    assert_string_equal(again, d1a);
    assert_counts_equal(before, count_rows(f));
    assert_int_equal(before.messages, 4);
    assert_int_equal(before.activities, 3);

    struct seen *s = list(f->c, ann);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->id[0], d1a);
    assert_string_equal(s->kind[0], "sms");
    assert_string_equal(s->subject[0], "SMS with Ann Smith on 2026-11-20");
    assert_string_equal(s->body[0], "09:05:00 UTC inbound: Can we meet? Tomorrow?\n"
                                    "23:59:59 UTC outbound: See you then");
    char key[CALL_ID_LEN + 32];
    snprintf(key, sizeof key, "sms:7:%s:2026-11-20", ann);
    assert_string_equal(s->session[0], key);
    assert_string_equal(s->fields[0], "{}");
    assert_string_equal(s->subject[1], "SMS with Ann Smith on 2026-11-21");
    assert_string_equal(s->body[1], "00:00:00 UTC inbound: Here");
    free(s);

    /* Bad input writes nothing. */
    assert_int_equal(
        log_sms(f->c, "555", "m9", "2026-11-20T09:00:00Z", DIR_INBOUND, "x", again, err),
        ERR_NOTFOUND);
    assert_int_equal(log_sms(f->c, ann, "", "2026-11-20T09:00:00Z", DIR_INBOUND, "x", again, err),
                     ERR_INVAL);
    assert_int_equal(log_sms(f->c, ann, "m9", "2026-11-20T09:00:00Z", 5, "x", again, err),
                     ERR_INVAL);
    assert_int_equal(log_sms(f->c, ann, "m9", "1969-12-31T23:59:59Z", DIR_INBOUND, "x", again, err),
                     ERR_INVAL);
    assert_counts_equal(before, count_rows(f));
}

static void test_batch(void **state)
{
    struct fx *f = *state;
    const struct crm_ops *ops = f->c->ops;
    char err[ERR_LEN] = "", id[CALL_ID_LEN], act[CALL_ID_LEN];
    struct call_rec *call = new_call("sess-b", at("2026-11-20T10:00:00Z"));

    add(f->c, "Before", "650 555 0100", id);
    struct counts before = count_rows(f);

    assert_int_equal(ops->batch_begin(f->c, err), 0);
    assert_int_equal(ops->batch_begin(f->c, err), ERR_INVAL);
    char a[CALL_ID_LEN];
    add(f->c, "In batch", "650 555 0101", a);
    struct crm_log log = {.user_id = 7, .key = "kb", .contact_id = a, .call = call};
    assert_int_equal(ops->log_call(f->c, &log, act, err), 0);
    assert_int_equal(log_sms(f->c, a, "mb", "2026-11-20T10:00:00Z", DIR_INBOUND, "x", act, err), 0);
    assert_int_equal(ops->batch_end(f->c, 0, err), 0);
    assert_counts_equal(before, count_rows(f));
    struct crm_contact ct;
    assert_int_equal(ops->get_contact(f->c, a, &ct, err), ERR_NOTFOUND);

    /* A failed operation inside a batch undoes only itself. */
    assert_int_equal(ops->batch_begin(f->c, err), 0);
    add(f->c, "Kept", "650 555 0102", a);
    log.contact_id = a;
    log.association_id = "12345";
    assert_int_equal(ops->log_call(f->c, &log, act, err), ERR_INVAL);
    const char *bad[] = {"650 555 0103", "nope"};
    assert_int_equal(ops->add_contact(f->c, "Half", bad, 2, NULL, 0, &ct, err), ERR_INVAL);
    assert_int_equal(ops->batch_end(f->c, 1, err), 0);
    struct counts after = count_rows(f);
    assert_int_equal(after.contacts, before.contacts + 1);
    assert_int_equal(after.phones, before.phones + 1);
    assert_int_equal(after.activities, before.activities);
    assert_int_equal(ops->get_contact(f->c, a, &ct, err), 0);

    assert_int_equal(ops->batch_end(f->c, 1, err), ERR_INVAL);
    assert_int_equal(ops->batch_end(f->c, 0, err), 0);
    free(call);
}

/* In the store's database, on its connection (crm_open_in_store): a batch inside a store
 * transaction is part of it (the store's rollback undoes the log too, and a batch rolled back
 * undoes only the CRM's writes); reads join the store's read group; a write ends a read
 * group the CRM began, without touching the store's; path= is refused there. */
static void test_in_store(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN] = "", id[CALL_ID_LEN], act[CALL_ID_LEN], v[16];
    store *st = NULL;
    crm *c = NULL;
    assert_int_equal(store_open(f->path, &st, err), 0);
    assert_int_equal(crm_open_in_store("local", f->config, st, &c, err), ERR_INVAL);
    assert_null(c);
    assert_int_equal(crm_open_in_store("local", "region=US", st, &c, err), 0);
    assert_true(c->in_store);
    assert_false(f->c->in_store);
    const struct crm_ops *ops = c->ops;
    add(c, "Shared", "650 555 0110", id);
    struct counts before = count_rows(f);
    struct call_rec *call = new_call("sess-s", at("2026-11-20T10:00:00Z"));
    struct crm_log log = {.user_id = 7, .key = "ks", .contact_id = id, .call = call};

    /* The store rolls back: the log, committed by its batch, goes too. */
    assert_int_equal(store_begin(st, err), 0);
    assert_int_equal(ops->batch_begin(c, err), 0);
    assert_int_equal(ops->batch_begin(c, err), ERR_INVAL);
    assert_int_equal(ops->log_call(c, &log, act, err), 0);
    assert_int_equal(ops->batch_end(c, 1, err), 0);
    assert_int_equal(store_rollback(st), 0);
    assert_counts_equal(before, count_rows(f));

    /* The batch rolls back, the store commits: the store's write stays, the log does not. */
    assert_int_equal(store_begin(st, err), 0);
    assert_int_equal(store_setting_set(st, 1, "region", "GB", err), 0);
    assert_int_equal(ops->batch_begin(c, err), 0);
    assert_int_equal(ops->log_call(c, &log, act, err), 0);
    assert_int_equal(ops->batch_end(c, 0, err), 0);
    assert_int_equal(store_commit(st, err), 0);
    assert_counts_equal(before, count_rows(f));
    assert_int_equal(store_setting_get(st, 1, "region", v, sizeof v, err), 0);
    assert_string_equal(v, "GB");

    /* Both commit together: one activity, seen from another connection. */
    assert_int_equal(store_begin(st, err), 0);
    assert_int_equal(ops->batch_begin(c, err), 0);
    assert_int_equal(ops->log_call(c, &log, act, err), 0);
    assert_int_equal(ops->batch_end(c, 1, err), 0);
    assert_int_equal(count_rows(f).activities, before.activities);
    assert_int_equal(store_commit(st, err), 0);
    assert_int_equal(count_rows(f).activities, before.activities + 1);

    /* Reads: the CRM joins the store's read group, which ends them both. */
    struct crm_contact_list l;
    assert_int_equal(store_read_begin(st, err), 0);
    assert_int_equal(ops->read_begin(c, err), 0);
    assert_int_equal(ops->find_contacts(c, "+16505550110", &l, err), 0);
    assert_int_equal(l.n, 1);
    ops->read_end(c);
    store_read_end(st);
    /* A store write inside a read group the CRM began ends that group first (no write on a
     * stale snapshot), and the CRM's end of it leaves the store's writes alone. */
    assert_int_equal(ops->read_begin(c, err), 0);
    assert_int_equal(ops->find_contacts(c, "+16505550110", &l, err), 0);
    assert_int_equal(store_begin(st, err), 0);
    assert_int_equal(store_setting_set(st, 1, "region", "US", err), 0);
    ops->read_end(c);
    assert_int_equal(store_commit(st, err), 0);
    assert_int_equal(store_setting_get(st, 1, "region", v, sizeof v, err), 0);
    assert_string_equal(v, "US");

    free(call);
    crm_close(c);
    store_close(st);
}

static void test_list_activities(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN] = "", a[CALL_ID_LEN], b[CALL_ID_LEN], quiet[CALL_ID_LEN];
    char ids[3][CALL_ID_LEN];
    struct call_rec *call = new_call("s1", at("2026-11-20T10:00:00Z"));
    add(f->c, "Ann", "650 555 0101", a);
    add(f->c, "Bob", "650 555 0102", b);
    add(f->c, "Quiet", "650 555 0103", quiet);

    struct crm_log log = {
        .user_id = 7, .key = "c1", .contact_id = a, .subject = "one", .call = call};
    assert_int_equal(f->c->ops->log_call(f->c, &log, ids[0], err), 0);
    log.key = "c2";
    log.contact_id = b;
    log.subject = "two";
    assert_int_equal(f->c->ops->log_call(f->c, &log, ids[1], err), 0);
    log.key = "c3";
    log.contact_id = a;
    log.subject = "three";
    assert_int_equal(f->c->ops->log_call(f->c, &log, ids[2], err), 0);

    struct seen *s = list(f->c, a);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->id[0], ids[0]);
    assert_string_equal(s->id[1], ids[2]);
    assert_string_equal(s->subject[1], "three");
    free(s);

    s = list(f->c, NULL);
    assert_int_equal(s->n, 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(s->id[i], ids[i]);
    assert_string_equal(s->contact[1], b);
    free(s);

    s = list(f->c, quiet);
    assert_int_equal(s->n, 0);
    free(s);

    /* A non-zero callback return stops the walk and is returned. */
    s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->stop_at = 1;
    assert_int_equal(f->c->ops->list_activities(f->c, NULL, collect, s, err), 42);
    assert_int_equal(s->n, 1);
    assert_int_equal(f->c->ops->list_activities(f->c, "31337", collect, s, err), ERR_NOTFOUND);
    assert_int_equal(f->c->ops->list_activities(f->c, "abc", collect, s, err), ERR_NOTFOUND);
    assert_int_equal(f->c->ops->list_activities(f->c, NULL, NULL, s, err), ERR_INVAL);
    free(s);
    free(call);
}

/* ---- failure sweeps and volume -------------------------------------------------------- */

/* Fails the n-th allocation for n = 0, 1, … until the operation succeeds: every failure must
 * be ERR_NOMEM (the only thing that went wrong) and change nothing. jansson is routed through
 * mem_alloc for this test binary (see main), so its allocations fail too. */
static void test_alloc_failure_sweep(void **state)
{
    struct fx *f = *state;
    char err[ERR_LEN], id[CALL_ID_LEN], cid[CALL_ID_LEN] = "";
    struct crm_contact ct;
    const char *phones[] = {"(650) 555-0101", "+44 20 7946 0958"};
    const char *assocs[] = {"Deal"};
    struct crm_field_value fv[] = {{"disposition", "no answer"}};
    struct call_rec *call = new_call("sess-a", at("2026-11-20T10:00:00Z"));
    snprintf(call->text, sizeof call->text, "hello");

    for (int op = 0; op < 4; op++) {
        long n;
        for (n = 0; n < 10000; n++) {
            struct counts before = count_rows(f);
            int rc;
            struct crm_log log = {.user_id = 7,
                                  .key = "k-alloc",
                                  .contact_id = cid,
                                  .call = call,
                                  .nfields = 1,
                                  .fields = fv};
            crm *c2 = NULL;
            mem_fail_after(n);
            switch (op) {
            case 0:
                rc = f->c->ops->add_contact(f->c, "Ann", phones, 2, assocs, 1, &ct, err);
                break;
            case 1:
                rc = f->c->ops->log_call(f->c, &log, id, err);
                break;
            case 2:
                rc = f->c->ops->log_sms(f->c, &log, id, err);
                break;
            default:
                rc = crm_open("local", f->config, &c2, err);
                break;
            }
            mem_fail_after(-1);
            if (rc == 0) {
                if (op == 0) snprintf(cid, sizeof cid, "%s", ct.id);
                crm_close(c2);
                break;
            }
            if (rc != ERR_NOMEM) fail_msg("op %d, n %ld: rc %d (%s)", op, n, rc, err);
            assert_null(c2);
            assert_counts_equal(before, count_rows(f));
        }
        assert_true(n < 10000);
        /* add_contact allocates nothing of its own (SQLite and libphonenumber use their own
         * allocators); the others must have met failures on the way. */
        if (op > 0) assert_true(n > 0);
    }
    struct seen *s = list(f->c, cid);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->fields[0], "{\"disposition\":\"no answer\"}");
    assert_string_equal(s->body[1], "10:00:00 UTC inbound: hello");
    free(s);
    free(call);
}

static void test_many_contacts(void **state)
{
    struct fx *f = *state;
    enum { N = 10000 };
    char err[ERR_LEN] = "";
    struct crm_contact_list *l = calloc(1, sizeof *l);
    assert_non_null(l);

    assert_int_equal(f->c->ops->batch_begin(f->c, err), 0);
    for (int i = 0; i < N; i++) {
        char name[32], phone[32];
        struct crm_contact ct;
        snprintf(name, sizeof name, "Contact %d", i);
        snprintf(phone, sizeof phone, "(650) 555-%04d", i);
        const char *phones[] = {phone};
        int rc = f->c->ops->add_contact(f->c, name, phones, 1, NULL, 0, &ct, err);
        if (rc) fail_msg("contact %d: %s", i, err);
    }
    assert_int_equal(f->c->ops->batch_end(f->c, 1, err), 0);
    assert_int_equal(count_rows(f).contacts, N);

    for (int i = 0; i < N; i++) {
        char e164[32], name[32];
        snprintf(e164, sizeof e164, "+1650555%04d", i);
        snprintf(name, sizeof name, "Contact %d", i);
        assert_int_equal(f->c->ops->find_contacts(f->c, e164, l, err), 0);
        if (l->total != 1 || strcmp(l->items[0].name, name))
            fail_msg("%s: total %zu", e164, l->total);
    }
    free(l);
}

int main(void)
{
    /* Route jansson through the allocation wrappers so the failure sweep reaches it. */
    json_set_alloc_funcs(mem_alloc, mem_free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_close_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contacts_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_newer_than_known, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_handles_log_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_number_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_contact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_contact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_associations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_contacts_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_call_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_call_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_field_helpers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_sms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_activities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failure_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_contacts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
