#include "worker.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

/* What happened to one claimed call, applied to the store after the CRM batch commits:
 * a call is marked logged only once its log is durably in the CRM. */
enum outcome_kind { OUT_RETRY, OUT_LOGGED, OUT_UNRESOLVED, OUT_REVIEW, OUT_REFUSED };

struct outcome {
    int kind;
    int reason;
    char *candidates;
    char log_id[CALL_ID_LEN];
    char contact_id[CALL_ID_LEN];
    char contact_name[CALL_NAME_LEN];
    char association_id[CALL_ID_LEN];
    char association_name[CALL_NAME_LEN];
    char error[ERR_LEN];
};

/* Loggers by user for one batch: settings are read once per batch, so a change of setting
 * applies from the next batch on. */
#define WORKER_USERS 16
struct users {
    store *st;
    crm *crm;
    size_t n;
    struct logger lg[WORKER_USERS];
};

static struct logger *logger_for(struct users *u, int64_t user_id, char *err)
{
    for (size_t i = 0; i < u->n; i++)
        if (u->lg[i].user.id == user_id) return &u->lg[i];
    struct user user;
    if (store_user_by_id(u->st, user_id, &user, err)) return NULL;
    size_t i = u->n < WORKER_USERS ? u->n++ : (size_t)(user_id % WORKER_USERS);
    if (logger_init(&u->lg[i], u->st, u->crm, &user, err)) return NULL;
    return &u->lg[i];
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A person's request as the API stored it: {note?, contact_id?, new_contact?,
 * association_id?, fields?: {name: value}}. The strings stay owned by req. */
static int parse_request(json_t *req, struct log_choice *ch, char *err)
{
    memset(ch, 0, sizeof *ch);
    json_t *fields = NULL;
    json_error_t jerr;
    if (json_unpack_ex(req, &jerr, JSON_STRICT, "{s?s,s?s,s?s,s?s,s?o}", "note", &ch->note,
                       "contact_id", &ch->contact_id, "new_contact", &ch->new_contact,
                       "association_id", &ch->association_id, "fields", &fields))
        return err_set(err, ERR_PARSE, "queued request: %s", jerr.text);
    const char *name;
    json_t *val;
    json_object_foreach(fields, name, val)
    {
        if (ch->nfields == CRM_MAX_FIELDS || !json_is_string(val))
            return err_set(err, ERR_PARSE, "queued request: bad field '%s'", name);
        ch->fields[ch->nfields].name = name;
        ch->fields[ch->nfields].value = json_string_value(val);
        ch->nfields++;
    }
    return 0;
}

/* Decides and, when it can, writes one call (inside the CRM batch). req is the person's
 * request for a queued call, NULL for auto-log. */
static void decide(struct logger *lg, const struct call_rec *c, json_t *req, struct log_plan *plan,
                   struct outcome *o)
{
    char err[ERR_LEN];
    struct log_choice ch;
    memset(o, 0, sizeof *o);
    o->kind = OUT_RETRY;
    if (req && parse_request(req, &ch, o->error)) {
        o->kind = OUT_REFUSED;
        return;
    }
    int rc = logger_plan(lg, c, req ? &ch : NULL, plan, err);
    if (rc) {
        /* A bad choice is the person's to fix; anything else is retried. */
        o->kind =
            req && rc != ERR_RETRY && rc != ERR_DB && rc != ERR_BUSY ? OUT_REFUSED : OUT_RETRY;
        snprintf(o->error, sizeof o->error, "%s", err);
        if (o->kind == OUT_RETRY)
            log_warnx("event=log_failed call=%lld error=\"%s\"", (long long)c->id, err);
        return;
    }
    if (plan->reason != CONFLICT_NONE) {
        o->kind = OUT_UNRESOLVED;
        o->reason = plan->reason;
        o->candidates = logger_candidates_json(plan);
        if (!o->candidates) o->kind = OUT_RETRY;
        return;
    }
    /* The log form is for calls; an SMS joins its day's log without one. */
    if (!req && lg->settings.auto_log_form_only && c->type == CALL_VOICE) {
        o->kind = OUT_REVIEW;
        return;
    }
    double t0 = now_s();
    rc = logger_write(lg, c, req ? &ch : NULL, plan, err);
    metrics_crm_latency(now_s() - t0);
    if (rc) {
        o->kind = req && rc == ERR_INVAL ? OUT_REFUSED : OUT_RETRY;
        snprintf(o->error, sizeof o->error, "%s", err);
        log_warnx("event=log_failed call=%lld error=\"%s\"", (long long)c->id, err);
        return;
    }
    o->kind = OUT_LOGGED;
    memcpy(o->log_id, plan->log_id, sizeof o->log_id);
    memcpy(o->contact_id, plan->contact.id, sizeof o->contact_id);
    memcpy(o->contact_name, plan->contact.name, sizeof o->contact_name);
    memcpy(o->association_id, plan->association_id, sizeof o->association_id);
    memcpy(o->association_name, plan->association_name, sizeof o->association_name);
}

