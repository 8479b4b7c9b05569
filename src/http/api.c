/* The handlers of the JSON API v1 (docs/api.md). Each one reads its request (the body is
 * already capped and its Content-Type checked by server.c, the caller authenticated), works
 * on this thread's store and embedded-CRM handles, and fills r->status and r->out. None of
 * them waits on a remote CRM: logs are queued for the worker. A refused request changes
 * nothing: bodies are validated completely before the first write. */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/err.h"
#include "../core/ingest.h"
#include "../core/jw.h"
#include "../core/logger.h"
#include "../core/mem.h"
#include "../core/metrics.h"
#include "../core/settings.h"
#include "../core/view.h"
#include "../sources/events.h"
#include "../sources/import.h"
#include "web.h"

#define CALLS_LIMIT_DEFAULT 50
#define CALLS_LIMIT_MAX 500

/* ---------- responses ---------- */

void api_reply(struct api_req *r, int status, json_t *j)
{
    if (!j) {
        api_error(r, 500, "internal", "out of memory");
        return;
    }
    buf_reset(&r->out);
    int rc = jw_json(&r->out, j);
    json_decref(j);
    if (rc) {
        api_error(r, 500, "internal", "the response is larger than the server sends");
        return;
    }
    r->status = status;
    r->type = "application/json";
}

void api_error(struct api_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    if (!j) /* a message quoting text that is not UTF-8 */
        j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
                      "(the message quotes text that is not UTF-8)");
    buf_reset(&r->out);
    if (!j || jw_json(&r->out, j)) {
        buf_reset(&r->out);
        buf_puts(&r->out, "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
        status = 500;
    }
    json_decref(j);
    r->status = status;
    r->type = "application/json";
}

void api_fail(struct api_req *r, int rc, const char *msg)
{
    switch (rc) {
    case ERR_NOTFOUND:
        api_error(r, 404, "not_found", "%s", msg);
        return;
    case ERR_PARSE:
    case ERR_USAGE:
        api_error(r, 400, "bad_request", "%s", msg);
        return;
    case ERR_INVAL:
        api_error(r, 422, "invalid", "%s", msg);
        return;
    case ERR_ALREADY:
        api_error(r, 409, "already_logged", "%s", msg);
        return;
    case ERR_CONFLICT:
        api_error(r, 409, "conflict", "%s", msg);
        return;
    case ERR_BUSY:
        /* The store says ERR_BUSY both for a call someone is logging and for a database
         * that stayed locked past its timeout; only the latter's message starts "store:". */
        if (strncmp(msg, "store:", 6) == 0)
            api_error(r, 503, "unavailable", "%s", msg);
        else
            api_error(r, 409, "busy", "%s", msg);
        return;
    case ERR_TOOBIG:
        api_error(r, 413, "payload_too_large", "%s", msg);
        return;
    case ERR_UNSUPPORTED:
        api_error(r, 415, "unsupported_media_type", "%s", msg);
        return;
    default:
        api_error(r, 500, "internal", "%s", msg);
        return;
    }
}

/* ---------- request bodies ---------- */

enum jtype { J_STRING, J_OBJECT, J_ARRAY };

struct key_spec {
    const char *key;
    enum jtype type;
};

static const char *jtype_name(enum jtype t)
{
    return t == J_STRING ? "a string" : t == J_OBJECT ? "an object" : "an array";
}

static int jtype_ok(json_t *v, enum jtype t)
{
    return t == J_STRING ? json_is_string(v) : t == J_OBJECT ? json_is_object(v) : json_is_array(v);
}

/* The body as a JSON object (the caller decrefs it), or NULL with a 400 set. An empty body
 * reads as {} when empty_ok. */
static json_t *body_object(struct api_req *r, int empty_ok)
{
    if (r->body_len == 0) {
        if (empty_ok) return json_object();
        api_error(r, 400, "bad_request", "the request needs a JSON object as its body");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        api_error(r, 400, "bad_request", "malformed JSON at line %d, column %d: %s", je.line,
                  je.column, je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        api_error(r, 400, "bad_request", "the body must be a JSON object");
        return NULL;
    }
    return j;
}

/* 0 when every member of obj is named in spec and has its type; else a 400 naming the
 * member. Members are optional here; handlers check what they require. */
static int check_keys(struct api_req *r, json_t *obj, const struct key_spec *spec, size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(spec[i].key, key) != 0)
            i++;
        if (i == n) {
            char known[256];
            size_t used = 0;
            known[0] = '\0';
            for (size_t k = 0; k < n && used < sizeof known; k++)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", k ? ", " : "",
                                         spec[k].key);
            api_error(r, 400, "bad_request", "unknown field '%.100s' (fields: %s)", key, known);
            return -1;
        }
        if (!jtype_ok(v, spec[i].type)) {
            api_error(r, 400, "bad_request", "field '%s' must be %s", key,
                      jtype_name(spec[i].type));
            return -1;
        }
    }
    return 0;
}

