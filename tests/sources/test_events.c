/* Live telephony events: crmlog's own JSON events and Zammad Generic CTI (JSON and form).
 * Good events are checked field by field against a table; bad ones against the error code
 * and a substring of the message. JSON bodies are written with ' for " to stay readable
 * (a literal apostrophe is \u0027). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/err.h"
#include "core/mem.h"
#include "sources/events.h"

#define NOW "2026-11-20T09:00:00Z" /* the receive time passed to the parsers */

#define OWN NULL /* format: crmlog's own event; otherwise a CTI content type */
#define FORM "application/x-www-form-urlencoded"
#define JSON "application/json"
#define SNIFF "" /* CTI without a content type */

static int64_t now_ms(void)
{
    int64_t ms;
    assert_int_equal(time_parse(NOW, &ms), 0);
    return ms;
}

/* ' → " for JSON bodies; form bodies are used as written. */
static char *body_text(const char *fmt, const char *body)
{
    size_t n = strlen(body);
    char *s = test_malloc(n + 1);
    memcpy(s, body, n + 1);
    if (fmt == OWN || strstr(fmt, "json") || (fmt[0] == '\0' && strchr(body, '{')))
        for (char *p = s; *p; p++)
            if (*p == '\'') *p = '"';
    return s;
}

static int parse(const char *fmt, const char *body, const char *region, struct event *ev, char *err)
{
    char *s = body_text(fmt, body);
    int rc = fmt == OWN ? events_parse_json(s, strlen(s), region, now_ms(), ev, err)
                        : events_parse_cti(s, strlen(s), fmt, region, now_ms(), ev, err);
    test_free(s);
    return rc;
}

/* ---- good events --------------------------------------------------------------------- */

struct good {
    const char *what, *fmt, *region, *body;
    int kind, type, direction;
    const char *session_id, *number, *extension;
    int internal;
    const char *own_number, *party_name;
    const char *at;    /* NULL: NOW */
    const char *start; /* NULL: at */
    int duration, has_duration, answered, pending;
    const char *result, *recording, *text, *user_extension, *user_name;
};

#define V CALL_VOICE
#define S CALL_SMS
#define IN DIR_INBOUND
#define OUT DIR_OUTBOUND