int64_t worker_backoff_ms(const struct worker_opts *o, int attempts)
{
    int64_t d = o->retry_initial_ms > 0 ? o->retry_initial_ms : 1000;
    for (int i = 0; i < attempts && d < o->retry_max_ms; i++)
        d *= 2;
    return d < o->retry_max_ms ? d : o->retry_max_ms;
}

static int apply(store *st, const struct worker_opts *opts, const struct call_rec *c,
                 const struct outcome *o, struct worker_counts *counts, char *err)
{
    switch (o->kind) {
    case OUT_LOGGED:
        counts->logged++;
        metrics_inc(METRIC_CALLS_LOGGED, 1);
        log_info("event=logged call=%lld user=%lld activity=%s", (long long)c->id,
                 (long long)c->user_id, o->log_id);
        return store_call_set_logged(st, c->user_id, c->id, o->log_id, o->contact_id,
                                     o->contact_name, o->association_id, o->association_name, err);
    case OUT_UNRESOLVED:
        counts->unresolved++;
        metrics_inc(METRIC_CALLS_UNRESOLVED, 1);
        return store_call_release(st, c->user_id, c->id, ST_UNRESOLVED, o->reason, o->candidates,
                                  err);
    case OUT_REVIEW:
        counts->review++;
        metrics_inc(METRIC_CALLS_REVIEW, 1);
        return store_call_release(st, c->user_id, c->id, ST_REVIEW, 0, NULL, err);
    case OUT_REFUSED:
        counts->refused++;
        return store_call_request_done(st, c->user_id, c->id, o->error, err);
    default:
        counts->failed++;
        metrics_inc(METRIC_CRM_RETRIES, 1);
        return store_call_unclaim(st, c->user_id, c->id, worker_backoff_ms(opts, c->attempts), err);
    }
}

/* Plans and writes a claimed batch in one CRM batch, then records every outcome in one
 * store transaction; a CRM in the store (crm.h: in_store) writes inside that transaction, so
 * the logs and the calls marked logged commit together. joined: the caller has that
 * transaction open already (a CRM in the store only) and commits it. lg_fixed is the logger
 * for all (a pass), or NULL to find each call's user's (a tick). reqs[i] is call i's request,
 * or NULL. */
static int run_part(store *st, crm *c, int joined, struct logger *lg_fixed, struct users *users,
                    const struct worker_opts *opts, struct call_rec *calls, json_t **reqs, size_t n,
                    struct outcome *outs, struct log_plan *plan, struct worker_counts *counts,
                    char *err)
{
    const struct crm_ops *ops = c->ops;
    int rc = c->in_store && !joined ? store_begin(st, err) : 0;
    int batched = !rc && ops->batch_begin && ops->batch_begin(c, NULL) == 0;
    for (size_t i = 0; i < n; i++) {
        struct logger *lg = rc         ? NULL
                            : lg_fixed ? lg_fixed
                                       : logger_for(users, calls[i].user_id, err);
        if (!lg) {
            memset(&outs[i], 0, sizeof outs[i]);
            outs[i].kind = OUT_RETRY;
            continue;
        }
        decide(lg, &calls[i], reqs ? reqs[i] : NULL, plan, &outs[i]);
    }
    if (batched && ops->batch_end(c, 1, err)) {
        /* Nothing of this batch reached the CRM: retry all of it later. */
        log_warnx("event=log_batch_failed error=\"%s\"", err);
        for (size_t i = 0; i < n; i++)
            if (outs[i].kind == OUT_LOGGED) outs[i].kind = OUT_RETRY;
    }
    if (!c->in_store) rc = store_begin(st, err);
    for (size_t i = 0; i < n && !rc; i++)
        rc = apply(st, opts, &calls[i], &outs[i], counts, err);
    if (!joined) {
        if (!rc) rc = store_commit(st, err);
        if (rc) store_rollback(st);
    }
    for (size_t i = 0; i < n; i++)
        mem_free(outs[i].candidates);
    /* On a store failure the claims stay and expire; the CRM writes were idempotent, so
     * the next round logs those calls once. */
    return rc;
}

