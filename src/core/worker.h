/* The auto-logger. One pass takes every ended, unlogged call and SMS of a user (however
 * many arrived while no pass ran: that is the catch-up), logs what has no conflict, queues
 * conflicts as unresolved with their reason and candidates, and with "only open the log
 * form" on leaves calls in review for a person. CRM failures leave the call claimed for a
 * retry delay that grows with each failure, then it is retried: nothing is dropped.
 *
 * The server runs worker_tick in its worker thread: every user's queued log requests (from
 * the API), then auto-log for every user whose auto_log is on. */
#ifndef CRMLOG_WORKER_H
#define CRMLOG_WORKER_H

#include <stddef.h>

#include "logger.h"

#define WORKER_BATCH 256 /* calls claimed per transaction */
#define WORKER_PART 64   /* calls written per CRM and store transaction */

struct worker_counts {
    size_t logged;
    size_t unresolved;
    size_t review;
    size_t refused; /* queued requests refused for a bad choice (the error is on the call) */
    size_t failed;  /* CRM errors; those calls are retried later */
};

struct worker_opts {
    int retry_initial_ms; /* first retry delay after a CRM failure */
    int retry_max_ms;     /* the delay doubles per failure up to this */
};

/* One pass for lg's user (the CLI's `autolog`). Does nothing when auto_log is off. */
int worker_pass(struct logger *lg, const struct worker_opts *o, struct worker_counts *counts,
                char *err);

/* The server's worker: its own handles (borrowed: st and c must outlive it) and the
 * scratch memory of its batches, kept from one round to the next. */
typedef struct worker worker;
int worker_new(store *st, crm *c, const struct worker_opts *o, worker **out, char *err);
void worker_free(worker *w);

/* Hands the worker a queued request that was stored already claimed (store_call_request
 * with LOGGER_LEASE_MS), once that is committed: it is logged without a claim of the
 * worker's own. call is the call as the storing transaction read it, req the request as
 * stored; takes both (call mem_alloc'd, a reference of req). Any thread. */
void worker_hand(worker *w, struct call_rec *call, json_t *req);

/* Logs what was handed to w right away, inside the caller's open store transaction, which
 * the caller then commits: for handles whose CRM is in the store (crm.h: in_store), so
 * requests stored in that transaction and their logs commit together (the server's writer,
 * with a worker of its own on its handles). A call the CRM could not take is left to be
 * retried, as worker_tick leaves it. ERR_INVAL when the CRM is not in the store. On an error
 * the caller rolls back, and what was handed is dropped with it. */
int worker_log_handed(worker *w, struct worker_counts *counts, char *err);

/* One round over every user: handed and queued log requests first, then auto-log. All-zero counts
 * mean it was idle. */
int worker_tick(worker *w, struct worker_counts *counts, char *err);

/* The delay before the next try of a call that failed `attempts` times before. */
int64_t worker_backoff_ms(const struct worker_opts *o, int attempts);

#endif
