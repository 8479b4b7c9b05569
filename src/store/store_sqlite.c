/* The embedded store: one SQLite file in WAL mode. Hot statements are prepared once per
 * handle; schema changes are numbered migrations recorded in `schema_version`. */
#include "store_impl.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../core/mem.h"
#include "../core/sqlbusy.h"
#include "../core/sqlvfs.h"
#include "../core/sqlwal.h"

/* Each migration is applied once, in order, in its own transaction. Append only. */
static const char *const migrations[] = {
    /* 1: users, settings, calls, notes */
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE settings (user_id INTEGER NOT NULL REFERENCES users(id), key TEXT NOT NULL,"
    "  value TEXT NOT NULL, PRIMARY KEY (user_id, key));"
    "CREATE TABLE calls (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),"
    "  type INTEGER NOT NULL, direction INTEGER NOT NULL, session_id TEXT NOT NULL,"
    "  record_id TEXT NOT NULL, number TEXT NOT NULL, extension TEXT NOT NULL,"
    "  party_name TEXT NOT NULL, own_number TEXT NOT NULL, internal INTEGER NOT NULL,"
    "  start_ms INTEGER NOT NULL, duration INTEGER NOT NULL, result TEXT NOT NULL,"
    "  action TEXT NOT NULL, recording TEXT NOT NULL, text TEXT NOT NULL,"
    "  conversation_id TEXT NOT NULL, status INTEGER NOT NULL, reason INTEGER NOT NULL DEFAULT 0,"
    "  candidates TEXT, contact_id TEXT NOT NULL DEFAULT '', contact_name TEXT NOT NULL DEFAULT '',"
    "  association_id TEXT NOT NULL DEFAULT '', log_id TEXT NOT NULL DEFAULT '',"
    "  lease_until INTEGER NOT NULL DEFAULT 0, logged_ms INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (user_id, type, session_id));"
    "CREATE INDEX calls_by_time ON calls (user_id, start_ms DESC);"
    "CREATE INDEX calls_by_status ON calls (user_id, status, start_ms);"
    "CREATE TABLE notes (call_id INTEGER PRIMARY KEY REFERENCES calls(id),"
    "  user_id INTEGER NOT NULL, text TEXT NOT NULL, updated_ms INTEGER NOT NULL);"
    "INSERT INTO users (name, created_ms) VALUES ('agent', "
    "CAST((julianday('now')-2440587.5)*86400000 AS INTEGER));",
    /* 2: the server: tokens, extensions, server-wide values, live calls, the request queue */
    "ALTER TABLE users ADD COLUMN token_hash TEXT;"
    "CREATE UNIQUE INDEX users_by_token ON users (token_hash) WHERE token_hash IS NOT NULL;"
    "CREATE TABLE user_extensions (extension TEXT PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id));"
    "CREATE TABLE server_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "ALTER TABLE calls ADD COLUMN answered_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE calls ADD COLUMN hold_until INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE calls ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE calls ADD COLUMN request TEXT;"
    "ALTER TABLE calls ADD COLUMN error TEXT;"
    "CREATE INDEX calls_requests ON calls (id) WHERE request IS NOT NULL;",
    /* 3: the history index in ascending order: read backwards it gives (start_ms DESC,
     * id DESC), the history's order, without sorting (a DESC column with the implicit
     * ascending rowid could not). */
    ("DROP INDEX calls_by_time;"
     "CREATE INDEX calls_by_time ON calls (user_id, start_ms);"),
    /* 4: where a log went, by name, so a history shows it without asking the CRM */
    "ALTER TABLE calls ADD COLUMN association_name TEXT NOT NULL DEFAULT '';",
    /* 5: a per-user counter that every change to the user's calls or notes moves, kept by
     * triggers so no writer can forget it. With the largest call id (a new call always
     * raises it; no trigger on insert, which would halve an import's speed) it tells
     * whether a history page made earlier is still right (the server keeps such pages). */
    ("ALTER TABLE users ADD COLUMN history_version INTEGER NOT NULL DEFAULT 0;"
     /* Only what a history page shows: a claim's lease changes none of it. */
     "CREATE TRIGGER calls_upd_hv AFTER UPDATE OF type, direction, session_id, number,"
     "  extension, party_name, internal, start_ms, duration, result, recording, text, status,"
     "  reason, contact_id, contact_name, association_id, association_name, log_id, request,"
     "  error ON calls BEGIN"
     "  UPDATE users SET history_version=history_version+1 WHERE id IN (OLD.user_id, NEW.user_id);"
     " END;"
     "CREATE TRIGGER calls_del_hv AFTER DELETE ON calls BEGIN"
     "  UPDATE users SET history_version=history_version+1 WHERE id=OLD.user_id; END;"
     "CREATE TRIGGER notes_ins_hv AFTER INSERT ON notes BEGIN"
     "  UPDATE users SET history_version=history_version+1 WHERE id=NEW.user_id; END;"
     "CREATE TRIGGER notes_upd_hv AFTER UPDATE ON notes BEGIN"
     "  UPDATE users SET history_version=history_version+1 WHERE id IN (OLD.user_id, NEW.user_id);"
     " END;"
     "CREATE TRIGGER notes_del_hv AFTER DELETE ON notes BEGIN"
     "  UPDATE users SET history_version=history_version+1 WHERE id=OLD.user_id; END;"),
    /* 6: the status index holds only calls that are not logged (the open ones: few, once
     * they are logged). Logging a call then takes its entry out, instead of moving it to
     * the logged ones at its start time: one page written fewer per log, a random one when
     * calls are logged out of time order. A statement that uses it says status<>2 in so
     * many words (SQLite's rule for partial indexes); logged calls are found by time. */
    ("DROP INDEX calls_by_status;"
     "CREATE INDEX calls_open ON calls (user_id, status, start_ms) WHERE status<>2;"),
};

#define CALL_COLUMNS                                                                               \
    "id, user_id, type, direction, session_id, record_id, number, extension, party_name,"          \
    " own_number, internal, start_ms, duration, result, action, recording, text,"                  \
    " conversation_id, status, reason, contact_id, contact_name, association_id, log_id,"          \
    " answered_ms, hold_until, attempts, request IS NOT NULL, error, association_name"

#define CALL_NCOLUMNS 30          /* columns of CALL_COLUMNS */
#define NOTE_COLUMN CALL_NCOLUMNS /* after CALL_COLUMNS in the page statements */

enum stmt_id {
    S_CALL_INSERT,
    S_CALL_FIND_KEY,
    S_CALL_UPDATE_ACTIVE,
    S_CALL_BY_ID,
    S_CALL_BY_SESSION,
    S_CALL_BY_KEY,
    S_PAGE_ALL,
    S_PAGE_STATUS,
    S_PAGE_LOGGED,
    S_NOTE_SET,
    S_NOTE_GET,
    S_CLAIM,
    S_CLAIM_BATCH,
    S_SET_LOGGED,
    S_RELEASE,
    S_CANDIDATES,
    S_UNCLAIM,
    S_USER_ADD,
    S_EXT_ADD,
    S_USER_BY_ID,
    S_USER_BY_TOKEN,
    S_HISTORY_VERSION,
    S_USER_BY_EXT,
    S_USER_SET_TOKEN,
    S_USERS,
    S_KV_GET,
    S_KV_SET,
    S_EV_ANSWERED,
    S_EV_ENDED,
    S_EV_RECORDING,
    S_EV_HOLD,
    S_REQUEST,
    S_CLAIM_REQUESTS,
    S_CLAIM_AUTO,
    S_REQUEST_DONE,
    S_REQUESTS_RELEASE,
    S_ANY_REQUEST,
    S_ANY_AUTO,
    S_COUNT,
    S_COUNT_LOGGED,
    S_COUNT_ALL,
    S_SETTING_GET,
    S_SETTING_SET,
    S__COUNT
};

static const char *const stmt_sql[S__COUNT] = {
    [S_CALL_INSERT] = "INSERT INTO calls (user_id, type, direction, session_id, record_id, number,"
                      " extension, party_name, own_number, internal, start_ms, duration, result,"
                      " action, recording, text, conversation_id, status)"
                      " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)"
                      " ON CONFLICT (user_id, type, session_id) DO NOTHING",
    [S_CALL_FIND_KEY] =
        "SELECT id, status FROM calls WHERE user_id=?1 AND type=?2 AND session_id=?3",
    [S_CALL_UPDATE_ACTIVE] =
        "UPDATE calls SET direction=?2, record_id=?3, number=?4, extension=?5, party_name=?6,"
        " own_number=?7, internal=?8, start_ms=?9, duration=?10, result=?11, action=?12,"
        " recording=?13, status=?14 WHERE id=?1 AND status=0",
    [S_CALL_BY_ID] = "SELECT " CALL_COLUMNS " FROM calls WHERE user_id=?1 AND id=?2",
    [S_CALL_BY_SESSION] = "SELECT " CALL_COLUMNS
                          " FROM calls WHERE user_id=?1 AND session_id=?2 ORDER BY type LIMIT 1",
    [S_CALL_BY_KEY] =
        "SELECT " CALL_COLUMNS " FROM calls WHERE user_id=?1 AND type=?2 AND session_id=?3",
    [S_PAGE_ALL] = "SELECT " CALL_COLUMNS ", (SELECT text FROM notes n WHERE n.call_id=calls.id)"
                   " FROM calls WHERE user_id=?1 AND start_ms<=?2 AND (start_ms<?2 OR id<?3)"
                   " ORDER BY start_ms DESC, id DESC LIMIT ?4",
    [S_PAGE_STATUS] = "SELECT " CALL_COLUMNS ", (SELECT text FROM notes n WHERE"
                      " n.call_id=calls.id) FROM calls WHERE user_id=?1 AND status=?5 AND"
                      " status<>2 AND start_ms<=?2 AND (start_ms<?2 OR id<?3)"
                      " ORDER BY start_ms DESC, id DESC LIMIT ?4",
    [S_PAGE_LOGGED] = "SELECT " CALL_COLUMNS ", (SELECT text FROM notes n WHERE"
                      " n.call_id=calls.id) FROM calls WHERE user_id=?1 AND status=2 AND"
                      " start_ms<=?2 AND (start_ms<?2 OR id<?3)"
                      " ORDER BY start_ms DESC, id DESC LIMIT ?4",
    [S_NOTE_SET] = "INSERT INTO notes (call_id, user_id, text, updated_ms)"
                   " SELECT id, user_id, ?3, ?4 FROM calls WHERE id=?1 AND user_id=?2"
                   " AND type=0 AND status<>2 AND lease_until<?4"
                   " ON CONFLICT (call_id) DO UPDATE SET text=excluded.text,"
                   " updated_ms=excluded.updated_ms",
    [S_NOTE_GET] = "SELECT text FROM notes WHERE call_id=?1 AND user_id=?2",
    [S_CLAIM] = "UPDATE calls SET lease_until=?3 WHERE id=?1 AND user_id=?2 AND status<>2"
                " AND lease_until<?4",
    [S_CLAIM_BATCH] = "UPDATE calls SET lease_until=?3 WHERE id IN (SELECT id FROM calls"
                      " WHERE user_id=?1 AND status=1 AND status<>2 AND internal=0"
                      " AND lease_until<?4"
                      " AND hold_until<?4"
                      " ORDER BY start_ms, id LIMIT ?2) RETURNING " CALL_COLUMNS,
    [S_SET_LOGGED] = "UPDATE calls SET status=2, reason=0, candidates=NULL, request=NULL,"
                     " error=NULL, log_id=?3,"
                     " contact_id=?4, contact_name=?5, association_id=?6, lease_until=0,"
                     " logged_ms=?7, association_name=?8 WHERE id=?1 AND user_id=?2"
                     " AND status<>2",
    [S_RELEASE] = "UPDATE calls SET status=?3, reason=?4, candidates=?5, lease_until=0,"
                  " request=NULL"
                  " WHERE id=?1 AND user_id=?2 AND status<>2",
    [S_UNCLAIM] = "UPDATE calls SET lease_until=?3, attempts=attempts+(?3>0)"
                  " WHERE id=?1 AND user_id=?2 AND status<>2",
    [S_USER_ADD] = "INSERT INTO users (name, created_ms, token_hash) VALUES (?1, ?2, ?3)",
    [S_EXT_ADD] = "INSERT INTO user_extensions (extension, user_id) VALUES (?1, ?2)",
    [S_USER_BY_ID] = "SELECT id, name FROM users WHERE id=?1",
    [S_USER_BY_TOKEN] = "SELECT id, name FROM users WHERE token_hash=?1",
    [S_HISTORY_VERSION] = "SELECT history_version, (SELECT max(id) FROM calls) FROM users"
                          " WHERE id=?1",
    [S_USER_BY_EXT] = "SELECT u.id, u.name FROM users u JOIN user_extensions e ON e.user_id=u.id"
                      " WHERE e.extension=?1",
    [S_USER_SET_TOKEN] = "UPDATE users SET token_hash=?2 WHERE id=?1",
    [S_USERS] = "SELECT id, name FROM users ORDER BY id",
    [S_KV_GET] = "SELECT value FROM server_kv WHERE key=?1",
    [S_KV_SET] = "INSERT INTO server_kv (key, value) VALUES (?1, ?2)"
                 " ON CONFLICT (key) DO UPDATE SET value=excluded.value",
    [S_EV_ANSWERED] = "UPDATE calls SET answered_ms=?2 WHERE id=?1 AND status=0 AND answered_ms=0",
    [S_EV_ENDED] = "UPDATE calls SET status=1, duration=?2, result=?3,"
                   " recording=CASE WHEN ?4<>'' THEN ?4 ELSE recording END, hold_until=?5,"
                   " party_name=CASE WHEN ?6<>'' THEN ?6 ELSE party_name END"
                   " WHERE id=?1 AND status=0",
    [S_EV_RECORDING] = "UPDATE calls SET recording=?2, hold_until=0 WHERE id=?1 AND status<>2"
                       " AND status<>0 AND ?2<>''",
    [S_EV_HOLD] = "UPDATE calls SET hold_until=?2 WHERE id=?1 AND status=1",
    [S_REQUEST] = "UPDATE calls SET request=?3, error=NULL, lease_until=?5"
                  " WHERE id=?1 AND user_id=?2"
                  " AND status<>0 AND status<>2 AND internal=0 AND request IS NULL"
                  " AND lease_until<?4",
    [S_CLAIM_REQUESTS] = "UPDATE calls SET lease_until=?2 WHERE id IN (SELECT id FROM calls"
                         " WHERE request IS NOT NULL AND lease_until<?3 ORDER BY id LIMIT ?1)"
                         " RETURNING " CALL_COLUMNS ", request",
    /* Driven by the users whose auto_log is on, each through calls_open (oldest
     * first per user): users with auto-log off cost nothing however many calls they have. */
    [S_CLAIM_AUTO] = "UPDATE calls SET lease_until=?2 WHERE id IN (SELECT id FROM calls"
                     " WHERE user_id IN (SELECT user_id FROM settings WHERE key='auto_log'"
                     " AND value='on') AND status=1 AND status<>2 AND internal=0"
                     " AND request IS NULL AND lease_until<?3 AND hold_until<?3 LIMIT ?1)"
                     " RETURNING " CALL_COLUMNS,
    /* Reads that tell whether a claim would find anything: an UPDATE takes the write lock
     * even when it changes nothing, and the worker asks often. */
    [S_ANY_REQUEST] = "SELECT 1 FROM calls WHERE request IS NOT NULL AND lease_until<?1 LIMIT 1",
    [S_ANY_AUTO] = "SELECT 1 FROM calls WHERE user_id IN (SELECT user_id FROM settings"
                   " WHERE key='auto_log' AND value='on') AND status=1 AND status<>2"
                   " AND internal=0"
                   " AND request IS NULL AND lease_until<?1 AND hold_until<?1 LIMIT 1",
    [S_REQUESTS_RELEASE] = "UPDATE calls SET lease_until=0 WHERE request IS NOT NULL"
                           " AND lease_until>=?1",
    [S_REQUEST_DONE] = "UPDATE calls SET request=NULL, error=?3, lease_until=0"
                       " WHERE id=?1 AND user_id=?2",
    [S_CANDIDATES] = "SELECT candidates FROM calls WHERE id=?1 AND user_id=?2",
    [S_COUNT] = "SELECT count(*) FROM calls WHERE user_id=?1 AND status=?2 AND status<>2",
    [S_COUNT_LOGGED] = "SELECT count(*) FROM calls WHERE user_id=?1 AND status=2",
    [S_COUNT_ALL] = "SELECT count(*) FROM calls WHERE user_id=?1",
    [S_SETTING_GET] = "SELECT value FROM settings WHERE user_id=?1 AND key=?2",
    [S_SETTING_SET] = "INSERT INTO settings (user_id, key, value) VALUES (?1,?2,?3)"
                      " ON CONFLICT (user_id, key) DO UPDATE SET value=excluded.value",
};

struct sq_store {
    struct store base;
    sqlite3 *db;
    int reading; /* a read group is open (store_read_begin) */
    char *file;
    sqlite3_stmt *stmts[S__COUNT];
    sqlite3_stmt *tx[10]; /* tx_sql, prepared on first use */
    struct sqlbusy_turn turn;
};

/* The transaction statements every request runs, prepared once: sqlite3_exec would parse
 * them each time. */
static const char *const tx_sql[] = {
    "BEGIN",        "BEGIN IMMEDIATE",  "COMMIT",         "ROLLBACK",     "SAVEPOINT unit",
    "RELEASE unit", "ROLLBACK TO unit", "SAVEPOINT part", "RELEASE part", "ROLLBACK TO part"};
_Static_assert(sizeof tx_sql / sizeof *tx_sql == 10, "one prepared statement per tx_sql entry");

static int db_fail(struct sq_store *s, char *err, const char *what)
{
    int code = sqlite3_errcode(s->db);
    int rc = (code == SQLITE_BUSY || code == SQLITE_LOCKED) ? ERR_BUSY : ERR_DB;
    return err_set(err, rc, "store: %s: %s", what, sqlite3_errmsg(s->db));
}

static sqlite3_stmt *stmt(struct sq_store *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->stmts[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

static void copy_col(sqlite3_stmt *st, int i, char *dst, size_t len)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    size_t n = v ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= len) n = len - 1;
    if (n) memcpy(dst, v, n);
    dst[n] = '\0';
}

/* Reads a row selected with CALL_COLUMNS. */
static void row_to_call(sqlite3_stmt *st, struct call_rec *c)
{
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(st, 0);
    c->user_id = sqlite3_column_int64(st, 1);
    c->type = sqlite3_column_int(st, 2);
    c->direction = sqlite3_column_int(st, 3);
    copy_col(st, 4, c->session_id, sizeof c->session_id);
    copy_col(st, 5, c->record_id, sizeof c->record_id);
    copy_col(st, 6, c->number, sizeof c->number);
    copy_col(st, 7, c->extension, sizeof c->extension);
    copy_col(st, 8, c->party_name, sizeof c->party_name);
    copy_col(st, 9, c->own_number, sizeof c->own_number);
    c->internal = sqlite3_column_int(st, 10);
    c->start_ms = sqlite3_column_int64(st, 11);
    c->duration = sqlite3_column_int(st, 12);
    copy_col(st, 13, c->result, sizeof c->result);
    copy_col(st, 14, c->action, sizeof c->action);
    copy_col(st, 15, c->recording, sizeof c->recording);
    copy_col(st, 16, c->text, sizeof c->text);
    copy_col(st, 17, c->conversation_id, sizeof c->conversation_id);
    c->status = sqlite3_column_int(st, 18);
    c->reason = sqlite3_column_int(st, 19);
    copy_col(st, 20, c->contact_id, sizeof c->contact_id);
    copy_col(st, 21, c->contact_name, sizeof c->contact_name);
    copy_col(st, 22, c->association_id, sizeof c->association_id);
    copy_col(st, 23, c->log_id, sizeof c->log_id);
    c->answered_ms = sqlite3_column_int64(st, 24);
    c->hold_until = sqlite3_column_int64(st, 25);
    c->attempts = sqlite3_column_int(st, 26);
    c->queued = sqlite3_column_int(st, 27);
    copy_col(st, 28, c->error, sizeof c->error);
    copy_col(st, 29, c->association_name, sizeof c->association_name);
}

static int exec_sql(struct sq_store *s, const char *sql, char *err);

/* Every statement text this file runs goes through here: a write transaction takes the
 * process's write turn first and gives it back once it has ended. */
static int exec(struct sq_store *s, const char *sql, char *err)
{
    int writes = strcmp(sql, "BEGIN IMMEDIATE") == 0;
    if (writes) sqlbusy_take(&s->turn);
    int rc = exec_sql(s, sql, err);
    sqlbusy_settle(&s->turn, s->db);
    return rc;
}

static int exec_sql(struct sq_store *s, const char *sql, char *err)
{
    for (size_t i = 0; i < sizeof tx_sql / sizeof *tx_sql; i++) {
        if (strcmp(sql, tx_sql[i]) != 0) continue;
        if (!s->tx[i] && sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->tx[i],
                                            NULL) != SQLITE_OK)
            break; /* sqlite3_exec below reports why */
        int rc = sqlite3_step(s->tx[i]);
        sqlite3_reset(s->tx[i]);
        if (rc == SQLITE_DONE) return 0;
        return db_fail(s, err, sql);
    }
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    int code = sqlite3_errcode(s->db);
    int rc = err_set(err, (code == SQLITE_BUSY || code == SQLITE_LOCKED) ? ERR_BUSY : ERR_DB,
                     "store: %s", msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return rc;
}

static int migrate(struct sq_store *s, char *err)
{
    int rc = exec(s, "BEGIN IMMEDIATE", err);
    if (rc) return rc;
    rc = exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", err);
    if (rc) goto out;
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT max(version) FROM schema_version", -1, &st, NULL)) {
        rc = db_fail(s, err, "reading schema version");
        goto out;
    }
    if (sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    int known = (int)(sizeof migrations / sizeof *migrations);
    if (version > known) {
        rc = err_set(err, ERR_DB, "store: schema version %d is newer than this crmlog (%d)",
                     version, known);
        goto out;
    }
    for (int v = version; v < known; v++) {
        char sql[64];
        if ((rc = exec(s, migrations[v], err))) goto out;
        snprintf(sql, sizeof sql, "INSERT INTO schema_version VALUES (%d)", v + 1);
        if ((rc = exec(s, sql, err))) goto out;
    }
out:
    if (rc) {
        exec(s, "ROLLBACK", NULL);
        return rc;
    }
    return exec(s, "COMMIT", err);
}

static void sq_close(store *base)
{
    struct sq_store *s = (struct sq_store *)base;
    if (!s) return;
    for (int i = 0; i < S__COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    for (size_t i = 0; i < sizeof s->tx / sizeof *s->tx; i++)
        sqlite3_finalize(s->tx[i]);
    if (s->db && !sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    if (s->db) sqlbusy_settle(&s->turn, s->db);
    sqlite3_close(s->db);
    mem_free(s->file);
    mem_free(s);
}

static int sq_open(const char *path, store **out, char *err)
{
    *out = NULL;
    if (!*path) return err_set(err, ERR_INVAL, "store: empty path");
    struct sq_store *s = mem_calloc(1, sizeof *s);
    if (!s) return err_set(err, ERR_NOMEM, "store: out of memory");
    s->base.ops = &store_sqlite;
    int rc = 0;
    if (!(s->file = mem_strdup(path))) {
        rc = err_set(err, ERR_NOMEM, "store: out of memory");
        goto out;
    }
    sqlvfs_register(); /* one write per commit to the log (sqlvfs.h) */
    /* One thread at a time per handle: no SQLite mutex on every call. */
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL)) {
        rc = err_set(err, ERR_IO, "store: cannot open %s: %s", path,
                     s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto out;
    }
    sqlbusy_install(s->db, 5000);
    sqlwal_install(s->db);
    /* temp_store=MEMORY keeps savepoint journals in memory: a batch of logs in a savepoint
     * (the embedded CRM's, inside a store transaction) journals a few hundred kilobytes,
     * which SQLite otherwise writes to a temporary file past 64 KiB, a syscall per page. */
    if ((rc = exec(s,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                   " PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY",
                   err)))
        goto out;
    if ((rc = migrate(s, err))) goto out;
    for (int i = 0; i < S__COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[i],
                               NULL)) {
            rc = db_fail(s, err, "preparing statements");
            goto out;
        }
    }
out:
    if (rc) {
        sq_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

static const char *sq_file(const store *base)
{
    return ((const struct sq_store *)base)->file;
}

static sqlite3 *sq_db(store *base)
{
    return ((struct sq_store *)base)->db;
}

static int sq_cache(store *base, int kib, char *err)
{
    char sql[48];
    snprintf(sql, sizeof sql, "PRAGMA cache_size=%d", kib > 0 ? -kib : -1);
    return exec((struct sq_store *)base, sql, err);
}

/* A read group ends where a write begins (so a write never upgrades a stale snapshot): the
 * store's own, or one the embedded CRM began on this connection. Every write transaction
 * here begins IMMEDIATE, so an open one that is not writing is a read group. */
static void end_reads(struct sq_store *s)
{
    if (!sqlite3_get_autocommit(s->db) && sqlite3_txn_state(s->db, NULL) != SQLITE_TXN_WRITE)
        exec(s, "COMMIT", NULL);
    s->reading = 0;
}

static int sq_begin(store *base, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    end_reads(s);
    return exec(s, "BEGIN IMMEDIATE", err);
}

static int sq_commit(store *base, char *err)
{
    return exec((struct sq_store *)base, "COMMIT", err);
}

static int sq_part_begin(store *base, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    if (sqlite3_get_autocommit(s->db)) return err_set(err, ERR_INVAL, "store: no transaction");
    return exec(s, "SAVEPOINT part", err);
}

static int sq_part_end(store *base, int keep, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    if (!keep && exec(s, "ROLLBACK TO part", err)) return ERR_DB;
    return exec(s, "RELEASE part", err);
}

static int sq_read_begin(store *base, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    if (!sqlite3_get_autocommit(s->db)) return 0; /* inside a transaction already */
    int rc = exec(s, "BEGIN", err);
    if (!rc) s->reading = 1;
    return rc;
}

static void sq_read_end(store *base)
{
    struct sq_store *s = (struct sq_store *)base;
    if (!s->reading) return;
    s->reading = 0;
    /* Not a write transaction the embedded CRM began since (it ended the reads first). */
    if (!sqlite3_get_autocommit(s->db) && sqlite3_txn_state(s->db, NULL) != SQLITE_TXN_WRITE)
        exec(s, "COMMIT", NULL);
}

static int sq_rollback(store *base)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlbusy_settle(&s->turn, s->db); /* SQLite may have ended it already, after an error */
    if (sqlite3_get_autocommit(s->db)) return 0;
    return exec(s, "ROLLBACK", NULL);
}

static int sq_user_get(store *base, const char *name, struct user *out, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                name ? "SELECT id, name FROM users WHERE name=?1"
                                     : "SELECT id, name FROM users ORDER BY id LIMIT 1",
                                -1, &st, NULL);
    if (rc) return db_fail(s, err, "reading users");
    if (name) bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(st, 0);
        copy_col(st, 1, out->name, sizeof out->name);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = err_set(err, ERR_NOTFOUND, "no user named '%s'", name ? name : "");
    } else {
        rc = db_fail(s, err, "reading users");
    }
    sqlite3_finalize(st);
    return rc;
}

