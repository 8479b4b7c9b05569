/* `crmlog serve`: libmicrohttpd with a thread pool on epoll, keep-alive, connection limits,
 * capped request bodies; routing by the const table in api.c; bearer-token authentication;
 * one request log line and one metrics sample per request; the worker thread; SIGTERM.
 *
 * Threads and handles: a store or CRM handle is used by one thread at a time, so each MHD
 * thread opens its own pair on its first request (a _Thread_local pointer) and registers it
 * in a list under a mutex, so shutdown can close them all after MHD has joined its threads.
 * The worker thread has its own pair. Request state lives in a per-connection context that
 * keep-alive requests reuse, so a request costs no heap of its own beyond jansson's.
 *
 * Shutdown: SIGTERM/SIGINT are blocked in every thread and taken with sigwait() by the
 * thread that called server_run; it turns new connections away (on_accept), lets requests in
 * flight finish for up to shutdown_grace_s, stops MHD, lets the worker finish its tick, then
 * closes every handle. */
#include "server.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../core/err.h"
#include "../core/ingest.h"
#include "../core/log.h"
#include "../core/mem.h"
#include "../core/metrics.h"
#include "../core/sqlwal.h"
#include "../core/settings.h"
#include "../core/token.h"
#include "../core/worker.h"
#include "../sources/events.h"
#include "api.h"

#define HEADER_MEMORY_LIMIT (64 * 1024) /* per connection: headers past this get a 431/413 */
/* The page's scripts, styles and requests come from this server only: no inline code, no
 * third party (an injected string can never run). */
#define WEB_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "                    \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'"
#define OUT_LIMIT (64u << 20) /* the largest response body */
#define KEEP_BUF (64 * 1024)  /* a connection keeps buffers up to this between requests */
#define LISTEN_BACKLOG 1024
/* After a round of fewer calls than this, the worker waits WORKER_GATHER_MS for more. */
#define WORKER_GATHER 32
#define WORKER_GATHER_MS 2
/* A body past its cap is read and dropped so the 413 can be sent, but not forever. */
#define DISCARD_MAX (16u << 20)

/* One thread's handles. */
struct th {
    store *st;
    crm *crm;
    struct api_pages *pages; /* history pages this thread made (api.c) */
    char region[3];          /* the CRM handle's region */
    struct th *next;
};

/* The writer: the deferred parts of many requests (api.h) in one write transaction, each
 * in a part of its own, while their connections are suspended. One lock round and one
 * commit for a batch, instead of each request's own against every other's. */
#define WRITER_BATCH 256
/* The writer's page cache, KiB: the index pages a log touches (the open calls', a
 * contact's activities) are all over the file; at SQLite's 2 MiB the writer read one page
 * from the file system per log, at 8 MiB one every ten logs or so. */
#define WRITER_CACHE_KIB 8192
struct writer {
    pthread_mutex_t lock;
    /* Held while the writer resumes a batch's connections; a resumed request takes it before
     * it replies. MHD wakes a thread for every resume, and the woken thread took the CPU
     * from the writer each time: one reply per wake, and the writer preempted once per
     * request. Now the first wake waits for the rest, and its thread replies to them all. */
    pthread_mutex_t resuming;
    pthread_cond_t cond; /* work came, a batch ended, or stop */
    struct conn *head, *tail;
    int running; /* the thread runs: requests may be suspended for it */
    int closing; /* shutting down: deferred parts run on their own thread */
    int busy;    /* a batch is being written */
    int stop;
    pthread_t thread;
    store *st;
    crm *crm;
    /* With the CRM in the store (crm.h: in_store), the writer logs what it queues in the same
     * transaction, with a worker of its own on its handles: a log costs one commit, and the
     * server's worker only retries what the CRM could not take. NULL otherwise. */
    worker *logs;
};

struct server {
    const struct config *cfg;
    pthread_mutex_t lock; /* guards ths, wake, stop */
    pthread_cond_t cond;  /* wakes the worker */
    struct th *ths;       /* every MHD thread's handles */
    int wake, stop;
    atomic_int inflight; /* requests between their first callback and completion */
    atomic_int closing;  /* shutting down: new connections are turned away */
    char region[3];      /* the first user's region when the server started */
    store *wst;          /* the worker's handles */
    crm *wcrm;
    worker *worker;
    pthread_t worker_thread;
    struct writer w;
};

static struct server *srv; /* one server per process: signals are process-wide anyway */
static _Thread_local struct th *tl_th;