static const char *get_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* A string member that, when present, must be 1..max-1 bytes. */
static int check_id(struct api_req *r, json_t *obj, const char *key, size_t max)
{
    const char *s = get_str(obj, key);
    if (!s) return 0;
    size_t len = strlen(s);
    if (len == 0) {
        api_error(r, 422, "invalid", "'%s' must not be empty", key);
        return -1;
    }
    if (len >= max) {
        api_error(r, 422, "invalid", "'%s' is longer than %zu bytes", key, max - 1);
        return -1;
    }
    return 0;
}

/* ---------- helpers over the store and the CRM ---------- */

/* The logger for matching and views. Each store read is a read transaction of its own, so
 * only what matching reads is loaded: every setting (logger_init) when the CRM's search is
 * exact-string and needs the phone formats, else the region alone, when asked for. */
static int load_logger(struct api_req *r, struct logger *lg, int need_region)
{
    int rc = 0;
    if (r->crm->ops->exact_string_search) {
        rc = logger_init(lg, r->st, r->crm, &r->user, r->err);
    } else {
        memset(lg, 0, sizeof *lg);
        lg->st = r->st;
        lg->crm = r->crm;
        lg->user = r->user;
        memcpy(lg->settings.region, "US", 3);
        char v[SETTING_VALUE_LEN];
        if (need_region && !(rc = settings_get(r->st, r->user.id, "region", v, r->err)))
            snprintf(lg->settings.region, sizeof lg->settings.region, "%.2s", v);
    }
    if (rc) api_fail(r, rc, r->err);
    return rc;
}

/* Replies with the call (view_call) of this user. */
static void reply_call(struct api_req *r, int status, int64_t id)
{
    struct call_rec c;
    struct logger lg;
    view *v = NULL;
    char ref[24], *note = NULL;
    snprintf(ref, sizeof ref, "%lld", (long long)id);
    int rc = store_call_get(r->st, r->user.id, ref, &c, r->err);
    if (!rc) rc = store_note_get(r->st, r->user.id, c.id, &note, r->err);
    if (rc) {
        api_fail(r, rc, r->err);
        return;
    }
    if (load_logger(r, &lg, 0)) {
        mem_free(note);
        return;
    }
    if ((rc = view_open(&lg, &v, r->err))) {
        mem_free(note);
        api_fail(r, rc, r->err);
        return;
    }
    /* Written straight into the reply, as a history page's calls are. */
    buf_reset(&r->out);
    rc = view_call_put(v, &c, note, &r->out, r->err);
    view_close(v);
    mem_free(note);
    if (rc) {
        api_fail(r, rc == ERR_INVAL ? ERR_DB : rc, r->err);
        return;
    }
    r->status = status;
    r->type = "application/json";
}

/* ---------- routes ---------- */