static int sq_setting_get(store *base, int64_t user, const char *key, char *val, size_t len,
                          char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_SETTING_GET);
    sqlite3_bind_int64(st, 1, user);
    bind_text(st, 2, key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        copy_col(st, 0, val, len);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = ERR_NOTFOUND;
    } else {
        rc = db_fail(s, err, "reading settings");
    }
    sqlite3_reset(st);
    return rc;
}

static int sq_setting_set(store *base, int64_t user, const char *key, const char *val, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_SETTING_SET);
    sqlite3_bind_int64(st, 1, user);
    bind_text(st, 2, key);
    bind_text(st, 3, val);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s, err, "saving a setting");
    sqlite3_reset(st);
    return rc;
}

static int sq_call_put(store *base, const struct call_rec *c, int *changed, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    *changed = 0;
    sqlite3_stmt *st = stmt(s, S_CALL_INSERT);
    sqlite3_bind_int64(st, 1, c->user_id);
    sqlite3_bind_int(st, 2, c->type);
    sqlite3_bind_int(st, 3, c->direction);
    bind_text(st, 4, c->session_id);
    bind_text(st, 5, c->record_id);
    bind_text(st, 6, c->number);
    bind_text(st, 7, c->extension);
    bind_text(st, 8, c->party_name);
    bind_text(st, 9, c->own_number);
    sqlite3_bind_int(st, 10, c->internal);
    sqlite3_bind_int64(st, 11, c->start_ms);
    sqlite3_bind_int(st, 12, c->duration);
    bind_text(st, 13, c->result);
    bind_text(st, 14, c->action);
    bind_text(st, 15, c->recording);
    bind_text(st, 16, c->text);
    bind_text(st, 17, c->conversation_id);
    sqlite3_bind_int(st, 18, c->status == ST_ACTIVE ? ST_ACTIVE : ST_UNLOGGED);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_fail(s, err, "saving a call");
    if (sqlite3_changes(s->db) > 0) {
        *changed = 1;
        return 0;
    }
    /* Already there. Only an active call takes news (answered, ended); anything else is a
     * repeat and changes nothing. */
    st = stmt(s, S_CALL_FIND_KEY);
    sqlite3_bind_int64(st, 1, c->user_id);
    sqlite3_bind_int(st, 2, c->type);
    bind_text(st, 3, c->session_id);
    rc = sqlite3_step(st);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    int status = rc == SQLITE_ROW ? sqlite3_column_int(st, 1) : -1;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) return db_fail(s, err, "reading a call");
    if (status != ST_ACTIVE) return 0;
    st = stmt(s, S_CALL_UPDATE_ACTIVE);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, c->direction);
    bind_text(st, 3, c->record_id);
    bind_text(st, 4, c->number);
    bind_text(st, 5, c->extension);
    bind_text(st, 6, c->party_name);
    bind_text(st, 7, c->own_number);
    sqlite3_bind_int(st, 8, c->internal);
    sqlite3_bind_int64(st, 9, c->start_ms);
    sqlite3_bind_int(st, 10, c->duration);
    bind_text(st, 11, c->result);
    bind_text(st, 12, c->action);
    bind_text(st, 13, c->recording);
    sqlite3_bind_int(st, 14, c->status == ST_ACTIVE ? ST_ACTIVE : ST_UNLOGGED);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_fail(s, err, "updating a call");
    *changed = sqlite3_changes(s->db) > 0 ? 2 : 0;
    return 0;
}