/* One connection's state, reused by its keep-alive requests. */
struct conn {
    struct api_req r;
    struct buf body;
    size_t discarded;
    struct timespec t0;
    const char *method;
    const char *route; /* the route pattern for logs and metrics */
    int started;       /* a request is between its first callback and completion */
    int replied;       /* r holds the reply (an early error, or the handler's) */
    int queued;        /* the reply is queued */
    int too_big;
    int resumed;                /* the writer wrote r's deferred part: send the reply */
    struct MHD_Connection *mhd; /* while suspended for the writer */
    struct conn *wnext;         /* the writer's queue */
};

/* ---------- handles ---------- */

/* Opens a store and an embedded-CRM handle on its connection (its numbers read in region). */
static int open_handles(const char *db, const char *region, store **st, crm **c, char *err)
{
    *c = NULL;
    int rc = store_open(db, st, err);
    if (rc) return rc;
    char config[16];
    snprintf(config, sizeof config, "region=%s", region);
    if ((rc = crm_open_in_store("local", config, *st, c, err))) {
        store_close(*st);
        *st = NULL;
    }
    return rc;
}

/* This thread's handles, opened on first use; NULL with err set when they cannot be. */
static struct th *th_get(char *err)
{
    if (tl_th) return tl_th;
    struct th *t = mem_calloc(1, sizeof *t);
    if (!t) {
        err_set(err, ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (open_handles(srv->cfg->db, srv->region, &t->st, &t->crm, err)) {
        mem_free(t);
        return NULL;
    }
    memcpy(t->region, srv->region, sizeof t->region);
    pthread_mutex_lock(&srv->lock);
    t->next = srv->ths;
    srv->ths = t;
    pthread_mutex_unlock(&srv->lock);
    tl_th = t;
    return t;
}

void api_wake_worker(void)
{
    pthread_mutex_lock(&srv->lock);
    srv->wake = 1;
    pthread_cond_signal(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
}

const char *api_query(struct api_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* ---------- the worker ---------- */

static void *worker_main(void *p)
{
    struct server *s = p;
    prctl(PR_SET_NAME, "worker"); /* as top -H and perf show it */
    const struct config *cfg = s->cfg;
    /* No lower priority for this thread: it holds the write turn, and the writer waits
     * behind it (sqlbusy.h), so a thread the scheduler puts off would hold requests up. */
    char err[ERR_LEN];
    worker *w = s->worker;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int stop = s->stop;
        s->wake = 0;
        pthread_mutex_unlock(&s->lock);
        if (stop) break;

        struct worker_counts n;
        memset(&n, 0, sizeof n);
        int rc = worker_tick(w, &n, err);
        if (rc) log_warnx("event=worker rc=%d error=\"%s\"", rc, err);
        size_t done = n.logged + n.unresolved + n.review + n.refused + n.failed;
        if (!rc && done >= WORKER_GATHER) continue; /* more may be waiting */
        if (!rc && done) { /* a trickle: let a batch gather, a transaction costs the same */
            struct timespec gather = {0, WORKER_GATHER_MS * 1000000L};
            nanosleep(&gather, NULL);
            continue;
        }

        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        long long ns = until.tv_nsec + (long long)cfg->autolog_interval_ms * 1000000LL;
        until.tv_sec += (time_t)(ns / 1000000000LL);
        until.tv_nsec = (long)(ns % 1000000000LL);
        pthread_mutex_lock(&s->lock);
        while (!s->wake && !s->stop)
            if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT) break;
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

/* ---------- the writer ---------- */

/* The reply of a deferred part whose writes are committed (api.h). */
static void run_after(struct api_req *r)
{
    void (*after)(struct api_req *) = r->after;
    r->after = NULL;
    if (after && r->status < 400) after(r);
}

/* Points r at this thread's handles again, after write_parts lent it others. */
static void use_own_handles(struct api_req *r)
{
    r->st = tl_th->st;
    r->crm = tl_th->crm;
    r->pages = &tl_th->pages;
}

/* Hands the queued logs the deferred parts in list left (api.h: handoff) to w, or frees them
 * when w is NULL. */
static void hand_requests(struct conn *list, worker *w)
{
    for (struct conn *cc = list; cc; cc = cc->wnext) {
        struct api_req *r = &cc->r;
        if (r->handoff && w && r->status < 400) {
            worker_hand(w, r->handoff, r->handoff_req);
        } else {
            mem_free(r->handoff);
            json_decref(r->handoff_req);
        }
        r->handoff = NULL;
        r->handoff_req = NULL;
    }
}

/* The deferred parts (api.h) of the requests in list, on the handles st and c: one
 * transaction, a part each, one commit; then their replies, in one read group of each
 * handle. With lease_ms > 0 queued logs are claimed as they are stored, then logged by logs
 * (worker_log_handed) in the same transaction, or without it handed to the server's worker
 * after the commit (it skips a claim of its own). Returns whether the server's worker has
 * work. */
static int write_parts(store *st, crm *c, worker *logs, struct conn *list, int64_t lease_ms)
{
    char err[ERR_LEN];
    int rc = store_begin(st, err), kept = 0;
    for (struct conn *cc = list; cc; cc = cc->wnext) {
        struct api_req *r = &cc->r;
        r->st = st;
        r->crm = c;
        r->pages = NULL;
        void (*fn)(struct api_req *, int) = r->deferred;
        r->deferred = NULL;
        r->handoff_lease_ms = lease_ms;
        int part = rc ? rc : store_part_begin(st, r->err);
        if (part) {
            api_fail(r, part, rc ? err : r->err);
            fn(r, part);
        } else {
            fn(r, 0);
            int keep = r->status < 400;
            if (store_part_end(st, keep, err)) rc = ERR_DB; /* the batch is lost */
            kept += keep;
        }
    }
    if (logs && !rc) {
        /* Logged inside the transaction. What the CRM could not take waits out its backoff,
         * then the worker's rounds find it. */
        hand_requests(list, logs);
        struct worker_counts n;
        rc = worker_log_handed(logs, &n, err);
    }
    if (!rc && (rc = store_commit(st, err))) store_rollback(st);
    if (rc) {
        store_rollback(st);
        for (struct conn *cc = list; cc; cc = cc->wnext)
            if (cc->r.status < 400) api_fail(&cc->r, rc, err);
    }
    /* The server's worker only once committed: it reads what it is handed. */
    hand_requests(list, rc ? NULL : srv->worker);
    /* The replies, out of the write turn. */
    int reading = store_read_begin(st, NULL) == 0;
    int crm_reading = c->ops->read_begin && c->ops->read_begin(c, NULL) == 0;
    for (struct conn *cc = list; cc; cc = cc->wnext) {
        if (rc) cc->r.after = NULL;
        run_after(&cc->r);
    }
    if (crm_reading) c->ops->read_end(c);
    if (reading) store_read_end(st);
    return !rc && kept && !logs;
}

/* Suspends the connection for the writer; 0 when the writer does not take it (then the
 * caller runs the part itself). */
static int writer_push(struct conn *cc, struct MHD_Connection *c)
{
    struct writer *w = &srv->w;
    pthread_mutex_lock(&w->lock);
    int take = w->running && !w->closing;
    if (take) {
        MHD_suspend_connection(c);
        cc->mhd = c;
        cc->wnext = NULL;
        if (w->tail)
            w->tail->wnext = cc;
        else
            w->head = cc;
        w->tail = cc;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    return take;
}

static void write_batch(struct writer *w, struct conn *list)
{
    int wake = write_parts(w->st, w->crm, w->logs, list, LOGGER_LEASE_MS);
    pthread_mutex_lock(&w->resuming);
    for (struct conn *cc = list, *next; cc; cc = next) {
        next = cc->wnext; /* cc is the connection's again once resumed */
        struct MHD_Connection *c = cc->mhd;
        cc->mhd = NULL;
        cc->resumed = 1;
        MHD_resume_connection(c);
    }
    pthread_mutex_unlock(&w->resuming);
    if (wake) api_wake_worker();
}

static void *writer_main(void *p)
{
    prctl(PR_SET_NAME, "writer");
    struct writer *w = p;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->cond, &w->lock);
        if (!w->head) break;
        struct conn *list = w->head, *last = list;
        for (size_t n = 1; n < WRITER_BATCH && last->wnext; n++)
            last = last->wnext;
        w->head = last->wnext;
        if (!w->head) w->tail = NULL;
        last->wnext = NULL;
        w->busy = 1;
        pthread_mutex_unlock(&w->lock);
        write_batch(w, list);
        pthread_mutex_lock(&w->lock);
        w->busy = 0;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* From now on deferred parts run on their own threads; returns when the writer has
 * resumed every connection it had (MHD must have none suspended when it stops). */
static void writer_drain(struct writer *w)
{
    pthread_mutex_lock(&w->lock);
    w->closing = 1;
    while (w->head || w->busy)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

/* ---------- routing ---------- */

/* Matches path against a pattern; {name} takes one non-empty segment into r->params. */
static int match_pattern(const char *pat, const char *path, struct api_req *r)
{
    size_t np = 0;
    while (*pat && *path) {
        if (*pat == '{') {
            const char *close = strchr(pat, '}');
            size_t len = 0;
            while (path[len] && path[len] != '/')
                len++;
            if (!close || len == 0 || len >= API_PARAM_LEN || np == API_MAX_PARAMS) return 0;
            memcpy(r->params[np], path, len);
            r->params[np++][len] = '\0';
            pat = close + 1;
            path += len;
        } else if (*pat++ != *path++) {
            return 0;
        }
    }
    return !*pat && !*path;
}

/* The route for method and path; NULL when none, with r->allow set when the path is known
 * under other methods (a 405). HEAD is served as GET. */
static const struct api_route *find_route(const char *method, const char *path, struct api_req *r)
{
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    size_t used = 0;
    r->allow_buf[0] = '\0';
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct api_route *rt = &api_routes[i];
        if (!match_pattern(rt->pattern, path, r)) continue;
        if (strcmp(rt->method, m) == 0) return rt;
        if (used < sizeof r->allow_buf)
            used += (size_t)snprintf(r->allow_buf + used, sizeof r->allow_buf - used, "%s%s",
                                     used ? ", " : "", rt->method);
    }
    r->allow = used ? r->allow_buf : NULL;
    return NULL;
}

/* ---------- limits, types, authentication ---------- */

static size_t body_cap(const struct config *cfg, const struct api_route *rt)
{
    size_t cap = (size_t)cfg->body_limit;
    if (rt && rt->body == BODY_IMPORT) cap = (size_t)cfg->import_body_limit;
    if (rt && (rt->body == BODY_EVENT || rt->body == BODY_CTI) && cap > EVENTS_BODY_MAX)
        cap = EVENTS_BODY_MAX;
    return cap;
}

/* 1 when the media type of ct (parameters ignored) is want. */
static int type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    if (strncasecmp(ct, want, n) != 0) return 0;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

static int type_ok(enum api_body b, const char *ct)
{
    switch (b) {
    case BODY_NONE:
        return 1;
    case BODY_JSON:
    case BODY_EVENT:
        return type_is(ct, "application/json");
    case BODY_IMPORT:
        return type_is(ct, "application/json") || type_is(ct, "application/x-ndjson");
    case BODY_CTI:
        return type_is(ct, "application/json") || type_is(ct, "application/x-www-form-urlencoded");
    }
    return 0;
}

static const char *types_wanted(enum api_body b)
{
    switch (b) {
    case BODY_IMPORT:
        return "application/json or application/x-ndjson";
    case BODY_CTI:
        return "application/json or application/x-www-form-urlencoded";
    default:
        return "application/json";
    }
}

/* The bearer token of the request into tok (len bytes); -1 when there is none. */
static int bearer(struct MHD_Connection *c, char *tok, size_t len)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return -1;
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strlen(h);
    while (n && h[n - 1] == ' ')
        n--;
    if (n == 0 || n >= len) return -1;
    memcpy(tok, h, n);
    tok[n] = '\0';
    return 0;
}

static void unauthorized(struct api_req *r, const char *why)
{
    api_error(r, 401, "unauthorized", "%s", why);
    r->www_auth = 1;
}

/* 0 when the caller may use the route; else the reply is set. */
static int authenticate(struct api_req *r, struct MHD_Connection *c)
{
    char tok[TOKEN_LEN * 2], want[TOKEN_LEN];
    int rc = 0;
    switch (r->route->auth) {
    case AUTH_NONE:
        return 0;
    case AUTH_USER: {
        if (bearer(c, tok, sizeof tok)) {
            unauthorized(r, "send your API token as Authorization: Bearer TOKEN");
            return -1;
        }
        char hash[TOKEN_HASH_LEN];
        token_hash(tok, hash);
        rc = store_user_by_token(r->st, hash, &r->user, r->err);
        if (rc == ERR_NOTFOUND) {
            unauthorized(r, "unknown API token");
            return -1;
        }
        break;
    }
    case AUTH_EVENTS:
    case AUTH_PATH: {
        const char *given = r->route->auth == AUTH_PATH ? r->params[0] : tok;
        if (r->route->auth == AUTH_EVENTS && bearer(c, tok, sizeof tok)) {
            unauthorized(r, "send the events token as Authorization: Bearer TOKEN");
            return -1;
        }
        if ((rc = ingest_events_token(r->st, want, 0, r->err))) break;
        int ok = token_equal(want, given);
        memset(want, 0, sizeof want);
        if (!ok) {
            unauthorized(r, "wrong events token");
            return -1;
        }
        break;
    }
    }
    memset(tok, 0, sizeof tok);
    if (rc) {
        r->user.id = 0;
        api_fail(r, rc, r->err);
        return -1;
    }
    return 0;
}

/* ---------- MHD callbacks ---------- */

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static const char *method_name(const char *m)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(m, known[i]) == 0) return known[i];
    return "OTHER";
}

/* Queues the reply in cc->r; logs it and counts it. */
static enum MHD_Result send_reply(struct conn *cc, struct MHD_Connection *c)
{
    struct api_req *r = &cc->r;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->out.len, r->out.len ? r->out.data : (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    if (r->type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->type);
    if (r->www_auth) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (r->page) { /* the agent's page: always revalidated, and only its own code runs */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        MHD_add_response_header(resp, "Content-Security-Policy", WEB_CSP);
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    }
    if (r->allow && r->status == 405)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    cc->queued = 1;
    double s = since(&cc->t0);
    metrics_http(cc->method, cc->route, r->status, s);
    if (r->user.id)
        log_info("event=http method=%s route=%s status=%d ms=%.2f user=%lld", cc->method, cc->route,
                 r->status, s * 1000, (long long)r->user.id);
    else
        log_info("event=http method=%s route=%s status=%d ms=%.2f user=-", cc->method, cc->route,
                 r->status, s * 1000);
    if (r->status >= 500) log_warnx("event=http_error route=%s status=%d", cc->route, r->status);
    return ok;
}

/* The first callback of a request: route, limits, authentication. May set the reply. */
static void begin(struct conn *cc, struct MHD_Connection *c, const char *url, const char *method)
{
    struct api_req *r = &cc->r;
    clock_gettime(CLOCK_MONOTONIC, &cc->t0);
    cc->started = 1;
    cc->replied = cc->queued = cc->too_big = 0;
    cc->discarded = 0;
    cc->method = method_name(method);
    cc->route = "unmatched";
    buf_reset(&cc->body);
    buf_reset(&r->out);
    r->conn = c;
    r->cfg = srv->cfg;
    r->status = 0;
    r->type = NULL;
    r->allow = NULL;
    r->deferred = NULL;
    r->www_auth = 0;
    r->page = 0;
    r->user.id = 0;
    r->user.name[0] = '\0';
    r->body = "";
    r->body_len = 0;
    r->content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    atomic_fetch_add(&srv->inflight, 1);

    r->route = find_route(method, url, r);
    cc->body.limit = body_cap(srv->cfg, r->route);
    if (!r->route) {
        if (r->allow)
            api_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)",
                      cc->method, r->allow);
        else
            api_error(r, 404, "not_found", "no such route");
        cc->replied = 1;
        return;
    }
    cc->route = r->route->pattern;

    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > cc->body.limit) {
            api_error(r, 413, "payload_too_large", "the body is larger than %zu bytes",
                      cc->body.limit);
            cc->replied = 1;
            return;
        }
    }
    struct th *t = th_get(r->err);
    if (!t) {
        api_error(r, 503, "unavailable", "%s", r->err);
        cc->replied = 1;
        return;
    }
    r->st = t->st;
    r->crm = t->crm;
    r->pages = &t->pages;
    r->crm_region = t->region;
    /* A request with a body is authenticated before the body is read; one without, in
     * finish, inside its read group. */
    if (r->route->body != BODY_NONE && authenticate(r, c)) {
        cc->replied = 1;
        return;
    }
    if (r->content_type && !type_ok(r->route->body, r->content_type)) {
        api_error(r, 415, "unsupported_media_type", "send the body as %s",
                  types_wanted(r->route->body));
        cc->replied = 1;
    }
}

