/* Import of RingCentral call-log / message-store responses and JSON Lines.
 * Good files are checked field by field against tables; bad files against the exact place
 * the error message names. */
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
#include "sources/import.h"

#define DATA CRMLOG_TEST_DATA "/import/"
#define MAX_RECS 16
#define LINE_MAX_BYTES (1024 * 1024)

/* ---- helpers ------------------------------------------------------------------------- */

struct collect {
    struct call_rec recs[MAX_RECS];
    size_t n;
    size_t stop_after; /* 0: never stop */
};

static int collect_cb(const struct call_rec *rec, void *ctx, char *err)
{
    struct collect *c = ctx;
    if (c->stop_after && c->n == c->stop_after)
        return err_set(err, ERR_CONFLICT, "stopped by the callback");
    if (c->n < MAX_RECS) c->recs[c->n] = *rec;
    c->n++;
    return 0;
}

static int import_file(const char *name, const struct import_opts *opts, struct collect *c,
                       struct import_stats *st, char *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s%s", DATA, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    int rc = import_stream(f, name, opts, collect_cb, c, st, err);
    fclose(f);
    return rc;
}

static int import_text(const char *text, size_t len, struct collect *c, struct import_stats *st,
                       char *err)
{
    static const struct import_opts opts = {.user_id = 7};
    FILE *f = fmemopen((void *)text, len, "rb");
    assert_non_null(f);
    int rc = import_stream(f, "inline", &opts, collect_cb, c, st, err);
    fclose(f);
    return rc;
}

/* One expected record; times are written as text to keep the tables readable. */
struct want {
    int type, direction;
    const char *session_id, *record_id, *number, *extension, *party_name, *own_number;
    int internal;
    const char *start;
    int duration;
    const char *result, *action, *recording, *text, *conversation_id;
    int status;
};

static void check_rec(const struct call_rec *got, const struct want *w, size_t i)
{
    int64_t start;
    print_message("record %zu: %s\n", i, w->session_id);
    assert_int_equal(time_parse(w->start, &start), 0);
    assert_int_equal(got->id, 0);
    assert_int_equal(got->user_id, 7);
    assert_int_equal(got->type, w->type);
    assert_int_equal(got->direction, w->direction);
    assert_string_equal(got->session_id, w->session_id);
    assert_string_equal(got->record_id, w->record_id);
    assert_string_equal(got->number, w->number);
    assert_string_equal(got->extension, w->extension);
    assert_string_equal(got->party_name, w->party_name);
    assert_string_equal(got->own_number, w->own_number);
    assert_int_equal(got->internal, w->internal);
    assert_int_equal(got->start_ms, start);
    assert_int_equal(got->duration, w->duration);
    assert_string_equal(got->result, w->result);
    assert_string_equal(got->action, w->action);
    assert_string_equal(got->recording, w->recording);
    assert_string_equal(got->text, w->text);
    assert_string_equal(got->conversation_id, w->conversation_id);
    assert_int_equal(got->status, w->status);
    /* Store-owned fields stay zero. */
    assert_int_equal(got->reason, 0);
    assert_string_equal(got->contact_id, "");
    assert_string_equal(got->contact_name, "");
    assert_string_equal(got->association_id, "");
    assert_string_equal(got->log_id, "");
}

static void check_all(const struct collect *c, const struct want *w, size_t n)
{
    assert_int_equal(c->n, n);
    for (size_t i = 0; i < n; i++)
        check_rec(&c->recs[i], &w[i], i);
}

#define V CALL_VOICE
#define S CALL_SMS
#define IN DIR_INBOUND
#define OUT DIR_OUTBOUND
#define REC_BASE "https://media.ringcentral.com/restapi/v1.0/account/400131424008/recording/"
#define API_BASE "https://platform.ringcentral.com/restapi/v1.0/account/400131424008/"

/* ---- good files ---------------------------------------------------------------------- */