static int is_all_digits(const char *s)
{
    if (!*s || strlen(s) > 18) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static int sq_call_get(store *base, int64_t user, const char *ref, struct call_rec *out, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    /* crmlog ids first; telephony session ids are often all digits too, so fall back. */
    for (int pass = is_all_digits(ref) ? 0 : 1; pass < 2; pass++) {
        sqlite3_stmt *st = stmt(s, pass == 0 ? S_CALL_BY_ID : S_CALL_BY_SESSION);
        sqlite3_bind_int64(st, 1, user);
        if (pass == 0)
            sqlite3_bind_int64(st, 2, strtoll(ref, NULL, 10));
        else
            bind_text(st, 2, ref);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) row_to_call(st, out);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW) return 0;
        if (rc != SQLITE_DONE) return db_fail(s, err, "reading a call");
    }
    return err_set(err, ERR_NOTFOUND, "no call '%s' (give crmlog's call id or the session id)",
                   ref);
}

static int sq_call_find(store *base, int64_t user, int type, const char *session_id,
                        struct call_rec *out, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_CALL_BY_KEY);
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_int(st, 2, type);
    bind_text(st, 3, session_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) row_to_call(st, out);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) return 0;
    if (rc == SQLITE_DONE)
        return err_set(err, ERR_NOTFOUND, "no %s with session id '%s'", call_type_str(type),
                       session_id);
    return db_fail(s, err, "reading a call");
}