/* A claimed batch in parts of `part` calls. In the server (worker_tick) parts are
 * WORKER_PART: each part's transactions hold the write lock briefly, so requests get their
 * turns in between; a pass alone (worker_pass) writes the whole batch at once. */
static int run_batch(store *st, crm *c, int joined, struct logger *lg_fixed, struct users *users,
                     const struct worker_opts *opts, struct call_rec *calls, json_t **reqs,
                     size_t n, size_t part, struct outcome *outs, struct log_plan *plan,
                     struct worker_counts *counts, char *err)
{
    int rc = 0;
    for (size_t k = 0; k < n && !rc; k += part) {
        size_t m = n - k < part ? n - k : part;
        rc = run_part(st, c, joined, lg_fixed, users, opts, calls + k, reqs ? reqs + k : NULL, m,
                      outs + k, plan, counts, err);
    }
    return rc;
}

struct scratch {
    struct call_rec *calls;
    struct outcome *outs;
    struct log_plan *plan;
    char **texts;
    json_t **reqs;
};

static int scratch_init(struct scratch *s, char *err)
{
    s->calls = mem_calloc(WORKER_BATCH, sizeof *s->calls);
    s->outs = mem_calloc(WORKER_BATCH, sizeof *s->outs);
    s->plan = mem_alloc(sizeof *s->plan);
    s->texts = mem_calloc(WORKER_BATCH, sizeof *s->texts);
    s->reqs = mem_calloc(WORKER_BATCH, sizeof *s->reqs);
    if (s->calls && s->outs && s->plan && s->texts && s->reqs) return 0;
    return err_set(err, ERR_NOMEM, "out of memory");
}

static void scratch_free(struct scratch *s)
{
    mem_free(s->calls);
    mem_free(s->outs);
    mem_free(s->plan);
    mem_free(s->texts);
    mem_free(s->reqs);
}

int worker_pass(struct logger *lg, const struct worker_opts *o, struct worker_counts *counts,
                char *err)
{
    memset(counts, 0, sizeof *counts);
    if (!lg->settings.auto_log) return 0;
    struct scratch s;
    int rc = scratch_init(&s, err);
    while (!rc) {
        size_t n = 0;
        rc = store_claim_unlogged(lg->st, lg->user.id, WORKER_BATCH, LOGGER_LEASE_MS, s.calls, &n,
                                  err);
        if (rc || n == 0) break;
        rc = run_batch(lg->st, lg->crm, 0, lg, NULL, o, s.calls, NULL, n, WORKER_BATCH, s.outs,
                       s.plan, counts, err);
    }
    scratch_free(&s);
    return rc;
}

/* Logs the n claimed requests in s (calls, and their request texts, which it frees); joined
 * as for run_part. */
static int log_requests(struct users *u, const struct worker_opts *o, struct scratch *s, size_t n,
                        int joined, struct worker_counts *counts, char *err)
{
    for (size_t i = 0; i < n; i++) {
        if (s->reqs[i]) continue; /* handed parsed */
        s->reqs[i] = json_loads(s->texts[i], 0, NULL);
        if (!s->reqs[i]) s->reqs[i] = json_object(); /* the API stored valid JSON */
    }
    int rc = run_batch(u->st, u->crm, joined, NULL, u, o, s->calls, s->reqs, n, WORKER_PART,
                       s->outs, s->plan, counts, err);
    for (size_t i = 0; i < n; i++) {
        json_decref(s->reqs[i]);
        mem_free(s->texts[i]);
        s->reqs[i] = NULL;
        s->texts[i] = NULL;
    }
    return rc;
}

static int tick_requests(struct users *u, const struct worker_opts *o, struct scratch *s,
                         struct worker_counts *counts, char *err)
{
    size_t n = 0;
    int rc =
        store_claim_requests(u->st, WORKER_BATCH, LOGGER_LEASE_MS, s->calls, s->texts, &n, err);
    if (rc || n == 0) return rc;
    return log_requests(u, o, s, n, 0, counts, err);
}

/* A queued request handed over by the thread that stored it, already claimed. */
struct handed {
    struct call_rec *call; /* as the handing thread's transaction saw it */
    json_t *req;
    struct handed *next;
};

struct worker {
    struct users users;
    struct scratch s;
    struct worker_opts opts;
    pthread_mutex_t lock; /* guards the inbox */
    struct handed *head, *tail;
};

void worker_hand(worker *w, struct call_rec *call, json_t *req)
{
    struct handed *h = mem_alloc(sizeof *h);
    if (!h) { /* its claim runs out, then the store's claim finds it */
        mem_free(call);
        json_decref(req);
        return;
    }
    h->call = call;
    h->req = req;
    h->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = h;
    else
        w->head = h;
    w->tail = h;
    pthread_mutex_unlock(&w->lock);
}

