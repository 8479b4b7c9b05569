/* Live telephony events (see events.h).
 *
 * crmlog's own event format (POST /api/v1/events, Content-Type: application/json)
 * ---------------------------------------------------------------------------------
 * One JSON object per request. Unknown fields, fields that do not belong to the event,
 * duplicate fields and wrong types are errors; `null` counts as an absent field.
 *
 *   field       type     events          meaning
 *   event       string   all (required)  "call.ringing", "call.answered", "call.ended",
 *                                        "sms.received" or "sms.sent"
 *   session_id  string   call.* (req.)   the telephony session id, the same in every
 *                                        event of one call; 1..127 bytes
 *   message_id  string   sms.* (req.)    the message id; 1..127 bytes
 *   direction   string   call.* (req.),  "inbound" or "outbound"; for SMS it is implied by
 *                        sms.* (opt.)    the event and, when given, must agree with it
 *   from        string   all             caller / sender, a number written any way
 *   to          string   all             callee / recipient
 *                                        The other party is `from` when inbound and `to`
 *                                        when outbound (required, non-empty, for SMS).
 *                                        "", absent, "anonymous", "unknown", "withheld",
 *                                        "private", "restricted" or "unavailable" mean a
 *                                        withheld number; an extension (1..6 digits) means
 *                                        an internal call. The agent's side is kept as
 *                                        their own number.
 *   extension   string   all             the agent's extension   } at least one of the
 *   user        string   all             the agent's user name   } two is required
 *   time        string   all             ISO 8601 with Z or offset; default: receive time
 *   name        string   all             caller-id name of the other party
 *   duration    integer  call.ended      seconds, 0..2592000; default: from answer to end
 *   answered    boolean  call.ended      whether the call was answered
 *   result      string   call.ended      e.g. "Call connected", "Missed", "Voicemail";
 *                                        default "Call connected" when answered, else
 *                                        "Missed" (inbound) or "No Answer" (outbound);
 *                                        when neither answered nor result is given, the
 *                                        server decides from the answer event it saw
 *   recording   object   call.answered,  {"url": "https://…"} (http or https) or
 *                        call.ended      {"pending": true}: a link will follow in a later
 *                                        call.ended event; {"pending": false} = none
 *   text        string   sms.* (req.)    the message text, may be ""
 *
 * Example:
 *   {"event": "call.ended", "session_id": "a1b2", "direction": "inbound",
 *    "from": "(650) 555-0123", "to": "+16505550100", "extension": "101",
 *    "time": "2026-11-20T10:14:19Z", "duration": 187, "answered": true,
 *    "recording": {"url": "https://pbx.example.com/rec/a1b2.mp3"}}
 *
 * Zammad Generic CTI (POST /api/v1/cti/{token})
 * ---------------------------------------------
 * Parameters event (newCall | answer | hangup), from, to, direction (in | out), callId
 * (required), cause, user / user[] (repeatable: the first is the agent), answeringNumber;
 * everything else (queue, …) is ignored. Values are matched without regard to case; in
 * JSON, numbers and callId may also be integers, user an array, and null is "".
 *
 *   event    kind              status     answered   result (in / out)
 *   newCall  EV_CALL_RINGING   active     -1         ""
 *   answer   EV_CALL_ANSWERED  active      1         ""
 *   hangup   EV_CALL_ENDED     unlogged   by cause:
 *     normalClearing                       1         "Call connected"
 *     busy                                 0         "Busy"
 *     cancel, noAnswer                     0         "Missed" / "No Answer"
 *     rejected                             0         "Rejected"
 *     congestion                           0         "Call Failed"
 *     notFound                             0         "Wrong Number"
 *     forwarded                           -1         "Forwarded"
 *     absent or other                     -1         "" (the server decides)
 *
 * callId is the session id; the other party is `from` (in) or `to` (out), as above. The
 * agent is the first user into user_name, and into user_extension the extension on the
 * agent's side: answeringNumber, else `to`, for in; `from` for out. CTI events carry no
 * time: at_ms is the receive time.
 * The form parser works in fixed buffers, caps every value, rejects malformed %XX escapes,
 * NUL bytes, invalid UTF-8 and control characters, and allocates nothing. */