static void h_healthz(struct api_req *r)
{
    struct user u;
    int rc = store_user_get(r->st, NULL, &u, r->err);
    if (rc) {
        api_error(r, 503, "unavailable", "the store does not answer: %s", r->err);
        return;
    }
    api_reply(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_metrics(struct api_req *r)
{
    buf_reset(&r->out);
    if (metrics_render(&r->out)) {
        api_error(r, 500, "internal", "cannot render the metrics");
        return;
    }
    r->status = 200;
    r->type = "text/plain; version=0.0.4";
}

static void h_me(struct api_req *r)
{
    api_reply(r, 200, json_pack("{s:I,s:s}", "id", (json_int_t)r->user.id, "name", r->user.name));
}

/* POST /api/v1/import: like `crmlog import`, one transaction, all or nothing. */
static void h_import(struct api_req *r)
{
    if (r->body_len == 0) {
        api_error(r, 400, "bad_request",
                  "the body is empty: send a call-log or message-store "
                  "response, or JSON Lines");
        return;
    }
    FILE *in = fmemopen((void *)r->body, r->body_len, "r");
    if (!in) {
        api_error(r, 500, "internal", "out of memory");
        return;
    }
    struct ingest_counts n;
    int rc = ingest_file(r->st, r->user.id, in, "body", &n, r->err);
    fclose(in);
    if (rc == ERR_PARSE || rc == ERR_INVAL) {
        api_error(r, 400, "bad_request", "%s; nothing was imported", r->err);
        return;
    }
    if (rc) {
        api_fail(r, rc, r->err);
        return;
    }
    if (n.added) api_wake_worker();
    api_reply(r, 200,
              json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "records", (json_int_t)n.stats.records,
                        "calls", (json_int_t)n.stats.calls, "sms", (json_int_t)n.stats.sms, "added",
                        (json_int_t)n.added, "updated", (json_int_t)n.updated, "unchanged",
                        (json_int_t)n.unchanged, "skipped", (json_int_t)n.stats.skipped));
}

/* GET /api/v1/calls: pages of the history. The cursor is "START_MS.ID" of the last call of
 * the page; clients treat it as opaque. */
struct page {
    view *v;
    struct buf *out;
    size_t n, limit;
    int more, failed;
    int64_t last_ms, last_id;
    char *err;
};

/* Each call is written straight into the response: {"calls":[…],"next":…}. */
static int page_row(const struct call_rec *c, const char *note, void *p)
{
    struct page *pg = p;
    if (pg->n == pg->limit) { /* the extra row asked for: there is a next page */
        pg->more = 1;
        return 1;
    }
    if ((pg->n && jw_raw(pg->out, ",")) || view_call_put(pg->v, c, note, pg->out, pg->err)) {
        pg->failed = 1;
        return 1;
    }
    pg->last_ms = c->start_ms;
    pg->last_id = c->id;
    pg->n++;
    return 0;
}

static int parse_i64(const char *s, const char *end, int64_t *out)
{
    if (s == end || end - s > 19) return -1;
    int64_t v = 0;
    for (const char *p = s; p < end; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

/* History pages a thread made, kept and sent again while still right: the agent's page
 * asks for its first page every 2 s, and most of those times nothing changed. A page holds
 * while the user's history version and the CRM's contacts version are the ones it was made
 * at, for at most a second (a call's past_retention turns with the clock). A CRM without
 * contacts versions gets no pages kept. */
#define PAGES_KEPT 8
#define PAGE_TTL_MS 1000

struct kept_page {
    int64_t user, before_ms, before_id, limit;
    int status;
    int64_t history_version, contacts_version, made_ms;
    struct buf body; /* limit 0: the slot is empty */
};

struct api_pages {
    size_t next; /* the slot the next page takes */
    struct kept_page slot[PAGES_KEPT];
};

void api_pages_free(struct api_pages *p)
{
    if (!p) return;
    for (size_t i = 0; i < PAGES_KEPT; i++)
        buf_free(&p->slot[i].body);
    mem_free(p);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The page's key and versions; 0 when pages may be kept for this request. */
static int page_key(struct api_req *r, struct kept_page *k)
{
    k->made_ms = mono_ms();
    if (!r->pages || !r->crm->ops->contacts_version) return -1;
    if (store_history_version(r->st, r->user.id, &k->history_version, NULL)) return -1;
    return r->crm->ops->contacts_version(r->crm, &k->contacts_version, NULL);
}

static struct kept_page *page_find(struct api_req *r, const struct kept_page *k)
{
    struct api_pages *p = *r->pages;
    for (size_t i = 0; p && i < PAGES_KEPT; i++) {
        struct kept_page *s = &p->slot[i];
        if (s->limit && s->user == k->user && s->status == k->status &&
            s->before_ms == k->before_ms && s->before_id == k->before_id && s->limit == k->limit &&
            s->history_version == k->history_version &&
            s->contacts_version == k->contacts_version && k->made_ms - s->made_ms < PAGE_TTL_MS)
            return s;
    }
    return NULL;
}

static void page_keep(struct api_req *r, const struct kept_page *k)
{
    struct api_pages *p = *r->pages;
    if (!p && !(p = *r->pages = mem_calloc(1, sizeof *p))) return;
    struct kept_page *s = &p->slot[p->next];
    p->next = (p->next + 1) % PAGES_KEPT;
    struct buf body = s->body;
    *s = *k;
    s->body = body;
    if (!s->body.limit) buf_init(&s->body, r->out.limit);
    buf_reset(&s->body);
    if (buf_append(&s->body, r->out.data, r->out.len)) s->limit = 0;
}

static void h_calls(struct api_req *r)
{
    const char *s_status = api_query(r, "status");
    const char *s_limit = api_query(r, "limit");
    const char *s_before = api_query(r, "before");
    int status = -1;
    int64_t limit = CALLS_LIMIT_DEFAULT, before_ms = 0, before_id = 0;
    if (s_status && (status = call_status_parse(s_status)) < 0) {
        api_error(r, 400, "bad_request",
                  "status must be one of active, unlogged, logged, unresolved, review");
        return;
    }
    if (s_limit && (parse_i64(s_limit, s_limit + strlen(s_limit), &limit) || limit < 1 ||
                    limit > CALLS_LIMIT_MAX)) {
        api_error(r, 400, "bad_request", "limit must be a whole number from 1 to %d",
                  CALLS_LIMIT_MAX);
        return;
    }
    if (s_before) {
        const char *dot = strchr(s_before, '.');
        if (!dot || parse_i64(s_before, dot, &before_ms) ||
            parse_i64(dot + 1, dot + 1 + strlen(dot + 1), &before_id) || before_id < 1) {
            api_error(r, 400, "bad_request",
                      "before must be the \"next\" value of a previous page");
            return;
        }
    }
    struct kept_page key = {.user = r->user.id,
                            .status = status,
                            .before_ms = before_ms,
                            .before_id = before_id,
                            .limit = limit};
    int keep = page_key(r, &key) == 0;
    const struct kept_page *kept = keep ? page_find(r, &key) : NULL;
    if (kept) {
        buf_reset(&r->out);
        if (buf_append(&r->out, kept->body.data, kept->body.len) == 0) {
            r->status = 200;
            r->type = "application/json";
            return;
        }
    }
    struct logger lg;
    if (load_logger(r, &lg, 0)) return;
    struct page pg = {.limit = (size_t)limit, .err = r->err, .out = &r->out};
    int rc = view_open(&lg, &pg.v, r->err);
    if (rc) {
        api_fail(r, rc, r->err);
        return;
    }
    buf_reset(&r->out);
    rc = jw_raw(&r->out, "{\"calls\":[");
    if (!rc)
        rc = store_calls_page(r->st, r->user.id, status, before_ms, before_id, (size_t)limit + 1,
                              page_row, &pg, r->err);
    view_close(pg.v);
    if (pg.failed || (rc && rc != 1)) {
        api_fail(r, pg.failed ? ERR_DB : rc, r->err);
        return;
    }
    char next[64] = "null";
    if (pg.more)
        snprintf(next, sizeof next, "\"%lld.%lld\"", (long long)pg.last_ms, (long long)pg.last_id);
    if (jw_raw(&r->out, "],\"next\":") || jw_raw(&r->out, next) || jw_raw(&r->out, "}")) {
        api_error(r, 500, "internal", "the response is larger than the server sends");
        return;
    }
    r->status = 200;
    r->type = "application/json";
    if (keep) page_keep(r, &key);
}

static void h_call_get(struct api_req *r)
{
    struct call_rec c;
    int rc = store_call_get(r->st, r->user.id, r->params[0], &c, r->err);
    if (rc) {
        api_fail(r, rc, r->err);
        return;
    }
    reply_call(r, 200, c.id);
}

static void h_note(struct api_req *r)
{
    static const struct key_spec spec[] = {{"text", J_STRING}};
    struct call_rec c;
    json_t *root = body_object(r, 0);
    if (!root) return;
    if (check_keys(r, root, spec, 1)) goto out;
    const char *text = get_str(root, "text");
    if (!text) {
        api_error(r, 400, "bad_request", "missing field 'text'");
        goto out;
    }
    if (strlen(text) > NOTE_MAX) {
        api_error(r, 422, "invalid", "the note is longer than %d bytes; nothing saved", NOTE_MAX);
        goto out;
    }
    int rc = store_call_get(r->st, r->user.id, r->params[0], &c, r->err);
    if (!rc) rc = store_note_set(r->st, r->user.id, c.id, text, r->err);
    if (rc) {
        api_fail(r, rc, r->err);
        goto out;
    }
    reply_call(r, 200, c.id);
out:
    json_decref(root);
}

/* The body of a log or resolve request: {note?, contact_id?, new_contact?, association_id?,
 * fields?}. 0 when the worker can take it as it is; else the reply is set. */
static int check_log_request(struct api_req *r, json_t *root)
{
    static const struct key_spec spec[] = {{"note", J_STRING},
                                           {"contact_id", J_STRING},
                                           {"new_contact", J_STRING},
                                           {"association_id", J_STRING},
                                           {"fields", J_OBJECT}};
    if (check_keys(r, root, spec, sizeof spec / sizeof *spec)) return -1;
    const char *note = get_str(root, "note");
    if (note && strlen(note) > NOTE_MAX) {
        api_error(r, 422, "invalid", "the note is longer than %d bytes; nothing saved", NOTE_MAX);
        return -1;
    }
    if (check_id(r, root, "contact_id", CALL_ID_LEN) ||
        check_id(r, root, "new_contact", CALL_NAME_LEN) ||
        check_id(r, root, "association_id", CALL_ID_LEN))
        return -1;
    if (get_str(root, "contact_id") && get_str(root, "new_contact")) {
        api_error(r, 422, "invalid", "give contact_id or new_contact, not both");
        return -1;
    }
    json_t *fields = json_object_get(root, "fields");
    const struct crm_ops *ops = r->crm->ops;
    const char *name;
    json_t *v;
    json_object_foreach(fields, name, v)
    {
        if (!json_is_string(v)) {
            api_error(r, 400, "bad_request", "fields.%.100s must be a string", name);
            return -1;
        }
        const struct crm_field *f = crm_field_find(r->crm, name);
        if (!f) {
            char names[256];
            size_t used = 0;
            names[0] = '\0';
            for (size_t j = 0; j < ops->nfields && used < sizeof names; j++)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", j ? ", " : "",
                                         ops->fields[j].name);
            api_error(r, 422, "invalid", "the %s CRM has no log field '%.100s' (fields: %s)",
                      ops->name, name, names);
            return -1;
        }
        if (crm_field_check(f, json_string_value(v), r->err)) {
            api_error(r, 422, "invalid", "%s", r->err);
            return -1;
        }
    }
    for (size_t j = 0; j < ops->nfields; j++) {
        if (ops->fields[j].required && !json_object_get(fields, ops->fields[j].name)) {
            api_error(r, 422, "invalid", "the log field '%s' is required", ops->fields[j].name);
            return -1;
        }
    }
    return 0;
}

static void reply_queued(struct api_req *r)
{
    reply_call(r, 202, r->after_id);
}

/* POST …/log and …/resolve, inside the request's write transaction: check the call, save
 * the note, queue the request for the worker, and reply. Returns 0 when the writes are to
 * be kept. */
static int queue_log_locked(struct api_req *r, json_t *root, int resolve)
{
    struct call_rec c;
    int rc = store_call_get(r->st, r->user.id, r->params[0], &c, r->err);
    if (rc) {
        api_fail(r, rc, r->err);
        return -1;
    }
    if (c.status == ST_LOGGED) {
        api_error(r, 409, "already_logged",
                  "call %lld is already logged (activity %s); edit it in the CRM", (long long)c.id,
                  c.log_id);
        return -1;
    }
    if (resolve && c.status != ST_UNRESOLVED) {
        api_error(r, 409, "not_unresolved", "call %lld is %s, not unresolved", (long long)c.id,
                  call_status_str(c.status));
        return -1;
    }
    if (c.internal) {
        api_error(r, 422, "invalid", "call %lld is between two extensions; it is not logged",
                  (long long)c.id);
        return -1;
    }
    if (c.status == ST_ACTIVE) {
        api_error(r, 409, "active", "call %lld is still active; log it when it ends",
                  (long long)c.id);
        return -1;
    }
    if (c.queued) {
        api_error(r, 409, "queued", "a log of call %lld is already queued", (long long)c.id);
        return -1;
    }
    const char *note = get_str(root, "note");
    if (note && (rc = store_note_set(r->st, r->user.id, c.id, note, r->err))) {
        api_fail(r, rc, r->err);
        return -1;
    }
    /* The worker parses the same shape; the request is stored as received. */
    buf_reset(&r->out);
    if (jw_json(&r->out, root)) {
        api_error(r, 500, "internal", "out of memory");
        return -1;
    }
    rc = store_call_request(r->st, r->user.id, c.id, r->out.data, r->handoff_lease_ms, r->err);
    if (!rc && r->handoff_lease_ms > 0) {
        if ((r->handoff = mem_alloc(sizeof *r->handoff))) {
            *r->handoff = c;
            r->handoff_req = json_incref(root);
        } else {
            rc = err_set(r->err, ERR_NOMEM, "out of memory");
        }
    }
    buf_reset(&r->out);
    if (rc == ERR_BUSY && strncmp(r->err, "store:", 6) != 0) {
        struct call_rec now;
        int queued = store_call_get(r->st, r->user.id, r->params[0], &now, NULL) == 0 && now.queued;
        api_error(r, 409, queued ? "queued" : "busy", "%s", r->err);
        return -1;
    }
    if (rc) {
        api_fail(r, rc, r->err);
        return -1;
    }
    /* The reply shows the call as committed: made after the commit (api.h). */
    r->status = 202;
    r->after = reply_queued;
    r->after_id = c.id;
    return 0;
}

/* The write part, inside the server's write transaction: the checks see the call the
 * writes change. */
static void queue_log_write(struct api_req *r, int rc)
{
    json_t *root = r->deferred_ctx;
    if (!rc) queue_log_locked(r, root, r->deferred_arg);
    json_decref(root);
}

static void queue_log(struct api_req *r, int resolve)
{
    json_t *root = body_object(r, 1);
    if (!root) return;
    if (check_log_request(r, root)) {
        json_decref(root);
        return;
    }
    r->deferred = queue_log_write;
    r->deferred_ctx = root;
    r->deferred_arg = resolve;
}

static void h_log(struct api_req *r)
{
    queue_log(r, 0);
}

static void h_resolve(struct api_req *r)
{
    queue_log(r, 1);
}

struct unresolved_walk {
    view *v;
    json_t *arr;
    char *err;
    int failed;
};

static int unresolved_row(const struct call_rec *c, void *p)
{
    struct unresolved_walk *w = p;
    json_t *j = view_unresolved(w->v, c, w->err);
    if (!j || json_array_append_new(w->arr, j)) {
        w->failed = 1;
        return 1;
    }
    return 0;
}

static void h_unresolved(struct api_req *r)
{
    struct logger lg;
    if (load_logger(r, &lg, 0)) return;
    struct unresolved_walk w = {.err = r->err};
    int rc = view_open(&lg, &w.v, r->err);
    if (rc) {
        api_fail(r, rc, r->err);
        return;
    }
    if (!(w.arr = json_array())) {
        view_close(w.v);
        api_error(r, 500, "internal", "out of memory");
        return;
    }
    rc = store_calls_list(r->st, r->user.id, ST_UNRESOLVED, unresolved_row, &w, r->err);
    view_close(w.v);
    if (w.failed || rc) {
        json_decref(w.arr);
        api_fail(r, w.failed ? ERR_DB : rc, r->err);
        return;
    }
    api_reply(r, 200, json_pack("{s:o}", "unresolved", w.arr));
}

static void h_contacts_find(struct api_req *r)
{
    const char *number = api_query(r, "number");
    if (!number || !*number) {
        api_error(r, 400, "bad_request", "give the number to look up: ?number=N");
        return;
    }
    struct logger lg;
    if (load_logger(r, &lg, 1)) return;
    char e164[PHONE_LEN];
    if (phone_to_e164(number, lg.settings.region, 0, e164, r->err)) {
        api_error(r, 422, "invalid", "%s", r->err);
        return;
    }
    struct crm_contact_list l;
    int rc = logger_match(&lg, e164, &l, r->err);
    if (rc) {
        api_fail(r, rc, r->err);
        return;
    }
    json_t *arr = json_array();
    for (size_t k = 0; arr && k < l.n; k++) {
        json_t *j = view_contact_full(r->crm, &l.items[k], r->err);
        if (!j || json_array_append_new(arr, j)) {
            json_decref(arr);
            api_fail(r, ERR_DB, r->err);
            return;
        }
    }
    api_reply(r, 200, arr ? json_pack("{s:o}", "contacts", arr) : NULL);
}

static void h_contacts_add(struct api_req *r)
{
    static const struct key_spec spec[] = {
        {"name", J_STRING}, {"phones", J_ARRAY}, {"associations", J_ARRAY}};
    const char *phones[CRM_MAX_PHONES], *assocs[CRM_MAX_ASSOCS];
    crm *own = NULL;
    json_t *root = body_object(r, 0);
    if (!root) return;
    if (check_keys(r, root, spec, sizeof spec / sizeof *spec)) goto out;
    json_t *jphones = json_object_get(root, "phones");
    json_t *jassocs = json_object_get(root, "associations");
    if (!get_str(root, "name") || !jphones) {
        api_error(r, 400, "bad_request", "missing field '%s'",
                  get_str(root, "name") ? "phones" : "name");
        goto out;
    }
    if (check_id(r, root, "name", CALL_NAME_LEN)) goto out;
    size_t nphones = json_array_size(jphones), nassocs = json_array_size(jassocs);
    if (nphones == 0 || nphones > CRM_MAX_PHONES) {
        api_error(r, 422, "invalid", "give 1 to %d phone numbers", CRM_MAX_PHONES);
        goto out;
    }
    if (nassocs > CRM_MAX_ASSOCS) {
        api_error(r, 422, "invalid", "give at most %d associations", CRM_MAX_ASSOCS);
        goto out;
    }
    for (size_t i = 0; i < nphones; i++) {
        if (!(phones[i] = json_string_value(json_array_get(jphones, i)))) {
            api_error(r, 400, "bad_request", "phones[%zu] must be a string", i);
            goto out;
        }
    }
    for (size_t i = 0; i < nassocs; i++) {
        assocs[i] = json_string_value(json_array_get(jassocs, i));
        if (!assocs[i]) {
            api_error(r, 400, "bad_request", "associations[%zu] must be a string", i);
            goto out;
        }
        if (!*assocs[i] || strlen(assocs[i]) >= CALL_NAME_LEN) {
            api_error(r, 422, "invalid", "associations[%zu] must be 1 to %d bytes", i,
                      CALL_NAME_LEN - 1);
            goto out;
        }
    }
    /* Numbers without a country code are read in the caller's region; this thread's CRM
     * handle reads them in the first user's, so another region gets a handle of its own. */
    char region[SETTING_VALUE_LEN];
    int rc = settings_get(r->st, r->user.id, "region", region, r->err);
    if (rc) {
        api_fail(r, rc, r->err);
        goto out;
    }
    crm *c = r->crm;
    if (strcmp(region, r->crm_region) != 0) {
        char config[16];
        snprintf(config, sizeof config, "region=%.2s", region);
        if ((rc = crm_open_in_store("local", config, r->st, &own, r->err))) {
            api_fail(r, rc, r->err);
            goto out;
        }
        c = own;
    }
    if (!c->ops->add_contact) {
        api_error(r, 404, "not_found", "the %s CRM does not add contacts here", c->ops->name);
        goto out;
    }
    struct crm_contact added;
    rc = c->ops->add_contact(c, get_str(root, "name"), phones, nphones, assocs, nassocs, &added,
                             r->err);
    if (rc) {
        api_fail(r, rc, r->err);
        goto out;
    }
    json_t *j = view_contact_full(c, &added, r->err);
    if (!j)
        api_fail(r, ERR_DB, r->err);
    else
        api_reply(r, 201, j);
out:
    if (own) crm_close(own);
    json_decref(root);
}

static void h_fields(struct api_req *r)
{
    api_reply(r, 200, json_pack("{s:o}", "fields", view_fields(r->crm)));
}

/* The embedded CRM is one for the whole store, but a user sees only the activities of their
 * own logs: a call's activity is the one its logged call points to, an SMS day's activity
 * is keyed "sms:USER:CONTACT:DAY". Other users' notes stay theirs. */
struct activity_walk {
    json_t *arr;
    store *st;
    int64_t user;
    char sms_prefix[32];
    size_t sms_prefix_len;
};

static int activity_mine(struct activity_walk *w, const struct crm_activity *a)
{
    if (strcmp(a->kind, "sms") == 0)
        return strncmp(a->session_id, w->sms_prefix, w->sms_prefix_len) == 0;
    struct call_rec c;
    return store_call_find(w->st, w->user, CALL_VOICE, a->session_id, &c, NULL) == 0 &&
           c.status == ST_LOGGED && strcmp(c.log_id, a->id) == 0;
}

static int activity_row(const struct crm_activity *a, void *p)
{
    struct activity_walk *w = p;
    if (!activity_mine(w, a)) return 0;
    json_t *j = view_activity(a);
    return !j || json_array_append_new(w->arr, j) ? ERR_NOMEM : 0;
}

static void h_activities(struct api_req *r)
{
    const char *contact = api_query(r, "contact_id");
    if (contact && !*contact) contact = NULL;
    if (!r->crm->ops->list_activities) {
        api_error(r, 404, "not_found", "the %s CRM does not list activities here",
                  r->crm->ops->name);
        return;
    }
    struct activity_walk w = {.arr = json_array(), .st = r->st, .user = r->user.id};
    if (!w.arr) {
        api_error(r, 500, "internal", "out of memory");
        return;
    }
    w.sms_prefix_len =
        (size_t)snprintf(w.sms_prefix, sizeof w.sms_prefix, "sms:%lld:", (long long)r->user.id);
    int rc = r->crm->ops->list_activities(r->crm, contact, activity_row, &w, r->err);
    if (rc) {
        json_decref(w.arr);
        api_fail(r, rc, r->err);
        return;
    }
    api_reply(r, 200, json_pack("{s:o}", "activities", w.arr));
}

static void h_settings_get(struct api_req *r)
{
    json_t *j = view_settings(r->st, r->user.id, r->err);
    if (!j) {
        api_fail(r, ERR_DB, r->err);
        return;
    }
    api_reply(r, 200, j);
}

/* PUT /api/v1/settings: every key or none. settings_set validates before it writes, and the
 * writes share one transaction, so the first bad key rolls back the ones before it. */
static void h_settings_put(struct api_req *r)
{
    json_t *root = body_object(r, 0);
    if (!root) return;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (!json_is_string(v)) {
            api_error(r, 400, "bad_request", "setting '%.100s' must be a string", key);
            goto out;
        }
    }
    int rc = store_begin(r->st, r->err);
    if (rc) {
        api_fail(r, rc, r->err);
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        if ((rc = settings_set(r->st, r->user.id, key, json_string_value(v), r->err))) break;
    }
    if (!rc) rc = store_commit(r->st, r->err);
    if (rc) {
        store_rollback(r->st);
        api_fail(r, rc, r->err);
        goto out;
    }
    h_settings_get(r);
out:
    json_decref(root);
}

/* Applies a parsed telephony event; 0 with *id, or the reply is set. */
static int apply_event(struct api_req *r, int rc, const struct event *ev, int64_t *id)
{
    if (rc) {
        api_fail(r, rc, r->err);
        return -1;
    }
    if ((rc = ingest_event(r->st, ev, r->cfg->recording_wait_s, id, r->err))) {
        api_fail(r, rc, r->err);
        return -1;
    }
    if (ev->kind != EV_CALL_RINGING && ev->kind != EV_CALL_ANSWERED) api_wake_worker();
    return 0;
}

static void h_events(struct api_req *r)
{
    struct event ev;
    int64_t id = 0;
    int rc = events_parse_json(r->body, r->body_len, r->crm_region, time_now_ms(), &ev, r->err);
    if (apply_event(r, rc, &ev, &id)) return;
    api_reply(r, 202, json_pack("{s:I}", "call_id", (json_int_t)id));
}

static void h_cti(struct api_req *r)
{
    struct event ev;
    int64_t id = 0;
    int rc = events_parse_cti(r->body, r->body_len, r->content_type, r->crm_region, time_now_ms(),
                              &ev, r->err);
    if (apply_event(r, rc, &ev, &id)) return;
    api_reply(r, 200, json_object());
}

/* GET /, /app.js, /app.css: the agent's page, from memory. It holds no secret (the agent
 * types their token into it), so it needs no authentication. */
static void h_page(struct api_req *r)
{
    const char *path = strcmp(r->route->pattern, "/") == 0 ? "/index.html" : r->route->pattern;
    for (size_t i = 0; i < web_nassets; i++) {
        const struct web_asset *a = &web_assets[i];
        if (strcmp(a->path, path) != 0) continue;
        buf_reset(&r->out);
        if (buf_append(&r->out, a->data, a->len)) {
            api_error(r, 500, "internal", "out of memory");
            return;
        }
        r->status = 200;
        r->type = a->type;
        r->page = 1;
        return;
    }
    api_error(r, 404, "not_found", "%s is not built into this server", path);
}

/* The routes. docs/api.md has a `### METHOD PATTERN` heading for each. */
const struct api_route api_routes[] = {
    {"GET", "/healthz", h_healthz, AUTH_NONE, BODY_NONE},
    {"GET", "/metrics", h_metrics, AUTH_NONE, BODY_NONE},
    {"GET", "/", h_page, AUTH_NONE, BODY_NONE},
    {"GET", "/app.js", h_page, AUTH_NONE, BODY_NONE},
    {"GET", "/app.css", h_page, AUTH_NONE, BODY_NONE},
    {"GET", "/api/v1/me", h_me, AUTH_USER, BODY_NONE},
    {"POST", "/api/v1/import", h_import, AUTH_USER, BODY_IMPORT},
    {"GET", "/api/v1/calls", h_calls, AUTH_USER, BODY_NONE},
    {"GET", "/api/v1/calls/{ref}", h_call_get, AUTH_USER, BODY_NONE},
    {"PUT", "/api/v1/calls/{ref}/note", h_note, AUTH_USER, BODY_JSON},
    {"POST", "/api/v1/calls/{ref}/log", h_log, AUTH_USER, BODY_JSON},
    {"GET", "/api/v1/unresolved", h_unresolved, AUTH_USER, BODY_NONE},
    {"POST", "/api/v1/unresolved/{ref}/resolve", h_resolve, AUTH_USER, BODY_JSON},
    {"GET", "/api/v1/contacts", h_contacts_find, AUTH_USER, BODY_NONE},
    {"POST", "/api/v1/contacts", h_contacts_add, AUTH_USER, BODY_JSON},
    {"GET", "/api/v1/fields", h_fields, AUTH_USER, BODY_NONE},
    {"GET", "/api/v1/activities", h_activities, AUTH_USER, BODY_NONE},
    {"GET", "/api/v1/settings", h_settings_get, AUTH_USER, BODY_NONE},
    {"PUT", "/api/v1/settings", h_settings_put, AUTH_USER, BODY_JSON},
    {"POST", "/api/v1/events", h_events, AUTH_EVENTS, BODY_EVENT},
    {"POST", "/api/v1/cti/{token}", h_cti, AUTH_PATH, BODY_CTI},
};
const size_t api_nroutes = sizeof api_routes / sizeof *api_routes;
