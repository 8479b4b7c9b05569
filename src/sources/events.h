/* Live telephony events, as POSTed to `crmlog serve` by telephone systems:
 *  - crmlog's own events (POST /api/v1/events): one JSON object, strictly checked; the
 *    format is documented at the top of events.c;
 *  - Zammad's Generic CTI protocol (POST /api/v1/cti/{token}): newCall / answer / hangup,
 *    as JSON or application/x-www-form-urlencoded.
 * The parsers are pure functions: text in, one struct event out. No I/O, no store; the
 * server decides which user the event belongs to and applies it. */
#ifndef CRMLOG_EVENTS_H
#define CRMLOG_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/call.h"

/* Largest body the parsers take (ERR_TOOBIG past it); the server should cap requests here. */
#define EVENTS_BODY_MAX (64 * 1024)

enum event_kind { EV_CALL_RINGING, EV_CALL_ANSWERED, EV_CALL_ENDED, EV_SMS_RECEIVED, EV_SMS_SENT };

/* One event, a plain value struct (no heap). Numbers follow the import conventions: the
 * other party's number is E.164 in rec.number, or "" when withheld; when the other party is
 * an internal extension it is in rec.extension and rec.internal is 1. */
struct event {
    int kind; /* enum event_kind */
    /* type, direction, session_id (the message id for SMS; record_id too for SMS), number,
     * extension, internal, own_number (this user's side: E.164 or extension), party_name,
     * start_ms, duration, result, recording, text. status is ST_ACTIVE for ringing and
     * answered, ST_UNLOGGED for ended and SMS. user_id is 0: the server sets it.
     * start_ms is at_ms, except for an ended call that says its duration: at_ms minus the
     * duration (the best guess at the start when the ringing event was never seen). */
    struct call_rec rec;
    int64_t at_ms;         /* when the event happened: given, else the receive time (now_ms) */
    int has_duration;      /* 1: rec.duration was given; else the server computes it from the
                              answer and end times */
    int answered;          /* 1 answered, 0 not answered, -1 unknown (the event did not say).
                              Always 1 for EV_CALL_ANSWERED, -1 for ringing and SMS. An ended
                              call that says neither its result nor whether it was answered
                              has result "" and answered -1: the server knows whether it saw
                              the answer and fills both (see events_default_result). */
    int recording_pending; /* a recording was announced but its link is not known yet */
    char user_extension[PHONE_LEN]; /* the agent, by extension ("" if not given) */
    char user_name[CALL_NAME_LEN];  /* ... or by user name ("" if not given) */
};

/* crmlog's own event (body, len bytes: a JSON object; need not be NUL-terminated). region
 * is for national numbers (NULL means "US"); now_ms is the receive time, used when the
 * event has no "time". Returns 0 with *out filled, or fails with *out unspecified and one
 * line in err (ERR_LEN bytes, may be NULL): ERR_PARSE for malformed JSON (with line:column),
 * unknown or misplaced fields, wrong types and missing fields; ERR_INVAL for bad values
 * (event name, direction, number, time, link, too long); ERR_NOMEM. Allocates only
 * through jansson, and frees all of it before returning. */
int events_parse_json(const char *body, size_t len, const char *region, int64_t now_ms,
                      struct event *out, char *err);

/* A Zammad Generic CTI event. content_type is the request's Content-Type header:
 * application/json or application/x-www-form-urlencoded, parameters such as
 * `; charset=utf-8` ignored; NULL or "" guesses from the body (JSON when it starts with
 * '{'). Other types fail with ERR_UNSUPPORTED. Unknown parameters are ignored; event,
 * callId, direction, from and to are required. Same errors and ownership as
 * events_parse_json; the form parser does not allocate at all. */
int events_parse_cti(const char *body, size_t len, const char *content_type, const char *region,
                     int64_t now_ms, struct event *out, char *err);

/* The result crmlog writes for an ended call that did not say its own: "Call connected"
 * when answered, else "Missed" (inbound) or "No Answer" (outbound). Static text. */
const char *events_default_result(int direction, int answered);

/* "call.ringing", "call.answered", "call.ended", "sms.received", "sms.sent";
 * "unknown" for other values. Static text. */
const char *events_kind_str(int kind);

#endif
