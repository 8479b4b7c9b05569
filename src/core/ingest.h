/* Applying live telephony events to the store: finds the agent the event belongs to (by
 * extension, then by user name) and records the call's news. No CRM work here: the worker
 * logs the call once it has ended. */
#ifndef CRMLOG_INGEST_H
#define CRMLOG_INGEST_H

#include <stdint.h>
#include <stdio.h>

#include "../sources/events.h"
#include "../sources/import.h"
#include "../store/store.h"

/* Applies ev. recording_wait_s: how long auto-log waits for a recording link that an
 * ended call announced. *call_id receives crmlog's id of the call. ERR_NOTFOUND when no
 * user has the event's extension or name (nothing changes). */
int ingest_event(store *s, const struct event *ev, int recording_wait_s, int64_t *call_id,
                 char *err);

/* What ingest_file did. */
struct ingest_counts {
    struct import_stats stats; /* records read, calls, SMS, skipped */
    size_t added, updated, unchanged;
};

/* Imports a file (import.h's shapes) into the user's calls in one transaction: all of it,
 * or nothing. Numbers written without a country code are read in the user's region. name
 * is used in error messages ("calls.jsonl:3:5: …"). */
int ingest_file(store *s, int64_t user, FILE *in, const char *name, struct ingest_counts *out,
                char *err);

/* The company-wide token telephony systems use for /api/v1/events and /api/v1/cti/{token},
 * into out (TOKEN_LEN bytes): created on first use, replaced when rotate is set. */
int ingest_events_token(store *s, char *out, int rotate, char *err);

#endif