#include "events.h"

#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "../core/err.h"

#define EV_NUMBER_MAX 256 /* number text; phone_to_e164 takes up to 250 bytes */
#define EV_TIME_MAX 64
#define EV_DURATION_MAX (30 * 86400) /* a longer "call" is a telephony bug */
#define EV_SHOWN 64                  /* untrusted text quoted in messages is cut here */

static const char *const kind_names[] = {"call.ringing", "call.answered", "call.ended",
                                         "sms.received", "sms.sent"};

const char *events_kind_str(int kind)
{
    if (kind < 0 || kind >= (int)(sizeof kind_names / sizeof *kind_names)) return "unknown";
    return kind_names[kind];
}

const char *events_default_result(int direction, int answered)
{
    if (answered > 0) return "Call connected";
    return direction == DIR_OUTBOUND ? "No Answer" : "Missed";
}

/* ---- shared helpers ------------------------------------------------------------------ */

/* Untrusted text for an error message: printable ASCII only (the message ends up in JSON
 * and logs, one line), cut at EV_SHOWN bytes. out is EV_SHOWN + 4 bytes. */
static const char *shown(const char *s, char *out)
{
    size_t i = 0;
    for (; s[i] && i < EV_SHOWN; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    if (s[i]) {
        memcpy(out + i, "...", 4);
    } else {
        out[i] = '\0';
    }
    return out;
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
    return 0;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        unsigned min, cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            k = 1, min = 0x80, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            k = 2, min = 0x800, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            k = 3, min = 0x10000, cp = c & 0x07;
        else
            return 0;
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += k + 1;
    }
    return 1;
}

static void copy(char *dst, const char *src)
{
    memcpy(dst, src, strlen(src) + 1);
}

/* What telephone systems write instead of a number they will not tell. */
static int is_withheld(const char *s)
{
    static const char *const words[] = {"anonymous", "unknown",    "withheld",
                                        "private",   "restricted", "unavailable"};
    if (!s[0]) return 1;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcasecmp(s, words[i]) == 0) return 1;
    return 0;
}

/* One side of a call, as import.c does it: the other party (number, or extension and
 * internal) when `other`, else the agent's own side (own_number, a number or extension).
 * name is the field, for messages. */
static int set_party(const char *text, const char *name, const char *region, struct call_rec *rec,
                     int other, char *msg)
{
    char s1[EV_SHOWN + 4], perr[ERR_LEN];
    size_t n = strlen(text);

    if (n >= EV_NUMBER_MAX)
        return err_set(msg, ERR_INVAL, "%s is too long (%zu bytes, at most %d)", name, n,
                       EV_NUMBER_MAX - 1);
    if (has_ctl(text)) return err_set(msg, ERR_INVAL, "%s contains a control character", name);
    if (is_withheld(text)) return 0;
    if (phone_is_extension(text)) {
        if (n >= PHONE_LEN)
            return err_set(msg, ERR_INVAL, "%s: extension '%s' is too long", name, shown(text, s1));
        if (other) {
            copy(rec->extension, text);
            rec->internal = 1;
        } else {
            copy(rec->own_number, text);
        }
        return 0;
    }
    int rc =
        phone_to_e164(text, region, PHONE_TELEPHONY, other ? rec->number : rec->own_number, perr);
    if (rc) return err_set(msg, rc == ERR_NOMEM ? rc : ERR_INVAL, "%s: %s", name, perr);
    return 0;
}

/* A recording link crmlog will put into a CRM: http(s), a host, no spaces or controls. */
static int url_valid(const char *s)
{
    size_t skip = strncasecmp(s, "https://", 8) == 0  ? 8
                  : strncasecmp(s, "http://", 7) == 0 ? 7
                                                      : 0;
    if (skip == 0 || s[skip] == '\0' || s[skip] == '/') return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) return 0;
    return 1;
}

/* jansson reports running out of memory as a parse error, or, where an allocation fails
 * deep in the parser, as no error at all (empty text); crmlog keeps them apart. */
