/* Backend dispatch: picks a backend by URL and forwards every call to its table. */
#include "store_impl.h"

#include <string.h>

#include "../core/err.h"

static const struct store_ops *const store_backends[] = {&store_sqlite};

int store_open(const char *url, store **out, char *err)
{
    *out = NULL;
    if (!url || !*url) return err_set(err, ERR_INVAL, "no store given (use --db PATH)");
    for (size_t i = 0; i < sizeof store_backends / sizeof *store_backends; i++) {
        const struct store_ops *ops = store_backends[i];
        size_t n = strlen(ops->scheme);
        if (strncmp(url, ops->scheme, n) == 0) return ops->open(url + n, out, err);
    }
    if (strstr(url, "://"))
        return err_set(err, ERR_UNSUPPORTED, "store URL '%s': only sqlite:PATH is supported", url);
    return store_sqlite.open(url, out, err); /* a plain path */
}

void store_close(store *s)
{
    if (s) s->ops->close(s);
}

const char *store_file(const store *s)
{
    return s->ops->file(s);
}

struct sqlite3 *store_sqlite_db(store *s)
{
    return s->ops->sqlite_db ? s->ops->sqlite_db(s) : NULL;
}

int store_cache(store *s, int kib, char *err)
{
    return s->ops->cache ? s->ops->cache(s, kib, err) : 0;
}

int store_begin(store *s, char *err)
{
    return s->ops->begin(s, err);
}

int store_commit(store *s, char *err)
{
    return s->ops->commit(s, err);
}

int store_rollback(store *s)
{
    return s->ops->rollback(s);
}

int store_part_begin(store *s, char *err)
{
    return s->ops->part_begin(s, err);
}

int store_part_end(store *s, int keep, char *err)
{
    return s->ops->part_end(s, keep, err);
}

int store_read_begin(store *s, char *err)
{
    return s->ops->read_begin(s, err);
}

void store_read_end(store *s)
{
    s->ops->read_end(s);
}

int store_user_get(store *s, const char *name, struct user *out, char *err)
{
    return s->ops->user_get(s, name, out, err);
}

int store_setting_get(store *s, int64_t user, const char *key, char *val, size_t len, char *err)
{
    return s->ops->setting_get(s, user, key, val, len, err);
}

int store_setting_set(store *s, int64_t user, const char *key, const char *val, char *err)
{
    return s->ops->setting_set(s, user, key, val, err);
}

int store_call_put(store *s, const struct call_rec *c, int *changed, char *err)
{
    return s->ops->call_put(s, c, changed, err);
}

int store_call_get(store *s, int64_t user, const char *ref, struct call_rec *out, char *err)
{
    return s->ops->call_get(s, user, ref, out, err);
}

int store_calls_list(store *s, int64_t user, int status, store_call_cb cb, void *ctx, char *err)
{
    return s->ops->calls_list(s, user, status, cb, ctx, err);
}

int store_calls_count(store *s, int64_t user, int status, int64_t *n, char *err)
{
    return s->ops->calls_count(s, user, status, n, err);
}

int store_note_set(store *s, int64_t user, int64_t call_id, const char *text, char *err)
{
    return s->ops->note_set(s, user, call_id, text, err);
}

int store_note_get(store *s, int64_t user, int64_t call_id, char **text, char *err)
{
    return s->ops->note_get(s, user, call_id, text, err);
}

int store_call_claim(store *s, int64_t user, int64_t call_id, int64_t lease_ms, char *err)
{
    return s->ops->call_claim(s, user, call_id, lease_ms, err);
}

int store_claim_unlogged(store *s, int64_t user, size_t max, int64_t lease_ms, struct call_rec *out,
                         size_t *n, char *err)
{
    return s->ops->claim_unlogged(s, user, max, lease_ms, out, n, err);
}

