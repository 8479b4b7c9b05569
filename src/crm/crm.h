/* The CRM connector interface. Each CRM (the embedded `local` one, CardDAV, HubSpot,
 * Pipedrive…) is a const table of operations (STYLE habit 4), chosen by name.
 *
 * All operations return 0 or a negative ERR_* code and write one line into `err`
 * (ERR_LEN bytes). ERR_RETRY means "temporary, try again later" (CRM down, rate limited);
 * any other failure is final for that request. Output structs are the caller's. */
#ifndef CRMLOG_CRM_H
#define CRMLOG_CRM_H

#include <stddef.h>
#include <stdint.h>

#include "../core/call.h"
#include "../store/store.h"

#define CRM_MAX_MATCHES 16 /* contacts returned per lookup; `total` may be larger */
#define CRM_MAX_PHONES 8   /* phone numbers kept per contact */
#define CRM_MAX_ASSOCS 32  /* associations returned per contact */
#define CRM_MAX_FIELDS 8   /* log-form fields a connector may declare */

struct crm_contact {
    char id[CALL_ID_LEN];
    char name[CALL_NAME_LEN];
    size_t nphones;
    char phones[CRM_MAX_PHONES][PHONE_LEN]; /* E.164 where the CRM's text parsed, else as stored */
};

struct crm_contact_list {
    size_t n;     /* entries in items */
    size_t total; /* matches found, >= n */
    struct crm_contact items[CRM_MAX_MATCHES];
};

struct crm_assoc {
    char id[CALL_ID_LEN];
    char name[CALL_NAME_LEN];
};

struct crm_assoc_list {
    size_t n;
    size_t total;
    struct crm_assoc items[CRM_MAX_ASSOCS];
};

/* A log-form field the connector declares (disposition, deal stage…). When `choices` is
 * non-NULL the value must be one of them. */
struct crm_field {
    const char *name;
    const char *label;
    const char *const *choices; /* NULL-terminated, or NULL for free text */
    int required;
};

struct crm_field_value {
    const char *name;
    const char *value;
};

enum crm_log_kind { CRM_LOG_CALL = 0, CRM_LOG_SMS = 1 };

/* What the logger asks a connector to write. Strings are borrowed for the call only. */
struct crm_log {
    int kind;        /* enum crm_log_kind */
    int64_t user_id; /* the agent who owns the call */
    const char *user_name;
    const char *key; /* idempotency key, unique per user and call (or message): a
                        connector that finds it already written returns that
                        activity's id instead of writing again */
    const char *contact_id;
    const char *association_id; /* NULL or "" when none */
    const char *subject;
    const char *body;            /* composed text: notes, time, duration, result, recording */
    const struct call_rec *call; /* the call or message itself */
    size_t nfields;
    const struct crm_field_value *fields;
};

/* One activity as the local CRM holds it, for `crmlog activities`. Borrowed for the
 * callback only. */
struct crm_activity {
    const char *id;
    const char *contact_id;
    const char *association_id; /* "" when none */
    const char *kind;           /* "call" | "sms" */
    const char *subject;
    const char *body;
    const char *session_id;  /* the call's session id; for SMS, the day's key */
    const char *fields_json; /* JSON object text: {"disposition":"connected"} */
};

typedef struct crm crm;

struct crm_ops {
    const char *name;
    /* 1 when the CRM's phone search compares strings exactly, so the logger must also try
     * the user's phone formats; 0 when it matches numbers whatever their format. */
    int exact_string_search;
    const struct crm_field *fields; /* declared log-form fields */
    size_t nfields;

    /* config: connector-specific "key=value;key=value" text. */
    int (*open)(crm **out, const char *config, char *err);
    /* Optional (may be NULL): opens the connector with its data in crmlog's store st, on the
     * store's own connection (crm_open_in_store). */
    int (*open_in_store)(crm **out, store *st, const char *config, char *err);
    void (*close)(crm *c);

    /* Contacts whose phone matches `number` (E.164, or a formatted variant when
     * exact_string_search). */
    int (*find_contacts)(crm *c, const char *number, struct crm_contact_list *out, char *err);
    int (*get_contact)(crm *c, const char *id, struct crm_contact *out, char *err);
    /* A placeholder contact: just a name and the call's number. */
    int (*create_contact)(crm *c, const char *name, const char *e164, struct crm_contact *out,
                          char *err);
    int (*list_associations)(crm *c, const char *contact_id, struct crm_assoc_list *out, char *err);
    /* Writes a call log; idempotent on log->key. activity_id is CALL_ID_LEN bytes. */
    int (*log_call)(crm *c, const struct crm_log *log, char *activity_id, char *err);
    /* Adds one message to the activity holding that contact's SMS of that UTC day (creating
     * it); a message already there is not added again. activity_id as for log_call. */
    int (*log_sms)(crm *c, const struct crm_log *log, char *activity_id, char *err);

    /* Optional (may be NULL): group many writes, e.g. in one transaction. */
    int (*batch_begin)(crm *c, char *err);
    int (*batch_end)(crm *c, int commit, char *err);
    /* Optional (may be NULL): group many reads (a history page, a lookup run), e.g. in one
     * read transaction; writes are not allowed in between. */
    int (*read_begin)(crm *c, char *err);
    void (*read_end)(crm *c);
    /* Optional (may be NULL): a number that changes whenever any contact or phone number
     * changes, so answers to number lookups can be kept while it stays the same. */
    int (*contacts_version)(crm *c, int64_t *out, char *err);

    /* Optional, the embedded CRM only (NULL elsewhere). */
    int (*add_contact)(crm *c, const char *name, const char *const *phones, size_t nphones,
                       const char *const *assocs, size_t nassocs, struct crm_contact *out,
                       char *err);
    int (*list_activities)(crm *c, const char *contact_id,
                           int (*cb)(const struct crm_activity *a, void *ctx), void *ctx,
                           char *err);
};

/* Every handle starts with this, so the generic code can reach the ops. */
struct crm {
    const struct crm_ops *ops;
    /* The lookups the views of this handle remember (view.c), freed by crm_close. */
    struct match_memo *memo;
    /* 1 when the handle works on its store's connection (crm_open_in_store): its reads and
     * writes join the store's transactions, so a log and the store's record of it commit
     * together, and a batch may run inside a store transaction. */
    int in_store;
};

extern const struct crm_ops crm_local;

/* The connector called `name`, or NULL. */
const struct crm_ops *crm_find(const char *name);

/* Opens connector `name` with config; on error *out is NULL. Close with crm_close. */
int crm_open(const char *name, const char *config, crm **out, char *err);
/* Opens connector `name` with its data in the store st where it can: the embedded CRM then
 * keeps its tables in the store's database and works on the store's connection (in_store;
 * config without path=). A connector that cannot (a remote CRM) opens as crm_open does.
 * Close the CRM before the store. */
int crm_open_in_store(const char *name, const char *config, store *st, crm **out, char *err);
void crm_close(crm *c);

/* The declared field `name`, or NULL. */
const struct crm_field *crm_field_find(const crm *c, const char *name);
/* ERR_INVAL with a message naming the allowed values when value does not fit field. */
int crm_field_check(const struct crm_field *f, const char *value, char *err);

#endif