static int json_fail(const json_error_t *je, char *err)
{
    char text[sizeof je->text];
    size_t i = 0;
    if (json_error_code(je) == json_error_out_of_memory || je->text[0] == '\0')
        return err_set(err, ERR_NOMEM, "out of memory");
    /* jansson quotes the offending input ("invalid token near '…'"): keep it printable. */
    for (; je->text[i] && i < sizeof text - 1; i++) {
        unsigned char c = (unsigned char)je->text[i];
        text[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    text[i] = '\0';
    return err_set(err, ERR_PARSE, "%d:%d: %s", je->line, je->column, text);
}

static json_t *load(const char *body, size_t len, char *err, int *rc)
{
    json_error_t je;
    json_t *j;
    if (len > EVENTS_BODY_MAX) {
        *rc = err_set(err, ERR_TOOBIG, "body is larger than %d bytes", EVENTS_BODY_MAX);
        return NULL;
    }
    j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        *rc = json_fail(&je, err);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        *rc = err_set(err, ERR_PARSE, "the event must be a JSON object");
        return NULL;
    }
    *rc = 0;
    return j;
}

/* ---- crmlog's own events ------------------------------------------------------------- */

#define K_RING (1u << EV_CALL_RINGING)
#define K_ANS (1u << EV_CALL_ANSWERED)
#define K_END (1u << EV_CALL_ENDED)
#define K_CALLS (K_RING | K_ANS | K_END)
#define K_SMS ((1u << EV_SMS_RECEIVED) | (1u << EV_SMS_SENT))
#define K_ALL (K_CALLS | K_SMS)

/* Every field of the format, and the events it belongs to. */
static const struct {
    const char *key;
    unsigned kinds;
} own_fields[] = {
    {"event", K_ALL},      {"session_id", K_CALLS},
    {"message_id", K_SMS}, {"direction", K_ALL},
    {"from", K_ALL},       {"to", K_ALL},
    {"extension", K_ALL},  {"user", K_ALL},
    {"time", K_ALL},       {"name", K_ALL},
    {"duration", K_END},   {"answered", K_END},
    {"result", K_END},     {"recording", K_ANS | K_END},
    {"text", K_SMS},
};

#define F_REQ 1u      /* must be present */
#define F_NONEMPTY 2u /* must not be "" when present */
#define F_NOCTL 4u    /* no control characters (ids, names: one line) */

/* The string field key of j into *out ("" when absent or null), checked against the flags
 * and to fit cap bytes. The text is jansson's, valid while j is. */
static int own_str(const json_t *j, const char *key, unsigned flags, size_t cap, const char **out,
                   char *msg)
{
    json_t *v = json_object_get(j, key);
    *out = "";
    if (!v || json_is_null(v))
        return flags & F_REQ ? err_set(msg, ERR_PARSE, "missing %s", key) : 0;
    if (!json_is_string(v)) return err_set(msg, ERR_PARSE, "%s must be a string", key);
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n >= cap)
        return err_set(msg, ERR_INVAL, "%s is too long (%zu bytes, at most %zu)", key, n, cap - 1);
    if (strlen(s) != n) return err_set(msg, ERR_INVAL, "%s contains a NUL character", key);
    if ((flags & F_NONEMPTY) && n == 0) return err_set(msg, ERR_INVAL, "%s is empty", key);
    if ((flags & F_NOCTL) && has_ctl(s))
        return err_set(msg, ERR_INVAL, "%s contains a control character", key);
    *out = s;
    return 0;
}

