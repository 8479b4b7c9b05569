/* The `local` connector: an embedded CRM kept in SQLite, by default in the same file as
 * crmlog's store, so crmlog works on a fresh machine with nothing else.
 *
 * Only this file reads or writes the crm_* tables; the store never touches them and this
 * connector never touches the store's. Its schema is numbered independently of the store's
 * (table crm_schema), so each can migrate on its own.
 *
 * Threads: a handle is used by one thread at a time (it owns one sqlite3 connection and its
 * prepared statements). The server opens one handle per worker thread; handles on the same
 * file coordinate through SQLite's locks (WAL, a busy handler), and every write runs in a
 * BEGIN IMMEDIATE transaction so two handles never deadlock upgrading a read to a write.
 *
 * Atomicity: every operation that runs more than one statement either opens its own
 * transaction (outside a batch) or a SAVEPOINT (inside one), and undoes everything on error,
 * so a failed call changes nothing in both cases. */
#include "crm.h"

#include <inttypes.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/err.h"
#include "../core/mem.h"
#include "../core/sqlbusy.h"
#include "../core/sqlvfs.h"
#include "../core/sqlwal.h"
#include "../core/phone.h"

#define LOCAL_REGION_LEN 3                    /* "US" + NUL */
#define LOCAL_BUSY_MS 5000                    /* wait this long for another handle's write lock */
#define LOCAL_KEY_MAX 512                     /* longest idempotency key, in bytes */
#define LOCAL_SMS_BODY_MAX 4194304            /* one day of SMS with one contact, at most */
#define LOCAL_DAY_LEN 11                      /* "YYYY-MM-DD" + NUL */
#define LOCAL_MAX_MS INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */
/* No memory map: SQLite drops a connection's whole mapping at its next read after any other
 * connection's commit, so under a stream of logs every lookup paid for mapping the file
 * again (docs/design.md). */
#define LOCAL_MMAP_SIZE "0"

/* Numbered migrations: entry i takes the crm_* schema from version i to i+1. Append only;
 * never edit an entry that has shipped. */
static const char *const local_migrations[] = {
    /* 1: contacts, their phones and associations, activities, SMS messages. */
    "CREATE TABLE crm_contacts ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    /* The contact's E.164 numbers, space-separated, in crm_phones order: a copy kept so the
     * number lookup reads one row per contact. Contacts are never edited in place. */
    "  phones TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE crm_phones ("
    "  id INTEGER PRIMARY KEY,"
    "  contact_id INTEGER NOT NULL REFERENCES crm_contacts(id) ON DELETE CASCADE,"
    "  raw TEXT NOT NULL,"
    "  e164 TEXT NOT NULL);"
    /* (e164, contact_id) makes the number lookup a covering-index search. */
    "CREATE INDEX crm_phones_e164 ON crm_phones(e164, contact_id);"
    "CREATE INDEX crm_phones_contact ON crm_phones(contact_id);"
    "CREATE TABLE crm_associations ("
    "  id INTEGER PRIMARY KEY,"
    "  contact_id INTEGER NOT NULL REFERENCES crm_contacts(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL);"
    "CREATE INDEX crm_associations_contact ON crm_associations(contact_id);"
    "CREATE TABLE crm_activities ("
    "  id INTEGER PRIMARY KEY,"
    "  key TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL,"
    "  contact_id INTEGER NOT NULL REFERENCES crm_contacts(id),"
    "  association_id INTEGER REFERENCES crm_associations(id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('call', 'sms')),"
    "  subject TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  session_id TEXT NOT NULL,"
    "  fields_json TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  UNIQUE (user_id, key));"
    "CREATE INDEX crm_activities_contact ON crm_activities(contact_id);"
    "CREATE TABLE crm_sms_messages ("
    "  id INTEGER PRIMARY KEY,"
    "  activity_id INTEGER NOT NULL REFERENCES crm_activities(id),"
    "  user_id INTEGER NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  start_ms INTEGER NOT NULL,"
    "  direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),"
    "  text TEXT NOT NULL,"
    "  UNIQUE (user_id, message_id));"
    "CREATE INDEX crm_sms_messages_activity ON crm_sms_messages(activity_id, start_ms);",
    /* 2: a counter that any change to contacts or their numbers moves (contacts_version),
     * kept by triggers so no writer can forget it. */
    "CREATE TABLE crm_contacts_version ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  version INTEGER NOT NULL);"
    "INSERT INTO crm_contacts_version VALUES (1, 0);"
    "CREATE TRIGGER crm_contacts_ins AFTER INSERT ON crm_contacts BEGIN"
    "  UPDATE crm_contacts_version SET version = version + 1; END;"
    "CREATE TRIGGER crm_contacts_upd AFTER UPDATE ON crm_contacts BEGIN"
    "  UPDATE crm_contacts_version SET version = version + 1; END;"
    "CREATE TRIGGER crm_contacts_del AFTER DELETE ON crm_contacts BEGIN"
    "  UPDATE crm_contacts_version SET version = version + 1; END;"
    "CREATE TRIGGER crm_phones_ins AFTER INSERT ON crm_phones BEGIN"
    "  UPDATE crm_contacts_version SET version = version + 1; END;"
    "CREATE TRIGGER crm_phones_upd AFTER UPDATE ON crm_phones BEGIN"
    "  UPDATE crm_contacts_version SET version = version + 1; END;"
    "CREATE TRIGGER crm_phones_del AFTER DELETE ON crm_phones BEGIN"
    "  UPDATE crm_contacts_version SET version = version + 1; END;",
};

#define LOCAL_SCHEMA_VERSION ((int)(sizeof local_migrations / sizeof local_migrations[0]))

/* Statements prepared once at open and reused; each user resets what it stepped before
 * returning, so no read transaction outlives a call. */
