/* The call record: one voice call or one SMS, as crmlog keeps it. A plain value struct
 * (fixed-size strings, no heap), so it can be copied, batched and zeroed freely. */
#ifndef CRMLOG_CALL_H
#define CRMLOG_CALL_H

#include <stdint.h>

#include "phone.h"

enum call_type { CALL_VOICE = 0, CALL_SMS = 1 };
enum call_dir { DIR_INBOUND = 0, DIR_OUTBOUND = 1 };

/* Statuses shown to people; the numbers are stored, so append only. */
enum call_status {
    ST_ACTIVE = 0,     /* call in progress: notes may be typed, nothing is logged yet */
    ST_UNLOGGED = 1,   /* ended, waiting for auto-log or a person */
    ST_LOGGED = 2,     /* written to the CRM, exactly once; never changed again */
    ST_UNRESOLVED = 3, /* auto-log found a conflict (see enum conflict) */
    ST_REVIEW = 4,     /* prepared by auto-log, waiting for a person ("only open the log form") */
};

enum conflict {
    CONFLICT_NONE = 0,
    CONFLICT_NO_CONTACT = 1,
    CONFLICT_MULTIPLE_CONTACTS = 2,
    CONFLICT_MULTIPLE_ASSOCIATIONS = 3,
};

#define CALL_ID_LEN 128    /* session ids, message ids, CRM ids */
#define CALL_NAME_LEN 256  /* people's names */
#define CALL_SHORT_LEN 64  /* result, action */
#define CALL_URL_LEN 1024  /* recording link */
#define CALL_TEXT_LEN 4096 /* SMS text */
#define ERR_TEXT_LEN 512   /* a stored error message */

struct call_rec {
    int64_t id;                     /* crmlog's id; 0 before the store assigns one */
    int64_t user_id;                /* owner */
    int type;                       /* enum call_type */
    int direction;                  /* enum call_dir */
    char session_id[CALL_ID_LEN];   /* telephony session id; the message id for SMS */
    char record_id[CALL_ID_LEN];    /* telephony's own record id (call-log id), may be "" */
    char number[PHONE_LEN];         /* other party, E.164; "" when internal or withheld */
    char extension[PHONE_LEN];      /* other party's extension when internal, else "" */
    char party_name[CALL_NAME_LEN]; /* caller-id name from telephony, may be "" */
    char own_number[PHONE_LEN];     /* this user's side (number or extension), may be "" */
    int internal;                   /* 1: extension-to-extension, never matched or auto-logged */
    int64_t start_ms;               /* start (creation time for SMS), Unix ms UTC */
    int duration;                   /* seconds; 0 for SMS */
    char result[CALL_SHORT_LEN];    /* telephony result: "Accepted", "Missed", "Voicemail"… */
    char action[CALL_SHORT_LEN];    /* telephony action: "Phone Call", "VoIP Call"… */
    char recording[CALL_URL_LEN];   /* recording link, "" when none */
    char text[CALL_TEXT_LEN];       /* SMS text */
    char conversation_id[CALL_ID_LEN];

    /* Set by the store, not by sources. */
    int status;                   /* enum call_status */
    int reason;                   /* enum conflict, for ST_UNRESOLVED */
    char contact_id[CALL_ID_LEN]; /* logged calls: the contact it was logged to */
    char contact_name[CALL_NAME_LEN];
    char association_id[CALL_ID_LEN]; /* logged calls: the association, "" when none */
    char association_name[CALL_NAME_LEN];
    char log_id[CALL_ID_LEN]; /* logged calls: the CRM activity id */
    int64_t answered_ms;      /* live calls: when it was answered, 0 if not */
    int64_t hold_until;       /* auto-log waits until then for a recording link */
    int attempts;             /* CRM failures so far (retry backoff) */
    int queued;               /* a person's log request waits for the worker */
    char error[ERR_TEXT_LEN]; /* why the last queued log request was refused */
};

const char *call_type_str(int type);
const char *call_dir_str(int dir);
const char *call_status_str(int status);
const char *conflict_str(int reason); /* NULL for CONFLICT_NONE */
/* Parses a status name; returns the enum value or -1. */
int call_status_parse(const char *s);

/* Telephony keeps call logs and recordings about this long. */
#define RETENTION_DAYS 90
/* 1 when the call started more than RETENTION_DAYS before now_ms. */
int call_past_retention(const struct call_rec *c, int64_t now_ms);

/* ISO 8601 UTC with milliseconds (`2026-11-20T10:11:12.000Z`) <-> Unix ms.
 * time_parse accepts a trailing `Z` or a `+hh:mm` / `-hh:mm` offset, and no fraction or
 * 1..9 fraction digits. out for time_format is at least 32 bytes. */
int time_parse(const char *s, int64_t *ms);
void time_format(int64_t ms, char *out, size_t len);
int64_t time_now_ms(void);

#endif