static const struct want call_log_want[] = {
    /* inbound, accepted, recording (contentUri preferred over uri) */
    {V, IN, "40412379008", "Y3s9qA4uOKzHUA", "+14155550123", "", "Jane Customer", "+16505550100", 0,
     "2026-11-20T10:11:12.345Z", 187, "Accepted", "Phone Call", REC_BASE "2084113008/content", "",
     "", ST_UNLOGGED},
    /* outbound, numeric sessionId, number without '+', recording with uri only */
    {V, OUT, "40412380008", "Y3s9qBAHxD5IUA", "+16504445567", "", "Bob Buyer", "+16505550100", 0,
     "2026-11-20T11:00:00.000Z", 62, "Call connected", "VoIP Call", API_BASE "recording/2084114008",
     "", "", ST_UNLOGGED},
    /* missed, national number, no name */
    {V, IN, "40412381008", "Y3s9qCcvWFyIUA", "+16505550199", "", "", "+16505550100", 0,
     "2026-11-20T12:30:05Z", 12, "Missed", "Phone Call", "", "", "", ST_UNLOGGED},
    /* voicemail, offset time, international caller */
    {V, IN, "40412382008", "Y3s9qDdGHa1IUA", "+442079460958", "", "London Office", "+16505550100",
     0, "2026-11-20T18:45:00Z", 35, "Voicemail", "Phone Call", "", "", "", ST_UNLOGGED},
    /* extension to extension: internal, kept */
    {V, OUT, "40412383008", "Y3s9qEeXt3KIUA", "", "102", "Carl Colleague", "101", 1,
     "2026-11-20T14:00:00Z", 240, "Call connected", "VoIP Call", "", "", "", ST_UNLOGGED},
    /* withheld caller id: telephonySessionId fallback, no number, not internal */
    {V, IN, "s-a0d7b8b0a2fd0z18a6e2d2a5bz1e3c9d0005", "Y3s9qFf0aZ9IUA", "", "", "Anonymous",
     "+16505550100", 0, "2026-11-20T15:15:15Z", 20, "Accepted", "Phone Call", "", "", "",
     ST_UNLOGGED},
    /* (the Fax record is skipped) in progress, from an extension written as phoneNumber */
    {V, IN, "40412386008", "Y3s9qHh2cB1IUA", "", "2001", "Front Desk", "+16505550100", 1,
     "2026-11-20T16:30:00Z", 0, "In Progress", "Phone Call", "", "", "", ST_ACTIVE},
};

static void test_call_log(void **state)
{
    (void)state;
    struct collect *c = test_calloc(1, sizeof *c);
    struct import_stats st;
    struct import_opts opts = {.user_id = 7};
    char err[ERR_LEN] = "";
    assert_int_equal(import_file("call_log.json", &opts, c, &st, err), 0);
    assert_string_equal(err, "");
    check_all(c, call_log_want, sizeof call_log_want / sizeof *call_log_want);
    assert_int_equal(st.records, 8);
    assert_int_equal(st.calls, 7);
    assert_int_equal(st.sms, 0);
    assert_int_equal(st.skipped, 1);
    test_free(c);
}

static const struct want message_store_want[] = {
    /* inbound: numeric id and conversationId, \u escape in the text */
    {S, IN, "1724099032020", "1724099032020", "+14155550123", "", "Jane Customer", "+16505550100",
     0, "2026-11-20T10:20:00.000Z", 0, "", "", "",
     "Hi, can you call me back about the quote? \xE2\x98\xBA", "7318734581418473000", ST_UNLOGGED},
    /* outbound: the other party is to[0], written without '+' */
    {S, OUT, "1724099032021", "1724099032021", "+14155550123", "", "Jane Customer", "+16505550100",
     0, "2026-11-20T10:22:30.500Z", 0, "", "", "", "Sure, calling you in 5 minutes.",
     "7318734581418473000", ST_UNLOGGED},
    /* (Pager and Fax skipped) no subject, no conversation */
    {S, IN, "1724099032024", "1724099032024", "+14155550124", "", "", "+16505550100", 0,
     "2026-11-20T12:00:00Z", 0, "", "", "", "", "", ST_UNLOGGED},
};

