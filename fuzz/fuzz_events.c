/* libFuzzer target for the live event parsers: the input as crmlog's own JSON event, and
 * as a Zammad CTI event under each content type (form, JSON, guessed from the body, and
 * one that is refused). Events handed out must be well-formed: every string terminated
 * inside its field, enums in range, the number conventions of import.c kept; failures
 * always say why, in one line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sources/events.h"

#define TERMINATED(field) (strnlen((field), sizeof(field)) < sizeof(field))
#define NOW_MS 1795000000000LL

static void check(const struct event *ev, int cti)
{
    const struct call_rec *r = &ev->rec;
    if (!TERMINATED(r->session_id) || !TERMINATED(r->record_id) || !TERMINATED(r->number) ||
        !TERMINATED(r->extension) || !TERMINATED(r->party_name) || !TERMINATED(r->own_number) ||
        !TERMINATED(r->result) || !TERMINATED(r->action) || !TERMINATED(r->recording) ||
        !TERMINATED(r->text) || !TERMINATED(r->conversation_id) ||
        !TERMINATED(ev->user_extension) || !TERMINATED(ev->user_name))
        abort();
    if (ev->kind < EV_CALL_RINGING || ev->kind > EV_SMS_SENT) abort();
    int sms = ev->kind == EV_SMS_RECEIVED || ev->kind == EV_SMS_SENT;
    if (r->type != (sms ? CALL_SMS : CALL_VOICE)) abort();
    if (r->direction != DIR_INBOUND && r->direction != DIR_OUTBOUND) abort();
    if (sms && r->direction != (ev->kind == EV_SMS_SENT ? DIR_OUTBOUND : DIR_INBOUND)) abort();
    if (r->status != (ev->kind <= EV_CALL_ANSWERED ? ST_ACTIVE : ST_UNLOGGED)) abort();
    if (r->session_id[0] == '\0' || r->duration < 0 || r->user_id != 0 || r->id != 0) abort();
    if (ev->answered < -1 || ev->answered > 1) abort();
    if (ev->kind == EV_CALL_ANSWERED && ev->answered != 1) abort();
    if (ev->has_duration ? ev->kind != EV_CALL_ENDED : r->duration != 0) abort();
    /* Internal calls carry an extension and no number; others no extension. */
    if (r->internal ? (r->number[0] || !r->extension[0]) : r->extension[0] != '\0') abort();
    if (r->number[0] && r->number[0] != '+') abort();
    if (r->recording[0] && strncmp(r->recording, "http", 4) != 0) abort();
    if (r->recording[0] && ev->recording_pending) abort();
    if (sms && !r->number[0] && !r->internal) abort(); /* an SMS always has its other party */
    if (cti && (ev->at_ms != NOW_MS || r->start_ms != NOW_MS)) abort();
    if (!cti && !ev->user_extension[0] && !ev->user_name[0]) abort();
}

static void check_err(int rc, const char *err)
{
    if (rc >= 0 || err[0] == '\0' || strchr(err, '\n') || strlen(err) >= ERR_LEN) abort();
    for (const char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20) abort(); /* one printable line */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {"application/x-www-form-urlencoded",
                                        "application/json; charset=utf-8", NULL, "text/plain"};
    static struct event ev;
    const char *body = (const char *)data;
    char err[ERR_LEN];
    int rc;

    err[0] = '\0';
    rc = events_parse_json(body, size, NULL, NOW_MS, &ev, err);
    if (rc == 0)
        check(&ev, 0);
    else
        check_err(rc, err);

    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        err[0] = '\0';
        rc = events_parse_cti(body, size, types[i], "DE", NOW_MS, &ev, err);
        if (rc == 0)
            check(&ev, 1);
        else
            check_err(rc, err);
        if (i == 3 && rc != ERR_UNSUPPORTED && rc != ERR_TOOBIG) abort();
    }
    return 0;
}