static int own_recording(const json_t *j, struct event *ev, char *msg)
{
    json_t *r = json_object_get(j, "recording"), *v;
    const char *key;
    char s1[EV_SHOWN + 4];
    int has_url = 0, pending = 0;

    if (!r || json_is_null(r)) return 0;
    if (!json_is_object(r)) return err_set(msg, ERR_PARSE, "recording must be an object");
    json_object_foreach(r, key, v)
    {
        if (strcmp(key, "url") == 0) {
            if (json_is_null(v)) continue;
            if (!json_is_string(v))
                return err_set(msg, ERR_PARSE, "recording.url must be a string");
            const char *s = json_string_value(v);
            size_t n = json_string_length(v);
            if (n >= sizeof ev->rec.recording)
                return err_set(msg, ERR_INVAL, "recording.url is too long (%zu bytes, at most %zu)",
                               n, sizeof ev->rec.recording - 1);
            if (strlen(s) != n || !url_valid(s))
                return err_set(msg, ERR_INVAL, "recording.url '%s' is not an http(s) link",
                               shown(s, s1));
            copy(ev->rec.recording, s);
            /* "HTTPS://" is valid too; the rest of crmlog looks for lower case. */
            for (char *p = ev->rec.recording; *p != ':'; p++)
                if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
            has_url = 1;
        } else if (strcmp(key, "pending") == 0) {
            if (json_is_null(v)) continue;
            if (!json_is_boolean(v))
                return err_set(msg, ERR_PARSE, "recording.pending must be true or false");
            pending = json_is_true(v);
        } else {
            return err_set(msg, ERR_PARSE, "unknown field 'recording.%s'", shown(key, s1));
        }
    }
    if (has_url && pending)
        return err_set(msg, ERR_INVAL, "recording has both a url and pending: true");
    if (!has_url && !json_object_get(r, "pending"))
        return err_set(msg, ERR_PARSE, "recording needs a url or pending");
    ev->recording_pending = pending;
    return 0;
}