static void test_message_store(void **state)
{
    (void)state;
    struct collect *c = test_calloc(1, sizeof *c);
    struct import_stats st;
    struct import_opts opts = {.user_id = 7};
    char err[ERR_LEN] = "";
    assert_int_equal(import_file("message_store.json", &opts, c, &st, err), 0);
    check_all(c, message_store_want, sizeof message_store_want / sizeof *message_store_want);
    assert_int_equal(st.records, 5);
    assert_int_equal(st.calls, 0);
    assert_int_equal(st.sms, 3);
    assert_int_equal(st.skipped, 2);
    test_free(c);
}

static const struct want jsonl_want[] = {
    {V, IN, "50000000001", "J1", "+14155550123", "", "Jane Customer", "+16505550100", 0,
     "2026-11-21T09:00:00.123Z", 301, "Accepted", "Phone Call", "", "", "", ST_UNLOGGED},
    /* blank line skipped; SMS to two recipients: to[0] is the other party */
    {S, OUT, "S1", "S1", "+14155550123", "", "Jane Customer", "+16505550100", 0,
     "2026-11-21T09:05:00Z", 0, "", "", "", "Quote \"Q-17\" attached.\nThanks!", "42", ST_UNLOGGED},
    /* CRLF line; session id falls back to id; own side only an extension */
    {V, OUT, "J2", "J2", "+14155550188", "", "", "101", 0, "2026-11-21T08:10:00Z", 5, "No Answer",
     "VoIP Call", "", "", "", ST_UNLOGGED},
    /* (whitespace line, Fax call and VoiceMail message skipped) last line without '\n',
     * empty own party, unknown fields ignored */
    {V, IN, "s-0000000004", "J4", "+4930123456", "", "", "", 0, "2026-11-21T09:40:00Z", 0, "", "",
     "", "", "", ST_UNLOGGED},
};

static void test_jsonl(void **state)
{
    (void)state;
    struct collect *c = test_calloc(1, sizeof *c);
    struct import_stats st;
    struct import_opts opts = {.user_id = 7, .region = "US"};
    char err[ERR_LEN] = "";
    assert_int_equal(import_file("calls.jsonl", &opts, c, &st, err), 0);
    check_all(c, jsonl_want, sizeof jsonl_want / sizeof *jsonl_want);
    assert_int_equal(st.records, 6);
    assert_int_equal(st.calls, 3);
    assert_int_equal(st.sms, 1);
    assert_int_equal(st.skipped, 2);
    test_free(c);
}

static void test_records_array_and_empty(void **state)
{
    (void)state;
    struct collect *c = test_calloc(1, sizeof *c);
    struct import_stats st;
    struct import_opts opts = {.user_id = 7};
    char err[ERR_LEN] = "";
    assert_int_equal(import_file("records_array.json", &opts, c, &st, err), 0);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->recs[0].type, CALL_VOICE);
    assert_string_equal(c->recs[0].session_id, "90000000001");
    assert_int_equal(c->recs[1].type, CALL_SMS);
    assert_string_equal(c->recs[1].text, "ok");

    memset(c, 0, sizeof *c);
    assert_int_equal(import_file("empty.jsonl", &opts, c, &st, err), 0);
    assert_int_equal(c->n, 0);
    assert_int_equal(st.records, 0);
    assert_int_equal(import_text("", 0, c, &st, err), 0);
    assert_int_equal(st.records, 0);
    assert_int_equal(import_text("{\"records\":[]}\n", 15, c, &st, err), 0);
    assert_int_equal(st.records, 0);
    assert_int_equal(c->n, 0);
    test_free(c);
}