int store_call_set_logged(store *s, int64_t user, int64_t call_id, const char *log_id,
                          const char *contact_id, const char *contact_name,
                          const char *association_id, const char *association_name, char *err)
{
    return s->ops->call_set_logged(s, user, call_id, log_id, contact_id, contact_name,
                                   association_id, association_name, err);
}

int store_call_release(store *s, int64_t user, int64_t call_id, int status, int reason,
                       const char *candidates_json, char *err)
{
    return s->ops->call_release(s, user, call_id, status, reason, candidates_json, err);
}

int store_call_candidates(store *s, int64_t user, int64_t call_id, char **json, char *err)
{
    return s->ops->call_candidates(s, user, call_id, json, err);
}

int store_call_unclaim(store *s, int64_t user, int64_t call_id, int64_t retry_ms, char *err)
{
    return s->ops->call_unclaim(s, user, call_id, retry_ms, err);
}

int store_user_add(store *s, const char *name, const char *token_hash, const char *const *exts,
                   size_t nexts, struct user *out, char *err)
{
    return s->ops->user_add(s, name, token_hash, exts, nexts, out, err);
}

int store_user_by_id(store *s, int64_t id, struct user *out, char *err)
{
    return s->ops->user_by_id(s, id, out, err);
}

int store_user_by_token(store *s, const char *token_hash, struct user *out, char *err)
{
    return s->ops->user_by_token(s, token_hash, out, err);
}

int store_user_by_extension(store *s, const char *ext, struct user *out, char *err)
{
    return s->ops->user_by_extension(s, ext, out, err);
}

int store_user_set_token(store *s, int64_t user, const char *token_hash, char *err)
{
    return s->ops->user_set_token(s, user, token_hash, err);
}

int store_users_list(store *s, store_user_cb cb, void *ctx, char *err)
{
    return s->ops->users_list(s, cb, ctx, err);
}

int store_kv_get(store *s, const char *key, char *val, size_t len, char *err)
{
    return s->ops->kv_get(s, key, val, len, err);
}

int store_kv_set(store *s, const char *key, const char *val, char *err)
{
    return s->ops->kv_set(s, key, val, err);
}

int store_call_event(store *s, const struct call_rec *c, int kind, int64_t at_ms, int has_duration,
                     int64_t hold_until, int *changed, char *err)
{
    return s->ops->call_event(s, c, kind, at_ms, has_duration, hold_until, changed, err);
}

int store_call_request(store *s, int64_t user, int64_t call_id, const char *request_json,
                       int64_t lease_ms, char *err)
{
    return s->ops->call_request(s, user, call_id, request_json, lease_ms, err);
}

int store_requests_release(store *s, char *err)
{
    return s->ops->requests_release(s, err);
}

int store_claim_requests(store *s, size_t max, int64_t lease_ms, struct call_rec *out,
                         char **requests, size_t *n, char *err)
{
    return s->ops->claim_requests(s, max, lease_ms, out, requests, n, err);
}

int store_claim_auto(store *s, size_t max, int64_t lease_ms, struct call_rec *out, size_t *n,
                     char *err)
{
    return s->ops->claim_auto(s, max, lease_ms, out, n, err);
}

int store_call_request_done(store *s, int64_t user, int64_t call_id, const char *error, char *err)
{
    return s->ops->call_request_done(s, user, call_id, error, err);
}

int store_history_version(store *s, int64_t user, int64_t *out, char *err)
{
    return s->ops->history_version(s, user, out, err);
}

int store_calls_page(store *s, int64_t user, int status, int64_t before_ms, int64_t before_id,
                     size_t limit, store_page_cb cb, void *ctx, char *err)
{
    return s->ops->calls_page(s, user, status, before_ms, before_id, limit, cb, ctx, err);
}

int store_call_find(store *s, int64_t user, int type, const char *session_id, struct call_rec *out,
                    char *err)
{
    return s->ops->call_find(s, user, type, session_id, out, err);
}