/* The whole history is a page without a limit (LIMIT -1); the walk's callback has no use
 * for the note. */
struct list_walk {
    store_call_cb cb;
    void *ctx;
};

static int list_row(const struct call_rec *c, const char *note, void *p)
{
    const struct list_walk *w = p;
    (void)note;
    return w->cb(c, w->ctx);
}

static int sq_calls_page(store *base, int64_t user, int status, int64_t before_ms,
                         int64_t before_id, size_t limit, store_page_cb cb, void *ctx, char *err);

static int sq_calls_list(store *base, int64_t user, int status, store_call_cb cb, void *ctx,
                         char *err)
{
    struct list_walk w = {cb, ctx};
    return sq_calls_page(base, user, status, 0, 0, SIZE_MAX, list_row, &w, err);
}

static int sq_calls_page(store *base, int64_t user, int status, int64_t before_ms,
                         int64_t before_id, size_t limit, store_page_cb cb, void *ctx, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    /* Cached statement: callbacks may use the handle, but not this statement. */
    sqlite3_stmt *st = stmt(s, status < 0            ? S_PAGE_ALL
                               : status == ST_LOGGED ? S_PAGE_LOGGED
                                                     : S_PAGE_STATUS);
    sqlite3_bind_int64(st, 1, user);
    /* The first page starts after the last possible call: the statement has no "no cursor"
     * case, which would keep SQLite from seeking the index to the cursor. */
    int first = before_ms == 0 && before_id == 0;
    sqlite3_bind_int64(st, 2, first ? INT64_MAX : before_ms);
    sqlite3_bind_int64(st, 3, first ? INT64_MAX : before_id);
    sqlite3_bind_int64(st, 4, limit > INT64_MAX ? -1 : (sqlite3_int64)limit); /* -1: all */
    if (status >= 0 && status != ST_LOGGED) sqlite3_bind_int(st, 5, status);
    struct call_rec *c = mem_alloc(sizeof *c);
    int rc = c ? 0 : err_set(err, ERR_NOMEM, "out of memory");
    int step;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        row_to_call(st, c);
        rc = cb(c, (const char *)sqlite3_column_text(st, NOTE_COLUMN), ctx);
    }
    if (!rc && step != SQLITE_DONE) rc = db_fail(s, err, "listing calls");
    mem_free(c);
    sqlite3_reset(st);
    return rc;
}