/* A byte order mark, a one-line response, NULL opts/stats/callback. */
static void test_shapes(void **state)
{
    (void)state;
    static const char bom[] =
        "\xEF\xBB\xBF{\"id\":\"K1\",\"type\":\"SMS\",\"direction\":\"Inbound\","
        "\"creationTime\":\"2026-11-20T10:00:00Z\",\"from\":{\"phoneNumber\":\"+14155550123\"}}\n";
    static const char one_line[] =
        "\n\n{\"records\":[{\"id\":\"K2\",\"type\":\"SMS\",\"direction\":\"Inbound\","
        "\"creationTime\":\"2026-11-20T10:00:00Z\"}]}\n\n";
    struct collect *c = test_calloc(1, sizeof *c);
    struct import_stats st;
    char err[ERR_LEN] = "";
    assert_int_equal(import_text(bom, sizeof bom - 1, c, &st, err), 0);
    assert_int_equal(c->n, 1);
    assert_string_equal(c->recs[0].session_id, "K1");
    assert_int_equal(import_text(one_line, sizeof one_line - 1, c, &st, err), 0);
    assert_int_equal(c->n, 2);
    assert_string_equal(c->recs[1].session_id, "K2");
    assert_string_equal(c->recs[1].number, ""); /* no from: withheld */

    FILE *f = fmemopen((void *)bom, sizeof bom - 1, "rb");
    assert_int_equal(import_stream(f, NULL, NULL, NULL, NULL, NULL, err), 0);
    fclose(f);
    test_free(c);
}

/* National numbers follow opts->region. */
static void test_region(void **state)
{
    (void)state;
    static const char rec[] = "{\"id\":\"L1\",\"sessionId\":\"1\",\"type\":\"Voice\","
                              "\"direction\":\"Inbound\",\"startTime\":\"2026-11-20T10:00:00Z\","
                              "\"from\":{\"phoneNumber\":\"020 7946 0958\"}}";
    struct import_opts gb = {.user_id = 3, .region = "GB"};
    struct call_rec out;
    char err[ERR_LEN] = "";
    int skip = 1;
    assert_int_equal(import_record_text(rec, sizeof rec - 1, &gb, &out, &skip, err), 0);
    assert_int_equal(skip, 0);
    assert_string_equal(out.number, "+442079460958");
    assert_int_equal(out.user_id, 3);
    assert_int_equal(import_record_text(rec, sizeof rec - 1, NULL, &out, &skip, err), ERR_INVAL);
    assert_non_null(strstr(err, "record id L1: from.phoneNumber: '020 7946 0958'"));
}

/* ---- bad files ----------------------------------------------------------------------- */

static const struct {
    const char *file;
    int rc;
    const char *msg; /* the whole message starts with this */
} bad_files[] = {
    {"bad_syntax_line3.jsonl", ERR_PARSE, "bad_syntax_line3.jsonl:3:59: '}' expected"},
    {"bad_phone.json", ERR_INVAL,
     "bad_phone.json: record 2 (id C2): from.phoneNumber: 'call me maybe' is not a phone "
     "number"},
    {"bad_start_time.jsonl", ERR_INVAL,
     "bad_start_time.jsonl:2: record id T2: startTime '2026-02-29T10:00:00Z' is not"},
    {"bad_duration_type.json", ERR_PARSE,
     "bad_duration_type.json: record 1 (id D1): duration must be a number"},
    {"missing_direction.jsonl", ERR_PARSE,
     "missing_direction.jsonl:4: record id D4: missing direction"},
    {"bad_doc_syntax.json", ERR_PARSE, "bad_doc_syntax.json:9:48: string or '}' expected"},
    {"bad_recording.jsonl", ERR_INVAL,
     "bad_recording.jsonl:1: record id R1: recording.contentUri 'ftp://"},
    {"bad_records_shape.json", ERR_PARSE,
     "bad_records_shape.json: expected a \"records\" array or an array of records"},
    {"bad_line_array.jsonl", ERR_PARSE,
     "bad_line_array.jsonl:2: expected one record object per line"},
};