/* The last callback: the whole body is in; run the handler unless a reply is set. */
static void finish(struct conn *cc)
{
    struct api_req *r = &cc->r;
    if (cc->too_big) {
        api_error(r, 413, "payload_too_large", "the body is larger than %zu bytes", cc->body.limit);
        cc->replied = 1;
    }
    if (cc->replied) return;
    cc->replied = 1;
    r->body = cc->body.len ? cc->body.data : "";
    r->body_len = cc->body.len;
    if (r->body_len && !r->content_type && r->route->body != BODY_NONE &&
        r->route->body != BODY_CTI) {
        api_error(r, 415, "unsupported_media_type", "send the body as %s",
                  types_wanted(r->route->body));
        return;
    }
    /* A GET only reads: its reads share one snapshot instead of one lock round each. */
    int get = r->route->body == BODY_NONE;
    int reading = get && r->st && store_read_begin(r->st, NULL) == 0;
    int crm_reading =
        get && r->crm && r->crm->ops->read_begin && r->crm->ops->read_begin(r->crm, NULL) == 0;
    if (!get || !authenticate(r, r->conn)) r->route->handler(r);
    if (crm_reading) r->crm->ops->read_end(r->crm);
    if (reading) store_read_end(r->st);
    if (!r->status && !r->deferred) api_error(r, 500, "internal", "the handler gave no reply");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    (void)cls, (void)version;
    struct conn *cc = *req_cls;
    if (!cc) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        cc = ci ? ci->socket_context : NULL;
        if (!cc) return MHD_NO;
        *req_cls = cc;
        begin(cc, c, url, method);
        /* A body too big by its Content-Length is refused before it is read. */
        if (cc->replied && cc->r.status == 413) return send_reply(cc, c);
        /* Anything else waits for the next callback, even without a body: MHD 0.9.75
         * closes a connection whose reply was queued in the first one. */
        return MHD_YES;
    }
    if (cc->queued) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (cc->resumed) { /* the writer wrote the deferred part */
        cc->resumed = 0;
        pthread_mutex_lock(&srv->w.resuming); /* the writer's batch is all resumed */
        pthread_mutex_unlock(&srv->w.resuming);
        use_own_handles(&cc->r);
        return send_reply(cc, c);
    }
    if (*upload_size) {
        if (cc->replied || cc->too_big) {
            cc->discarded += *upload_size;
            if (cc->discarded > DISCARD_MAX) return MHD_NO; /* close: not worth reading */
        } else {
            int rc = buf_append(&cc->body, upload, *upload_size);
            if (rc == ERR_TOOBIG) {
                cc->too_big = 1;
            } else if (rc) {
                api_error(&cc->r, 500, "internal", "out of memory");
                cc->replied = 1;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    finish(cc);
    if (cc->r.deferred) {
        if (writer_push(cc, c)) return MHD_YES; /* replied when the writer resumes it */
        cc->wnext = NULL; /* no writer (shutting down): on this thread's own handles */
        if (write_parts(cc->r.st, cc->r.crm, NULL, cc, 0)) api_wake_worker();
        use_own_handles(&cc->r);
    }
    return send_reply(cc, c);
}

/* The request is over (sent, or the client went away): ready the context for the next. */
static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    struct conn *cc = *req_cls;
    if (!cc) return;
    *req_cls = NULL;
    if (cc->started) atomic_fetch_sub(&srv->inflight, 1);
    cc->started = 0;
    /* The response pointed into out, and it is sent: out may change now. */
    if (cc->body.cap > KEEP_BUF) buf_free(&cc->body);
    if (cc->r.out.cap > KEEP_BUF) buf_free(&cc->r.out);
    buf_reset(&cc->body);
    buf_reset(&cc->r.out);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls, (void)c;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *cc = mem_calloc(1, sizeof *cc);
        if (cc) {
            buf_init(&cc->body, 0);
            buf_init(&cc->r.out, OUT_LIMIT);
        }
        *socket_context = cc; /* NULL: on_request refuses the connection */
        return;
    }
    struct conn *cc = *socket_context;
    if (!cc) return;
    if (cc->started) { /* closed without a completion notice */
        atomic_fetch_sub(&srv->inflight, 1);
        cc->started = 0;
    }
    buf_free(&cc->body);
    buf_free(&cc->r.out);
    mem_free(cc);
    *socket_context = NULL;
}