static int sq_calls_count(store *base, int64_t user, int status, int64_t *n, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, status < 0            ? S_COUNT_ALL
                               : status == ST_LOGGED ? S_COUNT_LOGGED
                                                     : S_COUNT);
    sqlite3_bind_int64(st, 1, user);
    if (status >= 0 && status != ST_LOGGED) sqlite3_bind_int(st, 2, status);
    int rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_fail(s, err, "counting calls");
}

/* Why a conditional write on call_id did nothing: no such call, logged, or leased (or, for
 * a note, an SMS). */
static int why_not(struct sq_store *s, int64_t user, int64_t call_id, int for_note, char *err)
{
    struct call_rec c;
    char ref[32];
    snprintf(ref, sizeof ref, "%lld", (long long)call_id);
    sqlite3_stmt *st = stmt(s, S_CALL_BY_ID);
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_int64(st, 2, call_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) row_to_call(st, &c);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) return err_set(err, ERR_NOTFOUND, "no call %s", ref);
    if (rc != SQLITE_ROW) return db_fail(s, err, "reading a call");
    if (for_note && c.type == CALL_SMS)
        return err_set(err, ERR_INVAL,
                       "%s is an SMS; notes are for calls (an SMS is logged with its text)", ref);
    if (c.status == ST_ACTIVE)
        return err_set(err, ERR_INVAL, "call %s is still active; log it when it ends", ref);
    if (c.internal)
        return err_set(err, ERR_INVAL, "call %s is between two extensions; it is not logged", ref);
    if (c.status == ST_LOGGED)
        return err_set(err, ERR_ALREADY,
                       "call %s is already logged (activity %s); edit it in the CRM", ref,
                       c.log_id);
    if (c.queued) return err_set(err, ERR_BUSY, "a log of call %s is already queued", ref);
    return err_set(err, ERR_BUSY, "call %s is being logged right now; try again in a moment", ref);
}