static int own_event(const json_t *j, const char *region, int64_t now_ms, struct event *ev,
                     char *msg)
{
    struct call_rec *rec = &ev->rec;
    const char *name, *s, *key;
    char s1[EV_SHOWN + 4];
    json_t *v;
    int rc, kind = -1;

    /* The event first: it says which fields belong. */
    if ((rc = own_str(j, "event", F_REQ, EV_SHOWN, &name, msg))) {
        if (rc == ERR_INVAL) rc = err_set(msg, ERR_INVAL, "event is not a known event");
        return rc;
    }
    for (int k = 0; k < (int)(sizeof kind_names / sizeof *kind_names); k++)
        if (strcmp(name, kind_names[k]) == 0) kind = k;
    if (kind < 0)
        return err_set(msg, ERR_INVAL,
                       "event '%s' is not call.ringing, call.answered, call.ended, sms.received "
                       "or sms.sent",
                       shown(name, s1));
    json_object_foreach((json_t *)j, key, v)
    {
        size_t i = 0, n = sizeof own_fields / sizeof *own_fields;
        while (i < n && strcmp(key, own_fields[i].key) != 0)
            i++;
        if (i == n) return err_set(msg, ERR_PARSE, "unknown field '%s'", shown(key, s1));
        if (!(own_fields[i].kinds & (1u << kind)) && !json_is_null(v))
            return err_set(msg, ERR_PARSE, "field '%s' does not belong in a %s event", key, name);
    }

    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->answered = kind == EV_CALL_ANSWERED ? 1 : -1;
    int sms = kind == EV_SMS_RECEIVED || kind == EV_SMS_SENT;
    rec->type = sms ? CALL_SMS : CALL_VOICE;
    rec->status = kind == EV_CALL_RINGING || kind == EV_CALL_ANSWERED ? ST_ACTIVE : ST_UNLOGGED;

    rc = own_str(j, sms ? "message_id" : "session_id", F_REQ | F_NONEMPTY | F_NOCTL, CALL_ID_LEN,
                 &s, msg);
    if (rc) return rc;
    copy(rec->session_id, s);
    if (sms) copy(rec->record_id, s);

    if ((rc = own_str(j, "direction", sms ? 0 : F_REQ, EV_SHOWN, &s, msg))) {
        if (rc == ERR_INVAL) rc = err_set(msg, ERR_INVAL, "direction is not inbound or outbound");
        return rc;
    }
    if (strcmp(s, "inbound") == 0)
        rec->direction = DIR_INBOUND;
    else if (strcmp(s, "outbound") == 0)
        rec->direction = DIR_OUTBOUND;
    else if (!sms || s[0])
        return err_set(msg, ERR_INVAL, "direction '%s' is not inbound or outbound", shown(s, s1));
    if (sms) {
        int want = kind == EV_SMS_SENT ? DIR_OUTBOUND : DIR_INBOUND;
        if (s[0] && rec->direction != want)
            return err_set(msg, ERR_INVAL, "direction '%s' contradicts %s", s, name);
        rec->direction = want;
    }

    ev->at_ms = now_ms;
    if ((rc = own_str(j, "time", 0, EV_TIME_MAX, &s, msg))) return rc;
    if (s[0] && time_parse(s, &ev->at_ms))
        return err_set(msg, ERR_INVAL, "time '%s' is not an ISO 8601 time", shown(s, s1));
    rec->start_ms = ev->at_ms;

    /* The other party is the caller on inbound calls and the callee on outbound ones. */
    int in = rec->direction == DIR_INBOUND;
    const char *other = in ? "from" : "to", *own = in ? "to" : "from";
    if ((rc = own_str(j, other, sms ? F_REQ | F_NONEMPTY : 0, EV_NUMBER_MAX, &s, msg))) return rc;
    if (sms && is_withheld(s))
        return err_set(msg, ERR_INVAL, "%s must be the other party's number", other);
    if ((rc = set_party(s, other, region, rec, 1, msg))) return rc;
    if ((rc = own_str(j, own, 0, EV_NUMBER_MAX, &s, msg))) return rc;
    if ((rc = set_party(s, own, region, rec, 0, msg))) return rc;

    rc = own_str(j, "extension", F_NONEMPTY | F_NOCTL, sizeof ev->user_extension, &s, msg);
    if (rc) return rc;
    copy(ev->user_extension, s);
    if ((rc = own_str(j, "user", F_NONEMPTY | F_NOCTL, sizeof ev->user_name, &s, msg))) return rc;
    copy(ev->user_name, s);
    if (!ev->user_extension[0] && !ev->user_name[0])
        return err_set(msg, ERR_PARSE, "missing extension or user (the agent)");
    rc = own_str(j, "name", F_NOCTL, sizeof rec->party_name, &s, msg);
    if (rc) return rc;
    copy(rec->party_name, s);

    v = json_object_get(j, "duration");
    if (v && !json_is_null(v)) {
        if (json_is_real(v))
            return err_set(msg, ERR_INVAL, "duration must be a whole number of seconds");
        if (!json_is_integer(v)) return err_set(msg, ERR_PARSE, "duration must be an integer");
        json_int_t d = json_integer_value(v);
        if (d < 0 || d > EV_DURATION_MAX)
            return err_set(msg, ERR_INVAL,
                           "duration %" JSON_INTEGER_FORMAT " is out of range (0..%d seconds)", d,
                           EV_DURATION_MAX);
        rec->duration = (int)d;
        ev->has_duration = 1;
        rec->start_ms = ev->at_ms - (int64_t)d * 1000;
    }
    v = json_object_get(j, "answered");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v)) return err_set(msg, ERR_PARSE, "answered must be true or false");
        ev->answered = json_is_true(v);
    }
    rc = own_str(j, "result", F_NONEMPTY | F_NOCTL, sizeof rec->result, &s, msg);
    if (rc) return rc;
    copy(rec->result, s);
    if (kind == EV_CALL_ENDED && !rec->result[0] && ev->answered >= 0)
        copy(rec->result, events_default_result(rec->direction, ev->answered));

    if ((rc = own_recording(j, ev, msg))) return rc;

    rc = own_str(j, "text", sms ? F_REQ : 0, sizeof rec->text, &s, msg);
    if (rc) return rc;
    copy(rec->text, s);
    return 0;
}

int events_parse_json(const char *body, size_t len, const char *region, int64_t now_ms,
                      struct event *out, char *err)
{
    int rc;
    json_t *j = load(body ? body : "", body ? len : 0, err, &rc);
    if (!j) return rc;
    rc = own_event(j, region, now_ms, out, err);
    json_decref(j);
    return rc;
}

/* ---- Zammad Generic CTI -------------------------------------------------------------- */