#define LOCAL_STMTS(X)                                                                             \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
    X(BEGIN_READ, "BEGIN")                                                                         \
    X(CONTACTS_VERSION, "SELECT version FROM crm_contacts_version")                                \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(SAVEPOINT, "SAVEPOINT crm_local_op")                                                         \
    X(RELEASE, "RELEASE crm_local_op")                                                             \
    X(ROLLBACK_TO, "ROLLBACK TO crm_local_op")                                                     \
    X(BATCH_SAVEPOINT, "SAVEPOINT crm_batch")                                                      \
    X(BATCH_RELEASE, "RELEASE crm_batch")                                                          \
    X(BATCH_ROLLBACK_TO, "ROLLBACK TO crm_batch")                                                  \
    /* Two b-tree searches per contact, in id order straight from the (e164, contact_id) index;    \
     * a contact with the number twice comes twice in a row and is skipped in C. */                \
    X(FIND, "SELECT c.id, c.name, c.phones FROM crm_phones p"                                      \
            " JOIN crm_contacts c ON c.id = p.contact_id WHERE p.e164 = ?1"                        \
            " ORDER BY p.contact_id")                                                              \
    X(FIND_COUNT, "SELECT count(DISTINCT contact_id) FROM crm_phones WHERE e164 = ?1")             \
    X(CONTACT, "SELECT name, phones FROM crm_contacts WHERE id = ?1")                              \
    X(CONTACT_NAME, "SELECT name FROM crm_contacts WHERE id = ?1")                                 \
    X(INS_CONTACT, "INSERT INTO crm_contacts (name, phones, created_ms) VALUES (?1, ?2, ?3)")      \
    X(INS_PHONE, "INSERT INTO crm_phones (contact_id, raw, e164) VALUES (?1, ?2, ?3)")             \
    X(INS_ASSOC, "INSERT INTO crm_associations (contact_id, name) VALUES (?1, ?2)")                \
    X(ASSOCS, "SELECT id, name FROM crm_associations WHERE contact_id = ?1 ORDER BY id")           \
    X(ASSOC_OWNER, "SELECT contact_id FROM crm_associations WHERE id = ?1")                        \
    X(ACT_BY_KEY, "SELECT id, kind FROM crm_activities WHERE user_id = ?1 AND key = ?2")           \
    X(INS_ACT, "INSERT INTO crm_activities (key, user_id, contact_id, association_id, kind,"       \
               " subject, body, session_id, fields_json, created_ms)"                              \
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                                \
    X(MSG_BY_ID,                                                                                   \
      "SELECT activity_id FROM crm_sms_messages WHERE user_id = ?1 AND message_id = ?2")           \
    X(INS_MSG, "INSERT INTO crm_sms_messages (activity_id, user_id, message_id, start_ms,"         \
               " direction, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                \
    X(MSGS, "SELECT start_ms, direction, text FROM crm_sms_messages WHERE activity_id = ?1"        \
            " ORDER BY start_ms, id")                                                              \
    X(SET_BODY, "UPDATE crm_activities SET body = ?2 WHERE id = ?1")

enum {
#define LOCAL_ENUM_(name, sql) ST_##name,
    LOCAL_STMTS(LOCAL_ENUM_)
#undef LOCAL_ENUM_
        ST_COUNT
};

static const char *const local_sql[ST_COUNT] = {
#define LOCAL_SQL_(name, sql) sql,
    LOCAL_STMTS(LOCAL_SQL_)
#undef LOCAL_SQL_
};

/* The handle. Owns every statement in st, and db unless it is the store's (base.in_store:
 * borrowed); freed by local_close. */
struct crm_local {
    struct crm base; /* first, so a crm * is a struct crm_local * */
    sqlite3 *db;
    char region[LOCAL_REGION_LEN]; /* for numbers written without a country code */
    sqlite3_stmt *st[ST_COUNT];
    int reading; /* a read group (read_begin) is open */
    int nested;  /* the batch is a savepoint in the store's transaction */
    struct sqlbusy_turn turn;
};

static const char *const local_dispositions[] = {
    "connected", "left voicemail", "no answer", "busy", "wrong number", NULL,
};

static const struct crm_field local_fields[] = {
    {.name = "disposition", .label = "Disposition", .choices = local_dispositions, .required = 0},
};

/* ---- errors and statements ---------------------------------------------------------- */

/* Maps a SQLite result to an ERR_* code with sqlite3_errmsg in err. `what` names the
 * operation; it never carries note text, names or tokens. */
static int local_db_fail(struct crm_local *l, int rc, const char *what, char *err)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return err_set(err, ERR_RETRY, "local CRM is busy (%s): %s", what, sqlite3_errmsg(l->db));
    case SQLITE_NOMEM:
        return err_set(err, ERR_NOMEM, "local CRM: out of memory (%s)", what);
    default:
        return err_set(err, ERR_DB, "local CRM: %s: %s", what, sqlite3_errmsg(l->db));
    }
}

/* Runs a statement that returns no rows. */
/* A write transaction (ST_BEGIN) takes the process's write turn first and gives it back
 * once it has ended (sqlbusy.h). */
static int local_exec(struct crm_local *l, int id, const char *what, char *err)
{
    sqlite3_stmt *s = l->st[id];
    if (id == ST_BEGIN) sqlbusy_take(&l->turn);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlbusy_settle(&l->turn, l->db);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return local_db_fail(l, rc, what, err);
    return 0;
}

static int local_bind_text(sqlite3_stmt *s, int i, const char *text)
{
    return sqlite3_bind_text(s, i, text ? text : "", -1, SQLITE_STATIC);
}

/* Copies a column's text into out (len bytes), truncating; "" for NULL. */
static void local_column_copy(sqlite3_stmt *s, int col, char *out, size_t len)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    size_t n = t ? (size_t)sqlite3_column_bytes(s, col) : 0;
    if (n >= len) n = len - 1;
    if (n) memcpy(out, t, n);
    out[n] = '\0';
}

/* A read group ends where a write begins, so a write never upgrades a stale snapshot: this
 * handle's own, or the store's on a shared connection. Every write transaction begins
 * IMMEDIATE, so an open one that is not writing is a read group. */
static void local_end_reads(struct crm_local *l)
{
    if (!sqlite3_get_autocommit(l->db) && sqlite3_txn_state(l->db, NULL) != SQLITE_TXN_WRITE)
        local_exec(l, ST_COMMIT, "ending reads", NULL);
    l->reading = 0;
}

/* Starts an atomic unit: its own BEGIN IMMEDIATE transaction outside a batch, a SAVEPOINT
 * inside one. *owned says which, for local_tx_end. */
static int local_tx_begin(struct crm_local *l, int *owned, char *err)
{
    local_end_reads(l);
    *owned = sqlite3_get_autocommit(l->db);
    return local_exec(l, *owned ? ST_BEGIN : ST_SAVEPOINT, "begin", err);
}

/* Ends the unit local_tx_begin started: keeps its writes when rc is 0, else undoes them.
 * Returns rc, or the commit's error when keeping fails (then everything is undone). */
