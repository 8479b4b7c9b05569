/* Demo data, so a fresh machine shows what crmlog does: the records go through the same
 * importer as real files. Times are relative to now, so the demo never looks stale. */
#include "cli.h"

#include <stdint.h>

#include "../core/buf.h"
#include "../core/call.h"
#include "../core/mem.h"

struct demo_call {
    int minutes_ago;
    const char *direction;
    const char *number;
    int duration;
    const char *result;
    int recorded;
};

static const struct demo_call demo_calls[] = {
    {12, "Inbound", "+16505550101", 245, "Accepted", 1},
    {55, "Outbound", "+442079460958", 62, "Call connected", 0},
    {140, "Inbound", "+16505550199", 0, "Missed", 0},
    {300, "Inbound", "+16505550123", 31, "Voicemail", 1},
    {60 * 26, "Outbound", "+16505550101", 1320, "Call connected", 1},
    {60 * 24 * 120, "Inbound", "+16505550123", 95, "Accepted", 1},
    {75, "Outbound", "+16505550142", 410, "Call connected", 1},
};

char *demo_records(long long now_ms)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    char when[32];
    int rc = 0;
    for (size_t i = 0; i < sizeof demo_calls / sizeof *demo_calls; i++) {
        const struct demo_call *d = &demo_calls[i];
        int in = d->direction[0] == 'I';
        time_format(now_ms - (int64_t)d->minutes_ago * 60000, when, sizeof when);
        rc |= buf_printf(&b,
                         "{\"id\":\"demo-%zu\",\"sessionId\":\"demo-session-%zu\","
                         "\"startTime\":\"%s\",\"duration\":%d,\"type\":\"Voice\","
                         "\"direction\":\"%s\",\"action\":\"Phone Call\",\"result\":\"%s\","
                         "\"from\":{\"phoneNumber\":\"%s\"},\"to\":{\"phoneNumber\":\"%s\"}",
                         i, i, when, d->duration, d->direction, d->result,
                         in ? d->number : "+16505550000", in ? "+16505550000" : d->number);
        if (d->recorded)
            rc |= buf_printf(&b,
                             ",\"recording\":{\"id\":\"%zu\",\"type\":\"Automatic\","
                             "\"contentUri\":\"https://media.ringcentral.com/restapi/v1.0/"
                             "account/~/recording/demo-%zu/content\"}",
                             i, i);
        rc |= buf_puts(&b, "}\n");
    }
    /* An internal call and two SMS the same day with the same contact. */
    time_format(now_ms - 90 * 60000, when, sizeof when);
    rc |= buf_printf(&b,
                     "{\"id\":\"demo-int\",\"sessionId\":\"demo-session-int\",\"startTime\":\"%s\","
                     "\"duration\":40,\"type\":\"Voice\",\"direction\":\"Outbound\","
                     "\"result\":\"Call connected\",\"from\":{\"extensionNumber\":\"101\"},"
                     "\"to\":{\"extensionNumber\":\"102\",\"name\":\"Front desk\"}}\n",
                     when);
    for (int i = 0; i < 2; i++) {
        time_format(now_ms - (40 - i * 10) * 60000, when, sizeof when);
        rc |= buf_printf(&b,
                         "{\"id\":%d,\"type\":\"SMS\",\"direction\":\"%s\","
                         "\"creationTime\":\"%s\",\"subject\":\"%s\",\"conversationId\":9001,"
                         "\"from\":{\"phoneNumber\":\"%s\"},\"to\":[{\"phoneNumber\":\"%s\"}]}\n",
                         700 + i, i ? "Outbound" : "Inbound", when,
                         i ? "Yes, 3pm works. Talk then!" : "Can we move our call to 3pm?",
                         i ? "+16505550000" : "+16505550101", i ? "+16505550101" : "+16505550000");
    }
    if (rc) {
        buf_free(&b);
        return NULL;
    }
    return buf_take(&b);
}