/* New connections while the server stops are closed at once. Not MHD_quiesce_daemon: with a
 * thread pool on epoll it races libmicrohttpd's own threads (0.9.75: both take the listen
 * socket out of a thread's epoll set, and the one that comes second aborts the process). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    (void)cls, (void)addr, (void)len;
    return atomic_load(&srv->closing) ? MHD_NO : MHD_YES;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_debug("event=mhd message=\"%s\"", line);
}

/* ---------- start and stop ---------- */

/* Binds and listens on spec (ADDR:PORT, [IPv6]:PORT or localhost:PORT; port 0 picks a free
 * port). shown receives the address actually bound, as ADDR:PORT. */
static int listen_on(const char *spec, int *fd_out, int *v6, char *shown, size_t shown_len,
                     char *err)
{
    char host[128];
    const char *port;
    *fd_out = -1;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof host)
            return err_set(err, ERR_INVAL, "listen: '%s' is not [IPv6]:PORT", spec);
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof host)
            return err_set(err, ERR_INVAL, "listen: '%s' is not ADDR:PORT", spec);
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        port = colon + 1;
    }
    struct addrinfo hints, *res = NULL, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (g) return err_set(err, ERR_INVAL, "listen: %s: %s", spec, gai_strerror(g));
    /* localhost: IPv4 first, which every client tries */
    for (ai = res; ai && ai->ai_family != AF_INET; ai = ai->ai_next)
        ;
    if (!ai) ai = res;
    int rc = 0;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, LISTEN_BACKLOG)) {
        rc = err_set(err, ERR_IO, "cannot listen on %s: %s", spec, strerror(errno));
        goto out;
    }
    *v6 = ai->ai_family == AF_INET6;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char h[NI_MAXHOST], p[NI_MAXSERV];
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) ||
        getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p,
                    NI_NUMERICHOST | NI_NUMERICSERV)) {
        rc = err_set(err, ERR_IO, "cannot read the address bound for %s", spec);
        goto out;
    }
    snprintf(shown, shown_len, *v6 ? "[%s]:%s" : "%s:%s", h, p);
