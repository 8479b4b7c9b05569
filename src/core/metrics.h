/* Process-wide counters for `GET /metrics` (Prometheus text format). Thread-safe: counters
 * are atomics, so the worker and every HTTP thread update them without locks. */
#ifndef CRMLOG_METRICS_H
#define CRMLOG_METRICS_H

#include <stdint.h>

#include "buf.h"

enum metric {
    METRIC_CALLS_RECEIVED,   /* calls and SMS that arrived (events, imports) */
    METRIC_CALLS_LOGGED,     /* logged into the CRM */
    METRIC_CALLS_UNRESOLVED, /* queued for a person with a conflict */
    METRIC_CALLS_REVIEW,     /* waiting in review */
    METRIC_CRM_RETRIES,      /* CRM failures that will be retried */
    METRIC__COUNT
};

void metrics_inc(enum metric m, uint64_t n);
/* One CRM call took that long. */
void metrics_crm_latency(double seconds);
/* One HTTP request: route is the route pattern ("/api/v1/calls/{id}/log"), not the path. */
void metrics_http(const char *method, const char *route, int status, double seconds);
/* Appends the whole exposition text to out. */
int metrics_render(struct buf *out);

#endif
