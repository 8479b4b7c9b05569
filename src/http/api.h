/* The routes of `crmlog serve` (docs/api.md): one const table of {method, pattern, handler,
 * auth, body} and the handlers behind it. server.c owns the sockets, the per-thread store and
 * CRM handles, authentication and limits; a handler only reads its request and fills the
 * response (api_reply / api_error). Internal to src/http. */
#ifndef CRMLOG_HTTP_API_H
#define CRMLOG_HTTP_API_H

#include <jansson.h>
#include <stddef.h>

#include "../core/buf.h"
#include "../core/config.h"
#include "../core/err.h"
#include "../crm/crm.h"
#include "../store/store.h"

/* Who may call a route. */
enum api_auth {
    AUTH_NONE,   /* /healthz, /metrics */
    AUTH_USER,   /* Authorization: Bearer USER_TOKEN */
    AUTH_EVENTS, /* Authorization: Bearer EVENTS_TOKEN */
    AUTH_PATH,   /* the events token as the route's last path parameter */
};

/* What a route's body is: decides its size cap and the Content-Types it takes. */
enum api_body {
    BODY_NONE,   /* GET: a body, if any, is read (capped) and ignored */
    BODY_JSON,   /* application/json; an empty body reads as {} where the handler allows */
    BODY_IMPORT, /* application/json or application/x-ndjson, import_body_limit */
    BODY_EVENT,  /* application/json (crmlog events) */
    BODY_CTI,    /* application/json or application/x-www-form-urlencoded */
};

#define API_MAX_PARAMS 2
#define API_PARAM_LEN 128 /* CALL_ID_LEN: a path segment longer than this matches nothing */

struct api_req;
typedef void (*api_handler)(struct api_req *r);

struct api_route {
    const char *method;
    const char *pattern; /* segments in braces ({ref}, {token}) match one path segment */
    api_handler handler;
    enum api_auth auth;
    enum api_body body;
};

extern const struct api_route api_routes[];
extern const size_t api_nroutes;

/* One request, reused for every request of a connection (server.c resets it). */
struct api_req {
    /* in: set by server.c before the handler runs */
    const struct api_route *route;
    char params[API_MAX_PARAMS][API_PARAM_LEN];
    void *conn;               /* struct MHD_Connection, for api_query / api_header */
    const struct config *cfg; /* borrowed */
    store *st;                /* this thread's handles, borrowed */
    crm *crm;
    struct api_pages **pages; /* this thread's remembered history pages (NULL: none) */
    const char *crm_region;   /* the region crm was opened with */
    struct user user;         /* AUTH_USER: the caller; id 0 otherwise */
    const char *body;         /* NUL-terminated; "" when none */
    size_t body_len;
    const char *content_type; /* NULL when not given */

    /* A handler whose work is a short write may hand it to the server's writer: it sets
     * deferred (with deferred_ctx, deferred_arg) and returns without a reply. server.c then
     * calls deferred exactly once, maybe on the writer's thread with the writer's st and crm,
     * inside a part (store_part_begin) of a write transaction shared with other requests:
     * one lock and one commit for many. The part is kept when deferred's reply is below 400,
     * else undone. With rc != 0 the transaction could not start: the reply is already set,
     * and deferred only frees deferred_ctx. The server wakes the worker after the commit. */
    void (*deferred)(struct api_req *r, int rc);
    void *deferred_ctx;
    int deferred_arg;
    /* Set by deferred with a reply below 400: called once the writes are committed (outside
     * the write turn), with the same handles, to make the reply. */
    void (*after)(struct api_req *r);
    int64_t after_id;
    /* Set by server.c before deferred runs: a queued log is claimed at once for this long
     * (0: not), and deferred then leaves its call (mem_alloc'd) in handoff and a reference
     * of the request in handoff_req; server.c hands them to the worker (worker_hand). */
    int64_t handoff_lease_ms;
    struct call_rec *handoff;
    json_t *handoff_req;

    /* out: filled by the handler */
    int status;
    const char *type;  /* Content-Type of out (static text) */
    const char *allow; /* 405: the Allow header (static or in allow_buf) */
    int www_auth;      /* 401: send WWW-Authenticate: Bearer */
    int page;          /* the web page: send no-cache and its Content-Security-Policy */
    char allow_buf[64];
    struct buf out;    /* the response body; owned by the connection */
    char err[ERR_LEN]; /* scratch for callee messages */
};

/* History pages a thread made, kept while they are still right (h_calls). */
struct api_pages;
void api_pages_free(struct api_pages *p);

/* The value of query argument key, or NULL; borrowed from the connection. */
const char *api_query(struct api_req *r, const char *key);

/* Wakes the worker so a queued log is written within milliseconds (server.c). */
void api_wake_worker(void);

/* Sets status and the body to the compact dump of j (consumed; NULL means out of memory,
 * which becomes a 500). */
void api_reply(struct api_req *r, int status, json_t *j);
/* Sets status and {"error":{"code":code,"message":…}}. */
void api_error(struct api_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The error for a failed store, CRM or parser call: the status and code that fit rc, the
 * callee's message (msg). */
void api_fail(struct api_req *r, int rc, const char *msg);

#endif
