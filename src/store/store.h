/* The store: crmlog's own data (users, settings, calls and messages, notes, logs, the
 * unresolved queue and the work queue). One interface, backends chosen by URL:
 * `sqlite:PATH` or a plain path (the default, embedded). The embedded CRM's tables may
 * sit in the same file, but the store never reads them.
 *
 * Every function returns 0 or a negative ERR_* code with one line in err (ERR_LEN bytes).
 * Output structs are the caller's. A handle is used by one thread at a time. */
#ifndef CRMLOG_STORE_H
#define CRMLOG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/call.h"

typedef struct store store;

struct user {
    int64_t id;
    char name[CALL_NAME_LEN];
};

/* Opens (creating and migrating as needed) the store at url. A fresh store gets one user,
 * named "agent". On error *out is NULL. */
int store_open(const char *url, store **out, char *err);
void store_close(store *s);
/* The file of an SQLite store ("" for other backends); borrowed from the handle. */
const char *store_file(const store *s);
/* The connection of an SQLite store (NULL for other backends), for a part that keeps its
 * tables in the same database and joins the store's transactions (the embedded CRM).
 * Borrowed: valid until store_close, on the handle's thread. */
struct sqlite3;
struct sqlite3 *store_sqlite_db(store *s);
/* Lets the handle keep up to kib KiB of the database in memory (SQLite's default is 2 MiB
 * a connection). Worth it for a handle that writes most: its own commits keep its pages
 * valid, while any other connection's commit empties a reader's. A backend without such a
 * cache ignores it. */
int store_cache(store *s, int kib, char *err);

/* Transactions group writes (imports are all or nothing). Not nested. */
int store_begin(store *s, char *err);
int store_commit(store *s, char *err);
int store_rollback(store *s);
/* Inside a transaction, a part that can be undone alone: store_part_end keeps its writes
 * (keep != 0) or undoes them, leaving the rest of the transaction as it was. */
int store_part_begin(store *s, char *err);
int store_part_end(store *s, int keep, char *err);
/* A read group: the reads until store_read_end share one snapshot (and one lock round).
 * No writes in between. Does nothing inside a transaction. */
int store_read_begin(store *s, char *err);
void store_read_end(store *s);

/* The user called name, or the first user when name is NULL. */
int store_user_get(store *s, const char *name, struct user *out, char *err);

/* Raw settings text; ERR_NOTFOUND when unset (settings.c knows keys and defaults). */
int store_setting_get(store *s, int64_t user, const char *key, char *val, size_t len, char *err);
int store_setting_set(store *s, int64_t user, const char *key, const char *val, char *err);

/* Adds a call or message from a source. A record already stored (same user, type and
 * session id) is not added again; an active call is updated when its record comes again
 * (answered, ended). *changed: 1 added, 2 updated, 0 nothing. */
int store_call_put(store *s, const struct call_rec *c, int *changed, char *err);

/* A call by crmlog id (all digits) or session id / message id. ERR_NOTFOUND otherwise. */
int store_call_get(store *s, int64_t user, const char *ref, struct call_rec *out, char *err);

/* Exactly the call (type, session id) of the user; ERR_NOTFOUND otherwise. */
int store_call_find(store *s, int64_t user, int type, const char *session_id, struct call_rec *out,
                    char *err);

typedef int (*store_call_cb)(const struct call_rec *c, void *ctx);
/* The user's calls and messages, newest first; status -1 for all. A non-zero return from
 * cb stops the walk and is returned. */
int store_calls_list(store *s, int64_t user, int status, store_call_cb cb, void *ctx, char *err);
/* A number that moves whenever any of the user's calls or notes changes, by any handle or
 * process: a history page made at one value is still right while it stays. */
int store_history_version(store *s, int64_t user, int64_t *out, char *err);
/* One page of the history, newest first: at most limit calls older than the cursor
 * (before_ms, before_id) — both 0 for the first page. The next page's cursor is the last
 * call's (start_ms, id). Uses the time index, so a page costs the same at any depth. Each
 * call comes with its note (NULL when none), borrowed for the callback. A callback may use
 * the store, but not walk the history again (store_calls_list is a page too). */
typedef int (*store_page_cb)(const struct call_rec *c, const char *note, void *ctx);
int store_calls_page(store *s, int64_t user, int status, int64_t before_ms, int64_t before_id,
                     size_t limit, store_page_cb cb, void *ctx, char *err);
/* How many of the user's calls have that status (-1: all). */
int store_calls_count(store *s, int64_t user, int status, int64_t *n, char *err);

/* Notes. Setting a note on a logged call fails with ERR_ALREADY (edit in the CRM). */
int store_note_set(store *s, int64_t user, int64_t call_id, const char *text, char *err);
/* *text is the note (mem_free it) or NULL when there is none. */
int store_note_get(store *s, int64_t user, int64_t call_id, char **text, char *err);