// clang-format off
static const struct good goods[] = {
    /* ---- crmlog's own events ---- */
    {"ringing, every field", OWN, NULL,
     "{'event':'call.ringing','session_id':'s1','direction':'inbound','from':'(650) 555-0123',"
     "'to':'+1 650 555 0100','extension':'101','user':'agent','name':'Jane Customer',"
     "'time':'2026-11-20T10:11:12.345Z'}", EV_CALL_RINGING, V, IN, "s1", "+16505550123", "", 0,
     "+16505550100", "Jane Customer", "2026-11-20T10:11:12.345Z", NULL, 0, 0, -1, 0, "", "", "",
     "101", "agent"},
    {"answered outbound, telephony number, own extension, pending recording", OWN, NULL,
     "{'event':'call.answered','session_id':'s2','direction':'outbound','from':'101',"
     "'to':'16504445567','user':'Emma Taylor','recording':{'pending':true}}", EV_CALL_ANSWERED, V,
     OUT, "s2", "+16504445567", "", 0, "101", "", NULL, NULL, 0, 0, 1, 1, "", "", "", "",
     "Emma Taylor"},
    {"ended, answered, duration, recording", OWN, NULL,
     "{'event':'call.ended','session_id':'s3','direction':'inbound','from':'650.555.0123',"
     "'to':'+16505550100','extension':'101','time':'2026-11-20T10:14:19Z','duration':187,"
     "'answered':true,'recording':{'url':'https://pbx.example.com/rec/s3.mp3'}}", EV_CALL_ENDED, V,
     IN, "s3", "+16505550123", "", 0, "+16505550100", "", "2026-11-20T10:14:19Z",
     "2026-11-20T10:11:12Z", 187, 1, 1, 0, "Call connected", "https://pbx.example.com/rec/s3.mp3",
     "", "101", ""},
    {"ended outbound, not answered", OWN, NULL,
     "{'event':'call.ended','session_id':'s4','direction':'outbound','to':'+442079460958',"
     "'user':'agent','answered':false,'duration':0}", EV_CALL_ENDED, V, OUT, "s4", "+442079460958",
     "", 0, "", "", NULL, NULL, 0, 1, 0, 0, "No Answer", "", "", "", "agent"},
    {"ended inbound, not answered", OWN, NULL,
     "{'event':'call.ended','session_id':'s5','direction':'inbound','from':'+16505550123',"
     "'user':'agent','answered':false}", EV_CALL_ENDED, V, IN, "s5", "+16505550123", "", 0, "", "",
     NULL, NULL, 0, 0, 0, 0, "Missed", "", "", "", "agent"},
    {"ended, answer unknown: the server decides", OWN, NULL,
     "{'event':'call.ended','session_id':'s6','direction':'inbound','from':'+16505550123',"
     "'extension':'101'}", EV_CALL_ENDED, V, IN, "s6", "+16505550123", "", 0, "", "", NULL, NULL, 0,
     0, -1, 0, "", "", "", "101", ""},
    {"ended with its own result, http link", OWN, NULL,
     "{'event':'call.ended','session_id':'s7','direction':'inbound','from':'+16505550123',"
     "'extension':'101','result':'Voicemail','answered':false,"
     "'recording':{'url':'HTTP://10.0.0.5/vm/7.wav','pending':false}}", EV_CALL_ENDED, V, IN, "s7",
     "+16505550123", "", 0, "", "", NULL, NULL, 0, 0, 0, 0, "Voicemail", "http://10.0.0.5/vm/7.wav",
     "", "101", ""},
    {"internal call: the other party is an extension", OWN, NULL,
     "{'event':'call.ended','session_id':'s8','direction':'inbound','from':'102','to':'101',"
     "'extension':'101','name':'Carl Colleague','duration':60}", EV_CALL_ENDED, V, IN, "s8", "",
     "102", 1, "101", "Carl Colleague", NULL, "2026-11-20T08:59:00Z", 60, 1, -1, 0, "", "", "",
     "101", ""},
    {"withheld caller, nulls are absent", OWN, NULL,
     "{'event':'call.ringing','session_id':'s9','direction':'inbound','from':'anonymous',"
     "'to':null,'extension':'101','name':null,'time':null}", EV_CALL_RINGING, V, IN, "s9", "", "",
     0, "", "", NULL, NULL, 0, 0, -1, 0, "", "", "", "101", ""},
    {"no from at all", OWN, NULL,
     "{'event':'call.ringing','session_id':'s10','direction':'inbound','user':'agent'}",
     EV_CALL_RINGING, V, IN, "s10", "", "", 0, "", "", NULL, NULL, 0, 0, -1, 0, "", "", "", "",
     "agent"},
    {"time with an offset", OWN, NULL,
     "{'event':'call.answered','session_id':'s11','direction':'inbound','from':'+16505550123',"
     "'extension':'101','time':'2026-11-20T12:11:12+02:00'}", EV_CALL_ANSWERED, V, IN, "s11",
     "+16505550123", "", 0, "", "", "2026-11-20T10:11:12Z", NULL, 0, 0, 1, 0, "", "", "", "101",
     ""},
    {"sms received", OWN, NULL,
     "{'event':'sms.received','message_id':'m1','from':'+16505550123','to':'+16505550100',"
     "'user':'agent','text':'Call me back\\nplease','time':'2026-11-20T10:00:00Z',"
     "'name':'Jane Customer'}", EV_SMS_RECEIVED, S, IN, "m1", "+16505550123", "", 0, "+16505550100",
     "Jane Customer", "2026-11-20T10:00:00Z", NULL, 0, 0, -1, 0, "", "", "Call me back\nplease", "",
     "agent"},
    {"sms sent, direction given, national number in GB", OWN, "GB",
     "{'event':'sms.sent','message_id':'m2','direction':'outbound','from':'+442079460000',"
     "'to':'020 7946 0958','extension':'7','text':''}", EV_SMS_SENT, S, OUT, "m2", "+442079460958",
     "", 0, "+442079460000", "", NULL, NULL, 0, 0, -1, 0, "", "", "", "7", ""},
    {"sms between extensions", OWN, NULL,
     "{'event':'sms.received','message_id':'m3','from':'102','extension':'101','text':'hi',"
     "'name':'O\\u0027Brien'}", EV_SMS_RECEIVED, S, IN, "m3", "", "102", 1, "", "O'Brien", NULL,
     NULL, 0, 0, -1, 0, "", "", "hi", "101", ""},

    /* ---- Zammad CTI, form encoding ---- */
    {"newCall in, user[] twice, queue ignored", FORM, NULL,
     "event=newCall&from=493055571600&to=101&direction=in&callId=53ba82e2bd6d12d9fb2d3838f0cfb070"
     "&user%5B%5D=Emma+Taylor&user%5B%5D=Chris&queue=helpdesk", EV_CALL_RINGING, V, IN,
     "53ba82e2bd6d12d9fb2d3838f0cfb070", "+493055571600", "", 0, "101", "", NULL, NULL, 0, 0, -1, 0,
     "", "", "", "101", "Emma Taylor"},
    {"answer in, answeringNumber wins, charset, case",
     "Application/X-WWW-Form-Urlencoded; charset=UTF-8", NULL,
     "event=answer&from=%2B14155550123&to=4930600000000&direction=in&callId=c2&user=Emma%20Taylor"
     "&answeringNumber=42", EV_CALL_ANSWERED, V, IN, "c2", "+14155550123", "", 0, "+4930600000000",
     "", NULL, NULL, 0, 0, 1, 0, "", "", "", "42", "Emma Taylor"},
    {"hangup out, cancel", FORM, NULL,
     "event=hangup&from=101&to=492214710334&direction=out&callId=c3&user[]=Christopher+Miller"
     "&cause=cancel", EV_CALL_ENDED, V, OUT, "c3", "+492214710334", "", 0, "101", "", NULL, NULL, 0,
     0, 0, 0, "No Answer", "", "", "101", "Christopher Miller"},
    {"hangup in, noAnswer, messy body", FORM, NULL,
     "&event=hangup&&from=493055571600&to=101&direction=in&callId=c4&cause=noAnswer&flag&=x"
     "&x%20y=%7E&\r\n", EV_CALL_ENDED, V, IN, "c4", "+493055571600", "", 0, "101", "", NULL, NULL,
     0, 0, 0, 0, "Missed", "", "", "101", ""},
    {"hangup in, busy", FORM, NULL,
     "event=hangup&from=anonymous&to=101&direction=in&callId=c5&cause=busy", EV_CALL_ENDED, V, IN,
     "c5", "", "", 0, "101", "", NULL, NULL, 0, 0, 0, 0, "Busy", "", "", "101", ""},
    {"hangup out, congestion", FORM, NULL,
     "event=hangup&from=101&to=492214710334&direction=out&callId=c6&cause=congestion",
     EV_CALL_ENDED, V, OUT, "c6", "+492214710334", "", 0, "101", "", NULL, NULL, 0, 0, 0, 0,
     "Call Failed", "", "", "101", ""},
    {"hangup out, notFound", FORM, NULL,
     "event=hangup&from=101&to=492214710334&direction=out&callId=c7&cause=notFound", EV_CALL_ENDED,
     V, OUT, "c7", "+492214710334", "", 0, "101", "", NULL, NULL, 0, 0, 0, 0, "Wrong Number", "",
     "", "101", ""},
    {"hangup in, forwarded", FORM, NULL,
     "event=hangup&from=493055571600&to=101&direction=in&callId=c8&cause=forwarded", EV_CALL_ENDED,
     V, IN, "c8", "+493055571600", "", 0, "101", "", NULL, NULL, 0, 0, -1, 0, "Forwarded", "", "",
     "101", ""},
    {"hangup in, unknown cause", FORM, NULL,
     "event=hangup&from=493055571600&to=101&direction=in&callId=c9&cause=somethingNew",
     EV_CALL_ENDED, V, IN, "c9", "+493055571600", "", 0, "101", "", NULL, NULL, 0, 0, -1, 0, "", "",
     "", "101", ""},
    {"hangup in, no cause", FORM, NULL,
     "event=hangup&from=493055571600&to=101&direction=in&callId=c10", EV_CALL_ENDED, V, IN, "c10",
     "+493055571600", "", 0, "101", "", NULL, NULL, 0, 0, -1, 0, "", "", "", "101", ""},
    {"internal CTI call", FORM, NULL, "event=newCall&from=101&to=102&direction=in&callId=c11",
     EV_CALL_RINGING, V, IN, "c11", "", "101", 1, "102", "", NULL, NULL, 0, 0, -1, 0, "", "", "",
     "102", ""},
    {"no content type: form", SNIFF, NULL,
     "event=newCall&from=&to=4930600000000&direction=out&callId=c12&user[]=A", EV_CALL_RINGING, V,
     OUT, "c12", "+4930600000000", "", 0, "", "", NULL, NULL, 0, 0, -1, 0, "", "", "", "", "A"},

    /* ---- Zammad CTI, JSON ---- */
    {"hangup in, normalClearing, answeringNumber a login", JSON, NULL,
     "{'event':'hangup','from':'493023125741','to':'492214710334','direction':'in',"
     "'callId':'307fa962-de8d-4ffc-817b-7f6993204159','user':'Emma Taylor',"
     "'answeringNumber':'emma@chrispresso.com','cause':'normalClearing'}", EV_CALL_ENDED, V, IN,
     "307fa962-de8d-4ffc-817b-7f6993204159", "+493023125741", "", 0, "+492214710334", "", NULL,
     NULL, 0, 0, 1, 0, "Call connected", "", "", "", "Emma Taylor"},
    {"newCall, numeric callId and numbers, user array, extra keys",
     "application/json; charset=utf-8", NULL,
     "{'event':'newCall','from':493055571600,'to':'101','direction':'in','callId':123456789,"
     "'user':['Emma Taylor','Chris'],'queue':'helpdesk','extra':{'a':[1,2]}}", EV_CALL_RINGING, V,
     IN, "123456789", "+493055571600", "", 0, "101", "", NULL, NULL, 0, 0, -1, 0, "", "", "", "101",
     "Emma Taylor"},
    {"answer out, user[] key", JSON, NULL,
     "{'event':'answer','from':'101','to':'+16505550123','direction':'out','callId':'c13',"
     "'user[]':['Bob'],'cause':null}", EV_CALL_ANSWERED, V, OUT, "c13", "+16505550123", "", 0,
     "101", "", NULL, NULL, 0, 0, 1, 0, "", "", "", "101", "Bob"},
    {"no content type: JSON", SNIFF, NULL,
     "  {'event':'hangup','from':null,'to':'101','direction':'in','callId':'c14',"
     "'cause':'busy','user':[]}", EV_CALL_ENDED, V, IN, "c14", "", "", 0, "101", "", NULL, NULL, 0,
     0, 0, 0, "Busy", "", "", "101", ""},
};
// clang-format on