static int local_tx_end(struct crm_local *l, int owned, int rc, char *err)
{
    if (rc == 0) {
        rc = local_exec(l, owned ? ST_COMMIT : ST_RELEASE, "commit", err);
        if (rc == 0) return 0;
    }
    /* Errors undoing are not reported: the first failure is what the caller must read. If
     * SQLite already rolled the whole transaction back (I/O error, out of memory), these
     * fail harmlessly. */
    if (owned) {
        if (!sqlite3_get_autocommit(l->db)) local_exec(l, ST_ROLLBACK, "rollback", NULL);
    } else {
        local_exec(l, ST_ROLLBACK_TO, "rollback", NULL);
        local_exec(l, ST_RELEASE, "rollback", NULL);
    }
    sqlbusy_settle(&l->turn, l->db);
    return rc;
}

/* ---- small parsers ---------------------------------------------------------------- */

/* A positive decimal id as the local CRM writes them: 1..18 digits, no sign, no leading
 * zero, nothing else. */
static int local_parse_id(const char *s, int64_t *out)
{
    if (!s || s[0] < '1' || s[0] > '9') return -1;
    int64_t v = 0;
    size_t i = 0;
    for (; s[i]; i++) {
        if (i >= 18 || s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static void local_format_id(int64_t id, char *out)
{
    snprintf(out, CALL_ID_LEN, "%" PRId64, id);
}

/* Names of contacts and associations: 1..CALL_NAME_LEN-1 bytes, not only blanks. */
static int local_check_name(const char *name, const char *what, char *err)
{
    if (!name) return err_set(err, ERR_INVAL, "%s name is missing", what);
    size_t len = strlen(name);
    if (len >= CALL_NAME_LEN)
        return err_set(err, ERR_INVAL, "%s name is too long (%zu bytes, at most %d)", what, len,
                       CALL_NAME_LEN - 1);
    if (strspn(name, " \t\r\n") == len) return err_set(err, ERR_INVAL, "%s name is empty", what);
    return 0;
}

/* One key=value of the config. */
static int local_config_pair(const char *k, size_t klen, const char *v, size_t vlen, char **path,
                             char *region, int *have_region, char *err)
{
    if (klen == 4 && memcmp(k, "path", 4) == 0) {
        if (*path) return err_set(err, ERR_INVAL, "local CRM config: path given twice");
        if (vlen == 0) return err_set(err, ERR_INVAL, "local CRM config: path is empty");
        *path = mem_strndup(v, vlen);
        if (!*path) return err_set(err, ERR_NOMEM, "out of memory");
        return 0;
    }
    if (klen == 6 && memcmp(k, "region", 6) == 0) {
        if (*have_region) return err_set(err, ERR_INVAL, "local CRM config: region given twice");
        if (vlen == 2) {
            memcpy(region, v, 2);
            region[2] = '\0';
        }
        if (vlen != 2 || !phone_region_valid(region))
            return err_set(err, ERR_INVAL,
                           "local CRM config: region '%.*s' is not a country code like US or GB",
                           (int)(vlen > 16 ? 16 : vlen), v);
        *have_region = 1;
        return 0;
    }
    return err_set(err, ERR_INVAL, "local CRM config: unknown key '%.*s' (known: path, region)",
                   (int)(klen > 64 ? 64 : klen), k);
}

/* "path=FILE;region=CC": path required (in_store: not allowed, the store's database is the
 * file), region defaults to US, nothing else allowed; empty items (";;", a trailing ';')
 * are ignored. *path is the caller's to mem_free, also on error (may be NULL then). */
static int local_parse_config(const char *config, int in_store, char **path, char *region,
                              char *err)
{
    int rc, have_region = 0;
    *path = NULL;
    memcpy(region, "US", LOCAL_REGION_LEN);
    for (const char *p = config ? config : ""; *p;) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len) {
            const char *eq = memchr(p, '=', len);
            if (!eq)
                return err_set(err, ERR_INVAL, "local CRM config: '%.*s' is not key=value",
                               (int)(len > 64 ? 64 : len), p);
            size_t klen = (size_t)(eq - p);
            if ((rc = local_config_pair(p, klen, eq + 1, len - klen - 1, path, region, &have_region,
                                        err)))
                return rc;
        }
        p += len + (end ? 1 : 0);
    }
    if (in_store && *path)
        return err_set(err, ERR_INVAL, "local CRM config: no path here, it is the store's file");
    if (!in_store && !*path)
        return err_set(err, ERR_INVAL, "local CRM config: path=FILE is required");
    return 0;
}

/* ---- open, schema, close ------------------------------------------------------------ */

static int local_pragma(struct crm_local *l, const char *sql, char *err)
{
    /* journal_mode answers with a row; the others with none. */
    if (sqlite3_exec(l->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return local_db_fail(l, sqlite3_errcode(l->db), "setting up the database", err);
    return 0;
}

static int local_schema_version(struct crm_local *l, int *version, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc =
        sqlite3_prepare_v2(l->db, "SELECT coalesce(max(version), 0) FROM crm_schema", -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(s, 0);
        rc = 0;
    } else {
        rc = local_db_fail(l, rc, "reading the CRM schema version", err);
    }
    sqlite3_finalize(s);
    return rc;
}

/* Brings the crm_* tables to LOCAL_SCHEMA_VERSION in one write transaction, so handles
 * opened at the same time by several threads or processes migrate once. */
static int local_migrate(struct crm_local *l, char *err)
{
    int rc, version = 0;
    /* The usual case, already current, needs no write lock: a handle opened while another
     * connection holds a long write transaction need not wait for it. */
    if (local_schema_version(l, &version, NULL) == 0 && version == LOCAL_SCHEMA_VERSION) return 0;
    if (sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return local_db_fail(l, sqlite3_errcode(l->db), "migrating the CRM schema", err);
    if (sqlite3_exec(l->db,
                     "CREATE TABLE IF NOT EXISTS crm_schema ("
                     "  version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
                     NULL, NULL, NULL) != SQLITE_OK) {
        rc = local_db_fail(l, sqlite3_errcode(l->db), "migrating the CRM schema", err);
        goto out;
    }
    if ((rc = local_schema_version(l, &version, err))) goto out;
    if (version > LOCAL_SCHEMA_VERSION) {
        rc = err_set(err, ERR_UNSUPPORTED,
                     "local CRM schema version %d is newer than this crmlog knows (%d)", version,
                     LOCAL_SCHEMA_VERSION);
        goto out;
    }
    for (; version < LOCAL_SCHEMA_VERSION; version++) {
        char sql[128];
        snprintf(sql, sizeof sql, "INSERT INTO crm_schema VALUES (%d, %" PRId64 ")", version + 1,
                 time_now_ms());
        if (sqlite3_exec(l->db, local_migrations[version], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(l->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            rc = local_db_fail(l, sqlite3_errcode(l->db), "migrating the CRM schema", err);
            goto out;
        }
    }
    if (sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = local_db_fail(l, sqlite3_errcode(l->db), "migrating the CRM schema", err);
out:
    if (!sqlite3_get_autocommit(l->db)) sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static void local_close(crm *c)
{
    struct crm_local *l = (struct crm_local *)c;
    if (!l) return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(l->st[i]);
    /* An open batch is rolled back; on the store's connection only a transaction this handle
     * began (it holds the write turn for it), the rest being the store's. */
    if (l->db && !sqlite3_get_autocommit(l->db) && (!l->base.in_store || l->turn.held))
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    if (l->db) sqlbusy_settle(&l->turn, l->db);
    if (!l->base.in_store) sqlite3_close_v2(l->db);
    mem_free(l);
}

/* Migrates the crm_* tables and prepares the statements on l->db. */
static int local_prepare(struct crm_local *l, char *err)
{
    int rc = local_migrate(l, err);
    for (int i = 0; i < ST_COUNT && !rc; i++) {
        int src =
            sqlite3_prepare_v3(l->db, local_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &l->st[i], NULL);
        if (src != SQLITE_OK) rc = local_db_fail(l, src, "preparing statements", err);
    }
    return rc;
}

/* In the store's database, on its connection (crm_open_in_store): config is "region=CC". */
static int local_open_in_store(crm **out, store *st, const char *config, char *err)
{
    char *path = NULL;
    *out = NULL;
    struct crm_local *l = mem_calloc(1, sizeof *l);
    if (!l) return err_set(err, ERR_NOMEM, "out of memory");
    l->base.ops = &crm_local;
    l->base.in_store = 1;
    int rc = local_parse_config(config, 1, &path, l->region, err);
    if (!rc && !(l->db = store_sqlite_db(st)))
        rc = err_set(err, ERR_UNSUPPORTED, "the local CRM needs an SQLite store");
    if (!rc) rc = local_prepare(l, err);
    mem_free(path);
    if (rc) {
        local_close(&l->base);
        return rc;
    }
    *out = &l->base;
    return 0;
}

/* On success *out is a handle the caller closes with crm_close; on error *out is NULL. */
static int local_open(crm **out, const char *config, char *err)
{
    char *path = NULL;
    struct crm_local *l = NULL;
    int rc, src;
    /* NOMUTEX: the handle is never shared between threads at the same time. */
    const int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;

    *out = NULL;
    l = mem_calloc(1, sizeof *l);
    if (!l) {
        rc = err_set(err, ERR_NOMEM, "out of memory");
        goto out;
    }
    l->base.ops = &crm_local;
    if ((rc = local_parse_config(config, 0, &path, l->region, err))) goto out;

    sqlvfs_register(); /* one write per commit to the log (sqlvfs.h) */
    src = sqlite3_open_v2(path, &l->db, flags, NULL);
    if (src != SQLITE_OK) {
        if (!l->db) {
            rc = err_set(err, ERR_NOMEM, "out of memory opening the local CRM");
            goto out;
        }
        rc = err_set(err, (src & 0xff) == SQLITE_BUSY ? ERR_RETRY : ERR_DB,
                     "local CRM: cannot open '%s': %s", path, sqlite3_errmsg(l->db));
        goto out;
    }
    sqlbusy_install(l->db, LOCAL_BUSY_MS);
    sqlwal_install(l->db);
    if ((rc = local_pragma(l, "PRAGMA journal_mode=WAL", err)) ||
        (rc = local_pragma(l, "PRAGMA synchronous=NORMAL", err)) ||
        (rc = local_pragma(l, "PRAGMA foreign_keys=ON", err)) ||
        (rc = local_pragma(l, "PRAGMA mmap_size=" LOCAL_MMAP_SIZE, err)))
        goto out;
    if ((rc = local_prepare(l, err))) goto out;
    *out = &l->base;
    l = NULL;
out:
    if (l) local_close(&l->base);
    mem_free(path);
    return rc;
}

/* ---- contacts ----------------------------------------------------------------------- */

/* The contact's name into name (CALL_NAME_LEN bytes, may be NULL); ERR_NOTFOUND when the id
 * names no contact. */
static int local_contact_name(struct crm_local *l, const char *id, int64_t *cid, char *name,
                              char *err)
{
    if (local_parse_id(id, cid))
        return err_set(err, ERR_NOTFOUND, "no contact with id %.64s", id ? id : "(none)");
    sqlite3_stmt *s = l->st[ST_CONTACT_NAME];
    sqlite3_bind_int64(s, 1, *cid);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (name) local_column_copy(s, 0, name, CALL_NAME_LEN);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = err_set(err, ERR_NOTFOUND, "no contact with id %s", id);
    } else {
        rc = local_db_fail(l, rc, "reading a contact", err);
    }
    sqlite3_reset(s);
    return rc;
}

/* Validates everything first, then writes the contact, its phones and associations in one
 * atomic unit: on any error nothing is written. out (may be NULL) gets the new contact. */
static int local_add_contact(crm *c, const char *name, const char *const *phones, size_t nphones,
                             const char *const *assocs, size_t nassocs, struct crm_contact *out,
                             char *err)
{
    struct crm_local *l = (struct crm_local *)c;
    char e164[CRM_MAX_PHONES][PHONE_LEN];
    char list[CRM_MAX_PHONES * PHONE_LEN]; /* e164, space-separated */
    sqlite3_stmt *s;
    int64_t id = 0;
    int rc, owned = 0;

    if ((rc = local_check_name(name, "contact", err))) return rc;
    if (nphones < 1 || nphones > CRM_MAX_PHONES || !phones)
        return err_set(err, ERR_INVAL, "a contact needs 1 to %d phone numbers, not %zu",
                       CRM_MAX_PHONES, phones ? nphones : 0);
    for (size_t i = 0; i < nphones; i++) {
        char perr[ERR_LEN];
        if (!phones[i]) return err_set(err, ERR_INVAL, "phone number %zu is missing", i + 1);
        if ((rc = phone_to_e164(phones[i], l->region, 0, e164[i], perr)))
            return err_set(err, rc, "contact phone number %zu: %s", i + 1, perr);
    }
    if (nassocs > CRM_MAX_ASSOCS || (nassocs && !assocs))
        return err_set(err, ERR_INVAL, "a contact may have at most %d associations, not %zu",
                       CRM_MAX_ASSOCS, nassocs);
    for (size_t i = 0; i < nassocs; i++)
        if ((rc = local_check_name(assocs[i], "association", err))) return rc;
    for (size_t i = 0, used = 0; i < nphones; i++) {
        size_t n = strlen(e164[i]);
        if (i) list[used++] = ' ';
        memcpy(list + used, e164[i], n + 1);
        used += n;
    }

    if ((rc = local_tx_begin(l, &owned, err))) return rc;
    s = l->st[ST_INS_CONTACT];
    local_bind_text(s, 1, name);
    local_bind_text(s, 2, list);
    sqlite3_bind_int64(s, 3, time_now_ms());
    if ((rc = local_exec(l, ST_INS_CONTACT, "adding a contact", err))) goto out;
    id = sqlite3_last_insert_rowid(l->db);
    s = l->st[ST_INS_PHONE];
    for (size_t i = 0; i < nphones; i++) {
        sqlite3_bind_int64(s, 1, id);
        local_bind_text(s, 2, phones[i]);
        local_bind_text(s, 3, e164[i]);
        if ((rc = local_exec(l, ST_INS_PHONE, "adding a phone number", err))) goto out;
    }
    s = l->st[ST_INS_ASSOC];
    for (size_t i = 0; i < nassocs; i++) {
        sqlite3_bind_int64(s, 1, id);
        local_bind_text(s, 2, assocs[i]);
        if ((rc = local_exec(l, ST_INS_ASSOC, "adding an association", err))) goto out;
    }
out:
    rc = local_tx_end(l, owned, rc, err);
    if (rc == 0 && out) {
        memset(out, 0, sizeof *out);
        local_format_id(id, out->id);
        snprintf(out->name, sizeof out->name, "%s", name);
        out->nphones = nphones;
        for (size_t i = 0; i < nphones; i++)
            memcpy(out->phones[i], e164[i], PHONE_LEN);
    }
    return rc;
}

static int local_create_contact(crm *c, const char *name, const char *e164, struct crm_contact *out,
                                char *err)
{
    const char *phones[1] = {e164};
    return local_add_contact(c, name, phones, 1, NULL, 0, out, err);
}

/* Fills out from a row holding the contact's name and space-separated phones columns. */
static void local_contact_row(sqlite3_stmt *s, int64_t id, int name_col, int phones_col,
                              struct crm_contact *out)
{
    local_format_id(id, out->id);
    local_column_copy(s, name_col, out->name, sizeof out->name);
    const char *p = (const char *)sqlite3_column_text(s, phones_col);
    out->nphones = 0;
    while (p && *p && out->nphones < CRM_MAX_PHONES) {
        size_t n = strcspn(p, " ");
        size_t keep = n < PHONE_LEN ? n : PHONE_LEN - 1;
        memcpy(out->phones[out->nphones], p, keep);
        out->phones[out->nphones++][keep] = '\0';
        p += n;
        p += strspn(p, " ");
    }
}

/* '+' and 1..15 digits: the form numbers are stored in, looked up without parsing. */
static int local_is_e164(const char *s)
{
    if (s[0] != '+') return 0;
    size_t n = 0;
    for (s++; *s; s++, n++)
        if (*s < '0' || *s > '9' || n >= 15) return 0;
    return n > 0;
}

/* The hot path (thousands of lookups a second per thread): one prepared statement over the
 * e164 index, a second only when more contacts match than out can hold; no allocation.
 * A number that is not plain E.164 (national, or formatted like "+1 (650) 555-0101") is
 * normalized in the handle's region first. */
static int local_find_contacts(crm *c, const char *number, struct crm_contact_list *out, char *err)
{
    struct crm_local *l = (struct crm_local *)c;
    char e164[PHONE_LEN];
    int rc = 0, more = 0;
    int64_t last = 0;

    out->n = out->total = 0;
    if (!number) return err_set(err, ERR_INVAL, "no phone number given");
    if (!local_is_e164(number)) {
        if ((rc = phone_to_e164(number, l->region, 0, e164, err))) return rc;
        number = e164;
    }
    sqlite3_stmt *s = l->st[ST_FIND];
    local_bind_text(s, 1, number);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (id == last) continue; /* the same contact has this number twice */
        if (out->n == CRM_MAX_MATCHES) {
            more = 1;
            break;
        }
        last = id;
        local_contact_row(s, id, 1, 2, &out->items[out->n++]);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) goto fail;
    out->total = out->n;
    if (!more) return 0;

    s = l->st[ST_FIND_COUNT];
    local_bind_text(s, 1, number);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        int64_t total = sqlite3_column_int64(s, 0);
        /* Another handle may have written between the two statements. */
        out->total = total > (int64_t)out->n ? (size_t)total : out->n + 1;
    }
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
fail:
    out->n = out->total = 0;
    return local_db_fail(l, rc, "looking up a number", err);
}

static int local_get_contact(crm *c, const char *id, struct crm_contact *out, char *err)
{
    struct crm_local *l = (struct crm_local *)c;
    int64_t cid;
    int rc;

    memset(out, 0, sizeof *out);
    if (local_parse_id(id, &cid))
        return err_set(err, ERR_NOTFOUND, "no contact with id %.64s", id ? id : "(none)");
    sqlite3_stmt *s = l->st[ST_CONTACT];
    sqlite3_bind_int64(s, 1, cid);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) local_contact_row(s, cid, 0, 1, out);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    if (rc == SQLITE_DONE) return err_set(err, ERR_NOTFOUND, "no contact with id %s", id);
    return local_db_fail(l, rc, "reading a contact", err);
}

static int local_list_associations(crm *c, const char *contact_id, struct crm_assoc_list *out,
                                   char *err)
{
    struct crm_local *l = (struct crm_local *)c;
    int64_t cid;
    int rc;

    out->n = out->total = 0;
    if ((rc = local_contact_name(l, contact_id, &cid, NULL, err))) return rc;
    sqlite3_stmt *s = l->st[ST_ASSOCS];
    sqlite3_bind_int64(s, 1, cid);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (out->n < CRM_MAX_ASSOCS) {
            struct crm_assoc *a = &out->items[out->n++];
            local_format_id(sqlite3_column_int64(s, 0), a->id);
            local_column_copy(s, 1, a->name, sizeof a->name);
        }
        out->total++;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        out->n = out->total = 0;
        return local_db_fail(l, rc, "listing associations", err);
    }
    return 0;
}

/* ---- logs --------------------------------------------------------------------------- */

/* The checks log_call and log_sms share: the contact exists (its name into name,
 * CALL_NAME_LEN bytes), the association (if any) is that contact's, and every field is
 * declared, given once, and has an allowed value. */
static int local_check_log(struct crm_local *l, const struct crm_log *log, int64_t *contact,
                           int64_t *assoc, char *name, char *err)
{
    int rc;
    if ((rc = local_contact_name(l, log->contact_id, contact, name, err))) return rc;

    *assoc = 0;
    const char *a = log->association_id;
    if (a && *a) {
        int64_t owner = 0;
        if (local_parse_id(a, assoc))
            return err_set(err, ERR_INVAL, "no association with id %.64s", a);
        sqlite3_stmt *s = l->st[ST_ASSOC_OWNER];
        sqlite3_bind_int64(s, 1, *assoc);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) owner = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return local_db_fail(l, rc, "reading an association", err);
        if (rc == SQLITE_DONE) return err_set(err, ERR_INVAL, "no association with id %s", a);
        if (owner != *contact)
            return err_set(err, ERR_INVAL, "association %s does not belong to contact %s", a,
                           log->contact_id);
    }

    if (log->nfields && !log->fields) return err_set(err, ERR_INVAL, "log fields are missing");
    for (size_t i = 0; i < log->nfields; i++) {
        const struct crm_field_value *v = &log->fields[i];
        if (!v->name) return err_set(err, ERR_INVAL, "log field %zu has no name", i + 1);
        const struct crm_field *f = crm_field_find(&l->base, v->name);
        if (!f)
            return err_set(err, ERR_INVAL, "unknown log field '%.64s' (the local CRM has: %s)",
                           v->name, local_fields[0].name);
        if ((rc = crm_field_check(f, v->value, err))) return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(log->fields[j].name, v->name) == 0)
                return err_set(err, ERR_INVAL, "log field '%s' is given twice", v->name);
    }
    return 0;
}

/* The log's fields as a compact JSON object ({} when none) into *json, which the caller
 * frees with mem_free (NULL on error). */
static int local_fields_json(const struct crm_log *log, char **json, char *err)
{
    int rc = 0;
    *json = NULL;
    if (log->nfields == 0) { /* the common case (auto-log): no JSON work */
        *json = mem_strdup("{}");
        return *json ? 0 : err_set(err, ERR_NOMEM, "out of memory");
    }
    json_t *obj = json_object();
    if (!obj) return err_set(err, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < log->nfields; i++) {
        /* json_string also refuses invalid UTF-8, but values were checked against the
         * declared choices (all ASCII) before, so only memory can fail here. A free-text
         * field would need its own UTF-8 check first. */
        if (json_object_set_new(obj, log->fields[i].name, json_string(log->fields[i].value))) {
            rc = err_set(err, ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
    if (n == 0) {
        rc = err_set(err, ERR_NOMEM, "out of memory");
        goto out;
    }
    *json = mem_alloc(n + 1);
    if (!*json) {
        rc = err_set(err, ERR_NOMEM, "out of memory");
        goto out;
    }
    if (json_dumpb(obj, *json, n, JSON_COMPACT | JSON_SORT_KEYS) != n) {
        mem_free(*json);
        *json = NULL;
        rc = err_set(err, ERR_NOMEM, "out of memory");
        goto out;
    }
    (*json)[n] = '\0';
out:
    json_decref(obj);
    return rc;
}

/* The activity with (user, key): its id and whether it is of `kind`. 0 found, 1 not found,
 * negative on error. */
static int local_activity_by_key(struct crm_local *l, int64_t user, const char *key,
                                 const char *kind, int64_t *id, char *err)
{
    sqlite3_stmt *s = l->st[ST_ACT_BY_KEY];
    sqlite3_bind_int64(s, 1, user);
    local_bind_text(s, 2, key);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        const char *k = (const char *)sqlite3_column_text(s, 1);
        rc = k && strcmp(k, kind) == 0
                 ? 0
                 : err_set(err, ERR_INVAL, "log key is already used by a %s activity",
                           k ? k : "different");
    } else if (rc == SQLITE_DONE) {
        rc = 1;
    } else {
        rc = local_db_fail(l, rc, "looking up a log", err);
    }
    sqlite3_reset(s);
    return rc;
}

static int local_insert_activity(struct crm_local *l, const char *key, int64_t user,
                                 int64_t contact, int64_t assoc, const char *kind,
                                 const char *subject, const char *body, const char *session,
                                 const char *fields_json, int64_t *id, char *err)
{
    sqlite3_stmt *s = l->st[ST_INS_ACT];
    local_bind_text(s, 1, key);
    sqlite3_bind_int64(s, 2, user);
    sqlite3_bind_int64(s, 3, contact);
    if (assoc)
        sqlite3_bind_int64(s, 4, assoc);
    else
        sqlite3_bind_null(s, 4);
    local_bind_text(s, 5, kind);
    local_bind_text(s, 6, subject);
    local_bind_text(s, 7, body);
    local_bind_text(s, 8, session);
    local_bind_text(s, 9, fields_json);
    sqlite3_bind_int64(s, 10, time_now_ms());
    int rc = local_exec(l, ST_INS_ACT, "writing a log", err);
    if (rc == 0) *id = sqlite3_last_insert_rowid(l->db);
    return rc;
}

static int local_check_call(const struct crm_log *log, char *err)
{
    if (!log || !log->call) return err_set(err, ERR_INVAL, "no call to log");
    if (strnlen(log->call->session_id, CALL_ID_LEN) == CALL_ID_LEN)
        return err_set(err, ERR_INVAL, "call session id is not terminated");
    return 0;
}

/* Idempotent on (user, log->key): a key already written returns that activity's id and
 * writes nothing, so a caller that crashed between this write and its own bookkeeping can
 * simply call again. activity_id (CALL_ID_LEN bytes) is set only on success. */
static int local_log_call(crm *c, const struct crm_log *log, char *activity_id, char *err)
{
    struct crm_local *l = (struct crm_local *)c;
    char *fields = NULL;
    int64_t id = 0, contact = 0, assoc = 0;
    int rc, owned = 0;

    if ((rc = local_check_call(log, err))) return rc;
    if (!log->key || !*log->key) return err_set(err, ERR_INVAL, "log has no idempotency key");
    if (strlen(log->key) > LOCAL_KEY_MAX)
        return err_set(err, ERR_INVAL, "log key is longer than %d bytes", LOCAL_KEY_MAX);

    if ((rc = local_tx_begin(l, &owned, err))) return rc;
    rc = local_activity_by_key(l, log->user_id, log->key, "call", &id, err);
    if (rc <= 0) goto out; /* already written (0), or an error */
    if ((rc = local_check_log(l, log, &contact, &assoc, NULL, err))) goto out;
    if ((rc = local_fields_json(log, &fields, err))) goto out;
    rc = local_insert_activity(l, log->key, log->user_id, contact, assoc, "call", log->subject,
                               log->body, log->call->session_id, fields, &id, err);
out:
    rc = local_tx_end(l, owned, rc, err);
    mem_free(fields);
    if (rc == 0) local_format_id(id, activity_id);
    return rc;
}

/* Rewrites the SMS activity's body from its messages: one line per message in time order,
 * "HH:MM:SS UTC inbound: text". Line breaks inside a text become spaces, so each message
 * stays one line. */
static int local_sms_body(struct crm_local *l, int64_t activity, char *err)
{
    struct buf b;
    int rc;

    buf_init(&b, LOCAL_SMS_BODY_MAX);
    sqlite3_stmt *s = l->st[ST_MSGS];
    sqlite3_bind_int64(s, 1, activity);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char when[32];
        time_format(sqlite3_column_int64(s, 0), when, sizeof when);
        const char *dir = (const char *)sqlite3_column_text(s, 1);
        const char *text = (const char *)sqlite3_column_text(s, 2);
        if ((rc = buf_printf(&b, "%s%.8s UTC %s: ", b.len ? "\n" : "", when + 11, dir ? dir : "")))
            goto fail;
        size_t start = b.len;
        if ((rc = buf_puts(&b, text ? text : ""))) goto fail;
        for (size_t i = start; i < b.len; i++)
            if (b.data[i] == '\n' || b.data[i] == '\r') b.data[i] = ' ';
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        rc = local_db_fail(l, rc, "reading messages", err);
        goto out;
    }
    s = l->st[ST_SET_BODY];
    sqlite3_bind_int64(s, 1, activity);
    local_bind_text(s, 2, b.data);
    rc = local_exec(l, ST_SET_BODY, "writing an SMS log", err);
    goto out;
fail:
    sqlite3_reset(s);
    rc = rc == ERR_TOOBIG
             ? err_set(err, rc, "SMS log of one day is longer than %d bytes", LOCAL_SMS_BODY_MAX)
             : err_set(err, rc, "out of memory");
out:
    buf_free(&b);
    return rc;
}

/* One activity per (user, contact, UTC day), keyed "sms:<user>:<contact>:<YYYY-MM-DD>".
 * A message (user, message id) already written anywhere returns its activity and writes
 * nothing. The activity's association and fields are those of the day's first message. */
static int local_log_sms(crm *c, const struct crm_log *log, char *activity_id, char *err)
{
    struct crm_local *l = (struct crm_local *)c;
    const struct call_rec *call = log ? log->call : NULL;
    char *fields = NULL;
    char name[CALL_NAME_LEN], when[32], key[96], subject[CALL_NAME_LEN + 32];
    int64_t id = 0, contact = 0, assoc = 0;
    int rc, owned = 0;

    if ((rc = local_check_call(log, err))) return rc;
    if (!call->session_id[0]) return err_set(err, ERR_INVAL, "message has no id");
    if (call->direction != DIR_INBOUND && call->direction != DIR_OUTBOUND)
        return err_set(err, ERR_INVAL, "message direction %d is neither inbound nor outbound",
                       call->direction);
    /* The day key and body times need a calendar date: 1970 to 9999. */
    if (call->start_ms < 0 || call->start_ms > LOCAL_MAX_MS)
        return err_set(err, ERR_INVAL, "message time %" PRId64 " ms is out of range",
                       call->start_ms);
    if (strnlen(call->text, CALL_TEXT_LEN) == CALL_TEXT_LEN)
        return err_set(err, ERR_INVAL, "message text is not terminated");

    if ((rc = local_tx_begin(l, &owned, err))) return rc;
    sqlite3_stmt *s = l->st[ST_MSG_BY_ID];
    sqlite3_bind_int64(s, 1, log->user_id);
    local_bind_text(s, 2, call->session_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) {
        rc = 0; /* already logged: write nothing */
        goto out;
    }
    if (rc != SQLITE_DONE) {
        rc = local_db_fail(l, rc, "looking up a message", err);
        goto out;
    }
    if ((rc = local_check_log(l, log, &contact, &assoc, name, err))) goto out;

    time_format(call->start_ms, when, sizeof when);
    when[LOCAL_DAY_LEN - 1] = '\0'; /* "YYYY-MM-DD" */
    snprintf(key, sizeof key, "sms:%" PRId64 ":%" PRId64 ":%s", log->user_id, contact, when);
    rc = local_activity_by_key(l, log->user_id, key, "sms", &id, err);
    if (rc < 0) goto out;
    if (rc == 1) {
        snprintf(subject, sizeof subject, "SMS with %s on %.10s", name, when);
        if ((rc = local_fields_json(log, &fields, err))) goto out;
        if ((rc = local_insert_activity(l, key, log->user_id, contact, assoc, "sms", subject, "",
                                        key, fields, &id, err)))
            goto out;
    }

    s = l->st[ST_INS_MSG];
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, log->user_id);
    local_bind_text(s, 3, call->session_id);
    sqlite3_bind_int64(s, 4, call->start_ms);
    local_bind_text(s, 5, call->direction == DIR_INBOUND ? "inbound" : "outbound");
    local_bind_text(s, 6, call->text);
    if ((rc = local_exec(l, ST_INS_MSG, "writing a message", err))) goto out;
    rc = local_sms_body(l, id, err);
out:
    rc = local_tx_end(l, owned, rc, err);
    mem_free(fields);
    if (rc == 0) local_format_id(id, activity_id);
    return rc;
}

/* ---- batches and listing ------------------------------------------------------------ */

/* A read group is one deferred transaction: every lookup in it shares one snapshot instead
 * of starting and ending its own (the file locks that costs are most of a lookup's time). */
static int local_read_begin(crm *c, char *err)
{
    struct crm_local *l = (struct crm_local *)c;
    if (!sqlite3_get_autocommit(l->db)) {
        if (l->base.in_store) return 0; /* the store's transaction: its reads are ours */
        return err_set(err, ERR_INVAL, "a local CRM transaction is already open");
    }
    int rc = local_exec(l, ST_BEGIN_READ, "starting reads", err);
    if (rc) return rc;
    l->reading = 1;
    return 0;
}

static void local_read_end(crm *c)
{
    struct crm_local *l = (struct crm_local *)c;
    if (!l->reading) return;
    l->reading = 0;
    /* Not a write transaction the store began since (it ended the reads first). */
    if (!sqlite3_get_autocommit(l->db) && sqlite3_txn_state(l->db, NULL) != SQLITE_TXN_WRITE)
        local_exec(l, ST_COMMIT, "ending reads", NULL);
}

static int local_contacts_version(crm *c, int64_t *out, char *err)
{
    struct crm_local *l = (struct crm_local *)c;
    sqlite3_stmt *s = l->st[ST_CONTACTS_VERSION];
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : local_db_fail(l, rc, "reading the contacts' version", err);
}

/* A batch is a write transaction of its own, or, inside a transaction of the store it shares
 * the connection with, a savepoint in it: then the store's commit keeps it. */
static int local_batch_begin(crm *c, char *err)
{
    struct crm_local *l = (struct crm_local *)c;
    local_end_reads(l);
    if (!sqlite3_get_autocommit(l->db)) {
        if (!l->base.in_store || l->nested)
            return err_set(err, ERR_INVAL, "a local CRM batch is already open");
        int rc = local_exec(l, ST_BATCH_SAVEPOINT, "starting a batch", err);
        l->nested = rc == 0;
        return rc;
    }
    return local_exec(l, ST_BEGIN, "starting a batch", err);
}

/* Commits (commit != 0) or rolls back the batch. A commit that fails rolls the batch back,
 * so the handle is always usable afterwards. */
static int local_batch_end(crm *c, int commit, char *err)
{
    struct crm_local *l = (struct crm_local *)c;
    int rc = 0;
    if (l->nested) {
        l->nested = 0;
        if (commit && (rc = local_exec(l, ST_BATCH_RELEASE, "ending a batch", err)) == 0) return 0;
        /* The savepoint is gone if SQLite rolled the whole transaction back: then these fail
         * harmlessly, and the store's commit reports it. */
        int undo = local_exec(l, ST_BATCH_ROLLBACK_TO, "rolling back a batch", commit ? NULL : err);
        local_exec(l, ST_BATCH_RELEASE, "rolling back a batch", NULL);
        return commit ? rc : undo;
    }
    sqlbusy_settle(&l->turn, l->db);
    if (sqlite3_get_autocommit(l->db)) {
        /* No transaction: none was begun, or SQLite already rolled it back after an error. */
        return commit ? err_set(err, ERR_INVAL, "no local CRM batch is open") : 0;
    }
    if (!commit) return local_exec(l, ST_ROLLBACK, "rolling back a batch", err);
    if ((rc = local_exec(l, ST_COMMIT, "committing a batch", err)) &&
        !sqlite3_get_autocommit(l->db))
        local_exec(l, ST_ROLLBACK, "rolling back a batch", NULL);
    return rc;
}

/* Not a hot path: its statement is prepared per call, so the callback may use this same
 * handle for other operations. */
static int local_list_activities(crm *c, const char *contact_id,
                                 int (*cb)(const struct crm_activity *a, void *ctx), void *ctx,
                                 char *err)
{
    struct crm_local *l = (struct crm_local *)c;
    sqlite3_stmt *s = NULL;
    int64_t cid = 0;
    int rc;

    if (!cb) return err_set(err, ERR_INVAL, "no callback given");
    if (contact_id && (rc = local_contact_name(l, contact_id, &cid, NULL, err))) return rc;
    const char *sql =
        contact_id ? "SELECT id, contact_id, coalesce(association_id, ''), kind, subject, body,"
                     " session_id, fields_json FROM crm_activities WHERE contact_id = ?1"
                     " ORDER BY id"
                   : "SELECT id, contact_id, coalesce(association_id, ''), kind, subject, body,"
                     " session_id, fields_json FROM crm_activities ORDER BY id";
    if ((rc = sqlite3_prepare_v2(l->db, sql, -1, &s, NULL)) != SQLITE_OK) {
        rc = local_db_fail(l, rc, "listing activities", err);
        goto out;
    }
    if (contact_id) sqlite3_bind_int64(s, 1, cid);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        /* Integer columns read as text come out as decimal, as ids are exposed. */
        struct crm_activity a = {
            .id = (const char *)sqlite3_column_text(s, 0),
            .contact_id = (const char *)sqlite3_column_text(s, 1),
            .association_id = (const char *)sqlite3_column_text(s, 2),
            .kind = (const char *)sqlite3_column_text(s, 3),
            .subject = (const char *)sqlite3_column_text(s, 4),
            .body = (const char *)sqlite3_column_text(s, 5),
            .session_id = (const char *)sqlite3_column_text(s, 6),
            .fields_json = (const char *)sqlite3_column_text(s, 7),
        };
        if (!a.id || !a.contact_id || !a.association_id || !a.kind || !a.subject || !a.body ||
            !a.session_id || !a.fields_json) {
            rc = err_set(err, ERR_NOMEM, "out of memory listing activities");
            goto out;
        }
        if ((rc = cb(&a, ctx))) goto out; /* the callback's own value, as documented */
    }
    rc = rc == SQLITE_DONE ? 0 : local_db_fail(l, rc, "listing activities", err);
out:
    sqlite3_finalize(s);
    return rc;
}

const struct crm_ops crm_local = {
    .name = "local",
    .exact_string_search = 0, /* numbers are compared as E.164, however they were written */
    .fields = local_fields,
    .nfields = sizeof local_fields / sizeof local_fields[0],
    .open = local_open,
    .open_in_store = local_open_in_store,
    .close = local_close,
    .find_contacts = local_find_contacts,
    .get_contact = local_get_contact,
    .create_contact = local_create_contact,
    .list_associations = local_list_associations,
    .log_call = local_log_call,
    .log_sms = local_log_sms,
    .batch_begin = local_batch_begin,
    .batch_end = local_batch_end,
    .read_begin = local_read_begin,
    .read_end = local_read_end,
    .contacts_version = local_contacts_version,
    .add_contact = local_add_contact,
    .list_activities = local_list_activities,
};