/* Log once. A claim is a lease: whoever holds it may log the call until lease_ms from now;
 * an expired lease (a crashed logger) can be claimed again, which is safe because
 * connectors write idempotently. ERR_ALREADY when the call is logged, ERR_BUSY when another
 * holds a live lease, ERR_NOTFOUND for no such call. */
int store_call_claim(store *s, int64_t user, int64_t call_id, int64_t lease_ms, char *err);
/* Claims up to max unlogged, ended, non-internal calls and messages of the user whose lease
 * is free, oldest first, into out. */
int store_claim_unlogged(store *s, int64_t user, size_t max, int64_t lease_ms, struct call_rec *out,
                         size_t *n, char *err);
/* The claimed call is logged: final, never changed again. */
int store_call_set_logged(store *s, int64_t user, int64_t call_id, const char *log_id,
                          const char *contact_id, const char *contact_name,
                          const char *association_id, const char *association_name, char *err);
/* Gives a claimed call back with a new status (ST_UNLOGGED, ST_UNRESOLVED with reason and
 * candidates as a JSON array text, or ST_REVIEW). */
int store_call_release(store *s, int64_t user, int64_t call_id, int status, int reason,
                       const char *candidates_json, char *err);
/* Gives a claimed call back unchanged. With retry_ms > 0 it stays claimed that long, so
 * a failing CRM is not hammered: the call is retried after that (it is never dropped), and
 * its attempts count goes up. */
int store_call_unclaim(store *s, int64_t user, int64_t call_id, int64_t retry_ms, char *err);
/* The candidates stored with an unresolved call, as JSON array text (mem_free it);
 * "[]" when none. */
int store_call_candidates(store *s, int64_t user, int64_t call_id, char **json, char *err);

/* ---- Users and tokens (the server). Tokens are never stored, only their hash. ---- */

/* Adds a user with an API token hash (hex SHA-256) and extensions. ERR_INVAL when the name
 * or an extension is taken (nothing added). */
int store_user_add(store *s, const char *name, const char *token_hash, const char *const *exts,
                   size_t nexts, struct user *out, char *err);
int store_user_by_id(store *s, int64_t id, struct user *out, char *err);
int store_user_by_token(store *s, const char *token_hash, struct user *out, char *err);
int store_user_by_extension(store *s, const char *ext, struct user *out, char *err);
int store_user_set_token(store *s, int64_t user, const char *token_hash, char *err);
typedef int (*store_user_cb)(const struct user *u, void *ctx);
int store_users_list(store *s, store_user_cb cb, void *ctx, char *err);

/* Server-wide values (the events token). ERR_NOTFOUND when unset. */
int store_kv_get(store *s, const char *key, char *val, size_t len, char *err);
int store_kv_set(store *s, const char *key, const char *val, char *err);

/* ---- Live call events ---- */

enum store_event { STORE_EV_RINGING, STORE_EV_ANSWERED, STORE_EV_ENDED, STORE_EV_MESSAGE };

/* Applies a telephony event to the call c->session_id of c->user_id: ringing and answered
 * create an active call (answered also notes at_ms); ended makes it unlogged with its
 * duration (given, or from the answer time), result and recording; a later ended event for
 * an ended call only brings the recording link. hold_until (Unix ms, 0 for none) makes
 * auto-log wait for a recording link. A logged call never changes. A message is added
 * like an import. *changed: 1 added, 2 updated, 0 nothing. */
int store_call_event(store *s, const struct call_rec *c, int kind, int64_t at_ms, int has_duration,
                     int64_t hold_until, int *changed, char *err);

/* ---- The work queue of the server's worker ---- */

/* Queues a person's log request (JSON text) for the worker. With lease_ms > 0 the request is
 * claimed at once for that long, for a worker that is handed it (store_claim_requests skips
 * it); 0 leaves it to store_claim_requests. ERR_ALREADY logged, ERR_BUSY being logged or
 * already queued, ERR_INVAL still active or internal. */
int store_call_request(store *s, int64_t user, int64_t call_id, const char *request_json,
                       int64_t lease_ms, char *err);
/* Ends the claims on every queued request: a server starting takes back what the one before
 * it held when it stopped. */
int store_requests_release(store *s, char *err);
/* Claims up to max queued requests of any user; requests[i] is the request text
 * (mem_free each). */
int store_claim_requests(store *s, size_t max, int64_t lease_ms, struct call_rec *out,
                         char **requests, size_t *n, char *err);
/* Claims up to max unlogged calls of the users whose auto_log is on, whose recording wait
 * is over. */
int store_claim_auto(store *s, size_t max, int64_t lease_ms, struct call_rec *out, size_t *n,
                     char *err);
/* Ends a queued request that was refused: clears it and the claim, keeps error for the
 * person to read. */
int store_call_request_done(store *s, int64_t user, int64_t call_id, const char *error, char *err);

#endif