static int sq_note_set(store *base, int64_t user, int64_t call_id, const char *text, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_NOTE_SET);
    sqlite3_bind_int64(st, 1, call_id);
    sqlite3_bind_int64(st, 2, user);
    bind_text(st, 3, text);
    sqlite3_bind_int64(st, 4, time_now_ms());
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_fail(s, err, "saving a note");
    if (sqlite3_changes(s->db) == 0) return why_not(s, user, call_id, 1, err);
    return 0;
}

static int sq_note_get(store *base, int64_t user, int64_t call_id, char **text, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    *text = NULL;
    sqlite3_stmt *st = stmt(s, S_NOTE_GET);
    sqlite3_bind_int64(st, 1, call_id);
    sqlite3_bind_int64(st, 2, user);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *text = mem_strdup(v ? v : "");
        rc = *text ? 0 : err_set(err, ERR_NOMEM, "out of memory");
    } else {
        rc = rc == SQLITE_DONE ? 0 : db_fail(s, err, "reading a note");
    }
    sqlite3_reset(st);
    return rc;
}

static int sq_call_claim(store *base, int64_t user, int64_t call_id, int64_t lease_ms, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    int64_t now = time_now_ms();
    sqlite3_stmt *st = stmt(s, S_CLAIM);
    sqlite3_bind_int64(st, 1, call_id);
    sqlite3_bind_int64(st, 2, user);
    sqlite3_bind_int64(st, 3, now + lease_ms);
    sqlite3_bind_int64(st, 4, now);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_fail(s, err, "claiming a call");
    if (sqlite3_changes(s->db) == 0) return why_not(s, user, call_id, 0, err);
    return 0;
}

static int sq_claim_unlogged(store *base, int64_t user, size_t max, int64_t lease_ms,
                             struct call_rec *out, size_t *n, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    int64_t now = time_now_ms();
    *n = 0;
    sqlite3_stmt *st = stmt(s, S_CLAIM_BATCH);
    sqlite3_bind_int64(st, 1, user);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    sqlite3_bind_int64(st, 3, now + lease_ms);
    sqlite3_bind_int64(st, 4, now);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max)
        row_to_call(st, &out[(*n)++]);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return db_fail(s, err, "claiming calls");
    return 0;
}

static int sq_call_set_logged(store *base, int64_t user, int64_t call_id, const char *log_id,
                              const char *contact_id, const char *contact_name,
                              const char *association_id, const char *association_name, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_SET_LOGGED);
    sqlite3_bind_int64(st, 1, call_id);
    sqlite3_bind_int64(st, 2, user);
    bind_text(st, 3, log_id);
    bind_text(st, 4, contact_id);
    bind_text(st, 5, contact_name);
    bind_text(st, 6, association_id);
    sqlite3_bind_int64(st, 7, time_now_ms());
    bind_text(st, 8, association_name);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_fail(s, err, "marking a call logged");
    if (sqlite3_changes(s->db) == 0) return why_not(s, user, call_id, 0, err);
    return 0;
}

static int sq_call_release(store *base, int64_t user, int64_t call_id, int status, int reason,
                           const char *candidates_json, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_RELEASE);
    sqlite3_bind_int64(st, 1, call_id);
    sqlite3_bind_int64(st, 2, user);
    sqlite3_bind_int(st, 3, status);
    sqlite3_bind_int(st, 4, status == ST_UNRESOLVED ? reason : 0);
    if (candidates_json && status == ST_UNRESOLVED)
        bind_text(st, 5, candidates_json);
    else
        sqlite3_bind_null(st, 5);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_fail(s, err, "releasing a call");
    if (sqlite3_changes(s->db) == 0) return why_not(s, user, call_id, 0, err);
    return 0;
}

static int sq_call_unclaim(store *base, int64_t user, int64_t call_id, int64_t retry_ms, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_UNCLAIM);
    sqlite3_bind_int64(st, 1, call_id);
    sqlite3_bind_int64(st, 2, user);
    sqlite3_bind_int64(st, 3, retry_ms > 0 ? time_now_ms() + retry_ms : 0);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s, err, "releasing a call");
}

static int sq_call_candidates(store *base, int64_t user, int64_t call_id, char **json, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_CANDIDATES);
    sqlite3_bind_int64(st, 1, call_id);
    sqlite3_bind_int64(st, 2, user);
    int rc = sqlite3_step(st);
    const char *v = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    *json = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? mem_strdup(v ? v : "[]") : NULL;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_fail(s, err, "reading candidates");
    return *json ? 0 : err_set(err, ERR_NOMEM, "out of memory");
}

/* An atomic unit of several statements: its own BEGIN IMMEDIATE outside a transaction (so
 * a unit that reads before it writes takes the write lock first, and never fails with a
 * stale snapshot), a SAVEPOINT inside one. */
static int unit_begin(struct sq_store *s, int *owned, char *err)
{
    end_reads(s);
    *owned = sqlite3_get_autocommit(s->db);
    return exec(s, *owned ? "BEGIN IMMEDIATE" : "SAVEPOINT unit", err);
}