static void test_bad_files(void **state)
{
    (void)state;
    struct collect *c = test_malloc(sizeof *c);
    for (size_t i = 0; i < sizeof bad_files / sizeof *bad_files; i++) {
        struct import_stats st;
        struct import_opts opts = {.user_id = 7};
        char err[ERR_LEN] = "";
        c->n = 0;
        c->stop_after = 0;
        print_message("%s\n", bad_files[i].file);
        int rc = import_file(bad_files[i].file, &opts, c, &st, err);
        print_message("  -> %d %s\n", rc, err);
        assert_int_equal(rc, bad_files[i].rc);
        assert_memory_equal(err, bad_files[i].msg, strlen(bad_files[i].msg));
    }
    test_free(c);
}

/* Whole inputs given inline: shapes that need no file of their own. */
static const struct {
    const char *text;
    int rc;
    const char *msg;
} bad_inputs[] = {
    {"{\"records\":5}", ERR_PARSE, "inline: expected a \"records\" array"},
    {"[1]", ERR_PARSE, "inline: record 1: a record must be a JSON object"},
    {"[{\"id\":12,\"type\":\"Voice\"}]", ERR_PARSE, "inline: record 1 (id 12): missing direction"},
    {"[{\"type\":\"Voice\"}]", ERR_PARSE, "inline: record 1: missing sessionId"},
    {"{\"records\":[]} x", ERR_PARSE, "inline:1:"},
    {"{\n  \"records\": [\n", ERR_PARSE, "inline:3:"},
    {"{\"id\":\"a\",\"type\":\"Pager\"}\n{\"id\":", ERR_PARSE, "inline:2:"},
    {"{\"id\":\"a\",\"type\":\"Pager\"}\n\n\n\"text\"\n", ERR_PARSE, "inline:4:"},
    {"{\"id\":\"a\",\"type\":\"Pager\"}\n{\"type\":7}\n", ERR_PARSE,
     "inline:2: type must be a string"},
    {"{\"id\":\"a\",\"type\":\"Pager\"}\n{\"records\":[]}\n", ERR_PARSE, "inline:2: missing type"},
};

static void test_bad_inputs(void **state)
{
    (void)state;
    struct collect *c = test_malloc(sizeof *c);
    for (size_t i = 0; i < sizeof bad_inputs / sizeof *bad_inputs; i++) {
        struct import_stats st;
        char err[ERR_LEN] = "";
        c->n = 0;
        c->stop_after = 0;
        print_message("%s\n", bad_inputs[i].text);
        int rc = import_text(bad_inputs[i].text, strlen(bad_inputs[i].text), c, &st, err);
        print_message("  -> %d %s\n", rc, err);
        assert_int_equal(rc, bad_inputs[i].rc);
        assert_memory_equal(err, bad_inputs[i].msg, strlen(bad_inputs[i].msg));
    }
    test_free(c);
}

/* One record at a time: every field's checks. */
#define VOICE_HEAD                                                                                 \
    "{\"id\":\"Z1\",\"sessionId\":\"9\",\"type\":\"Voice\",\"startTime\":\"2026-11-20T10:00:"      \
    "00Z\","
#define SMS_HEAD "{\"id\":\"Z2\",\"type\":\"SMS\",\"creationTime\":\"2026-11-20T10:00:00Z\","
#define X64 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define X128 X64 X64

