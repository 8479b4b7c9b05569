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

/* Updated by every HTTP thread at once, so everything here is an atomic: no lock on the
 * request path. The count is the buckets' total; the sum is kept in nanoseconds. */
struct histo {
    _Atomic uint64_t buckets[NBOUNDS + 1];
    _Atomic uint64_t sum_ns;
};

static void histo_add(struct histo *h, double v)
{
    size_t i = 0;
    while (i < NBOUNDS && v > bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, v > 0 ? (uint64_t)(v * 1e9) : 0, memory_order_relaxed);
}

/* HTTP series, keyed by method, route pattern and status. Routes are a small fixed set: a
 * series is found without a lock among those published (nhttp is stored with release after
 * the entry is written); only a new series takes the lock. A full table drops new series
 * rather than grow. */
#define HTTP_SERIES_MAX 256
struct http_series {
    char method[8];
    char route[64];
    int status;
    _Atomic uint64_t count;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* adding a series */
static struct histo crm_latency;
static struct histo http_latency;
static struct http_series http[HTTP_SERIES_MAX];
static _Atomic size_t nhttp;

void metrics_inc(enum metric m, uint64_t n)
{
    if ((unsigned)m < METRIC__COUNT) atomic_fetch_add(&counters[m], n);
}

void metrics_crm_latency(double seconds)
{
    histo_add(&crm_latency, seconds);
}

static size_t series_find(size_t from, size_t to, const char *method, const char *route, int status)
{
    for (size_t i = from; i < to; i++)
        if (http[i].status == status && strcmp(http[i].route, route) == 0 &&
            strcmp(http[i].method, method) == 0)
            return i;
    return to;
}

void metrics_http(const char *method, const char *route, int status, double seconds)
{
    histo_add(&http_latency, seconds);
    size_t n = atomic_load_explicit(&nhttp, memory_order_acquire);
    size_t i = series_find(0, n, method, route, status);
    if (i == n) {
        pthread_mutex_lock(&lock);
        size_t now = atomic_load_explicit(&nhttp, memory_order_relaxed);
        i = series_find(n, now, method, route, status);
        if (i == now && now < HTTP_SERIES_MAX) {
            snprintf(http[i].method, sizeof http[i].method, "%s", method);
            snprintf(http[i].route, sizeof http[i].route, "%s", route);
            http[i].status = status;
            atomic_store_explicit(&nhttp, now + 1, memory_order_release);
        }
        pthread_mutex_unlock(&lock);
        if (i == HTTP_SERIES_MAX) return;
    }
    atomic_fetch_add_explicit(&http[i].count, 1, memory_order_relaxed);
}

static int render_histo(struct buf *out, const char *name, const char *help, const struct histo *h)
{
    int rc = buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < NBOUNDS; i++) {
        cum += atomic_load(&h->buckets[i]);
        rc |= buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                         (unsigned long long)cum);
    }
    cum += atomic_load(&h->buckets[NBOUNDS]);
    rc |= buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                     (unsigned long long)cum, name, (double)atomic_load(&h->sum_ns) / 1e9, name,
                     (unsigned long long)cum);
    return rc;
}

int metrics_render(struct buf *out)
{
    int rc = 0;
    for (int m = 0; m < METRIC__COUNT; m++)
        rc |= buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counter_info[m].name,
                         counter_info[m].help, counter_info[m].name, counter_info[m].name,
                         (unsigned long long)atomic_load(&counters[m]));
    rc |= render_histo(out, "crmlog_crm_request_duration_seconds", "Time of each CRM call.",
                       &crm_latency);
    rc |= render_histo(out, "crmlog_http_request_duration_seconds", "Time of each HTTP request.",
                       &http_latency);
    rc |= buf_printf(out, "# HELP crmlog_http_requests_total HTTP requests by route and status.\n"
                          "# TYPE crmlog_http_requests_total counter\n");
    size_t n = atomic_load_explicit(&nhttp, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        rc |= buf_printf(out,
                         "crmlog_http_requests_total{method=\"%s\",route=\"%s\",code=\"%d\"} "
                         "%llu\n",
                         http[i].method, http[i].route, http[i].status,
                         (unsigned long long)atomic_load(&http[i].count));
    return rc ? ERR_TOOBIG : 0;
}