/* Keeps the unit's writes when rc is 0, else undoes them; returns rc or the commit's error. */
static int unit_end(struct sq_store *s, int owned, int rc, char *err)
{
    if (!rc) {
        rc = exec(s, owned ? "COMMIT" : "RELEASE unit", err);
        if (!rc) return 0;
    }
    if (owned) {
        if (!sqlite3_get_autocommit(s->db)) exec(s, "ROLLBACK", NULL);
    } else {
        exec(s, "ROLLBACK TO unit", NULL);
        exec(s, "RELEASE unit", NULL);
    }
    return rc;
}

/* ---- users, tokens, server values ---- */

static int read_user(struct sq_store *s, sqlite3_stmt *st, struct user *out, const char *what,
                     char *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(st, 0);
        copy_col(st, 1, out->name, sizeof out->name);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = err_set(err, ERR_NOTFOUND, "no such user (%s)", what);
    } else {
        rc = db_fail(s, err, "reading users");
    }
    sqlite3_reset(st);
    return rc;
}

static int sq_user_add(store *base, const char *name, const char *token_hash,
                       const char *const *exts, size_t nexts, struct user *out, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    int owned;
    int rc = unit_begin(s, &owned, err);
    if (rc) return rc;
    sqlite3_stmt *st = stmt(s, S_USER_ADD);
    bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, time_now_ms());
    if (token_hash)
        bind_text(st, 3, token_hash);
    else
        sqlite3_bind_null(st, 3);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step == SQLITE_CONSTRAINT) {
        rc = err_set(err, ERR_INVAL, "a user named '%s' already exists", name);
        goto out;
    }
    if (step != SQLITE_DONE) {
        rc = db_fail(s, err, "adding a user");
        goto out;
    }
    out->id = sqlite3_last_insert_rowid(s->db);
    snprintf(out->name, sizeof out->name, "%s", name);
    for (size_t i = 0; i < nexts; i++) {
        st = stmt(s, S_EXT_ADD);
        bind_text(st, 1, exts[i]);
        sqlite3_bind_int64(st, 2, out->id);
        step = sqlite3_step(st);
        sqlite3_reset(st);
        if (step == SQLITE_CONSTRAINT) {
            rc = err_set(err, ERR_INVAL, "extension %s already belongs to a user", exts[i]);
            goto out;
        }
        if (step != SQLITE_DONE) {
            rc = db_fail(s, err, "adding an extension");
            goto out;
        }
    }
out:
    return unit_end(s, owned, rc, err);
}

static int sq_user_by_id(store *base, int64_t id, struct user *out, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_USER_BY_ID);
    sqlite3_bind_int64(st, 1, id);
    return read_user(s, st, out, "id", err);
}

static int sq_user_by_token(store *base, const char *token_hash, struct user *out, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_USER_BY_TOKEN);
    bind_text(st, 1, token_hash);
    return read_user(s, st, out, "token", err);
}

static int sq_history_version(store *base, int64_t user, int64_t *out, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_HISTORY_VERSION);
    sqlite3_bind_int64(st, 1, user);
    int rc = sqlite3_step(st);
    /* Both parts only grow (calls are never deleted); the counter counts in units larger
     * than any call id, so the sum moves whenever either does. */
    *out = rc == SQLITE_ROW
               ? sqlite3_column_int64(st, 0) * (INT64_C(1) << 32) + sqlite3_column_int64(st, 1)
               : 0;
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return err_set(err, ERR_NOTFOUND, "no such user (%lld)", (long long)user);
    return rc == SQLITE_ROW ? 0 : db_fail(s, err, "reading the history version");
}

static int sq_user_by_extension(store *base, const char *ext, struct user *out, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_USER_BY_EXT);
    bind_text(st, 1, ext);
    return read_user(s, st, out, "extension", err);
}

static int sq_user_set_token(store *base, int64_t user, const char *token_hash, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_USER_SET_TOKEN);
    sqlite3_bind_int64(st, 1, user);
    bind_text(st, 2, token_hash);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_fail(s, err, "saving a token");
    return sqlite3_changes(s->db) ? 0 : err_set(err, ERR_NOTFOUND, "no such user");
}

static int sq_users_list(store *base, store_user_cb cb, void *ctx, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, stmt_sql[S_USERS], -1, &st, NULL))
        return db_fail(s, err, "listing users");
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct user u;
        u.id = sqlite3_column_int64(st, 0);
        copy_col(st, 1, u.name, sizeof u.name);
        if ((rc = cb(&u, ctx))) break;
    }
    if (!rc && step != SQLITE_DONE) rc = db_fail(s, err, "listing users");
    sqlite3_finalize(st);
    return rc;
}

static int sq_kv_get(store *base, const char *key, char *val, size_t len, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_KV_GET);
    bind_text(st, 1, key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) copy_col(st, 0, val, len);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) return 0;
    return rc == SQLITE_DONE ? ERR_NOTFOUND : db_fail(s, err, "reading a server value");
}

static int sq_kv_set(store *base, const char *key, const char *val, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_KV_SET);
    bind_text(st, 1, key);
    bind_text(st, 2, val);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s, err, "saving a server value");
}

/* ---- live events ---- */

static int step_done(struct sq_store *s, sqlite3_stmt *st, const char *what, char *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s, err, what);
}

static int sq_call_event(store *base, const struct call_rec *c, int kind, int64_t at_ms,
                         int has_duration, int64_t hold_until, int *changed, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    *changed = 0;
    struct call_rec rec = *c;
    rec.status = kind == STORE_EV_ENDED || kind == STORE_EV_MESSAGE ? ST_UNLOGGED : ST_ACTIVE;
    struct call_rec cur;
    int owned;
    int rc = unit_begin(s, &owned, err);
    if (rc) return rc;
    int found = sq_call_find(base, c->user_id, c->type, c->session_id, &cur, NULL) == 0;
    /* New calls (and every message) go in like an import: active, or already ended with the
     * event's duration. A known call that is still active takes the news; an ended one only
     * its recording link; a logged one nothing. */
    if (!found || kind == STORE_EV_MESSAGE || (cur.status == ST_ACTIVE && kind != STORE_EV_ENDED)) {
        if ((rc = sq_call_put(base, &rec, changed, err))) goto out;
        if (!found && (rc = sq_call_find(base, c->user_id, c->type, c->session_id, &cur, err)))
            goto out;
    }
    int before = sqlite3_total_changes(s->db);
    sqlite3_stmt *st;
    if (kind == STORE_EV_ANSWERED) {
        st = stmt(s, S_EV_ANSWERED);
        sqlite3_bind_int64(st, 1, cur.id);
        sqlite3_bind_int64(st, 2, at_ms);
        rc = step_done(s, st, "updating a call", err);
    } else if (kind == STORE_EV_ENDED && found && cur.status == ST_ACTIVE) {
        int64_t dur = has_duration ? c->duration
                      : cur.answered_ms && at_ms > cur.answered_ms
                          ? (at_ms - cur.answered_ms + 500) / 1000
                          : 0;
        st = stmt(s, S_EV_ENDED);
        sqlite3_bind_int64(st, 1, cur.id);
        sqlite3_bind_int64(st, 2, dur);
        bind_text(st, 3, c->result);
        bind_text(st, 4, c->recording);
        sqlite3_bind_int64(st, 5, hold_until);
        bind_text(st, 6, c->party_name);
        rc = step_done(s, st, "ending a call", err);
    } else if (kind == STORE_EV_ENDED && found) {
        /* Already ended: this event can only bring the recording link. */
        st = stmt(s, S_EV_RECORDING);
        sqlite3_bind_int64(st, 1, cur.id);
        bind_text(st, 2, c->recording);
        rc = step_done(s, st, "updating a recording", err);
    } else if (kind == STORE_EV_ENDED && hold_until) {
        /* It arrived already ended: the recording wait still applies. */
        st = stmt(s, S_EV_HOLD);
        sqlite3_bind_int64(st, 1, cur.id);
        sqlite3_bind_int64(st, 2, hold_until);
        rc = step_done(s, st, "holding a call", err);
    }
    if (!rc && *changed == 0 && sqlite3_total_changes(s->db) != before) *changed = 2;
out:
    return unit_end(s, owned, rc, err);
}