static const struct {
    const char *text;
    int rc; /* 0, or 1 for skipped */
    const char *msg;
} record_cases[] = {
    {"{\"type\":\"Fax\",\"startTime\":\"2026-11-20T10:00:00Z\"}", 1, NULL},
    {"{\"type\":\"Fax\",\"creationTime\":\"2026-11-20T10:00:00Z\"}", 1, NULL},
    {"{\"type\":\"VoiceMail\"}", 1, NULL},
    {"{\"type\":\"Pager\",\"direction\":5}", 1, NULL},
    {"{\"type\":\"SomethingNew\"}", 1, NULL},
    {VOICE_HEAD "\"direction\":\"Inbound\"}", 0, NULL},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"duration\":null,\"result\":null}", 0, NULL},
    {"{\"id\":\"Z1\"}", ERR_PARSE, "record id Z1: missing type"},
    {"{\"type\":null}", ERR_PARSE, "missing type"},
    {"{\"type\":[\"Voice\"]}", ERR_PARSE, "type must be a string"},
    {"[]", ERR_PARSE, "a record must be a JSON object"},
    {"{\"type\":\"Voice\",", ERR_PARSE, "1:16: "},
    {"{\"type\":\"Voice\"}", ERR_PARSE, "missing sessionId"},
    {"{\"type\":\"Voice\",\"sessionId\":1.5}", ERR_PARSE,
     "sessionId must be a string or an integer"},
    {"{\"type\":\"Voice\",\"sessionId\":\"\",\"telephonySessionId\":{}}", ERR_PARSE,
     "telephonySessionId must be"},
    {"{\"type\":\"Voice\",\"sessionId\":\"" X128 "\"}", ERR_INVAL, "sessionId is too long"},
    {VOICE_HEAD "\"direction\":\"Sideways\"}", ERR_INVAL, "record id Z1: direction 'Sideways'"},
    {VOICE_HEAD "\"direction\":1}", ERR_PARSE, "record id Z1: direction must be a string"},
    {"{\"type\":\"Voice\",\"id\":1,\"direction\":\"Inbound\"}", ERR_PARSE,
     "record id 1: missing startTime"},
    {"{\"type\":\"Voice\",\"id\":1,\"direction\":\"Inbound\",\"startTime\":\"yesterday\"}",
     ERR_INVAL, "record id 1: startTime 'yesterday' is not"},
    {"{\"type\":\"Voice\",\"id\":1,\"direction\":\"Inbound\",\"startTime\":1700000000}", ERR_PARSE,
     "record id 1: startTime must be a string"},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"duration\":-1}", ERR_INVAL, "duration -1 is out"},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"duration\":4294967296}", ERR_INVAL,
     "duration 4294967296 is out"},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"duration\":1.5}", ERR_INVAL,
     "duration must be a whole number"},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"duration\":true}", ERR_PARSE,
     "duration must be a number"},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"result\":\"" X64 "\"}", ERR_INVAL,
     "result is too long (64 bytes, at most 63)"},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"action\":false}", ERR_PARSE,
     "action must be a string"},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"from\":\"+14155550123\"}", ERR_PARSE,
     "from must be an object"},
    {VOICE_HEAD "\"direction\":\"Outbound\",\"to\":[]}", ERR_PARSE, "to must be an object"},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"from\":{\"phoneNumber\":14155550123}}", ERR_PARSE,
     "from.phoneNumber must be a string"},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"from\":{\"phoneNumber\":\"+999 1234 5678\"}}",
     ERR_INVAL, "from.phoneNumber: "},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"to\":{\"phoneNumber\":\"bogus\"}}", ERR_INVAL,
     "to.phoneNumber: 'bogus' is not a phone number"},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"from\":{\"extensionNumber\":\"" X64 "\"}}", ERR_INVAL,
     "from.extensionNumber is too long"},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"from\":{\"name\":{}}}", ERR_PARSE,
     "from.name must be a string"},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"recording\":\"https://x\"}", ERR_PARSE,
     "recording must be an object"},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"recording\":{\"uri\":\"/recording/1\"}}", ERR_INVAL,
     "recording.uri '/recording/1' is not an http(s) link"},
    {VOICE_HEAD "\"direction\":\"Inbound\",\"recording\":{\"contentUri\":7}}", ERR_PARSE,
     "recording.contentUri must be a string"},
    {SMS_HEAD "\"direction\":\"Inbound\"}", 0, NULL},
    {"{\"type\":\"SMS\",\"direction\":\"Inbound\",\"creationTime\":\"2026-11-20T10:00:00Z\"}",
     ERR_PARSE, "missing id"},
    {"{\"id\":\"Z2\",\"type\":\"SMS\",\"direction\":\"Inbound\"}", ERR_PARSE,
     "record id Z2: missing creationTime"},
    {"{\"id\":\"Z2\",\"type\":\"SMS\",\"direction\":\"Inbound\",\"startTime\":"
     "\"2026-11-20T10:00:00Z\"}",
     ERR_PARSE, "record id Z2: missing creationTime"},
    {SMS_HEAD "\"direction\":\"Inbound\",\"to\":{\"phoneNumber\":\"+16505550100\"}}", ERR_PARSE,
     "to must be an array"},
    {SMS_HEAD "\"direction\":\"Outbound\",\"to\":[\"+14155550123\"]}", ERR_PARSE,
     "to[0] must be an object"},
    {SMS_HEAD "\"direction\":\"Inbound\",\"subject\":5}", ERR_PARSE, "subject must be a string"},
    {SMS_HEAD "\"direction\":\"Inbound\",\"conversationId\":[]}", ERR_PARSE,
     "conversationId must be a string or an integer"},
};

