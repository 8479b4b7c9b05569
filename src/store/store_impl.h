/* Private to src/store: the backend table. Each backend's handle starts with `struct store`
 * so store.c can reach its ops; store.c's wrappers are the only callers. */
#ifndef CRMLOG_STORE_IMPL_H
#define CRMLOG_STORE_IMPL_H

#include "store.h"

struct store_ops {
    const char *name;
    const char *scheme; /* URL prefix that selects the backend, "sqlite:" */
    int (*open)(const char *target, store **out, char *err);
    void (*close)(store *s);
    const char *(*file)(const store *s);
    struct sqlite3 *(*sqlite_db)(store *s);     /* optional: NULL for other backends */
    int (*cache)(store *s, int kib, char *err); /* optional */
    int (*begin)(store *s, char *err);
    int (*commit)(store *s, char *err);
    int (*rollback)(store *s);
    int (*part_begin)(store *s, char *err);
    int (*part_end)(store *s, int keep, char *err);
    int (*read_begin)(store *s, char *err);
    void (*read_end)(store *s);
    int (*user_get)(store *s, const char *name, struct user *out, char *err);
    int (*setting_get)(store *s, int64_t user, const char *key, char *val, size_t len, char *err);
    int (*setting_set)(store *s, int64_t user, const char *key, const char *val, char *err);
    int (*call_put)(store *s, const struct call_rec *c, int *changed, char *err);
    int (*call_get)(store *s, int64_t user, const char *ref, struct call_rec *out, char *err);
    int (*call_find)(store *s, int64_t user, int type, const char *session_id, struct call_rec *out,
                     char *err);
    int (*calls_list)(store *s, int64_t user, int status, store_call_cb cb, void *ctx, char *err);
    int (*calls_page)(store *s, int64_t user, int status, int64_t before_ms, int64_t before_id,
                      size_t limit, store_page_cb cb, void *ctx, char *err);
    int (*history_version)(store *s, int64_t user, int64_t *out, char *err);
    int (*calls_count)(store *s, int64_t user, int status, int64_t *n, char *err);
    int (*note_set)(store *s, int64_t user, int64_t call_id, const char *text, char *err);
    int (*note_get)(store *s, int64_t user, int64_t call_id, char **text, char *err);
    int (*call_claim)(store *s, int64_t user, int64_t call_id, int64_t lease_ms, char *err);
    int (*claim_unlogged)(store *s, int64_t user, size_t max, int64_t lease_ms,
                          struct call_rec *out, size_t *n, char *err);
    int (*call_set_logged)(store *s, int64_t user, int64_t call_id, const char *log_id,
                           const char *contact_id, const char *contact_name,
                           const char *association_id, const char *association_name, char *err);
    int (*call_release)(store *s, int64_t user, int64_t call_id, int status, int reason,
                        const char *candidates_json, char *err);
    int (*call_unclaim)(store *s, int64_t user, int64_t call_id, int64_t retry_ms, char *err);
    int (*call_candidates)(store *s, int64_t user, int64_t call_id, char **json, char *err);
    int (*user_add)(store *s, const char *name, const char *token_hash, const char *const *exts,
                    size_t nexts, struct user *out, char *err);
    int (*user_by_id)(store *s, int64_t id, struct user *out, char *err);
    int (*user_by_token)(store *s, const char *token_hash, struct user *out, char *err);
    int (*user_by_extension)(store *s, const char *ext, struct user *out, char *err);
    int (*user_set_token)(store *s, int64_t user, const char *token_hash, char *err);
    int (*users_list)(store *s, store_user_cb cb, void *ctx, char *err);
    int (*kv_get)(store *s, const char *key, char *val, size_t len, char *err);
    int (*kv_set)(store *s, const char *key, const char *val, char *err);
    int (*call_event)(store *s, const struct call_rec *c, int kind, int64_t at_ms, int has_duration,
                      int64_t hold_until, int *changed, char *err);
    int (*call_request)(store *s, int64_t user, int64_t call_id, const char *request_json,
                        int64_t lease_ms, char *err);
    int (*requests_release)(store *s, char *err);
    int (*claim_requests)(store *s, size_t max, int64_t lease_ms, struct call_rec *out,
                          char **requests, size_t *n, char *err);
    int (*claim_auto)(store *s, size_t max, int64_t lease_ms, struct call_rec *out, size_t *n,
                      char *err);
    int (*call_request_done)(store *s, int64_t user, int64_t call_id, const char *error, char *err);
};

struct store {
    const struct store_ops *ops;
};

extern const struct store_ops store_sqlite;

#endif