static void check_event(const struct event *ev, const struct good *g)
{
    const struct call_rec *r = &ev->rec;
    int64_t at = now_ms(), start;
    if (g->at) assert_int_equal(time_parse(g->at, &at), 0);
    start = at;
    if (g->start) assert_int_equal(time_parse(g->start, &start), 0);

    assert_int_equal(ev->kind, g->kind);
    assert_int_equal(ev->at_ms, at);
    assert_int_equal(ev->has_duration, g->has_duration);
    assert_int_equal(ev->answered, g->answered);
    assert_int_equal(ev->recording_pending, g->pending);
    assert_string_equal(ev->user_extension, g->user_extension);
    assert_string_equal(ev->user_name, g->user_name);

    assert_int_equal(r->id, 0);
    assert_int_equal(r->user_id, 0);
    assert_int_equal(r->type, g->type);
    assert_int_equal(r->direction, g->direction);
    assert_string_equal(r->session_id, g->session_id);
    assert_string_equal(r->record_id, g->type == CALL_SMS ? g->session_id : "");
    assert_string_equal(r->number, g->number);
    assert_string_equal(r->extension, g->extension);
    assert_int_equal(r->internal, g->internal);
    assert_string_equal(r->own_number, g->own_number);
    assert_string_equal(r->party_name, g->party_name);
    assert_int_equal(r->start_ms, start);
    assert_int_equal(r->duration, g->duration);
    assert_string_equal(r->result, g->result);
    assert_string_equal(r->action, "");
    assert_string_equal(r->recording, g->recording);
    assert_string_equal(r->text, g->text);
    assert_string_equal(r->conversation_id, "");
    assert_int_equal(r->status, g->kind == EV_CALL_RINGING || g->kind == EV_CALL_ANSWERED
                                    ? ST_ACTIVE
                                    : ST_UNLOGGED);
    assert_int_equal(r->reason, 0);
    assert_string_equal(r->contact_id, "");
    assert_string_equal(r->log_id, "");
}