out:
    if (rc && fd >= 0) close(fd);
    if (!rc) *fd_out = fd;
    freeaddrinfo(res);
    return rc;
}

static enum log_level level_of(const char *s)
{
    if (strcmp(s, "error") == 0) return LOG_LEVEL_ERROR;
    if (strcmp(s, "info") == 0) return LOG_LEVEL_INFO;
    if (strcmp(s, "debug") == 0) return LOG_LEVEL_DEBUG;
    return LOG_LEVEL_WARN;
}

/* Waits for SIGTERM or SIGINT (blocked in every thread); returns the signal. */
static int wait_signal(const sigset_t *set)
{
    int sig = 0;
    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

int server_run(const struct config *cfg, char *err)
{
    struct server s;
    struct MHD_Daemon *d = NULL;
    int fd = -1, v6 = 0, rc, worker_started = 0;
    char shown[NI_MAXHOST + 16];
    sigset_t set, old;

    if (srv) return err_set(err, ERR_USAGE, "a server already runs in this process");
    memset(&s, 0, sizeof s);
    s.cfg = cfg;
    atomic_init(&s.inflight, 0);
    atomic_init(&s.closing, 0);
    pthread_mutex_init(&s.lock, NULL);
    pthread_mutex_init(&s.w.lock, NULL);
    pthread_mutex_init(&s.w.resuming, NULL);
    pthread_cond_init(&s.w.cond, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s.cond, &ca);
    pthread_condattr_destroy(&ca);
    log_set_level(level_of(cfg->log_level));

    /* Block the signals before any thread starts, so every thread inherits the mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, &old);

    /* The first handle runs the migrations before any thread races to; it becomes the
     * worker's. The events token is made here too, so two first events cannot race. */
    struct user first;
    char region[SETTING_VALUE_LEN], tok[TOKEN_LEN];
    if ((rc = store_open(cfg->db, &s.wst, err))) goto out;
    if ((rc = store_user_get(s.wst, NULL, &first, err))) goto out;
    if ((rc = settings_get(s.wst, first.id, "region", region, err))) goto out;
    if ((rc = ingest_events_token(s.wst, tok, 0, err))) goto out;
    memset(tok, 0, sizeof tok);
    if (strlen(region) != 2) {
        rc = err_set(err, ERR_INVAL, "the first user's region '%s' is not a country code", region);
        goto out;
    }
    memcpy(s.region, region, 3);
    /* From here on, connections leave checkpoints to their own thread; the worker's store
     * handle, opened above to migrate, is opened again to be one of them. */
    if ((rc = sqlwal_start(store_file(s.wst), err))) goto out;
    store_close(s.wst);
    s.wst = NULL;
    if ((rc = open_handles(cfg->db, s.region, &s.wst, &s.wcrm, err))) goto out;
    if ((rc = open_handles(cfg->db, s.region, &s.w.st, &s.w.crm, err))) goto out;
    if ((rc = store_cache(s.w.st, WRITER_CACHE_KIB, err))) goto out;
    struct worker_opts wo = {.retry_initial_ms = cfg->retry_initial_ms,
                             .retry_max_ms = cfg->retry_max_ms};
    if ((rc = worker_new(s.wst, s.wcrm, &wo, &s.worker, err))) goto out;
    if (s.w.crm->in_store && (rc = worker_new(s.w.st, s.w.crm, &wo, &s.w.logs, err))) goto out;
    /* Requests the server before this one had claimed (handed to its worker) are its
     * worker's to take now. */
    if ((rc = store_requests_release(s.wst, err))) goto out;

    if ((rc = listen_on(cfg->listen, &fd, &v6, shown, sizeof shown, err))) goto out;
    srv = &s;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_TURBO |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    struct MHD_OptionItem pool[] = {
        {cfg->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
         cfg->threads > 1 ? cfg->threads : 0, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    d = MHD_start_daemon(
        flags, 0, on_accept, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->conn_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)cfg->per_ip_limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->header_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY_LIMIT,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_ARRAY, pool,
        MHD_OPTION_END);
    if (!d) {
        rc = err_set(err, ERR_IO, "cannot start the HTTP server on %s", shown);
        goto out;
    }
    if (pthread_create(&s.w.thread, NULL, writer_main, &s.w)) {
        rc = err_set(err, ERR_NOMEM, "cannot start the writer thread");
        goto out;
    }
    s.w.running = 1;
    if (pthread_create(&s.worker_thread, NULL, worker_main, &s)) {
        rc = err_set(err, ERR_NOMEM, "cannot start the worker thread");
        goto out;
    }
    worker_started = 1;
    log_info("event=start listen=%s threads=%d", shown, cfg->threads);
    printf("crmlog serving on http://%s\n", shown);
    fflush(stdout);

    int sig = wait_signal(&set);
    log_info("event=shutdown signal=%s", sig == SIGINT ? "INT" : "TERM");
    rc = 0;

out:
    if (d) {
        /* Turn new connections away; requests in flight (and keep-alive clients) get the
         * grace. */
        atomic_store(&s.closing, 1);
        pthread_mutex_lock(&s.lock);
        s.stop = 1;
        pthread_cond_signal(&s.cond);
        pthread_mutex_unlock(&s.lock);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (atomic_load(&s.inflight) > 0 && since(&t0) < cfg->shutdown_grace_s) {
            struct timespec ten_ms = {0, 10 * 1000 * 1000};
            nanosleep(&ten_ms, NULL);
        }
        writer_drain(&s.w);
        MHD_stop_daemon(d);
        fd = -1; /* MHD closed it */
    }
    if (s.w.running) {
        pthread_mutex_lock(&s.w.lock);
        s.w.stop = 1;
        pthread_cond_broadcast(&s.w.cond);
        pthread_mutex_unlock(&s.w.lock);
        pthread_join(s.w.thread, NULL);
    }
    if (fd >= 0) close(fd);
    if (worker_started) {
        pthread_mutex_lock(&s.lock);
        s.stop = 1;
        pthread_cond_signal(&s.cond);
        pthread_mutex_unlock(&s.lock);
        pthread_join(s.worker_thread, NULL);
    }
    while (s.ths) {
        struct th *t = s.ths;
        s.ths = t->next;
        crm_close(t->crm);
        store_close(t->st);
        api_pages_free(t->pages);
        mem_free(t);
    }
    worker_free(s.w.logs);
    worker_free(s.worker);
    if (s.wcrm) crm_close(s.wcrm);
    if (s.wst) store_close(s.wst);
    if (s.w.crm) crm_close(s.w.crm);
    if (s.w.st) store_close(s.w.st);
    sqlwal_stop();
    srv = NULL;
    pthread_cond_destroy(&s.cond);
    pthread_mutex_destroy(&s.lock);
    pthread_cond_destroy(&s.w.cond);
    pthread_mutex_destroy(&s.w.lock);
    pthread_mutex_destroy(&s.w.resuming);
    /* A second signal that came during shutdown must not kill the caller. */
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) > 0)
        ;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
