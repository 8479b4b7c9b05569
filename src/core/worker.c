#include "worker.h"

#include <string.h>

#include "err.h"
#include "log.h"
#include "mem.h"

/* What happened to one claimed call, applied to the store after the CRM batch commits:
 * a call is marked logged only once its log is durably in the CRM. */
struct outcome {
    int status; /* ST_LOGGED, ST_UNRESOLVED, ST_REVIEW, or -1: failed, retry later */
    int reason;
    char *candidates;
    char log_id[CALL_ID_LEN];
    char contact_id[CALL_ID_LEN];
    char contact_name[CALL_NAME_LEN];
    char association_id[CALL_ID_LEN];
};

static void decide(struct logger *lg, const struct call_rec *c, struct log_plan *plan,
                   struct outcome *o)
{
    char err[ERR_LEN];
    memset(o, 0, sizeof *o);
    o->status = -1;
    int rc = logger_plan(lg, c, NULL, plan, err);
    if (rc) {
        log_warnx("event=autolog_failed call=%lld error=\"%s\"", (long long)c->id, err);
        return;
    }
    if (plan->reason != CONFLICT_NONE) {
        o->status = ST_UNRESOLVED;
        o->reason = plan->reason;
        o->candidates = logger_candidates_json(plan);
        if (!o->candidates) o->status = -1;
        return;
    }
    /* The log form is for calls; an SMS joins its day's log without one. */
    if (lg->settings.auto_log_form_only && c->type == CALL_VOICE) {
        o->status = ST_REVIEW;
        return;
    }
    rc = logger_write(lg, c, NULL, plan, err);
    if (rc) {
        log_warnx("event=autolog_failed call=%lld error=\"%s\"", (long long)c->id, err);
        return;
    }
    o->status = ST_LOGGED;
    memcpy(o->log_id, plan->log_id, sizeof o->log_id);
    memcpy(o->contact_id, plan->contact.id, sizeof o->contact_id);
    memcpy(o->contact_name, plan->contact.name, sizeof o->contact_name);
    memcpy(o->association_id, plan->association_id, sizeof o->association_id);
}

static int apply(struct logger *lg, const struct call_rec *c, const struct outcome *o,
                 struct worker_counts *counts, char *err)
{
    int64_t user = lg->user.id;
    switch (o->status) {
    case ST_LOGGED:
        counts->logged++;
        return store_call_set_logged(lg->st, user, c->id, o->log_id, o->contact_id, o->contact_name,
                                     o->association_id, err);
    case ST_UNRESOLVED:
        counts->unresolved++;
        return store_call_release(lg->st, user, c->id, ST_UNRESOLVED, o->reason, o->candidates,
                                  err);
    case ST_REVIEW:
        counts->review++;
        return store_call_release(lg->st, user, c->id, ST_REVIEW, 0, NULL, err);
    default:
        counts->failed++;
        return store_call_unclaim(lg->st, user, c->id, WORKER_RETRY_MS, err);
    }
}

int worker_pass(struct logger *lg, struct worker_counts *counts, char *err)
{
    memset(counts, 0, sizeof *counts);
    if (!lg->settings.auto_log) return 0;
    const struct crm_ops *ops = lg->crm->ops;
    struct call_rec *calls = mem_calloc(WORKER_BATCH, sizeof *calls);
    struct outcome *outs = mem_calloc(WORKER_BATCH, sizeof *outs);
    struct log_plan *plan = mem_alloc(sizeof *plan);
    int rc = 0;
    if (!calls || !outs || !plan) {
        rc = err_set(err, ERR_NOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        size_t n = 0;
        rc = store_claim_unlogged(lg->st, lg->user.id, WORKER_BATCH, LOGGER_LEASE_MS, calls, &n,
                                  err);
        if (rc || n == 0) break;
        int batched = ops->batch_begin && ops->batch_begin(lg->crm, NULL) == 0;
        for (size_t i = 0; i < n; i++)
            decide(lg, &calls[i], plan, &outs[i]);
        if (batched && ops->batch_end(lg->crm, 1, err)) {
            /* Nothing of this batch reached the CRM: retry all of it later. */
            log_warnx("event=autolog_batch_failed error=\"%s\"", err);
            for (size_t i = 0; i < n; i++)
                if (outs[i].status == ST_LOGGED) outs[i].status = -1;
        }
        rc = store_begin(lg->st, err);
        for (size_t i = 0; i < n && !rc; i++)
            rc = apply(lg, &calls[i], &outs[i], counts, err);
        if (!rc) rc = store_commit(lg->st, err);
        if (rc) store_rollback(lg->st);
        for (size_t i = 0; i < n; i++)
            mem_free(outs[i].candidates);
        /* On a store failure the claims stay and expire; the CRM writes were idempotent,
         * so the next pass logs those calls once. */
        if (rc) break;
    }
out:
    mem_free(calls);
    mem_free(outs);
    mem_free(plan);
    return rc;
}