static void test_record_cases(void **state)
{
    (void)state;
    struct import_opts opts = {.user_id = 1};
    for (size_t i = 0; i < sizeof record_cases / sizeof *record_cases; i++) {
        struct call_rec out;
        char err[ERR_LEN] = "";
        int skip = -1;
        const char *t = record_cases[i].text;
        print_message("%s\n", t);
        int rc = import_record_text(t, strlen(t), &opts, &out, &skip, err);
        print_message("  -> %d skip=%d %s\n", rc, skip, err);
        if (record_cases[i].rc == 1) {
            assert_int_equal(rc, 0);
            assert_int_equal(skip, 1);
        } else if (record_cases[i].rc == 0) {
            assert_int_equal(rc, 0);
            assert_int_equal(skip, 0);
        } else {
            assert_int_equal(rc, record_cases[i].rc);
            assert_non_null(strstr(err, record_cases[i].msg));
        }
    }
}

/* SMS text fills its field exactly, and one byte more is refused. */
static void test_text_limits(void **state)
{
    (void)state;
    size_t cap = 256 + CALL_TEXT_LEN;
    char *t = test_malloc(cap);
    struct call_rec out;
    char err[ERR_LEN];
    int skip;
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = (size_t)snprintf(t, cap, SMS_HEAD "\"direction\":\"Inbound\",\"subject\":\"");
        memset(t + n, 'a', CALL_TEXT_LEN - 1 + extra);
        n += CALL_TEXT_LEN - 1 + extra;
        n += (size_t)snprintf(t + n, cap - n, "\"}");
        int rc = import_record_text(t, n, NULL, &out, &skip, err);
        if (extra) {
            assert_int_equal(rc, ERR_INVAL);
            assert_non_null(strstr(err, "subject is too long (4096 bytes, at most 4095)"));
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(strlen(out.text), CALL_TEXT_LEN - 1);
        }
    }
    test_free(t);
}

/* ---- limits, callback, allocation failure --------------------------------------------- */

/* Writes a JSON Lines record padded to exactly `len` bytes (without '\n'). */
static void write_padded(FILE *f, size_t len)
{
    static const char head[] = "{\"id\":\"P1\",\"type\":\"Pager\",\"pad\":\"";
    size_t pad = len - (sizeof head - 1) - 2;
    fputs(head, f);
    for (size_t i = 0; i < pad; i++)
        fputc('x', f);
    fputs("\"}", f);
}