static void test_good(void **state)
{
    (void)state;
    struct event *ev = test_malloc(sizeof *ev);
    for (size_t i = 0; i < sizeof goods / sizeof *goods; i++) {
        char err[ERR_LEN] = "untouched";
        print_message("good %zu: %s\n", i, goods[i].what);
        memset(ev, 0x5a, sizeof *ev); /* every field must be set by the parser */
        int rc = parse(goods[i].fmt, goods[i].body, goods[i].region, ev, err);
        if (rc) print_message("  %s\n", err);
        assert_int_equal(rc, 0);
        assert_string_equal(err, "untouched");
        check_event(ev, &goods[i]);
    }
    test_free(ev);
}

/* ---- bad events ---------------------------------------------------------------------- */

struct bad {
    const char *fmt, *body;
    int rc;
    const char *msg; /* a substring of the message */
};

#define CALL_ "{'event':'call.ringing','session_id':'s1','direction':'inbound','extension':'101',"
#define END_ "{'event':'call.ended','session_id':'s1','direction':'inbound','extension':'101',"
#define SMS_ "{'event':'sms.received','message_id':'m1','from':'+16505550123','user':'a',"
#define CTI_ "event=newCall&from=493055571600&to=101&direction=in&callId=c1"

static const struct bad bads[] = {
    /* ---- own: malformed ---- */
    {OWN, "{'event':", ERR_PARSE, "1:9: unexpected token"},
    {OWN, "", ERR_PARSE, "1:0: "},
    {OWN, "[1]", ERR_PARSE, "must be a JSON object"},
    {OWN, CALL_ "'from':'+16505550123'} x", ERR_PARSE, "end of file expected"},
    {OWN, "{'event':'call.ringing','event':'call.ended'}", ERR_PARSE, "duplicate"},
    {OWN, CALL_ "'from':'a\\u0000b'}", ERR_PARSE, "\\u0000"},
    /* ---- own: unknown and misplaced fields ---- */
    {OWN, CALL_ "'colour':'red'}", ERR_PARSE, "unknown field 'colour'"},
    {OWN, CALL_ "'Session_Id':'x'}", ERR_PARSE, "unknown field 'Session_Id'"},
    {OWN, CALL_ "'duration':5}", ERR_PARSE, "field 'duration' does not belong in a call.ringing"},
    {OWN, CALL_ "'text':'hi'}", ERR_PARSE, "field 'text' does not belong"},
    {OWN, CALL_ "'recording':{'pending':true}}", ERR_PARSE, "field 'recording' does not belong"},
    {OWN, CALL_ "'message_id':'m'}", ERR_PARSE, "field 'message_id' does not belong"},
    {OWN, SMS_ "'text':'x','session_id':'s'}", ERR_PARSE, "field 'session_id' does not belong"},
    {OWN, SMS_ "'text':'x','result':'Sent'}", ERR_PARSE, "field 'result' does not belong"},
    {OWN, END_ "'recording':{'uri':'https://x.example'}}", ERR_PARSE,
     "unknown field 'recording.uri'"},
    /* ---- own: wrong types ---- */
    {OWN, "{'event':7}", ERR_PARSE, "event must be a string"},
    {OWN, "{'event':'call.ringing','session_id':5}", ERR_PARSE, "session_id must be a string"},
    {OWN, CALL_ "'from':16505550123}", ERR_PARSE, "from must be a string"},
    {OWN, CALL_ "'time':1700000000}", ERR_PARSE, "time must be a string"},
    {OWN, CALL_ "'user':['a']}", ERR_PARSE, "user must be a string"},
    {OWN, END_ "'duration':'12'}", ERR_PARSE, "duration must be an integer"},
    {OWN, END_ "'duration':1.5}", ERR_INVAL, "duration must be a whole number"},
    {OWN, END_ "'answered':'yes'}", ERR_PARSE, "answered must be true or false"},
    {OWN, END_ "'recording':'https://x.example/r'}", ERR_PARSE, "recording must be an object"},
    {OWN, END_ "'recording':{'url':5}}", ERR_PARSE, "recording.url must be a string"},
    {OWN, END_ "'recording':{'pending':'yes'}}", ERR_PARSE, "recording.pending must be true"},
    {OWN, SMS_ "'text':['x']}", ERR_PARSE, "text must be a string"},
    /* ---- own: missing ---- */
    {OWN, "{'session_id':'s1'}", ERR_PARSE, "missing event"},
    {OWN, "{'event':'call.ringing','direction':'inbound','extension':'101'}", ERR_PARSE,
     "missing session_id"},
    {OWN, "{'event':'call.ringing','session_id':null,'direction':'inbound','extension':'1'}",
     ERR_PARSE, "missing session_id"},
    {OWN, "{'event':'call.ringing','session_id':'','direction':'inbound','extension':'101'}",
     ERR_INVAL, "session_id is empty"},
    {OWN, "{'event':'call.ringing','session_id':'s1','extension':'101'}", ERR_PARSE,
     "missing direction"},
    {OWN, "{'event':'call.ringing','session_id':'s1','direction':'inbound'}", ERR_PARSE,
     "missing extension or user"},
    {OWN, "{'event':'call.ringing','session_id':'s1','direction':'inbound','user':''}", ERR_INVAL,
     "user is empty"},
    {OWN, "{'event':'sms.sent','message_id':'m1','to':'+16505550123','user':'a'}", ERR_PARSE,
     "missing text"},
    {OWN, "{'event':'sms.sent','session_id':'m1'}", ERR_PARSE, "does not belong"},
    {OWN, "{'event':'sms.sent','message_id':'m1','user':'a','text':''}", ERR_PARSE, "missing to"},
    {OWN, "{'event':'sms.received','message_id':'m1','from':'anonymous','user':'a','text':''}",
     ERR_INVAL, "from must be the other party's number"},
    {OWN, END_ "'recording':{}}", ERR_PARSE, "recording needs a url or pending"},
    /* ---- own: bad values ---- */
    {OWN, "{'event':'call.held','session_id':'s1'}", ERR_INVAL, "event 'call.held' is not"},
    {OWN, "{'event':'CALL.RINGING'}", ERR_INVAL, "event 'CALL.RINGING' is not"},
    {OWN, "{'event':'call.ringing','session_id':'s1','direction':'in','extension':'1'}", ERR_INVAL,
     "direction 'in' is not inbound or outbound"},
    {OWN, SMS_ "'text':'x','direction':'outbound'}", ERR_INVAL,
     "direction 'outbound' contradicts sms.received"},
    {OWN, CALL_ "'from':'hello'}", ERR_INVAL, "from: 'hello' is not a phone number"},
    {OWN, CALL_ "'from':'+16505550123','to':'12'}", 0, NULL}, /* (own side an extension: ok) */
    {OWN,
     "{'event':'call.ringing','session_id':'s1','direction':'outbound','extension':'1',"
     "'to':'555'}",
     0, NULL},
    {OWN, CALL_ "'from':'+1 650 555'}", ERR_INVAL, "from: "},
    {OWN, CALL_ "'from':'+16505550123','to':'nope'}", ERR_INVAL, "to: 'nope'"},
    {OWN, CALL_ "'from':'+1650555\\u00010123'}", ERR_INVAL, "from contains a control character"},
    {OWN, CALL_ "'time':'2026-13-01T00:00:00Z'}", ERR_INVAL,
     "time '2026-13-01T00:00:00Z' is not an ISO 8601 time"},
    {OWN, CALL_ "'time':'yesterday'}", ERR_INVAL, "time 'yesterday' is not"},
    {OWN, CALL_ "'time':'2026-11-20T10:11:12'}", ERR_INVAL, "is not an ISO 8601 time"},
    {OWN, END_ "'duration':-1}", ERR_INVAL, "duration -1 is out of range"},
    {OWN, END_ "'duration':99999999999}", ERR_INVAL, "is out of range"},
    {OWN, END_ "'recording':{'url':'ftp://pbx.example.com/r.mp3'}}", ERR_INVAL,
     "recording.url 'ftp://pbx.example.com/r.mp3' is not an http(s) link"},
    {OWN, END_ "'recording':{'url':'javascript:alert(1)'}}", ERR_INVAL, "not an http(s) link"},
    {OWN, END_ "'recording':{'url':'https://'}}", ERR_INVAL, "not an http(s) link"},
    {OWN, END_ "'recording':{'url':'https:///path'}}", ERR_INVAL, "not an http(s) link"},
    {OWN, END_ "'recording':{'url':'https://x.example/a b'}}", ERR_INVAL, "not an http(s) link"},
    {OWN, END_ "'recording':{'url':''}}", ERR_INVAL, "not an http(s) link"},
    {OWN, END_ "'recording':{'url':'https://x.example/r','pending':true}}", ERR_INVAL,
     "both a url and pending"},
    {OWN, END_ "'result':''}", ERR_INVAL, "result is empty"},
    {OWN, CALL_ "'user':'a\\nb'}", ERR_INVAL, "user contains a control character"},
    {OWN, CALL_ "'name':'a\\tb'}", ERR_INVAL, "name contains a control character"},
    {OWN, "{'event':'call.ringing','session_id':'a\\rb','direction':'inbound','extension':'1'}",
     ERR_INVAL, "session_id contains a control character"},
    {OWN, CALL_ "'\\u0001key':1}", ERR_PARSE, "unknown field '?key'"},

    /* ---- CTI, form ---- */
    {FORM, CTI_ "&user=%zz", ERR_PARSE, "malformed %-escape in parameter user"},
    {FORM, CTI_ "&cause=%4", ERR_PARSE, "malformed %-escape in parameter cause"},
    {FORM, CTI_ "&user=100%", ERR_PARSE, "malformed %-escape"},
    {FORM, CTI_ "&x=%g0", ERR_PARSE, "malformed %-escape in parameter 'x'"},
    {FORM, CTI_ "&%=1", ERR_PARSE, "malformed %-escape in a parameter name"},
    {FORM, CTI_ "&user=a%00b", ERR_INVAL, "user contains a NUL byte"},
    {FORM, CTI_ "&user=%FF", ERR_INVAL, "user is not valid UTF-8"},
    {FORM, CTI_ "&user=%C0%AF", ERR_INVAL, "user is not valid UTF-8"},    /* overlong */
    {FORM, CTI_ "&user=%ED%A0%80", ERR_INVAL, "user is not valid UTF-8"}, /* surrogate */
    {FORM, CTI_ "&user=a%0Ab", ERR_INVAL, "user contains a control character"},
    {FORM, "event=newCall&from=493055571600&to=101&direction=in", ERR_PARSE,
     "missing parameter callId"},
    {FORM, "from=493055571600&to=101&direction=in&callId=c1", ERR_PARSE, "missing parameter event"},
    {FORM, "event=newCall&from=493055571600&to=101&callId=c1", ERR_PARSE,
     "missing parameter direction"},
    {FORM, "event=newCall&to=101&direction=in&callId=c1", ERR_PARSE, "missing parameter from"},
    {FORM, "event=newCall&from=493055571600&direction=in&callId=c1", ERR_PARSE,
     "missing parameter to"},
    {FORM, "", ERR_PARSE, "missing parameter event"},
    {FORM, "event=ringing&from=4930555716&to=101&direction=in&callId=c1", ERR_INVAL,
     "unknown CTI event 'ringing'"},
    {FORM, "event=newCall&from=493055571600&to=101&direction=inbound&callId=c1", ERR_INVAL,
     "direction 'inbound' is not in or out"},
    {FORM, "event=newCall&from=493055571600&to=101&direction=in&callId=", ERR_INVAL,
     "callId is empty"},
    {FORM, CTI_ "&callId=c2", ERR_PARSE, "parameter callId is given twice"},
    {FORM, "event=newCall&from=notanumber&to=101&direction=in&callId=c1", ERR_INVAL,
     "from: 'notanumber' is not a phone number"},
    {FORM, "event=newCall&from=101&to=notanumber&direction=out&callId=c1", ERR_INVAL,
     "to: 'notanumber'"},
    {FORM, "event=newCall&from=493055571600&to=101&direction=in&callId=a%0Db", ERR_INVAL,
     "callId contains a control character"},
    /* ---- CTI, JSON ---- */
    {JSON, "{'event':'newCall',", ERR_PARSE, "1:"},
    {JSON, "'newCall'", ERR_PARSE, "'[' or '{' expected"},
    {JSON, "['newCall']", ERR_PARSE, "must be a JSON object"},
    {JSON, "{'event':5,'from':'1','to':'2','direction':'in','callId':'c'}", ERR_PARSE,
     "event must be a string"},
    {JSON, "{'event':'newCall','from':'493055571600','to':'101','direction':'in','callId':true}",
     ERR_PARSE, "callId must be a string"},
    {JSON,
     "{'event':'newCall','from':'493055571600','to':'101','direction':'in','callId':'c',"
     "'user':[1]}",
     ERR_PARSE, "user must be a string or an array of strings"},
    {JSON, "{'event':'newCall','from':'493055571600','to':'101','direction':'in'}", ERR_PARSE,
     "missing parameter callId"},
    {JSON, "{'event':null,'from':'493055571600','to':'101','direction':'in','callId':'c'}",
     ERR_INVAL, "unknown CTI event ''"},
    {JSON, "{'event':'newCall','from':'493055571600','to':'101','direction':'in','callId':null}",
     ERR_INVAL, "callId is empty"},
    {JSON, "{'event':'dial','from':'493055571600','to':'101','direction':'in','callId':'c'}",
     ERR_INVAL, "unknown CTI event 'dial'"},
    /* ---- CTI, content types ---- */
    {"text/plain", CTI_, ERR_UNSUPPORTED, "content type 'text/plain' is not"},
    {"multipart/form-data; boundary=x", CTI_, ERR_UNSUPPORTED, "content type 'multipart/form-data"},
    {"application/jsonx", CTI_, ERR_UNSUPPORTED, "content type"},
    {JSON, CTI_, ERR_PARSE, "1:"}, /* form sent as JSON */
};

