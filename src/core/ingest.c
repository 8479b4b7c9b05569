#include "ingest.h"

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "metrics.h"
#include "settings.h"
#include "token.h"

static const int store_kinds[] = {
    [EV_CALL_RINGING] = STORE_EV_RINGING, [EV_CALL_ANSWERED] = STORE_EV_ANSWERED,
    [EV_CALL_ENDED] = STORE_EV_ENDED,     [EV_SMS_RECEIVED] = STORE_EV_MESSAGE,
    [EV_SMS_SENT] = STORE_EV_MESSAGE,
};

static int find_user(store *s, const struct event *ev, struct user *u, char *err)
{
    int rc = ERR_NOTFOUND;
    if (*ev->user_extension) rc = store_user_by_extension(s, ev->user_extension, u, err);
    if (rc == ERR_NOTFOUND && *ev->user_name) rc = store_user_get(s, ev->user_name, u, err);
    if (rc == ERR_NOTFOUND)
        return err_set(err, ERR_NOTFOUND,
                       "no user has extension '%s' or name '%s' (add one with crmlog users "
                       "add NAME --extension N)",
                       ev->user_extension, ev->user_name);
    return rc;
}

int ingest_event(store *s, const struct event *ev, int recording_wait_s, int64_t *call_id,
                 char *err)
{
    if (ev->kind < EV_CALL_RINGING || ev->kind > EV_SMS_SENT)
        return err_set(err, ERR_INVAL, "unknown event kind %d", ev->kind);
    struct user u;
    int rc = find_user(s, ev, &u, err);
    if (rc) return rc;
    struct call_rec rec = ev->rec;
    rec.user_id = u.id;
    struct call_rec cur;
    int known = store_call_find(s, u.id, rec.type, rec.session_id, &cur, NULL) == 0;
    if (ev->kind == EV_CALL_ENDED && !*rec.result) {
        /* The event did not say how it ended: we know whether we saw it answered. */
        int answered = ev->answered >= 0 ? ev->answered : known && cur.answered_ms > 0;
        snprintf(rec.result, sizeof rec.result, "%s",
                 events_default_result(rec.direction, answered));
    }
    if (known && ev->kind != EV_SMS_RECEIVED && ev->kind != EV_SMS_SENT)
        rec.start_ms = cur.start_ms; /* the call started when we first heard of it */
    int64_t hold = 0;
    if (ev->kind == EV_CALL_ENDED && ev->recording_pending && !*rec.recording)
        hold = ev->at_ms + (int64_t)recording_wait_s * 1000;
    int changed = 0;
    rc = store_call_event(s, &rec, store_kinds[ev->kind], ev->at_ms, ev->has_duration, hold,
                          &changed, err);
    if (rc) return rc;
    if (changed == 1) metrics_inc(METRIC_CALLS_RECEIVED, 1);
    if ((rc = store_call_find(s, u.id, rec.type, rec.session_id, &cur, err))) return rc;
    *call_id = cur.id;
    return 0;
}

int ingest_events_token(store *s, char *out, int rotate, char *err)
{
    int rc = rotate ? ERR_NOTFOUND : store_kv_get(s, "events_token", out, TOKEN_LEN, err);
    if (rc != ERR_NOTFOUND) return rc;
    if ((rc = token_new(out, err))) return rc;
    return store_kv_set(s, "events_token", out, err);
}

struct ingest_run {
    store *st;
    struct ingest_counts *n;
};

static int ingest_put(const struct call_rec *rec, void *p, char *err)
{
    struct ingest_run *run = p;
    int changed;
    int rc = store_call_put(run->st, rec, &changed, err);
    if (rc) return rc;
    if (changed == 1)
        run->n->added++;
    else if (changed == 2)
        run->n->updated++;
    else
        run->n->unchanged++;
    return 0;
}

int ingest_file(store *s, int64_t user, FILE *in, const char *name, struct ingest_counts *out,
                char *err)
{
    char region[SETTING_VALUE_LEN];
    memset(out, 0, sizeof *out);
    int rc = settings_get(s, user, "region", region, err);
    if (rc) return rc;
    struct import_opts opts = {.user_id = user, .region = region};
    struct ingest_run run = {.st = s, .n = out};
    if ((rc = store_begin(s, err))) return rc;
    rc = import_stream(in, name, &opts, ingest_put, &run, &out->stats, err);
    if (!rc) rc = store_commit(s, err);
    if (rc) {
        store_rollback(s);
        memset(out, 0, sizeof *out);
        return rc;
    }
    if (out->added) metrics_inc(METRIC_CALLS_RECEIVED, out->added);
    return 0;
}