/* ---- the worker's queue ---- */

static int sq_call_request(store *base, int64_t user, int64_t call_id, const char *request_json,
                           int64_t lease_ms, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_REQUEST);
    int64_t now = time_now_ms();
    sqlite3_bind_int64(st, 1, call_id);
    sqlite3_bind_int64(st, 2, user);
    bind_text(st, 3, request_json);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, lease_ms > 0 ? now + lease_ms : 0);
    int rc = step_done(s, st, "queueing a log", err);
    if (rc) return rc;
    return sqlite3_changes(s->db) ? 0 : why_not(s, user, call_id, 0, err);
}

static int sq_requests_release(store *base, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    int owned, rc = unit_begin(s, &owned, err);
    if (rc) return rc;
    sqlite3_stmt *st = stmt(s, S_REQUESTS_RELEASE);
    sqlite3_bind_int64(st, 1, time_now_ms());
    rc = step_done(s, st, "releasing queued requests", err);
    return unit_end(s, owned, rc, err);
}

/* 1 when the statement (bound with now) finds a row, 0 when not, or an error. */
static int sq_any(struct sq_store *s, enum stmt_id id, int64_t now, char *err)
{
    sqlite3_stmt *st = stmt(s, id);
    sqlite3_bind_int64(st, 1, now);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) return 1;
    return rc == SQLITE_DONE ? 0 : db_fail(s, err, "looking for work");
}

/* Starts a claim when a read (any) finds work: takes the write turn (rather than polling
 * SQLite's lock) and binds the claim statement's ?1 max, ?2 lease end and ?3 now. NULL
 * with *rc 0 when there is nothing to claim, or with the error. */
static sqlite3_stmt *claim_begin(struct sq_store *s, enum stmt_id any, enum stmt_id claim,
                                 size_t max, int64_t lease_ms, int *owned, int *rc, char *err)
{
    int64_t now = time_now_ms();
    int found = sq_any(s, any, now, err);
    *rc = found < 0 ? found : 0;
    if (found <= 0 || (*rc = unit_begin(s, owned, err))) return NULL;
    sqlite3_stmt *st = stmt(s, claim);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    sqlite3_bind_int64(st, 2, now + lease_ms);
    sqlite3_bind_int64(st, 3, now);
    return st;
}

static int sq_claim_requests(store *base, size_t max, int64_t lease_ms, struct call_rec *out,
                             char **requests, size_t *n, char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    int owned, rc;
    *n = 0;
    sqlite3_stmt *st =
        claim_begin(s, S_ANY_REQUEST, S_CLAIM_REQUESTS, max, lease_ms, &owned, &rc, err);
    if (!st) return rc;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
        const char *req = (const char *)sqlite3_column_text(st, CALL_NCOLUMNS);
        requests[*n] = mem_strdup(req ? req : "{}");
        if (!requests[*n]) {
            rc = err_set(err, ERR_NOMEM, "out of memory");
            break;
        }
        row_to_call(st, &out[(*n)++]);
    }
    sqlite3_reset(st);
    if (!rc && step != SQLITE_DONE && step != SQLITE_ROW) rc = db_fail(s, err, "claiming requests");
    if ((rc = unit_end(s, owned, rc, err))) { /* nothing is claimed */
        for (size_t i = 0; i < *n; i++) {
            mem_free(requests[i]);
            requests[i] = NULL;
        }
        *n = 0;
    }
    return rc;
}

static int sq_claim_auto(store *base, size_t max, int64_t lease_ms, struct call_rec *out, size_t *n,
                         char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    int owned, rc;
    *n = 0;
    sqlite3_stmt *st = claim_begin(s, S_ANY_AUTO, S_CLAIM_AUTO, max, lease_ms, &owned, &rc, err);
    if (!st) return rc;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < max)
        row_to_call(st, &out[(*n)++]);
    sqlite3_reset(st);
    if (step != SQLITE_DONE && step != SQLITE_ROW) rc = db_fail(s, err, "claiming calls");
    if ((rc = unit_end(s, owned, rc, err))) *n = 0;
    return rc;
}

static int sq_call_request_done(store *base, int64_t user, int64_t call_id, const char *error,
                                char *err)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = stmt(s, S_REQUEST_DONE);
    sqlite3_bind_int64(st, 1, call_id);
    sqlite3_bind_int64(st, 2, user);
    if (error)
        bind_text(st, 3, error);
    else
        sqlite3_bind_null(st, 3);
    return step_done(s, st, "finishing a request", err);
}

const struct store_ops store_sqlite = {
    .name = "sqlite",
    .scheme = "sqlite:",
    .open = sq_open,
    .close = sq_close,
    .file = sq_file,
    .sqlite_db = sq_db,
    .cache = sq_cache,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .part_begin = sq_part_begin,
    .part_end = sq_part_end,
    .read_begin = sq_read_begin,
    .read_end = sq_read_end,
    .user_get = sq_user_get,
    .setting_get = sq_setting_get,
    .setting_set = sq_setting_set,
    .call_put = sq_call_put,
    .call_get = sq_call_get,
    .call_find = sq_call_find,
    .calls_list = sq_calls_list,
    .calls_page = sq_calls_page,
    .history_version = sq_history_version,
    .calls_count = sq_calls_count,
    .note_set = sq_note_set,
    .note_get = sq_note_get,
    .call_claim = sq_call_claim,
    .claim_unlogged = sq_claim_unlogged,
    .call_set_logged = sq_call_set_logged,
    .call_release = sq_call_release,
    .call_unclaim = sq_call_unclaim,
    .call_candidates = sq_call_candidates,
    .user_add = sq_user_add,
    .user_by_id = sq_user_by_id,
    .user_by_token = sq_user_by_token,
    .user_by_extension = sq_user_by_extension,
    .user_set_token = sq_user_set_token,
    .users_list = sq_users_list,
    .kv_get = sq_kv_get,
    .kv_set = sq_kv_set,
    .call_event = sq_call_event,
    .call_request = sq_call_request,
    .requests_release = sq_requests_release,
    .claim_requests = sq_claim_requests,
    .claim_auto = sq_claim_auto,
    .call_request_done = sq_call_request_done,
};