/* The parameters crmlog reads, as text, whichever the encoding. */
struct cti {
    char event[32], direction[16], cause[64];
    char from[EV_NUMBER_MAX], to[EV_NUMBER_MAX], answering[EV_NUMBER_MAX];
    char call_id[CALL_ID_LEN];
    char user[CALL_NAME_LEN];
    unsigned seen; /* bit i: cti_params[i] was given */
};

#define P_MULTI 1u  /* may repeat (user[]); the first one counts */
#define P_NUMBER 2u /* JSON may give it as an integer (numbers, numeric call ids) */

/* The form parser decodes into one EV_NUMBER_MAX buffer: no parameter may be longer. */
_Static_assert(CALL_ID_LEN <= EV_NUMBER_MAX && CALL_NAME_LEN <= EV_NUMBER_MAX, "cti buffers");

/* Indexes into cti_params. */
enum { P_EVENT, P_DIRECTION, P_CAUSE, P_FROM, P_TO, P_ANSWERING, P_CALLID, P_USER, CTI_NPARAMS };

static const struct cti_param {
    const char *name;
    size_t off, cap;
    unsigned flags;
} cti_params[CTI_NPARAMS] = {
#define P_(name, field, flags)                                                                     \
    {                                                                                              \
        name, offsetof(struct cti, field), sizeof(((struct cti *)0)->field), flags                 \
    }
    P_("event", event, 0),           P_("direction", direction, 0),
    P_("cause", cause, 0),           P_("from", from, P_NUMBER),
    P_("to", to, P_NUMBER),          P_("answeringNumber", answering, P_NUMBER),
    P_("callId", call_id, P_NUMBER), P_("user", user, P_MULTI),
#undef P_
};

static int cti_find(const char *name)
{
    if (strcmp(name, "user[]") == 0) return (int)P_USER;
    for (int i = 0; i < CTI_NPARAMS; i++)
        if (strcmp(name, cti_params[i].name) == 0) return i;
    return -1;
}

/* A value for parameter i, from either encoding: checked and stored. */
static int cti_set(struct cti *c, int i, const char *s, size_t n, char *msg)
{
    const struct cti_param *p = &cti_params[i];
    if (c->seen & (1u << i)) {
        if (p->flags & P_MULTI) return 0;
        return err_set(msg, ERR_PARSE, "parameter %s is given twice", p->name);
    }
    if (n >= p->cap)
        return err_set(msg, ERR_INVAL, "%s is too long (%zu bytes, at most %zu)", p->name, n,
                       p->cap - 1);
    if (memchr(s, '\0', n)) return err_set(msg, ERR_INVAL, "%s contains a NUL byte", p->name);
    if (!utf8_valid((const unsigned char *)s, n))
        return err_set(msg, ERR_INVAL, "%s is not valid UTF-8", p->name);
    char *dst = (char *)c + p->off;
    memcpy(dst, s, n);
    dst[n] = '\0';
    if (has_ctl(dst)) return err_set(msg, ERR_INVAL, "%s contains a control character", p->name);
    c->seen |= 1u << i;
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Decodes one application/x-www-form-urlencoded component (s, n bytes): '+' is a space,
 * %XX a byte. Writes at most cap bytes into dst (dst may be NULL to only check) and sets
 * *outlen to the full decoded length, so the caller sees values that did not fit.
 * Returns -1 on a malformed escape. */
static int form_decode(const char *s, size_t n, char *dst, size_t cap, size_t *outlen)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++, j++) {
        char ch = s[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (n - i < 3) return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            ch = (char)(hi << 4 | lo);
            i += 2;
        }
        if (dst && j < cap) dst[j] = ch;
    }
    *outlen = j;
    return 0;
}