static void test_long_lines(void **state)
{
    (void)state;
    static const char ok[] = "{\"id\":\"P0\",\"type\":\"Pager\"}\n";
    struct collect *c = test_calloc(1, sizeof *c);
    struct import_stats st;
    char err[ERR_LEN] = "";

    /* A line of exactly the limit is fine, also as the last line without '\n'. */
    FILE *f = tmpfile();
    fputs(ok, f);
    write_padded(f, LINE_MAX_BYTES);
    fputc('\n', f);
    write_padded(f, LINE_MAX_BYTES);
    rewind(f);
    assert_int_equal(import_stream(f, "t", NULL, collect_cb, c, &st, err), 0);
    assert_int_equal(st.records, 3);
    fclose(f);

    /* One byte more on line 3 is an error naming line 3. */
    f = tmpfile();
    fputs(ok, f);
    fputs(ok, f);
    write_padded(f, LINE_MAX_BYTES + 1);
    fputc('\n', f);
    fputs(ok, f);
    rewind(f);
    assert_int_equal(import_stream(f, "long.jsonl", NULL, collect_cb, c, &st, err), ERR_TOOBIG);
    assert_string_equal(err, "long.jsonl:3: line is longer than 1048576 bytes");
    assert_int_equal(st.records, 2);
    fclose(f);

    /* A response on one long line is a document, not JSON Lines. */
    f = tmpfile();
    fputs("{\"records\":[{\"id\":\"P2\",\"type\":\"Pager\"}],\"pad\":\"", f);
    for (int i = 0; i < 3 * LINE_MAX_BYTES; i++)
        fputc('y', f);
    fputs("\"}\n", f);
    rewind(f);
    assert_int_equal(import_stream(f, "t", NULL, collect_cb, c, &st, err), 0);
    assert_int_equal(st.records, 1);
    assert_int_equal(st.skipped, 1);
    fclose(f);
    test_free(c);
}

static void test_callback_stops(void **state)
{
    (void)state;
    struct collect *c = test_calloc(1, sizeof *c);
    struct import_stats st;
    struct import_opts opts = {.user_id = 7};
    char err[ERR_LEN] = "";
    const char *files[] = {"call_log.json", "calls.jsonl"};
    for (size_t i = 0; i < 2; i++) {
        c->n = 0;
        c->stop_after = 2;
        assert_int_equal(import_file(files[i], &opts, c, &st, err), ERR_CONFLICT);
        assert_string_equal(err, "stopped by the callback");
        assert_int_equal(c->n, 2);
        assert_int_equal(st.calls + st.sms, 3); /* the third was read, then refused */
    }
    test_free(c);
}

/* jansson's allocations go through this so the test knows when one failed: jansson may then
 * report the failure as a syntax error (its lexer turns a failed string copy into a bad
 * token), which import cannot tell apart, so that is a clean failure too. */
static int json_alloc_failed;

static void *json_alloc(size_t n)
{
    void *p = mem_alloc(n);
    if (!p) json_alloc_failed = 1;
    return p;
}

static void test_alloc_failure(void **state)
{
    (void)state;
    const char *files[] = {"calls.jsonl", "call_log.json", "bad_phone.json"};
    struct collect *c = test_malloc(sizeof *c);
    /* jansson allocates through crmlog's wrappers here, so its allocations fail too. */
    json_set_alloc_funcs(json_alloc, mem_free);
    for (size_t i = 0; i < 3; i++) {
        int want = i == 2 ? ERR_INVAL : 0, rc;
        long n = 0;
        do {
            struct import_stats st;
            char err[ERR_LEN] = "";
            c->n = 0;
            c->stop_after = 0;
            json_alloc_failed = 0;
            mem_fail_after(n);
            rc = import_file(files[i], NULL, c, &st, err);
            mem_fail_after(-1);
            if (rc != want) {
                if (rc == ERR_PARSE && json_alloc_failed) rc = ERR_NOMEM;
                assert_int_equal(rc, ERR_NOMEM);
                assert_non_null(strstr(err, files[i]));
            }
            n++;
        } while (rc != want && n < 100000);
        print_message("%s: succeeded after %ld failing runs\n", files[i], n - 1);
        assert_int_equal(rc, want);
        assert_true(n > 1);
    }
    json_set_alloc_funcs(malloc, free);
    test_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_log),      cmocka_unit_test(test_message_store),
        cmocka_unit_test(test_jsonl),         cmocka_unit_test(test_records_array_and_empty),
        cmocka_unit_test(test_shapes),        cmocka_unit_test(test_region),
        cmocka_unit_test(test_bad_files),     cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_record_cases),  cmocka_unit_test(test_text_limits),
        cmocka_unit_test(test_long_lines),    cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
