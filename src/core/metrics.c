#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static _Atomic uint64_t counters[METRIC__COUNT];

static const struct {
    const char *name;
    const char *help;
} counter_info[METRIC__COUNT] = {
    [METRIC_CALLS_RECEIVED] = {"crmlog_calls_received_total", "Calls and SMS received."},
    [METRIC_CALLS_LOGGED] = {"crmlog_calls_logged_total", "Calls and SMS logged into the CRM."},
    [METRIC_CALLS_UNRESOLVED] = {"crmlog_calls_unresolved_total",
                                 "Calls queued for a person because of a conflict."},
    [METRIC_CALLS_REVIEW] = {"crmlog_calls_review_total", "Calls prepared for review."},
    [METRIC_CRM_RETRIES] = {"crmlog_crm_retries_total", "CRM failures that will be retried."},
};

/* Latency histograms share these bucket bounds (seconds). */
static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBOUNDS (sizeof bounds / sizeof *bounds)

struct histo {
    uint64_t buckets[NBOUNDS + 1];
    uint64_t count;
    double sum;
};

static void histo_add(struct histo *h, double v)
{
    size_t i = 0;
    while (i < NBOUNDS && v > bounds[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->sum += v;
}

/* HTTP series, keyed by method, route pattern and status. Routes are a small fixed set, so
 * a short table with a lock is enough; a full table drops new series rather than grow. */
#define HTTP_SERIES_MAX 256
struct http_series {
    char method[8];
    char route[64];
    int status;
    uint64_t count;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct histo crm_latency;
static struct histo http_latency;
static struct http_series http[HTTP_SERIES_MAX];
static size_t nhttp;

void metrics_inc(enum metric m, uint64_t n)
{
    if ((unsigned)m < METRIC__COUNT) atomic_fetch_add(&counters[m], n);
}

void metrics_crm_latency(double seconds)
{
    pthread_mutex_lock(&lock);
    histo_add(&crm_latency, seconds);
    pthread_mutex_unlock(&lock);
}

void metrics_http(const char *method, const char *route, int status, double seconds)
{
    pthread_mutex_lock(&lock);
    histo_add(&http_latency, seconds);
    size_t i = 0;
    while (i < nhttp && !(http[i].status == status && strcmp(http[i].route, route) == 0 &&
                          strcmp(http[i].method, method) == 0))
        i++;
    if (i == nhttp && nhttp < HTTP_SERIES_MAX) {
        snprintf(http[i].method, sizeof http[i].method, "%s", method);
        snprintf(http[i].route, sizeof http[i].route, "%s", route);
        http[i].status = status;
        nhttp++;
    }
    if (i < nhttp) http[i].count++;
    pthread_mutex_unlock(&lock);
}

static int render_histo(struct buf *out, const char *name, const char *help, const struct histo *h)
{
    int rc = buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < NBOUNDS; i++) {
        cum += h->buckets[i];
        rc |= buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                         (unsigned long long)cum);
    }
    cum += h->buckets[NBOUNDS];
    rc |= buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                     (unsigned long long)cum, name, h->sum, name, (unsigned long long)h->count);
    return rc;
}

int metrics_render(struct buf *out)
{
    int rc = 0;
    for (int m = 0; m < METRIC__COUNT; m++)
        rc |= buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counter_info[m].name,
                         counter_info[m].help, counter_info[m].name, counter_info[m].name,
                         (unsigned long long)atomic_load(&counters[m]));
    pthread_mutex_lock(&lock);
    rc |= render_histo(out, "crmlog_crm_request_duration_seconds", "Time of each CRM call.",
                       &crm_latency);
    rc |= render_histo(out, "crmlog_http_request_duration_seconds", "Time of each HTTP request.",
                       &http_latency);
    rc |= buf_printf(out, "# HELP crmlog_http_requests_total HTTP requests by route and status.\n"
                          "# TYPE crmlog_http_requests_total counter\n");
    for (size_t i = 0; i < nhttp; i++)
        rc |= buf_printf(out,
                         "crmlog_http_requests_total{method=\"%s\",route=\"%s\",code=\"%d\"} "
                         "%llu\n",
                         http[i].method, http[i].route, http[i].status,
                         (unsigned long long)http[i].count);
    pthread_mutex_unlock(&lock);
    return rc ? ERR_TOOBIG : 0;
}