static int cti_form(const char *body, size_t len, struct cti *c, char *msg)
{
    char key[32], val[EV_NUMBER_MAX], s1[EV_SHOWN + 4];
    size_t i = 0;

    /* Tools like `curl --data @file` leave the file's final newline in the body. */
    while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r'))
        len--;
    if (memchr(body, '\0', len)) return err_set(msg, ERR_PARSE, "the body contains a NUL byte");
    while (i < len) {
        const char *pair = body + i, *amp = memchr(pair, '&', len - i);
        size_t plen = amp ? (size_t)(amp - pair) : len - i;
        i += plen + 1;
        if (plen == 0) continue; /* "a=1&&b=2", a trailing '&' */
        const char *eq = memchr(pair, '=', plen);
        size_t klen = eq ? (size_t)(eq - pair) : plen, vlen = eq ? plen - klen - 1 : 0, kn, vn;
        const char *v = eq ? eq + 1 : pair + plen;

        if (form_decode(pair, klen, key, sizeof key - 1, &kn))
            return err_set(msg, ERR_PARSE, "malformed %%-escape in a parameter name");
        int p = -1;
        if (kn < sizeof key && !memchr(key, '\0', kn)) {
            key[kn] = '\0';
            p = cti_find(key);
        }
        if (p < 0) { /* not ours: ignored, but it must still be well-formed */
            if (form_decode(v, vlen, NULL, 0, &vn)) {
                if (kn >= sizeof key) kn = sizeof key - 1;
                key[kn] = '\0';
                return err_set(msg, ERR_PARSE, "malformed %%-escape in parameter '%s'",
                               shown(key, s1));
            }
            continue;
        }
        if (form_decode(v, vlen, val, sizeof val, &vn))
            return err_set(msg, ERR_PARSE, "malformed %%-escape in parameter %s", key);
        /* vn is the whole length; cti_set refuses it before reading past val. */
        int rc = cti_set(c, p, val, vn, msg);
        if (rc) return rc;
    }
    return 0;
}

static int cti_json(const char *body, size_t len, struct cti *c, char *msg)
{
    int rc;
    json_t *j = load(body, len, msg, &rc);
    if (!j) return rc;
    for (int i = 0; i < CTI_NPARAMS && rc == 0; i++) {
        const struct cti_param *p = &cti_params[i];
        json_t *v = json_object_get(j, p->name);
        if (i == P_USER && (!v || json_is_null(v))) v = json_object_get(j, "user[]");
        if (!v) continue;
        if (json_is_null(v)) { /* given, but empty: `"from": null` for a withheld caller */
            if (i != P_USER) rc = cti_set(c, i, "", 0, msg);
            continue;
        }
        if (json_is_array(v) && (p->flags & P_MULTI)) {
            if (json_array_size(v) == 0) continue;
            v = json_array_get(v, 0);
        }
        if (json_is_string(v)) {
            rc = cti_set(c, i, json_string_value(v), json_string_length(v), msg);
        } else if (json_is_integer(v) && (p->flags & P_NUMBER)) {
            char num[32];
            int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            rc = cti_set(c, i, num, (size_t)n, msg);
        } else {
            rc = err_set(msg, ERR_PARSE, "%s must be a string%s", p->name,
                         p->flags & P_MULTI ? " or an array of strings" : "");
        }
    }
    json_decref(j);
    return rc;
}

/* What a hangup cause says about the call. Zammad's causes, and "rejected", which some
 * systems send. Results are RingCentral's words, which the rest of crmlog uses. */
static const struct {
    const char *cause, *in, *out;
    int answered;
} cti_causes[] = {
    {"normalClearing", "Call connected", "Call connected", 1},
    {"busy", "Busy", "Busy", 0},
    {"cancel", "Missed", "No Answer", 0},
    {"noAnswer", "Missed", "No Answer", 0},
    {"rejected", "Rejected", "Rejected", 0},
    {"congestion", "Call Failed", "Call Failed", 0},
    {"notFound", "Wrong Number", "Wrong Number", 0},
    {"forwarded", "Forwarded", "Forwarded", -1},
};