/* Takes up to WORKER_BATCH handed requests, reads their calls (one read group, no write
 * turn: they are claimed already) and logs them like claimed ones; joined as for run_part
 * (the reads are then the transaction's). */
static int log_handed(worker *w, int joined, struct worker_counts *counts, char *err)
{
    pthread_mutex_lock(&w->lock);
    struct handed *list = w->head, *last = list;
    for (size_t k = 1; last && k < WORKER_BATCH; k++)
        last = last->next;
    w->head = last ? last->next : NULL;
    if (!w->head) w->tail = NULL;
    if (last) last->next = NULL;
    pthread_mutex_unlock(&w->lock);
    if (!list) return 0;

    struct users *u = &w->users;
    struct scratch *s = &w->s;
    size_t n = 0;
    int reading = !joined && store_read_begin(u->st, NULL) == 0;
    for (struct handed *h = list, *next; h; h = next) {
        next = h->next;
        /* Joined, the call is as the handing part left it, in this transaction. Else one no
         * longer queued was dealt with otherwise: nothing to do. */
        char ref[24];
        snprintf(ref, sizeof ref, "%lld", (long long)h->call->id);
        if (joined) s->calls[n] = *h->call;
        if (joined || (store_call_get(u->st, h->call->user_id, ref, &s->calls[n], NULL) == 0 &&
                       s->calls[n].queued))
            s->reqs[n++] = h->req;
        else
            json_decref(h->req);
        mem_free(h->call);
        mem_free(h);
    }
    if (reading) store_read_end(u->st);
    return log_requests(u, &w->opts, s, n, joined, counts, err);
}

static void drop_handed(worker *w)
{
    pthread_mutex_lock(&w->lock);
    struct handed *list = w->head;
    w->head = w->tail = NULL;
    pthread_mutex_unlock(&w->lock);
    for (struct handed *h = list, *next; h; h = next) {
        next = h->next;
        mem_free(h->call);
        json_decref(h->req);
        mem_free(h);
    }
}

int worker_log_handed(worker *w, struct worker_counts *counts, char *err)
{
    memset(counts, 0, sizeof *counts);
    if (!w->users.crm->in_store) {
        drop_handed(w);
        return err_set(err, ERR_INVAL, "worker_log_handed: the CRM is not in the store");
    }
    w->users.n = 0; /* settings as they are now */
    int rc = 0;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        int more = w->head != NULL;
        pthread_mutex_unlock(&w->lock);
        if (!more) break;
        if (rc) { /* the caller rolls back: what is left was never stored */
            drop_handed(w);
            break;
        }
        rc = log_handed(w, 1, counts, err);
    }
    return rc;
}

int worker_new(store *st, crm *c, const struct worker_opts *o, worker **out, char *err)
{
    worker *w = mem_calloc(1, sizeof *w);
    *out = NULL;
    if (!w) return err_set(err, ERR_NOMEM, "out of memory");
    pthread_mutex_init(&w->lock, NULL);
    int rc = scratch_init(&w->s, err);
    if (rc) {
        worker_free(w);
        return rc;
    }
    w->users.st = st;
    w->users.crm = c;
    w->opts = *o;
    *out = w;
    return 0;
}

void worker_free(worker *w)
{
    if (!w) return;
    /* Requests still handed stay claimed: the next server start releases them
     * (store_requests_release). */
    drop_handed(w);
    pthread_mutex_destroy(&w->lock);
    scratch_free(&w->s);
    mem_free(w);
}

int worker_tick(worker *w, struct worker_counts *counts, char *err)
{
    memset(counts, 0, sizeof *counts);
    struct users *u = &w->users;
    u->n = 0; /* settings are read again each round */
    int rc = log_handed(w, 0, counts, err);
    if (!rc) rc = tick_requests(u, &w->opts, &w->s, counts, err);
    /* Auto-log in batches until nothing is left (the catch-up), yielding to new requests
     * between batches. */
    for (size_t n = WORKER_BATCH; !rc && n == WORKER_BATCH;) {
        u->n = 0; /* reload settings per batch */
        if ((rc = store_claim_auto(u->st, WORKER_BATCH, LOGGER_LEASE_MS, w->s.calls, &n, err)))
            break;
        if (n == 0) break;
        rc = run_batch(u->st, u->crm, 0, NULL, u, &w->opts, w->s.calls, NULL, n, WORKER_PART,
                       w->s.outs, w->s.plan, counts, err);
        if (!rc) rc = tick_requests(u, &w->opts, &w->s, counts, err);
    }
    return rc;
}