static void test_bad(void **state)
{
    (void)state;
    struct event *ev = test_malloc(sizeof *ev);
    for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
        char err[ERR_LEN] = "";
        const struct bad *b = &bads[i];
        print_message("bad %zu: %s\n", i, b->body);
        int rc = parse(b->fmt, b->body, NULL, ev, err);
        print_message("  -> %d %s\n", rc, err);
        assert_int_equal(rc, b->rc);
        if (b->msg) assert_non_null(strstr(err, b->msg));
        if (rc) assert_null(strchr(err, '\n'));
    }
    test_free(ev);
}

/* ---- limits -------------------------------------------------------------------------- */

/* Builds `pre` + n times c + `post` (test_free it). */
static char *fill(const char *pre, char c, size_t n, const char *post)
{
    size_t a = strlen(pre), b = strlen(post);
    char *s = test_malloc(a + n + b + 1);
    memcpy(s, pre, a);
    memset(s + a, c, n);
    memcpy(s + a + n, post, b + 1);
    return s;
}

static void test_limits(void **state)
{
    (void)state;
    struct event *ev = test_malloc(sizeof *ev);
    struct {
        const char *fmt, *pre;
        char c;
        size_t n;
        const char *post;
        int rc;
        const char *msg;
    } cases[] = {
        /* ids: 127 bytes fit, 128 do not */
        {OWN, "{'event':'call.ringing','extension':'1','direction':'inbound','session_id':'", 'a',
         CALL_ID_LEN - 1, "'}", 0, NULL},
        {OWN, "{'event':'call.ringing','extension':'1','direction':'inbound','session_id':'", 'a',
         CALL_ID_LEN, "'}", ERR_INVAL, "session_id is too long (128 bytes, at most 127)"},
        {OWN, SMS_ "'text':'", 'x', CALL_TEXT_LEN - 1, "'}", 0, NULL},
        {OWN, SMS_ "'text':'", 'x', CALL_TEXT_LEN, "'}", ERR_INVAL, "text is too long"},
        {OWN, CALL_ "'name':'", 'x', CALL_NAME_LEN, "'}", ERR_INVAL, "name is too long"},
        {OWN, CALL_ "'user':'", 'x', CALL_NAME_LEN, "'}", ERR_INVAL, "user is too long"},
        {OWN, "{'event':'call.ringing','session_id':'s','direction':'inbound','extension':'", '1',
         PHONE_LEN, "'}", ERR_INVAL, "extension is too long"},
        {OWN, END_ "'result':'", 'x', CALL_SHORT_LEN, "'}", ERR_INVAL, "result is too long"},
        {OWN, END_ "'recording':{'url':'https://x.example/", 'r', CALL_URL_LEN, "'}}", ERR_INVAL,
         "recording.url is too long"},
        {OWN, CALL_ "'from':'", '5', 300, "'}", ERR_INVAL, "from is too long"},
        {OWN, CALL_ "'from':'1", ' ', 40, "'}", ERR_INVAL, "extension '1"},
        {OWN, CALL_ "'from':'+1", '5', 30, "'}", ERR_INVAL, "from: "},
        {OWN, "{'event':'", 'x', 100, "'}", ERR_INVAL, "event is not a known event"},
        /* one byte over the body cap */
        {OWN, SMS_ "'text':'x','name':'", ' ', EVENTS_BODY_MAX, "'}", ERR_TOOBIG, "body is larger"},
        {FORM, CTI_ "&queue=", 'q', EVENTS_BODY_MAX, "", ERR_TOOBIG, "body is larger"},
        /* CTI values */
        {FORM, CTI_ "&user=", 'u', CALL_NAME_LEN - 1, "", 0, NULL},
        {FORM, CTI_ "&user=", 'u', CALL_NAME_LEN, "", ERR_INVAL, "user is too long"},
        {FORM, CTI_ "&user=", 'u', 10000, "", ERR_INVAL, "user is too long"},
        {FORM, CTI_ "&cause=", 'c', 100, "", ERR_INVAL, "cause is too long"},
        {FORM, "event=newCall&from=493055571600&to=101&direction=in&callId=", 'i', CALL_ID_LEN, "",
         ERR_INVAL, "callId is too long"},
        {FORM, CTI_ "&answeringNumber=1", ' ', 40, "", ERR_INVAL, "extension '1"},
        {FORM, CTI_ "&", 'k', 5000, "=%zz", ERR_PARSE, "malformed %-escape in parameter 'kkk"},
        {FORM, CTI_ "&", 'k', 5000, "=1", 0, NULL}, /* long unknown names are just unknown */
        {JSON, "{'event':'newCall','from':'493055571600','to':'101','direction':'in','callId':'",
         'i', CALL_ID_LEN, "'}", ERR_INVAL, "callId is too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char err[ERR_LEN] = "";
        char *pre = body_text(cases[i].fmt, cases[i].pre);
        char *post = body_text(cases[i].fmt, cases[i].post);
        char *s = fill(pre, cases[i].c, cases[i].n, post);
        size_t len = strlen(s);
        int rc = cases[i].fmt == OWN
                     ? events_parse_json(s, len, NULL, now_ms(), ev, err)
                     : events_parse_cti(s, len, cases[i].fmt, NULL, now_ms(), ev, err);
        print_message("limit %zu -> %d %s\n", i, rc, err);
        assert_int_equal(rc, cases[i].rc);
        if (cases[i].msg) assert_non_null(strstr(err, cases[i].msg));
        assert_true(strlen(err) < 200);
        test_free(s);
        test_free(post);
        test_free(pre);
    }
    test_free(ev);
}

/* Bodies are lengths, not C strings: bytes after len never count, NUL inside is an error. */
static void test_lengths(void **state)
{
    (void)state;
    struct event *ev = test_malloc(sizeof *ev);
    char err[ERR_LEN] = "";
    static const char form[] = "event=newCall&from=493055571600&to=101&direction=in&callId=c1&x";
    assert_int_equal(events_parse_cti(form, sizeof form - 3, FORM, NULL, 0, ev, err), 0);
    assert_string_equal(ev->rec.session_id, "c1");
    assert_int_equal(events_parse_cti(form, sizeof form - 5, FORM, NULL, 0, ev, err), ERR_INVAL);
    assert_int_equal(events_parse_cti(form, sizeof form, FORM, NULL, 0, ev, err), ERR_PARSE);
    assert_non_null(strstr(err, "NUL"));
    assert_int_equal(events_parse_cti(NULL, 0, FORM, NULL, 0, ev, err), ERR_PARSE);
    assert_int_equal(events_parse_json(NULL, 0, NULL, 0, ev, err), ERR_PARSE);
    assert_int_equal(events_parse_cti(NULL, 0, NULL, NULL, 0, ev, err), ERR_PARSE);
    /* a NULL err is allowed */
    assert_int_equal(events_parse_json("{", 1, NULL, 0, ev, NULL), ERR_PARSE);
    test_free(ev);
}

static void test_strings(void **state)
{
    (void)state;
    assert_string_equal(events_default_result(DIR_INBOUND, 1), "Call connected");
    assert_string_equal(events_default_result(DIR_OUTBOUND, 1), "Call connected");
    assert_string_equal(events_default_result(DIR_INBOUND, 0), "Missed");
    assert_string_equal(events_default_result(DIR_OUTBOUND, 0), "No Answer");
    assert_string_equal(events_kind_str(EV_CALL_RINGING), "call.ringing");
    assert_string_equal(events_kind_str(EV_SMS_SENT), "sms.sent");
    assert_string_equal(events_kind_str(-1), "unknown");
    assert_string_equal(events_kind_str(5), "unknown");
}

/* ---- allocation failure -------------------------------------------------------------- */

static int json_alloc_failed;

/* mem_alloc, noting failures: jansson's lexer reports some failed allocations as a syntax
 * error ("string or '}' expected"), which the parser cannot tell from bad input. */
static void *json_alloc(size_t n)
{
    void *p = mem_alloc(n);
    if (!p) json_alloc_failed = 1;
    return p;
}

/* Every good and bad case with the n-th allocation failing, for every n until it passes:
 * each run either gives the case's own answer or fails cleanly with ERR_NOMEM (or
 * jansson's syntax error when it was jansson that ran out), never anything else
 * (LeakSanitizer, in the sanitizer build, checks that nothing leaks). */
static void test_alloc_failure(void **state)
{
    (void)state;
    struct event *ev = test_malloc(sizeof *ev);
    size_t runs = 0, nomem_as_parse = 0;
    json_set_alloc_funcs(json_alloc, mem_free);
    for (size_t i = 0; i < sizeof goods / sizeof *goods + sizeof bads / sizeof *bads; i++) {
        int good = i < sizeof goods / sizeof *goods;
        const struct good *g = good ? &goods[i] : NULL;
        const struct bad *b = good ? NULL : &bads[i - sizeof goods / sizeof *goods];
        const char *fmt = good ? g->fmt : b->fmt, *body = good ? g->body : b->body;
        int want = good ? 0 : b->rc, rc;
        long n = 0;
        do {
            char err[ERR_LEN] = "";
            json_alloc_failed = 0;
            mem_fail_after(n);
            rc = parse(fmt, body, good ? g->region : NULL, ev, err);
            mem_fail_after(-1);
            if (rc != want && rc == ERR_PARSE && json_alloc_failed) {
                nomem_as_parse++;
            } else if (rc != want) {
                if (rc != ERR_NOMEM) print_message("case %zu n=%ld: %d %s\n", i, n, rc, err);
                assert_int_equal(rc, ERR_NOMEM);
                assert_string_equal(err, "out of memory");
            }
            n++;
        } while (rc != want && n < 10000);
        assert_int_equal(rc, want);
        if (good) check_event(ev, g);
        runs += (size_t)n;
    }
    print_message("%zu runs, %zu out of memory seen as syntax errors\n", runs, nomem_as_parse);
    json_set_alloc_funcs(malloc, free);
    test_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),    cmocka_unit_test(test_bad),
        cmocka_unit_test(test_limits),  cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_strings), cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