static int cti_event(const struct cti *c, const char *region, int64_t now_ms, struct event *ev,
                     char *msg)
{
    static const int required[] = {P_EVENT, P_CALLID, P_DIRECTION, P_FROM, P_TO};
    struct call_rec *rec = &ev->rec;
    char s1[EV_SHOWN + 4];
    int kind, rc;

    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (!(c->seen & (1u << required[i])))
            return err_set(msg, ERR_PARSE, "missing parameter %s", cti_params[required[i]].name);
    if (strcasecmp(c->event, "newCall") == 0)
        kind = EV_CALL_RINGING;
    else if (strcasecmp(c->event, "answer") == 0)
        kind = EV_CALL_ANSWERED;
    else if (strcasecmp(c->event, "hangup") == 0)
        kind = EV_CALL_ENDED;
    else
        return err_set(msg, ERR_INVAL, "unknown CTI event '%s' (newCall, answer or hangup)",
                       shown(c->event, s1));

    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    rec->type = CALL_VOICE;
    rec->status = kind == EV_CALL_ENDED ? ST_UNLOGGED : ST_ACTIVE;
    if (strcasecmp(c->direction, "in") == 0)
        rec->direction = DIR_INBOUND;
    else if (strcasecmp(c->direction, "out") == 0)
        rec->direction = DIR_OUTBOUND;
    else
        return err_set(msg, ERR_INVAL, "direction '%s' is not in or out", shown(c->direction, s1));
    if (!c->call_id[0]) return err_set(msg, ERR_INVAL, "callId is empty");
    copy(rec->session_id, c->call_id);
    ev->at_ms = rec->start_ms = now_ms; /* CTI events carry no time: they are live */

    int in = rec->direction == DIR_INBOUND;
    if ((rc = set_party(in ? c->from : c->to, in ? "from" : "to", region, rec, 1, msg))) return rc;
    if ((rc = set_party(in ? c->to : c->from, in ? "to" : "from", region, rec, 0, msg))) return rc;

    /* The agent: by name (the first user[]) and, when the agent's side is an extension, by
     * extension; on inbound calls the one who answered before the one dialled (a group). */
    copy(ev->user_name, c->user);
    const char *ext = "";
    if (in && phone_is_extension(c->answering))
        ext = c->answering;
    else if (phone_is_extension(in ? c->to : c->from))
        ext = in ? c->to : c->from;
    if (strlen(ext) >= sizeof ev->user_extension)
        return err_set(msg, ERR_INVAL, "extension '%s' is too long", shown(ext, s1));
    copy(ev->user_extension, ext);

    ev->answered = kind == EV_CALL_ANSWERED ? 1 : -1;
    if (kind == EV_CALL_ENDED && c->cause[0]) {
        for (size_t i = 0; i < sizeof cti_causes / sizeof *cti_causes; i++) {
            if (strcasecmp(c->cause, cti_causes[i].cause) != 0) continue;
            copy(rec->result, in ? cti_causes[i].in : cti_causes[i].out);
            ev->answered = cti_causes[i].answered;
            break;
        }
        /* Unknown causes leave result "" and answered -1: the server decides. */
    }
    return 0;
}

/* Media type of a Content-Type header: 0 JSON, 1 form, -1 other. */
static int media_type(const char *ct, const char *body, size_t len)
{
    static const char json[] = "application/json", form[] = "application/x-www-form-urlencoded";
    while (ct && (*ct == ' ' || *ct == '\t'))
        ct++;
    if (!ct || !*ct) {
        size_t i = 0;
        while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
            i++;
        return i < len && body[i] == '{' ? 0 : 1;
    }
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n == sizeof json - 1 && strncasecmp(ct, json, n) == 0) return 0;
    if (n == sizeof form - 1 && strncasecmp(ct, form, n) == 0) return 1;
    return -1;
}

int events_parse_cti(const char *body, size_t len, const char *content_type, const char *region,
                     int64_t now_ms, struct event *out, char *err)
{
    struct cti c;
    char s1[EV_SHOWN + 4];
    int rc;

    if (!body) body = "", len = 0;
    if (len > EVENTS_BODY_MAX)
        return err_set(err, ERR_TOOBIG, "body is larger than %d bytes", EVENTS_BODY_MAX);
    memset(&c, 0, sizeof c);
    switch (media_type(content_type, body, len)) {
    case 0:
        rc = cti_json(body, len, &c, err);
        break;
    case 1:
        rc = cti_form(body, len, &c, err);
        break;
    default:
        return err_set(err, ERR_UNSUPPORTED,
                       "content type '%s' is not application/json or "
                       "application/x-www-form-urlencoded",
                       shown(content_type, s1));
    }
    return rc ? rc : cti_event(&c, region, now_ms, out, err);
}
